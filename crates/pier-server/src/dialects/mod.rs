//! The API dialects pier speaks.

pub mod adb;
pub mod v3;
pub mod vse;
