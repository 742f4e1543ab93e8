//! The Vector Search Edition data plane over real HTTP on loopback: Basic auth, pushes (errors
//! in the push shape), query / fetch / multi-query / batch-query / stats against exact answers
//! computed here, filters, namespaces, updates and deletes, recall of the HNSW graph against
//! brute force, and the graphs surviving a restart.

use pier_engine::{Engine, EngineConfig};
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TABLE: &str = r#"{"name": "docs", "primaryKey": "id",
  "fieldSchema": {"id": "INT64", "cate_id": "INT32", "tags": "MULTI_STRING", "title": "STRING",
                  "body": "TEXT", "vector": "MULTI_FLOAT"},
  "vectorIndex": [{"indexName": "v", "vectorField": "vector", "dimension": "4",
                   "distanceType": "SquaredEuclidean", "vectorIndexType": "HNSW"}]}"#;

const NS_TABLE: &str = r#"{"name": "nsdocs", "primaryKey": "pk",
  "fieldSchema": {"pk": "STRING", "tenant": "STRING", "emb": "MULTI_FLOAT"},
  "vectorIndex": [{"indexName": "e", "vectorField": "emb", "dimension": "2",
                   "distanceType": "InnerProduct", "namespace": "tenant"}]}"#;

struct Server {
    base: String,
    key: (String, String),
    http: reqwest::Client,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

async fn start(dir: &Path) -> Server {
    let mut config = EngineConfig::new(dir);
    config.commit_interval = Duration::from_millis(20);
    let engine = Arc::new(Engine::open(config).unwrap());
    let key = match engine.keys().list().into_iter().next() {
        Some(k) => (k.id.clone(), engine.keys().secret_for(&k.id).unwrap()),
        None => {
            let k = engine.keys().create(None).unwrap();
            (k.id, k.secret)
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        pier_server::serve(listener, engine, async move {
            let _ = stop.await;
        })
        .await
        .unwrap();
    });
    Server {
        base,
        key,
        http: reqwest::Client::new(),
        shutdown,
        task,
    }
}

impl Server {
    async fn create_table(&self, schema: &str) {
        let resp = self
            .http
            .post(format!("{}/api/v1/vector-tables", self.base))
            .basic_auth(&self.key.0, Some(&self.key.1))
            .body(schema.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::CREATED,
            "{}",
            resp.text().await.unwrap()
        );
    }

    async fn push(&self, segment: &str, pk: &str, body: &Value) -> (StatusCode, String) {
        let resp = self
            .http
            .post(format!("{}/update/{segment}/actions/bulk", self.base))
            .basic_auth(&self.key.0, Some(&self.key.1))
            .header("X-Opensearch-Swift-PK-Field", pk)
            .header("X-Opensearch-Validate-Data", "true")
            .json(body)
            .send()
            .await
            .unwrap();
        (resp.status(), resp.text().await.unwrap())
    }

    async fn call(&self, endpoint: &str, body: &Value) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(format!("{}/vector-service/{endpoint}", self.base))
            .basic_auth(&self.key.0, Some(&self.key.1))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")),
        )
    }

    async fn ok(&self, endpoint: &str, body: &Value) -> Value {
        let (status, v) = self.call(endpoint, body).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert!(v.get("errorCode").is_none(), "{v}");
        v
    }

    /// Waits until `table` has `n` searchable documents.
    async fn wait_docs(&self, table: &str, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.ok("stats", &json!({"tableName": table})).await;
            if v["result"]["totalDocCount"] == json!(n) {
                return;
            }
            assert!(Instant::now() < deadline, "still {v} after 30 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops gracefully: the server finishes, the engine commits and checkpoints, and the
    /// data dir is free to open again.
    async fn stop(self) {
        drop(self.http);
        let _ = self.shutdown.send(());
        self.task.await.unwrap();
    }
}

fn ids(v: &Value) -> Vec<i64> {
    v["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_i64().unwrap())
        .collect()
}

fn l2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

fn random_vectors(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect())
        .collect()
}

/// Documents 0..n with cate_id = i % 3 and the given vectors.
fn docs(vectors: &[Vec<f32>]) -> Value {
    Value::Array(
        vectors
            .iter()
            .enumerate()
            .map(|(i, v)| {
                json!({"cmd": "add", "fields": {"id": i, "cate_id": i % 3, "title": format!("doc {i}"),
                    "body": if i % 10 == 0 { "rare apple orchard" } else { "common words only" },
                    "tags": ["all", if i % 2 == 0 { "even" } else { "odd" }], "vector": v}})
            })
            .collect(),
    )
}

#[tokio::test]
async fn basic_auth_is_required_on_every_path() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    s.create_table(TABLE).await;
    let url = format!("{}/vector-service/query", s.base);
    let body = json!({"tableName": "docs", "vector": [0, 0, 0, 0]});
    for auth in [None, Some("Basic None"), Some("Basic dXNlcjpwYXNz")] {
        let mut req = s.http.post(&url).json(&body);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["errorCode"], json!(4001), "{v}");
    }
    let resp = s
        .http
        .post(format!("{}/update/docs/actions/bulk", s.base))
        .basic_auth(&s.key.0, Some("wrong"))
        .header("X-Opensearch-Swift-PK-Field", "id")
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v[0]["code"], json!(4001), "push errors are an array: {v}");
    let resp = s
        .http
        .get(format!("{}/network/active", s.base))
        .basic_auth(&s.key.0, Some(&s.key.1))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    s.stop().await;
}

#[tokio::test]
async fn push_errors_use_the_push_shape() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    s.create_table(TABLE).await;
    let doc = json!([{"cmd": "add", "fields": {"id": 1, "vector": [1, 2, 3, 4]}}]);
    let (status, body) = s.push("ha-cn-x_nosuch", "id", &doc).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!([{"code": 3012, "message": "Resource not found."}])
    );
    let (status, body) = s.push("ha-cn-x_docs", "", &doc).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("3009"), "{body}");
    let bad = json!([{"cmd": "add", "fields": {"id": 1, "vector": [1, 2, 3]}}]);
    let (status, body) = s.push("ha-cn-x_docs", "id", &bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("dimension"), "{body}");
    let (status, body) = s.push("ha-cn-x_docs", "id", &doc).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, ""));
    s.wait_docs("docs", 1).await;
    s.stop().await;
}

#[tokio::test]
async fn query_fetch_and_multi_query_match_exact_answers() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    s.create_table(TABLE).await;
    let vectors = random_vectors(300, 4, 7);
    let (status, body) = s.push("ha-cn-x_docs", "id", &docs(&vectors)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    s.wait_docs("docs", 300).await;

    // Exact answer by brute force (300 documents are under the linear threshold).
    let q = [0.1f32, -0.2, 0.3, 0.0];
    let mut expected: Vec<(usize, f32)> = vectors.iter().map(|v| l2(v, &q)).enumerate().collect();
    expected.sort_by(|a, b| a.1.total_cmp(&b.1));
    let v = s
        .ok(
            "query",
            &json!({"tableName": "docs", "vector": q, "topK": 5, "outputFields": ["title"]}),
        )
        .await;
    assert_eq!(
        ids(&v),
        expected[..5]
            .iter()
            .map(|(i, _)| *i as i64)
            .collect::<Vec<_>>()
    );
    assert_eq!(v["totalCount"], json!(5));
    let first = &v["result"][0];
    assert!((first["score"].as_f64().unwrap() - f64::from(expected[0].1)).abs() < 1e-4);
    assert_eq!(
        first["fields"],
        json!({"title": format!("doc {}", expected[0].0)})
    );
    assert!(first.get("vector").is_none());

    // Filter on an attribute and on a multi-value field.
    let v = s
        .ok("query", &json!({"tableName": "docs", "vector": q, "topK": 5, "filter": "cate_id=2 AND tags=\"even\""}))
        .await;
    let want: Vec<i64> = expected
        .iter()
        .filter(|(i, _)| i % 3 == 2 && i % 2 == 0)
        .take(5)
        .map(|(i, _)| *i as i64)
        .collect();
    assert_eq!(ids(&v), want);

    // Score threshold, order and includeVector.
    let th = f64::from(expected[2].1) + 1e-6;
    let v = s
        .ok("query", &json!({"tableName": "docs", "vector": q, "topK": 10, "scoreThreshold": th, "order": "DESC", "includeVector": true}))
        .await;
    assert_eq!(
        ids(&v),
        expected[..3]
            .iter()
            .rev()
            .map(|(i, _)| *i as i64)
            .collect::<Vec<_>>()
    );
    let got: Vec<f32> = v["result"][2]["vector"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(got, vectors[expected[0].0]);

    // Wrong dimension: a clear 400.
    let (status, v) = s
        .call("query", &json!({"tableName": "docs", "vector": [1, 2]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        v["errorMsg"].as_str().unwrap().contains("dimension 4"),
        "{v}"
    );
    let (status, v) = s
        .call(
            "query",
            &json!({"tableName": "nope", "vector": [1, 2, 3, 4]}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    let (status, v) = s
        .call(
            "query",
            &json!({"tableName": "docs", "vector": q, "filter": "nosuch=1"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["errorCode"], json!(6127), "{v}");
    assert!(v["errorMsg"].as_str().unwrap().contains("nosuch"), "{v}");

    // A STRING field compared with an unquoted number (or word) is a 400 naming the field, its
    // type and the quoted form, on every endpoint that takes a filter (it used to match nothing).
    for (endpoint, body) in [
        (
            "query",
            json!({"tableName": "docs", "vector": q, "filter": "title=1"}),
        ),
        (
            "fetch",
            json!({"tableName": "docs", "filter": "cate_id=1 AND title=1"}),
        ),
        (
            "multi-query",
            json!({"tableName": "docs", "filter": "title=1", "queries": [{"vector": q}]}),
        ),
        (
            "search",
            json!({"tableName": "docs", "knn": {"vector": q, "filter": "title=1"}}),
        ),
        (
            "search",
            json!({"tableName": "docs", "text": {"queryString": "body:'apple'", "filter": "title=1"}}),
        ),
        (
            "aggregate",
            json!({"tableName": "docs", "filter": "title=1", "aggFuncs": [{"func": "count", "args": ["*"]}]}),
        ),
    ] {
        let (status, v) = s.call(endpoint, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{endpoint} {body}: {v}");
        assert_eq!(v["errorCode"], json!(6135), "{endpoint} {body}: {v}");
        let m = v["errorMsg"].as_str().unwrap();
        assert!(
            m.contains("'title' is STRING") && m.contains(r#"title="1""#),
            "{endpoint} {body}: {v}"
        );
        assert!(v.get("result").is_none(), "{v}");
    }
    let (status, v) = s
        .call(
            "query",
            &json!({"tableName": "docs", "vector": q, "filter": "tags=even"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["errorCode"], json!(6135), "{v}");
    let m = v["errorMsg"].as_str().unwrap();
    assert!(
        m.contains("'tags' is MULTI_STRING") && m.contains(r#"tags="even""#),
        "{v}"
    );
    // A string field inside arithmetic: 6127, naming the field.
    let (status, v) = s
        .call(
            "query",
            &json!({"tableName": "docs", "vector": q, "filter": "title+1=3"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["errorCode"], json!(6127), "{v}");
    let m = v["errorMsg"].as_str().unwrap();
    assert!(
        m.contains("'title' is STRING") && m.contains("arithmetic"),
        "{v}"
    );
    // Quoted, the same comparison is accepted.
    let v = s
        .ok(
            "fetch",
            &json!({"tableName": "docs", "filter": "title=\"doc 3\""}),
        )
        .await;
    assert_eq!(ids(&v), vec![3]);

    // Fetch by ids (unknown ids are skipped), and a filtered, sorted, paged scan.
    let v = s
        .ok(
            "fetch",
            &json!({"tableName": "docs", "ids": ["3", "999", "1"]}),
        )
        .await;
    assert_eq!(ids(&v), vec![3, 1]);
    assert_eq!(v["result"][0]["fields"]["cate_id"], json!(0));
    assert!(v["result"][0].get("score").is_none());
    let v = s
        .ok("fetch", &json!({"tableName": "docs", "filter": "cate_id=1", "sort": "-id", "limit": 3, "offset": 1}))
        .await;
    assert_eq!(ids(&v), vec![295, 292, 289]);

    // Multi-query: scores of a key found by both sub-queries add up.
    let q2 = [0.5f32, 0.5, -0.5, 0.2];
    let v = s
        .ok(
            "multi-query",
            &json!({"tableName": "docs", "topK": 3, "order": "ASC",
            "queries": [{"vector": q, "topK": 300}, {"vector": q2, "topK": 300}]}),
        )
        .await;
    let mut sums: Vec<(usize, f32)> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| (i, l2(v, &q) + l2(v, &q2)))
        .collect();
    sums.sort_by(|a, b| a.1.total_cmp(&b.1));
    assert_eq!(
        ids(&v),
        sums[..3].iter().map(|(i, _)| *i as i64).collect::<Vec<_>>()
    );

    // Batch query: one result list per query, errors in place.
    let v = s
        .ok(
            "batch-query",
            &json!({"queries": [
            {"tableName": "docs", "vector": q, "topK": 1},
            {"tableName": "docs", "vector": q2, "topK": 2}]}),
        )
        .await;
    assert_eq!(v["results"].as_array().unwrap().len(), 2, "{v}");
    s.stop().await;
}

#[tokio::test]
async fn updates_deletes_and_namespaces() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    s.create_table(TABLE).await;
    s.create_table(NS_TABLE).await;
    let (status, _) = s
        .push(
            "docs",
            "id",
            &json!([
            {"cmd": "add", "fields": {"id": 1, "cate_id": 1, "vector": [0, 0, 0, 0]}},
            {"cmd": "add", "fields": {"id": 2, "cate_id": 1, "vector": [1, 1, 1, 1]}}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    s.wait_docs("docs", 2).await;
    // Move document 1 far away, then delete document 2.
    let (status, _) = s
        .push(
            "docs",
            "id",
            &json!([
            {"cmd": "add", "fields": {"id": 1, "cate_id": 1, "vector": [9, 9, 9, 9]}},
            {"cmd": "delete", "fields": {"id": 2}}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    s.wait_docs("docs", 1).await;
    let v = s
        .ok(
            "query",
            &json!({"tableName": "docs", "vector": [0, 0, 0, 0], "topK": 5}),
        )
        .await;
    assert_eq!(ids(&v), vec![1]);
    assert!(
        (v["result"][0]["score"].as_f64().unwrap() - 324.0).abs() < 1e-3,
        "{v}"
    );

    let (status, body) = s
        .push(
            "nsdocs",
            "pk",
            &json!([
            {"cmd": "add", "fields": {"pk": "a1", "tenant": "a", "emb": [1, 0]}},
            {"cmd": "add", "fields": {"pk": "a2", "tenant": "a", "emb": [0, 1]}},
            {"cmd": "add", "fields": {"pk": "b1", "tenant": "b", "emb": [1, 0]}}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    s.wait_docs("nsdocs", 3).await;
    let (status, v) = s
        .call("query", &json!({"tableName": "nsdocs", "vector": [1, 0]}))
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "namespace is required: {v}"
    );
    assert!(v["errorMsg"].as_str().unwrap().contains("namespace"), "{v}");
    let v = s
        .ok(
            "query",
            &json!({"tableName": "nsdocs", "vector": [1, 0], "namespace": "a", "topK": 5}),
        )
        .await;
    let got: Vec<(&str, f64)> = v["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["id"].as_str().unwrap(), h["score"].as_f64().unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![("a1", 1.0), ("a2", 0.0)],
        "inner product, best first"
    );
    assert_eq!(v["result"][0]["namespace"], json!("a"));
    // Moving a document to another namespace takes it out of the first.
    let (status, _) = s
        .push(
            "nsdocs",
            "pk",
            &json!([{"cmd": "add", "fields": {"pk": "a1", "tenant": "b", "emb": [1, 0]}}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = s
            .ok(
                "query",
                &json!({"tableName": "nsdocs", "vector": [1, 0], "namespace": "b", "topK": 5}),
            )
            .await;
        if v["totalCount"] == json!(2) {
            break;
        }
        assert!(Instant::now() < deadline, "{v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let v = s
        .ok(
            "query",
            &json!({"tableName": "nsdocs", "vector": [1, 0], "namespace": "a", "topK": 5}),
        )
        .await;
    assert_eq!(v["result"].as_array().unwrap().len(), 1, "{v}");
    s.stop().await;
}

#[tokio::test]
async fn graph_recall_against_brute_force_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    // Above the linear threshold: the HNSW graph answers.
    let schema = TABLE.replace(
        r#""vectorIndexType": "HNSW"}"#,
        r#""vectorIndexType": "HNSW", "advanceParams": {"linearBuildThreshold": 100}}"#,
    );
    s.create_table(&schema).await;
    let n = 3000;
    let vectors = random_vectors(n, 4, 11);
    for chunk in 0..(n / 1000) {
        let body = docs(&vectors[chunk * 1000..(chunk + 1) * 1000]);
        // Keys must continue across chunks.
        let body: Vec<Value> = body
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let mut d = d.clone();
                d["fields"]["id"] = json!(chunk * 1000 + i);
                d
            })
            .collect();
        let (status, text) = s.push("docs", "id", &Value::Array(body)).await;
        assert_eq!(status, StatusCode::OK, "{text}");
    }
    s.wait_docs("docs", n as u64).await;
    let queries = random_vectors(50, 4, 12);
    let (mut found, mut wanted) = (0, 0);
    let mut answers = Vec::new();
    for q in &queries {
        let mut exact: Vec<(usize, f32)> = vectors.iter().map(|v| l2(v, q)).enumerate().collect();
        exact.sort_by(|a, b| a.1.total_cmp(&b.1));
        let truth: Vec<i64> = exact[..10].iter().map(|(i, _)| *i as i64).collect();
        let v = s
            .ok(
                "query",
                &json!({"tableName": "docs", "vector": q, "topK": 10}),
            )
            .await;
        let got = ids(&v);
        found += got.iter().filter(|i| truth.contains(i)).count();
        wanted += 10;
        answers.push(got);
    }
    let recall = found as f64 / wanted as f64;
    assert!(recall >= 0.95, "recall@10 {recall}");

    // After a clean restart the graphs are loaded from their checkpoint and answer the same.
    s.stop().await;
    let s = start(dir.path()).await;
    s.wait_docs("docs", n as u64).await;
    for (q, before) in queries.iter().zip(&answers) {
        let v = s
            .ok(
                "query",
                &json!({"tableName": "docs", "vector": q, "topK": 10}),
            )
            .await;
        assert_eq!(&ids(&v), before);
    }
    assert!(
        dir.path().join("apps").exists(),
        "the data dir holds the app"
    );
    s.stop().await;
}

#[tokio::test]
async fn hybrid_search_fuses_text_and_vector_lists() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    s.create_table(TABLE).await;
    let vectors = random_vectors(100, 4, 3);
    let (status, body) = s.push("docs", "id", &docs(&vectors)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    s.wait_docs("docs", 100).await;
    let q = vectors[7].clone();
    // RRF: document 7 is first in the knn list; the ten "apple" documents are the text list.
    let v = s
        .ok(
            "search",
            &json!({"tableName": "docs", "size": 20, "outputFields": ["title"],
            "knn": {"vector": q, "topK": 5},
            "text": {"queryString": "body:'apple'"},
            "rank": {"rrf": {"rankConstant": 60}}}),
        )
        .await;
    let result = v["result"].as_array().unwrap();
    assert_eq!(v["coveredPercent"], json!(1.0), "{v}");
    let mut exact: Vec<(usize, f32)> = vectors.iter().map(|v| l2(v, &q)).enumerate().collect();
    exact.sort_by(|a, b| a.1.total_cmp(&b.1));
    let knn: Vec<i64> = exact[..5].iter().map(|(i, _)| *i as i64).collect();
    let text: Vec<i64> = (0..10).map(|i| i * 10).collect();
    let both: Vec<i64> = knn.iter().filter(|i| text.contains(i)).copied().collect();
    assert_eq!(
        result.len(),
        15 - both.len(),
        "the union of both lists: {v}"
    );
    for h in result {
        let id = h["id"].as_i64().unwrap();
        let want = match (knn.contains(&id), text.contains(&id)) {
            (true, true) => 3,
            (true, false) => 1,
            _ => 2,
        };
        assert_eq!(h["__source__"], json!(want), "{h}");
    }
    let seven = result.iter().find(|h| h["id"] == json!(7)).unwrap();
    assert!(
        (seven["score"].as_f64().unwrap() - 1.0 / 61.0).abs() < 1e-9,
        "rank 1 of the knn list only: {seven}"
    );
    // Only the text part, with a filter on the text list.
    let v = s
        .ok("search", &json!({"tableName": "docs", "text": {"queryString": "body:'apple'", "filter": "cate_id=0"}}))
        .await;
    let mut got = ids(&v);
    got.sort();
    assert_eq!(got, vec![0, 30, 60, 90]);
    let (status, v) = s
        .call(
            "search",
            &json!({"tableName": "docs", "text": {"queryString": "nosuchindex:'x'"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    s.stop().await;
}

#[tokio::test]
async fn a_replayed_push_does_not_regress_a_document() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    s.create_table(TABLE).await;
    let first =
        json!([{"cmd": "add", "fields": {"id": 1, "title": "first", "vector": [1, 0, 0, 0]}}]);
    let second =
        json!([{"cmd": "add", "fields": {"id": 1, "title": "second", "vector": [0, 1, 0, 0]}}]);
    for body in [&first, &second, &first] {
        // The third is the SDK retrying the first after a lost answer: same bytes, new nonce.
        let (status, text) = s.push("docs", "id", body).await;
        assert_eq!(status, StatusCode::OK, "{text}");
    }
    // A later marker: once it is searchable, every push before it has been applied.
    let marker = json!([{"cmd": "add", "fields": {"id": 2, "vector": [0, 0, 1, 0]}}]);
    assert_eq!(s.push("docs", "id", &marker).await.0, StatusCode::OK);
    s.wait_docs("docs", 2).await;
    let v = s
        .ok("fetch", &json!({"tableName": "docs", "ids": ["1"]}))
        .await;
    assert_eq!(v["result"][0]["fields"]["title"], json!("second"), "{v}");
    s.stop().await;
}

/// `/vector-service/aggregate`: groups over every `groupKeys` field at once, typed keys, the
/// five functions, `orderBy`, `filter`, the empty global row, and field errors.
#[tokio::test]
async fn aggregate_groups_and_orders_exact_rows() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    s.create_table(TABLE).await;
    let vectors = random_vectors(300, 4, 11);
    let (status, body) = s.push("ha-cn-x_docs", "id", &docs(&vectors)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    s.wait_docs("docs", 300).await;

    let v = s
        .ok(
            "aggregate",
            &json!({"tableName": "docs", "groupKeys": ["cate_id"],
                "aggFuncs": [{"func": "count", "args": ["*"]}, {"func": "sum", "args": ["id"]},
                    {"func": "max", "args": ["id"]}, {"func": "min", "args": ["id"]},
                    {"func": "avg", "args": ["id"], "name": "mean"}],
                "orderBy": [{"field": "cate_id", "direction": "DESC"}]}),
        )
        .await;
    let want: Vec<Value> = [2i64, 1, 0]
        .iter()
        .map(|c| {
            let members: Vec<i64> = (0..300).filter(|i| i % 3 == *c).collect();
            let sum: i64 = members.iter().sum();
            json!({"cate_id": c, "count(*)": 100, "sum(id)": sum, "max(id)": members[99],
                "min(id)": members[0], "mean": sum as f64 / 100.0})
        })
        .collect();
    assert_eq!(v["result"], json!(want), "{v}");
    assert_eq!(v["totalCount"], json!(3));
    assert!(v["totalTime"].is_number());

    // Two keys (a multi-value field groups by its whole list), a filter, ordered by a
    // function's value and then by the keys.
    let v = s
        .ok(
            "aggregate",
            &json!({"tableName": "docs", "groupKeys": ["tags", "cate_id"], "filter": "id < 12",
                "aggFuncs": [{"func": "sum", "args": ["id"], "name": "s"}],
                "orderBy": [{"field": "s", "direction": "DESC"}]}),
        )
        .await;
    let mut want: Vec<(i64, &str, i64)> = Vec::new();
    for parity in ["even", "odd"] {
        for c in 0..3 {
            let s: i64 = (0..12)
                .filter(|i| i % 3 == c && (i % 2 == 0) == (parity == "even"))
                .sum();
            want.push((s, parity, c));
        }
    }
    want.sort_by_key(|w| std::cmp::Reverse(w.0));
    let want: Vec<Value> = want
        .iter()
        .map(|(s, p, c)| json!({"tags": ["all", p], "cate_id": c, "s": s}))
        .collect();
    assert_eq!(v["result"], json!(want), "{v}");

    // No group keys: one row over the matches, and still one row when nothing matches.
    let v = s
        .ok(
            "aggregate",
            &json!({"tableName": "docs", "filter": "id < 10",
                "aggFuncs": [{"func": "count", "args": ["*"]}, {"func": "sum", "args": ["cate_id"]}]}),
        )
        .await;
    assert_eq!(v["result"], json!([{"count(*)": 10, "sum(cate_id)": 9}]));
    let v = s
        .ok(
            "aggregate",
            &json!({"tableName": "docs", "filter": "id > 1000",
                "aggFuncs": [{"func": "count", "args": ["*"]}, {"func": "max", "args": ["id"]}]}),
        )
        .await;
    assert_eq!(v["result"], json!([{"count(*)": 0, "max(id)": null}]));

    // Errors say what to fix.
    for (body, code, needle) in [
        (
            json!({"tableName": "docs", "groupKeys": ["body"], "aggFuncs": [{"func": "count", "args": ["*"]}]}),
            6127,
            "TEXT fields cannot be aggregated",
        ),
        (
            json!({"tableName": "docs", "aggFuncs": [{"func": "sum", "args": ["title"]}]}),
            6127,
            "numeric field",
        ),
        (
            json!({"tableName": "docs", "aggFuncs": [{"func": "median", "args": ["id"]}]}),
            6008,
            "max, min, avg, sum or count",
        ),
    ] {
        let (status, v) = s.call("aggregate", &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(v["errorCode"], json!(code), "{v}");
        assert!(v["errorMsg"].as_str().unwrap().contains(needle), "{v}");
    }
    let (status, _) = s
        .call(
            "aggregate",
            &json!({"tableName": "nope", "aggFuncs": [{"func": "count", "args": ["*"]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    s.stop().await;
}

/// `sort` / `sorts` re-order a vector query's recalled top-k (RANK is the vector score);
/// `sorts` turns each score into the list of key values. Also multi-query's `sort`, the knn
/// ranks of a hybrid search, and `textQueryString`.
#[tokio::test]
async fn sort_and_sorts_reorder_the_recalled_top_k() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    s.create_table(TABLE).await;
    let vectors = random_vectors(300, 4, 13);
    let (status, body) = s.push("ha-cn-x_docs", "id", &docs(&vectors)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    s.wait_docs("docs", 300).await;

    let q = [0.3f32, -0.1, 0.2, 0.4];
    let mut nearest: Vec<(usize, f32)> = vectors.iter().map(|v| l2(v, &q)).enumerate().collect();
    nearest.sort_by(|a, b| a.1.total_cmp(&b.1));
    let top: Vec<(usize, f32)> = nearest[..10].to_vec();

    // `+cate_id;+RANK`: the same ten documents, by category, then nearest first.
    let mut want = top.clone();
    want.sort_by(|a, b| (a.0 % 3).cmp(&(b.0 % 3)).then(a.1.total_cmp(&b.1)));
    let v = s
        .ok(
            "query",
            &json!({"tableName": "docs", "vector": q, "topK": 10, "sort": "+cate_id;+RANK", "sorts": []}),
        )
        .await;
    assert_eq!(
        ids(&v),
        want.iter().map(|(i, _)| *i as i64).collect::<Vec<_>>()
    );
    for (hit, (_, d)) in v["result"].as_array().unwrap().iter().zip(&want) {
        assert!(
            (hit["score"].as_f64().unwrap() - f64::from(*d)).abs() < 1e-4,
            "{hit}"
        );
    }

    // `sorts`: the score becomes [cate_id, distance]; ties on cate_id go farthest first here.
    let mut want = top.clone();
    want.sort_by(|a, b| (b.0 % 3).cmp(&(a.0 % 3)).then(b.1.total_cmp(&a.1)));
    let v = s
        .ok(
            "query",
            &json!({"tableName": "docs", "vector": q, "topK": 10, "outputFields": ["cate_id"],
                "sorts": [{"order": "DESC", "expression": "cate_id"}, {"order": "DESC", "expression": "RANK"}]}),
        )
        .await;
    assert_eq!(
        ids(&v),
        want.iter().map(|(i, _)| *i as i64).collect::<Vec<_>>()
    );
    for (hit, (i, d)) in v["result"].as_array().unwrap().iter().zip(&want) {
        let score = hit["score"].as_array().unwrap();
        assert_eq!(score[0], json!((i % 3) as f64), "{hit}");
        assert!(
            (score[1].as_f64().unwrap() - f64::from(*d)).abs() < 1e-4,
            "{hit}"
        );
        assert_eq!(hit["fields"]["cate_id"], json!(i % 3));
    }

    // An arithmetic key over the filtered recall.
    let v = s
        .ok(
            "query",
            &json!({"tableName": "docs", "vector": q, "topK": 5, "filter": "cate_id=1", "sort": "-id*2"}),
        )
        .await;
    let mut want: Vec<i64> = nearest
        .iter()
        .filter(|(i, _)| i % 3 == 1)
        .take(5)
        .map(|(i, _)| *i as i64)
        .collect();
    want.sort_by_key(|i| std::cmp::Reverse(*i));
    assert_eq!(ids(&v), want);

    // Multi-query: the merged top 4, by id descending.
    let q2 = [-0.4f32, 0.1, 0.0, 0.2];
    let mut sums: Vec<(usize, f32)> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| (i, l2(v, &q) + l2(v, &q2)))
        .collect();
    sums.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut want: Vec<i64> = sums[..4].iter().map(|(i, _)| *i as i64).collect();
    want.sort_by_key(|i| std::cmp::Reverse(*i));
    let v = s
        .ok(
            "multi-query",
            &json!({"tableName": "docs", "topK": 4, "sort": "-id",
                "queries": [{"vector": q, "topK": 300, "sorts": []}, {"vector": q2, "topK": 300, "sorts": []}]}),
        )
        .await;
    assert_eq!(ids(&v), want);

    // Hybrid search: knn.sort decides the knn ranks RRF counts.
    let mut want: Vec<i64> = nearest[..5].iter().map(|(i, _)| *i as i64).collect();
    want.sort();
    let v = s
        .ok(
            "search",
            &json!({"tableName": "docs", "size": 5, "rank": {"rrf": {"rankConstant": 60}},
                "knn": {"vector": q, "topK": 5, "sort": "+id"}}),
        )
        .await;
    assert_eq!(ids(&v), want);
    assert!((v["result"][0]["score"].as_f64().unwrap() - 1.0 / 61.0).abs() < 1e-9);

    // textQueryString: the exact nearest of the documents the clause matches (and the filter
    // passes), multi-vector scoring and all.
    let v = s
        .ok(
            "query",
            &json!({"tableName": "docs", "vector": q, "topK": 4, "textQueryString": "body:'apple'"}),
        )
        .await;
    let want: Vec<i64> = nearest
        .iter()
        .filter(|(i, _)| i % 10 == 0)
        .take(4)
        .map(|(i, _)| *i as i64)
        .collect();
    assert_eq!(ids(&v), want);
    let d = l2(&vectors[want[0] as usize], &q);
    assert!((v["result"][0]["score"].as_f64().unwrap() - f64::from(d)).abs() < 1e-4);
    let v = s
        .ok(
            "query",
            &json!({"tableName": "docs", "vector": q, "topK": 3, "textQueryString": "body:'apple'",
                "filter": "cate_id=1", "sort": "-id"}),
        )
        .await;
    let mut want: Vec<i64> = nearest
        .iter()
        .filter(|(i, _)| i % 10 == 0 && i % 3 == 1)
        .take(3)
        .map(|(i, _)| *i as i64)
        .collect();
    want.sort_by_key(|i| std::cmp::Reverse(*i));
    assert_eq!(ids(&v), want);
    let v = s
        .ok(
            "query",
            &json!({"tableName": "docs", "vector": q, "textQueryString": "body:'nowhere'"}),
        )
        .await;
    assert_eq!(v["result"], json!([]));

    // Refusals that say what to fix.
    for (endpoint, body, code, needle) in [
        (
            "query",
            json!({"tableName": "docs", "vector": q, "sort": "+id", "sorts": [{"order": "ASC", "expression": "id"}]}),
            6008,
            "send one of them",
        ),
        (
            "multi-query",
            json!({"tableName": "docs", "queries": [{"vector": q, "sort": "+id"}]}),
            6008,
            "on the multi-query itself",
        ),
        (
            "query",
            json!({"tableName": "docs", "vector": q, "sort": "+body"}),
            6115,
            "body",
        ),
        (
            "query",
            json!({"tableName": "docs", "vector": q, "sort": "+nosuch"}),
            6127,
            "nosuch",
        ),
        (
            "query",
            json!({"tableName": "docs", "vector": q, "textQueryString": "nosuchindex:'x'"}),
            6008,
            "textQueryString",
        ),
    ] {
        let (status, v) = s.call(endpoint, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert_eq!(v["errorCode"], json!(code), "{body}: {v}");
        assert!(
            v["errorMsg"].as_str().unwrap().contains(needle),
            "{body}: {v}"
        );
    }
    s.stop().await;
}

const SPARSE_TABLE: &str = r#"{"name": "sp", "primaryKey": "id",
  "fieldSchema": {"id": "INT64", "cate": "INT32", "vector": "MULTI_FLOAT",
                  "sidx": "MULTI_INT64", "sval": "MULTI_FLOAT"},
  "vectorIndex": [{"indexName": "v", "vectorField": "vector", "dimension": "2",
                   "distanceType": "InnerProduct", "sparseIndexField": "sidx",
                   "sparseValueField": "sval"}]}"#;

/// `(id, score)` of every hit.
fn scored(v: &Value) -> Vec<(i64, f64)> {
    v["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["id"].as_i64().unwrap(), h["score"].as_f64().unwrap()))
        .collect()
}

fn assert_scored(v: &Value, want: &[(i64, f64)]) {
    let got = scored(v);
    assert_eq!(
        got.iter().map(|h| h.0).collect::<Vec<_>>(),
        want.iter().map(|h| h.0).collect::<Vec<_>>(),
        "{v}"
    );
    for ((_, g), (_, w)) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-5, "{v}");
    }
}

impl Server {
    /// Queries until the answer is `want` (the last write may still be applying).
    async fn query_until(&self, body: &Value, want: &[(i64, f64)]) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.ok("query", body).await;
            let got = scored(&v);
            if got.len() == want.len()
                && got
                    .iter()
                    .zip(want)
                    .all(|(g, w)| g.0 == w.0 && (g.1 - w.1).abs() < 1e-5)
            {
                return;
            }
            assert!(Instant::now() < deadline, "still {v}, want {want:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn sparse_queries_score_by_inner_product_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    s.create_table(SPARSE_TABLE).await;
    let doc = |id: i64, cate: i64, v: [f32; 2], sparse: Option<(Vec<u32>, Vec<f32>)>| {
        let mut f = json!({"id": id, "cate": cate, "vector": v});
        if let Some((i, x)) = sparse {
            f["sidx"] = json!(i);
            f["sval"] = json!(x);
        }
        json!({"cmd": "add", "fields": f})
    };
    let body = json!([
        doc(1, 0, [1.0, 0.0], Some((vec![1, 5], vec![1.0, 2.0]))),
        doc(2, 1, [0.0, 1.0], Some((vec![5, 9], vec![3.0, 1.0]))),
        doc(3, 0, [0.5, 0.5], Some((vec![2], vec![4.0]))),
        doc(4, 1, [1.0, 1.0], None),
        doc(5, 0, [0.2, 0.1], Some((vec![1, 9], vec![0.5, 2.0]))),
    ]);
    let (status, text) = s.push("sp", "id", &body).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    s.wait_docs("sp", 5).await;

    // Sparse only: the exact inner products, computed by hand; documents sharing no dimension
    // with the query (3, 4) are not found.
    let sparse = json!({"indices": [1, 5, 9], "values": [1.0, 1.0, 0.5]});
    // 1: 1·1 + 1·2 = 3; 2: 1·3 + 0.5·1 = 3.5; 5: 1·0.5 + 0.5·2 = 1.5.
    let only = json!({"tableName": "sp", "sparseData": sparse, "topK": 10});
    assert_scored(&s.ok("query", &only).await, &[(2, 3.5), (1, 3.0), (5, 1.5)]);
    // The filter and the threshold (inner product: higher passes) apply.
    let v = s
        .ok(
            "query",
            &json!({"tableName": "sp", "sparseData": sparse, "filter": "cate=0", "topK": 10}),
        )
        .await;
    assert_scored(&v, &[(1, 3.0), (5, 1.5)]);
    let v = s
        .ok(
            "query",
            &json!({"tableName": "sp", "sparseData": sparse, "scoreThreshold": 2.0}),
        )
        .await;
    assert_scored(&v, &[(2, 3.5), (1, 3.0)]);

    // Dense plus sparse: the scores are summed. Dense inner products with [1, 0]: 1 → 1,
    // 2 → 0, 3 → 0.5, 4 → 1, 5 → 0.2.
    let both = json!({"tableName": "sp", "vector": [1.0, 0.0], "sparseData": sparse, "topK": 4});
    assert_scored(
        &s.ok("query", &both).await,
        &[(1, 4.0), (2, 3.5), (5, 1.7), (4, 1.0)],
    );
    // `count` splits several sparse query vectors; a document keeps its best score.
    // {9: 1}: 2 → 1, 5 → 2; {2: 1}: 3 → 4.
    let split = json!({"tableName": "sp", "topK": 10,
        "sparseData": {"count": [1, 1], "indices": [9, 2], "values": [1.0, 1.0]}});
    assert_scored(
        &s.ok("query", &split).await,
        &[(3, 4.0), (5, 2.0), (2, 1.0)],
    );
    // In a multi-query, sparse sub-queries merge like dense ones (sum).
    let v = s
        .ok(
            "multi-query",
            &json!({"tableName": "sp", "topK": 10, "queries": [
                {"tableName": "sp", "sparseData": {"indices": [9], "values": [1.0]}},
                {"tableName": "sp", "sparseData": {"indices": [1], "values": [2.0]}}]}),
        )
        .await;
    // 5: 2 + 1 = 3; 1: 2; 2: 1.
    assert_scored(&v, &[(5, 3.0), (1, 2.0), (2, 1.0)]);

    // Bad sparse input gets 6008 and says what to fix.
    for (bad, needle) in [
        (
            json!({"indices": [5, 1], "values": [1, 1]}),
            "sorted ascending",
        ),
        (
            json!({"indices": [1, 1], "values": [1, 1]}),
            "without repeats",
        ),
        (json!({"indices": [1, 2], "values": [1]}), "pair up"),
    ] {
        let (status, v) = s
            .call("query", &json!({"tableName": "sp", "sparseData": bad}))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(v["errorCode"], 6008, "{v}");
        assert!(v["errorMsg"].as_str().unwrap().contains(needle), "{v}");
    }
    let (status, v) = s
        .call(
            "query",
            &json!({"tableName": "sp", "vector": [1.0, 0.0], "vectorCount": 1,
                    "sparseData": {"count": [1, 1], "indices": [1, 2], "values": [1, 1]}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["errorMsg"]
            .as_str()
            .unwrap()
            .contains("one sparse vector per dense vector"),
        "{v}"
    );
    // A pushed sparse vector with unsorted indices is refused with the push's field code.
    let (status, text) = s
        .push(
            "sp",
            "id",
            &json!([doc(6, 0, [0.0, 0.0], Some((vec![9, 1], vec![1.0, 1.0])))]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("7303") && text.contains("sorted"), "{text}");

    // A delete and an upsert take the old sparse vectors out of the results.
    let body = json!([
        {"cmd": "delete", "fields": {"id": 2}},
        doc(1, 0, [1.0, 0.0], Some((vec![9], vec![1.0]))),
    ]);
    let (status, text) = s.push("sp", "id", &body).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    // 1: 0.5·1 = 0.5; 5: 1.5.
    s.query_until(&only, &[(5, 1.5), (1, 0.5)]).await;

    // After a restart the sparse index is rebuilt from the store and answers the same.
    s.stop().await;
    let s = start(dir.path()).await;
    s.wait_docs("sp", 4).await;
    s.query_until(&only, &[(5, 1.5), (1, 0.5)]).await;
    s.query_until(
        &json!({"tableName": "sp", "vector": [1.0, 0.0], "sparseData": sparse, "topK": 2}),
        &[(5, 1.7), (1, 1.5)],
    )
    .await;
    s.stop().await;
}
