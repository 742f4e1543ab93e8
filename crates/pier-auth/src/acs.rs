//! The Alibaba Cloud API ("POP") request signatures that the AnalyticDB for PostgreSQL SDKs
//! (product `gpdb`, API 2016-05-03) send (wire spec `analyticdb-vector-api.md` §2):
//!
//! - [`acs3`]: `Authorization: ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…`, the
//!   SDK default: an HMAC-SHA256 over a canonical request (method, path, sorted query,
//!   the signed headers, the body's SHA-256).
//! - [`rpc`]: the legacy RPC signature (`Config(signature_algorithm="v2")`, older SDKs and
//!   tools): `Signature=base64(HMAC-SHA1(secret + "&", …))` over the sorted query and form
//!   parameters, with `SignatureMethod=HMAC-SHA1`, `SignatureVersion=1.0`.
//!
//! [`AcsVerifier`] checks either on the server, with a clock window and a nonce replay window;
//! [`sign_acs3`] and [`sign_rpc`] sign pier's own requests. Requests come in as the
//! framework-agnostic [`RequestParts`]; failures are [`AcsAuthError`]s, which carry the
//! AnalyticDB error code and HTTP status.
//!
//! ```
//! use pier_auth::RequestParts;
//! use pier_auth::acs::{AcsScheme, AcsVerifier, OutgoingRequest, encode_params, sign_acs3};
//!
//! let now = time::OffsetDateTime::now_utc();
//! let query = vec![("Collection".to_owned(), "docs".to_owned())];
//! let body = encode_params(&[("Rows".to_owned(), r#"[{"Vector":[0.1,0.2]}]"#.to_owned())]);
//! let mut headers = vec![
//!     ("host".to_owned(), "127.0.0.1:8080".to_owned()),
//!     ("x-acs-action".to_owned(), "UpsertCollectionData".to_owned()),
//!     ("x-acs-version".to_owned(), "2016-05-03".to_owned()),
//!     ("content-type".to_owned(), "application/x-www-form-urlencoded".to_owned()),
//! ];
//! let outgoing = OutgoingRequest {
//!     method: "POST",
//!     path: "/",
//!     query: &query,
//!     headers: &headers,
//!     body: body.as_bytes(),
//! };
//! headers.extend(sign_acs3(&outgoing, "ak", "sk", now));
//!
//! // What the server receives.
//! let mut header_map = http::HeaderMap::new();
//! for (name, value) in &headers {
//!     header_map.append(
//!         http::HeaderName::try_from(name.as_str()).unwrap(),
//!         http::HeaderValue::try_from(value.as_str()).unwrap(),
//!     );
//! }
//! let query_string = encode_params(&query);
//! let req = RequestParts {
//!     method: "POST",
//!     path: "/",
//!     query: Some(&query_string),
//!     headers: &header_map,
//!     body: body.as_bytes(),
//! };
//! let secret_for = |id: &str| (id == "ak").then(|| "sk".to_owned());
//! let verified = AcsVerifier::default().verify(&req, secret_for, now).unwrap();
//! assert_eq!(verified.key_id, "ak");
//! assert_eq!(verified.scheme, AcsScheme::Acs3HmacSha256);
//! ```

pub mod acs3;
mod error;
pub mod rpc;

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use http::HeaderMap;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use percent_encoding::{percent_decode, utf8_percent_encode};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, SignedDuration};

pub use error::AcsAuthError;

use crate::RequestParts;
use crate::nonce::{self, NonceCache};
use crate::opensearch::{QUERY_ENCODE, format_date, lower_hex};

/// The media type of form bodies, whose parameters take part in the RPC signature.
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// Which signature scheme a request was verified with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AcsScheme {
    /// `Authorization: ACS3-HMAC-SHA256 …`. Covers the method, path, query, the headers listed
    /// in `SignedHeaders` (always `host` and every `x-acs-*` header) and the body.
    Acs3HmacSha256,
    /// The RPC `Signature` parameter (HMAC-SHA1). Covers the method and the query and form
    /// parameters only, **not the headers**: a server must then take the action and version
    /// from the signed `Action` / `Version` parameters, not from `x-acs-action` / `x-acs-version`.
    RpcHmacSha1,
}

/// A request that passed [`AcsVerifier::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The AccessKeyId the request was signed with.
    pub key_id: String,
    /// The signature scheme it used.
    pub scheme: AcsScheme,
}

/// Server-side verification of both Alibaba Cloud signatures, with a clock window on
/// `x-acs-date` / `Timestamp` and a replay window on `x-acs-signature-nonce` / `SignatureNonce`.
/// Share one instance between threads (e.g. in an `Arc`): the replay window lives inside it,
/// behind a mutex, and holds at most 1,000,000 recent nonces.
pub struct AcsVerifier {
    clock_window: SignedDuration,
    nonces: NonceCache,
}

impl AcsVerifier {
    /// The documented window: a request time more than 15 minutes off is rejected.
    pub const DEFAULT_CLOCK_WINDOW: Duration = Duration::from_secs(15 * 60);

    /// A verifier accepting a request time at most `clock_window` away from the server clock.
    /// Each accepted nonce is remembered for as long as its request time stays acceptable.
    pub fn new(clock_window: Duration) -> Self {
        Self {
            clock_window: SignedDuration::try_from(clock_window).unwrap_or(SignedDuration::MAX),
            nonces: NonceCache::new(nonce::MAX_ENTRIES),
        }
    }

    /// Verifies `req`, looking the secret up with `secret_for`, at server time `now`.
    ///
    /// A request with an `Authorization: ACS3-…` header is checked as ACS3 (see [`acs3`]), else
    /// one with a `Signature` query or form parameter as RPC (see [`rpc`]). Either way the
    /// checks run in this order: the signature's parts are present and well-formed, the
    /// AccessKeyId is known ([`AcsAuthError::UnknownAccessKey`]), the request time is valid and
    /// within the clock window, a nonce is present, the signature matches, and finally the
    /// nonce was not used before by this AccessKeyId within the window. Only a request with a
    /// matching signature records its nonce.
    ///
    /// `req.headers` must hold the `Host` header exactly as the client sent it (the SDKs sign
    /// it verbatim, even `http://127.0.0.1:9000`); for HTTP/2, where there is none, insert the
    /// request's `:authority` as `host` first. `req.path` must be the raw path and `req.query`
    /// the raw query string.
    pub fn verify(
        &self,
        req: &RequestParts<'_>,
        secret_for: impl Fn(&str) -> Option<String>,
        now: OffsetDateTime,
    ) -> Result<Authenticated, AcsAuthError> {
        let authorization = header(req.headers, AUTHORIZATION.as_str())?
            .map(str::trim)
            .filter(|value| !value.is_empty());
        if let Some(value) = authorization
            && is_acs3(value)
        {
            return self.verify_acs3(req, value, secret_for, now);
        }
        let params = request_params(req)?;
        if params.iter().any(|(key, _)| key == rpc::SIGNATURE_PARAM) {
            return self.verify_rpc(req.method, &params, secret_for, now);
        }
        match authorization {
            Some(value) => Err(AcsAuthError::UnsupportedSignature(format!(
                "the Authorization header uses the '{}' scheme",
                value.split(' ').next().unwrap_or_default()
            ))),
            None => Err(AcsAuthError::MissingCredentials),
        }
    }

    /// Parses a request time and checks it against the clock window.
    fn check_time(
        &self,
        name: &'static str,
        raw: &str,
        now: OffsetDateTime,
    ) -> Result<OffsetDateTime, AcsAuthError> {
        let time = parse_time(raw).ok_or_else(|| AcsAuthError::InvalidTimestamp {
            name,
            value: raw.to_owned(),
        })?;
        let skew = time - now;
        if skew.abs() > self.clock_window {
            return Err(AcsAuthError::TimestampExpired {
                name,
                value: raw.to_owned(),
                skew_secs: skew.whole_seconds(),
                server_time: format_date(now),
                limit_secs: self.clock_window.whole_seconds(),
            });
        }
        Ok(time)
    }

    /// Records the nonce of a verified request, remembered for as long as its request time
    /// passes the clock check; a nonce already remembered is a replay.
    fn record_nonce(
        &self,
        key_id: &str,
        nonce: &str,
        time: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), AcsAuthError> {
        let expires = time.saturating_add(self.clock_window);
        if self.nonces.check_and_record(key_id, nonce, expires, now) {
            Ok(())
        } else {
            Err(AcsAuthError::NonceUsed(nonce.to_owned()))
        }
    }
}

impl Default for AcsVerifier {
    /// A verifier with [`AcsVerifier::DEFAULT_CLOCK_WINDOW`].
    fn default() -> Self {
        Self::new(Self::DEFAULT_CLOCK_WINDOW)
    }
}

impl fmt::Debug for AcsVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcsVerifier")
            .field("clock_window", &self.clock_window)
            .field("nonces", &self.nonces)
            .finish()
    }
}

/// The AccessKeyId a request claims, without verifying anything: the ACS3 `Credential=` or the
/// RPC `AccessKeyId` parameter. For an "AccessKey only" policy that routes requests without
/// checking signatures (wire spec §2.4). `None` if the request names none (or is unreadable).
pub fn claimed_access_key_id(req: &RequestParts<'_>) -> Option<String> {
    if let Ok(Some(value)) = header(req.headers, AUTHORIZATION.as_str())
        && is_acs3(value.trim())
    {
        return acs3::parse_authorization(value.trim())
            .ok()
            .map(|auth| auth.key_id.to_owned());
    }
    request_params(req)
        .ok()?
        .into_iter()
        .find(|(key, value)| key == rpc::ACCESS_KEY_ID_PARAM && !value.is_empty())
        .map(|(_, value)| value)
}

/// The request's parameters, decoded: the query's, then the form body's (when the body is
/// `application/x-www-form-urlencoded`, or non-empty without a `Content-Type`), in the order
/// sent. AnalyticDB actions spread their parameters over both (wire spec §1.3), so a server
/// looks every parameter up in this merged list; it is also exactly what the RPC signature
/// covers. `+` decodes to a space; a name or value that is not UTF-8 once percent-decoded is
/// [`AcsAuthError::InvalidParameter`].
pub fn request_params(req: &RequestParts<'_>) -> Result<Vec<(String, String)>, AcsAuthError> {
    let mut params = decode_params(req.query.unwrap_or_default().as_bytes())?;
    let content_type = header(req.headers, CONTENT_TYPE.as_str())?;
    if body_is_form(content_type, req.body) {
        params.extend(decode_params(req.body)?);
    }
    Ok(params)
}

/// Decodes a query string or `application/x-www-form-urlencoded` body into (name, value)
/// pairs, in order: `&`-separated (empty pieces skipped), split at the first `=` (a piece
/// without one has an empty value), `+` → space, then percent-decoding. A name or value that is
/// not UTF-8 once decoded is [`AcsAuthError::InvalidParameter`].
pub fn decode_params(raw: &[u8]) -> Result<Vec<(String, String)>, AcsAuthError> {
    split_params(raw)
        .map(|(key, value)| {
            let key = String::from_utf8(key).map_err(|err| {
                AcsAuthError::InvalidParameter(format!(
                    "a parameter name ('{}') is not UTF-8 once percent-decoded",
                    String::from_utf8_lossy(err.as_bytes())
                ))
            })?;
            let value = String::from_utf8(value).map_err(|_| {
                AcsAuthError::InvalidParameter(format!(
                    "the value of parameter '{key}' is not UTF-8 once percent-decoded"
                ))
            })?;
            Ok((key, value))
        })
        .collect()
}

/// Encodes parameters as `name=value&…` in the given order, every byte outside the RFC 3986
/// unreserved set (`A-Z a-z 0-9 - _ . ~`) as `%XX`: usable as a query string or a form body.
pub fn encode_params(params: &[(String, String)]) -> String {
    let mut out = String::new();
    for (i, (key, value)) in params.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.extend(utf8_percent_encode(key, QUERY_ENCODE));
        out.push('=');
        out.extend(utf8_percent_encode(value, QUERY_ENCODE));
    }
    out
}

/// A request that pier's own client is about to send, for [`sign_acs3`] and [`sign_rpc`].
#[derive(Debug, Clone, Copy)]
pub struct OutgoingRequest<'a> {
    /// The HTTP method, upper case, e.g. `POST`.
    pub method: &'a str,
    /// The request path as it will be sent (percent-encoded), e.g. `/`.
    pub path: &'a str,
    /// The query parameters, unencoded; send them in any valid URL encoding (e.g.
    /// [`encode_params`]).
    pub query: &'a [(String, String)],
    /// The headers to send (and, for ACS3, to sign). For ACS3 include `host` with exactly the
    /// value the HTTP client will send, `x-acs-action` and `x-acs-version`, and a
    /// `content-type` when there is a body.
    pub headers: &'a [(String, String)],
    /// The body exactly as it will be sent. For RPC a form body (see
    /// [`request_params`] for when a body counts as one) is signed parameter by parameter.
    pub body: &'a [u8],
}

/// Signs `req` with ACS3-HMAC-SHA256 for time `now`, the way the Python SDK does: it signs all
/// of `req.headers` (names lower-cased, sorted) plus the headers it adds.
///
/// Returns the headers to add: `x-acs-content-sha256`, `x-acs-date`, `x-acs-signature-nonce`
/// (32 random hex characters) and `Authorization`.
pub fn sign_acs3(
    req: &OutgoingRequest<'_>,
    key_id: &str,
    secret: &str,
    now: OffsetDateTime,
) -> Vec<(String, String)> {
    sign_acs3_with_nonce(req, key_id, secret, now, &random_nonce())
}

fn sign_acs3_with_nonce(
    req: &OutgoingRequest<'_>,
    key_id: &str,
    secret: &str,
    now: OffsetDateTime,
    nonce: &str,
) -> Vec<(String, String)> {
    use sha2::{Digest, Sha256};

    let added = vec![
        (
            acs3::CONTENT_SHA256_HEADER.to_owned(),
            lower_hex(&Sha256::digest(req.body)),
        ),
        (acs3::DATE_HEADER.to_owned(), format_date(now)),
        (acs3::NONCE_HEADER.to_owned(), nonce.to_owned()),
    ];
    let mut signed: Vec<(String, Vec<&str>)> = Vec::new();
    for (name, value) in req.headers.iter().chain(&added) {
        let name = name.to_ascii_lowercase();
        if name == AUTHORIZATION.as_str() {
            continue;
        }
        match signed
            .iter_mut()
            .find(|(signed_name, _)| *signed_name == name)
        {
            Some((_, values)) => values.push(value.trim()),
            None => signed.push((name, vec![value.trim()])),
        }
    }
    signed.sort_by(|a, b| a.0.cmp(&b.0));
    let canonical_headers: Vec<(String, String)> = signed
        .into_iter()
        .map(|(name, mut values)| {
            values.sort_unstable();
            (name, values.join(","))
        })
        .collect();
    let canonical_request = acs3::canonical_request(
        req.method,
        req.path,
        req.query,
        &canonical_headers,
        &added[0].1,
        acs3::QueryKeyStyle::Encoded,
    );
    let signature = acs3::sign(secret, &acs3::string_to_sign(&canonical_request));
    let signed_headers: Vec<&str> = canonical_headers.iter().map(|(n, _)| n.as_str()).collect();
    let authorization = format!(
        "{} Credential={key_id},SignedHeaders={},Signature={signature}",
        acs3::ALGORITHM,
        signed_headers.join(";")
    );
    let mut headers = added;
    headers.push(("Authorization".to_owned(), authorization));
    headers
}

/// Signs `req` with the RPC HMAC-SHA1 signature for time `now`, the way the SDKs' RPC mode does.
///
/// Returns the query parameters to append: `Timestamp`, `SignatureNonce` (32 random hex
/// characters), `SignatureMethod`, `SignatureVersion`, `AccessKeyId` and `Signature`. The
/// signature covers `req.query`, these parameters and the form body's parameters, so
/// `req.query` should already hold the RPC common parameters `Action`, `Version` and
/// `Format`, and none of the returned ones. A body whose decoded parameters are not UTF-8 is
/// signed lossily and won't verify.
pub fn sign_rpc(
    req: &OutgoingRequest<'_>,
    key_id: &str,
    secret: &str,
    now: OffsetDateTime,
) -> Vec<(String, String)> {
    sign_rpc_with_nonce(req, key_id, secret, now, &random_nonce())
}

fn sign_rpc_with_nonce(
    req: &OutgoingRequest<'_>,
    key_id: &str,
    secret: &str,
    now: OffsetDateTime,
    nonce: &str,
) -> Vec<(String, String)> {
    let mut added: Vec<(String, String)> = [
        (rpc::TIMESTAMP_PARAM, format_date(now)),
        (rpc::NONCE_PARAM, nonce.to_owned()),
        (rpc::METHOD_PARAM, rpc::SIGNATURE_METHOD.to_owned()),
        (rpc::VERSION_PARAM, rpc::SIGNATURE_VERSION.to_owned()),
        (rpc::ACCESS_KEY_ID_PARAM, key_id.to_owned()),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect();
    let mut params: Vec<(String, String)> = req.query.iter().chain(&added).cloned().collect();
    let content_type = req
        .headers
        .iter()
        .rev()
        .find(|(name, _)| name.eq_ignore_ascii_case(CONTENT_TYPE.as_str()))
        .map(|(_, value)| value.as_str());
    if body_is_form(content_type, req.body) {
        params.extend(split_params(req.body).map(|(key, value)| {
            (
                String::from_utf8_lossy(&key).into_owned(),
                String::from_utf8_lossy(&value).into_owned(),
            )
        }));
    }
    let signature = rpc::sign(secret, &rpc::string_to_sign(req.method, &params));
    added.push((rpc::SIGNATURE_PARAM.to_owned(), signature));
    added
}

/// `pct` of the wire spec: RFC 3986, UTF-8, upper-case hex, only `A-Z a-z 0-9 - _ . ~` kept.
fn push_encoded(out: &mut String, text: &str) {
    out.extend(utf8_percent_encode(text, QUERY_ENCODE));
}

/// Whether the `Authorization` value uses an ACS3 algorithm.
fn is_acs3(authorization: &str) -> bool {
    authorization
        .get(..acs3::SCHEME_PREFIX.len())
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(acs3::SCHEME_PREFIX))
}

/// Whether a body with this `Content-Type` holds form parameters: a form media type, or no
/// type at all on a non-empty body (older tools).
fn body_is_form(content_type: Option<&str>, body: &[u8]) -> bool {
    match content_type {
        Some(value) => value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .eq_ignore_ascii_case(FORM_CONTENT_TYPE),
        None => !body.is_empty(),
    }
}

/// Splits and decodes `raw` into byte pairs (see [`decode_params`]).
fn split_params(raw: &[u8]) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + '_ {
    raw.split(|&b| b == b'&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (key, value) = match piece.iter().position(|&b| b == b'=') {
                Some(at) => (&piece[..at], &piece[at + 1..]),
                None => (piece, &[][..]),
            };
            (decode_component(key), decode_component(value))
        })
}

fn decode_component(raw: &[u8]) -> Vec<u8> {
    let raw: Cow<'_, [u8]> = if raw.contains(&b'+') {
        Cow::Owned(
            raw.iter()
                .map(|&b| if b == b'+' { b' ' } else { b })
                .collect(),
        )
    } else {
        Cow::Borrowed(raw)
    };
    percent_decode(&raw).collect()
}

/// The only value of header `name`, as UTF-8; a repeated or non-UTF-8 value is unusable for a
/// signature check.
fn header<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, AcsAuthError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AcsAuthError::IncompleteSignature(format!(
            "the header '{name}' was sent more than once"
        )));
    }
    std::str::from_utf8(value.as_bytes())
        .map(Some)
        .map_err(|_| AcsAuthError::IncompleteSignature(format!("the header '{name}' is not UTF-8")))
}

/// An ISO 8601 / RFC 3339 time, e.g. `2025-01-02T03:04:05Z` (what the SDKs send; fractional
/// seconds and numeric offsets are accepted too).
fn parse_time(raw: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(raw, &Rfc3339).ok()
}

/// 32 random lower-case hex characters, like the SDKs' nonces.
fn random_nonce() -> String {
    lower_hex(&rand::random::<[u8; 16]>())
}

#[cfg(test)]
mod tests;
