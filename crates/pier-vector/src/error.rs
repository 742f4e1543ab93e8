//! Typed errors of the vector index.

use std::path::PathBuf;

/// Everything that can go wrong in [`crate::VectorIndex`].
///
/// Input errors (`DimensionMismatch`, `NonFinite`, `KeyOutOfRange`, ...) are detected before
/// anything is changed, so a rejected call never leaves partial state behind. Messages say
/// what to fix, because dialects pass them on to clients.
#[derive(Debug, thiserror::Error)]
pub enum VectorError {
    /// A vector (stored or query) does not have the index's dimension.
    #[error("vector has {got} values but the index dimension is {expected}")]
    DimensionMismatch {
        /// The index dimension.
        expected: usize,
        /// The length that was given.
        got: usize,
    },
    /// A vector contains NaN or an infinity.
    #[error("vector contains a non-finite value (NaN or infinity) at position {position}")]
    NonFinite {
        /// Index of the first offending value.
        position: usize,
    },
    /// A value is outside what the index's storage type holds (f16: 65504; i8: `[-1, 1]`,
    /// i.e. unit-normalised vectors).
    #[error(
        "vector value {value} at position {position} is outside the range the index stores (±{max}); \
         normalise the vector or use f32 storage"
    )]
    OutOfRange {
        /// Index of the first offending value.
        position: usize,
        /// The value.
        value: f32,
        /// The largest magnitude accepted.
        max: f32,
    },
    /// A document key does not fit the internal id encoding (see [`crate::MAX_KEY`]).
    #[error("key {key} is larger than the maximum vector key {max}")]
    KeyOutOfRange {
        /// The rejected key.
        key: u64,
        /// The largest accepted key.
        max: u64,
    },
    /// A document carries no vector; call `remove` to drop its vectors instead.
    #[error("document {key} has no vector; remove it instead of upserting an empty vector list")]
    NoVectors {
        /// The document key.
        key: u64,
    },
    /// A document carries more vectors than [`crate::MAX_VECTORS_PER_KEY`].
    #[error("document {key} has {count} vectors, more than the maximum of {max} per document")]
    TooManyVectors {
        /// The document key.
        key: u64,
        /// How many vectors were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// Index parameters are out of range or inconsistent.
    #[error("invalid vector index parameters: {0}")]
    InvalidParams(String),
    /// Search parameters are out of range (`k`, `ef`).
    #[error("invalid vector search parameters: {0}")]
    InvalidSearch(String),
    /// The HNSW library reported an error (out of memory, internal failure).
    #[error("vector index backend error: {0}")]
    Backend(String),
    /// Reading or writing a checkpoint failed.
    #[error("vector index checkpoint {path}: {source}")]
    Io {
        /// The checkpoint file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A checkpoint file is not a pier vector index or is damaged.
    #[error("vector index checkpoint {path} is corrupt: {reason}")]
    Corrupt {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// Result alias of this crate.
pub type Result<T, E = VectorError> = std::result::Result<T, E>;

impl From<cxx::Exception> for VectorError {
    fn from(e: cxx::Exception) -> Self {
        VectorError::Backend(e.what().to_string())
    }
}
