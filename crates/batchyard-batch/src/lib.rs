//! Azure Batch data-plane REST for batchyard.
//!
//! - [`models`]: typed serde models named after the official spec's definitions.

pub mod models;
