//! Vector searches over a table's graphs, for the dialects that have them: nearest documents by
//! primary key and raw score, with an optional filter evaluated on the text index's attributes.
//!
//! A filter is first turned into the set of passing document keys (one pass over the attribute
//! columns of the last commit). When few documents pass, they are scored exactly; otherwise the
//! graph is searched with the set as a membership test during traversal (`pier_vector` picks).

use crate::vectors::{VECTOR_KEY_FIELD, VectorMetric};
use crate::{Engine, EngineError, Table};
use pier_vector::SearchOptions;
use serde_json::{Map, Value};

/// One vector search.
#[derive(Debug, Clone, Copy)]
pub struct VectorQuery<'a> {
    /// The vector index (spec name).
    pub index: &'a str,
    /// The namespace (`""` for tables without one).
    pub namespace: &'a str,
    /// The query vector.
    pub vector: &'a [f32],
    /// How many documents.
    pub k: usize,
    /// HNSW candidate list size (`None`: the index's default).
    pub ef: Option<usize>,
    /// Keep only documents for which this filter holds.
    pub filter: Option<&'a pier_query::Expr>,
    /// Answer by an exact scan scoring with this metric (the index's or another) instead of
    /// searching the graph; scores follow [`VectorHit::score`]'s convention for that metric.
    pub exact: Option<VectorMetric>,
}

/// A stored document and the timestamp of the version that wrote it.
pub type TimestampedDoc = (Map<String, Value>, i64);

/// A found document.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorHit {
    /// Primary key.
    pub pk: String,
    /// Raw score: squared L2 distance (lower is better), inner product or cosine (higher).
    pub score: f32,
}

/// Why a vector search failed.
#[derive(Debug, thiserror::Error)]
pub enum VectorSearchError {
    /// The request is wrong (unknown index, dimension, filter); the message says what to fix.
    #[error("{0}")]
    Invalid(String),
    /// Reading the store or the index failed.
    #[error("{0}")]
    Internal(String),
}

impl From<fjall::Error> for VectorSearchError {
    fn from(e: fjall::Error) -> Self {
        VectorSearchError::Internal(e.to_string())
    }
}

/// A dense set of document keys (they are assigned densely from 0).
pub(crate) struct KeySet(Vec<u64>);

impl KeySet {
    pub(crate) fn new(keys: &[u64]) -> KeySet {
        let max = keys.iter().copied().max().unwrap_or(0);
        let mut words = vec![0u64; (max / 64 + 1) as usize];
        for k in keys {
            words[(k / 64) as usize] |= 1 << (k % 64);
        }
        KeySet(words)
    }

    pub(crate) fn contains(&self, key: u64) -> bool {
        self.0
            .get((key / 64) as usize)
            .is_some_and(|w| w & (1 << (key % 64)) != 0)
    }
}

impl Engine {
    /// The `k` documents nearest to `q.vector`, best first.
    pub fn vector_search(
        &self,
        table: &Table,
        q: &VectorQuery<'_>,
    ) -> Result<Vec<VectorHit>, VectorSearchError> {
        let vectors = table.vectors.as_ref().ok_or_else(|| {
            VectorSearchError::Invalid(format!("table '{}' has no vector index", table.app_name))
        })?;
        let spec = vectors.spec(q.index).ok_or_else(|| {
            VectorSearchError::Invalid(format!(
                "vector index '{}' does not exist (indexes: {})",
                q.index,
                vectors
                    .specs()
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        if q.vector.len() != spec.dimension {
            return Err(VectorSearchError::Invalid(format!(
                "the query vector has {} values but index '{}' has dimension {}",
                q.vector.len(),
                spec.name,
                spec.dimension
            )));
        }
        let Some(graph) = vectors.graph_of(q.index, q.namespace) else {
            return Ok(Vec::new());
        };
        let passing = match q.filter {
            None => None,
            Some(filter) => {
                let searcher = table.index.searcher();
                let keys = table
                    .index
                    .filter_keys(&searcher, filter, VECTOR_KEY_FIELD)
                    .map_err(|e| VectorSearchError::Invalid(e.message))?;
                Some(keys)
            }
        };
        let set = passing.as_deref().map(KeySet::new);
        let test = |key: u64| set.as_ref().is_none_or(|s| s.contains(key));
        let opts = SearchOptions {
            k: q.k,
            ef: q.ef,
            filter: set.as_ref().map(|_| &test as &dyn Fn(u64) -> bool),
            filter_matches_hint: passing.as_ref().map(Vec::len),
            candidates: None,
            exact: q.exact.map(VectorMetric::to_index),
        };
        let found = graph
            .search_with(q.vector, &opts)
            .map_err(|e| VectorSearchError::Invalid(e.to_string()))?;
        let mut hits = Vec::with_capacity(found.hits.len());
        for (key, score) in found.hits {
            if let Some(pk) = self.shared.vector_keys.pk_of(table.id, key)? {
                hits.push(VectorHit { pk, score });
            }
        }
        Ok(hits)
    }

    /// The stored documents of `pks` (as applied; `None` for unknown or deleted keys).
    pub fn documents(
        &self,
        table: &Table,
        pks: &[&str],
    ) -> Result<Vec<Option<Map<String, Value>>>, EngineError> {
        pks.iter()
            .map(|pk| Ok(self.shared.docs.get(table.id, pk)?.and_then(|d| d.doc)))
            .collect()
    }

    /// [`Engine::documents`] without the top-level fields named in `skip` (typically the
    /// vector fields of a response that does not show vectors: they are not parsed).
    pub fn documents_without(
        &self,
        table: &Table,
        pks: &[&str],
        skip: &[&str],
    ) -> Result<Vec<Option<Map<String, Value>>>, EngineError> {
        pks.iter()
            .map(|pk| Ok(self.shared.docs.get_doc_without(table.id, pk, skip)?))
            .collect()
    }

    /// The stored documents of `pks`, each with the timestamp of the version that wrote it
    /// (`None` for unknown or deleted keys). A read-modify-write pushes its result with that
    /// `timestamp`: the applier then drops it when another write changed or deleted the
    /// document in between (a newer version) instead of overwriting that write.
    pub fn documents_with_timestamps(
        &self,
        table: &Table,
        pks: &[&str],
    ) -> Result<Vec<Option<TimestampedDoc>>, EngineError> {
        pks.iter()
            .map(|pk| {
                Ok(self
                    .shared
                    .docs
                    .get(table.id, pk)?
                    .and_then(|d| d.doc.map(|doc| (doc, d.version.timestamp))))
            })
            .collect()
    }

    /// Primary keys of the live documents of `table` (in key order).
    pub fn live_keys(&self, table: &Table) -> Result<Vec<String>, EngineError> {
        Ok(self.shared.docs.live_keys(table.id)?)
    }
}
