//! Who is calling: the V3 signature on V3 routes; HTTP Basic (key id and secret) or the V3
//! signature on the native API. One key store serves both.

use crate::{Failure, ServerState};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, Uri, header};
use std::sync::Arc;

/// Largest native API request body (an app schema, a key description).
const MAX_ADMIN_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Extractor: the native API request (without a body) carries valid credentials.
pub struct Admin;

impl FromRequestParts<Arc<ServerState>> for Admin {
    type Rejection = Failure;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ServerState>,
    ) -> Result<Admin, Failure> {
        verify_admin(state, &parts.method, &parts.uri, &parts.headers, b"").map(|_| Admin)
    }
}

/// Extractor: the native API request body, once its credentials (Basic, or a V3 signature that
/// covers the body) are checked.
pub struct AdminBody(pub Bytes);

impl FromRequest<Arc<ServerState>> for AdminBody {
    type Rejection = Failure;

    async fn from_request(req: Request, state: &Arc<ServerState>) -> Result<AdminBody, Failure> {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, MAX_ADMIN_BODY_BYTES)
            .await
            .map_err(|_| {
                Failure::new(
                    pier_model::Code(4007),
                    format!("request body over {MAX_ADMIN_BODY_BYTES} bytes, or not readable"),
                )
            })?;
        verify_admin(state, &parts.method, &parts.uri, &parts.headers, &bytes)?;
        Ok(AdminBody(bytes))
    }
}

/// Verifies the V3 `OPENSEARCH` signature of a request; returns the key id.
pub fn verify_v3(
    state: &ServerState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String, Failure> {
    let parts = pier_auth::RequestParts {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query(),
        headers,
        body,
    };
    let keys = state.engine.keys();
    Ok(state.verifier.verify(
        &parts,
        |id| keys.secret_for(id),
        time::OffsetDateTime::now_utc(),
    )?)
}

/// Authenticates a native API request: Basic credentials or a V3 signature.
pub fn verify_admin(
    state: &ServerState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String, Failure> {
    let is_basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("basic"));
    if !is_basic {
        return verify_v3(state, method, uri, headers, body);
    }
    let (id, secret) = pier_auth::parse_basic(headers)?;
    match state.engine.keys().secret_for(&id) {
        Some(s) if constant_time_eq(s.as_bytes(), secret.as_bytes()) => Ok(id),
        Some(_) => Err(Failure {
            status: axum::http::StatusCode::UNAUTHORIZED,
            ..Failure::new(
                pier_model::Code(4001),
                format!("the secret does not match access key '{id}'"),
            )
        }),
        None => Err(Failure::from(pier_auth::AuthError::UnknownAccessKey(id))),
    }
}

/// Compares secrets without revealing where they differ through timing.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
