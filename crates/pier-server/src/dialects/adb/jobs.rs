//! Upload jobs (wire spec §3.2, §3.4, §4): `UpsertCollectionDataAsync`,
//! `GetUpsertCollectionDataJob` and `CancelUpsertCollectionDataJob`. The jobs themselves run
//! in [`crate::jobs`].

use super::{AdbError, Call, Fields, collections};
use crate::jobs;
use axum::http::StatusCode;
use pier_engine::jobs::{JobError, UploadJob};
use serde_json::{Value, json};

/// `UpsertCollectionDataAsync`: starts a job loading the JSONL file at `FileUrl`.
pub fn upsert_collection_data_async(call: &Call) -> Result<Fields, AdbError> {
    let c = collections::open(call)?;
    let url = call.params.require("FileUrl")?;
    jobs::check_source(&call.engine, url).map_err(|why| AdbError::invalid("FileUrl", why))?;
    let job = jobs::submit(&call.engine, &c.def.app_name(), url).map_err(job_error)?;
    let mut fields = Fields::new();
    fields.insert("JobId".into(), job.id.into());
    Ok(fields)
}

/// `GetUpsertCollectionDataJob`: where a job is.
pub fn get_upsert_collection_data_job(call: &Call) -> Result<Fields, AdbError> {
    let job = job_of(call)?;
    let mut fields = Fields::new();
    fields.insert("Job".into(), job_json(&job));
    Ok(fields)
}

/// `CancelUpsertCollectionDataJob`: asks a job to stop; rows it applied stay. Cancelling a
/// finished job changes nothing and succeeds.
pub fn cancel_upsert_collection_data_job(call: &Call) -> Result<Fields, AdbError> {
    let job = job_of(call)?;
    call.engine
        .upload_jobs()
        .cancel(&job.id)
        .map_err(job_error)?;
    Ok(Fields::new())
}

/// The job named by `JobId`, which must belong to the call's collection.
fn job_of(call: &Call) -> Result<UploadJob, AdbError> {
    let c = collections::open(call)?;
    let id = call.params.require("JobId")?;
    match call.engine.upload_jobs().get(id) {
        Ok(job) if job.app == c.def.app_name() => Ok(job),
        Ok(_) | Err(JobError::NotFound(_)) => Err(AdbError::new(
            StatusCode::NOT_FOUND,
            "Job.NotFound",
            format!(
                "upload job '{id}' does not exist in collection '{}' of namespace '{}'",
                c.def.collection, c.def.namespace
            ),
        )),
        Err(e) => Err(job_error(e)),
    }
}

fn job_error(e: JobError) -> AdbError {
    match e {
        JobError::Busy(..) => AdbError::new(StatusCode::CONFLICT, "Job.Conflict", e.to_string()),
        JobError::NotFound(_) => {
            AdbError::new(StatusCode::NOT_FOUND, "Job.NotFound", e.to_string())
        }
        JobError::Storage(e) => AdbError::internal(e),
    }
}

/// A job as `GetUpsertCollectionDataJob` answers it.
fn job_json(job: &UploadJob) -> Value {
    json!({
        "Id": job.id,
        "Status": job.status.as_str(),
        "Progress": job.rows_done,
        "Completed": job.status.is_finished(),
        "Error": job.error.clone().unwrap_or_default(),
        "CreateTime": timestamp(job.created_ms),
        "UpdateTime": timestamp(job.updated_ms),
    })
}

/// `2024-01-08 16:52:04.864664` (UTC), the cloud's job time format.
fn timestamp(ms: u64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:6]"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_look_like_the_clouds() {
        assert_eq!(
            super::timestamp(1_704_732_724_864),
            "2024-01-08 16:52:04.864000"
        );
    }
}
