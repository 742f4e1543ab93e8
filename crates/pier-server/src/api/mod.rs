//! pier's native API (`/api/v1`) and the operator endpoints.

pub mod metrics;
pub mod syncs;
pub mod uploads;
pub mod v1;
pub mod vector_tables;

use crate::{Failure, ServerState};
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use pier_model::Code;
use serde_json::json;
use std::sync::Arc;

/// `GET /health`: the process is up and serving HTTP.
pub async fn health() -> impl IntoResponse {
    axum::Json(json!({"status": "ok"}))
}

/// `GET /ready`: every table has replayed its operation log after start-up.
pub async fn ready(State(state): State<Arc<ServerState>>) -> impl IntoResponse {
    if state.engine.is_ready() {
        (StatusCode::OK, axum::Json(json!({"status": "ready"})))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "replaying the operation log"})),
        )
    }
}

/// Any other path.
pub async fn not_found(uri: Uri) -> Failure {
    Failure {
        status: StatusCode::NOT_FOUND,
        ..Failure::new(
            Code(404),
            format!(
                "no route for {}: see the README for the API paths",
                uri.path()
            ),
        )
    }
}
