//! Parsed Shipyard files and a cursor over them that knows each node's key path and line,
//! so every finding can name both.

use batchyard_recipe::source::{Node, NodeKind, Span, parse};
use serde_json::Value;

use crate::ImportError;
use crate::finding::{Finding, Severity};

/// One config file of the set.
#[derive(Debug)]
pub struct Doc {
    /// The file name as found in the set (`pool.yaml`).
    pub file: String,
    /// Byte offsets of line starts, to turn spans into lines.
    line_starts: Vec<usize>,
    pub root: Node,
}

impl Doc {
    pub fn parse(file: &str, text: &str) -> Result<Self, ImportError> {
        let line_starts = line_starts_of(text);
        let root = parse(text).map_err(|e| ImportError::Syntax {
            file: file.to_owned(),
            line: line_of(&line_starts, e.span.start),
            message: e.message,
        })?;
        Ok(Self {
            file: file.to_owned(),
            line_starts,
            root,
        })
    }

    pub fn line(&self, span: &Span) -> Option<usize> {
        // Block collections have empty spans at offset 0; their key's line is used instead.
        if span.is_empty() && span.start == 0 {
            return None;
        }
        Some(line_of(&self.line_starts, span.start))
    }

    /// A cursor at the document root.
    pub fn cursor(&self) -> V<'_> {
        V {
            doc: self,
            node: &self.root,
            path: String::new(),
            line: Some(1),
        }
    }
}

fn line_starts_of(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

fn line_of(starts: &[usize], offset: usize) -> usize {
    match starts.binary_search(&offset) {
        Ok(i) => i + 1,
        Err(i) => i.max(1),
    }
}

/// A node with its Shipyard key path and line.
#[derive(Debug, Clone)]
pub struct V<'a> {
    pub doc: &'a Doc,
    pub node: &'a Node,
    pub path: String,
    pub line: Option<usize>,
}

impl<'a> V<'a> {
    /// The child at `key` of a mapping; `None` when absent or null.
    pub fn get(&self, key: &str) -> Option<V<'a>> {
        let NodeKind::Map(entries) = &self.node.kind else {
            return None;
        };
        let (k, node) = entries.iter().find(|(k, _)| k.name == key)?;
        if matches!(&node.kind, NodeKind::Scalar(Value::Null)) {
            return None;
        }
        Some(self.child(key, &k.span, node))
    }

    fn child(&self, key: &str, key_span: &Span, node: &'a Node) -> V<'a> {
        let path = if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        };
        V {
            doc: self.doc,
            node,
            path,
            line: self.doc.line(key_span).or(self.line),
        }
    }

    /// The entries of a mapping, null values included.
    pub fn entries(&self) -> Vec<(String, V<'a>)> {
        match &self.node.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .map(|(k, n)| (k.name.clone(), self.child(&k.name, &k.span, n)))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The items of a sequence.
    pub fn items(&self) -> Vec<V<'a>> {
        match &self.node.kind {
            NodeKind::Seq(items) => items
                .iter()
                .enumerate()
                .map(|(i, n)| V {
                    doc: self.doc,
                    node: n,
                    path: format!("{}[{i}]", self.path),
                    line: self.doc.line(&n.span).or(self.line),
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    pub fn scalar(&self) -> Option<&'a Value> {
        match &self.node.kind {
            NodeKind::Scalar(v) => Some(v),
            _ => None,
        }
    }

    pub fn str(&self) -> Option<&'a str> {
        self.scalar().and_then(Value::as_str)
    }

    /// A scalar as text: strings as they are, numbers and booleans printed.
    pub fn text(&self) -> Option<String> {
        match self.scalar()? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    pub fn i64(&self) -> Option<i64> {
        self.scalar().and_then(Value::as_i64)
    }

    pub fn bool(&self) -> Option<bool> {
        self.scalar().and_then(Value::as_bool)
    }

    pub fn value(&self) -> Value {
        self.node.to_value()
    }

    pub fn is_map(&self) -> bool {
        matches!(self.node.kind, NodeKind::Map(_))
    }

    pub fn finding(&self, severity: Severity, message: impl Into<String>) -> Finding {
        Finding {
            severity,
            file: self.doc.file.clone(),
            key: self.path.clone(),
            line: self.line,
            message: message.into(),
            instead: None,
        }
    }
}
