//! Server restarts and purged binlogs, against a private MariaDB that these tests restart and
//! purge (so they run one at a time).

mod common;

use common::*;
use futures_util::StreamExt;
use mysql_async::prelude::*;
use pier_mysql::{ChangeKind, SourceError};
use std::collections::BTreeMap;
use std::time::Duration;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// INSERT IGNORE with retries until it succeeds: the row exists exactly once whatever happened
/// to the connection.
async fn insert_surely(opts: &mysql_async::Opts, conn: &mut Option<mysql_async::Conn>, id: i64) {
    for _ in 0..600 {
        if conn.is_none() {
            *conn = mysql_async::Conn::new(opts.clone()).await.ok();
        }
        if let Some(c) = conn.as_mut() {
            match c
                .query_drop(format!(
                    "INSERT IGNORE INTO t_restart VALUES ({id}, 'v{id}')"
                ))
                .await
            {
                Ok(()) => return,
                Err(_) => *conn = None,
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("insert {id} never succeeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_mid_stream_loses_and_doubles_nothing() {
    let _g = SERIAL.lock().await;
    let fx = Fixture::shared();
    let mut c = fx.conn().await;
    exec(&mut c, "DROP TABLE IF EXISTS t_restart").await;
    exec(
        &mut c,
        "CREATE TABLE t_restart (id BIGINT PRIMARY KEY, v VARCHAR(20))",
    )
    .await;
    let mut src = connect(fx.config("t_restart")).await;
    let start = src.current_position().await.unwrap();
    drop(c);
    let mut s = src.stream_from(start.clone());

    let opts = fx.opts();
    let writer = tokio::spawn(async move {
        let mut conn = None;
        for id in 1..=300 {
            insert_surely(&opts, &mut conn, id).await;
            if id % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    // Restart the server while the writer and the stream run.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut restarted = false;
    let mut files = std::collections::BTreeSet::new();
    while seen.len() < 300 {
        let t = within(120, s.next())
            .await
            .expect("stream ended")
            .unwrap_or_else(|e| panic!("{e}"));
        files.insert(t.end_position.file.clone());
        for ch in &t.changes {
            assert_eq!(ch.kind, ChangeKind::Upsert);
            *seen.entry(ch.pk.clone()).or_default() += 1;
        }
        if !restarted && seen.len() >= 60 {
            restarted = true;
            let fx2 = Fixture::shared();
            tokio::task::spawn_blocking(move || {
                fx2.stop();
                std::thread::sleep(Duration::from_millis(500));
                fx2.start_again();
            })
            .await
            .unwrap();
        }
    }
    within(120, writer).await.unwrap();
    assert!(restarted);
    let dup: Vec<_> = seen.iter().filter(|(_, n)| **n != 1).collect();
    assert!(dup.is_empty(), "delivered more than once: {dup:?}");
    assert_eq!(seen.len(), 300);
    assert!(s.stats().reconnects >= 1, "{:?}", s.stats());
    assert!(
        files.len() >= 2,
        "a restart starts a new binlog file: {files:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purged_position_is_reported() {
    let _g = SERIAL.lock().await;
    let fx = Fixture::shared();
    let mut c = fx.conn().await;
    exec(&mut c, "DROP TABLE IF EXISTS t_purge").await;
    exec(&mut c, "CREATE TABLE t_purge (id INT PRIMARY KEY)").await;
    let mut src = connect(fx.config("t_purge")).await;
    let old = src.current_position().await.unwrap();
    exec(&mut c, "INSERT INTO t_purge VALUES (1)").await;
    exec(&mut c, "FLUSH BINARY LOGS").await;
    exec(&mut c, "INSERT INTO t_purge VALUES (2)").await;
    let now = src.current_position().await.unwrap();
    assert_ne!(now.file, old.file);
    // MariaDB keeps a binlog until its binlog checkpoint has moved on: purge until it is gone.
    let mut purged = false;
    for _ in 0..100 {
        exec(&mut c, &format!("PURGE BINARY LOGS TO '{}'", now.file)).await;
        let logs: Vec<(String, u64)> = c.query("SHOW BINARY LOGS").await.unwrap();
        if logs.iter().all(|(f, _)| f != &old.file) {
            purged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(purged, "{} was never purged", old.file);

    let mut s = src.stream_from(old.clone());
    let (err, seen) = next_error(&mut s).await;
    assert!(seen.is_empty());
    match &err {
        SourceError::PositionPurged { position, message } => {
            assert_eq!(position, &old);
            assert!(!message.is_empty());
        }
        other => panic!("expected PositionPurged, got {other}"),
    }
    assert!(err.to_string().contains("take a new snapshot"), "{err}");

    // By GTID too: MariaDB no longer has the GTID state either.
    let mut cfg = fx.config("t_purge");
    cfg.resume_by_gtid = true;
    let src_g = connect(cfg).await;
    assert!(old.gtid.is_some());
    let mut s = src_g.stream_from(old);
    let (err, _) = next_error(&mut s).await;
    assert!(matches!(err, SourceError::PositionPurged { .. }), "{err}");

    // A fresh snapshot position streams fine.
    let (_, pos) = snapshot_state(&src, 100).await;
    let mut s = src.stream_from(pos);
    exec(&mut c, "INSERT INTO t_purge VALUES (3)").await;
    let t = next_txn(&mut s).await;
    assert_eq!(t.changes[0].pk, "3");
}
