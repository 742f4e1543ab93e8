//! The binlog reader: a task that follows the binlog, groups row changes per transaction and
//! reconnects on its own.

use crate::config::SourceConfig;
use crate::convert::from_binlog;
use crate::ddl::{QueryKind, classify as classify_query};
use crate::error::{ErrorClass, SourceError, classify};
use crate::position::{GtidState, uuid_text};
use crate::schema::{TableInfo, check_table_map};
use crate::source::{Flavor, ServerInfo, make_change, open_conn, pk_string};
use crate::{Change, ChangeKind, Position, Transaction};
use futures_util::{Stream, StreamExt};
use mysql_async::binlog::events::{
    Event, EventData, QueryEvent, RotateEvent, RowsEventData, TableMapEvent,
};
use mysql_async::binlog::row::BinlogRow;
use mysql_async::prelude::*;
use mysql_async::{BinlogStream, BinlogStreamRequest, Conn, Sid};
use serde_json::Value as Json;
use std::collections::HashMap;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// How often the stream asks the server how far its binlog is ahead (for `bytes_behind`).
pub const LAG_POLL_INTERVAL: Duration = Duration::from_secs(5);

const QUERY_EVENT: u8 = 2;
const ROTATE_EVENT: u8 = 4;
const FORMAT_DESCRIPTION_EVENT: u8 = 15;
const XID_EVENT: u8 = 16;
const TABLE_MAP_EVENT: u8 = 19;
const HEARTBEAT_EVENT: u8 = 27;
const MYSQL_GTID_EVENT: u8 = 33;
const MYSQL_ANONYMOUS_GTID_EVENT: u8 = 34;
const PARTIAL_UPDATE_ROWS_EVENT: u8 = 39;
const XA_PREPARE_LOG_EVENT: u8 = 38;
const TRANSACTION_PAYLOAD_EVENT: u8 = 40;
const HEARTBEAT_EVENT_V2: u8 = 41;
const MYSQL_GTID_TAGGED_EVENT: u8 = 42;
const MARIADB_GTID_EVENT: u8 = 162;
const MARIADB_FIRST_COMPRESSED: u8 = 165;
const MARIADB_LAST_COMPRESSED: u8 = 171;
const MARIADB_FL_STANDALONE: u8 = 1;

/// Lag and throughput of a [`CdcStream`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamStats {
    /// End position of the last transaction handed to the consumer.
    pub position: Option<Position>,
    /// Transactions handed to the consumer (including empty progress transactions).
    pub transactions: u64,
    /// Changes handed to the consumer.
    pub changes: u64,
    /// Transactions decoded but not yet taken by the consumer.
    pub queued_transactions: usize,
    /// Commit time (server clock, seconds since the epoch) of the last transaction taken.
    pub last_commit_timestamp: Option<u32>,
    /// Seconds between the commit time of the last transaction taken and now; 0 when the
    /// consumer has taken everything the server has sent. `None` before the first transaction.
    pub seconds_behind: Option<u64>,
    /// Binlog bytes the server holds beyond `position` (polled every [`LAG_POLL_INTERVAL`]
    /// with `SHOW BINARY LOGS`; `None` until known). The server does not count events, so
    /// "events behind" is reported as bytes here and as `queued_transactions` locally.
    pub bytes_behind: Option<u64>,
    /// Reconnections so far.
    pub reconnects: u64,
    /// The reader currently has a binlog connection.
    pub connected: bool,
}

#[derive(Default)]
struct Shared {
    stats: Mutex<StreamStats>,
    reader_waiting: AtomicBool,
}

/// Committed transactions touching the synced table, in commit order (see
/// [`crate::MysqlSource::stream_from`]). Ends after yielding an error. Dropping it stops the
/// reader.
pub struct CdcStream {
    rx: mpsc::Receiver<Result<Transaction, SourceError>>,
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl CdcStream {
    pub(crate) fn start(
        cfg: Arc<SourceConfig>,
        server: ServerInfo,
        table: Arc<TableInfo>,
        from: Position,
    ) -> CdcStream {
        let (tx, rx) = mpsc::channel(cfg.queue_transactions.max(1));
        let shared = Arc::new(Shared::default());
        let reader = Reader::new(cfg.clone(), server, table, from, tx, shared.clone());
        let t1 = tokio::spawn(reader.run());
        let t2 = tokio::spawn(poll_lag(cfg, shared.clone()));
        CdcStream {
            rx,
            shared,
            tasks: vec![t1, t2],
        }
    }

    /// Current lag and counters.
    pub fn stats(&self) -> StreamStats {
        let mut s = self.shared.stats.lock().expect("stats lock").clone();
        s.queued_transactions = self.rx.len();
        let waiting = self.shared.reader_waiting.load(Ordering::Relaxed);
        s.seconds_behind = s.last_commit_timestamp.map(|ts| {
            if waiting && s.queued_transactions == 0 {
                0
            } else {
                now_secs().saturating_sub(ts as u64)
            }
        });
        s
    }
}

impl Drop for CdcStream {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Stream for CdcStream {
    type Item = Result<Transaction, SourceError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let r = self.rx.poll_recv(cx);
        if let Poll::Ready(Some(Ok(t))) = &r {
            let mut s = self.shared.stats.lock().expect("stats lock");
            s.position = Some(t.end_position.clone());
            s.transactions += 1;
            s.changes += t.changes.len() as u64;
            if t.timestamp > 0 {
                s.last_commit_timestamp = Some(t.timestamp);
            }
        }
        r
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn poll_lag(cfg: Arc<SourceConfig>, shared: Arc<Shared>) {
    let mut conn: Option<Conn> = None;
    loop {
        tokio::time::sleep(LAG_POLL_INTERVAL).await;
        let pos = shared.stats.lock().expect("stats lock").position.clone();
        let Some(pos) = pos else { continue };
        if conn.is_none() {
            conn = open_conn(&cfg).await.ok();
        }
        let Some(c) = conn.as_mut() else { continue };
        match c.query::<(String, u64), _>("SHOW BINARY LOGS").await {
            Ok(logs) => {
                let mut behind = 0u64;
                let mut found = false;
                for (name, size) in logs {
                    if name == pos.file {
                        found = true;
                        behind += size.saturating_sub(pos.pos);
                    } else if found {
                        behind += size;
                    }
                }
                shared.stats.lock().expect("stats lock").bytes_behind = found.then_some(behind);
            }
            Err(_) => conn = None,
        }
    }
}

enum Exit {
    /// The consumer dropped the stream.
    Closed,
    /// Deliver this error and stop.
    Fatal(Box<SourceError>),
    /// Reconnect; `progressed` when events were received (resets the backoff).
    Disconnected { message: String, progressed: bool },
}

/// Binlog file name of a ROTATE event. Before the connection's first FORMAT_DESCRIPTION the
/// parser does not know the checksum algorithm, so a ROTATE seen then (the artificial one that
/// starts every dump) still carries the 4 checksum bytes when the server checksums events.
/// (Guessing from the name's shape is not enough: the checksum bytes can themselves end in
/// `.<digit>`.)
fn rotate_name(raw: &[u8], checksum_left_on: bool) -> String {
    let name = if checksum_left_on && raw.len() > 4 {
        &raw[..raw.len() - 4]
    } else {
        raw
    };
    String::from_utf8_lossy(name).into_owned()
}

fn fatal(e: SourceError) -> Exit {
    Exit::Fatal(Box::new(e))
}

struct Reader {
    cfg: Arc<SourceConfig>,
    server: ServerInfo,
    table: Arc<TableInfo>,
    tx: mpsc::Sender<Result<Transaction, SourceError>>,
    shared: Arc<Shared>,
    /// Column indexes that are converted (delivered, primary key, filter).
    needed: Vec<usize>,
    /// Last transaction boundary processed: where a reconnect resumes.
    boundary: Position,
    gtid: GtidState,
    gtid_known: bool,
    // Per-connection state.
    file: String,
    /// Whether this connection has delivered its FORMAT_DESCRIPTION event (see [`rotate_name`]).
    format_seen: bool,
    in_txn: bool,
    pending: Vec<Change>,
    pending_gtid: Option<PendingGtid>,
    payload_end: Option<u64>,
    ours: HashMap<u64, bool>,
    last_sent: Instant,
    last_sent_pos: Option<Position>,
}

#[derive(Clone)]
enum PendingGtid {
    MariaDb { domain: u32, server: u32, seq: u64 },
    MySql { uuid: String, gno: u64 },
}

impl PendingGtid {
    fn text(&self) -> String {
        match self {
            PendingGtid::MariaDb {
                domain,
                server,
                seq,
            } => format!("{domain}-{server}-{seq}"),
            PendingGtid::MySql { uuid, gno } => format!("{uuid}:{gno}"),
        }
    }
}

impl Reader {
    fn new(
        cfg: Arc<SourceConfig>,
        server: ServerInfo,
        table: Arc<TableInfo>,
        from: Position,
        tx: mpsc::Sender<Result<Transaction, SourceError>>,
        shared: Arc<Shared>,
    ) -> Reader {
        let gtid = match (&from.gtid, server.flavor) {
            (Some(g), Flavor::MariaDb) => GtidState::parse_mariadb(g),
            (Some(g), Flavor::MySql) => GtidState::parse_mysql(g),
            (None, _) => None,
        };
        let gtid_known = gtid.is_some();
        let mut needed: Vec<usize> = table.output.iter().map(|(i, _)| *i).collect();
        needed.extend(table.pk.iter().copied());
        if let Some(f) = &table.filter {
            needed.extend(f.columns());
        }
        needed.sort_unstable();
        needed.dedup();
        Reader {
            needed,
            cfg,
            server,
            table,
            tx,
            shared,
            file: from.file.clone(),
            boundary: from,
            gtid: gtid.unwrap_or(GtidState::None),
            gtid_known,
            format_seen: false,
            in_txn: false,
            pending: Vec::new(),
            pending_gtid: None,
            payload_end: None,
            ours: HashMap::new(),
            last_sent: Instant::now(),
            last_sent_pos: None,
        }
    }

    fn target(&self) -> String {
        self.cfg.target()
    }

    async fn run(mut self) {
        let mut attempt: u32 = 0;
        loop {
            let exit = self.session().await;
            self.shared.stats.lock().expect("stats lock").connected = false;
            match exit {
                Exit::Closed => return,
                Exit::Fatal(e) => {
                    let _ = self.tx.send(Err(*e)).await;
                    return;
                }
                Exit::Disconnected {
                    message,
                    progressed,
                } => {
                    if progressed {
                        attempt = 0;
                    }
                    attempt += 1;
                    if let Some(max) = self.cfg.reconnect.max_attempts
                        && attempt > max
                    {
                        let _ = self
                            .tx
                            .send(Err(SourceError::Connection {
                                target: self.target(),
                                message: format!("gave up after {max} attempts: {message}"),
                            }))
                            .await;
                        return;
                    }
                    let delay = self.cfg.reconnect.delay(attempt);
                    tracing::warn!(
                        target_server = %self.target(),
                        resume = %self.boundary,
                        attempt,
                        ?delay,
                        "binlog connection lost: {message}; reconnecting"
                    );
                    self.shared.stats.lock().expect("stats lock").reconnects += 1;
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.tx.closed() => return,
                    }
                }
            }
        }
    }

    fn reset_connection_state(&mut self) {
        self.file = self.boundary.file.clone();
        self.format_seen = false;
        self.in_txn = false;
        self.pending.clear();
        self.pending_gtid = None;
        self.payload_end = None;
        self.ours.clear();
        if let Some(g) = &self.boundary.gtid {
            let parsed = match self.server.flavor {
                Flavor::MariaDb => GtidState::parse_mariadb(g),
                Flavor::MySql => GtidState::parse_mysql(g),
            };
            if let Some(p) = parsed {
                self.gtid = p;
                self.gtid_known = true;
            }
        }
    }

    async fn open(&mut self) -> Result<BinlogStream, Exit> {
        let target = self.cfg.target();
        let at = self.boundary.clone();
        let disc = move |e: mysql_async::Error| match classify(&e) {
            ErrorClass::Transient => Exit::Disconnected {
                message: e.to_string(),
                progressed: false,
            },
            ErrorClass::Fatal(m) => fatal(SourceError::Connection {
                target: target.clone(),
                message: m,
            }),
            ErrorClass::Purged(m) => fatal(SourceError::PositionPurged {
                position: at.clone(),
                message: m,
            }),
        };
        let mut conn = open_conn(&self.cfg).await.map_err(&disc)?;
        // Learn the GTID state at a file/pos start on MariaDB (cheap, exact).
        if !self.gtid_known
            && self.server.flavor == Flavor::MariaDb
            && let Some(g) = crate::source::gtid_at(
                &mut conn,
                Flavor::MariaDb,
                &self.boundary.file,
                self.boundary.pos,
            )
            .await
            && let Some(p) = GtidState::parse_mariadb(&g)
        {
            self.gtid = p;
            self.gtid_known = true;
            self.boundary.gtid = Some(g);
        }
        let hb_ns = self.cfg.heartbeat_secs.max(1) * 1_000_000_000;
        conn.query_drop(format!("SET @master_heartbeat_period = {hb_ns}"))
            .await
            .map_err(&disc)?;
        let by_gtid = self.cfg.resume_by_gtid && self.boundary.gtid.is_some();
        if self.server.flavor == Flavor::MariaDb {
            conn.query_drop("SET @mariadb_slave_capability = 4")
                .await
                .map_err(&disc)?;
            if by_gtid {
                let g = self.boundary.gtid.clone().unwrap_or_default();
                conn.exec_drop("SET @slave_connect_state = ?", (g,))
                    .await
                    .map_err(&disc)?;
                conn.query_drop("SET @slave_gtid_strict_mode = 1")
                    .await
                    .map_err(&disc)?;
                conn.query_drop("SET @slave_gtid_ignore_duplicates = 0")
                    .await
                    .map_err(&disc)?;
            }
        }
        let file = self.boundary.file.clone();
        let mut req = BinlogStreamRequest::new(self.cfg.server_id);
        let sids: Vec<Sid<'static>>;
        if by_gtid && self.server.flavor == Flavor::MySql {
            sids = self
                .boundary
                .gtid
                .as_deref()
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .filter_map(|s| Sid::from_str(s).ok())
                .collect();
            req = req.with_gtid().with_gtid_set(sids).with_pos(4);
        } else if by_gtid {
            req = req.with_filename(b"").with_pos(4);
        } else {
            req = req
                .with_filename(file.as_bytes())
                .with_pos(self.boundary.pos);
        }
        conn.get_binlog_stream(req).await.map_err(&disc)
    }

    async fn session(&mut self) -> Exit {
        self.reset_connection_state();
        let mut stream = match self.open().await {
            Ok(s) => s,
            Err(e) => return e,
        };
        self.shared.stats.lock().expect("stats lock").connected = true;
        tracing::info!(from = %self.boundary, table = %self.table.qualified(), "binlog stream started");
        let read_timeout = Duration::from_secs(self.cfg.heartbeat_secs.max(1) * 3 + 2);
        let mut progressed = false;
        loop {
            self.shared.reader_waiting.store(true, Ordering::Relaxed);
            let next = tokio::select! {
                r = tokio::time::timeout(read_timeout, stream.next()) => r,
                _ = self.tx.closed() => return Exit::Closed,
            };
            self.shared.reader_waiting.store(false, Ordering::Relaxed);
            let ev = match next {
                Err(_) => {
                    return Exit::Disconnected {
                        message: format!("no event or heartbeat for {read_timeout:?}"),
                        progressed,
                    };
                }
                Ok(None) => {
                    return Exit::Disconnected {
                        message: "the server ended the binlog stream".into(),
                        progressed,
                    };
                }
                Ok(Some(Err(e))) => {
                    return match classify(&e) {
                        ErrorClass::Transient => Exit::Disconnected {
                            message: e.to_string(),
                            progressed,
                        },
                        ErrorClass::Fatal(m) => fatal(SourceError::Connection {
                            target: self.target(),
                            message: m,
                        }),
                        ErrorClass::Purged(m) => fatal(SourceError::PositionPurged {
                            position: self.boundary.clone(),
                            message: m,
                        }),
                    };
                }
                Ok(Some(Ok(ev))) => ev,
            };
            progressed = true;
            match self.handle(&stream, ev).await {
                Ok(()) => {}
                Err(exit) => return exit,
            }
        }
    }

    fn decode_err(&self, message: String) -> Exit {
        fatal(SourceError::Decode {
            position: self.boundary.clone(),
            message,
        })
    }

    fn schema_changed(&self, reason: String, after: Position) -> Exit {
        fatal(SourceError::SchemaChanged {
            table: self.table.qualified(),
            reason,
            before: self.boundary.clone(),
            after,
        })
    }

    async fn handle(&mut self, stream: &BinlogStream, ev: Event) -> Result<(), Exit> {
        let h = ev.header();
        let ty = h.event_type_raw();
        let log_pos = h.log_pos() as u64;
        match ty {
            ROTATE_EVENT => {
                let r: RotateEvent<'_> = ev
                    .read_event()
                    .map_err(|e| self.decode_err(format!("ROTATE: {e}")))?;
                self.file = rotate_name(
                    r.name_raw(),
                    self.server.binlog_checksum && !self.format_seen,
                );
                if !self.in_txn {
                    let moved = self.file != self.boundary.file;
                    self.boundary = Position {
                        file: self.file.clone(),
                        pos: r.position(),
                        gtid: self.gtid_text(),
                    };
                    if moved {
                        tracing::debug!(file = %self.file, "binlog rotated");
                    }
                }
                Ok(())
            }
            FORMAT_DESCRIPTION_EVENT => {
                self.format_seen = true;
                Ok(())
            }
            HEARTBEAT_EVENT | HEARTBEAT_EVENT_V2 => Ok(()),
            MARIADB_GTID_EVENT => {
                let d = ev.data();
                if d.len() < 13 {
                    return Err(self.decode_err("short MariaDB GTID event".into()));
                }
                let seq = u64::from_le_bytes(d[0..8].try_into().expect("8 bytes"));
                let domain = u32::from_le_bytes(d[8..12].try_into().expect("4 bytes"));
                let flags = d[12];
                self.pending.clear();
                self.pending_gtid = Some(PendingGtid::MariaDb {
                    domain,
                    server: h.server_id(),
                    seq,
                });
                self.in_txn = flags & MARIADB_FL_STANDALONE == 0;
                Ok(())
            }
            MARIADB_FIRST_COMPRESSED..=MARIADB_LAST_COMPRESSED => Err(self.decode_err(format!(
                "compressed MariaDB event type {ty}; set log_bin_compress=OFF on the server"
            ))),
            MYSQL_GTID_EVENT | MYSQL_GTID_TAGGED_EVENT => {
                if let Ok(Some(EventData::GtidEvent(g))) = ev.read_data() {
                    self.pending_gtid = Some(PendingGtid::MySql {
                        uuid: uuid_text(&g.sid()),
                        gno: g.gno(),
                    });
                }
                self.pending.clear();
                Ok(())
            }
            MYSQL_ANONYMOUS_GTID_EVENT => {
                self.pending_gtid = None;
                self.pending.clear();
                Ok(())
            }
            XA_PREPARE_LOG_EVENT if !self.pending.is_empty() => Err(self.decode_err(
                "an XA transaction (XA START ... XA PREPARE) changed the table; XA transactions are not supported"
                    .into(),
            )),
            TRANSACTION_PAYLOAD_EVENT => {
                self.payload_end = Some(log_pos);
                Ok(())
            }
            QUERY_EVENT => {
                let q: QueryEvent<'_> = ev
                    .read_event()
                    .map_err(|e| self.decode_err(format!("QUERY: {e}")))?;
                let sql = q.query();
                let schema = q.schema();
                match classify_query(&sql, &schema, &self.table.database, &self.table.table) {
                    QueryKind::Begin => {
                        self.in_txn = true;
                        Ok(())
                    }
                    QueryKind::Commit | QueryKind::Rollback => {
                        self.commit(log_pos, h.timestamp()).await
                    }
                    QueryKind::Ddl { affects: true } => {
                        self.apply_pending_gtid();
                        let after = Position {
                            file: self.file.clone(),
                            pos: self.payload_end.unwrap_or(log_pos),
                            gtid: self.gtid_text(),
                        };
                        Err(self.schema_changed(sql.into_owned(), after))
                    }
                    QueryKind::Dml { affects: true } => Err(fatal(SourceError::StatementChange {
                        table: self.table.qualified(),
                        statement: sql.into_owned(),
                        position: self.boundary.clone(),
                    })),
                    _ => {
                        if !self.in_txn {
                            // A statement on its own (DDL elsewhere, GRANT, ...): a boundary.
                            self.commit(log_pos, h.timestamp()).await
                        } else {
                            Ok(())
                        }
                    }
                }
            }
            XID_EVENT => self.commit(log_pos, h.timestamp()).await,
            TABLE_MAP_EVENT => {
                let tme: TableMapEvent<'_> = ev
                    .read_event()
                    .map_err(|e| self.decode_err(format!("TABLE_MAP: {e}")))?;
                let is_ours = tme.database_name() == self.table.database.as_str()
                    && tme.table_name() == self.table.table.as_str();
                if is_ours && let Err(reason) = check_table_map(&self.table, &tme) {
                    let b = self.boundary.clone();
                    return Err(self.schema_changed(reason, b));
                }
                self.ours.insert(tme.table_id(), is_ours);
                Ok(())
            }
            _ => {
                if matches!(ty, 23..=25 | 30..=32 | PARTIAL_UPDATE_ROWS_EVENT) {
                    self.rows(stream, &ev)
                } else {
                    Ok(())
                }
            }
        }
    }

    fn gtid_text(&self) -> Option<String> {
        if self.gtid_known {
            self.gtid.to_text()
        } else {
            None
        }
    }

    fn apply_pending_gtid(&mut self) {
        match self.pending_gtid.take() {
            Some(PendingGtid::MariaDb {
                domain,
                server,
                seq,
            }) => self.gtid.add_mariadb(domain, server, seq),
            Some(PendingGtid::MySql { uuid, gno }) => self.gtid.add_mysql(&uuid, gno),
            None => {}
        }
    }

    async fn commit(&mut self, log_pos: u64, timestamp: u32) -> Result<(), Exit> {
        let txn_gtid = self.pending_gtid.as_ref().map(|g| g.text());
        self.apply_pending_gtid();
        let pos = self.payload_end.take().unwrap_or(log_pos);
        self.in_txn = false;
        if pos == 0 {
            // Should not happen on a real server; keep the old boundary rather than a bogus one.
            self.pending.clear();
            return Ok(());
        }
        self.boundary = Position {
            file: self.file.clone(),
            pos,
            gtid: self.gtid_text(),
        };
        let progress = self.cfg.progress_interval_ms > 0
            && self.last_sent.elapsed() >= Duration::from_millis(self.cfg.progress_interval_ms)
            && self.last_sent_pos.as_ref() != Some(&self.boundary);
        if self.pending.is_empty() && !progress {
            return Ok(());
        }
        let txn = Transaction {
            changes: std::mem::take(&mut self.pending),
            end_position: self.boundary.clone(),
            timestamp,
            gtid: txn_gtid,
        };
        self.last_sent = Instant::now();
        self.last_sent_pos = Some(self.boundary.clone());
        if self.tx.send(Ok(txn)).await.is_err() {
            return Err(Exit::Closed);
        }
        Ok(())
    }

    fn row_values(&self, row: Option<BinlogRow>, what: &str) -> Result<Vec<Json>, Exit> {
        let Some(row) = row else {
            return Err(self.decode_err(format!("rows event without its {what} image")));
        };
        let n = self.table.columns.len();
        if row.len() != n {
            return Err(self.decode_err(format!(
                "{what} image has {} of {n} columns: binlog_row_image is not FULL for the writing session (SET GLOBAL binlog_row_image='FULL' and reconnect writers)",
                row.len()
            )));
        }
        let mut vals = row.unwrap();
        let mut out = vec![Json::Null; n];
        for &i in &self.needed {
            let v = std::mem::replace(
                &mut vals[i],
                mysql_async::binlog::value::BinlogValue::Value(mysql_async::Value::NULL),
            );
            out[i] = from_binlog(&self.table.columns[i].kind, v).map_err(|e| {
                self.decode_err(format!("column '{}': {e}", self.table.columns[i].name))
            })?;
        }
        Ok(out)
    }

    fn matches(&self, row: &[Json]) -> bool {
        self.table.filter.as_ref().is_none_or(|f| f.matches(row))
    }

    fn rows(&mut self, stream: &BinlogStream, ev: &Event) -> Result<(), Exit> {
        let data = match ev.read_data() {
            Ok(Some(EventData::RowsEvent(r))) => r,
            Ok(_) => return Ok(()),
            Err(e) => return Err(self.decode_err(format!("rows event: {e}"))),
        };
        let table_id = data.table_id();
        match self.ours.get(&table_id) {
            Some(true) => {}
            Some(false) => return Ok(()),
            None => {
                return Err(self.decode_err(format!("rows event for unknown table id {table_id}")));
            }
        }
        let Some(tme) = stream.get_tme(table_id) else {
            return Err(self.decode_err(format!("no table map for table id {table_id}")));
        };
        let (is_write, is_update) = match &data {
            RowsEventData::WriteRowsEventV1(_) | RowsEventData::WriteRowsEvent(_) => (true, false),
            RowsEventData::UpdateRowsEventV1(_) | RowsEventData::UpdateRowsEvent(_) => {
                (false, true)
            }
            RowsEventData::PartialUpdateRowsEvent(_) => (false, true),
            RowsEventData::DeleteRowsEventV1(_) | RowsEventData::DeleteRowsEvent(_) => {
                (false, false)
            }
        };
        for r in data.rows(tme) {
            let (before, after) = r.map_err(|e| self.decode_err(format!("row image: {e}")))?;
            if is_write {
                let row = self.row_values(after, "after")?;
                if self.matches(&row) {
                    self.pending
                        .push(make_change(&self.table, ChangeKind::Upsert, &row));
                }
            } else if is_update {
                let old = self.row_values(before, "before")?;
                let new = self.row_values(after, "after")?;
                let (m_old, m_new) = (self.matches(&old), self.matches(&new));
                let pk_changed = pk_string(&self.table, &old) != pk_string(&self.table, &new);
                if m_old && (!m_new || pk_changed) {
                    self.pending
                        .push(make_change(&self.table, ChangeKind::Delete, &old));
                }
                if m_new {
                    self.pending
                        .push(make_change(&self.table, ChangeKind::Upsert, &new));
                }
            } else {
                let old = self.row_values(before, "before")?;
                if self.matches(&old) {
                    self.pending
                        .push(make_change(&self.table, ChangeKind::Delete, &old));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::rotate_name;

    #[test]
    fn rotate_names() {
        assert_eq!(rotate_name(b"binlog.000002", false), "binlog.000002");
        assert_eq!(
            rotate_name(b"binlog.000002\x8a\x01\xff\x10", true),
            "binlog.000002"
        );
        // Checksum bytes that happen to end in `.<digit>` (seen in a test run as
        // `binlog.000001tU.7`).
        assert_eq!(rotate_name(b"binlog.000001tU.7", true), "binlog.000001");
        assert_eq!(rotate_name(b"mysql-bin.000123", false), "mysql-bin.000123");
    }
}
