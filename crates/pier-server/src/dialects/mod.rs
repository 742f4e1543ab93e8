//! The API dialects pier speaks.

pub mod v3;
