//! A factory's problems, each kind reported once: a mistake in a template usually breaks
//! every item, and 500 copies of one message hide everything else.

use batchyard_recipe::Diagnostic;
use serde_json::Value;

/// More kinds than this in one factory are counted in the last one kept.
const MAX_KINDS: usize = 64;

/// The problems of one factory's items, grouped by kind.
#[derive(Debug, Default)]
pub(super) struct Grouped {
    kinds: Vec<Kind>,
}

/// One kind of problem: the first occurrence and how many items had it.
#[derive(Debug)]
struct Kind {
    key: (String, String),
    first: Diagnostic,
    index: u64,
    item: String,
    count: u64,
}

impl Grouped {
    /// Adds the problem of item `index`; `item` gives its value, asked for only on the first
    /// problem of a kind.
    pub(super) fn add(&mut self, problem: Diagnostic, index: u64, item: impl FnOnce() -> Value) {
        let key = kind_of(&problem);
        if let Some(kind) = self.kinds.iter_mut().find(|k| k.key == key) {
            kind.count += 1;
            return;
        }
        if self.kinds.len() >= MAX_KINDS
            && let Some(last) = self.kinds.last_mut()
        {
            last.count += 1;
            return;
        }
        self.kinds.push(Kind {
            key,
            first: problem,
            index,
            item: describe(&item()),
            count: 1,
        });
    }

    /// The problems, each with how many of the factory's `total` items had it and the first
    /// item that did.
    pub(super) fn finish(self, total: u64) -> impl Iterator<Item = Diagnostic> {
        self.kinds.into_iter().map(move |k| {
            let total = total.max(k.count);
            let items = if total == 1 { "item" } else { "items" };
            let example = if k.item.is_empty() {
                format!("item {}", k.index)
            } else {
                format!("item {} `{}`", k.index, k.item)
            };
            let mut d = k.first;
            d.message = format!(
                "{} (in {} of {total} {items}, e.g. {example})",
                d.message, k.count
            );
            d
        })
    }
}

/// Problems are of one kind when they are at the same place and say the same thing but for
/// the numbers in them (an item's index, the number in a generated id).
fn kind_of(d: &Diagnostic) -> (String, String) {
    let shape = d.message.chars().filter(|c| !c.is_ascii_digit()).collect();
    (d.path.clone(), shape)
}

/// An item as `name = value, ...`, short enough for one line.
fn describe(item: &Value) -> String {
    const MAX: usize = 80;
    let text = match item {
        Value::Null => String::new(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    };
    if text.chars().count() <= MAX {
        return text;
    }
    let mut short: String = text.chars().take(MAX - 1).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::*;
    use batchyard_recipe::Code;
    use serde_json::json;

    #[test]
    fn one_report_per_kind_with_a_count_and_the_first_item() {
        let mut g = Grouped::default();
        for i in 0..500 {
            g.add(
                Diagnostic::error(
                    Code::Template,
                    "/jobs/0/tasks/0/command",
                    "undefined value `y`",
                ),
                i,
                || json!({"x": i + 1}),
            );
        }
        g.add(
            Diagnostic::error(
                Code::DuplicateTaskId,
                "/jobs/0/tasks/0/id",
                "task id `t-7` is used twice in job `j`",
            ),
            7,
            || json!({"x": 8}),
        );
        g.add(
            Diagnostic::error(
                Code::DuplicateTaskId,
                "/jobs/0/tasks/0/id",
                "task id `t-9` is used twice in job `j`",
            ),
            9,
            || json!({"x": 10}),
        );
        let out: Vec<String> = g.finish(500).map(|d| d.message).collect();
        assert_eq!(
            out,
            [
                "undefined value `y` (in 500 of 500 items, e.g. item 0 `x = 1`)",
                "task id `t-7` is used twice in job `j` (in 2 of 500 items, e.g. item 7 `x = 8`)",
            ]
        );
    }

    #[test]
    fn items_without_values_show_their_index_only() {
        let mut g = Grouped::default();
        g.add(
            Diagnostic::error(Code::InvalidValue, "/p", "bad"),
            3,
            || Value::Null,
        );
        let out: Vec<String> = g.finish(1).map(|d| d.message).collect();
        assert_eq!(out, ["bad (in 1 of 1 item, e.g. item 3)"]);
    }
}
