//! Wire spec §2.2 / §2.3 test vectors, round trips through the signers, and every failure.

use super::acs3::QueryKeyStyle;
use super::*;
use http::{HeaderName, HeaderValue};
use sha2::{Digest, Sha256};
use time::macros::datetime;

const AK: &str = "testAK";
const SK: &str = "testSecret";
/// Server time for the spec vectors: shortly after their `x-acs-date` / `Timestamp`.
const NOW: OffsetDateTime = datetime!(2025-01-02 03:04:30 UTC);
const SPEC_DATE: &str = "2025-01-02T03:04:05Z";
const SPEC_NONCE: &str = "0123456789abcdef0123456789abcdef";
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const USER_AGENT: &str = "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2";

/// §2.2: the query exactly as on the wire.
const ACS3_QUERY: &str = "Collection=docs&DBInstanceId=gp-bp1234567890&Namespace=ns1&NamespacePassword=ns1Pass%21&RegionId=cn-hangzhou&TopK=10&Vector=%5B0.1%2C0.2%2C0.3%5D&Content=hello+world&IncludeValues=true";
const ACS3_BODY: &str = "Filter=page+%3E+2+AND+title+LIKE+%27%25hello%25%27";
const ACS3_BODY_SHA256: &str = "d14778aa816ceb447ac54e647279f088f7e77ba7639519b2c9542765c893b7e7";
const ACS3_SIGNED_HEADERS: &str = "accept;content-type;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version";
const ACS3_SIGNATURE: &str = "08b7459c7466c9f56d3b4e411d43b13da2c089d1e983ca8ef4dce7c9f7c50e5c";
const ACS3_CANONICAL_REQUEST: &str = "POST
/
Collection=docs&Content=hello%20world&DBInstanceId=gp-bp1234567890&IncludeValues=true&Namespace=ns1&NamespacePassword=ns1Pass%21&RegionId=cn-hangzhou&TopK=10&Vector=%5B0.1%2C0.2%2C0.3%5D
accept:application/json
content-type:application/x-www-form-urlencoded
host:gpdb.aliyuncs.com
user-agent:AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2
x-acs-action:QueryCollectionData
x-acs-content-sha256:d14778aa816ceb447ac54e647279f088f7e77ba7639519b2c9542765c893b7e7
x-acs-date:2025-01-02T03:04:05Z
x-acs-signature-nonce:0123456789abcdef0123456789abcdef
x-acs-version:2016-05-03

accept;content-type;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version
d14778aa816ceb447ac54e647279f088f7e77ba7639519b2c9542765c893b7e7";

/// §2.3: the decoded parameters (query, then the form body's `Filter`).
const RPC_PARAMS: [(&str, &str); 16] = [
    ("Action", "QueryCollectionData"),
    ("Format", "json"),
    ("Version", "2016-05-03"),
    ("Timestamp", SPEC_DATE),
    ("SignatureNonce", SPEC_NONCE),
    ("Collection", "docs"),
    ("DBInstanceId", "gp-bp1234567890"),
    ("Namespace", "ns1"),
    ("NamespacePassword", "ns1Pass!"),
    ("RegionId", "cn-hangzhou"),
    ("TopK", "10"),
    ("Vector", "[0.1,0.2,0.3]"),
    ("SignatureMethod", "HMAC-SHA1"),
    ("SignatureVersion", "1.0"),
    ("AccessKeyId", AK),
    ("Filter", "title = 'a b'"),
];
const RPC_BODY: &str = "Filter=title+%3D+%27a+b%27";
const RPC_SIGNATURE: &str = "HbnrOKW9I0VQrXW26emssVq8D5g=";
/// Computed independently with Python's `urllib.parse.quote` / `quote_plus`.
const RPC_STRING_TO_SIGN: &str = "POST&%2F&AccessKeyId%3DtestAK%26Action%3DQueryCollectionData%26Collection%3Ddocs%26DBInstanceId%3Dgp-bp1234567890%26Filter%3Dtitle%2520%253D%2520%2527a%2520b%2527%26Format%3Djson%26Namespace%3Dns1%26NamespacePassword%3Dns1Pass%2521%26RegionId%3Dcn-hangzhou%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D0123456789abcdef0123456789abcdef%26SignatureVersion%3D1.0%26Timestamp%3D2025-01-02T03%253A04%253A05Z%26TopK%3D10%26Vector%3D%255B0.1%252C0.2%252C0.3%255D%26Version%3D2016-05-03";

/// Parameters with everything that encodes differently on the wire and in the signature.
const SPECIAL_PARAMS: [(&str, &str); 7] = [
    ("Content", "hello world 中文 & ~*'!()+%"),
    ("Vector", "[0.1,-2.5e-07,3]"),
    ("SparseVector", r#"{"Indices":[1,7],"Values":[0.5,0.25]}"#),
    (
        "Filter",
        "title = 'a+b' AND x LIKE '%c%' OR y IN ('é', \"q\")",
    ),
    ("Empty", ""),
    ("Namespace", "ns1"),
    ("Emoji", "🦀 ~*"),
];
const ROWS: &str = r#"[{"Id":"doc-1","Metadata":{"title":"hello world","page":3},"Vector":[0.1,0.2,0.3]},{"Metadata":{"title":"中文 & ~*' \"quoted\" 100% +plus"},"SparseVector":{"Indices":[1,7],"Values":[0.5,0.25]},"Vector":[1.0,-2.5e-07,3]}]"#;
const FORM: &str = "application/x-www-form-urlencoded";

fn secrets(id: &str) -> Option<String> {
    (id == AK).then(|| SK.to_owned())
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|&(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn header_map<N: AsRef<str>, V: AsRef<str>>(pairs: &[(N, V)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.append(
            HeaderName::from_bytes(name.as_ref().as_bytes()).unwrap(),
            HeaderValue::from_str(value.as_ref()).unwrap(),
        );
    }
    headers
}

/// How a client puts parameters on the wire.
#[derive(Debug, Clone, Copy)]
enum Encoding {
    /// Python `urlencode`-like: space as `+`, `*` left alone, `~` as `%7E`.
    Plus,
    /// RFC 3986, space as `%20` ([`encode_params`]).
    Rfc3986,
}

fn encode(params: &[(String, String)], encoding: Encoding) -> String {
    match encoding {
        Encoding::Plus => form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish(),
        Encoding::Rfc3986 => encode_params(params),
    }
}

/// A request as the server receives it.
struct Wire {
    method: &'static str,
    path: &'static str,
    query: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Wire {
    fn parts(&self) -> RequestParts<'_> {
        RequestParts {
            method: self.method,
            path: self.path,
            query: (!self.query.is_empty()).then_some(self.query.as_str()),
            headers: &self.headers,
            body: &self.body,
        }
    }

    fn verify(&self) -> Result<Authenticated, AcsAuthError> {
        self.verify_at(NOW)
    }

    fn verify_at(&self, now: OffsetDateTime) -> Result<Authenticated, AcsAuthError> {
        AcsVerifier::default().verify(&self.parts(), secrets, now)
    }

    fn set_header(&mut self, name: &'static str, value: &str) {
        self.headers
            .insert(name, HeaderValue::from_str(value).unwrap());
    }
}

/// The headers the Python SDK sends for an RPC-style action (minus the signature's own).
fn sdk_headers(action: &str, form: bool) -> Vec<(String, String)> {
    let mut headers = owned(&[
        ("host", "gpdb.aliyuncs.com"),
        ("x-acs-version", "2016-05-03"),
        ("x-acs-action", action),
        ("user-agent", USER_AGENT),
        ("accept", "application/json"),
    ]);
    if form {
        headers.push(("content-type".into(), FORM.into()));
    }
    headers
}

/// An ACS3-signed request with `query` in the URL and `form` (if any) as the body.
fn acs3_wire(
    method: &'static str,
    query: &[(String, String)],
    form: Option<&[(String, String)]>,
    encoding: Encoding,
    headers: Vec<(String, String)>,
    nonce: &str,
    now: OffsetDateTime,
) -> Wire {
    let body = form.map(|f| encode(f, encoding)).unwrap_or_default();
    let outgoing = OutgoingRequest {
        method,
        path: "/",
        query,
        headers: &headers,
        body: body.as_bytes(),
    };
    let mut all = headers.clone();
    all.extend(sign_acs3_with_nonce(&outgoing, AK, SK, now, nonce));
    Wire {
        method,
        path: "/",
        query: encode(query, encoding),
        headers: header_map(&all),
        body: body.into_bytes(),
    }
}

/// An RPC-signed request: `query` plus the signature parameters in the URL, `form` as the body.
fn rpc_wire(
    method: &'static str,
    query: &[(String, String)],
    form: Option<&[(String, String)]>,
    encoding: Encoding,
    nonce: &str,
    now: OffsetDateTime,
) -> Wire {
    let body = form.map(|f| encode(f, encoding)).unwrap_or_default();
    let headers = sdk_headers("QueryCollectionData", form.is_some());
    let outgoing = OutgoingRequest {
        method,
        path: "/",
        query,
        headers: &headers,
        body: body.as_bytes(),
    };
    let mut full_query = query.to_vec();
    full_query.extend(sign_rpc_with_nonce(&outgoing, AK, SK, now, nonce));
    Wire {
        method,
        path: "/",
        query: encode(&full_query, encoding),
        headers: header_map(&headers),
        body: body.into_bytes(),
    }
}

fn rpc_common(action: &str) -> Vec<(String, String)> {
    owned(&[
        ("Action", action),
        ("Format", "json"),
        ("Version", "2016-05-03"),
    ])
}

fn spec_acs3_headers(signature: &str) -> Vec<(String, String)> {
    let mut headers = sdk_headers("QueryCollectionData", true);
    headers.extend(owned(&[
        ("x-acs-date", SPEC_DATE),
        ("x-acs-signature-nonce", SPEC_NONCE),
        ("x-acs-content-sha256", ACS3_BODY_SHA256),
        ("Accept-Encoding", "identity"),
        ("Content-Length", "50"),
    ]));
    headers.push((
        "Authorization".into(),
        format!(
            "ACS3-HMAC-SHA256 Credential={AK},SignedHeaders={ACS3_SIGNED_HEADERS},Signature={signature}"
        ),
    ));
    headers
}

fn spec_acs3_wire() -> Wire {
    Wire {
        method: "POST",
        path: "/",
        query: ACS3_QUERY.into(),
        headers: header_map(&spec_acs3_headers(ACS3_SIGNATURE)),
        body: ACS3_BODY.into(),
    }
}

fn spec_rpc_wire() -> Wire {
    let mut query: Vec<(String, String)> = owned(&RPC_PARAMS[..15]);
    query.push(("Signature".into(), RPC_SIGNATURE.into()));
    Wire {
        method: "POST",
        path: "/",
        query: encode(&query, Encoding::Plus),
        headers: header_map(&sdk_headers("QueryCollectionData", true)),
        body: RPC_BODY.into(),
    }
}

fn acs3_ok() -> Result<Authenticated, AcsAuthError> {
    Ok(Authenticated {
        key_id: AK.into(),
        scheme: AcsScheme::Acs3HmacSha256,
    })
}

fn rpc_ok() -> Result<Authenticated, AcsAuthError> {
    Ok(Authenticated {
        key_id: AK.into(),
        scheme: AcsScheme::RpcHmacSha1,
    })
}

fn is_signature_mismatch(result: Result<Authenticated, AcsAuthError>) -> bool {
    matches!(result, Err(AcsAuthError::SignatureMismatch { .. }))
}

fn hex_sha256(bytes: &[u8]) -> String {
    lower_hex(&Sha256::digest(bytes))
}

// ---- §2.2 / §2.3 test vectors ----

#[test]
fn acs3_spec_vector_canonical_request_and_signature() {
    let query = decode_params(ACS3_QUERY.as_bytes()).unwrap();
    let mut headers = sdk_headers("QueryCollectionData", true);
    headers.extend(owned(&[
        ("x-acs-content-sha256", ACS3_BODY_SHA256),
        ("x-acs-date", SPEC_DATE),
        ("x-acs-signature-nonce", SPEC_NONCE),
    ]));
    headers.sort();
    assert_eq!(hex_sha256(ACS3_BODY.as_bytes()), ACS3_BODY_SHA256);
    let canonical = acs3::canonical_request(
        "POST",
        "/",
        &query,
        &headers,
        ACS3_BODY_SHA256,
        QueryKeyStyle::Raw,
    );
    assert_eq!(canonical, ACS3_CANONICAL_REQUEST);
    assert_eq!(
        hex_sha256(canonical.as_bytes()),
        "3e74320582488a45d8894acd2a111a7ace5628685981c16bbc4e67802db03a2e"
    );
    let string_to_sign = acs3::string_to_sign(&canonical);
    assert_eq!(
        string_to_sign,
        "ACS3-HMAC-SHA256\n3e74320582488a45d8894acd2a111a7ace5628685981c16bbc4e67802db03a2e"
    );
    assert_eq!(acs3::sign(SK, &string_to_sign), ACS3_SIGNATURE);
}

#[test]
fn acs3_spec_vector_verifies() {
    assert_eq!(spec_acs3_wire().verify(), acs3_ok());
}

#[test]
fn acs3_signer_reproduces_spec_vector() {
    let query = decode_params(ACS3_QUERY.as_bytes()).unwrap();
    let headers = sdk_headers("QueryCollectionData", true);
    let outgoing = OutgoingRequest {
        method: "POST",
        path: "/",
        query: &query,
        headers: &headers,
        body: ACS3_BODY.as_bytes(),
    };
    let added = sign_acs3_with_nonce(
        &outgoing,
        AK,
        SK,
        datetime!(2025-01-02 03:04:05 UTC),
        SPEC_NONCE,
    );
    assert_eq!(
        added,
        owned(&[
            ("x-acs-content-sha256", ACS3_BODY_SHA256),
            ("x-acs-date", SPEC_DATE),
            ("x-acs-signature-nonce", SPEC_NONCE),
            (
                "Authorization",
                &format!(
                    "ACS3-HMAC-SHA256 Credential={AK},SignedHeaders={ACS3_SIGNED_HEADERS},Signature={ACS3_SIGNATURE}"
                )
            ),
        ])
    );
}

#[test]
fn acs3_python_sdk_signature_with_keys_it_leaves_unencoded() {
    // `Utils.get_authorization` of alibabacloud-tea-openapi 0.4.6 for these parameters: it
    // percent-encodes values only, so "Weird Key*" is signed verbatim.
    let query = owned(&[
        ("Weird Key*", "a b*~"),
        ("Content", "中文 & ~*'"),
        ("Empty", ""),
    ]);
    let headers = owned(&[
        ("host", "127.0.0.1:9000"),
        ("x-acs-action", "ListCollections"),
        ("x-acs-version", "2016-05-03"),
        ("x-acs-date", SPEC_DATE),
        ("x-acs-signature-nonce", "n1"),
        ("x-acs-content-sha256", EMPTY_SHA256),
        (
            "Authorization",
            "ACS3-HMAC-SHA256 Credential=testAK,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=e9dbbf514dca6522c784b32888d630fce52ccd3b71cc6c9afb1db9983ae222fb",
        ),
    ]);
    for encoding in [Encoding::Plus, Encoding::Rfc3986] {
        let wire = Wire {
            method: "GET",
            path: "/",
            query: encode(&query, encoding),
            headers: header_map(&headers),
            body: Vec::new(),
        };
        assert_eq!(wire.verify(), acs3_ok(), "{encoding:?}");
    }
}

#[test]
fn acs3_accepts_encoded_and_raw_query_keys() {
    // pier's signer encodes names (the documented rule); the Python SDK doesn't. Both verify.
    let query = owned(&[("Weird Key*", "v"), ("Plain", "x y")]);
    let wire = acs3_wire(
        "GET",
        &query,
        None,
        Encoding::Plus,
        sdk_headers("ListCollections", false),
        "n",
        NOW,
    );
    assert_eq!(wire.verify(), acs3_ok());
}

#[test]
fn rpc_spec_vector_string_to_sign_and_signature() {
    let params = owned(&RPC_PARAMS);
    let string_to_sign = rpc::string_to_sign("POST", &params);
    assert_eq!(string_to_sign, RPC_STRING_TO_SIGN);
    assert_eq!(rpc::sign(SK, &string_to_sign), RPC_SIGNATURE);
    // The Signature parameter itself is never signed.
    let mut with_signature = params.clone();
    with_signature.push(("Signature".into(), RPC_SIGNATURE.into()));
    assert_eq!(
        rpc::string_to_sign("POST", &with_signature),
        RPC_STRING_TO_SIGN
    );
}

#[test]
fn rpc_spec_vector_verifies() {
    assert_eq!(spec_rpc_wire().verify(), rpc_ok());
    // The same parameters all in the query of a GET (older tools).
    let mut query = owned(&RPC_PARAMS);
    let string_to_sign = rpc::string_to_sign("GET", &query);
    query.push(("Signature".into(), rpc::sign(SK, &string_to_sign)));
    let wire = Wire {
        method: "GET",
        path: "/",
        query: encode(&query, Encoding::Rfc3986),
        headers: HeaderMap::new(),
        body: Vec::new(),
    };
    assert_eq!(wire.verify(), rpc_ok());
}

#[test]
fn rpc_signer_reproduces_spec_vector() {
    let query: Vec<(String, String)> = owned(&RPC_PARAMS[..5])
        .into_iter()
        .chain(owned(&RPC_PARAMS[5..12]))
        .filter(|(k, _)| k != "Timestamp" && k != "SignatureNonce")
        .collect();
    let headers = sdk_headers("QueryCollectionData", true);
    let outgoing = OutgoingRequest {
        method: "POST",
        path: "/",
        query: &query,
        headers: &headers,
        body: RPC_BODY.as_bytes(),
    };
    let added = sign_rpc_with_nonce(
        &outgoing,
        AK,
        SK,
        datetime!(2025-01-02 03:04:05 UTC),
        SPEC_NONCE,
    );
    assert_eq!(
        added,
        owned(&[
            ("Timestamp", SPEC_DATE),
            ("SignatureNonce", SPEC_NONCE),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("AccessKeyId", AK),
            ("Signature", RPC_SIGNATURE),
        ])
    );
}

// ---- round trips ----

#[test]
fn acs3_round_trip_with_form_body() {
    let query = owned(&[
        ("Collection", "docs"),
        ("DBInstanceId", "gp-bp1234567890"),
        ("NamespacePassword", "ns1Pass!"),
    ]);
    let form = owned(&[("Rows", ROWS)]);
    for encoding in [Encoding::Plus, Encoding::Rfc3986] {
        let wire = acs3_wire(
            "POST",
            &query,
            Some(&form),
            encoding,
            sdk_headers("UpsertCollectionData", true),
            "nonce-form",
            NOW,
        );
        assert_eq!(wire.verify(), acs3_ok(), "{encoding:?}");
        // The server reads the same parameters back.
        let mut expected = query.clone();
        expected.extend(form.clone());
        assert_eq!(request_params(&wire.parts()).unwrap(), expected);
    }
}

#[test]
fn acs3_round_trip_with_special_query_params() {
    let query = owned(&SPECIAL_PARAMS);
    for encoding in [Encoding::Plus, Encoding::Rfc3986] {
        for method in ["POST", "GET"] {
            let wire = acs3_wire(
                method,
                &query,
                None,
                encoding,
                sdk_headers("QueryCollectionData", false),
                "nonce-query",
                NOW,
            );
            assert_eq!(wire.verify(), acs3_ok(), "{method} {encoding:?}");
            assert_eq!(request_params(&wire.parts()).unwrap(), query);
        }
    }
}

#[test]
fn acs3_round_trip_with_special_form_params_and_no_query() {
    let form = owned(&SPECIAL_PARAMS);
    let wire = acs3_wire(
        "POST",
        &[],
        Some(&form),
        Encoding::Plus,
        sdk_headers("QueryContent", true),
        "n",
        NOW,
    );
    assert_eq!(wire.query, "");
    assert_eq!(wire.verify(), acs3_ok());
    assert_eq!(request_params(&wire.parts()).unwrap(), form);
}

#[test]
fn acs3_signs_host_verbatim_even_with_a_scheme() {
    // `Config(endpoint="http://127.0.0.1:9000")` makes the SDK send and sign this Host.
    let mut headers = sdk_headers("ListCollections", false);
    headers[0].1 = "http://127.0.0.1:9000".into();
    let wire = acs3_wire(
        "POST",
        &owned(&[("Namespace", "ns1")]),
        None,
        Encoding::Plus,
        headers,
        "n",
        NOW,
    );
    assert_eq!(wire.verify(), acs3_ok());
    let mut other_host = wire;
    other_host.set_header("host", "127.0.0.1:9000");
    assert!(is_signature_mismatch(other_host.verify()));
}

#[test]
fn acs3_repeated_headers_are_signed_sorted_and_joined() {
    let mut headers = sdk_headers("ListCollections", false);
    headers.push(("x-acs-custom".into(), " b ".into()));
    headers.push(("X-Acs-Custom".into(), "a".into()));
    let wire = acs3_wire("POST", &[], None, Encoding::Plus, headers, "n", NOW);
    let authorization = wire.headers.get("authorization").unwrap().to_str().unwrap();
    assert!(authorization.contains(";x-acs-custom;"), "{authorization}");
    assert_eq!(wire.verify(), acs3_ok());
}

#[test]
fn rpc_round_trip_with_form_body() {
    let mut query = rpc_common("UpsertCollectionData");
    query.extend(owned(&[
        ("Collection", "docs"),
        ("NamespacePassword", "ns1Pass!"),
    ]));
    let form = owned(&[("Rows", ROWS)]);
    for encoding in [Encoding::Plus, Encoding::Rfc3986] {
        let wire = rpc_wire("POST", &query, Some(&form), encoding, "n-form", NOW);
        assert_eq!(wire.verify(), rpc_ok(), "{encoding:?}");
    }
}

#[test]
fn rpc_round_trip_with_special_params() {
    let mut query = rpc_common("QueryCollectionData");
    query.extend(owned(&SPECIAL_PARAMS));
    for encoding in [Encoding::Plus, Encoding::Rfc3986] {
        for method in ["GET", "POST"] {
            let wire = rpc_wire(method, &query, None, encoding, "n-query", NOW);
            assert_eq!(wire.verify(), rpc_ok(), "{method} {encoding:?}");
        }
        // The same parameters split between the query and the body.
        let (in_query, in_body) = query.split_at(5);
        let wire = rpc_wire("POST", in_query, Some(in_body), encoding, "n-split", NOW);
        assert_eq!(wire.verify(), rpc_ok(), "{encoding:?}");
    }
}

#[test]
fn rpc_signature_with_an_unencoded_plus_still_verifies() {
    // Some hand-written clients don't percent-encode the Base64 signature; its '+' then
    // decodes to a space.
    let query = rpc_common("ListCollections");
    let wire = (0..200)
        .map(|i| {
            rpc_wire(
                "GET",
                &query,
                None,
                Encoding::Rfc3986,
                &format!("n{i}"),
                NOW,
            )
        })
        .find(|wire| wire.query.contains("%2B"))
        .expect("some signature contains '+'");
    let mut raw = wire;
    raw.query = raw.query.replace("%2B", "+");
    assert_eq!(raw.verify(), rpc_ok());
}

#[test]
fn scheme_is_chosen_by_what_the_request_carries() {
    // An ACS3 Authorization wins over a stray Signature parameter.
    let mut query = owned(&[("Signature", "abc")]);
    let wire = acs3_wire(
        "GET",
        &query,
        None,
        Encoding::Plus,
        sdk_headers("ListCollections", false),
        "n",
        NOW,
    );
    assert_eq!(wire.verify(), acs3_ok());
    // An RPC request may carry another Authorization header (ignored).
    query = rpc_common("ListCollections");
    let mut wire = rpc_wire("GET", &query, None, Encoding::Plus, "n", NOW);
    wire.set_header("authorization", "Basic YWRtaW46");
    assert_eq!(wire.verify(), rpc_ok());
}

// ---- tampering ----

#[test]
fn acs3_tampered_body_fails() {
    let form = owned(&[("Rows", ROWS)]);
    let wire = acs3_wire(
        "POST",
        &[],
        Some(&form),
        Encoding::Plus,
        sdk_headers("UpsertCollectionData", true),
        "n",
        NOW,
    );
    let mut tampered = Wire {
        body: wire.body.replace_first(b"doc-1", b"doc-2"),
        ..wire
    };
    let err = tampered.verify().unwrap_err();
    assert!(
        matches!(err, AcsAuthError::ContentSha256Mismatch { .. }),
        "{err:?}"
    );
    assert_eq!(err.code(), "SignatureDoesNotMatch");
    // A body hash updated to match is still not what was signed.
    let hash = hex_sha256(&tampered.body);
    tampered.set_header("x-acs-content-sha256", &hash);
    assert!(is_signature_mismatch(tampered.verify()));
}

#[test]
fn acs3_tampered_query_header_method_or_path_fails() {
    let query = owned(&SPECIAL_PARAMS);
    let wire = || {
        acs3_wire(
            "POST",
            &query,
            None,
            Encoding::Plus,
            sdk_headers("QueryCollectionData", false),
            "n",
            NOW,
        )
    };
    let mut changed_value = wire();
    changed_value.query = changed_value
        .query
        .replace("Namespace=ns1", "Namespace=ns2");
    assert!(is_signature_mismatch(changed_value.verify()));

    let mut added_param = wire();
    added_param.query.push_str("&TopK=1000");
    assert!(is_signature_mismatch(added_param.verify()));

    let mut dropped_param = wire();
    dropped_param.query = dropped_param.query.replace("&Namespace=ns1", "");
    assert!(is_signature_mismatch(dropped_param.verify()));

    let mut changed_action = wire();
    changed_action.set_header("x-acs-action", "DeleteCollection");
    assert!(is_signature_mismatch(changed_action.verify()));

    let mut changed_signed_non_acs_header = wire();
    changed_signed_non_acs_header.set_header("user-agent", "curl/8");
    assert!(is_signature_mismatch(
        changed_signed_non_acs_header.verify()
    ));

    let mut changed_method = wire();
    changed_method.method = "GET";
    assert!(is_signature_mismatch(changed_method.verify()));

    let mut changed_path = wire();
    changed_path.path = "/x";
    assert!(is_signature_mismatch(changed_path.verify()));

    // Unsigned headers (other than x-acs-*) may change freely.
    let mut unsigned_header = wire();
    unsigned_header.set_header("accept-encoding", "gzip");
    assert_eq!(unsigned_header.verify(), acs3_ok());
}

#[test]
fn acs3_wrong_secret_fails() {
    let wire = spec_acs3_wire();
    let result = AcsVerifier::default().verify(&wire.parts(), |_| Some("other".into()), NOW);
    assert!(is_signature_mismatch(result));
}

#[test]
fn acs3_unsigned_acs_header_or_host_is_incomplete() {
    let mut injected = spec_acs3_wire();
    injected.set_header("x-acs-security-token", "t");
    let err = injected.verify().unwrap_err();
    assert!(
        matches!(&err, AcsAuthError::IncompleteSignature(m) if m.contains("x-acs-security-token")),
        "{err:?}"
    );

    let signed_without_host = ACS3_SIGNED_HEADERS.replace("host;", "");
    let mut wire = spec_acs3_wire();
    wire.set_header(
        "authorization",
        &format!("ACS3-HMAC-SHA256 Credential={AK},SignedHeaders={signed_without_host},Signature={ACS3_SIGNATURE}"),
    );
    let err = wire.verify().unwrap_err();
    assert!(
        matches!(&err, AcsAuthError::IncompleteSignature(m) if m.contains("host")),
        "{err:?}"
    );
}

#[test]
fn rpc_tampered_params_fail() {
    let mut query = rpc_common("QueryCollectionData");
    query.extend(owned(&[("Collection", "docs"), ("TopK", "10")]));
    let form = owned(&[("Filter", "title = 'a b'")]);
    let wire = || rpc_wire("POST", &query, Some(&form), Encoding::Plus, "n", NOW);

    let mut body = wire();
    body.body = body.body.replace_first(b"a+b", b"a+c");
    assert!(is_signature_mismatch(body.verify()));

    let mut changed = wire();
    changed.query = changed.query.replace("TopK=10", "TopK=11");
    assert!(is_signature_mismatch(changed.verify()));

    let mut added = wire();
    added.query.push_str("&Offset=5");
    assert!(is_signature_mismatch(added.verify()));

    let mut action = wire();
    action.query = action
        .query
        .replace("Action=QueryCollectionData", "Action=DeleteCollection");
    assert!(is_signature_mismatch(action.verify()));

    let mut method = wire();
    method.method = "GET";
    assert!(is_signature_mismatch(method.verify()));

    // A form body only counts as parameters when it is a form.
    let mut not_form = wire();
    not_form.set_header("content-type", "application/json");
    assert!(is_signature_mismatch(not_form.verify()));
}

#[test]
fn rpc_duplicate_parameter_is_rejected() {
    let query = rpc_common("ListCollections");
    let mut wire = rpc_wire("GET", &query, None, Encoding::Plus, "n", NOW);
    wire.query.push_str("&Action=DeleteCollection");
    let err = wire.verify().unwrap_err();
    assert!(
        matches!(&err, AcsAuthError::InvalidParameter(m) if m.contains("'Action'")),
        "{err:?}"
    );
    // Also across the query and the body.
    let mut wire = rpc_wire("GET", &query, None, Encoding::Plus, "n", NOW);
    wire.body = b"Format=xml".to_vec();
    assert!(matches!(
        wire.verify(),
        Err(AcsAuthError::InvalidParameter(_))
    ));
}

// ---- clock and replay windows ----

#[test]
fn stale_or_future_time_is_expired() {
    let old = NOW - SignedDuration::minutes(16);
    let future = NOW + SignedDuration::minutes(16);
    for (when, ahead) in [(old, false), (future, true)] {
        let acs3 = acs3_wire(
            "POST",
            &[],
            None,
            Encoding::Plus,
            sdk_headers("ListCollections", false),
            "n",
            when,
        );
        let rpc = rpc_wire(
            "GET",
            &rpc_common("ListCollections"),
            None,
            Encoding::Plus,
            "n",
            when,
        );
        for (wire, name) in [(acs3, "x-acs-date"), (rpc, "Timestamp")] {
            let err = wire.verify().unwrap_err();
            let AcsAuthError::TimestampExpired {
                name: got_name,
                skew_secs,
                limit_secs,
                ..
            } = &err
            else {
                panic!("{err:?}");
            };
            assert_eq!(*got_name, name);
            assert_eq!(*skew_secs, if ahead { 960 } else { -960 });
            assert_eq!(*limit_secs, 900);
            assert_eq!(err.code(), "InvalidTimeStamp.Expired");
            assert_eq!(err.http_status(), 400);
            // Within the window both pass.
            assert!(wire.verify_at(when + SignedDuration::minutes(14)).is_ok());
        }
    }
}

#[test]
fn clock_window_is_configurable() {
    let wire = spec_acs3_wire();
    let strict = AcsVerifier::new(Duration::from_secs(10));
    assert!(matches!(
        strict.verify(&wire.parts(), secrets, NOW),
        Err(AcsAuthError::TimestampExpired { .. })
    ));
    let lax = AcsVerifier::new(Duration::MAX);
    assert_eq!(
        lax.verify(&wire.parts(), secrets, datetime!(2030-01-01 0:00 UTC)),
        acs3_ok()
    );
}

#[test]
fn badly_formatted_time_is_rejected() {
    let mut wire = spec_acs3_wire();
    wire.set_header("x-acs-date", "Thu, 02 Jan 2025 03:04:05 GMT");
    let err = wire.verify().unwrap_err();
    assert!(
        matches!(
            &err,
            AcsAuthError::InvalidTimestamp {
                name: "x-acs-date",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.code(), "InvalidTimeStamp.Format");

    let wire = spec_rpc_wire();
    let mut bad = wire;
    bad.query = bad
        .query
        .replace("Timestamp=2025-01-02T03%3A04%3A05Z", "Timestamp=1735787045");
    assert!(matches!(
        bad.verify(),
        Err(AcsAuthError::InvalidTimestamp {
            name: "Timestamp",
            ..
        })
    ));
}

#[test]
fn fractional_seconds_and_offsets_are_accepted() {
    for date in ["2025-01-02T03:04:05.123Z", "2025-01-02T11:04:05+08:00"] {
        let mut headers = sdk_headers("ListCollections", false);
        headers.push(("x-acs-date".into(), date.into()));
        // The signer adds its own x-acs-date, so sign by hand here.
        headers.extend(owned(&[
            ("x-acs-signature-nonce", "n"),
            ("x-acs-content-sha256", EMPTY_SHA256),
        ]));
        headers.sort();
        let canonical =
            acs3::canonical_request("GET", "/", &[], &headers, EMPTY_SHA256, QueryKeyStyle::Raw);
        let signature = acs3::sign(SK, &acs3::string_to_sign(&canonical));
        let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
        headers.push((
            "authorization".into(),
            format!(
                "ACS3-HMAC-SHA256 Credential={AK},SignedHeaders={},Signature={signature}",
                names.join(";")
            ),
        ));
        let wire = Wire {
            method: "GET",
            path: "/",
            query: String::new(),
            headers: header_map(&headers),
            body: Vec::new(),
        };
        assert_eq!(wire.verify(), acs3_ok(), "{date}");
    }
}

#[test]
fn replayed_nonce_is_rejected() {
    let acs3 = spec_acs3_wire();
    let rpc = spec_rpc_wire();
    for (wire, ok) in [(acs3, acs3_ok()), (rpc, rpc_ok())] {
        let verifier = AcsVerifier::default();
        assert_eq!(verifier.verify(&wire.parts(), secrets, NOW), ok);
        let err = verifier.verify(&wire.parts(), secrets, NOW).unwrap_err();
        assert_eq!(err, AcsAuthError::NonceUsed(SPEC_NONCE.into()));
        assert_eq!(err.code(), "SignatureNonceUsed");
        assert_eq!(err.http_status(), 400);
        // Once the request time has left the window, the request fails the clock check
        // instead.
        let later = NOW + SignedDuration::minutes(20);
        assert!(matches!(
            verifier.verify(&wire.parts(), secrets, later),
            Err(AcsAuthError::TimestampExpired { .. })
        ));
        assert_eq!(verifier.nonces.len(), 1);
    }
}

#[test]
fn failed_request_does_not_burn_its_nonce() {
    let verifier = AcsVerifier::default();
    let good = spec_acs3_wire();
    let mut forged = spec_acs3_wire();
    forged.query.push_str("&TopK=1");
    assert!(is_signature_mismatch(verifier.verify(
        &forged.parts(),
        secrets,
        NOW
    )));
    assert_eq!(verifier.verify(&good.parts(), secrets, NOW), acs3_ok());
}

#[test]
fn same_nonce_from_different_keys_is_not_a_replay() {
    let verifier = AcsVerifier::default();
    let both = |id: &str| matches!(id, "k1" | "k2").then(|| SK.to_owned());
    for key in ["k1", "k2"] {
        let headers = sdk_headers("ListCollections", false);
        let outgoing = OutgoingRequest {
            method: "GET",
            path: "/",
            query: &[],
            headers: &headers,
            body: b"",
        };
        let mut all = headers.clone();
        all.extend(sign_acs3_with_nonce(&outgoing, key, SK, NOW, "shared"));
        let wire = Wire {
            method: "GET",
            path: "/",
            query: String::new(),
            headers: header_map(&all),
            body: Vec::new(),
        };
        assert!(verifier.verify(&wire.parts(), both, NOW).is_ok(), "{key}");
    }
}

// ---- credentials and malformed input ----

#[test]
fn unknown_access_key_is_not_found() {
    for wire in [spec_acs3_wire(), spec_rpc_wire()] {
        let err = AcsVerifier::default()
            .verify(&wire.parts(), |_| None, NOW)
            .unwrap_err();
        assert_eq!(err, AcsAuthError::UnknownAccessKey(AK.into()));
        assert_eq!(err.code(), "InvalidAccessKeyId.NotFound");
        assert_eq!(err.http_status(), 404);
        assert!(err.to_string().contains("'testAK'"));
    }
}

#[test]
fn no_credentials_is_missing() {
    let wire = Wire {
        method: "POST",
        path: "/",
        query: "Action=ListCollections&Version=2016-05-03".into(),
        headers: header_map(&sdk_headers("ListCollections", false)),
        body: Vec::new(),
    };
    let err = wire.verify().unwrap_err();
    assert_eq!(err, AcsAuthError::MissingCredentials);
    assert_eq!(err.code(), "MissingParameter");
    assert_eq!(err.http_status(), 400);
}

#[test]
fn missing_acs3_headers_are_named() {
    for (header, what) in [
        ("x-acs-date", "the x-acs-date header"),
        ("x-acs-signature-nonce", "the x-acs-signature-nonce header"),
        ("x-acs-content-sha256", "the x-acs-content-sha256 header"),
    ] {
        let mut wire = spec_acs3_wire();
        wire.headers.remove(header);
        let err = wire.verify().unwrap_err();
        assert_eq!(err, AcsAuthError::MissingParameter(what));
        assert!(err.to_string().starts_with(what), "{err}");
    }
}

#[test]
fn missing_rpc_params_are_named() {
    for (param, what) in [
        ("AccessKeyId", "the AccessKeyId parameter"),
        ("SignatureMethod", "the SignatureMethod parameter"),
        ("SignatureVersion", "the SignatureVersion parameter"),
        ("Timestamp", "the Timestamp parameter"),
        ("SignatureNonce", "the SignatureNonce parameter"),
    ] {
        let mut query: Vec<(String, String)> = owned(&RPC_PARAMS[..15])
            .into_iter()
            .filter(|(k, _)| k != param)
            .collect();
        query.push(("Signature".into(), RPC_SIGNATURE.into()));
        let wire = Wire {
            query: encode(&query, Encoding::Plus),
            ..spec_rpc_wire()
        };
        assert_eq!(
            wire.verify(),
            Err(AcsAuthError::MissingParameter(what)),
            "{param}"
        );
    }
}

#[test]
fn unsupported_signatures_are_named() {
    let mut sm3 = spec_acs3_wire();
    sm3.set_header(
        "authorization",
        &format!("ACS3-HMAC-SM3 Credential={AK},SignedHeaders={ACS3_SIGNED_HEADERS},Signature={ACS3_SIGNATURE}"),
    );
    let err = sm3.verify().unwrap_err();
    assert!(
        matches!(&err, AcsAuthError::UnsupportedSignature(m) if m.contains("ACS3-HMAC-SM3")),
        "{err:?}"
    );
    assert_eq!(err.code(), "InvalidParameter");

    let mut basic = spec_acs3_wire();
    basic.set_header("authorization", "Basic YWRtaW46");
    assert!(matches!(
        basic.verify(),
        Err(AcsAuthError::UnsupportedSignature(m)) if m.contains("'Basic'")
    ));

    for (from, to) in [
        ("SignatureMethod=HMAC-SHA1", "SignatureMethod=HMAC-SHA256"),
        ("SignatureVersion=1.0", "SignatureVersion=2.0"),
    ] {
        let mut wire = spec_rpc_wire();
        wire.query = wire.query.replace(from, to);
        assert!(
            matches!(wire.verify(), Err(AcsAuthError::UnsupportedSignature(m)) if m.contains(&to[to.len() - 3..])),
            "{to}"
        );
    }
}

#[test]
fn malformed_acs3_authorization_is_incomplete() {
    for value in [
        "ACS3-HMAC-SHA256",
        "ACS3-HMAC-SHA256 Credential=testAK",
        "ACS3-HMAC-SHA256 Credential=testAK,SignedHeaders=host,Signature=zz",
        "ACS3-HMAC-SHA256 Credential=testAK,SignedHeaders=host,Signature=abc",
        "ACS3-HMAC-SHA256 Credential=,SignedHeaders=host,Signature=ab",
        "ACS3-HMAC-SHA256 Credential=testAK,SignedHeaders=,Signature=ab",
        "ACS3-HMAC-SHA256 Credential=testAK,SignedHeaders=host;;x-acs-date,Signature=ab",
        "ACS3-HMAC-SHA256 Credential=testAK,Credential=other,SignedHeaders=host,Signature=ab",
        "ACS3-HMAC-SHA256 Credential=testAK,SignedHeaders=host,Signature",
    ] {
        let mut wire = spec_acs3_wire();
        wire.set_header("authorization", value);
        assert!(
            matches!(wire.verify(), Err(AcsAuthError::IncompleteSignature(_))),
            "{value}"
        );
    }
    // Unknown parts are ignored; part order and case of the hex don't matter.
    let mut wire = spec_acs3_wire();
    wire.set_header(
        "authorization",
        &format!(
            "ACS3-HMAC-SHA256 Signature={},Extra=1, SignedHeaders={ACS3_SIGNED_HEADERS}, Credential={AK}",
            ACS3_SIGNATURE.to_uppercase()
        ),
    );
    assert_eq!(wire.verify(), acs3_ok());
}

#[test]
fn repeated_or_non_utf8_headers_are_incomplete() {
    let mut repeated = spec_acs3_wire();
    repeated
        .headers
        .append("x-acs-date", HeaderValue::from_static(SPEC_DATE));
    assert!(matches!(
        repeated.verify(),
        Err(AcsAuthError::IncompleteSignature(m)) if m.contains("x-acs-date")
    ));

    let mut non_utf8 = spec_acs3_wire();
    non_utf8.headers.insert(
        "user-agent",
        HeaderValue::from_bytes(b"AlibabaCloud \xff").unwrap(),
    );
    assert!(matches!(
        non_utf8.verify(),
        Err(AcsAuthError::IncompleteSignature(m)) if m.contains("user-agent")
    ));
}

#[test]
fn malformed_rpc_signature_is_incomplete() {
    let mut wire = spec_rpc_wire();
    wire.query = wire.query.replace("Signature=Hbnr", "Signature=!!Hbnr");
    assert!(matches!(
        wire.verify(),
        Err(AcsAuthError::IncompleteSignature(m)) if m.contains("Base64")
    ));
}

#[test]
fn non_utf8_params_are_invalid() {
    let mut wire = spec_rpc_wire();
    wire.query.push_str("&Bad=%FF");
    assert!(matches!(
        wire.verify(),
        Err(AcsAuthError::InvalidParameter(m)) if m.contains("'Bad'")
    ));
    let mut acs3 = spec_acs3_wire();
    acs3.query.push_str("&%C3=1");
    assert!(matches!(
        acs3.verify(),
        Err(AcsAuthError::InvalidParameter(_))
    ));
}

// ---- helpers, errors and messages ----

#[test]
fn decode_params_follows_form_rules() {
    assert_eq!(
        decode_params(b"a=1&&b&c=&=d&e=x%3Dy=z&f=%zz+%2B+").unwrap(),
        owned(&[
            ("a", "1"),
            ("b", ""),
            ("c", ""),
            ("", "d"),
            ("e", "x=y=z"),
            ("f", "%zz + "),
        ])
    );
    assert_eq!(decode_params(b"").unwrap(), Vec::new());
}

#[test]
fn encode_params_is_rfc3986() {
    assert_eq!(
        encode_params(&owned(&[("a b", "1+2 *~'中"), ("k", "")])),
        "a%20b=1%2B2%20%2A~%27%E4%B8%AD&k="
    );
}

#[test]
fn request_params_merge_query_and_form_body() {
    let headers = header_map(&[(
        "content-type",
        "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
    )]);
    let parts = RequestParts {
        method: "POST",
        path: "/",
        query: Some("a=1&b=x+y"),
        headers: &headers,
        body: b"c=%E4%B8%AD",
    };
    assert_eq!(
        request_params(&parts).unwrap(),
        owned(&[("a", "1"), ("b", "x y"), ("c", "中")])
    );
    // No Content-Type: a non-empty body is still read as a form (older tools).
    let none = HeaderMap::new();
    let parts = RequestParts {
        headers: &none,
        ..parts
    };
    assert_eq!(request_params(&parts).unwrap().len(), 3);
    // Another type: the body is not parameters.
    let json = header_map(&[("content-type", "application/json")]);
    let parts = RequestParts {
        headers: &json,
        body: br#"{"c":1}"#,
        ..parts
    };
    assert_eq!(request_params(&parts).unwrap().len(), 2);
}

#[test]
fn claimed_access_key_id_reads_both_schemes() {
    assert_eq!(
        claimed_access_key_id(&spec_acs3_wire().parts()),
        Some(AK.into())
    );
    assert_eq!(
        claimed_access_key_id(&spec_rpc_wire().parts()),
        Some(AK.into())
    );
    let empty = HeaderMap::new();
    let parts = RequestParts {
        method: "GET",
        path: "/",
        query: Some("Action=X"),
        headers: &empty,
        body: b"",
    };
    assert_eq!(claimed_access_key_id(&parts), None);
}

#[test]
fn signature_mismatch_message_shows_what_the_server_signed() {
    let mut acs3 = spec_acs3_wire();
    acs3.query = acs3.query.replace("TopK=10", "TopK=11");
    let err = acs3.verify().unwrap_err();
    assert_eq!(err.code(), "SignatureDoesNotMatch");
    assert_eq!(err.http_status(), 400);
    let message = err.to_string();
    let expected_canonical = ACS3_CANONICAL_REQUEST.replace("TopK=10", "TopK=11");
    assert!(
        message.contains(&format!(
            "server canonical request is:\n{expected_canonical}\nserver string to sign is:\nACS3-HMAC-SHA256\n"
        )),
        "{message}"
    );
    assert!(message.contains("AccessKeySecret"), "{message}");

    let mut rpc = spec_rpc_wire();
    rpc.body = b"Filter=title+%3D+%27a+c%27".to_vec();
    let err = rpc.verify().unwrap_err();
    assert_eq!(err.code(), "SignatureDoesNotMatch");
    let message = err.to_string();
    let expected = RPC_STRING_TO_SIGN.replace("a%2520b", "a%2520c");
    assert!(
        message.ends_with(&format!("server string to sign is:\n{expected}")),
        "{message}"
    );
    assert!(!message.contains("canonical request"), "{message}");
}

#[test]
fn codes_and_statuses() {
    let cases = [
        (AcsAuthError::MissingCredentials, "MissingParameter", 400),
        (
            AcsAuthError::MissingParameter("the x"),
            "MissingParameter",
            400,
        ),
        (
            AcsAuthError::IncompleteSignature("x".into()),
            "IncompleteSignature",
            400,
        ),
        (
            AcsAuthError::UnsupportedSignature("x".into()),
            "InvalidParameter",
            400,
        ),
        (
            AcsAuthError::InvalidParameter("x".into()),
            "InvalidParameter",
            400,
        ),
        (
            AcsAuthError::UnknownAccessKey("k".into()),
            "InvalidAccessKeyId.NotFound",
            404,
        ),
        (
            AcsAuthError::InvalidTimestamp {
                name: "Timestamp",
                value: "x".into(),
            },
            "InvalidTimeStamp.Format",
            400,
        ),
        (
            AcsAuthError::TimestampExpired {
                name: "x-acs-date",
                value: String::new(),
                skew_secs: 1,
                server_time: String::new(),
                limit_secs: 900,
            },
            "InvalidTimeStamp.Expired",
            400,
        ),
        (
            AcsAuthError::NonceUsed("n".into()),
            "SignatureNonceUsed",
            400,
        ),
        (
            AcsAuthError::ContentSha256Mismatch {
                sent: String::new(),
                computed: String::new(),
            },
            "SignatureDoesNotMatch",
            400,
        ),
        (
            AcsAuthError::SignatureMismatch {
                canonical_request: None,
                string_to_sign: String::new(),
            },
            "SignatureDoesNotMatch",
            400,
        ),
    ];
    for (err, code, status) in cases {
        assert_eq!(err.code(), code, "{err:?}");
        assert_eq!(err.http_status(), status, "{err:?}");
    }
}

#[test]
fn expired_message_says_what_to_fix() {
    let err = AcsAuthError::TimestampExpired {
        name: "x-acs-date",
        value: "2025-01-02T03:04:05Z".into(),
        skew_secs: -1234,
        server_time: "2025-01-02T03:24:39Z".into(),
        limit_secs: 900,
    };
    assert_eq!(
        err.to_string(),
        "x-acs-date '2025-01-02T03:04:05Z' is expired: it is 1234 s behind server time \
         2025-01-02T03:24:39Z and the limit is ±900 s; fix the client's clock and sign each \
         request when it is sent"
    );
}

/// `Vec<u8>::replace_first` for the tampering tests.
trait ReplaceFirst {
    fn replace_first(&self, from: &[u8], to: &[u8]) -> Vec<u8>;
}

impl ReplaceFirst for Vec<u8> {
    fn replace_first(&self, from: &[u8], to: &[u8]) -> Vec<u8> {
        let at = self
            .windows(from.len())
            .position(|window| window == from)
            .expect("pattern present");
        [&self[..at], to, &self[at + from.len()..]].concat()
    }
}
