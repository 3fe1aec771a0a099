//! Whether a recipe satisfies its JSON Schema, decided by walking the schema directly, with
//! no validator to compile (see `batchyard_schemawalk`).
//!
//! Compiling the recipe schema into a validator was most of what `batchyard validate`
//! cost, and most recipes are valid. So the verdict comes first, from this walk; only a
//! recipe it does not find valid goes to the compiled validator, which finds and words
//! every error. It never answers "valid" for a value the validator rejects:
//! `tests::fast_verdicts_agree_with_the_compiled_validator` holds the two to the same
//! verdict over the repository's recipes and thousands of broken copies of them.

use std::collections::HashMap;

use batchyard_schemawalk::Dialect;
use regex::Regex;
use serde_json::{Map, Value};

use crate::schema_doc::Doc;

/// Formats the generated schema carries that the validator does not know, so ignores
/// (schemars writes them for Rust's integer and float types, next to explicit bounds).
const IGNORED_FORMATS: &[&str] = &[
    "uint", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64", "float",
    "double",
];

/// The walk over one schema document, with its patterns compiled as they are met.
pub(crate) struct Walk<'a> {
    doc: Doc<'a>,
    patterns: HashMap<&'a str, Option<Regex>>,
}

impl<'a> Walk<'a> {
    pub(crate) fn new(doc: Doc<'a>) -> Self {
        Self {
            doc,
            patterns: HashMap::new(),
        }
    }

    /// `Some(true)` when `value` satisfies the document's root schema, `Some(false)` when it
    /// does not, `None` when the walk met something it does not decide.
    pub(crate) fn verdict(&mut self, value: &Value) -> Option<bool> {
        let root = self.doc.root();
        batchyard_schemawalk::verdict(self, root, value)
    }
}

impl<'a> Dialect<'a> for Walk<'a> {
    /// A JSON pointer into the same document (`#/definitions/...`).
    fn resolve(&mut self, reference: &str) -> Option<&'a Value> {
        self.doc.reference(reference)
    }

    fn matches(&mut self, pattern: &'a str, text: &str) -> Option<bool> {
        let regex = self
            .patterns
            .entry(pattern)
            .or_insert_with(|| Regex::new(pattern).ok())
            .as_ref()?;
        Some(regex.is_match(text))
    }

    fn format(&mut self, _: &'a Map<String, Value>, format: &str, _: &Value) -> Option<bool> {
        IGNORED_FORMATS.contains(&format).then_some(true)
    }
}
