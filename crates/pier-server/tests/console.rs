//! The web console over real HTTP on loopback: nothing but the login page without a session,
//! the session cookie's attributes, logout and revocation, escaping of user data, the errors
//! page's filters and pagination, request and schema pages, and search with highlighting.

use pier_engine::{Engine, EngineConfig};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const SCHEMA: &str = r#"{"tables": {"main": {"primaryTable": true, "fields": {
    "id": {"type": "LITERAL", "primaryKey": true}, "title": {"type": "TEXT"}, "n": {"type": "INT"}}}},
    "indexes": {"searchFields": {"default": {"fields": ["title"], "analyzer": "en_standard"}}, "filterFields": ["n"]}}"#;

struct Server {
    base: String,
    key: (String, String),
    engine: Arc<Engine>,
    /// Never follows redirects: the tests look at them.
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::new(dir.path());
    config.commit_interval = Duration::from_millis(20);
    let engine = Arc::new(Engine::open(config).unwrap());
    let key = engine.keys().create(None).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(pier_server::serve(
        listener,
        engine.clone(),
        std::future::pending(),
    ));
    let s = Server {
        base,
        key: (key.id, key.secret),
        engine,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        _dir: dir,
    };
    let resp = s
        .http
        .post(format!("{}/api/v1/apps", s.base))
        .basic_auth(&s.key.0, Some(&s.key.1))
        .json(&json!({"name": "shop", "type": "advanced", "schema": serde_json::from_str::<Value>(SCHEMA).unwrap()}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    s
}

impl Server {
    /// Pushes and waits until the documents are processed and visible; returns the request id.
    async fn push(&self, docs: &Value) -> String {
        let path = "/v3/openapi/apps/shop/main/actions/bulk";
        let body = docs.to_string();
        let headers = pier_auth::sign_request(
            &self.key.0,
            &self.key.1,
            "POST",
            path,
            &[],
            body.as_bytes(),
            time::OffsetDateTime::now_utc(),
        );
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("X-Pier-Wait", "visible")
            .body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let v: Value = resp.json().await.unwrap();
        v["request_id"].as_str().unwrap().to_string()
    }

    /// Logs in; returns the `Cookie` header value for the session.
    async fn login(&self) -> String {
        let resp = self
            .http
            .post(format!("{}/login", self.base))
            .form(&[
                ("key_id", self.key.0.as_str()),
                ("secret", self.key.1.as_str()),
                ("next", "/"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        session_cookie(resp.headers()).expect("a session cookie")
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> (StatusCode, HeaderMap, String) {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(c) = cookie {
            req = req.header("Cookie", c);
        }
        let resp = req.send().await.unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        (status, headers, resp.text().await.unwrap())
    }

    /// A console page that must answer 200 for a logged-in browser.
    async fn page(&self, path: &str, cookie: &str) -> String {
        let (status, _, body) = self.get(path, Some(cookie)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }
}

/// `pier_session=<token>` from a Set-Cookie header.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("pier_session="))
        .map(|v| v.split(';').next().unwrap().to_string())
}

fn location(headers: &HeaderMap) -> &str {
    headers.get(LOCATION).unwrap().to_str().unwrap()
}

#[tokio::test]
async fn without_a_session_every_page_redirects_to_login_and_shows_nothing() {
    let s = start().await;
    s.push(&json!([{"cmd": "add", "fields": {"id": "1", "n": "x"}}]))
        .await;
    for path in [
        "/",
        "/apps/shop",
        "/apps/shop/errors?code=7302",
        "/apps/shop/search?q=query%3Ddefault%3A%27a%27",
        "/apps/shop/tables/main",
        "/apps/nope",
        "/requests/123",
    ] {
        let (status, headers, body) = s.get(path, None).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
        let next: String = form_urlencoded::byte_serialize(path.as_bytes()).collect();
        assert_eq!(location(&headers), format!("/login?next={next}"));
        assert!(!body.contains("shop"), "{path}: {body}");
        // A forged or stale cookie is no better than none.
        let (status, _, _) = s.get(path, Some("pier_session=00ff")).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
    }
    let (status, _, body) = s.get("/login?next=%2Fapps%2Fshop", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(r#"<label for="key_id">"#) && body.contains(r#"<label for="secret">"#));
    assert!(body.contains(r#"name="next" value="/apps/shop""#));
    // Only the path asked for is echoed; nothing about the app itself.
    let (_, _, body) = s.get("/login", None).await;
    assert!(!body.contains("shop") && !body.contains("7302"), "{body}");
    // The APIs beside the console still answer as before.
    let (status, _, body) = s.get("/health", None).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, r#"{"status":"ok"}"#)
    );
    let (status, _, _) = s.get("/api/v1/apps", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn login_sets_a_strict_http_only_cookie_and_logout_or_revocation_ends_it() {
    let s = start().await;
    // A wrong secret and an unknown id get the same answer, and no cookie.
    for (id, secret) in [(s.key.0.as_str(), "wrong"), ("PIERNOSUCHKEY", "x")] {
        let resp = s
            .http
            .post(format!("{}/login", s.base))
            .form(&[("key_id", id), ("secret", secret)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert!(session_cookie(resp.headers()).is_none());
        let body = resp.text().await.unwrap();
        assert!(body.contains("do not match an active key"), "{body}");
    }
    let resp = s
        .http
        .post(format!("{}/login", s.base))
        .form(&[
            ("key_id", s.key.0.as_str()),
            ("secret", s.key.1.as_str()),
            ("next", "/apps/shop/errors?code=7302"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(resp.headers()), "/apps/shop/errors?code=7302");
    let set = resp.headers().get(SET_COOKIE).unwrap().to_str().unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set.contains(attr), "{attr} missing from {set}");
    }
    let token = session_cookie(resp.headers()).unwrap();
    assert_eq!(token.len(), "pier_session=".len() + 64);

    let (_, headers, body) = s.get("/", Some(&token)).await;
    assert!(body.contains(r#"<a href="/apps/shop">shop</a>"#), "{body}");
    assert!(body.contains(&s.key.0));
    let csp = headers
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");

    // After login, a `next` that points elsewhere lands on the overview instead.
    let resp = s
        .http
        .post(format!("{}/login", s.base))
        .form(&[
            ("key_id", s.key.0.as_str()),
            ("secret", s.key.1.as_str()),
            ("next", "//evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(resp.headers()), "/");
    let second = session_cookie(resp.headers()).unwrap();

    let resp = s
        .http
        .post(format!("{}/logout", s.base))
        .header("Cookie", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(resp.headers()), "/login");
    let cleared = resp.headers().get(SET_COOKIE).unwrap().to_str().unwrap();
    assert!(cleared.starts_with("pier_session=;"), "{cleared}");
    let (status, _, _) = s.get("/", Some(&token)).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the session ended on logout");

    // Revoking the key ends its other sessions too.
    s.page("/", &second).await;
    assert!(s.engine.keys().revoke(&s.key.0).unwrap());
    let (status, _, _) = s.get("/", Some(&second)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn errors_page_filters_paginates_and_links_each_error_to_its_request() {
    let s = start().await;
    let cookie = s.login().await;
    // 120 documents with a string in the INT field (7302), 5 with an array there (7303: ...),
    // one good one, and one bad one whose key is markup.
    let mut docs: Vec<Value> = (0..120)
        .map(|i| json!({"cmd": "add", "fields": {"id": format!("k{i:03}"), "n": "abc"}}))
        .collect();
    docs.push(json!({"cmd": "add", "fields": {"id": "good", "n": 1}}));
    docs.push(json!({"cmd": "add", "fields": {"id": "<script>alert(1)</script>", "n": "x"}}));
    let request_id = s.push(&Value::Array(docs)).await;

    let body = s.page("/apps/shop/errors", &cookie).await;
    assert!(body.contains("Errors 1–50 of 121, newest first."), "{body}");
    assert_eq!(body.matches("<tr>").count(), 51, "header row and 50 errors");
    assert!(body.contains(&format!(
        r#"<a href="/requests/{request_id}">{request_id}</a>"#
    )));
    assert!(body.contains(r#"rel="next" href="/apps/shop/errors?offset=50&amp;limit=50""#));
    assert!(!body.contains(r#"rel="prev""#));

    let last = s
        .page("/apps/shop/errors?offset=100&limit=50", &cookie)
        .await;
    assert!(last.contains("Errors 101–121 of 121"), "{last}");
    // The markup key (the batch's last document, so the last error) is text, never markup.
    assert!(last.contains("<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>"));
    assert!(!last.contains("<script>alert"));
    assert!(last.contains(r#"rel="prev" href="/apps/shop/errors?offset=50&amp;limit=50""#));
    assert!(!last.contains(r#"rel="next""#));

    let past = s.page("/apps/shop/errors?offset=500", &cookie).await;
    assert!(
        past.contains("121 errors match; this page is past the last one."),
        "{past}"
    );
    assert!(past.contains(r#"rel="prev""#));

    let by_pk = s.page("/apps/shop/errors?pk=k007&code=", &cookie).await;
    assert!(by_pk.contains("Errors 1–1 of 1"), "{by_pk}");
    assert!(by_pk.contains("<code>k007</code>"));
    let by_code = s
        .page("/apps/shop/errors?code=7302&limit=20", &cookie)
        .await;
    assert!(by_code.contains("Errors 1–20 of 121"), "{by_code}");
    assert!(by_code.contains(r#"href="/apps/shop/errors?code=7302&amp;offset=20&amp;limit=20""#));
    let by_table = s
        .page("/apps/shop/errors?table=main&code=7302", &cookie)
        .await;
    assert!(by_table.contains("Errors 1–50 of 121"), "{by_table}");
    assert!(by_table.contains(r#"<option value="main" selected>main</option>"#));
    let none = s.page("/apps/shop/errors?code=7111", &cookie).await;
    assert!(none.contains("No processing errors match."));
    let typo = s.page("/apps/shop/errors?code=73x2", &cookie).await;
    assert!(typo.contains("must be a number"), "{typo}");

    let request = s.page(&format!("/requests/{request_id}"), &cookie).await;
    assert!(
        request.contains("processed: applied and visible to searches"),
        "{request}"
    );
    assert!(
        request.contains("<dt>Documents</dt><dd>122</dd>"),
        "{request}"
    );
    assert!(
        request.contains("<dt>Applied without error</dt><dd>1</dd>"),
        "{request}"
    );
    assert!(request.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    let (status, _, body) = s.get("/requests/999", Some(&cookie)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("is unknown"));
}

#[tokio::test]
async fn search_highlights_matches_and_escapes_the_document() {
    let s = start().await;
    let cookie = s.login().await;
    s.push(&json!([
        {"cmd": "add", "fields": {"id": "1", "title": "pier <b>keeps</b> searching", "n": 5}},
        {"cmd": "add", "fields": {"id": "2", "title": "nothing here", "n": 6}},
    ]))
    .await;
    let q: String =
        form_urlencoded::byte_serialize(b"query=default:'pier'&&config=hit:5").collect();
    let body = s.page(&format!("/apps/shop/search?q={q}"), &cookie).await;
    assert!(body.contains("1 documents match; showing 1"), "{body}");
    assert!(
        body.contains("<em>pier</em> &lt;b&gt;keeps&lt;/b&gt; searching"),
        "{body}"
    );
    assert!(!body.contains("<b>keeps"));
    // The query is echoed in its labelled input, escaped.
    assert!(body.contains(r#"<label for="q">"#));
    assert!(body.contains("value=\"query=default:'pier'&amp;&amp;config=hit:5\""));

    let bad: String = form_urlencoded::byte_serialize(b"query=nosuchindex:'x'").collect();
    let body = s.page(&format!("/apps/shop/search?q={bad}"), &cookie).await;
    assert!(
        body.contains(r#"role="alert""#) && body.contains("Error 6"),
        "{body}"
    );

    let schema = s.page("/apps/shop/tables/main", &cookie).await;
    assert!(schema.contains("<code>title</code>") && schema.contains("TEXT"));
    assert!(schema.contains("en_standard"));
    // The overview counts the documents; its charts need a sampler round first (15 s), so a
    // fresh server says so instead of drawing a line from one point.
    let overview = s.page("/", &cookie).await;
    assert!(overview.contains(r#"<td class="num">2</td>"#), "{overview}");
    assert!(overview.contains("collecting…"));
}
