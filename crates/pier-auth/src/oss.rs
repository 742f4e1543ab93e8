//! The OSS `PostObject` form signature (V1): `Signature = base64(HMAC-SHA1(AccessKeySecret,
//! policy))`, where `policy` is the base64 policy document exactly as sent in the form. pier
//! issues such policies in AnalyticDB's `AuthorizeFileUpload` and checks them when the SDK posts
//! the file (the local-file path of `UpsertCollectionDataAsyncAdvance`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

/// The signature of `encoded_policy` with `secret`.
pub fn post_policy_signature(secret: &str, encoded_policy: &str) -> String {
    let mut mac =
        Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(encoded_policy.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// Whether `signature` is the signature of `encoded_policy` with `secret` (compared in constant
/// time).
pub fn verify_post_policy(secret: &str, encoded_policy: &str, signature: &str) -> bool {
    let Ok(given) = BASE64.decode(signature.trim()) else {
        return false;
    };
    let mut mac =
        Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(encoded_policy.as_bytes());
    mac.verify_slice(&given).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Computed independently: base64(hmac.new(b"secret-key", policy, hashlib.sha1).digest()).
    const POLICY: &str = "eyJleHBpcmF0aW9uIjoiMjAyNi0xMS0yMlQxNTowMDowMFoifQ==";
    const SIGNATURE: &str = "EdR69++BXT1UH1RjCT1Od279/hs=";

    #[test]
    fn signs_and_verifies_like_oss() {
        assert_eq!(post_policy_signature("secret-key", POLICY), SIGNATURE);
        assert!(verify_post_policy("secret-key", POLICY, SIGNATURE));
        assert!(!verify_post_policy("other-key", POLICY, SIGNATURE));
        assert!(!verify_post_policy("secret-key", POLICY, "not base64!"));
    }
}
