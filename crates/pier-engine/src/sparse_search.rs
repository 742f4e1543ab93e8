//! Sparse vector searches, alone or with a dense query vector, over a table's sparse indexes
//! ([`crate::sparse`]) and graphs.
//!
//! The score of a document is the inner product of the sparse query with its sparse vector
//! (exact), plus, when a dense vector is sent, the dense score by the index's metric (inner
//! product or cosine: both higher-is-better, so the sum ranks as both do). A document sharing no
//! dimension with the sparse query has sparse score 0.
//!
//! Dense plus sparse: the candidates are the graph's `k` best for the dense vector and the
//! [`RESCORE_LIMIT`] best by sparse score; every candidate is scored exactly on both sides (the
//! dense side over the stored vectors) and the sums ranked. That is exact unless a document
//! outside both candidate lists would win on the sum.

use crate::vector_search::{KeySet, VectorHit, VectorSearchError};
use crate::vectors::{VECTOR_KEY_FIELD, VectorMetric};
use crate::{Engine, Table};
use pier_vector::SearchOptions;
use std::collections::HashMap;

/// Most documents of the sparse list rescored with the dense vector in a dense plus sparse
/// search (the graph's limit on one exact scan).
pub const RESCORE_LIMIT: usize = pier_vector::MAX_K;

/// One sparse (or dense plus sparse) search.
#[derive(Debug, Clone, Copy)]
pub struct SparseQuery<'a> {
    /// The vector index (spec name); it must have sparse fields.
    pub index: &'a str,
    /// The namespace (`""` for tables without one).
    pub namespace: &'a str,
    /// Sparse query dimensions, strictly ascending.
    pub indices: &'a [u32],
    /// Sparse query values, one per dimension.
    pub values: &'a [f32],
    /// A dense query vector whose score is added (the index's metric must be inner product or
    /// cosine).
    pub dense: Option<&'a [f32]>,
    /// How many documents.
    pub k: usize,
    /// HNSW candidate list size of the dense search (`None`: the index's default).
    pub ef: Option<usize>,
    /// Keep only documents for which this filter holds.
    pub filter: Option<&'a pier_query::Expr>,
    /// Score the dense vector by an exact scan with this metric (the index's or another; it
    /// must be inner product or cosine) instead of searching the graph.
    pub exact: Option<VectorMetric>,
}

impl Engine {
    /// The `k` documents with the highest sparse (plus dense) score, best first.
    pub fn sparse_search(
        &self,
        table: &Table,
        q: &SparseQuery<'_>,
    ) -> Result<Vec<VectorHit>, VectorSearchError> {
        let invalid = |m: String| VectorSearchError::Invalid(m);
        let vectors = table
            .vectors
            .as_ref()
            .ok_or_else(|| invalid(format!("table '{}' has no vector index", table.app_name)))?;
        let pos = vectors
            .specs()
            .iter()
            .position(|s| s.name == q.index)
            .ok_or_else(|| invalid(format!("vector index '{}' does not exist", q.index)))?;
        let spec = &vectors.specs()[pos];
        if spec.sparse.is_none() {
            return Err(invalid(format!(
                "vector index '{}' has no sparse vectors",
                spec.name
            )));
        }
        crate::sparse::check_sparse(q.indices, q.values)
            .map_err(|m| invalid(format!("sparse query vector: {m}")))?;
        if let Some(d) = q.dense {
            if d.len() != spec.dimension {
                return Err(invalid(format!(
                    "the query vector has {} values but index '{}' has dimension {}",
                    d.len(),
                    spec.name,
                    spec.dimension
                )));
            }
            if q.exact.unwrap_or(spec.metric) == VectorMetric::L2 {
                return Err(invalid(format!(
                    "index '{}' ranks by squared Euclidean distance (lower is better), which cannot be added to a sparse inner product; send the sparse vector alone or use an inner-product index",
                    spec.name
                )));
            }
        }
        let passing = match q.filter {
            None => None,
            Some(filter) => {
                let searcher = table.index.searcher();
                let keys = table
                    .index
                    .filter_keys(&searcher, filter, VECTOR_KEY_FIELD)
                    .map_err(|e| invalid(e.message))?;
                Some(keys)
            }
        };
        let set = passing.as_deref().map(KeySet::new);
        let test = |key: u64| set.as_ref().is_none_or(|s| s.contains(key));
        let sparse = vectors
            .sparse()
            .scores(pos, q.namespace, (q.indices, q.values), &test)
            .unwrap_or_default();
        let mut scored: Vec<(u64, f32)> = match (q.dense, vectors.graph_of(q.index, q.namespace)) {
            (Some(dense), Some(graph)) => {
                let mut by_sparse: Vec<(u64, f32)> = sparse.iter().map(|(k, s)| (*k, *s)).collect();
                rank(&mut by_sparse);
                by_sparse.truncate(RESCORE_LIMIT);
                let mut sums: HashMap<u64, f32> = by_sparse.iter().copied().collect();
                let mut add_dense = |opts: &SearchOptions<'_>| {
                    let found = graph
                        .search_with(dense, opts)
                        .map_err(|e| invalid(e.to_string()))?;
                    for (key, score) in found.hits {
                        sums.insert(key, score + sparse.get(&key).copied().unwrap_or(0.0));
                    }
                    Ok::<_, VectorSearchError>(())
                };
                add_dense(&SearchOptions {
                    k: q.k,
                    ef: q.ef,
                    filter: set.as_ref().map(|_| &test as &dyn Fn(u64) -> bool),
                    filter_matches_hint: passing.as_ref().map(Vec::len),
                    candidates: None,
                    exact: q.exact.map(VectorMetric::to_index),
                })?;
                let keys: Vec<u64> = by_sparse.iter().map(|(k, _)| *k).collect();
                if !keys.is_empty() {
                    // The sparse candidates' dense scores, exactly (they passed the filter).
                    add_dense(&SearchOptions {
                        k: keys.len(),
                        candidates: Some(&keys),
                        exact: q.exact.map(VectorMetric::to_index),
                        ..SearchOptions::default()
                    })?;
                }
                sums.into_iter().collect()
            }
            _ => sparse.into_iter().collect(),
        };
        rank(&mut scored);
        scored.truncate(q.k);
        let mut hits = Vec::with_capacity(scored.len());
        for (key, score) in scored {
            if let Some(pk) = self.shared.vector_keys.pk_of(table.id, key)? {
                hits.push(VectorHit { pk, score });
            }
        }
        Ok(hits)
    }
}

/// Best (highest) first, then by key so that ties rank the same way every time.
fn rank(items: &mut [(u64, f32)]) {
    items.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
}
