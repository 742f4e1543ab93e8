//! pier's HTTP server: routes of each API dialect and the native admin API over one engine,
//! on an HTTP and/or an HTTPS listener.
//!
//! Dialects translate wire formats to engine calls and back; they know nothing about logs,
//! segments or indexes.

mod api;
mod auth;
mod console;
mod dialects;
mod failure;
mod jobs;
pub mod tls;

pub use failure::Failure;

use axum::Router;
use axum::routing::{get, post};
use pier_engine::Engine;
use std::sync::Arc;
use std::time::Duration;

/// What every handler shares.
pub struct ServerState {
    /// The engine.
    pub engine: Arc<Engine>,
    /// Checks V3 signatures (and remembers nonces).
    pub verifier: pier_auth::Verifier,
    /// Checks AnalyticDB (ACS3 and RPC) signatures (and remembers nonces).
    pub acs_verifier: pier_auth::AcsVerifier,
    /// How much of an AnalyticDB request's credentials is checked.
    pub acs_auth: AcsAuth,
    /// Open scroll cursors of the V3 search API.
    pub scrolls: dialects::v3::scroll::Scrolls,
    /// Recently acknowledged Vector Search Edition pushes (the SDK's retries are recognised).
    pub vse_recent: dialects::vse::RecentPushes,
    /// The web console's sessions and chart history.
    pub console: console::Console,
}

/// How AnalyticDB requests are authenticated (wire spec §2.4). The SDKs never check anything
/// on their side, so the weaker policies only trade the server's protection for convenience.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AcsAuth {
    /// Verify the ACS3-HMAC-SHA256 or RPC HMAC-SHA1 signature, the request time and the nonce.
    #[default]
    Verify,
    /// Require an AccessKeyId that pier knows, without checking the signature: for clients
    /// whose signing pier does not reproduce.
    AccessKey,
    /// Accept every request: only on a network where every client is trusted.
    None,
}

impl std::str::FromStr for AcsAuth {
    type Err = String;

    fn from_str(s: &str) -> Result<AcsAuth, String> {
        match s {
            "verify" => Ok(AcsAuth::Verify),
            "access-key" => Ok(AcsAuth::AccessKey),
            "none" => Ok(AcsAuth::None),
            other => Err(format!(
                "'{other}' is not an AnalyticDB auth policy: use verify (the default), access-key or none"
            )),
        }
    }
}

/// Server settings beyond the engine's.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// How far the time of an AnalyticDB-signed request (`x-acs-date` / `Timestamp`) may be
    /// from the server clock; nonces are remembered as long. Default: the documented 15 minutes.
    pub acs_clock_window: Duration,
    /// How AnalyticDB requests are authenticated. Default: [`AcsAuth::Verify`].
    pub acs_auth: AcsAuth,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            acs_clock_window: pier_auth::AcsVerifier::DEFAULT_CLOCK_WINDOW,
            acs_auth: AcsAuth::default(),
        }
    }
}

/// Every route pier serves, with the default [`ServerOptions`]. Starts the console's chart
/// sampler, so it must be called within a Tokio runtime.
pub fn router(engine: Arc<Engine>) -> Router {
    router_with(engine, &ServerOptions::default())
}

/// Every route pier serves.
pub fn router_with(engine: Arc<Engine>, options: &ServerOptions) -> Router {
    api::metrics::handle();
    jobs::resume_all(&engine);
    let state = Arc::new(ServerState {
        engine,
        verifier: pier_auth::Verifier::default(),
        acs_verifier: pier_auth::AcsVerifier::new(options.acs_clock_window),
        acs_auth: options.acs_auth,
        scrolls: Default::default(),
        vse_recent: Default::default(),
        console: Default::default(),
    });
    console::start_sampler(Arc::downgrade(&state));
    Router::new()
        // The AnalyticDB API: every action is an RPC call to the root, which is also the
        // console's overview page.
        .route("/", get(root).post(dialects::adb::rpc))
        .route(
            "/v3/openapi/apps/{app}/{table}/actions/bulk",
            post(dialects::v3::push),
        )
        .route(
            "/v3/openapi/apps/{app}/search",
            get(dialects::v3::search::search),
        )
        .route(
            "/v3/openapi/apps/{app}/suggest/{name}/search",
            get(dialects::v3::search::suggest),
        )
        .route(
            "/update/{segment}/actions/bulk",
            post(dialects::vse::handle),
        )
        .route("/vector-service/{endpoint}", post(dialects::vse::handle))
        .route("/search", post(dialects::vse::handle))
        .route("/network/active", get(dialects::vse::handle))
        .route(
            "/query",
            get(dialects::vse::ha3::query).post(dialects::vse::ha3::query),
        )
        .route(
            "/sql",
            get(dialects::vse::ha3::query).post(dialects::vse::ha3::query),
        )
        .route("/QrsService/searchSql", post(dialects::vse::ha3::query))
        .route(
            "/openapi/ha3/instances/{instance}/tables",
            get(dialects::vse::openapi::list).post(dialects::vse::openapi::create),
        )
        .route(
            "/openapi/ha3/instances/{instance}/tables/{table}",
            get(dialects::vse::openapi::get).delete(dialects::vse::openapi::delete),
        )
        .merge(api::v1::routes())
        .route("/health", get(api::health))
        .route("/metrics", get(api::metrics::metrics))
        .route("/ready", get(api::ready))
        .merge(console::routes())
        .fallback(api::not_found)
        .with_state(state)
}

/// Serves HTTP until `shutdown` resolves, then finishes in-flight requests and stops the
/// engine's appliers after a final commit.
pub async fn serve(
    listener: tokio::net::TcpListener,
    engine: Arc<Engine>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_all(
        Some(listener),
        None,
        engine,
        ServerOptions::default(),
        shutdown,
    )
    .await
}

/// How long in-flight HTTPS requests get to finish once shutdown starts.
const HTTPS_DRAIN: Duration = Duration::from_secs(30);

/// Serves the same routes on an HTTP and/or an HTTPS listener until `shutdown` resolves, then
/// finishes in-flight requests and stops the engine's appliers after a final commit.
pub async fn serve_all(
    http: Option<tokio::net::TcpListener>,
    https: Option<(std::net::TcpListener, Arc<rustls::ServerConfig>)>,
    engine: Arc<Engine>,
    options: ServerOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router_with(engine.clone(), &options);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    let mut servers = tokio::task::JoinSet::new();
    if let Some(listener) = http {
        let mut stop = stop_rx.clone();
        let app = app.clone();
        servers.spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await
        });
    }
    if let Some((listener, config)) = https {
        listener.set_nonblocking(true)?;
        let handle = axum_server::Handle::new();
        let server = axum_server::tls_rustls::from_tcp_rustls(
            listener,
            axum_server::tls_rustls::RustlsConfig::from_config(config),
        )?
        .handle(handle.clone());
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _ = stop.wait_for(|s| *s).await;
            handle.graceful_shutdown(Some(HTTPS_DRAIN));
        });
        servers.spawn(server.serve(app.into_make_service()));
    }
    let stopper = stop_tx.clone();
    tokio::spawn(async move {
        shutdown.await;
        let _ = stopper.send(true);
    });
    let mut result = Ok(());
    while let Some(done) = servers.join_next().await {
        let outcome = done.map_err(std::io::Error::other).and_then(|r| r);
        if let Err(e) = outcome {
            // One listener failing stops the other too: a half-served API is worse than a clear exit.
            let _ = stop_tx.send(true);
            result = result.and(Err(e));
        }
    }
    tokio::task::spawn_blocking(move || engine.shutdown())
        .await
        .map_err(std::io::Error::other)?;
    result
}

/// `GET /`: an AnalyticDB RPC call when the request names an action (`Action` parameter or
/// `x-acs-action` header, as every SDK sends), otherwise the console's overview page.
async fn root(
    axum::extract::State(state): axum::extract::State<Arc<ServerState>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::handler::Handler;
    let names_action = request.headers().contains_key("x-acs-action")
        || request
            .uri()
            .query()
            .is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "Action"));
    if names_action {
        dialects::adb::rpc.call(request, state).await
    } else {
        console::overview(state, request).await
    }
}
