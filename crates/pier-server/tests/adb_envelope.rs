//! The AnalyticDB (gpdb 2016-05-03) RPC envelope over real HTTP on loopback: both signature
//! schemes (the wire spec's fixed vectors byte for byte, and fresh signatures), parameter
//! merging, the exact success and error envelopes, the namespace actions, long URIs and large
//! form bodies.

use pier_auth::acs::{OutgoingRequest, encode_params, sign_acs3, sign_rpc};
use pier_engine::{Engine, EngineConfig};
use pier_server::{AcsAuth, ServerOptions};
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

const AK: &str = "testAK";
const SK: &str = "testSecret";
const MANAGER: &str = "admin";
const MANAGER_PASSWORD: &str = "Adm!n pass";

// The wire spec's §2.2 ACS3 vector, as sent.
const ACS3_QUERY: &str = "Collection=docs&DBInstanceId=gp-bp1234567890&Namespace=ns1&NamespacePassword=ns1Pass%21&RegionId=cn-hangzhou&TopK=10&Vector=%5B0.1%2C0.2%2C0.3%5D&Content=hello+world&IncludeValues=true";
const ACS3_BODY: &str = "Filter=page+%3E+2+AND+title+LIKE+%27%25hello%25%27";
const ACS3_AUTHORIZATION: &str = "ACS3-HMAC-SHA256 Credential=testAK,SignedHeaders=accept;content-type;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=08b7459c7466c9f56d3b4e411d43b13da2c089d1e983ca8ef4dce7c9f7c50e5c";
// The wire spec's §2.3 RPC vector, as sent.
const RPC_QUERY: &str = "Action=QueryCollectionData&Format=json&Version=2016-05-03&Timestamp=2025-01-02T03%3A04%3A05Z&SignatureNonce=0123456789abcdef0123456789abcdef&Collection=docs&DBInstanceId=gp-bp1234567890&Namespace=ns1&NamespacePassword=ns1Pass%21&RegionId=cn-hangzhou&TopK=10&Vector=%5B0.1%2C0.2%2C0.3%5D&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&AccessKeyId=testAK&Signature=HbnrOKW9I0VQrXW26emssVq8D5g%3D";
const RPC_BODY: &str = "Filter=title+%3D+%27a+b%27";
const FORM: &str = "application/x-www-form-urlencoded";

struct Server {
    base: String,
    addr: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

#[derive(Clone, Copy)]
enum Scheme {
    Acs3,
    Rpc,
}

/// A server whose key store holds the spec's `testAK` / `testSecret`, with the manager account
/// configured.
async fn start(options: ServerOptions) -> Server {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("keys.json"),
        format!(r#"{{"keys":[{{"id":"{AK}","secret":"{SK}","created_at_ms":0}}]}}"#),
    )
    .unwrap();
    let engine = Arc::new(Engine::open(EngineConfig::new(dir.path())).unwrap());
    engine
        .namespaces()
        .configure_manager(MANAGER, MANAGER_PASSWORD)
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(pier_server::serve_all(
        Some(listener),
        None,
        engine,
        options,
        std::future::pending(),
    ));
    Server {
        base: format!("http://{addr}"),
        addr,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

/// A window wide enough for the spec's vectors, signed on 2025-01-02.
fn vector_options() -> ServerOptions {
    ServerOptions {
        acs_clock_window: Duration::from_secs(20 * 365 * 24 * 3600),
        ..Default::default()
    }
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

struct Answer {
    status: StatusCode,
    content_type: String,
    body: Value,
}

impl Server {
    async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let content_type = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("answer is not JSON ({e}): {text}"));
        Answer {
            status,
            content_type,
            body,
        }
    }

    /// Sends `action` signed with `scheme` (at the current time), `query` in the URL and `form`
    /// (if any) as a form body; `host` is the Host header to send and sign.
    async fn call_as(
        &self,
        scheme: Scheme,
        method: &str,
        host: &str,
        action: &str,
        query: &[(&str, &str)],
        form: &[(&str, &str)],
    ) -> Answer {
        self.call_with(scheme, (method, host, action), query, form, &[])
            .await
    }

    /// [`Server::call_as`] with `extra` headers, signed (ACS3) like the others.
    async fn call_with(
        &self,
        scheme: Scheme,
        (method, host, action): (&str, &str, &str),
        query: &[(&str, &str)],
        form: &[(&str, &str)],
        extra: &[(&str, &str)],
    ) -> Answer {
        let mut query = pairs(query);
        let body = encode_params(&pairs(form));
        let mut headers = pairs(&[
            ("host", host),
            ("x-acs-action", action),
            ("x-acs-version", "2016-05-03"),
            ("accept", "application/json"),
        ]);
        headers.extend(pairs(extra));
        if !form.is_empty() {
            headers.push(("content-type".into(), FORM.into()));
        }
        let now = time::OffsetDateTime::now_utc();
        match scheme {
            Scheme::Acs3 => {
                let added = sign_acs3(
                    &OutgoingRequest {
                        method,
                        path: "/",
                        query: &query,
                        headers: &headers,
                        body: body.as_bytes(),
                    },
                    AK,
                    SK,
                    now,
                );
                headers.extend(added);
            }
            Scheme::Rpc => {
                let mut common = pairs(&[
                    ("Action", action),
                    ("Format", "json"),
                    ("Version", "2016-05-03"),
                ]);
                common.append(&mut query);
                query = common;
                let added = sign_rpc(
                    &OutgoingRequest {
                        method,
                        path: "/",
                        query: &query,
                        headers: &headers,
                        body: body.as_bytes(),
                    },
                    AK,
                    SK,
                    now,
                );
                query.extend(added);
            }
        }
        let url = format!("{}/?{}", self.base, encode_params(&query));
        let mut req = self.http.request(method.parse().unwrap(), url).body(body);
        for (name, value) in &headers {
            req = req.header(name.as_str(), value.as_str());
        }
        self.send(req).await
    }

    async fn call(&self, action: &str, query: &[(&str, &str)], form: &[(&str, &str)]) -> Answer {
        self.call_as(Scheme::Acs3, "POST", &self.addr, action, query, form)
            .await
    }

    /// A manager-credentialed call with the SDK's usual instance parameters.
    async fn ddl(&self, action: &str, extra: &[(&str, &str)]) -> Answer {
        let mut query = vec![
            ("DBInstanceId", "gp-test"),
            ("ManagerAccount", MANAGER),
            ("ManagerAccountPassword", MANAGER_PASSWORD),
            ("RegionId", "cn-hangzhou"),
        ];
        query.extend_from_slice(extra);
        self.call(action, &query, &[]).await
    }

    fn spec_acs3(&self) -> reqwest::RequestBuilder {
        self.spec_acs3_as(ACS3_AUTHORIZATION)
    }

    fn spec_acs3_as(&self, authorization: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}/?{ACS3_QUERY}", self.base))
            .header("host", "gpdb.aliyuncs.com")
            .header("x-acs-version", "2016-05-03")
            .header("x-acs-action", "QueryCollectionData")
            .header(
                "user-agent",
                "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2",
            )
            .header("x-acs-date", "2025-01-02T03:04:05Z")
            .header("x-acs-signature-nonce", "0123456789abcdef0123456789abcdef")
            .header("accept", "application/json")
            .header("content-type", FORM)
            .header(
                "x-acs-content-sha256",
                "d14778aa816ceb447ac54e647279f088f7e77ba7639519b2c9542765c893b7e7",
            )
            .header("authorization", authorization)
    }
}

/// The error envelope: exactly `RequestId`, `HostId`, `Code`, `Message`, all strings.
fn assert_error(a: &Answer, status: StatusCode, code: &str) {
    assert_eq!(a.status, status, "{}", a.body);
    assert_eq!(a.content_type, "application/json;charset=utf-8");
    let obj = a.body.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["Code", "HostId", "Message", "RequestId"],
        "{}",
        a.body
    );
    assert_eq!(a.body["Code"], code, "{}", a.body);
    assert!(!a.body["Message"].as_str().unwrap().is_empty());
    assert_request_id(&a.body);
}

fn assert_success(a: &Answer) {
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.content_type, "application/json;charset=utf-8");
    assert_eq!(a.body["Status"], "success");
    assert_eq!(a.body["Message"], "success");
    assert_request_id(&a.body);
}

/// An upper-case UUID, like Alibaba Cloud's request ids.
fn assert_request_id(body: &Value) {
    let id = body["RequestId"].as_str().unwrap();
    let groups: Vec<usize> = id.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
    assert!(!id.chars().any(|c| c.is_ascii_lowercase()), "{id}");
}

#[tokio::test]
async fn spec_acs3_vector_verifies_over_http_and_replays_are_refused() {
    let s = start(vector_options()).await;
    // A valid signature: auth passes and the action runs, finding no namespace 'ns1'.
    let a = s.send(s.spec_acs3().body(ACS3_BODY)).await;
    assert_error(&a, StatusCode::NOT_FOUND, "Namespace.NotExist");
    assert_eq!(a.body["HostId"], "gpdb.aliyuncs.com");
    assert!(a.body["Message"].as_str().unwrap().contains("'ns1'"));
    // The same nonce again is a replay.
    let a = s.send(s.spec_acs3().body(ACS3_BODY)).await;
    assert_error(&a, StatusCode::BAD_REQUEST, "SignatureNonceUsed");
    // A changed body no longer matches x-acs-content-sha256.
    let a = s.send(s.spec_acs3().body("Filter=page+%3E+3")).await;
    assert_error(&a, StatusCode::BAD_REQUEST, "SignatureDoesNotMatch");
}

#[tokio::test]
async fn spec_rpc_vector_verifies_over_http() {
    let s = start(vector_options()).await;
    let send = |query: String| {
        s.http
            .post(format!("{}/?{query}", s.base))
            .header("content-type", FORM)
            .body(RPC_BODY)
    };
    let a = s.send(send(RPC_QUERY.to_string())).await;
    assert_error(&a, StatusCode::NOT_FOUND, "Namespace.NotExist");
    // Any signed parameter changed breaks the signature.
    let tampered = RPC_QUERY.replace("TopK=10", "TopK=11");
    let a = s.send(send(tampered)).await;
    assert_error(&a, StatusCode::BAD_REQUEST, "SignatureDoesNotMatch");
}

#[tokio::test]
async fn stale_requests_and_unknown_or_missing_credentials_are_refused() {
    let s = start(ServerOptions::default()).await;
    let a = s.send(s.spec_acs3().body(ACS3_BODY)).await;
    assert_error(&a, StatusCode::BAD_REQUEST, "InvalidTimeStamp.Expired");
    let a = s
        .send(s.http.post(format!("{}/?Action=ListNamespaces", s.base)))
        .await;
    assert_error(&a, StatusCode::BAD_REQUEST, "MissingParameter");
    let unknown = ACS3_AUTHORIZATION.replace("testAK", "nobody");
    let a = s.send(s.spec_acs3_as(&unknown).body(ACS3_BODY)).await;
    assert_error(&a, StatusCode::NOT_FOUND, "InvalidAccessKeyId.NotFound");
}

#[tokio::test]
async fn namespace_lifecycle_with_both_schemes() {
    let s = start(ServerOptions::default()).await;
    let a = s.ddl("InitVectorDatabase", &[]).await;
    assert_success(&a);
    assert_eq!(a.body.as_object().unwrap().len(), 3, "{}", a.body);
    assert_success(&s.ddl("InitVectorDatabase", &[]).await);

    let created = s
        .ddl(
            "CreateNamespace",
            &[("Namespace", "ns1"), ("NamespacePassword", "ns1Pass!")],
        )
        .await;
    assert_success(&created);
    // Idempotent; the password is replaced.
    assert_success(
        &s.ddl(
            "CreateNamespace",
            &[("Namespace", "ns1"), ("NamespacePassword", "other")],
        )
        .await,
    );

    let a = s.ddl("ListNamespaces", &[]).await;
    assert_success(&a);
    assert_eq!(a.body["Count"], 2);
    assert_eq!(
        a.body["Namespaces"]["Namespace"],
        serde_json::json!(["ns1", "public"])
    );
    assert_eq!(a.body["DBInstanceId"], "gp-test");
    assert_eq!(a.body["RegionId"], "cn-hangzhou");

    let a = s.ddl("DescribeNamespace", &[("Namespace", "ns1")]).await;
    assert_success(&a);
    assert_eq!(a.body["Namespace"], "ns1");
    let info = a.body["NamespaceInfo"].as_object().unwrap();
    assert_eq!(info["Name"], "ns1");
    assert!(
        info.values().all(Value::is_string),
        "typed SDKs read map[string]*string: {info:?}"
    );

    // The RPC scheme, as GET with everything in the query (older tools).
    let a = s
        .call_as(
            Scheme::Rpc,
            "GET",
            &s.addr,
            "DeleteNamespace",
            &[
                ("ManagerAccount", MANAGER),
                ("ManagerAccountPassword", MANAGER_PASSWORD),
                ("Namespace", "ns1"),
            ],
            &[],
        )
        .await;
    assert_success(&a);
    let a = s.ddl("DescribeNamespace", &[("Namespace", "ns1")]).await;
    assert_error(&a, StatusCode::NOT_FOUND, "Namespace.NotExist");
    let a = s.ddl("DeleteNamespace", &[("Namespace", "ns1")]).await;
    assert_error(&a, StatusCode::NOT_FOUND, "Namespace.NotExist");
}

#[tokio::test]
async fn manager_credentials_and_parameters_are_checked() {
    let s = start(ServerOptions::default()).await;
    let a = s
        .call(
            "ListNamespaces",
            &[
                ("ManagerAccount", MANAGER),
                ("ManagerAccountPassword", "wrong"),
            ],
            &[],
        )
        .await;
    assert_error(&a, StatusCode::FORBIDDEN, "ManagerAccount.PasswordMismatch");
    let a = s
        .call("ListNamespaces", &[("ManagerAccount", MANAGER)], &[])
        .await;
    assert_error(&a, StatusCode::BAD_REQUEST, "MissingParameter");
    assert!(
        a.body["Message"]
            .as_str()
            .unwrap()
            .contains("ManagerAccountPassword")
    );
    let a = s
        .ddl(
            "CreateNamespace",
            &[("Namespace", "1-bad"), ("NamespacePassword", "x")],
        )
        .await;
    assert_error(&a, StatusCode::BAD_REQUEST, "InvalidParameter");
    let a = s.ddl("CreateNamespace", &[("Namespace", "ns2")]).await;
    assert_error(&a, StatusCode::BAD_REQUEST, "MissingParameter");
    let a = s.ddl("CreateDocumentCollection", &[]).await;
    assert_error(&a, StatusCode::NOT_FOUND, "InvalidAction.NotFound");
}

#[tokio::test]
async fn query_and_form_parameters_merge() {
    let s = start(ServerOptions::default()).await;
    // Credentials in the query, the namespace in the form body, both signed (ACS3 hashes the
    // body; RPC signs the form parameters).
    for (scheme, ns) in [(Scheme::Acs3, "in_body"), (Scheme::Rpc, "in_body_rpc")] {
        let a = s
            .call_as(
                scheme,
                "POST",
                &s.addr,
                "CreateNamespace",
                &[
                    ("ManagerAccount", MANAGER),
                    ("ManagerAccountPassword", MANAGER_PASSWORD),
                ],
                &[("Namespace", ns), ("NamespacePassword", "pw")],
            )
            .await;
        assert_success(&a);
    }
    let a = s.ddl("ListNamespaces", &[]).await;
    assert_eq!(
        a.body["Namespaces"]["Namespace"],
        serde_json::json!(["in_body", "in_body_rpc"])
    );
    // The same name with two different values is refused, not guessed at.
    let a = s
        .call(
            "ListNamespaces",
            &[
                ("ManagerAccount", MANAGER),
                ("ManagerAccountPassword", MANAGER_PASSWORD),
            ],
            &[("ManagerAccount", "someone_else")],
        )
        .await;
    assert_error(&a, StatusCode::BAD_REQUEST, "InvalidParameter");
}

#[tokio::test]
async fn host_header_is_verified_as_sent() {
    let s = start(ServerOptions::default()).await;
    // `endpoint="http://127.0.0.1:9000"` makes the SDK send and sign this Host (wire spec §1.1).
    let host = format!("http://{}", s.addr);
    let a = s
        .call_as(
            Scheme::Acs3,
            "POST",
            &host,
            "ListNamespaces",
            &[
                ("ManagerAccount", MANAGER),
                ("ManagerAccountPassword", MANAGER_PASSWORD),
            ],
            &[],
        )
        .await;
    assert_success(&a);
}

#[tokio::test]
async fn long_uris_and_large_form_bodies() {
    let s = start(ServerOptions::default()).await;
    let creds = [
        ("ManagerAccount", MANAGER),
        ("ManagerAccountPassword", MANAGER_PASSWORD),
    ];
    // A 1536-d query vector is ~30 KB of URL. hyper caps the request target at 65,534 bytes
    // (a constant, not a setting), so that is pier's limit too: a 63 KB query passes.
    let vector = |dims: usize| {
        format!(
            "[{}]",
            (0..dims)
                .map(|i| format!("0.{i:04}"))
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    let long = vector(7000);
    let mut query = creds.to_vec();
    query.push(("Vector", &long));
    let encoded_len = encode_params(&pairs(&query)).len();
    assert!((62_000..65_000).contains(&encoded_len), "{encoded_len}");
    assert_success(&s.call("ListNamespaces", &query, &[]).await);
    // Beyond it hyper answers 414 itself (HTTP clients built on the `http` crate cannot even
    // send such a URI, so this one is written by hand).
    let target = format!("/?Vector={}", "1%2C".repeat(17_000));
    let mut stream = tokio::net::TcpStream::connect(&s.addr).await.unwrap();
    let head = format!(
        "POST {target} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\n\r\n",
        s.addr
    );
    tokio::io::AsyncWriteExt::write_all(&mut stream, head.as_bytes())
        .await
        .unwrap();
    let mut answer = vec![0u8; 12];
    tokio::io::AsyncReadExt::read_exact(&mut stream, &mut answer)
        .await
        .unwrap();
    assert_eq!(&answer, b"HTTP/1.1 414");

    // 10 MB of Rows grows to ~30 MB form-encoded: a 40 MB body is accepted.
    let rows = "x".repeat(40 << 20);
    assert_success(&s.call("ListNamespaces", &creds, &[("Rows", &rows)]).await);
    // Over the limit: refused before reading, with the envelope.
    let rows = "x".repeat(49 << 20);
    let a = s.call("ListNamespaces", &creds, &[("Rows", &rows)]).await;
    assert_error(&a, StatusCode::PAYLOAD_TOO_LARGE, "RequestTooLarge");
}

#[tokio::test]
async fn weaker_auth_policies() {
    let creds = [
        ("ManagerAccount", MANAGER),
        ("ManagerAccountPassword", MANAGER_PASSWORD),
    ];
    let list = |s: &Server, query: String, authorization: Option<String>| {
        let mut req = s
            .http
            .post(format!("{}/?{query}", s.base))
            .header("x-acs-action", "ListNamespaces");
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        req
    };
    let query = encode_params(&pairs(&creds));
    let forged = "ACS3-HMAC-SHA256 Credential=testAK,SignedHeaders=host,Signature=00".to_string();

    // access-key: a known AccessKeyId is enough, an unknown one is not.
    let s = start(ServerOptions {
        acs_auth: AcsAuth::AccessKey,
        ..Default::default()
    })
    .await;
    assert_success(&s.send(list(&s, query.clone(), Some(forged.clone()))).await);
    let rpc = format!("{query}&AccessKeyId=testAK&Signature=bogus");
    assert_success(&s.send(list(&s, rpc, None)).await);
    let a = s
        .send(list(
            &s,
            query.clone(),
            Some(forged.replace("testAK", "nobody")),
        ))
        .await;
    assert_error(&a, StatusCode::NOT_FOUND, "InvalidAccessKeyId.NotFound");
    let a = s.send(list(&s, query.clone(), None)).await;
    assert_error(&a, StatusCode::BAD_REQUEST, "MissingParameter");
    // The manager account is checked whatever the policy.
    let wrong = query.replace("Adm%21n", "Adm%21N");
    let a = s.send(list(&s, wrong, Some(forged.clone()))).await;
    assert_error(&a, StatusCode::FORBIDDEN, "ManagerAccount.PasswordMismatch");

    // none: no credentials at all.
    let s = start(ServerOptions {
        acs_auth: AcsAuth::None,
        ..Default::default()
    })
    .await;
    assert_success(&s.send(list(&s, query, None)).await);
}

#[test]
fn auth_policies_parse() {
    assert_eq!("verify".parse::<AcsAuth>().unwrap(), AcsAuth::Verify);
    assert_eq!("access-key".parse::<AcsAuth>().unwrap(), AcsAuth::AccessKey);
    assert_eq!("none".parse::<AcsAuth>().unwrap(), AcsAuth::None);
    assert!("off".parse::<AcsAuth>().unwrap_err().contains("verify"));
}

/// Collections and their data over the wire, with exact answer shapes: the JSON types typed
/// SDKs unmarshal into (`Metadata` strings, `MetadataV2` typed, `Matches.match[]`,
/// `Values.value[]`, `Total`), l2 scores as Euclidean distances against brute force, and the
/// errors a client acts on.
#[tokio::test]
async fn collections_and_data_over_http() {
    let s = start(ServerOptions::default()).await;
    assert_success(
        &s.ddl(
            "CreateNamespace",
            &[("Namespace", "ns1"), ("NamespacePassword", "pw1")],
        )
        .await,
    );
    let create = s
        .ddl(
            "CreateCollection",
            &[
                ("Namespace", "ns1"),
                ("Collection", "docs"),
                ("Dimension", "3"),
                ("Metrics", "l2"),
                ("Metadata", r#"{"title":"text","page":"int","flag":"bool"}"#),
                ("FullTextRetrievalFields", "title"),
                ("Parser", "english"),
                ("HnswM", "32"),
                ("PqEnable", "0"),
                ("SupportSparse", "False"),
            ],
        )
        .await;
    assert_success(&create);
    let data = |extra: &[(&'static str, &'static str)]| {
        let mut q = vec![
            ("DBInstanceId", "gp-test"),
            ("RegionId", "cn-hangzhou"),
            ("Namespace", "ns1"),
            ("NamespacePassword", "pw1"),
            ("Collection", "docs"),
        ];
        q.extend_from_slice(extra);
        q
    };
    let described = s.call("DescribeCollection", &data(&[]), &[]).await;
    assert_success(&described);
    assert_eq!(described.body["Dimension"], 3);
    assert_eq!(described.body["Metrics"], "l2");
    assert_eq!(described.body["Parser"], "english");
    assert_eq!(
        described.body["Metadata"],
        serde_json::json!({"title":"text","page":"int","flag":"bool"})
    );
    assert_eq!(described.body["SupportSparse"], false);
    assert_eq!(described.body["HnswM"], "32");
    let listed = s.call("ListCollections", &data(&[]), &[]).await;
    assert_eq!(
        listed.body["Collections"]["Collection"],
        serde_json::json!(["docs"])
    );
    assert_eq!(listed.body["Count"], 1);

    let rows: Vec<(String, [f64; 3], i64)> = (0..20)
        .map(|i| {
            let x = f64::from(i);
            (
                format!("d{i}"),
                [x, (x * 0.7).sin(), 1.0 - x / 10.0],
                i64::from(i),
            )
        })
        .collect();
    let json_rows: Vec<Value> = rows
        .iter()
        .map(|(id, v, page)| {
            serde_json::json!({"Id": id, "Vector": v,
                "Metadata": {"title": format!("row {page} words"), "page": page, "flag": page % 2 == 0}})
        })
        .collect();
    let rows_text = serde_json::to_string(&json_rows).unwrap();
    // The form body carries Rows, as the SDK sends it; the RPC scheme signs it too.
    let upsert = s
        .call_as(
            Scheme::Rpc,
            "POST",
            &s.addr,
            "UpsertCollectionData",
            &data(&[]),
            &[("Rows", &rows_text)],
        )
        .await;
    assert_success(&upsert);

    let q = [3.2, 0.1, 0.4];
    let mut want: Vec<(f64, &str)> = rows
        .iter()
        .filter(|(_, _, page)| *page >= 2 && page % 2 == 0)
        .map(|(id, v, _)| {
            let d: f64 = v.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum();
            (d.sqrt(), id.as_str())
        })
        .collect();
    want.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
    let got = s
        .call(
            "QueryCollectionData",
            &data(&[
                ("Vector", "[3.2,0.1,0.4]"),
                ("TopK", "3"),
                ("Offset", "1"),
                ("IncludeValues", "True"),
                ("IncludeMetadataFields", "page,flag"),
            ]),
            &[("Filter", "page >= 2 AND flag = true")],
        )
        .await;
    assert_success(&got);
    assert_eq!(got.body["Total"], want.len());
    let matches = got.body["Matches"]["match"].as_array().unwrap();
    let ids: Vec<&str> = matches.iter().map(|m| m["Id"].as_str().unwrap()).collect();
    assert_eq!(ids, want[1..4].iter().map(|w| w.1).collect::<Vec<_>>());
    // Exact to f32 precision (an f16 score would be off by ~1e-3 here).
    for (m, (d, _)) in matches.iter().zip(&want[1..4]) {
        assert!((m["Score"].as_f64().unwrap() - d).abs() < 1e-5, "{m}");
    }
    let first = &matches[0];
    let (_, v, page) = rows.iter().find(|r| r.0 == ids[0]).unwrap();
    assert_eq!(
        first["Metadata"],
        serde_json::json!({"page": page.to_string(), "flag": "true"})
    );
    assert_eq!(
        first["MetadataV2"],
        serde_json::json!({"page": page, "flag": true})
    );
    let values: Vec<f64> = serde_json::from_value(first["Values"]["value"].clone()).unwrap();
    assert_eq!(values.len(), 3);
    assert!(
        values.iter().zip(v).all(|(a, b)| (a - b).abs() < 1e-12),
        "{values:?}"
    );

    // Errors: wrong dimension, unknown column, unknown collection, namespace still in use.
    let bad = s
        .call(
            "QueryCollectionData",
            &data(&[("Vector", "[1,2]"), ("TopK", "1")]),
            &[],
        )
        .await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "InvalidParameter");
    assert!(
        bad.body["Message"]
            .as_str()
            .unwrap()
            .contains("Dimension is 3")
    );
    let bad = s
        .call(
            "QueryCollectionData",
            &data(&[("Vector", "[1,2,3]"), ("TopK", "1")]),
            &[("Filter", "nope = 1")],
        )
        .await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "InvalidParameter");
    assert!(bad.body["Message"].as_str().unwrap().contains("'nope'"));
    let mut missing = data(&[]);
    missing[4] = ("Collection", "other");
    assert_error(
        &s.call("DescribeCollection", &missing, &[]).await,
        StatusCode::NOT_FOUND,
        "Collection.NotExist",
    );
    assert_error(
        &s.ddl("DeleteNamespace", &[("Namespace", "ns1")]).await,
        StatusCode::CONFLICT,
        "Namespace.NotEmpty",
    );

    let deleted = s
        .call(
            "DeleteCollectionData",
            &data(&[("CollectionDataFilter", "page BETWEEN 0 AND 9")]),
            &[],
        )
        .await;
    assert_success(&deleted);
    assert_eq!(deleted.body["AppliedRows"], 10);
    let left = s
        .call(
            "QueryCollectionData",
            &data(&[("Content", "words"), ("TopK", "50"), ("Offset", "0")]),
            &[],
        )
        .await;
    assert_eq!(left.body["Total"], 10);
    assert_success(&s.call("DeleteCollection", &data(&[]), &[]).await);
    assert_success(&s.ddl("DeleteNamespace", &[("Namespace", "ns1")]).await);
}

/// jsonb `<@` (and `@>` with the constant on the left), and `Offset` / `OrderBy` / `Total`
/// with hybrid (RRF, Weight, Cascaded) and full-text queries: a page is the slice of the full
/// list, reordered by `OrderBy`.
#[tokio::test]
async fn contained_by_and_paging_of_hybrid_and_full_text_queries() {
    let s = start(ServerOptions::default()).await;
    assert_success(
        &s.ddl(
            "CreateNamespace",
            &[("Namespace", "ns2"), ("NamespacePassword", "pw2")],
        )
        .await,
    );
    assert_success(
        &s.ddl(
            "CreateCollection",
            &[
                ("Namespace", "ns2"),
                ("Collection", "kb"),
                ("Dimension", "2"),
                ("Metrics", "l2"),
                (
                    "Metadata",
                    r#"{"title":"text","page":"int","meta":"jsonb"}"#,
                ),
                ("FullTextRetrievalFields", "title"),
                ("Parser", "english"),
            ],
        )
        .await,
    );
    let data = |extra: &[(&'static str, &'static str)]| {
        let mut q = vec![
            ("DBInstanceId", "gp-test"),
            ("RegionId", "cn-hangzhou"),
            ("Namespace", "ns2"),
            ("NamespacePassword", "pw2"),
            ("Collection", "kb"),
        ];
        q.extend_from_slice(extra);
        q
    };
    let tags = |i: i64| match i % 4 {
        0 => serde_json::json!(["a"]),
        1 => serde_json::json!(["a", "b"]),
        2 => serde_json::json!(["b", "c"]),
        _ => serde_json::json!([]),
    };
    let rows: Vec<Value> = (0..12i64)
        .map(|i| {
            // Titles repeat "apple" 1-3 times so that full-text scores differ.
            let title = format!("{} words {i}", "apple ".repeat((i % 3 + 1) as usize));
            serde_json::json!({"Id": format!("r{i:02}"), "Vector": [i as f64 * 0.5, 1.0],
                "Metadata": {"title": title, "page": i,
                    "meta": {"tags": tags(i), "k": if i % 2 == 0 { "x" } else { "z" }}}})
        })
        .collect();
    let rows_text = serde_json::to_string(&rows).unwrap();
    assert_success(
        &s.call("UpsertCollectionData", &data(&[]), &[("Rows", &rows_text)])
            .await,
    );
    let ids_of = |a: &Answer| -> Vec<String> {
        a.body["Matches"]["match"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Id"].as_str().unwrap().to_string())
            .collect()
    };
    let page_of = |id: &str| id[1..].parse::<i64>().unwrap();

    // `<@`: the stored value is contained in the constant (an array holds a scalar it lists).
    for (filter, want) in [
        (
            r#"meta->'tags' <@ '["a","b"]'"#,
            (0..12).filter(|i| i % 4 != 2).collect::<Vec<i64>>(),
        ),
        (
            r#"'["a","b"]'::jsonb @> meta::jsonb->'tags'"#,
            (0..12).filter(|i| i % 4 != 2).collect(),
        ),
        (
            r#"meta->'k' <@ '["x","y"]'"#,
            (0..12).filter(|i| i % 2 == 0).collect(),
        ),
        (
            r#"'["b"]' <@ meta->'tags' AND NOT meta->'tags' <@ '["b","c"]'"#,
            (0..12).filter(|i| i % 4 == 1).collect(),
        ),
    ] {
        let got = s
            .call(
                "QueryCollectionData",
                &data(&[("Vector", "[0,1]"), ("TopK", "20")]),
                &[("Filter", filter)],
            )
            .await;
        assert_success(&got);
        let mut pages: Vec<i64> = ids_of(&got).iter().map(|id| page_of(id)).collect();
        pages.sort();
        assert_eq!(pages, want, "{filter}");
    }
    let bad = s
        .call(
            "QueryCollectionData",
            &data(&[("Vector", "[0,1]"), ("TopK", "1")]),
            &[("Filter", "page <@ '[1]'")],
        )
        .await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "InvalidParameter");
    assert!(
        bad.body["Message"]
            .as_str()
            .unwrap()
            .contains("not a json/jsonb column")
    );

    // Six rows pass the filter, so a depth of six holds every row in both lists: a page is
    // exactly a slice of the whole fused list.
    let filter = [("Filter", "page < 6")];
    for (mode, args) in [
        ("RRF", r#"{"RRF":{"k":60}}"#),
        ("Weight", r#"{"Weight":{"alpha":0.3}}"#),
        ("Cascaded", "{}"),
    ] {
        let base = [
            ("Vector", "[1.2,1]"),
            ("Content", "apple"),
            ("HybridSearch", mode),
            ("HybridSearchArgs", args),
        ];
        let mut q = base.to_vec();
        q.push(("TopK", "6"));
        let full = s.call("QueryCollectionData", &data(&q), &filter).await;
        assert_success(&full);
        let full = ids_of(&full);
        assert_eq!(full.len(), 6, "{mode}");
        let mut q = base.to_vec();
        q.extend([("TopK", "4"), ("Offset", "2")]);
        let page = s.call("QueryCollectionData", &data(&q), &filter).await;
        assert_success(&page);
        assert_eq!(page.body["Total"], 6, "{mode}");
        assert_eq!(ids_of(&page), full[2..6].to_vec(), "{mode}");
        q.push(("OrderBy", "page DESC"));
        let ordered = s.call("QueryCollectionData", &data(&q), &filter).await;
        assert_success(&ordered);
        let mut want = full[2..6].to_vec();
        want.sort_by_key(|id| std::cmp::Reverse(page_of(id)));
        assert_eq!(ids_of(&ordered), want, "{mode}");
    }

    // Full text alone: Offset pages the BM25 list, Total counts the matches, OrderBy reorders
    // the page.
    let full = s
        .call(
            "QueryCollectionData",
            &data(&[("Content", "apple"), ("TopK", "12")]),
            &[],
        )
        .await;
    let full = ids_of(&full);
    assert_eq!(full.len(), 12);
    let page = s
        .call(
            "QueryCollectionData",
            &data(&[
                ("Content", "apple"),
                ("TopK", "3"),
                ("Offset", "4"),
                ("OrderBy", "page ASC"),
            ]),
            &[],
        )
        .await;
    assert_success(&page);
    assert_eq!(page.body["Total"], 12);
    let mut want = full[4..7].to_vec();
    want.sort_by_key(|id| page_of(id));
    assert_eq!(ids_of(&page), want);
}

#[tokio::test]
async fn sparse_vectors_over_http() {
    let s = start(ServerOptions::default()).await;
    assert_success(
        &s.ddl(
            "CreateNamespace",
            &[("Namespace", "ns2"), ("NamespacePassword", "pw2")],
        )
        .await,
    );
    for (name, sparse) in [("sp", "True"), ("dense", "False")] {
        let create = s
            .ddl(
                "CreateCollection",
                &[
                    ("Namespace", "ns2"),
                    ("Collection", name),
                    ("Dimension", "2"),
                    ("Metrics", "ip"),
                    ("Metadata", r#"{"page":"int"}"#),
                    ("SupportSparse", sparse),
                    (
                        "SparseVectorIndexConfig",
                        r#"{"Algorithm":"hnsw","HnswEfConstruction":64}"#,
                    ),
                ],
            )
            .await;
        assert_success(&create);
    }
    let data = |collection: &'static str, extra: &[(&'static str, &'static str)]| {
        let mut q = vec![
            ("DBInstanceId", "gp-test"),
            ("RegionId", "cn-hangzhou"),
            ("Namespace", "ns2"),
            ("NamespacePassword", "pw2"),
            ("Collection", collection),
        ];
        q.extend_from_slice(extra);
        q
    };
    let described = s.call("DescribeCollection", &data("sp", &[]), &[]).await;
    assert_success(&described);
    assert_eq!(described.body["SupportSparse"], true);
    assert_eq!(described.body["SparseVectorMetrics"], "ip");
    let described = s.call("DescribeCollection", &data("dense", &[]), &[]).await;
    assert_eq!(described.body["SupportSparse"], false);
    assert_eq!(described.body["SparseVectorMetrics"], "");

    let rows = r#"[{"Id":"a","Metadata":{"page":1},"SparseVector":{"Indices":[1,5],"Values":[1.0,2.0]},"Vector":[1.0,0.0]},
        {"Id":"b","Metadata":{"page":2},"SparseVector":{"Indices":[5,9],"Values":[3.0,1.0]},"Vector":[0.0,1.0]},
        {"Id":"c","Metadata":{"page":3},"Vector":[0.5,0.5]}]"#;
    assert_success(
        &s.call("UpsertCollectionData", &data("sp", &[]), &[("Rows", rows)])
            .await,
    );
    let query = |extra: &[(&'static str, &'static str)]| {
        let mut q = data("sp", &[("TopK", "10")]);
        q.extend_from_slice(extra);
        q
    };
    let ranked = |a: &Answer| -> Vec<(String, f64)> {
        assert_success(a);
        a.body["Matches"]["match"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["Id"].as_str().unwrap().to_string(),
                    m["Score"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    let assert_ranked = |a: &Answer, want: &[(&str, f64)]| {
        let got = ranked(a);
        let ids: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
        assert_eq!(
            ids,
            want.iter().map(|w| w.0).collect::<Vec<_>>(),
            "{}",
            a.body
        );
        for (g, w) in got.iter().zip(want) {
            assert!((g.1 - w.1).abs() < 1e-5, "{}", a.body);
        }
    };
    let sparse = r#"{"Indices":[1,5,9],"Values":[1,1,0.5]}"#;
    // Sparse only: a = 1·1 + 1·2 = 3, b = 1·3 + 0.5·1 = 3.5; c has no sparse vector.
    let got = s
        .call(
            "QueryCollectionData",
            &query(&[("SparseVector", sparse), ("IncludeSparseValues", "True")]),
            &[],
        )
        .await;
    assert_ranked(&got, &[("b", 3.5), ("a", 3.0)]);
    let a = &got.body["Matches"]["match"][1];
    assert_eq!(
        a["SparseValues"],
        serde_json::json!({"Indices": {"Indice": [1, 5]}, "Values": {"Value": [1.0, 2.0]}})
    );
    assert!(a.get("Values").is_none(), "{a}");
    // Dense plus sparse: summed (a = 1 + 3, b = 0 + 3.5, c = 0.5 + 0); with a filter.
    let got = s
        .call(
            "QueryCollectionData",
            &query(&[("SparseVector", sparse), ("Vector", "[1,0]")]),
            &[],
        )
        .await;
    assert_ranked(&got, &[("a", 4.0), ("b", 3.5), ("c", 0.5)]);
    assert!(
        got.body["Matches"]["match"][0]
            .get("SparseValues")
            .is_none()
    );
    let got = s
        .call(
            "QueryCollectionData",
            &query(&[("SparseVector", sparse), ("Vector", "[1,0]")]),
            &[("Filter", "page >= 2")],
        )
        .await;
    assert_ranked(&got, &[("b", 3.5), ("c", 0.5)]);

    // Bad sparse input: 400 InvalidParameter naming what to fix.
    let many: Vec<u32> = (0..4001).collect();
    let many = serde_json::json!([{"Id": "x", "Vector": [0, 0],
        "SparseVector": {"Indices": many, "Values": vec![1.0; 4001]}}])
    .to_string();
    for (rows, needle) in [
        (
            r#"[{"Id":"x","Vector":[0,0],"SparseVector":{"Indices":[5,1],"Values":[1,1]}}]"#,
            "sorted ascending",
        ),
        (
            r#"[{"Id":"x","Vector":[0,0],"SparseVector":{"Indices":[1,1],"Values":[1,1]}}]"#,
            "without repeats",
        ),
        (
            r#"[{"Id":"x","Vector":[0,0],"SparseVector":{"Indices":[1,2],"Values":[1]}}]"#,
            "2 indices but 1 values",
        ),
        (many.as_str(), "the limit is 4000"),
    ] {
        let bad = s
            .call("UpsertCollectionData", &data("sp", &[]), &[("Rows", rows)])
            .await;
        assert_error(&bad, StatusCode::BAD_REQUEST, "InvalidParameter");
        assert!(
            bad.body["Message"].as_str().unwrap().contains(needle),
            "{}",
            bad.body
        );
    }
    let bad = s
        .call(
            "QueryCollectionData",
            &query(&[("SparseVector", r#"{"Indices":[2,1],"Values":[1,1]}"#)]),
            &[],
        )
        .await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "InvalidParameter");
    assert!(
        bad.body["Message"]
            .as_str()
            .unwrap()
            .contains("SparseVector")
    );
    // A collection without SupportSparse refuses sparse rows and queries.
    let bad = s
        .call(
            "UpsertCollectionData",
            &data("dense", &[]),
            &[(
                "Rows",
                r#"[{"Id":"x","Vector":[0,0],"SparseVector":{"Indices":[1],"Values":[1]}}]"#,
            )],
        )
        .await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "InvalidParameter");
    assert!(
        bad.body["Message"]
            .as_str()
            .unwrap()
            .contains("SupportSparse")
    );
    let bad = s
        .call(
            "QueryCollectionData",
            &data("dense", &[("TopK", "1"), ("SparseVector", sparse)]),
            &[],
        )
        .await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "InvalidParameter");
    assert!(
        bad.body["Message"]
            .as_str()
            .unwrap()
            .contains("SupportSparse")
    );

    // An upsert replaces the row's sparse vector, a delete removes it.
    let rows = r#"[{"Id":"a","Metadata":{"page":1},"SparseVector":{"Indices":[9],"Values":[4.0]},"Vector":[1.0,0.0]}]"#;
    assert_success(
        &s.call("UpsertCollectionData", &data("sp", &[]), &[("Rows", rows)])
            .await,
    );
    assert_success(
        &s.call(
            "DeleteCollectionData",
            &data("sp", &[("CollectionData", r#"{"id":["b"]}"#)]),
            &[],
        )
        .await,
    );
    let got = s
        .call(
            "QueryCollectionData",
            &query(&[("SparseVector", sparse)]),
            &[],
        )
        .await;
    assert_ranked(&got, &[("a", 2.0)]);
}

/// The collection's rows for the metric tests: vectors of varied length and direction, so that
/// l2, ip and cosine rank them differently.
fn metric_rows() -> Vec<(String, [f64; 3], i64)> {
    (0..40)
        .map(|i| {
            let x = f64::from(i);
            let len = 0.5 + (x * 1.3).sin().abs() * 4.0;
            (
                format!("m{i}"),
                [
                    len * (x * 0.4).cos(),
                    len * (x * 0.4).sin(),
                    (x * 0.9).cos(),
                ],
                i64::from(i),
            )
        })
        .collect()
}

/// The best `k` rows of `rows` with page ≥ `min_page` by `metric`, with AnalyticDB's scores
/// (Euclidean distance ascending, inner product or cosine similarity descending).
fn brute_force(
    rows: &[(String, [f64; 3], i64)],
    q: [f64; 3],
    metric: &str,
    min_page: i64,
) -> Vec<(String, f64)> {
    let dot = |a: &[f64; 3], b: &[f64; 3]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let mut all: Vec<(String, f64)> = rows
        .iter()
        .filter(|r| r.2 >= min_page)
        .map(|(id, v, _)| {
            let score = match metric {
                "l2" => v
                    .iter()
                    .zip(q)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>()
                    .sqrt(),
                "ip" => dot(v, &q),
                _ => dot(v, &q) / (dot(v, v).sqrt() * dot(&q, &q).sqrt()),
            };
            (id.clone(), score)
        })
        .collect();
    all.sort_by(|a, b| {
        let o = a.1.total_cmp(&b.1);
        if metric == "l2" { o } else { o.reverse() }
    });
    all
}

/// `Metrics` other than the index's: an exact scan by the requested metric, with the filter,
/// `TopK`, `Offset`/`Total`, `IncludeValues` and `IncludeMetadataFields` as on the index's.
#[tokio::test]
async fn metrics_override_scans_exactly_by_the_requested_metric() {
    let s = start(ServerOptions::default()).await;
    assert_success(
        &s.ddl(
            "CreateNamespace",
            &[("Namespace", "nsm"), ("NamespacePassword", "pwm")],
        )
        .await,
    );
    assert_success(
        &s.ddl(
            "CreateCollection",
            &[
                ("Namespace", "nsm"),
                ("Collection", "mx"),
                ("Dimension", "3"),
                ("Metrics", "l2"),
                ("Metadata", r#"{"page":"int","title":"text"}"#),
            ],
        )
        .await,
    );
    let data = |extra: &[(&'static str, &'static str)]| {
        let mut q = vec![
            ("DBInstanceId", "gp-test"),
            ("RegionId", "cn-hangzhou"),
            ("Namespace", "nsm"),
            ("NamespacePassword", "pwm"),
            ("Collection", "mx"),
        ];
        q.extend_from_slice(extra);
        q
    };
    let rows = metric_rows();
    let json_rows: Vec<Value> = rows
        .iter()
        .map(|(id, v, page)| {
            serde_json::json!({"Id": id, "Vector": v,
                "Metadata": {"page": page, "title": format!("t{page}")}})
        })
        .collect();
    let rows_text = serde_json::to_string(&json_rows).unwrap();
    assert_success(
        &s.call("UpsertCollectionData", &data(&[]), &[("Rows", &rows_text)])
            .await,
    );
    let q = [1.5, -0.5, 0.25];
    let mut orders = Vec::new();
    for metric in ["l2", "ip", "cosine", "IP"] {
        let want = brute_force(&rows, q, &metric.to_ascii_lowercase(), 10);
        let got = s
            .call(
                "QueryCollectionData",
                &data(&[
                    ("Vector", "[1.5,-0.5,0.25]"),
                    ("Metrics", metric),
                    ("TopK", "4"),
                    ("Offset", "1"),
                    ("IncludeValues", "True"),
                    ("IncludeMetadataFields", "page"),
                ]),
                &[("Filter", "page >= 10")],
            )
            .await;
        assert_success(&got);
        assert_eq!(got.body["Total"], 30, "{metric}");
        let matches = got.body["Matches"]["match"].as_array().unwrap();
        let ids: Vec<&str> = matches.iter().map(|m| m["Id"].as_str().unwrap()).collect();
        assert_eq!(
            ids,
            want[1..5].iter().map(|w| w.0.as_str()).collect::<Vec<_>>(),
            "{metric}: {}",
            got.body
        );
        for (m, (id, score)) in matches.iter().zip(&want[1..5]) {
            assert!(
                (m["Score"].as_f64().unwrap() - score).abs() < 1e-4,
                "{metric}: {m} vs {score}"
            );
            let (_, v, page) = rows.iter().find(|r| &r.0 == id).unwrap();
            assert_eq!(m["MetadataV2"], serde_json::json!({"page": page}));
            let values: Vec<f64> = serde_json::from_value(m["Values"]["value"].clone()).unwrap();
            assert!(values.iter().zip(v).all(|(a, b)| (a - b).abs() < 1e-6));
        }
        orders.push(ids.iter().map(|i| i.to_string()).collect::<Vec<_>>());
    }
    // The data ranks differently by metric, so the override is not the index's order.
    assert_ne!(orders[0], orders[1]);
    assert_ne!(orders[1], orders[2]);
    assert_eq!(orders[1], orders[3]);

    // An unknown metric says which ones exist.
    let bad = s
        .call(
            "QueryCollectionData",
            &data(&[("Vector", "[1,0,0]"), ("Metrics", "hamming"), ("TopK", "1")]),
            &[],
        )
        .await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "InvalidParameter");
    assert!(
        bad.body["Message"]
            .as_str()
            .unwrap()
            .contains("send l2, ip or cosine"),
        "{}",
        bad.body
    );
}

/// `ModifyCollection` adds columns, `CreateVectorIndex` changes the index's metric and HNSW
/// parameters (both rebuild the collection's indexes from its rows), `DeleteVectorIndex` makes
/// searches exact scans; the rows and their answers survive each.
#[tokio::test]
async fn collection_changes_and_vector_indexes_over_http() {
    let s = start(ServerOptions::default()).await;
    assert_success(
        &s.ddl(
            "CreateNamespace",
            &[("Namespace", "nsc"), ("NamespacePassword", "pwc")],
        )
        .await,
    );
    assert_success(
        &s.ddl(
            "CreateCollection",
            &[
                ("Namespace", "nsc"),
                ("Collection", "cc"),
                ("Dimension", "3"),
                ("Metrics", "l2"),
                ("Metadata", r#"{"page":"int","title":"text"}"#),
            ],
        )
        .await,
    );
    let data = |extra: &[(&'static str, &'static str)]| {
        let mut q = vec![
            ("DBInstanceId", "gp-test"),
            ("RegionId", "cn-hangzhou"),
            ("Namespace", "nsc"),
            ("NamespacePassword", "pwc"),
            ("Collection", "cc"),
        ];
        q.extend_from_slice(extra);
        q
    };
    let manager = |extra: &[(&'static str, &'static str)]| {
        let mut q = vec![("Namespace", "nsc"), ("Collection", "cc")];
        q.extend_from_slice(extra);
        q
    };
    let rows = metric_rows();
    let json_rows: Vec<Value> = rows
        .iter()
        .map(|(id, v, page)| serde_json::json!({"Id": id, "Vector": v, "Metadata": {"page": page}}))
        .collect();
    let rows_text = serde_json::to_string(&json_rows).unwrap();
    assert_success(
        &s.call("UpsertCollectionData", &data(&[]), &[("Rows", &rows_text)])
            .await,
    );
    let ids = |a: &Answer| -> Vec<String> {
        assert_success(a);
        a.body["Matches"]["match"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Id"].as_str().unwrap().to_string())
            .collect()
    };
    let best = |metric: &str| -> Vec<String> {
        brute_force(&rows, [1.5, -0.5, 0.25], metric, 0)
            .into_iter()
            .take(5)
            .map(|w| w.0)
            .collect()
    };
    let query = [("Vector", "[1.5,-0.5,0.25]"), ("TopK", "5")];

    let modified = s
        .call(
            "ModifyCollection",
            &data(&[(
                "Metadata",
                r#"{"operations":[{"operator":"add","newMetaName":"color","newMetaType":"varchar(16)","fullTextRetrieval":true}]}"#,
            )]),
            &[],
        )
        .await;
    assert_success(&modified);
    let schema: Value = serde_json::from_str(modified.body["Metadata"].as_str().unwrap()).unwrap();
    assert_eq!(
        schema,
        serde_json::json!({"page": "int", "title": "text", "color": "varchar(16)"})
    );
    let described = s.call("DescribeCollection", &data(&[]), &[]).await;
    assert_eq!(described.body["FullTextRetrievalFields"], "color");
    assert_eq!(described.body["Metadata"]["color"], "varchar(16)");
    // The rows are all there, without the new column, and still ranked by l2.
    let got = s
        .call(
            "QueryCollectionData",
            &data(&query),
            &[("Filter", "color IS NULL")],
        )
        .await;
    assert_eq!(ids(&got), best("l2"));
    assert_success(
        &s.call(
            "UpsertCollectionData",
            &data(&[]),
            &[(
                "Rows",
                r#"[{"Id":"blue","Vector":[0,0,9],"Metadata":{"page":99,"color":"deep blue"}}]"#,
            )],
        )
        .await,
    );
    let got = s
        .call(
            "QueryCollectionData",
            &data(&[("Content", "blue"), ("TopK", "5")]),
            &[("Filter", "color LIKE 'deep%'")],
        )
        .await;
    assert_eq!(ids(&got), ["blue"]);
    let bad = s
        .call(
            "ModifyCollection",
            &data(&[(
                "Metadata",
                r#"{"operations":[{"operator":"add","newMetaName":"page","newMetaType":"int"}]}"#,
            )]),
            &[],
        )
        .await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "InvalidParameter");
    let bad = s
        .call(
            "ModifyCollection",
            &data(&[(
                "Metadata",
                r#"{"operations":[{"operator":"replace","oldMetaName":"page","newMetaType":"bigint"}]}"#,
            )]),
            &[],
        )
        .await;
    assert_error(&bad, StatusCode::NOT_IMPLEMENTED, "Unsupported");
    s.call(
        "DeleteCollectionData",
        &data(&[("CollectionDataFilter", "id = 'blue'")]),
        &[],
    )
    .await;

    // Another metric and HNSW parameters: the index's own searches now rank by ip.
    let created = s
        .ddl(
            "CreateVectorIndex",
            &manager(&[
                ("Dimension", "3"),
                ("Metrics", "ip"),
                ("HnswM", "24"),
                ("PqEnable", "0"),
            ]),
        )
        .await;
    assert_success(&created);
    let described = s.call("DescribeCollection", &data(&[]), &[]).await;
    assert_eq!(described.body["Metrics"], "ip");
    assert_eq!(described.body["HnswM"], "24");
    assert_eq!(described.body["PqEnable"], "0");
    let got = s.call("QueryCollectionData", &data(&query), &[]).await;
    assert_eq!(ids(&got), best("ip"));
    let bad = s
        .ddl("CreateVectorIndex", &manager(&[("Dimension", "4")]))
        .await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "InvalidParameter");
    let bad = s
        .call(
            "CreateVectorIndex",
            &[
                ("Namespace", "nsc"),
                ("Collection", "cc"),
                ("Dimension", "3"),
            ],
            &[],
        )
        .await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "MissingParameter");

    // No index: exact scans, same answers; a new index by cosine.
    assert_success(&s.ddl("DeleteVectorIndex", &manager(&[])).await);
    let got = s.call("QueryCollectionData", &data(&query), &[]).await;
    assert_eq!(ids(&got), best("ip"));
    assert_success(
        &s.ddl(
            "CreateVectorIndex",
            &manager(&[("Dimension", "3"), ("Metrics", "cosine")]),
        )
        .await,
    );
    let got = s.call("QueryCollectionData", &data(&query), &[]).await;
    assert_eq!(ids(&got), best("cosine"));
}

/// STS credentials (wire spec §1.2, §2.4): the SDK adds the token as the signed header
/// `x-acs-security-token` (ACS3) or the parameter `SecurityToken` (RPC). pier passes it
/// through: the signature is still verified with the AccessKey, and the token is accepted.
#[tokio::test]
async fn sts_tokens_pass_through_with_the_access_key_signature() {
    let s = start(ServerOptions::default()).await;
    let list = [
        ("DBInstanceId", "gp-test"),
        ("ManagerAccount", MANAGER),
        ("ManagerAccountPassword", MANAGER_PASSWORD),
        ("RegionId", "cn-hangzhou"),
    ];
    let sts_headers = [
        ("x-acs-security-token", "STS.NUgYrLnoC37mZZCNnAbez2Kt"),
        ("x-acs-accesskey-id", AK),
        ("x-acs-credentials-provider", "static_sts"),
    ];
    let acs3 = s
        .call_with(
            Scheme::Acs3,
            ("POST", &s.addr, "ListNamespaces"),
            &list,
            &[],
            &sts_headers,
        )
        .await;
    assert_success(&acs3);
    assert!(
        acs3.body["Namespaces"]["Namespace"].is_array(),
        "{}",
        acs3.body
    );
    let mut with_token = list.to_vec();
    with_token.push(("SecurityToken", "STS.NUgYrLnoC37mZZCNnAbez2Kt"));
    let rpc = s
        .call_with(
            Scheme::Rpc,
            ("POST", &s.addr, "ListNamespaces"),
            &with_token,
            &[],
            &[("x-acs-credentials-provider", "static_sts")],
        )
        .await;
    assert_success(&rpc);
    // The token is covered by the signature: one changed after signing is refused.
    let query = pairs(&list);
    let headers = pairs(&[
        ("host", &s.addr),
        ("x-acs-action", "ListNamespaces"),
        ("x-acs-version", "2016-05-03"),
        ("x-acs-security-token", "STS.signed"),
    ]);
    let added = sign_acs3(
        &OutgoingRequest {
            method: "POST",
            path: "/",
            query: &query,
            headers: &headers,
            body: b"",
        },
        AK,
        SK,
        time::OffsetDateTime::now_utc(),
    );
    let mut req = s
        .http
        .post(format!("{}/?{}", s.base, encode_params(&query)));
    for (name, value) in headers.iter().chain(&added) {
        let value = if name == "x-acs-security-token" {
            "STS.swapped"
        } else {
            value.as_str()
        };
        req = req.header(name.as_str(), value);
    }
    assert_error(
        &s.send(req).await,
        StatusCode::BAD_REQUEST,
        "SignatureDoesNotMatch",
    );
}

/// `UpdateCollectionDataMetadata`: the Metadata fields of the rows named by `Ids` or matching
/// `Filter` change, their vectors and other fields stay; `AppliedRows` counts the rows found.
#[tokio::test]
async fn update_collection_data_metadata_over_http() {
    let s = start(ServerOptions::default()).await;
    assert_success(
        &s.ddl(
            "CreateNamespace",
            &[("Namespace", "nsu"), ("NamespacePassword", "pwu")],
        )
        .await,
    );
    assert_success(
        &s.ddl(
            "CreateCollection",
            &[
                ("Namespace", "nsu"),
                ("Collection", "up"),
                ("Dimension", "3"),
                ("Metrics", "l2"),
                ("Metadata", r#"{"page":"int","title":"text","tag":"text"}"#),
                ("FullTextRetrievalFields", "title"),
            ],
        )
        .await,
    );
    let data = |extra: &[(&'static str, &'static str)]| {
        let mut q = vec![
            ("DBInstanceId", "gp-test"),
            ("RegionId", "cn-hangzhou"),
            ("Namespace", "nsu"),
            ("NamespacePassword", "pwu"),
            ("Collection", "up"),
        ];
        q.extend_from_slice(extra);
        q
    };
    let rows = metric_rows();
    let json_rows: Vec<Value> = rows
        .iter()
        .map(|(id, v, page)| {
            serde_json::json!({"Id": id, "Vector": v,
                "Metadata": {"page": page, "title": format!("plain {page}"), "tag": "old"}})
        })
        .collect();
    let rows_text = serde_json::to_string(&json_rows).unwrap();
    assert_success(
        &s.call("UpsertCollectionData", &data(&[]), &[("Rows", &rows_text)])
            .await,
    );
    let by_ids = s
        .call(
            "UpdateCollectionDataMetadata",
            &data(&[
                ("Ids", r#"["m1","m2","missing"]"#),
                ("Metadata", r#"{"title":"kiwi","page":"500"}"#),
            ]),
            &[],
        )
        .await;
    assert_success(&by_ids);
    assert_eq!(by_ids.body["AppliedRows"], 2);
    let by_filter = s
        .call(
            "UpdateCollectionDataMetadata",
            &data(&[
                ("Filter", "page >= 30 AND page < 40"),
                ("Metadata", r#"{"tag":null}"#),
            ]),
            &[],
        )
        .await;
    assert_success(&by_filter);
    assert_eq!(by_filter.body["AppliedRows"], 10);

    // m1 is found by its own vector (distance 0): vector kept, metadata changed, tag kept.
    let v: &'static str = Box::leak(serde_json::to_string(&rows[1].1).unwrap().into_boxed_str());
    let got = s
        .call(
            "QueryCollectionData",
            &data(&[("Vector", v), ("TopK", "1"), ("IncludeValues", "True")]),
            &[],
        )
        .await;
    assert_success(&got);
    let m = &got.body["Matches"]["match"][0];
    assert_eq!(m["Id"], "m1");
    assert!(m["Score"].as_f64().unwrap().abs() < 1e-6, "{m}");
    assert_eq!(
        m["MetadataV2"],
        serde_json::json!({"page": 500, "title": "kiwi", "tag": "old"})
    );
    let kiwi = s
        .call(
            "QueryCollectionData",
            &data(&[("Content", "kiwi"), ("TopK", "10")]),
            &[],
        )
        .await;
    let mut ids: Vec<&str> = kiwi.body["Matches"]["match"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["m1", "m2"]);
    let nulls = s
        .call(
            "QueryCollectionData",
            &data(&[("Vector", "[0,0,0]"), ("TopK", "50"), ("Offset", "0")]),
            &[("Filter", "tag IS NULL")],
        )
        .await;
    assert_eq!(nulls.body["Total"], 10, "{}", nulls.body);

    let both = s
        .call(
            "UpdateCollectionDataMetadata",
            &data(&[
                ("Ids", r#"["m1"]"#),
                ("Filter", "page = 1"),
                ("Metadata", r#"{"tag":"x"}"#),
            ]),
            &[],
        )
        .await;
    assert_error(&both, StatusCode::BAD_REQUEST, "InvalidParameter");
    let neither = s
        .call(
            "UpdateCollectionDataMetadata",
            &data(&[("Metadata", r#"{"tag":"x"}"#)]),
            &[],
        )
        .await;
    assert_error(&neither, StatusCode::BAD_REQUEST, "MissingParameter");
    let unknown = s
        .call(
            "UpdateCollectionDataMetadata",
            &data(&[("Ids", r#"["m1"]"#), ("Metadata", r#"{"nope":1}"#)]),
            &[],
        )
        .await;
    assert_error(&unknown, StatusCode::BAD_REQUEST, "InvalidParameter");
}
