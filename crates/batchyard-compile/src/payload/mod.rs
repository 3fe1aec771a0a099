//! Batch REST payloads built from the recipe, as JSON in the spec's shape.

pub mod common;
pub mod job;
pub mod pool;
pub mod task;
