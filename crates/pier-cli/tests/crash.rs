//! Crash safety of the push pipeline: the real `pier` binary is SIGKILLed again and again while
//! concurrent clients push signed batches with out-of-order timestamps. After the last restart,
//! every acknowledged operation must be reflected, the value of each key must be its newest
//! operation's, and nothing may be applied twice.

use rand::Rng;
use rand::seq::SliceRandom;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KEYS: usize = 40;
const ROUNDS: usize = 6;
const PUSHERS: usize = 4;

/// One operation a client sent: its key, timestamp, and whether it deletes.
#[derive(Clone, Copy, Debug)]
struct Op {
    key: usize,
    ts: u64,
    delete: bool,
}

#[derive(Default)]
struct Ledger {
    /// Acknowledged with 200: must be reflected.
    acked: Vec<Op>,
    /// Sent without an answer (the server died): may or may not be reflected.
    maybe: Vec<Op>,
    used_ts: HashSet<u64>,
}

struct Pier {
    child: Child,
    base: String,
}

impl Drop for Pier {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &std::path::Path, port: u16) -> Pier {
    let child = Command::new(env!("CARGO_BIN_EXE_pier"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--commit-interval-ms",
            "50",
        ])
        .arg("--data-dir")
        .arg(dir)
        .env("PIER_LOG", "warn")
        .spawn()
        .expect("pier starts");
    Pier {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

async fn wait_ready(http: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("{base}/ready")).send().await
            && r.status() == 200
        {
            return;
        }
        assert!(Instant::now() < deadline, "pier not ready within 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn signed_push(
    http: &reqwest::Client,
    base: &str,
    key: &(String, String),
    body: Vec<u8>,
) -> reqwest::RequestBuilder {
    let path = "/v3/openapi/apps/crash/main/actions/bulk";
    let headers = pier_auth::sign_request(
        &key.0,
        &key.1,
        "POST",
        path,
        &[],
        &body,
        time::OffsetDateTime::now_utc(),
    );
    let mut req = http.post(format!("{base}{path}")).body(body);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    req
}

/// Keeps pushing random batches until the server dies, recording what was acknowledged.
async fn pusher(
    http: reqwest::Client,
    base: String,
    key: (String, String),
    ledger: Arc<Mutex<Ledger>>,
) {
    loop {
        let ops: Vec<Op> = {
            let mut rng = rand::rng();
            let mut l = ledger.lock().unwrap();
            let mut ops: Vec<Op> = (0..rng.random_range(1..30))
                .map(|_| {
                    let ts = loop {
                        let ts = rng.random_range(1..1_000_000_000u64);
                        if l.used_ts.insert(ts) {
                            break ts;
                        }
                    };
                    Op {
                        key: rng.random_range(0..KEYS),
                        ts,
                        delete: rng.random_bool(0.2),
                    }
                })
                .collect();
            ops.shuffle(&mut rng);
            ops
        };
        let body: Vec<Value> = ops
            .iter()
            .map(|o| {
                let cmd = if o.delete { "delete" } else { "add" };
                json!({"cmd": cmd, "timestamp": o.ts, "fields": {"id": format!("k{}", o.key), "v": o.ts, "text": "crash test 文档"}})
            })
            .collect();
        let result = signed_push(&http, &base, &key, serde_json::to_vec(&body).unwrap())
            .send()
            .await;
        let mut l = ledger.lock().unwrap();
        match result {
            Ok(r) if r.status() == 200 => l.acked.extend(ops),
            Ok(r) => panic!("unexpected refusal {}", r.status()),
            Err(_) => {
                l.maybe.extend(ops);
                return;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_pushes_loses_nothing_and_applies_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let key = pier_engine::KeyStore::open(dir.path())
        .unwrap()
        .create(None)
        .unwrap();
    let key = (key.id, key.secret);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let schema = json!({"tables": {"main": {"fields": {"id": {"type": "LITERAL", "primaryKey": true}, "v": {"type": "INT"}, "text": {"type": "TEXT"}}}},
        "indexes": {"searchFields": {"default": {"fields": ["text"]}}, "filterFields": ["v"]}});
    let mut bad_pushes = 0;

    for round in 0..ROUNDS {
        // A fresh client per server: pooled connections to the killed one are dead.
        let http = reqwest::Client::new();
        let pier = start(dir.path(), port);
        wait_ready(&http, &pier.base).await;
        if round == 0 {
            let r = http
                .post(format!("{}/api/v1/apps", pier.base))
                .basic_auth(&key.0, Some(&key.1))
                .json(&json!({"name": "crash", "type": "advanced", "schema": schema}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
        }
        // One acknowledged push per round with a document that fails processing: its error
        // must be recorded exactly once however often the log is replayed.
        let bad =
            json!([{"cmd": "add", "fields": {"id": format!("bad{round}"), "v": "not a number"}}]);
        let r = signed_push(&http, &pier.base, &key, serde_json::to_vec(&bad).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        bad_pushes += 1;

        let tasks: Vec<_> = (0..PUSHERS)
            .map(|_| {
                tokio::spawn(pusher(
                    http.clone(),
                    pier.base.clone(),
                    key.clone(),
                    ledger.clone(),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(rand::rng().random_range(300..900))).await;
        drop(pier); // SIGKILL
        for t in tasks {
            t.await.unwrap();
        }
    }

    let http = reqwest::Client::new();
    let pier = start(dir.path(), port);
    wait_ready(&http, &pier.base).await;
    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    assert!(
        ledger.acked.len() > 200,
        "the test pushed too little to mean anything ({} acked ops)",
        ledger.acked.len()
    );
    let get = |path: String| {
        let req = http
            .get(format!("{}{path}", pier.base))
            .basic_auth(&key.0, Some(&key.1));
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };

    let mut present = 0;
    for k in 0..KEYS {
        let newest_acked = ledger
            .acked
            .iter()
            .filter(|o| o.key == k)
            .map(|o| o.ts)
            .max();
        let candidates: HashMap<u64, Op> = ledger
            .acked
            .iter()
            .chain(&ledger.maybe)
            .filter(|o| o.key == k)
            .map(|o| (o.ts, *o))
            .collect();
        let (status, doc) = get(format!("/api/v1/apps/crash/main/docs/k{k}")).await;
        match status {
            200 => {
                present += 1;
                let v = doc["fields"]["v"].as_u64().unwrap();
                let op = candidates
                    .get(&v)
                    .unwrap_or_else(|| panic!("k{k} holds v={v}, which no client sent"));
                assert!(!op.delete, "k{k} holds the value of a delete?");
                assert!(
                    newest_acked.is_none_or(|n| v >= n),
                    "k{k}: v={v} is older than acknowledged ts {newest_acked:?}"
                );
                // No newer *acknowledged* operation may be missing.
                assert!(
                    ledger
                        .acked
                        .iter()
                        .filter(|o| o.key == k)
                        .all(|o| o.ts <= v),
                    "k{k}: a newer acked op was lost"
                );
            }
            404 => {
                let newest_delete = candidates.values().filter(|o| o.delete).map(|o| o.ts).max();
                match (newest_acked, newest_delete) {
                    (None, _) => {}
                    (Some(n), Some(d)) => assert!(
                        d >= n,
                        "k{k} is gone, but its newest acked op (ts {n}) is newer than any delete ({d})"
                    ),
                    (Some(n), None) => {
                        panic!("k{k} is missing although an add (ts {n}) was acknowledged")
                    }
                }
            }
            s => panic!("unexpected status {s} for k{k}"),
        }
    }
    let (_, app) = get("/api/v1/apps/crash".into()).await;
    assert_eq!(
        app["tables"][0]["documents"].as_u64().unwrap(),
        present,
        "a key is indexed twice (duplicates)"
    );
    let (_, errors) = get("/api/v1/apps/crash/errors?code=7302".into()).await;
    assert_eq!(
        errors["total"].as_u64().unwrap(),
        bad_pushes,
        "a processing error was recorded twice or lost"
    );
    eprintln!(
        "acked ops: {}, unanswered: {}, keys present: {present}",
        ledger.acked.len(),
        ledger.maybe.len()
    );
}
