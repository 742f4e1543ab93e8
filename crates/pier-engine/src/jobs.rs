//! Upload jobs: bulk loads of a file into one table, run in the background, polled and
//! cancelled by id (AnalyticDB's `UpsertCollectionDataAsync`).
//!
//! This module keeps the job records and their state machine; the server runs the jobs. A
//! record lives in the store's `upload_jobs` keyspace. Its creation and every change of status
//! are persisted (fsync) before they are reported, so an acknowledged job id survives a crash;
//! progress updates are not (a job resumed after a crash re-applies rows from the last
//! persisted progress, which is harmless because every row is an upsert by a stable id).
//!
//! One job at a time per table: [`UploadJobs::create`] refuses a second while the first is not
//! finished ([`JobError::Busy`]), as the cloud documents ("upload data for the same collection
//! only in a serial manner"); a queue would hide from the caller that its data waits.

use crate::EngineError;
use crate::table::now_ms;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

const KEYSPACE: &str = "upload_jobs";

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobStatus {
    /// Accepted, not yet reading its file.
    Start,
    /// Reading, checking and applying rows.
    Running,
    /// Every row is applied and searchable.
    Success,
    /// Stopped by an error (see [`UploadJob::error`]).
    Failed,
    /// A cancel was requested; the job stops before its next batch.
    Cancelling,
    /// Stopped by a cancel; rows applied before it stay applied.
    Cancelled,
}

impl JobStatus {
    /// The status as the AnalyticDB API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Start => "Start",
            JobStatus::Running => "Running",
            JobStatus::Success => "Success",
            JobStatus::Failed => "Failed",
            JobStatus::Cancelling => "Cancelling",
            JobStatus::Cancelled => "Cancelled",
        }
    }

    /// Whether the job has ended (it will not change again).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobStatus::Success | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

/// One upload job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadJob {
    /// A UUID.
    pub id: String,
    /// The app the rows go to.
    pub app: String,
    /// Its table.
    pub table: String,
    /// The file as the client named it (a URL).
    pub source: String,
    /// The local copy being applied, once the source is fetched.
    pub file: Option<PathBuf>,
    /// Where the job is.
    pub status: JobStatus,
    /// Rows applied durably so far (the API's `Progress`).
    pub rows_done: u64,
    /// Rows in the file, once it has been checked.
    pub rows_total: Option<u64>,
    /// Bytes of the source read so far.
    pub bytes_read: u64,
    /// The source's size, when known.
    pub bytes_total: Option<u64>,
    /// Why the job failed.
    pub error: Option<String>,
    /// When it was created, ms since the epoch.
    pub created_ms: u64,
    /// When it last changed, ms since the epoch.
    pub updated_ms: u64,
}

impl UploadJob {
    /// A new job in [`JobStatus::Start`].
    pub fn new(app: &str, table: &str, source: &str) -> UploadJob {
        let now = now_ms();
        UploadJob {
            id: uuid::Uuid::new_v4().to_string(),
            app: app.to_string(),
            table: table.to_string(),
            source: source.to_string(),
            file: None,
            status: JobStatus::Start,
            rows_done: 0,
            rows_total: None,
            bytes_read: 0,
            bytes_total: None,
            error: None,
            created_ms: now,
            updated_ms: now,
        }
    }
}

/// Why a job operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// No job has this id.
    #[error("upload job '{0}' does not exist")]
    NotFound(String),
    /// The table already has an unfinished job.
    #[error(
        "upload job {0} is still {1} on this collection: one upload runs at a time per collection; wait for it to finish (or cancel it) and retry"
    )]
    Busy(String, &'static str),
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] EngineError),
}

impl From<fjall::Error> for JobError {
    fn from(e: fjall::Error) -> JobError {
        JobError::Storage(e.into())
    }
}

/// The job records of one data dir.
pub struct UploadJobs {
    db: fjall::Database,
    keyspace: fjall::Keyspace,
    /// Serialises the check-then-insert of [`UploadJobs::create`] and status changes.
    write_lock: Mutex<()>,
}

impl std::fmt::Debug for UploadJobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadJobs").finish_non_exhaustive()
    }
}

impl UploadJobs {
    /// Opens the job records of `db`.
    pub(crate) fn open(db: &fjall::Database) -> Result<UploadJobs, EngineError> {
        Ok(UploadJobs {
            db: db.clone(),
            keyspace: db.keyspace(KEYSPACE, fjall::KeyspaceCreateOptions::default)?,
            write_lock: Mutex::new(()),
        })
    }

    /// Stores a new job durably, unless its table has an unfinished one.
    pub fn create(&self, job: &UploadJob) -> Result<(), JobError> {
        let _w = self.write_lock.lock();
        if let Some(busy) = self
            .list()?
            .into_iter()
            .find(|j| j.app == job.app && j.table == job.table && !j.status.is_finished())
        {
            return Err(JobError::Busy(busy.id, busy.status.as_str()));
        }
        self.put(job)?;
        self.persist()
    }

    /// The job with this id.
    pub fn get(&self, id: &str) -> Result<UploadJob, JobError> {
        let bytes = self
            .keyspace
            .get(id.as_bytes())?
            .ok_or_else(|| JobError::NotFound(id.to_string()))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            JobError::Storage(EngineError::Storage(format!(
                "the record of upload job '{id}' is damaged: {e}"
            )))
        })
    }

    /// Every job, oldest first.
    pub fn list(&self) -> Result<Vec<UploadJob>, JobError> {
        let mut jobs = Vec::new();
        for kv in self.keyspace.iter() {
            let bytes = kv.value()?;
            if let Ok(job) = serde_json::from_slice::<UploadJob>(&bytes) {
                jobs.push(job);
            }
        }
        jobs.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        Ok(jobs)
    }

    /// Records progress (not fsynced: see the module docs). A job that is being cancelled
    /// stays so.
    pub fn progress(&self, job: &UploadJob) -> Result<JobStatus, JobError> {
        let _w = self.write_lock.lock();
        let stored = self.get(&job.id)?;
        let mut next = job.clone();
        if stored.status == JobStatus::Cancelling {
            next.status = JobStatus::Cancelling;
        }
        next.updated_ms = now_ms();
        self.put(&next)?;
        Ok(next.status)
    }

    /// Moves a job to `status` durably, with `error` for a failure. A job that has ended does
    /// not change again; a job being cancelled only ends (as cancelled, failed or, if it was
    /// already complete, a success).
    pub fn finish(
        &self,
        job: &UploadJob,
        status: JobStatus,
        error: Option<String>,
    ) -> Result<UploadJob, JobError> {
        let _w = self.write_lock.lock();
        let stored = self.get(&job.id)?;
        if stored.status.is_finished() {
            return Ok(stored);
        }
        let mut next = job.clone();
        next.status = match (stored.status, status) {
            (JobStatus::Cancelling, JobStatus::Running) => JobStatus::Cancelling,
            _ => status,
        };
        next.error = error;
        next.updated_ms = now_ms();
        self.put(&next)?;
        self.persist()?;
        Ok(next)
    }

    /// Asks a job to stop: an unfinished job becomes [`JobStatus::Cancelling`] (its runner
    /// ends it); a finished one is returned unchanged.
    pub fn cancel(&self, id: &str) -> Result<UploadJob, JobError> {
        let _w = self.write_lock.lock();
        let mut job = self.get(id)?;
        if job.status.is_finished() || job.status == JobStatus::Cancelling {
            return Ok(job);
        }
        job.status = JobStatus::Cancelling;
        job.updated_ms = now_ms();
        self.put(&job)?;
        self.persist()?;
        Ok(job)
    }

    /// Removes the jobs of a deleted app; a runner still working on one stops when it next
    /// records progress.
    pub(crate) fn forget_app(&self, app: &str) -> Result<(), JobError> {
        let _w = self.write_lock.lock();
        for job in self.list()? {
            if job.app == app {
                self.keyspace.remove(job.id.as_bytes())?;
            }
        }
        Ok(())
    }

    fn put(&self, job: &UploadJob) -> Result<(), JobError> {
        let bytes = serde_json::to_vec(job).map_err(|e| EngineError::Storage(e.to_string()))?;
        self.keyspace.insert(job.id.as_bytes(), bytes)?;
        Ok(())
    }

    fn persist(&self) -> Result<(), JobError> {
        self.db.persist(fjall::PersistMode::SyncAll)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &std::path::Path) -> (fjall::Database, UploadJobs) {
        let db = fjall::Database::builder(dir).open().unwrap();
        let jobs = UploadJobs::open(&db).unwrap();
        (db, jobs)
    }

    #[test]
    fn one_unfinished_job_per_table_and_the_state_machine() {
        let dir = tempfile::tempdir().unwrap();
        let (_db, jobs) = open(dir.path());
        let first = UploadJob::new("adb/ns/c", "rows", "http://x/a.jsonl");
        jobs.create(&first).unwrap();
        let second = UploadJob::new("adb/ns/c", "rows", "http://x/b.jsonl");
        assert!(matches!(jobs.create(&second), Err(JobError::Busy(id, "Start")) if id == first.id));
        // Another table is free.
        jobs.create(&UploadJob::new("adb/ns/d", "rows", "http://x/a.jsonl"))
            .unwrap();

        let mut running = first.clone();
        running.rows_done = 10;
        assert_eq!(
            jobs.finish(&running, JobStatus::Running, None)
                .unwrap()
                .status,
            JobStatus::Running
        );
        assert_eq!(
            jobs.cancel(&first.id).unwrap().status,
            JobStatus::Cancelling
        );
        // Progress does not undo a cancel request; ending does.
        running.rows_done = 20;
        assert_eq!(jobs.progress(&running).unwrap(), JobStatus::Cancelling);
        let ended = jobs.finish(&running, JobStatus::Cancelled, None).unwrap();
        assert_eq!((ended.status, ended.rows_done), (JobStatus::Cancelled, 20));
        // Ended is final.
        assert_eq!(
            jobs.finish(&running, JobStatus::Success, None)
                .unwrap()
                .status,
            JobStatus::Cancelled
        );
        assert_eq!(jobs.cancel(&first.id).unwrap().status, JobStatus::Cancelled);
        jobs.create(&second).unwrap();
        assert!(matches!(jobs.get("nope"), Err(JobError::NotFound(_))));
    }

    #[test]
    fn jobs_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let job = UploadJob::new("adb/ns/c", "rows", "http://x/a.jsonl");
        {
            let (_db, jobs) = open(dir.path());
            jobs.create(&job).unwrap();
        }
        let (_db, jobs) = open(dir.path());
        let back = jobs.get(&job.id).unwrap();
        assert_eq!((back.status, back.source), (JobStatus::Start, job.source));
        assert_eq!(back.id.len(), 36);
        assert_eq!(&back.id[14..15], "4");
    }
}
