//! Start-up checks: missing server settings, privileges and table problems are reported with
//! their fixes. These tests change global server settings, so they share one private MariaDB
//! and run one at a time.

mod common;

use common::*;
use mysql_async::prelude::*;
use pier_mysql::{MysqlSource, SetupError, SourceError};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn connect_err(cfg: pier_mysql::SourceConfig) -> SetupError {
    match within(60, MysqlSource::connect(cfg)).await {
        Ok(_) => panic!("connect succeeded but should have reported problems"),
        Err(e) => e,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_binlog_format_is_reported_with_the_fix() {
    let _g = SERIAL.lock().await;
    let fx = Fixture::shared();
    let mut c = fx.conn().await;
    exec(
        &mut c,
        "CREATE TABLE IF NOT EXISTS t_chk (id INT PRIMARY KEY, v INT)",
    )
    .await;
    exec(&mut c, "SET GLOBAL binlog_format = 'STATEMENT'").await;
    exec(&mut c, "SET GLOBAL binlog_row_image = 'MINIMAL'").await;
    let err = connect_err(fx.config("t_chk")).await;
    exec(&mut c, "SET GLOBAL binlog_format = 'ROW'").await;
    exec(&mut c, "SET GLOBAL binlog_row_image = 'FULL'").await;
    let text = err.to_string();
    assert_eq!(err.problems().len(), 2, "{text}");
    assert!(text.contains("binlog_format is STATEMENT"), "{text}");
    assert!(text.contains("SET GLOBAL binlog_format = 'ROW'"), "{text}");
    assert!(
        text.contains("`binlog_format=ROW` under [mysqld] in my.cnf"),
        "{text}"
    );
    assert!(text.contains("binlog_row_image is MINIMAL"), "{text}");
    assert!(
        text.contains("SET GLOBAL binlog_row_image = 'FULL'"),
        "{text}"
    );
    // Fixed: connects.
    connect(fx.config("t_chk")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_privileges_and_table_problems_are_listed() {
    let _g = SERIAL.lock().await;
    let fx = Fixture::shared();
    let mut c = fx.conn().await;
    exec(&mut c, "CREATE TABLE IF NOT EXISTS t_nopk (a INT, b INT)").await;
    exec(
        &mut c,
        "CREATE TABLE IF NOT EXISTS t_ok (id INT PRIMARY KEY, v INT, g GEOMETRY)",
    )
    .await;
    exec(&mut c, "DROP USER IF EXISTS 'weak'@'%'").await;
    exec(&mut c, "CREATE USER 'weak'@'%' IDENTIFIED BY 'weak'").await;
    exec(&mut c, "GRANT SELECT ON pier_test.* TO 'weak'@'%'").await;

    let mut cfg = fx.config("t_ok");
    cfg.user = "weak".into();
    cfg.password = "weak".into();
    let err = connect_err(cfg.clone()).await;
    let text = err.to_string();
    assert!(text.contains("GRANT REPLICATION SLAVE ON *.*"), "{text}");
    assert!(text.contains("GRANT BINLOG MONITOR ON *.*"), "{text}");

    exec(
        &mut c,
        "GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'weak'@'%'",
    )
    .await;
    // The GEOMETRY column is only a problem when delivered.
    let err = connect_err(cfg.clone()).await;
    assert!(err.to_string().contains("'g'"), "{err}");
    cfg.fields = [("id", "id"), ("v", "value")]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let src = connect(cfg.clone()).await;
    assert_eq!(src.table().output.len(), 2);

    // Table problems, all at once.
    let mut bad = fx.config("t_nopk");
    bad.fields = [("nope", "x")]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    bad.filter = Some("a = ".into());
    let err = connect_err(bad).await;
    let text = err.to_string();
    assert!(text.contains("has no PRIMARY KEY"), "{text}");
    assert!(
        text.contains("mapped column 'nope' does not exist"),
        "{text}"
    );
    assert!(text.contains("row filter"), "{text}");
    let err = connect_err(fx.config("no_such_table")).await;
    assert!(err.to_string().contains("does not exist"), "{err}");

    // Wrong password: a connect error naming the target.
    let mut wrong = fx.config("t_ok");
    wrong.password = "nope".into();
    match connect_err(wrong).await {
        SetupError::Connect { target, .. } => assert!(target.contains(&fx.port.to_string())),
        other => panic!("expected Connect, got {other}"),
    }
    // Duplicate of the server's own server_id.
    let mut same = fx.config("t_ok");
    same.server_id = 1;
    assert!(connect_err(same).await.to_string().contains("server_id"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_logged_change_to_the_table_stops_the_stream() {
    let _g = SERIAL.lock().await;
    let fx = Fixture::shared();
    let mut c = fx.conn().await;
    exec(
        &mut c,
        "CREATE TABLE IF NOT EXISTS t_stmt (id INT PRIMARY KEY, v INT)",
    )
    .await;
    let mut src = connect(fx.config("t_stmt")).await;
    let start = src.current_position().await.unwrap();
    let mut s = src.stream_from(start);
    let mut w = fx.conn().await;
    exec(&mut w, "SET SESSION binlog_format = 'STATEMENT'").await;
    exec(&mut w, "INSERT INTO t_stmt VALUES (1, 1)").await;
    let (err, _) = next_error(&mut s).await;
    match err {
        SourceError::StatementChange { statement, .. } => {
            assert!(statement.contains("INSERT INTO t_stmt"))
        }
        other => panic!("expected StatementChange, got {other}"),
    }
    let _ = w.disconnect().await;
    let _ = c.query_drop("DROP TABLE t_stmt").await;
}
