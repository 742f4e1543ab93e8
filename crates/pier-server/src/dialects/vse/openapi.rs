//! The management OpenAPI the vector SDK also speaks (spec §2.7): list, describe, create and
//! delete tables at `/openapi/ha3/instances/{instance}/tables[/{table}]`, so `create_table`,
//! `list_tables`, `get_table` and `delete_table` of the official SDK work against pier. Bodies are
//! `{"requestId","result"}`, errors `{"requestId","code","message"}`. The instance id is
//! accepted whatever it is: a pier server is one instance.

use super::{authenticate, convert, create_table, open_table};
use crate::ServerState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use pier_engine::AppKind;
use pier_vse::VectorTableSchema;
use pier_vse::response::{openapi_error, openapi_success};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

type St = State<Arc<ServerState>>;

fn answer(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn failure(state: &ServerState, status: StatusCode, code: &str, message: &str) -> Response {
    answer(
        status,
        openapi_error(&state.engine.new_request_id(), code, message),
    )
}

fn success(state: &ServerState, result: Value) -> Response {
    answer(
        StatusCode::OK,
        openapi_success(&state.engine.new_request_id(), result),
    )
}

/// Basic auth as on the data plane: the refusal in this API's shape, if any.
fn refused(state: &ServerState, headers: &HeaderMap) -> Option<Response> {
    authenticate(&state.engine, headers)
        .err()
        .map(|e| failure(state, StatusCode::UNAUTHORIZED, "AuthFailed", &e.message))
}

/// `GET .../tables`: every Vector Search Edition table.
pub async fn list(State(s): St, _: Path<String>, headers: HeaderMap) -> Response {
    if let Some(r) = refused(&s, &headers) {
        return r;
    }
    let tables: Vec<Value> = s
        .engine
        .list_apps()
        .into_iter()
        .filter(|a| a.kind == AppKind::VectorSearch)
        .filter_map(|a| a.name.strip_prefix("vse/").map(str::to_string))
        .map(|name| json!({"name": name, "status": "IN_USE", "indexStatus": "IN_USE"}))
        .collect();
    success(&s, Value::Array(tables))
}

/// `POST .../tables[?dryRun=true]`: creates a table from a `CreateTableRequest` (with
/// `dryRun`, only checks it).
pub async fn create(
    State(s): St,
    _: Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(r) = refused(&s, &headers) {
        return r;
    }
    let schema: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return failure(
                &s,
                StatusCode::BAD_REQUEST,
                "InvalidParameter",
                &format!("the body must be a CreateTableRequest JSON object: {e}"),
            );
        }
    };
    let dry_run = query
        .get("dryRun")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if dry_run {
        return match VectorTableSchema::from_json(&schema) {
            Ok(_) => success(&s, json!({})),
            Err(e) => failure(&s, StatusCode::BAD_REQUEST, "InvalidParameter", &e.0),
        };
    }
    let engine = s.engine.clone();
    match tokio::task::spawn_blocking(move || create_table(&engine, &schema)).await {
        Ok(Ok(_)) => success(&s, json!({})),
        Ok(Err(m)) if m.contains("already exists") => {
            failure(&s, StatusCode::CONFLICT, "Table.AlreadyExists", &m)
        }
        Ok(Err(m)) => failure(&s, StatusCode::BAD_REQUEST, "InvalidParameter", &m),
        Err(e) => failure(
            &s,
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            &e.to_string(),
        ),
    }
}

/// `GET .../tables/{table}`: the table as created, with its status.
pub async fn get(
    State(s): St,
    Path((_, table)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refused(&s, &headers) {
        return r;
    }
    match open_table(&s.engine, &table) {
        Some(t) => {
            let mut result = t.schema.to_json();
            result["status"] = json!("IN_USE");
            success(&s, result)
        }
        None => not_found(&s, &table),
    }
}

/// `DELETE .../tables/{table}`: the table and all its data.
pub async fn delete(
    State(s): St,
    Path((_, table)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refused(&s, &headers) {
        return r;
    }
    if open_table(&s.engine, &table).is_none() {
        return not_found(&s, &table);
    }
    let engine = s.engine.clone();
    let app = convert::app_name(&table);
    match tokio::task::spawn_blocking(move || engine.delete_app(&app)).await {
        Ok(Ok(())) => success(&s, json!({})),
        Ok(Err(e)) => failure(
            &s,
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            &e.to_string(),
        ),
        Err(e) => failure(
            &s,
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            &e.to_string(),
        ),
    }
}

fn not_found(s: &ServerState, table: &str) -> Response {
    failure(
        s,
        StatusCode::NOT_FOUND,
        "Table.NotFound",
        &format!("table '{table}' does not exist"),
    )
}
