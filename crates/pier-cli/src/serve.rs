//! `pier serve`: open the data dir, make sure an access key exists, serve HTTP until SIGTERM or
//! Ctrl-C, then finish in-flight requests and commit.

use crate::config::{DEFAULT_DATA_DIR, DEFAULT_LISTEN, FileConfig};
use anyhow::Context;
use clap::Args;
use pier_engine::{Engine, EngineConfig};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Flags of `pier serve` (each also read from its PIER_* variable; flags win).
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// A TOML config file (keys: data_dir, listen, commit_interval_ms, max_unapplied_mb, log_format).
    #[arg(long, env = "PIER_CONFIG")]
    config: Option<PathBuf>,
    /// Where pier keeps its data [default: ./pier-data].
    #[arg(long, env = "PIER_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// HTTP listen address [default: 127.0.0.1:8700].
    #[arg(long, env = "PIER_LISTEN")]
    listen: Option<String>,
    /// How often applied pushes become searchable, in ms [default: 200].
    #[arg(long, env = "PIER_COMMIT_INTERVAL_MS")]
    commit_interval_ms: Option<u64>,
    /// Per table, MB pushed but not yet processed before pushes get 3007 (retry) [default: 256].
    #[arg(long, env = "PIER_MAX_UNAPPLIED_MB")]
    max_unapplied_mb: Option<u64>,
    /// Log format: text or json [default: text].
    #[arg(long, env = "PIER_LOG_FORMAT")]
    log_format: Option<String>,
}

fn init_logs(format: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("PIER_LOG").unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutting down: finishing in-flight requests, then a final commit");
}

/// Runs the server.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let file = FileConfig::load(args.config.as_deref())?;
    init_logs(
        args.log_format
            .as_deref()
            .or(file.log_format.as_deref())
            .unwrap_or("text"),
    );
    let data_dir = args
        .data_dir
        .or(file.data_dir)
        .unwrap_or_else(|| DEFAULT_DATA_DIR.into());
    let listen = args
        .listen
        .or(file.listen)
        .unwrap_or_else(|| DEFAULT_LISTEN.into());
    let mut config = EngineConfig::new(&data_dir);
    if let Some(ms) = args.commit_interval_ms.or(file.commit_interval_ms) {
        config.commit_interval = Duration::from_millis(ms.max(1));
    }
    if let Some(mb) = args.max_unapplied_mb.or(file.max_unapplied_mb) {
        config.max_unapplied_bytes = mb << 20;
    }

    let engine = tokio::task::spawn_blocking(move || Engine::open(config)).await??;
    let engine = Arc::new(engine);
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}: is another server using it? choose another with --listen"))?;
    let addr = listener.local_addr()?;
    if engine.keys().list().iter().all(|k| k.revoked) {
        let key = engine
            .keys()
            .create(Some("created on first start".into()))?;
        println!(
            "\npier created your first access key. It is stored in {dir}/keys.json (readable only by you) and shown only now:\n\n  AccessKeyId:     {id}\n  AccessKeySecret: {secret}\n\nTry it:\n  curl -u {id}:{secret} http://{addr}/api/v1/apps\n  pier app create demo --schema examples/schema.json --data-dir {dir}\n",
            dir = data_dir.display(),
            id = key.id,
            secret = key.secret,
        );
    }
    tracing::info!(%addr, data_dir = %data_dir.display(), "pier is listening");
    pier_server::serve(listener, engine, shutdown_signal()).await?;
    tracing::info!("stopped cleanly");
    Ok(())
}
