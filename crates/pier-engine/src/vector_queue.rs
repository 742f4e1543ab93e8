//! The applier's vector side: a thread that applies the vector changes of log records to the
//! table's graphs, in log order, while the applier goes on with the next records.
//!
//! An HNSW insert costs far more CPU than everything else a record needs (about half a
//! millisecond per 384-d vector, against tens of microseconds to parse and store the document),
//! so the applier hands each record's vector changes to this thread and prepares the next record
//! meanwhile (the graphs insert on two threads of their own). Records queued
//! while the thread is busy are applied together, in one [`VectorSet::apply_batch`] (a key's
//! last state wins, as it would one record at a time).
//!
//! The applier drains the queue ([`VectorQueue::drain`]) before it commits the text index or
//! saves the graphs, so neither ever covers a vector change that is not in the graphs (a document
//! is searchable by its vector as soon as it is visible at all), and a failure is reported before
//! anything after it is committed (the applier then restarts from its last commit and rewrites
//! those keys from the store).

use crate::vectors::{PreparedVectors, VectorSet};
use parking_lot::{Condvar, Mutex};
use std::sync::mpsc;

/// Records whose vector changes may wait for the graphs (bounds the memory ahead of them).
const QUEUED_RECORDS: usize = 8;
/// Most documents applied in one batch when records have queued up.
const MAX_BATCH_DOCS: usize = 4096;

/// What the vector thread has done, for [`VectorQueue::drain`].
#[derive(Default)]
struct Progress {
    queued: u64,
    applied: u64,
    /// The first failure; later records are skipped.
    error: Option<String>,
    /// The thread has exited (normally only after the queue closed; or it panicked).
    exited: bool,
}

struct Shared {
    progress: Mutex<Progress>,
    changed: Condvar,
}

/// The sending side, held by the applier.
pub(crate) struct VectorQueue<'a> {
    tx: mpsc::SyncSender<Vec<PreparedVectors>>,
    shared: &'a Shared,
}

/// Runs `f` (the applier's loop) with a queue whose records a thread of its own applies to
/// `set`. Returns when `f` has returned and the thread has finished what was queued.
pub(crate) fn with_queue<T>(
    name: &str,
    set: &VectorSet,
    f: impl FnOnce(&VectorQueue<'_>) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let shared = Shared {
        progress: Mutex::new(Progress::default()),
        changed: Condvar::new(),
    };
    let shared = &shared;
    let (tx, rx) = mpsc::sync_channel(QUEUED_RECORDS);
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn_scoped(s, move || apply_queued(set, rx, shared))?;
        // Dropping the queue when `f` returns closes the channel: the thread finishes what was
        // queued and exits, and the scope waits for it.
        f(&VectorQueue { tx, shared })
    })
}

/// Marks the thread as exited when it returns or unwinds, so `drain` never waits for it in vain.
struct ExitGuard<'a>(&'a Shared);

impl Drop for ExitGuard<'_> {
    fn drop(&mut self) {
        self.0.progress.lock().exited = true;
        self.0.changed.notify_all();
    }
}

fn apply_queued(set: &VectorSet, rx: mpsc::Receiver<Vec<PreparedVectors>>, shared: &Shared) {
    let _exit = ExitGuard(shared);
    while let Ok(mut batch) = rx.recv() {
        let mut records = 1;
        while batch.len() < MAX_BATCH_DOCS
            && let Ok(more) = rx.try_recv()
        {
            batch.extend(more);
            records += 1;
        }
        let failed = shared.progress.lock().error.is_some();
        let result = if failed {
            Ok(())
        } else {
            set.apply_batch(batch)
        };
        let mut p = shared.progress.lock();
        if let Err(e) = result {
            p.error.get_or_insert(e.to_string());
        }
        p.applied += records;
        shared.changed.notify_all();
    }
}

impl VectorQueue<'_> {
    /// Queues one record's vector changes (in log order); waits while the queue is full.
    pub fn push(&self, batch: Vec<PreparedVectors>) -> anyhow::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.shared.progress.lock().queued += 1;
        if self.tx.send(batch).is_err() {
            anyhow::bail!("the vector index thread has stopped");
        }
        Ok(())
    }

    /// Waits until every queued record is in the graphs; fails if one could not be applied.
    pub fn drain(&self) -> anyhow::Result<()> {
        let mut p = self.shared.progress.lock();
        while p.applied < p.queued && !p.exited {
            self.shared.changed.wait(&mut p);
        }
        if let Some(e) = &p.error {
            anyhow::bail!("{e}");
        }
        if p.applied < p.queued {
            anyhow::bail!("the vector index thread has stopped");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vectors::{VectorIndexSpec, VectorMetric, VectorStorage};
    use serde_json::{Map, Value, json};

    fn set(dir: &std::path::Path) -> VectorSet {
        let spec = VectorIndexSpec {
            name: "v".into(),
            field: "vec".into(),
            dimension: 2,
            metric: VectorMetric::L2,
            storage: VectorStorage::F16,
            m: 16,
            ef_construction: 64,
            ef_search: 64,
            linear_build_threshold: 0,
            namespace_field: None,
            sparse: None,
        };
        VectorSet::open(dir, vec![spec]).unwrap()
    }

    fn doc(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn applies_records_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let set = set(dir.path());
        with_queue("test-vectors", &set, |q| {
            for x in 0..20 {
                q.push(vec![set.prepare(1, Some(&doc(json!({"vec": [x, x]}))))])?;
                q.push(vec![set.prepare(2, Some(&doc(json!({"vec": [x, 0]}))))])?;
            }
            q.push(vec![set.prepare(2, None)])?;
            q.drain()
        })
        .unwrap();
        let graph = set.graph_of("v", "").unwrap();
        assert_eq!(graph.len(), 1);
        assert_eq!(graph.get(1).unwrap(), Some(vec![vec![19.0, 19.0]]));
    }

    #[test]
    fn drain_reports_a_failed_record_and_later_ones_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let set = set(dir.path());
        let err = with_queue("test-vectors", &set, |q| {
            // A key the graph cannot encode: the graph refuses it (values it could not hold are
            // refused before a document is stored, so they never reach the queue).
            let bad_key = pier_vector::MAX_KEY + 1;
            q.push(vec![
                set.prepare(bad_key, Some(&doc(json!({"vec": [1, 0]})))),
            ])?;
            q.push(vec![set.prepare(2, Some(&doc(json!({"vec": [1, 1]}))))])?;
            q.drain()
        })
        .unwrap_err();
        assert!(err.to_string().contains("vector"), "{err}");
        assert!(set.graph_of("v", "").is_none_or(|g| !g.contains(2)));
    }
}
