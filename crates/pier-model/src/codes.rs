//! The OpenSearch V3 error codes pier returns (spec §3), named once.

/// An error code from the V3 error table, with its retry semantics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Code(pub u32);

impl Code {
    /// Internal error; retryable.
    pub const INTERNAL: Code = Code(1000);
    /// Service temporarily unavailable (e.g. shutting down); retryable.
    pub const UNAVAILABLE: Code = Code(1004);
    /// The app does not exist.
    pub const APP_NOT_FOUND: Code = Code(2001);
    /// Invalid app name or schema (admin API).
    pub const INVALID_APP: Code = Code(2004);
    /// An app with that name already exists (admin API).
    pub const APP_EXISTS: Code = Code(2005);
    /// Empty push.
    pub const EMPTY_PUSH: Code = Code(3001);
    /// A single document is over the size limit.
    pub const DOC_TOO_LARGE: Code = Code(3002);
    /// An element of the push array is malformed.
    pub const BAD_DOC_FORMAT: Code = Code(3005);
    /// Unknown or unsupported `cmd`.
    pub const BAD_CMD: Code = Code(3006);
    /// Pushing too fast for the applier: retry later.
    pub const TOO_FREQUENT: Code = Code(3007);
    /// The request body is over the per-request size limit.
    pub const BODY_TOO_LARGE: Code = Code(3008);
    /// A document has no primary key.
    pub const MISSING_PK: Code = Code(3009);
    /// The app's push quota is exceeded: retry later.
    pub const QUOTA_EXCEEDED: Code = Code(3013);
    /// More than the allowed number of documents in one push.
    pub const TOO_MANY_DOCS: Code = Code(3015);
    /// Body is not valid JSON (also: timestamp on a standard app).
    pub const BAD_JSON: Code = Code(4007);
    /// The table does not exist in the app.
    pub const TABLE_NOT_FOUND: Code = Code(4012);
    /// Processing: document too long.
    pub const P_DOC_TOO_LONG: Code = Code(7101);
    /// Processing: a field could not be parsed.
    pub const P_FIELD_PARSE: Code = Code(7104);
    /// Processing: the primary key value is invalid.
    pub const P_PK_INVALID: Code = Code(7110);
    /// Processing: a reserved field name was pushed.
    pub const P_RESERVED_FIELD: Code = Code(7111);
    /// Processing: a value does not fit its field type.
    pub const P_FIELD_TYPE: Code = Code(7302);
    /// Processing: an array field is malformed.
    pub const P_ARRAY: Code = Code(7303);
    /// Processing: internal error.
    pub const P_INTERNAL: Code = Code(7500);

    /// Whether a client should retry a request that failed with this code.
    pub fn is_retryable(self) -> bool {
        matches!(self.0, 1000 | 1004 | 3007 | 3013 | 3014 | 3017)
    }
}
