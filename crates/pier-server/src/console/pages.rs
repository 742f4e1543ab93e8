//! The console's pages. Each handler takes a [`Viewer`], so without a session it never runs and
//! the browser is sent to the login page instead.

use super::dialect_search;
use super::sampler::{self, Sample, push_rates};
use super::session::Viewer;
use super::view::{self, Crumb, HIGHLIGHT_END, HIGHLIGHT_START, count, display, when};
use crate::ServerState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use pier_engine::jobs::{JobStatus, UploadJob};
use pier_engine::{App, AppKind, ErrorFilter, RequestOutcome, RequestStatus, TableInfo};
use pier_index::search::{Page, SearchOutput, Summary};
use pier_model::TableSchema;
use serde::Deserialize;
use std::sync::Arc;

type St = State<Arc<ServerState>>;

/// Errors per page unless the viewer picks another size.
const DEFAULT_ERRORS_PAGE: usize = 50;
/// The page sizes offered for errors; the largest is also the cap.
const ERROR_PAGE_SIZES: [usize; 4] = [20, 50, 100, 200];
/// Characters of each highlighted summary on the search page.
const SUMMARY_CHARS: usize = 200;
/// Seconds between refreshes of the overview's live part (the script reads it from the page).
const REFRESH_SECS: u64 = sampler::INTERVAL.as_secs();

fn app_href(app: &str) -> String {
    format!("/apps/{}", enc(app))
}

/// A path segment, percent-encoded (names are validated, request ids are digits, but the console
/// must not rely on that to build well-formed links).
fn enc(segment: &str) -> String {
    form_urlencoded::byte_serialize(segment.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// A page saying something is not there (after login only: it names what was asked for).
fn not_found(viewer: &Viewer, what: String) -> Response {
    let body = html! { p { (what) } p { a href="/" { "Back to the overview" } } };
    (
        StatusCode::NOT_FOUND,
        view::page(
            "Not found",
            &viewer.key_id,
            &[("Overview", Some("/".into()))],
            body,
        ),
    )
        .into_response()
}

fn no_app(viewer: &Viewer, name: &str) -> Response {
    not_found(viewer, format!("There is no app named “{name}”."))
}

/// A table's samples, ending with its live counters, so that each chart ends at the value shown
/// beside it.
fn history(state: &ServerState, app: &App, table: &str, now_ms: u64) -> Vec<Sample> {
    let mut samples = state.console.sampler.history(app.id, table);
    if let Some(t) = app.tables.get(table) {
        samples.push(Sample::of(t, now_ms));
    }
    samples
}

/// The overview's table of an app's tables: counts, lag, push rate, and their last hour.
fn tables_table(state: &ServerState, app: &App, tables: &[TableInfo]) -> Markup {
    let now = pier_engine::now_ms();
    html! {
        table.data {
            caption { "Tables of " (app.name) }
            thead {
                tr {
                    th scope="col" { "Table" }
                    th scope="col" { "Documents" }
                    th scope="col" { "Documents, last hour" }
                    th scope="col" { "Pushes/s" }
                    th scope="col" { "Pushes/s, last hour" }
                    th scope="col" { "Processing lag" }
                    th scope="col" { "Lag, last hour" }
                }
            }
            tbody {
                @for t in tables {
                    @let samples = history(state, app, &t.name, now);
                    @let rates = push_rates(&samples);
                    tr {
                        th scope="row" {
                            a href={ (app_href(&app.name)) "/tables/" (enc(&t.name)) } { (t.name) }
                            @if t.primary { " " span.tag { "primary" } }
                            @if let Some(f) = &t.failure { p.error { "Applier failing: " (f) } }
                        }
                        td.num { (count(t.documents)) }
                        td { (view::sparkline("Documents", &samples.iter().map(|s| s.documents as f64).collect::<Vec<_>>())) }
                        td.num { (view::number(rates.last().copied().unwrap_or(0.0))) }
                        td { (view::sparkline("Pushes per second", &rates)) }
                        td.num {
                            (view::number(t.lag_seconds)) " s"
                            @if t.lag_batches > 0 { " (" (count(t.lag_batches)) " batches)" }
                        }
                        td { (view::sparkline("Processing lag in seconds", &samples.iter().map(|s| s.lag_seconds).collect::<Vec<_>>())) }
                    }
                }
            }
        }
    }
}

fn app_links(app: &str) -> Markup {
    let base = app_href(app);
    html! {
        ul.links {
            li { a href={ (base) "/errors" } { "Processing errors" } }
            li { a href={ (base) "/search" } { "Search" } }
        }
    }
}

/// The MySQL / MariaDB sync sources: state, progress and lag, and the last error with its fix.
fn syncs_table(syncs: &[pier_engine::sync::SyncStatus]) -> Markup {
    html! {
        section aria-labelledby="syncs-heading" {
            h2 #syncs-heading { "Sync sources" }
            table {
                caption { "Tables kept in sync from a MySQL / MariaDB binlog" }
                thead {
                    tr {
                        th scope="col" { "Source" }
                        th scope="col" { "Into" }
                        th scope="col" { "State" }
                        th scope="col" { "Snapshot rows" }
                        th scope="col" { "Transactions" }
                        th scope="col" { "Upserts / deletes" }
                        th scope="col" { "Lag" }
                        th scope="col" { "Last error" }
                    }
                }
                tbody {
                    @for s in syncs {
                        tr {
                            th scope="row" { (s.name) }
                            td { a href=(app_href(&s.app)) { (s.app) } " / " (s.table) }
                            td { (s.state) }
                            td.num { (count(s.snapshot_rows)) }
                            td.num { (count(s.transactions)) }
                            td.num { (count(s.upserts)) " / " (count(s.deletes)) }
                            td.num { (s.lag_seconds) " s, " (count(s.lag_bytes)) " bytes" }
                            td { (s.last_error.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    }
}

/// Seconds between refreshes of the overview while an upload job runs.
const JOB_REFRESH_SECS: u64 = 2;
/// Upload jobs on the overview, newest first.
const SHOWN_JOBS: usize = 20;

fn jobs_table(jobs: &[UploadJob]) -> Markup {
    html! {
        section aria-labelledby="jobs-heading" {
            h2 #jobs-heading { "Upload jobs" }
            table #jobs {
                caption { "The latest " (jobs.len()) " upload jobs (UpsertCollectionDataAsync, pier upload), newest first" }
                thead {
                    tr {
                        th scope="col" { "Job" }
                        th scope="col" { "Into" }
                        th scope="col" { "Status" }
                        th scope="col" { "Rows applied" }
                        th scope="col" { "Rate, ETA" }
                        th scope="col" { "Started" }
                        th scope="col" { "Error" }
                        th scope="col" { "Actions" }
                    }
                }
                tbody {
                    @for j in jobs {
                        @let total = j.rows_total.unwrap_or(0);
                        tr {
                            th scope="row" { code { (j.id) } }
                            td { a href=(app_href(&j.app)) { (j.app) } }
                            td.status { (j.status.as_str()) }
                            td.num {
                                (count(j.rows_done))
                                @if total > 0 {
                                    " of " (count(total)) " "
                                    progress max=(total) value=(j.rows_done) aria-label=(format!("job {} progress", j.id)) {}
                                }
                            }
                            td.num { (job_rate(j)) }
                            td { (when(j.created_ms)) }
                            td { (j.error.as_deref().unwrap_or("")) }
                            td {
                                @if !j.status.is_finished() && j.status != JobStatus::Cancelling {
                                    form method="post" action=(format!("/jobs/{}/cancel", j.id)) {
                                        button type="submit" aria-label=(format!("Cancel job {}", j.id)) { "Cancel" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A job's rows per second so far and, while it runs, the time left at that rate.
fn job_rate(j: &UploadJob) -> String {
    let secs = j.updated_ms.saturating_sub(j.created_ms) as f64 / 1000.0;
    if j.rows_done == 0 || secs <= 0.0 {
        return String::new();
    }
    let rate = j.rows_done as f64 / secs;
    let mut out = format!("{} rows/s", count(rate as u64));
    if let Some(total) = j.rows_total.filter(|_| !j.status.is_finished()) {
        let left = total.saturating_sub(j.rows_done) as f64 / rate;
        out.push_str(&format!(", {left:.0} s left"));
    }
    out
}

/// `POST /jobs/{id}/cancel`: the cancel button; back to the overview.
pub(super) async fn cancel_job(
    State(state): St,
    _viewer: Viewer,
    Path(id): Path<String>,
) -> Response {
    let engine = state.engine.clone();
    let result = tokio::task::spawn_blocking(move || engine.upload_jobs().cancel(&id)).await;
    match result {
        Ok(Ok(_)) => axum::response::Redirect::to("/#jobs-heading").into_response(),
        _ => (StatusCode::NOT_FOUND, "no such upload job").into_response(),
    }
}

/// The search page of a Vector Search Edition table or an AnalyticDB collection.
async fn dialect_search_page(
    state: &Arc<ServerState>,
    viewer: &Viewer,
    app: Arc<App>,
    query: String,
) -> Response {
    let (label, example, hint) = dialect_search::language(&app);
    let started = std::time::Instant::now();
    let result = if query.trim().is_empty() {
        None
    } else {
        let (engine, app, query) = (state.engine.clone(), app.clone(), query.clone());
        Some(
            tokio::task::spawn_blocking(move || dialect_search::run(&engine, &app, &query))
                .await
                .unwrap_or_else(|e| Err(format!("search task failed: {e}"))),
        )
    };
    let took_ms = started.elapsed().as_secs_f64() * 1000.0;
    let columns: Vec<String> = match &result {
        Some(Ok(matches)) => {
            let mut names: Vec<String> = Vec::new();
            for m in matches {
                for k in m.fields.keys() {
                    if !names.contains(k) {
                        names.push(k.clone());
                    }
                }
            }
            names
        }
        _ => Vec::new(),
    };
    let body = html! {
        form.search method="get" role="search" aria-label={ "Search " (app.name) } {
            p {
                label for="q" { (label) }
                input #q name="q" type="search" value=(query) placeholder=(example)
                    aria-describedby="q-help" spellcheck="false" autocomplete="off";
                button type="submit" { "Search" }
            }
            p.hint #q-help { (hint) " For example: " code { (example) } }
        }
        @match &result {
            None => {}
            Some(Err(message)) => {
                div.error role="alert" #search-error {
                    h2 { "The search failed" }
                    p { (message) }
                }
            }
            Some(Ok(matches)) => {
                p #search-summary aria-live="polite" {
                    (matches.len()) " matches (" (view::number((took_ms * 10.0).round() / 10.0)) " ms)."
                }
                @if !matches.is_empty() {
                    table.data #results {
                        caption { "Matches, best first" }
                        thead {
                            tr {
                                th scope="col" { "#" }
                                th scope="col" { "id" }
                                th scope="col" { "score" }
                                @for c in &columns { th scope="col" { (c) } }
                            }
                        }
                        tbody {
                            @for (i, m) in matches.iter().enumerate() {
                                tr {
                                    td.num { (i + 1) }
                                    td { code { (m.id) } }
                                    td.num { (view::number(m.score)) }
                                    @for c in &columns {
                                        td { (m.fields.get(c).map(display).unwrap_or_default()) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let crumbs: [Crumb; 3] = [
        ("Overview", Some("/".into())),
        (app.name.as_str(), Some(app_href(&app.name))),
        ("Search", None),
    ];
    view::page(
        &format!("Search {}", app.name),
        &viewer.key_id,
        &crumbs,
        body,
    )
    .into_response()
}

/// `GET /`: every app with its tables, sync sources and upload jobs.
pub(super) async fn overview(State(state): St, viewer: Viewer) -> Response {
    let engine = state.engine.clone();
    let (apps, syncs, jobs) = tokio::task::spawn_blocking(move || {
        let mut jobs = engine.upload_jobs().list().unwrap_or_default();
        jobs.reverse();
        jobs.truncate(SHOWN_JOBS);
        (
            engine.list_apps(),
            engine.list_syncs().unwrap_or_default(),
            jobs,
        )
    })
    .await
    .unwrap_or_default();
    // Follow running upload jobs closely; otherwise refresh with the sampler.
    let refresh = if jobs.iter().any(|j| !j.status.is_finished()) {
        JOB_REFRESH_SECS
    } else {
        REFRESH_SECS
    };
    let body = html! {
        div data-refresh=(refresh) {
            @if !syncs.is_empty() {
                (syncs_table(&syncs))
            }
            @if !jobs.is_empty() {
                (jobs_table(&jobs))
            }
            section aria-labelledby="apps-heading" {
                h2 #apps-heading { "Apps" }
                @if apps.is_empty() {
                    p { "No apps yet. Create one with " code { "pier app create" } "." }
                }
                @for info in &apps {
                    @if let Some(app) = state.engine.app(&info.name) {
                        article.app {
                            h3 { a href=(app_href(&app.name)) { (app.name) } " " span.tag { (format!("{:?}", app.app_type).to_lowercase()) } }
                            (app_links(&app.name))
                            (tables_table(&state, &app, &info.tables))
                        }
                    }
                }
            }
        }
        p.hint { "Charts cover the last hour, sampled every " (REFRESH_SECS) " s since pier started; this part of the page refreshes itself." }
    };
    view::page("Overview", &viewer.key_id, &[], body).into_response()
}

/// `GET /apps/{app}`: one app's tables and links to its pages.
pub(super) async fn app(State(state): St, viewer: Viewer, Path(name): Path<String>) -> Response {
    let Some(app) = state.engine.app(&name) else {
        return no_app(&viewer, &name);
    };
    let info = app.info();
    let body = html! {
        p { "A " (format!("{:?}", app.app_type).to_lowercase()) " app created " (when(app.created_at_ms)) "." }
        (app_links(&app.name))
        (tables_table(&state, &app, &info.tables))
    };
    let crumbs: [Crumb; 2] = [("Overview", Some("/".into())), (app.name.as_str(), None)];
    view::page(&format!("App {}", app.name), &viewer.key_id, &crumbs, body).into_response()
}

/// The errors page's query: strings, so that a blank or mistyped field means "no filter" rather
/// than a bare 400.
#[derive(Deserialize, Default)]
pub(super) struct ErrorsQuery {
    code: Option<String>,
    pk: Option<String>,
    table: Option<String>,
    offset: Option<String>,
    limit: Option<String>,
}

fn blank_to_none(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// `GET /apps/{app}/errors?code&pk&table&offset&limit`: processing errors, newest first.
pub(super) async fn errors(
    State(state): St,
    viewer: Viewer,
    Path(name): Path<String>,
    Query(q): Query<ErrorsQuery>,
) -> Response {
    let Some(app) = state.engine.app(&name) else {
        return no_app(&viewer, &name);
    };
    let code_text = blank_to_none(&q.code);
    let code = code_text.as_deref().and_then(|c| c.parse::<u32>().ok());
    let filter = ErrorFilter {
        code,
        pk: blank_to_none(&q.pk),
        table: blank_to_none(&q.table).filter(|t| app.tables.contains_key(t)),
    };
    let limit = blank_to_none(&q.limit)
        .and_then(|l| l.parse().ok())
        .filter(|l| ERROR_PAGE_SIZES.contains(l))
        .unwrap_or(DEFAULT_ERRORS_PAGE);
    let offset: usize = blank_to_none(&q.offset)
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    let engine = state.engine.clone();
    let (app_name, f) = (app.name.clone(), filter.clone());
    let listed =
        tokio::task::spawn_blocking(move || engine.errors(&app_name, &f, offset, limit)).await;
    let (rows, total) = match listed {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => return not_found(&viewer, e.to_string()),
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    // Links to other pages keep the filter.
    let page_href = |offset: usize| {
        let mut qs = form_urlencoded::Serializer::new(String::new());
        if let Some(c) = filter.code {
            qs.append_pair("code", &c.to_string());
        }
        if let Some(p) = &filter.pk {
            qs.append_pair("pk", p);
        }
        if let Some(t) = &filter.table {
            qs.append_pair("table", t);
        }
        qs.append_pair("offset", &offset.to_string());
        qs.append_pair("limit", &limit.to_string());
        format!("{}/errors?{}", app_href(&app.name), qs.finish())
    };
    let shown_to = offset + rows.len();
    let body = html! {
        form.filters method="get" role="search" aria-label="Filter errors" {
            p {
                label for="code" { "Error code" }
                input #code name="code" type="number" inputmode="numeric" min="0" value=[code_text.as_deref()];
            }
            p {
                label for="pk" { "Primary key" }
                input #pk name="pk" type="search" value=[filter.pk.as_deref()];
            }
            p {
                label for="table" { "Table" }
                select #table name="table" {
                    option value="" { "All tables" }
                    @for t in app.tables.keys() {
                        option value=(t) selected[filter.table.as_deref() == Some(t.as_str())] { (t) }
                    }
                }
            }
            p {
                label for="limit" { "Per page" }
                select #limit name="limit" {
                    @for n in ERROR_PAGE_SIZES {
                        option value=(n) selected[n == limit] { (n) }
                    }
                }
            }
            p { button type="submit" { "Show errors" } }
        }
        @if code_text.is_some() && code.is_none() {
            p.error role="alert" { "The error code must be a number such as 7302; showing every code." }
        }
        p #error-count aria-live="polite" {
            @if total == 0 {
                "No processing errors match."
            } @else if rows.is_empty() {
                (count(total as u64)) " errors match; this page is past the last one. "
                a href=(page_href(0)) { "First page" }
            } @else {
                "Errors " (count(offset as u64 + 1)) "–" (count(shown_to as u64))
                " of " (count(total as u64)) ", newest first."
            }
        }
        @if !rows.is_empty() {
            table.data #errors {
                caption { "Processing errors of " (app.name) }
                thead {
                    tr {
                        th scope="col" { "Received" }
                        th scope="col" { "Table" }
                        th scope="col" { "Primary key" }
                        th scope="col" { "Code" }
                        th scope="col" { "Message" }
                        th scope="col" { "Request" }
                    }
                }
                tbody {
                    @for e in &rows {
                        tr {
                            td.time { (when(e.time_ms)) }
                            td { (e.table) }
                            td { code { (e.pk) } }
                            td.num { (e.code) }
                            td { (e.message) }
                            td { a href={ "/requests/" (enc(&e.request_id)) } { (e.request_id) } " #" (e.index) }
                        }
                    }
                }
            }
        }
        nav.pager aria-label="Pages of errors" {
            @if offset > 0 {
                a rel="prev" href=(page_href(offset.saturating_sub(limit))) { "← Newer" }
            }
            @if shown_to < total {
                a rel="next" href=(page_href(shown_to)) { "Older →" }
            }
        }
    };
    let crumbs: [Crumb; 3] = [
        ("Overview", Some("/".into())),
        (app.name.as_str(), Some(app_href(&app.name))),
        ("Errors", None),
    ];
    view::page(
        &format!("Processing errors of {}", app.name),
        &viewer.key_id,
        &crumbs,
        body,
    )
    .into_response()
}

/// `GET /requests/{id}`: where a push is in processing, and what happened to its documents.
pub(super) async fn request(State(state): St, viewer: Viewer, Path(id): Path<String>) -> Response {
    let status = match state.engine.request_status(&id) {
        Ok(Some(s)) => s,
        Ok(None) => {
            return not_found(
                &viewer,
                format!(
                    "Request “{id}” is unknown: it was never received, its record has expired, or its app was deleted."
                ),
            );
        }
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let (app, table, state_text, outcome): (&str, &str, &str, Option<&RequestOutcome>) =
        match &status {
            RequestStatus::Received { app, table } => (
                app.as_str(),
                table.as_str(),
                "received: stored durably, waiting to be applied",
                None,
            ),
            RequestStatus::Applied(o) => (
                o.app.as_str(),
                o.table.as_str(),
                "applied: searchable after the next index commit",
                Some(o),
            ),
            RequestStatus::Processed(o) => (
                o.app.as_str(),
                o.table.as_str(),
                "processed: applied and visible to searches",
                Some(o),
            ),
        };
    let body = html! {
        dl.facts {
            dt { "Status" } dd #request-status { (state_text) }
            dt { "App" } dd { a href=(app_href(app)) { (app) } }
            dt { "Table" } dd { a href={ (app_href(app)) "/tables/" (enc(table)) } { (table) } }
            @if let Some(o) = outcome {
                dt { "Received" } dd { (when(o.received_ms)) }
                dt { "Documents" } dd { (count(u64::from(o.documents))) }
                dt { "Applied without error" } dd { (count(u64::from(o.documents) - o.failed.len() as u64)) }
                dt { "Failed" } dd { (count(o.failed.len() as u64)) }
            }
        }
        @if let Some(o) = outcome {
            h2 { "Documents" }
            @if o.failed.is_empty() {
                p { "Every document of this request was applied." }
            } @else {
                table.data #outcomes {
                    caption { "Documents that failed (the others were applied)" }
                    thead {
                        tr {
                            th scope="col" { "Position in the push" }
                            th scope="col" { "Primary key" }
                            th scope="col" { "Outcome" }
                            th scope="col" { "Code" }
                            th scope="col" { "Message" }
                        }
                    }
                    tbody {
                        @for f in &o.failed {
                            tr {
                                td.num { (f.index) }
                                td { code { (f.pk) } }
                                td { "failed" }
                                td.num { (f.code) }
                                td { (f.message) }
                            }
                        }
                    }
                }
            }
        }
    };
    let crumbs: [Crumb; 3] = [
        ("Overview", Some("/".into())),
        (app, Some(app_href(app))),
        ("Request", None),
    ];
    view::page(&format!("Request {id}"), &viewer.key_id, &crumbs, body).into_response()
}

/// Whether `field` of `table` is named by an index's field list (`field` for the primary
/// table, `table.field` for any).
fn names_field(list: &[String], table: &TableSchema, field: &str) -> bool {
    list.iter().any(|f| match f.split_once('.') {
        Some((t, f)) => t == table.name && f.eq_ignore_ascii_case(field),
        None => table.primary_table && f.eq_ignore_ascii_case(field),
    })
}

/// `GET /apps/{app}/tables/{table}`: the table's fields and the app's indexes.
pub(super) async fn schema(
    State(state): St,
    viewer: Viewer,
    Path((name, table)): Path<(String, String)>,
) -> Response {
    let Some(app) = state.engine.app(&name) else {
        return no_app(&viewer, &name);
    };
    let Some(t) = app.tables.get(&table) else {
        return not_found(
            &viewer,
            format!("App “{name}” has no table named “{table}”."),
        );
    };
    let schema = &t.schema;
    let indexes = &app.schema.indexes;
    let body = html! {
        p {
            (if schema.primary_table { "The primary table" } else { "A secondary table" })
            " of app " a href=(app_href(&app.name)) { (app.name) } ", with "
            (count(t.index.num_docs())) " documents."
        }
        table.data #fields {
            caption { "Fields of " (schema.name) }
            thead {
                tr {
                    th scope="col" { "Field" }
                    th scope="col" { "Type" }
                    th scope="col" { "Primary key" }
                    th scope="col" { "Search indexes" }
                    th scope="col" { "Filter field" }
                    th scope="col" { "Joins with" }
                }
            }
            tbody {
                @for f in &schema.fields {
                    @let searched: Vec<&str> = indexes.search_fields.iter()
                        .filter(|i| names_field(&i.fields, schema, &f.name))
                        .map(|i| i.name.as_str()).collect();
                    tr {
                        th scope="row" { code { (f.name) } }
                        td { (serde_json::to_value(f.field_type).ok().as_ref().map(display).unwrap_or_default()) }
                        td { @if f.primary_key { "yes" } }
                        td { (searched.join(", ")) }
                        td { @if names_field(&indexes.filter_fields, schema, &f.name) { "yes" } }
                        td { @if let Some(j) = &f.join_with { code { (j) } } }
                    }
                }
            }
        }
        h2 { "Search indexes of the app" }
        @if indexes.search_fields.is_empty() {
            p { "None." }
        } @else {
            table.data {
                caption { "Search indexes (used as " code { "query=index:'words'" } ")" }
                thead { tr { th scope="col" { "Index" } th scope="col" { "Fields" } th scope="col" { "Analyzer" } } }
                tbody {
                    @for i in &indexes.search_fields {
                        tr {
                            th scope="row" { code { (i.name) } }
                            td { (i.fields.join(", ")) }
                            td { (i.analyzer.name()) }
                        }
                    }
                }
            }
        }
    };
    let crumbs: [Crumb; 3] = [
        ("Overview", Some("/".into())),
        (app.name.as_str(), Some(app_href(&app.name))),
        (schema.name.as_str(), None),
    ];
    view::page(
        &format!("Schema of {}/{}", app.name, schema.name),
        &viewer.key_id,
        &crumbs,
        body,
    )
    .into_response()
}

#[derive(Deserialize)]
pub(super) struct SearchQuery {
    q: Option<String>,
}

/// A search the console ran: the output, or the V3 error code and message.
type SearchResult = Result<SearchOutput, (u32, String)>;

/// Runs a V3 query string on the app's primary table, with highlighted summaries of every text
/// field (marked for [`view::highlighted`]).
fn run_search(app: &App, query: &str) -> SearchResult {
    let request =
        pier_query::parse_search(query, Some(&app.schema)).map_err(|e| (e.code, e.message))?;
    let table = app
        .tables
        .values()
        .find(|t| t.schema.primary_table)
        .ok_or((1000, "the app has no primary table".to_string()))?;
    let summaries: Vec<Summary> = table
        .schema
        .fields
        .iter()
        .filter(|f| f.field_type.is_text())
        .map(|f| Summary {
            field: f.name.clone(),
            len: SUMMARY_CHARS,
            prefix: HIGHLIGHT_START.into(),
            postfix: HIGHLIGHT_END.into(),
            ellipsis: "…".into(),
        })
        .collect();
    let page = Page::Ranked {
        start: request.config.start as usize,
        hit: request.config.hit as usize,
    };
    let searcher = table.index.searcher();
    table
        .index
        .search(&searcher, &Arc::new(request), page, &summaries)
        .map_err(|e| (e.code, e.message))
}

/// `GET /apps/{app}/search?q=`: a V3 query string, run as the search API runs it.
pub(super) async fn search(
    State(state): St,
    viewer: Viewer,
    Path(name): Path<String>,
    Query(q): Query<SearchQuery>,
) -> Response {
    let Some(app) = state.engine.app(&name) else {
        return no_app(&viewer, &name);
    };
    let query = q.q.unwrap_or_default();
    if app.kind != AppKind::OpenSearch {
        return dialect_search_page(&state, &viewer, app, query).await;
    }
    let started = std::time::Instant::now();
    let result: Option<SearchResult> = if query.trim().is_empty() {
        None
    } else {
        let (app, query) = (app.clone(), query.clone());
        Some(
            tokio::task::spawn_blocking(move || run_search(&app, &query))
                .await
                .unwrap_or_else(|e| Err((1000, format!("search task failed: {e}")))),
        )
    };
    let took_ms = started.elapsed().as_secs_f64() * 1000.0;
    let primary = app.schema.primary_table();
    let example = match app.schema.indexes.search_fields.first() {
        Some(i) => format!("query={}:'words'&&config=start:0,hit:10", i.name),
        None => "config=start:0,hit:10".to_string(),
    };
    let body = html! {
        form.search method="get" role="search" aria-label={ "Search " (app.name) } {
            p {
                label for="q" { "V3 query clauses" }
                input #q name="q" type="search" value=(query) placeholder=(example)
                    aria-describedby="q-help" spellcheck="false" autocomplete="off";
                button type="submit" { "Search" }
            }
            p.hint #q-help {
                "Clauses joined by " code { "&&" } ", as in the search API's " code { "query" }
                " parameter: " code { (example) } ". Add " code { "filter=" } ", " code { "sort=" }
                ", " code { "aggregate=" } " clauses as needed."
            }
        }
        @match &result {
            None => {}
            Some(Err((code, message))) => {
                div.error role="alert" #search-error {
                    h2 { "The search failed" }
                    p { "Error " (code) ": " (message) }
                }
            }
            Some(Ok(out)) => {
                p #search-summary aria-live="polite" {
                    (count(out.total)) " documents match; showing " (out.hits.len())
                    " (" (view::number((took_ms * 10.0).round() / 10.0)) " ms)."
                }
                @if !out.hits.is_empty() {
                    table.data #results {
                        caption { "Results, highlighted where the query matched" }
                        thead {
                            tr {
                                th scope="col" { "#" }
                                @for f in &primary.fields { th scope="col" { (f.name) } }
                            }
                        }
                        tbody {
                            @for (i, hit) in out.hits.iter().enumerate() {
                                tr {
                                    td.num { (i + 1) }
                                    @for f in &primary.fields {
                                        td { (view::highlighted(&hit.fields.get(&f.name).map(display).unwrap_or_default())) }
                                    }
                                }
                            }
                        }
                    }
                }
                @for facet in &out.facets {
                    table.data {
                        caption { "Aggregate by " (facet.key) }
                        thead { tr { th scope="col" { "Value" } th scope="col" { "Count" } } }
                        tbody {
                            @for item in &facet.items {
                                tr { td { (item.value) } td.num { (count(item.count)) } }
                            }
                        }
                    }
                }
            }
        }
    };
    let crumbs: [Crumb; 3] = [
        ("Overview", Some("/".into())),
        (app.name.as_str(), Some(app_href(&app.name))),
        ("Search", None),
    ];
    view::page(
        &format!("Search {}", app.name),
        &viewer.key_id,
        &crumbs,
        body,
    )
    .into_response()
}
