//! A fast path for the templates factory tasks use most: literal text with `{{ a.b.c }}`
//! lookups and nothing else. A million-task sweep renders each such field without entering
//! tera; anything else (filters, expressions, tags, a lookup that finds a list) goes through
//! tera, so the output is the same either way.

use std::fmt::Write as _;

use serde_json::{Map, Value};

/// A template made only of literal text and plain lookups.
#[derive(Debug, Clone)]
pub struct Substitution {
    pieces: Vec<Piece>,
}

/// One part of a [`Substitution`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Literal text.
    Text(String),
    /// A dotted lookup (`item.lr` is `["item", "lr"]`).
    Lookup(Vec<String>),
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Substitution {
    /// Parses `text`, or `None` when it uses anything beyond plain lookups.
    pub fn parse(text: &str) -> Option<Substitution> {
        if text.contains("{%") || text.contains("{#") {
            return None;
        }
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                pieces.push(Piece::Text(rest[..start].to_owned()));
            }
            let end = rest[start..].find("}}")? + start;
            let inner = rest[start + 2..end].trim();
            let path: Vec<String> = inner.split('.').map(str::to_owned).collect();
            let valid = path.first().is_some_and(|p| is_identifier(p))
                && path[1..].iter().all(|p| {
                    is_identifier(p) || (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                });
            if !valid {
                return None;
            }
            pieces.push(Piece::Lookup(path));
            rest = &rest[end + 2..];
        }
        if rest.contains("}}") {
            return None;
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_owned()));
        }
        pieces
            .iter()
            .any(|p| matches!(p, Piece::Lookup(_)))
            .then_some(Substitution { pieces })
    }

    /// The text and lookups, in order.
    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// Whether the template is one lookup and nothing else: it then gives the value found,
    /// with its type, rather than text.
    pub fn is_whole_lookup(&self) -> bool {
        matches!(self.pieces.as_slice(), [Piece::Lookup(_)])
    }

    /// Renders with `item` and `index` over `globals`. `None` when a lookup is undefined or
    /// finds something tera would print differently (a list, a map, null inside text): the
    /// caller then renders with tera, which also gives the proper error.
    pub fn render(&self, globals: &Map<String, Value>, item: &Value, index: u64) -> Option<Value> {
        let index_value = Value::from(index);
        let lookup = |path: &[String]| -> Option<&Value> {
            let (first, rest) = path.split_first()?;
            let value = match first.as_str() {
                "item" => item,
                "index" => &index_value,
                name => globals.get(name)?,
            };
            follow(value, rest)
        };
        if let [Piece::Lookup(path)] = self.pieces.as_slice() {
            return lookup(path).cloned();
        }
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Lookup(path) => {
                    if !push_in_text(&mut out, lookup(path)?) {
                        return None;
                    }
                }
            }
        }
        Some(Value::String(out))
    }
}

/// The value at `path` (map keys and list indexes) inside `value`.
pub fn follow<'v>(mut value: &'v Value, path: &[String]) -> Option<&'v Value> {
    for segment in path {
        value = match value {
            Value::Object(map) => map.get(segment)?,
            Value::Array(list) => list.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(value)
}

/// Appends a looked-up value the way tera prints it inside text; false (and nothing
/// appended) for values tera prints differently from this (lists, maps, null).
pub fn push_in_text(out: &mut String, value: &Value) -> bool {
    match value {
        Value::String(s) => out.push_str(s),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                out.push_str(itoa::Buffer::new().format(u));
            } else if let Some(i) = n.as_i64() {
                out.push_str(itoa::Buffer::new().format(i));
            } else if let Some(f) = n.as_f64() {
                // tera prints floats with Debug formatting (`1e-5`, `1.0`).
                let _ = write!(out, "{f:?}");
            } else {
                return false;
            }
        }
        _ => return false,
    }
    true
}

/// Appends a scalar as a text field holds it (a number or boolean a whole-expression template
/// gives becomes its JSON text); false (and nothing appended) for lists, maps and null, which
/// a text field cannot hold.
pub fn push_as_text(out: &mut String, value: &Value) -> bool {
    match value {
        Value::String(s) => out.push_str(s),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                out.push_str(itoa::Buffer::new().format(u));
            } else if let Some(i) = n.as_i64() {
                out.push_str(itoa::Buffer::new().format(i));
            } else {
                let _ = write!(out, "{n}");
            }
        }
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Engine;

    fn globals() -> Map<String, Value> {
        serde_json::json!({"image": "img:1", "var": {"image": "img:1", "n": 3}, "recipe": {"name": "r"}})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn only_plain_lookups_take_the_fast_path() {
        assert!(Substitution::parse("t-{{ item.lr }}-{{ index }}").is_some());
        assert!(Substitution::parse("{{ var.n }}").is_some());
        assert!(Substitution::parse("plain").is_none());
        assert!(Substitution::parse("{{ item.lr | round }}").is_none());
        assert!(Substitution::parse("{{ item.lr + 1 }}").is_none());
        assert!(Substitution::parse("{% if x %}y{% endif %}").is_none());
        assert!(Substitution::parse("{{ item.lr ").is_none());
        assert!(Substitution::parse("{{- item.lr }}").is_none());
    }

    #[test]
    fn the_fast_path_matches_tera() {
        let engine = Engine::new();
        let items = [
            serde_json::json!({"lr": 0.1, "b": 16, "s": "x y", "f": true, "e": 1e-5, "w": 1.0, "neg": -3}),
            serde_json::json!({"lr": 1e21, "b": u64::MAX, "s": "", "f": false, "e": 2.5, "w": -0.0, "neg": i64::MIN}),
        ];
        let templates = [
            "t-{{ item.lr }}-{{ item.b }}-{{ index }}",
            "run {{ item.s }} {{ item.f }} {{ item.e }} {{ item.w }} {{ item.neg }} {{ image }} {{ var.n }} {{ recipe.name }}",
            "{{ item.lr }}",
            "{{ item.s }}",
            "{{ index }}",
        ];
        for (i, item) in items.iter().enumerate() {
            for text in templates {
                let fast = Substitution::parse(text)
                    .unwrap()
                    .render(&globals(), item, i as u64)
                    .unwrap();
                let mut ctx = tera::Context::from_serialize(&Value::Object(globals())).unwrap();
                ctx.insert("item", item);
                ctx.insert("index", &i);
                let slow = engine.render(text, &ctx).unwrap();
                assert_eq!(fast, slow, "{text} with {item}");
            }
        }
    }

    #[test]
    fn undefined_and_composite_values_fall_back() {
        let s = Substitution::parse("a {{ item.missing }}").unwrap();
        assert!(s.render(&globals(), &serde_json::json!({}), 0).is_none());
        let s = Substitution::parse("a {{ item.list }}").unwrap();
        assert!(
            s.render(&globals(), &serde_json::json!({"list": [1]}), 0)
                .is_none()
        );
    }
}
