//! The native API for sync sources (MySQL / MariaDB binlog): add, list, show, pause, resume,
//! remove. Statuses never include the source's password.

use super::v1::engine_failure;
use crate::auth::{Admin, AdminBody};
use crate::{Failure, ServerState};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use pier_engine::sync::SyncSpec;
use pier_engine::{Engine, EngineError};
use pier_model::Code;
use serde_json::json;
use std::sync::Arc;

type St = State<Arc<ServerState>>;

/// The `/api/v1/syncs` routes.
pub fn routes() -> Router<Arc<ServerState>> {
    Router::new()
        .route("/api/v1/syncs", get(list).post(add))
        .route("/api/v1/syncs/{name}", get(show).delete(remove))
        .route("/api/v1/syncs/{name}/pause", post(pause))
        .route("/api/v1/syncs/{name}/resume", post(resume))
}

/// Engine calls persist (fsync) and start or join threads: run them off the async workers.
async fn blocking<T: Send + 'static>(
    s: &ServerState,
    f: impl FnOnce(&Engine) -> Result<T, EngineError> + Send + 'static,
) -> Result<T, Failure> {
    let engine = s.engine.clone();
    tokio::task::spawn_blocking(move || f(&engine))
        .await
        .map_err(|e| Failure::new(Code::INTERNAL, e.to_string()))?
        .map_err(engine_failure)
}

async fn list(State(s): St, _: Admin) -> Result<Response, Failure> {
    let syncs = blocking(&s, |e| e.list_syncs()).await?;
    Ok(axum::Json(json!({ "syncs": syncs })).into_response())
}

async fn add(State(s): St, AdminBody(body): AdminBody) -> Result<Response, Failure> {
    let spec: SyncSpec = serde_json::from_slice(&body).map_err(|e| {
        Failure::new(
            Code::INVALID_APP,
            format!(
                "body must be {{\"name\", \"app\", \"table\", \"source\": {{\"host\", \"port\", \"user\", \"password\", \"database\", \"table\", \"server_id\", ...}}}}: {e}"
            ),
        )
    })?;
    let status = blocking(&s, move |e| e.add_sync(spec)).await?;
    Ok((StatusCode::CREATED, axum::Json(status)).into_response())
}

async fn show(State(s): St, Path(name): Path<String>, _: Admin) -> Result<Response, Failure> {
    let n = name.clone();
    match blocking(&s, move |e| e.sync_status(&n)).await? {
        Some(status) => Ok(axum::Json(status).into_response()),
        None => Err(Failure::not_found(format!("no sync source '{name}'"))),
    }
}

async fn pause(State(s): St, Path(name): Path<String>, _: Admin) -> Result<Response, Failure> {
    let status = blocking(&s, move |e| e.set_sync_paused(&name, true)).await?;
    Ok(axum::Json(status).into_response())
}

async fn resume(State(s): St, Path(name): Path<String>, _: Admin) -> Result<Response, Failure> {
    let status = blocking(&s, move |e| e.set_sync_paused(&name, false)).await?;
    Ok(axum::Json(status).into_response())
}

async fn remove(State(s): St, Path(name): Path<String>, _: Admin) -> Result<Response, Failure> {
    blocking(&s, move |e| e.remove_sync(&name)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
