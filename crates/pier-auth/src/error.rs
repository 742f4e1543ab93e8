//! Authentication failures and their OpenSearch V3 error codes.

/// Why a request failed authentication.
///
/// Each variant maps to an OpenSearch V3 error code ([`AuthError::code`], spec §3.1) and an HTTP
/// status ([`AuthError::http_status`]). The `Display` text is meant to be sent to the client as the
/// error message, so it says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credentials were sent (no `Authorization` header, or the literal `Basic None`).
    #[error(
        "missing credentials: send an Authorization header \
         ('OPENSEARCH <AccessKeyId>:<Signature>' for the OpenSearch V3 API, \
         'Basic base64(<id>:<secret>)' where HTTP Basic is accepted)"
    )]
    MissingAuthorization,
    /// Credentials or an authentication-relevant header could not be parsed; the text says which and why.
    #[error("malformed request authentication: {0}")]
    MalformedAuthorization(String),
    /// The AccessKeyId (the contained value) is not known to the server.
    #[error(
        "unknown AccessKeyId '{0}': check the access key configured in the client \
         and that it is sent to the right endpoint"
    )]
    UnknownAccessKey(String),
    /// The `Date` header is absent or not `YYYY-MM-DDTHH:MM:SSZ`; the text describes the problem.
    #[error(
        "missing or invalid Date header ({0}): send the current UTC time as \
         YYYY-MM-DDTHH:MM:SSZ, e.g. 2019-02-25T10:09:57Z"
    )]
    DateMissingOrInvalid(String),
    /// The `Date` header is further from the server clock than the allowed window.
    #[error(
        "Date header '{date}' is {} s {} server time {server_time}; the limit is ±{limit_secs} s: \
         fix the client's clock",
        .skew_secs.unsigned_abs(),
        if *.skew_secs > 0 { "ahead of" } else { "behind" }
    )]
    DateSkew {
        /// `Date` minus server time, in seconds (positive: the client's clock is ahead).
        skew_secs: i64,
        /// The `Date` header as received.
        date: String,
        /// The server's time when the request was checked, formatted like `Date`.
        server_time: String,
        /// The allowed skew either way, in seconds.
        limit_secs: i64,
    },
    /// The `X-Opensearch-Nonce` header is absent or empty.
    #[error(
        "missing X-Opensearch-Nonce header: send a fresh random value with every request \
         (e.g. 32 hex characters) and include it in the signature"
    )]
    MissingNonce,
    /// This AccessKeyId already used this nonce within the replay window.
    #[error(
        "X-Opensearch-Nonce was already used with this AccessKeyId: the request looks replayed; \
         generate a fresh nonce for every request"
    )]
    ReplayedNonce,
    /// `Content-MD5` does not match the body.
    #[error(
        "Content-MD5 does not match the request body: send the lowercase hex MD5 (not base64) \
         of the exact body bytes"
    )]
    ContentMd5Mismatch,
    /// The signature does not match any accepted rendering of the request.
    #[error(
        "signature verification failed: check the AccessKeySecret, and sign VERB, Content-MD5, \
         Content-Type, Date, the X-Opensearch-* headers and the sorted, RFC 3986-encoded path \
         and query exactly as sent"
    )]
    SignatureMismatch,
}

impl AuthError {
    /// The OpenSearch V3 error code to put in `errors[].code` (spec §3.1).
    pub fn code(&self) -> u32 {
        match self {
            Self::MalformedAuthorization(_) => 4001,
            Self::MissingAuthorization => 4002,
            Self::ContentMd5Mismatch | Self::SignatureMismatch => 4003,
            Self::MissingNonce => 4004,
            Self::ReplayedNonce => 4005,
            Self::DateMissingOrInvalid(_) | Self::DateSkew { .. } => 4010,
            Self::UnknownAccessKey(_) => 5001,
        }
    }

    /// The HTTP status to answer with: 403 for every authentication failure (spec §1.2; the docs
    /// name 403 for Date skew, and SDKs only care that it is ≥ 400).
    pub fn http_status(&self) -> u16 {
        403
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_status() {
        let cases = [
            (AuthError::MissingAuthorization, 4002),
            (AuthError::MalformedAuthorization("x".into()), 4001),
            (AuthError::UnknownAccessKey("k".into()), 5001),
            (AuthError::DateMissingOrInvalid("x".into()), 4010),
            (
                AuthError::DateSkew {
                    skew_secs: 1,
                    date: String::new(),
                    server_time: String::new(),
                    limit_secs: 900,
                },
                4010,
            ),
            (AuthError::MissingNonce, 4004),
            (AuthError::ReplayedNonce, 4005),
            (AuthError::ContentMd5Mismatch, 4003),
            (AuthError::SignatureMismatch, 4003),
        ];
        for (err, code) in cases {
            assert_eq!(err.code(), code, "{err:?}");
            assert_eq!(err.http_status(), 403, "{err:?}");
        }
    }

    #[test]
    fn date_skew_message_says_what_to_fix() {
        let err = AuthError::DateSkew {
            skew_secs: -1234,
            date: "2019-02-25T10:09:57Z".into(),
            server_time: "2019-02-25T10:30:31Z".into(),
            limit_secs: 900,
        };
        assert_eq!(
            err.to_string(),
            "Date header '2019-02-25T10:09:57Z' is 1234 s behind server time 2019-02-25T10:30:31Z; \
             the limit is ±900 s: fix the client's clock"
        );
    }
}
