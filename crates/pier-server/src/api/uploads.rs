//! Files uploaded to pier and the upload jobs that load them (what `pier upload` uses; the
//! AnalyticDB actions reach the same jobs):
//!
//! - `POST /api/v1/uploads`: the body, a JSONL file of at most 200 MB, is streamed to disk;
//!   answers `{"id", "url", "bytes"}`. `url` is what a job's `file_url` (or AnalyticDB's
//!   `FileUrl`) takes.
//! - `DELETE /api/v1/uploads/{id}`: removes an upload.
//! - `POST /api/v1/upload-jobs` `{"namespace"?, "collection", "file_url"}`: starts a job.
//! - `GET /api/v1/upload-jobs`, `GET /api/v1/upload-jobs/{id}`: jobs, newest last.
//! - `POST /api/v1/upload-jobs/{id}/cancel`: asks a job to stop.

use super::v1::engine_failure;
use crate::auth::{Admin, AdminBody};
use crate::dialects::adb::collections;
use crate::jobs::{self, MAX_FILE_BYTES, StoreError, Uploads};
use crate::{Failure, ServerState};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use pier_engine::jobs::{JobError, UploadJob};
use pier_engine::namespaces::DEFAULT_NAMESPACE;
use pier_model::Code;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

type St = State<Arc<ServerState>>;

/// The routes.
pub fn routes() -> Router<Arc<ServerState>> {
    Router::new()
        .route("/api/v1/uploads", post(upload))
        .route("/api/v1/uploads/{id}", delete(delete_upload))
        .route("/api/v1/upload-jobs", get(list_jobs).post(create_job))
        .route("/api/v1/upload-jobs/{id}", get(show_job))
        .route("/api/v1/upload-jobs/{id}/cancel", post(cancel_job))
}

async fn upload(
    State(s): St,
    _: Admin,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Failure> {
    let too_large = || Failure {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        ..Failure::new(
            Code(4007),
            format!(
                "the file is over {MAX_FILE_BYTES} bytes, the limit of an upload job: split it into several files"
            ),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_FILE_BYTES) {
        return Err(too_large());
    }
    let id = uuid::Uuid::new_v4().to_string();
    let bytes = Uploads::store(&s.engine, &id, body.into_data_stream())
        .await
        .map_err(|e| match e {
            StoreError::TooLarge => too_large(),
            StoreError::Interrupted(_) => Failure::new(Code(4007), e.to_string()),
            StoreError::BadId | StoreError::Io(_) => Failure::new(Code::INTERNAL, e.to_string()),
        })?;
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let url = format!("http://{host}{}{id}", Uploads::URL_PATH);
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"id": id, "url": url, "bytes": bytes})),
    )
        .into_response())
}

async fn delete_upload(
    State(s): St,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    let path = Uploads::path(&s.engine, &id)
        .filter(|p| p.exists())
        .ok_or_else(|| Failure::not_found(format!("upload '{id}' does not exist")))?;
    std::fs::remove_file(path).map_err(|e| {
        Failure::new(
            Code::INTERNAL,
            format!("could not remove upload '{id}': {e}"),
        )
    })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct NewJob {
    #[serde(default)]
    namespace: Option<String>,
    collection: String,
    file_url: String,
}

async fn create_job(State(s): St, AdminBody(body): AdminBody) -> Result<Response, Failure> {
    let req: NewJob = serde_json::from_slice(&body).map_err(|e| {
        Failure::new(
            Code::INVALID_APP,
            format!("body must be {{\"namespace\"?, \"collection\", \"file_url\"}}: {e}"),
        )
    })?;
    let namespace = req.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE);
    let app = collections::app_name(namespace, &req.collection);
    if collections::open_app(&s.engine, &app).is_none() {
        return Err(Failure::not_found(format!(
            "collection '{}' does not exist in namespace '{namespace}'",
            req.collection
        )));
    }
    jobs::check_source(&s.engine, &req.file_url)
        .map_err(|why| Failure::new(Code::INVALID_APP, why))?;
    let job = jobs::submit(&s.engine, &app, &req.file_url).map_err(job_failure)?;
    Ok((StatusCode::CREATED, axum::Json(job_json(&job))).into_response())
}

async fn list_jobs(State(s): St, _: Admin) -> Result<Response, Failure> {
    let jobs = s.engine.upload_jobs().list().map_err(job_failure)?;
    let jobs: Vec<_> = jobs.iter().map(job_json).collect();
    Ok(axum::Json(json!({ "jobs": jobs })).into_response())
}

async fn show_job(State(s): St, _: Admin, Path(id): Path<String>) -> Result<Response, Failure> {
    let job = s.engine.upload_jobs().get(&id).map_err(job_failure)?;
    Ok(axum::Json(job_json(&job)).into_response())
}

async fn cancel_job(State(s): St, _: Admin, Path(id): Path<String>) -> Result<Response, Failure> {
    let job = s.engine.upload_jobs().cancel(&id).map_err(job_failure)?;
    Ok(axum::Json(job_json(&job)).into_response())
}

/// A job in the native API: its record, plus the collection it loads.
fn job_json(job: &UploadJob) -> serde_json::Value {
    let mut v = serde_json::to_value(job).unwrap_or_default();
    if let Some((namespace, collection)) = collections::parse_app_name(&job.app) {
        v["namespace"] = namespace.into();
        v["collection"] = collection.into();
    }
    v
}

fn job_failure(e: JobError) -> Failure {
    match e {
        JobError::NotFound(_) => Failure::not_found(e.to_string()),
        JobError::Busy(..) => Failure {
            status: StatusCode::CONFLICT,
            ..Failure::new(Code(4009), e.to_string())
        },
        JobError::Storage(e) => engine_failure(e),
    }
}
