//! Requests captured from the official Python SDK (`alibabacloud-gpdb20160503` 5.12.0 with
//! `alibabacloud-tea-openapi` 0.4.6, key `testAK` / secret `testSecret`; see
//! `fixtures/capture_sdk_requests.py`) must verify byte for byte, and stop verifying when
//! anything signed changes.

use std::path::Path;

use http::{HeaderMap, HeaderName, HeaderValue};
use pier_auth::RequestParts;
use pier_auth::acs::{AcsAuthError, AcsScheme, AcsVerifier, Authenticated, request_params};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, SignedDuration};

const AK: &str = "testAK";
const SK: &str = "testSecret";

const FIXTURES: [(&str, AcsScheme); 7] = [
    ("acs3_upsert_collection_data", AcsScheme::Acs3HmacSha256),
    ("acs3_query_collection_data", AcsScheme::Acs3HmacSha256),
    ("acs3_create_namespace", AcsScheme::Acs3HmacSha256),
    ("acs3_host_with_scheme", AcsScheme::Acs3HmacSha256),
    ("rpc_upsert_collection_data", AcsScheme::RpcHmacSha1),
    ("rpc_query_collection_data", AcsScheme::RpcHmacSha1),
    ("rpc_create_namespace", AcsScheme::RpcHmacSha1),
];

/// The decoded `Rows` the SDK sent for UpsertCollectionData (its compact JSON).
const ROWS: &str = r#"[{"Id":"doc-1","Metadata":{"title":"hello world","page":3},"Vector":[0.1,0.2,0.3]},{"Metadata":{"title":"中文 & ~*' \"quoted\" 100% +plus"},"SparseVector":{"Indices":[1,7],"Values":[0.5,0.25]},"Vector":[1.0,-2.5e-07,3]}]"#;

/// A raw HTTP/1.1 request, split the way a server framework would hand it over.
struct Captured {
    method: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Captured {
    fn load(name: &str) -> Self {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(format!("{name}.http"));
        let raw = std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        Self::parse(&raw)
    }

    fn parse(raw: &[u8]) -> Self {
        let (head, body) = split_once(raw, b"\r\n\r\n").expect("a blank line ends the head");
        let head = std::str::from_utf8(head).expect("the head is UTF-8");
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap();
        let mut parts = request_line.split(' ');
        let method = parts.next().unwrap().to_owned();
        let target = parts.next().unwrap();
        assert_eq!(parts.next(), Some("HTTP/1.1"), "{request_line}");
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
            None => (target.to_owned(), None),
        };
        let mut headers = HeaderMap::new();
        for line in lines {
            let (name, value) = line.split_once(':').expect("header line");
            headers.append(
                HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
                HeaderValue::from_str(value.trim()).unwrap(),
            );
        }
        let length: usize = headers
            .get("content-length")
            .map_or(0, |v| v.to_str().unwrap().parse().unwrap());
        assert_eq!(body.len(), length, "the fixture holds the whole body");
        Self {
            method,
            path,
            query,
            headers,
            body: body.to_vec(),
        }
    }

    fn parts(&self) -> RequestParts<'_> {
        RequestParts {
            method: &self.method,
            path: &self.path,
            query: self.query.as_deref(),
            headers: &self.headers,
            body: &self.body,
        }
    }

    /// When the SDK signed the request: `x-acs-date` or the `Timestamp` parameter.
    fn signed_at(&self) -> OffsetDateTime {
        let raw = match self.headers.get("x-acs-date") {
            Some(value) => value.to_str().unwrap().to_owned(),
            None => {
                request_params(&self.parts())
                    .unwrap()
                    .into_iter()
                    .find(|(k, _)| k == "Timestamp")
                    .expect("a Timestamp parameter")
                    .1
            }
        };
        OffsetDateTime::parse(&raw, &Rfc3339).unwrap()
    }

    /// Verifies with a fresh verifier at `offset` after the signing time.
    fn verify_after(&self, offset: SignedDuration) -> Result<Authenticated, AcsAuthError> {
        AcsVerifier::default().verify(&self.parts(), secrets, self.signed_at() + offset)
    }

    fn verify(&self) -> Result<Authenticated, AcsAuthError> {
        self.verify_after(SignedDuration::seconds(3))
    }
}

fn split_once<'a>(haystack: &'a [u8], needle: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    let at = haystack
        .windows(needle.len())
        .position(|window| window == needle)?;
    Some((&haystack[..at], &haystack[at + needle.len()..]))
}

fn secrets(id: &str) -> Option<String> {
    (id == AK).then(|| SK.to_owned())
}

fn param(captured: &Captured, name: &str) -> Option<String> {
    request_params(&captured.parts())
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

#[test]
fn sdk_requests_verify() {
    for (name, scheme) in FIXTURES {
        let captured = Captured::load(name);
        assert_eq!(
            captured.verify(),
            Ok(Authenticated {
                key_id: AK.into(),
                scheme
            }),
            "{name}"
        );
    }
}

#[test]
fn sdk_requests_carry_the_parameters_it_was_given() {
    for name in ["acs3_upsert_collection_data", "rpc_upsert_collection_data"] {
        let captured = Captured::load(name);
        assert_eq!(param(&captured, "Rows").as_deref(), Some(ROWS), "{name}");
        assert_eq!(
            param(&captured, "NamespacePassword").as_deref(),
            Some("ns1Pass!")
        );
    }
    for name in [
        "acs3_query_collection_data",
        "acs3_host_with_scheme",
        "rpc_query_collection_data",
    ] {
        let captured = Captured::load(name);
        assert_eq!(
            param(&captured, "Content").as_deref(),
            Some("hello world 中文 *~'"),
            "{name}"
        );
        assert_eq!(
            param(&captured, "Vector").as_deref(),
            Some("[0.1,0.2,-3e-06]")
        );
        assert_eq!(
            param(&captured, "Filter").as_deref(),
            Some("page > 2 AND title LIKE '%hello%' AND tag = 'a+b'")
        );
    }
    let host = Captured::load("acs3_host_with_scheme");
    assert!(
        host.headers["host"]
            .to_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
}

#[test]
fn sdk_requests_fail_when_tampered() {
    for (name, _) in FIXTURES {
        let mut changed_query = Captured::load(name);
        let query = changed_query.query.as_mut().unwrap();
        *query = query.replacen("ns1", "ns2", 1);
        let err = changed_query.verify().unwrap_err();
        assert_eq!(err.code(), "SignatureDoesNotMatch", "{name}: {err:?}");

        let mut changed_body = Captured::load(name);
        if let Some(at) = changed_body.body.iter().position(|&b| b == b'1') {
            changed_body.body[at] = b'2';
            let err = changed_body.verify().unwrap_err();
            assert_eq!(err.code(), "SignatureDoesNotMatch", "{name}: {err:?}");
        }
    }
    // Signed headers only matter to ACS3.
    let mut action = Captured::load("acs3_query_collection_data");
    action.headers.insert(
        "x-acs-action",
        HeaderValue::from_static("DeleteCollectionData"),
    );
    assert!(matches!(
        action.verify(),
        Err(AcsAuthError::SignatureMismatch { .. })
    ));
}

#[test]
fn sdk_requests_are_rejected_when_replayed_or_stale() {
    for (name, _) in FIXTURES {
        let captured = Captured::load(name);
        let verifier = AcsVerifier::default();
        let now = captured.signed_at() + SignedDuration::seconds(1);
        assert!(verifier.verify(&captured.parts(), secrets, now).is_ok());
        let err = verifier
            .verify(&captured.parts(), secrets, now)
            .unwrap_err();
        assert_eq!(err.code(), "SignatureNonceUsed", "{name}");

        let err = captured
            .verify_after(SignedDuration::minutes(16))
            .unwrap_err();
        assert_eq!(err.code(), "InvalidTimeStamp.Expired", "{name}");
        let err = captured
            .verify_after(SignedDuration::minutes(-16))
            .unwrap_err();
        assert_eq!(err.code(), "InvalidTimeStamp.Expired", "{name}");
    }
}

#[test]
fn sdk_requests_with_an_unknown_key_are_not_found() {
    for (name, _) in FIXTURES {
        let captured = Captured::load(name);
        let now = captured.signed_at();
        let err = AcsVerifier::default()
            .verify(&captured.parts(), |_| None, now)
            .unwrap_err();
        assert_eq!(err, AcsAuthError::UnknownAccessKey(AK.into()), "{name}");
        assert_eq!(err.http_status(), 404);
    }
}
