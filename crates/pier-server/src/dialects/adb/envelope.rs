//! The AnalyticDB (POP RPC) envelope (wire spec §1.3–§1.5): merged request parameters with
//! typed getters, the success body `{RequestId, Status, Message, …}` and the error body
//! `{RequestId, HostId, Code, Message}` with a 4xx/5xx status.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// The `Content-Type` of every answer, as Alibaba Cloud sends it.
const JSON_UTF8: &str = "application/json;charset=utf-8";

/// A failed action: an HTTP status, an Alibaba Cloud error `Code` and a `Message` that says
/// what to fix. Rendered with the request's `RequestId` and `HostId` by [`error_response`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdbError {
    /// HTTP status (4xx for the client's mistakes, 5xx for pier's).
    pub status: StatusCode,
    /// The `Code` field, e.g. `Namespace.NotExist`.
    pub code: Cow<'static, str>,
    /// The `Message` field.
    pub message: String,
}

impl AdbError {
    /// An error with any status and code.
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> AdbError {
        AdbError {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// 400 `MissingParameter`: a required parameter is absent or empty.
    pub fn missing(name: &str) -> AdbError {
        AdbError::new(
            StatusCode::BAD_REQUEST,
            "MissingParameter",
            format!(
                "the parameter '{name}' is required (in the query or the form body) and was not supplied"
            ),
        )
    }

    /// 400 `InvalidParameter`: a parameter has an unusable value; `why` says what to send.
    pub fn invalid(name: &str, why: impl std::fmt::Display) -> AdbError {
        AdbError::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            format!("the parameter '{name}' is invalid: {why}"),
        )
    }

    /// 500 `InternalError`.
    pub fn internal(message: impl std::fmt::Display) -> AdbError {
        AdbError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            format!(
                "pier failed to process the request: {message}; retry, and report it if it persists"
            ),
        )
    }
}

impl From<pier_auth::AcsAuthError> for AdbError {
    fn from(e: pier_auth::AcsAuthError) -> AdbError {
        AdbError::new(
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST),
            e.code(),
            e.to_string(),
        )
    }
}

/// The request's parameters: the query's and the form body's, merged (wire spec §1.3). A name
/// sent in both places with different values is refused rather than guessed at.
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Merges decoded (name, value) pairs; a name repeated with a different value is 400.
    pub fn new(pairs: Vec<(String, String)>) -> Result<Params, AdbError> {
        let mut merged: Vec<(String, String)> = Vec::with_capacity(pairs.len());
        for (name, value) in pairs {
            match merged.iter().find(|(n, _)| *n == name) {
                Some((_, v)) if *v == value => {}
                Some(_) => {
                    return Err(AdbError::invalid(
                        &name,
                        "it was sent twice with different values (query and form body?); send it once",
                    ));
                }
                None => merged.push((name, value)),
            }
        }
        Ok(Params(merged))
    }

    /// A parameter's value; an empty value counts as absent (the SDKs send unset optional
    /// parameters as nothing, other tools as empty strings).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// A required parameter (400 `MissingParameter` when absent or empty).
    pub fn require(&self, name: &str) -> Result<&str, AdbError> {
        self.get(name).ok_or_else(|| AdbError::missing(name))
    }

    /// A boolean: `true`/`false` in any case (Python sends `True`, Go and Java `true`).
    pub fn bool(&self, name: &str) -> Result<Option<bool>, AdbError> {
        self.get(name)
            .map(|v| {
                if v.eq_ignore_ascii_case("true") {
                    Ok(true)
                } else if v.eq_ignore_ascii_case("false") {
                    Ok(false)
                } else {
                    Err(AdbError::invalid(
                        name,
                        format!("'{v}' is not a boolean; send true or false"),
                    ))
                }
            })
            .transpose()
    }

    /// An integer sent as a decimal string.
    pub fn int(&self, name: &str) -> Result<Option<i64>, AdbError> {
        self.get(name)
            .map(|v| {
                v.trim()
                    .parse()
                    .map_err(|_| AdbError::invalid(name, format!("'{v}' is not an integer")))
            })
            .transpose()
    }

    /// A complex parameter the SDKs send as a JSON string (`Rows`, `Vector`, `Metadata`, …).
    pub fn json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<Option<T>, AdbError> {
        self.get(name)
            .map(|v| {
                serde_json::from_str(v).map_err(|e| {
                    AdbError::invalid(name, format!("it is not the expected JSON ({e})"))
                })
            })
            .transpose()
    }
}

/// The 200 answer: the action's fields plus `RequestId`, `Status: "success"` and
/// `Message: "success"` (an action may set its own `Message`).
pub fn success_response(request_id: &str, fields: Map<String, Value>) -> Response {
    let mut body = Map::new();
    body.insert("RequestId".into(), request_id.into());
    body.insert("Status".into(), "success".into());
    body.insert("Message".into(), "success".into());
    body.extend(fields);
    json_response(StatusCode::OK, &Value::Object(body))
}

/// The error answer: `{RequestId, HostId, Code, Message}` with the error's status.
pub fn error_response(request_id: &str, host_id: &str, error: &AdbError) -> Response {
    let body = serde_json::json!({
        "RequestId": request_id,
        "HostId": host_id,
        "Code": error.code,
        "Message": error.message,
    });
    json_response(error.status, &body)
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn typed_getters() {
        let p = params(&[
            ("A", "True"),
            ("B", "false"),
            ("C", "yes"),
            ("N", "42"),
            ("V", "[0.5,1]"),
            ("E", ""),
        ]);
        assert_eq!(p.bool("A").unwrap(), Some(true));
        assert_eq!(p.bool("B").unwrap(), Some(false));
        assert_eq!(p.bool("C").unwrap_err().code, "InvalidParameter");
        assert_eq!(p.bool("missing").unwrap(), None);
        assert_eq!(p.int("N").unwrap(), Some(42));
        assert!(p.int("A").is_err());
        assert_eq!(p.json::<Vec<f32>>("V").unwrap(), Some(vec![0.5, 1.0]));
        assert!(p.json::<Vec<f32>>("A").is_err());
        assert_eq!(p.get("E"), None);
        assert_eq!(p.require("E").unwrap_err().code, "MissingParameter");
    }

    #[test]
    fn repeated_names_must_agree() {
        let same = vec![
            ("A".to_string(), "1".to_string()),
            ("A".to_string(), "1".to_string()),
        ];
        assert_eq!(Params::new(same).unwrap().get("A"), Some("1"));
        let differ = vec![
            ("A".to_string(), "1".to_string()),
            ("A".to_string(), "2".to_string()),
        ];
        assert_eq!(Params::new(differ).unwrap_err().code, "InvalidParameter");
    }
}
