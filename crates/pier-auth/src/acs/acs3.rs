//! ACS3-HMAC-SHA256, the V3 signature the Alibaba Cloud SDKs send by default (wire spec §2.2):
//!
//! ```text
//! CanonicalRequest = METHOD \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n
//!                    SignedHeaders \n HashedPayload
//! StringToSign     = "ACS3-HMAC-SHA256" \n hex(sha256(CanonicalRequest))
//! Signature        = hex(hmac_sha256(AccessKeySecret, StringToSign))
//! Authorization    = ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=<a;b;…>,Signature=<hex>
//! ```
//!
//! The canonical query is the *decoded* query parameters sorted by name and value, each value
//! RFC 3986-encoded (`%20` for a space, whatever the wire used). The Python SDK leaves the
//! names unencoded while the documentation (and the Go and Java SDKs) encode them too; the
//! two differ only for names outside `A-Z a-z 0-9 - _ . ~`, and the verifier accepts both.

use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::{AcsAuthError, AcsScheme, AcsVerifier, Authenticated, decode_params, header};
use crate::RequestParts;
use crate::opensearch::lower_hex;

type HmacSha256 = Hmac<Sha256>;

/// The only ACS3 algorithm pier verifies (not `ACS3-HMAC-SM3` nor `ACS3-RSA-SHA256`).
pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";
/// What every ACS3 `Authorization` value starts with.
pub(super) const SCHEME_PREFIX: &str = "ACS3-";
/// The request time, `YYYY-MM-DDThh:mm:ssZ` in UTC.
pub(super) const DATE_HEADER: &str = "x-acs-date";
/// The replay-protection nonce.
pub(super) const NONCE_HEADER: &str = "x-acs-signature-nonce";
/// The lowercase hex SHA-256 of the body.
pub(super) const CONTENT_SHA256_HEADER: &str = "x-acs-content-sha256";
/// Headers whose names start with this must all be signed.
const ACS_HEADER_PREFIX: &str = "x-acs-";
/// The one non-`x-acs-*` header that must be signed.
const HOST_HEADER: &str = "host";

/// How query parameter names appear in the canonical query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKeyStyle {
    /// Names verbatim, only values encoded (the Python SDK).
    Raw,
    /// Names RFC 3986-encoded like values (the V3 signature documentation, Go and Java SDKs).
    Encoded,
}

/// The canonical request of the ACS3 signature.
///
/// `method` and `path` are used as sent (an empty path becomes `/`); `query_pairs` are the
/// *decoded* query parameters, sorted here by name then value, values RFC 3986-encoded and names
/// according to `key_style`. `headers` are the signed headers as (lower-case name, value) in
/// `SignedHeaders` order, each value trimmed here; a header sent more than once is one entry
/// whose value is the trimmed values, sorted, joined with `,`. `hashed_payload` is the lowercase
/// hex SHA-256 of the body.
pub fn canonical_request(
    method: &str,
    path: &str,
    query_pairs: &[(String, String)],
    headers: &[(String, String)],
    hashed_payload: &str,
    key_style: QueryKeyStyle,
) -> String {
    let mut out = String::new();
    out.push_str(method);
    out.push('\n');
    out.push_str(if path.is_empty() { "/" } else { path });
    out.push('\n');
    let mut pairs: Vec<&(String, String)> = query_pairs.iter().collect();
    pairs.sort();
    for (i, (key, value)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        match key_style {
            QueryKeyStyle::Raw => out.push_str(key),
            QueryKeyStyle::Encoded => super::push_encoded(&mut out, key),
        }
        out.push('=');
        super::push_encoded(&mut out, value);
    }
    out.push('\n');
    for (name, value) in headers {
        out.push_str(name);
        out.push(':');
        out.push_str(value.trim());
        out.push('\n');
    }
    out.push('\n');
    for (i, (name, _)) in headers.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(name);
    }
    out.push('\n');
    out.push_str(hashed_payload);
    out
}

/// The string-to-sign: `ACS3-HMAC-SHA256`, a newline, the lowercase hex SHA-256 of the
/// canonical request.
pub fn string_to_sign(canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{}",
        lower_hex(&Sha256::digest(canonical_request.as_bytes()))
    )
}

/// The signature: lowercase hex HMAC-SHA256 of `string_to_sign` under `secret`.
pub fn sign(secret: &str, string_to_sign: &str) -> String {
    lower_hex(&hmac(secret, string_to_sign).finalize().into_bytes())
}

/// The parts of an `Authorization: ACS3-… Credential=…,SignedHeaders=…,Signature=…` header.
pub(super) struct Authorization<'a> {
    pub(super) algorithm: &'a str,
    pub(super) key_id: &'a str,
    /// The `SignedHeaders` names as sent.
    pub(super) signed_headers: Vec<&'a str>,
    /// The decoded signature bytes.
    pub(super) signature: Vec<u8>,
}

/// Parses a (trimmed) ACS3 `Authorization` value.
pub(super) fn parse_authorization(value: &str) -> Result<Authorization<'_>, AcsAuthError> {
    let malformed = |problem: &str| {
        AcsAuthError::IncompleteSignature(format!(
            "the Authorization header {problem}; expected '{ALGORITHM} \
             Credential=<AccessKeyId>,SignedHeaders=<name;name;...>,Signature=<hex>'"
        ))
    };
    let (algorithm, rest) = value
        .split_once(' ')
        .ok_or_else(|| malformed("has no credentials after the algorithm"))?;
    let (mut key_id, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| malformed(&format!("has a part '{}' without '='", part.trim())))?;
        let slot = match key {
            "Credential" => &mut key_id,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(malformed(&format!("repeats {key}")));
        }
    }
    let key_id = key_id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| malformed("lacks Credential=<AccessKeyId>"))?;
    let signed_headers: Vec<&str> = signed_headers
        .filter(|list| !list.is_empty())
        .ok_or_else(|| malformed("lacks SignedHeaders"))?
        .split(';')
        .collect();
    if let Some(bad) = signed_headers
        .iter()
        .find(|name| name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()))
    {
        return Err(malformed(&format!(
            "lists an invalid header name '{bad}' in SignedHeaders"
        )));
    }
    let signature = signature
        .and_then(decode_hex)
        .ok_or_else(|| malformed("lacks a hex Signature"))?;
    Ok(Authorization {
        algorithm,
        key_id,
        signed_headers,
        signature,
    })
}

impl AcsVerifier {
    /// The ACS3 half of [`AcsVerifier::verify`]; `authorization` is the trimmed header value.
    pub(super) fn verify_acs3(
        &self,
        req: &RequestParts<'_>,
        authorization: &str,
        secret_for: impl Fn(&str) -> Option<String>,
        now: OffsetDateTime,
    ) -> Result<Authenticated, AcsAuthError> {
        let headers = req.headers;
        let auth = parse_authorization(authorization)?;
        if auth.algorithm != ALGORITHM {
            return Err(AcsAuthError::UnsupportedSignature(format!(
                "the algorithm '{}'",
                auth.algorithm
            )));
        }
        let secret = secret_for(auth.key_id)
            .ok_or_else(|| AcsAuthError::UnknownAccessKey(auth.key_id.to_owned()))?;
        let date = required_header(headers, DATE_HEADER, "the x-acs-date header")?;
        let time = self.check_time(DATE_HEADER, date, now)?;
        let nonce = required_header(headers, NONCE_HEADER, "the x-acs-signature-nonce header")?;
        let content_sha256 = required_header(
            headers,
            CONTENT_SHA256_HEADER,
            "the x-acs-content-sha256 header",
        )?;
        check_signed_header_set(headers, &auth.signed_headers)?;

        let computed = lower_hex(&Sha256::digest(req.body));
        if !content_sha256.eq_ignore_ascii_case(&computed) {
            return Err(AcsAuthError::ContentSha256Mismatch {
                sent: content_sha256.to_owned(),
                computed,
            });
        }

        // Clients put the query on the wire in different encodings ('+' or %20 for a space,
        // any order), so only the decoded parameters are meaningful.
        let query_pairs = decode_params(req.query.unwrap_or_default().as_bytes())?;
        let canonical_headers = auth
            .signed_headers
            .iter()
            .map(|&name| Ok((name.to_owned(), canonical_header_value(headers, name)?)))
            .collect::<Result<Vec<_>, AcsAuthError>>()?;
        let styles: &[QueryKeyStyle] = if query_pairs
            .iter()
            .all(|(key, _)| key.bytes().all(is_unreserved))
        {
            // Without names to encode both styles coincide.
            &[QueryKeyStyle::Raw]
        } else {
            &[QueryKeyStyle::Raw, QueryKeyStyle::Encoded]
        };
        let mut first_attempt = None;
        for &style in styles {
            let canonical_request = canonical_request(
                req.method,
                req.path,
                &query_pairs,
                &canonical_headers,
                content_sha256,
                style,
            );
            let string_to_sign = string_to_sign(&canonical_request);
            if hmac(&secret, &string_to_sign)
                .verify_slice(&auth.signature)
                .is_ok()
            {
                self.record_nonce(auth.key_id, nonce, time, now)?;
                return Ok(Authenticated {
                    key_id: auth.key_id.to_owned(),
                    scheme: AcsScheme::Acs3HmacSha256,
                });
            }
            first_attempt.get_or_insert((canonical_request, string_to_sign));
        }
        let (canonical_request, string_to_sign) =
            first_attempt.expect("at least one style was tried");
        Err(AcsAuthError::SignatureMismatch {
            canonical_request: Some(canonical_request),
            string_to_sign,
        })
    }
}

/// A header that must be present and non-empty, trimmed.
fn required_header<'h>(
    headers: &'h HeaderMap,
    name: &str,
    what: &'static str,
) -> Result<&'h str, AcsAuthError> {
    header(headers, name)?
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .ok_or(AcsAuthError::MissingParameter(what))
}

/// `SignedHeaders` must cover `host` and every `x-acs-*` header sent (the V3 signature
/// documentation's rule; the SDKs sign even more), so that nothing that steers the request —
/// the action, the version, the body hash — can be changed without breaking the signature.
fn check_signed_header_set(headers: &HeaderMap, signed: &[&str]) -> Result<(), AcsAuthError> {
    let is_signed = |name: &str| signed.iter().any(|s| s.eq_ignore_ascii_case(name));
    if !is_signed(HOST_HEADER) {
        return Err(AcsAuthError::IncompleteSignature(
            "SignedHeaders must include host".into(),
        ));
    }
    if let Some(unsigned) = headers
        .keys()
        .map(|name| name.as_str())
        .find(|name| name.starts_with(ACS_HEADER_PREFIX) && !is_signed(name))
    {
        return Err(AcsAuthError::IncompleteSignature(format!(
            "the header '{unsigned}' is not in SignedHeaders; every x-acs-* header sent must be signed"
        )));
    }
    Ok(())
}

/// The canonical value of a signed header: its values trimmed, sorted and joined with `,`
/// (the SDKs' rule), or empty if it was not sent.
fn canonical_header_value(headers: &HeaderMap, name: &str) -> Result<String, AcsAuthError> {
    let name = name.to_ascii_lowercase();
    let mut values = headers
        .get_all(name.as_str())
        .iter()
        .map(|value| {
            std::str::from_utf8(value.as_bytes())
                .map(str::trim)
                .map_err(|_| {
                    AcsAuthError::IncompleteSignature(format!(
                        "the signed header '{name}' is not UTF-8"
                    ))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    values.sort_unstable();
    Ok(values.join(","))
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    }
    let bytes = text.as_bytes();
    if bytes.is_empty() || !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

fn hmac(secret: &str, string_to_sign: &str) -> HmacSha256 {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    mac
}
