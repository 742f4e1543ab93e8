//! Push: `POST /update/{instanceId}_{tableName}/actions/bulk` (spec §1, and the ha3engine form
//! of §1.3). The body is a JSON array of `{"cmd": "add"|"delete"|"update_field", "fields": {..},
//! "timestamp"?: ms}`; the primary key field is named by the `X-Opensearch-Swift-PK-Field`
//! header.
//!
//! The whole batch is checked before anything is applied: any error refuses it whole.
//!
//! # `X-Opensearch-Validate-Data`
//!
//! The header's semantics are undocumented (spec §1.1); pier's choice ([`Validation`]):
//!
//! * **Always checked** (both modes): the body is a non-empty JSON array within the size and
//!   count limits; each element is an object with a known `cmd` and a `fields` object; the
//!   header names the table's primary key; every document carries that key with a value that
//!   fits its type; `timestamp`, when present, is a non-negative integer.
//! * **`true` ([`Validation::Strict`], what the vector SDK 1.1.19 sends)**: every field value must
//!   fit its type (integer ranges, finite floats, lists for multi-value fields), vectors must
//!   parse and have a length that is a positive multiple of the index dimension (at most
//!   [`MAX_VECTORS_PER_DOC`] vectors), sparse indices and values must pair up with sorted,
//!   distinct indices, `update_field` may not change vector or sparse fields, and a field may
//!   not be sent twice under different letter case. The first problem refuses the batch with
//!   7302 (type) or 7303 (list/vector/sparse).
//! * **absent or anything else ([`Validation::Lenient`])**: such values are dropped from the
//!   document instead (the document is still applied, like havenask's `ignore_invalid_doc`), and
//!   each drop is reported in [`VectorOperation::dropped`].
//!
//! Fields the schema does not declare are ignored in both modes (design choice; the spec
//! documents no error for them).

use crate::codes::Code;
use crate::error::{VseError, shown};
use crate::schema::{FieldType, VectorIndex, VectorTableSchema};
use crate::value::{
    FieldError, check_sorted, normalize_value, parse_sparse_indices, parse_sparse_values,
    parse_vector,
};
use serde_json::{Map, Value};

/// Largest push body: "the data size before encoding may not exceed 2 MB" (spec §1.2).
pub const MAX_PUSH_BODY_BYTES: usize = 2 * 1024 * 1024;
/// Most documents in one push (design choice; the 2 MB body limit binds first in practice).
pub const MAX_DOCS_PER_PUSH: usize = 10_000;
/// Most vectors one document may carry in one vector field (design choice, pier's vector index
/// limit).
pub const MAX_VECTORS_PER_DOC: usize = 128;
/// Header naming the primary key field (always sent by the SDKs; required).
pub const HEADER_PK_FIELD: &str = "X-Opensearch-Swift-PK-Field";
/// Header asking for strict validation (`true` from the Python and C++ SDKs).
pub const HEADER_VALIDATE_DATA: &str = "X-Opensearch-Validate-Data";
/// Intranet header of `push_documents_with_swift`: accepted and ignored.
pub const HEADER_SWIFT_TOPIC: &str = "X-Opensearch-Swift-Topic";
/// Intranet header of `push_documents_with_swift`: accepted and ignored.
pub const HEADER_SWIFT_SWIFT: &str = "X-Opensearch-Swift-Swift";
/// Per-attempt nonce (a new one on every SDK retry): ignore, never de-duplicate by it.
pub const HEADER_SWIFT_REQUEST_ID: &str = "X-Opensearch-Swift-Request-ID";
/// The body of a successful push: empty, as documented ("if no response parameters are
/// returned, the request is successful"); the SDK then shows `{"status":"OK","code":200}`.
pub const PUSH_SUCCESS_BODY: &str = "";

/// How strictly field values are checked (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    /// `X-Opensearch-Validate-Data: true`: a value that does not fit refuses the batch.
    Strict,
    /// No header (Go and older Java SDKs): a value that does not fit is dropped.
    Lenient,
}

impl Validation {
    /// The mode for the header's value: `true` (any case, trimmed) is strict, anything else
    /// (including no header) is lenient.
    pub fn from_header(value: Option<&str>) -> Validation {
        match value {
            Some(v) if v.trim().eq_ignore_ascii_case("true") => Validation::Strict,
            _ => Validation::Lenient,
        }
    }
}

/// What a push element asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    /// `add`: upsert; an existing document with the key is replaced whole.
    Add,
    /// `delete`: remove by key; a missing key is a success.
    Delete,
    /// `update_field` (also `update`): merge the given non-vector fields into the stored
    /// document (havenask attribute update).
    UpdateField,
}

impl Cmd {
    /// Parses a `cmd` value, ignoring ASCII case.
    pub fn parse(s: &str) -> Option<Cmd> {
        match s.trim().to_ascii_lowercase().as_str() {
            "add" => Some(Cmd::Add),
            "delete" => Some(Cmd::Delete),
            "update_field" | "update" => Some(Cmd::UpdateField),
            _ => None,
        }
    }

    /// The canonical wire name.
    pub fn name(self) -> &'static str {
        match self {
            Cmd::Add => "add",
            Cmd::Delete => "delete",
            Cmd::UpdateField => "update_field",
        }
    }
}

/// The dense vectors a document carries in one vector field.
#[derive(Debug, Clone, PartialEq)]
pub struct DocVector {
    /// The vector field (schema spelling).
    pub field: String,
    /// The dimension of the field's index(es).
    pub dimension: usize,
    /// `k × dimension` values: one vector, or several for "single-doc multi-vector".
    pub values: Vec<f32>,
}

impl DocVector {
    /// The vectors, one slice each.
    pub fn vectors(&self) -> impl Iterator<Item = &[f32]> {
        self.values.chunks_exact(self.dimension.max(1))
    }

    /// How many vectors the document carries in this field.
    pub fn count(&self) -> usize {
        self.values.len() / self.dimension.max(1)
    }
}

/// The sparse vector a document carries for one vector index.
#[derive(Debug, Clone, PartialEq)]
pub struct DocSparse {
    /// The vector index whose `sparseIndexField` / `sparseValueField` held it.
    pub index: String,
    /// Ascending, distinct indices.
    pub indices: Vec<u32>,
    /// One value per index.
    pub values: Vec<f32>,
}

/// A value a lenient push dropped from a document, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// The field.
    pub field: String,
    /// The code a strict push would have refused the batch with.
    pub code: Code,
    /// Why.
    pub reason: String,
}

/// One checked push element.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorOperation {
    /// The command.
    pub cmd: Cmd,
    /// The primary key in canonical form: the decimal integer for an integer key, the string
    /// as sent for a STRING key.
    pub pk: String,
    /// Client timestamp in milliseconds (optional `timestamp`), ordering operations on one key.
    pub timestamp: Option<i64>,
    /// Normalised non-vector fields under their schema names, the primary key included
    /// (empty except for the key on `delete`). Sparse index/value fields are kept here as well
    /// (they are ordinary multi-value fields); dense vector fields are not (see `vectors`).
    pub fields: Map<String, Value>,
    /// Dense vectors, one entry per vector field present.
    pub vectors: Vec<DocVector>,
    /// Sparse vectors, one entry per vector index with sparse fields present.
    pub sparse: Vec<DocSparse>,
    /// Values a lenient push dropped (always empty in strict mode).
    pub dropped: Vec<Dropped>,
}

fn fail<T>(code: Code, message: impl Into<String>) -> Result<T, VseError> {
    Err(VseError::new(code, message))
}

/// Splits the push path segment `{instanceId}_{tableName}` at the first `_` (instance ids
/// contain none). Returns None when there is no `_` or a side is empty.
pub fn split_instance_table(segment: &str) -> Option<(&str, &str)> {
    segment
        .split_once('_')
        .filter(|(i, t)| !i.is_empty() && !t.is_empty())
}

/// Resolves the table of a push path segment: the part after the instance id prefix if such a
/// table exists, else the whole segment as a bare table name (spec §1.1). `exists` tells whether
/// a table name is known. None means "Resource not found" ([`VseError::resource_not_found`]).
pub fn resolve_bulk_table(segment: &str, exists: impl Fn(&str) -> bool) -> Option<String> {
    if let Some((_, table)) = split_instance_table(segment)
        && exists(table)
    {
        return Some(table.to_string());
    }
    exists(segment).then(|| segment.to_string())
}

/// The canonical primary key for `v` under the key's type, or a message.
fn pk_string(v: &Value, t: FieldType) -> Result<String, String> {
    if t.is_integer() {
        match crate::value::scalar("", t, v) {
            Ok(n) => Ok(n.to_string()),
            Err(_) => Err(format!(
                "must be an integer from {} to {} (a JSON number or a numeric string), got {}",
                t.int_range().map_or(0, |r| r.0),
                t.int_range().map_or(0, |r| r.1),
                shown(v)
            )),
        }
    } else {
        match v {
            Value::String(s) if !s.is_empty() => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(format!(
                "must be a non-empty string or a number, got {}",
                shown(v)
            )),
        }
    }
}

/// Parses and checks a push body for `schema`. `pk_header` is the value of
/// [`HEADER_PK_FIELD`]; `validation` comes from [`Validation::from_header`] on
/// [`HEADER_VALIDATE_DATA`]. Errors carry the codes of [`crate::codes`]; send them with
/// [`VseError::push_body`].
pub fn parse_push(
    body: &[u8],
    schema: &VectorTableSchema,
    pk_header: Option<&str>,
    validation: Validation,
) -> Result<Vec<VectorOperation>, VseError> {
    if body.len() > MAX_PUSH_BODY_BYTES {
        return fail(
            Code::BODY_TOO_LARGE,
            format!(
                "the push body is {} bytes; the limit is {MAX_PUSH_BODY_BYTES} bytes (2 MB) per request: split it into smaller batches",
                body.len()
            ),
        );
    }
    let Some(pk_header) = pk_header.map(str::trim).filter(|h| !h.is_empty()) else {
        return fail(
            Code::MISSING_PK,
            format!(
                "the {HEADER_PK_FIELD} header is required: set it to the primary key field name '{}'",
                schema.primary_key
            ),
        );
    };
    if !pk_header.eq_ignore_ascii_case(&schema.primary_key) {
        return fail(
            Code::MISSING_PK,
            format!(
                "the {HEADER_PK_FIELD} header names '{pk_header}', but the primary key of table '{}' is '{}'",
                schema.name, schema.primary_key
            ),
        );
    }
    let pk_type = schema
        .pk_field()
        .map_or(FieldType::String, |f| f.field_type);
    if body.iter().all(u8::is_ascii_whitespace) {
        return fail(
            Code::EMPTY_PUSH,
            "the push body is empty: send a JSON array of {\"cmd\", \"fields\"} objects",
        );
    }
    // Parsed once, straight into values (the vectors' numbers are the bulk of the body).
    let elements: Vec<Value> = match serde_json::from_slice(body) {
        Ok(e) => e,
        Err(e) => {
            let message = match serde_json::from_slice::<Value>(body) {
                Ok(_) => "the push body must be a JSON array of {\"cmd\", \"fields\"} objects, e.g. [{\"cmd\":\"add\",\"fields\":{\"id\":1}}]".to_string(),
                Err(_) => {
                    let text = String::from_utf8_lossy(body);
                    let hint = if text.contains("NaN") || text.contains("Infinity") {
                        "; NaN and Infinity are not JSON: remove them from the vectors"
                    } else {
                        "; check for unescaped quotes or control characters"
                    };
                    format!("the push body is not valid JSON ({e}){hint}")
                }
            };
            return fail(Code::BAD_JSON, message);
        }
    };
    if elements.is_empty() {
        return fail(
            Code::EMPTY_PUSH,
            "the push array is empty: send at least one document",
        );
    }
    if elements.len() > MAX_DOCS_PER_PUSH {
        return fail(
            Code::TOO_MANY_DOCS,
            format!(
                "the push has {} documents; the limit is {MAX_DOCS_PER_PUSH} per request: split it into smaller batches",
                elements.len()
            ),
        );
    }
    let mut ops = Vec::with_capacity(elements.len());
    for (i, element) in elements.into_iter().enumerate() {
        let Value::Object(mut obj) = element else {
            return fail(
                Code::BAD_DOC_FORMAT,
                format!("document #{i} must be a JSON object with \"cmd\" and \"fields\""),
            );
        };
        let cmd = match obj.get("cmd") {
            Some(Value::String(s)) => Cmd::parse(s).ok_or_else(|| {
                VseError::new(
                    Code::BAD_CMD,
                    format!(
                        "document #{i}: unknown cmd {}; use add, delete or update_field",
                        shown(&Value::String(s.clone()))
                    ),
                )
            })?,
            _ => {
                return fail(
                    Code::BAD_DOC_FORMAT,
                    format!(
                        "document #{i} has no \"cmd\" string; add \"cmd\":\"add\" (or delete, update_field)"
                    ),
                );
            }
        };
        let timestamp = match obj.get("timestamp") {
            None | Some(Value::Null) => None,
            Some(t) => match t
                .as_i64()
                .or_else(|| t.as_str().and_then(|s| s.trim().parse().ok()))
            {
                Some(ts) if ts >= 0 => Some(ts),
                _ => {
                    return fail(
                        Code::BAD_DOC_FORMAT,
                        format!(
                            "document #{i}: \"timestamp\" must be a non-negative integer of milliseconds, got {}",
                            shown(t)
                        ),
                    );
                }
            },
        };
        let Some(Value::Object(fields)) = obj.remove("fields") else {
            return fail(
                Code::BAD_DOC_FORMAT,
                format!("document #{i} has no \"fields\" object"),
            );
        };
        let pk_value = fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&schema.primary_key))
            .map(|(_, v)| v);
        let Some(pk_value) = pk_value.filter(|v| !v.is_null()) else {
            return fail(
                Code::MISSING_PK,
                format!(
                    "document #{i} has no primary key field '{}' in \"fields\"",
                    schema.primary_key
                ),
            );
        };
        let pk = pk_string(pk_value, pk_type).map_err(|m| {
            VseError::new(
                Code::MISSING_PK,
                format!(
                    "document #{i}: primary key '{}' is {} and {m}",
                    schema.primary_key,
                    pk_type.name()
                ),
            )
        })?;
        let mut op = VectorOperation {
            cmd,
            pk,
            timestamp,
            fields: Map::new(),
            vectors: Vec::new(),
            sparse: Vec::new(),
            dropped: Vec::new(),
        };
        if cmd == Cmd::Delete {
            op.fields.insert(
                schema.primary_key.clone(),
                pk_value_normal(pk_value, pk_type),
            );
        } else {
            fill_fields(i, &fields, schema, validation, &mut op)?;
        }
        ops.push(op);
    }
    Ok(ops)
}

fn pk_value_normal(v: &Value, t: FieldType) -> Value {
    crate::value::scalar("", t, v).unwrap_or_else(|_| v.clone())
}

fn fill_fields(
    i: usize,
    fields: &Map<String, Value>,
    schema: &VectorTableSchema,
    validation: Validation,
    op: &mut VectorOperation,
) -> Result<(), VseError> {
    let strict = validation == Validation::Strict;
    // Reports a problem: strict refuses the batch, lenient drops the value.
    let problem = |field: &str, e: FieldError, op: &mut VectorOperation| {
        if strict {
            Err(VseError::new(
                e.code,
                format!("document #{i}: {}", e.message),
            ))
        } else {
            op.dropped.push(Dropped {
                field: field.to_string(),
                code: e.code,
                reason: e.message,
            });
            Ok(())
        }
    };
    let mut seen: Vec<&str> = Vec::new();
    for (name, v) in fields {
        let Some(field) = schema.field(name) else {
            continue;
        };
        if seen.iter().any(|s| s.eq_ignore_ascii_case(name)) {
            problem(
                &field.name,
                FieldError {
                    code: Code::FIELD_TYPE,
                    message: format!(
                        "field '{}' is sent twice (names are case-insensitive); send it once",
                        field.name
                    ),
                },
                op,
            )?;
            continue;
        }
        seen.push(name);
        if schema.is_vector_field(&field.name) {
            let index = schema.indexes_on_field(&field.name).next();
            if let Some(index) = index {
                if op.cmd == Cmd::UpdateField {
                    problem(&field.name, no_vector_update(&field.name), op)?;
                    continue;
                }
                match doc_vector(&field.name, v, index) {
                    Ok(Some(dv)) => op.vectors.push(dv),
                    Ok(None) => {}
                    Err(e) => problem(&field.name, e, op)?,
                }
            }
            continue;
        }
        match normalize_value(field, v) {
            Ok(Some(nv)) => {
                op.fields.insert(field.name.clone(), nv);
            }
            Ok(None) => {}
            Err(e) => problem(&field.name, e, op)?,
        }
    }
    for index in &schema.vector_indexes {
        let (Some(fi), Some(fv)) = (&index.sparse_index_field, &index.sparse_value_field) else {
            continue;
        };
        let iv = fields
            .iter()
            .find(|(k, v)| k.eq_ignore_ascii_case(fi) && !v.is_null());
        let vv = fields
            .iter()
            .find(|(k, v)| k.eq_ignore_ascii_case(fv) && !v.is_null());
        if iv.is_none() && vv.is_none() {
            continue;
        }
        if op.cmd == Cmd::UpdateField {
            for f in [fi, fv] {
                op.fields.remove(f);
                problem(f, no_vector_update(f), op)?;
            }
            continue;
        }
        match doc_sparse(index, iv.map(|x| x.1), vv.map(|x| x.1)) {
            Ok(s) => op.sparse.push(s),
            Err(e) => {
                op.fields.remove(fi);
                op.fields.remove(fv);
                problem(fi, e, op)?;
            }
        }
    }
    Ok(())
}

fn no_vector_update(field: &str) -> FieldError {
    FieldError {
        code: Code::FIELD_TYPE,
        message: format!(
            "update_field cannot change vector field '{field}'; push the whole document with \"cmd\":\"add\""
        ),
    }
}

fn doc_vector(
    field: &str,
    v: &Value,
    index: &VectorIndex,
) -> Result<Option<DocVector>, FieldError> {
    if v.is_null() {
        return Ok(None);
    }
    let values = parse_vector(v, &index.embedding_delimiter).map_err(|m| FieldError {
        code: Code::FIELD_ARRAY,
        message: format!("vector field '{field}': {m}"),
    })?;
    if values.is_empty() {
        return Ok(None);
    }
    let d = index.dimension.max(1);
    if !values.len().is_multiple_of(d) || values.len() / d > MAX_VECTORS_PER_DOC {
        return Err(FieldError {
            code: Code::FIELD_ARRAY,
            message: format!(
                "vector field '{field}' has {} values, but index '{}' has dimension {d}: send {d} numbers per vector (at most {MAX_VECTORS_PER_DOC} vectors, i.e. a multiple of {d} up to {})",
                values.len(),
                index.name,
                d * MAX_VECTORS_PER_DOC
            ),
        });
    }
    Ok(Some(DocVector {
        field: field.to_string(),
        dimension: d,
        values,
    }))
}

fn doc_sparse(
    index: &VectorIndex,
    indices: Option<&Value>,
    values: Option<&Value>,
) -> Result<DocSparse, FieldError> {
    let fi = index.sparse_index_field.as_deref().unwrap_or("");
    let fv = index.sparse_value_field.as_deref().unwrap_or("");
    let bad = |m: String| FieldError {
        code: Code::FIELD_ARRAY,
        message: format!(
            "sparse vector of index '{}' ('{fi}' / '{fv}'): {m}",
            index.name
        ),
    };
    let (Some(iv), Some(vv)) = (indices, values) else {
        return Err(bad(format!(
            "send both '{fi}' (indices) and '{fv}' (values), or neither"
        )));
    };
    let indices = parse_sparse_indices(iv).map_err(bad)?;
    let values = parse_sparse_values(vv).map_err(bad)?;
    if indices.len() != values.len() {
        return Err(bad(format!(
            "{} indices but {} values; they pair up one to one",
            indices.len(),
            values.len()
        )));
    }
    check_sorted(&indices).map_err(bad)?;
    Ok(DocSparse {
        index: index.name.clone(),
        indices,
        values,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn schema() -> VectorTableSchema {
        VectorTableSchema::from_json_str(crate::schema::tests::SDK_CREATE_TABLE).unwrap()
    }

    fn parse(body: &str, v: Validation) -> Result<Vec<VectorOperation>, VseError> {
        parse_push(body.as_bytes(), &schema(), Some("id"), v)
    }

    fn code(body: &str) -> u32 {
        parse(body, Validation::Strict).unwrap_err().code.0
    }

    #[test]
    fn parses_the_spec_example() {
        let body = r#"[{"cmd":"add","fields":{"id":1,"cate_id":2,"vector":[0.1,0.2,0.3],"tags":["a","b"]}},{"cmd":"delete","fields":{"id":2}}]"#;
        let ops = parse(body, Validation::Strict).unwrap();
        assert_eq!(ops.len(), 2);
        assert_eq!((ops[0].cmd, ops[0].pk.as_str()), (Cmd::Add, "1"));
        assert_eq!(
            Value::Object(ops[0].fields.clone()),
            json!({"id": 1, "cate_id": 2, "tags": ["a", "b"]})
        );
        assert_eq!(ops[0].vectors[0].values, vec![0.1, 0.2, 0.3]);
        assert_eq!(ops[0].vectors[0].count(), 1);
        assert_eq!((ops[1].cmd, ops[1].pk.as_str()), (Cmd::Delete, "2"));
        assert_eq!(Value::Object(ops[1].fields.clone()), json!({"id": 2}));
    }

    #[test]
    fn accepts_every_documented_form() {
        let body = r#"[{"fields":{"ID":"7","Vector":"0.1,0.2,0.3;0.4,0.5,0.6","sparse_idx":[1,5],"sparse_val":[0.5,0.4],"ns":"a","unknown":{"x":1},"title":null},"cmd":"ADD","timestamp":1700000000000},
                       {"cmd":"update_field","fields":{"id":"8","cate_id":"3"}},{"cmd":"Update","fields":{"id":9}}]"#;
        let ops = parse(body, Validation::Strict).unwrap();
        let a = &ops[0];
        assert_eq!(
            (a.cmd, a.pk.as_str(), a.timestamp),
            (Cmd::Add, "7", Some(1_700_000_000_000))
        );
        assert_eq!(a.vectors[0].field, "vector");
        assert_eq!(a.vectors[0].count(), 2);
        assert_eq!(a.vectors[0].vectors().nth(1).unwrap(), &[0.4, 0.5, 0.6]);
        assert_eq!(a.sparse[0].indices, vec![1, 5]);
        assert_eq!(a.sparse[0].values, vec![0.5, 0.4]);
        assert_eq!(
            Value::Object(a.fields.clone()),
            json!({"id": 7, "sparse_idx": [1, 5], "sparse_val": [0.5, 0.4], "ns": "a"})
        );
        assert_eq!(ops[1].cmd, Cmd::UpdateField);
        assert_eq!(
            Value::Object(ops[1].fields.clone()),
            json!({"id": 8, "cate_id": 3})
        );
        assert_eq!(ops[2].cmd, Cmd::UpdateField);
    }

    #[test]
    fn refuses_bad_batches_with_codes() {
        assert_eq!(code(""), 3001);
        assert_eq!(code("  "), 3001);
        assert_eq!(code("[]"), 3001);
        assert_eq!(code("[{"), 4007);
        assert_eq!(code(r#"{"cmd":"add"}"#), 4007);
        assert!(
            parse(
                r#"[{"cmd":"add","fields":{"id":1,"vector":[NaN,1,2]}}]"#,
                Validation::Strict
            )
            .unwrap_err()
            .message
            .contains("NaN")
        );
        assert_eq!(code("[1]"), 3005);
        assert_eq!(code(r#"[{"cmd":"add"}]"#), 3005);
        assert_eq!(code(r#"[{"cmd":1,"fields":{"id":1}}]"#), 3005);
        assert_eq!(
            code(r#"[{"cmd":"add","timestamp":-1,"fields":{"id":1}}]"#),
            3005
        );
        assert_eq!(
            code(r#"[{"cmd":"add","timestamp":"x","fields":{"id":1}}]"#),
            3005
        );
        assert_eq!(code(r#"[{"cmd":"upsert","fields":{"id":1}}]"#), 3006);
        assert_eq!(code(r#"[{"cmd":"add","fields":{"title":"x"}}]"#), 3009);
        assert_eq!(code(r#"[{"cmd":"add","fields":{"id":null}}]"#), 3009);
        assert_eq!(code(r#"[{"cmd":"add","fields":{"id":"abc"}}]"#), 3009);
        assert_eq!(code(r#"[{"cmd":"delete","fields":{"id":1.5}}]"#), 3009);
        let many = format!(
            "[{}]",
            vec![r#"{"cmd":"delete","fields":{"id":1}}"#; MAX_DOCS_PER_PUSH + 1].join(",")
        );
        assert_eq!(code(&many), 3015);
        let big = format!(
            r#"[{{"cmd":"add","fields":{{"id":1,"title":"{}"}}}}]"#,
            "x".repeat(MAX_PUSH_BODY_BYTES)
        );
        let e = parse(&big, Validation::Strict).unwrap_err();
        assert_eq!((e.code.0, e.status), (3002, 413));
        let e = parse_push(b"[]", &schema(), None, Validation::Strict).unwrap_err();
        assert_eq!(e.code.0, 3009);
        assert!(e.message.contains(HEADER_PK_FIELD));
        let e = parse_push(b"[]", &schema(), Some("pk"), Validation::Strict).unwrap_err();
        assert!(e.message.contains("primary key of table 'test' is 'id'"));
        assert!(
            parse_push(
                br#"[{"cmd":"delete","fields":{"id":1}}]"#,
                &schema(),
                Some(" ID "),
                Validation::Strict
            )
            .is_ok()
        );
    }

    #[test]
    fn strict_refuses_and_lenient_drops_bad_values() {
        let cases = [
            (r#"{"id":1,"cate_id":"x"}"#, 7302, "cate_id"),
            (r#"{"id":1,"cate_id":3000000000}"#, 7302, "cate_id"),
            (r#"{"id":1,"tags":[{"a":1}]}"#, 7303, "tags"),
            (r#"{"id":1,"vector":[0.1,0.2]}"#, 7303, "vector"),
            (r#"{"id":1,"vector":"0.1,x,0.3"}"#, 7303, "vector"),
            (r#"{"id":1,"vector":{"a":1}}"#, 7303, "vector"),
            (
                r#"{"id":1,"sparse_idx":[5,1],"sparse_val":[0.5,0.4]}"#,
                7303,
                "sparse_idx",
            ),
            (
                r#"{"id":1,"sparse_idx":[1,5],"sparse_val":[0.5]}"#,
                7303,
                "sparse_idx",
            ),
            (r#"{"id":1,"sparse_idx":[1,5]}"#, 7303, "sparse_idx"),
            (r#"{"id":1,"cate_id":1,"CATE_ID":2}"#, 7302, "CATE_ID"),
        ];
        for (fields, want, dropped) in cases {
            let body = format!(r#"[{{"cmd":"add","fields":{fields}}}]"#);
            let e = parse(&body, Validation::Strict).unwrap_err();
            assert_eq!(e.code.0, want, "{fields}: {}", e.message);
            assert!(e.message.starts_with("document #0: "), "{}", e.message);
            let ops = parse(&body, Validation::Lenient).unwrap();
            assert_eq!(ops[0].pk, "1");
            assert!(
                ops[0]
                    .dropped
                    .iter()
                    .any(|d| d.field.eq_ignore_ascii_case(dropped) && d.code.0 == want),
                "{fields}: {:?}",
                ops[0].dropped
            );
            assert!(ops[0].vectors.is_empty() && ops[0].sparse.is_empty());
        }
        let body = r#"[{"cmd":"update_field","fields":{"id":1,"vector":[1,2,3],"sparse_idx":[1],"sparse_val":[1]}}]"#;
        assert_eq!(parse(body, Validation::Strict).unwrap_err().code.0, 7302);
        let ops = parse(body, Validation::Lenient).unwrap();
        assert_eq!(ops[0].dropped.len(), 3);
        assert_eq!(Value::Object(ops[0].fields.clone()), json!({"id": 1}));
        assert!(ops[0].vectors.is_empty() && ops[0].sparse.is_empty());
    }

    #[test]
    fn several_vector_fields_per_document() {
        let schema = VectorTableSchema::from_json(&json!({"name": "t", "primaryKey": "pk",
            "fieldSchema": {"pk": "UINT32", "img": "MULTI_FLOAT", "txt": "STRING", "both": "MULTI_DOUBLE"},
            "vectorIndex": [
                {"indexName": "i_img", "vectorField": "img", "dimension": "2"},
                {"indexName": "i_txt", "vectorField": "txt", "dimension": "3", "embeddingDelimiter": " "},
                {"indexName": "i_both_l2", "vectorField": "both", "dimension": "1"},
                {"indexName": "i_both_ip", "vectorField": "both", "dimension": "1", "distanceType": "InnerProduct"}]}))
        .unwrap();
        let body = br#"[{"cmd":"add","fields":{"pk":"4294967295","img":[[1,2],[3,4]],"txt":"0.1 0.2  0.3","both":[5]}}]"#;
        let ops = parse_push(body, &schema, Some("pk"), Validation::Strict).unwrap();
        let v = &ops[0].vectors;
        assert_eq!(ops[0].pk, "4294967295");
        assert_eq!((v[0].field.as_str(), v[0].count()), ("img", 2));
        assert_eq!(
            (v[1].field.as_str(), v[1].values.clone()),
            ("txt", vec![0.1, 0.2, 0.3])
        );
        assert_eq!((v[2].field.as_str(), v[2].dimension), ("both", 1));
        assert_eq!(schema.indexes_on_field("both").count(), 2);
        assert_eq!(
            Value::Object(ops[0].fields.clone()),
            json!({"pk": 4294967295u32})
        );
        let e = parse_push(
            br#"[{"cmd":"add","fields":{"pk":4294967296}}]"#,
            &schema,
            Some("pk"),
            Validation::Lenient,
        )
        .unwrap_err();
        assert!(e.message.contains("from 0 to 4294967295"), "{}", e.message);
        let many = format!(
            r#"[{{"cmd":"add","fields":{{"pk":1,"both":[{}]}}}}]"#,
            vec!["1"; MAX_VECTORS_PER_DOC + 1].join(",")
        );
        assert_eq!(
            parse_push(many.as_bytes(), &schema, Some("pk"), Validation::Strict)
                .unwrap_err()
                .code
                .0,
            7303
        );
    }

    #[test]
    fn blank_vectors_and_header_modes() {
        let ops = parse(
            r#"[{"cmd":"add","fields":{"id":1,"vector":"","title":"t"}}]"#,
            Validation::Strict,
        )
        .unwrap();
        assert!(ops[0].vectors.is_empty());
        assert_eq!(Validation::from_header(Some(" TRUE ")), Validation::Strict);
        assert_eq!(Validation::from_header(Some("false")), Validation::Lenient);
        assert_eq!(Validation::from_header(None), Validation::Lenient);
        assert_eq!(Cmd::parse("DELETE"), Some(Cmd::Delete));
        assert_eq!(Cmd::UpdateField.name(), "update_field");
    }

    #[test]
    fn resolves_the_path_segment() {
        let exists = |t: &str| t == "test" || t == "my_table";
        assert_eq!(
            split_instance_table("ha-cn-abc123_test"),
            Some(("ha-cn-abc123", "test"))
        );
        assert_eq!(split_instance_table("test"), None);
        assert_eq!(split_instance_table("_test"), None);
        assert_eq!(
            resolve_bulk_table("ha-cn-abc123_test", exists).as_deref(),
            Some("test")
        );
        assert_eq!(
            resolve_bulk_table("ha-843qfng6ydhb_my_table", exists).as_deref(),
            Some("my_table")
        );
        assert_eq!(resolve_bulk_table("test", exists).as_deref(), Some("test"));
        assert_eq!(
            resolve_bulk_table("my_table", exists).as_deref(),
            Some("my_table")
        );
        assert_eq!(resolve_bulk_table("ha-x_other", exists), None);
    }
}
