//! Shared helpers: a private MariaDB per test binary (scripts/mariadb-fixture.sh), timeouts,
//! and a document-state model that applies snapshot batches and transactions strictly.
#![allow(dead_code)]

use futures_util::StreamExt;
use mysql_async::prelude::*;
use pier_mysql::{
    CdcStream, ChangeKind, MysqlSource, Position, SnapshotBatch, SourceConfig, SourceError,
    Transaction,
};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

pub const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/mariadb-fixture.sh");
pub const DB: &str = "pier_test";

/// A private MariaDB: data dir, socket and logs in a temp dir, TCP on a free loopback port.
/// Stopped (and its dir removed) on drop, or by the script's watchdog when the test process
/// exits (for the per-binary shared instance, which is a static and never dropped).
pub struct Fixture {
    pub dir: PathBuf,
    pub port: u16,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn script(args: &[&str]) {
    let out = Command::new("bash")
        .arg(SCRIPT)
        .args(args)
        .env("MARIADB_FIXTURE_OWNER_PID", std::process::id().to_string())
        .output()
        .expect("run mariadb-fixture.sh");
    assert!(
        out.status.success(),
        "mariadb-fixture.sh {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Fixture {
    pub fn start() -> Fixture {
        let dir = tempfile::Builder::new()
            .prefix("pier-mariadb-")
            .tempdir()
            .expect("tempdir")
            .keep();
        let port = free_port();
        script(&["start", dir.to_str().unwrap(), &port.to_string()]);
        Fixture { dir, port }
    }

    /// The fixture shared by all tests of this binary.
    pub fn shared() -> &'static Fixture {
        static F: OnceLock<Fixture> = OnceLock::new();
        F.get_or_init(|| {
            // RUST_LOG=pier_mysql=debug shows the reader's reconnects and positions.
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_test_writer()
                .try_init();
            Fixture::start()
        })
    }

    pub fn stop(&self) {
        script(&["stop", self.dir.to_str().unwrap()]);
    }

    pub fn start_again(&self) {
        script(&["start", self.dir.to_str().unwrap(), &self.port.to_string()]);
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn opts(&self) -> mysql_async::Opts {
        mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(self.port)
            .user(Some("pier"))
            .pass(Some("pier"))
            .db_name(Some(DB))
            .prefer_socket(false)
            .into()
    }

    pub async fn conn(&self) -> mysql_async::Conn {
        within(30, mysql_async::Conn::new(self.opts()))
            .await
            .expect("connect to fixture")
    }

    pub fn config(&self, table: &str) -> SourceConfig {
        let mut c = SourceConfig::new(
            "127.0.0.1",
            self.port,
            "pier",
            "pier",
            DB,
            table,
            next_server_id(),
        );
        c.reconnect.initial_delay_ms = 100;
        c.reconnect.max_delay_ms = 1000;
        c.heartbeat_secs = 1;
        c.progress_interval_ms = 200;
        c
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(SCRIPT)
            .args(["stop", self.dir.to_str().unwrap()])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn next_server_id() -> u32 {
    static N: AtomicU32 = AtomicU32::new(1000);
    N.fetch_add(1, Ordering::Relaxed) + std::process::id() % 1000 * 1000
}

/// Run `f` with a timeout of `secs` seconds (panics on timeout).
pub async fn within<T>(secs: u64, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .unwrap_or_else(|_| panic!("timed out after {secs} s"))
}

pub async fn exec(conn: &mut mysql_async::Conn, sql: &str) {
    within(60, conn.query_drop(sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

pub async fn connect(cfg: SourceConfig) -> MysqlSource {
    within(60, MysqlSource::connect(cfg))
        .await
        .unwrap_or_else(|e| panic!("source connect: {e}"))
}

/// Next non-empty transaction (skips progress-only ones).
pub async fn next_txn(s: &mut CdcStream) -> Transaction {
    loop {
        let t = within(60, s.next())
            .await
            .expect("stream ended")
            .unwrap_or_else(|e| panic!("stream error: {e}"));
        if !t.changes.is_empty() {
            return t;
        }
    }
}

/// Next item that is an error (skipping transactions), or panic.
pub async fn next_error(s: &mut CdcStream) -> (SourceError, Vec<Transaction>) {
    let mut seen = Vec::new();
    loop {
        match within(60, s.next()).await {
            Some(Ok(t)) => seen.push(t),
            Some(Err(e)) => return (e, seen),
            None => panic!("stream ended without an error"),
        }
    }
}

/// pk → fields; applies changes strictly (a Delete of a missing key is an error: something was
/// missed or doubled).
#[derive(Default, Debug, Clone, PartialEq)]
pub struct State {
    pub docs: BTreeMap<String, Map<String, Value>>,
}

impl State {
    pub fn apply_batch(&mut self, b: &SnapshotBatch) {
        for c in &b.changes {
            assert_eq!(c.kind, ChangeKind::Upsert);
            assert!(
                self.docs.insert(c.pk.clone(), c.fields.clone()).is_none(),
                "snapshot delivered {} twice",
                c.pk
            );
        }
    }

    pub fn apply_txn(&mut self, t: &Transaction) {
        for c in &t.changes {
            match c.kind {
                ChangeKind::Upsert => {
                    self.docs.insert(c.pk.clone(), c.fields.clone());
                }
                ChangeKind::Delete => {
                    assert!(
                        self.docs.remove(&c.pk).is_some(),
                        "delete of missing key {} at {} (a change was missed or doubled)",
                        c.pk,
                        t.end_position
                    );
                }
            }
        }
    }
}

/// Full snapshot of the source's table into a State, and the snapshot position.
pub async fn snapshot_state(src: &MysqlSource, batch: usize) -> (State, Position) {
    let mut snap = within(60, src.snapshot(batch)).await.expect("snapshot");
    let pos = snap.position().clone();
    let mut st = State::default();
    loop {
        let b = within(120, snap.next())
            .await
            .expect("snapshot ended early")
            .expect("snapshot batch");
        st.apply_batch(&b);
        if b.last {
            break;
        }
    }
    (st, pos)
}
