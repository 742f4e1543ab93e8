//! The dialect's error type and the two error bodies of the wire spec: the push array
//! `[{"code":..,"message":".."}]` (§1.2) and the query object `{"errorCode":..,"errorMsg":".."}`
//! (§2.2).

use crate::codes::Code;
use serde_json::{Value, json};

/// A request this dialect refuses: a [`Code`], the HTTP status to send it with, and a message
/// that says what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (code {code})")]
pub struct VseError {
    /// The error code.
    pub code: Code,
    /// The HTTP status (normally [`Code::http_status`]; 415 for an unsupported body encoding).
    pub status: u16,
    /// What is wrong and what to send instead.
    pub message: String,
}

/// Which API family a response goes to: they shape their error bodies differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `POST /update/{instance}_{table}/actions/bulk`: errors are a JSON array.
    Push,
    /// `POST /vector-service/*` (and `GET /network/active`): errors are one JSON object with
    /// `errorCode` / `errorMsg`.
    VectorService,
}

impl VseError {
    /// An error with `code`, sent with the code's HTTP status.
    pub fn new(code: Code, message: impl Into<String>) -> VseError {
        VseError {
            code,
            status: code.http_status(),
            message: message.into(),
        }
    }

    /// The same error sent with another HTTP status.
    pub fn with_status(mut self, status: u16) -> VseError {
        self.status = status;
        self
    }

    /// The documented push answer for an unknown table: 3012 `"Resource not found."`, HTTP 404.
    pub fn resource_not_found() -> VseError {
        VseError::new(Code::RESOURCE_NOT_FOUND, "Resource not found.")
    }

    /// An unknown table, with its name in the message (for `/vector-service/*`; pushes should
    /// use [`VseError::resource_not_found`], whose message is documented verbatim).
    pub fn table_not_found(table: &str) -> VseError {
        VseError::new(
            Code::RESOURCE_NOT_FOUND,
            format!(
                "Resource not found. Table '{table}' does not exist: check \"tableName\" (the table name without the instance id prefix)"
            ),
        )
    }

    /// Missing or wrong credentials (HTTP 401). `detail` says which (never echo the secret).
    pub fn auth_failed(detail: &str) -> VseError {
        VseError::new(
            Code::AUTH_FAILED,
            format!(
                "authentication failed: {detail}; send 'Authorization: Basic base64(user:password)' with the instance's user name and password"
            ),
        )
    }

    /// An internal failure (HTTP 500, retryable).
    pub fn internal(detail: &str) -> VseError {
        VseError::new(
            Code::INTERNAL,
            format!("internal error: {detail}; retry the request"),
        )
    }

    /// The push error body: `[{"code":3012,"message":"Resource not found."}]` (spec §1.2).
    pub fn push_body(&self) -> String {
        json!([{"code": self.code.0, "message": self.message}]).to_string()
    }

    /// The query error body: `{"errorCode":6008,"errorMsg":"...","totalTime":0.1}` (spec §2.2),
    /// `total_time_ms` being the time spent on the request in milliseconds.
    pub fn query_body(&self, total_time_ms: f64) -> String {
        self.query_json(total_time_ms).to_string()
    }

    /// [`VseError::query_body`] as a JSON value (e.g. to embed in a batch-query answer).
    pub fn query_json(&self, total_time_ms: f64) -> Value {
        json!({
            "errorCode": self.code.0,
            "errorMsg": self.message,
            "totalTime": crate::response::round_ms(total_time_ms),
        })
    }

    /// The body for `api`: [`VseError::push_body`] or [`VseError::query_body`].
    pub fn body(&self, api: Api, total_time_ms: f64) -> String {
        match api {
            Api::Push => self.push_body(),
            Api::VectorService => self.query_body(total_time_ms),
        }
    }
}

/// Shorthand for an [`Code::INVALID_PARAMETER`] error.
pub(crate) fn invalid(message: impl Into<String>) -> VseError {
    VseError::new(Code::INVALID_PARAMETER, message)
}

/// Shows at most this many characters of a client value inside an error message.
pub(crate) const SHOWN_CHARS: usize = 60;

/// A short rendering of a client value for error messages.
pub(crate) fn shown(v: &Value) -> String {
    let s = v.to_string();
    let mut out: String = s.chars().take(SHOWN_CHARS).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_have_the_documented_shapes() {
        let e = VseError::resource_not_found();
        assert_eq!(e.status, 404);
        assert_eq!(
            e.push_body(),
            r#"[{"code":3012,"message":"Resource not found."}]"#
        );
        let q: Value = serde_json::from_str(&e.query_body(1.23456)).unwrap();
        assert_eq!(
            q,
            json!({"errorCode": 3012, "errorMsg": "Resource not found.", "totalTime": 1.235})
        );
        assert_eq!(e.body(Api::Push, 0.0), e.push_body());
        assert_eq!(VseError::auth_failed("no credentials").status, 401);
        assert_eq!(VseError::internal("x").status, 500);
        assert_eq!(invalid("x").with_status(415).status, 415);
        assert!(shown(&Value::String("x".repeat(100))).ends_with('…'));
    }
}
