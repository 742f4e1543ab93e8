//! Push operations: the `[{cmd, fields, timestamp?}, ...]` body of spec §1.1, parsed and checked.
//!
//! The checks here are the synchronous ones: a batch that fails any of them is refused whole and
//! changes nothing. Field values are checked later, per document, while processing (see `value`).

use crate::codes::Code;
use crate::schema::{AppType, FieldType, TableSchema};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// Largest push body (spec §6: 2 MB per request).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
/// Most documents in one push (spec §6).
pub const MAX_DOCS_PER_PUSH: usize = 1000;
/// Largest single document, as JSON (spec §6: 1 MB).
pub const MAX_DOC_BYTES: usize = 1024 * 1024;

/// What a push element asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    /// Full replace: absent fields become blank.
    Add,
    /// Merge into the stored document (advanced apps).
    Update,
    /// Remove by primary key; removing a missing key succeeds.
    Delete,
}

/// One validated push element.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// The command (`upsert` is parsed as `Update`: merge, creating when missing).
    pub cmd: Cmd,
    /// Client timestamp in ms (advanced apps), ordering operations on the same key.
    pub timestamp: Option<i64>,
    /// The primary key, as a string.
    pub pk: String,
    /// The fields as sent (names not yet mapped to the schema).
    pub fields: Map<String, Value>,
}

/// A synchronous push failure: the whole batch is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PushError {
    /// V3 error code.
    pub code: Code,
    /// What is wrong and how to fix it.
    pub message: String,
}

fn fail<T>(code: Code, message: impl Into<String>) -> Result<T, PushError> {
    Err(PushError {
        code,
        message: message.into(),
    })
}

/// Renders a primary-key value as the string pier keys documents by, or None if it is unusable.
pub fn pk_string(v: &Value, ty: FieldType) -> Option<String> {
    let s = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    match ty {
        FieldType::Int => s.parse::<i64>().ok().map(|n| n.to_string()),
        _ if s.is_empty() => None,
        _ => Some(s),
    }
}

/// Parses and checks a push body for `table` of an app of type `app_type`.
pub fn parse_push_body(
    body: &[u8],
    table: &TableSchema,
    app_type: AppType,
) -> Result<Vec<Operation>, PushError> {
    parse_operations(body, table, app_type, true)
}

/// Parses a batch of operations; with `per_request_limits`, refuses batches over the push API's
/// document-count and document-size limits. Batches from sync sources (one database
/// transaction each, applied atomically) are not bound by those request limits.
pub fn parse_operations(
    body: &[u8],
    table: &TableSchema,
    app_type: AppType,
    per_request_limits: bool,
) -> Result<Vec<Operation>, PushError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return fail(
            Code::EMPTY_PUSH,
            "the push body is empty: send a JSON array of {\"cmd\", \"fields\"} objects",
        );
    }
    let elements: Vec<&RawValue> = match serde_json::from_slice(body) {
        Ok(e) => e,
        Err(e) => {
            let what = if serde_json::from_slice::<Value>(body).is_ok() {
                "the push body must be a JSON array of {\"cmd\", \"fields\"} objects".to_string()
            } else {
                format!(
                    "the push body is not valid JSON ({e}); check for unescaped quotes or control characters"
                )
            };
            return fail(Code::BAD_JSON, what);
        }
    };
    if elements.is_empty() {
        return fail(
            Code::EMPTY_PUSH,
            "the push array is empty: send at least one document",
        );
    }
    if per_request_limits && elements.len() > MAX_DOCS_PER_PUSH {
        return fail(
            Code::TOO_MANY_DOCS,
            format!(
                "the push has {} documents; the limit is {MAX_DOCS_PER_PUSH} per request: split it into smaller batches",
                elements.len()
            ),
        );
    }
    let mut ops = Vec::with_capacity(elements.len());
    for (i, raw) in elements.into_iter().enumerate() {
        let len = raw.get().len();
        if per_request_limits && len > MAX_DOC_BYTES {
            return fail(
                Code::DOC_TOO_LARGE,
                format!(
                    "document #{i} is {len} bytes; the limit is {MAX_DOC_BYTES} bytes per document"
                ),
            );
        }
        let Ok(Value::Object(mut obj)) = serde_json::from_str::<Value>(raw.get()) else {
            return fail(
                Code::BAD_DOC_FORMAT,
                format!("document #{i} must be a JSON object with \"cmd\" and \"fields\""),
            );
        };
        let fields = obj.remove("fields");
        ops.push(element(
            i,
            (obj.get("cmd"), obj.get("timestamp"), fields),
            table,
            app_type,
        )?);
    }
    Ok(ops)
}

/// One element of a batch, as [`parse_operations_raw`] reads it: its `cmd`, `timestamp` and
/// `fields` as JSON text (the last of each, as when parsed into a map), or not an object.
enum RawElement<'a> {
    Object {
        cmd: Option<&'a RawValue>,
        timestamp: Option<&'a RawValue>,
        fields: Option<&'a RawValue>,
    },
    Other,
}

impl<'de> serde::Deserialize<'de> for RawElement<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawElement<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let (mut cmd, mut timestamp, mut fields) = (None, None, None);
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match &*key {
                        "cmd" => cmd = Some(map.next_value()?),
                        "timestamp" => timestamp = Some(map.next_value()?),
                        "fields" => fields = Some(map.next_value()?),
                        // Parsed, not skipped: a value the full parse refuses (a number out
                        // of range) must fail here too.
                        _ => {
                            map.next_value::<Value>()?;
                        }
                    }
                }
                Ok(RawElement::Object {
                    cmd,
                    timestamp,
                    fields,
                })
            }
            // Not an object: refused whatever it holds, so skipped unparsed.
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(RawElement::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(RawElement::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(RawElement::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(RawElement::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(RawElement::Other)
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(RawElement::Other)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(RawElement::Other)
            }
        }
        d.deserialize_any(V)
    }
}

/// [`parse_operations`] without the request limits (the applier's parse of a logged batch),
/// also giving each operation's `fields` object as JSON text: the document an `add` stores
/// can be written from that text instead of formatting every value again. The operations and
/// the errors are the same as `parse_operations`'s.
pub fn parse_operations_raw<'a>(
    body: &'a [u8],
    table: &TableSchema,
    app_type: AppType,
) -> Result<Vec<(Operation, &'a str)>, PushError> {
    let full = || -> Result<Vec<(Operation, &'a str)>, PushError> {
        parse_operations(body, table, app_type, false)
            .map(|ops| ops.into_iter().map(|op| (op, "")).collect())
    };
    let elements = match serde_json::from_slice::<Vec<RawElement<'a>>>(body) {
        Ok(e) if !e.is_empty() => e,
        // Errors are worded by the full parse.
        _ => return full(),
    };
    let mut ops = Vec::with_capacity(elements.len());
    for (i, e) in elements.into_iter().enumerate() {
        let RawElement::Object {
            cmd,
            timestamp,
            fields,
        } = e
        else {
            return fail(
                Code::BAD_DOC_FORMAT,
                format!("document #{i} must be a JSON object with \"cmd\" and \"fields\""),
            );
        };
        // A value the scan passed may still not parse (a number out of range): the full parse
        // then says what is wrong.
        let value = |raw: Option<&RawValue>| match raw {
            None => Ok(None),
            Some(r) => serde_json::from_str::<Value>(r.get()).map(Some),
        };
        let (Ok(cmd), Ok(timestamp), Ok(parsed)) = (value(cmd), value(timestamp), value(fields))
        else {
            return full();
        };
        let op = element(
            i,
            (cmd.as_ref(), timestamp.as_ref(), parsed),
            table,
            app_type,
        )?;
        ops.push((op, fields.map_or("", RawValue::get)));
    }
    Ok(ops)
}

/// Checks element `i` of a batch from its `cmd`, `timestamp` and `fields` values.
fn element(
    i: usize,
    (cmd, timestamp, fields): (Option<&Value>, Option<&Value>, Option<Value>),
    table: &TableSchema,
    app_type: AppType,
) -> Result<Operation, PushError> {
    let pk_field = table.primary_key();
    let cmd = match cmd
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("add") => Cmd::Add,
        Some("update") | Some("upsert") if app_type == AppType::Advanced => Cmd::Update,
        Some("update") | Some("upsert") => {
            return fail(
                Code::BAD_CMD,
                format!(
                    "document #{i}: standard apps do not support \"update\"; push the whole document with \"add\""
                ),
            );
        }
        Some("delete") => Cmd::Delete,
        Some(other) => {
            return fail(
                Code::BAD_CMD,
                format!("document #{i}: unknown cmd '{other}'; use add, update or delete"),
            );
        }
        None => {
            return fail(
                Code::BAD_DOC_FORMAT,
                format!("document #{i} has no \"cmd\" string"),
            );
        }
    };
    let timestamp = match timestamp {
        None | Some(Value::Null) => None,
        Some(_) if app_type == AppType::Standard => {
            return fail(
                Code::BAD_JSON,
                format!(
                    "document #{i}: standard apps do not accept \"timestamp\"; remove it, or use an advanced app"
                ),
            );
        }
        Some(t) => match t
            .as_i64()
            .or_else(|| t.as_str().and_then(|s| s.trim().parse().ok()))
        {
            Some(ts) if ts >= 0 => Some(ts),
            _ => {
                return fail(
                    Code::BAD_DOC_FORMAT,
                    format!(
                        "document #{i}: \"timestamp\" must be a non-negative integer of milliseconds"
                    ),
                );
            }
        },
    };
    let Some(Value::Object(fields)) = fields else {
        return fail(
            Code::BAD_DOC_FORMAT,
            format!("document #{i} has no \"fields\" object"),
        );
    };
    let pk_value = fields
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(&pk_field.name))
        .map(|(_, v)| v);
    let Some(pk_value) = pk_value else {
        return fail(
            Code::MISSING_PK,
            format!("document #{i} has no primary key field '{}'", pk_field.name),
        );
    };
    let Some(pk) = pk_string(pk_value, pk_field.field_type) else {
        return fail(
            Code::MISSING_PK,
            format!(
                "document #{i}: primary key '{}' must be a non-empty {} value, got {pk_value}",
                pk_field.name,
                if pk_field.field_type == FieldType::Int {
                    "integer"
                } else {
                    "string or number"
                }
            ),
        );
    };
    Ok(Operation {
        cmd,
        timestamp,
        pk,
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Schema;
    use serde_json::json;

    fn table() -> TableSchema {
        let s = Schema::from_json(&json!({"tables": {"main": {"fields": {
            "id": {"type": "LITERAL", "primaryKey": true}, "title": {"type": "TEXT"}}}}}))
        .unwrap();
        s.tables[0].clone()
    }

    fn code(body: &str, ty: AppType) -> u32 {
        parse_push_body(body.as_bytes(), &table(), ty)
            .unwrap_err()
            .code
            .0
    }

    #[test]
    fn parses_the_sdk_body() {
        let body = r#"[{"cmd":"add","fields":{"id":"1","title":"This is the title","int_array":[14,85]}},{"cmd":"DELETE","fields":{"ID":2}}]"#;
        let ops = parse_push_body(body.as_bytes(), &table(), AppType::Standard).unwrap();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0].cmd, Cmd::Add);
        assert_eq!(ops[0].pk, "1");
        assert_eq!(ops[1].cmd, Cmd::Delete);
        assert_eq!(ops[1].pk, "2");
        let ops = parse_push_body(
            br#"[{"cmd":"Upsert","timestamp":5,"fields":{"id":"x"}}]"#,
            &table(),
            AppType::Advanced,
        )
        .unwrap();
        assert_eq!((ops[0].cmd, ops[0].timestamp), (Cmd::Update, Some(5)));
    }

    #[test]
    fn refuses_bad_batches_with_the_spec_codes() {
        use AppType::*;
        assert_eq!(code("", Advanced), 3001);
        assert_eq!(code("[]", Advanced), 3001);
        assert_eq!(code("[{", Advanced), 4007);
        assert_eq!(code("{\"cmd\":\"add\"}", Advanced), 4007);
        assert_eq!(code("[1]", Advanced), 3005);
        assert_eq!(code(r#"[{"cmd":"add"}]"#, Advanced), 3005);
        assert_eq!(
            code(r#"[{"cmd":"frob","fields":{"id":"1"}}]"#, Advanced),
            3006
        );
        assert_eq!(
            code(r#"[{"cmd":"update","fields":{"id":"1"}}]"#, Standard),
            3006
        );
        assert_eq!(
            code(
                r#"[{"cmd":"add","timestamp":1,"fields":{"id":"1"}}]"#,
                Standard
            ),
            4007
        );
        assert_eq!(
            code(r#"[{"cmd":"add","fields":{"title":"x"}}]"#, Advanced),
            3009
        );
        assert_eq!(
            code(r#"[{"cmd":"add","fields":{"id":""}}]"#, Advanced),
            3009
        );
        let many = format!(
            "[{}]",
            vec![r#"{"cmd":"delete","fields":{"id":"1"}}"#; 1001].join(",")
        );
        assert_eq!(code(&many, Advanced), 3015);
        let big = format!(
            r#"[{{"cmd":"add","fields":{{"id":"1","title":"{}"}}}}]"#,
            "x".repeat(MAX_DOC_BYTES)
        );
        assert_eq!(code(&big, Advanced), 3002);
    }

    #[test]
    fn the_raw_parse_gives_the_same_operations_and_errors() {
        let bodies = [
            r#"[{"cmd":"add","fields":{"id":"1","title":"t","v":[0.5, 1e-3]}},{"cmd":"DELETE","fields":{"ID":2}}]"#,
            r#"[{"fields":{"id":"1"},"cmd":"add","x":[1,{"a":2}],"fields":{"id":"2"}}]"#,
            r#"[{"cmd":"Upsert","timestamp":"5","fields":{"id":"x"}}]"#,
            r#" [ {"cmd" : "add" , "fields" : { "id" : "1" } } ] "#,
            "",
            "[]",
            "[{",
            r#"{"cmd":"add"}"#,
            "[1]",
            r#"[{"cmd":"add"}]"#,
            r#"[{"cmd":"add","fields":null}]"#,
            r#"[{"cmd":"frob","fields":{"id":"1"}}]"#,
            r#"[{"cmd":"add","timestamp":-1,"fields":{"id":"1"}}]"#,
            r#"[{"cmd":"add","fields":{"title":"x"}}]"#,
            r#"[{"cmd":"add","fields":{"id":"1","n":1e400}}]"#,
            r#"[{"cmd":"add","other":1e400,"fields":{"id":"1"}}]"#,
            r#"[{"cm\u0064":"add","fields":{"id":"1"}},[1e400]]"#,
        ];
        for ty in [AppType::Standard, AppType::Advanced] {
            for body in bodies {
                let full = parse_operations(body.as_bytes(), &table(), ty, false);
                let raw = parse_operations_raw(body.as_bytes(), &table(), ty);
                match (full, raw) {
                    (Ok(full), Ok(raw)) => {
                        assert_eq!(full.len(), raw.len());
                        for (op, (r, text)) in full.iter().zip(&raw) {
                            assert_eq!(op, r, "{body}");
                            // The text is the fields object: it parses to the same fields.
                            let parsed: Map<String, Value> = serde_json::from_str(text).unwrap();
                            assert_eq!(parsed, op.fields, "{body}");
                        }
                    }
                    (full, raw) => assert_eq!(full.err(), raw.err(), "{ty:?} {body}"),
                }
            }
        }
    }
}
