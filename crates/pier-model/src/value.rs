//! Field values: checking pushed values against their field types and normalising them, so the
//! stored document holds one representation per type (INT as a JSON integer, LITERAL as a string...).

use crate::codes::Code;
use crate::schema::{FieldType, RESERVED_FIELD_NAMES, TableSchema};
use serde_json::{Map, Number, Value};

/// Longest SHORT_TEXT value in bytes; longer values are truncated (spec §6).
pub const MAX_SHORT_TEXT_BYTES: usize = 100;
/// Longest LITERAL value, and longest LITERAL_ARRAY in total, in bytes; longer are truncated (spec §6).
pub const MAX_LITERAL_BYTES: usize = 65535;
/// Most elements in a numeric array (spec §6).
pub const MAX_ARRAY_ELEMENTS: usize = 65535;

/// A per-document processing error (a 7xxx code): the document is not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DocError {
    /// The 7xxx code.
    pub code: Code,
    /// Which field, what was wrong, what is expected.
    pub message: String,
}

fn type_error(field: &str, ty: FieldType, v: &Value) -> DocError {
    let expected = match ty {
        FieldType::Int => "an integer (JSON number or numeric string) in the int64 range",
        FieldType::Float => "a number within ±3.40282e38",
        FieldType::Double => "a number",
        FieldType::Timestamp => "a non-negative integer of milliseconds",
        FieldType::GeoPoint => "a string \"longitude latitude\", e.g. \"120.1 30.2\"",
        _ => "a string or number",
    };
    let shown: String = v.to_string().chars().take(60).collect();
    DocError {
        code: Code::P_FIELD_TYPE,
        message: format!("field '{field}' is {ty:?} and expects {expected}, got {shown}"),
    }
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

fn scalar(field: &str, ty: FieldType, v: &Value) -> Result<Value, DocError> {
    let num_str = |v: &Value| match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let bad = || type_error(field, ty, v);
    Ok(match ty {
        FieldType::Int => {
            let n = match v {
                Value::Number(n) => n.as_i64().or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                        .map(|f| f as i64)
                }),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            };
            Value::from(n.ok_or_else(bad)?)
        }
        FieldType::Float | FieldType::Double => {
            let f = num_str(v)
                .and_then(|s| s.parse::<f64>().ok())
                .filter(|f| f.is_finite())
                .ok_or_else(bad)?;
            if ty == FieldType::Float && f.abs() > f32::MAX as f64 {
                return Err(bad());
            }
            Value::Number(Number::from_f64(f).ok_or_else(bad)?)
        }
        FieldType::Timestamp => Value::from(
            num_str(v)
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(bad)?,
        ),
        FieldType::GeoPoint => {
            let s = v.as_str().ok_or_else(bad)?;
            let parts: Vec<f64> = s
                .split_whitespace()
                .map(str::parse)
                .collect::<Result<_, _>>()
                .map_err(|_| bad())?;
            match parts[..] {
                [lon, lat] if (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat) => {
                    Value::String(format!("{lon} {lat}"))
                }
                _ => return Err(bad()),
            }
        }
        FieldType::Literal => {
            Value::String(truncate(num_str(v).ok_or_else(bad)?, MAX_LITERAL_BYTES))
        }
        FieldType::ShortText => {
            Value::String(truncate(num_str(v).ok_or_else(bad)?, MAX_SHORT_TEXT_BYTES))
        }
        FieldType::Text => Value::String(num_str(v).ok_or_else(bad)?),
        FieldType::IntArray
        | FieldType::FloatArray
        | FieldType::DoubleArray
        | FieldType::LiteralArray => {
            unreachable!("arrays are handled by normalize_value")
        }
    })
}

fn normalize_value(field: &str, ty: FieldType, v: &Value) -> Result<Value, DocError> {
    let Some(elem) = ty.element() else {
        return scalar(field, ty, v);
    };
    let Value::Array(items) = v else {
        return Err(DocError {
            code: Code::P_ARRAY,
            message: format!("field '{field}' is {ty:?} and expects a JSON array, e.g. [1, 2]"),
        });
    };
    if items.len() > MAX_ARRAY_ELEMENTS {
        return Err(DocError {
            code: Code::P_ARRAY,
            message: format!(
                "field '{field}' has {} elements; the limit is {MAX_ARRAY_ELEMENTS}",
                items.len()
            ),
        });
    }
    let mut out = Vec::with_capacity(items.len());
    let mut literal_bytes = 0;
    for item in items {
        let x = scalar(field, elem, item).map_err(|e| DocError {
            code: Code::P_ARRAY,
            message: e.message,
        })?;
        if let Value::String(s) = &x {
            // The cloud counts a 2-byte separator per element and keeps whole elements only.
            literal_bytes += s.len() + 2;
            if literal_bytes > MAX_LITERAL_BYTES {
                break;
            }
        }
        out.push(x);
    }
    Ok(Value::Array(out))
}

/// Maps pushed field names to the table's field names (case-insensitively), checks and normalises
/// each value. Unknown fields are ignored (spec §3 design choice); `null` means blank.
pub fn normalize_fields(
    fields: &Map<String, Value>,
    table: &TableSchema,
) -> Result<Map<String, Value>, DocError> {
    let mut out = Map::new();
    for (name, v) in fields {
        if RESERVED_FIELD_NAMES
            .iter()
            .any(|r| r.eq_ignore_ascii_case(name))
        {
            return Err(DocError {
                code: Code::P_RESERVED_FIELD,
                message: format!(
                    "field name '{name}' is reserved; rename it (reserved: {})",
                    RESERVED_FIELD_NAMES.join(", ")
                ),
            });
        }
        let Some(field) = table.field(name) else {
            continue;
        };
        if v.is_null() {
            continue;
        }
        out.insert(
            field.name.clone(),
            normalize_value(&field.name, field.field_type, v)?,
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Schema;
    use serde_json::json;

    fn table() -> TableSchema {
        Schema::from_json(&json!({"tables": {"t": {"fields": {
            "id": {"type": "INT", "primaryKey": true}, "price": {"type": "FLOAT"}, "d": {"type": "DOUBLE"},
            "tags": {"type": "LITERAL_ARRAY"}, "ints": {"type": "INT_ARRAY"}, "ts": {"type": "TIMESTAMP"},
            "loc": {"type": "GEO_POINT"}, "short": {"type": "SHORT_TEXT"}, "name": {"type": "LITERAL"}}}}}))
        .unwrap()
        .tables[0]
        .clone()
    }

    fn norm(v: Value) -> Result<Value, DocError> {
        normalize_fields(v.as_object().unwrap(), &table()).map(Value::Object)
    }

    #[test]
    fn normalises_each_type() {
        let out = norm(json!({"ID": "7", "price": "1.5", "tags": ["a", 3], "ints": [1, "2"], "ts": "1700000000000",
            "loc": "120.5  30.25", "short": "x".repeat(150), "name": 42, "unknown": {"x": 1}, "d": null}))
        .unwrap();
        assert_eq!(out["id"], json!(7));
        assert_eq!(out["price"], json!(1.5));
        assert_eq!(out["tags"], json!(["a", "3"]));
        assert_eq!(out["ints"], json!([1, 2]));
        assert_eq!(out["ts"], json!(1700000000000u64));
        assert_eq!(out["loc"], json!("120.5 30.25"));
        assert_eq!(out["short"].as_str().unwrap().len(), 100);
        assert_eq!(out["name"], json!("42"));
        assert!(out.get("unknown").is_none() && out.get("d").is_none());
    }

    #[test]
    fn reports_processing_codes() {
        assert_eq!(norm(json!({"id": "x"})).unwrap_err().code.0, 7302);
        assert_eq!(norm(json!({"price": 1e39})).unwrap_err().code.0, 7302);
        assert_eq!(norm(json!({"ints": 3})).unwrap_err().code.0, 7303);
        assert_eq!(norm(json!({"ints": ["a"]})).unwrap_err().code.0, 7303);
        assert_eq!(norm(json!({"loc": "200 10"})).unwrap_err().code.0, 7302);
        assert_eq!(norm(json!({"summary": "x"})).unwrap_err().code.0, 7111);
        assert!(
            norm(json!({"id": "x"}))
                .unwrap_err()
                .message
                .contains("'id' is Int")
        );
    }
}
