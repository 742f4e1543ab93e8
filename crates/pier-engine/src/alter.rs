//! Changing an app after its creation ([`Engine::alter`]): its schema, its vector indexes and
//! the dialect's description of it.
//!
//! The document store is the source of truth, so a change of the schema or of the vector
//! indexes rebuilds the derived indexes from it: the app is taken out of service, its appliers
//! apply and commit everything logged, new text/filter indexes and graphs are built from the
//! stored documents into directories of the next generation ([`catalog::derived_dir`]), and one
//! catalog write switches to them. A crash before that write leaves the old generation in use;
//! after it, the new one is complete. Either way the catalog names the live generation, so at
//! start-up [`remove_stale_generations`] deletes the other generations' directories: the
//! half-built one of a rebuild cut short, or the old one a finished rebuild had not yet removed.

use crate::catalog::{self, AppRecord, derived_dir, table_dir};
use crate::quota::Limiter;
use crate::vectors::{VectorIndexSpec, VectorSet};
use crate::{App, AppInfo, Engine, EngineConfig, EngineError, applier};
use pier_index::TableIndex;
use pier_model::Schema;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How long a rebuild waits for the requests using the app to finish before giving up.
const QUIESCE_TIMEOUT: Duration = Duration::from_secs(15);
/// Documents whose vectors are inserted into the graphs at once while rebuilding.
const REBUILD_BATCH: usize = 1_000;

/// A change of an app: everything [`Engine::alter`] may replace.
#[derive(Debug, Clone)]
pub struct AppChange {
    /// The new storage schema (the table names must stay).
    pub schema: Schema,
    /// The new vector indexes of the primary table.
    pub vectors: Vec<VectorIndexSpec>,
    /// The new schema in the dialect's shape.
    pub dialect_schema: Option<serde_json::Value>,
}

impl Engine {
    /// Changes app `name`. When only the dialect's schema changes, that is one catalog write.
    /// When the schema or the vector indexes change, the derived indexes are rebuilt from the
    /// document store (see the module comment): meanwhile the app is out of service
    /// ([`Engine::app`] answers `None` and [`Engine::is_rebuilding`] says why), requests in
    /// flight finish first, and every write acknowledged before is in the new indexes.
    /// Callers must not hold the app's tables while they call. Blocking.
    pub fn alter(&self, name: &str, mut change: AppChange) -> Result<AppInfo, EngineError> {
        let _one_at_a_time = self.altering.lock();
        crate::prepare_vectors(&mut change.schema, &change.vectors)?;
        let missing = || EngineError::AppNotFound(name.to_string());
        let record = self.catalog.get(name)?.ok_or_else(missing)?;
        let app = self.app(name).ok_or_else(missing)?;
        if change.schema.tables.iter().map(|t| &t.name).ne(record
            .schema
            .tables
            .iter()
            .map(|t| &t.name))
        {
            return Err(EngineError::Invalid(
                "a change may not add, remove or rename tables".into(),
            ));
        }
        if record.same_indexes(&change.schema, &change.vectors) {
            let record = record.changed(
                change.schema,
                change.vectors,
                change.dialect_schema,
                record.generation,
            );
            self.catalog.put(&record)?;
            let altered = Arc::new(App {
                id: app.id,
                name: app.name.clone(),
                app_type: app.app_type,
                schema: app.schema.clone(),
                quota: app.quota,
                kind: app.kind,
                dialect_schema: record.dialect_schema,
                created_at_ms: app.created_at_ms,
                tables: app.tables.clone(),
                limiter: Limiter::new(
                    app.quota.push_requests_per_sec,
                    app.quota.push_bytes_per_sec,
                ),
            });
            self.apps.write().insert(name.to_string(), altered.clone());
            return Ok(altered.info());
        }
        *self.rebuilding.lock() = Some(name.to_string());
        let result = self.rebuild(app, &record, change);
        *self.rebuilding.lock() = None;
        result
    }

    /// Whether app `name` is being rebuilt by [`Engine::alter`] (and so missing for now).
    pub fn is_rebuilding(&self, name: &str) -> bool {
        self.rebuilding.lock().as_deref() == Some(name)
    }

    fn rebuild(
        &self,
        app: Arc<App>,
        record: &AppRecord,
        change: AppChange,
    ) -> Result<AppInfo, EngineError> {
        let name = record.name.clone();
        self.apps.write().remove(&name);
        // Pushes hold the app while they append: once they are done, everything is in the log.
        if !wait_sole(&app) {
            self.apps.write().insert(name, app);
            return Err(busy(&record.name));
        }
        // The appliers apply and commit all of it, which also answers writers waiting to see
        // their writes; then readers and those writers let go of the tables.
        app.stop_appliers();
        if !app.tables.values().all(wait_sole) {
            for t in app.tables.values() {
                t.stop.store(false, Ordering::Release);
                applier::spawn(self.shared.clone(), t.clone())?;
            }
            self.apps.write().insert(name, app);
            return Err(busy(&record.name));
        }
        let covered: Vec<(String, u64)> = app
            .tables
            .iter()
            .map(|(n, t)| (n.clone(), t.committed_seq()))
            .collect();
        // Closes the logs and indexes.
        drop(app);
        let altered = record.changed(
            change.schema,
            change.vectors,
            change.dialect_schema,
            record.generation + 1,
        );
        let switched = match self.build_derived(&altered, &covered) {
            Ok(()) => self.catalog.put(&altered),
            Err(e) => {
                // The catalog still names the old generation: the half-built one is unused.
                self.remove_generation(&altered);
                Err(e)
            }
        };
        let (open, result) = match switched {
            Ok(()) => (altered, Ok(())),
            Err(e) => (record.clone(), Err(e)),
        };
        let reopened = Arc::new(catalog::open_app(&self.shared, open)?);
        self.apps.write().insert(name, reopened.clone());
        result?;
        self.remove_generation(record);
        Ok(reopened.info())
    }

    /// Removes the derived index directories of `record`'s generation (one the catalog no
    /// longer names, or never named); failures are logged, start-up retries them.
    fn remove_generation(&self, record: &AppRecord) {
        for tr in &record.tables {
            let dir = table_dir(&self.shared.config, record, tr.id);
            for kind in DERIVED_KINDS {
                let unused = derived_dir(&dir, kind, record.generation);
                if let Err(e) = remove_dir(&unused) {
                    tracing::warn!(dir = %unused.display(), error = %e, "could not remove an unused index directory");
                }
            }
        }
    }

    /// Builds the derived indexes of `record`'s generation from the document store, covering
    /// the log through `covered` (per table).
    fn build_derived(
        &self,
        record: &AppRecord,
        covered: &[(String, u64)],
    ) -> Result<(), EngineError> {
        let started = Instant::now();
        let storage = |e: &dyn std::fmt::Display| EngineError::Storage(e.to_string());
        for tr in &record.tables {
            let seq = covered
                .iter()
                .find(|(n, _)| *n == tr.name)
                .map_or(0, |(_, s)| *s);
            let primary = record
                .schema
                .table(&tr.name)
                .is_some_and(|t| t.primary_table);
            let dir = table_dir(&self.shared.config, record, tr.id);
            let index_dir = derived_dir(&dir, "index", record.generation);
            remove_dir(&index_dir)?;
            let (search, filters) = pier_model::schema::table_indexes(&record.schema, &tr.name);
            let index = TableIndex::open(&index_dir, &search, &filters).map_err(|e| storage(&e))?;
            let vectors = if primary && !record.vectors.is_empty() {
                let vectors_dir = derived_dir(&dir, "vectors", record.generation);
                remove_dir(&vectors_dir)?;
                Some(
                    VectorSet::open(&vectors_dir, record.vectors.clone())
                        .map_err(|e| storage(&e))?,
                )
            } else {
                None
            };
            let mut batch = Vec::new();
            let mut docs = 0u64;
            self.shared
                .docs
                .for_each_live(tr.id, |pk, doc| -> Result<(), EngineError> {
                    docs += 1;
                    let Some(set) = &vectors else {
                        return index.upsert(pk, doc).map_err(|e| storage(&e));
                    };
                    let key = self.shared.vector_keys.key_for(tr.id, pk)?;
                    index
                        .upsert(pk, &set.attributes(key, doc))
                        .map_err(|e| storage(&e))?;
                    batch.push(set.prepare(key, Some(doc)));
                    if batch.len() >= REBUILD_BATCH {
                        set.apply_batch(std::mem::take(&mut batch))
                            .map_err(|e| storage(&e))?;
                    }
                    Ok(())
                })?;
            if let Some(set) = &vectors {
                set.apply_batch(batch).map_err(|e| storage(&e))?;
                set.save(seq).map_err(|e| storage(&e))?;
            }
            index.commit(seq).map_err(|e| storage(&e))?;
            tracing::info!(app = %record.name, table = %tr.name, docs, ms = started.elapsed().as_millis() as u64, "derived indexes rebuilt");
        }
        // The vector keys assigned (none, normally: every stored document has one).
        self.shared.db.persist(fjall::PersistMode::SyncAll)?;
        Ok(())
    }
}

/// Waits until `shared` has no other owner than the caller; `false` after [`QUIESCE_TIMEOUT`].
fn wait_sole<T>(shared: &Arc<T>) -> bool {
    let deadline = Instant::now() + QUIESCE_TIMEOUT;
    while Arc::strong_count(shared) > 1 {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

fn busy(name: &str) -> EngineError {
    EngineError::Busy(format!(
        "app '{name}' stayed in use (long requests or a sync source) for {} s, so its indexes were not rebuilt; retry when it is quieter",
        QUIESCE_TIMEOUT.as_secs()
    ))
}

/// The derived index kinds a table directory holds, one directory per generation
/// ([`derived_dir`]).
const DERIVED_KINDS: [&str; 2] = ["index", "vectors"];

/// Removes the derived index directories of `record`'s tables that belong to another generation
/// than the record's: the catalog is written last when a rebuild switches generations, so those
/// are provably unused (a rebuild cut short by a crash, or an old generation whose removal a
/// crash cut short).
/// Only names [`derived_dir`] writes are touched. Failures are logged, not fatal. Called at
/// start-up, before the app is opened (no rebuild can be running then).
pub(crate) fn remove_stale_generations(config: &EngineConfig, record: &AppRecord) {
    for tr in &record.tables {
        let dir = table_dir(config, record, tr.id);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "could not list a table directory for leftover rebuilds");
                continue;
            }
        };
        for entry in entries.flatten() {
            let Some(generation) = entry.file_name().to_str().and_then(derived_generation) else {
                continue;
            };
            let path = entry.path();
            if generation == record.generation || !path.is_dir() {
                continue;
            }
            match remove_dir(&path) {
                Ok(()) => tracing::info!(
                    app = %record.name,
                    table = %tr.name,
                    dir = %path.display(),
                    generation,
                    live = record.generation,
                    "removed the index directory of another generation (left by an interrupted rebuild)"
                ),
                Err(e) => {
                    tracing::warn!(dir = %path.display(), error = %e, "could not remove a leftover index directory")
                }
            }
        }
    }
}

/// The generation whose [`derived_dir`] is named `name` (`index` → 0, `vectors.3` → 3), or None
/// for any other name.
fn derived_generation(name: &str) -> Option<u64> {
    DERIVED_KINDS.iter().find_map(|kind| {
        let rest = name.strip_prefix(kind)?;
        if rest.is_empty() {
            return Some(0);
        }
        let digits = rest.strip_prefix('.')?;
        let generation: u64 = digits.parse().ok()?;
        // Exactly as derived_dir spells it: no `index.0`, `index.01` or `index.+1`.
        (generation > 0 && generation.to_string() == digits).then_some(generation)
    })
}

fn remove_dir(dir: &std::path::Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::derived_generation;

    #[test]
    fn only_derived_dir_names_have_a_generation() {
        for (name, want) in [
            ("index", Some(0)),
            ("vectors", Some(0)),
            ("index.1", Some(1)),
            ("vectors.12", Some(12)),
            ("log", None),
            ("index.0", None),
            ("index.01", None),
            ("index.+1", None),
            ("index.", None),
            ("indexes", None),
            ("index.1.tmp", None),
            ("vectors-2", None),
        ] {
            assert_eq!(derived_generation(name), want, "{name}");
        }
    }
}
