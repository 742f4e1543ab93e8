//! The OpenSearch V3 `OPENSEARCH <AccessKeyId>:<Signature>` HMAC-SHA1 scheme (spec §2).

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use http::header::{AUTHORIZATION, CONTENT_TYPE, DATE};
use md5::{Digest, Md5};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha1::Sha1;
use time::macros::format_description;
use time::{OffsetDateTime, PlainDateTime, SignedDuration, UtcOffset};

use crate::nonce::{self, NonceCache};
use crate::{AuthError, single_header};

type HmacSha1 = Hmac<Sha1>;

/// RFC 3986 unreserved characters stay; everything else becomes `%XX` (upper-case hex).
pub(crate) const QUERY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// As [`QUERY_ENCODE`], but the path keeps its `/` separators.
const PATH_ENCODE: &AsciiSet = &QUERY_ENCODE.remove(b'/');

/// Prefix of the headers that take part in the signature; `HeaderMap` names are lower-case.
const SIGNED_HEADER_PREFIX: &str = "x-opensearch-";
const NONCE_HEADER: &str = "x-opensearch-nonce";
const CONTENT_MD5_HEADER: &str = "content-md5";
const SCHEME: &str = "OPENSEARCH";

/// What a server needs of a request to verify it. `path` is the raw request path as received
/// (percent-encoded), `query` the raw query string without `?`, if any.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// The HTTP method, e.g. `GET`.
    pub method: &'a str,
    /// The request path exactly as received, still percent-encoded.
    pub path: &'a str,
    /// The raw query string (without the `?`), if the URL had one.
    pub query: Option<&'a str>,
    /// All request headers as received.
    pub headers: &'a HeaderMap,
    /// The raw body bytes.
    pub body: &'a [u8],
}

/// How a query parameter with an empty value is rendered in the canonical resource. The SDKs
/// disagree (spec §2.1), so a server tries all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmptyParamStyle {
    /// Leave the parameter out (Java and classic PHP SDKs).
    Drop,
    /// Render it as `key` (Python Tea util).
    BareKey,
    /// Render it as `key=` (Go and TypeScript Tea utils).
    KeyEquals,
}

impl EmptyParamStyle {
    const ALL: [Self; 3] = [Self::Drop, Self::BareKey, Self::KeyEquals];
}

/// The string-to-sign of spec §2.1.
///
/// `method` is upper-cased; `content_md5`, `content_type` and `date` are used verbatim (`""` when
/// the header is absent). The canonical headers are the non-empty `X-Opensearch-*` entries of
/// `headers`, sorted by lower-case name (values that are not UTF-8 are rendered lossily; the
/// [`Verifier`] rejects those before signing). `path` is the *decoded* request path and
/// `query_pairs` the *decoded* query parameters: both are RFC 3986-encoded here, and the
/// parameters sorted by key, with empty values rendered according to `style`.
#[expect(
    clippy::too_many_arguments,
    reason = "mirrors the components of the formula one-to-one"
)]
pub fn string_to_sign(
    method: &str,
    content_md5: &str,
    content_type: &str,
    date: &str,
    headers: &HeaderMap,
    path: &str,
    query_pairs: &[(String, String)],
    style: EmptyParamStyle,
) -> String {
    let head = signed_head(method, content_md5, content_type, date, headers);
    with_resource(head, path, query_pairs, style)
}

/// The signature of `string_to_sign` under `secret`: `Base64(HMAC-SHA1(secret, string_to_sign))`.
pub fn sign(secret: &str, string_to_sign: &str) -> String {
    BASE64.encode(hmac(secret, string_to_sign).finalize().into_bytes())
}

/// Client side (pier's own CLI and benchmarks): the headers to add to a request so that it
/// verifies, Tea-SDK style, computed for `now`.
///
/// Returns `Date`, `X-Opensearch-Nonce` (32 random hex characters), and when `body` is
/// non-empty `Content-MD5` and `Content-Type: application/json`, then `Authorization`.
/// `path` is the unencoded request path and `query_pairs` the unencoded query parameters; send
/// them in any valid URL encoding. Empty-valued parameters are left out of the signature (the
/// Java SDK's rule), which every server that follows spec §2.4 accepts.
pub fn sign_request(
    key_id: &str,
    secret: &str,
    method: &str,
    path: &str,
    query_pairs: &[(String, String)],
    body: &[u8],
    now: OffsetDateTime,
) -> Vec<(String, String)> {
    let date = format_date(now);
    let nonce = lower_hex(&rand::random::<[u8; 16]>());
    let (content_md5, content_type) = if body.is_empty() {
        (String::new(), "")
    } else {
        (lower_hex(&Md5::digest(body)), "application/json")
    };

    let mut head = String::new();
    push_head_lines(&mut head, method, &content_md5, content_type, &date);
    push_header_line(&mut head, NONCE_HEADER, &nonce);
    let string_to_sign = with_resource(head, path, query_pairs, EmptyParamStyle::Drop);
    let authorization = format!("{SCHEME} {key_id}:{}", sign(secret, &string_to_sign));

    let mut headers = vec![
        ("Date".to_owned(), date),
        ("X-Opensearch-Nonce".to_owned(), nonce),
    ];
    if !body.is_empty() {
        headers.push(("Content-MD5".to_owned(), content_md5));
        headers.push(("Content-Type".to_owned(), content_type.to_owned()));
    }
    headers.push(("Authorization".to_owned(), authorization));
    headers
}

/// Server-side verification of the `OPENSEARCH` signature, with a clock window and a nonce
/// replay window. Share one instance between threads (e.g. in an `Arc`): the replay window
/// lives inside it, behind a mutex, and holds at most 1,000,000 recent nonces.
pub struct Verifier {
    clock_window: SignedDuration,
    nonces: NonceCache,
}

impl Verifier {
    /// The documented window: a `Date` more than 15 minutes off is rejected (spec §2.1).
    pub const DEFAULT_CLOCK_WINDOW: Duration = Duration::from_secs(15 * 60);

    /// A verifier accepting a `Date` at most `clock_window` away from the server clock. Each
    /// accepted nonce is remembered for as long as its `Date` stays acceptable.
    pub fn new(clock_window: Duration) -> Self {
        Self {
            clock_window: SignedDuration::try_from(clock_window).unwrap_or(SignedDuration::MAX),
            nonces: NonceCache::new(nonce::MAX_ENTRIES),
        }
    }

    /// Full server-side check per spec §2.4: parse `Authorization`, look up the secret with
    /// `secret_for`, check the `Date` format and window, require `X-Opensearch-Nonce`, check
    /// `Content-MD5` against the body (lowercase hex, compared case-insensitively, when both are
    /// non-empty), then rebuild the string-to-sign from the headers as received and compare the
    /// signature in constant time, trying every [`EmptyParamStyle`] when some query parameter
    /// is empty. Only a request with a matching signature records its nonce, so a replay within
    /// the window fails with [`AuthError::ReplayedNonce`].
    ///
    /// Returns the AccessKeyId on success.
    pub fn verify(
        &self,
        req: &RequestParts<'_>,
        secret_for: impl Fn(&str) -> Option<String>,
        now: OffsetDateTime,
    ) -> Result<String, AuthError> {
        let headers = req.headers;
        let (key_id, signature) = parse_authorization(headers)?;
        let secret =
            secret_for(key_id).ok_or_else(|| AuthError::UnknownAccessKey(key_id.into()))?;
        let (date, date_value) = self.check_date(headers, now)?;
        let nonce = single_header(headers, NONCE_HEADER)?
            .filter(|nonce| !nonce.is_empty())
            .ok_or(AuthError::MissingNonce)?;

        let content_md5 = single_header(headers, CONTENT_MD5_HEADER)?.unwrap_or_default();
        if !req.body.is_empty()
            && !content_md5.is_empty()
            && !content_md5.eq_ignore_ascii_case(&lower_hex(&Md5::digest(req.body)))
        {
            return Err(AuthError::ContentMd5Mismatch);
        }
        let content_type = single_header(headers, CONTENT_TYPE.as_str())?.unwrap_or_default();
        check_signed_headers(headers)?;

        let path = percent_decode_str(req.path).decode_utf8().map_err(|_| {
            AuthError::MalformedAuthorization(format!(
                "request path '{}' is not UTF-8 once percent-decoded",
                req.path
            ))
        })?;
        // Clients put the query on the wire in different encodings ('+' or %20 for a space,
        // any order), so only the decoded parameters are meaningful.
        let query_pairs: Vec<(String, String)> = req
            .query
            .map(|query| {
                form_urlencoded::parse(query.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        let styles: &[EmptyParamStyle] = if query_pairs.iter().any(|(_, v)| v.is_empty()) {
            &EmptyParamStyle::ALL
        } else {
            // Without empty values all renderings coincide.
            &[EmptyParamStyle::Drop]
        };

        let head = signed_head(req.method, content_md5, content_type, date, headers);
        let matches = styles.iter().any(|&style| {
            let string_to_sign = with_resource(head.clone(), &path, &query_pairs, style);
            hmac(&secret, &string_to_sign)
                .verify_slice(&signature)
                .is_ok()
        });
        if !matches {
            return Err(AuthError::SignatureMismatch);
        }

        // Remember the nonce for as long as this Date passes the clock check.
        let expires = date_value.saturating_add(self.clock_window);
        if !self.nonces.check_and_record(key_id, nonce, expires, now) {
            return Err(AuthError::ReplayedNonce);
        }
        Ok(key_id.to_owned())
    }

    /// Returns the `Date` header verbatim and parsed, if well-formed and within the window.
    fn check_date<'h>(
        &self,
        headers: &'h HeaderMap,
        now: OffsetDateTime,
    ) -> Result<(&'h str, OffsetDateTime), AuthError> {
        let raw = single_header(headers, DATE.as_str())?
            .ok_or_else(|| AuthError::DateMissingOrInvalid("the header is absent".into()))?;
        let date = PlainDateTime::parse(
            raw,
            format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z"),
        )
        .map_err(|_| {
            AuthError::DateMissingOrInvalid(format!("'{raw}' is not YYYY-MM-DDTHH:MM:SSZ"))
        })?
        .assume_utc();
        let skew = date - now;
        if skew.abs() > self.clock_window {
            return Err(AuthError::DateSkew {
                skew_secs: skew.whole_seconds(),
                date: raw.to_owned(),
                server_time: format_date(now),
                limit_secs: self.clock_window.whole_seconds(),
            });
        }
        Ok((raw, date))
    }
}

impl Default for Verifier {
    /// A verifier with [`Verifier::DEFAULT_CLOCK_WINDOW`].
    fn default() -> Self {
        Self::new(Self::DEFAULT_CLOCK_WINDOW)
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("clock_window", &self.clock_window)
            .field("nonces", &self.nonces)
            .finish()
    }
}

/// Splits `Authorization: OPENSEARCH <AccessKeyId>:<Signature>` into the key id and the decoded
/// signature bytes.
fn parse_authorization(headers: &HeaderMap) -> Result<(&str, Vec<u8>), AuthError> {
    let value = single_header(headers, AUTHORIZATION.as_str())?
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .ok_or(AuthError::MissingAuthorization)?;
    let malformed = |problem: &str| {
        AuthError::MalformedAuthorization(format!(
            "Authorization header '{value}' {problem}; expected '{SCHEME} <AccessKeyId>:<Signature>'"
        ))
    };
    let credentials = value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case(SCHEME))
        .map(|(_, credentials)| credentials.trim_start())
        .ok_or_else(|| malformed("does not use the OPENSEARCH scheme"))?;
    let (key_id, signature) = credentials
        .split_once(':')
        .filter(|(key_id, signature)| !key_id.is_empty() && !signature.is_empty())
        .ok_or_else(|| malformed("lacks the AccessKeyId or the signature"))?;
    let signature = BASE64
        .decode(signature)
        .map_err(|_| malformed("has a signature that is not standard Base64"))?;
    Ok((key_id, signature))
}

/// Rejects `X-Opensearch-*` headers that are repeated or not UTF-8: a signature over them
/// would be ambiguous.
fn check_signed_headers(headers: &HeaderMap) -> Result<(), AuthError> {
    headers
        .keys()
        .filter(|name| name.as_str().starts_with(SIGNED_HEADER_PREFIX))
        .try_for_each(|name| single_header(headers, name.as_str()).map(drop))
}

/// Everything in the string-to-sign before the canonical resource.
fn signed_head(
    method: &str,
    content_md5: &str,
    content_type: &str,
    date: &str,
    headers: &HeaderMap,
) -> String {
    let mut head = String::new();
    push_head_lines(&mut head, method, content_md5, content_type, date);
    let mut signed: Vec<(&str, Cow<'_, str>)> = headers
        .iter()
        .filter(|(name, value)| {
            name.as_str().starts_with(SIGNED_HEADER_PREFIX) && !value.is_empty()
        })
        .map(|(name, value)| (name.as_str(), String::from_utf8_lossy(value.as_bytes())))
        .collect();
    // Stable, so repeated headers keep their order.
    signed.sort_by_key(|&(name, _)| name);
    for (name, value) in signed {
        push_header_line(&mut head, name, &value);
    }
    head
}

fn push_head_lines(
    out: &mut String,
    method: &str,
    content_md5: &str,
    content_type: &str,
    date: &str,
) {
    for line in [
        &*method.to_ascii_uppercase(),
        content_md5,
        content_type,
        date,
    ] {
        out.push_str(line);
        out.push('\n');
    }
}

fn push_header_line(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push(':');
    out.push_str(value);
    out.push('\n');
}

/// Appends the canonical resource to `out`: the encoded path, then `?` and the sorted, encoded
/// parameters if any remain.
fn with_resource(
    mut out: String,
    path: &str,
    query_pairs: &[(String, String)],
    style: EmptyParamStyle,
) -> String {
    out.extend(utf8_percent_encode(path, PATH_ENCODE));
    let mut pairs: Vec<&(String, String)> = query_pairs
        .iter()
        .filter(|(_, value)| style != EmptyParamStyle::Drop || !value.is_empty())
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    for (i, (key, value)) in pairs.into_iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.extend(utf8_percent_encode(key, QUERY_ENCODE));
        if !value.is_empty() || style == EmptyParamStyle::KeyEquals {
            out.push('=');
            out.extend(utf8_percent_encode(value, QUERY_ENCODE));
        }
    }
    out
}

fn hmac(secret: &str, string_to_sign: &str) -> HmacSha1 {
    let mut mac =
        HmacSha1::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    mac
}

/// `YYYY-MM-DDTHH:MM:SSZ` in UTC, the only `Date` format the SDKs send.
pub(crate) fn format_date(t: OffsetDateTime) -> String {
    // Converting can only fail at the very edge of the representable range; keep the
    // caller's offset there rather than panic.
    let t = t.checked_to_offset(UtcOffset::UTC).unwrap_or(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

pub(crate) fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|&b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 0xf)]])
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests;
