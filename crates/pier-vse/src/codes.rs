//! The error codes this dialect returns, named once, with the HTTP status each is sent with.
//!
//! The Vector Search Edition documents only a few codes for its data plane (wire spec §1.2):
//! `3012` (resource not found), `4007` (bad JSON), `3007` (pushing too fast), `1000` (internal)
//! and `5001` (unknown user). The other codes below are taken from the OpenSearch family's table
//! (the V3 codes of the same meaning: 3001, 3002, 3005, 3006, 3009, 3015, 4001, 6101, 6113,
//! 6115, 6127, 6135, 7302, 7303) — a **design choice**, marked on each constant, because the real
//! service's codes for these conditions are not documented. `6008` is used for every other
//! invalid query parameter (design choice: the family's "request syntax error" code).

/// A numeric error code, as sent in `[{"code":..}]` (push) or `{"errorCode":..}` (queries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Code(pub u32);

impl Code {
    /// Internal error or timeout; retryable (documented).
    pub const INTERNAL: Code = Code(1000);
    /// The push is empty: no body, or `[]` (design choice: V3 3001).
    pub const EMPTY_PUSH: Code = Code(3001);
    /// The push body is over [`crate::push::MAX_PUSH_BODY_BYTES`] (design choice: V3 3002,
    /// "document size exceeds limit"; 3008 means "too many requests" in this edition).
    pub const BODY_TOO_LARGE: Code = Code(3002);
    /// A push element is not `{"cmd":..,"fields":{..}}`, or its `timestamp` is unusable
    /// (design choice: V3 3005).
    pub const BAD_DOC_FORMAT: Code = Code(3005);
    /// Unknown `cmd` (design choice: V3 3006).
    pub const BAD_CMD: Code = Code(3006);
    /// Pushing too fast: retry later (documented; retryable).
    pub const TOO_FREQUENT: Code = Code(3007);
    /// A push names no primary key: the `X-Opensearch-Swift-PK-Field` header is missing or
    /// wrong, or a document lacks the key (design choice: V3 3009).
    pub const MISSING_PK: Code = Code(3009);
    /// The table (or instance) does not exist (documented: `"Resource not found."`, HTTP 404).
    pub const RESOURCE_NOT_FOUND: Code = Code(3012);
    /// More than [`crate::push::MAX_DOCS_PER_PUSH`] documents in one push (design choice: V3 3015).
    pub const TOO_MANY_DOCS: Code = Code(3015);
    /// Missing, malformed or wrong Basic credentials, including the literal `Basic None`
    /// (design choice: V3 4001 "authentication failed"; HTTP 401).
    pub const AUTH_FAILED: Code = Code(4001);
    /// The body is not valid JSON, or not the JSON shape the endpoint takes (documented for push).
    pub const BAD_JSON: Code = Code(4007);
    /// The user does not exist (documented; HTTP 401).
    pub const USER_NOT_FOUND: Code = Code(5001);
    /// Any other invalid query parameter: missing `tableName`, `topK` out of range, wrong
    /// vector dimension, missing `namespace`, bad `searchParams`... (design choice).
    pub const INVALID_PARAMETER: Code = Code(6008);
    /// The query names a vector index the table does not have (design choice: V3 6101).
    pub const INDEX_NOT_FOUND: Code = Code(6101);
    /// The `filter` string is not valid ha3 filter syntax (design choice: V3 6113).
    pub const FILTER_SYNTAX: Code = Code(6113);
    /// A `sort` / `sorts` expression is not valid (design choice: V3 6115).
    pub const SORT_SYNTAX: Code = Code(6115);
    /// A filter, sort, output or aggregate field is not a usable field of the table
    /// (design choice: V3 6127).
    pub const BAD_FIELD: Code = Code(6127);
    /// A STRING field is compared with a constant that is not double-quoted (documented for ha3
    /// filters: 6135).
    pub const LITERAL_NOT_QUOTED: Code = Code(6135);
    /// A pushed value does not fit its field type (validated pushes; design choice: V3 7302).
    pub const FIELD_TYPE: Code = Code(7302);
    /// A multi-value, vector or sparse field is malformed: wrong element type, wrong vector
    /// length, unsorted sparse indices (validated pushes; design choice: V3 7303).
    pub const FIELD_ARRAY: Code = Code(7303);

    /// The HTTP status a response carrying this code is sent with. Every error is a 4xx or 5xx
    /// so that the official SDKs raise (they treat any 2xx as success).
    pub fn http_status(self) -> u16 {
        match self.0 {
            1000 => 500,
            3002 => 413,
            3007 => 429,
            3012 => 404,
            4001 | 5001 => 401,
            _ => 400,
        }
    }

    /// Whether a client should retry a request that failed with this code.
    pub fn is_retryable(self) -> bool {
        matches!(self.0, 1000 | 3007)
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}
