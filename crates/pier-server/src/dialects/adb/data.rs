//! Collection data (wire spec §3.1, §3.5, §6): `UpsertCollectionData`, `DeleteCollectionData`,
//! `UpdateCollectionDataMetadata` and `QueryCollectionData`. Every write is durable and
//! searchable when the call returns, as an SQL `INSERT`/`UPDATE`/`DELETE` is in AnalyticDB.

use super::collections::{
    self, Collection, Column, ID, Metric, Open, SPARSE_INDICES, SPARSE_VALUES, TEXT_INDEX,
    TSVECTOR, VECTOR,
};
use super::{AdbError, Call, Fields, sql};
use axum::http::StatusCode;
use pier_engine::sparse_search::SparseQuery;
use pier_engine::vector_search::{VectorQuery, VectorSearchError};
use pier_index::search::Page;
use pier_query::Expr;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Largest `Rows` JSON of one `UpsertCollectionData` (spec §4: 10 MB).
pub const MAX_ROWS_BYTES: usize = 10 << 20;
/// Largest `TopK` (+ `Offset`) of a query.
pub const MAX_TOP_K: usize = 10_000;
/// Full-text hits a `Cascaded` hybrid search hands to the vector search.
const CASCADE_DEPTH: usize = 10_000;
/// Rows deleted or updated per engine batch.
const WRITE_CHUNK: usize = 1_000;
/// How long a write waits to become searchable before answering anyway.
const VISIBLE_WAIT: Duration = Duration::from_secs(8);
/// Most dimensions of one sparse vector (spec §3.1, §6: "≤4000 indices").
pub const MAX_SPARSE_INDICES: usize = 4000;
/// RRF's `k` when `HybridSearchArgs` gives none.
const DEFAULT_RRF_K: f64 = 60.0;
/// `Weight`'s `alpha` when `HybridSearchArgs` gives none.
const DEFAULT_ALPHA: f64 = 0.5;

/// One row of `Rows` (and one line of an upload job's file).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Row {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    metadata: Option<Map<String, Value>>,
    #[serde(default)]
    vector: Option<Vec<f64>>,
    #[serde(default)]
    sparse_vector: Option<Value>,
}

/// `UpsertCollectionData`: inserts rows, replacing rows with the same `Id`; an empty `Id`
/// gets a UUID.
pub fn upsert_collection_data(call: &Call) -> Result<Fields, AdbError> {
    let c = collections::open(call)?;
    let raw = call.params.require("Rows")?;
    if raw.len() > MAX_ROWS_BYTES {
        return Err(AdbError::invalid(
            "Rows",
            format!(
                "{} bytes of rows is over the {MAX_ROWS_BYTES}-byte limit; split the rows over several calls or use UpsertCollectionDataAsync",
                raw.len()
            ),
        ));
    }
    let rows: Vec<Row> = call.params.json("Rows")?.unwrap_or_default();
    if rows.is_empty() {
        return Err(AdbError::invalid("Rows", "send at least one row"));
    }
    let mut ops = Vec::with_capacity(rows.len());
    for (i, row) in rows.into_iter().enumerate() {
        let op = row_op(&c.def, row, uuid::Uuid::new_v4)
            .map_err(|why| AdbError::invalid("Rows", format!("row {i}: {why}")))?;
        ops.push(op);
    }
    write(call, &c, &ops)?;
    Ok(Fields::new())
}

/// The engine operation that upserts `row`: its metadata checked against the collection's
/// columns, its vector against the dimension; an empty `Id` becomes `new_id()`. The error says
/// what is wrong with the row.
pub fn row_op(
    c: &Collection,
    row: Row,
    new_id: impl FnOnce() -> uuid::Uuid,
) -> Result<Value, String> {
    let length = row.vector.as_ref().map(Vec::len);
    let mut doc = row_fields(
        c,
        row.id,
        row.metadata,
        row.sparse_vector.as_ref(),
        length,
        new_id,
    )?;
    let vector = row.vector.unwrap_or_default();
    doc.insert(VECTOR.into(), vector.into_iter().map(Value::from).collect());
    Ok(json!({"cmd": "add", "fields": doc}))
}

/// One line of an upload job's file, its `Vector` left as JSON text (see [`row_op_line`]).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RawRow<'a> {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    metadata: Option<Map<String, Value>>,
    #[serde(default, borrow)]
    vector: Option<&'a RawValue>,
    #[serde(default)]
    sparse_vector: Option<Value>,
}

/// [`row_op`] for a row whose vector is still JSON text, written as one line of JSON (no
/// newline). The vector's numbers are checked (parsed) but not converted and formatted again:
/// its text goes into the operation as sent. `Ok(None)` when the fast way does not apply (the
/// vector is not an array of numbers written with a fraction or exponent; `row_op` writes
/// integers as floats, so those rows take the slow way and are stored exactly as before).
pub fn row_op_line(
    c: &Collection,
    row: RawRow<'_>,
    new_id: impl FnOnce() -> uuid::Uuid,
) -> Result<Option<Vec<u8>>, String> {
    let length = match row.vector {
        None => None,
        Some(raw) => match float_array_len(raw.get()) {
            Some(n) => Some(n),
            None => return Ok(None),
        },
    };
    let doc = row_fields(
        c,
        row.id,
        row.metadata,
        row.sparse_vector.as_ref(),
        length,
        new_id,
    )?;
    let vector = row.vector.map_or("[]", RawValue::get);
    let mut out = Vec::with_capacity(vector.len() + 256);
    out.extend_from_slice(br#"{"cmd":"add","fields":{"#);
    let mut first = true;
    for (name, value) in doc.iter() {
        if !first {
            out.push(b',');
        }
        first = false;
        serde_json::to_writer(&mut out, name).expect("a string serialises");
        out.push(b':');
        if name == VECTOR {
            out.extend_from_slice(vector.as_bytes());
        } else {
            serde_json::to_writer(&mut out, value).expect("a JSON value serialises");
        }
    }
    out.extend_from_slice(b"}}");
    Ok(Some(out))
}

/// The length of `text`, a JSON array of numbers each written with a fraction or an exponent;
/// `None` for anything else, and for a number this quick scan cannot prove is within `f64`'s
/// range (over 20 integer digits, or a 3-digit exponent): the slow way parses those and refuses
/// one out of range, as when parsing a [`Row`].
///
/// `text` must be valid JSON (a [`RawValue`]'s text): only the shape is checked here. A scan of
/// bytes rather than a parse, because the vectors are most of an upload's bytes.
fn float_array_len(text: &str) -> Option<usize> {
    /// The number being scanned.
    #[derive(Default)]
    struct Number {
        bytes: usize,
        integer_digits: usize,
        exponent_digits: usize,
        fraction: bool,
        exponent: bool,
    }
    impl Number {
        fn is_float_in_range(&self) -> bool {
            (self.fraction || self.exponent)
                && self.integer_digits <= 20
                && self.exponent_digits <= 2
        }
    }
    let body = text.trim_ascii().strip_prefix('[')?.strip_suffix(']')?;
    let (mut n, mut number) = (0, Number::default());
    // One pass over the bytes: valid JSON has no whitespace inside a number, so separators are
    // the only other bytes an array of numbers can hold.
    for &b in body.as_bytes() {
        match b {
            b'0'..=b'9' if number.exponent => number.exponent_digits += 1,
            b'0'..=b'9' if !number.fraction => number.integer_digits += 1,
            b'0'..=b'9' | b'-' | b'+' => {}
            b'.' => number.fraction = true,
            b'e' | b'E' => number.exponent = true,
            b' ' | b'\t' | b'\n' | b'\r' => continue,
            b',' => {
                if !number.is_float_in_range() {
                    return None;
                }
                n += 1;
                number = Number::default();
                continue;
            }
            _ => return None,
        }
        number.bytes += 1;
    }
    match number.bytes {
        0 if n == 0 => Some(0),
        0 => None,
        _ if number.is_float_in_range() => Some(n + 1),
        _ => None,
    }
}

/// A row's fields as stored, but the vector (the caller inserts it under [`VECTOR`], whose
/// place is kept by a null): the checks of [`row_op`], with the vector's length, in the same
/// order, so a row fails with the same message whichever way it was read.
fn row_fields(
    c: &Collection,
    id: Option<String>,
    metadata: Option<Map<String, Value>>,
    sparse_vector: Option<&Value>,
    vector_len: Option<usize>,
    new_id: impl FnOnce() -> uuid::Uuid,
) -> Result<Map<String, Value>, String> {
    let sparse = match sparse_vector.filter(|v| !v.is_null()) {
        None => None,
        Some(_) if !c.supports_sparse() => {
            return Err(format!(
                "SparseVector was sent but collection '{}' was created without SupportSparse; leave SparseVector out or create the collection with SupportSparse=true",
                c.collection
            ));
        }
        Some(v) => parse_sparse(v).map_err(|m| format!("SparseVector: {m}"))?,
    };
    let length = vector_len.ok_or("Vector is required")?;
    if length != c.dimension {
        return Err(format!(
            "Vector has {} values but the collection's Dimension is {}",
            length, c.dimension
        ));
    }
    let id = id
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| new_id().to_string());
    let mut doc = Map::new();
    for (name, value) in metadata.unwrap_or_default() {
        let column = c.column(&name).ok_or_else(|| unknown_column(c, &name))?;
        if let Some(v) = normalise(column, &value).map_err(|m| format!("'{name}': {m}"))? {
            doc.insert(name, v);
        }
    }
    doc.insert(ID.into(), id.into());
    doc.insert(VECTOR.into(), Value::Null);
    if let Some((indices, values)) = sparse {
        doc.insert(SPARSE_INDICES.into(), indices.into());
        doc.insert(SPARSE_VALUES.into(), values.into());
    }
    Ok(add_fields(c, doc))
}

/// A sparse vector's indices and values, as sent.
type SparseRow = (Vec<u32>, Vec<f64>);

/// A sparse vector `{"Indices":[int],"Values":[number]}` (row or query): at most
/// [`MAX_SPARSE_INDICES`] indices from 0 to 2^32-1, strictly ascending, one finite value each.
/// `None` when it has no elements. The values are kept as sent (stored so, and returned by
/// `IncludeSparseValues`); searches use them as `f32`. The error says what to fix.
fn parse_sparse(v: &Value) -> Result<Option<SparseRow>, String> {
    const EXAMPLE: &str = "send {\"Indices\":[1,7],\"Values\":[0.5,0.25]}";
    let Value::Object(m) = v else {
        return Err(format!("it must be a JSON object; {EXAMPLE}"));
    };
    let field = |name: &str| {
        m.get(name)
            .or_else(|| m.get(&name.to_ascii_lowercase()))
            .filter(|v| !v.is_null())
    };
    let (Some(iv), Some(vv)) = (field("Indices"), field("Values")) else {
        return Err(format!("Indices and Values are both required; {EXAMPLE}"));
    };
    let indices: Vec<u32> = iv
        .as_array()
        .and_then(|a| {
            a.iter()
                .map(|x| int(x).and_then(|n| u32::try_from(n).ok()))
                .collect()
        })
        .ok_or_else(|| {
            format!(
                "Indices must be an array of integers from 0 to {}, got {iv}",
                u32::MAX
            )
        })?;
    let values: Vec<f64> = vv
        .as_array()
        .and_then(|a| {
            a.iter()
                .map(|x| x.as_f64().filter(|f| (*f as f32).is_finite()))
                .collect()
        })
        .ok_or_else(|| format!("Values must be an array of finite numbers, got {vv}"))?;
    if indices.len() > MAX_SPARSE_INDICES {
        return Err(format!(
            "{} indices; the limit is {MAX_SPARSE_INDICES} per sparse vector",
            indices.len()
        ));
    }
    let as_f32: Vec<f32> = values.iter().map(|f| *f as f32).collect();
    pier_engine::sparse::check_sparse(&indices, &as_f32)?;
    if indices.is_empty() {
        return Ok(None);
    }
    Ok(Some((indices, values)))
}

fn unknown_column(c: &Collection, name: &str) -> String {
    format!(
        "'{name}' is not a Metadata key of the collection ({})",
        c.metadata
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// An `add` of a whole row, with its full-text column rebuilt.
fn add_op(c: &Collection, doc: Map<String, Value>) -> Value {
    json!({"cmd": "add", "fields": add_fields(c, doc)})
}

/// The fields of an `add` of a whole row: its full-text column rebuilt.
fn add_fields(c: &Collection, mut doc: Map<String, Value>) -> Map<String, Value> {
    doc.remove(pier_engine::vectors::VECTOR_KEY_FIELD);
    let text: Vec<&str> = c
        .full_text_retrieval_fields
        .iter()
        .filter_map(|f| doc.get(f).and_then(Value::as_str))
        .collect();
    let text = text.join("\n");
    doc.insert(TSVECTOR.into(), text.into());
    doc
}

/// A metadata value as stored for its column; `None` for SQL NULL.
fn normalise(column: Column, v: &Value) -> Result<Option<Value>, String> {
    if v.is_null() {
        return Ok(None);
    }
    let bad = |want: &str| format!("{v} is not {want}");
    Ok(Some(match column {
        Column::Int => Value::from(int(v).ok_or_else(|| bad("an integer"))?),
        Column::Bool => Value::from(i64::from(boolean(v).ok_or_else(|| bad("a boolean"))?)),
        Column::Double => Value::from(double(v).ok_or_else(|| bad("a number"))?),
        Column::Text => match v {
            Value::String(s) => Value::from(s.clone()),
            Value::Number(_) | Value::Bool(_) => Value::from(v.to_string()),
            _ => Value::from(v.to_string()),
        },
        Column::Json => match v {
            Value::String(s) => Value::from(s.clone()),
            _ => Value::from(v.to_string()),
        },
        Column::TextArray | Column::IntArray | Column::DoubleArray => {
            let parsed;
            let items = match v {
                Value::Array(a) => a,
                Value::String(s) => {
                    parsed = serde_json::from_str::<Vec<Value>>(s)
                        .map_err(|_| bad("an array (or a JSON array in a string)"))?;
                    &parsed
                }
                _ => return Err(bad("an array")),
            };
            let out: Result<Vec<Value>, String> = items
                .iter()
                .map(|x| match column {
                    Column::IntArray => int(x)
                        .map(Value::from)
                        .ok_or_else(|| bad("an integer array")),
                    Column::DoubleArray => double(x)
                        .map(Value::from)
                        .ok_or_else(|| bad("a number array")),
                    _ => Ok(match x {
                        Value::String(s) => Value::from(s.clone()),
                        other => Value::from(other.to_string()),
                    }),
                })
                .collect();
            Value::Array(out?)
        }
    }))
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

fn double(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok().filter(|f: &f64| f.is_finite()),
        _ => None,
    }
}

fn boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "t" | "true" | "y" | "yes" | "on" | "1" => Some(true),
            "f" | "false" | "n" | "no" | "off" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Pushes engine operations durably and waits until they are searchable.
fn write(call: &Call, c: &Open, ops: &[Value]) -> Result<(), AdbError> {
    for chunk in ops.chunks(WRITE_CHUNK) {
        let body = serde_json::to_vec(chunk).map_err(AdbError::internal)?;
        let receipt = call
            .engine
            .push(
                &c.def.app_name(),
                collections::TABLE,
                &body,
                call.engine.new_request_id(),
            )
            .map_err(|r| {
                if r.code == pier_model::Code::INTERNAL {
                    AdbError::internal(r.message)
                } else if r.retry_after_secs.is_some() {
                    AdbError::new(StatusCode::TOO_MANY_REQUESTS, "Throttling", r.message)
                } else {
                    AdbError::invalid("Rows", r.message)
                }
            })?;
        let mut committed = receipt.table.subscribe_committed();
        let seq = receipt.seq;
        // Handlers run on the runtime's blocking pool, inside its context.
        let visible = tokio::runtime::Handle::current().block_on(async {
            tokio::time::timeout(VISIBLE_WAIT, committed.wait_for(|s| *s >= seq)).await
        });
        if visible.is_err() {
            tracing::warn!(collection = %c.def.app_name(), seq, "write not searchable within the wait");
        }
    }
    Ok(())
}

/// The ids of the rows matching `filter` (all rows without one), in id order.
fn matching_ids(c: &Open, filter: Option<Expr>) -> Result<Vec<String>, AdbError> {
    let searcher = c.table.index.searcher();
    let mut request = pier_query::parse_search("query=''", None).map_err(AdbError::internal)?;
    request.filter = filter;
    request.sort = vec![id_order()];
    let request = Arc::new(request);
    let mut ids = Vec::new();
    loop {
        let out = c
            .table
            .index
            .search(
                &searcher,
                &request,
                Page::Ranked {
                    start: ids.len(),
                    hit: WRITE_CHUNK,
                },
                &[],
            )
            .map_err(|e| AdbError::invalid("Filter", e.message))?;
        let n = out.hits.len();
        ids.extend(
            out.hits
                .into_iter()
                .filter_map(|h| h.fields.get(ID).map(string_of)),
        );
        if n < WRITE_CHUNK {
            return Ok(ids);
        }
    }
}

fn id_order() -> pier_query::SortKey {
    pier_query::SortKey {
        order: pier_query::Order::Asc,
        key: pier_query::SortExpr::Expr(Expr::Field(ID.into())),
    }
}

fn string_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `DeleteCollectionData`: deletes the rows selected by `CollectionData` (field → values,
/// every field must match) and/or `CollectionDataFilter` (SQL WHERE); `AppliedRows`.
pub fn delete_collection_data(call: &Call) -> Result<Fields, AdbError> {
    let c = collections::open(call)?;
    let mut parts = Vec::new();
    let data: Option<Map<String, Value>> = call.params.json("CollectionData")?;
    for (field, values) in data.unwrap_or_default() {
        if field != ID && c.def.column(&field).is_none() {
            return Err(AdbError::invalid(
                "CollectionData",
                unknown_column(&c.def, &field),
            ));
        }
        let values = match values {
            Value::Array(a) => a,
            other => vec![other],
        };
        parts.push(Expr::In {
            expr: Box::new(Expr::Field(field)),
            values: values.iter().map(string_of).collect(),
            negated: false,
        });
    }
    if let Some(f) = call.params.get("CollectionDataFilter") {
        parts.push(sql::parse("CollectionDataFilter", f, &c.def)?);
    }
    if parts.is_empty() {
        return Err(AdbError::new(
            StatusCode::BAD_REQUEST,
            "MissingParameter",
            "send CollectionData (a JSON map of field to values) or CollectionDataFilter (an SQL WHERE condition) to say which rows to delete",
        ));
    }
    let filter = if parts.len() == 1 {
        parts.remove(0)
    } else {
        Expr::And(parts)
    };
    let ids = matching_ids(&c, Some(filter))?;
    let ops: Vec<Value> = ids
        .iter()
        .map(|id| json!({"cmd": "delete", "fields": {ID: id}}))
        .collect();
    write(call, &c, &ops)?;
    let mut fields = Fields::new();
    fields.insert("AppliedRows".into(), ids.len().into());
    Ok(fields)
}

/// `UpdateCollectionDataMetadata`: sets `Metadata` on the rows named by `Ids` or matching
/// `Filter`, keeping their vectors and other fields; `AppliedRows` counts the rows found (a
/// row written again by another call meanwhile keeps that call's state).
pub fn update_collection_data_metadata(call: &Call) -> Result<Fields, AdbError> {
    let c = collections::open(call)?;
    let updates: Map<String, Value> = call
        .params
        .json("Metadata")?
        .ok_or_else(|| AdbError::missing("Metadata"))?;
    let mut normalised = Vec::new();
    for (name, value) in &updates {
        let column = c
            .def
            .column(name)
            .ok_or_else(|| AdbError::invalid("Metadata", unknown_column(&c.def, name)))?;
        let v = normalise(column, value)
            .map_err(|m| AdbError::invalid("Metadata", format!("'{name}': {m}")))?;
        normalised.push((name.clone(), v));
    }
    let ids: Vec<String> = match (
        call.params.json::<Vec<String>>("Ids")?,
        call.params.get("Filter"),
    ) {
        (Some(ids), None) => ids,
        (None, Some(f)) => matching_ids(&c, Some(sql::parse("Filter", f, &c.def)?))?,
        (Some(_), Some(_)) => {
            return Err(AdbError::invalid("Ids", "send Ids or Filter, not both"));
        }
        (None, None) => {
            return Err(AdbError::new(
                StatusCode::BAD_REQUEST,
                "MissingParameter",
                "send Ids (a JSON array of row ids) or Filter (an SQL WHERE condition) to say which rows to update",
            ));
        }
    };
    let pks: Vec<&str> = ids.iter().map(String::as_str).collect();
    let docs = call
        .engine
        .documents_with_timestamps(&c.table, &pks)
        .map_err(AdbError::internal)?;
    let mut ops = Vec::new();
    for (mut doc, timestamp) in docs.into_iter().flatten() {
        for (name, v) in &normalised {
            match v {
                Some(v) => doc.insert(name.clone(), v.clone()),
                None => doc.remove(name),
            };
        }
        // The row as read, changed: with the read version's timestamp, a write of the row
        // that lands between the read and this one wins (its vector is never overwritten
        // with the one read, a deleted row never comes back).
        let mut op = add_op(&c.def, doc);
        op["timestamp"] = timestamp.into();
        ops.push(op);
    }
    write(call, &c, &ops)?;
    let mut fields = Fields::new();
    fields.insert("AppliedRows".into(), ops.len().into());
    Ok(fields)
}

/// A ranked row id with its reported score.
struct Scored {
    id: String,
    score: f64,
}

/// `QueryCollectionData`: vector, full-text or hybrid search with filter, paging and
/// ordering (spec §3.5, §6).
pub fn query_collection_data(call: &Call) -> Result<Fields, AdbError> {
    let c = collections::open(call)?;
    let p = &call.params;
    let top_k = positive(
        p.int("TopK")?.ok_or_else(|| AdbError::missing("TopK"))?,
        "TopK",
    )?;
    let offset = p.int("Offset")?.map(|o| {
        usize::try_from(o).map_err(|_| AdbError::invalid("Offset", "it must be 0 or more"))
    });
    let offset = offset.transpose()?;
    if top_k + offset.unwrap_or(0) > MAX_TOP_K {
        return Err(AdbError::invalid(
            "TopK",
            format!("TopK + Offset must be at most {MAX_TOP_K}"),
        ));
    }
    for (name, why) in [(
        "RelationalTableFilter",
        "relational table filters are not supported by pier",
    )] {
        if p.get(name).is_some() {
            return Err(AdbError::new(
                StatusCode::NOT_IMPLEMENTED,
                "Unsupported",
                format!("{name}: {why}; leave it out"),
            ));
        }
    }
    let vector: Option<Vec<f32>> = p.json("Vector")?;
    if let Some(v) = &vector
        && v.len() != c.def.dimension
    {
        return Err(AdbError::invalid(
            "Vector",
            format!(
                "it has {} values but the collection's Dimension is {}",
                v.len(),
                c.def.dimension
            ),
        ));
    }
    // Another metric than the index's, or no index (DeleteVectorIndex): an exact scan.
    let metric = p
        .get("Metrics")
        .map(|m| Metric::parse("Metrics", m))
        .transpose()?
        .unwrap_or(c.def.metrics);
    let sparse = match p.json::<Value>("SparseVector")? {
        None | Some(Value::Null) => None,
        Some(_) if !c.def.supports_sparse() => {
            return Err(AdbError::invalid(
                "SparseVector",
                format!(
                    "collection '{}' was created without SupportSparse, so it holds no sparse vectors; leave SparseVector out",
                    c.def.collection
                ),
            ));
        }
        Some(v) => parse_sparse(&v)
            .map_err(|m| AdbError::invalid("SparseVector", m))?
            .map(|(i, x)| (i, x.into_iter().map(|f| f as f32).collect::<Vec<f32>>())),
    };
    if sparse.is_some() && vector.is_some() && metric == Metric::L2 {
        return Err(AdbError::invalid(
            "SparseVector",
            "the dense vector is scored by l2 (a distance, lower is better), which cannot be added to a sparse inner product; send SparseVector without Vector, Vector alone, or Metrics ip or cosine",
        ));
    }
    let side = VectorSide {
        dense: vector.as_deref(),
        sparse: sparse.as_ref().map(|(i, v)| (i.as_slice(), v.as_slice())),
        metric,
        exact: metric != c.def.metrics || c.def.vector_index_deleted,
    };
    let content = p.get("Content").map(str::trim).filter(|s| !s.is_empty());
    let filter = p
        .get("Filter")
        .map(|f| sql::parse("Filter", f, &c.def))
        .transpose()?;
    let order_by = p.get("OrderBy").map(|o| order_by(o, &c.def)).transpose()?;
    let shown = shown_fields(p.get("IncludeMetadataFields"), &c.def)?;
    let include_values = p.bool("IncludeValues")?.unwrap_or(false);
    let include_sparse = p.bool("IncludeSparseValues")?.unwrap_or(false);
    let mut total = None;
    let ranked = match (side.is_empty(), content) {
        (true, None) => {
            return Err(AdbError::invalid(
                "Vector",
                "send Vector (a JSON array of numbers), SparseVector, Content (full-text query) or a combination",
            ));
        }
        (false, None) => {
            let start = offset.unwrap_or(0);
            let mut hits = vector_ranked(call, &c, &side, start + top_k, filter.as_ref())?;
            if offset.is_some() {
                total = Some(count(&c, filter.clone())?);
            }
            hits.drain(..start.min(hits.len()));
            hits
        }
        (true, Some(text)) => {
            let (hits, n) = text_ranked(&c, text, offset.unwrap_or(0), top_k, filter.clone())?;
            if offset.is_some() {
                total = Some(n);
            }
            hits
        }
        (false, Some(text)) => {
            // The cloud documents Offset and OrderBy as unsupported here; pier pages the fused
            // list as it pages the vector and full-text ones (a superset no client can trip on).
            let start = offset.unwrap_or(0);
            let (mut hits, cascaded) =
                hybrid(call, &c, &side, text, start + top_k, filter.clone())?;
            if offset.is_some() {
                total = Some(if cascaded {
                    // Only full-text hits reach the vector stage.
                    text_ranked(&c, text, 0, 0, filter)?
                        .1
                        .min(CASCADE_DEPTH as u64)
                } else {
                    // The vector list ranks every row that passes the filter.
                    count(&c, filter)?
                });
            }
            hits.drain(..start.min(hits.len()));
            hits
        }
    };
    let ids: Vec<&str> = ranked.iter().map(|s| s.id.as_str()).collect();
    // The vector is most of a stored row; it is parsed only when the response shows it.
    let skip: &[&str] = if include_values { &[] } else { &[VECTOR] };
    let docs = call
        .engine
        .documents_without(&c.table, &ids, skip)
        .map_err(AdbError::internal)?;
    let mut rows: Vec<(&Scored, Map<String, Value>)> = ranked
        .iter()
        .zip(docs)
        .filter_map(|(s, d)| d.map(|d| (s, d)))
        .collect();
    if let Some(keys) = &order_by {
        rows.sort_by(|a, b| {
            keys.iter()
                .map(|(f, desc)| {
                    let o = compare_values(a.1.get(f), b.1.get(f));
                    if *desc { o.reverse() } else { o }
                })
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        });
    }
    let matches: Vec<Value> = rows
        .iter()
        .map(|(s, doc)| render(s, doc, &shown, (include_values, include_sparse)))
        .collect();
    let mut fields = Fields::new();
    if let Some(t) = total {
        fields.insert("Total".into(), t.into());
    }
    fields.insert("Matches".into(), json!({ "match": matches }));
    Ok(fields)
}

fn positive(n: i64, name: &str) -> Result<usize, AdbError> {
    usize::try_from(n)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| AdbError::invalid(name, format!("{n}: it must be 1 or more")))
}

/// `OrderBy`: `field [ASC|DESC], …` over `id` and Metadata keys.
fn order_by(s: &str, c: &Collection) -> Result<Vec<(String, bool)>, AdbError> {
    s.split(',')
        .map(|part| {
            let mut words = part.split_whitespace();
            let field = words.next().ok_or_else(|| {
                AdbError::invalid("OrderBy", "an empty sort key; send 'field [ASC|DESC], …'")
            })?;
            if field != ID && c.column(field).is_none() {
                return Err(AdbError::invalid("OrderBy", unknown_column(c, field)));
            }
            let desc = match words.next().map(str::to_ascii_uppercase).as_deref() {
                None | Some("ASC") => false,
                Some("DESC") => true,
                Some(other) => {
                    return Err(AdbError::invalid(
                        "OrderBy",
                        format!("'{other}' after '{field}': send ASC or DESC"),
                    ));
                }
            };
            if words.next().is_some() {
                return Err(AdbError::invalid("OrderBy", "send 'field [ASC|DESC], …'"));
            }
            Ok((field.to_string(), desc))
        })
        .collect()
}

fn compare_values(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .unwrap_or(f64::NAN)
            .total_cmp(&y.as_f64().unwrap_or(f64::NAN)),
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        // NULLs sort last ascending, as in PostgreSQL.
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
        (None, None) => Ordering::Equal,
    }
}

/// `IncludeMetadataFields`: the listed Metadata keys, all of them when empty.
fn shown_fields(list: Option<&str>, c: &Collection) -> Result<Vec<(String, Column)>, AdbError> {
    let all = || {
        c.metadata
            .iter()
            .filter_map(|(n, _)| c.column(n).map(|col| (n.clone(), col)))
            .collect()
    };
    let Some(list) = list else { return Ok(all()) };
    let names: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if names.is_empty() {
        return Ok(all());
    }
    names
        .into_iter()
        .map(|n| {
            c.column(n)
                .map(|col| (n.to_string(), col))
                .ok_or_else(|| AdbError::invalid("IncludeMetadataFields", unknown_column(c, n)))
        })
        .collect()
}

fn search_error(e: VectorSearchError) -> AdbError {
    match e {
        VectorSearchError::Invalid(m) => AdbError::invalid("Filter", m),
        VectorSearchError::Internal(m) => AdbError::internal(m),
    }
}

/// The vector side of a query: `Vector`, `SparseVector` or both (scores summed).
struct VectorSide<'a> {
    dense: Option<&'a [f32]>,
    sparse: Option<(&'a [u32], &'a [f32])>,
    /// The metric `Vector` is scored by (`Metrics`, else the index's).
    metric: Metric,
    /// Whether `Vector` is scored by an exact scan rather than the graph.
    exact: bool,
}

impl VectorSide<'_> {
    fn is_empty(&self) -> bool {
        self.dense.is_none() && self.sparse.is_none()
    }

    /// Whether scores are Euclidean distances (lower is better): a dense-only search by l2.
    /// Sparse scores are inner products.
    fn is_distance(&self) -> bool {
        self.sparse.is_none() && self.metric == Metric::L2
    }

    /// The exact-scan metric the engine is asked for, if any.
    fn exact(&self) -> Option<pier_engine::vectors::VectorMetric> {
        self.exact.then(|| self.metric.vector_metric())
    }
}

/// The `k` best rows, best first, with AnalyticDB's scores (Euclidean distance for l2; the
/// inner product, plus the dense score when both are sent, for a sparse vector).
fn vector_ranked(
    call: &Call,
    c: &Open,
    side: &VectorSide<'_>,
    k: usize,
    filter: Option<&Expr>,
) -> Result<Vec<Scored>, AdbError> {
    let hits = match side.sparse {
        Some((indices, values)) => call.engine.sparse_search(
            &c.table,
            &SparseQuery {
                index: VECTOR,
                namespace: "",
                indices,
                values,
                dense: side.dense,
                k,
                ef: Some(k.max(128)),
                filter,
                exact: side.exact(),
            },
        ),
        None => call.engine.vector_search(
            &c.table,
            &VectorQuery {
                index: VECTOR,
                namespace: "",
                vector: side.dense.unwrap_or_default(),
                k,
                ef: Some(k.max(128)),
                filter,
                exact: side.exact(),
            },
        ),
    }
    .map_err(search_error)?;
    let distance = side.is_distance();
    Ok(hits
        .into_iter()
        .map(|h| Scored {
            id: h.pk,
            score: if distance {
                f64::from(h.score).max(0.0).sqrt()
            } else {
                f64::from(h.score)
            },
        })
        .collect())
}

/// Rows matching `filter`.
fn count(c: &Open, filter: Option<Expr>) -> Result<u64, AdbError> {
    let mut request = pier_query::parse_search("query=''", None).map_err(AdbError::internal)?;
    request.filter = filter;
    let out = c
        .table
        .index
        .search(
            &c.table.index.searcher(),
            &Arc::new(request),
            Page::Ranked { start: 0, hit: 0 },
            &[],
        )
        .map_err(|e| AdbError::invalid("Filter", e.message))?;
    Ok(out.total)
}

/// Full-text hits (BM25 over the FullTextRetrievalFields), best first, and their total.
fn text_ranked(
    c: &Open,
    text: &str,
    start: usize,
    hit: usize,
    filter: Option<Expr>,
) -> Result<(Vec<Scored>, u64), AdbError> {
    if c.def.full_text_retrieval_fields.is_empty() {
        return Err(AdbError::invalid(
            "Content",
            "the collection has no FullTextRetrievalFields, so it cannot be searched by Content; send Vector",
        ));
    }
    // Quotes and backslashes would end the query's literal; they carry no words.
    let words: String = text
        .chars()
        .map(|ch| {
            if matches!(ch, '\'' | '\\' | '"') {
                ' '
            } else {
                ch
            }
        })
        .collect();
    let mut request = pier_query::parse_search(&format!("query={TEXT_INDEX}:'{words}'"), None)
        .map_err(|e| AdbError::invalid("Content", e.message))?;
    request.filter = filter;
    let out = c
        .table
        .index
        .search(
            &c.table.index.searcher(),
            &Arc::new(request),
            Page::Ranked { start, hit },
            &[],
        )
        .map_err(|e| AdbError::invalid("Content", e.message))?;
    let hits = out
        .hits
        .into_iter()
        .filter_map(|h| {
            h.fields.get(ID).map(|id| Scored {
                id: string_of(id),
                score: f64::from(h.score),
            })
        })
        .collect();
    Ok((hits, out.total))
}

/// Vector and/or SparseVector + Content: `RRF` (also when `HybridSearch` is empty), `Weight` or
/// `Cascaded`; the best `top_k` fused rows, and whether the search was cascaded.
fn hybrid(
    call: &Call,
    c: &Open,
    side: &VectorSide<'_>,
    text: &str,
    top_k: usize,
    filter: Option<Expr>,
) -> Result<(Vec<Scored>, bool), AdbError> {
    let args: Map<String, Value> = call.params.json("HybridSearchArgs")?.unwrap_or_default();
    let mode = call.params.get("HybridSearch").unwrap_or("RRF");
    let arg = |algo: &str, key: &str| -> Option<f64> {
        args.get(algo)
            .and_then(|a| a.get(key))
            .and_then(Value::as_f64)
    };
    let mut fused: Vec<Scored> = match mode.to_ascii_lowercase().as_str() {
        "cascaded" => {
            let (hits, _) = text_ranked(c, text, 0, CASCADE_DEPTH, filter.clone())?;
            if hits.is_empty() {
                return Ok((Vec::new(), true));
            }
            let ids = Expr::In {
                expr: Box::new(Expr::Field(ID.into())),
                values: hits.into_iter().map(|h| h.id).collect(),
                negated: false,
            };
            let restricted = match filter {
                Some(f) => Expr::And(vec![f, ids]),
                None => ids,
            };
            return Ok((
                vector_ranked(call, c, side, top_k, Some(&restricted))?,
                true,
            ));
        }
        "rrf" => {
            let k = arg("RRF", "k").unwrap_or(DEFAULT_RRF_K);
            if k <= 1.0 {
                return Err(AdbError::invalid(
                    "HybridSearchArgs",
                    "RRF.k must be greater than 1",
                ));
            }
            let v = vector_ranked(call, c, side, top_k, filter.as_ref())?;
            let (t, _) = text_ranked(c, text, 0, top_k, filter)?;
            let mut scores: HashMap<String, f64> = HashMap::new();
            for list in [v, t] {
                for (rank, s) in list.into_iter().enumerate() {
                    *scores.entry(s.id).or_default() += 1.0 / (k + rank as f64 + 1.0);
                }
            }
            scores
                .into_iter()
                .map(|(id, score)| Scored { id, score })
                .collect()
        }
        "weight" => {
            let alpha = arg("Weight", "alpha").unwrap_or(DEFAULT_ALPHA);
            if !(0.0..=1.0).contains(&alpha) {
                return Err(AdbError::invalid(
                    "HybridSearchArgs",
                    "Weight.alpha must be between 0 and 1",
                ));
            }
            let v = vector_ranked(call, c, side, top_k, filter.as_ref())?;
            let (t, _) = text_ranked(c, text, 0, top_k, filter)?;
            let mut scores: HashMap<String, f64> = HashMap::new();
            for s in v {
                // A distance becomes a similarity in (0, 1] so that higher is better.
                let score = if side.is_distance() {
                    1.0 / (1.0 + s.score)
                } else {
                    s.score
                };
                *scores.entry(s.id).or_default() += alpha * score;
            }
            for s in t {
                *scores.entry(s.id).or_default() += (1.0 - alpha) * s.score;
            }
            scores
                .into_iter()
                .map(|(id, score)| Scored { id, score })
                .collect()
        }
        _ => {
            return Err(AdbError::invalid(
                "HybridSearch",
                format!("'{mode}' is not a hybrid algorithm; send RRF, Weight or Cascaded"),
            ));
        }
    };
    fused.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
    fused.truncate(top_k);
    Ok((fused, false))
}

/// One `match`: `Metadata` values as strings, `MetadataV2` typed, `Values.value` and
/// `SparseValues` on request (`include`: IncludeValues, IncludeSparseValues).
fn render(
    s: &Scored,
    doc: &Map<String, Value>,
    shown: &[(String, Column)],
    include: (bool, bool),
) -> Value {
    let (include_values, include_sparse) = include;
    let mut metadata = Map::new();
    let mut typed = Map::new();
    for (name, column) in shown {
        let Some(v) = doc.get(name) else { continue };
        let (text, value) = match (column, v) {
            (Column::Bool, v) => {
                let b = v.as_i64().unwrap_or(0) != 0;
                (b.to_string(), Value::from(b))
            }
            (Column::Json, Value::String(s)) => (
                s.clone(),
                serde_json::from_str(s).unwrap_or_else(|_| Value::from(s.clone())),
            ),
            (_, Value::String(s)) => (s.clone(), v.clone()),
            (_, other) => (other.to_string(), other.clone()),
        };
        metadata.insert(name.clone(), text.into());
        typed.insert(name.clone(), value);
    }
    let mut m = json!({
        "Id": doc.get(ID).map(string_of).unwrap_or_else(|| s.id.clone()),
        "Score": s.score,
        "Metadata": metadata,
        "MetadataV2": typed,
    });
    if include_values {
        let values = doc.get(VECTOR).cloned().unwrap_or_else(|| json!([]));
        m["Values"] = json!({ "value": values });
    }
    if include_sparse {
        let get = |f: &str| doc.get(f).cloned().unwrap_or_else(|| json!([]));
        m["SparseValues"] = json!({
            "Indices": { "Indice": get(SPARSE_INDICES) },
            "Values": { "Value": get(SPARSE_VALUES) },
        });
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collection() -> Collection {
        Collection {
            namespace: "ns".into(),
            collection: "c".into(),
            dimension: 3,
            metrics: Metric::Cosine,
            parser: "english".into(),
            full_text_retrieval_fields: vec!["title".into()],
            metadata: vec![
                ("title".into(), "text".into()),
                ("page".into(), "int".into()),
            ],
            index_options: Map::new(),
            vector_index_deleted: false,
        }
    }

    fn id() -> uuid::Uuid {
        uuid::Uuid::from_u128(7)
    }

    /// The operation of `line` both ways: (the raw way's, the slow way's).
    fn both(line: &str) -> (Result<Option<Value>, String>, Result<Value, String>) {
        let c = collection();
        let raw = serde_json::from_str::<RawRow<'_>>(line).unwrap();
        let fast = row_op_line(&c, raw, id)
            .map(|o| o.map(|bytes| serde_json::from_slice::<Value>(&bytes).unwrap()));
        let slow = row_op(&c, serde_json::from_str::<Row>(line).unwrap(), id);
        (fast, slow)
    }

    #[test]
    fn the_raw_way_gives_the_same_operation_as_row_op() {
        for line in [
            r#"{"Id":"a","Metadata":{"title":"hello","page":3},"Vector":[0.5,-1.25e-3,1E2]}"#,
            r#"{"Metadata":{"page":"4"},"Vector":[ 0.1 , 0.2, 0.30000000000000004 ]}"#,
            r#"{"Id":"","Vector":[1.0,2.0,3.5],"Other":1}"#,
        ] {
            let (fast, slow) = both(line);
            let fast = fast.unwrap().expect("taken the raw way");
            let slow = slow.unwrap();
            assert_eq!(fast, slow, "{line}");
            // Same key order as well (preserve_order).
            let keys = |v: &Value| {
                v["fields"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
            };
            assert_eq!(keys(&fast), keys(&slow));
        }
    }

    #[test]
    fn integers_and_non_numbers_take_the_slow_way() {
        for line in [
            r#"{"Id":"a","Vector":[1,2.0,3.0]}"#,
            r#"{"Id":"a","Vector":[1.0,"2",3.0]}"#,
            r#"{"Id":"a","Vector":{"a":1}}"#,
            r#"{"Id":"a","Vector":[1.0,2.0,1e400]}"#,
        ] {
            let c = collection();
            let raw = serde_json::from_str::<RawRow<'_>>(line).unwrap();
            assert_eq!(row_op_line(&c, raw, id), Ok(None), "{line}");
        }
    }

    #[test]
    fn float_arrays_are_measured_and_anything_else_is_left_to_the_slow_way() {
        for (text, len) in [
            ("[]", Some(0)),
            (" [ ] ", Some(0)),
            ("[0.5]", Some(1)),
            ("[ -0.5 ,\t1e-7,\n2.5E+10, 3.25e99 ]", Some(4)),
            ("[12345678901234567890.5]", Some(1)),
            ("[1.0,2]", None),
            ("[-0]", None),
            ("[1.5e100]", None),
            ("[1.5e-100]", None),
            ("[123456789012345678901.5]", None),
            ("[[1.0],[2.0]]", None),
            (r#"["1.0,2.0"]"#, None),
            (r#"[1.0,"e"]"#, None),
            ("[true]", None),
            ("[null]", None),
            (r#"[{"a":1.5}]"#, None),
            (r#"{"a":1.5}"#, None),
            ("1.5", None),
        ] {
            assert_eq!(float_array_len(text), len, "{text}");
        }
    }

    #[test]
    fn the_raw_way_fails_rows_as_row_op_does() {
        for line in [
            r#"{"Id":"a","Vector":[1.0,2.0]}"#,
            r#"{"Id":"a"}"#,
            r#"{"Id":"a","Vector":null}"#,
            r#"{"Id":"a","Metadata":{"nope":1},"Vector":[1.0,2.0,3.0]}"#,
            r#"{"Id":"a","Metadata":{"page":"x"},"Vector":[1.0,2.0,3.0]}"#,
            r#"{"Id":"a","SparseVector":{"Indices":[1],"Values":[1.0]},"Vector":[1.0,2.0,3.0]}"#,
        ] {
            let (fast, slow) = both(line);
            assert_eq!(fast.unwrap_err(), slow.unwrap_err(), "{line}");
        }
    }
}
