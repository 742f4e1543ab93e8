//! pier's data model, shared by every other crate: app schemas with typed fields, the push
//! operations that change documents, value normalisation, and the error codes clients see.
//!
//! Nothing here knows about HTTP, storage or indexes.

pub mod codes;
pub mod operation;
pub mod schema;
pub mod value;

pub use codes::Code;
pub use operation::{
    Cmd, Operation, PushError, parse_operations, parse_operations_raw, parse_push_body,
};
pub use schema::{
    Analyzer, AppType, FieldSchema, FieldType, Indexes, Schema, SchemaError, SearchIndex,
    TableSchema,
};
pub use value::{DocError, normalize_fields};
