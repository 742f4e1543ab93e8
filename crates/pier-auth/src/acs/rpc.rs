//! The legacy RPC signature (`SignatureMethod=HMAC-SHA1`, `SignatureVersion=1.0`; wire spec
//! §2.3), what the SDKs send with `signature_algorithm="v2"` and what older tools send:
//!
//! ```text
//! params        = the query parameters + the form body parameters, minus Signature
//! Canonicalized = sorted by name: pct(name) + "=" + pct(value), joined by "&"
//! StringToSign  = METHOD + "&" + pct("/") + "&" + pct(Canonicalized)
//! Signature     = base64(hmac_sha1(AccessKeySecret + "&", StringToSign))
//! ```
//!
//! `pct` is RFC 3986 percent-encoding of the UTF-8 bytes (upper-case hex, only
//! `A-Z a-z 0-9 - _ . ~` kept). The signature does not cover any header.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use time::OffsetDateTime;

use super::{AcsAuthError, AcsScheme, AcsVerifier, Authenticated};

type HmacSha1 = Hmac<Sha1>;

/// The only `SignatureMethod` pier verifies.
pub const SIGNATURE_METHOD: &str = "HMAC-SHA1";
/// The only `SignatureVersion` pier verifies.
pub const SIGNATURE_VERSION: &str = "1.0";

pub(super) const SIGNATURE_PARAM: &str = "Signature";
pub(super) const ACCESS_KEY_ID_PARAM: &str = "AccessKeyId";
pub(super) const METHOD_PARAM: &str = "SignatureMethod";
pub(super) const VERSION_PARAM: &str = "SignatureVersion";
pub(super) const TIMESTAMP_PARAM: &str = "Timestamp";
pub(super) const NONCE_PARAM: &str = "SignatureNonce";

/// The string-to-sign of the RPC signature: `method` as sent (upper case), then the decoded
/// `params` (query and form body together; a `Signature` parameter among them is left out)
/// sorted by name then value and RFC 3986-encoded, as in the formula above.
pub fn string_to_sign(method: &str, params: &[(String, String)]) -> String {
    let mut pairs: Vec<&(String, String)> = params
        .iter()
        .filter(|(key, _)| key != SIGNATURE_PARAM)
        .collect();
    pairs.sort();
    let mut canonicalized = String::new();
    for (i, (key, value)) in pairs.into_iter().enumerate() {
        if i > 0 {
            canonicalized.push('&');
        }
        super::push_encoded(&mut canonicalized, key);
        canonicalized.push('=');
        super::push_encoded(&mut canonicalized, value);
    }
    let mut out = format!("{method}&%2F&");
    super::push_encoded(&mut out, &canonicalized);
    out
}

/// The signature: `Base64(HMAC-SHA1(secret + "&", string_to_sign))`.
pub fn sign(secret: &str, string_to_sign: &str) -> String {
    BASE64.encode(hmac(secret, string_to_sign).finalize().into_bytes())
}

impl AcsVerifier {
    /// The RPC half of [`AcsVerifier::verify`]; `params` are the request's merged parameters.
    pub(super) fn verify_rpc(
        &self,
        method: &str,
        params: &[(String, String)],
        secret_for: impl Fn(&str) -> Option<String>,
        now: OffsetDateTime,
    ) -> Result<Authenticated, AcsAuthError> {
        // A parameter sent twice would be ambiguous: the signature covers both copies, but a
        // server reading one of them could be fed the unsigned meaning of the other.
        let mut names: Vec<&str> = params.iter().map(|(key, _)| key.as_str()).collect();
        names.sort_unstable();
        if let Some(pair) = names.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(AcsAuthError::InvalidParameter(format!(
                "the parameter '{}' was sent more than once (in the query and/or the form body); \
                 send each parameter once",
                pair[0]
            )));
        }
        let param = |name: &str, what: &'static str| {
            params
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
                .filter(|value| !value.is_empty())
                .ok_or(AcsAuthError::MissingParameter(what))
        };

        let signature = param(SIGNATURE_PARAM, "the Signature parameter")?;
        let key_id = param(ACCESS_KEY_ID_PARAM, "the AccessKeyId parameter")?;
        let signature_method = param(METHOD_PARAM, "the SignatureMethod parameter")?;
        if signature_method != SIGNATURE_METHOD {
            return Err(AcsAuthError::UnsupportedSignature(format!(
                "SignatureMethod '{signature_method}'"
            )));
        }
        let signature_version = param(VERSION_PARAM, "the SignatureVersion parameter")?;
        if signature_version != SIGNATURE_VERSION {
            return Err(AcsAuthError::UnsupportedSignature(format!(
                "SignatureVersion '{signature_version}'"
            )));
        }
        let secret =
            secret_for(key_id).ok_or_else(|| AcsAuthError::UnknownAccessKey(key_id.to_owned()))?;
        let timestamp = param(TIMESTAMP_PARAM, "the Timestamp parameter")?;
        let time = self.check_time(TIMESTAMP_PARAM, timestamp, now)?;
        let nonce = param(NONCE_PARAM, "the SignatureNonce parameter")?;
        // A Base64 signature has no spaces: one comes from a '+' that was not percent-encoded.
        let signature = BASE64.decode(signature.replace(' ', "+")).map_err(|_| {
            AcsAuthError::IncompleteSignature(format!(
                "the Signature parameter '{signature}' is not standard Base64"
            ))
        })?;

        let string_to_sign = string_to_sign(method, params);
        if hmac(&secret, &string_to_sign)
            .verify_slice(&signature)
            .is_err()
        {
            return Err(AcsAuthError::SignatureMismatch {
                canonical_request: None,
                string_to_sign,
            });
        }
        self.record_nonce(key_id, nonce, time, now)?;
        Ok(Authenticated {
            key_id: key_id.to_owned(),
            scheme: AcsScheme::RpcHmacSha1,
        })
    }
}

fn hmac(secret: &str, string_to_sign: &str) -> HmacSha1 {
    let mut key = String::with_capacity(secret.len() + 1);
    key.push_str(secret);
    key.push('&');
    let mut mac =
        HmacSha1::new_from_slice(key.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    mac
}
