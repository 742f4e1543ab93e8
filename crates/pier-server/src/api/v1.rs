//! The native admin API: apps, access keys, documents by primary key, request outcomes and
//! processing errors. Authenticated with HTTP Basic (key id, secret) or the V3 signature.

use crate::auth::{Admin, AdminBody};
use crate::{Failure, ServerState};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use pier_engine::{AppQuota, EngineError, ErrorFilter};
use pier_model::{AppType, Code};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// Largest page of errors one call returns.
const MAX_PAGE: usize = 1000;

type St = State<Arc<ServerState>>;

/// The `/api/v1` routes.
pub fn routes() -> Router<Arc<ServerState>> {
    Router::new()
        .route("/api/v1/apps", get(list_apps).post(create_app))
        .route("/api/v1/apps/{app}", get(show_app).delete(delete_app))
        .route("/api/v1/apps/{app}/errors", get(list_errors))
        .route("/api/v1/apps/{app}/{table}/docs/{pk}", get(get_doc))
        .route("/api/v1/requests/{id}", get(request_status))
        .route("/api/v1/keys", get(list_keys).post(create_key))
        .route("/api/v1/keys/{id}", delete(revoke_key))
        .merge(super::syncs::routes())
        .merge(super::vector_tables::routes())
        .merge(super::uploads::routes())
}

/// The failure for an engine error.
pub(crate) fn engine_failure(e: EngineError) -> Failure {
    match e {
        EngineError::SyncNotFound(m) => Failure::not_found(m),
        EngineError::AppExists(_) => Failure::new(Code::APP_EXISTS, e.to_string()),
        EngineError::AppNotFound(_) => Failure::new(Code::APP_NOT_FOUND, e.to_string()),
        EngineError::Invalid(m) => Failure::new(Code::INVALID_APP, m),
        EngineError::Storage(m) => Failure::new(Code::INTERNAL, m),
        EngineError::Busy(m) => Failure::new(Code::UNAVAILABLE, m),
    }
}

async fn list_apps(State(s): St, _: Admin) -> Result<Response, Failure> {
    Ok(axum::Json(json!({"apps": s.engine.list_apps()})).into_response())
}

#[derive(Deserialize)]
struct CreateApp {
    name: String,
    #[serde(rename = "type", default = "default_type")]
    app_type: String,
    schema: Value,
    #[serde(default)]
    quota: AppQuota,
}

fn default_type() -> String {
    "advanced".into()
}

async fn create_app(State(s): St, AdminBody(body): AdminBody) -> Result<Response, Failure> {
    let req: CreateApp = serde_json::from_slice(&body).map_err(|e| {
        Failure::new(
            Code::INVALID_APP,
            format!("body must be {{\"name\", \"type\", \"schema\", \"quota\"?}}: {e}"),
        )
    })?;
    let app_type: AppType = req
        .app_type
        .parse()
        .map_err(|e: String| Failure::new(Code::INVALID_APP, e))?;
    let engine = s.engine.clone();
    let info = tokio::task::spawn_blocking(move || {
        engine.create_app(&req.name, app_type, &req.schema, req.quota)
    })
    .await
    .map_err(|e| Failure::new(Code::INTERNAL, e.to_string()))?
    .map_err(engine_failure)?;
    Ok((StatusCode::CREATED, axum::Json(info)).into_response())
}

async fn show_app(State(s): St, _: Admin, Path(app): Path<String>) -> Result<Response, Failure> {
    let app = s
        .engine
        .app(&app)
        .ok_or_else(|| engine_failure(EngineError::AppNotFound(app)))?;
    Ok(axum::Json(app.info()).into_response())
}

async fn delete_app(State(s): St, _: Admin, Path(app): Path<String>) -> Result<Response, Failure> {
    let engine = s.engine.clone();
    let name = app.clone();
    tokio::task::spawn_blocking(move || engine.delete_app(&name))
        .await
        .map_err(|e| Failure::new(Code::INTERNAL, e.to_string()))?
        .map_err(engine_failure)?;
    Ok(axum::Json(json!({"deleted": app})).into_response())
}

#[derive(Deserialize)]
struct ErrorQuery {
    #[serde(default)]
    offset: usize,
    #[serde(default = "default_limit")]
    limit: usize,
    code: Option<u32>,
    pk: Option<String>,
    table: Option<String>,
}

fn default_limit() -> usize {
    50
}

async fn list_errors(
    State(s): St,
    _: Admin,
    Path(app): Path<String>,
    Query(q): Query<ErrorQuery>,
) -> Result<Response, Failure> {
    let filter = ErrorFilter {
        code: q.code,
        pk: q.pk,
        table: q.table,
    };
    let limit = q.limit.min(MAX_PAGE);
    let (errors, total) = s
        .engine
        .errors(&app, &filter, q.offset, limit)
        .map_err(engine_failure)?;
    Ok(
        axum::Json(json!({"errors": errors, "total": total, "offset": q.offset, "limit": limit}))
            .into_response(),
    )
}

async fn get_doc(
    State(s): St,
    _: Admin,
    Path((app, table, pk)): Path<(String, String, String)>,
) -> Result<Response, Failure> {
    let a = s
        .engine
        .app(&app)
        .ok_or_else(|| engine_failure(EngineError::AppNotFound(app.clone())))?;
    let t = a.tables.get(&table).ok_or_else(|| {
        Failure::new(
            Code::TABLE_NOT_FOUND,
            format!("table '{table}' does not exist in app '{app}'"),
        )
    })?;
    match t
        .index
        .get(&pk)
        .map_err(|e| Failure::new(Code::INTERNAL, e.to_string()))?
    {
        Some(fields) => Ok(axum::Json(json!({"pk": pk, "fields": fields})).into_response()),
        None => Err(Failure::not_found(format!(
            "no document with primary key '{pk}' is visible in {app}/{table}"
        ))),
    }
}

async fn request_status(
    State(s): St,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    match s.engine.request_status(&id).map_err(engine_failure)? {
        Some(status) => Ok(axum::Json(status).into_response()),
        None => Err(Failure::not_found(format!(
            "request '{id}' is unknown: it was never received, or its app was deleted"
        ))),
    }
}

async fn list_keys(State(s): St, _: Admin) -> Result<Response, Failure> {
    let keys: Vec<Value> = s
        .engine
        .keys()
        .list()
        .into_iter()
        .map(|k| json!({"id": k.id, "created_at_ms": k.created_at_ms, "revoked": k.revoked, "description": k.description}))
        .collect();
    Ok(axum::Json(json!({"keys": keys})).into_response())
}

#[derive(Deserialize, Default)]
struct CreateKey {
    description: Option<String>,
}

async fn create_key(State(s): St, AdminBody(body): AdminBody) -> Result<Response, Failure> {
    let req: CreateKey = if body.is_empty() {
        CreateKey::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            Failure::new(
                Code(4007),
                format!("body must be {{\"description\"?}}: {e}"),
            )
        })?
    };
    let key = s
        .engine
        .keys()
        .create(req.description)
        .map_err(|e| Failure::new(Code::INTERNAL, e.to_string()))?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"id": key.id, "secret": key.secret})),
    )
        .into_response())
}

async fn revoke_key(State(s): St, _: Admin, Path(id): Path<String>) -> Result<Response, Failure> {
    match s
        .engine
        .keys()
        .revoke(&id)
        .map_err(|e| Failure::new(Code::INTERNAL, e.to_string()))?
    {
        true => Ok(axum::Json(json!({"revoked": id})).into_response()),
        false => Err(Failure::not_found(format!("no access key '{id}'"))),
    }
}
