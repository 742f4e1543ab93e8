//! The V3 push API and the native admin API over real HTTP on loopback: the exact envelopes,
//! every synchronous error code with its HTTP status, authentication, visibility and outcomes.

use pier_engine::{Engine, EngineConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

struct Server {
    base: String,
    key: (String, String),
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

const SCHEMA: &str = r#"{"tables": {"main": {"primaryTable": true, "fields": {
    "id": {"type": "LITERAL", "primaryKey": true}, "title": {"type": "TEXT"}, "n": {"type": "INT"}, "tags": {"type": "LITERAL_ARRAY"}}}},
    "indexes": {"searchFields": {"default": {"fields": ["title"], "analyzer": "chn_standard"}}, "filterFields": ["n", "tags"]}}"#;

async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::new(dir.path());
    config.commit_interval = Duration::from_millis(20);
    let engine = Arc::new(Engine::open(config).unwrap());
    let key = engine.keys().create(None).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(pier_server::serve(listener, engine, std::future::pending()));
    let s = Server {
        base,
        key: (key.id, key.secret),
        http: reqwest::Client::new(),
        _dir: dir,
    };
    for (name, ty) in [("shop", "advanced"), ("basic", "standard")] {
        let (status, body) = s.admin(reqwest::Method::POST, "/api/v1/apps", Some(json!({"name": name, "type": ty, "schema": serde_json::from_str::<Value>(SCHEMA).unwrap()}))).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    s
}

impl Server {
    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .basic_auth(&self.key.0, Some(&self.key.1));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        (resp.status(), resp.json().await.unwrap_or(Value::Null))
    }

    fn signed(&self, path: &str, body: &[u8], secret: &str) -> reqwest::RequestBuilder {
        let headers = pier_auth::sign_request(
            &self.key.0,
            secret,
            "POST",
            path,
            &[],
            body,
            time::OffsetDateTime::now_utc(),
        );
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .body(body.to_vec());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req
    }

    async fn push_to(
        &self,
        app: &str,
        table: &str,
        body: &str,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let path = format!("/v3/openapi/apps/{app}/{table}/actions/bulk");
        let resp = self
            .signed(&path, body.as_bytes(), &self.key.1)
            .header("X-Pier-Wait", "visible")
            .send()
            .await
            .unwrap();
        let headers = resp.headers().clone();
        (resp.status(), resp.json().await.unwrap(), headers)
    }

    async fn push(&self, body: &str) -> (StatusCode, Value) {
        let (s, v, _) = self.push_to("shop", "main", body).await;
        (s, v)
    }

    async fn doc(&self, pk: &str) -> Option<Value> {
        let (status, body) = self
            .admin(
                reqwest::Method::GET,
                &format!("/api/v1/apps/shop/main/docs/{pk}"),
                None,
            )
            .await;
        (status == StatusCode::OK).then(|| body["fields"].clone())
    }

    async fn documents(&self) -> u64 {
        self.admin(reqwest::Method::GET, "/api/v1/apps/shop", None)
            .await
            .1["tables"][0]["documents"]
            .as_u64()
            .unwrap()
    }
}

fn code(v: &Value) -> u64 {
    v["errors"][0]["code"].as_u64().unwrap()
}

#[tokio::test]
async fn push_answers_ok_and_documents_become_visible() {
    let s = start().await;
    // The exact body of the official Python client's request (spec §1.3).
    let body = r#"[{"cmd":"add","fields":{"id":"1","title":"This is the title","int_array":[14,85],"string_array":["abc","xyz"]}},{"cmd":"delete","fields":{"id":"2"}}]"#;
    let (status, v, headers) = s.push_to("shop", "main", body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v.as_object().unwrap().len(), 4);
    assert_eq!(
        (&v["errors"], &v["status"], &v["result"]),
        (&json!([]), &json!("OK"), &json!(true))
    );
    let id = v["request_id"].as_str().unwrap();
    assert!(
        id.len() == 24 && id.bytes().all(|b| b.is_ascii_digit()),
        "{id}"
    );
    assert_eq!(headers["x-pier-visible"], "true");
    assert_eq!(
        s.doc("1").await.unwrap(),
        json!({"id": "1", "title": "This is the title"})
    );

    // add = full replace, update = merge, cmd and field names case-insensitive, numeric strings.
    assert_eq!(
        s.push(r#"[{"cmd":"ADD","fields":{"ID":"1","n":"5","tags":["a","b"]}}]"#)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        s.doc("1").await.unwrap(),
        json!({"id": "1", "n": 5, "tags": ["a", "b"]})
    );
    assert_eq!(
        s.push(r#"[{"cmd":"Update","fields":{"id":"1","title":"北京大学"}}]"#)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        s.doc("1").await.unwrap(),
        json!({"id": "1", "n": 5, "tags": ["a", "b"], "title": "北京大学"})
    );

    // Timestamps order operations per key: an older one never overwrites a newer one.
    s.push(r#"[{"cmd":"add","timestamp":2000,"fields":{"id":"t","n":2}},{"cmd":"add","timestamp":1000,"fields":{"id":"t","n":1}}]"#).await;
    s.push(r#"[{"cmd":"delete","timestamp":1500,"fields":{"id":"t"}}]"#)
        .await;
    assert_eq!(s.doc("t").await.unwrap()["n"], json!(2));
    s.push(r#"[{"cmd":"delete","timestamp":2500,"fields":{"id":"t"}}]"#)
        .await;
    assert_eq!(s.doc("t").await, None);
    s.push(r#"[{"cmd":"add","timestamp":2400,"fields":{"id":"t","n":3}}]"#)
        .await;
    assert_eq!(
        s.doc("t").await,
        None,
        "the tombstone is newer than the add"
    );
    assert_eq!(s.documents().await, 1);
}

#[tokio::test]
async fn processing_errors_are_recorded_and_reported_per_request() {
    let s = start().await;
    let (status, v) = s.push(r#"[{"cmd":"add","fields":{"id":"ok","n":1}},{"cmd":"add","fields":{"id":"bad","n":"abc"}},{"cmd":"add","fields":{"id":"arr","tags":"x"}}]"#).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "processing errors do not fail the push"
    );
    let id = v["request_id"].as_str().unwrap();
    let (status, r) = s
        .admin(
            reqwest::Method::GET,
            &format!("/api/v1/requests/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (r["status"].as_str(), r["documents"].as_u64()),
        (Some("processed"), Some(3))
    );
    let failed: Vec<(&str, u64)> = r["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["pk"].as_str().unwrap(), f["code"].as_u64().unwrap()))
        .collect();
    assert_eq!(failed, vec![("bad", 7302), ("arr", 7303)]);
    let (_, e) = s
        .admin(
            reqwest::Method::GET,
            "/api/v1/apps/shop/errors?code=7302",
            None,
        )
        .await;
    assert_eq!(e["total"], json!(1));
    assert_eq!(e["errors"][0]["pk"], json!("bad"));
    assert!(e["errors"][0]["message"].as_str().unwrap().contains("'n'"));
    assert_eq!(s.doc("ok").await.unwrap()["n"], json!(1));
    assert_eq!(s.doc("bad").await, None);
    let (status, _) = s
        .admin(
            reqwest::Method::GET,
            "/api/v1/requests/000000000000000000000000",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_batches_get_the_spec_codes_and_change_nothing() {
    let s = start().await;
    let cases: &[(&str, &str, &str, u16, u64)] = &[
        (
            "nope",
            "main",
            r#"[{"cmd":"add","fields":{"id":"1"}}]"#,
            404,
            2001,
        ),
        (
            "shop",
            "nope",
            r#"[{"cmd":"add","fields":{"id":"1"}}]"#,
            404,
            4012,
        ),
        (
            "shop",
            "main",
            r#"[{"cmd":"add","fields":{"id":"1"}"#,
            400,
            4007,
        ),
        ("shop", "main", "[]", 400, 3001),
        ("shop", "main", "", 400, 3001),
        (
            "shop",
            "main",
            r#"[{"cmd":"add","fields":{"id":"1"}}, 7]"#,
            400,
            3005,
        ),
        (
            "shop",
            "main",
            r#"[{"cmd":"add","fields":{"id":"1"}}, {"cmd":"replace","fields":{"id":"2"}}]"#,
            400,
            3006,
        ),
        (
            "shop",
            "main",
            r#"[{"cmd":"add","fields":{"id":"1"}}, {"cmd":"add","fields":{"n":2}}]"#,
            400,
            3009,
        ),
        (
            "basic",
            "main",
            r#"[{"cmd":"update","fields":{"id":"1"}}]"#,
            400,
            3006,
        ),
        (
            "basic",
            "main",
            r#"[{"cmd":"add","timestamp":5,"fields":{"id":"1"}}]"#,
            400,
            4007,
        ),
    ];
    for (app, table, body, status, expected) in cases {
        let (st, v, _) = s.push_to(app, table, body).await;
        assert_eq!(
            (st.as_u16(), code(&v)),
            (*status, *expected),
            "{app}/{table} {body}: {v}"
        );
        assert_eq!(v["status"], json!("FAIL"));
        assert_eq!(v["request_id"].as_str().unwrap().len(), 24);
        assert!(!v["errors"][0]["message"].as_str().unwrap().is_empty());
    }
    let many = format!(
        "[{}]",
        (0..1001)
            .map(|i| format!(r#"{{"cmd":"add","fields":{{"id":"{i}"}}}}"#))
            .collect::<Vec<_>>()
            .join(",")
    );
    assert_eq!(code(&s.push(&many).await.1), 3015);
    let big_doc = format!(
        r#"[{{"cmd":"add","fields":{{"id":"1","title":"{}"}}}}]"#,
        "x".repeat(1024 * 1024 + 1)
    );
    assert_eq!(code(&s.push(&big_doc).await.1), 3002);
    assert_eq!(s.documents().await, 0, "no failed batch changed anything");

    // Over 2 MB: refused before reading the body, with or without a Content-Length.
    let huge = vec![b' '; 2 * 1024 * 1024 + 1];
    let resp = s
        .signed("/v3/openapi/apps/shop/main/actions/bulk", &huge, &s.key.1)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code(&resp.json().await.unwrap()), 3008);
    assert_eq!(chunked_push_status(&s.base, &huge).await, 413);
}

/// Sends `body` with `Transfer-Encoding: chunked` (no Content-Length) and returns the status.
async fn chunked_push_status(base: &str, body: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = "POST /v3/openapi/apps/shop/main/actions/bulk HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    conn.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(64 * 1024) {
        // The server may answer and close early; later writes failing is expected then.
        if conn
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .is_err()
            || conn.write_all(chunk).await.is_err()
            || conn.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = conn.write_all(b"0\r\n\r\n").await;
    let mut response = Vec::new();
    let _ = conn.read_to_end(&mut response).await;
    String::from_utf8_lossy(&response)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn signatures_are_checked_before_anything_happens() {
    let s = start().await;
    let path = "/v3/openapi/apps/shop/main/actions/bulk";
    let body = br#"[{"cmd":"add","fields":{"id":"1"}}]"#;
    let resp = s
        .http
        .post(format!("{}{path}", s.base))
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(code(&resp.json().await.unwrap()), 4002);
    let resp = s.signed(path, body, "wrong-secret").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(code(&resp.json().await.unwrap()), 4003);
    // A stale Date.
    let old = time::OffsetDateTime::now_utc() - time::Duration::minutes(16);
    let mut req = s.http.post(format!("{}{path}", s.base)).body(body.to_vec());
    for (k, v) in pier_auth::sign_request(&s.key.0, &s.key.1, "POST", path, &[], body, old) {
        req = req.header(k, v);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(code(&resp.json().await.unwrap()), 4010);
    // A replayed request.
    let headers = pier_auth::sign_request(
        &s.key.0,
        &s.key.1,
        "POST",
        path,
        &[],
        body,
        time::OffsetDateTime::now_utc(),
    );
    let send = || {
        let mut req = s.http.post(format!("{}{path}", s.base)).body(body.to_vec());
        for (k, v) in &headers {
            req = req.header(k, v);
        }
        req.send()
    };
    assert_eq!(send().await.unwrap().status(), StatusCode::OK);
    let resp = send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(code(&resp.json().await.unwrap()), 4005);

    // The admin API wants credentials too.
    let resp = s
        .http
        .get(format!("{}/api/v1/apps", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = s
        .http
        .get(format!("{}/api/v1/apps", s.base))
        .basic_auth(&s.key.0, Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn admin_api_manages_apps_and_keys() {
    let s = start().await;
    let (status, v) = s.admin(reqwest::Method::GET, "/api/v1/apps", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["apps"].as_array().unwrap().len(), 2);
    let (status, v) = s
        .admin(
            reqwest::Method::POST,
            "/api/v1/apps",
            Some(json!({"name": "shop", "schema": {}})),
        )
        .await;
    assert_eq!(
        (status, code(&v)),
        (StatusCode::BAD_REQUEST, 2004),
        "schema checked first: {v}"
    );
    let schema: Value = serde_json::from_str(SCHEMA).unwrap();
    let (status, v) = s
        .admin(
            reqwest::Method::POST,
            "/api/v1/apps",
            Some(json!({"name": "shop", "schema": schema})),
        )
        .await;
    assert_eq!((status, code(&v)), (StatusCode::CONFLICT, 2005));
    let (status, v) = s
        .admin(
            reqwest::Method::POST,
            "/api/v1/apps",
            Some(json!({"name": "bad-name!", "schema": schema})),
        )
        .await;
    assert_eq!((status, code(&v)), (StatusCode::BAD_REQUEST, 2004));
    let mut reserved = schema.clone();
    reserved["tables"]["main"]["fields"]["summary"] = json!({"type": "TEXT"});
    let (_, v) = s
        .admin(
            reqwest::Method::POST,
            "/api/v1/apps",
            Some(json!({"name": "x", "schema": reserved})),
        )
        .await;
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("reserved"),
        "{v}"
    );

    let (status, v) = s
        .admin(reqwest::Method::GET, "/api/v1/apps/shop", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["schema"]["indexes"]["filterFields"], json!(["n", "tags"]));
    assert_eq!(
        s.admin(reqwest::Method::DELETE, "/api/v1/apps/basic", None)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        s.admin(reqwest::Method::GET, "/api/v1/apps/basic", None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    let (status, k) = s
        .admin(
            reqwest::Method::POST,
            "/api/v1/keys",
            Some(json!({"description": "ci"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (id, secret) = (k["id"].as_str().unwrap(), k["secret"].as_str().unwrap());
    let with_new = s
        .http
        .get(format!("{}/api/v1/apps", s.base))
        .basic_auth(id, Some(secret))
        .send()
        .await
        .unwrap();
    assert_eq!(with_new.status(), StatusCode::OK);
    assert_eq!(
        s.admin(reqwest::Method::DELETE, &format!("/api/v1/keys/{id}"), None)
            .await
            .0,
        StatusCode::OK
    );
    let revoked = s
        .http
        .get(format!("{}/api/v1/apps", s.base))
        .basic_auth(id, Some(secret))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn quota_refusals_are_retryable_429s() {
    let s = start().await;
    let schema: Value = serde_json::from_str(SCHEMA).unwrap();
    let (status, _) = s
        .admin(
            reqwest::Method::POST,
            "/api/v1/apps",
            Some(json!({"name": "slow", "schema": schema, "quota": {"push_requests_per_sec": 1}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let body = r#"[{"cmd":"add","fields":{"id":"1"}}]"#;
    assert_eq!(s.push_to("slow", "main", body).await.0, StatusCode::OK);
    let (status, v, headers) = s.push_to("slow", "main", body).await;
    assert_eq!((status, code(&v)), (StatusCode::TOO_MANY_REQUESTS, 3013));
    assert_eq!(headers["retry-after"], "1");
}
