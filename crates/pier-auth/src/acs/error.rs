//! Authentication failures of the Alibaba Cloud API signatures and their AnalyticDB error codes.

/// Why a request failed the ACS3 or RPC signature check.
///
/// Each variant maps to an Alibaba Cloud (POP) error `Code` ([`AcsAuthError::code`]) and an HTTP
/// status ([`AcsAuthError::http_status`]) following the AnalyticDB wire spec (§1.5, §2.4): an
/// unknown AccessKeyId is 404, every other failure 400. The `Display` text is meant to be sent as
/// the error `Message`, so it says what to fix.
///
/// The message of [`AcsAuthError::SignatureMismatch`] contains the server's canonical request or
/// string-to-sign (as Alibaba Cloud's own message does), which includes the request's parameters,
/// e.g. a `NamespacePassword`: send it to the client that made the request, but don't log it
/// where others can read it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcsAuthError {
    /// Neither an `Authorization: ACS3-…` header nor an RPC `Signature` parameter was sent.
    #[error(
        "missing credentials: sign the request with an AccessKey, either with the header \
         'Authorization: ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=...,Signature=...' \
         (the SDK default) or with the RPC parameters AccessKeyId, SignatureMethod=HMAC-SHA1, \
         SignatureVersion=1.0, SignatureNonce, Timestamp and Signature"
    )]
    MissingCredentials,
    /// A header or parameter the signature scheme requires is absent or empty; the value names
    /// it, e.g. "the x-acs-date header" or "the SignatureNonce parameter".
    #[error("{0} is required by the request signature but was not supplied (or is empty)")]
    MissingParameter(&'static str),
    /// The signature's structure is unusable: an unparseable `Authorization` header, a required
    /// header left out of `SignedHeaders`, a repeated header; the text says which and why.
    #[error("incomplete or malformed request signature: {0}")]
    IncompleteSignature(String),
    /// The request uses a signature algorithm, method or version that pier does not verify.
    #[error(
        "unsupported signature: {0}; pier accepts ACS3-HMAC-SHA256, or the RPC signature with \
         SignatureMethod=HMAC-SHA1 and SignatureVersion=1.0"
    )]
    UnsupportedSignature(String),
    /// A parameter is unusable for signing: sent twice, or not UTF-8 once decoded.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// The AccessKeyId (the contained value) is not known to the server.
    #[error(
        "the AccessKeyId '{0}' does not exist on this server: check the access key configured \
         in the client and that it is sent to the right endpoint"
    )]
    UnknownAccessKey(String),
    /// The `x-acs-date` header or `Timestamp` parameter is not an ISO 8601 UTC time.
    #[error(
        "{name} '{value}' is not well formatted: send the current UTC time as \
         YYYY-MM-DDThh:mm:ssZ, e.g. 2025-01-02T03:04:05Z"
    )]
    InvalidTimestamp {
        /// Where the time was sent: `x-acs-date` or `Timestamp`.
        name: &'static str,
        /// The value as received.
        value: String,
    },
    /// The `x-acs-date` header or `Timestamp` parameter is further from the server clock than
    /// the allowed window.
    #[error(
        "{name} '{value}' is expired: it is {} s {} server time {server_time} and the limit \
         is ±{limit_secs} s; fix the client's clock and sign each request when it is sent",
        .skew_secs.unsigned_abs(),
        if *.skew_secs > 0 { "ahead of" } else { "behind" }
    )]
    TimestampExpired {
        /// Where the time was sent: `x-acs-date` or `Timestamp`.
        name: &'static str,
        /// The value as received.
        value: String,
        /// Request time minus server time, in seconds (positive: the client's clock is ahead).
        skew_secs: i64,
        /// The server's time when the request was checked, as `YYYY-MM-DDThh:mm:ssZ`.
        server_time: String,
        /// The allowed skew either way, in seconds.
        limit_secs: i64,
    },
    /// This AccessKeyId already used this nonce within the replay window.
    #[error(
        "the signature nonce '{0}' was already used with this AccessKeyId: the request looks \
         replayed; send a fresh random x-acs-signature-nonce / SignatureNonce with every request"
    )]
    NonceUsed(String),
    /// `x-acs-content-sha256` is not the SHA-256 of the body received.
    #[error(
        "the x-acs-content-sha256 header '{sent}' does not match the request body, whose \
         SHA-256 is {computed}: send the lowercase hex SHA-256 of the exact body bytes, and \
         don't change the body after signing"
    )]
    ContentSha256Mismatch {
        /// The header as received.
        sent: String,
        /// The lowercase hex SHA-256 of the body received.
        computed: String,
    },
    /// The signature does not match the server's calculation. Carries what the server signed so
    /// that the client can compare it with its own.
    #[error(
        "the request signature does not match the server's calculation: check the \
         AccessKeySecret, and sign {} exactly as they are sent.{}\nserver string to sign \
         is:\n{string_to_sign}",
        if .canonical_request.is_some() {
            "the method, path, query parameters, SignedHeaders and body"
        } else {
            "the method and the query and form body parameters"
        },
        match .canonical_request {
            Some(request) => format!("\nserver canonical request is:\n{request}"),
            None => String::new(),
        }
    )]
    SignatureMismatch {
        /// The ACS3 canonical request (`None` for the RPC signature, whose string-to-sign already
        /// lists everything signed).
        canonical_request: Option<String>,
        /// The string-to-sign the server computed.
        string_to_sign: String,
    },
}

impl AcsAuthError {
    /// The Alibaba Cloud error `Code` to put in the error body (`{"Code": …, "Message": …}`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingCredentials | Self::MissingParameter(_) => "MissingParameter",
            Self::IncompleteSignature(_) => "IncompleteSignature",
            Self::UnsupportedSignature(_) | Self::InvalidParameter(_) => "InvalidParameter",
            Self::UnknownAccessKey(_) => "InvalidAccessKeyId.NotFound",
            Self::InvalidTimestamp { .. } => "InvalidTimeStamp.Format",
            Self::TimestampExpired { .. } => "InvalidTimeStamp.Expired",
            Self::NonceUsed(_) => "SignatureNonceUsed",
            Self::ContentSha256Mismatch { .. } | Self::SignatureMismatch { .. } => {
                "SignatureDoesNotMatch"
            }
        }
    }

    /// The HTTP status to answer with: 404 for an unknown AccessKeyId, 400 for everything else
    /// (wire spec §2.4). The SDKs raise a `ClientException` for any 4xx.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::UnknownAccessKey(_) => 404,
            _ => 400,
        }
    }
}
