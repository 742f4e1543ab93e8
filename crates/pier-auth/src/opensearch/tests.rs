//! Spec §2.2 worked examples, canonicalisation details, failures and the client round trip.

use super::*;
use http::{HeaderName, HeaderValue};
use time::macros::datetime;

const AK: &str = "testAccessKeyId";
const SK: &str = "testAccessKeySecret";
const SPEC_DATE: &str = "2019-02-25T10:09:57Z";
const NONCE: &str = "1551089397451704";
/// Server time for the spec examples: shortly after their `Date`.
const NOW: OffsetDateTime = datetime!(2019-02-25 10:10:30 UTC);
const PUSH_PATH: &str = "/v3/openapi/apps/app_schema_demo/tab/actions/bulk";
const PUSH_BODY: &str = r#"[{"cmd":"add","fields":{"id":"1","title":"This is the title","int_array":[14,85],"string_array":["abc","xyz"]}},{"cmd":"delete","fields":{"id":"2"}}]"#;
const PUSH_MD5: &str = "32680bcf532ec9adf93fc63687c29387";
/// The §2.2b request line exactly as the Python Tea client put it on the wire.
const SEARCH_REQUEST_LINE: &str = "GET /v3/openapi/apps/app_schema_demo/search?query=config%3Dstart%3A0%2Chit%3A10%2Cformat%3Afulljson%26%26query%3Dname%3A%27%E6%96%87%E6%A1%A3+demo%27%26%26sort%3D-id&fetch_fields=id%3Bname HTTP/1.1";

fn header_map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    headers
}

fn secrets(id: &str) -> Option<String> {
    match id {
        AK => Some(SK.to_owned()),
        "LTAIEXAMPLE" => Some("yourAccessKeySecret".to_owned()),
        _ => None,
    }
}

fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|&(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn push_headers(signature: &str, extra: &[(&str, &str)]) -> HeaderMap {
    let authorization = format!("OPENSEARCH {AK}:{signature}");
    let mut all = vec![
        ("Date", SPEC_DATE),
        ("X-Opensearch-Nonce", NONCE),
        ("Content-MD5", PUSH_MD5),
        ("Content-Type", "application/json"),
        ("Authorization", authorization.as_str()),
    ];
    all.extend_from_slice(extra);
    header_map(&all)
}

fn verify_push(headers: &HeaderMap, body: &str) -> Result<String, AuthError> {
    let req = RequestParts {
        method: "POST",
        path: PUSH_PATH,
        query: None,
        headers,
        body: body.as_bytes(),
    };
    Verifier::default().verify(&req, secrets, NOW)
}

/// Splits a raw HTTP request line into (method, path, query).
fn split_request_line(line: &str) -> (&str, &str, Option<&str>) {
    let (method, rest) = line.split_once(' ').unwrap();
    let target = rest.strip_suffix(" HTTP/1.1").unwrap();
    match target.split_once('?') {
        Some((path, query)) => (method, path, Some(query)),
        None => (method, target, None),
    }
}

/// The §2.2b search request as the Python Tea (no Content-Type) or Java client sends it.
fn search_headers(signature: &str, java: bool) -> HeaderMap {
    let authorization = format!("OPENSEARCH {AK}:{signature}");
    let mut all = vec![
        ("Date", SPEC_DATE),
        ("X-Opensearch-Nonce", NONCE),
        ("Authorization", authorization.as_str()),
    ];
    if java {
        // Java always sends Content-Md5 (empty on GET) and its own Content-Type.
        all.push(("Content-Md5", ""));
        all.push(("Content-Type", "application/json; charset=utf-8"));
    }
    header_map(&all)
}

fn verify_search(headers: &HeaderMap) -> Result<String, AuthError> {
    let (method, path, query) = split_request_line(SEARCH_REQUEST_LINE);
    let req = RequestParts {
        method,
        path,
        query,
        headers,
        body: b"",
    };
    Verifier::default().verify(&req, secrets, NOW)
}

fn is_malformed(result: Result<String, AuthError>) -> bool {
    matches!(result, Err(AuthError::MalformedAuthorization(_)))
}

// ---- Spec §2.2 worked examples ----

#[test]
fn example_a_push() {
    assert_eq!(PUSH_BODY.len(), 149);
    assert_eq!(lower_hex(&Md5::digest(PUSH_BODY)), PUSH_MD5);
    let nonce = header_map(&[("X-Opensearch-Nonce", NONCE)]);
    let expected = "POST\n32680bcf532ec9adf93fc63687c29387\napplication/json\n2019-02-25T10:09:57Z\n\
                    x-opensearch-nonce:1551089397451704\n\
                    /v3/openapi/apps/app_schema_demo/tab/actions/bulk";
    let sts = string_to_sign(
        "POST",
        PUSH_MD5,
        "application/json",
        SPEC_DATE,
        &nonce,
        PUSH_PATH,
        &[],
        EmptyParamStyle::Drop,
    );
    assert_eq!(sts, expected);
    assert_eq!(sign(SK, &sts), "2np8G2SjZeCL5dWZ0FlTq89Jalk=");

    let headers = push_headers("2np8G2SjZeCL5dWZ0FlTq89Jalk=", &[]);
    assert_eq!(verify_push(&headers, PUSH_BODY).unwrap(), AK);
}

#[test]
fn example_a_push_with_sts_token() {
    let headers = push_headers(
        "qYwxOiJo6kczCmMX8aGx0wou+rY=",
        &[("X-Opensearch-Security-Token", "STS.tok")],
    );
    let sts = string_to_sign(
        "POST",
        PUSH_MD5,
        "application/json",
        SPEC_DATE,
        &headers,
        PUSH_PATH,
        &[],
        EmptyParamStyle::Drop,
    );
    assert!(sts.contains(
        "\nx-opensearch-nonce:1551089397451704\nx-opensearch-security-token:STS.tok\n/v3/"
    ));
    assert_eq!(sign(SK, &sts), "qYwxOiJo6kczCmMX8aGx0wou+rY=");
    assert_eq!(verify_push(&headers, PUSH_BODY).unwrap(), AK);
}

#[test]
fn example_b_search_string_to_sign() {
    let nonce = header_map(&[("X-Opensearch-Nonce", NONCE)]);
    let params = pairs(&[
        (
            "query",
            "config=start:0,hit:10,format:fulljson&&query=name:'文档 demo'&&sort=-id",
        ),
        ("fetch_fields", "id;name"),
    ]);
    let sts = string_to_sign(
        "get",
        "",
        "",
        SPEC_DATE,
        &nonce,
        "/v3/openapi/apps/app_schema_demo/search",
        &params,
        EmptyParamStyle::Drop,
    );
    let expected = "GET\n\n\n2019-02-25T10:09:57Z\nx-opensearch-nonce:1551089397451704\n\
                    /v3/openapi/apps/app_schema_demo/search?fetch_fields=id%3Bname&query=config%3Dstart%3A0%2Chit%3A10%2Cformat%3Afulljson%26%26query%3Dname%3A%27%E6%96%87%E6%A1%A3%20demo%27%26%26sort%3D-id";
    assert_eq!(sts, expected);
    assert_eq!(sign(SK, &sts), "vjLbpfYoLjIeDtebrJ1rH8ZgR8o=");
}

#[test]
fn example_b_search_python_tea_wire_request() {
    let headers = search_headers("vjLbpfYoLjIeDtebrJ1rH8ZgR8o=", false);
    assert_eq!(verify_search(&headers).unwrap(), AK);
}

#[test]
fn example_b_search_java_content_type() {
    let headers = search_headers("x12PUb8o6ZqtZEdbVfS9RXnws9k=", true);
    assert_eq!(verify_search(&headers).unwrap(), AK);
    // The Content-Type line is signed: the Python signature no longer matches.
    let headers = search_headers("vjLbpfYoLjIeDtebrJ1rH8ZgR8o=", true);
    assert_eq!(verify_search(&headers), Err(AuthError::SignatureMismatch));
}

#[test]
fn example_c_docs_vector_with_empty_param() {
    let path = "/v3/openapi/apps/app_schema_demo/search";
    let params = pairs(&[
        (
            "query",
            "query=name:'文档'&&sort=id&&config=format:fulljson",
        ),
        ("fetch_fields", "name"),
        ("empty", ""),
    ]);
    let nonce = header_map(&[("X-Opensearch-Nonce", NONCE)]);
    let sts = |style| {
        string_to_sign(
            "GET",
            "",
            "application/json",
            SPEC_DATE,
            &nonce,
            path,
            &params,
            style,
        )
    };
    let expected = "GET\n\napplication/json\n2019-02-25T10:09:57Z\nx-opensearch-nonce:1551089397451704\n\
                    /v3/openapi/apps/app_schema_demo/search?fetch_fields=name&query=query%3Dname%3A%27%E6%96%87%E6%A1%A3%27%26%26sort%3Did%26%26config%3Dformat%3Afulljson";
    assert_eq!(sts(EmptyParamStyle::Drop), expected);
    assert_eq!(
        sign("yourAccessKeySecret", expected),
        "Mv5FyQxr6myxxnwMPqJ6f6F9+9Y="
    );
    assert!(sts(EmptyParamStyle::BareKey).ends_with("?empty&fetch_fields=name&query=query%3Dname%3A%27%E6%96%87%E6%A1%A3%27%26%26sort%3Did%26%26config%3Dformat%3Afulljson"));
    assert!(sts(EmptyParamStyle::KeyEquals).contains("?empty=&fetch_fields=name&"));

    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish();
    assert!(query.ends_with("&empty="));
    let headers = header_map(&[
        ("Date", SPEC_DATE),
        ("X-Opensearch-Nonce", NONCE),
        ("Content-Type", "application/json"),
        (
            "Authorization",
            "OPENSEARCH LTAIEXAMPLE:Mv5FyQxr6myxxnwMPqJ6f6F9+9Y=",
        ),
    ]);
    let req = RequestParts {
        method: "GET",
        path,
        query: Some(&query),
        headers: &headers,
        body: b"",
    };
    assert_eq!(
        Verifier::default().verify(&req, secrets, NOW).unwrap(),
        "LTAIEXAMPLE"
    );
}

#[test]
fn example_d_python_util_vector() {
    let sts = string_to_sign(
        "GET",
        "",
        "",
        "",
        &HeaderMap::new(),
        "/test/a/b",
        &pairs(&[("key", "test")]),
        EmptyParamStyle::BareKey,
    );
    assert_eq!(sts, "GET\n\n\n\n/test/a/b?key=test");
    assert_eq!(
        sign("AccessKeySecret", &sts),
        "Puo3jkoIu0S1F8x3jHDxSpNhnQU="
    );
}

#[test]
fn example_d_java_vector() {
    let nonce = header_map(&[("X-Opensearch-Nonce", "14736563378308720")]);
    let sts = string_to_sign(
        "POST",
        "048e6eab63d11a8f8dc647d7a40151cb",
        "text/json",
        "2016-09-12T04:58:57Z",
        &nonce,
        "/v3/openapi/apps/ICBU_PRODUCT_FULL_TEXT_SEARCH/main/actions/bulk",
        &[],
        EmptyParamStyle::Drop,
    );
    assert_eq!(
        sts,
        "POST\n048e6eab63d11a8f8dc647d7a40151cb\ntext/json\n2016-09-12T04:58:57Z\n\
         x-opensearch-nonce:14736563378308720\n\
         /v3/openapi/apps/ICBU_PRODUCT_FULL_TEXT_SEARCH/main/actions/bulk"
    );
    assert_eq!(sign("bar", &sts), "adfhSRO0ps4/q7er+6kXkMXb7Tw=");
}

// ---- Canonicalisation details ----

#[test]
fn canonical_headers_are_filtered_lowercased_and_sorted() {
    let headers = header_map(&[
        ("X-Opensearch-Zeta", "z"),
        ("X-OpenSearch-Empty", ""),
        ("x-opensearch-alpha", "a b"),
        ("Accept-Language", "zh-cn"),
    ]);
    let sts = string_to_sign(
        "GET",
        "",
        "",
        SPEC_DATE,
        &headers,
        "/",
        &[],
        EmptyParamStyle::Drop,
    );
    assert_eq!(
        sts,
        "GET\n\n\n2019-02-25T10:09:57Z\nx-opensearch-alpha:a b\nx-opensearch-zeta:z\n/"
    );
}

#[test]
fn canonical_resource_encoding() {
    let params = pairs(&[("b", "x y*'~/:;=&+"), ("a", "é"), ("c", "")]);
    let resource = |style| with_resource(String::new(), "/apps/a b/ü", &params, style);
    assert_eq!(
        resource(EmptyParamStyle::Drop),
        "/apps/a%20b/%C3%BC?a=%C3%A9&b=x%20y%2A%27~%2F%3A%3B%3D%26%2B"
    );
    assert!(resource(EmptyParamStyle::BareKey).ends_with("%2B&c"));
    assert!(resource(EmptyParamStyle::KeyEquals).ends_with("%2B&c="));
    // Only empty parameters: Drop leaves no '?' behind.
    let empty_only = pairs(&[("e", "")]);
    assert_eq!(
        with_resource(String::new(), "/p", &empty_only, EmptyParamStyle::Drop),
        "/p"
    );
}

#[test]
fn every_empty_param_rendering_verifies() {
    let path = "/v3/openapi/apps/demo/search";
    let params = pairs(&[("query", "config=hit:1"), ("kvpairs", "")]);
    for style in EmptyParamStyle::ALL {
        let nonce = format!("nonce-{style:?}");
        let sigheaders = header_map(&[("X-Opensearch-Nonce", &nonce)]);
        let sts = string_to_sign("GET", "", "", SPEC_DATE, &sigheaders, path, &params, style);
        let authorization = format!("OPENSEARCH {AK}:{}", sign(SK, &sts));
        let headers = header_map(&[
            ("Date", SPEC_DATE),
            ("X-Opensearch-Nonce", &nonce),
            ("Authorization", &authorization),
        ]);
        let req = RequestParts {
            method: "GET",
            path,
            query: Some("kvpairs=&query=config%3Dhit%3A1"),
            headers: &headers,
            body: b"",
        };
        assert_eq!(
            Verifier::default().verify(&req, secrets, NOW),
            Ok(AK.to_owned()),
            "{style:?}"
        );
    }
}

#[test]
fn uppercase_content_md5_is_accepted() {
    let md5 = PUSH_MD5.to_ascii_uppercase();
    let nonce = header_map(&[("X-Opensearch-Nonce", NONCE)]);
    let sts = string_to_sign(
        "POST",
        &md5,
        "application/json",
        SPEC_DATE,
        &nonce,
        PUSH_PATH,
        &[],
        EmptyParamStyle::Drop,
    );
    let mut headers = push_headers(&sign(SK, &sts), &[]);
    headers.insert("content-md5", HeaderValue::from_str(&md5).unwrap());
    assert_eq!(verify_push(&headers, PUSH_BODY).unwrap(), AK);
}

// ---- Failures ----

#[test]
fn wrong_secret_is_signature_mismatch() {
    let headers = push_headers("2np8G2SjZeCL5dWZ0FlTq89Jalk=", &[]);
    let req = RequestParts {
        method: "POST",
        path: PUSH_PATH,
        query: None,
        headers: &headers,
        body: PUSH_BODY.as_bytes(),
    };
    let wrong = |_: &str| Some("not-the-secret".to_owned());
    assert_eq!(
        Verifier::default().verify(&req, wrong, NOW),
        Err(AuthError::SignatureMismatch)
    );
}

#[test]
fn tampered_request_is_signature_mismatch() {
    // A different method, path or signed header invalidates the signature.
    let headers = push_headers("2np8G2SjZeCL5dWZ0FlTq89Jalk=", &[]);
    let mut req = RequestParts {
        method: "PUT",
        path: PUSH_PATH,
        query: None,
        headers: &headers,
        body: PUSH_BODY.as_bytes(),
    };
    let verifier = Verifier::default();
    assert_eq!(
        verifier.verify(&req, secrets, NOW),
        Err(AuthError::SignatureMismatch)
    );
    req.method = "POST";
    req.path = "/v3/openapi/apps/app_schema_demo/TAB/actions/bulk";
    assert_eq!(
        verifier.verify(&req, secrets, NOW),
        Err(AuthError::SignatureMismatch)
    );
    let extra = push_headers(
        "2np8G2SjZeCL5dWZ0FlTq89Jalk=",
        &[("X-Opensearch-Security-Token", "STS.tok")],
    );
    assert_eq!(
        verify_push(&extra, PUSH_BODY),
        Err(AuthError::SignatureMismatch)
    );
}

#[test]
fn unknown_key() {
    let headers = header_map(&[
        ("Date", SPEC_DATE),
        ("X-Opensearch-Nonce", NONCE),
        (
            "Authorization",
            "OPENSEARCH nobody:2np8G2SjZeCL5dWZ0FlTq89Jalk=",
        ),
    ]);
    let err = verify_push(&headers, PUSH_BODY).unwrap_err();
    assert_eq!(err, AuthError::UnknownAccessKey("nobody".into()));
    assert_eq!(err.code(), 5001);
}

#[test]
fn bad_or_missing_date() {
    for date in [
        "Mon, 25 Feb 2019 10:09:57 GMT",
        "2019-02-25 10:09:57",
        "2019-02-25T10:09:57+08:00",
        "",
    ] {
        let mut headers = push_headers("2np8G2SjZeCL5dWZ0FlTq89Jalk=", &[]);
        headers.insert(DATE, HeaderValue::from_str(date).unwrap());
        assert!(
            matches!(
                verify_push(&headers, PUSH_BODY),
                Err(AuthError::DateMissingOrInvalid(_))
            ),
            "{date:?}"
        );
    }
    let mut headers = push_headers("2np8G2SjZeCL5dWZ0FlTq89Jalk=", &[]);
    headers.remove(DATE);
    assert!(matches!(
        verify_push(&headers, PUSH_BODY),
        Err(AuthError::DateMissingOrInvalid(_))
    ));
}

#[test]
fn date_outside_window_is_skew() {
    let headers = push_headers("2np8G2SjZeCL5dWZ0FlTq89Jalk=", &[]);
    let req = RequestParts {
        method: "POST",
        path: PUSH_PATH,
        query: None,
        headers: &headers,
        body: PUSH_BODY.as_bytes(),
    };
    let date = datetime!(2019-02-25 10:09:57 UTC);
    let verifier = Verifier::default();

    let err = verifier
        .verify(&req, secrets, date + SignedDuration::seconds(901))
        .unwrap_err();
    assert_eq!(
        err,
        AuthError::DateSkew {
            skew_secs: -901,
            date: SPEC_DATE.into(),
            server_time: "2019-02-25T10:24:58Z".into(),
            limit_secs: 900,
        }
    );
    assert_eq!((err.code(), err.http_status()), (4010, 403));
    assert!(err.to_string().contains("901 s behind"), "{err}");

    let err = verifier
        .verify(&req, secrets, date - SignedDuration::minutes(16))
        .unwrap_err();
    assert!(
        matches!(err, AuthError::DateSkew { skew_secs: 960, .. }),
        "{err:?}"
    );

    // Exactly at the limit is still accepted, whatever the server's UTC offset.
    let edge = (date - SignedDuration::seconds(900)).to_offset(time::macros::offset!(+8));
    assert_eq!(verifier.verify(&req, secrets, edge), Ok(AK.to_owned()));
}

#[test]
fn missing_or_empty_nonce() {
    let mut headers = push_headers("2np8G2SjZeCL5dWZ0FlTq89Jalk=", &[]);
    headers.remove("x-opensearch-nonce");
    assert_eq!(
        verify_push(&headers, PUSH_BODY),
        Err(AuthError::MissingNonce)
    );
    headers.insert("x-opensearch-nonce", HeaderValue::from_static(""));
    assert_eq!(
        verify_push(&headers, PUSH_BODY),
        Err(AuthError::MissingNonce)
    );
}

#[test]
fn replayed_nonce() {
    let headers = push_headers("2np8G2SjZeCL5dWZ0FlTq89Jalk=", &[]);
    let good = RequestParts {
        method: "POST",
        path: PUSH_PATH,
        query: None,
        headers: &headers,
        body: PUSH_BODY.as_bytes(),
    };
    let forged_headers = push_headers("AAAAAAAAAAAAAAAAAAAAAAAAAAA=", &[]);
    let forged = RequestParts {
        headers: &forged_headers,
        ..good
    };
    let verifier = Verifier::default();
    // A request with a bad signature does not burn the nonce.
    assert_eq!(
        verifier.verify(&forged, secrets, NOW),
        Err(AuthError::SignatureMismatch)
    );
    assert_eq!(verifier.verify(&good, secrets, NOW), Ok(AK.to_owned()));
    let later = NOW + SignedDuration::minutes(10);
    assert_eq!(
        verifier.verify(&good, secrets, later),
        Err(AuthError::ReplayedNonce)
    );
    // Once the Date is outside the window, the clock check rejects it instead.
    let much_later = NOW + SignedDuration::minutes(20);
    assert!(matches!(
        verifier.verify(&good, secrets, much_later),
        Err(AuthError::DateSkew { .. })
    ));
}

#[test]
fn content_md5_mismatch() {
    let headers = push_headers("2np8G2SjZeCL5dWZ0FlTq89Jalk=", &[]);
    let tampered = PUSH_BODY.replace("title", "TITLE");
    assert_eq!(
        verify_push(&headers, &tampered),
        Err(AuthError::ContentMd5Mismatch)
    );
    // Base64 MD5 (RFC 1864 style) is not what the SDKs send.
    let mut headers = headers;
    headers.insert(
        "content-md5",
        HeaderValue::from_static("MmgLz1Muya35P8Y2h8KThw=="),
    );
    assert_eq!(
        verify_push(&headers, PUSH_BODY),
        Err(AuthError::ContentMd5Mismatch)
    );
}

#[test]
fn missing_authorization() {
    let mut headers = push_headers("x", &[]);
    headers.remove(AUTHORIZATION);
    assert_eq!(
        verify_push(&headers, PUSH_BODY),
        Err(AuthError::MissingAuthorization)
    );
    headers.insert(AUTHORIZATION, HeaderValue::from_static(""));
    assert_eq!(
        verify_push(&headers, PUSH_BODY),
        Err(AuthError::MissingAuthorization)
    );
}

#[test]
fn garbled_authorization() {
    for value in [
        &b"OPENSEARCH"[..],
        b"OPENSEARCH testAccessKeyId",
        b"OPENSEARCH :2np8G2SjZeCL5dWZ0FlTq89Jalk=",
        b"OPENSEARCH testAccessKeyId:",
        b"OPENSEARCH testAccessKeyId:not base64!",
        b"OPENSEARCHtestAccessKeyId:2np8G2SjZeCL5dWZ0FlTq89Jalk=",
        b"Basic dGVzdDp0ZXN0",
        b"Bearer token",
        b"OPENSEARCH testAccessKeyId:2np8G2SjZeCL5dWZ0FlTq89Jalk=\xff",
        b"\xc3\x28",
    ] {
        let mut headers = push_headers("x", &[]);
        headers.insert(AUTHORIZATION, HeaderValue::from_bytes(value).unwrap());
        let result = verify_push(&headers, PUSH_BODY);
        assert!(is_malformed(result.clone()), "{value:?}: {result:?}");
        assert_eq!(result.unwrap_err().code(), 4001);
    }
    // Two Authorization headers are ambiguous.
    let mut headers = push_headers("2np8G2SjZeCL5dWZ0FlTq89Jalk=", &[]);
    headers.append(
        AUTHORIZATION,
        HeaderValue::from_static("OPENSEARCH testAccessKeyId:2np8G2SjZeCL5dWZ0FlTq89Jalk="),
    );
    assert!(is_malformed(verify_push(&headers, PUSH_BODY)));
}

#[test]
fn scheme_is_case_insensitive() {
    let mut headers = push_headers("x", &[]);
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_static("opensearch testAccessKeyId:2np8G2SjZeCL5dWZ0FlTq89Jalk="),
    );
    assert_eq!(verify_push(&headers, PUSH_BODY), Ok(AK.to_owned()));
}

#[test]
fn non_utf8_or_repeated_headers_are_malformed() {
    for (name, value) in [
        ("content-md5", &b"\xff"[..]),
        ("content-type", b"application/json\xff"),
        ("x-opensearch-security-token", b"\xfe\xff"),
        ("x-opensearch-nonce", b"\x80"),
    ] {
        let mut headers = push_headers("2np8G2SjZeCL5dWZ0FlTq89Jalk=", &[]);
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_bytes(value).unwrap(),
        );
        assert!(is_malformed(verify_push(&headers, PUSH_BODY)), "{name}");
    }
    let headers = push_headers(
        "2np8G2SjZeCL5dWZ0FlTq89Jalk=",
        &[("X-Opensearch-Extra", "a"), ("X-Opensearch-Extra", "b")],
    );
    assert!(is_malformed(verify_push(&headers, PUSH_BODY)));
    // A path that is not UTF-8 once decoded cannot have been signed by an SDK.
    let headers = push_headers("2np8G2SjZeCL5dWZ0FlTq89Jalk=", &[]);
    let req = RequestParts {
        method: "POST",
        path: "/v3/%FF",
        query: None,
        headers: &headers,
        body: PUSH_BODY.as_bytes(),
    };
    assert!(is_malformed(Verifier::default().verify(&req, secrets, NOW)));
}

#[test]
fn garbage_query_does_not_panic() {
    let headers = search_headers("vjLbpfYoLjIeDtebrJ1rH8ZgR8o=", false);
    for query in ["%", "%zz=%", "&&&", "=", "a=%FF%FE", "\u{0}=\u{7f}"] {
        let req = RequestParts {
            method: "GET",
            path: "/",
            query: Some(query),
            headers: &headers,
            body: b"",
        };
        assert_eq!(
            Verifier::default().verify(&req, secrets, NOW),
            Err(AuthError::SignatureMismatch),
            "{query:?}"
        );
    }
}

// ---- Client side ----

fn signed_header_map(signed: &[(String, String)]) -> HeaderMap {
    let pairs: Vec<(&str, &str)> = signed
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    header_map(&pairs)
}

/// Signs with `sign_request`, sends the query form-encoded in reverse order, and verifies.
fn round_trip(method: &str, path: &str, query_pairs: &[(String, String)], body: &[u8]) {
    let now = datetime!(2026-03-01 12:00:00 +08:00);
    let signed = sign_request("ak", "sk", method, path, query_pairs, body, now);
    let names: Vec<&str> = signed.iter().map(|(name, _)| name.as_str()).collect();
    let expected_names: &[&str] = if body.is_empty() {
        &["Date", "X-Opensearch-Nonce", "Authorization"]
    } else {
        &[
            "Date",
            "X-Opensearch-Nonce",
            "Content-MD5",
            "Content-Type",
            "Authorization",
        ]
    };
    assert_eq!(names, expected_names);
    assert_eq!(signed[0].1, "2026-03-01T04:00:00Z");

    let headers = signed_header_map(&signed);
    let query = (!query_pairs.is_empty()).then(|| {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query_pairs.iter().rev())
            .finish()
    });
    let req = RequestParts {
        method,
        path,
        query: query.as_deref(),
        headers: &headers,
        body,
    };
    let secret_for = |id: &str| (id == "ak").then(|| "sk".to_owned());
    assert_eq!(
        Verifier::default().verify(&req, secret_for, now),
        Ok("ak".to_owned()),
        "{method}"
    );
}

#[test]
fn sign_request_round_trips_through_verify() {
    round_trip(
        "POST",
        "/v3/openapi/apps/demo/main/actions/bulk",
        &[],
        PUSH_BODY.as_bytes(),
    );
    let params = pairs(&[
        ("query", "query=title:'中文 search'&&config=start:0,hit:10"),
        ("fetch_fields", "id;title"),
        ("kvpairs", ""),
    ]);
    round_trip("GET", "/v3/openapi/apps/demo/search", &params, b"");
}

#[test]
fn sign_request_uses_fresh_nonces() {
    let now = NOW;
    let a = sign_request(AK, SK, "GET", "/", &[], b"", now);
    let b = sign_request(AK, SK, "GET", "/", &[], b"", now);
    assert_ne!(a[1].1, b[1].1);
    assert!(
        a[1].1
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
}

#[test]
fn percent_encoded_path_is_decoded_before_signing() {
    let signed = sign_request(
        AK,
        SK,
        "GET",
        "/v3/openapi/apps/my_app/search",
        &[],
        b"",
        NOW,
    );
    let headers = signed_header_map(&signed);
    let req = RequestParts {
        method: "GET",
        path: "/v3/openapi/apps/my%5Fapp/search",
        query: None,
        headers: &headers,
        body: b"",
    };
    assert_eq!(
        Verifier::default().verify(&req, secrets, NOW),
        Ok(AK.to_owned())
    );
}

#[test]
fn verifier_is_shareable_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Verifier>();
}
