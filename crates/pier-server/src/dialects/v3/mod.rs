//! The OpenSearch V3 application API: data push (spec §1) here, search and scroll (spec §4) in
//! [`search`].

pub(crate) mod render;
pub mod scroll;
pub mod search;

use crate::auth::verify_v3;
use crate::{Failure, ServerState};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use pier_model::Code;
use pier_model::operation::MAX_BODY_BYTES;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// `X-Pier-Wait: visible` answers only once the push is searchable.
const WAIT_HEADER: &str = "x-pier-wait";
/// How long `X-Pier-Wait: visible` waits at most, in ms (default `DEFAULT_WAIT`).
const WAIT_TIMEOUT_HEADER: &str = "x-pier-wait-timeout-ms";
const DEFAULT_WAIT: Duration = Duration::from_secs(30);
/// Tells whether the documents were visible when the answer was sent.
const VISIBLE_HEADER: &str = "x-pier-visible";

fn too_large(len: usize) -> Failure {
    Failure::new(
        Code::BODY_TOO_LARGE,
        format!(
            "the push body is {len} bytes or more; the limit is {MAX_BODY_BYTES} bytes (2 MB) per request: split it into smaller batches"
        ),
    )
}

/// Reads the body, refusing (without buffering) anything over the push limit.
async fn read_body(headers: &HeaderMap, body: Body) -> Result<axum::body::Bytes, Failure> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(len) = declared.filter(|l| *l > MAX_BODY_BYTES) {
        return Err(too_large(len));
    }
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| too_large(MAX_BODY_BYTES + 1))
}

/// `POST /v3/openapi/apps/{app}/{table}/actions/bulk`
pub async fn push(
    State(state): State<Arc<ServerState>>,
    Path((app, table)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request_id = state.engine.new_request_id();
    let started = std::time::Instant::now();
    let result = push_inner(
        &state,
        &app,
        &table,
        &method,
        &uri,
        &headers,
        body,
        &request_id,
    )
    .await;
    let outcome = match &result {
        Ok(_) => "ok".to_string(),
        Err(f) => f.code.to_string(),
    };
    metrics::counter!("pier_push_requests_total", "api" => "v3", "app" => app.clone(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!("pier_push_ack_seconds", "api" => "v3")
        .record(started.elapsed().as_secs_f64());
    match result {
        Ok(resp) => resp,
        Err(f) => f.with_request_id(&request_id).into_response(),
    }
}

#[allow(clippy::too_many_arguments)]
async fn push_inner(
    state: &Arc<ServerState>,
    app: &str,
    table: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
    request_id: &str,
) -> Result<Response, Failure> {
    let body = read_body(headers, body).await?;
    verify_v3(state, method, uri, headers, &body)?;
    metrics::counter!("pier_push_bytes_total", "api" => "v3", "app" => app.to_string())
        .increment(body.len() as u64);
    let engine = state.engine.clone();
    let (app, table, id) = (app.to_string(), table.to_string(), request_id.to_string());
    let receipt = tokio::task::spawn_blocking(move || engine.push(&app, &table, &body, id))
        .await
        .map_err(|e| Failure::new(Code::INTERNAL, format!("push task failed: {e}")))?
        .map_err(|r| Failure {
            retry_after: r.retry_after_secs,
            ..Failure::new(r.code, r.message)
        })?;

    let ok = json!({"errors": [], "request_id": request_id, "status": "OK", "result": true});
    let mut resp = axum::Json(ok).into_response();
    let wants_visible = headers
        .get(WAIT_HEADER)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"visible"));
    if wants_visible {
        let timeout = headers
            .get(WAIT_TIMEOUT_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_WAIT);
        let mut committed = receipt.table.subscribe_committed();
        let visible = tokio::time::timeout(timeout, committed.wait_for(|c| *c >= receipt.seq))
            .await
            .is_ok_and(|r| r.is_ok());
        resp.headers_mut().insert(
            VISIBLE_HEADER,
            HeaderValue::from_static(if visible { "true" } else { "false" }),
        );
    }
    Ok(resp)
}
