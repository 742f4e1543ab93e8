//! pier's per-table derived indexes: the text index with its analyzers and the filter/sort
//! columns, built on tantivy. A table's index is rebuilt from the document store and the
//! operation log; its commit records the log position it covers.

pub mod analyzer;
pub mod search;
mod table_index;

pub use table_index::{IndexError, TableIndex};
