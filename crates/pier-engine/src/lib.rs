//! pier's engine: the catalog of apps and tables, access keys, the durable push path, the
//! appliers that turn the operation log into documents and indexes, and processing outcomes.
//!
//! It knows nothing about HTTP: dialects call [`Engine::push`] with a table and a body and get a
//! receipt (durable) or a rejection (a code and a message).

mod alter;
mod applier;
mod catalog;
pub mod docstore;
mod entry;
pub mod jobs;
pub mod keys;
pub mod namespaces;
pub mod outcomes;
mod quota;
pub mod sparse;
pub mod sparse_search;
pub mod sync;
mod table;
mod vector_queue;
pub mod vector_search;
pub mod vectors;

pub use alter::AppChange;
pub use catalog::{App, AppInfo, AppKind, AppQuota, NewApp, TableInfo};
pub use keys::{AccessKey, KeyStore};
pub use outcomes::{DocFailure, ErrorFilter, RequestOutcome};
pub use pier_oplog::{Blob, BlobWriter};
use table::Body;
pub use table::{Table, now_ms};

use docstore::DocStore;
use outcomes::Outcomes;
use parking_lot::{Mutex, RwLock};
use pier_model::{Code, parse_operations};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Engine settings (the `[engine]` part of pier's configuration).
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where everything lives.
    pub data_dir: PathBuf,
    /// How often appliers commit (make applied operations durable and visible).
    pub commit_interval: Duration,
    /// Per table: pushed bytes not yet applied beyond which pushes get 3007 (retry later).
    pub max_unapplied_bytes: u64,
    /// Size of one operation-log segment file.
    pub log_segment_bytes: u64,
    /// How long `GET /api/v1/requests/{id}` remembers a processed request.
    pub request_retention: Duration,
    /// Memory for the document store's block cache (decompressed blocks, their indexes and
    /// filters). Queries read the stored documents of their hits and map graph keys to primary
    /// keys through it; past a few hundred thousand documents those reads miss a small cache.
    pub store_cache_bytes: u64,
}

impl EngineConfig {
    /// Defaults for a data dir.
    pub fn new(data_dir: impl Into<PathBuf>) -> EngineConfig {
        EngineConfig {
            data_dir: data_dir.into(),
            commit_interval: Duration::from_millis(200),
            max_unapplied_bytes: 256 * 1024 * 1024,
            log_segment_bytes: 64 * 1024 * 1024,
            request_retention: Duration::from_secs(7 * 24 * 3600),
            store_cache_bytes: 256 * 1024 * 1024,
        }
    }
}

/// Errors of the admin operations.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The app name is taken.
    #[error("app '{0}' already exists")]
    AppExists(String),
    /// No such app.
    #[error("app '{0}' does not exist")]
    AppNotFound(String),
    /// The request is invalid; the message says why.
    #[error("{0}")]
    Invalid(String),
    /// Storage failed.
    #[error("storage error: {0}")]
    Storage(String),
    /// No such sync source; the message names it.
    #[error("{0}")]
    SyncNotFound(String),
    /// The app is in use and cannot be changed now; the message says when to retry.
    #[error("{0}")]
    Busy(String),
}

impl From<fjall::Error> for EngineError {
    fn from(e: fjall::Error) -> Self {
        EngineError::Storage(e.to_string())
    }
}

impl From<std::io::Error> for EngineError {
    fn from(e: std::io::Error) -> Self {
        EngineError::Storage(e.to_string())
    }
}

/// A push refused before it was made durable: nothing changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The V3 code.
    pub code: Code,
    /// What to fix.
    pub message: String,
    /// For retryable rejections: seconds to wait before retrying.
    pub retry_after_secs: Option<u32>,
}

impl std::fmt::Debug for Receipt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receipt")
            .field("request_id", &self.request_id)
            .field("seq", &self.seq)
            .finish()
    }
}

impl Rejection {
    fn new(code: Code, message: impl Into<String>) -> Rejection {
        Rejection {
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }
}

/// A durable push.
#[derive(Clone)]
pub struct Receipt {
    /// The id to report to the client.
    pub request_id: String,
    /// Its log sequence in the table's log.
    pub seq: u64,
    /// The table it went to.
    pub table: Arc<Table>,
}

/// Where a request is in processing.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RequestStatus {
    /// Durable, waiting to be applied.
    Received {
        /// App name.
        app: String,
        /// Table name.
        table: String,
    },
    /// Applied; becomes searchable at the next commit.
    Applied(RequestOutcome),
    /// Applied and visible to readers.
    Processed(RequestOutcome),
}

/// State shared by the engine and its appliers.
pub(crate) struct Shared {
    pub config: EngineConfig,
    pub db: fjall::Database,
    pub docs: DocStore,
    pub outcomes: Outcomes,
    pub sources: sync::Sources,
    pub vector_keys: vectors::VectorKeys,
    /// Requests acknowledged and not yet applied (by id).
    pub pending: Mutex<HashMap<String, (String, String)>>,
    /// When request records were last expired (ms since the epoch).
    pub last_expiry_ms: AtomicU64,
}

/// How often appliers look for expired request records.
const EXPIRY_INTERVAL_MS: u64 = 10 * 60 * 1000;

impl Shared {
    /// Expires old request records, at most once per `EXPIRY_INTERVAL_MS` across all appliers.
    pub fn expire_requests_if_due(&self) -> fjall::Result<()> {
        let now = now_ms();
        let last = self.last_expiry_ms.load(Ordering::Relaxed);
        if now < last + EXPIRY_INTERVAL_MS
            || self
                .last_expiry_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return Ok(());
        }
        let cutoff = (now / 1000).saturating_sub(self.config.request_retention.as_secs());
        let removed = self.outcomes.expire_requests(cutoff)?;
        if removed > 0 {
            tracing::info!(removed, "expired old request records");
        }
        Ok(())
    }
}

/// Checks vector index specs and, if there are any, gives the primary table the integer
/// attribute [`vectors::VECTOR_KEY_FIELD`] (once).
fn prepare_vectors(
    schema: &mut pier_model::Schema,
    specs: &[vectors::VectorIndexSpec],
) -> Result<(), EngineError> {
    for spec in specs {
        spec.validate()
            .map_err(|e| EngineError::Invalid(format!("vector index '{}': {e}", spec.name)))?;
    }
    if specs.is_empty() {
        return Ok(());
    }
    let primary = schema
        .tables
        .iter_mut()
        .find(|t| t.primary_table)
        .ok_or_else(|| EngineError::Invalid("the schema has no primary table".into()))?;
    if primary
        .fields
        .iter()
        .any(|f| f.name == vectors::VECTOR_KEY_FIELD)
    {
        return Ok(());
    }
    primary.fields.push(pier_model::FieldSchema {
        name: vectors::VECTOR_KEY_FIELD.to_string(),
        field_type: pier_model::FieldType::Int,
        primary_key: false,
        join_with: None,
    });
    schema
        .indexes
        .filter_fields
        .push(vectors::VECTOR_KEY_FIELD.to_string());
    Ok(())
}

/// The engine of one data dir.
pub struct Engine {
    shared: Arc<Shared>,
    keys: KeyStore,
    namespaces: namespaces::Namespaces,
    upload_jobs: jobs::UploadJobs,
    catalog: catalog::Catalog,
    apps: RwLock<BTreeMap<String, Arc<App>>>,
    /// Held by [`Engine::alter`]: one app change at a time.
    altering: Mutex<()>,
    /// The app [`Engine::alter`] is rebuilding, if any.
    rebuilding: Mutex<Option<String>>,
    request_counter: AtomicU64,
}

impl Engine {
    /// Opens the data dir, recovering every table: appliers replay the log from their last
    /// checkpoint in the background (see [`Engine::is_ready`]).
    pub fn open(config: EngineConfig) -> Result<Engine, EngineError> {
        std::fs::create_dir_all(&config.data_dir)?;
        let db = fjall::Database::builder(config.data_dir.join("store"))
            .manual_journal_persist(true)
            // Documents of vectors (16 KB of numbers at 768 d) are most of what the applier
            // writes; lz4 over each in the journal cost it more CPU than storing them. Each
            // journal entry names its compression, so journals written with lz4 still recover;
            // the tables flushed from the journal are compressed as before.
            .journal_compression(fjall::CompressionType::None)
            .cache_size(config.store_cache_bytes)
            .open()
            .map_err(|e| match e {
                fjall::Error::Locked => EngineError::Storage(format!(
                    "the data dir {} is in use by another pier process; stop it or use another --data-dir",
                    config.data_dir.display()
                )),
                e => e.into(),
            })?;
        let ks = |name: &str| db.keyspace(name, fjall::KeyspaceCreateOptions::default);
        let docs = DocStore::new(ks("docs")?);
        let outcomes = Outcomes::new(ks("requests")?, ks("errors")?);
        let catalog = catalog::Catalog::new(db.clone(), ks("apps")?);
        let sources = sync::Sources::new(ks("syncs")?, ks("sync_positions")?);
        let vector_keys = vectors::VectorKeys::new(ks("vector_keys")?);
        let keys = KeyStore::open(&config.data_dir)?;
        let namespaces = namespaces::Namespaces::open(&db, &config.data_dir)?;
        let upload_jobs = jobs::UploadJobs::open(&db)?;
        let shared = Arc::new(Shared {
            config,
            db,
            docs,
            outcomes,
            sources,
            vector_keys,
            pending: Mutex::new(HashMap::new()),
            last_expiry_ms: AtomicU64::new(0),
        });
        let engine = Engine {
            catalog,
            keys,
            namespaces,
            upload_jobs,
            apps: RwLock::new(BTreeMap::new()),
            altering: Mutex::new(()),
            rebuilding: Mutex::new(None),
            request_counter: AtomicU64::new(rand::random::<u64>() % 10_000_000_000),
            shared,
        };
        for record in engine.catalog.load()? {
            alter::remove_stale_generations(&engine.shared.config, &record);
            let app = catalog::open_app(&engine.shared, record)?;
            engine.apps.write().insert(app.name.clone(), Arc::new(app));
        }
        engine.start_syncs()?;
        Ok(engine)
    }

    /// The access keys.
    pub fn keys(&self) -> &KeyStore {
        &self.keys
    }

    /// The AnalyticDB namespaces and manager account.
    pub fn namespaces(&self) -> &namespaces::Namespaces {
        &self.namespaces
    }

    /// The upload jobs' records (the server runs the jobs).
    pub fn upload_jobs(&self) -> &jobs::UploadJobs {
        &self.upload_jobs
    }

    /// The engine's configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.shared.config
    }

    /// Whether every table has replayed its log (the server is ready to serve reads).
    pub fn is_ready(&self) -> bool {
        self.apps
            .read()
            .values()
            .all(|a| a.tables.values().all(|t| t.is_replayed()))
    }

    /// Creates an app from the cloud's schema JSON.
    pub fn create_app(
        &self,
        name: &str,
        app_type: pier_model::AppType,
        schema: &serde_json::Value,
        quota: AppQuota,
    ) -> Result<AppInfo, EngineError> {
        pier_model::schema::validate_name("app", name).map_err(|e| EngineError::Invalid(e.0))?;
        let schema = pier_model::Schema::from_json(schema)
            .map_err(|e| EngineError::Invalid(e.to_string()))?;
        self.create(NewApp {
            name: name.to_string(),
            kind: AppKind::OpenSearch,
            app_type,
            schema,
            vectors: Vec::new(),
            dialect_schema: None,
            quota,
        })
    }

    /// Creates an app from a schema a dialect has validated. With vector indexes, the primary
    /// table gets the integer attribute [`vectors::VECTOR_KEY_FIELD`] (for filtered vector
    /// searches) and its vector fields are left out of the text index's stored source.
    pub fn create(&self, mut new: NewApp) -> Result<AppInfo, EngineError> {
        prepare_vectors(&mut new.schema, &new.vectors)?;
        let mut apps = self.apps.write();
        if apps.contains_key(&new.name) {
            return Err(EngineError::AppExists(new.name));
        }
        let name = new.name.clone();
        let record = self.catalog.create(new)?;
        let app = Arc::new(catalog::open_app(&self.shared, record)?);
        apps.insert(name, app.clone());
        Ok(app.info())
    }

    /// Every app.
    pub fn list_apps(&self) -> Vec<AppInfo> {
        self.apps.read().values().map(|a| a.info()).collect()
    }

    /// An app by name.
    pub fn app(&self, name: &str) -> Option<Arc<App>> {
        self.apps.read().get(name).cloned()
    }

    /// Deletes an app with its data. Pushes in flight to it fail or are discarded.
    pub fn delete_app(&self, name: &str) -> Result<(), EngineError> {
        let app = self
            .apps
            .write()
            .remove(name)
            .ok_or_else(|| EngineError::AppNotFound(name.to_string()))?;
        app.stop_appliers();
        self.shared
            .pending
            .lock()
            .retain(|_, (a, _)| *a != app.name);
        self.catalog.delete(name)?;
        for t in app.tables.values() {
            self.shared.docs.drop_table(t.id)?;
            self.shared.vector_keys.drop_table(t.id)?;
        }
        self.shared.outcomes.drop_app(app.id)?;
        self.upload_jobs.forget_app(name).map_err(|e| match e {
            jobs::JobError::Storage(e) => e,
            other => EngineError::Storage(other.to_string()),
        })?;
        self.shared.db.persist(fjall::PersistMode::SyncAll)?;
        let dir = catalog::app_dir(&self.shared.config, app.id);
        drop(app);
        std::fs::remove_dir_all(dir).or_else(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Ok(())
            } else {
                Err(e)
            }
        })?;
        Ok(())
    }

    /// A 24-digit request id: 10 digits of epoch seconds, then a counter (spec §1.2).
    pub fn new_request_id(&self) -> String {
        let secs = now_ms() / 1000;
        let n = self.request_counter.fetch_add(1, Ordering::Relaxed) % 100_000_000_000_000;
        format!("{secs:010}{n:014}")
    }

    /// Validates a push and makes it durable. Blocking (fsync): call from a blocking context.
    pub fn push(
        &self,
        app: &str,
        table: &str,
        body: &[u8],
        request_id: String,
    ) -> Result<Receipt, Rejection> {
        self.append_push(app, table, Body::Bytes(body), request_id, true)
    }

    /// Makes durable a batch that a dialect built itself from operations it has already parsed
    /// and checked (the Vector Search Edition's bulk push), without parsing it again on receipt:
    /// like [`Engine::push`] otherwise. The applier parses it as it parses every batch, so an
    /// operation it cannot apply is a processing failure, never a crash. Blocking (fsync).
    pub fn push_checked(
        &self,
        app: &str,
        table: &str,
        body: &[u8],
        request_id: String,
    ) -> Result<Receipt, Rejection> {
        self.append_push(app, table, Body::Bytes(body), request_id, false)
    }

    /// [`Engine::push_checked`] for a body written to a blob file (an upload job's batch): the
    /// log takes the file instead of copying its bytes. On error the blob is still the caller's.
    pub fn push_checked_blob(
        &self,
        app: &str,
        table: &str,
        body: &Blob,
        request_id: String,
    ) -> Result<Receipt, Rejection> {
        self.append_push(app, table, Body::Blob(body), request_id, false)
    }

    /// [`Engine::push`], parsing the body on receipt when `validate` (bodies in memory only).
    fn append_push(
        &self,
        app: &str,
        table: &str,
        body: Body<'_>,
        request_id: String,
        validate: bool,
    ) -> Result<Receipt, Rejection> {
        let app = self.app(app).ok_or_else(|| {
            Rejection::new(Code::APP_NOT_FOUND, format!("app '{app}' does not exist"))
        })?;
        let t = app.tables.get(table).cloned().ok_or_else(|| {
            Rejection::new(
                Code::TABLE_NOT_FOUND,
                format!(
                    "table '{table}' does not exist in app '{}' (tables: {})",
                    app.name,
                    app.tables.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        })?;
        // Other dialects check their own request limits before they hand a batch over.
        let v3_limits = app.kind == AppKind::OpenSearch;
        if let (true, Body::Bytes(body)) = (validate, body) {
            parse_operations(body, &t.schema, app.app_type, v3_limits)
                .map_err(|e| Rejection::new(e.code, e.message))?;
        }
        if t.unapplied_bytes() > self.shared.config.max_unapplied_bytes {
            return Err(Rejection {
                code: Code::TOO_FREQUENT,
                message: format!(
                    "table '{}' has {} MB pushed and not yet processed (limit {} MB): retry after a short wait",
                    table,
                    t.unapplied_bytes() >> 20,
                    self.shared.config.max_unapplied_bytes >> 20
                ),
                retry_after_secs: Some(1),
            });
        }
        if let Err(wait) = app.limiter.admit(body.len()) {
            return Err(Rejection {
                code: Code::QUOTA_EXCEEDED,
                message: format!(
                    "push rate exceeds app quota ({}): retry after {wait} s, or push larger, fewer batches",
                    app.quota
                ),
                retry_after_secs: Some(wait),
            });
        }
        self.shared
            .pending
            .lock()
            .insert(request_id.clone(), (app.name.clone(), table.to_string()));
        match t.append_durably(&request_id, body) {
            Ok(seq) => Ok(Receipt {
                request_id,
                seq,
                table: t,
            }),
            Err(e) => {
                self.shared.pending.lock().remove(&request_id);
                tracing::error!(error = %e, app = %app.name, table, "append to the operation log failed");
                Err(Rejection {
                    code: Code::INTERNAL,
                    message: format!("could not store the push durably ({e}); retry"),
                    retry_after_secs: Some(1),
                })
            }
        }
    }

    /// Where a request is in processing; None if pier does not know it.
    pub fn request_status(&self, request_id: &str) -> Result<Option<RequestStatus>, EngineError> {
        if let Some((app, table)) = self.shared.pending.lock().get(request_id).cloned() {
            return Ok(Some(RequestStatus::Received { app, table }));
        }
        let Some(outcome) = self.shared.outcomes.request(request_id)? else {
            return Ok(None);
        };
        let committed = self
            .app(&outcome.app)
            .and_then(|a| a.tables.get(&outcome.table).map(|t| t.committed_seq()))
            .unwrap_or(u64::MAX);
        Ok(Some(if outcome.seq <= committed {
            RequestStatus::Processed(outcome)
        } else {
            RequestStatus::Applied(outcome)
        }))
    }

    /// One page of an app's processing errors, newest first, and how many match.
    pub fn errors(
        &self,
        app: &str,
        filter: &ErrorFilter,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<DocFailure>, usize), EngineError> {
        let app = self
            .app(app)
            .ok_or_else(|| EngineError::AppNotFound(app.to_string()))?;
        Ok(self.shared.outcomes.errors(app.id, filter, offset, limit)?)
    }

    /// Commits what every applier has applied and stops them. Pushes must have stopped first.
    pub fn shutdown(&self) {
        self.shared.sources.stop_all();
        for app in self.apps.read().values() {
            app.stop_appliers();
        }
        if let Err(e) = self.shared.db.persist(fjall::PersistMode::SyncAll) {
            tracing::error!(error = %e, "final store persist failed; the log replays on next start");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_cache_is_the_configured_size() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = EngineConfig::new(dir.path());
        assert_eq!(
            config.store_cache_bytes,
            256 << 20,
            "the documented default"
        );
        config.store_cache_bytes = 48 << 20;
        let engine = Engine::open(config).unwrap();
        assert_eq!(engine.shared.db.cache_capacity(), 48 << 20);
    }
}
