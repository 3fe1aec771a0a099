//! The recipe file as a tree of nodes that remember where they were written.
//!
//! One YAML parser (serde-saphyr) produces this tree; the JSON value fed to the schema
//! validator, the typed recipe and every span shown in a diagnostic all come from it, so
//! anchors, aliases and `<<` merge keys resolve the same way everywhere.

use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::Spanned;

/// Byte range in the recipe text.
pub type Span = Range<usize>;

/// A YAML node with the span of its use site (for an alias, where the alias stands).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the node is written. Zero-length for block collections.
    pub span: Span,
    /// What it holds.
    pub kind: NodeKind,
}

/// A node's content.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A scalar: null, boolean, number or string.
    Scalar(Value),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order.
    Map(Vec<(Key, Node)>),
}

/// A mapping key and its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The key text.
    pub name: String,
    /// Where the key is written.
    pub span: Span,
}

/// Where a diagnostic should point: at a value, or at the key that introduces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Target {
    /// The value.
    #[default]
    Value,
    /// The key (for an unknown or misplaced key).
    Key,
    /// The file as a whole (its size, its encoding): no token to point at.
    File,
}

impl Node {
    /// A node of `value`, every part of it at `span` (used for values that templates produce).
    pub fn from_value(value: Value, span: Span) -> Node {
        let kind = match value {
            Value::Array(items) => NodeKind::Seq(
                items
                    .into_iter()
                    .map(|v| Node::from_value(v, span.clone()))
                    .collect(),
            ),
            Value::Object(map) => NodeKind::Map(
                map.into_iter()
                    .map(|(k, v)| {
                        (
                            Key {
                                name: k,
                                span: span.clone(),
                            },
                            Node::from_value(v, span.clone()),
                        )
                    })
                    .collect(),
            ),
            scalar => NodeKind::Scalar(scalar),
        };
        Node { span, kind }
    }

    /// The JSON value of this node.
    pub fn to_value(&self) -> Value {
        match &self.kind {
            NodeKind::Scalar(v) => v.clone(),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            NodeKind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.name.clone(), v.to_value()))
                    .collect(),
            ),
        }
    }

    /// The child at `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The node at an RFC 6901 JSON pointer, and the key that introduced it (if any).
    pub fn lookup(&self, pointer: &str) -> Option<(&Node, Option<&Key>)> {
        let mut node = self;
        let mut via: Option<&Key> = None;
        if pointer.is_empty() {
            return Some((node, None));
        }
        for raw in pointer.strip_prefix('/')?.split('/') {
            let token = raw.replace("~1", "/").replace("~0", "~");
            match &node.kind {
                NodeKind::Map(entries) => {
                    let (k, v) = entries.iter().find(|(k, _)| k.name == token)?;
                    via = Some(k);
                    node = v;
                }
                NodeKind::Seq(items) => {
                    node = items.get(token.parse::<usize>().ok()?)?;
                    via = None;
                }
                NodeKind::Scalar(_) => return None,
            }
        }
        Some((node, via))
    }

    /// The span a diagnostic at `pointer` should underline. Falls back to the nearest
    /// ancestor that exists, so a missing field points at the mapping that lacks it.
    pub fn span_of(&self, pointer: &str, target: Target) -> Span {
        let mut p = pointer;
        loop {
            if let Some((node, via)) = self.lookup(p) {
                return match (target, via, &node.kind) {
                    (Target::Key, Some(k), _) if p == pointer => k.span.clone(),
                    (_, _, NodeKind::Scalar(_)) => node.span.clone(),
                    (_, Some(k), _) if node.span.is_empty() => k.span.clone(),
                    (_, _, _) => node.span.clone(),
                };
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return 0..0,
            }
        }
    }
}

/// Escapes one JSON pointer token.
pub fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

fn byte_span(location: &serde_saphyr::Location) -> Span {
    let span = location.span();
    match (span.byte_offset(), span.byte_len()) {
        (Some(start), len) => {
            let start = usize::try_from(start).unwrap_or(usize::MAX);
            let len = usize::try_from(len.unwrap_or(0)).unwrap_or(0);
            start..start.saturating_add(len)
        }
        (None, _) => 0..0,
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<NodeKind>::deserialize(d)?;
        Ok(Node {
            span: byte_span(&spanned.referenced),
            kind: spanned.value,
        })
    }
}

struct ScalarText(String);

impl<'de> Deserialize<'de> for ScalarText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ScalarText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scalar mapping key")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_owned()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<ScalarText, E> {
                Ok(ScalarText("null".into()))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for NodeKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NodeKind;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML node")
            }
            fn visit_unit<E>(self) -> Result<NodeKind, E> {
                Ok(NodeKind::Scalar(Value::Null))
            }
            fn visit_none<E>(self) -> Result<NodeKind, E> {
                Ok(NodeKind::Scalar(Value::Null))
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<NodeKind, D2::Error> {
                NodeKind::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> Result<NodeKind, E> {
                Ok(NodeKind::Scalar(Value::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<NodeKind, E> {
                Ok(NodeKind::Scalar(Value::from(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<NodeKind, E> {
                Ok(NodeKind::Scalar(Value::from(v)))
            }
            fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<NodeKind, E> {
                i64::try_from(v)
                    .map(|v| NodeKind::Scalar(Value::from(v)))
                    .map_err(|_| E::custom("the number is too large"))
            }
            fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<NodeKind, E> {
                u64::try_from(v)
                    .map(|v| NodeKind::Scalar(Value::from(v)))
                    .map_err(|_| E::custom("the number is too large"))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<NodeKind, E> {
                serde_json::Number::from_f64(v)
                    .map(|n| NodeKind::Scalar(Value::Number(n)))
                    .ok_or_else(|| E::custom("infinite or NaN numbers are not allowed"))
            }
            fn visit_str<E>(self, v: &str) -> Result<NodeKind, E> {
                Ok(NodeKind::Scalar(Value::String(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<NodeKind, E> {
                Ok(NodeKind::Scalar(Value::String(v)))
            }
            fn visit_bytes<E: serde::de::Error>(self, _: &[u8]) -> Result<NodeKind, E> {
                Err(E::custom("binary values are not allowed in a recipe"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<NodeKind, A::Error> {
                let mut items = Vec::new();
                while let Some(n) = a.next_element::<Node>()? {
                    items.push(n);
                }
                Ok(NodeKind::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<NodeKind, A::Error> {
                let mut entries: Vec<(Key, Node)> = Vec::new();
                while let Some(k) = a.next_key::<Spanned<ScalarText>>()? {
                    let key = Key {
                        name: k.value.0,
                        span: byte_span(&k.referenced),
                    };
                    let value = a.next_value::<Node>()?;
                    entries.push((key, value));
                }
                Ok(NodeKind::Map(entries))
            }
        }
        d.deserialize_any(V)
    }
}

/// A YAML syntax error: the parser's message and where it stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    /// What the parser said.
    pub message: String,
    /// Where.
    pub span: Span,
    /// The file hit a parser limit (size after alias expansion, nesting depth).
    pub limit: bool,
}

/// Parses recipe text into a node tree. YAML 1.2 booleans (`true`/`false` only); duplicate
/// keys are errors; alias expansion is bounded so a hostile file cannot exhaust memory.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    options.with_snippet = false;
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    if text.trim().is_empty() {
        return Ok(Node {
            span: 0..0,
            kind: NodeKind::Map(Vec::new()),
        });
    }
    serde_saphyr::from_str_with_options::<Node>(text, options).map_err(|err| {
        // Parser errors carry a line and column but not always a byte offset.
        let span = err.location().map_or(0..0, |l| {
            let start = offset_of(text, l.line(), l.column());
            let end = text[start..]
                .chars()
                .next()
                .map_or(start, |c| start + c.len_utf8());
            start..end
        });
        let raw = err.to_string();
        let (message, limit) =
            explain_limit(&raw).map_or_else(|| (first_line(&raw), false), |m| (m, true));
        SyntaxError {
            message,
            span,
            limit,
        }
    })
}

/// The parser's budget errors, in words.
fn explain_limit(raw: &str) -> Option<String> {
    if raw.contains("recursion limit") || raw.contains("Depth {") {
        Some("the recipe nests too deeply".into())
    } else if raw.contains("budget breached") {
        Some("the recipe expands to too many values (through aliases, or by sheer size)".into())
    } else {
        None
    }
}

/// Byte offset of a 1-based line and column (in characters), clamped to the text.
fn offset_of(text: &str, line: u64, column: u64) -> usize {
    let skip = usize::try_from(line.saturating_sub(1)).unwrap_or(usize::MAX);
    let line_start: usize = text.split_inclusive('\n').take(skip).map(str::len).sum();
    let line_start = line_start.min(text.len());
    let rest = &text[line_start..];
    let col = usize::try_from(column.saturating_sub(1)).unwrap_or(0);
    line_start + rest.char_indices().nth(col).map_or(rest.len(), |(i, _)| i)
}

fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or(message).trim();
    // The parser appends "at line X column Y"; the report shows the position itself.
    let line = match line.rfind(" at line ") {
        Some(i) => &line[..i],
        None => line,
    };
    // The parser's advice names its own API; the help line says what to do in a recipe.
    line.split(", set DuplicateKeyPolicy")
        .next()
        .unwrap_or(line)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_point_at_values_and_keys() {
        let text = "pools:\n  - id: gpu\n    vm_size: big\n";
        let tree = parse(text).unwrap();
        let span = tree.span_of("/pools/0/vm_size", Target::Value);
        assert_eq!(&text[span], "big");
        let span = tree.span_of("/pools/0/vm_size", Target::Key);
        assert_eq!(&text[span], "vm_size");
        // A missing field points at the nearest existing ancestor's key.
        let span = tree.span_of("/pools/0/nodes", Target::Value);
        assert!(span.start < text.len());
    }

    #[test]
    fn merge_keys_and_aliases_resolve() {
        let text = "base: &b {vm_size: big, rdma: true}\npool:\n  <<: *b\n  id: p1\n";
        let tree = parse(text).unwrap();
        let value = tree.to_value();
        assert_eq!(value["pool"]["vm_size"], "big");
        assert_eq!(value["pool"]["rdma"], true);
        assert_eq!(value["pool"]["id"], "p1");
    }

    #[test]
    fn yaml_1_1_booleans_stay_strings() {
        let tree = parse("a: yes\nb: on\nc: true\n").unwrap();
        let value = tree.to_value();
        assert_eq!(value["a"], "yes");
        assert_eq!(value["b"], "on");
        assert_eq!(value["c"], true);
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(!err.message.is_empty());
        let err = parse("a: 1\na: 2\n").unwrap_err();
        assert!(
            err.message.to_lowercase().contains("duplicate"),
            "{}",
            err.message
        );
    }
}
