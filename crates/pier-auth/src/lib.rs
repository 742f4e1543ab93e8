//! Request authentication for pier.
//!
//! - [`opensearch`]: the OpenSearch V3 `Authorization: OPENSEARCH <AccessKeyId>:<Signature>`
//!   HMAC-SHA1 scheme that the official SDKs use (wire spec §2): [`Verifier`] for the server,
//!   [`sign_request`] for pier's own clients, and the pure [`string_to_sign`] / [`sign`].
//! - [`acs`]: the Alibaba Cloud API signatures that the AnalyticDB for PostgreSQL (gpdb) SDKs
//!   send — ACS3-HMAC-SHA256 and the legacy RPC HMAC-SHA1 — with [`AcsVerifier`] for the server
//!   and [`acs::sign_acs3`] / [`acs::sign_rpc`] for pier's own clients.
//! - [`basic`]: HTTP Basic credentials ([`parse_basic`]).
//! - [`oss`]: the OSS `PostObject` policy signature (AnalyticDB local-file uploads).
//!
//! Every OpenSearch or Basic failure is an [`AuthError`], which carries its V3 error code and
//! HTTP status; every ACS3 / RPC failure an [`AcsAuthError`], which carries its AnalyticDB error
//! code and HTTP status. Their messages tell the client what to fix. Nothing here panics on
//! hostile input: header values that are not UTF-8 are rejected as malformed.
//!
//! ```
//! use pier_auth::{RequestParts, Verifier, sign_request};
//!
//! let now = time::OffsetDateTime::now_utc();
//! let body = br#"[{"cmd":"add","fields":{"id":"1"}}]"#;
//! let path = "/v3/openapi/apps/demo/main/actions/bulk";
//! let mut headers = http::HeaderMap::new();
//! for (name, value) in sign_request("ak", "sk", "POST", path, &[], body, now) {
//!     headers.insert(
//!         http::HeaderName::try_from(name).unwrap(),
//!         http::HeaderValue::try_from(value).unwrap(),
//!     );
//! }
//! let req = RequestParts { method: "POST", path, query: None, headers: &headers, body };
//! let verifier = Verifier::default();
//! let secret_for = |id: &str| (id == "ak").then(|| "sk".to_owned());
//! assert_eq!(verifier.verify(&req, secret_for, now).unwrap(), "ak");
//! ```

pub mod acs;
pub mod basic;
mod error;
mod nonce;
pub mod opensearch;
pub mod oss;

pub use acs::{AcsAuthError, AcsVerifier};
pub use basic::parse_basic;
pub use error::AuthError;
pub use opensearch::{EmptyParamStyle, RequestParts, Verifier, sign, sign_request, string_to_sign};

use http::HeaderMap;

/// The only value of header `name`, as UTF-8. A repeated or non-UTF-8 value is malformed:
/// which copy a client meant, or what its bytes mean, would be guesswork.
pub(crate) fn single_header<'h>(
    headers: &'h HeaderMap,
    name: &str,
) -> Result<Option<&'h str>, AuthError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthError::MalformedAuthorization(format!(
            "header '{name}' was sent more than once"
        )));
    }
    std::str::from_utf8(value.as_bytes())
        .map(Some)
        .map_err(|_| AuthError::MalformedAuthorization(format!("header '{name}' is not UTF-8")))
}
