//! Field values: checking pushed values against their field types and normalising them to one
//! JSON representation per type, and reading dense and sparse vectors.
//!
//! Normal forms: integer types → JSON integer (range-checked), FLOAT → the shortest decimal of
//! the f32, DOUBLE → JSON number, STRING/TEXT → JSON string (numbers and booleans are written as
//! text), `MULTI_*` → JSON array of the element's normal form.

use crate::codes::Code;
use crate::error::shown;
use crate::schema::{Field, FieldType};
use serde_json::{Number, Value};

/// Most values in one multi-value field (design choice, the V3 array limit).
pub const MAX_MULTI_VALUES: usize = 65_535;
/// The multi-value separator of ha3 raw documents; a string holding it is split into values.
pub const MULTI_VALUE_SEPARATOR: char = '\x1D';
/// Separator between the vectors of a multi-vector string (`"1,2;3,4"`), besides the index's
/// delimiter (design choice, the separator the ha3 vector query uses).
pub const VECTOR_SEPARATOR: char = ';';

/// A value that does not fit its field: the code (7302 type, 7303 multi/vector) and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// [`Code::FIELD_TYPE`] or [`Code::FIELD_ARRAY`].
    pub code: Code,
    /// Which field, what was wrong, what is expected.
    pub message: String,
}

/// An f32 as the JSON number of its shortest decimal form (`0.1f32` → `0.1`, not
/// `0.10000000149011612`); a non-finite value becomes `null`.
pub fn json_f32(x: f32) -> Value {
    if !x.is_finite() {
        return Value::Null;
    }
    let shortest: f64 = x.to_string().parse().unwrap_or(x as f64);
    Number::from_f64(shortest)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// An f64 as a JSON number; a non-finite value becomes `null`.
pub fn json_f64(x: f64) -> Value {
    Number::from_f64(x)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

fn expected(t: FieldType) -> String {
    if let Some((lo, hi)) = t.int_range() {
        return format!("an integer from {lo} to {hi}");
    }
    match t {
        FieldType::Float => "a number within ±3.40282e38".into(),
        FieldType::Double => "a finite number".into(),
        _ => "a string or number".into(),
    }
}

/// Checks and normalises one scalar value of element type `t` (never a multi type).
pub(crate) fn scalar(field: &str, t: FieldType, v: &Value) -> Result<Value, String> {
    let bad = || {
        format!(
            "field '{field}' is {} and expects {}, got {}",
            t.name(),
            expected(t),
            shown(v)
        )
    };
    if let Some((lo, hi)) = t.int_range() {
        let n: Option<i128> = match v {
            Value::Number(n) => n
                .as_i64()
                .map(i128::from)
                .or_else(|| n.as_u64().map(i128::from))
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 1.9e19)
                        .map(|f| f as i128)
                }),
            Value::String(s) => s.trim().parse::<i128>().ok(),
            _ => None,
        };
        let n = n.filter(|n| (lo..=hi).contains(n)).ok_or_else(bad)?;
        return Ok(if n < 0 {
            Value::from(n as i64)
        } else {
            Value::from(n as u64)
        });
    }
    match t {
        FieldType::Float | FieldType::Double => {
            let f = crate::params::number_f64(v).ok_or_else(bad)?;
            if t == FieldType::Float {
                let x = f as f32;
                if !x.is_finite() {
                    return Err(bad());
                }
                Ok(json_f32(x))
            } else {
                Ok(json_f64(f))
            }
        }
        _ => match v {
            Value::String(s) => Ok(Value::String(s.clone())),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            Value::Bool(b) => Ok(Value::String(b.to_string())),
            _ => Err(bad()),
        },
    }
}

/// Checks and normalises a pushed value for `field`. `Ok(None)` means blank (`null`).
pub fn normalize_value(field: &Field, v: &Value) -> Result<Option<Value>, FieldError> {
    if v.is_null() {
        return Ok(None);
    }
    let name = &field.name;
    let t = field.field_type;
    let Some(elem) = t.element() else {
        return scalar(name, t, v).map(Some).map_err(|message| FieldError {
            code: Code::FIELD_TYPE,
            message,
        });
    };
    let items: Vec<Value> = match v {
        Value::Array(a) => a.clone(),
        Value::String(s) if s.contains(MULTI_VALUE_SEPARATOR) => s
            .split(MULTI_VALUE_SEPARATOR)
            .map(|x| Value::String(x.to_string()))
            .collect(),
        Value::Object(_) => {
            return Err(FieldError {
                code: Code::FIELD_ARRAY,
                message: format!(
                    "field '{name}' is {} and expects a JSON array of values, e.g. [1, 2], got {}",
                    t.name(),
                    shown(v)
                ),
            });
        }
        // A single value for a multi-value field is a one-element list (design choice).
        other => vec![other.clone()],
    };
    if items.len() > MAX_MULTI_VALUES {
        return Err(FieldError {
            code: Code::FIELD_ARRAY,
            message: format!(
                "field '{name}' has {} values; the limit is {MAX_MULTI_VALUES}",
                items.len()
            ),
        });
    }
    let mut out = Vec::with_capacity(items.len());
    for item in &items {
        out.push(scalar(name, elem, item).map_err(|message| FieldError {
            code: Code::FIELD_ARRAY,
            message: format!("{message} (in a {} list)", t.name()),
        })?);
    }
    Ok(Some(Value::Array(out)))
}

fn parse_f32(token: &str) -> Option<f32> {
    let t = token.trim();
    // Rust parses "inf" and "NaN"; JSON and ha3 do not carry them.
    if t.is_empty()
        || t.chars()
            .any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
    {
        return None;
    }
    t.parse::<f64>()
        .ok()
        .map(|f| f as f32)
        .filter(|f| f.is_finite())
}

/// Reads a dense vector value: a JSON array of numbers (integers are fine; one level of nested
/// arrays is flattened, for several vectors), or a string of numbers joined by `delimiter`
/// (several vectors may also be separated by [`VECTOR_SEPARATOR`]). Every value must be a finite
/// f32. The length is not checked here.
pub fn parse_vector(v: &Value, delimiter: &str) -> Result<Vec<f32>, String> {
    let bad_number = |x: &str| {
        format!("{x} is not a finite 32-bit float; send numbers such as 0.25 (no NaN or Infinity)")
    };
    match v {
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::Number(n) => out.push(
                        n.as_f64()
                            .map(|f| f as f32)
                            .filter(|f| f.is_finite())
                            .ok_or_else(|| bad_number(&n.to_string()))?,
                    ),
                    Value::String(s) => {
                        out.push(parse_f32(s).ok_or_else(|| bad_number(&shown(item)))?)
                    }
                    Value::Array(inner) => {
                        for x in inner {
                            out.push(
                                x.as_f64()
                                    .map(|f| f as f32)
                                    .filter(|f| f.is_finite())
                                    .ok_or_else(|| bad_number(&shown(x)))?,
                            );
                        }
                    }
                    other => return Err(bad_number(&shown(other))),
                }
            }
            Ok(out)
        }
        Value::String(s) => {
            let whitespace_delim = delimiter.trim().is_empty();
            let pieces: Vec<&str> = if delimiter.is_empty() {
                vec![s.as_str()]
            } else {
                s.split(delimiter)
                    .flat_map(|p| p.split(VECTOR_SEPARATOR))
                    .collect()
            };
            let last = pieces.len().saturating_sub(1);
            let mut out = Vec::with_capacity(pieces.len());
            for (i, p) in pieces.iter().enumerate() {
                let p = p.trim();
                if p.is_empty() {
                    if whitespace_delim || i == last {
                        continue;
                    }
                    return Err(format!(
                        "the vector string has an empty value at position {i}; join the numbers with '{delimiter}', e.g. \"0.1{delimiter}0.2\""
                    ));
                }
                if whitespace_delim {
                    for w in p.split_whitespace() {
                        out.push(parse_f32(w).ok_or_else(|| bad_number(&format!("'{w}'")))?);
                    }
                } else {
                    out.push(parse_f32(p).ok_or_else(|| {
                        format!(
                            "{} (values are joined by '{delimiter}')",
                            bad_number(&format!("'{}'", p.chars().take(40).collect::<String>()))
                        )
                    })?);
                }
            }
            Ok(out)
        }
        other => Err(format!(
            "a vector must be a JSON array of numbers or a string of numbers joined by '{delimiter}', got {}",
            shown(other)
        )),
    }
}

/// Reads sparse indices: non-negative integers that fit u32.
pub(crate) fn parse_sparse_indices(v: &Value) -> Result<Vec<u32>, String> {
    let items: Vec<Value> = match v {
        Value::Array(a) => a.clone(),
        Value::String(s) => s
            .split([',', MULTI_VALUE_SEPARATOR])
            .filter(|p| !p.trim().is_empty())
            .map(|p| Value::String(p.trim().to_string()))
            .collect(),
        other => {
            return Err(format!(
                "sparse indices must be a JSON array of integers, got {}",
                shown(other)
            ));
        }
    };
    items
        .iter()
        .map(|x| {
            crate::params::number_u64(x)
                .filter(|n| *n <= u32::MAX as u64)
                .map(|n| n as u32)
                .ok_or_else(|| {
                    format!(
                        "sparse index {} is not an integer from 0 to {}",
                        shown(x),
                        u32::MAX
                    )
                })
        })
        .collect()
}

/// Reads sparse values: finite f32 numbers.
pub(crate) fn parse_sparse_values(v: &Value) -> Result<Vec<f32>, String> {
    match v {
        Value::Array(_) | Value::String(_) => parse_vector(v, ","),
        other => Err(format!(
            "sparse values must be a JSON array of numbers, got {}",
            shown(other)
        )),
    }
}

/// Checks that sparse `indices` are strictly ascending (sorted, no repeats).
pub(crate) fn check_sorted(indices: &[u32]) -> Result<(), String> {
    match indices.windows(2).position(|w| w[0] >= w[1]) {
        None => Ok(()),
        Some(i) => Err(format!(
            "sparse indices must be sorted ascending without repeats; {} is followed by {} at position {}",
            indices[i],
            indices[i + 1],
            i + 1
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(name: &str, t: FieldType) -> Field {
        Field {
            name: name.into(),
            field_type: t,
        }
    }

    fn norm(t: FieldType, v: Value) -> Result<Option<Value>, FieldError> {
        normalize_value(&f("x", t), &v)
    }

    #[test]
    fn normalises_each_type() {
        assert_eq!(norm(FieldType::Int32, json!("7")).unwrap(), Some(json!(7)));
        assert_eq!(norm(FieldType::Int8, json!(-3.0)).unwrap(), Some(json!(-3)));
        assert_eq!(
            norm(FieldType::Uint64, json!(u64::MAX)).unwrap(),
            Some(json!(u64::MAX))
        );
        assert_eq!(
            norm(FieldType::Float, json!(0.1)).unwrap(),
            Some(json!(0.1))
        );
        assert_eq!(
            norm(FieldType::Double, json!("2.5")).unwrap(),
            Some(json!(2.5))
        );
        assert_eq!(
            norm(FieldType::String, json!(12)).unwrap(),
            Some(json!("12"))
        );
        assert_eq!(
            norm(FieldType::Text, json!("中文")).unwrap(),
            Some(json!("中文"))
        );
        assert_eq!(norm(FieldType::Text, json!(null)).unwrap(), None);
        assert_eq!(
            norm(FieldType::MultiInt64, json!([14, "85"])).unwrap(),
            Some(json!([14, 85]))
        );
        assert_eq!(
            norm(FieldType::MultiString, json!("a\u{1D}b")).unwrap(),
            Some(json!(["a", "b"]))
        );
        assert_eq!(
            norm(FieldType::MultiString, json!("image")).unwrap(),
            Some(json!(["image"]))
        );
    }

    #[test]
    fn refuses_values_that_do_not_fit() {
        for (t, v, code) in [
            (FieldType::Int8, json!(128), 7302),
            (FieldType::Uint32, json!(-1), 7302),
            (FieldType::Int32, json!("x"), 7302),
            (FieldType::Int32, json!(1.5), 7302),
            (FieldType::Float, json!(1e39), 7302),
            (FieldType::String, json!([1]), 7302),
            (FieldType::String, json!({"a": 1}), 7302),
            (FieldType::MultiInt8, json!([1, 300]), 7303),
            (FieldType::MultiFloat, json!({"a": 1}), 7303),
        ] {
            let e = norm(t, v.clone()).unwrap_err();
            assert_eq!(e.code.0, code, "{t:?} {v}");
            assert!(e.message.contains("field 'x'"), "{}", e.message);
        }
    }

    #[test]
    fn reads_vectors_in_both_forms() {
        assert_eq!(parse_vector(&json!([1, 2.5]), ",").unwrap(), vec![1.0, 2.5]);
        assert_eq!(
            parse_vector(&json!([[1, 2], [3, 4]]), ",").unwrap(),
            vec![1.0, 2.0, 3.0, 4.0]
        );
        assert_eq!(
            parse_vector(&json!("0.1, 0.2,0.3,"), ",").unwrap(),
            vec![0.1, 0.2, 0.3]
        );
        assert_eq!(
            parse_vector(&json!("1,2;3,4"), ",").unwrap(),
            vec![1.0, 2.0, 3.0, 4.0]
        );
        assert_eq!(
            parse_vector(&json!("1  2 3"), " ").unwrap(),
            vec![1.0, 2.0, 3.0]
        );
        assert!(parse_vector(&json!("1,,2"), ",").is_err());
        assert!(parse_vector(&json!("1,nan"), ",").is_err());
        assert!(parse_vector(&json!("1,inf"), ",").is_err());
        assert!(parse_vector(&json!([1e39]), ",").is_err());
        assert!(parse_vector(&json!([true]), ",").is_err());
        assert!(parse_vector(&json!(5), ",").is_err());
        assert_eq!(parse_sparse_indices(&json!([1, "5"])).unwrap(), vec![1, 5]);
        assert!(parse_sparse_indices(&json!([-1])).is_err());
        assert!(check_sorted(&[1, 5, 5]).is_err());
        assert!(check_sorted(&[1, 5, 9]).is_ok());
        assert_eq!(json_f32(f32::NAN), Value::Null);
        assert_eq!(json_f32(0.18588096), json!(0.18588096));
    }
}
