//! The OpenSearch V3 search API (spec §4): `GET /v3/openapi/apps/{app}/search`, ranked pages
//! and scroll pages, answered in the json, fulljson or xml shape of spec §4.3.

use super::render;
use super::scroll::{self, ScrollState};
use crate::auth::verify_v3;
use crate::{Failure, ServerState};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use pier_engine::{App, Table};
use pier_index::search::{Page, SearchError, SearchOutput, Summary};
use pier_model::Code;
use pier_query::{Format, MAX_HIT, SearchRequest, codes, parse_search};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// Code for a multi-app path (`/apps/a,b/search`), which pier does not serve (spec §3: 6006).
const TOO_MANY_APPS: u32 = 6006;

/// `GET /v3/openapi/apps/{app}/search`
pub async fn search(
    State(state): State<Arc<ServerState>>,
    Path(app): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let request_id = state.engine.new_request_id();
    let started = Instant::now();
    let result = search_inner(&state, &app, &method, &uri, &headers).await;
    let outcome = match &result {
        Ok(_) => "ok".to_string(),
        Err(f) => f.code.to_string(),
    };
    metrics::counter!("pier_search_requests_total", "api" => "v3", "outcome" => outcome)
        .increment(1);
    metrics::histogram!("pier_search_seconds", "api" => "v3")
        .record(started.elapsed().as_secs_f64());
    match result {
        Ok(answer) => render::answer(&app, &request_id, started, answer),
        Err(f) => f.with_request_id(&request_id).into_response(),
    }
}

/// What a search produced, before rendering.
pub struct Answer {
    /// The executor's output.
    pub output: SearchOutput,
    /// Response shape.
    pub format: Format,
    /// Fields to return (all when empty).
    pub fetch_fields: Vec<String>,
    /// The scroll id for the next page (scroll requests only).
    pub scroll_id: Option<String>,
}

fn query_error(code: u32, message: impl Into<String>) -> Failure {
    Failure::new(Code(code), message)
}

impl From<SearchError> for Failure {
    fn from(e: SearchError) -> Failure {
        query_error(e.code, e.message)
    }
}

/// The app's primary table, whose documents a search returns.
pub(super) fn primary_table(app: &App) -> Result<Arc<Table>, Failure> {
    app.tables
        .values()
        .find(|t| t.schema.primary_table)
        .cloned()
        .ok_or_else(|| Failure::new(Code::INTERNAL, "the app has no primary table"))
}

async fn search_inner(
    state: &Arc<ServerState>,
    app_name: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Answer, Failure> {
    verify_v3(state, method, uri, headers, b"")?;
    if app_name.contains(',') {
        return Err(query_error(
            TOO_MANY_APPS,
            format!(
                "'{app_name}' names several apps; pier searches one app per request: send one request per app"
            ),
        ));
    }
    let params: HashMap<String, String> = uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let app = state.engine.app(app_name).ok_or_else(|| {
        Failure::new(
            Code::APP_NOT_FOUND,
            format!("app '{app_name}' does not exist: create it first (pier app create)"),
        )
    })?;
    let table = primary_table(&app)?;
    let fetch_fields = fetch_fields(&app, params.get("fetch_fields"))?;

    if let Some(id) = params.get("scroll_id").filter(|s| !s.is_empty()) {
        let validity = scroll::validity(params.get("scroll"))?;
        let state = state.clone();
        let id = id.clone();
        return run_blocking(move || state.scrolls.next_page(&id, validity)).await;
    }

    let query = params.get("query").map(String::as_str).unwrap_or("");
    let mut request =
        parse_search(query, Some(&app.schema)).map_err(|e| query_error(e.code, e.message))?;
    if !query.contains("format:")
        && let Some(f) = params.get("format")
    {
        request.config.format = match f.as_str() {
            "fulljson" => Format::FullJson,
            "xml" => Format::Xml,
            _ => Format::Json,
        };
    }
    let request = Arc::new(request);

    if params.get("search_type").is_some_and(|t| t == "scan") {
        let validity = scroll::validity(params.get("scroll"))?;
        check_scrollable(&request)?;
        let searcher = table.index.searcher();
        let state = state.clone();
        return run_blocking(move || {
            let output = table.index.search(
                &searcher,
                &request,
                Page::Scroll {
                    after: None,
                    hit: 0,
                },
                &[],
            )?;
            let id = state.scrolls.start(ScrollState::new(
                table.clone(),
                searcher,
                request.clone(),
                fetch_fields.clone(),
                validity,
            ));
            Ok(Answer {
                output,
                format: request.config.format,
                fetch_fields,
                scroll_id: Some(id),
            })
        })
        .await;
    }

    let summaries = summaries(params.get("summary"));
    run_blocking(move || {
        let searcher = table.index.searcher();
        let page = Page::Ranked {
            start: request.config.start as usize,
            hit: request.config.hit as usize,
        };
        let output = table.index.search(&searcher, &request, page, &summaries)?;
        Ok(Answer {
            output,
            format: request.config.format,
            fetch_fields,
            scroll_id: None,
        })
    })
    .await
}

/// Searches run on the blocking pool: they read index files and can take milliseconds.
async fn run_blocking(
    f: impl FnOnce() -> Result<Answer, Failure> + Send + 'static,
) -> Result<Answer, Failure> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Failure::new(Code::INTERNAL, format!("search task failed: {e}")))?
}

/// Scroll pages cannot aggregate or de-duplicate (spec §4.4).
fn check_scrollable(request: &SearchRequest) -> Result<(), Failure> {
    if !request.aggregates.is_empty() || !request.distinct.is_empty() {
        return Err(query_error(
            codes::SYNTAX,
            "scroll searches do not support aggregate or distinct clauses: remove them, or page with start/hit",
        ));
    }
    if request.config.hit > MAX_HIT {
        return Err(query_error(
            codes::HIT_TOO_LARGE,
            format!("a scroll page holds at most {MAX_HIT} documents: lower hit"),
        ));
    }
    if request.config.format == Format::Xml {
        return Err(query_error(
            codes::SYNTAX,
            "scroll searches answer in json or fulljson only: set config=format:json",
        ));
    }
    Ok(())
}

/// The `fetch_fields` parameter (`;`-separated; `,` accepted too). Fields of secondary tables
/// are refused: pier does not join secondary tables into search results yet.
fn fetch_fields(app: &App, param: Option<&String>) -> Result<Vec<String>, Failure> {
    let Some(param) = param else {
        return Ok(Vec::new());
    };
    let primary = app.schema.primary_table();
    let mut fields = Vec::new();
    for name in param
        .split([';', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let bare = name.rsplit_once('.').map_or(name, |(_, f)| f);
        if primary.field(bare).is_none() {
            let owner = app.schema.tables.iter().find(|t| t.field(bare).is_some());
            return Err(query_error(
                codes::SYNTAX,
                match owner {
                    Some(t) => format!(
                        "fetch_fields: '{name}' belongs to secondary table '{}'; pier does not join secondary tables into search results yet, so only fields of primary table '{}' can be fetched",
                        t.name, primary.name
                    ),
                    None => format!(
                        "fetch_fields: the app has no field '{name}'; fields of table '{}': {}",
                        primary.name,
                        primary
                            .fields
                            .iter()
                            .map(|f| f.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                },
            ));
        }
        fields.push(bare.to_string());
    }
    Ok(fields)
}

/// The `summary` parameter: `summary_field:title,summary_len:50,summary_element:em,...;<next>`.
fn summaries(param: Option<&String>) -> Vec<Summary> {
    let Some(param) = param else {
        return Vec::new();
    };
    param
        .split(';')
        .filter_map(|spec| {
            let kv: HashMap<&str, &str> = spec
                .split(',')
                .filter_map(|p| p.split_once(':'))
                .map(|(k, v)| (k.trim(), v))
                .collect();
            let field = kv.get("summary_field")?.trim().to_string();
            let element = kv.get("summary_element").copied().unwrap_or("em");
            Some(Summary {
                field,
                len: kv
                    .get("summary_len")
                    .and_then(|l| l.trim().parse().ok())
                    .unwrap_or(50),
                prefix: kv
                    .get("summary_element_prefix")
                    .map_or_else(|| format!("<{element}>"), |p| p.to_string()),
                postfix: kv
                    .get("summary_element_postfix")
                    .map_or_else(|| format!("</{element}>"), |p| p.to_string()),
                ellipsis: kv
                    .get("summary_ellipsis")
                    .map_or_else(|| "...".to_string(), |e| e.to_string()),
            })
        })
        .collect()
}

/// Most suggestions one request returns (spec §4.5: `hit` 1..10).
const MAX_SUGGESTIONS: usize = 10;

/// `GET /v3/openapi/apps/{app}/suggest/{name}/search?query=<typed>&hit=10`: drop-down
/// suggestions (spec §4.5). The model `name` is one of the app's search indexes (pier's choice:
/// the cloud configures models in its console); see [`pier_index::TableIndex::suggest`].
pub async fn suggest(
    State(state): State<Arc<ServerState>>,
    Path((app, name)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let request_id = state.engine.new_request_id();
    let started = Instant::now();
    let result = suggest_inner(&state, &app, &name, &method, &uri, &headers).await;
    match result {
        Ok(suggestions) => axum::Json(serde_json::json!({
            "request_id": request_id,
            "searchtime": started.elapsed().as_secs_f64(),
            "suggestions": suggestions
                .into_iter()
                .map(|s| serde_json::json!({"suggestion": s}))
                .collect::<Vec<_>>(),
            "errors": [],
        }))
        .into_response(),
        Err(f) => f.with_request_id(&request_id).into_response(),
    }
}

async fn suggest_inner(
    state: &Arc<ServerState>,
    app_name: &str,
    name: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Vec<String>, Failure> {
    verify_v3(state, method, uri, headers, b"")?;
    let params: HashMap<String, String> = uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let app = state.engine.app(app_name).ok_or_else(|| {
        Failure::new(
            Code::APP_NOT_FOUND,
            format!("app '{app_name}' does not exist: create it first (pier app create)"),
        )
    })?;
    let hit = match params.get("hit").map(|h| h.trim()) {
        None | Some("") => MAX_SUGGESTIONS,
        Some(h) => match h.parse::<usize>() {
            Ok(n) if (1..=MAX_SUGGESTIONS).contains(&n) => n,
            _ => {
                return Err(query_error(
                    codes::HIT_TOO_LARGE,
                    format!("hit must be a number from 1 to {MAX_SUGGESTIONS}, got '{h}'"),
                ));
            }
        },
    };
    let typed = params.get("query").cloned().unwrap_or_default();
    let table = primary_table(&app)?;
    let name = name.to_string();
    tokio::task::spawn_blocking(move || {
        let searcher = table.index.searcher();
        table.index.suggest(&searcher, &name, &typed, hit)
    })
    .await
    .map_err(|e| Failure::new(Code::INTERNAL, format!("suggest task failed: {e}")))?
    .map_err(Failure::from)
}
