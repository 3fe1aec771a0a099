//! The batchyard recipe language.
//!
//! A recipe goes through staged types, one function per arrow:
//! text → [`source::SourceTree`] (every node with its span) → rendered tree (templates
//! evaluated, spans kept) → checked [`model::Recipe`]. Every problem found on the way is a
//! [`Diagnostic`] with a JSON pointer into the recipe; [`report`] turns them into miette
//! reports pointing at the exact YAML token.

pub mod model;
