//! A schema document read as far as it is used.
//!
//! A valid recipe meets about half of the strict schema's definitions, and building the
//! `serde_json::Value` tree of the whole document was the largest single cost of
//! `batchyard validate` after the process start. So the strict schema is split once
//! (a scan that builds no tree) into its root and the text of each definition, and a
//! definition becomes a tree when a `$ref` first reaches it.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;
use serde_json::value::RawValue;

/// Where a `$ref` of a draft 7 document points: `#/definitions/NAME/...`.
const DEFINITIONS: &str = "definitions";

/// A schema document whose definitions are parsed on first use.
#[derive(Debug)]
pub(crate) struct LazySchema {
    /// The document without its definitions.
    root: Value,
    /// Each definition's text, and its tree once it has been asked for.
    definitions: HashMap<String, (&'static RawValue, OnceLock<Option<Value>>)>,
}

impl LazySchema {
    /// Splits `text`, a JSON object; `None` if it is not one.
    pub(crate) fn parse(text: &'static str) -> Option<Self> {
        let mut fields: HashMap<String, &'static RawValue> = serde_json::from_str(text).ok()?;
        let definitions = match fields.remove(DEFINITIONS) {
            Some(raw) => serde_json::from_str::<HashMap<String, &'static RawValue>>(raw.get())
                .ok()?
                .into_iter()
                .map(|(name, raw)| (name, (raw, OnceLock::new())))
                .collect(),
            None => HashMap::new(),
        };
        let root = fields
            .into_iter()
            .map(|(key, raw)| Some((key, serde_json::from_str(raw.get()).ok()?)))
            .collect::<Option<serde_json::Map<String, Value>>>()?;
        Some(Self {
            root: Value::Object(root),
            definitions,
        })
    }

    /// The node at `pointer` (JSON pointer syntax, as in a `$ref` after its `#`).
    pub(crate) fn pointer(&self, pointer: &str) -> Option<&Value> {
        let Some(rest) = pointer
            .strip_prefix('/')
            .and_then(|p| p.strip_prefix(DEFINITIONS))
            .and_then(|p| p.strip_prefix('/'))
        else {
            return self.root.pointer(pointer);
        };
        let (name, inner) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, ""),
        };
        let name = name.replace("~1", "/").replace("~0", "~");
        let (raw, tree) = self.definitions.get(&name)?;
        tree.get_or_init(|| serde_json::from_str(raw.get()).ok())
            .as_ref()?
            .pointer(inner)
    }

    /// The document's root (its definitions are reached through [`Self::pointer`]).
    pub(crate) fn root(&self) -> &Value {
        &self.root
    }
}

/// A schema document to walk: a whole tree, or one read as far as it is used.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Doc<'a> {
    /// A document parsed whole.
    Whole(&'a Value),
    /// A document whose definitions are parsed on first use.
    Lazy(&'a LazySchema),
}

impl<'a> Doc<'a> {
    pub(crate) fn root(self) -> &'a Value {
        match self {
            Doc::Whole(v) => v,
            Doc::Lazy(s) => s.root(),
        }
    }

    pub(crate) fn pointer(self, pointer: &str) -> Option<&'a Value> {
        match self {
            Doc::Whole(v) => v.pointer(pointer),
            Doc::Lazy(s) => s.pointer(pointer),
        }
    }

    /// The target of a `$ref` within this document (`#/...`).
    pub(crate) fn reference(self, reference: &str) -> Option<&'a Value> {
        self.pointer(reference.strip_prefix('#')?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r##"{
        "type": "object",
        "properties": { "a": { "$ref": "#/definitions/A" } },
        "definitions": {
            "A": { "type": "object", "properties": { "b": { "$ref": "#/definitions/B~1C" } } },
            "B/C": { "type": "integer", "minimum": 1 }
        }
    }"##;

    #[test]
    fn every_pointer_reads_as_in_the_whole_document() {
        let lazy = LazySchema::parse(TEXT).unwrap();
        let whole: Value = serde_json::from_str(TEXT).unwrap();
        let mut root = whole.clone();
        root.as_object_mut().unwrap().remove(DEFINITIONS);
        assert_eq!(
            lazy.pointer(""),
            Some(&root),
            "the root, without its definitions"
        );
        for pointer in [
            "/type",
            "/properties/a",
            "/definitions/A",
            "/definitions/A/properties/b",
            "/definitions/B~1C",
            "/definitions/B~1C/minimum",
            "/definitions/missing",
            "/definitions",
            "/nothing",
        ] {
            let expected = if pointer == "/definitions" {
                None // the definitions are reached one by one, never as a whole
            } else {
                whole.pointer(pointer)
            };
            assert_eq!(lazy.pointer(pointer), expected, "{pointer}");
        }
        assert!(lazy.root().get(DEFINITIONS).is_none());
    }

    #[test]
    fn a_definition_is_parsed_only_when_reached() {
        let lazy = LazySchema::parse(TEXT).unwrap();
        let parsed = |name: &str| lazy.definitions[name].1.get().is_some();
        assert!(!parsed("A") && !parsed("B/C"));
        lazy.pointer("/definitions/A/type").unwrap();
        assert!(parsed("A") && !parsed("B/C"));
    }

    #[test]
    fn text_that_is_not_an_object_is_refused() {
        assert!(LazySchema::parse("[1, 2]").is_none());
        assert!(LazySchema::parse("{").is_none());
    }
}
