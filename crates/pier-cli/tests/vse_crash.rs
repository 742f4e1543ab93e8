//! Crash safety of the vector index: the real `pier` binary is stopped again and again (SIGKILL,
//! and SIGTERM so the graphs are checkpointed in between) while clients push Vector Search Edition
//! batches with out-of-order timestamps. After the last restart every key's stored vector is its
//! newest acknowledged operation's, a search for that vector finds the key at distance 0, deleted
//! keys are not found, and the graphs hold exactly one vector per live document.

use rand::Rng;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KEYS: u64 = 60;
const ROUNDS: usize = 6;
const PUSHERS: usize = 3;

const TABLE: &str = r#"{"name": "crashvec", "primaryKey": "id",
  "fieldSchema": {"id": "INT64", "ts": "INT64", "vector": "MULTI_FLOAT"},
  "vectorIndex": [{"indexName": "v", "vectorField": "vector", "dimension": "3",
                   "distanceType": "SquaredEuclidean",
                   "advanceParams": {"linearBuildThreshold": 10}}]}"#;

#[derive(Clone, Copy, Debug)]
struct Op {
    key: u64,
    ts: u64,
    delete: bool,
}

#[derive(Default)]
struct Ledger {
    acked: Vec<Op>,
    maybe: Vec<Op>,
    used_ts: HashSet<u64>,
}

/// The vector of a key at a timestamp: unique per operation.
fn vector(key: u64, ts: u64) -> [f32; 3] {
    [key as f32, (ts / 1000) as f32, (ts % 1000) as f32]
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
            (0..rng.random_range(1..20))
                .map(|_| {
                    let ts = loop {
                        let ts = rng.random_range(1..1_000_000u64);
                        if l.used_ts.insert(ts) {
                            break ts;
                        }
                    };
                    Op {
                        key: rng.random_range(0..KEYS),
                        ts,
                        delete: rng.random_bool(0.15),
                    }
                })
                .collect()
        };
        let body: Vec<Value> = ops
            .iter()
            .map(|o| {
                if o.delete {
                    json!({"cmd": "delete", "timestamp": o.ts, "fields": {"id": o.key}})
                } else {
                    json!({"cmd": "add", "timestamp": o.ts,
                        "fields": {"id": o.key, "ts": o.ts, "vector": vector(o.key, o.ts)}})
                }
            })
            .collect();
        let result = http
            .post(format!("{base}/update/ha-cn-crash_crashvec/actions/bulk"))
            .basic_auth(&key.0, Some(&key.1))
            .header("X-Opensearch-Swift-PK-Field", "id")
            .json(&body)
            .send()
            .await;
        let mut l = ledger.lock().unwrap();
        match result {
            Ok(r) if r.status() == 200 => l.acked.extend(ops),
            Ok(r) if r.status() == 503 => {
                // Shutting down: refused, nothing stored.
                return;
            }
            Ok(r) => panic!("unexpected refusal {}", r.status()),
            Err(_) => {
                l.maybe.extend(ops);
                return;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stops_during_pushes_leave_the_vector_index_exact() {
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
    for round in 0..ROUNDS {
        let http = reqwest::Client::new();
        let mut pier = start(dir.path(), port);
        wait_ready(&http, &pier.base).await;
        if round == 0 {
            let r = http
                .post(format!("{}/api/v1/vector-tables", pier.base))
                .basic_auth(&key.0, Some(&key.1))
                .body(TABLE)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        }
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
        if round % 2 == 1 {
            // A clean stop checkpoints the graphs; the next crash replays from there.
            let pid = pier.child.id().to_string();
            Command::new("kill").args(["-TERM", &pid]).status().unwrap();
            let _ = pier.child.wait();
        }
        drop(pier);
        for t in tasks {
            t.await.unwrap();
        }
    }

    let http = reqwest::Client::new();
    let pier = start(dir.path(), port);
    wait_ready(&http, &pier.base).await;
    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    assert!(
        ledger.acked.len() > 100,
        "too few acked ops: {}",
        ledger.acked.len()
    );
    let post = |path: &str, body: Value| {
        let req = http
            .post(format!("{}{path}", pier.base))
            .basic_auth(&key.0, Some(&key.1))
            .json(&body);
        async move {
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    // Wait until replay has applied everything (stats count stops changing is not enough: wait
    // for the table's lag to reach 0).
    let deadline = Instant::now() + Duration::from_secs(60);
    let info = loop {
        let info: Value = http
            .get(format!("{}/api/v1/vector-tables/crashvec", pier.base))
            .basic_auth(&key.0, Some(&key.1))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if info["table"]["lag_batches"] == json!(0) {
            break info;
        }
        assert!(Instant::now() < deadline, "{info}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    let mut live = 0u64;
    for k in 0..KEYS {
        let candidates: HashMap<u64, Op> = ledger
            .acked
            .iter()
            .chain(&ledger.maybe)
            .filter(|o| o.key == k)
            .map(|o| (o.ts, *o))
            .collect();
        let newest_acked = ledger
            .acked
            .iter()
            .filter(|o| o.key == k)
            .max_by_key(|o| o.ts);
        let fetched = post(
            "/vector-service/fetch",
            json!({"tableName": "crashvec", "ids": [k.to_string()], "includeVector": true}),
        )
        .await;
        let hit = fetched["result"].as_array().unwrap().first().cloned();
        match hit {
            Some(h) => {
                live += 1;
                let ts = h["fields"]["ts"].as_u64().unwrap();
                let op = candidates
                    .get(&ts)
                    .unwrap_or_else(|| panic!("key {k} holds ts {ts}, which no client sent"));
                assert!(!op.delete);
                assert!(
                    newest_acked.is_none_or(|n| ts >= n.ts),
                    "key {k}: ts {ts} older than acknowledged {newest_acked:?}"
                );
                let v = vector(k, ts);
                let found = post(
                    "/vector-service/query",
                    json!({"tableName": "crashvec", "vector": v, "topK": 1}),
                )
                .await;
                assert_eq!(found["result"][0]["id"], json!(k), "{found}");
                assert_eq!(found["result"][0]["score"].as_f64(), Some(0.0), "{found}");
            }
            None => {
                // Absent: never acknowledged, or deleted by the newest acknowledged operation or
                // by a newer unacknowledged one. Unacknowledged operations may be lost, so a
                // newer unacknowledged add does not have to be there.
                if let Some(n) = newest_acked {
                    let deleted_later = ledger
                        .maybe
                        .iter()
                        .any(|o| o.key == k && o.delete && o.ts > n.ts);
                    assert!(
                        n.delete || deleted_later,
                        "key {k} is missing but its newest acknowledged operation {n:?} adds it"
                    );
                }
            }
        }
    }
    assert!(live > 0);
    assert_eq!(
        info["table"]["vectors"],
        json!(live),
        "one vector per live document, none applied twice: {info}"
    );
}
