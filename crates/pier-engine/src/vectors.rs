//! A table's vector indexes (Vector Search Edition tables, AnalyticDB collections).
//!
//! * **Specs** ([`VectorIndexSpec`]) are kept in the catalog beside the table's schema. Vectors
//!   live in the document as flat `FLOAT_ARRAY` fields (several vectors of one document are
//!   concatenated; the dimension splits them).
//! * **Indexes**: one HNSW graph ([`pier_vector::VectorIndex`]) per spec and per namespace (the
//!   value of the spec's namespace field; `""` without one), created on first use.
//! * **Keys**: the graph wants dense `u64` document keys. [`VectorKeys`] assigns them per table
//!   in the store (primary key → key and back), written with the document, so a checkpointed
//!   graph never names a key the store could lose. The text index carries the key as the integer
//!   attribute [`VECTOR_KEY_FIELD`], which turns a filter into a key set
//!   ([`pier_index::TableIndex::filter_keys`]).
//! * **Checkpoints**: saving a large graph takes seconds, so the graphs are saved at most every
//!   [`SAVE_INTERVAL`] (and on shutdown), each file atomically, then `checkpoint.json` naming the
//!   log position they cover. The table's log is kept from there ([`VectorSet::checkpoint`]);
//!   after a crash the applier replays it, rewriting each key from the store's state, so replay is
//!   idempotent whichever files made it to disk.

use crate::sparse::{SparseFields, SparseSet, SparseVector};
use fjall::Keyspace;
use parking_lot::{Mutex, RwLock};
use pier_vector::{Metric, Storage, VectorIndex, VectorParams};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The integer attribute of the text index that holds a document's vector key.
pub const VECTOR_KEY_FIELD: &str = "__vkey";
/// Threads inserting a batch's vectors into a graph.
const INSERT_THREADS: usize = 2;
/// Longest time between two checkpoints of the graphs while documents change.
pub const SAVE_INTERVAL: Duration = Duration::from_secs(60);
const CHECKPOINT_FILE: &str = "checkpoint.json";

/// Distance function of a vector index, as stored in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VectorMetric {
    /// Squared Euclidean distance (lower is better).
    L2,
    /// Inner product (higher is better).
    Ip,
    /// Cosine similarity (higher is better).
    Cosine,
}

impl VectorMetric {
    pub(crate) fn to_index(self) -> Metric {
        match self {
            VectorMetric::L2 => Metric::L2,
            VectorMetric::Ip => Metric::InnerProduct,
            VectorMetric::Cosine => Metric::Cosine,
        }
    }

    /// Whether a higher score is a better match.
    pub fn higher_is_better(self) -> bool {
        self != VectorMetric::L2
    }
}

/// Element type of the stored vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum VectorStorage {
    /// Exact.
    F32,
    /// Half the memory; recall unchanged on embedding data.
    #[default]
    F16,
    /// A quarter of the memory; cosine only.
    I8,
}

/// One vector index of a table, as the catalog keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VectorIndexSpec {
    /// Index name (what queries name).
    pub name: String,
    /// The document field holding the vectors (flat `FLOAT_ARRAY`, `dimension` values each).
    pub field: String,
    /// Values per vector.
    pub dimension: usize,
    /// Distance function.
    pub metric: VectorMetric,
    /// Element type of the stored vectors.
    #[serde(default)]
    pub storage: VectorStorage,
    /// HNSW neighbours per node.
    pub m: usize,
    /// HNSW candidate list size while inserting.
    pub ef_construction: usize,
    /// HNSW candidate list size while searching, by default.
    pub ef_search: usize,
    /// Below this many documents searches scan exactly.
    pub linear_build_threshold: usize,
    /// The field whose value selects the namespace (a separate graph per value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_field: Option<String>,
    /// The fields of the index's sparse vectors, if it has them (see [`crate::sparse`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sparse: Option<SparseFields>,
}

impl VectorIndexSpec {
    fn params(&self) -> VectorParams {
        VectorParams {
            dimension: self.dimension,
            metric: self.metric.to_index(),
            storage: match self.storage {
                VectorStorage::F32 => Storage::F32,
                VectorStorage::F16 => Storage::F16,
                VectorStorage::I8 => Storage::I8,
            },
            m: self.m,
            ef_construction: self.ef_construction,
            ef_search: self.ef_search,
            linear_build_threshold: self.linear_build_threshold,
        }
    }

    /// Checks the parameters (dimension, M, ef ranges, storage/metric combination).
    pub fn validate(&self) -> Result<(), String> {
        self.params().validate().map_err(|e| e.to_string())
    }

    /// The namespace a document belongs to (`""` without a namespace field or value).
    pub fn namespace_of(&self, doc: &Map<String, Value>) -> String {
        match self.namespace_field.as_ref().and_then(|f| doc.get(f)) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        }
    }

    /// The document's vectors for this index: its field split into `dimension`-long vectors.
    pub fn vectors_of(&self, doc: &Map<String, Value>) -> Result<Vec<Vec<f32>>, String> {
        let values = match doc.get(&self.field) {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(a)) => a,
            Some(_) => return Err(format!("field '{}' is not an array of numbers", self.field)),
        };
        if values.len() % self.dimension != 0 {
            return Err(format!(
                "field '{}' has {} values, not a multiple of the dimension {}",
                self.field,
                values.len(),
                self.dimension
            ));
        }
        let flat = values
            .iter()
            .map(|v| v.as_f64().map(|f| f as f32))
            .collect::<Option<Vec<f32>>>()
            .ok_or_else(|| format!("field '{}' holds a value that is not a number", self.field))?;
        // What the graph would refuse is refused here, before the document is stored: a
        // document the graph cannot take must be a processing failure, never a stuck commit.
        let max = match self.storage {
            VectorStorage::F32 => f32::MAX,
            VectorStorage::F16 => pier_vector::F16_MAX,
            VectorStorage::I8 => 1.0,
        };
        if let Some(bad) = flat.iter().find(|x| !x.is_finite() || x.abs() > max) {
            return Err(format!(
                "field '{}' holds {bad}, outside the range of the index's {:?} storage (±{max})",
                self.field, self.storage
            ));
        }
        Ok(flat.chunks(self.dimension).map(<[f32]>::to_vec).collect())
    }
}

/// A document key and its vectors for one index.
type KeyVectors<'a> = (u64, Vec<&'a [f32]>);

/// A document's vectors, ready for [`VectorSet::apply_batch`].
pub struct PreparedVectors {
    key: u64,
    /// Per spec: the namespace and the vectors (none: not in that index).
    per_spec: Vec<(String, Vec<Vec<f32>>)>,
    /// Per spec: the sparse vector (none: not in that sparse index).
    sparse: Vec<Option<SparseVector>>,
}

/// Primary key ↔ vector key, per table, in the store.
#[derive(Clone)]
pub(crate) struct VectorKeys {
    keys: Keyspace,
}

const BY_PK: u8 = b'p';
const BY_KEY: u8 = b'k';
const NEXT: u8 = b'n';

fn store_key(table_id: u64, kind: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + rest.len());
    k.extend_from_slice(&table_id.to_be_bytes());
    k.push(kind);
    k.extend_from_slice(rest);
    k
}

impl VectorKeys {
    pub fn new(keys: Keyspace) -> VectorKeys {
        VectorKeys { keys }
    }

    /// The key of `pk`, if it has one.
    pub fn key_of(&self, table_id: u64, pk: &str) -> fjall::Result<Option<u64>> {
        Ok(self
            .keys
            .get(store_key(table_id, BY_PK, pk.as_bytes()))?
            .and_then(|v| v[..].try_into().ok().map(u64::from_be_bytes)))
    }

    /// The key of `pk`, assigning the next free one on first use. Only the table's applier
    /// assigns, so there is no race on the counter.
    pub fn key_for(&self, table_id: u64, pk: &str) -> fjall::Result<u64> {
        if let Some(k) = self.key_of(table_id, pk)? {
            return Ok(k);
        }
        let next_key = store_key(table_id, NEXT, &[]);
        let key = self
            .keys
            .get(&next_key)?
            .and_then(|v| v[..].try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0);
        self.keys.insert(&next_key, (key + 1).to_be_bytes())?;
        self.keys
            .insert(store_key(table_id, BY_PK, pk.as_bytes()), key.to_be_bytes())?;
        self.keys.insert(
            store_key(table_id, BY_KEY, &key.to_be_bytes()),
            pk.as_bytes(),
        )?;
        Ok(key)
    }

    /// The primary key of vector key `key`.
    pub fn pk_of(&self, table_id: u64, key: u64) -> fjall::Result<Option<String>> {
        Ok(self
            .keys
            .get(store_key(table_id, BY_KEY, &key.to_be_bytes()))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Forgets every key of a table.
    pub fn drop_table(&self, table_id: u64) -> fjall::Result<()> {
        for kv in self.keys.prefix(table_id.to_be_bytes()) {
            self.keys.remove(kv.key()?)?;
        }
        Ok(())
    }
}

#[derive(Serialize, Deserialize, Default)]
struct Checkpoint {
    seq: u64,
    files: Vec<CheckpointFile>,
}

#[derive(Serialize, Deserialize)]
struct CheckpointFile {
    index: String,
    namespace: String,
    file: String,
}

/// Failures of the vector indexes.
#[derive(Debug, thiserror::Error)]
pub enum VectorSetError {
    /// The graph refused an operation or a file could not be read or written.
    #[error("vector index: {0}")]
    Index(#[from] pier_vector::VectorError),
    /// A checkpoint file is damaged.
    #[error("vector index checkpoint {path}: {message}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The directory could not be written.
    #[error("vector index: {0}")]
    Io(#[from] std::io::Error),
}

/// The vector indexes of one table.
pub struct VectorSet {
    dir: PathBuf,
    specs: Vec<VectorIndexSpec>,
    /// `(spec position, namespace)` → graph.
    graphs: RwLock<HashMap<(usize, String), Arc<VectorIndex>>>,
    /// Log position covered by the files on disk.
    checkpoint: AtomicU64,
    /// Whether anything changed since the last save.
    dirty: AtomicBool,
    last_save: Mutex<Instant>,
    /// The sparse indexes (in memory, rebuilt from the store on open).
    sparse: SparseSet,
}

impl VectorSet {
    /// Opens the indexes saved in `dir` (none yet: empty), for these specs.
    pub fn open(dir: &Path, specs: Vec<VectorIndexSpec>) -> Result<VectorSet, VectorSetError> {
        std::fs::create_dir_all(dir)?;
        // Scratch files of saves a crash interrupted; the checkpoint they were for never
        // replaced the last complete one.
        pier_vector::remove_interrupted_saves(dir)?;
        let _ = std::fs::remove_file(dir.join(format!("{CHECKPOINT_FILE}.tmp")));
        let path = dir.join(CHECKPOINT_FILE);
        let checkpoint: Checkpoint = match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| VectorSetError::Checkpoint {
                    path: path.clone(),
                    message: e.to_string(),
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Checkpoint::default(),
            Err(e) => return Err(e.into()),
        };
        let mut graphs = HashMap::new();
        for f in &checkpoint.files {
            let Some(pos) = specs.iter().position(|s| s.name == f.index) else {
                continue;
            };
            let graph = VectorIndex::load(dir.join(&f.file))?;
            graphs.insert((pos, f.namespace.clone()), Arc::new(graph));
        }
        Ok(VectorSet {
            dir: dir.to_path_buf(),
            sparse: SparseSet::new(&specs),
            specs,
            graphs: RwLock::new(graphs),
            checkpoint: AtomicU64::new(checkpoint.seq),
            dirty: AtomicBool::new(false),
            last_save: Mutex::new(Instant::now()),
        })
    }

    /// The specs, in declaration order.
    pub fn specs(&self) -> &[VectorIndexSpec] {
        &self.specs
    }

    /// The spec named `name`.
    pub fn spec(&self, name: &str) -> Option<&VectorIndexSpec> {
        self.specs.iter().find(|s| s.name == name)
    }

    /// Whether `name` is a field of a dense or sparse vector (served from the graphs, the sparse
    /// indexes and the store, not from the text index).
    pub fn is_vector_field(&self, name: &str) -> bool {
        self.specs.iter().any(|s| {
            s.field == name
                || s.sparse
                    .as_ref()
                    .is_some_and(|f| f.indices == name || f.values == name)
        })
    }

    /// What the text index holds of document `doc` with vector key `key`: its fields but the
    /// vectors (served from the graphs and the store), plus [`VECTOR_KEY_FIELD`].
    pub(crate) fn attributes(&self, key: u64, doc: &Map<String, Value>) -> Map<String, Value> {
        let mut attributes: Map<String, Value> = doc
            .iter()
            .filter(|(name, _)| !self.is_vector_field(name))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        attributes.insert(VECTOR_KEY_FIELD.to_string(), key.into());
        attributes
    }

    /// The sparse indexes.
    pub(crate) fn sparse(&self) -> &SparseSet {
        &self.sparse
    }

    /// Log position covered by the saved graphs: the log must be kept after it.
    pub fn checkpoint(&self) -> u64 {
        self.checkpoint.load(Ordering::Acquire)
    }

    /// Checks a document's vectors against every spec (before it is stored).
    pub fn check(&self, doc: &Map<String, Value>) -> Result<(), String> {
        for spec in &self.specs {
            spec.vectors_of(doc)?;
            spec.sparse_of(doc)?;
        }
        Ok(())
    }

    /// What the graphs must hold for `key` once `doc` is its state (`None`: the document is
    /// gone): per spec, its namespace and vectors.
    pub fn prepare(&self, key: u64, doc: Option<&Map<String, Value>>) -> PreparedVectors {
        let per_spec = self
            .specs
            .iter()
            .map(|spec| match doc {
                Some(d) => (
                    spec.namespace_of(d),
                    // Checked before the document was stored; a bad value indexes nothing.
                    spec.vectors_of(d).unwrap_or_default(),
                ),
                None => (String::new(), Vec::new()),
            })
            .collect();
        let sparse = self
            .specs
            .iter()
            .map(|spec| doc.and_then(|d| spec.sparse_of(d).ok().flatten()))
            .collect();
        PreparedVectors {
            key,
            per_spec,
            sparse,
        }
    }

    /// Makes the graphs hold `doc`'s vectors under `key` (`None`: the document is gone).
    pub fn apply(&self, key: u64, doc: Option<&Map<String, Value>>) -> Result<(), VectorSetError> {
        self.apply_batch(vec![self.prepare(key, doc)])
    }

    /// Applies prepared documents in order (a key's last state wins). New vectors go into the
    /// graphs [`INSERT_THREADS`] at a time: one HNSW insert costs about half a millisecond of CPU
    /// for 384-d vectors, so a batch of a push's documents is inserted on both cores.
    pub fn apply_batch(&self, batch: Vec<PreparedVectors>) -> Result<(), VectorSetError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.dirty.store(true, Ordering::Release);
        let mut last: HashMap<u64, usize> = HashMap::with_capacity(batch.len());
        for (i, p) in batch.iter().enumerate() {
            last.insert(p.key, i);
        }
        let batch: Vec<&PreparedVectors> = batch
            .iter()
            .enumerate()
            .filter(|(i, p)| last[&p.key] == *i)
            .map(|(_, p)| p)
            .collect();
        for p in &batch {
            for (pos, sparse) in p.sparse.iter().enumerate() {
                let state = sparse.clone().map(|v| (p.per_spec[pos].0.clone(), v));
                self.sparse.set(pos, p.key, state);
            }
        }
        for pos in 0..self.specs.len() {
            // Remove each key from the graphs it no longer belongs to (it may have moved
            // namespace, or lost its vectors), then insert by namespace.
            let graphs: Vec<(String, Arc<VectorIndex>)> = self
                .graphs
                .read()
                .iter()
                .filter(|((p, _), _)| *p == pos)
                .map(|((_, ns), g)| (ns.clone(), g.clone()))
                .collect();
            let mut inserts: HashMap<&str, Vec<KeyVectors<'_>>> = HashMap::new();
            for p in &batch {
                let (namespace, vectors) = &p.per_spec[pos];
                for (ns, g) in &graphs {
                    if vectors.is_empty() || ns != namespace {
                        g.remove(p.key)?;
                    }
                }
                if !vectors.is_empty() {
                    inserts
                        .entry(namespace.as_str())
                        .or_default()
                        .push((p.key, vectors.iter().map(Vec::as_slice).collect()));
                }
            }
            for (namespace, docs) in inserts {
                let graph = self.graph(pos, namespace)?;
                let refs: Vec<(u64, &[&[f32]])> =
                    docs.iter().map(|(k, v)| (*k, v.as_slice())).collect();
                graph.upsert_batch(&refs, INSERT_THREADS)?;
            }
        }
        Ok(())
    }

    fn graph(&self, pos: usize, namespace: &str) -> Result<Arc<VectorIndex>, VectorSetError> {
        let id = (pos, namespace.to_string());
        if let Some(g) = self.graphs.read().get(&id) {
            return Ok(g.clone());
        }
        let mut graphs = self.graphs.write();
        if let Some(g) = graphs.get(&id) {
            return Ok(g.clone());
        }
        let g = Arc::new(VectorIndex::new(self.specs[pos].params())?);
        graphs.insert(id, g.clone());
        Ok(g)
    }

    /// The graph of index `name` for `namespace`, if it holds anything.
    pub fn graph_of(&self, name: &str, namespace: &str) -> Option<Arc<VectorIndex>> {
        let pos = self.specs.iter().position(|s| s.name == name)?;
        self.graphs
            .read()
            .get(&(pos, namespace.to_string()))
            .cloned()
    }

    /// The namespaces index `name` has graphs for.
    pub fn namespaces(&self, name: &str) -> Vec<String> {
        let Some(pos) = self.specs.iter().position(|s| s.name == name) else {
            return Vec::new();
        };
        let mut out: Vec<String> = self
            .graphs
            .read()
            .keys()
            .filter(|(p, _)| *p == pos)
            .map(|(_, ns)| ns.clone())
            .collect();
        out.sort();
        out
    }

    /// Vectors held by every graph.
    pub fn vector_count(&self) -> usize {
        self.graphs.read().values().map(|g| g.vector_count()).sum()
    }

    /// Bytes of memory held by every graph.
    pub fn memory_bytes(&self) -> usize {
        self.graphs
            .read()
            .values()
            .map(|g| g.memory_usage().total_bytes)
            .sum()
    }

    /// Whether a save is due: something changed and `SAVE_INTERVAL` passed, or `now`.
    pub fn save_due(&self, now: bool) -> bool {
        self.dirty.load(Ordering::Acquire)
            && (now || self.last_save.lock().elapsed() >= SAVE_INTERVAL)
    }

    /// Saves every graph, then records that they cover the log through `seq`. Called by the
    /// applier (the only writer) after the store and the text index are durable through `seq`.
    pub fn save(&self, seq: u64) -> Result<(), VectorSetError> {
        self.dirty.store(false, Ordering::Release);
        let graphs: Vec<((usize, String), Arc<VectorIndex>)> = self
            .graphs
            .read()
            .iter()
            .map(|(k, g)| (k.clone(), g.clone()))
            .collect();
        let mut files = Vec::new();
        for ((pos, namespace), graph) in graphs {
            let index = self.specs[pos].name.clone();
            // Names of user data are not file names: hex-encode them.
            let file = format!("{}.{}.usearch", hex(&index), hex(&namespace));
            graph.save(self.dir.join(&file))?;
            files.push(CheckpointFile {
                index,
                namespace,
                file,
            });
        }
        let path = self.dir.join(CHECKPOINT_FILE);
        let tmp = self.dir.join(format!("{CHECKPOINT_FILE}.tmp"));
        let body = serde_json::to_vec(&Checkpoint { seq, files }).expect("plain struct");
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(&self.dir)?.sync_all()?;
        self.checkpoint.store(seq, Ordering::Release);
        *self.last_save.lock() = Instant::now();
        Ok(())
    }
}

fn hex(s: &str) -> String {
    if s.is_empty() {
        return "_".to_string();
    }
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> VectorIndexSpec {
        VectorIndexSpec {
            name: "v".into(),
            field: "vec".into(),
            dimension: 2,
            metric: VectorMetric::L2,
            storage: VectorStorage::F32,
            m: 16,
            ef_construction: 64,
            ef_search: 64,
            linear_build_threshold: 0,
            namespace_field: Some("ns".into()),
            sparse: None,
        }
    }

    fn doc(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn refuses_values_the_graph_storage_cannot_hold() {
        let mut s = spec();
        s.storage = VectorStorage::F16;
        assert!(s.vectors_of(&doc(json!({"vec": [65504.0, -1.0]}))).is_ok());
        let err = s
            .vectors_of(&doc(json!({"vec": [1.0, 70000.0]})))
            .unwrap_err();
        assert!(err.contains("70000") && err.contains("F16"), "{err}");
        // Beyond f32: the cast would make an infinity the graph refuses.
        s.storage = VectorStorage::F32;
        assert!(s.vectors_of(&doc(json!({"vec": [1e39, 0.0]}))).is_err());
    }

    #[test]
    fn splits_multi_vector_fields_and_refuses_ragged_ones() {
        let s = spec();
        assert_eq!(
            s.vectors_of(&doc(json!({"vec": [1, 2, 3, 4]}))).unwrap(),
            vec![vec![1.0, 2.0], vec![3.0, 4.0]]
        );
        let e = s.vectors_of(&doc(json!({"vec": [1, 2, 3]}))).unwrap_err();
        assert!(e.contains("not a multiple of the dimension 2"), "{e}");
        assert!(s.vectors_of(&doc(json!({}))).unwrap().is_empty());
    }

    #[test]
    fn moves_documents_between_namespaces_and_survives_a_save() {
        let dir = tempfile::tempdir().unwrap();
        let set = VectorSet::open(dir.path(), vec![spec()]).unwrap();
        set.apply(1, Some(&doc(json!({"vec": [0, 0], "ns": "a"}))))
            .unwrap();
        set.apply(2, Some(&doc(json!({"vec": [1, 1], "ns": "a"}))))
            .unwrap();
        set.apply(1, Some(&doc(json!({"vec": [0, 0], "ns": "b"}))))
            .unwrap();
        let a = set.graph_of("v", "a").unwrap();
        assert_eq!(a.search(&[0.0, 0.0], 5, None, None).unwrap().len(), 1);
        set.apply(2, None).unwrap();
        assert!(a.is_empty());
        assert!(set.save_due(true));
        set.save(7).unwrap();
        assert!(!set.save_due(true));
        drop(set);
        let set = VectorSet::open(dir.path(), vec![spec()]).unwrap();
        assert_eq!(set.checkpoint(), 7);
        assert_eq!(set.namespaces("v"), vec!["a".to_string(), "b".to_string()]);
        let hits = set
            .graph_of("v", "b")
            .unwrap()
            .search(&[0.0, 0.0], 5, None, None)
            .unwrap();
        assert_eq!(hits, vec![(1, 0.0)]);
    }
}
