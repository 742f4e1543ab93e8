//! `pier serve`: open the data dir, make sure an access key and an AnalyticDB manager account
//! exist, serve HTTP (and HTTPS when asked) until SIGTERM or Ctrl-C, then finish in-flight
//! requests and commit.

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
    /// A TOML config file (keys: the long flags with _ for -, e.g. commit_interval_ms).
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
    /// Memory for the document store's block cache, in MB: larger helps queries on big
    /// tables (their hits' documents are read from the store) [default: 256].
    #[arg(long, env = "PIER_STORE_CACHE_MB")]
    store_cache_mb: Option<u64>,
    /// Log format: text or json [default: text].
    #[arg(long, env = "PIER_LOG_FORMAT")]
    log_format: Option<String>,
    /// HTTPS listen address, serving the same routes (the AnalyticDB SDKs default to HTTPS)
    /// [default: no HTTPS].
    #[arg(long, env = "PIER_HTTPS_LISTEN")]
    https_listen: Option<String>,
    /// PEM certificate chain for HTTPS (with --tls-key) [default: a self-signed certificate
    /// created in <data dir>/tls on first start].
    #[arg(long, env = "PIER_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS (with --tls-cert).
    #[arg(long, env = "PIER_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// AnalyticDB manager account (ManagerAccount) [default: created on first start and
    /// printed once].
    #[arg(long, env = "PIER_MANAGER_ACCOUNT", requires = "manager_password")]
    manager_account: Option<String>,
    /// Its password (ManagerAccountPassword); prefer the variable to the flag, which other
    /// users can see in the process list.
    #[arg(
        long,
        env = "PIER_MANAGER_PASSWORD",
        requires = "manager_account",
        hide_env_values = true
    )]
    manager_password: Option<String>,
    /// AnalyticDB request authentication: verify (signature, time, nonce), access-key (a known
    /// AccessKeyId, signature unchecked) or none [default: verify].
    #[arg(long, env = "PIER_ADB_AUTH")]
    adb_auth: Option<String>,
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
    if let Some(mb) = args.store_cache_mb.or(file.store_cache_mb) {
        config.store_cache_bytes = mb << 20;
    }

    let https_listen = args.https_listen.or(file.https_listen);
    let tls_files = match (
        args.tls_cert.or(file.tls_cert),
        args.tls_key.or(file.tls_key),
    ) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => anyhow::bail!(
            "give both tls_cert and tls_key (or neither, for a self-signed certificate)"
        ),
    };
    let manager = match (
        args.manager_account.or(file.manager_account),
        args.manager_password.or(file.manager_password),
    ) {
        (Some(account), Some(password)) => Some((account, password)),
        (None, None) => None,
        _ => anyhow::bail!(
            "give both the manager account and its password (PIER_MANAGER_ACCOUNT and PIER_MANAGER_PASSWORD), or neither"
        ),
    };

    let acs_auth: pier_server::AcsAuth = args
        .adb_auth
        .or(file.adb_auth)
        .as_deref()
        .unwrap_or("verify")
        .parse()
        .map_err(anyhow::Error::msg)?;

    let engine = tokio::task::spawn_blocking(move || Engine::open(config)).await??;
    let engine = Arc::new(engine);
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}: is another server using it? choose another with --listen"))?;
    let addr = listener.local_addr()?;
    let https = match &https_listen {
        Some(https_listen) => Some(bind_https(https_listen, &data_dir, tls_files.as_ref())?),
        None => None,
    };
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
    let manager_engine = engine.clone();
    let new_manager = tokio::task::spawn_blocking(move || match manager {
        Some((account, password)) => manager_engine
            .namespaces()
            .configure_manager(&account, &password)
            .map(|()| None),
        None => manager_engine.namespaces().ensure_manager(),
    })
    .await??;
    if let Some(m) = new_manager {
        println!(
            "\npier created the AnalyticDB manager account (ManagerAccount / ManagerAccountPassword). Only its hash is stored, in {file}; the password is shown only now:\n\n  ManagerAccount:         {account}\n  ManagerAccountPassword: {password}\n\n(Set PIER_MANAGER_ACCOUNT and PIER_MANAGER_PASSWORD to choose your own.)\n",
            file = m.file.display(),
            account = m.account,
            password = m.password,
        );
    }
    let https_addr = match &https {
        Some((l, _)) => Some(l.local_addr()?),
        None => None,
    };
    tracing::info!(%addr, https = ?https_addr, data_dir = %data_dir.display(), console = %format!("http://{addr}/"), "pier is listening");
    pier_server::serve_all(
        Some(listener),
        https,
        engine,
        pier_server::ServerOptions {
            acs_auth,
            ..Default::default()
        },
        shutdown_signal(),
    )
    .await?;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Binds the HTTPS listener and loads (or creates) its certificate.
fn bind_https(
    listen: &str,
    data_dir: &std::path::Path,
    tls_files: Option<&(PathBuf, PathBuf)>,
) -> anyhow::Result<(std::net::TcpListener, Arc<rustls::ServerConfig>)> {
    let listener = std::net::TcpListener::bind(listen).with_context(|| {
        format!("cannot listen on {listen} for HTTPS: is another server using it? choose another with --https-listen")
    })?;
    // The certificate also names the listen host when it is a specific one.
    let host = listen
        .rsplit_once(':')
        .map(|(host, _)| host.trim_start_matches('[').trim_end_matches(']'))
        .filter(|h| !h.is_empty() && *h != "0.0.0.0" && *h != "::");
    let extra: Vec<String> = host.map(str::to_string).into_iter().collect();
    let setup = pier_server::tls::load_or_create(
        data_dir,
        tls_files.map(|(c, k)| (c.as_path(), k.as_path())),
        &extra,
    )
    .map_err(anyhow::Error::msg)?;
    if setup.created {
        println!(
            "\npier created a self-signed TLS certificate for HTTPS: {cert}\nClients verify pier with it as their CA file, or give your own with --tls-cert/--tls-key.\n",
            cert = setup.cert_file.display()
        );
    }
    Ok((listener, setup.config))
}
