//! Filters as key sets: which documents of a snapshot pass a filter expression, reported by the
//! value of an integer attribute (the engine's vector key). Vector searches use the set to
//! filter during graph traversal, or to score the passing documents exactly when few pass.
//! Also the values of expressions for a few documents named by primary key (the sort keys of
//! vector hits).

use super::SearchError;
use super::expr::{SegmentColumns, Val};
use crate::TableIndex;
use pier_model::FieldType;
use pier_query::Expr;
use tantivy::schema::IndexRecordOption;
use tantivy::{DocSet, Searcher, TERMINATED, Term};

/// Code for a filter the executor cannot evaluate (spec §3: 6xxx filter errors).
const FILTER_CODE: u32 = pier_query::codes::FILTER;
/// Code for a sort expression the executor cannot evaluate.
const SORT_CODE: u32 = pier_query::codes::SORT;

impl TableIndex {
    /// The values of the integer attribute `key_field` of every live document in `searcher` for
    /// which `filter` holds, in no particular order.
    pub fn filter_keys(
        &self,
        searcher: &Searcher,
        filter: &Expr,
        key_field: &str,
    ) -> Result<Vec<u64>, SearchError> {
        let fields = self.filter_fields();
        if !fields
            .iter()
            .any(|f| f.name == key_field && f.field_type == FieldType::Int)
        {
            return Err(SearchError {
                code: FILTER_CODE,
                message: format!("'{key_field}' is not an integer attribute of this table"),
            });
        }
        let key_expr = Expr::Field(key_field.to_string());
        let mut keys = Vec::new();
        for segment in searcher.segment_readers() {
            let mut columns = SegmentColumns::default();
            let test = columns.compile(segment, &fields, filter, "filter", FILTER_CODE)?;
            let key = columns.compile(segment, &fields, &key_expr, "filter", FILTER_CODE)?;
            let alive = segment.alive_bitset();
            for doc in 0..segment.max_doc() {
                if alive.is_some_and(|a| !a.is_alive(doc)) || !columns.test(&test, doc) {
                    continue;
                }
                if let Val::Int(k) = columns.eval(&key, doc) {
                    keys.push(k as u64);
                }
            }
        }
        Ok(keys)
    }

    /// The values of `exprs` (filter-language expressions of attribute fields, as sort keys
    /// are) for the live documents of primary keys `pks` in `searcher`, one list per key in
    /// `pks` order: `None` for a key the snapshot does not hold. Each key is looked up in the
    /// primary-key postings, so the cost follows `pks`, not the table.
    pub fn key_values(
        &self,
        searcher: &Searcher,
        pks: &[&str],
        exprs: &[Expr],
    ) -> Result<Vec<Option<Vec<Val>>>, SearchError> {
        let fields = self.filter_fields();
        let mut out: Vec<Option<Vec<Val>>> = vec![None; pks.len()];
        for segment in searcher.segment_readers() {
            let mut columns = SegmentColumns::default();
            let compiled = exprs
                .iter()
                .map(|e| columns.compile(segment, &fields, e, "sort", SORT_CODE))
                .collect::<Result<Vec<_>, _>>()?;
            let postings = segment
                .inverted_index(self.pk_field())
                .map_err(SearchError::internal)?;
            let alive = segment.alive_bitset();
            for (i, pk) in pks.iter().enumerate() {
                if out[i].is_some() {
                    continue;
                }
                let term = Term::from_field_text(self.pk_field(), pk);
                let Some(mut docs) = postings
                    .read_postings(&term, IndexRecordOption::Basic)
                    .map_err(SearchError::internal)?
                else {
                    continue;
                };
                let mut doc = docs.doc();
                while doc != TERMINATED && alive.is_some_and(|a| !a.is_alive(doc)) {
                    doc = docs.advance();
                }
                if doc != TERMINATED {
                    out[i] = Some(compiled.iter().map(|c| columns.eval(c, doc)).collect());
                }
            }
        }
        Ok(out)
    }
}
