//! The OpenSearch Vector Search Edition (Havenask) data plane: `POST
//! /update/{instance}_{table}/actions/bulk` and `/vector-service/*` (wire reference:
//! `shared/specs/vector-search-edition-api.md`; the wire model is [`pier_vse`]), and the
//! Retrieval Engine Edition's ha3 query and SQL forms over the same tables ([`ha3`]).
//!
//! Each table is an engine app of one table named `vse/{table}` ([`convert::app_name`]), with
//! its `CreateTableRequest` JSON kept as the app's dialect schema. Basic auth checks pier's own
//! access keys: the key id is the user name, the secret the password.

mod aggregate;
pub mod convert;
pub mod ha3;
pub mod openapi;
pub(crate) mod query;
mod sort;
mod text_recall;

use crate::ServerState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use pier_engine::{AppKind, Engine, NewApp, Table};
use pier_vse::{
    Api, Code, Endpoint, Validation, VectorTableSchema, VseError, decode_body, parse_push,
    resolve_bulk_table,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long an acknowledged push body is remembered to recognise the SDK's transport retries.
/// The SDK retries a timed-out push up to twice, within its 10 s read timeout each.
const RETRY_WINDOW: Duration = Duration::from_secs(60);

/// Push bodies acknowledged in the last [`RETRY_WINDOW`], by table and SHA-256.
///
/// The SDK retries a push whose answer it did not get, with a fresh request id, so a batch can
/// arrive twice; without timestamps the second copy would be ordered after anything pushed in
/// between and bring older values back. A body identical to one acknowledged for the same table
/// within the window is therefore answered 200 again without being logged a second time. The
/// cost: pushing the very same batch twice on purpose within a minute stores it once.
#[derive(Default)]
pub struct RecentPushes {
    seen: Mutex<HashMap<(String, [u8; 32]), Instant>>,
}

impl RecentPushes {
    fn key(table: &str, body: &[u8]) -> (String, [u8; 32]) {
        (table.to_string(), Sha256::digest(body).into())
    }

    fn is_replay(&self, key: &(String, [u8; 32])) -> bool {
        self.seen
            .lock()
            .get(key)
            .is_some_and(|t| t.elapsed() < RETRY_WINDOW)
    }

    fn remember(&self, key: (String, [u8; 32])) {
        let mut seen = self.seen.lock();
        if seen.len() >= 4096 {
            seen.retain(|_, t| t.elapsed() < RETRY_WINDOW);
        }
        seen.insert(key, Instant::now());
    }
}

/// Every Vector Search Edition route.
pub async fn handle(
    State(state): State<Arc<ServerState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let Some(endpoint) = Endpoint::from_request(method.as_str(), uri.path()) else {
        return error(&VseError::resource_not_found(), Api::VectorService, started);
    };
    let api = endpoint.api();
    let label = match &endpoint {
        Endpoint::Push { .. } => "push",
        _ => "query",
    };
    let result = serve(&state, endpoint, &headers, body, started).await;
    metrics::counter!("pier_vse_requests_total", "kind" => label, "outcome" => match &result {
        Ok(_) => "ok".to_string(),
        Err(e) => e.code.0.to_string(),
    })
    .increment(1);
    if label == "query" && result.is_ok() {
        metrics::histogram!("pier_search_seconds", "api" => "vse")
            .record(started.elapsed().as_secs_f64());
    }
    match result {
        Ok(r) => r,
        Err(e) => error(&e, api, started),
    }
}

fn error(e: &VseError, api: Api, started: Instant) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = e.body(api, started.elapsed().as_secs_f64() * 1000.0);
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

fn json_response(v: serde_json::Value) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        v.to_string(),
    )
        .into_response()
}

/// Checks `Authorization: Basic base64(key id:secret)` against pier's access keys.
fn authenticate(engine: &Engine, headers: &HeaderMap) -> Result<(), VseError> {
    let (id, secret) = pier_auth::parse_basic(headers).map_err(|e| match e {
        pier_auth::AuthError::MissingAuthorization => VseError::auth_failed(
            "no credentials were sent (no Authorization header, or 'Basic None'): configure the access key id as the user name and its secret as the password",
        ),
        e => VseError::auth_failed(&e.to_string()),
    })?;
    // The SDK trims both parts; so does the comparison.
    match engine.keys().secret_for(id.trim()) {
        Some(known) if same_secret(&known, secret.trim()) => Ok(()),
        _ => Err(VseError::auth_failed("unknown user name or wrong password")),
    }
}

/// Compares secrets without an early exit (no timing hint of how much matched).
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A table's engine side and its schema.
pub(crate) struct OpenTable {
    pub table: Arc<Table>,
    pub schema: VectorTableSchema,
}

impl OpenTable {
    /// Runs an engine search on the text index's last commit; a failure is answered with `code`
    /// and the engine's message after `what` (the request part at fault).
    pub(crate) fn search(
        &self,
        request: pier_query::SearchRequest,
        page: pier_index::search::Page,
        code: pier_vse::Code,
        what: &str,
    ) -> Result<pier_index::search::SearchOutput, pier_vse::VseError> {
        let searcher = self.table.index.searcher();
        self.table
            .index
            .search(&searcher, &Arc::new(request), page, &[])
            .map_err(|e| pier_vse::VseError::new(code, format!("{what}: {}", e.message)))
    }
}

/// Looks a Vector Search Edition table up by name.
pub(crate) fn open_table(engine: &Engine, name: &str) -> Option<OpenTable> {
    let app = engine.app(&convert::app_name(name))?;
    if app.kind != AppKind::VectorSearch {
        return None;
    }
    let schema = VectorTableSchema::from_json(app.dialect_schema.as_ref()?).ok()?;
    let table = app.tables.get(&schema.name)?.clone();
    Some(OpenTable { table, schema })
}

/// Creates a table from its `CreateTableRequest` JSON (admin API and `pier table create`).
pub fn create_table(
    engine: &Engine,
    body: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    let schema = VectorTableSchema::from_json(body).map_err(|e| e.0)?;
    let (storage, vectors) = convert::engine_schema(&schema);
    let canonical = schema.to_json();
    engine
        .create(NewApp {
            name: convert::app_name(&schema.name),
            kind: AppKind::VectorSearch,
            app_type: pier_model::AppType::Advanced,
            schema: storage,
            vectors,
            dialect_schema: Some(canonical.clone()),
            quota: Default::default(),
        })
        .map_err(|e| match e {
            pier_engine::EngineError::AppExists(_) => {
                format!("table '{}' already exists", schema.name)
            }
            e => e.to_string(),
        })?;
    Ok(canonical)
}

async fn serve(
    state: &Arc<ServerState>,
    endpoint: Endpoint,
    headers: &HeaderMap,
    body: Body,
    started: Instant,
) -> Result<Response, VseError> {
    authenticate(&state.engine, headers)?;
    if endpoint == Endpoint::Active {
        return Ok(json_response(
            serde_json::from_str(pier_vse::response::ACTIVE_BODY).expect("constant JSON"),
        ));
    }
    let decoded = read_body(
        headers,
        body,
        endpoint.max_body_bytes(),
        "send smaller batches",
    )
    .await?;
    let engine = state.engine.clone();
    match endpoint {
        Endpoint::Push { segment } => {
            let pk_header = headers
                .get(pier_vse::push::HEADER_PK_FIELD)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let validation = Validation::from_header(
                headers
                    .get(pier_vse::push::HEADER_VALIDATE_DATA)
                    .and_then(|v| v.to_str().ok()),
            );
            let state = state.clone();
            blocking(move || {
                push(
                    &engine,
                    &state.vse_recent,
                    &segment,
                    &decoded,
                    pk_header.as_deref(),
                    validation,
                )
            })
            .await
        }
        other => {
            let value = blocking(move || query::run(&engine, &other, &decoded, started)).await?;
            Ok(json_response(value))
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, VseError> + Send + 'static,
) -> Result<T, VseError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| VseError::internal(&e.to_string()))?
}

fn push(
    engine: &Engine,
    recent: &RecentPushes,
    segment: &str,
    body: &[u8],
    pk_header: Option<&str>,
    validation: Validation,
) -> Result<Response, VseError> {
    let name = resolve_bulk_table(segment, |t| open_table(engine, t).is_some())
        .ok_or_else(VseError::resource_not_found)?;
    let t = open_table(engine, &name).ok_or_else(VseError::resource_not_found)?;
    let ops = parse_push(body, &t.schema, pk_header, validation)?;
    let key = RecentPushes::key(&t.schema.name, body);
    if recent.is_replay(&key) {
        metrics::counter!("pier_vse_replayed_pushes_total").increment(1);
        return Ok((StatusCode::OK, pier_vse::push::PUSH_SUCCESS_BODY).into_response());
    }
    let batch = convert::engine_body(&ops);
    let request_id = engine.new_request_id();
    engine
        .push_checked(
            &convert::app_name(&name),
            &t.schema.name,
            &batch,
            request_id,
        )
        .map_err(|r| {
            let code = if r.retry_after_secs.is_some() && r.code != pier_model::Code::INTERNAL {
                Code::TOO_FREQUENT
            } else if r.code == pier_model::Code::INTERNAL {
                Code::INTERNAL
            } else {
                Code::BAD_DOC_FORMAT
            };
            VseError::new(code, r.message)
        })?;
    recent.remember(key);
    Ok((StatusCode::OK, pier_vse::push::PUSH_SUCCESS_BODY).into_response())
}

/// Reads a request body of at most `max` bytes and inflates it as its Content-Encoding says
/// (compressed bodies inflate up to `max`; the wire form is never larger than that). `fix` tells
/// the client what to do when the body is too large.
pub(super) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    max: usize,
    fix: &str,
) -> Result<Vec<u8>, VseError> {
    let raw = axum::body::to_bytes(body, max).await.map_err(|_| {
        VseError::new(
            Code::BODY_TOO_LARGE,
            format!("the request body is over {max} bytes: {fix}"),
        )
    })?;
    let text_header = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    Ok(decode_body(
        text_header(header::CONTENT_ENCODING),
        text_header(header::CONTENT_TYPE),
        &raw,
        max,
    )?
    .into_owned())
}
