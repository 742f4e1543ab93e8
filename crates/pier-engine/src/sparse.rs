//! Sparse vectors of a table's vector indexes: an in-memory inverted index per index and per
//! namespace, searched by exact inner product.
//!
//! * **Storage.** A sparse vector lives in the document as two flat fields named by the spec's
//!   [`SparseFields`]: the indices (integers, strictly ascending) and the values (numbers), of
//!   equal length. The document store is its source of truth.
//! * **Index.** Per spec with sparse fields: the vector of every key (to undo it) and, per
//!   namespace, a posting map `dimension → (key → value)`. It is changed by
//!   [`crate::vectors::VectorSet::apply_batch`] with the dense graphs, so it follows their rules:
//!   the applier drains the vector queue before it commits the text index, hence a visible
//!   document is searchable by its sparse vector, and a failed batch stops the commit.
//! * **Why in memory, rebuilt on open.** Postings are small next to the dense graphs (a few
//!   hundred non-zero dimensions per document at most), and rebuilding them is one pass over the
//!   table's documents in the store, which is what the store is for. So there is nothing to
//!   checkpoint: on open the index is rebuilt from the store ([`rebuild`]), and the replay that
//!   follows rewrites each replayed key from the store's state like the graphs do, so replay is
//!   idempotent whatever state the store had reached before a crash.
//! * **Search.** The score of a document is the exact inner product with the query: the query's
//!   dimensions' postings are accumulated. Only documents sharing a dimension with the query are
//!   found (the others score 0).

use crate::Shared;
use crate::vectors::{VectorIndexSpec, VectorSet};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// The two document fields holding a vector index's sparse vectors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SparseFields {
    /// Field of the indices (integers from 0 to `u32::MAX`, strictly ascending).
    pub indices: String,
    /// Field of the values (numbers, one per index).
    pub values: String,
}

/// A sparse vector: strictly ascending indices and their values.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SparseVector {
    /// Dimensions, strictly ascending.
    pub indices: Vec<u32>,
    /// One value per dimension.
    pub values: Vec<f32>,
}

/// Checks a sparse vector: as many values as indices, indices strictly ascending (sorted, no
/// repeats), values finite. The message says what to fix.
pub fn check_sparse(indices: &[u32], values: &[f32]) -> Result<(), String> {
    if indices.len() != values.len() {
        return Err(format!(
            "{} indices but {} values; they pair up one to one",
            indices.len(),
            values.len()
        ));
    }
    if let Some(i) = indices.windows(2).position(|w| w[0] >= w[1]) {
        return Err(format!(
            "indices must be sorted ascending without repeats; {} is followed by {} at position {}",
            indices[i],
            indices[i + 1],
            i + 1
        ));
    }
    if let Some(v) = values.iter().find(|v| !v.is_finite()) {
        return Err(format!("value {v} is not a finite number"));
    }
    Ok(())
}

impl VectorIndexSpec {
    /// The document's sparse vector for this index (`None`: the index has no sparse fields, or
    /// the document no sparse vector).
    pub fn sparse_of(&self, doc: &Map<String, Value>) -> Result<Option<SparseVector>, String> {
        let Some(f) = &self.sparse else {
            return Ok(None);
        };
        let get = |name: &str| doc.get(name).filter(|v| !v.is_null());
        let (iv, vv) = match (get(&f.indices), get(&f.values)) {
            (None, None) => return Ok(None),
            (Some(i), Some(v)) => (i, v),
            _ => {
                return Err(format!(
                    "sparse vector of index '{}': send both '{}' (indices) and '{}' (values), or neither",
                    self.name, f.indices, f.values
                ));
            }
        };
        let bad = |m: String| {
            format!(
                "sparse vector of index '{}' ('{}' / '{}'): {m}",
                self.name, f.indices, f.values
            )
        };
        let indices = iv
            .as_array()
            .and_then(|a| {
                a.iter()
                    .map(|x| x.as_u64().and_then(|n| u32::try_from(n).ok()))
                    .collect::<Option<Vec<u32>>>()
            })
            .ok_or_else(|| {
                bad(format!(
                    "'{}' must be an array of integers from 0 to {}",
                    f.indices,
                    u32::MAX
                ))
            })?;
        let values = vv
            .as_array()
            .and_then(|a| {
                a.iter()
                    .map(|x| x.as_f64().map(|f| f as f32))
                    .collect::<Option<Vec<f32>>>()
            })
            .ok_or_else(|| bad(format!("'{}' must be an array of numbers", f.values)))?;
        check_sparse(&indices, &values).map_err(bad)?;
        if indices.is_empty() {
            return Ok(None);
        }
        Ok(Some(SparseVector { indices, values }))
    }
}

/// The sparse index of one vector index.
#[derive(Default)]
struct SparseIndex {
    /// Key → its namespace and vector (what to take out of the postings when it changes).
    docs: HashMap<u64, (String, SparseVector)>,
    /// Namespace → dimension → key → value.
    postings: HashMap<String, HashMap<u32, HashMap<u64, f32>>>,
}

impl SparseIndex {
    fn set(&mut self, key: u64, state: Option<(String, SparseVector)>) {
        if let Some((ns, old)) = self.docs.remove(&key)
            && let Some(dims) = self.postings.get_mut(&ns)
        {
            for i in &old.indices {
                if let Some(p) = dims.get_mut(i) {
                    p.remove(&key);
                    if p.is_empty() {
                        dims.remove(i);
                    }
                }
            }
            if dims.is_empty() {
                self.postings.remove(&ns);
            }
        }
        if let Some((ns, v)) = state {
            let dims = self.postings.entry(ns.clone()).or_default();
            for (i, x) in v.indices.iter().zip(&v.values) {
                dims.entry(*i).or_default().insert(key, *x);
            }
            self.docs.insert(key, (ns, v));
        }
    }
}

/// The sparse indexes of a table's vector indexes (one per spec with [`SparseFields`]).
pub(crate) struct SparseSet {
    /// Per spec position; `None` for specs without sparse fields.
    per_spec: Vec<Option<RwLock<SparseIndex>>>,
}

impl SparseSet {
    pub fn new(specs: &[VectorIndexSpec]) -> SparseSet {
        SparseSet {
            per_spec: specs
                .iter()
                .map(|s| s.sparse.as_ref().map(|_| RwLock::default()))
                .collect(),
        }
    }

    /// Whether any spec has sparse fields.
    pub fn is_used(&self) -> bool {
        self.per_spec.iter().any(Option::is_some)
    }

    /// Makes spec `pos` hold `state` (namespace and vector; `None`: nothing) for `key`.
    pub fn set(&self, pos: usize, key: u64, state: Option<(String, SparseVector)>) {
        if let Some(Some(index)) = self.per_spec.get(pos) {
            index.write().set(key, state);
        }
    }

    /// The inner product of the query with every document of spec `pos` in `namespace` that
    /// shares a dimension with it and passes `keep`. `None`: the spec has no sparse fields.
    pub fn scores(
        &self,
        pos: usize,
        namespace: &str,
        query: (&[u32], &[f32]),
        keep: &dyn Fn(u64) -> bool,
    ) -> Option<HashMap<u64, f32>> {
        let index = self.per_spec.get(pos)?.as_ref()?.read();
        let mut acc: HashMap<u64, f32> = HashMap::new();
        let Some(dims) = index.postings.get(namespace) else {
            return Some(acc);
        };
        for (i, q) in query.0.iter().zip(query.1) {
            let Some(posting) = dims.get(i) else { continue };
            for (key, v) in posting {
                if keep(*key) {
                    *acc.entry(*key).or_default() += q * v;
                }
            }
        }
        Some(acc)
    }

    /// Documents held by every sparse index.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.per_spec
            .iter()
            .flatten()
            .map(|i| i.read().docs.len())
            .sum()
    }
}

/// Fills the sparse indexes of `set` from the store's live documents of table `table_id` (on
/// open, before the applier starts; see the module comment).
pub(crate) fn rebuild(shared: &Shared, table_id: u64, set: &VectorSet) -> anyhow::Result<()> {
    if !set.sparse().is_used() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let mut n = 0usize;
    shared
        .docs
        .for_each_live(table_id, |pk, doc| -> fjall::Result<()> {
            let Some(key) = shared.vector_keys.key_of(table_id, pk)? else {
                // Never indexed (the applier assigns a key when it indexes a document); the replay
                // that follows indexes it.
                return Ok(());
            };
            for (pos, spec) in set.specs().iter().enumerate() {
                if let Ok(Some(v)) = spec.sparse_of(doc) {
                    set.sparse()
                        .set(pos, key, Some((spec.namespace_of(doc), v)));
                    n += 1;
                }
            }
            Ok(())
        })?;
    tracing::info!(
        table_id,
        vectors = n,
        ms = started.elapsed().as_millis() as u64,
        "sparse indexes rebuilt"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vectors::{VectorMetric, VectorStorage};
    use serde_json::json;

    fn spec() -> VectorIndexSpec {
        VectorIndexSpec {
            name: "v".into(),
            field: "vec".into(),
            dimension: 2,
            metric: VectorMetric::Ip,
            storage: VectorStorage::F32,
            m: 16,
            ef_construction: 64,
            ef_search: 64,
            linear_build_threshold: 0,
            namespace_field: Some("ns".into()),
            sparse: Some(SparseFields {
                indices: "si".into(),
                values: "sv".into(),
            }),
        }
    }

    fn doc(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn reads_and_checks_sparse_fields() {
        let s = spec();
        let v = s
            .sparse_of(&doc(json!({"si": [1, 5], "sv": [0.5, 2]})))
            .unwrap()
            .unwrap();
        assert_eq!(v.indices, vec![1, 5]);
        assert_eq!(v.values, vec![0.5, 2.0]);
        assert_eq!(s.sparse_of(&doc(json!({}))).unwrap(), None);
        assert_eq!(
            s.sparse_of(&doc(json!({"si": [], "sv": []}))).unwrap(),
            None
        );
        for (bad, want) in [
            (json!({"si": [5, 1], "sv": [1, 1]}), "sorted ascending"),
            (json!({"si": [1, 1], "sv": [1, 1]}), "without repeats"),
            (json!({"si": [1, 2], "sv": [1]}), "2 indices but 1 values"),
            (json!({"si": [1]}), "send both"),
            (json!({"si": [-1], "sv": [1]}), "integers from 0"),
            (json!({"si": [1], "sv": ["x"]}), "array of numbers"),
        ] {
            let e = s.sparse_of(&doc(bad)).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn scores_by_inner_product_and_forgets_replaced_vectors() {
        let set = SparseSet::new(&[spec()]);
        let v = |i: Vec<u32>, x: Vec<f32>| {
            Some((
                "a".to_string(),
                SparseVector {
                    indices: i,
                    values: x,
                },
            ))
        };
        set.set(0, 1, v(vec![1, 5], vec![1.0, 2.0]));
        set.set(0, 2, v(vec![5, 9], vec![3.0, 1.0]));
        set.set(0, 3, v(vec![7], vec![1.0]));
        let all = |_: u64| true;
        let s = set.scores(0, "a", (&[5, 9], &[1.0, 0.5]), &all).unwrap();
        assert_eq!(s, HashMap::from([(1, 2.0), (2, 3.5)]));
        // Key 2 replaced: its old dimensions no longer score; key 1 deleted.
        set.set(0, 2, v(vec![7], vec![2.0]));
        set.set(0, 1, None);
        let s = set.scores(0, "a", (&[5, 7], &[1.0, 1.0]), &all).unwrap();
        assert_eq!(s, HashMap::from([(2, 2.0), (3, 1.0)]));
        let only3 = |k: u64| k == 3;
        let s = set.scores(0, "a", (&[7], &[1.0]), &only3).unwrap();
        assert_eq!(s, HashMap::from([(3, 1.0)]));
        assert!(set.scores(0, "b", (&[7], &[1.0]), &all).unwrap().is_empty());
        assert_eq!(set.len(), 2);
    }
}
