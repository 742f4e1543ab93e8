//! Response bodies of `/vector-service/*` (spec §2.2–§2.6), built from typed results.
//!
//! ```json
//! {"result":[{"id":99,"score":0.18588096,"fields":{"content":"..."}}],"totalCount":1,"totalTime":4.057}
//! ```
//!
//! Design choices where the spec is silent:
//! * `fields` is always present on a hit (an empty object when no output field was asked
//!   for), so clients that index `item["fields"]` never fail.
//! * `totalCount` is the number of items in `result` (documented), `totalTime` the elapsed
//!   milliseconds rounded to 3 decimals.
//! * aggregate answers `{"result":[{<group keys>..., <function columns>...}],"totalCount","totalTime"}`
//!   and batch-query `{"results":[<one query answer or error object each>],"totalCount","totalTime"}`
//!   (both shapes are UNVERIFIED in the spec).

use crate::error::VseError;
use crate::schema::{FieldType, VectorTableSchema};
use crate::value::{json_f32, json_f64};
use serde_json::{Map, Value, json};

/// Body of a successful `GET /network/active` (spec §2 checklist).
pub const ACTIVE_BODY: &str = r#"{"status":"OK"}"#;

/// Rounds milliseconds to 3 decimals (0 for a negative or non-finite time).
pub fn round_ms(ms: f64) -> f64 {
    if ms.is_finite() && ms > 0.0 {
        (ms * 1000.0).round() / 1000.0
    } else {
        0.0
    }
}

/// A hit's score.
#[derive(Debug, Clone, PartialEq)]
pub enum Score {
    /// The raw distance (SquaredEuclidean) or inner product, or a fused score (search).
    Single(f64),
    /// One score per `sorts` key.
    PerSort(Vec<f64>),
}

/// Which part of a hybrid search found a hit (`__source__`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// 1: the vector query.
    Knn,
    /// 2: the text query.
    Text,
    /// 3: both.
    Both,
}

impl Source {
    /// The wire value.
    pub fn code(self) -> u8 {
        match self {
            Source::Knn => 1,
            Source::Text => 2,
            Source::Both => 3,
        }
    }
}

/// One result item.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The primary key, typed as the schema field ([`VectorTableSchema::typed_pk`]).
    pub id: Value,
    /// The score; None for fetch.
    pub score: Option<Score>,
    /// The requested fields (see [`select_fields`]).
    pub fields: Map<String, Value>,
    /// The stored vector(s), when `includeVector` was true.
    pub vector: Option<Vec<f32>>,
    /// The namespace field's value, when the index has a namespace.
    pub namespace: Option<Value>,
    /// `__source__` (search only).
    pub source: Option<Source>,
}

impl Hit {
    /// A hit with only an id and a score.
    pub fn new(id: Value, score: f64) -> Hit {
        Hit {
            id,
            score: Some(Score::Single(score)),
            fields: Map::new(),
            vector: None,
            namespace: None,
            source: None,
        }
    }

    /// The hit as a result item.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), self.id.clone());
        match &self.score {
            Some(Score::Single(s)) => {
                m.insert("score".into(), json_f64(*s));
            }
            Some(Score::PerSort(v)) => {
                m.insert(
                    "score".into(),
                    Value::Array(v.iter().map(|s| json_f64(*s)).collect()),
                );
            }
            None => {}
        }
        if let Some(src) = self.source {
            m.insert("__source__".into(), json!(src.code()));
        }
        if let Some(ns) = &self.namespace {
            m.insert("namespace".into(), ns.clone());
        }
        m.insert("fields".into(), Value::Object(self.fields.clone()));
        if let Some(v) = &self.vector {
            m.insert(
                "vector".into(),
                Value::Array(v.iter().map(|x| json_f32(*x)).collect()),
            );
        }
        Value::Object(m)
    }
}

fn result_body(hits: &[Hit], total_time_ms: f64, covered_percent: Option<f64>) -> Value {
    let mut m = Map::new();
    m.insert(
        "result".into(),
        Value::Array(hits.iter().map(Hit::to_json).collect()),
    );
    m.insert("totalCount".into(), json!(hits.len()));
    m.insert("totalTime".into(), json!(round_ms(total_time_ms)));
    if let Some(c) = covered_percent {
        m.insert("coveredPercent".into(), json_f64(c));
    }
    Value::Object(m)
}

/// The answer of query, multi-query and fetch: `{"result":[..],"totalCount":n,"totalTime":ms}`.
pub fn query_response(hits: &[Hit], total_time_ms: f64) -> Value {
    result_body(hits, total_time_ms, None)
}

/// The answer of search: like [`query_response`] plus `coveredPercent` (1.0 when every shard
/// answered); hits should carry their [`Source`].
pub fn search_response(hits: &[Hit], total_time_ms: f64, covered_percent: f64) -> Value {
    result_body(hits, total_time_ms, Some(covered_percent))
}

/// The answer of batch-query: one query answer (or error object) per query, in order.
pub fn batch_query_response(results: &[Result<Vec<Hit>, VseError>], total_time_ms: f64) -> Value {
    let items: Vec<Value> = results
        .iter()
        .map(|r| match r {
            Ok(hits) => query_response(hits, 0.0),
            Err(e) => e.query_json(0.0),
        })
        .collect();
    json!({"results": items, "totalCount": results.len(), "totalTime": round_ms(total_time_ms)})
}

/// Per-partition document counts for stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionStats {
    /// Partition number.
    pub part_id: u32,
    /// Live documents.
    pub doc_count: u64,
    /// Index segments.
    pub segment_count: u64,
}

/// The answer of stats (spec §2.6):
/// `{"result":{"partitions":[..],"totalDocCount":N,"totalSegmentCount":S},"totalTime":ms}`.
pub fn stats_response(partitions: &[PartitionStats], total_time_ms: f64) -> Value {
    let parts: Vec<Value> = partitions
        .iter()
        .map(|p| json!({"partId": p.part_id, "docCount": p.doc_count, "segmentCount": p.segment_count}))
        .collect();
    json!({
        "result": {
            "partitions": parts,
            "totalDocCount": partitions.iter().map(|p| p.doc_count).sum::<u64>(),
            "totalSegmentCount": partitions.iter().map(|p| p.segment_count).sum::<u64>(),
        },
        "totalTime": round_ms(total_time_ms),
    })
}

/// The answer of aggregate: one object per group, keyed by group key and result column.
pub fn aggregate_response(rows: &[Map<String, Value>], total_time_ms: f64) -> Value {
    json!({
        "result": rows,
        "totalCount": rows.len(),
        "totalTime": round_ms(total_time_ms),
    })
}

/// A stored vector field written the way it was declared: a JSON array for MULTI_FLOAT /
/// MULTI_DOUBLE, a string joined by the index's delimiter for STRING.
pub fn render_vector_field(schema: &VectorTableSchema, field: &str, values: &[f32]) -> Value {
    let string_typed = schema
        .field(field)
        .is_some_and(|f| f.field_type == FieldType::String);
    if string_typed {
        let delim = schema
            .indexes_on_field(field)
            .next()
            .map_or(",", |i| i.embedding_delimiter.as_str());
        Value::String(
            values
                .iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(delim),
        )
    } else {
        Value::Array(values.iter().map(|x| json_f32(*x)).collect())
    }
}

/// Builds a hit's `fields` from a stored document: the `output_fields` (schema spelling, see
/// [`crate::query::resolve_output_fields`]) that the document has, or every field when
/// `output_fields` is empty and `all_when_empty` (fetch). Vector fields are rendered from
/// `vectors` (field → values) with [`render_vector_field`]. Multi-value fields stay JSON arrays.
pub fn select_fields(
    schema: &VectorTableSchema,
    doc: &Map<String, Value>,
    vectors: &[(&str, &[f32])],
    output_fields: &[String],
    all_when_empty: bool,
) -> Map<String, Value> {
    let wanted: Vec<&str> = if output_fields.is_empty() {
        if !all_when_empty {
            return Map::new();
        }
        schema.fields.iter().map(|f| f.name.as_str()).collect()
    } else {
        output_fields.iter().map(String::as_str).collect()
    };
    let mut out = Map::new();
    for name in wanted {
        if let Some((_, v)) = vectors.iter().find(|(f, _)| f.eq_ignore_ascii_case(name)) {
            out.insert(name.to_string(), render_vector_field(schema, name, v));
        } else if let Some(v) = doc.get(name) {
            out.insert(name.to_string(), v.clone());
        }
    }
    out
}

/// A management OpenAPI success body (spec §2.7): `{"requestId":..,"result":..}`.
pub fn openapi_success(request_id: &str, result: Value) -> Value {
    json!({"requestId": request_id, "result": result})
}

/// A management OpenAPI error body (spec §2.7): `{"requestId":..,"code":"..","message":".."}`,
/// e.g. code `"InvalidParameter"` for a [`crate::schema::SchemaError`] (design choice).
pub fn openapi_error(request_id: &str, code: &str, message: &str) -> Value {
    json!({"requestId": request_id, "code": code, "message": message})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_documented_query_response() {
        // [DOC-ZH] sparse query page example.
        let mut hit = Hit::new(json!(99), 0.18588095903396607);
        hit.fields
            .insert("content".into(), json!("众好六类网线RJ45 ..."));
        hit.source = Some(Source::Knn);
        let mut doc = json!({
            "totalCount": 50,
            "result": [{"id": 99, "score": 0.18588095903396607, "__source__": 1, "fields": {"content": "众好六类网线RJ45 ..."}}],
            "totalTime": 4.057
        });
        doc["totalCount"] = json!(1);
        assert_eq!(query_response(&[hit], 4.0571), doc);
        let body = query_response(&[], 0.0).to_string();
        assert_eq!(body, r#"{"result":[],"totalCount":0,"totalTime":0.0}"#);
        assert!(!body.contains("errorCode"));
    }

    #[test]
    fn builds_the_documented_search_response() {
        let mut hit = Hit::new(json!(2), 0.833333);
        hit.source = Some(Source::Text);
        hit.namespace = Some(json!(1));
        hit.fields.insert("title".into(), json!("a b c"));
        let want = json!({"totalTime": 8.522, "coveredPercent": 1.0, "totalCount": 1,
            "result": [{"__source__": 2, "score": 0.833333, "namespace": 1, "id": 2, "fields": {"title": "a b c"}}]});
        assert_eq!(search_response(&[hit], 8.522, 1.0), want);
    }

    #[test]
    fn fetch_items_vectors_sorts_and_batches() {
        let hit = Hit {
            id: json!("1"),
            score: None,
            fields: Map::new(),
            vector: Some(vec![0.1, 0.2]),
            namespace: None,
            source: None,
        };
        assert_eq!(
            hit.to_json(),
            json!({"id": "1", "fields": {}, "vector": [0.1, 0.2]})
        );
        let mut h = Hit::new(json!(1), 0.0);
        h.score = Some(Score::PerSort(vec![3.0, 0.5]));
        assert_eq!(h.to_json()["score"], json!([3.0, 0.5]));
        let b = batch_query_response(
            &[
                Ok(vec![Hit::new(json!(1), 0.5)]),
                Err(VseError::table_not_found("x")),
            ],
            2.0,
        );
        assert_eq!(b["results"][0]["result"][0]["id"], 1);
        assert_eq!(b["results"][1]["errorCode"], 3012);
        assert_eq!(b["totalCount"], 2);
    }

    #[test]
    fn stats_and_aggregate() {
        // [DOC-ZH] stats example.
        let s = stats_response(
            &[PartitionStats {
                part_id: 0,
                doc_count: 3,
                segment_count: 1,
            }],
            2.185,
        );
        assert_eq!(
            s,
            json!({"result":{"partitions":[{"partId":0,"docCount":3,"segmentCount":1}],"totalDocCount":3,"totalSegmentCount":1},"totalTime":2.185})
        );
        let row = json!({"cate_id": 2, "count(*)": 3})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(aggregate_response(&[row], 1.0)["result"][0]["count(*)"], 3);
        assert_eq!(round_ms(f64::NAN), 0.0);
        assert_eq!(ACTIVE_BODY, r#"{"status":"OK"}"#);
        assert_eq!(
            openapi_error("r", "InvalidParameter", "m")["code"],
            "InvalidParameter"
        );
        assert_eq!(openapi_success("r", json!([]))["result"], json!([]));
    }

    #[test]
    fn selects_fields() {
        let schema = crate::push::tests::schema();
        let doc = json!({"id": 1, "cate_id": 2, "tags": ["a"], "title": "t"})
            .as_object()
            .unwrap()
            .clone();
        let v: &[f32] = &[0.5, 0.25, 1.0];
        let out = select_fields(
            &schema,
            &doc,
            &[("vector", v)],
            &["tags".into(), "vector".into(), "ns".into()],
            false,
        );
        assert_eq!(
            Value::Object(out),
            json!({"tags": ["a"], "vector": [0.5, 0.25, 1.0]})
        );
        assert!(select_fields(&schema, &doc, &[], &[], false).is_empty());
        let all = select_fields(&schema, &doc, &[], &[], true);
        assert_eq!(all.len(), 4);
        let s = VectorTableSchema::from_json(&json!({"name": "t", "primaryKey": "id",
            "fieldSchema": {"id": "STRING", "emb": "STRING"},
            "vectorIndex": [{"indexName": "i", "vectorField": "emb", "dimension": "2", "embeddingDelimiter": " "}]})).unwrap();
        assert_eq!(render_vector_field(&s, "emb", &[0.5, 1.0]), json!("0.5 1"));
    }
}
