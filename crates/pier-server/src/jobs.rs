//! Runs upload jobs (AnalyticDB `UpsertCollectionDataAsync`, `pier upload`); the records and
//! their state machine are the engine's ([`pier_engine::jobs`]).
//!
//! A job goes through four steps, each of which can be cancelled:
//! 1. fetch: a file uploaded to pier ([`Uploads`]) is read where it is; an `http(s)` URL is
//!    streamed to a spool file in the data dir (never held in memory), at most
//!    [`MAX_FILE_BYTES`];
//! 2. check: every line is parsed and converted to an engine operation; the operations are
//!    written in batches to blob files ([`pier_oplog::Blob`]), each fsynced by a second thread
//!    while the next lines are checked. A bad line fails the job with its line number before
//!    anything is applied, so a job applies all of its rows or none of them; so does a cancel,
//!    unless it lands during the short step 3 (the batches it had pushed stay);
//! 3. apply: the batches are pushed through the durable pipeline, as a client's pushes are,
//!    except that the operation log takes each blob file instead of writing its bytes again
//!    (the disk wrote them during the check); `Progress` counts the rows acknowledged;
//! 4. wait until the last batch is searchable (indexed), then `Success`.
//!
//! After a restart, unfinished jobs run again from step 1 and skip the rows their record says
//! were applied. That record is written without fsync, so a few rows may be applied twice:
//! harmless, because every operation is an upsert by id, rows without an `Id` get one derived
//! from the job id and line number (the same on every run), and the file is replayed in order.

use crate::dialects::adb::collections;
use crate::dialects::adb::data::{RawRow, Row, row_op, row_op_line};
use pier_engine::Engine;
use pier_engine::jobs::{JobError, JobStatus, UploadJob};
use pier_engine::{Blob, BlobWriter};
use pier_model::Code;
use rayon::prelude::*;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Largest file a job takes (the cloud's documented limit for `UpsertCollectionDataAsync`).
pub const MAX_FILE_BYTES: u64 = 200 << 20;
/// Rows per pushed batch.
const BATCH_ROWS: usize = 1_000;
/// Bytes of operations per pushed batch.
const BATCH_BYTES: usize = 8 << 20;
/// Bytes of lines checked together (in parallel); the check step looks for a cancel after each.
const CHECK_CHUNK_BYTES: usize = 8 << 20;
/// How often the fetch step records progress and looks for a cancel, in bytes.
const FETCH_PROGRESS_BYTES: u64 = 4 << 20;
/// How long a fetch may wait for the server to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Files uploaded to pier for jobs, in `<data dir>/uploads`. Their URLs are
/// `http://<pier>/api/v1/uploads/<id>`; a job given a URL with that path reads the file from
/// disk, whatever the host (clients may reach pier by any name).
pub struct Uploads;

impl Uploads {
    /// The path part of an upload's URL, before the id.
    pub const URL_PATH: &'static str = "/api/v1/uploads/";

    /// The directory of uploads and spool files.
    pub fn dir(engine: &Engine) -> PathBuf {
        engine.config().data_dir.join("uploads")
    }

    /// The file of upload `id`, if `id` is well-formed (a UUID: nothing else reaches the disk).
    pub fn path(engine: &Engine, id: &str) -> Option<PathBuf> {
        let id = uuid::Uuid::parse_str(id).ok()?;
        Some(Self::dir(engine).join(format!("{}.jsonl", id.hyphenated())))
    }

    /// Stores a stream as upload `id` (a UUID): written to a temporary name, fsynced, then
    /// renamed, so an upload that exists is whole. Returns its size.
    pub async fn store<S, E>(engine: &Engine, id: &str, mut stream: S) -> Result<u64, StoreError>
    where
        S: futures_util::Stream<Item = Result<axum::body::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        use futures_util::StreamExt;
        let path = Self::path(engine, id).ok_or(StoreError::BadId)?;
        std::fs::create_dir_all(Self::dir(engine))?;
        let partial = path.with_extension("part");
        let result = async {
            let mut file = std::fs::File::create(&partial)?;
            let mut bytes = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| StoreError::Interrupted(e.to_string()))?;
                bytes += chunk.len() as u64;
                if bytes > MAX_FILE_BYTES {
                    return Err(StoreError::TooLarge);
                }
                file.write_all(&chunk)?;
            }
            file.sync_all()?;
            std::fs::rename(&partial, &path)?;
            Ok(bytes)
        }
        .await;
        if result.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        result
    }

    /// The local file a job's URL names, if it is an upload to pier.
    fn local(engine: &Engine, url: &reqwest::Url) -> Option<PathBuf> {
        let id = url.path().strip_prefix(Self::URL_PATH)?;
        Self::path(engine, id).filter(|p| p.exists())
    }
}

/// Why an upload could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Over [`MAX_FILE_BYTES`].
    #[error(
        "the file is over {MAX_FILE_BYTES} bytes, the limit of an upload job: split it into several files"
    )]
    TooLarge,
    /// The client stopped sending.
    #[error("the upload was interrupted: {0}")]
    Interrupted(String),
    /// Not a UUID.
    #[error("an upload id is a UUID")]
    BadId,
    /// The disk failed.
    #[error("pier could not store the upload: {0}")]
    Io(#[from] std::io::Error),
}

/// Why a source URL cannot be used.
pub fn check_source(engine: &Engine, source: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(source).map_err(|e| {
        format!("'{source}' is not a URL ({e}): give an http(s) URL of a JSONL file")
    })?;
    if Uploads::local(engine, &url).is_some() {
        return Ok(());
    }
    if url.path().starts_with(Uploads::URL_PATH) {
        return Err(format!(
            "'{source}' names an upload that pier does not have: upload the file again (pier upload, or POST /api/v1/uploads)"
        ));
    }
    match url.scheme() {
        "http" | "https" => Ok(()),
        other => Err(format!(
            "'{other}' URLs are not supported: give an http(s) URL, or upload the file to pier first"
        )),
    }
}

/// Creates a job loading `source` into the collection app `app` and starts it. Must be called
/// within a Tokio runtime.
pub fn submit(engine: &Arc<Engine>, app: &str, source: &str) -> Result<UploadJob, JobError> {
    let job = UploadJob::new(app, collections::TABLE, source);
    engine.upload_jobs().create(&job)?;
    tokio::spawn(run(engine.clone(), job.id.clone()));
    Ok(job)
}

/// Starts (again) every job a restart interrupted. Must be called within a Tokio runtime.
pub fn resume_all(engine: &Arc<Engine>) {
    let jobs = match engine.upload_jobs().list() {
        Ok(jobs) => jobs,
        Err(e) => {
            tracing::error!(error = %e, "cannot list upload jobs to resume them");
            return;
        }
    };
    for job in jobs.into_iter().filter(|j| !j.status.is_finished()) {
        tracing::info!(job = %job.id, app = %job.app, status = job.status.as_str(), rows_done = job.rows_done, "resuming upload job");
        tokio::spawn(run(engine.clone(), job.id));
    }
}

/// Why a job stopped before success.
enum Stop {
    /// It was cancelled.
    Cancelled,
    /// It failed, for this reason.
    Failed(String),
    /// Its record is gone (its collection was deleted).
    Gone,
}

impl From<JobError> for Stop {
    fn from(e: JobError) -> Stop {
        match e {
            JobError::NotFound(_) => Stop::Gone,
            other => Stop::Failed(format!("pier could not record the job: {other}")),
        }
    }
}

/// Runs job `id` to its end and records how it ended.
async fn run(engine: Arc<Engine>, id: String) {
    let mut job = match engine.upload_jobs().get(&id) {
        Ok(job) => job,
        Err(_) => return,
    };
    metrics::gauge!("pier_upload_jobs_running").increment(1);
    let outcome = steps(&engine, &mut job).await;
    metrics::gauge!("pier_upload_jobs_running").decrement(1);
    let jobs = engine.upload_jobs();
    let ended = match outcome {
        Ok(()) => jobs.finish(&job, JobStatus::Success, None),
        Err(Stop::Cancelled) => jobs.finish(&job, JobStatus::Cancelled, None),
        Err(Stop::Failed(why)) => jobs.finish(&job, JobStatus::Failed, Some(why)),
        Err(Stop::Gone) => Err(JobError::NotFound(id.clone())),
    };
    match ended {
        Ok(job) => {
            tracing::info!(job = %id, status = job.status.as_str(), rows = job.rows_done, error = job.error.as_deref().unwrap_or(""), "upload job ended")
        }
        Err(JobError::NotFound(_)) => {
            tracing::info!(job = %id, "upload job dropped with its collection")
        }
        Err(e) => {
            tracing::error!(job = %id, error = %e, "could not record the end of an upload job")
        }
    }
    remove_spools(&engine, &id);
}

/// Deletes job `id`'s spool files: its fetched file and the batches the log did not take.
fn remove_spools(engine: &Engine, id: &str) {
    let prefix = format!("job-{id}.");
    let Ok(entries) = std::fs::read_dir(Uploads::dir(engine)) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

async fn steps(engine: &Arc<Engine>, job: &mut UploadJob) -> Result<(), Stop> {
    let jobs = engine.upload_jobs();
    if job.status == JobStatus::Cancelling {
        return Err(Stop::Cancelled);
    }
    *job = jobs.finish(job, JobStatus::Running, None)?;
    if job.status == JobStatus::Cancelling {
        return Err(Stop::Cancelled);
    }
    let source = reqwest::Url::parse(&job.source).map_err(|e| Stop::Failed(e.to_string()))?;
    let file = match Uploads::local(engine, &source) {
        Some(path) => {
            job.bytes_total = std::fs::metadata(&path).ok().map(|m| m.len());
            job.bytes_read = job.bytes_total.unwrap_or(0);
            path
        }
        None if source.path().starts_with(Uploads::URL_PATH) => {
            return Err(Stop::Failed(format!(
                "the uploaded file {} is no longer in pier's data dir; upload it again",
                job.source
            )));
        }
        None => fetch(engine, job, source).await?,
    };
    job.file = Some(file.clone());
    progress(engine, job)?;

    let (engine2, mut job2) = (engine.clone(), job.clone());
    let (job2, last) = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let checked = check(&engine2, &mut job2, &file).and_then(|batches| {
            let rows = batches.iter().map(|b| b.rows as u64).sum();
            job2.rows_total = Some(rows);
            progress(&engine2, &job2)?;
            let checked_secs = started.elapsed().as_secs_f64();
            let applied = apply(&engine2, &mut job2, batches)?;
            tracing::info!(job = %job2.id, rows, checked_secs, pushed_secs = started.elapsed().as_secs_f64() - checked_secs, "upload job's rows checked and pushed");
            Ok(applied)
        });
        (job2, checked)
    })
    .await
    .map_err(|e| Stop::Failed(format!("the job's worker failed: {e}")))?;
    *job = job2;
    let (table, seq) = last?;
    let mut committed = table.subscribe_committed();
    committed
        .wait_for(|s| *s >= seq)
        .await
        .map_err(|_| Stop::Gone)?;
    Ok(())
}

/// Records progress; stops if a cancel was requested meanwhile.
fn progress(engine: &Engine, job: &UploadJob) -> Result<(), Stop> {
    match engine.upload_jobs().progress(job)? {
        JobStatus::Cancelling => Err(Stop::Cancelled),
        _ => Ok(()),
    }
}

fn spool_path(engine: &Engine, id: &str, ext: &str) -> PathBuf {
    Uploads::dir(engine).join(format!("job-{id}.{ext}"))
}

/// Streams an http(s) source to a spool file.
async fn fetch(
    engine: &Engine,
    job: &mut UploadJob,
    source: reqwest::Url,
) -> Result<PathBuf, Stop> {
    let failed = |why: String| Stop::Failed(format!("could not read {}: {why}", job.source));
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
        .map_err(|e| Stop::Failed(e.to_string()))?;
    let mut response = client
        .get(source)
        .send()
        .await
        .map_err(|e| failed(e.to_string()))?;
    if !response.status().is_success() {
        return Err(failed(format!("the server answered {}", response.status())));
    }
    let too_large = |n: u64| {
        Stop::Failed(format!(
            "{} is {n} bytes or more, over the {MAX_FILE_BYTES}-byte limit of a job: split it into several files",
            job.source
        ))
    };
    if let Some(len) = response.content_length().filter(|&n| n > MAX_FILE_BYTES) {
        return Err(too_large(len));
    }
    job.bytes_total = response.content_length();
    job.bytes_read = 0;
    let path = spool_path(engine, &job.id, "jsonl");
    std::fs::create_dir_all(Uploads::dir(engine)).map_err(|e| failed(e.to_string()))?;
    let mut file = std::fs::File::create(&path).map_err(|e| failed(e.to_string()))?;
    let mut since_progress = 0;
    while let Some(chunk) = response.chunk().await.map_err(|e| failed(e.to_string()))? {
        job.bytes_read += chunk.len() as u64;
        if job.bytes_read > MAX_FILE_BYTES {
            return Err(too_large(job.bytes_read));
        }
        // Small synchronous writes into the page cache; no fsync (a restart fetches again).
        file.write_all(&chunk).map_err(|e| failed(e.to_string()))?;
        since_progress += chunk.len() as u64;
        if since_progress >= FETCH_PROGRESS_BYTES {
            since_progress = 0;
            progress(engine, job)?;
        }
    }
    Ok(path)
}

/// One pushed batch of a job: a JSON array of operations in a blob file.
struct Batch {
    blob: Blob,
    rows: usize,
}

/// Checks and converts every line of `file` into operations, in batches written to blob files;
/// returns the batches. Lines are read in chunks and each chunk is checked on every core (rayon
/// keeps the lines' order), because parsing vectors written as text is most of a job's work;
/// a second thread writes and fsyncs the batches meanwhile.
fn check(engine: &Engine, job: &mut UploadJob, file: &Path) -> Result<Vec<Batch>, Stop> {
    let io =
        |e: std::io::Error| Stop::Failed(format!("pier could not read or spool the file: {e}"));
    wait_for_rebuild(engine, job);
    let c = collections::open_app(engine, &job.app)
        .ok_or(Stop::Gone)?
        .def;
    let namespace = uuid::Uuid::parse_str(&job.id).unwrap_or_default();
    let mut reader = BufReader::with_capacity(1 << 20, std::fs::File::open(file).map_err(io)?);
    let (to_writer, checked_chunks) = std::sync::mpsc::sync_channel::<Vec<Vec<u8>>>(1);
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| write_batches(engine, &job.id, checked_chunks));
        let mut line_no = 0u64;
        let mut chunk: Vec<(u64, Vec<u8>)> = Vec::new();
        let read = loop {
            // The next chunk: whole lines, about CHECK_CHUNK_BYTES of them.
            chunk.clear();
            let mut bytes = 0;
            while bytes < CHECK_CHUNK_BYTES {
                let mut line = Vec::new();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => return Err(io(e)),
                }
                line_no += 1;
                bytes += line.len();
                if !line.trim_ascii().is_empty() {
                    chunk.push((line_no, line));
                }
            }
            if chunk.is_empty() && bytes == 0 {
                break Ok(());
            }
            let checked: Vec<Result<Vec<u8>, Stop>> = chunk
                .par_iter()
                .map(|(line_no, line)| check_line(&c, &namespace, *line_no, line))
                .collect();
            // In line order, so the first bad line is the one reported (rayon's own collect
            // into a Result stops at whichever error a thread finds first).
            let checked: Result<Vec<Vec<u8>>, Stop> = checked.into_iter().collect();
            let checked = match checked {
                Ok(checked) => checked,
                Err(stop) => break Err(stop),
            };
            if to_writer.send(checked).is_err() {
                break Ok(()); // The writer failed; its error is reported below.
            }
            match engine.upload_jobs().get(&job.id) {
                Ok(j) if j.status == JobStatus::Cancelling => break Err(Stop::Cancelled),
                Ok(_) => {}
                Err(e) => break Err(e.into()),
            }
        };
        drop(to_writer);
        let written = writer.join().expect("the batch writer does not panic");
        read?;
        let batches = written.map_err(io)?;
        if batches.is_empty() {
            return Err(Stop::Failed(
                "the file has no rows: one JSON object {\"Id\", \"Metadata\", \"Vector\"} per line"
                    .into(),
            ));
        }
        Ok(batches)
    })
}

/// Writes the checked operations it receives into batches of at most [`BATCH_ROWS`] rows and
/// about [`BATCH_BYTES`], each a durable blob file.
fn write_batches(
    engine: &Engine,
    job_id: &str,
    chunks: std::sync::mpsc::Receiver<Vec<Vec<u8>>>,
) -> std::io::Result<Vec<Batch>> {
    let mut batches = Vec::new();
    let mut open: Option<(BlobWriter, usize)> = None;
    for op in chunks.into_iter().flatten() {
        let (blob, rows) = match &mut open {
            Some(open) => open,
            None => {
                let path = spool_path(engine, job_id, &format!("{}.blob", batches.len()));
                open.insert((BlobWriter::create(&path)?, 0))
            }
        };
        blob.write(if *rows == 0 { b"[" } else { b"," })?;
        blob.write(&op)?;
        *rows += 1;
        if *rows >= BATCH_ROWS || blob.len() >= BATCH_BYTES as u64 {
            let (mut blob, rows) = open.take().expect("a batch is open");
            blob.write(b"]")?;
            batches.push(Batch {
                blob: blob.finish()?,
                rows,
            });
        }
    }
    if let Some((mut blob, rows)) = open {
        blob.write(b"]")?;
        batches.push(Batch {
            blob: blob.finish()?,
            rows,
        });
    }
    Ok(batches)
}

/// Checks line `line_no` and returns its engine operation as JSON.
fn check_line(
    c: &collections::Collection,
    namespace: &uuid::Uuid,
    line_no: u64,
    line: &[u8],
) -> Result<Vec<u8>, Stop> {
    let at = |why: String| {
        Stop::Failed(format!(
            "line {line_no}: {why}; no row of the file was applied"
        ))
    };
    let new_id = || uuid::Uuid::new_v5(namespace, line_no.to_string().as_bytes());
    // The fast way keeps the vector's text (most of the line) as sent; a line it does not take,
    // or finds wrong, is read again the slow way, which words the error as always.
    if let Ok(row) = serde_json::from_slice::<RawRow<'_>>(line)
        && let Some(out) = row_op_line(c, row, new_id).map_err(at)?
    {
        return Ok(out);
    }
    let row: Row = serde_json::from_slice(line).map_err(|e| {
        at(format!(
            "not a JSON object {{\"Id\", \"Metadata\", \"Vector\"}} ({e})"
        ))
    })?;
    let op = row_op(c, row, new_id).map_err(at)?;
    Ok(serde_json::to_vec(&op).expect("a JSON value serialises"))
}

/// Pushes the batches after the first `job.rows_done` rows (those a run before a restart
/// pushed); returns the table and the log sequence to wait for before success.
fn apply(
    engine: &Engine,
    job: &mut UploadJob,
    batches: Vec<Batch>,
) -> Result<(Arc<pier_engine::Table>, u64), Stop> {
    let mut last = None;
    let mut rows_before = 0u64;
    for batch in batches {
        rows_before += batch.rows as u64;
        if rows_before <= job.rows_done {
            continue;
        }
        last = Some(push(engine, job, &batch.blob)?);
        job.rows_done = rows_before;
        metrics::counter!("pier_upload_job_rows_total", "app" => job.app.clone())
            .increment(batch.rows as u64);
        progress(engine, job)?;
    }
    match last {
        Some(last) => Ok(last),
        None => {
            // Every batch was pushed before a restart, maybe not yet applied: success waits
            // for all that is in the log now, which includes them.
            let table = engine
                .app(&job.app)
                .and_then(|app| app.tables.get(&job.table).cloned())
                .ok_or(Stop::Gone)?;
            let seq = table.log.last_seq();
            Ok((table, seq))
        }
    }
}

/// Waits while the job's collection is being rebuilt (`ModifyCollection`, `CreateVectorIndex`):
/// it is missing meanwhile, not gone.
fn wait_for_rebuild(engine: &Engine, job: &UploadJob) {
    while engine.is_rebuilding(&job.app) {
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Pushes one batch, waiting while the table's backlog is full.
fn push(
    engine: &Engine,
    job: &UploadJob,
    batch: &Blob,
) -> Result<(Arc<pier_engine::Table>, u64), Stop> {
    loop {
        // The operations were built by `row_op` from checked rows: no second parse on receipt.
        match engine.push_checked_blob(&job.app, &job.table, batch, engine.new_request_id()) {
            Ok(receipt) => return Ok((receipt.table, receipt.seq)),
            Err(r) if r.code == Code::APP_NOT_FOUND && engine.is_rebuilding(&job.app) => {
                wait_for_rebuild(engine, job);
            }
            Err(r) if r.code == Code::APP_NOT_FOUND => return Err(Stop::Gone),
            Err(r) if r.retry_after_secs.is_some() && r.code != Code::INTERNAL => {
                // The applier is behind: wait for it, as a client would.
                std::thread::sleep(Duration::from_millis(100));
                if engine.upload_jobs().get(&job.id)?.status == JobStatus::Cancelling {
                    return Err(Stop::Cancelled);
                }
            }
            Err(r) => return Err(Stop::Failed(r.message)),
        }
    }
}
