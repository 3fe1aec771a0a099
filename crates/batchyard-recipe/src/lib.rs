//! The batchyard recipe language.
//!
//! A recipe goes through staged types, one function per arrow:
//! text → a [`source::Node`] tree (every node with its span) → rendered tree (templates
//! evaluated, spans kept) → checked [`model::Recipe`]. Every problem found on the way is a
//! [`Diagnostic`] with a JSON pointer into the recipe; [`report`] turns them into miette
//! reports pointing at the exact YAML token.

pub mod checks;
pub mod code;
pub mod diagnostic;
pub mod load;
pub mod model;
pub mod reference;
pub mod render;
pub mod report;
pub mod schema;
mod schema_doc;
mod schema_verdict;
pub mod source;
pub mod substitute;
pub mod template;

pub use code::Code;
pub use diagnostic::{Diagnostic, Severity};
pub use load::{Loaded, Source, TaskTemplate, load};
