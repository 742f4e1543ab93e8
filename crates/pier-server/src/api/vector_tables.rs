//! `/api/v1/vector-tables`: Vector Search Edition tables, created from the cloud's
//! `CreateTableRequest` JSON (spec §2.7's shape), listed and deleted.

use super::v1::engine_failure;
use crate::auth::{Admin, AdminBody};
use crate::dialects::vse;
use crate::{Failure, ServerState};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use pier_engine::{AppKind, EngineError};
use pier_model::Code;
use serde_json::json;
use std::sync::Arc;

type St = State<Arc<ServerState>>;

/// The routes.
pub fn routes() -> Router<Arc<ServerState>> {
    Router::new()
        .route("/api/v1/vector-tables", get(list).post(create))
        .route("/api/v1/vector-tables/{name}", delete(remove).get(show))
}

async fn create(State(s): St, AdminBody(body): AdminBody) -> Result<Response, Failure> {
    let schema: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        Failure::new(
            Code::INVALID_APP,
            format!("the body must be a CreateTableRequest JSON object: {e}"),
        )
    })?;
    let engine = s.engine.clone();
    let created = tokio::task::spawn_blocking(move || vse::create_table(&engine, &schema))
        .await
        .map_err(|e| Failure::new(Code::INTERNAL, e.to_string()))?
        .map_err(|m| {
            let code = if m.contains("already exists") {
                Code::APP_EXISTS
            } else {
                Code::INVALID_APP
            };
            Failure::new(code, m)
        })?;
    Ok((StatusCode::CREATED, axum::Json(created)).into_response())
}

/// The admin view of a table: its schema as created, plus the engine's counters.
fn describe(app: &pier_engine::App) -> serde_json::Value {
    let info = app.info();
    json!({
        "name": app.name.strip_prefix("vse/").unwrap_or(&app.name),
        "schema": app.dialect_schema,
        "table": info.tables.first(),
    })
}

async fn list(State(s): St, _: Admin) -> Result<Response, Failure> {
    let tables: Vec<serde_json::Value> = s
        .engine
        .list_apps()
        .iter()
        .filter(|a| a.kind == AppKind::VectorSearch)
        .filter_map(|a| s.engine.app(&a.name))
        .map(|a| describe(&a))
        .collect();
    Ok(axum::Json(json!({"tables": tables})).into_response())
}

async fn show(State(s): St, _: Admin, Path(name): Path<String>) -> Result<Response, Failure> {
    let app = s
        .engine
        .app(&vse::convert::app_name(&name))
        .filter(|a| a.kind == AppKind::VectorSearch)
        .ok_or_else(|| Failure::not_found(format!("vector table '{name}' does not exist")))?;
    Ok(axum::Json(describe(&app)).into_response())
}

async fn remove(State(s): St, _: Admin, Path(name): Path<String>) -> Result<Response, Failure> {
    let engine = s.engine.clone();
    let app = vse::convert::app_name(&name);
    if engine
        .app(&app)
        .is_none_or(|a| a.kind != AppKind::VectorSearch)
    {
        return Err(Failure::not_found(format!(
            "vector table '{name}' does not exist"
        )));
    }
    tokio::task::spawn_blocking(move || engine.delete_app(&app))
        .await
        .map_err(|e| Failure::new(Code::INTERNAL, e.to_string()))?
        .map_err(|e: EngineError| engine_failure(e))?;
    Ok(axum::Json(json!({"deleted": name})).into_response())
}
