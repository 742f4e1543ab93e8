//! The Retrieval Engine Edition's ha3 query form on Vector Search Edition tables over real HTTP
//! on loopback: `GET /query?query=<assembled>` and `POST /query {"assemblyQuery"}`, the table
//! chosen by `cluster`, query / filter / sort / paging / aggregate / fetch_fields checked against
//! answers computed here, ha3 JSON and XML shapes, and errors with their codes.

use pier_engine::{Engine, EngineConfig};
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

const OTHER_TABLE: &str = r#"{"name": "other", "primaryKey": "pk",
  "fieldSchema": {"pk": "STRING", "body": "TEXT", "emb": "MULTI_FLOAT"},
  "vectorIndex": [{"indexName": "e", "vectorField": "emb", "dimension": "2",
                   "distanceType": "InnerProduct"}]}"#;

/// Documents in the table.
const N: i64 = 100;

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
    let k = engine.keys().create(None).unwrap();
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
        key: (k.id, k.secret),
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
        assert_eq!(resp.status(), StatusCode::CREATED);
    }

    async fn push(&self, table: &str, pk: &str, body: &Value) {
        let resp = self
            .http
            .post(format!("{}/update/ha-cn-x_{table}/actions/bulk", self.base))
            .basic_auth(&self.key.0, Some(&self.key.1))
            .header("X-Opensearch-Swift-PK-Field", pk)
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }

    /// Waits until `table` has `n` searchable documents.
    async fn wait_docs(&self, table: &str, n: i64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v: Value = self
                .http
                .post(format!("{}/vector-service/stats", self.base))
                .basic_auth(&self.key.0, Some(&self.key.1))
                .json(&json!({"tableName": table}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if v["result"]["totalDocCount"] == json!(n) {
                return;
            }
            assert!(Instant::now() < deadline, "still {v} after 30 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `GET /query?query=<assembly>` as the SDK sends it (form-encoded, spaces as `+`).
    async fn get(&self, assembly: &str) -> (StatusCode, String) {
        let resp = self
            .http
            .get(format!("{}/query", self.base))
            .query(&[("query", assembly)])
            .basic_auth(&self.key.0, Some(&self.key.1))
            .header("content-type", "application/json; charset=utf-8")
            .send()
            .await
            .unwrap();
        (resp.status(), resp.text().await.unwrap())
    }

    /// `POST /query {"assemblyQuery": assembly}`.
    async fn post(&self, assembly: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(format!("{}/query", self.base))
            .basic_auth(&self.key.0, Some(&self.key.1))
            .json(&json!({ "assemblyQuery": assembly }))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap())
    }

    /// A GET that must succeed, parsed.
    async fn ok(&self, assembly: &str) -> Value {
        let (status, text) = self.get(assembly).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["errors"], json!([]), "{v}");
        v
    }

    /// A GET that must fail with `status` and ha3 error `code`; returns the message.
    async fn refused(&self, assembly: &str, status: StatusCode, code: u32) -> String {
        let (got, text) = self.get(assembly).await;
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (got, &v["errors"][0]["code"]),
            (status, &json!(code)),
            "{v}"
        );
        assert_eq!(v["result"]["items"], json!([]), "{v}");
        v["errors"][0]["message"].as_str().unwrap().to_string()
    }

    async fn stop(self) {
        drop(self.http);
        let _ = self.shutdown.send(());
        self.task.await.unwrap();
    }
}

/// A table of [`N`] documents: cate_id = i % 4, body "apple pie" when i % 5 == 0.
async fn with_docs(dir: &Path) -> Server {
    let s = start(dir).await;
    s.create_table(TABLE).await;
    let docs: Vec<Value> = (0..N)
        .map(|i| {
            json!({"cmd": "add", "fields": {"id": i, "cate_id": i % 4, "title": format!("t{i}"),
                "tags": ["all", if i % 2 == 0 { "even" } else { "odd" }],
                "body": if i % 5 == 0 { "apple pie" } else { "plain text" },
                "vector": [i as f32, 0.0, 0.0, 0.0]}})
        })
        .collect();
    s.push("docs", "id", &Value::Array(docs)).await;
    s.wait_docs("docs", N).await;
    s
}

fn item_ids(v: &Value) -> Vec<i64> {
    v["result"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["fields"]["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test]
async fn ha3_queries_filter_sort_page_and_aggregate() {
    let dir = tempfile::tempdir().unwrap();
    let s = with_docs(dir.path()).await;
    // The SDK's full clause list: apple docs (i % 5 == 0) with cate_id 1 are 5, 25, 45, 65, 85.
    let assembly = "query=body:'apple'&&cluster=docs&&config=start:0,hit:3,format:json,rerank_size:200&&filter=cate_id=1&&sort=-id&&aggregate=group_key:cate_id,agg_fun:count()#sum(id)&&kvpairs=__ops_request_id:abc,k1:v1";
    let v = s.ok(assembly).await;
    let r = &v["result"];
    assert_eq!(item_ids(&v), vec![85, 65, 45], "{v}");
    assert_eq!((&r["totalHits"], &r["numHits"]), (&json!(5), &json!(3)));
    assert_eq!(r["coveredPercent"], json!(100.0));
    assert!(r["searchtime"].as_f64().unwrap() >= 0.0);
    let item = &r["items"][0];
    // Field values are strings, multi-value ones tab-joined; vectors are left out.
    assert_eq!(
        item["fields"],
        json!({"id": "85", "cate_id": "1", "title": "t85", "tags": "all\todd", "body": "apple pie"})
    );
    assert_eq!(item["sortExprValues"], json!(["85"]));
    for key in ["property", "attribute", "variableValue"] {
        assert_eq!(item[key], json!({}), "{key}");
    }
    assert_eq!(item["tracerInfo"], json!(""));
    assert_eq!(
        r["facet"],
        json!([{"key": "cate_id", "items": [{"value": "1", "count": "5", "sum": "225"}]}])
    );
    assert_eq!(v["tracer"], json!(""));

    // POST with the same assembled string answers the same documents; the next page follows.
    let (status, p) = s.post(&assembly.replace("start:0", "start:3")).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(item_ids(&p), vec![25, 5]);
    assert_eq!(p["result"]["totalHits"], json!(5));

    // Without a filter: every apple document, grouped by cate_id (5 each, sums of ids).
    let v = s
        .ok("query=body:'apple'&&cluster=docs&&config=hit:100&&sort=+id&&aggregate=group_key:cate_id,agg_fun:count()#sum(id)")
        .await;
    assert_eq!(item_ids(&v), (0..N).step_by(5).collect::<Vec<_>>());
    let mut groups: Vec<(String, String, String)> = v["result"]["facet"][0]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let s = |k: &str| g[k].as_str().unwrap().to_string();
            (s("value"), s("count"), s("sum"))
        })
        .collect();
    groups.sort();
    let want: Vec<(String, String, String)> = [(0, 200), (1, 225), (2, 250), (3, 275)]
        .iter()
        .map(|(c, sum)| (c.to_string(), "5".to_string(), sum.to_string()))
        .collect();
    assert_eq!(groups, want);

    // OR matches every document; notin() and a range narrow the apple ones.
    let v = s
        .ok("query=body:'pie' OR body:'text'&&cluster=docs&&config=hit:1")
        .await;
    assert_eq!(v["result"]["totalHits"], json!(N));
    let v = s
        .ok("query=body:'apple'&&cluster=docs&&config=hit:50&&filter=id<30 AND notin(cate_id,\"0\")&&sort=+id")
        .await;
    assert_eq!(item_ids(&v), vec![5, 10, 15, 25]);

    // fetch_fields in config picks the fields (a vector only when asked for).
    let v = s
        .ok("query=body:'apple'&&cluster=docs&&config=hit:1,fetch_fields:title;vector&&sort=-id")
        .await;
    assert_eq!(
        v["result"]["items"][0]["fields"],
        json!({"title": "t95", "vector": "95.0\t0.0\t0.0\t0.0"})
    );
    s.stop().await;
}

#[tokio::test]
async fn the_cluster_picks_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let s = with_docs(dir.path()).await;
    // One table: `general` (the SDK's default), a blank or no cluster all mean it.
    for assembly in [
        "query=body:'apple'&&cluster=general&&config=hit:1",
        "query=body:'apple'&&config=hit:1",
        "query=body:'apple'&&cluster=&&config=hit:1",
        "config=cluster:docs,hit:1&&query=body:'apple'",
    ] {
        let v = s.ok(assembly).await;
        assert_eq!(v["result"]["totalHits"], json!(20), "{assembly}: {v}");
    }
    s.create_table(OTHER_TABLE).await;
    s.push(
        "other",
        "pk",
        &json!([{"cmd": "add", "fields": {"pk": "a", "body": "apple", "emb": [1, 0]}}]),
    )
    .await;
    s.wait_docs("other", 1).await;
    // Two tables: the default is ambiguous, and the message lists them.
    let m = s
        .refused(
            "query=body:'apple'&&cluster=general",
            StatusCode::NOT_FOUND,
            3012,
        )
        .await;
    assert!(
        m.contains("docs, other") && m.contains("cluster=<table name>"),
        "{m}"
    );
    let m = s
        .refused(
            "query=body:'apple'&&cluster=nosuch",
            StatusCode::NOT_FOUND,
            3012,
        )
        .await;
    assert!(m.contains("'nosuch'") && m.contains("docs, other"), "{m}");
    let v = s.ok("query=body:'apple'&&cluster=other").await;
    assert_eq!(v["result"]["totalHits"], json!(1));
    assert_eq!(
        v["result"]["items"][0]["fields"],
        json!({"pk": "a", "body": "apple"})
    );
    let v = s.ok("query=body:'apple'&&cluster=docs").await;
    assert_eq!(v["result"]["totalHits"], json!(20));
    // The instance-prefixed name of push paths works too.
    let v = s.ok("query=body:'apple'&&cluster=ha-cn-x_docs").await;
    assert_eq!(v["result"]["totalHits"], json!(20));
    s.stop().await;
}

#[tokio::test]
async fn errors_carry_codes_and_xml_is_well_formed() {
    let dir = tempfile::tempdir().unwrap();
    let s = with_docs(dir.path()).await;
    // Query-language errors keep the codes of the V3 language (same family).
    let m = s
        .refused(
            "query=nosuch:'x'&&cluster=docs",
            StatusCode::BAD_REQUEST,
            6101,
        )
        .await;
    assert!(m.contains("nosuch"), "{m}");
    s.refused(
        "query=body:'apple'&&cluster=docs&&filter=cate_id>",
        StatusCode::BAD_REQUEST,
        6113,
    )
    .await;
    s.refused(
        "query=body:'apple'&&cluster=docs&&filter=title=t1",
        StatusCode::BAD_REQUEST,
        6135,
    )
    .await;
    s.refused(
        "query=body:'apple'&&cluster=docs&&layer=range:id{1,100}",
        StatusCode::BAD_REQUEST,
        6117,
    )
    .await;
    let m = s
        .refused(
            "query=body:'apple'&&cluster=docs&&config=fetch_fields:nope",
            StatusCode::BAD_REQUEST,
            6127,
        )
        .await;
    assert!(m.contains("'nope'") && m.contains("title"), "{m}");
    // No credentials: 401 in the same shape.
    let resp = s
        .http
        .get(format!("{}/query", s.base))
        .query(&[("query", "query=body:'apple'")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["errors"][0]["code"], json!(4001), "{v}");
    // A POST body without assemblyQuery.
    let resp = s
        .http
        .post(format!("{}/query", s.base))
        .basic_auth(&s.key.0, Some(&s.key.1))
        .json(&json!({"query": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["errors"][0]["code"], json!(4007), "{v}");

    // format:xml: the ha3 XML shape, with markup in values escaped.
    s.push(
        "docs",
        "id",
        &json!([{"cmd": "add", "fields": {"id": 1000, "cate_id": 9, "title": "a<b & c",
            "tags": [], "body": "apple", "vector": [0, 0, 0, 0]}}]),
    )
    .await;
    s.wait_docs("docs", N + 1).await;
    let (status, text) = s
        .get("query=body:'apple'&&cluster=docs&&config=hit:2,format:xml&&filter=cate_id=9")
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Root><TotalTime>"));
    assert!(
        text.contains(
            "<hits numhits=\"1\" totalhits=\"1\" coveredPercent=\"100\"><hit cluster_name=\"docs\""
        ),
        "{text}"
    );
    assert!(text.contains("<title>a&lt;b &amp; c</title>"), "{text}");
    assert!(
        text.ends_with("</hits><AggregateResults></AggregateResults></Root>"),
        "{text}"
    );
    assert_eq!(
        text.matches("<hit ").count(),
        text.matches("</hit>").count()
    );
    s.stop().await;
}

/// `(id, score)` of each item of a vector answer.
fn scored_items(v: &Value) -> Vec<(i64, f64)> {
    v["result"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["fields"]["id"].as_str().unwrap().parse().unwrap(),
                h["sortExprValues"][0].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn vector_queries_in_the_ha3_form() {
    let dir = tempfile::tempdir().unwrap();
    let s = with_docs(dir.path()).await;
    // Document i has the vector [i, 0, 0, 0]: squared distances from [10.2, 0, 0, 0].
    let v = s.ok("query=v:'10.2,0,0,0&n=5'&&cluster=docs").await;
    let got = scored_items(&v);
    let want = [(10, 0.04), (11, 0.64), (9, 1.44), (12, 3.24), (8, 4.84)];
    assert_eq!(got.len(), 5, "{v}");
    for ((id, score), (want_id, want_score)) in got.iter().zip(want) {
        assert_eq!(*id, want_id, "{v}");
        assert!((score - want_score).abs() < 1e-3, "{v}");
    }
    assert_eq!(v["result"]["totalHits"], json!(5));
    assert_eq!(
        v["result"]["items"][0]["fields"],
        json!({"id": "10", "cate_id": "2", "title": "t10", "tags": "all\teven", "body": "apple pie"})
    );
    // Filter, then paging inside the recalled top N; the vector field's name works as well.
    let v = s
        .ok("query=vector:'10.2,0,0,0&n=5'&&cluster=docs&&config=start:1,hit:2&&filter=cate_id=1")
        .await;
    assert_eq!(item_ids(&v), vec![13, 5], "{v}");
    assert_eq!(v["result"]["totalHits"], json!(5));
    // sort re-orders the recalled documents; sf is the score threshold (squared L2 <= 2).
    let v = s.ok("query=v:'10.2,0,0,0&n=3'&&sort=-id").await;
    assert_eq!(item_ids(&v), vec![11, 10, 9]);
    let v = s.ok("query=v:'10.2,0,0,0&n=10&sf=2'").await;
    assert_eq!(item_ids(&v), vec![10, 11, 9]);
    // Without n, top N is start + hit; the vector_search clause sets top_n and threshold.
    let v = s.ok("query=v:'10.2,0,0,0'&&config=hit:4").await;
    assert_eq!(item_ids(&v), vec![10, 11, 9, 12]);
    let (status, p) = s
        .post("query=v:'10.2,0,0,0'&&vector_search={\"v\":{\"top_n\":2,\"threshold\":100}}&&config=hit:10,fetch_fields:title")
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["result"]["items"][0]["fields"], json!({"title": "t10"}));
    assert_eq!(p["result"]["numHits"], json!(2));
    // Text terms ANDed with the vector term: only the documents they match are scored
    // (apple documents are i % 5 == 0), on either side of the AND, with the filter too.
    let v = s.ok("query=v:'10.2,0,0,0&n=3' AND body:'apple'").await;
    assert_eq!(item_ids(&v), vec![10, 15, 5]);
    let v = s
        .ok("query=body:'apple' AND v:'10.2,0,0,0&n=3' AND body:'pie'&&filter=cate_id=3")
        .await;
    assert_eq!(item_ids(&v), vec![15, 35, 55]);
    let m = s
        .refused(
            "query=v:'10.2,0,0,0' AND nosuch:'x'",
            StatusCode::BAD_REQUEST,
            6101,
        )
        .await;
    assert!(m.contains("nosuch"), "{m}");
    // Two query vectors: a document keeps its best score.
    let v = s.ok("query=v:'0,0,0,0;50,0,0,0&n=2'").await;
    assert_eq!(item_ids(&v), vec![0, 50]);
    // Errors name what to fix.
    let m = s
        .refused("query=v:'1,2,3'", StatusCode::BAD_REQUEST, 6008)
        .await;
    assert!(
        m.contains("has 3 values") && m.contains("dimension 4"),
        "{m}"
    );
    let m = s
        .refused(
            "query=v:'1,0,0,0'&&aggregate=group_key:cate_id,agg_fun:count()",
            StatusCode::BAD_REQUEST,
            6008,
        )
        .await;
    assert!(m.contains("aggregate"), "{m}");
    let m = s
        .refused("query=v:'1,0,0,0&k=3'", StatusCode::BAD_REQUEST, 6008)
        .await;
    assert!(m.contains("unknown parameter 'k'"), "{m}");
    s.refused(
        "query=v:'1,0,0,0'&&filter=nosuch=1",
        StatusCode::BAD_REQUEST,
        6127,
    )
    .await;
    s.stop().await;
}

impl Server {
    /// Any request to `path` (with the raw query string `query`), parsed as JSON.
    async fn sql_call(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<String>,
    ) -> (StatusCode, Value) {
        let url = format!("{}{path_and_query}", self.base);
        let req = match method {
            "GET" => self.http.get(url),
            _ => self.http.post(url).body(body.unwrap_or_default()),
        };
        let resp = req
            .basic_auth(&self.key.0, Some(&self.key.1))
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
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The rows of a full_json answer.
fn rows(v: &Value) -> &Value {
    assert_eq!(v["error_info"]["ErrorCode"], json!(0), "{v}");
    &v["sql_result"]["data"]
}

#[tokio::test]
async fn sql_form_selects_rows() {
    let dir = tempfile::tempdir().unwrap();
    let s = with_docs(dir.path()).await;
    // The SDK's GET: the whole assembly in the sql parameter. cate_id 1 below 30, descending.
    let assembly = "query=SELECT id, title, tags FROM docs WHERE cate_id = 1 AND id < 30 ORDER BY id DESC LIMIT 3 OFFSET 1&&kvpair=__ops_request_id:abc;formatType:full_json;timeout:1000";
    let (status, v) = s
        .sql_call("GET", &format!("/query?sql={}", enc(assembly)), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        rows(&v),
        &json!([
            [25, "t25", ["all", "odd"]],
            [21, "t21", ["all", "odd"]],
            [17, "t17", ["all", "odd"]]
        ])
    );
    assert_eq!(
        v["sql_result"]["column_name"],
        json!(["id", "title", "tags"])
    );
    assert_eq!(
        v["sql_result"]["column_type"],
        json!(["int64", "multi_char", "multi_multi_char"])
    );
    assert_eq!(
        (&v["row_count"], &v["format_type"]),
        (&json!(3), &json!("full_json"))
    );
    assert_eq!(v["covered_percent"], json!(1.0));
    assert!(v["total_time"].as_f64().unwrap() < 10.0);

    // The SDK's POST /query?type=sql, json format: sql_result and error_info are JSON strings.
    let body = json!({"assemblyQuery": "query=select * from docs where title = 't7' or title = 'it''s'&&kvpair=formatType:json"});
    let (status, v) = s
        .sql_call("POST", "/query?type=sql", Some(body.to_string()))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["format_type"], json!("json"));
    let result: Value = serde_json::from_str(v["sql_result"].as_str().unwrap()).unwrap();
    let error: Value = serde_json::from_str(v["error_info"].as_str().unwrap()).unwrap();
    assert_eq!(error["Error"], json!("ERROR_NONE"));
    let columns: Vec<&str> = result["column_name"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(
        !columns.contains(&"vector") && columns.contains(&"body"),
        "{columns:?}"
    );
    let row = result["data"][0].as_array().unwrap();
    let at = |name: &str| &row[columns.iter().position(|c| *c == name).unwrap()];
    assert_eq!(
        (at("id"), at("title"), at("cate_id")),
        (&json!(7), &json!("t7"), &json!(3))
    );
    assert_eq!(v["row_count"], json!(1));

    // havenask's paths: GET /sql?query=...&&kvpair=..., POST /sql with a bare assembly, POST
    // /QrsService/searchSql with JSON.
    let (status, v) = s
        .sql_call(
            "GET",
            &format!(
                "/sql?query={}&&kvpair=formatType:full_json",
                enc("SELECT id FROM docs WHERE id IN (3, 4) OR id NOT IN (0, 1, 2, 3, 4, 5, 6) AND id < 8 ORDER BY id")
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(rows(&v), &json!([[3], [4], [7]]));
    let (_, v) = s
        .sql_call(
            "POST",
            "/sql",
            Some(
                "query=SELECT id FROM docs WHERE id BETWEEN 10 AND 12&&kvpair=formatType:full_json"
                    .into(),
            ),
        )
        .await;
    assert_eq!(rows(&v), &json!([[10], [11], [12]]));
    let body = json!({"assemblyQuery": "query=SELECT id, vector FROM docs WHERE id = 2&&kvpair=formatType:full_json"});
    let (_, v) = s
        .sql_call("POST", "/QrsService/searchSql", Some(body.to_string()))
        .await;
    assert_eq!(rows(&v), &json!([[2, [2.0, 0.0, 0.0, 0.0]]]));
    assert_eq!(
        v["sql_result"]["column_type"],
        json!(["int64", "multi_float"])
    );

    // Refusals, in the requested format, name what to fix.
    for (sql, status, code, hint) in [
        (
            "SELECT count(*) FROM docs",
            StatusCode::BAD_REQUEST,
            6008,
            "functions",
        ),
        (
            "SELECT id FROM nosuch",
            StatusCode::NOT_FOUND,
            3012,
            "the tables are: docs",
        ),
        (
            "SELECT nope FROM docs",
            StatusCode::BAD_REQUEST,
            6127,
            "no column 'nope'",
        ),
        (
            "SELECT id FROM docs WHERE nosuch = 1",
            StatusCode::BAD_REQUEST,
            6127,
            "SQL:",
        ),
        (
            "DELETE FROM docs",
            StatusCode::BAD_REQUEST,
            6008,
            "only SELECT",
        ),
    ] {
        let assembly = format!("query={sql}&&kvpair=formatType:full_json");
        let (got, v) = s
            .sql_call("GET", &format!("/query?sql={}", enc(&assembly)), None)
            .await;
        assert_eq!(
            (got, &v["error_info"]["ErrorCode"]),
            (status, &json!(code)),
            "{sql}: {v}"
        );
        let message = v["error_info"]["Message"].as_str().unwrap();
        assert!(message.contains(hint), "{sql}: {message}");
        assert_eq!(v["sql_result"]["data"], json!([]));
    }
    let (got, v) = s
        .sql_call(
            "GET",
            &format!("/query?sql={}", enc("query=SELECT x FROM")),
            None,
        )
        .await;
    assert_eq!(got, StatusCode::BAD_REQUEST);
    let error: Value = serde_json::from_str(v["error_info"].as_str().unwrap()).unwrap();
    assert_eq!(error["ErrorCode"], json!(6008), "{v}");
    s.stop().await;
}

#[tokio::test]
async fn sql_matchindex_runs_a_vector_query() {
    let dir = tempfile::tempdir().unwrap();
    let s = with_docs(dir.path()).await;
    let sql = |q: &str| {
        format!(
            "/query?sql={}",
            enc(&format!("query={q}&&kvpair=formatType:full_json"))
        )
    };
    // Document i has the vector [i, 0, 0, 0]; cate_id 1 nearest to 10.2: 9, 13, 5, 17, 1.
    let (status, v) = s
        .sql_call(
            "GET",
            &sql("SELECT id FROM docs WHERE cate_id = 1 AND MATCHINDEX('v', '10.2,0,0,0&n=5')"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(rows(&v), &json!([[9], [13], [5], [17], [1]]));
    let (_, v) = s
        .sql_call(
            "GET",
            &sql("SELECT id, title FROM docs WHERE MATCHINDEX('vector', '10.2,0,0,0') LIMIT 2 OFFSET 1"),
            None,
        )
        .await;
    assert_eq!(rows(&v), &json!([[11, "t11"], [9, "t9"]]));
    let (_, v) = s
        .sql_call(
            "GET",
            &sql("SELECT id FROM docs WHERE MATCHINDEX('v', '10.2,0,0,0&n=3') ORDER BY id DESC"),
            None,
        )
        .await;
    assert_eq!(rows(&v), &json!([[11], [10], [9]]));
    let (status, v) = s
        .sql_call(
            "GET",
            &sql("SELECT id FROM docs WHERE MATCHINDEX('nope', '1,0,0,0')"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["error_info"]["ErrorCode"], json!(6101), "{v}");
    let message = v["error_info"]["Message"].as_str().unwrap();
    assert!(message.contains("vector indexes: v"), "{message}");
    s.stop().await;
}
