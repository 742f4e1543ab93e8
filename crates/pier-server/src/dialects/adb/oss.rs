//! The local-file path of the SDK's `UpsertCollectionDataAsyncAdvance` (wire spec §3.3): pier
//! plays both the OpenPlatform `AuthorizeFileUpload` action and the OSS bucket the SDK posts
//! the file to, so the file lands among pier's uploads and the job reads it from disk.
//!
//! 1. `AuthorizeFileUpload` answers a bucket and endpoint that the SDK joins into
//!    `{Bucket}.{Endpoint}`: pier splits the host the client used at its first dot, so the
//!    post comes back to the same address (the SDK always posts over HTTPS: point the
//!    client's `_open_platform_endpoint` at pier's HTTPS listener). The object key is an upload
//!    id; the policy (signed like OSS signs it, with the caller's secret) names that key and
//!    expires after [`POLICY_LIFETIME`].
//! 2. The SDK posts `multipart/form-data` to `/` ([`post_object`]): the policy's signature, key
//!    and expiry are checked before the file is streamed to disk (at most 200 MB).
//! 3. The SDK calls `UpsertCollectionDataAsync` with `http://{Bucket}.{Endpoint}/{ObjectKey}`,
//!    whose path names the upload.

use super::{AdbError, Call, Fields};
use crate::ServerState;
use crate::jobs::{MAX_FILE_BYTES, Uploads};
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// The OpenPlatform API version of `AuthorizeFileUpload`.
pub const OPEN_PLATFORM_VERSION: &str = "2019-12-19";
/// How long an upload authorization is valid.
const POLICY_LIFETIME: Duration = Duration::from_secs(3600);

/// `AuthorizeFileUpload`: a signed policy for posting one file.
pub fn authorize_file_upload(call: &Call) -> Result<Fields, AdbError> {
    let key_id = call.access_key_id.clone().ok_or_else(|| {
        AdbError::new(
            StatusCode::BAD_REQUEST,
            "MissingAccessKeyId",
            "sign the request: AuthorizeFileUpload issues a policy signed with your access key",
        )
    })?;
    let secret = call.engine.keys().secret_for(&key_id).ok_or_else(|| {
        AdbError::new(
            StatusCode::FORBIDDEN,
            "InvalidAccessKeyId.NotFound",
            format!("access key '{key_id}' does not exist"),
        )
    })?;
    let (bucket, endpoint) = call.host.split_once('.').ok_or_else(|| {
        AdbError::new(
            StatusCode::BAD_REQUEST,
            "InvalidEndpoint",
            format!(
                "the SDK posts the file to {{Bucket}}.{{Endpoint}}, so pier must be reached by an IP address or a dotted host name, not '{}'",
                call.host
            ),
        )
    })?;
    let key = format!(
        "{}{}",
        Uploads::URL_PATH.trim_start_matches('/'),
        uuid::Uuid::new_v4()
    );
    let expiration = time::OffsetDateTime::now_utc() + POLICY_LIFETIME;
    let policy = json!({
        "expiration": expiration
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(AdbError::internal)?,
        "conditions": [["eq", "$key", key], ["content-length-range", 0, MAX_FILE_BYTES]],
    });
    let encoded = BASE64.encode(policy.to_string());
    let mut fields = Fields::new();
    fields.insert(
        "Signature".into(),
        pier_auth::oss::post_policy_signature(&secret, &encoded).into(),
    );
    fields.insert("AccessKeyId".into(), key_id.into());
    fields.insert("Bucket".into(), bucket.into());
    fields.insert("Endpoint".into(), endpoint.into());
    fields.insert("ObjectKey".into(), key.into());
    fields.insert("EncodedPolicy".into(), encoded.into());
    fields.insert("UseAccelerate".into(), false.into());
    Ok(fields)
}

/// Whether a request to `/` is an OSS `PostObject` form rather than an RPC call.
pub fn is_post_object(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("multipart/form-data"))
}

/// An OSS error: the XML the SDK parses for a 4xx/5xx.
struct OssError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl OssError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> OssError {
        OssError {
            status,
            code,
            message: message.into(),
        }
    }

    fn response(&self, host: &str) -> Response {
        let request_id = uuid::Uuid::new_v4().to_string().to_uppercase();
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><RequestId>{request_id}</RequestId><HostId>{}</HostId></Error>",
            self.code,
            xml_escape(&self.message),
            xml_escape(host)
        );
        (
            self.status,
            [(header::CONTENT_TYPE, "application/xml")],
            body,
        )
            .into_response()
    }
}

/// `POST /` with `multipart/form-data`: the file of an authorized upload.
pub async fn post_object(state: &Arc<ServerState>, headers: &HeaderMap, body: Body) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_string();
    match receive(state, headers, body).await {
        Ok(key) => {
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse><Bucket>pier</Bucket><Location>http://{}/{}</Location><Key>{}</Key></PostResponse>",
                xml_escape(&host),
                xml_escape(&key),
                xml_escape(&key)
            );
            (
                StatusCode::CREATED,
                [(header::CONTENT_TYPE, "application/xml")],
                body,
            )
                .into_response()
        }
        Err(e) => e.response(&host),
    }
}

/// Checks the form's policy and stores its file; returns the object key.
async fn receive(
    state: &Arc<ServerState>,
    headers: &HeaderMap,
    body: Body,
) -> Result<String, OssError> {
    let bad = |m: String| OssError::new(StatusCode::BAD_REQUEST, "InvalidArgument", m);
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = multer::parse_boundary(content_type)
        .map_err(|e| bad(format!("the multipart form has no boundary: {e}")))?;
    let mut form = multer::Multipart::new(body.into_data_stream(), boundary);
    let mut text: Vec<(String, String)> = Vec::new();
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| bad(format!("the multipart form is malformed: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_string();
        if name != "file" {
            let value = field
                .text()
                .await
                .map_err(|e| bad(format!("form field '{name}': {e}")))?;
            text.push((name.to_ascii_lowercase(), value));
            continue;
        }
        // OSS takes the file as the last field, once every other field is known.
        let get = |n: &str| text.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        let key = get("key").ok_or_else(|| bad("the form has no 'key' field".into()))?;
        let id = check_policy(state, &get, key)?;
        crate::jobs::Uploads::store(&state.engine, &id, field)
            .await
            .map_err(|e| match e {
                crate::jobs::StoreError::TooLarge => {
                    OssError::new(StatusCode::BAD_REQUEST, "EntityTooLarge", e.to_string())
                }
                crate::jobs::StoreError::Interrupted(_) | crate::jobs::StoreError::BadId => {
                    bad(e.to_string())
                }
                crate::jobs::StoreError::Io(_) => OssError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    e.to_string(),
                ),
            })?;
        return Ok(key.to_string());
    }
    Err(bad("the form has no 'file' field".into()))
}

/// Checks the policy's signature, expiry and key; returns the upload id.
fn check_policy<'a>(
    state: &ServerState,
    get: &impl Fn(&str) -> Option<&'a str>,
    key: &str,
) -> Result<String, OssError> {
    let denied = |m: String| OssError::new(StatusCode::FORBIDDEN, "AccessDenied", m);
    let (Some(key_id), Some(policy), Some(signature)) =
        (get("ossaccesskeyid"), get("policy"), get("signature"))
    else {
        return Err(denied(
            "the form needs OSSAccessKeyId, policy and Signature from AuthorizeFileUpload".into(),
        ));
    };
    let secret = state
        .engine
        .keys()
        .secret_for(key_id)
        .ok_or_else(|| denied(format!("access key '{key_id}' does not exist")))?;
    if !pier_auth::oss::verify_post_policy(&secret, policy, signature) {
        return Err(OssError::new(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "the policy's Signature does not match: use the policy and signature AuthorizeFileUpload returned",
        ));
    }
    let document: serde_json::Value = BASE64
        .decode(policy)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| denied("the policy is not base64 JSON".into()))?;
    let expired = document["expiration"]
        .as_str()
        .and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        })
        .is_none_or(|t| t < time::OffsetDateTime::now_utc());
    if expired {
        return Err(denied(
            "the upload authorization has expired: call AuthorizeFileUpload again".into(),
        ));
    }
    let allowed = document["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c[0] == "eq" && c[1] == "$key" && c[2] == key);
    if !allowed {
        return Err(denied(format!("the policy does not allow the key '{key}'")));
    }
    key.strip_prefix(Uploads::URL_PATH.trim_start_matches('/'))
        .map(str::to_string)
        .ok_or_else(|| denied(format!("'{key}' is not a key pier issued")))
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
