//! The web console: server-rendered pages at `/` for people operating pier. Log in with an
//! access key; then an overview of apps and tables (documents, lag, push rate and their last
//! hour as small charts), per-app processing errors, request outcomes, table schemas and a
//! search box that speaks the app's own query language.
//!
//! Templates are [maud]: the HTML is written in Rust macros, checked at compile time, and every
//! interpolated value is escaped unless it is explicitly marked as pre-escaped, so document
//! fields, error messages and query text can never inject markup. It needs no template files
//! and no JavaScript build step; the one stylesheet and the one small script are embedded in the
//! binary.
//!
//! The overview is a list of sections, one per kind of thing pier holds; apps with their tables
//! are the only kind today, and vector collections and upload jobs get their own sections when
//! the engine has them.

mod dialect_search;
mod pages;
mod sampler;
mod session;
mod view;

use crate::ServerState;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::{Arc, Weak};

/// What the console keeps in memory: login sessions and the last hour of table counters.
#[derive(Default)]
pub struct Console {
    /// Logged-in browsers.
    pub sessions: session::Sessions,
    /// Per-table counters over the last hour, for the overview's charts.
    pub sampler: sampler::Sampler,
}

/// The console's routes. Every page but the login page and the static assets needs a session.
pub fn routes() -> Router<Arc<ServerState>> {
    Router::new()
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/apps/{app}", get(pages::app))
        .route("/apps/{app}/errors", get(pages::errors))
        .route("/apps/{app}/search", get(pages::search))
        .route("/apps/{app}/tables/{table}", get(pages::schema))
        .route("/requests/{id}", get(pages::request))
        .route("/jobs/{id}/cancel", axum::routing::post(pages::cancel_job))
        .route("/assets/console.css", get(stylesheet))
        .route("/assets/console.js", get(script))
        .layer(middleware::map_response(security_headers))
}

/// `GET /` for a browser: the overview page, with the console's security headers. (The root
/// route is shared with the AnalyticDB API, so it is not in [`routes`].)
pub(crate) async fn overview(state: Arc<ServerState>, request: axum::extract::Request) -> Response {
    use axum::handler::Handler;
    security_headers(pages::overview.call(request, state).await).await
}

/// Starts the sampler that feeds the overview's charts; it stops once the server state is gone.
/// Must be called within a Tokio runtime.
pub fn start_sampler(state: Weak<ServerState>) {
    sampler::spawn(state);
}

/// Console pages may only come from pier itself (no inline scripts or styles, no framing), are
/// never cached (they show live data behind a login) and never leak their URLs elsewhere.
async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("console.css"),
    )
}

async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("console.js"),
    )
}
