//! Configuration of one MySQL / MariaDB sync source (one table).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Default number of transactions the binlog reader may run ahead of the consumer.
pub const DEFAULT_QUEUE_TRANSACTIONS: usize = 256;
/// Default heartbeat period asked from the server; the reader reconnects after 3 missed periods.
pub const DEFAULT_HEARTBEAT_SECS: u64 = 5;
/// Default interval at which an empty [`crate::Transaction`] reports progress over binlog traffic
/// that did not touch the synced table.
pub const DEFAULT_PROGRESS_INTERVAL_MS: u64 = 1000;
/// Default separator between the values of a composite primary key in [`crate::Change::pk`].
pub const DEFAULT_PK_SEPARATOR: &str = "|";

/// One sync source: which server, which table, how columns become pier fields.
///
/// Deserializable from JSON/TOML; every field except `user`, `database`, `table` and `server_id`
/// has a default.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Server host name or IP address (default `127.0.0.1`).
    #[serde(default = "default_host")]
    pub host: String,
    /// Server TCP port (default 3306).
    #[serde(default = "default_port")]
    pub port: u16,
    /// Unix socket path; when set it is used instead of `host`/`port`.
    #[serde(default)]
    pub socket: Option<String>,
    /// User name. Needs `REPLICATION SLAVE`, `REPLICATION CLIENT` (MariaDB: `BINLOG MONITOR`) and
    /// `SELECT` on the table; MySQL snapshots also need `RELOAD` (for `FLUSH TABLES WITH READ LOCK`).
    pub user: String,
    /// Password (default empty).
    #[serde(default)]
    pub password: String,
    /// Database (schema) of the synced table.
    pub database: String,
    /// The synced table. It must have a PRIMARY KEY.
    pub table: String,
    /// Column → pier field name. Empty (the default): every column, under its own name.
    /// Not empty: only the listed columns are delivered, renamed as given.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// Optional row filter: rows that do not match are not delivered (see [`crate::filter`]).
    /// Conjunctions of `column op literal`, e.g. `status = 1 AND deleted IS NULL`.
    #[serde(default)]
    pub filter: Option<String>,
    /// Replica server id announced to the server; must be unique among the server's replicas
    /// and differ from the server's own `server_id`.
    pub server_id: u32,
    /// How the initial snapshot finds its binlog position (default: by server flavor).
    #[serde(default)]
    pub snapshot_mode: SnapshotMode,
    /// Resume the binlog by GTID instead of file/position (needs GTIDs on the server: MariaDB
    /// always has them; MySQL needs `gtid_mode=ON`). Default false: file + position.
    #[serde(default)]
    pub resume_by_gtid: bool,
    /// Separator between values of a composite primary key in [`crate::Change::pk`] (default `|`).
    #[serde(default = "default_pk_separator")]
    pub pk_separator: String,
    /// Reconnection after a lost connection.
    #[serde(default)]
    pub reconnect: ReconnectPolicy,
    /// Heartbeat period asked from the server (seconds, default 5). The reader treats 3 missed
    /// periods as a dead connection and reconnects.
    #[serde(default = "default_heartbeat")]
    pub heartbeat_secs: u64,
    /// Timeout for establishing a connection (seconds, default 10).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
    /// How many decoded transactions the reader may run ahead of the consumer (default 256).
    #[serde(default = "default_queue")]
    pub queue_transactions: usize,
    /// An empty transaction carrying the current position is delivered at most this often (ms,
    /// default 1000) while the binlog moves without touching the synced table, so the consumer can
    /// checkpoint and does not fall behind `PURGE BINARY LOGS`. 0 disables it.
    #[serde(default = "default_progress")]
    pub progress_interval_ms: u64,
}

/// How the snapshot obtains a binlog position consistent with the data it reads.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotMode {
    /// MariaDB: `ConsistentSnapshot`; MySQL: `GlobalReadLock`.
    #[default]
    Auto,
    /// MariaDB only: `START TRANSACTION WITH CONSISTENT SNAPSHOT` and the status variables
    /// `binlog_snapshot_file` / `binlog_snapshot_position`. Takes no lock at all.
    ConsistentSnapshot,
    /// `FLUSH TABLES WITH READ LOCK`, `START TRANSACTION WITH CONSISTENT SNAPSHOT`,
    /// `SHOW MASTER STATUS` (+ GTID state), `UNLOCK TABLES`. Writes block for the few
    /// milliseconds between lock and unlock. Needs the `RELOAD` privilege.
    GlobalReadLock,
}

/// Exponential backoff for reconnecting the binlog stream.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ReconnectPolicy {
    /// First delay (ms, default 200).
    #[serde(default = "default_initial_ms")]
    pub initial_delay_ms: u64,
    /// Longest delay (ms, default 30000); delays double up to this.
    #[serde(default = "default_max_ms")]
    pub max_delay_ms: u64,
    /// Give up after this many consecutive failed attempts and end the stream with
    /// [`crate::SourceError::Connection`]. `None` (default): never give up.
    #[serde(default)]
    pub max_attempts: Option<u32>,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            initial_delay_ms: default_initial_ms(),
            max_delay_ms: default_max_ms(),
            max_attempts: None,
        }
    }
}

impl ReconnectPolicy {
    /// Delay before attempt number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let shift = attempt.saturating_sub(1).min(20);
        let ms = self
            .initial_delay_ms
            .saturating_mul(1u64 << shift)
            .min(self.max_delay_ms.max(self.initial_delay_ms));
        Duration::from_millis(ms)
    }
}

fn default_host() -> String {
    "127.0.0.1".into()
}
fn default_port() -> u16 {
    3306
}
fn default_pk_separator() -> String {
    DEFAULT_PK_SEPARATOR.into()
}
fn default_heartbeat() -> u64 {
    DEFAULT_HEARTBEAT_SECS
}
fn default_connect_timeout() -> u64 {
    10
}
fn default_queue() -> usize {
    DEFAULT_QUEUE_TRANSACTIONS
}
fn default_progress() -> u64 {
    DEFAULT_PROGRESS_INTERVAL_MS
}
fn default_initial_ms() -> u64 {
    200
}
fn default_max_ms() -> u64 {
    30_000
}

impl SourceConfig {
    /// A config with defaults for everything but the connection and the table.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        user: impl Into<String>,
        password: impl Into<String>,
        database: impl Into<String>,
        table: impl Into<String>,
        server_id: u32,
    ) -> Self {
        SourceConfig {
            host: host.into(),
            port,
            socket: None,
            user: user.into(),
            password: password.into(),
            database: database.into(),
            table: table.into(),
            fields: BTreeMap::new(),
            filter: None,
            server_id,
            snapshot_mode: SnapshotMode::Auto,
            resume_by_gtid: false,
            pk_separator: default_pk_separator(),
            reconnect: ReconnectPolicy::default(),
            heartbeat_secs: default_heartbeat(),
            connect_timeout_secs: default_connect_timeout(),
            queue_transactions: default_queue(),
            progress_interval_ms: default_progress(),
        }
    }

    pub(crate) fn opts(&self) -> mysql_async::Opts {
        let mut b = mysql_async::OptsBuilder::default()
            .user(Some(self.user.clone()))
            .pass(Some(self.password.clone()))
            .prefer_socket(false)
            .stmt_cache_size(16);
        b = match &self.socket {
            Some(s) => b.socket(Some(s.clone())),
            None => b.ip_or_hostname(self.host.clone()).tcp_port(self.port),
        };
        b.into()
    }

    pub(crate) fn target(&self) -> String {
        match &self.socket {
            Some(s) => format!("socket {s}"),
            None => format!("{}:{}", self.host, self.port),
        }
    }
}
