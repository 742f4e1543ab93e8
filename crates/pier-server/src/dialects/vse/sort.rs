//! `sort` / `sorts` on vector queries (spec §2.1).
//!
//! What sorting a vector query means (design choice; the spec says only that `sort` is a ha3
//! sort string and that `sorts` turns each result's score into a list, one per key): the
//! query first recalls its `topK` nearest documents by vector score exactly as it would
//! without a sort (filter and `scoreThreshold` included), then the sort keys re-order those
//! candidates. A sort never brings in a document the vector recall did not find.
//!
//! * `RANK` is the vector score (the raw squared distance or inner product); other keys are
//!   expressions of attribute fields (`+price;-RANK`, `cate_id*2`), as in fetch.
//! * Ties after the last key stay best first by vector score, then by primary key; `order`
//!   only applies without sort keys.
//! * With `sort`, each result's score stays the vector score. With `sorts`, it becomes the
//!   list of the result's key values, one per key (`RANK`'s is the vector score; a key without
//!   a numeric value, such as a STRING field, gives `null`).
//! * A query sends `sort` or `sorts`, not both (refused, since the two would disagree).
//! * In `/search`, `knn.sort` / `knn.sorts` order the knn list before fusion, so they decide
//!   the knn ranks that RRF counts (a weighted sum adds scores and is not affected); the fused
//!   score stays one number. In `/multi-query`, the request's `sort` orders the merged list
//!   (the merged score stays one number); a sub-query's own sort would be undone by the merge
//!   and is refused.
//!
//! Field values come from the text index's last commit, where filters are evaluated too; a
//! candidate that is not there yet sorts as if its fields had no value.

use super::OpenTable;
use super::convert::engine_filter;
use pier_index::search::Val;
use pier_vse::fusion::Ranked;
use pier_vse::{Code, Order, SortExpr, SortKey, VseError};
use std::cmp::Ordering;

/// A candidate with the values of its sort keys, in key order.
pub struct Sorted {
    /// The candidate and its vector score.
    pub ranked: Ranked,
    /// One value per sort key.
    pub keys: Vec<Val>,
}

impl Sorted {
    /// The key values as a `sorts` score list (`null`, i.e. NaN, for non-numeric values).
    pub fn scores(&self) -> Vec<f64> {
        self.keys
            .iter()
            .map(|v| v.as_f64().unwrap_or(f64::NAN))
            .collect()
    }
}

/// Refuses a query that sends both `sort` and `sorts`.
pub fn check_one(sort: &[SortKey], sorts: &[SortKey], at: &str) -> Result<(), VseError> {
    if !sort.is_empty() && !sorts.is_empty() {
        return Err(VseError::new(
            Code::INVALID_PARAMETER,
            format!(
                "{at}\"sort\" and \"sorts\" are both set; send one of them (\"sorts\" also returns each key's value as the score list)"
            ),
        ));
    }
    Ok(())
}

/// Orders `list` (a query's recalled candidates) by `keys`, ties best first by vector score
/// (`best_first`) then by primary key, and returns each candidate with its key values.
pub fn sort_candidates(
    t: &OpenTable,
    keys: &[SortKey],
    list: Vec<Ranked>,
    best_first: Order,
) -> Result<Vec<Sorted>, VseError> {
    let exprs: Vec<pier_query::Expr> = keys
        .iter()
        .filter_map(|k| match &k.key {
            SortExpr::Rank => None,
            SortExpr::Expr(e) => Some(engine_filter(e)),
        })
        .collect();
    let values = if exprs.is_empty() {
        vec![None; list.len()]
    } else {
        let pks: Vec<&str> = list.iter().map(|r| r.pk.as_str()).collect();
        t.table
            .index
            .key_values(&t.table.index.searcher(), &pks, &exprs)
            .map_err(|e| VseError::new(Code::SORT_SYNTAX, format!("sort: {}", e.message)))?
    };
    let mut out: Vec<Sorted> = list
        .into_iter()
        .zip(values)
        .map(|(ranked, fields)| {
            let mut fields = fields.map(Vec::into_iter);
            let keys = keys
                .iter()
                .map(|k| match k.key {
                    SortExpr::Rank => Val::Float(ranked.score),
                    SortExpr::Expr(_) => fields
                        .as_mut()
                        .and_then(Iterator::next)
                        .unwrap_or(Val::Null),
                })
                .collect();
            Sorted { ranked, keys }
        })
        .collect();
    let orders: Vec<Order> = keys.iter().map(|k| k.order).collect();
    out.sort_by(|a, b| {
        let by_keys = orders
            .iter()
            .zip(a.keys.iter().zip(&b.keys))
            .map(|(order, (x, y))| directed(x.total_cmp(y), *order))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal);
        by_keys
            .then_with(|| directed(a.ranked.score.total_cmp(&b.ranked.score), best_first))
            .then_with(|| a.ranked.pk.cmp(&b.ranked.pk))
    });
    Ok(out)
}

fn directed(o: Ordering, order: Order) -> Ordering {
    if order == Order::Desc { o.reverse() } else { o }
}
