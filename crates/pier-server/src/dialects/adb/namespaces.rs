//! `InitVectorDatabase` and the namespace actions (wire spec §3.6, §5.1, §8). All of them
//! require the manager account.

use super::{AdbError, Call, Fields};
use axum::http::StatusCode;
use pier_engine::namespaces::{NamespaceError, NamespaceInfo};
use serde_json::json;

impl From<NamespaceError> for AdbError {
    fn from(e: NamespaceError) -> AdbError {
        let (status, code) = match &e {
            // Integrations treat 404 as "does not exist, create it" (wire spec §1.5).
            NamespaceError::NotFound(_) => (StatusCode::NOT_FOUND, "Namespace.NotExist"),
            NamespaceError::ManagerMismatch => {
                (StatusCode::FORBIDDEN, "ManagerAccount.PasswordMismatch")
            }
            NamespaceError::PasswordMismatch(_) => {
                (StatusCode::FORBIDDEN, "AccountOrPassword.VerificationError")
            }
            NamespaceError::Invalid(_) => (StatusCode::BAD_REQUEST, "InvalidParameter"),
            NamespaceError::Storage(_) => return AdbError::internal(&e),
        };
        AdbError::new(status, code, e.to_string())
    }
}

/// `InitVectorDatabase`: idempotent (Dify and LlamaIndex call it on every start-up); creates
/// the `public` namespace.
pub fn init_vector_database(call: &Call) -> Result<Fields, AdbError> {
    call.check_manager()?;
    call.engine.namespaces().init()?;
    Ok(Fields::new())
}

/// `CreateNamespace`: creates the namespace, or replaces the password of an existing one.
pub fn create_namespace(call: &Call) -> Result<Fields, AdbError> {
    call.check_manager()?;
    let password = call.params.require("NamespacePassword")?;
    call.engine
        .namespaces()
        .create(call.namespace(), password)?;
    Ok(Fields::new())
}

/// `DescribeNamespace`: 404 `Namespace.NotExist` for a missing one.
pub fn describe_namespace(call: &Call) -> Result<Fields, AdbError> {
    call.check_manager()?;
    let name = call.params.require("Namespace")?;
    let info = call.engine.namespaces().describe(name)?;
    let mut fields = call.instance_fields();
    fields.insert("Namespace".into(), name.into());
    fields.insert("NamespaceInfo".into(), namespace_info(call, &info));
    Ok(fields)
}

/// `ListNamespaces`: `Namespaces.Namespace[]` and `Count`.
pub fn list_namespaces(call: &Call) -> Result<Fields, AdbError> {
    call.check_manager()?;
    let names = call.engine.namespaces().list()?;
    let mut fields = call.instance_fields();
    fields.insert("Count".into(), names.len().into());
    fields.insert("Namespaces".into(), json!({ "Namespace": names }));
    Ok(fields)
}

/// `DeleteNamespace`: 404 for a missing one. The spec does not say what becomes of its
/// collections; pier refuses while it has any (like PostgreSQL's `DROP SCHEMA`, which
/// restricts by default).
pub fn delete_namespace(call: &Call) -> Result<Fields, AdbError> {
    call.check_manager()?;
    let name = call.params.require("Namespace")?;
    let collections = super::collections::names_in(&call.engine, name);
    if !collections.is_empty() {
        return Err(AdbError::new(
            StatusCode::CONFLICT,
            "Namespace.NotEmpty",
            format!(
                "namespace '{name}' still has collections ({}); delete them with DeleteCollection first",
                collections.join(", ")
            ),
        ));
    }
    call.engine.namespaces().delete(name)?;
    Ok(Fields::new())
}

/// `NamespaceInfo` (`map[string]*string`, content undocumented): string values only, since
/// typed SDKs unmarshal it into a map of strings.
fn namespace_info(call: &Call, info: &NamespaceInfo) -> serde_json::Value {
    let owner = if info.has_own_password {
        info.name.as_str()
    } else {
        call.params.get("ManagerAccount").unwrap_or_default()
    };
    json!({
        "Name": info.name,
        "Owner": owner,
        "CreateTime": format_time(info.created_at_ms),
        "UpdateTime": format_time(info.updated_at_ms),
    })
}

/// `YYYY-MM-DD HH:MM:SS` in UTC, the form the API uses for times.
fn format_time(ms: u64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}
