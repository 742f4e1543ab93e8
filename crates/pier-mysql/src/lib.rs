//! pier's MySQL / MariaDB change source: one table, a consistent snapshot, then row-based
//! binlog change capture (CDC), grouped per committed transaction.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use futures_util::StreamExt;
//! use pier_mysql::{MysqlSource, SourceConfig};
//!
//! let cfg = SourceConfig::new("127.0.0.1", 3306, "sync", "secret", "shop", "items", 4242);
//! let mut src = MysqlSource::connect(cfg).await?; // runs check_server(): actionable errors
//! let mut snap = src.snapshot(10_000).await?;
//! let start = snap.position().clone();
//! while let Some(batch) = snap.next().await {
//!     let batch = batch?;
//!     // apply batch.changes (all Upserts) ...
//!     if batch.last { break; }
//! }
//! let mut cdc = src.stream_from(start);
//! while let Some(txn) = cdc.next().await {
//!     let txn = txn?; // SchemaChanged / PositionPurged / ... end the stream
//!     // apply txn.changes atomically, then checkpoint txn.end_position (serde)
//! }
//! # Ok(()) }
//! ```
//!
//! # Semantics
//!
//! - **Snapshot**: MariaDB: `START TRANSACTION WITH CONSISTENT SNAPSHOT` and the status
//!   variables `binlog_snapshot_file`/`binlog_snapshot_position` (no lock). MySQL (or
//!   [`SnapshotMode::GlobalReadLock`]): `FLUSH TABLES WITH READ LOCK`, start the consistent
//!   snapshot, read `SHOW MASTER STATUS` and the GTID state, `UNLOCK TABLES`. Rows are read in
//!   primary-key order with keyset pagination inside that transaction. Streaming from
//!   [`SnapshotStream::position`] then delivers exactly the transactions committed after the
//!   snapshot: none missed, none twice.
//! - **Changes**: INSERT → [`ChangeKind::Upsert`] of the after image; UPDATE → Upsert of the
//!   after image, preceded by a [`ChangeKind::Delete`] of the old key when the primary key
//!   changed; DELETE → Delete (its `fields` hold the mapped before image). With a row filter,
//!   an UPDATE that moves a row out of the filter is a Delete, into it an Upsert.
//! - **Transactions**: changes are delivered per committed transaction, in commit order, when
//!   its XID / COMMIT arrives ([`Transaction`]); `end_position` is where the next transaction
//!   starts, so checkpointing it and later calling [`MysqlSource::stream_from`] with it resumes
//!   exactly after that transaction. Transactions that do not touch the table are not
//!   delivered, except an empty one at most every `progress_interval_ms` to move the checkpoint.
//! - **Positions**: binlog file + offset, and the GTID state when known (MariaDB always; MySQL
//!   with `gtid_mode=ON`). Resuming uses file + offset unless `resume_by_gtid` is set.
//! - **Errors**: [`SourceError::SchemaChanged`] on DDL touching the table or a table map that
//!   no longer matches `information_schema`; [`SourceError::PositionPurged`] when the server
//!   answers error 1236 (binlog purged: re-snapshot); lost connections and server restarts are
//!   retried with exponential backoff from the last boundary, invisibly to the consumer.
//! - **Types** (see [`ColumnKind`]): integers (incl. UNSIGNED BIGINT) → JSON integers;
//!   DECIMAL → JSON **string** with the exact digits (pier's number fields accept numeric
//!   strings; no precision is lost); FLOAT/DOUBLE → numbers; DATE/DATETIME/TIMESTAMP → epoch
//!   milliseconds (DATETIME read as UTC; zero dates → null); TIME → `"HH:MM:SS[.f]"`; text in
//!   utf8mb4/utf8mb3/ascii/latin1 → strings; binary/BLOB → UTF-8 text if valid, else base64;
//!   MySQL JSON → compact JSON text (MariaDB JSON is LONGTEXT: its text as stored);
//!   ENUM → label; SET → labels joined by `,`; BIT → integer; YEAR → integer; NULL → null.

#![warn(missing_docs)]

mod config;
mod convert;
mod ddl;
mod error;
pub mod filter;
mod position;
mod schema;
mod source;
mod stream;

pub use config::{
    DEFAULT_HEARTBEAT_SECS, DEFAULT_PK_SEPARATOR, DEFAULT_PROGRESS_INTERVAL_MS,
    DEFAULT_QUEUE_TRANSACTIONS, ReconnectPolicy, SnapshotMode, SourceConfig,
};
pub use error::{SetupError, SetupProblem, SourceError};
pub use position::Position;
pub use schema::{Charset, ColumnInfo, ColumnKind, TableInfo};
pub use source::{Flavor, MysqlSource, ServerInfo, SnapshotBatch, SnapshotStream};
pub use stream::{CdcStream, LAG_POLL_INTERVAL, StreamStats};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What a change does to the document with key [`Change::pk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeKind {
    /// Insert or replace the document with `fields`.
    Upsert,
    /// Delete the document.
    Delete,
}

/// One row change, already mapped to pier field names and filtered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Upsert or Delete.
    pub kind: ChangeKind,
    /// Primary key as text: the key column's value (integers in decimal, dates as epoch ms);
    /// values of a composite key joined with [`SourceConfig::pk_separator`].
    pub pk: String,
    /// Mapped fields: the after image for an Upsert, the before image for a Delete.
    pub fields: Map<String, Value>,
}

/// The changes of one committed transaction, in the order the server applied them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    /// Row changes of the synced table (empty for a progress-only transaction).
    pub changes: Vec<Change>,
    /// Binlog position just after this transaction's commit: checkpoint it, resume from it.
    pub end_position: Position,
    /// Commit time on the server clock (seconds since the epoch, from the event header).
    pub timestamp: u32,
    /// This transaction's own GTID, when the server logs one (`0-1-42`, `uuid:42`).
    pub gtid: Option<String>,
}
