//! `MysqlSource`: connection, server checks, snapshot.

use crate::config::{SnapshotMode, SourceConfig};
use crate::convert::from_row_value;
use crate::error::{SetupError, SetupProblem, SourceError};
use crate::schema::{TableInfo, load_table, quote_ident};
use crate::stream::CdcStream;
use crate::{Change, ChangeKind, Position};
use futures_util::Stream;
use mysql_async::prelude::*;
use mysql_async::{Conn, Row, Value};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use std::collections::{BTreeMap, BTreeSet};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;

/// Server flavor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Flavor {
    /// MariaDB (native GTIDs `domain-server-seq`).
    MariaDb,
    /// MySQL (GTIDs `uuid:n` when `gtid_mode=ON`).
    MySql,
}

/// What [`MysqlSource::check_server`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// MariaDB or MySQL.
    pub flavor: Flavor,
    /// `SELECT VERSION()`.
    pub version: String,
    /// The server's own `server_id`.
    pub server_id: u32,
    /// Binlog events carry CRC32 checksums.
    pub binlog_checksum: bool,
    /// GTIDs are available (MariaDB: always; MySQL: `gtid_mode=ON`).
    pub gtid: bool,
    /// The server's binlog end when checked (`SHOW MASTER STATUS`).
    pub position: Position,
}

/// A MySQL/MariaDB change source for one table.
pub struct MysqlSource {
    cfg: Arc<SourceConfig>,
    conn: Option<Conn>,
    info: ServerInfo,
    table: Arc<TableInfo>,
}

pub(crate) async fn open_conn(cfg: &SourceConfig) -> Result<Conn, mysql_async::Error> {
    let fut = Conn::new(cfg.opts());
    match tokio::time::timeout(Duration::from_secs(cfg.connect_timeout_secs.max(1)), fut).await {
        Ok(r) => r,
        Err(_) => Err(mysql_async::Error::Io(mysql_async::IoError::Io(
            std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"),
        ))),
    }
}

fn qerr(e: mysql_async::Error) -> SetupError {
    SetupError::Query(e.to_string())
}

async fn variables(
    conn: &mut Conn,
    names: &[&str],
) -> Result<BTreeMap<String, String>, SetupError> {
    let list = names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(",");
    let rows: Vec<(String, String)> = conn
        .query(format!(
            "SHOW GLOBAL VARIABLES WHERE Variable_name IN ({list})"
        ))
        .await
        .map_err(qerr)?;
    let m: BTreeMap<String, String> = rows
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    Ok(m)
}

/// `SHOW MASTER STATUS` (MySQL 8.4: `SHOW BINARY LOG STATUS`) → file, position.
pub(crate) async fn master_status(
    conn: &mut Conn,
) -> Result<Option<(String, u64)>, mysql_async::Error> {
    let row: Option<Row> = match conn.query_first("SHOW MASTER STATUS").await {
        Ok(r) => r,
        Err(mysql_async::Error::Server(e)) if e.code == 1064 => {
            conn.query_first("SHOW BINARY LOG STATUS").await?
        }
        Err(e) => return Err(e),
    };
    Ok(row.and_then(|mut r| {
        let file: Option<String> = r.take(0);
        let pos: Option<u64> = r.take(1);
        Some((file?, pos?))
    }))
}

async fn global_privileges(conn: &mut Conn) -> Option<BTreeSet<String>> {
    let rows: Vec<String> = conn.query("SHOW GRANTS FOR CURRENT_USER()").await.ok()?;
    let mut set = BTreeSet::new();
    for g in rows {
        let up = g.to_ascii_uppercase();
        let Some(rest) = up.strip_prefix("GRANT ") else {
            continue;
        };
        let Some(on) = rest.find(" ON ") else {
            continue;
        };
        let target = rest[on + 4..].trim_start();
        if !target.starts_with("*.*") {
            continue;
        }
        for p in rest[..on].split(',') {
            set.insert(p.trim().to_string());
        }
    }
    Some(set)
}

impl MysqlSource {
    /// Connect, then run [`MysqlSource::check_server`]: fails with every problem found (server
    /// settings, privileges, table) and how to fix each.
    pub async fn connect(cfg: SourceConfig) -> Result<MysqlSource, SetupError> {
        let conn = open_conn(&cfg).await.map_err(|e| SetupError::Connect {
            target: cfg.target(),
            user: cfg.user.clone(),
            message: e.to_string(),
        })?;
        let mut src = MysqlSource {
            cfg: Arc::new(cfg),
            conn: Some(conn),
            info: ServerInfo {
                flavor: Flavor::MySql,
                version: String::new(),
                server_id: 0,
                binlog_checksum: false,
                gtid: false,
                position: Position::new("", 4),
            },
            table: Arc::new(TableInfo {
                database: String::new(),
                table: String::new(),
                columns: vec![],
                pk: vec![],
                output: vec![],
                filter: None,
                pk_separator: String::new(),
            }),
        };
        src.check_server().await?;
        Ok(src)
    }

    async fn conn(&mut self) -> Result<&mut Conn, SetupError> {
        let alive = match self.conn.as_mut() {
            Some(c) => c.ping().await.is_ok(),
            None => false,
        };
        if !alive {
            let c = open_conn(&self.cfg)
                .await
                .map_err(|e| SetupError::Connect {
                    target: self.cfg.target(),
                    user: self.cfg.user.clone(),
                    message: e.to_string(),
                })?;
            self.conn = Some(c);
        }
        Ok(self.conn.as_mut().expect("connected"))
    }

    /// Check everything binlog sync needs and (re)load the table's columns. Returns all
    /// problems at once, each with its fix: `log_bin`, `binlog_format=ROW`,
    /// `binlog_row_image=FULL`, server ids, MariaDB `log_bin_compress=OFF`, MySQL
    /// `binlog_row_value_options=''` (and `gtid_mode=ON` when resuming by GTID), the
    /// privileges `REPLICATION SLAVE` and `REPLICATION CLIENT`/`BINLOG MONITOR` (+ `RELOAD` for a
    /// locking snapshot), `SELECT` on the table, a primary key, the mapped columns and the filter.
    pub async fn check_server(&mut self) -> Result<ServerInfo, SetupError> {
        let cfg = self.cfg.clone();
        let conn = self.conn().await?;
        let version: String = conn
            .query_first("SELECT VERSION()")
            .await
            .map_err(qerr)?
            .unwrap_or_default();
        let flavor = if version.to_ascii_lowercase().contains("mariadb") {
            Flavor::MariaDb
        } else {
            Flavor::MySql
        };
        let vars = variables(
            conn,
            &[
                "log_bin",
                "binlog_format",
                "binlog_row_image",
                "server_id",
                "binlog_checksum",
                "log_bin_compress",
                "binlog_row_value_options",
                "gtid_mode",
            ],
        )
        .await?;
        let get = |k: &str| {
            vars.get(k)
                .map(|s| s.to_ascii_uppercase())
                .unwrap_or_default()
        };
        let mut problems = Vec::new();
        let mycnf = |line: &str| {
            format!("and put `{line}` under [mysqld] in my.cnf so it survives a restart")
        };
        let log_bin = get("log_bin");
        if log_bin != "ON" && log_bin != "1" {
            problems.push(SetupProblem {
                what: format!("binary logging is off (log_bin={})", if log_bin.is_empty() { "OFF" } else { &log_bin }),
                fix: "add `log_bin=mysql-bin` and `server_id=1` under [mysqld] in my.cnf and restart the server (log_bin cannot be changed at run time)".into(),
            });
        }
        let fmt = get("binlog_format");
        if fmt != "ROW" {
            problems.push(SetupProblem {
                what: format!("binlog_format is {fmt}; row-based logging is required"),
                fix: format!(
                    "SET GLOBAL binlog_format = 'ROW'; {} (connections opened before keep their format until they reconnect)",
                    mycnf("binlog_format=ROW")
                ),
            });
        }
        let image = get("binlog_row_image");
        if image != "FULL" {
            problems.push(SetupProblem {
                what: format!(
                    "binlog_row_image is {image}; full before/after row images are required"
                ),
                fix: format!(
                    "SET GLOBAL binlog_row_image = 'FULL'; {}",
                    mycnf("binlog_row_image=FULL")
                ),
            });
        }
        let server_id: u32 = vars
            .get("server_id")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if server_id == 0 {
            problems.push(SetupProblem {
                what: "the server's server_id is 0, so it cannot serve replicas".into(),
                fix: format!("SET GLOBAL server_id = 1; {}", mycnf("server_id=1")),
            });
        }
        if cfg.server_id == 0 || cfg.server_id == server_id {
            problems.push(SetupProblem {
                what: format!(
                    "the source's server_id {} must not be 0 nor the server's own server_id",
                    cfg.server_id
                ),
                fix: "pick another server_id for this source, unique among the server's replicas"
                    .into(),
            });
        }
        if flavor == Flavor::MariaDb && matches!(get("log_bin_compress").as_str(), "ON" | "1") {
            problems.push(SetupProblem {
                what: "log_bin_compress is ON; compressed binlog events cannot be decoded".into(),
                fix: format!(
                    "SET GLOBAL log_bin_compress = OFF; {}",
                    mycnf("log_bin_compress=OFF")
                ),
            });
        }
        if flavor == Flavor::MySql && get("binlog_row_value_options").contains("PARTIAL_JSON") {
            problems.push(SetupProblem {
                what: "binlog_row_value_options=PARTIAL_JSON logs JSON updates as diffs".into(),
                fix: format!(
                    "SET GLOBAL binlog_row_value_options = ''; {}",
                    mycnf("binlog_row_value_options=''")
                ),
            });
        }
        let gtid = match flavor {
            Flavor::MariaDb => true,
            Flavor::MySql => get("gtid_mode") == "ON",
        };
        if cfg.resume_by_gtid && !gtid {
            problems.push(SetupProblem {
                what: "resume_by_gtid is set but the server's gtid_mode is not ON".into(),
                fix: "enable GTIDs (gtid_mode=ON, enforce_gtid_consistency=ON) or set resume_by_gtid=false".into(),
            });
        }
        let checksum = get("binlog_checksum") != "NONE" && !get("binlog_checksum").is_empty();

        // Privileges.
        if let Some(privs) = global_privileges(conn).await {
            let has = |p: &[&str]| {
                privs.contains("ALL PRIVILEGES")
                    || privs.contains("ALL")
                    || p.iter().any(|x| privs.contains(*x))
            };
            let user = format!("'{}'@'%'", cfg.user);
            if !has(&["REPLICATION SLAVE"]) {
                problems.push(SetupProblem {
                    what: format!("user '{}' lacks the REPLICATION SLAVE privilege (needed to read the binlog)", cfg.user),
                    fix: format!("GRANT REPLICATION SLAVE ON *.* TO {user}"),
                });
            }
            if !has(&["REPLICATION CLIENT", "BINLOG MONITOR", "SUPER"]) {
                let p = if flavor == Flavor::MariaDb {
                    "BINLOG MONITOR"
                } else {
                    "REPLICATION CLIENT"
                };
                problems.push(SetupProblem {
                    what: format!("user '{}' lacks the {p} privilege (needed for SHOW MASTER STATUS / SHOW BINARY LOGS)", cfg.user),
                    fix: format!("GRANT {p} ON *.* TO {user}"),
                });
            }
            let locking = match cfg.snapshot_mode {
                SnapshotMode::GlobalReadLock => true,
                SnapshotMode::ConsistentSnapshot => false,
                SnapshotMode::Auto => flavor == Flavor::MySql,
            };
            if locking && !has(&["RELOAD"]) {
                problems.push(SetupProblem {
                    what: format!("user '{}' lacks the RELOAD privilege (the snapshot takes FLUSH TABLES WITH READ LOCK for a moment)", cfg.user),
                    fix: format!("GRANT RELOAD ON *.* TO {user}"),
                });
            }
        }
        if cfg.snapshot_mode == SnapshotMode::ConsistentSnapshot && flavor == Flavor::MySql {
            problems.push(SetupProblem {
                what: "snapshot_mode consistent_snapshot needs MariaDB (MySQL has no binlog_snapshot_* status)".into(),
                fix: "use snapshot_mode auto or global_read_lock".into(),
            });
        }
        let mut table_problems = Vec::new();
        let table = load_table(conn, &cfg, &mut table_problems)
            .await
            .map_err(qerr)?;
        if table.is_some() {
            let probe = format!(
                "SELECT 1 FROM {}.{} LIMIT 0",
                quote_ident(&cfg.database),
                quote_ident(&cfg.table)
            );
            if let Err(e) = conn.query_drop(probe).await {
                table_problems.push(SetupProblem {
                    what: format!("cannot read {}.{}: {e}", cfg.database, cfg.table),
                    fix: format!(
                        "GRANT SELECT ON {}.{} TO '{}'@'%'",
                        quote_ident(&cfg.database),
                        quote_ident(&cfg.table),
                        cfg.user
                    ),
                });
            }
        }
        problems.extend(table_problems);
        let position = match master_status(conn).await {
            Ok(Some((f, p))) => Position::new(f, p),
            Ok(None) => Position::new("", 4),
            Err(e) => {
                if !problems.iter().any(|p| p.what.contains("privilege")) {
                    problems.push(SetupProblem {
                        what: format!("SHOW MASTER STATUS failed: {e}"),
                        fix: "GRANT REPLICATION CLIENT (MariaDB: BINLOG MONITOR) ON *.* to the sync user".into(),
                    });
                }
                Position::new("", 4)
            }
        };
        if !problems.is_empty() {
            return Err(SetupError::Problems(problems));
        }
        self.info = ServerInfo {
            flavor,
            version,
            server_id,
            binlog_checksum: checksum,
            gtid,
            position,
        };
        self.table = Arc::new(table.expect("no problems means the table loaded"));
        tracing::info!(
            server = %self.cfg.target(),
            version = %self.info.version,
            table = %self.table.qualified(),
            "MySQL/MariaDB source ready"
        );
        Ok(self.info.clone())
    }

    /// Re-read the table's columns from `information_schema` (after
    /// [`SourceError::SchemaChanged`]); streams started later use the new columns.
    pub async fn reload_schema(&mut self) -> Result<(), SetupError> {
        let cfg = self.cfg.clone();
        let conn = self.conn().await?;
        let mut problems = Vec::new();
        match load_table(conn, &cfg, &mut problems).await.map_err(qerr)? {
            Some(t) if problems.is_empty() => {
                self.table = Arc::new(t);
                Ok(())
            }
            _ => Err(SetupError::Problems(problems)),
        }
    }

    /// What `check_server` found.
    pub fn server_info(&self) -> &ServerInfo {
        &self.info
    }

    /// The synced table's columns, primary key and field mapping.
    pub fn table(&self) -> &TableInfo {
        &self.table
    }

    /// The configuration.
    pub fn config(&self) -> &SourceConfig {
        &self.cfg
    }

    /// The server's current binlog end (not tied to any snapshot; for "start from now").
    pub async fn current_position(&mut self) -> Result<Position, SourceError> {
        let flavor = self.info.flavor;
        let conn = self.conn().await?;
        let (file, pos) = master_status(conn)
            .await
            .map_err(|e| SourceError::Snapshot(e.to_string()))?
            .ok_or_else(|| SourceError::Snapshot("binary logging is off".into()))?;
        let gtid = gtid_at(conn, flavor, &file, pos).await;
        Ok(Position { file, pos, gtid })
    }

    /// Open a consistent snapshot of the table and stream it in primary-key order, `batch_rows`
    /// rows per query (keyset pagination inside one REPEATABLE READ transaction). Rows are
    /// mapped and filtered like binlog rows. The returned stream's [`SnapshotStream::position`]
    /// is exactly where the snapshot stands in the binlog: stream changes from there.
    pub async fn snapshot(&self, batch_rows: usize) -> Result<SnapshotStream, SourceError> {
        let batch_rows = batch_rows.max(1);
        let serr = |e: mysql_async::Error| SourceError::Snapshot(e.to_string());
        let mut conn = open_conn(&self.cfg).await.map_err(serr)?;
        for sql in [
            "SET NAMES utf8mb4",
            "SET time_zone = '+00:00'",
            "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        ] {
            conn.query_drop(sql).await.map_err(serr)?;
        }
        let mode = match self.cfg.snapshot_mode {
            SnapshotMode::Auto if self.info.flavor == Flavor::MariaDb => {
                SnapshotMode::ConsistentSnapshot
            }
            SnapshotMode::Auto => SnapshotMode::GlobalReadLock,
            m => m,
        };
        let position = match mode {
            SnapshotMode::ConsistentSnapshot => {
                conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT")
                    .await
                    .map_err(serr)?;
                let rows: Vec<(String, String)> = conn
                    .query("SHOW STATUS LIKE 'binlog_snapshot_%'")
                    .await
                    .map_err(serr)?;
                let m: BTreeMap<String, String> = rows
                    .into_iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v))
                    .collect();
                let file = m.get("binlog_snapshot_file").cloned().unwrap_or_default();
                let pos: u64 = m
                    .get("binlog_snapshot_position")
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0);
                if file.is_empty() || pos == 0 {
                    return Err(SourceError::Snapshot(
                        "the server did not report binlog_snapshot_file/position (is log_bin on?)"
                            .into(),
                    ));
                }
                let gtid = gtid_at(&mut conn, self.info.flavor, &file, pos).await;
                Position { file, pos, gtid }
            }
            _ => {
                conn.query_drop("FLUSH TABLES WITH READ LOCK")
                    .await
                    .map_err(serr)?;
                let res = async {
                    conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT")
                        .await?;
                    let st = master_status(&mut conn).await?;
                    let gtid: Option<String> = match self.info.flavor {
                        Flavor::MariaDb => {
                            conn.query_first("SELECT @@GLOBAL.gtid_binlog_pos").await?
                        }
                        Flavor::MySql if self.info.gtid => {
                            conn.query_first("SELECT @@GLOBAL.gtid_executed").await?
                        }
                        Flavor::MySql => None,
                    };
                    Ok::<_, mysql_async::Error>((st, gtid))
                }
                .await;
                let unlock = conn.query_drop("UNLOCK TABLES").await;
                let (st, gtid) = res.map_err(serr)?;
                unlock.map_err(serr)?;
                let (file, pos) =
                    st.ok_or_else(|| SourceError::Snapshot("binary logging is off".into()))?;
                Position {
                    file,
                    pos,
                    gtid: gtid.map(|g| g.replace(['\n', ' '], "")),
                }
            }
        };
        tracing::info!(%position, table = %self.table.qualified(), "snapshot opened");
        let (tx, rx) = mpsc::channel(2);
        let table = self.table.clone();
        let pos2 = position.clone();
        let task = tokio::spawn(async move {
            if let Err(e) = run_snapshot(conn, table, batch_rows, pos2, &tx).await {
                let _ = tx.send(Err(e)).await;
            }
        });
        Ok(SnapshotStream { rx, position, task })
    }

    /// Stream committed transactions that touch the table, starting with the first one after
    /// `from`. Reconnects (with backoff) on its own; ends after yielding an error.
    pub fn stream_from(&self, from: Position) -> CdcStream {
        CdcStream::start(
            self.cfg.clone(),
            self.info.clone(),
            self.table.clone(),
            from,
        )
    }

    /// Close the control connection.
    pub async fn disconnect(mut self) {
        if let Some(c) = self.conn.take() {
            let _ = c.disconnect().await;
        }
    }
}

pub(crate) async fn gtid_at(
    conn: &mut Conn,
    flavor: Flavor,
    file: &str,
    pos: u64,
) -> Option<String> {
    match flavor {
        Flavor::MariaDb => conn
            .exec_first::<Option<String>, _, _>("SELECT BINLOG_GTID_POS(?, ?)", (file, pos))
            .await
            .ok()
            .flatten()
            .flatten(),
        Flavor::MySql => None,
    }
}

/// One batch of snapshot rows, all [`ChangeKind::Upsert`].
#[derive(Debug, Clone)]
pub struct SnapshotBatch {
    /// Mapped, filtered rows in primary-key order.
    pub changes: Vec<Change>,
    /// Rows read by this batch's query (before the filter).
    pub rows_read: usize,
    /// The snapshot's binlog position (the same in every batch).
    pub position: Position,
    /// The last batch: after it, stream changes from `position`.
    pub last: bool,
}

/// The snapshot's batches, ending with one whose `last` is true. Dropping it ends the snapshot
/// transaction.
pub struct SnapshotStream {
    rx: mpsc::Receiver<Result<SnapshotBatch, SourceError>>,
    position: Position,
    task: tokio::task::JoinHandle<()>,
}

impl SnapshotStream {
    /// Where the snapshot stands in the binlog.
    pub fn position(&self) -> &Position {
        &self.position
    }
}

impl Drop for SnapshotStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Stream for SnapshotStream {
    type Item = Result<SnapshotBatch, SourceError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

async fn run_snapshot(
    mut conn: Conn,
    table: Arc<TableInfo>,
    batch_rows: usize,
    position: Position,
    tx: &mpsc::Sender<Result<SnapshotBatch, SourceError>>,
) -> Result<(), SourceError> {
    let serr = |e: mysql_async::Error| SourceError::Snapshot(e.to_string());
    let mut needed: Vec<usize> = table.output.iter().map(|(i, _)| *i).collect();
    needed.extend(table.pk.iter().copied());
    if let Some(f) = &table.filter {
        needed.extend(f.columns());
    }
    needed.sort_unstable();
    needed.dedup();
    let cols = needed
        .iter()
        .map(|&i| quote_ident(&table.columns[i].name))
        .collect::<Vec<_>>()
        .join(", ");
    let from = format!(
        "{}.{}",
        quote_ident(&table.database),
        quote_ident(&table.table)
    );
    let order = table
        .pk
        .iter()
        .map(|&i| quote_ident(&table.columns[i].name))
        .collect::<Vec<_>>()
        .join(", ");
    // (a > ?) OR (a = ? AND b > ?) OR ...
    let mut disj = Vec::new();
    for k in 0..table.pk.len() {
        let mut parts: Vec<String> = table.pk[..k]
            .iter()
            .map(|&i| format!("{} = ?", quote_ident(&table.columns[i].name)))
            .collect();
        parts.push(format!(
            "{} > ?",
            quote_ident(&table.columns[table.pk[k]].name)
        ));
        disj.push(format!("({})", parts.join(" AND ")));
    }
    let first_sql = format!("SELECT {cols} FROM {from} ORDER BY {order} LIMIT {batch_rows}");
    let next_sql = format!(
        "SELECT {cols} FROM {from} WHERE {} ORDER BY {order} LIMIT {batch_rows}",
        disj.join(" OR ")
    );
    let pk_pos: Vec<usize> = table
        .pk
        .iter()
        .map(|i| needed.iter().position(|n| n == i).expect("pk is selected"))
        .collect();
    let mut last_key: Option<Vec<Value>> = None;
    loop {
        let rows: Vec<Row> = match &last_key {
            None => conn.exec(first_sql.as_str(), ()).await.map_err(serr)?,
            Some(key) => {
                let mut params = Vec::new();
                for k in 0..key.len() {
                    params.extend(key[..=k].iter().cloned());
                }
                conn.exec(next_sql.as_str(), params).await.map_err(serr)?
            }
        };
        let n = rows.len();
        let mut changes = Vec::with_capacity(n);
        let mut full = vec![Json::Null; table.columns.len()];
        for row in rows {
            let mut vals = row.unwrap();
            last_key = Some(pk_pos.iter().map(|&p| vals[p].clone()).collect());
            for (k, &ci) in needed.iter().enumerate() {
                let v = std::mem::replace(&mut vals[k], Value::NULL);
                full[ci] = from_row_value(&table.columns[ci].kind, v).map_err(|e| {
                    SourceError::Snapshot(format!("column '{}': {e}", table.columns[ci].name))
                })?;
            }
            if let Some(f) = &table.filter
                && !f.matches(&full)
            {
                continue;
            }
            changes.push(make_change(&table, ChangeKind::Upsert, &full));
        }
        let last = n < batch_rows;
        let batch = SnapshotBatch {
            changes,
            rows_read: n,
            position: position.clone(),
            last,
        };
        if tx.send(Ok(batch)).await.is_err() {
            return Ok(());
        }
        if last {
            let _ = conn.query_drop("COMMIT").await;
            let _ = conn.disconnect().await;
            return Ok(());
        }
    }
}

/// The primary key string of a converted row.
pub(crate) fn pk_string(table: &TableInfo, row: &[Json]) -> String {
    let mut s = String::new();
    for (n, &i) in table.pk.iter().enumerate() {
        if n > 0 {
            s.push_str(&table.pk_separator);
        }
        match &row[i] {
            Json::String(x) => s.push_str(x),
            Json::Null => {}
            other => s.push_str(&other.to_string()),
        }
    }
    s
}

pub(crate) fn make_change(table: &TableInfo, kind: ChangeKind, row: &[Json]) -> Change {
    let mut fields = Map::with_capacity(table.output.len());
    for (i, name) in &table.output {
        fields.insert(name.clone(), row[*i].clone());
    }
    Change {
        kind,
        pk: pk_string(table, row),
        fields,
    }
}
