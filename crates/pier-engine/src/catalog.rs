//! The catalog: apps and their tables, persisted in the store's `apps` keyspace; opening an app
//! opens each table's log and index and starts its applier.

use crate::quota::Limiter;
use crate::table::{Table, now_ms};
use crate::vectors::{VectorIndexSpec, VectorSet};
use crate::{EngineConfig, EngineError, Shared, applier};
use fjall::Keyspace;
use pier_index::TableIndex;
use pier_model::{AppType, Schema};
use pier_oplog::{Log, LogOptions};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

const NEXT_ID_KEY: &str = "next_id";
const APP_PREFIX: &str = "app/";

/// An app's push quota (None = unlimited).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct AppQuota {
    /// Pushes per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_requests_per_sec: Option<f64>,
    /// Pushed body bytes per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_bytes_per_sec: Option<f64>,
}

impl std::fmt::Display for AppQuota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = self
            .push_requests_per_sec
            .map_or("unlimited".to_string(), |r| format!("{r} requests/s"));
        let b = self
            .push_bytes_per_sec
            .map_or("unlimited".to_string(), |b| format!("{b} bytes/s"));
        write!(f, "{r}, {b}")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TableRecord {
    pub(crate) name: String,
    pub(crate) id: u64,
}

/// Which API an app (a set of tables) was created through and is served by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AppKind {
    /// An OpenSearch V3 app.
    #[default]
    OpenSearch,
    /// A Vector Search Edition table (an app of one table).
    VectorSearch,
    /// An AnalyticDB collection (an app of one table).
    AnalyticDb,
}

/// What [`crate::Engine::create`] needs to create an app.
#[derive(Debug, Clone)]
pub struct NewApp {
    /// Name (validated by the caller's dialect).
    pub name: String,
    /// The API it belongs to.
    pub kind: AppKind,
    /// Standard or advanced (V3); advanced for the others.
    pub app_type: AppType,
    /// The storage schema: fields, search and filter indexes.
    pub schema: Schema,
    /// Vector indexes of the primary table.
    pub vectors: Vec<VectorIndexSpec>,
    /// The schema as the dialect's API describes it, returned as given.
    pub dialect_schema: Option<serde_json::Value>,
    /// Push quota.
    pub quota: AppQuota,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AppRecord {
    id: u64,
    pub(crate) name: String,
    app_type: AppType,
    pub(crate) schema: Schema,
    quota: AppQuota,
    created_at_ms: u64,
    pub(crate) tables: Vec<TableRecord>,
    #[serde(default)]
    kind: AppKind,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) vectors: Vec<VectorIndexSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) dialect_schema: Option<serde_json::Value>,
    /// How many times [`crate::Engine::alter`] rebuilt the derived indexes: it names their
    /// directories ([`derived_dir`]), so a rebuild switches to its new ones in one catalog write.
    #[serde(default)]
    pub(crate) generation: u64,
}

impl AppRecord {
    /// The record after a change of the schema, the vector indexes and the dialect's schema.
    pub(crate) fn changed(
        &self,
        schema: Schema,
        vectors: Vec<VectorIndexSpec>,
        dialect_schema: Option<serde_json::Value>,
        generation: u64,
    ) -> AppRecord {
        AppRecord {
            schema,
            vectors,
            dialect_schema,
            generation,
            ..self.clone()
        }
    }

    /// Whether `schema` and `vectors` are what the record holds (no rebuild needed).
    pub(crate) fn same_indexes(&self, schema: &Schema, vectors: &[VectorIndexSpec]) -> bool {
        &self.schema == schema && self.vectors == vectors
    }
}

/// An open app.
pub struct App {
    /// Unique id (never reused, so a re-created app starts clean).
    pub id: u64,
    /// Name.
    pub name: String,
    /// Standard or advanced.
    pub app_type: AppType,
    /// Schema.
    pub schema: Schema,
    /// Push quota.
    pub quota: AppQuota,
    /// The API it belongs to.
    pub kind: AppKind,
    /// The schema in the dialect's own shape (Vector Search Edition, AnalyticDB).
    pub dialect_schema: Option<serde_json::Value>,
    /// Creation time.
    pub created_at_ms: u64,
    /// Tables by name.
    pub tables: BTreeMap<String, Arc<Table>>,
    pub(crate) limiter: Limiter,
}

/// What the admin API shows of a table.
#[derive(Debug, Clone, Serialize)]
pub struct TableInfo {
    /// Name.
    pub name: String,
    /// Whether it is the app's primary table.
    pub primary: bool,
    /// Documents visible to readers.
    pub documents: u64,
    /// Batches received and not yet applied.
    pub lag_batches: u64,
    /// Age of the applier's backlog in seconds (0 when caught up).
    pub lag_seconds: f64,
    /// Bytes received and not yet applied.
    pub unapplied_bytes: u64,
    /// Log position visible to readers.
    pub committed_seq: u64,
    /// Bytes of operation log on disk.
    pub log_bytes: u64,
    /// Vectors indexed (tables with vector indexes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vectors: Option<u64>,
    /// The applier's current error, if it is failing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// What the admin API shows of an app.
#[derive(Debug, Clone, Serialize)]
pub struct AppInfo {
    /// Id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// "standard" or "advanced".
    #[serde(rename = "type")]
    pub app_type: AppType,
    /// Creation time, ms since the epoch.
    pub created_at_ms: u64,
    /// Push quota.
    pub quota: AppQuota,
    /// Tables.
    pub tables: Vec<TableInfo>,
    /// The schema in the cloud's JSON shape.
    pub schema: serde_json::Value,
    /// The API it belongs to.
    pub kind: AppKind,
}

impl App {
    /// The admin view of the app.
    pub fn info(&self) -> AppInfo {
        AppInfo {
            id: self.id,
            name: self.name.clone(),
            app_type: self.app_type,
            created_at_ms: self.created_at_ms,
            quota: self.quota,
            schema: self.schema.to_json(),
            kind: self.kind,
            tables: self
                .tables
                .values()
                .map(|t| TableInfo {
                    name: t.schema.name.clone(),
                    primary: t.schema.primary_table,
                    documents: t.index.num_docs(),
                    lag_batches: t.lag_batches(),
                    lag_seconds: t.lag_seconds(),
                    unapplied_bytes: t.unapplied_bytes(),
                    committed_seq: t.committed_seq(),
                    log_bytes: t.log.disk_bytes(),
                    vectors: t.vectors.as_ref().map(|v| v.vector_count() as u64),
                    failure: t.failure(),
                })
                .collect(),
        }
    }

    /// Stops every applier after a final commit, and waits for them.
    pub(crate) fn stop_appliers(&self) {
        for t in self.tables.values() {
            t.stop.store(true, Ordering::Release);
            t.wake_applier();
        }
        for t in self.tables.values() {
            if let Some(h) = t.applier.lock().take() {
                let _ = h.join();
            }
        }
    }
}

/// Where an app's files live.
pub(crate) fn app_dir(config: &EngineConfig, app_id: u64) -> PathBuf {
    config.data_dir.join("apps").join(app_id.to_string())
}

/// Where a table's files live.
pub(crate) fn table_dir(config: &EngineConfig, r: &AppRecord, table_id: u64) -> PathBuf {
    app_dir(config, r.id).join(table_id.to_string())
}

/// The directory of a table's derived index `kind` (`index`: text and filters, `vectors`: the
/// graphs) of `generation` (0: as created).
pub(crate) fn derived_dir(table_dir: &std::path::Path, kind: &str, generation: u64) -> PathBuf {
    match generation {
        0 => table_dir.join(kind),
        g => table_dir.join(format!("{kind}.{g}")),
    }
}

/// Opens an app's tables and starts their appliers.
pub(crate) fn open_app(shared: &Arc<Shared>, r: AppRecord) -> Result<App, EngineError> {
    let mut tables = BTreeMap::new();
    for tr in &r.tables {
        let schema = r.schema.table(&tr.name).cloned().ok_or_else(|| {
            EngineError::Storage(format!(
                "catalog names table '{}' missing from app '{}'",
                tr.name, r.name
            ))
        })?;
        let dir = table_dir(&shared.config, &r, tr.id);
        let log = Log::open(
            &dir.join("log"),
            LogOptions {
                segment_bytes: shared.config.log_segment_bytes,
            },
        )
        .map_err(|e| EngineError::Storage(e.to_string()))?;
        let (search, filters) = pier_model::schema::table_indexes(&r.schema, &tr.name);
        let index = TableIndex::open(&derived_dir(&dir, "index", r.generation), &search, &filters)
            .map_err(|e| EngineError::Storage(e.to_string()))?;
        let mut checkpoint = index
            .checkpoint()
            .map_err(|e| EngineError::Storage(e.to_string()))?;
        let vectors = if r.vectors.is_empty() || !schema.primary_table {
            None
        } else {
            let set = VectorSet::open(
                &derived_dir(&dir, "vectors", r.generation),
                r.vectors.clone(),
            )
            .map_err(|e| EngineError::Storage(e.to_string()))?;
            crate::sparse::rebuild(shared, tr.id, &set)
                .map_err(|e| EngineError::Storage(e.to_string()))?;
            // The log is kept from the older of the two checkpoints; replay from there.
            checkpoint = checkpoint.min(set.checkpoint());
            Some(set)
        };
        let mut table = Table::new(
            tr.id,
            (r.id, &r.name, r.app_type),
            schema,
            log,
            index,
            checkpoint,
        );
        table.kind = r.kind;
        table.vectors = vectors;
        let table = Arc::new(table);
        table
            .restore_clock()
            .map_err(|e| EngineError::Storage(e.to_string()))?;
        applier::spawn(shared.clone(), table.clone())?;
        tables.insert(tr.name.clone(), table);
    }
    Ok(App {
        limiter: Limiter::new(r.quota.push_requests_per_sec, r.quota.push_bytes_per_sec),
        id: r.id,
        name: r.name,
        app_type: r.app_type,
        schema: r.schema,
        quota: r.quota,
        kind: r.kind,
        dialect_schema: r.dialect_schema,
        created_at_ms: r.created_at_ms,
        tables,
    })
}

/// The persisted catalog.
pub(crate) struct Catalog {
    db: fjall::Database,
    apps: Keyspace,
}

impl Catalog {
    pub fn new(db: fjall::Database, apps: Keyspace) -> Catalog {
        Catalog { db, apps }
    }

    pub fn load(&self) -> Result<Vec<AppRecord>, EngineError> {
        let mut out = Vec::new();
        for kv in self.apps.prefix(APP_PREFIX) {
            let v = kv.value()?;
            out.push(
                serde_json::from_slice(&v)
                    .map_err(|e| EngineError::Storage(format!("damaged catalog entry: {e}")))?,
            );
        }
        Ok(out)
    }

    fn next_id(&self) -> Result<u64, EngineError> {
        let id = self
            .apps
            .get(NEXT_ID_KEY)?
            .map(|v| u64::from_be_bytes(v[..8].try_into().unwrap_or([0; 8])))
            .unwrap_or(1);
        self.apps.insert(NEXT_ID_KEY, (id + 1).to_be_bytes())?;
        Ok(id)
    }

    /// Records a new app (durably, before it is used).
    pub fn create(&self, new: NewApp) -> Result<AppRecord, EngineError> {
        let id = self.next_id()?;
        let tables = new
            .schema
            .tables
            .iter()
            .map(|t| {
                self.next_id().map(|id| TableRecord {
                    name: t.name.clone(),
                    id,
                })
            })
            .collect::<Result<_, _>>()?;
        let record = AppRecord {
            id,
            name: new.name.clone(),
            app_type: new.app_type,
            schema: new.schema,
            quota: new.quota,
            created_at_ms: now_ms(),
            tables,
            kind: new.kind,
            vectors: new.vectors,
            dialect_schema: new.dialect_schema,
            generation: 0,
        };
        self.put(&record)?;
        Ok(record)
    }

    /// The record of app `name`.
    pub fn get(&self, name: &str) -> Result<Option<AppRecord>, EngineError> {
        let Some(v) = self.apps.get(format!("{APP_PREFIX}{name}"))? else {
            return Ok(None);
        };
        serde_json::from_slice(&v)
            .map(Some)
            .map_err(|e| EngineError::Storage(format!("damaged catalog entry: {e}")))
    }

    /// Writes an app's record (durably).
    pub fn put(&self, record: &AppRecord) -> Result<(), EngineError> {
        self.apps.insert(
            format!("{APP_PREFIX}{}", record.name),
            serde_json::to_vec(record).expect("plain struct"),
        )?;
        self.persist()
    }

    pub fn delete(&self, name: &str) -> Result<(), EngineError> {
        self.apps.remove(format!("{APP_PREFIX}{name}"))?;
        self.persist()
    }

    fn persist(&self) -> Result<(), EngineError> {
        // Catalog changes are rare: make each one durable on its own.
        Ok(self.db.persist(fjall::PersistMode::SyncAll)?)
    }
}
