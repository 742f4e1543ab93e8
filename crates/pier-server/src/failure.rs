//! The failure envelope every pier API answers with (the V3 one, spec §1.2):
//! `{"status":"FAIL","request_id":"…","errors":[{"code":…,"message":"…"}]}` with a non-2xx status.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pier_model::Code;
use serde_json::json;

/// A failed request: a code, a message that says what to fix, an HTTP status.
#[derive(Debug, Clone)]
pub struct Failure {
    /// HTTP status.
    pub status: StatusCode,
    /// V3 error code.
    pub code: u32,
    /// What is wrong and how to fix it.
    pub message: String,
    /// Seconds to wait before retrying (429/503).
    pub retry_after: Option<u32>,
    /// The request id, when one was assigned.
    pub request_id: String,
}

impl Failure {
    /// A failure with the status implied by the code.
    pub fn new(code: Code, message: impl Into<String>) -> Failure {
        Failure {
            status: status_for(code),
            code: code.0,
            message: message.into(),
            retry_after: None,
            request_id: String::new(),
        }
    }

    /// A 404 for something other than an app or table (those have their own codes).
    pub fn not_found(message: impl Into<String>) -> Failure {
        Failure {
            status: StatusCode::NOT_FOUND,
            ..Failure::new(Code(404), message)
        }
    }

    /// Sets the request id.
    pub fn with_request_id(mut self, id: &str) -> Failure {
        self.request_id = id.to_string();
        self
    }
}

/// The HTTP status for a code (spec §1.2's suggested mapping).
pub fn status_for(code: Code) -> StatusCode {
    match code.0 {
        2001 | 4012 => StatusCode::NOT_FOUND,
        2005 => StatusCode::CONFLICT,
        3007 | 3013 | 3014 | 6015 => StatusCode::TOO_MANY_REQUESTS,
        3008 => StatusCode::PAYLOAD_TOO_LARGE,
        4001..=4006 | 4008..=4011 | 4013 | 4014 | 5001 | 5008 | 5100 => StatusCode::FORBIDDEN,
        1004 => StatusCode::SERVICE_UNAVAILABLE,
        1000 | 7500 => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl From<pier_auth::AuthError> for Failure {
    fn from(e: pier_auth::AuthError) -> Failure {
        Failure {
            status: StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::FORBIDDEN),
            code: e.code(),
            message: e.to_string(),
            retry_after: None,
            request_id: String::new(),
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = json!({
            "status": "FAIL",
            "request_id": self.request_id,
            "errors": [{"code": self.code, "message": self.message}],
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}
