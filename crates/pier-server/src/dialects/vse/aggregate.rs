//! `/vector-service/aggregate` (spec §2.6) on the engine's aggregate collector, the one V3's
//! `aggregate` clause uses, with every `groupKeys` field grouped at once
//! ([`pier_query::Aggregate::group_by`]).
//!
//! The answer is `{"result":[row...],"totalCount":rows,"totalTime":ms}` (the spec leaves the
//! shape open; see [`pier_vse::response::aggregate_response`]). Design choices:
//! * one row per group: each group key under its field name, typed as the field (a
//!   multi-value field's list as a JSON array, no value as `null`), then each function under
//!   its `name` (default `func(args)` as sent, e.g. `count(*)`);
//! * `count` counts the group's documents (fields always have a value in ha3, so
//!   `count(field)` is `count(*)`); `sum`, `max` and `min` of an integer field are integers;
//!   `avg` is the group's sum divided by its count;
//! * with no `groupKeys`, one row over every matching document, also when none match (then
//!   `count` is 0 and the other functions `null`, as SQL answers);
//! * rows in `orderBy` order, then by the group keys ascending (numbers numerically, `null`
//!   first); at most [`MAX_GROUPS`] groups, more is refused with a hint to narrow the request;
//! * `timeout` is accepted and not enforced.

use super::{OpenTable, convert, open_table};
use pier_engine::Engine;
use pier_index::search::{FacetItem, Page};
use pier_query::{AggFun, Aggregate};
use pier_vse::query::{AggFn, AggregateRequest};
use pier_vse::value::json_f64;
use pier_vse::{Code, FieldType, Order, VseError};
use serde_json::{Map, Value};
use std::cmp::Ordering;

/// Most groups an aggregate answers with (design choice: a larger answer is rarely what was
/// meant, and the whole of it is built in memory).
pub const MAX_GROUPS: usize = 10_000;

/// Runs an aggregate request: its rows, ordered.
pub fn run(
    engine: &Engine,
    mut req: AggregateRequest,
) -> Result<Vec<Map<String, Value>>, VseError> {
    let t: OpenTable = open_table(engine, &req.table_name)
        .ok_or_else(|| VseError::table_not_found(&req.table_name))?;
    req.resolve(&t.schema)?;
    // The engine computes count() once per group and one accumulator per other function;
    // `avg` reads a sum and the count.
    let functions: Vec<AggFun> = req
        .agg_funcs
        .iter()
        .filter_map(|f| {
            let arg = || pier_query::Expr::Field(f.args[0].clone());
            match f.func {
                AggFn::Count => None,
                AggFn::Sum | AggFn::Avg => Some(AggFun::Sum(arg())),
                AggFn::Max => Some(AggFun::Max(arg())),
                AggFn::Min => Some(AggFun::Min(arg())),
            }
        })
        .chain(std::iter::once(AggFun::Count))
        .collect();
    let mut request = pier_query::parse_search("query=''", None)
        .map_err(|e| VseError::internal(&e.to_string()))?;
    request.filter = req.filter.as_ref().map(|f| convert::engine_filter(&f.expr));
    request.aggregates = vec![Aggregate {
        group_key: String::new(),
        functions,
        range: Vec::new(),
        filter: None,
        sampler_threshold: None,
        sampler_step: None,
        max_group: u32::MAX,
        group_by: Some(req.group_keys.clone()),
    }];
    let page = Page::Ranked { start: 0, hit: 0 };
    let out = t.search(request, page, Code::INVALID_PARAMETER, "aggregate")?;
    let items: Vec<FacetItem> = out
        .facets
        .into_iter()
        .next()
        .map(|f| f.items)
        .unwrap_or_default();
    if items.len() > MAX_GROUPS {
        return Err(VseError::new(
            Code::INVALID_PARAMETER,
            format!(
                "the aggregate makes {} groups; at most {MAX_GROUPS} are answered: narrow it with \"filter\" or group by fewer keys",
                items.len()
            ),
        ));
    }
    let mut rows: Vec<Map<String, Value>> = items.iter().map(|item| row(&t, &req, item)).collect();
    if rows.is_empty() && req.group_keys.is_empty() {
        rows.push(empty_row(&req));
    }
    let keys: Vec<(String, Order)> = req
        .order_by
        .iter()
        .map(|o| (o.field.clone(), o.direction))
        .chain(req.group_keys.iter().map(|g| (g.clone(), Order::Asc)))
        .collect();
    rows.sort_by(|a, b| {
        keys.iter()
            .map(|(k, order)| {
                let o = compare(a.get(k), b.get(k));
                if *order == Order::Desc {
                    o.reverse()
                } else {
                    o
                }
            })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    });
    Ok(rows)
}

/// One group's row: its keys, then its function values.
fn row(t: &OpenTable, req: &AggregateRequest, item: &FacetItem) -> Map<String, Value> {
    let mut m = Map::new();
    for (name, value) in req.group_keys.iter().zip(&item.keys) {
        let field_type = t.schema.field(name).map(|f| f.field_type);
        m.insert(name.clone(), typed(field_type, value.as_deref()));
    }
    // `item.values` holds the engine's functions in order: one per non-count function, then
    // count().
    let mut accs = item.values.iter().map(|(_, v)| *v);
    let count = item.count;
    for f in &req.agg_funcs {
        let v = match f.func {
            AggFn::Count => Value::from(count),
            AggFn::Avg => {
                let sum = accs.next().unwrap_or(0.0);
                json_f64(if count == 0 {
                    f64::NAN
                } else {
                    sum / count as f64
                })
            }
            AggFn::Sum | AggFn::Max | AggFn::Min => {
                let v = accs.next().unwrap_or(0.0);
                let integer = t
                    .schema
                    .field(&f.args[0])
                    .is_some_and(|x| x.field_type.is_integer());
                if integer && v.is_finite() && v.abs() < 9.0e15 {
                    Value::from(v as i64)
                } else {
                    json_f64(v)
                }
            }
        };
        m.insert(f.name.clone(), v);
    }
    m
}

/// The row of an aggregate without group keys over no documents: count 0, the rest null.
fn empty_row(req: &AggregateRequest) -> Map<String, Value> {
    req.agg_funcs
        .iter()
        .map(|f| {
            let v = if f.func == AggFn::Count {
                Value::from(0)
            } else {
                Value::Null
            };
            (f.name.clone(), v)
        })
        .collect()
}

/// A group key's displayed value typed as its field: integers and floats as numbers, a
/// multi-value field's tab-joined values as a list, no value as `null`.
fn typed(field_type: Option<FieldType>, value: Option<&str>) -> Value {
    let Some(value) = value else {
        return Value::Null;
    };
    let Some(t) = field_type else {
        return Value::String(value.to_string());
    };
    let scalar = |s: &str| -> Value {
        if t.is_integer() {
            if let Ok(i) = s.parse::<i64>() {
                return Value::from(i);
            }
            if let Ok(u) = s.parse::<u64>() {
                return Value::from(u);
            }
        } else if t.is_floating()
            && let Ok(f) = s.parse::<f64>()
        {
            return json_f64(f);
        }
        Value::String(s.to_string())
    };
    if t.is_multi() {
        if value.is_empty() {
            return Value::Array(Vec::new());
        }
        Value::Array(value.split('\t').map(scalar).collect())
    } else {
        scalar(value)
    }
}

/// Orders result values: `null` first, numbers numerically, strings by bytes, lists item by
/// item.
fn compare(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    fn rank(v: Option<&Value>) -> u8 {
        match v {
            None | Some(Value::Null) => 0,
            Some(Value::Bool(_)) => 1,
            Some(Value::Number(_)) => 2,
            Some(Value::String(_)) => 3,
            Some(Value::Array(_)) => 4,
            Some(Value::Object(_)) => 5,
        }
    }
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i.cmp(&j),
            _ => x
                .as_f64()
                .unwrap_or(0.0)
                .total_cmp(&y.as_f64().unwrap_or(0.0)),
        },
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (Some(Value::Array(x)), Some(Value::Array(y))) => x
            .iter()
            .zip(y)
            .map(|(p, q)| compare(Some(p), Some(q)))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| x.len().cmp(&y.len())),
        _ => rank(a).cmp(&rank(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn group_values_are_typed_as_their_fields() {
        assert_eq!(typed(Some(FieldType::Int32), Some("-3")), json!(-3));
        assert_eq!(typed(Some(FieldType::Double), Some("2.5")), json!(2.5));
        assert_eq!(typed(Some(FieldType::String), Some("7")), json!("7"));
        assert_eq!(
            typed(Some(FieldType::MultiInt64), Some("1\t2")),
            json!([1, 2])
        );
        assert_eq!(typed(Some(FieldType::MultiString), Some("")), json!([]));
        assert_eq!(typed(Some(FieldType::Int32), None), Value::Null);
    }

    #[test]
    fn values_compare_nulls_first_and_numbers_numerically() {
        let (two, ten) = (json!(2), json!(10.5));
        assert_eq!(compare(Some(&two), Some(&ten)), Ordering::Less);
        assert_eq!(compare(None, Some(&two)), Ordering::Less);
        assert_eq!(
            compare(Some(&json!("b")), Some(&json!("a"))),
            Ordering::Greater
        );
        assert_eq!(
            compare(Some(&json!([1, 2])), Some(&json!([1]))),
            Ordering::Greater
        );
    }
}
