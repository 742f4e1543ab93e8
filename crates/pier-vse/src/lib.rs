//! The OpenSearch Vector Search Edition (Havenask) dialect's wire model: wire JSON to typed
//! Rust and back, independent of HTTP and of the engine (wire reference:
//! `shared/specs/vector-search-edition-api.md`).
//!
//! * [`schema`]: table schemas in the `CreateTableRequest` shape ([`VectorTableSchema`]).
//! * [`push`]: `POST /update/{instance}_{table}/actions/bulk` bodies → [`VectorOperation`]s
//!   ([`parse_push`]), the PK / validation headers, the path segment.
//! * [`query`]: the `/vector-service/*` request bodies ([`QueryRequest`], [`MultiQueryRequest`],
//!   [`FetchRequest`], [`SearchRequest`], [`BatchQueryRequest`], [`AggregateRequest`],
//!   [`StatsRequest`]) and [`check_dimension`].
//! * [`filter`]: the ha3 filter language and sort strings ([`Filter`], [`Expr`]).
//! * [`response`]: the response bodies ([`query_response`], [`search_response`]...).
//! * [`fusion`]: hybrid-search fusion and multi-query merging.
//! * [`body`]: `Content-Encoding: deflate` request bodies ([`decode_body`]).
//! * [`codes`] and [`error`]: the error codes, their HTTP statuses and the two error body shapes.
//! * [`route`]: which endpoint a method + path names ([`Endpoint`]).
//!
//! # Wiring a server to it
//!
//! 1. [`Endpoint::from_request`] on the method and path (no query string).
//! 2. Authenticate every endpoint, `/network/active` included: `Authorization: Basic
//!    base64(user:password)` (the SDK trims both; with no credentials configured the vector SDK
//!    sends the literal `Basic None`). Missing, malformed or wrong: [`VseError::auth_failed`]
//!    (4001, HTTP 401).
//! 3. [`decode_body`] with `Content-Encoding`, `Content-Type` and [`Endpoint::max_body_bytes`].
//! 4. Push: [`resolve_bulk_table`] on the segment (unknown → [`VseError::resource_not_found`],
//!    404), then [`parse_push`] with the `X-Opensearch-Swift-PK-Field` header and
//!    [`Validation::from_header`] of `X-Opensearch-Validate-Data`. Ignore
//!    `X-Opensearch-Swift-Request-ID` (a new nonce per retry), `-Topic` and `-Swift`. Answer an
//!    accepted push with 200 and the empty body [`push::PUSH_SUCCESS_BODY`].
//! 5. Queries: `parse` → look the table up by `table_name` (unknown →
//!    [`VseError::table_not_found`], 404) → `resolve` → execute → a [`response`] builder, 200.
//! 6. Errors: status [`VseError::status`], body [`VseError::body`] with [`Endpoint::api`]
//!    (`[{"code","message"}]` for pushes, `{"errorCode","errorMsg","totalTime"}` otherwise),
//!    `Content-Type: application/json`. Never put `errorCode` in a success body.
//!
//! Nothing here panics on any input: every refusal is a [`VseError`] with a code, an HTTP status
//! and a message that says what to fix.
//!
//! ```
//! use pier_vse::{QueryRequest, VectorTableSchema, query_response, Hit};
//!
//! let schema = VectorTableSchema::from_json_str(r#"{"name":"test","primaryKey":"id",
//!     "fieldSchema":{"id":"INT64","cate_id":"INT32","vector":"MULTI_FLOAT"},
//!     "vectorIndex":[{"indexName":"v","vectorField":"vector","dimension":"3",
//!                     "distanceType":"InnerProduct","vectorIndexType":"HNSW"}]}"#).unwrap();
//! let mut q = QueryRequest::parse(br#"{"tableName":"test","vector":[0.1,0.2,0.3],"topK":5,
//!     "filter":"cate_id=2","sorts":[]}"#).unwrap();
//! let index = q.resolve(&schema).unwrap();
//! assert_eq!((index.name.as_str(), q.top_k), ("v", 5));
//! let body = query_response(&[Hit::new(schema.typed_pk("1"), 0.9)], 1.5);
//! assert_eq!(body.to_string(), r#"{"result":[{"id":1,"score":0.9,"fields":{}}],"totalCount":1,"totalTime":1.5}"#);
//! ```

#![warn(missing_docs)]

pub mod body;
pub mod codes;
pub mod error;
pub mod filter;
pub mod fusion;
mod json;
pub mod params;
pub mod push;
pub mod query;
pub mod response;
pub mod route;
pub mod schema;
pub mod value;

pub use body::decode_body;
pub use codes::Code;
pub use error::{Api, VseError};
pub use filter::{Expr, Filter, SortExpr, SortKey, parse_sort};
pub use push::{
    Cmd, DocSparse, DocVector, Dropped, Validation, VectorOperation, parse_push, resolve_bulk_table,
};
pub use query::{
    AggregateRequest, BatchQueryRequest, FetchRequest, MultiQueryRequest, Order, QueryRequest,
    Rank, SearchRequest, StatsRequest, check_dimension,
};
pub use response::{Hit, Score, Source, query_response, search_response};
pub use route::Endpoint;
pub use schema::{
    DistanceType, Field, FieldType, SchemaError, VectorIndex, VectorIndexType, VectorTableSchema,
};
