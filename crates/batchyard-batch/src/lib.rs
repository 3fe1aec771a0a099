//! Azure Batch data-plane REST for batchyard.
//!
//! - [`models`]: typed serde models named after the official spec's definitions.
//! - [`spec`]: [`validate_against_spec`], checking any JSON against a spec definition.

pub mod models;
pub mod spec;

pub use spec::{SpecError, SpecErrorKind, validate_against_spec};
pub mod auth;
