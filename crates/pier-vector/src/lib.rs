//! pier's vector (ANN) index: one [`VectorIndex`] per vector field per namespace.
//!
//! It serves both the OpenSearch Vector Search Edition (`/vector-service/*`) and the
//! AnalyticDB collections API. What those need, and how it is met here:
//!
//! * **Metrics**: squared L2, inner product and cosine ([`Metric`]). Scores come back raw,
//!   in the convention the APIs report (see [`Metric`] for which direction is better).
//! * **Multi-vector documents**: a document key may carry several vectors (Vector Search
//!   Edition "single-doc multi-vector"); a document scores with its best vector, and results
//!   are deduplicated by key.
//! * **Filters**: a predicate on the document key is applied during graph traversal; very
//!   selective filters (and small indexes, below `linear_build_threshold`) are answered by an
//!   exact scan instead, because graph search degrades to a slow full walk when few nodes pass.
//! * **Upsert/delete** while searches run, and **checkpoints** (`save`/`load`) taken at the
//!   same log position as the other derived indexes.
//!
//! The HNSW graph is [usearch](https://github.com/unum-cloud/usearch) (C++ via `cxx`) with this
//! crate's own distance kernels (`simd`). It was measured against hnswlib, faiss and `hnsw_rs`
//! (see `BENCH_RESULTS.md` beside this crate). It is the only candidate with deletes, filtered
//! traversal, f16/i8 storage and concurrent insert+search, and its build cost matches hnswlib's.
//! `hnsw_rs` was ~4x slower. On 100k MiniLM vectors its searches take 1.1-1.55x (typically
//! ~1.4x) hnswlib's CPU time at equal recall (equal at 10k), because of its memory layout. That is why the backend stays
//! behind this crate's API, so it can be swapped.
//!
//! # Internal ids
//!
//! usearch keys are `u64`. Each stored vector gets the internal id
//! `key << 8 | generation << 7 | ordinal`: the document key is recovered with a shift (no
//! lookup table on the hot path, and the filter callback gets the document key for free), a
//! document can hold up to [`MAX_VECTORS_PER_KEY`] vectors, and the generation bit lets an
//! upsert add the new vectors *before* removing the old ones, so a concurrent search never
//! sees the document disappear. The cost is that document keys must be `<=` [`MAX_KEY`]
//! (2^56 - 2); the engine assigns dense internal document numbers, so this is no limit.
//!
//! # Concurrency
//!
//! All methods take `&self`; `VectorIndex` is `Send + Sync`. Searches run concurrently with
//! each other and with one writer (upsert/remove/save are serialised by an internal writer
//! mutex, matching the engine's one applier per table). Short exclusive sections exist only
//! when the graph must grow its capacity (amortised doubling) and when a search asks for an
//! `ef` different from the previous search's (usearch keeps `ef` as index-wide state), so
//! callers should prefer one `ef` per index (the default).

#![warn(missing_docs)]

mod distance;
mod error;
mod persist;
mod simd;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{Condvar, Mutex, RwLock, RwLockWriteGuard};

pub use error::{Result, VectorError};
pub use persist::remove_interrupted_saves;

use distance::PreparedQuery;

/// Largest document key accepted (the low 8 bits of the internal id are taken, and the
/// all-ones id is reserved by usearch as its "free slot" marker).
pub const MAX_KEY: u64 = (1 << 56) - 2;
/// Most vectors one document may carry.
pub const MAX_VECTORS_PER_KEY: usize = 128;
/// Largest supported dimension.
pub const MAX_DIMENSION: usize = 65_536;
/// Largest HNSW `M` (AnalyticDB 6.x accepts up to 1000).
pub const MAX_M: usize = 1024;
/// Largest `ef_construction` / `ef_search` (AnalyticDB 6.x accepts `HnswEfConstruction` up to 4000).
pub const MAX_EF: usize = 4096;
/// Largest `k` (top-k) a search may ask for.
pub const MAX_K: usize = 10_000;
/// A filter that passes at most this fraction of the documents is answered by an exact scan.
/// usearch's filtered traversal walks until `ef` passing nodes are found, so its cost grows as
/// 1/selectivity. Measured on 100k x 384-d f16: ~2.1 ms CPU per query at 10% pass and ~8.7 ms
/// at 1% (ef 32). A scan costs ~3 ns per document plus ~0.6 us per passing one (~1 ms at 1%).
/// The crossover is near 5%; 3% leaves a margin.
pub const BRUTE_FORCE_MAX_FRACTION: f64 = 0.03;
/// A filter passing at most `sqrt(SCAN_COST_FACTOR * ef * n)` documents is also answered by an
/// exact scan: the filtered walk visits about `ef * n / passing` nodes (times a constant), the
/// scan computes one distance per passing document, so they cost the same where `passing^2` is
/// about `c * ef * n`. The measurements above (crossover near 5 % of 100k at ef 32) give
/// `c` ≈ 8; 4 keeps a margin. This matters for small collections, where a fixed fraction sends
/// a 10 % filter over 12k rows to the walk although scanning its 1.2k rows is cheaper.
pub const SCAN_COST_FACTOR: usize = 4;
/// The most passing documents for which a filtered search of an index of `n` documents at `ef`
/// scans exactly instead of walking the graph (see [`BRUTE_FORCE_MAX_FRACTION`] and
/// [`SCAN_COST_FACTOR`]).
pub fn exact_scan_limit(n: usize, ef: usize, linear_build_threshold: usize) -> usize {
    let by_fraction = (n as f64 * BRUTE_FORCE_MAX_FRACTION) as usize;
    let by_cost = ((SCAN_COST_FACTOR * ef) as f64 * n as f64).sqrt() as usize;
    by_fraction.max(by_cost).max(linear_build_threshold)
}

/// How many documents are sampled to estimate a filter's selectivity when the caller gives no
/// estimate. The registry is a hash map, so its iteration order is a pseudo-random sample.
pub const SELECTIVITY_SAMPLE: usize = 512;
/// Search/insert contexts reserved in the backend; more concurrent calls than this wait.
pub const MAX_CONCURRENT_OPS: usize = 64;
/// Largest finite f16 value.
pub const F16_MAX: f32 = 65504.0;
/// Capacity reserved for a new index; it then doubles as needed.
const INITIAL_CAPACITY: usize = 1024;

/// Distance function of an index, and the score convention of its results.
///
/// | metric | score returned | best first |
/// |---|---|---|
/// | `L2` | squared Euclidean distance (no square root), as the Vector Search Edition's `SquaredEuclidean` reports | ascending |
/// | `InnerProduct` | the inner product, as `InnerProduct` / ADB `ip` report | descending |
/// | `Cosine` | the cosine similarity, as ADB `cosine` reports | descending |
///
/// (AnalyticDB's `l2` reports the Euclidean distance: its dialect takes the square root.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Squared Euclidean distance; lower is better.
    L2,
    /// Inner product; higher is better.
    InnerProduct,
    /// Cosine similarity; higher is better.
    Cosine,
}

impl Metric {
    /// Whether a higher score is a better match.
    pub fn higher_is_better(self) -> bool {
        !matches!(self, Metric::L2)
    }

    /// `true` if score `a` ranks before score `b`.
    pub fn better(self, a: f32, b: f32) -> bool {
        if self.higher_is_better() {
            a > b
        } else {
            a < b
        }
    }

    fn to_usearch(self) -> usearch::MetricKind {
        match self {
            Metric::L2 => usearch::MetricKind::L2sq,
            Metric::InnerProduct => usearch::MetricKind::IP,
            Metric::Cosine => usearch::MetricKind::Cos,
        }
    }

    /// Backend distance (lower is better) to the public score. usearch defines
    /// ip distance as `1 - dot` and cos distance as `1 - cosine`.
    fn score_from_distance(self, d: f32) -> f32 {
        match self {
            Metric::L2 => d,
            Metric::InnerProduct | Metric::Cosine => 1.0 - d,
        }
    }
}

/// How vectors are stored in the graph. Queries are always `f32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Storage {
    /// 4 bytes per value, exact.
    F32,
    /// 2 bytes per value; half the memory, recall is unchanged on embedding data.
    F16,
    /// 1 byte per value, scaled by 127: only for [`Metric::Cosine`], whose score ignores scale
    /// (components must lie in `[-1, 1]`, which unit-norm embeddings do).
    I8,
}

impl Storage {
    fn to_usearch(self) -> usearch::ScalarKind {
        match self {
            Storage::F32 => usearch::ScalarKind::F32,
            Storage::F16 => usearch::ScalarKind::F16,
            Storage::I8 => usearch::ScalarKind::I8,
        }
    }
}

/// Parameters of a vector index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorParams {
    /// Number of values per vector.
    pub dimension: usize,
    /// Distance function.
    pub metric: Metric,
    /// Element type of the stored vectors.
    pub storage: Storage,
    /// HNSW `M`: neighbours per node (the base layer keeps `2 * M`).
    pub m: usize,
    /// Candidate list size while inserting.
    pub ef_construction: usize,
    /// Candidate list size while searching, when a search gives none.
    pub ef_search: usize,
    /// Below this many documents searches are exact scans (havenask `linear_build_threshold`).
    /// The graph is still maintained, so crossing the threshold costs nothing.
    pub linear_build_threshold: usize,
}

impl VectorParams {
    /// Defaults for a dimension and metric: f16 storage, `M = 16`, `ef_construction = 128`,
    /// `ef_search = 64`, exact below 2,000 documents.
    ///
    /// f16 is the default because it halves memory (1M x 384-d fits in about 1 GiB) and, being
    /// less memory traffic per distance, is faster than f32 at the same recall on embedding
    /// data (see `BENCH_RESULTS.md`). Use f32 when vectors need more than ~3 significant digits.
    pub fn new(dimension: usize, metric: Metric) -> Self {
        VectorParams {
            dimension,
            metric,
            storage: Storage::F16,
            m: 16,
            ef_construction: 128,
            ef_search: 64,
            linear_build_threshold: 2_000,
        }
    }

    /// Checks ranges and combinations; called by [`VectorIndex::new`].
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(VectorError::InvalidParams(m));
        if self.dimension == 0 || self.dimension > MAX_DIMENSION {
            return bad(format!(
                "dimension must be between 1 and {MAX_DIMENSION}, got {}",
                self.dimension
            ));
        }
        if self.m < 2 || self.m > MAX_M {
            return bad(format!("M must be between 2 and {MAX_M}, got {}", self.m));
        }
        if self.ef_construction == 0 || self.ef_construction > MAX_EF {
            return bad(format!(
                "ef_construction must be between 1 and {MAX_EF}, got {}",
                self.ef_construction
            ));
        }
        if self.ef_search == 0 || self.ef_search > MAX_EF {
            return bad(format!(
                "ef_search must be between 1 and {MAX_EF}, got {}",
                self.ef_search
            ));
        }
        if self.storage == Storage::I8 && self.metric != Metric::Cosine {
            return bad("int8 storage is only supported with the cosine metric".into());
        }
        Ok(())
    }
}

/// Which algorithm answered a search (for tests, metrics and `explain`-style output).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// HNSW graph search (filter, if any, applied during traversal).
    Graph,
    /// Exact scan over every document (small index or selective filter).
    Exact,
    /// Exact scan over the caller's candidate keys.
    Candidates,
    /// Graph search found fewer than `k` hits for a filter, so an exact scan was run.
    GraphThenExact,
}

/// Options of [`VectorIndex::search_with`].
#[derive(Clone, Copy, Default)]
pub struct SearchOptions<'a> {
    /// Number of documents wanted.
    pub k: usize,
    /// HNSW candidate list size; `None` uses the index's `ef_search`.
    pub ef: Option<usize>,
    /// Keep only documents for which this returns `true`. It must not panic (it is called
    /// from C++; a panic there aborts the process).
    pub filter: Option<&'a dyn Fn(u64) -> bool>,
    /// The caller's estimate of how many documents pass `filter` (e.g. a posting-list length
    /// from the text index). Without it the index samples [`SELECTIVITY_SAMPLE`] documents.
    pub filter_matches_hint: Option<usize>,
    /// Score only these document keys (exactly); unknown keys are skipped. Use it when the
    /// candidates are already known and few, e.g. from a text query.
    pub candidates: Option<&'a [u64]>,
    /// Answer by an exact scan (over `candidates` when given) scoring with this metric: the
    /// index's own, or another (scores and order follow its convention, see [`Metric`]); the
    /// graph only knows the index's metric.
    pub exact: Option<Metric>,
}

/// Result of [`VectorIndex::search_with`].
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResult {
    /// `(document key, score)`, best first, one entry per key (see [`Metric`] for the score).
    pub hits: Vec<(u64, f32)>,
    /// How the hits were found.
    pub strategy: Strategy,
}

/// Memory held by an index, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryUsage {
    /// HNSW graph links (as reported by the backend allocator).
    pub graph_bytes: usize,
    /// Stored vectors.
    pub vector_bytes: usize,
    /// Key registry (document key -> vector count) kept beside the graph.
    pub registry_bytes: usize,
    /// Everything, including backend bookkeeping not in the two figures above.
    pub total_bytes: usize,
}

/// Per-document bookkeeping: which generation its vectors carry and how many there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    generation: u8,
    count: u8,
}

fn internal_id(key: u64, generation: u8, ordinal: usize) -> u64 {
    (key << 8) | (u64::from(generation) << 7) | ordinal as u64
}

fn doc_key(id: u64) -> u64 {
    id >> 8
}

/// The HNSW graph. Its lock is taken exclusively only for structural changes (growing the
/// capacity); everything else, including concurrent inserts, runs under the shared lock.
struct Graph {
    index: usearch::Index,
    /// Name of the distance kernels installed (see `simd`), or `None` for usearch's own.
    kernel: Option<&'static str>,
}

/// Installs this crate's distance kernels into the backend when the CPU supports them (see
/// `simd` for why). usearch forgets a custom metric when it loads a file, so this runs after
/// every load too.
///
/// Setting the environment variable `PIER_VECTOR_BUILTIN_KERNELS=1` keeps usearch's own
/// kernels (to compare them in benchmarks, or to rule ours out when diagnosing a problem).
fn install_kernels(index: &mut usearch::Index, params: &VectorParams) -> Option<&'static str> {
    if std::env::var_os("PIER_VECTOR_BUILTIN_KERNELS").is_some_and(|v| v == "1") {
        return None;
    }
    let (kernel, name) = simd::select(params.metric, params.storage)?;
    let dim = params.dimension;
    // SAFETY (both closures): usearch calls the metric with pointers to two stored (or cast
    // query) vectors of `dim` elements of the storage type, which is what `kernel` reads.
    match params.storage {
        Storage::F32 => index.change_metric::<f32>(Box::new(move |a, b| unsafe {
            kernel(a as *const u8, b as *const u8, dim)
        })),
        Storage::F16 => index.change_metric::<usearch::f16>(Box::new(move |a, b| unsafe {
            kernel(a as *const u8, b as *const u8, dim)
        })),
        Storage::I8 => return None,
    }
    Some(name)
}

/// A counting semaphore over the backend's per-thread search contexts: usearch fails a call
/// when all reserved contexts are in use, so callers beyond [`MAX_CONCURRENT_OPS`] wait here.
struct Permits {
    free: Mutex<usize>,
    cv: Condvar,
}

struct Permit<'a>(&'a Permits);

impl Permits {
    fn acquire(&self) -> Permit<'_> {
        let mut free = self.free.lock();
        while *free == 0 {
            self.cv.wait(&mut free);
        }
        *free -= 1;
        Permit(self)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.0.free.lock() += 1;
        self.0.cv.notify_one();
    }
}

/// An HNSW vector index over `u64` document keys. See the crate docs for semantics.
pub struct VectorIndex {
    params: VectorParams,
    graph: RwLock<Graph>,
    /// The `ef` the backend is set to (usearch keeps it as index-wide state). Searches hold it
    /// shared; a search with another `ef` takes it exclusively to switch. It is separate from
    /// `graph` so that a long `save` (which holds `graph` shared) never delays an `ef` switch.
    ef: RwLock<usize>,
    /// Document key -> entry. Used for upsert/remove bookkeeping, exact scans and `len`.
    keys: RwLock<HashMap<u64, Entry>>,
    /// Serialises writers (upsert, remove, save) so bookkeeping needs no retries.
    writer: Mutex<()>,
    permits: Permits,
    vectors: AtomicUsize,
}

impl std::fmt::Debug for VectorIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorIndex")
            .field("params", &self.params)
            .field("len", &self.len())
            .finish()
    }
}

impl VectorIndex {
    /// Creates an empty index.
    pub fn new(params: VectorParams) -> Result<Self> {
        Self::create(params, true)
    }

    /// `load` creates the index without kernels and installs them after loading, because
    /// usearch resets the metric when it loads (and would leak the first closure).
    pub(crate) fn create(params: VectorParams, with_kernels: bool) -> Result<Self> {
        params.validate()?;
        let options = usearch::IndexOptions {
            dimensions: params.dimension,
            metric: params.metric.to_usearch(),
            quantization: params.storage.to_usearch(),
            connectivity: params.m,
            expansion_add: params.ef_construction,
            expansion_search: params.ef_search,
            multi: false,
        };
        let mut index = usearch::Index::new(&options)?;
        index.reserve_capacity_and_threads(INITIAL_CAPACITY, MAX_CONCURRENT_OPS)?;
        let kernel = if with_kernels {
            install_kernels(&mut index, &params)
        } else {
            None
        };
        Ok(VectorIndex {
            graph: RwLock::new(Graph { index, kernel }),
            ef: RwLock::new(params.ef_search),
            params,
            keys: RwLock::new(HashMap::new()),
            writer: Mutex::new(()),
            permits: Permits {
                free: Mutex::new(MAX_CONCURRENT_OPS),
                cv: Condvar::new(),
            },
            vectors: AtomicUsize::new(0),
        })
    }

    /// The index parameters.
    pub fn params(&self) -> &VectorParams {
        &self.params
    }

    /// Number of documents (keys) with vectors.
    pub fn len(&self) -> usize {
        self.keys.read().len()
    }

    /// `true` if no document has vectors.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of stored vectors (documents can carry several).
    pub fn vector_count(&self) -> usize {
        self.vectors.load(Ordering::Relaxed)
    }

    /// `true` if the document has vectors in the index.
    pub fn contains(&self, key: u64) -> bool {
        self.keys.read().contains_key(&key)
    }

    /// The stored vectors of a document, as `f32` (after storage rounding: f16/i8 values come
    /// back quantised). `None` if the document has none.
    pub fn get(&self, key: u64) -> Result<Option<Vec<Vec<f32>>>> {
        let Some(entry) = self.keys.read().get(&key).copied() else {
            return Ok(None);
        };
        let graph = self.graph.read();
        let mut out = Vec::with_capacity(entry.count as usize);
        for i in 0..entry.count as usize {
            let mut v = vec![0f32; self.params.dimension];
            let id = internal_id(key, entry.generation, i);
            if graph.index.get(id, &mut v)? == 1 {
                out.push(v);
            }
        }
        Ok(Some(out))
    }

    fn check_vector(&self, v: &[f32]) -> Result<()> {
        if v.len() != self.params.dimension {
            return Err(VectorError::DimensionMismatch {
                expected: self.params.dimension,
                got: v.len(),
            });
        }
        if let Some(position) = v.iter().position(|x| !x.is_finite()) {
            return Err(VectorError::NonFinite { position });
        }
        // Values the storage type cannot hold would turn into infinities (f16) or be clamped
        // (i8), silently corrupting distances, so they are refused.
        let max = match self.params.storage {
            Storage::F32 => return Ok(()),
            Storage::F16 => F16_MAX,
            Storage::I8 => 1.0,
        };
        if let Some(position) = v.iter().position(|x| x.abs() > max) {
            return Err(VectorError::OutOfRange {
                position,
                value: v[position],
                max,
            });
        }
        Ok(())
    }

    fn check_doc(&self, key: u64, vectors: &[&[f32]]) -> Result<()> {
        if key > MAX_KEY {
            return Err(VectorError::KeyOutOfRange { key, max: MAX_KEY });
        }
        if vectors.is_empty() {
            return Err(VectorError::NoVectors { key });
        }
        if vectors.len() > MAX_VECTORS_PER_KEY {
            return Err(VectorError::TooManyVectors {
                key,
                count: vectors.len(),
                max: MAX_VECTORS_PER_KEY,
            });
        }
        vectors.iter().try_for_each(|v| self.check_vector(v))
    }

    /// Makes room for `extra` more vectors. Growing reallocates the graph's arrays, which
    /// usearch forbids during searches, so it takes the exclusive lock; capacity doubles, so
    /// this is rare.
    fn ensure_capacity(&self, extra: usize) -> Result<()> {
        {
            let g = self.graph.read();
            if g.index.size() + extra <= g.index.capacity() {
                return Ok(());
            }
        }
        let g = self.graph.write();
        let need = g.index.size() + extra;
        if need > g.index.capacity() {
            let target = need.max(g.index.capacity() * 2).max(INITIAL_CAPACITY);
            g.index
                .reserve_capacity_and_threads(target, MAX_CONCURRENT_OPS)?;
        }
        Ok(())
    }

    /// Inserts or replaces the vectors of document `key`. A document scores with its best
    /// vector. The new vectors are added before the old ones are removed, so concurrent
    /// searches always see the document. On error nothing changes.
    pub fn upsert(&self, key: u64, vectors: &[&[f32]]) -> Result<()> {
        self.upsert_batch(&[(key, vectors)], 1)
    }

    /// Upserts many documents, adding vectors from `threads` threads (0 = one per core).
    /// This is the bulk-load path (initial build, log replay); usearch inserts concurrently.
    /// If a key appears several times the last occurrence wins. Validation happens before any
    /// change; if the backend fails midway (out of memory) the batch is rolled back.
    pub fn upsert_batch(&self, docs: &[(u64, &[&[f32]])], threads: usize) -> Result<()> {
        for (key, vectors) in docs {
            self.check_doc(*key, vectors)?;
        }
        // Last occurrence of each key wins.
        let mut last: HashMap<u64, usize> = HashMap::with_capacity(docs.len());
        for (i, (key, _)) in docs.iter().enumerate() {
            last.insert(*key, i);
        }
        // Lock order, everywhere: writer, graph, ef, keys, then a backend permit. (A reader that
        // held `keys` while waiting for `graph` could deadlock with this writer when a third
        // thread queues for the exclusive graph lock.)
        let _w = self.writer.lock();
        let plan: Vec<(usize, Option<Entry>, u8)> = {
            let keys = self.keys.read();
            docs.iter()
                .enumerate()
                .filter(|(i, (key, _))| last[key] == *i)
                .map(|(i, (key, _))| {
                    let old = keys.get(key).copied();
                    let generation = old.map_or(0, |e| 1 - e.generation);
                    (i, old, generation)
                })
                .collect()
        };
        let new_vectors: usize = plan.iter().map(|(i, _, _)| docs[*i].1.len()).sum();
        self.ensure_capacity(new_vectors)?;

        let graph = self.graph.read();
        let add_doc = |(i, _, generation): &(usize, Option<Entry>, u8)| -> Result<()> {
            let (key, vectors) = docs[*i];
            for (ordinal, v) in vectors.iter().enumerate() {
                let _p = self.permits.acquire();
                graph.index.add(internal_id(key, *generation, ordinal), v)?;
            }
            Ok(())
        };
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
        .min(plan.len().max(1));
        let result = if threads <= 1 {
            plan.iter().try_for_each(add_doc)
        } else {
            let next = AtomicUsize::new(0);
            let failed: Mutex<Option<VectorError>> = Mutex::new(None);
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(|| {
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= plan.len() || failed.lock().is_some() {
                                break;
                            }
                            if let Err(e) = add_doc(&plan[i]) {
                                failed.lock().get_or_insert(e);
                                break;
                            }
                        }
                    });
                }
            });
            failed.into_inner().map_or(Ok(()), Err)
        };
        if let Err(e) = result {
            // Roll back: drop whatever part of the new generation made it in.
            for (i, _, generation) in &plan {
                let (key, vectors) = docs[*i];
                for ordinal in 0..vectors.len() {
                    let _ = graph.index.remove(internal_id(key, *generation, ordinal));
                }
            }
            return Err(e);
        }
        {
            let mut keys = self.keys.write();
            for (i, _, generation) in &plan {
                let (key, vectors) = docs[*i];
                keys.insert(
                    key,
                    Entry {
                        generation: *generation,
                        count: vectors.len() as u8,
                    },
                );
            }
        }
        let mut removed = 0;
        for (i, old, _) in &plan {
            if let Some(old) = old {
                removed += self.remove_vectors(&graph, docs[*i].0, *old);
            }
        }
        self.vectors.fetch_add(new_vectors, Ordering::Relaxed);
        self.vectors.fetch_sub(removed, Ordering::Relaxed);
        Ok(())
    }

    fn remove_vectors(&self, graph: &Graph, key: u64, entry: Entry) -> usize {
        (0..entry.count as usize)
            .map(|i| {
                graph
                    .index
                    .remove(internal_id(key, entry.generation, i))
                    .unwrap_or(0)
            })
            .sum()
    }

    /// Removes all vectors of document `key`. Returns whether it had any. The graph slot is
    /// reused by a later insert.
    pub fn remove(&self, key: u64) -> Result<bool> {
        let _w = self.writer.lock();
        let Some(entry) = self.keys.write().remove(&key) else {
            return Ok(false);
        };
        let graph = self.graph.read();
        let removed = self.remove_vectors(&graph, key, entry);
        self.vectors.fetch_sub(removed, Ordering::Relaxed);
        Ok(true)
    }

    /// The `k` documents nearest to `query`, best first, as `(key, score)` (see [`Metric`]).
    /// `ef` overrides the index's `ef_search`; `filter` keeps only keys it accepts.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: Option<usize>,
        filter: Option<&dyn Fn(u64) -> bool>,
    ) -> Result<Vec<(u64, f32)>> {
        let opts = SearchOptions {
            k,
            ef,
            filter,
            ..Default::default()
        };
        Ok(self.search_with(query, &opts)?.hits)
    }

    /// Search with all options; also reports which strategy answered.
    pub fn search_with(&self, query: &[f32], opts: &SearchOptions<'_>) -> Result<SearchResult> {
        self.check_vector(query)?;
        if opts.k > MAX_K {
            return Err(VectorError::InvalidSearch(format!(
                "top k must be at most {MAX_K}, got {}",
                opts.k
            )));
        }
        let ef = match opts.ef {
            None | Some(0) => self.params.ef_search,
            Some(ef) if ef > MAX_EF => {
                return Err(VectorError::InvalidSearch(format!(
                    "ef must be at most {MAX_EF}, got {ef}"
                )));
            }
            Some(ef) => ef,
        };
        let k = opts.k;
        let done = |hits, strategy| Ok(SearchResult { hits, strategy });
        let metric = opts.exact.unwrap_or(self.params.metric);
        if let Some(candidates) = opts.candidates {
            // Lock order everywhere: graph, then keys (see `upsert_batch`).
            let mut candidates = candidates.to_vec();
            candidates.sort_unstable();
            candidates.dedup();
            let graph = self.graph.read();
            let keys = self.keys.read();
            let iter = candidates
                .iter()
                .filter_map(|key| keys.get(key).map(|e| (*key, *e)));
            let hits = self.scan(&graph, (query, metric), k, opts.filter, iter)?;
            return done(hits, Strategy::Candidates);
        }
        if opts.exact.is_some() {
            return done(
                self.scan_all((query, metric), k, opts.filter)?,
                Strategy::Exact,
            );
        }
        if k == 0 {
            return done(Vec::new(), Strategy::Exact);
        }
        let n = self.len();
        if n == 0 {
            return done(Vec::new(), Strategy::Exact);
        }
        if n < self.params.linear_build_threshold {
            let hits = match opts.filter {
                None => {
                    let graph = self.graph.read();
                    self.dedup_loop(k, |wanted| {
                        let _p = self.permits.acquire();
                        Ok(graph.index.exact_search(query, wanted)?)
                    })?
                }
                Some(f) => self.scan_all((query, metric), k, Some(f))?,
            };
            return done(hits, Strategy::Exact);
        }
        let Some(filter) = opts.filter else {
            let hits = self.with_ef(ef, |index| {
                self.dedup_loop(k, |wanted| {
                    let _p = self.permits.acquire();
                    Ok(index.search(query, wanted)?)
                })
            })?;
            return done(hits, Strategy::Graph);
        };
        let passing = match opts.filter_matches_hint {
            Some(h) => h,
            None => self.estimate_passing(filter, n),
        };
        if passing <= exact_scan_limit(n, ef, self.params.linear_build_threshold) {
            return done(
                self.scan_all((query, metric), k, Some(filter))?,
                Strategy::Exact,
            );
        }
        let by_key = |id: u64| filter(doc_key(id));
        let hits = self.with_ef(ef, |index| {
            self.dedup_loop(k, |wanted| {
                let _p = self.permits.acquire();
                Ok(index.filtered_search(query, wanted, by_key)?)
            })
        })?;
        if hits.len() < k {
            // Fewer hits than asked: either fewer documents pass (then the scan is cheap and
            // exact) or deletions left passing nodes unreachable. Either way, scan.
            return done(
                self.scan_all((query, metric), k, Some(filter))?,
                Strategy::GraphThenExact,
            );
        }
        done(hits, Strategy::Graph)
    }

    /// Runs `f` with the backend's search expansion set to `ef`. Changing it needs the
    /// exclusive `ef` lock (it is index-wide state in usearch); after the change the guard is
    /// downgraded so other searches with the same `ef` proceed in parallel.
    fn with_ef<R>(&self, ef: usize, f: impl FnOnce(&usearch::Index) -> R) -> R {
        let graph = self.graph.read();
        {
            let current = self.ef.read();
            if *current == ef {
                return f(&graph.index);
            }
        }
        let mut w = self.ef.write();
        if *w != ef {
            graph.index.change_expansion_search(ef);
            *w = ef;
        }
        let _current = RwLockWriteGuard::downgrade(w);
        f(&graph.index)
    }

    /// Turns backend matches (sorted by distance, possibly several per document) into the
    /// best `k` distinct documents. If duplicates left fewer than `k` documents and the
    /// backend may have more, asks again for 4x as many.
    fn dedup_loop(
        &self,
        k: usize,
        mut run: impl FnMut(usize) -> Result<usearch::ffi::Matches>,
    ) -> Result<Vec<(u64, f32)>> {
        let metric = self.params.metric;
        let mut wanted = k;
        loop {
            let m = run(wanted)?;
            let got = m.keys.len();
            let mut seen = HashSet::with_capacity(k);
            let mut hits = Vec::with_capacity(k);
            for (id, d) in m.keys.iter().zip(m.distances.iter()) {
                let key = doc_key(*id);
                if seen.insert(key) {
                    hits.push((key, metric.score_from_distance(*d)));
                    if hits.len() == k {
                        break;
                    }
                }
            }
            let total = self.vectors.load(Ordering::Relaxed);
            if hits.len() >= k || got < wanted || wanted >= total || wanted >= MAX_K * 16 {
                return Ok(hits);
            }
            wanted = (wanted * 4).min(total.max(k));
        }
    }

    /// Estimates how many documents pass `filter` from a pseudo-random sample.
    fn estimate_passing(&self, filter: &dyn Fn(u64) -> bool, n: usize) -> usize {
        let keys = self.keys.read();
        let (mut seen, mut pass) = (0usize, 0usize);
        for key in keys.keys().take(SELECTIVITY_SAMPLE) {
            seen += 1;
            pass += usize::from(filter(*key));
        }
        (pass * n).checked_div(seen).unwrap_or(0)
    }

    /// Exact top-k over every document; `query` is the vector and the metric to score by.
    fn scan_all(
        &self,
        query: (&[f32], Metric),
        k: usize,
        filter: Option<&dyn Fn(u64) -> bool>,
    ) -> Result<Vec<(u64, f32)>> {
        let graph = self.graph.read();
        let keys = self.keys.read();
        self.scan(&graph, query, k, filter, keys.iter().map(|(k, e)| (*k, *e)))
    }

    /// Exact top-k over the given documents (each key at most once: the caller dedups), by
    /// the query's metric.
    fn scan(
        &self,
        graph: &Graph,
        (query, metric): (&[f32], Metric),
        k: usize,
        filter: Option<&dyn Fn(u64) -> bool>,
        docs: impl Iterator<Item = (u64, Entry)>,
    ) -> Result<Vec<(u64, f32)>> {
        if k == 0 {
            return Ok(Vec::new());
        }
        let q = PreparedQuery::new(metric, query);
        let mut buf = vec![0f32; self.params.dimension];
        // Keep the best k in a vector sorted best-first; k is small next to the scan.
        let mut top: Vec<(u64, f32)> = Vec::with_capacity(k + 1);
        for (key, entry) in docs {
            if let Some(f) = filter
                && !f(key)
            {
                continue;
            }
            let mut best: Option<f32> = None;
            for i in 0..entry.count as usize {
                if graph
                    .index
                    .get(internal_id(key, entry.generation, i), &mut buf)?
                    == 1
                {
                    let s = q.score(&buf);
                    if best.is_none_or(|b| metric.better(s, b)) {
                        best = Some(s);
                    }
                }
            }
            let Some(s) = best else { continue };
            if top.len() == k && !metric.better(s, top[k - 1].1) {
                continue;
            }
            let pos = top.partition_point(|&(_, t)| !metric.better(s, t));
            top.insert(pos, (key, s));
            top.truncate(k);
        }
        Ok(top)
    }

    /// Memory held by the index.
    pub fn memory_usage(&self) -> MemoryUsage {
        let graph = self.graph.read();
        let stats = graph.index.memory_stats();
        let total = graph.index.memory_usage();
        let keys = self.keys.read();
        // hashbrown: one control byte per bucket plus the (key, entry) slot; ~8/7 load factor.
        let registry_bytes = keys.capacity() * 8 / 7 * (1 + std::mem::size_of::<(u64, Entry)>());
        MemoryUsage {
            graph_bytes: stats.graph_allocated,
            vector_bytes: stats.vectors_allocated,
            registry_bytes,
            total_bytes: total + registry_bytes,
        }
    }

    /// Which distance kernels the index uses on this machine (for benchmark reports).
    pub fn hardware_acceleration(&self) -> String {
        let g = self.graph.read();
        match g.kernel {
            Some(name) => name.to_string(),
            None => format!("usearch {}", g.index.hardware_acceleration()),
        }
    }
}

#[cfg(test)]
mod tests;
