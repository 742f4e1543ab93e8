//! Benchmark of the MySQL/MariaDB source against a private MariaDB started with
//! `scripts/mariadb-fixture.sh` (stopped again at the end).
//!
//! ```text
//! cargo run --release -p pier-mysql --example mysql_source_bench -- [--rows 1000000]
//!     [--cdc-secs 20] [--writers 4] [--batch 10000]
//! ```
//!
//! 1. Loads `--rows` rows (without binlogging them) into `bench.items`.
//! 2. Snapshot: reads them all through `MysqlSource::snapshot` → rows/s.
//! 3. CDC: `--writers` connections change rows as fast as they can for `--cdc-secs` (first half
//!    single-row autocommit UPDATE/INSERT/DELETE, second half 50-row UPDATE transactions) while
//!    the source consumes → change events/s, and lag from the writer's clock stamped in the row
//!    (`t_ms`, taken just before the statement is sent) to delivery: p50/p99/max.

use futures_util::StreamExt;
use mysql_async::prelude::*;
use pier_mysql::{ChangeKind, MysqlSource, SourceConfig};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/mariadb-fixture.sh");

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn script(args: &[&str]) {
    let st = Command::new("bash")
        .arg(SCRIPT)
        .args(args)
        .env("MARIADB_FIXTURE_OWNER_PID", std::process::id().to_string())
        .env("MARIADB_FIXTURE_BUFFER_POOL", "1G")
        .status()
        .expect("run fixture script");
    assert!(st.success(), "mariadb-fixture.sh {args:?} failed");
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string())
        })
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| format!("{:.0} GiB", kb as f64 / 1048576.0))
        .unwrap_or_default();
    format!(
        "nproc={}, CPU: {cpu}, RAM: {mem}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    )
}

fn pct(v: &mut [i64], p: f64) -> i64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

struct Stopper(std::path::PathBuf);
impl Drop for Stopper {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(SCRIPT)
            .args(["stop", self.0.to_str().unwrap()])
            .status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::main]
async fn main() {
    let rows = arg("--rows", 1_000_000);
    let cdc_secs = arg("--cdc-secs", 20);
    let writers = arg("--writers", 4);
    let batch = arg("--batch", 10_000) as usize;

    let dir = tempfile::Builder::new()
        .prefix("pier-mysql-bench-")
        .tempdir()
        .unwrap()
        .keep();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    script(&["start", dir.to_str().unwrap(), &port.to_string()]);
    let _stop = Stopper(dir.clone());

    let opts: mysql_async::Opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some("pier"))
        .pass(Some("pier"))
        .prefer_socket(false)
        .into();
    let mut c = mysql_async::Conn::new(opts.clone()).await.unwrap();
    let version: String = c.query_first("SELECT VERSION()").await.unwrap().unwrap();
    println!("machine: {}\nserver: MariaDB {version}", machine());
    c.query_drop("CREATE DATABASE IF NOT EXISTS bench")
        .await
        .unwrap();
    c.query_drop(
        "CREATE TABLE bench.items (id BIGINT PRIMARY KEY, v INT NOT NULL, title VARCHAR(64) NOT NULL, \
         price DECIMAL(10,2) NOT NULL, created DATETIME NOT NULL, t_ms BIGINT NOT NULL) ENGINE=InnoDB",
    )
    .await
    .unwrap();

    // 1. Load (not binlogged).
    let t0 = Instant::now();
    c.query_drop("SET SESSION sql_log_bin = 0").await.unwrap();
    let chunk = 5000u64;
    let mut id = 0u64;
    while id < rows {
        let n = chunk.min(rows - id);
        let vals: Vec<String> = (id..id + n)
            .map(|i| {
                format!(
                    "({i},{},'item number {i}',{}.{:02},'2024-01-01 00:00:00',0)",
                    i % 1000,
                    i % 997,
                    i % 100
                )
            })
            .collect();
        c.query_drop(format!("INSERT INTO bench.items VALUES {}", vals.join(",")))
            .await
            .unwrap();
        id += n;
    }
    c.query_drop("SET SESSION sql_log_bin = 1").await.unwrap();
    let load_s = t0.elapsed().as_secs_f64();
    println!("load: {rows} rows in {load_s:.1} s");

    // 2. Snapshot.
    let mut cfg = SourceConfig::new("127.0.0.1", port, "pier", "pier", "bench", "items", 777);
    cfg.queue_transactions = 1024;
    let src = MysqlSource::connect(cfg).await.unwrap();
    let t0 = Instant::now();
    let mut snap = src.snapshot(batch).await.unwrap();
    let pos = snap.position().clone();
    let mut n = 0usize;
    while let Some(b) = snap.next().await {
        let b = b.unwrap();
        n += b.changes.len();
        if b.last {
            break;
        }
    }
    drop(snap);
    let snap_s = t0.elapsed().as_secs_f64();
    assert_eq!(n as u64, rows);
    let snap_rate = n as f64 / snap_s;
    println!("snapshot: {n} rows in {snap_s:.2} s = {snap_rate:.0} rows/s (batch {batch})");

    // 3. CDC under load.
    let stop = Arc::new(AtomicBool::new(false));
    let phase_b = Arc::new(AtomicBool::new(false));
    let stmts = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for w in 0..writers {
        let (opts, stop, phase_b, stmts) =
            (opts.clone(), stop.clone(), phase_b.clone(), stmts.clone());
        handles.push(tokio::spawn(async move {
            let mut c = mysql_async::Conn::new(opts).await.unwrap();
            let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ (w + 1);
            let mut next_new = 10_000_000_000i64 + w as i64 * 1_000_000_000;
            while !stop.load(Ordering::Relaxed) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let target = (seed % rows) as i64;
                let t = now_ms();
                let sql = if phase_b.load(Ordering::Relaxed) {
                    let a = target - target % 50;
                    format!(
                        "UPDATE bench.items SET v = v + 1, t_ms = {t} WHERE id >= {a} AND id < {}",
                        a + 50
                    )
                } else {
                    match seed % 10 {
                        0 => {
                            next_new += 1;
                            format!("INSERT INTO bench.items VALUES ({next_new}, 1, 'new', 1.00, NOW(), {t})")
                        }
                        1 => format!("DELETE FROM bench.items WHERE id = {next_new}"),
                        _ => format!("UPDATE bench.items SET v = v + 1, t_ms = {t} WHERE id = {target}"),
                    }
                };
                c.query_drop(sql).await.unwrap();
                stmts.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let mut stream = src.stream_from(pos);
    let t0 = Instant::now();
    let mut lags: Vec<i64> = Vec::new();
    let mut lags_a: Vec<i64> = Vec::new();
    let mut events = 0u64;
    let mut txns = 0u64;
    let mut marker_sent = false;
    let mut last_stats = None;
    let half = Duration::from_secs(cdc_secs / 2);
    let total = Duration::from_secs(cdc_secs);
    let mut done_at = None;
    loop {
        let el = t0.elapsed();
        if el >= half && !phase_b.load(Ordering::Relaxed) {
            phase_b.store(true, Ordering::Relaxed);
            lags_a = std::mem::take(&mut lags);
        }
        if el >= total && !marker_sent {
            stop.store(true, Ordering::Relaxed);
            for h in handles.drain(..) {
                h.await.unwrap();
            }
            done_at = Some(t0.elapsed());
            c.query_drop("INSERT INTO bench.items VALUES (-1, 0, 'marker', 0, NOW(), 0)")
                .await
                .unwrap();
            marker_sent = true;
        }
        let t = match tokio::time::timeout(Duration::from_millis(200), stream.next()).await {
            Ok(Some(t)) => t.unwrap(),
            Ok(None) => panic!("stream ended"),
            Err(_) => continue,
        };
        let now = now_ms();
        txns += 1;
        let mut marker = false;
        for ch in &t.changes {
            events += 1;
            if ch.pk == "-1" {
                marker = true;
            }
            if ch.kind == ChangeKind::Upsert
                && let Some(ts) = ch.fields.get("t_ms").and_then(|v| v.as_i64())
                && ts > 0
            {
                lags.push(now - ts);
            }
        }
        if txns.is_multiple_of(1000) {
            last_stats = Some(stream.stats());
        }
        if marker {
            break;
        }
    }
    let drained = t0.elapsed();
    let writes_s = done_at.unwrap().as_secs_f64();
    let ev_rate = events as f64 / drained.as_secs_f64();
    let (mut la, mut lb) = (lags_a, lags);
    println!(
        "cdc: {} statements by {writers} writers in {writes_s:.1} s; {events} change events in {txns} transactions delivered in {:.1} s = {ev_rate:.0} events/s (drained {:.1} s after writers stopped)",
        stmts.load(Ordering::Relaxed),
        drained.as_secs_f64(),
        drained.as_secs_f64() - writes_s
    );
    println!(
        "lag (statement sent → delivered), phase A single-row autocommit: p50 {} ms, p99 {} ms, max {} ms ({} samples)",
        pct(&mut la, 0.5),
        pct(&mut la, 0.99),
        la.last().copied().unwrap_or(0),
        la.len()
    );
    println!(
        "lag (statement sent → delivered), phase B 50-row transactions: p50 {} ms, p99 {} ms, max {} ms ({} samples)",
        pct(&mut lb, 0.5),
        pct(&mut lb, 0.99),
        lb.last().copied().unwrap_or(0),
        lb.len()
    );
    if let Some(s) = last_stats {
        println!("stats sample during the run: {s:?}");
    }
    println!("final stats: {:?}", stream.stats());
}
