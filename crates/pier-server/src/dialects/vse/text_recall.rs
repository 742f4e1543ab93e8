//! `textQueryString` on vector queries (spec §2.1): a ha3 query clause ANDed with the vector
//! recall.
//!
//! The clause is run on the text index first (ha3 query syntax as in V3's `query` clause and
//! search's `text.queryString`, over the table's TEXT fields; the query's `filter` applies
//! too); the documents it matches are then scored exactly against the query vectors, so the
//! answer is the true nearest of the matching documents rather than whatever a graph search
//! happens to meet. At most [`MAX_TEXT_MATCHES`] documents may match: more is refused with a
//! hint to narrow the clause (design choice: answering with a silent subset would be wrong).

use super::OpenTable;
use pier_engine::Engine;
use pier_index::search::Page;
use pier_vse::{Code, DistanceType, VectorIndex, VseError};
use serde_json::Value;

/// Most documents a `textQueryString` may match (design choice, the largest `topK`).
pub const MAX_TEXT_MATCHES: usize = pier_vse::query::MAX_TOP_K;

/// The documents matching a `textQueryString`, with their vectors for index `index`.
pub struct TextCandidates {
    /// Primary key and the document's vectors (`dimension` values each, concatenated).
    docs: Vec<(String, Vec<f32>)>,
    dimension: usize,
    distance: DistanceType,
}

/// Finds the documents matching `query` and `filter` in `namespace` (when the index has one).
pub fn candidates(
    engine: &Engine,
    t: &OpenTable,
    index: &VectorIndex,
    query: &str,
    filter: Option<&pier_query::Expr>,
    namespace: Option<&str>,
) -> Result<TextCandidates, VseError> {
    let mut request = pier_query::parse_search(&format!("query={query}"), None).map_err(|e| {
        VseError::new(
            Code::INVALID_PARAMETER,
            format!("textQueryString: {}", e.message),
        )
    })?;
    request.filter = filter.cloned();
    let page = Page::Ranked {
        start: 0,
        hit: MAX_TEXT_MATCHES,
    };
    let out = t.search(request, page, Code::INVALID_PARAMETER, "textQueryString")?;
    if out.total > MAX_TEXT_MATCHES as u64 {
        return Err(VseError::new(
            Code::INVALID_PARAMETER,
            format!(
                "textQueryString matches {} documents; at most {MAX_TEXT_MATCHES} can be scored against the vector: narrow the clause or add a filter",
                out.total
            ),
        ));
    }
    let pks: Vec<String> = out
        .hits
        .iter()
        .filter_map(|h| h.fields.get(&t.schema.primary_key).map(string_of))
        .collect();
    let refs: Vec<&str> = pks.iter().map(String::as_str).collect();
    let stored = engine
        .documents(&t.table, &refs)
        .map_err(|e| VseError::internal(&e.to_string()))?;
    let docs = pks
        .into_iter()
        .zip(stored)
        .filter_map(|(pk, doc)| {
            let doc = doc?;
            if let (Some(field), Some(ns)) = (&index.namespace_field, namespace)
                && doc.get(field).map(string_of).as_deref() != Some(ns)
            {
                return None;
            }
            let vector: Vec<f32> = match doc.get(&index.vector_field) {
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|x| x.as_f64())
                    .map(|f| f as f32)
                    .collect(),
                _ => Vec::new(),
            };
            (!vector.is_empty()).then_some((pk, vector))
        })
        .collect();
    Ok(TextCandidates {
        docs,
        dimension: index.dimension.max(1),
        distance: index.distance_type,
    })
}

impl TextCandidates {
    /// Every candidate's raw score against `query` (a multi-vector document scores with its
    /// best vector), in no particular order.
    pub fn score(&self, query: &[f32]) -> Vec<(String, f32)> {
        let higher_better = self.distance.higher_is_better();
        self.docs
            .iter()
            .filter_map(|(pk, vectors)| {
                vectors
                    .chunks_exact(self.dimension)
                    .map(|v| match self.distance {
                        DistanceType::SquaredEuclidean => v
                            .iter()
                            .zip(query)
                            .map(|(a, b)| (a - b) * (a - b))
                            .sum::<f32>(),
                        DistanceType::InnerProduct => {
                            v.iter().zip(query).map(|(a, b)| a * b).sum::<f32>()
                        }
                    })
                    .reduce(|a: f32, b: f32| if (b > a) == higher_better { b } else { a })
                    .map(|s| (pk.clone(), s))
            })
            .collect()
    }
}

fn string_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
