//! A table: its operation log, its index, and the counters that tie them together (what is
//! appended, applied, committed).

use crate::catalog::AppKind;
use crate::entry::{LogEntry, SourceMark};
use crate::vectors::VectorSet;
use parking_lot::Mutex;
use pier_index::TableIndex;
use pier_model::{AppType, TableSchema};
use pier_oplog::{Blob, Log, LogError};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{JoinHandle, Thread};
use tokio::sync::watch;

/// A pushed batch's body: bytes in memory, or a blob file.
#[derive(Clone, Copy)]
pub(crate) enum Body<'a> {
    Bytes(&'a [u8]),
    Blob(&'a Blob),
}

impl Body<'_> {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Body::Bytes(bytes) => bytes.len() as u64,
            Body::Blob(blob) => blob.len(),
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A table of an app, with its write path (log) and read path (index).
pub struct Table {
    /// Globally unique id (prefix of its keys in the document store).
    pub id: u64,
    /// The owning app's id.
    pub app_id: u64,
    /// The owning app's name.
    pub app_name: String,
    /// The owning app's type.
    pub app_type: AppType,
    /// The table's schema.
    pub schema: TableSchema,
    /// The durable operation log.
    pub log: Log,
    /// The derived text/filter index.
    pub index: TableIndex,
    /// The API the table belongs to.
    pub kind: AppKind,
    /// The vector indexes, for tables that have them.
    pub vectors: Option<VectorSet>,
    /// Last receive time handed out; receive times are monotonic per table so that operations
    /// without a timestamp keep their receive order even if the wall clock steps back.
    clock: Mutex<u64>,
    /// Body bytes appended and not yet applied (backpressure).
    pub(crate) unapplied_bytes: AtomicU64,
    /// Highest log sequence applied to the document store and index writer.
    pub(crate) applied_seq: AtomicU64,
    /// Receive time (ms) of the last applied batch, for the applier's lag in seconds.
    pub(crate) applied_received_ms: AtomicU64,
    /// Highest log sequence committed (durable and visible to readers).
    pub(crate) committed: watch::Sender<u64>,
    /// Whether the applier has replayed the log that existed when the table was opened.
    pub(crate) replayed: AtomicBool,
    /// Asks the applier to commit what it has and exit.
    pub(crate) stop: AtomicBool,
    /// The applier's last error, if it is failing.
    pub(crate) failure: Mutex<Option<String>>,
    pub(crate) applier: Mutex<Option<JoinHandle<()>>>,
    pub(crate) applier_thread: Mutex<Option<Thread>>,
}

impl Table {
    pub(crate) fn new(
        id: u64,
        owner: (u64, &str, AppType),
        schema: TableSchema,
        log: Log,
        index: TableIndex,
        checkpoint: u64,
    ) -> Table {
        let (app_id, app_name, app_type) = owner;
        Table {
            id,
            app_id,
            app_name: app_name.to_string(),
            app_type,
            schema,
            log,
            index,
            kind: AppKind::OpenSearch,
            vectors: None,
            clock: Mutex::new(0),
            unapplied_bytes: AtomicU64::new(0),
            applied_seq: AtomicU64::new(checkpoint),
            applied_received_ms: AtomicU64::new(now_ms()),
            committed: watch::Sender::new(checkpoint),
            replayed: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            failure: Mutex::new(None),
            applier: Mutex::new(None),
            applier_thread: Mutex::new(None),
        }
    }

    /// Appends a validated push body and waits until it is durable (fsync, shared with concurrent
    /// pushes). Returns its log sequence. A body in a blob file (an upload job's batch, fsynced
    /// while the job checked its next rows) is taken by the log, not copied.
    pub(crate) fn append_durably(&self, request_id: &str, body: Body<'_>) -> Result<u64, LogError> {
        self.append(request_id, None, body)
    }

    /// Appends a batch from a sync source, marked with the source's position after it.
    pub(crate) fn append_from_source(
        &self,
        request_id: &str,
        mark: SourceMark<'_>,
        body: &[u8],
    ) -> Result<u64, LogError> {
        self.append(request_id, Some(mark), Body::Bytes(body))
    }

    fn append(
        &self,
        request_id: &str,
        source: Option<SourceMark<'_>>,
        body: Body<'_>,
    ) -> Result<u64, LogError> {
        let seq = {
            let mut clock = self.clock.lock();
            *clock = now_ms().max(*clock);
            let mut entry = LogEntry {
                request_id,
                received_ms: *clock,
                body: &[],
                source,
            };
            match body {
                Body::Bytes(bytes) => {
                    entry.body = bytes;
                    self.log.append(&entry.encode())?
                }
                // The entry's body comes last, so the blob simply follows its header.
                Body::Blob(blob) => self.log.append_blob(&entry.encode(), blob)?,
            }
        };
        self.unapplied_bytes
            .fetch_add(body.len(), Ordering::Relaxed);
        self.log.sync(seq)?;
        self.wake_applier();
        Ok(seq)
    }

    /// Restores the receive clock from the newest log entry, so receive times stay monotonic
    /// across restarts.
    pub(crate) fn restore_clock(&self) -> Result<(), LogError> {
        let last = self.log.last_seq();
        if last == 0 {
            return Ok(());
        }
        let records = self.log.reader(last)?.next_batch(1)?;
        if let Some(entry) = records.first().and_then(|r| LogEntry::decode(&r.payload)) {
            *self.clock.lock() = entry.received_ms;
        }
        Ok(())
    }

    pub(crate) fn wake_applier(&self) {
        if let Some(t) = self.applier_thread.lock().as_ref() {
            t.unpark();
        }
    }

    /// Highest log sequence visible to readers.
    pub fn committed_seq(&self) -> u64 {
        *self.committed.borrow()
    }

    /// A receiver of the committed sequence, to wait for visibility.
    pub fn subscribe_committed(&self) -> watch::Receiver<u64> {
        self.committed.subscribe()
    }

    /// Pushed bytes not yet applied.
    pub fn unapplied_bytes(&self) -> u64 {
        self.unapplied_bytes.load(Ordering::Relaxed)
    }

    /// Operations (batches) received and not yet applied.
    /// How far the applier is behind, in seconds: the age of the last applied batch while
    /// batches are waiting (an upper bound of the oldest waiting batch's age), 0 when caught up.
    pub fn lag_seconds(&self) -> f64 {
        if self.lag_batches() == 0 {
            return 0.0;
        }
        let applied = self.applied_received_ms.load(Ordering::Relaxed);
        now_ms().saturating_sub(applied) as f64 / 1000.0
    }

    /// Batches received and not yet applied.
    pub fn lag_batches(&self) -> u64 {
        self.log
            .last_seq()
            .saturating_sub(self.applied_seq.load(Ordering::Relaxed))
    }

    /// Whether start-up replay of the log has finished.
    pub fn is_replayed(&self) -> bool {
        self.replayed.load(Ordering::Acquire)
    }

    /// The applier's current error, if it is failing.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().clone()
    }
}
