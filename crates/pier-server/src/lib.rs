//! pier's HTTP server: routes of each API dialect and the native admin API over one engine.
//!
//! Dialects translate wire formats to engine calls and back; they know nothing about logs,
//! segments or indexes.

mod api;
mod auth;
mod dialects;
mod failure;

pub use failure::Failure;

use axum::Router;
use axum::routing::{get, post};
use pier_engine::Engine;
use std::sync::Arc;

/// What every handler shares.
pub struct ServerState {
    /// The engine.
    pub engine: Arc<Engine>,
    /// Checks V3 signatures (and remembers nonces).
    pub verifier: pier_auth::Verifier,
    /// Open scroll cursors of the V3 search API.
    pub scrolls: dialects::v3::scroll::Scrolls,
}

/// Every route pier serves.
pub fn router(engine: Arc<Engine>) -> Router {
    api::metrics::handle();
    let state = Arc::new(ServerState {
        engine,
        verifier: pier_auth::Verifier::default(),
        scrolls: Default::default(),
    });
    Router::new()
        .route(
            "/v3/openapi/apps/{app}/{table}/actions/bulk",
            post(dialects::v3::push),
        )
        .route(
            "/v3/openapi/apps/{app}/search",
            get(dialects::v3::search::search),
        )
        .merge(api::v1::routes())
        .route("/health", get(api::health))
        .route("/metrics", get(api::metrics::metrics))
        .route("/ready", get(api::ready))
        .fallback(api::not_found)
        .with_state(state)
}

/// Serves until `shutdown` resolves, then finishes in-flight requests and stops the engine's
/// appliers after a final commit.
pub async fn serve(
    listener: tokio::net::TcpListener,
    engine: Arc<Engine>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(engine.clone()))
        .with_graceful_shutdown(shutdown)
        .await?;
    tokio::task::spawn_blocking(move || engine.shutdown())
        .await
        .map_err(std::io::Error::other)?;
    Ok(())
}
