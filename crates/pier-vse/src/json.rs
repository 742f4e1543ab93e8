//! Typed reading of request JSON objects with precise errors: each getter names the key (with its
//! path, e.g. `queries[1].topK`) and the expected type. `null` is the same as an absent key;
//! unknown keys are ignored. Numbers and booleans are also accepted as strings (`"10"`, `"true"`).

use crate::codes::Code;
use crate::error::{VseError, invalid, shown};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Parses a request body as a JSON object (4007 otherwise).
pub(crate) fn parse_object(body: &[u8], what: &str) -> Result<Map<String, Value>, VseError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(VseError::new(
            Code::BAD_JSON,
            format!("the {what} body is empty: send a JSON object"),
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(VseError::new(
            Code::BAD_JSON,
            format!(
                "the {what} body must be a JSON object, got {}",
                shown(&other)
            ),
        )),
        Err(e) => {
            let text = String::from_utf8_lossy(body);
            let hint = if text.contains("NaN") || text.contains("Infinity") {
                "; NaN and Infinity are not JSON: remove them from the vector"
            } else if body.first().is_some_and(|b| *b == 0x78) {
                "; the body looks zlib-compressed: send 'Content-Encoding: deflate'"
            } else {
                ""
            };
            Err(VseError::new(
                Code::BAD_JSON,
                format!("the {what} body is not valid JSON ({e}){hint}"),
            ))
        }
    }
}

/// A JSON object being read, and its path for messages (`""` at the top).
pub(crate) struct Obj<'a> {
    pub map: &'a Map<String, Value>,
    pub path: String,
}

impl<'a> Obj<'a> {
    pub fn new(map: &'a Map<String, Value>, path: impl Into<String>) -> Obj<'a> {
        Obj {
            map,
            path: path.into(),
        }
    }

    pub fn key(&self, k: &str) -> String {
        if self.path.is_empty() {
            k.to_string()
        } else {
            format!("{}.{k}", self.path)
        }
    }

    pub fn get(&self, k: &str) -> Option<&'a Value> {
        self.map.get(k).filter(|v| !v.is_null())
    }

    fn wrong(&self, k: &str, expected: &str, v: &Value) -> VseError {
        invalid(format!(
            "\"{}\" must be {expected}, got {}",
            self.key(k),
            shown(v)
        ))
    }

    /// A string; numbers are written as text. Blank strings are kept.
    pub fn string(&self, k: &str) -> Result<Option<String>, VseError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(v) => Err(self.wrong(k, "a string", v)),
        }
    }

    /// A string that is not blank (blank is absent), trimmed.
    pub fn non_blank(&self, k: &str) -> Result<Option<String>, VseError> {
        Ok(self
            .string(k)?
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()))
    }

    /// A required non-blank string.
    pub fn required(&self, k: &str, example: &str) -> Result<String, VseError> {
        self.non_blank(k)?.ok_or_else(|| {
            invalid(format!(
                "\"{}\" is required, e.g. \"{k}\":{example}",
                self.key(k)
            ))
        })
    }

    pub fn bool(&self, k: &str) -> Result<Option<bool>, VseError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(self.wrong(k, "true or false", v)),
        }
    }

    /// An integer within `min..=max`.
    pub fn uint(&self, k: &str, min: u64, max: u64) -> Result<Option<u64>, VseError> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => match crate::params::number_u64(v) {
                Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
                _ => Err(self.wrong(k, &format!("an integer from {min} to {max}"), v)),
            },
        }
    }

    /// A finite number.
    pub fn number(&self, k: &str) -> Result<Option<f64>, VseError> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => crate::params::number_f64(v)
                .map(Some)
                .ok_or_else(|| self.wrong(k, "a number", v)),
        }
    }

    /// A list of strings (numbers are written as text).
    pub fn strings(&self, k: &str) -> Result<Option<Vec<String>>, VseError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| match x {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    _ => Err(self.wrong(k, "a list of strings", x)),
                })
                .collect::<Result<_, _>>()
                .map(Some),
            Some(v) => Err(self.wrong(k, "a list of strings, e.g. [\"id\",\"title\"]", v)),
        }
    }

    /// An object of string values (numbers and booleans are written as text).
    pub fn string_map(&self, k: &str) -> Result<BTreeMap<String, String>, VseError> {
        match self.get(k) {
            None => Ok(BTreeMap::new()),
            Some(Value::Object(m)) => m
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(key, v)| match v {
                    Value::String(s) => Ok((key.clone(), s.clone())),
                    Value::Number(_) | Value::Bool(_) => Ok((key.clone(), v.to_string())),
                    _ => Err(self.wrong(k, "an object of string values", v)),
                })
                .collect(),
            Some(v) => Err(self.wrong(k, "an object of string values, e.g. {\"k\":\"v\"}", v)),
        }
    }

    /// A nested object.
    pub fn object(&self, k: &str) -> Result<Option<&'a Map<String, Value>>, VseError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(v) => Err(self.wrong(k, "a JSON object", v)),
        }
    }

    /// A list.
    pub fn array(&self, k: &str) -> Result<Option<&'a Vec<Value>>, VseError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(v) => Err(self.wrong(k, "a JSON array", v)),
        }
    }
}
