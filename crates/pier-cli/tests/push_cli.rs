//! `pier push` end to end: the real binary against a real server, for JSON Lines, JSON array
//! and CSV files, bad documents, a fault-injecting proxy (429s and dropped connections),
//! `--dry-run`, and pushes to a Vector Search Edition table (`--vse-table`).

use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::process::{Child, Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Pier {
    child: Child,
    base: String,
    key: (String, String),
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Drop for Pier {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts a server with one app `t` (table `main`: id LITERAL primary key, n INT, title TEXT).
async fn start() -> Pier {
    let dir = tempfile::tempdir().unwrap();
    let key = pier_engine::KeyStore::open(dir.path())
        .unwrap()
        .create(None)
        .unwrap();
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_pier"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--commit-interval-ms",
            "50",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .env("PIER_LOG", "warn")
        .spawn()
        .expect("pier starts");
    let pier = Pier {
        child,
        base: format!("http://127.0.0.1:{port}"),
        key: (key.id, key.secret),
        http: reqwest::Client::new(),
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = pier.http.get(format!("{}/ready", pier.base)).send().await
            && r.status() == 200
        {
            break;
        }
        assert!(Instant::now() < deadline, "pier not ready within 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let schema = json!({"tables": {"main": {"fields": {"id": {"type": "LITERAL", "primaryKey": true}, "n": {"type": "INT"}, "title": {"type": "TEXT"}}}},
        "indexes": {"searchFields": {"default": {"fields": ["title"]}}, "filterFields": ["n"]}});
    let r = pier
        .http
        .post(format!("{}/api/v1/apps", pier.base))
        .basic_auth(&pier.key.0, Some(&pier.key.1))
        .json(&json!({"name": "t", "type": "advanced", "schema": schema}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    pier
}

impl Pier {
    /// Runs `pier push FILE --app t --table main ARGS` against `endpoint`.
    async fn push(&self, endpoint: &str, file: &std::path::Path, args: &[&str]) -> Output {
        let mut all = vec!["--app", "t", "--table", "main"];
        all.extend_from_slice(args);
        self.run_push(endpoint, file, &all).await
    }

    /// Runs `pier push FILE ARGS` against `endpoint`.
    async fn run_push(&self, endpoint: &str, file: &std::path::Path, args: &[&str]) -> Output {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_pier"))
            .arg("push")
            .arg(file)
            .args(["--endpoint", endpoint])
            .args(args)
            .env("PIER_ACCESS_KEY_ID", &self.key.0)
            .env("PIER_ACCESS_KEY_SECRET", &self.key.1)
            .output()
            .await
            .unwrap();
        eprintln!(
            "pier push {args:?}: {}\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    async fn doc(&self, pk: &str) -> Option<Value> {
        let r = self
            .http
            .get(format!("{}/api/v1/apps/t/main/docs/{pk}", self.base))
            .basic_auth(&self.key.0, Some(&self.key.1))
            .send()
            .await
            .unwrap();
        if r.status() == 404 {
            return None;
        }
        assert_eq!(r.status(), 200);
        Some(r.json::<Value>().await.unwrap()["fields"].clone())
    }

    async fn count(&self) -> u64 {
        let r: Value = self
            .http
            .get(format!("{}/api/v1/apps/t", self.base))
            .basic_auth(&self.key.0, Some(&self.key.1))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["tables"][0]["documents"].as_u64().unwrap()
    }
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jsonl_json_array_and_csv_files_arrive_complete() {
    let pier = start().await;
    let dir = tempfile::tempdir().unwrap();
    // JSON Lines over two batches (1000 documents each at most).
    let jsonl: String = (0..1500)
        .map(|i| json!({"id": format!("j{i}"), "n": i, "title": "json lines"}).to_string() + "\n")
        .collect();
    let jsonl = write(&dir, "docs.jsonl", &jsonl);
    // A JSON array mixing plain documents and push commands, with no extension hint.
    let array: Vec<Value> = (0..50)
        .map(|i| {
            if i % 2 == 0 {
                json!({"id": format!("a{i}"), "n": i})
            } else {
                json!({"cmd": "add", "fields": {"id": format!("a{i}"), "n": i}})
            }
        })
        .collect();
    let array = write(
        &dir,
        "docs.data",
        &serde_json::to_string_pretty(&array).unwrap(),
    );
    // CSV: values are strings (INT converted by the server), quotes, commas and newlines.
    let mut csv = String::from("id,n,title\r\n");
    for i in 0..20 {
        csv.push_str(&format!("c{i},{i},\"title, \"\"{i}\"\"\nsecond line\"\r\n"));
    }
    let csv = write(&dir, "docs.csv", &csv);

    for file in [&jsonl, &array, &csv] {
        let out = pier.push(&pier.base, file, &["--wait"]).await;
        assert_eq!(out.status.code(), Some(0));
    }
    assert_eq!(pier.count().await, 1570);
    for pk in ["j0", "j999", "j1000", "j1499", "a0", "a49"] {
        assert!(pier.doc(pk).await.is_some(), "{pk} is missing");
    }
    let c7 = pier.doc("c7").await.expect("c7");
    assert_eq!(c7["n"], json!(7));
    assert_eq!(c7["title"], json!("title, \"7\"\nsecond line"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_documents_exit_1_and_are_listed_in_the_failures_file() {
    let pier = start().await;
    let dir = tempfile::tempdir().unwrap();
    let text = [
        json!({"id": "ok1", "n": 1}).to_string(),
        json!({"n": 2}).to_string(), // no primary key: 3009, refused locally
        "{not json".to_string(),     // 4007
        json!({"id": "badtype", "n": "abc"}).to_string(), // 7302 in processing
        json!({"id": "ok2", "n": 3}).to_string(),
    ]
    .join("\n");
    let file = write(&dir, "bad.jsonl", &text);
    let failures = dir.path().join("failures.jsonl");
    let out = pier
        .push(
            &pier.base,
            &file,
            &["--wait", "--failures", failures.to_str().unwrap()],
        )
        .await;
    assert_eq!(out.status.code(), Some(1));
    let listed: Vec<Value> = std::fs::read_to_string(&failures)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(listed.len(), 3, "{listed:?}");
    let by_code: HashMap<u64, &Value> = listed
        .iter()
        .map(|f| (f["code"].as_u64().unwrap(), f))
        .collect();
    assert_eq!(by_code[&3009]["at"], "line 2");
    assert_eq!(by_code[&4007]["at"], "line 3");
    assert_eq!(by_code[&7302]["pk"], "badtype");
    assert_eq!(by_code[&7302]["stage"], "processing");
    assert!(pier.doc("ok1").await.is_some());
    assert!(pier.doc("ok2").await.is_some());
    assert!(pier.doc("badtype").await.is_none());
}

/// What the proxy does to the next bulk push.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Answer 429 with this code and `Retry-After: 0`, without forwarding.
    Refuse(u32),
    /// Read the request, then close the connection without an answer.
    Drop,
}

/// A one-request-per-connection HTTP proxy in front of the server that injects faults into
/// bulk pushes and records the primary keys of every push the server acknowledged.
struct Proxy {
    base: String,
    bulk_requests: Arc<AtomicUsize>,
    acked: Arc<Mutex<Vec<String>>>,
}

async fn proxy(upstream: String, faults: Vec<Fault>) -> Proxy {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let bulk_requests = Arc::new(AtomicUsize::new(0));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let faults = Arc::new(Mutex::new(VecDeque::from(faults)));
    let http = reqwest::Client::new();
    {
        let (bulk_requests, acked) = (bulk_requests.clone(), acked.clone());
        tokio::spawn(async move {
            loop {
                let (sock, _) = listener.accept().await.unwrap();
                let (upstream, http) = (upstream.clone(), http.clone());
                let (bulk_requests, acked, faults) =
                    (bulk_requests.clone(), acked.clone(), faults.clone());
                tokio::spawn(async move {
                    let _ = serve_one(sock, upstream, http, bulk_requests, acked, faults).await;
                });
            }
        });
    }
    Proxy {
        base,
        bulk_requests,
        acked,
    }
}

async fn serve_one(
    mut sock: tokio::net::TcpStream,
    upstream: String,
    http: reqwest::Client,
    bulk_requests: Arc<AtomicUsize>,
    acked: Arc<Mutex<Vec<String>>>,
    faults: Arc<Mutex<VecDeque<Fault>>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut tmp = vec![0u8; 64 * 1024];
    let head_end = loop {
        let n = sock.read(&mut tmp).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap().split(' ');
    let method = request_line.next().unwrap().to_string();
    let path = request_line.next().unwrap().to_string();
    let mut headers = Vec::new();
    let mut len = 0;
    for l in lines.filter(|l| !l.is_empty()) {
        let (k, v) = l.split_once(':').unwrap();
        let (k, v) = (k.trim().to_string(), v.trim().to_string());
        if k.eq_ignore_ascii_case("content-length") {
            len = v.parse().unwrap();
        }
        headers.push((k, v));
    }
    while buf.len() < head_end + len {
        let n = sock.read(&mut tmp).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    let body = buf[head_end..head_end + len].to_vec();
    let bulk = path.ends_with("/actions/bulk");
    if bulk {
        bulk_requests.fetch_add(1, Ordering::SeqCst);
        let fault = faults.lock().unwrap().pop_front();
        match fault {
            Some(Fault::Drop) => return Ok(()),
            Some(Fault::Refuse(code)) => {
                let b = json!({"status": "FAIL", "request_id": "", "errors": [{"code": code, "message": "injected"}]}).to_string();
                let resp = format!(
                    "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
                    b.len()
                );
                sock.write_all(resp.as_bytes()).await?;
                return sock.shutdown().await;
            }
            None => {}
        }
    }
    let mut req = http.request(
        reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
        format!("{upstream}{path}"),
    );
    for (k, v) in &headers {
        if !["host", "content-length", "connection"].contains(&k.to_ascii_lowercase().as_str()) {
            req = req.header(k, v);
        }
    }
    let r = req.body(body.clone()).send().await.unwrap();
    let status = r.status();
    let answer = r.bytes().await.unwrap();
    if bulk && status == 200 {
        let docs: Vec<Value> = serde_json::from_slice(&body).unwrap();
        let mut a = acked.lock().unwrap();
        for d in docs {
            a.push(d["fields"]["id"].as_str().unwrap().to_string());
        }
    }
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("OK"),
        answer.len()
    );
    sock.write_all(head.as_bytes()).await?;
    sock.write_all(&answer).await?;
    sock.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_through_faults_deliver_every_document_exactly_once() {
    let pier = start().await;
    let faults = vec![
        Fault::Refuse(3007),
        Fault::Drop,
        Fault::Refuse(3013),
        Fault::Drop,
        Fault::Refuse(3007),
        Fault::Refuse(3014),
    ];
    let proxy = proxy(pier.base.clone(), faults).await;
    let dir = tempfile::tempdir().unwrap();
    let n = 2500;
    let text: String = (0..n)
        .map(|i| json!({"id": format!("k{i}"), "n": i}).to_string() + "\n")
        .collect();
    let file = write(&dir, "docs.jsonl", &text);
    let out = pier.push(&proxy.base, &file, &["--wait"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("6 retries"));
    let mut seen: HashMap<String, usize> = HashMap::new();
    for pk in proxy.acked.lock().unwrap().iter() {
        *seen.entry(pk.clone()).or_default() += 1;
    }
    assert_eq!(seen.len(), n);
    for i in 0..n {
        assert_eq!(seen.get(&format!("k{i}")), Some(&1), "k{i}");
    }
    assert_eq!(pier.count().await, n as u64);
    assert!(pier.doc("k0").await.is_some());
    assert!(pier.doc("k2499").await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_finds_type_errors_without_sending() {
    let pier = start().await;
    let proxy = proxy(pier.base.clone(), Vec::new()).await;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[{}, {}]",
        json!({"id": "good", "n": "12"}),
        json!({"id": "typo", "n": "twelve"})
    );
    let file = write(&dir, "docs.json", &text);
    let failures = dir.path().join("f.jsonl");
    let out = pier
        .push(
            &proxy.base,
            &file,
            &["--dry-run", "--failures", failures.to_str().unwrap()],
        )
        .await;
    assert_eq!(out.status.code(), Some(1));
    let listed: Value =
        serde_json::from_str(std::fs::read_to_string(&failures).unwrap().trim()).unwrap();
    assert_eq!(listed["pk"], "typo");
    assert_eq!(listed["code"], 7302);
    assert_eq!(listed["at"], "element 2");
    assert_eq!(proxy.bulk_requests.load(Ordering::SeqCst), 0);
    assert!(pier.doc("good").await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_exit_1_and_connection_errors_exit_2() {
    let pier = start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "docs.jsonl", &json!({"id": "x"}).to_string());
    // A refusal that cannot succeed on retry: not retried, reported with its code.
    let proxy = proxy(pier.base.clone(), vec![Fault::Refuse(3005)]).await;
    let out = pier.push(&proxy.base, &file, &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[3005]"));
    assert_eq!(proxy.bulk_requests.load(Ordering::SeqCst), 1);
    // Nothing listens there.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let out = pier.push(&closed, &file, &[]).await;
    assert_eq!(out.status.code(), Some(2));
}

impl Pier {
    /// Creates the Vector Search Edition table `vdocs` (id INT64 key, title, 4-dim vector).
    async fn create_vector_table(&self) {
        let r = self
            .http
            .post(format!("{}/api/v1/vector-tables", self.base))
            .basic_auth(&self.key.0, Some(&self.key.1))
            .json(&json!({"name": "vdocs", "primaryKey": "id",
                "fieldSchema": {"id": "INT64", "title": "STRING", "vector": "MULTI_FLOAT"},
                "vectorIndex": [{"indexName": "v", "vectorField": "vector", "dimension": "4",
                                 "distanceType": "SquaredEuclidean", "vectorIndexType": "HNSW"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }

    /// `POST /vector-service/{endpoint}` with Basic auth, as the vector SDK sends it.
    async fn vector_service(&self, endpoint: &str, body: &Value) -> Value {
        let r = self
            .http
            .post(format!("{}/vector-service/{endpoint}", self.base))
            .basic_auth(&self.key.0, Some(&self.key.1))
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// Waits until `vdocs` has `n` searchable documents.
    async fn wait_vector_docs(&self, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self
                .vector_service("stats", &json!({"tableName": "vdocs"}))
                .await;
            if v["result"]["totalDocCount"] == json!(n) {
                return;
            }
            assert!(Instant::now() < deadline, "still {v} after 30 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vector_search_edition_push_arrives_complete() {
    let pier = start().await;
    pier.create_vector_table().await;
    let dir = tempfile::tempdir().unwrap();
    let n = 300;
    let jsonl: String = (0..n)
        .map(|i| {
            let f = i as f64;
            json!({"id": i, "title": format!("doc {i}"), "vector": [f, f + 0.5, -f, 1.0]})
                .to_string()
                + "\n"
        })
        .collect();
    let file = write(&dir, "vectors.jsonl", &jsonl);
    // Named as the SDKs name it: {instance}_{table}.
    let out = pier
        .run_push(
            &pier.base,
            &file,
            &[
                "--vse-table",
                "ha-cn-local_vdocs",
                "--pk-field",
                "id",
                "--wait",
            ],
        )
        .await;
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("pushed {n} documents")),
        "{stdout}"
    );
    pier.wait_vector_docs(n).await;
    for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
        let ids: Vec<String> = chunk.iter().map(|i| i.to_string()).collect();
        let v = pier
            .vector_service(
                "fetch",
                &json!({"tableName": "vdocs", "ids": ids, "includeVector": true}),
            )
            .await;
        let result = v["result"].as_array().expect("fetch result");
        assert_eq!(result.len(), chunk.len(), "{v}");
    }
    let v = pier
        .vector_service("fetch", &json!({"tableName": "vdocs", "ids": ["7"]}))
        .await;
    assert_eq!(v["result"][0]["fields"]["title"], json!("doc 7"), "{v}");

    // A document without the primary key is refused locally (3009) and reported; the others
    // still arrive. A --pk-field that is not the table's key is a usage error.
    let bad = [
        json!({"id": 1000, "title": "fine", "vector": [0, 0, 0, 1]}).to_string(),
        json!({"title": "no key", "vector": [0, 0, 1, 0]}).to_string(),
    ]
    .join("\n");
    let bad = write(&dir, "bad.jsonl", &bad);
    // --dry-run checks against the table's schema (here also a vector of the wrong dimension)
    // and sends nothing.
    let dry = write(
        &dir,
        "dry.jsonl",
        &(std::fs::read_to_string(&bad).unwrap()
            + "\n"
            + &json!({"id": 1001, "vector": [1, 2, 3]}).to_string()),
    );
    let out = pier
        .run_push(&pier.base, &dry, &["--vse-table", "vdocs", "--dry-run"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("checked 3 documents against vector table vdocs: 1 valid, 2 invalid"),
        "{stdout}"
    );
    let failures = dir.path().join("failures.jsonl");
    let out = pier
        .run_push(
            &pier.base,
            &bad,
            &[
                "--vse-table",
                "vdocs",
                "--failures",
                failures.to_str().unwrap(),
            ],
        )
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 documents failed"));
    let lines: Vec<Value> = std::fs::read_to_string(&failures)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["code"], json!(3009));
    assert_eq!(lines[0]["at"], json!("line 2"));
    pier.wait_vector_docs(n + 1).await;

    let out = pier
        .run_push(
            &pier.base,
            &bad,
            &["--vse-table", "vdocs", "--pk-field", "title"],
        )
        .await;
    assert_eq!(out.status.code(), Some(2));
}
