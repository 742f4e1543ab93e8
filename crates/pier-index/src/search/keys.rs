//! Filters as key sets: which documents of a snapshot pass a filter expression, reported by the
//! value of an integer attribute (the engine's vector key). Vector searches use the set to
//! filter during graph traversal, or to score the passing documents exactly when few pass.

use super::SearchError;
use super::expr::{SegmentColumns, Val};
use crate::TableIndex;
use pier_model::FieldType;
use pier_query::Expr;
use tantivy::Searcher;

/// Code for a filter the executor cannot evaluate (spec §3: 6xxx filter errors).
const FILTER_CODE: u32 = pier_query::codes::FILTER;

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
}
