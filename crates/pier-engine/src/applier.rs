//! The applier: one thread per table that reads the operation log in order and applies each
//! operation to the document store and the index, then commits on a short timer.
//!
//! Exactly-once after a crash: the index commit records the log position it covers; on start the
//! applier replays from there. Re-applying is harmless because the document store compares
//! versions (an operation not newer than the stored state changes nothing) and the index entry of a
//! key is always rewritten from the store's state, and outcome records are keyed by log position.

use crate::Shared;
use crate::catalog::AppKind;
use crate::docstore::{StoredDoc, Version};
use crate::entry::LogEntry;
use crate::outcomes::{DocFailure, RequestOutcome};
use crate::table::Table;
use crate::vector_queue::{self, VectorQueue};
use crate::vectors::PreparedVectors;
use pier_model::{Cmd, Code, normalize_fields, parse_operations_raw};
use serde_json::Map;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Most log bytes read per step; bounds the applier's memory.
const READ_BATCH_BYTES: usize = 8 * 1024 * 1024;
/// Pause before retrying after a storage error.
const ERROR_BACKOFF: Duration = Duration::from_secs(1);

/// Starts the applier thread of `table`.
pub(crate) fn spawn(shared: Arc<Shared>, table: Arc<Table>) -> std::io::Result<()> {
    let t = table.clone();
    let handle = std::thread::Builder::new()
        .name(format!("applier-{}-{}", table.app_name, table.schema.name))
        .spawn(move || run(&shared, &t))?;
    *table.applier_thread.lock() = Some(handle.thread().clone());
    *table.applier.lock() = Some(handle);
    Ok(())
}

fn run(shared: &Shared, table: &Table) {
    loop {
        match apply_until_stopped(shared, table) {
            Ok(()) => return,
            Err(e) => {
                tracing::error!(app = %table.app_name, table = %table.schema.name, error = %e, "applier failed; retrying");
                *table.failure.lock() = Some(e.to_string());
                std::thread::sleep(ERROR_BACKOFF);
                if table.stop.load(Ordering::Acquire) {
                    return;
                }
            }
        }
    }
}

fn apply_until_stopped(shared: &Shared, table: &Table) -> anyhow::Result<()> {
    match &table.vectors {
        Some(set) => {
            let name = format!("vectors-{}-{}", table.app_name, table.schema.name);
            vector_queue::with_queue(&name, set, |queue| apply_loop(shared, table, Some(queue)))
        }
        None => apply_loop(shared, table, None),
    }
}

/// The applier's loop; a table with vector indexes hands their changes to `vectors`.
fn apply_loop(
    shared: &Shared,
    table: &Table,
    vectors: Option<&VectorQueue<'_>>,
) -> anyhow::Result<()> {
    let start = table.committed_seq() + 1;
    let replay_until = table.log.last_seq();
    let mut reader = table.log.reader(start)?;
    let mut applied = table.committed_seq();
    let mut last_commit = Instant::now();
    if replay_until < start {
        table.replayed.store(true, Ordering::Release);
    }
    loop {
        let records = reader.next_batch(READ_BATCH_BYTES)?;
        for record in &records {
            let replaying = record.seq <= replay_until;
            apply_record(
                shared,
                table,
                record.seq,
                &record.payload,
                replaying,
                vectors,
            )?;
            applied = record.seq;
            table.applied_seq.store(applied, Ordering::Release);
        }
        *table.failure.lock() = None;
        let stopping = table.stop.load(Ordering::Acquire);
        let caught_up = records.is_empty();
        if applied > table.committed_seq()
            && (stopping && caught_up || last_commit.elapsed() >= shared.config.commit_interval)
        {
            commit(shared, table, applied, stopping && caught_up, vectors)?;
            last_commit = Instant::now();
        } else if stopping && caught_up {
            save_vectors_if_due(table, table.committed_seq(), true, vectors)?;
        }
        if applied >= replay_until
            && !table.replayed.load(Ordering::Relaxed)
            && table.committed_seq() >= replay_until
        {
            table.replayed.store(true, Ordering::Release);
        }
        if caught_up {
            if stopping && applied == table.committed_seq() {
                return Ok(());
            }
            let wait = shared
                .config
                .commit_interval
                .saturating_sub(last_commit.elapsed());
            std::thread::park_timeout(if applied > table.committed_seq() {
                wait
            } else {
                shared.config.commit_interval
            });
        }
    }
}

/// Makes the store durable through `applied`, waits until the vector graphs hold it, commits
/// the text index, publishes it, and frees covered log. `last` (shutdown) also checkpoints the
/// vector indexes.
fn commit(
    shared: &Shared,
    table: &Table,
    applied: u64,
    last: bool,
    vectors: Option<&VectorQueue<'_>>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    // The store first: the index checkpoint must never cover store writes that could be lost.
    shared.db.persist(fjall::PersistMode::SyncData)?;
    // The graphs catch up before the text index shows the documents, so a document is searchable
    // by its vector once it is visible at all; a failed vector change stops the commit, and the
    // applier restarts from the last one.
    if let Some(queue) = vectors {
        queue.drain()?;
    }
    table.index.commit(applied)?;
    metrics::histogram!("pier_index_commit_seconds").record(started.elapsed().as_secs_f64());
    table.committed.send_replace(applied);
    save_vectors_if_due(table, applied, last, vectors)?;
    // The log is kept after the older checkpoint: the vector graphs are saved less often.
    let covered = table
        .vectors
        .as_ref()
        .map_or(applied, |v| v.checkpoint().min(applied));
    table.log.truncate_through(covered)?;
    shared.expire_requests_if_due()?;
    tracing::debug!(app = %table.app_name, table = %table.schema.name, seq = applied, ms = started.elapsed().as_millis() as u64, "committed");
    Ok(())
}

/// Checkpoints the vector graphs through `seq` (durable in the store and text index) when due,
/// after the changes queued for them are in.
fn save_vectors_if_due(
    table: &Table,
    seq: u64,
    now: bool,
    queue: Option<&VectorQueue<'_>>,
) -> anyhow::Result<()> {
    if let Some(v) = &table.vectors
        && v.save_due(now)
    {
        if let Some(queue) = queue {
            queue.drain()?;
        }
        let started = Instant::now();
        v.save(seq)?;
        tracing::info!(app = %table.app_name, seq, ms = started.elapsed().as_millis() as u64, "vector indexes checkpointed");
    }
    Ok(())
}

fn apply_record(
    shared: &Shared,
    table: &Table,
    seq: u64,
    payload: &[u8],
    replaying: bool,
    vector_queue: Option<&VectorQueue<'_>>,
) -> anyhow::Result<()> {
    let Some(entry) = LogEntry::decode(payload) else {
        anyhow::bail!("log record {seq} is not a pier log entry (written by a newer version?)");
    };
    let mut outcome = RequestOutcome {
        request_id: entry.request_id.to_string(),
        app: table.app_name.clone(),
        table: table.schema.name.clone(),
        seq,
        received_ms: entry.received_ms,
        documents: 0,
        failed: Vec::new(),
    };
    let failure = |index: u32, pk: &str, code: Code, message: String| DocFailure {
        time_ms: entry.received_ms,
        app: table.app_name.clone(),
        table: table.schema.name.clone(),
        request_id: entry.request_id.to_string(),
        index,
        pk: pk.to_string(),
        code: code.0,
        message,
    };
    // A source batch "[]" only moves the source's position (a transaction of other tables).
    let position_only = entry.source.is_some() && entry.body == b"[]";
    // Request limits were checked on receipt; source batches (whole transactions) have none.
    match parse_operations_raw(entry.body, &table.schema, table.app_type) {
        Err(_) if position_only => {}
        Err(e) => outcome.failed.push(failure(
            0,
            "",
            Code::P_INTERNAL,
            format!("batch no longer valid: {e}"),
        )),
        Ok(ops) => {
            outcome.documents = ops.len() as u32;
            let mut vectors = Vec::new();
            for (i, (op, text)) in ops.into_iter().enumerate() {
                let version = Version {
                    timestamp: op.timestamp.unwrap_or(entry.received_ms as i64),
                    seq,
                    index: i as u32,
                };
                if let Err(e) = apply_op(
                    shared,
                    table,
                    (op.cmd, &op.pk, op.fields, text),
                    version,
                    replaying,
                    &mut vectors,
                )? {
                    outcome
                        .failed
                        .push(failure(i as u32, &op.pk, e.code, e.message));
                }
            }
            if let Some(queue) = vector_queue {
                queue.push(vectors)?;
            }
        }
    }
    shared.outcomes.record(table.app_id, &outcome)?;
    table
        .applied_received_ms
        .store(entry.received_ms, Ordering::Relaxed);
    let failed = outcome.failed.len() as u64;
    let labels = [
        ("app", table.app_name.clone()),
        ("table", table.schema.name.clone()),
    ];
    metrics::counter!("pier_documents_applied_total", &labels)
        .increment(u64::from(outcome.documents).saturating_sub(failed));
    metrics::counter!("pier_documents_failed_total", &labels).increment(failed);
    if let Some(position) = entry.source.and_then(|m| m.position.map(|p| (m.name, p))) {
        // Persisted with the batch's document writes: the source resumes after this batch.
        shared
            .sources
            .record_position(table.id, position.0, position.1)?;
    }
    table
        .unapplied_bytes
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
            Some(b.saturating_sub(entry.body.len() as u64))
        })
        .ok();
    shared.pending.lock().remove(entry.request_id);
    Ok(())
}

/// Applies one operation (command, primary key, fields, and the fields' JSON text as logged, or
/// `""`); the inner error is a per-document processing failure. Vector changes are collected in
/// `vectors`, applied once per batch.
fn apply_op(
    shared: &Shared,
    table: &Table,
    (cmd, pk, fields, text): (Cmd, &str, Map<String, serde_json::Value>, &str),
    version: Version,
    replaying: bool,
    vectors: &mut Vec<PreparedVectors>,
) -> anyhow::Result<Result<(), pier_model::DocError>> {
    let current = shared.docs.get_raw(table.id, pk)?;
    if let Some(cur) = current.as_ref().filter(|c| c.version >= version) {
        // Already applied (replay) or superseded by a newer operation. On replay the index may
        // predate the store, so rewrite the key's entry from the store.
        if replaying && let Some(cur) = cur.decode() {
            index_state(shared, table, pk, &cur, vectors)?;
        }
        return Ok(Ok(()));
    }
    let doc = match cmd {
        Cmd::Delete => None,
        Cmd::Add | Cmd::Update => {
            // Other dialects normalise values by their own types before the batch is logged.
            let normalized = if table.kind == AppKind::OpenSearch {
                match normalize_fields(&fields, &table.schema) {
                    Ok(n) => n,
                    Err(e) => return Ok(Err(e)),
                }
            } else {
                fields
            };
            // Only an update reads the stored document (its base).
            let mut doc = match cmd {
                Cmd::Update => current.and_then(|c| c.decode()).and_then(|c| c.doc),
                _ => None,
            }
            .unwrap_or_default();
            doc.extend(normalized);
            if let Some(Err(message)) = table.vectors.as_ref().map(|v| v.check(&doc)) {
                return Ok(Err(pier_model::DocError {
                    code: Code::P_FIELD_PARSE,
                    message,
                }));
            }
            Some(doc)
        }
    };
    let state = StoredDoc { version, doc };
    if cmd == Cmd::Add && table.kind != AppKind::OpenSearch && !text.is_empty() {
        // The document is the logged fields object itself (no base, no normalising): store its
        // text rather than formatting every value (a vector's numbers) again.
        shared.docs.put_json(table.id, pk, version, text)?;
    } else {
        shared.docs.put(table.id, pk, &state)?;
    }
    index_state(shared, table, pk, &state, vectors)?;
    Ok(Ok(()))
}

/// Makes the table's derived indexes hold the key's stored state (vector changes are queued in
/// `pending`).
fn index_state(
    shared: &Shared,
    table: &Table,
    pk: &str,
    state: &StoredDoc,
    pending: &mut Vec<PreparedVectors>,
) -> anyhow::Result<()> {
    let Some(vectors) = &table.vectors else {
        match &state.doc {
            Some(doc) => table.index.upsert(pk, doc)?,
            None => table.index.delete(pk),
        }
        return Ok(());
    };
    match &state.doc {
        Some(doc) => {
            let key = shared.vector_keys.key_for(table.id, pk)?;
            pending.push(vectors.prepare(key, Some(doc)));
            table.index.upsert(pk, &vectors.attributes(key, doc))?;
        }
        None => {
            if let Some(key) = shared.vector_keys.key_of(table.id, pk)? {
                pending.push(vectors.prepare(key, None));
            }
            table.index.delete(pk);
        }
    }
    Ok(())
}
