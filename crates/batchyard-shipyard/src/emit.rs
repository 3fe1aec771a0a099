//! A small YAML writer for the produced recipe: block style, comments above entries, strings
//! quoted only when needed. Written here rather than through a serializer so that every
//! mapping decision can carry its explanation next to the key it produced.

use batchyard_recipe::template::is_template;

/// A YAML value with comments.
#[derive(Debug, Clone, PartialEq)]
pub enum Y {
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Literal text. Text that looks like template syntax is wrapped in a raw block, so the
    /// recipe's template engine leaves Shipyard's braces alone.
    Str(String),
    /// A batchyard template, written as it is.
    Template(String),
    Seq(Vec<Item>),
    Map(Map),
}

/// A sequence item with the comment lines written above it.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub value: Y,
    pub comments: Vec<String>,
}

/// One mapping entry with the comment lines written above it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub value: Y,
    pub comments: Vec<String>,
}

/// An ordered mapping under construction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Map(pub Vec<Entry>);

impl Map {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key`, replacing an earlier value but keeping its place and comments.
    pub fn set(&mut self, key: &str, value: Y) -> &mut Entry {
        let at = match self.0.iter().position(|e| e.key == key) {
            Some(i) => {
                self.0[i].value = value;
                i
            }
            None => {
                self.0.push(Entry {
                    key: key.to_owned(),
                    value,
                    comments: Vec::new(),
                });
                self.0.len() - 1
            }
        };
        &mut self.0[at]
    }

    pub fn get(&self, key: &str) -> Option<&Y> {
        self.0.iter().find(|e| e.key == key).map(|e| &e.value)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Y> {
        self.0
            .iter_mut()
            .find(|e| e.key == key)
            .map(|e| &mut e.value)
    }

    /// The mapping at `key`, created empty when missing (or when `key` holds a non-mapping).
    pub fn map_at(&mut self, key: &str) -> &mut Map {
        if !matches!(self.get(key), Some(Y::Map(_))) {
            self.set(key, Y::Map(Map::new()));
        }
        match self.get_mut(key) {
            Some(Y::Map(m)) => m,
            // Unreachable: the entry was made a mapping just above.
            _ => unreachable_map(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[allow(clippy::panic)]
fn unreachable_map() -> &'static mut Map {
    panic!("map_at: entry is a mapping")
}

impl Entry {
    pub fn comment(&mut self, line: impl Into<String>) -> &mut Self {
        self.comments.push(line.into());
        self
    }
}

pub fn s(text: impl Into<String>) -> Y {
    Y::Str(text.into())
}

pub fn item(value: Y) -> Item {
    Item {
        value,
        comments: Vec::new(),
    }
}

pub fn seq(values: impl IntoIterator<Item = Y>) -> Y {
    Y::Seq(values.into_iter().map(item).collect())
}

/// Writes a whole document: `header` comment lines, then the mapping.
pub fn document(header: &[String], root: &Map) -> String {
    let mut out = String::new();
    for line in header {
        push_comment(&mut out, 0, line);
    }
    write_map(&mut out, root, 0);
    out
}

fn push_comment(out: &mut String, indent: usize, text: &str) {
    for line in text.lines() {
        out.push_str(&" ".repeat(indent));
        if line.is_empty() {
            out.push_str("#\n");
        } else {
            out.push_str("# ");
            out.push_str(line);
            out.push('\n');
        }
    }
    if text.is_empty() {
        out.push_str(&" ".repeat(indent));
        out.push_str("#\n");
    }
}

fn write_map(out: &mut String, map: &Map, indent: usize) {
    for e in &map.0 {
        for c in &e.comments {
            push_comment(out, indent, c);
        }
        out.push_str(&" ".repeat(indent));
        write_entry(out, e, indent);
    }
}

/// Writes `key: value` from the current position (indentation already written).
fn write_entry(out: &mut String, e: &Entry, indent: usize) {
    out.push_str(&key(&e.key));
    out.push(':');
    match &e.value {
        Y::Map(m) if m.is_empty() => out.push_str(" {}\n"),
        Y::Map(m) => {
            out.push('\n');
            write_map(out, m, indent + 2);
        }
        Y::Seq(items) => match flow(items) {
            Some(text) => {
                out.push(' ');
                out.push_str(&text);
                out.push('\n');
            }
            None => {
                out.push('\n');
                write_seq(out, items, indent + 2);
            }
        },
        scalar => {
            out.push(' ');
            out.push_str(&scalar_text(scalar));
            out.push('\n');
        }
    }
}

fn write_seq(out: &mut String, items: &[Item], indent: usize) {
    for it in items {
        for c in &it.comments {
            push_comment(out, indent, c);
        }
        match &it.value {
            Y::Map(m) if !m.is_empty() => {
                let (first, rest) = m.0.split_at(1);
                for c in &first[0].comments {
                    push_comment(out, indent, c);
                }
                out.push_str(&" ".repeat(indent));
                out.push_str("- ");
                write_entry(out, &first[0], indent + 2);
                write_map(out, &Map(rest.to_vec()), indent + 2);
            }
            Y::Seq(inner) => {
                out.push_str(&" ".repeat(indent));
                out.push_str("- ");
                out.push_str(&flow(inner).unwrap_or_else(|| flow_any(&it.value)));
                out.push('\n');
            }
            other => {
                out.push_str(&" ".repeat(indent));
                out.push_str("- ");
                out.push_str(&flow_any(other));
                out.push('\n');
            }
        }
    }
}

/// A short list of scalars in flow style (`[1, 2, 3]`), `None` when block style reads better.
fn flow(items: &[Item]) -> Option<String> {
    if items.is_empty() {
        return Some("[]".into());
    }
    if items
        .iter()
        .any(|i| !i.comments.is_empty() || matches!(i.value, Y::Seq(_) | Y::Map(_)))
    {
        return None;
    }
    let parts: Vec<String> = items.iter().map(|i| scalar_text(&i.value)).collect();
    let text = format!("[{}]", parts.join(", "));
    (text.len() <= 72).then_some(text)
}

/// Any value in flow style (nested lists, maps inside lists of lists).
fn flow_any(value: &Y) -> String {
    match value {
        Y::Seq(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|i| flow_any(&i.value))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Y::Map(m) => format!(
            "{{{}}}",
            m.0.iter()
                .map(|e| format!("{}: {}", key(&e.key), flow_any(&e.value)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        scalar => scalar_text(scalar),
    }
}

fn scalar_text(value: &Y) -> String {
    match value {
        Y::Bool(b) => b.to_string(),
        Y::Int(i) => i.to_string(),
        Y::Float(f) if f.is_finite() => {
            let t = f.to_string();
            if t.contains('.') || t.contains('e') {
                t
            } else {
                format!("{t}.0")
            }
        }
        Y::Float(_) => "0.0".into(),
        Y::Str(text) => quote(&escape_template(text)),
        Y::Template(text) => quote(text),
        Y::Seq(_) | Y::Map(_) => flow_any(value),
    }
}

/// Keeps literal text literal for the template engine.
pub fn escape_template(text: &str) -> String {
    if is_template(text) {
        // A literal `{% endraw %}` inside would end the raw block early: split it.
        let inner = text.replace(
            "{% endraw %}",
            "{% endraw %}{{ \"{% endraw %}\" }}{% raw %}",
        );
        format!("{{% raw %}}{inner}{{% endraw %}}")
    } else {
        text.to_owned()
    }
}

fn key(text: &str) -> String {
    if plain(text) {
        text.to_owned()
    } else {
        json_quote(text)
    }
}

fn quote(text: &str) -> String {
    if plain(text) {
        text.to_owned()
    } else {
        json_quote(text)
    }
}

/// A JSON string is a valid YAML double-quoted scalar.
fn json_quote(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

/// Whether `text` reads back as the same string when written without quotes.
fn plain(text: &str) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    const RESERVED: [&str; 11] = [
        "true", "false", "null", "yes", "no", "on", "off", "y", "n", "~", "nan",
    ];
    (first.is_ascii_alphabetic() || first == '/' || first == '_')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./@+-".contains(c))
        && !RESERVED.contains(&text.to_ascii_lowercase().as_str())
        && !text.ends_with('.')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn writes_block_yaml_with_comments_and_quotes() {
        let mut root = Map::new();
        root.set("recipe", s("demo")).comment("the name");
        let mut task = Map::new();
        task.set("id", s("task-00000"));
        task.set("command", s("echo {{x}} && a: b"));
        task.set("flags", seq([Y::Int(1), s("two words")]));
        root.set("tasks", Y::Seq(vec![item(Y::Map(task))]));
        let text = document(&["imported".into()], &root);
        assert_eq!(
            text,
            "# imported\n# the name\nrecipe: demo\ntasks:\n  - id: task-00000\n    command: \"{% raw %}echo {{x}} && a: b{% endraw %}\"\n    flags: [1, \"two words\"]\n"
        );
        let parsed = batchyard_recipe::source::parse(&text).unwrap().to_value();
        assert_eq!(parsed["tasks"][0]["flags"][1], "two words");
    }

    #[test]
    fn reserved_words_and_numbers_are_quoted() {
        for t in ["true", "No", "123", "1.5", "", "-x", "a b", "x:"] {
            assert!(!plain(t), "{t}");
        }
        for t in ["busybox", "alfpark/linpack", "a-b_c.d", "/bin/true"] {
            assert!(plain(t), "{t}");
        }
    }
}
