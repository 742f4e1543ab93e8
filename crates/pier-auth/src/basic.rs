//! HTTP Basic credentials: `Authorization: Basic base64(<id>:<secret>)` (RFC 7617).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT as BASE64;
use http::HeaderMap;
use http::header::AUTHORIZATION;

use crate::{AuthError, single_header};

/// Extracts `(id, secret)` from an `Authorization: Basic …` header.
///
/// No header, an empty one, or the literal `Basic None` (what some clients send when no
/// credentials are configured) is [`AuthError::MissingAuthorization`]; another scheme, invalid
/// Base64, non-UTF-8 text, a missing `:` or an empty id is [`AuthError::MalformedAuthorization`].
/// The secret may contain `:` and may be empty; checking it is the caller's job.
pub fn parse_basic(headers: &HeaderMap) -> Result<(String, String), AuthError> {
    let value = single_header(headers, AUTHORIZATION.as_str())?
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .ok_or(AuthError::MissingAuthorization)?;
    let malformed = |problem: &str| {
        AuthError::MalformedAuthorization(format!(
            "Authorization header {problem}; expected 'Basic base64(<id>:<secret>)'"
        ))
    };
    let (scheme, encoded) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("Basic") {
        return Err(malformed(&format!("uses the '{scheme}' scheme")));
    }
    let encoded = encoded.trim();
    if encoded.is_empty() || encoded == "None" {
        return Err(AuthError::MissingAuthorization);
    }
    // The error messages deliberately don't echo the decoded text: it may hold a secret.
    let decoded = BASE64
        .decode(encoded)
        .map_err(|_| malformed("is not valid Base64"))?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed("does not decode to UTF-8"))?;
    let (id, secret) = decoded
        .split_once(':')
        .filter(|(id, _)| !id.is_empty())
        .ok_or_else(|| malformed("does not decode to '<id>:<secret>'"))?;
    Ok((id.to_owned(), secret.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn parse(value: &[u8]) -> Result<(String, String), AuthError> {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_bytes(value).unwrap());
        parse_basic(&headers)
    }

    fn ok(id: &str, secret: &str) -> Result<(String, String), AuthError> {
        Ok((id.to_owned(), secret.to_owned()))
    }

    fn is_malformed(result: Result<(String, String), AuthError>) -> bool {
        matches!(result, Err(AuthError::MalformedAuthorization(_)))
    }

    #[test]
    fn parses_id_and_secret() {
        // base64("admin:s3cr:et") – the secret keeps its ':'.
        assert_eq!(parse(b"Basic YWRtaW46czNjcjpldA=="), ok("admin", "s3cr:et"));
        // Scheme is case-insensitive, padding optional, surrounding spaces ignored.
        assert_eq!(
            parse(b"  basic   YWRtaW46czNjcjpldA  "),
            ok("admin", "s3cr:et")
        );
        // base64("admin:")
        assert_eq!(parse(b"Basic YWRtaW46"), ok("admin", ""));
    }

    #[test]
    fn absent_credentials_are_missing() {
        assert_eq!(
            parse_basic(&HeaderMap::new()),
            Err(AuthError::MissingAuthorization)
        );
        for value in [&b"Basic None"[..], b"Basic", b"Basic   ", b""] {
            assert_eq!(
                parse(value),
                Err(AuthError::MissingAuthorization),
                "{value:?}"
            );
        }
    }

    #[test]
    fn garbage_is_malformed() {
        for value in [
            &b"Bearer abc"[..],
            b"OPENSEARCH ak:c2ln",
            b"Basic !!!!",
            b"Basic bm9jb2xvbg==",    // "nocolon"
            b"Basic OnNlY3JldA==",    // ":secret" (empty id)
            b"Basic //79",            // bytes ff fe fd: not UTF-8
            b"Basic YWRtaW46\xff",    // non-UTF-8 header value
            b"BasicYWRtaW46czNjcmV0", // no space after the scheme
        ] {
            assert!(is_malformed(parse(value)), "{value:?}");
        }
    }

    #[test]
    fn repeated_header_is_malformed() {
        let mut headers = HeaderMap::new();
        headers.append(AUTHORIZATION, HeaderValue::from_static("Basic YWRtaW46"));
        headers.append(AUTHORIZATION, HeaderValue::from_static("Basic YWRtaW46"));
        assert!(is_malformed(parse_basic(&headers)));
    }
}
