//! Errors: set-up problems (actionable, found before anything is read) and stream errors.

use crate::Position;
use std::fmt;

/// One thing wrong with the server, the user's privileges or the table, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupProblem {
    /// What is wrong, e.g. "binlog_format is STATEMENT, row-based logging is required".
    pub what: String,
    /// How to fix it, e.g. the SQL or my.cnf line to add.
    pub fix: String,
}

impl fmt::Display for SetupProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}. Fix: {}", self.what, self.fix)
    }
}

/// Why a source cannot start. Every variant's message says what to change.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The server could not be reached or refused the login.
    #[error("cannot connect to MySQL/MariaDB at {target} as '{user}': {message}")]
    Connect {
        /// `host:port` or the socket.
        target: String,
        /// The user name tried.
        user: String,
        /// The driver's / server's message.
        message: String,
    },
    /// Server settings, privileges or the table are not usable for binlog sync.
    #[error("{}", problems_text(.0))]
    Problems(Vec<SetupProblem>),
    /// A query needed for the checks failed.
    #[error("MySQL/MariaDB error while checking the server: {0}")]
    Query(String),
}

fn problems_text(p: &[SetupProblem]) -> String {
    let mut s = format!(
        "the MySQL/MariaDB server is not ready for binlog sync ({} problem{}):",
        p.len(),
        if p.len() == 1 { "" } else { "s" }
    );
    for (i, x) in p.iter().enumerate() {
        s.push_str(&format!("\n  {}. {x}", i + 1));
    }
    s
}

impl SetupError {
    /// The listed problems (empty for `Connect` / `Query`).
    pub fn problems(&self) -> &[SetupProblem] {
        match self {
            SetupError::Problems(p) => p,
            _ => &[],
        }
    }
}

/// An error from a snapshot or a binlog stream. A stream ends after yielding one.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// DDL on the synced table (`ALTER`/`DROP`/`RENAME`/`TRUNCATE`/`CREATE ... TABLE`, or
    /// `DROP DATABASE`), or a binlog table map that does not match the columns read from
    /// `information_schema`. Nothing after `before` was delivered. The consumer should pause; to
    /// go on, call [`crate::MysqlSource::reload_schema`] and either resume from `after` (if the
    /// change keeps the documents valid) or take a new snapshot.
    #[error(
        "schema of {table} changed at binlog {after}: {reason}; sync paused (reload the schema and resume, or re-snapshot)"
    )]
    SchemaChanged {
        /// `db.table`.
        table: String,
        /// The DDL statement, or what did not match.
        reason: String,
        /// End of the last transaction before the change (already delivered or empty).
        before: Position,
        /// Position just after the DDL statement (equal to `before` for a table-map mismatch).
        after: Position,
    },
    /// The server no longer has the binlog at the requested position (purged, or invalid).
    #[error(
        "the server cannot send binlog from {position}: {message}. The binlog there was purged (or the position is invalid); take a new snapshot and stream from its position"
    )]
    PositionPurged {
        /// The position that was asked for.
        position: Position,
        /// The server's message (error 1236).
        message: String,
    },
    /// A change to the synced table was logged as a statement, not as rows (a session with
    /// `binlog_format=STATEMENT/MIXED`), so its rows are unknown.
    #[error(
        "a statement changed {table} without row images at binlog {position}: {statement:?}. Set binlog_format=ROW for every session (SET GLOBAL binlog_format='ROW' and in my.cnf) and re-snapshot"
    )]
    StatementChange {
        /// `db.table`.
        table: String,
        /// The SQL statement.
        statement: String,
        /// End of the last transaction before it.
        position: Position,
    },
    /// A binlog event or row value could not be decoded.
    #[error("cannot decode binlog at {position}: {message}")]
    Decode {
        /// End of the last transaction before the undecodable event.
        position: Position,
        /// What failed.
        message: String,
    },
    /// The connection failed and reconnecting gave up (or cannot succeed: bad credentials,
    /// missing privilege, duplicate server id).
    #[error("binlog connection to {target} failed: {message}")]
    Connection {
        /// `host:port` or the socket.
        target: String,
        /// What happened last.
        message: String,
    },
    /// A query of the snapshot failed (the snapshot cannot be resumed; take it again).
    #[error("snapshot query failed: {0}")]
    Snapshot(String),
    /// Set-up problems found when (re)starting.
    #[error(transparent)]
    Setup(#[from] SetupError),
}

/// Classification of a driver error for the reconnect loop.
pub(crate) enum ErrorClass {
    /// Worth reconnecting.
    Transient,
    /// Error 1236 about the position.
    Purged(String),
    /// Reconnecting cannot help.
    Fatal(String),
}

pub(crate) fn classify(e: &mysql_async::Error) -> ErrorClass {
    match e {
        mysql_async::Error::Server(se) => match se.code {
            1236 => {
                let m = se.message.to_ascii_lowercase();
                if m.contains("same server") || m.contains("server_id") && m.contains("slave") {
                    ErrorClass::Fatal(format!(
                        "{} (another replica uses server_id; give this source a unique server_id)",
                        se.message
                    ))
                } else {
                    ErrorClass::Purged(se.message.clone())
                }
            }
            1045 | 1044 | 1227 | 1142 | 1370 => ErrorClass::Fatal(format!(
                "{} (error {}: check the user, password and privileges)",
                se.message, se.code
            )),
            _ => ErrorClass::Transient,
        },
        _ => ErrorClass::Transient,
    }
}
