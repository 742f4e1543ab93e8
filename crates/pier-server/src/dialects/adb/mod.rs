//! The AnalyticDB for PostgreSQL vector API (product `gpdb`, version 2016-05-03; wire spec
//! `analyticdb-vector-api.md`): every action is an RPC call to `POST /` (or `GET /`) with its
//! parameters in the query and/or a form body, its name in `x-acs-action` (or `Action`), and an
//! ACS3-HMAC-SHA256 or RPC HMAC-SHA1 signature.
//!
//! [`rpc`] does what every action shares (read the body, verify the signature, merge the
//! parameters, resolve the action, render the envelope) and then runs the action's
//! [`Handler`] from [`ACTIONS`] on a blocking thread with a [`Call`]. Adding an action is
//! adding one line to [`ACTIONS`] and a function `fn(&Call) -> Result<Fields, AdbError>`.

pub(crate) mod collections;
pub(crate) mod data;
mod envelope;
mod jobs;
mod namespaces;
mod oss;
mod sql;

pub use envelope::{AdbError, Params};

use envelope::{error_response, success_response};

use crate::{AcsAuth, ServerState};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use pier_auth::AcsAuthError;
use pier_auth::acs::AcsScheme;
use pier_engine::Engine;
use pier_engine::namespaces::DEFAULT_NAMESPACE;
use serde_json::{Map, Value};
use std::sync::Arc;

/// Largest request body. `UpsertCollectionData` allows 10 MB of `Rows` JSON, which grows up to
/// about 3x once form-encoded (wire spec §1.3), so 48 MiB leaves room without letting a client
/// make pier buffer arbitrary amounts.
pub const MAX_BODY_BYTES: usize = 48 << 20;
/// The API version pier speaks; a request naming another is refused.
pub const API_VERSION: &str = "2016-05-03";

/// An action's own response fields; the envelope adds `RequestId`, `Status` and `Message`.
pub type Fields = Map<String, Value>;

/// An action implementation. It runs on a blocking thread (it may hash passwords, fsync or
/// search), so it is a plain function.
pub type Handler = fn(&Call) -> Result<Fields, AdbError>;

/// Every action pier serves: name (as in `x-acs-action`) → handler.
pub const ACTIONS: &[(&str, Handler)] = &[
    ("InitVectorDatabase", namespaces::init_vector_database),
    ("CreateNamespace", namespaces::create_namespace),
    ("DescribeNamespace", namespaces::describe_namespace),
    ("ListNamespaces", namespaces::list_namespaces),
    ("DeleteNamespace", namespaces::delete_namespace),
    ("CreateCollection", collections::create_collection),
    ("DescribeCollection", collections::describe_collection),
    ("ListCollections", collections::list_collections),
    ("DeleteCollection", collections::delete_collection),
    ("ModifyCollection", collections::modify_collection),
    ("CreateVectorIndex", collections::create_vector_index),
    ("DeleteVectorIndex", collections::delete_vector_index),
    ("UpsertCollectionData", data::upsert_collection_data),
    ("DeleteCollectionData", data::delete_collection_data),
    (
        "UpdateCollectionDataMetadata",
        data::update_collection_data_metadata,
    ),
    ("QueryCollectionData", data::query_collection_data),
    (
        "UpsertCollectionDataAsync",
        jobs::upsert_collection_data_async,
    ),
    (
        "GetUpsertCollectionDataJob",
        jobs::get_upsert_collection_data_job,
    ),
    (
        "CancelUpsertCollectionDataJob",
        jobs::cancel_upsert_collection_data_job,
    ),
    ("AuthorizeFileUpload", oss::authorize_file_upload),
];

/// One authenticated call of an action: what a [`Handler`] gets.
pub struct Call {
    /// The engine.
    pub engine: Arc<Engine>,
    /// The action's name (from [`ACTIONS`]).
    pub action: &'static str,
    /// The merged query and form parameters.
    pub params: Params,
    /// The `Host` header as sent (where the client reached pier).
    pub host: String,
    /// The AccessKeyId the request claims (verified unless `--adb-auth` says otherwise).
    pub access_key_id: Option<String>,
    /// Whether namespace passwords are skipped: the console's calls, made for a viewer who
    /// logged in with an access key.
    pub trusted: bool,
}

impl Call {
    /// The `Namespace` parameter, `public` when absent (wire spec §1.3).
    pub fn namespace(&self) -> &str {
        self.params.get("Namespace").unwrap_or(DEFAULT_NAMESPACE)
    }

    /// Checks `ManagerAccount` + `ManagerAccountPassword` (the DDL credential). Blocking.
    pub fn check_manager(&self) -> Result<(), AdbError> {
        let account = self.params.require("ManagerAccount")?;
        let password = self.params.require("ManagerAccountPassword")?;
        Ok(self.engine.namespaces().check_manager(account, password)?)
    }

    /// `DBInstanceId` (or `WorkspaceId`, which wins, wire spec §1.3) and `RegionId` as sent,
    /// for the actions whose answers echo them; absent ones are empty strings.
    pub fn instance_fields(&self) -> Fields {
        let instance = self
            .params
            .get("WorkspaceId")
            .or_else(|| self.params.get("DBInstanceId"))
            .unwrap_or_default();
        let mut fields = Fields::new();
        fields.insert("DBInstanceId".into(), instance.into());
        fields.insert(
            "RegionId".into(),
            self.params.get("RegionId").unwrap_or_default().into(),
        );
        fields
    }
}

/// Runs `QueryCollectionData` for the console: `query` holds its parameters as a query string
/// (`Content=…&Filter=…&TopK=10`); the namespace and collection are given, no password needed.
pub fn console_query(
    engine: Arc<Engine>,
    namespace: &str,
    collection: &str,
    query: &str,
) -> Result<Fields, AdbError> {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.trim().as_bytes())
        .into_owned()
        .filter(|(k, _)| k != "Namespace" && k != "Collection")
        .collect();
    pairs.push(("Namespace".into(), namespace.into()));
    pairs.push(("Collection".into(), collection.into()));
    if !pairs.iter().any(|(k, _)| k == "TopK") {
        pairs.push(("TopK".into(), "10".into()));
    }
    let call = Call {
        engine,
        action: "QueryCollectionData",
        params: Params::new(pairs)?,
        host: String::new(),
        access_key_id: None,
        trusted: true,
    };
    data::query_collection_data(&call)
}

/// `POST /` and `GET /`: one AnalyticDB action.
pub async fn rpc(
    State(state): State<Arc<ServerState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if oss::is_post_object(&headers) {
        return oss::post_object(&state, &headers, body).await;
    }
    let request_id = uuid::Uuid::new_v4().to_string().to_uppercase();
    let host_id = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .unwrap_or("pier")
        .to_string();
    let started = std::time::Instant::now();
    let (action, result) = dispatch(&state, &method, &uri, headers, body).await;
    if action == "QueryCollectionData" && result.is_ok() {
        metrics::histogram!("pier_search_seconds", "api" => "adb")
            .record(started.elapsed().as_secs_f64());
    }
    let outcome = match &result {
        Ok(_) => "ok",
        Err(e) => e.code.as_ref(),
    };
    metrics::counter!("pier_adb_requests_total", "action" => action, "outcome" => outcome.to_string())
        .increment(1);
    match result {
        Ok(fields) => success_response(&request_id, fields),
        Err(e) => error_response(&request_id, &host_id, &e),
    }
}

/// Authenticates, resolves and runs the action; returns its name (for metrics) and result.
async fn dispatch(
    state: &Arc<ServerState>,
    method: &Method,
    uri: &Uri,
    mut headers: HeaderMap,
    body: Body,
) -> (&'static str, Result<Fields, AdbError>) {
    let (call, handler) = match authenticate(state, method, uri, &mut headers, body).await {
        Ok(resolved) => resolved,
        Err(e) => return ("unknown", Err(e)),
    };
    let action = call.action;
    let result = tokio::task::spawn_blocking(move || handler(&call))
        .await
        .unwrap_or_else(|e| Err(AdbError::internal(format!("the {action} task failed: {e}"))));
    (action, result)
}

/// Reads the body, verifies the signature, merges the parameters and resolves the action.
async fn authenticate(
    state: &Arc<ServerState>,
    method: &Method,
    uri: &Uri,
    headers: &mut HeaderMap,
    body: Body,
) -> Result<(Call, Handler), AdbError> {
    let body = read_body(headers, body).await?;
    // HTTP/2 carries no Host header; the SDKs sign the authority they connected to.
    if !headers.contains_key(header::HOST)
        && let Some(authority) = uri.authority()
        && let Ok(value) = HeaderValue::from_str(authority.as_str())
    {
        headers.insert(header::HOST, value);
    }
    let parts = pier_auth::RequestParts {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query(),
        headers,
        body: &body,
    };
    let keys = state.engine.keys();
    // Only a verified RPC signature restricts where the action may come from.
    let rpc_signed = match state.acs_auth {
        AcsAuth::Verify => {
            let verified = state.acs_verifier.verify(
                &parts,
                |id| keys.secret_for(id),
                time::OffsetDateTime::now_utc(),
            )?;
            verified.scheme == AcsScheme::RpcHmacSha1
        }
        AcsAuth::AccessKey => {
            let id = pier_auth::acs::claimed_access_key_id(&parts)
                .ok_or(AcsAuthError::MissingCredentials)?;
            if keys.secret_for(&id).is_none() {
                return Err(AcsAuthError::UnknownAccessKey(id).into());
            }
            false
        }
        AcsAuth::None => false,
    };
    let access_key_id = pier_auth::acs::claimed_access_key_id(&parts);
    let params = Params::new(pier_auth::acs::request_params(&parts)?)?;
    let named = action_name(&params, headers, rpc_signed)?;
    check_version(&named, &params, headers, rpc_signed)?;
    let &(action, handler) = ACTIONS
        .iter()
        .find(|(name, _)| *name == named)
        .ok_or_else(|| {
            AdbError::new(
                StatusCode::NOT_FOUND,
                "InvalidAction.NotFound",
                format!(
                    "the action '{named}' is not supported by pier (API version {API_VERSION}); supported: {}",
                    ACTIONS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                ),
            )
        })?;
    let call = Call {
        engine: state.engine.clone(),
        action,
        params,
        host: headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        access_key_id,
        trusted: false,
    };
    Ok((call, handler))
}

/// The action's name. The RPC signature covers parameters, not headers, so an RPC-signed
/// request is dispatched on its signed `Action` parameter only; any other on `x-acs-action`
/// (which ACS3 signs), falling back to `Action`.
fn action_name(params: &Params, headers: &HeaderMap, rpc_signed: bool) -> Result<String, AdbError> {
    let header = headers
        .get("x-acs-action")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty());
    let named = if rpc_signed {
        params.get("Action")
    } else {
        header.or_else(|| params.get("Action"))
    };
    named.map(str::to_string).ok_or_else(|| {
        AdbError::new(
            StatusCode::BAD_REQUEST,
            "MissingParameter",
            "the action is missing: send it in the x-acs-action header (ACS3 signature) or the Action parameter (RPC signature)",
        )
    })
}

/// Refuses a request for another API version; a request naming none is served (wire spec §11).
/// `AuthorizeFileUpload` belongs to the OpenPlatform product, version 2019-12-19.
fn check_version(
    action: &str,
    params: &Params,
    headers: &HeaderMap,
    rpc_signed: bool,
) -> Result<(), AdbError> {
    let header = headers.get("x-acs-version").and_then(|v| v.to_str().ok());
    let version = if rpc_signed {
        params.get("Version")
    } else {
        header.or_else(|| params.get("Version"))
    };
    match version {
        None | Some(API_VERSION) => Ok(()),
        Some(oss::OPEN_PLATFORM_VERSION) if action == "AuthorizeFileUpload" => Ok(()),
        Some(other) => Err(AdbError::new(
            StatusCode::BAD_REQUEST,
            "InvalidVersion",
            format!(
                "API version '{other}' is not supported: pier serves the gpdb API version {API_VERSION}"
            ),
        )),
    }
}

/// Reads the whole body, refusing (before buffering, when `Content-Length` says so) anything
/// over [`MAX_BODY_BYTES`].
async fn read_body(headers: &HeaderMap, body: Body) -> Result<axum::body::Bytes, AdbError> {
    let too_large = || {
        AdbError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLarge",
            format!(
                "the request body is over {MAX_BODY_BYTES} bytes: send fewer rows per UpsertCollectionData call (10 MB of Rows at most), or use UpsertCollectionDataAsync for bulk loads"
            ),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| too_large())
}
