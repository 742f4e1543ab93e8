//! The raw requests the official SDKs send (captured by `fixtures/capture_sdk_requests.py` from
//! alibabacloud-ha3engine-vector 1.1.19 and alibabacloud-ha3engine 1.3.12, and LangChain's body
//! shapes sent through the vector SDK), parsed the way the server will: path, headers, body.

use pier_vse::body::{MAX_QUERY_BODY_BYTES, decode_body};
use pier_vse::push::{HEADER_PK_FIELD, HEADER_VALIDATE_DATA, MAX_PUSH_BODY_BYTES};
use pier_vse::query::{AggFn, MergeMode, peek_table_name};
use pier_vse::*;
use serde_json::{Value, json};

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The JSON bytes, inflated per Content-Encoding as the server will.
    fn json(&self) -> Vec<u8> {
        decode_body(
            self.header("Content-Encoding"),
            self.header("content-type"),
            &self.body,
            MAX_QUERY_BODY_BYTES,
        )
        .unwrap()
        .into_owned()
    }
}

fn load(name: &str) -> Request {
    let path = format!("{}/tests/fixtures/{name}.http", env!("CARGO_MANIFEST_DIR"));
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head/body separator");
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap().split(' ');
    let method = first.next().unwrap().to_string();
    let path = first.next().unwrap().to_string();
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect();
    Request {
        method,
        path,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

fn create_table_schema() -> VectorTableSchema {
    VectorTableSchema::from_json_str(
        std::str::from_utf8(&load("vector_create_table").body).unwrap(),
    )
    .unwrap()
}

/// The table the ha3engine and LangChain pushes write to: a STRING key and 2- / 3-d string vectors.
fn string_schema() -> VectorTableSchema {
    VectorTableSchema::from_json(&json!({"name": "test", "primaryKey": "id",
        "fieldSchema": {"id": "STRING", "title": "TEXT", "document": "TEXT", "vec": "STRING", "embedding": "STRING",
                        "price": "INT32", "cate_id": "INT32"},
        "vectorIndex": [{"indexName": "v", "vectorField": "vec", "dimension": "2"},
                        {"indexName": "e", "vectorField": "embedding", "dimension": "3", "distanceType": "InnerProduct"}]}))
    .unwrap()
}

fn push(name: &str, schema: &VectorTableSchema) -> Vec<VectorOperation> {
    let r = load(name);
    assert_eq!(r.method, "POST");
    let segment = r
        .path
        .strip_prefix("/update/")
        .and_then(|p| p.strip_suffix("/actions/bulk"))
        .unwrap();
    assert_eq!(
        resolve_bulk_table(segment, |t| t == schema.name).as_deref(),
        Some("test")
    );
    let body = decode_body(
        r.header("Content-Encoding"),
        r.header("content-type"),
        &r.body,
        MAX_PUSH_BODY_BYTES,
    )
    .unwrap();
    parse_push(
        &body,
        schema,
        r.header(HEADER_PK_FIELD),
        Validation::from_header(r.header(HEADER_VALIDATE_DATA)),
    )
    .unwrap()
}

#[test]
fn create_table_round_trips() {
    let r = load("vector_create_table");
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/openapi/ha3/instances/ha-cn-abc123/tables")
    );
    let schema = create_table_schema();
    let sent: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(schema.to_json(), sent);
    assert_eq!(schema.vector_indexes[0].dimension, 3);
}

#[test]
fn vector_sdk_pushes() {
    let schema = create_table_schema();
    let r = load("vector_push_spec");
    assert_eq!(r.header(HEADER_VALIDATE_DATA), Some("true"));
    assert_eq!(r.body, br#"[{"cmd":"add","fields":{"id":1,"cate_id":2,"vector":[0.1,0.2,0.3],"tags":["a","b"]}},{"cmd":"delete","fields":{"id":2}}]"#);
    let ops = push("vector_push_spec", &schema);
    assert_eq!(
        (
            ops[0].cmd,
            ops[0].pk.as_str(),
            ops[1].cmd,
            ops[1].pk.as_str()
        ),
        (Cmd::Add, "1", Cmd::Delete, "2")
    );
    assert_eq!(ops[0].vectors[0].values, vec![0.1, 0.2, 0.3]);

    let ops = push("vector_push", &schema);
    assert_eq!(ops.len(), 3);
    assert_eq!(ops[0].fields["title"], json!("中文"));
    assert_eq!(ops[1].pk, "3");
    assert_eq!(ops[1].vectors[0].values, vec![0.4, 0.5, 0.6]);
    assert_eq!(
        (
            ops[1].sparse[0].indices.clone(),
            ops[1].sparse[0].values.clone()
        ),
        (vec![1, 5], vec![0.5, 0.4])
    );
    assert_eq!(ops[1].fields["ns"], json!("a"));

    // Pushes are never compressed, even with the deflate runtime option.
    let r = load("vector_push_deflate_header");
    assert_eq!(r.header("Content-Encoding"), None);
    assert_eq!(push("vector_push_deflate_header", &schema)[0].pk, "1");
}

#[test]
fn ha3engine_and_langchain_pushes() {
    let schema = string_schema();
    let ops = push("ha3engine_push", &schema);
    assert_eq!(
        (ops[0].pk.as_str(), ops[0].vectors[0].values.clone()),
        ("1", vec![0.1, 0.2])
    );
    assert_eq!(ops[0].fields["title"], json!("中文"));

    let r = load("ha3engine_push_with_swift");
    assert_eq!(r.header(HEADER_VALIDATE_DATA), None);
    assert_eq!(r.header("X-Opensearch-Swift-Topic"), Some("topic1"));
    let ops = push("ha3engine_push_with_swift", &schema);
    assert_eq!(
        (ops[0].cmd, ops[0].fields["price"].clone()),
        (Cmd::UpdateField, json!(3))
    );

    let ops = push("langchain_push", &schema);
    assert_eq!(ops[0].pk, "0a4d55a8d778e5022fab701977c5d840bbc486d0");
    assert_eq!(
        (
            ops[0].vectors[0].field.as_str(),
            ops[0].vectors[0].values.clone()
        ),
        ("embedding", vec![0.1, 0.2, 0.3])
    );
    assert_eq!(ops[0].fields["document"], json!("hello world"));
    let ops = push("langchain_delete", &schema);
    assert_eq!(
        (ops[0].cmd, ops[0].pk.as_str()),
        (Cmd::Delete, "0a4d55a8d778e5022fab701977c5d840bbc486d0")
    );
}

#[test]
fn queries() {
    let schema = create_table_schema();
    let r = load("vector_query");
    assert_eq!(r.path, "/vector-service/query");
    assert_eq!(peek_table_name(&r.json()).as_deref(), Some("test"));
    let mut q = QueryRequest::parse(&r.json()).unwrap();
    q.resolve(&schema).unwrap();
    assert_eq!(
        (q.namespace.as_deref(), q.top_k, q.sparse.is_some()),
        (Some("ns1"), 5, true)
    );

    let r = load("vector_query_deflate");
    assert_eq!(r.header("Content-Encoding"), Some("deflate"));
    assert!(
        QueryRequest::parse(&r.body).is_err(),
        "raw deflate bytes are not JSON"
    );
    let q = QueryRequest::parse(&r.json()).unwrap();
    assert_eq!(q.filter.unwrap().source, "title=\"中文\"");

    let q = QueryRequest::parse(&load("vector_query_minimal").json()).unwrap();
    assert_eq!(q.vector, vec![1.0, 2.0, 3.0]);
    let q = QueryRequest::parse(&load("vector_query_full").json()).unwrap();
    assert_eq!(
        (q.vector_count, q.sorts.len(), q.index_name.as_deref()),
        (2, 1, Some("vec_idx"))
    );

    let r = load("vector_query_no_credentials");
    assert_eq!(r.header("authorization"), Some("Basic None"));

    let mut q = QueryRequest::parse(&load("langchain_query").json()).unwrap();
    assert!(q.namespace.is_none());
    let lc = string_schema();
    q.index_name = Some("e".into());
    q.resolve(&lc).unwrap();
    assert_eq!(
        q.output_fields,
        vec!["id", "document", "embedding", "cate_id"]
    );

    let q = QueryRequest::parse_inference(&load("vector_inference_query").json()).unwrap();
    assert_eq!(q.inference.unwrap().content.as_deref(), Some("hello"));
}

#[test]
fn fetch_multi_search_aggregate_batch_stats_active() {
    let f = FetchRequest::parse(&load("vector_fetch_ids").json()).unwrap();
    assert_eq!(f.ids.unwrap(), vec!["1", "2"]);
    let f = FetchRequest::parse(&load("vector_fetch_scan").json()).unwrap();
    assert_eq!((f.limit, f.offset, f.sort.len()), (10, 0, 1));

    let m = MultiQueryRequest::parse(&load("vector_multi_query").json()).unwrap();
    assert_eq!((m.queries.len(), m.mode, m.top_k), (2, MergeMode::Max, 3));

    let s = SearchRequest::parse(&load("vector_search").json()).unwrap();
    assert_eq!(
        s.rank,
        Rank::Rrf {
            rank_constant: 60.0
        }
    );
    let s = SearchRequest::parse(&load("vector_search_weighted").json()).unwrap();
    assert_eq!(
        (s.rank, s.knn_weight(), s.text_weight()),
        (Rank::WeightedSum, 0.3, 0.7)
    );

    let a = AggregateRequest::parse(&load("vector_aggregate").json()).unwrap();
    assert_eq!(a.agg_funcs[0].func, AggFn::Count);
    let b = BatchQueryRequest::parse(&load("vector_batch_query").json()).unwrap();
    assert_eq!(b.timeout_ms, Some(1000));
    assert_eq!(
        StatsRequest::parse(&load("vector_stats").json())
            .unwrap()
            .table_name,
        "test"
    );

    let r = load("vector_active");
    assert_eq!(
        (r.method.as_str(), r.path.as_str(), r.body.len()),
        ("GET", "/network/active", 0)
    );
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
}
