//! Sync sources: tables kept in sync from a MySQL / MariaDB binlog (pier-mysql).
//!
//! Each source runs on its own thread: it waits until its table has replayed its log, reads the
//! source's checkpointed position, takes a consistent snapshot when there is none, then streams
//! committed transactions. Every transaction becomes one log entry (so readers see it whole),
//! marked with the binlog position after it; the applier stores that position in the same
//! persist as the batch's document writes. A restart therefore resumes exactly after the last
//! applied transaction: nothing lost, nothing applied twice.

use crate::entry::SourceMark;
use crate::table::Table;
use crate::{Engine, EngineError, Shared};
use fjall::Keyspace;
use futures_util::{FutureExt, StreamExt};
use parking_lot::Mutex;
use pier_mysql::{ChangeKind, MysqlSource, Position, SourceConfig, SourceError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// The checkpoint recorded by a snapshot's first batches: a snapshot was under way. A restart
/// that finds it takes the snapshot again and deletes what the interrupted one loaded and the
/// new one does not contain (rows deleted in between).
const SNAPSHOT_STARTED: &str = "\"snapshot-started\"";

/// Where a source starts.
enum Resume {
    /// Nothing loaded yet: snapshot.
    Fresh,
    /// A snapshot was interrupted: snapshot again and remove rows it no longer has.
    SnapshotInterrupted,
    /// Stream from this binlog position.
    At(Position),
}

/// Rows per snapshot batch (one log entry each).
const SNAPSHOT_BATCH_ROWS: usize = 2000;
/// Wait before reconnecting after a setup failure (wrong settings, server down).
const SETUP_RETRY: Duration = Duration::from_secs(5);
/// How long the runner sleeps while its table's backlog is over the limit.
const BACKPRESSURE_WAIT: Duration = Duration::from_millis(20);
/// Most binlog transactions packed into one log entry while streaming.
const STREAM_BATCH_TRANSACTIONS: usize = 1000;
/// Packing stops once this many row changes are in the entry (bounds the entry's size).
const STREAM_BATCH_CHANGES: usize = 5000;

/// A configured sync source.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SyncSpec {
    /// Unique name.
    pub name: String,
    /// Target app.
    pub app: String,
    /// Target table of the app.
    pub table: String,
    /// Where to read from and how columns map to fields.
    pub source: SourceConfig,
    /// Paused sources keep their position and do not run.
    #[serde(default)]
    pub paused: bool,
}

/// What a source is doing.
#[derive(Debug, Clone, Serialize, Default)]
pub struct SyncStatus {
    /// Name.
    pub name: String,
    /// Target app and table.
    pub app: String,
    /// Target table.
    pub table: String,
    /// `starting`, `snapshotting`, `streaming`, `paused` or `failed`.
    pub state: String,
    /// Rows loaded by the snapshot so far.
    pub snapshot_rows: u64,
    /// Transactions applied from the binlog.
    pub transactions: u64,
    /// Row changes applied, by kind.
    pub upserts: u64,
    /// Deletes applied.
    pub deletes: u64,
    /// Seconds between the last transaction read and now (0 when caught up).
    pub lag_seconds: u64,
    /// Binlog bytes not read yet (polled).
    pub lag_bytes: u64,
    /// The position the source has reached.
    pub position: Option<Position>,
    /// The last error, with what to do about it.
    pub last_error: Option<String>,
}

struct Runner {
    status: Arc<Mutex<SyncStatus>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// The sync sources of an engine: their specs, checkpointed positions and running threads.
pub(crate) struct Sources {
    specs: Keyspace,
    positions: Keyspace,
    running: Mutex<HashMap<String, Runner>>,
}

fn position_key(table_id: u64, name: &str) -> String {
    format!("{table_id:016x}/{name}")
}

impl Sources {
    pub(crate) fn new(specs: Keyspace, positions: Keyspace) -> Sources {
        Sources {
            specs,
            positions,
            running: Mutex::new(HashMap::new()),
        }
    }

    /// Records where source `name` stands after a batch of table `table_id` (called by the
    /// applier; made durable by the same persist as the batch's writes).
    pub(crate) fn record_position(
        &self,
        table_id: u64,
        name: &str,
        position: &str,
    ) -> fjall::Result<()> {
        self.positions
            .insert(position_key(table_id, name), position)
    }

    fn resume(&self, table_id: u64, name: &str) -> Result<Resume, EngineError> {
        let Some(bytes) = self.positions.get(position_key(table_id, name))? else {
            return Ok(Resume::Fresh);
        };
        if &*bytes == SNAPSHOT_STARTED.as_bytes() {
            return Ok(Resume::SnapshotInterrupted);
        }
        serde_json::from_slice(&bytes)
            .map(Resume::At)
            .map_err(|e| EngineError::Storage(format!("sync position of '{name}': {e}")))
    }

    fn position(&self, table_id: u64, name: &str) -> Result<Option<Position>, EngineError> {
        Ok(match self.resume(table_id, name)? {
            Resume::At(p) => Some(p),
            _ => None,
        })
    }

    fn specs(&self) -> Result<Vec<SyncSpec>, EngineError> {
        let mut out = Vec::new();
        for kv in self.specs.iter() {
            let (_, v) = kv.into_inner()?;
            out.push(
                serde_json::from_slice(&v)
                    .map_err(|e| EngineError::Storage(format!("sync spec: {e}")))?,
            );
        }
        Ok(out)
    }

    fn spec(&self, name: &str) -> Result<Option<SyncSpec>, EngineError> {
        Ok(match self.specs.get(name)? {
            Some(v) => Some(
                serde_json::from_slice(&v)
                    .map_err(|e| EngineError::Storage(format!("sync spec: {e}")))?,
            ),
            None => None,
        })
    }

    fn save(&self, spec: &SyncSpec) -> Result<(), EngineError> {
        self.specs.insert(
            &spec.name,
            serde_json::to_vec(spec).expect("a sync spec serialises"),
        )?;
        Ok(())
    }

    fn stop(&self, name: &str) {
        let runner = self.running.lock().remove(name);
        if let Some(mut r) = runner {
            r.stop.store(true, Ordering::Release);
            if let Some(t) = r.thread.take() {
                let _ = t.join();
            }
        }
    }

    pub(crate) fn stop_all(&self) {
        let names: Vec<String> = self.running.lock().keys().cloned().collect();
        for name in names {
            self.stop(&name);
        }
    }
}

impl Engine {
    /// Adds a sync source and starts it: a snapshot of the table, then its binlog changes.
    pub fn add_sync(&self, spec: SyncSpec) -> Result<SyncStatus, EngineError> {
        pier_model::schema::validate_name("sync source", &spec.name)
            .map_err(|e| EngineError::Invalid(e.0))?;
        if self.shared.sources.spec(&spec.name)?.is_some() {
            return Err(EngineError::Invalid(format!(
                "sync source '{}' already exists: remove it first or pick another name",
                spec.name
            )));
        }
        self.sync_table(&spec)?;
        self.shared.sources.save(&spec)?;
        self.shared.db.persist(fjall::PersistMode::SyncAll)?;
        self.start_sync(spec.clone())?;
        Ok(self.sync_status(&spec.name)?.expect("just added"))
    }

    /// Every sync source's status.
    pub fn list_syncs(&self) -> Result<Vec<SyncStatus>, EngineError> {
        let mut out = Vec::new();
        for spec in self.shared.sources.specs()? {
            if let Some(s) = self.sync_status(&spec.name)? {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// One sync source's status, if it exists.
    pub fn sync_status(&self, name: &str) -> Result<Option<SyncStatus>, EngineError> {
        let Some(spec) = self.shared.sources.spec(name)? else {
            return Ok(None);
        };
        if let Some(r) = self.shared.sources.running.lock().get(name) {
            return Ok(Some(r.status.lock().clone()));
        }
        let table = self.sync_table(&spec).ok();
        Ok(Some(SyncStatus {
            name: spec.name.clone(),
            app: spec.app.clone(),
            table: spec.table.clone(),
            state: if spec.paused { "paused" } else { "stopped" }.into(),
            position: match table {
                Some(t) => self.shared.sources.position(t.id, name)?,
                None => None,
            },
            ..SyncStatus::default()
        }))
    }

    /// Pauses (`true`) or resumes a source; its position is kept.
    pub fn set_sync_paused(&self, name: &str, paused: bool) -> Result<SyncStatus, EngineError> {
        let mut spec = self
            .shared
            .sources
            .spec(name)?
            .ok_or_else(|| EngineError::SyncNotFound(format!("no sync source '{name}'")))?;
        self.shared.sources.stop(name);
        spec.paused = paused;
        self.shared.sources.save(&spec)?;
        self.shared.db.persist(fjall::PersistMode::SyncAll)?;
        if !paused {
            self.start_sync(spec)?;
        }
        Ok(self.sync_status(name)?.expect("exists"))
    }

    /// Stops and forgets a source (the documents it loaded stay). Adding it again re-snapshots.
    pub fn remove_sync(&self, name: &str) -> Result<(), EngineError> {
        let spec = self
            .shared
            .sources
            .spec(name)?
            .ok_or_else(|| EngineError::SyncNotFound(format!("no sync source '{name}'")))?;
        self.shared.sources.stop(name);
        if let Ok(t) = self.sync_table(&spec) {
            self.shared
                .sources
                .positions
                .remove(position_key(t.id, name))?;
        }
        self.shared.sources.specs.remove(name)?;
        self.shared.db.persist(fjall::PersistMode::SyncAll)?;
        Ok(())
    }

    /// Starts every source that is not paused (at engine start).
    pub(crate) fn start_syncs(&self) -> Result<(), EngineError> {
        for spec in self.shared.sources.specs()? {
            if !spec.paused {
                self.start_sync(spec)?;
            }
        }
        Ok(())
    }

    fn sync_table(&self, spec: &SyncSpec) -> Result<Arc<Table>, EngineError> {
        let app = self
            .app(&spec.app)
            .ok_or_else(|| EngineError::AppNotFound(spec.app.clone()))?;
        app.tables.get(&spec.table).cloned().ok_or_else(|| {
            EngineError::Invalid(format!(
                "table '{}' does not exist in app '{}'",
                spec.table, spec.app
            ))
        })
    }

    fn start_sync(&self, spec: SyncSpec) -> Result<(), EngineError> {
        let table = self.sync_table(&spec)?;
        let status = Arc::new(Mutex::new(SyncStatus {
            name: spec.name.clone(),
            app: spec.app.clone(),
            table: spec.table.clone(),
            state: "starting".into(),
            ..SyncStatus::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let runner = SyncRunner {
            shared: self.shared.clone(),
            spec: spec.clone(),
            table,
            status: status.clone(),
            stop: stop.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("sync-{}", spec.name))
            .spawn(move || runner.run())?;
        self.shared.sources.running.lock().insert(
            spec.name,
            Runner {
                status,
                stop,
                thread: Some(thread),
            },
        );
        Ok(())
    }
}

/// Why a run ended.
enum Ended {
    Stopped,
    /// Keep the error, pause the source (the user must act: DDL, purged position).
    Pause(String),
    /// Retry after a wait (setup problems, server unreachable).
    Retry(String),
}

struct SyncRunner {
    shared: Arc<Shared>,
    spec: SyncSpec,
    table: Arc<Table>,
    status: Arc<Mutex<SyncStatus>>,
    stop: Arc<AtomicBool>,
}

impl SyncRunner {
    fn run(self) {
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                self.fail(format!("cannot start the sync runtime: {e}"));
                return;
            }
        };
        loop {
            match runtime.block_on(self.run_once()) {
                Ended::Stopped => return,
                Ended::Pause(message) => {
                    tracing::error!(source = %self.spec.name, %message, "sync paused");
                    let mut spec = self.spec.clone();
                    spec.paused = true;
                    let saved = self.shared.sources.save(&spec).and_then(|_| {
                        self.shared
                            .db
                            .persist(fjall::PersistMode::SyncAll)
                            .map_err(Into::into)
                    });
                    let mut s = self.status.lock();
                    s.state = "paused".into();
                    s.last_error = Some(match saved {
                        Ok(()) => message,
                        Err(e) => format!("{message} (and saving the pause failed: {e})"),
                    });
                    return;
                }
                Ended::Retry(message) => {
                    tracing::warn!(source = %self.spec.name, %message, "sync failed; retrying");
                    self.fail(message);
                    let until = std::time::Instant::now() + SETUP_RETRY;
                    while std::time::Instant::now() < until {
                        if self.stop.load(Ordering::Acquire) {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        }
    }

    fn fail(&self, message: String) {
        let mut s = self.status.lock();
        s.state = "failed".into();
        s.last_error = Some(message);
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    async fn run_once(&self) -> Ended {
        // The checkpointed position is only final once the table has replayed its log.
        while !self.table.is_replayed() {
            if self.stopped() {
                return Ended::Stopped;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let resume = match self.shared.sources.resume(self.table.id, &self.spec.name) {
            Ok(r) => r,
            Err(e) => return Ended::Retry(e.to_string()),
        };
        let source = match MysqlSource::connect(self.spec.source.clone()).await {
            Ok(s) => s,
            Err(e) => return Ended::Retry(e.to_string()),
        };
        self.status.lock().last_error = None;
        let position = match resume {
            Resume::At(p) => p,
            Resume::Fresh | Resume::SnapshotInterrupted => match self
                .snapshot(&source, matches!(resume, Resume::SnapshotInterrupted))
                .await
            {
                Ok(Some(p)) => p,
                Ok(None) => return Ended::Stopped,
                Err(e) => return Ended::Retry(format!("snapshot failed: {e}")),
            },
        };
        self.stream(&source, position).await
    }

    /// Loads the table's current rows; returns the binlog position to stream from (None when
    /// stopped). Batches before the last are marked [`SNAPSHOT_STARTED`]; the last one carries
    /// the binlog position. After an interrupted snapshot (`clean`), the last batch also deletes
    /// the documents the new snapshot does not contain, so rows deleted in between do not linger.
    async fn snapshot(
        &self,
        source: &MysqlSource,
        clean: bool,
    ) -> Result<Option<Position>, SourceError> {
        self.status.lock().state = "snapshotting".into();
        let mut batches = source.snapshot(SNAPSHOT_BATCH_ROWS).await?;
        let mut seen = std::collections::HashSet::new();
        while let Some(batch) = batches.next().await {
            let batch = batch?;
            if self.stopped() {
                return Ok(None);
            }
            let position = serde_json::to_string(&batch.position).expect("position serialises");
            let mut changes = batch.changes.clone();
            if clean {
                seen.extend(changes.iter().map(|c| c.pk.clone()));
                if batch.last {
                    let stale = self
                        .shared
                        .docs
                        .live_keys(self.table.id)
                        .map_err(|e| SourceError::Snapshot(e.to_string()))?;
                    changes.extend(stale.into_iter().filter(|pk| !seen.contains(pk)).map(|pk| {
                        pier_mysql::Change {
                            kind: ChangeKind::Delete,
                            pk,
                            fields: Map::new(),
                        }
                    }));
                }
            }
            let body = self.body(changes.iter());
            let mark = if batch.last {
                position.as_str()
            } else {
                SNAPSHOT_STARTED
            };
            self.append(&body, Some(mark))
                .await
                .map_err(|e| SourceError::Snapshot(e.to_string()))?;
            let mut s = self.status.lock();
            s.snapshot_rows += batch.changes.len() as u64;
            s.upserts += batch.changes.len() as u64;
            if batch.last {
                s.position = Some(batch.position.clone());
                return Ok(Some(batch.position));
            }
        }
        Ok(Some(batches.position().clone()))
    }

    async fn stream(&self, source: &MysqlSource, from: Position) -> Ended {
        self.status.lock().state = "streaming".into();
        let mut stream = source.stream_from(from);
        loop {
            let next = tokio::select! {
                t = stream.next() => t,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {
                    if self.stopped() {
                        return Ended::Stopped;
                    }
                    self.update_lag(&stream.stats());
                    continue;
                }
            };
            if self.stopped() {
                return Ended::Stopped;
            }
            let first = match next {
                None => return Ended::Retry("the binlog stream ended".into()),
                Some(Err(e)) => return self.stream_error(e),
                Some(Ok(t)) => t,
            };
            // Transactions already received go into the same log entry: one fsync for all of
            // them instead of one each (each stays whole; the entry ends at the last one's
            // position). Without this the stream could not keep up with ~5k transactions/s.
            let mut txns = vec![first];
            let mut changes = txns[0].changes.len();
            let mut after = None;
            while txns.len() < STREAM_BATCH_TRANSACTIONS && changes < STREAM_BATCH_CHANGES {
                match stream.next().now_or_never() {
                    Some(Some(Ok(t))) => {
                        changes += t.changes.len();
                        txns.push(t);
                    }
                    Some(Some(Err(e))) => {
                        after = Some(self.stream_error(e));
                        break;
                    }
                    Some(None) => {
                        after = Some(Ended::Retry("the binlog stream ended".into()));
                        break;
                    }
                    None => break,
                }
            }
            let last = &txns[txns.len() - 1].end_position;
            let position = serde_json::to_string(last).expect("position serialises");
            let body = self.body(txns.iter().flat_map(|t| t.changes.iter()));
            if let Err(e) = self.append(&body, Some(&position)).await {
                return Ended::Retry(format!("could not store the transaction durably: {e}"));
            }
            let mut s = self.status.lock();
            s.transactions += txns.len() as u64;
            for c in txns.iter().flat_map(|t| t.changes.iter()) {
                match c.kind {
                    ChangeKind::Upsert => s.upserts += 1,
                    ChangeKind::Delete => s.deletes += 1,
                }
            }
            s.position = Some(last.clone());
            drop(s);
            self.update_lag(&stream.stats());
            if let Some(ended) = after {
                return ended;
            }
        }
    }

    /// What a stream error means for the source.
    fn stream_error(&self, e: SourceError) -> Ended {
        match e {
            SourceError::SchemaChanged { table, reason, .. } => Ended::Pause(format!(
                "table {table} changed ({reason}): check the field mapping, then `pier sync resume {}`",
                self.spec.name
            )),
            e @ SourceError::PositionPurged { .. } => Ended::Pause(format!(
                "{e}: remove and add the source again to take a new snapshot (`pier sync remove {0}` then `pier sync add {0} ...`)",
                self.spec.name
            )),
            e => Ended::Retry(e.to_string()),
        }
    }

    fn update_lag(&self, stats: &pier_mysql::StreamStats) {
        let mut s = self.status.lock();
        s.lag_seconds = stats.seconds_behind.unwrap_or(0);
        s.lag_bytes = stats.bytes_behind.unwrap_or(0);
    }

    /// The V3 push body of a batch of changes.
    fn body<'c>(&self, changes: impl Iterator<Item = &'c pier_mysql::Change>) -> Vec<u8> {
        let pk_field = &self.table.schema.primary_key().name;
        let docs: Vec<Value> = changes
            .map(|c| match c.kind {
                ChangeKind::Upsert => {
                    let mut fields = c.fields.clone();
                    fields
                        .entry(pk_field.clone())
                        .or_insert_with(|| Value::String(c.pk.clone()));
                    json!({"cmd": "add", "fields": fields})
                }
                ChangeKind::Delete => {
                    let mut fields = Map::new();
                    fields.insert(
                        pk_field.clone(),
                        c.fields
                            .get(pk_field)
                            .cloned()
                            .unwrap_or_else(|| Value::String(c.pk.clone())),
                    );
                    json!({"cmd": "delete", "fields": fields})
                }
            })
            .collect();
        serde_json::to_vec(&docs).expect("JSON serialises")
    }

    /// Appends one batch durably, waiting while the table's backlog is over the limit.
    async fn append(&self, body: &[u8], position: Option<&str>) -> Result<u64, String> {
        while self.table.unapplied_bytes() > self.shared.config.max_unapplied_bytes {
            if self.stopped() {
                return Err("stopping".into());
            }
            tokio::time::sleep(BACKPRESSURE_WAIT).await;
        }
        let mark = SourceMark {
            name: &self.spec.name,
            position,
        };
        let request_id = format!("sync-{}", self.spec.name);
        tokio::task::block_in_place(|| self.table.append_from_source(&request_id, mark, body))
            .map_err(|e| e.to_string())
    }
}
