//! The proxima index parameters: `buildIndexParams` / `searchIndexParams` of a vector index
//! (spec §4) and the per-query `searchParams` string (spec §2.1).
//!
//! Each is a JSON object, usually sent as a JSON *string*. The keys pier understands are typed
//! and checked; every other key is kept verbatim (and ignored by the engine), so a schema
//! describes back exactly as it was created. Keys are accepted with or without their
//! `proxima.` prefix (the spec's own example query sends `qc.searcher.scan_ratio`).

use serde_json::{Map, Value};

/// Default `proxima.hnsw.builder.max_neighbor_count` (havenask docs).
pub const DEFAULT_MAX_NEIGHBOR_COUNT: u32 = 100;
/// Default `proxima.hnsw.builder.efconstruction` (havenask docs).
pub const DEFAULT_EF_CONSTRUCTION: u32 = 500;
/// Default `proxima.hnsw.searcher.ef` (havenask docs).
pub const DEFAULT_EF_SEARCH: u32 = 500;
/// Default `proxima.qc.searcher.scan_ratio` (havenask docs).
pub const DEFAULT_SCAN_RATIO: f64 = 0.01;
/// Largest accepted `max_neighbor_count` (design choice: pier's HNSW `M` limit).
pub const MAX_NEIGHBOR_COUNT: u32 = 1024;
/// Largest accepted `efconstruction` / `ef` (design choice: pier's HNSW `ef` limit).
pub const MAX_EF: u32 = 4096;

/// Build-parameter key: HNSW neighbours per node.
pub const KEY_MAX_NEIGHBOR_COUNT: &str = "proxima.hnsw.builder.max_neighbor_count";
/// Build-parameter key: HNSW construction beam width.
pub const KEY_EF_CONSTRUCTION: &str = "proxima.hnsw.builder.efconstruction";
/// Build-parameter key: QC centroid count (`"1000"` or `"100*100"`).
pub const KEY_CENTROID_COUNT: &str = "proxima.qc.builder.centroid_count";
/// Build-parameter key: QC quantizer (storage precision).
pub const KEY_QUANTIZER_CLASS: &str = "proxima.qc.builder.quantizer_class";
/// Search-parameter key: HNSW search beam width.
pub const KEY_EF: &str = "proxima.hnsw.searcher.ef";
/// Search-parameter key: QC fraction of documents scanned.
pub const KEY_SCAN_RATIO: &str = "proxima.qc.searcher.scan_ratio";

/// How vectors are stored, from `proxima.qc.builder.quantizer_class` (havenask docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// No quantizer: 32-bit floats.
    #[default]
    Float32,
    /// `Int8QuantizerConverter`.
    Int8,
    /// `HalfFloatConverter`.
    Float16,
    /// `DoubleBitConverter`.
    DoubleBit,
}

impl Precision {
    fn from_class(class: &str) -> Option<Precision> {
        Some(match class {
            "Int8QuantizerConverter" => Precision::Int8,
            "HalfFloatConverter" => Precision::Float16,
            "DoubleBitConverter" => Precision::DoubleBit,
            _ => return None,
        })
    }
}

/// A parameter object, its typed keys checked, and how it was sent.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParamMap {
    /// Every key as sent (known and unknown), in order.
    pub entries: Map<String, Value>,
    /// Whether it arrived as a JSON string (it is written back the same way).
    pub as_string: bool,
}

impl ParamMap {
    /// Parses a parameter value: a JSON object, a string holding one, or `""` / null (empty).
    /// `what` names it in errors (e.g. `vectorIndex[0].buildIndexParams`).
    pub fn parse(v: Option<&Value>, what: &str) -> Result<ParamMap, String> {
        let (obj, as_string) = match v {
            None | Some(Value::Null) => return Ok(ParamMap::default()),
            Some(Value::Object(m)) => (m.clone(), false),
            Some(Value::String(s)) if s.trim().is_empty() => return Ok(ParamMap::default()),
            Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
                Ok(Value::Object(m)) => (m, true),
                _ => {
                    return Err(format!(
                        "{what} must be a JSON object or a string holding one, e.g. \"{{\\\"{KEY_EF}\\\":500}}\"; got {}",
                        crate::error::shown(&Value::String(s.clone()))
                    ));
                }
            },
            Some(other) => {
                return Err(format!(
                    "{what} must be a JSON object or a string holding one, got {}",
                    crate::error::shown(other)
                ));
            }
        };
        // An empty object is no parameters, however it was sent.
        let as_string = as_string && !obj.is_empty();
        Ok(ParamMap {
            entries: obj,
            as_string,
        })
    }

    /// The value of `key`, also found without its `proxima.` prefix.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.get(key).or_else(|| {
            key.strip_prefix("proxima.")
                .and_then(|short| self.entries.get(short))
        })
    }

    /// Whether no key was given.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Writes the parameters back as they were sent: a JSON string, or an object.
    pub fn to_json(&self) -> Value {
        let obj = Value::Object(self.entries.clone());
        if self.as_string {
            Value::String(obj.to_string())
        } else {
            obj
        }
    }

    fn uint(&self, key: &str, what: &str, min: u64, max: u64) -> Result<Option<u64>, String> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        match number_u64(v) {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(format!(
                "{what}: \"{key}\" must be an integer from {min} to {max}, got {}",
                crate::error::shown(v)
            )),
        }
    }

    fn ratio(&self, key: &str, what: &str) -> Result<Option<f64>, String> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        match number_f64(v) {
            Some(r) if r > 0.0 && r <= 1.0 => Ok(Some(r)),
            _ => Err(format!(
                "{what}: \"{key}\" must be a number above 0 and at most 1 (a fraction of the documents), got {}",
                crate::error::shown(v)
            )),
        }
    }
}

/// A number or numeric string as u64.
pub(crate) fn number_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1.8e19)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A number or numeric string as a finite f64.
pub(crate) fn number_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|f| f.is_finite())
}

/// A vector index's `buildIndexParams`, with the keys pier uses checked.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BuildParams {
    /// Every key as sent.
    pub raw: ParamMap,
    /// `proxima.hnsw.builder.max_neighbor_count` (HNSW `M`), if given.
    pub max_neighbor_count: Option<u32>,
    /// `proxima.hnsw.builder.efconstruction`, if given.
    pub ef_construction: Option<u32>,
    /// `proxima.qc.builder.centroid_count` (`"1000"`, `"100*100"`), if given.
    pub centroid_count: Option<String>,
    /// The storage precision from `proxima.qc.builder.quantizer_class`.
    pub precision: Precision,
}

impl BuildParams {
    /// Parses and checks `buildIndexParams`.
    pub fn parse(v: Option<&Value>, what: &str) -> Result<BuildParams, String> {
        let raw = ParamMap::parse(v, what)?;
        let max_neighbor_count = raw
            .uint(KEY_MAX_NEIGHBOR_COUNT, what, 2, MAX_NEIGHBOR_COUNT as u64)?
            .map(|n| n as u32);
        let ef_construction = raw
            .uint(KEY_EF_CONSTRUCTION, what, 1, MAX_EF as u64)?
            .map(|n| n as u32);
        let centroid_count = match raw.get(KEY_CENTROID_COUNT) {
            None => None,
            Some(v) => {
                let s = match v {
                    Value::String(s) => s.trim().to_string(),
                    Value::Number(n) => n.to_string(),
                    _ => String::new(),
                };
                let ok = !s.is_empty()
                    && s.split('*').all(|p| {
                        !p.is_empty()
                            && p.len() <= 9
                            && p.bytes().all(|b| b.is_ascii_digit())
                            && p.parse::<u32>().is_ok_and(|n| n > 0)
                    });
                if !ok {
                    return Err(format!(
                        "{what}: \"{KEY_CENTROID_COUNT}\" must be a positive count such as \"1000\", or levels such as \"100*100\"; got {}",
                        crate::error::shown(v)
                    ));
                }
                Some(s)
            }
        };
        let precision = match raw.get(KEY_QUANTIZER_CLASS) {
            None => Precision::Float32,
            Some(Value::String(s)) if s.is_empty() => Precision::Float32,
            Some(v) => v.as_str().and_then(Precision::from_class).ok_or_else(|| {
                format!(
                    "{what}: \"{KEY_QUANTIZER_CLASS}\" must be Int8QuantizerConverter, HalfFloatConverter or DoubleBitConverter (or absent for float32), got {}",
                    crate::error::shown(v)
                )
            })?,
        };
        Ok(BuildParams {
            raw,
            max_neighbor_count,
            ef_construction,
            centroid_count,
            precision,
        })
    }

    /// The HNSW neighbour count to build with (given or [`DEFAULT_MAX_NEIGHBOR_COUNT`]).
    pub fn effective_max_neighbor_count(&self) -> u32 {
        self.max_neighbor_count
            .unwrap_or(DEFAULT_MAX_NEIGHBOR_COUNT)
    }

    /// The HNSW construction width to build with (given or [`DEFAULT_EF_CONSTRUCTION`]).
    pub fn effective_ef_construction(&self) -> u32 {
        self.ef_construction.unwrap_or(DEFAULT_EF_CONSTRUCTION)
    }
}

/// Search parameters: an index's `searchIndexParams`, or a query's `searchParams` (which
/// override the index's for that query).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchParams {
    /// Every key as sent.
    pub raw: ParamMap,
    /// `proxima.hnsw.searcher.ef`, if given.
    pub ef: Option<u32>,
    /// `proxima.qc.searcher.scan_ratio`, if given.
    pub scan_ratio: Option<f64>,
}

impl SearchParams {
    /// Parses and checks a search-parameter object or string.
    pub fn parse(v: Option<&Value>, what: &str) -> Result<SearchParams, String> {
        let raw = ParamMap::parse(v, what)?;
        let ef = raw.uint(KEY_EF, what, 1, MAX_EF as u64)?.map(|n| n as u32);
        let scan_ratio = raw.ratio(KEY_SCAN_RATIO, what)?;
        Ok(SearchParams {
            raw,
            ef,
            scan_ratio,
        })
    }

    /// These parameters with `over`'s given values taken first (a query over its index).
    pub fn overridden_by(&self, over: &SearchParams) -> SearchParams {
        let mut raw = self.raw.clone();
        for (k, v) in &over.raw.entries {
            raw.entries.insert(k.clone(), v.clone());
        }
        SearchParams {
            raw,
            ef: over.ef.or(self.ef),
            scan_ratio: over.scan_ratio.or(self.scan_ratio),
        }
    }

    /// The HNSW search width to use (given or [`DEFAULT_EF_SEARCH`]).
    pub fn effective_ef(&self) -> u32 {
        self.ef.unwrap_or(DEFAULT_EF_SEARCH)
    }

    /// The QC scan ratio to use (given or [`DEFAULT_SCAN_RATIO`]).
    pub fn effective_scan_ratio(&self) -> f64 {
        self.scan_ratio.unwrap_or(DEFAULT_SCAN_RATIO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_strings_and_objects_and_keeps_unknown_keys() {
        let s = json!(
            "{\"proxima.hnsw.builder.max_neighbor_count\":100,\"proxima.hnsw.builder.efconstruction\":500,\"proxima.hnsw.builder.thread_count\":20}"
        );
        let b = BuildParams::parse(Some(&s), "b").unwrap();
        assert_eq!(b.max_neighbor_count, Some(100));
        assert_eq!(b.ef_construction, Some(500));
        assert_eq!(b.raw.to_json(), s);
        let o = json!({"proxima.qc.builder.centroid_count": "100*100", "proxima.qc.builder.quantizer_class": "Int8QuantizerConverter"});
        let b = BuildParams::parse(Some(&o), "b").unwrap();
        assert_eq!(b.centroid_count.as_deref(), Some("100*100"));
        assert_eq!(b.precision, Precision::Int8);
        assert_eq!(b.raw.to_json(), o);
        assert_eq!(b.effective_max_neighbor_count(), 100);

        let q =
            SearchParams::parse(Some(&json!("{\"qc.searcher.scan_ratio\":0.01}")), "s").unwrap();
        assert_eq!(q.scan_ratio, Some(0.01));
        assert_eq!(q.effective_ef(), DEFAULT_EF_SEARCH);
        let idx =
            SearchParams::parse(Some(&json!({"proxima.hnsw.searcher.ef": 500})), "i").unwrap();
        let merged = idx.overridden_by(&q);
        assert_eq!((merged.ef, merged.scan_ratio), (Some(500), Some(0.01)));
        assert!(
            SearchParams::parse(Some(&json!("")), "s")
                .unwrap()
                .raw
                .is_empty()
        );
        assert!(SearchParams::parse(None, "s").unwrap().raw.is_empty());
    }

    #[test]
    fn refuses_bad_values() {
        for (v, needle) in [
            (json!("{not json"), "JSON object"),
            (json!(5), "JSON object"),
            (json!({"proxima.hnsw.searcher.ef": 0}), "from 1 to 4096"),
            (
                json!({"proxima.hnsw.searcher.ef": "many"}),
                "from 1 to 4096",
            ),
            (json!({"proxima.qc.searcher.scan_ratio": 2}), "at most 1"),
        ] {
            let e = SearchParams::parse(Some(&v), "searchParams").unwrap_err();
            assert!(e.contains(needle), "{e}");
        }
        for v in [
            json!({"proxima.qc.builder.centroid_count": "10**10"}),
            json!({"proxima.qc.builder.centroid_count": "0"}),
            json!({"proxima.qc.builder.quantizer_class": "Fp8"}),
            json!({"proxima.hnsw.builder.max_neighbor_count": 1}),
        ] {
            assert!(BuildParams::parse(Some(&v), "b").is_err(), "{v}");
        }
    }
}
