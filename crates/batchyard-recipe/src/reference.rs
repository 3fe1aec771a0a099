//! The recipe reference (docs/recipe-reference.md), generated from the schema so it lists
//! every field with its type, default and meaning, and cannot fall out of step with the types.

use std::collections::VecDeque;
use std::fmt::Write;

use serde_json::Value;

use crate::schema::recipe_schema;

const PRELUDE: &str = "# Recipe reference

This page is generated from the recipe types (`batchyard schema` prints the same facts as JSON
Schema); a test fails when it is out of date. Regenerate it with
`BATCHYARD_BLESS=1 cargo test -p batchyard-recipe --test reference`.

A recipe is one YAML file. Every string may hold a template (tera syntax): `{{ name }}` for a
variable (also `{{ var.name }}`), `{{ recipe.name }}`, and in factory tasks `{{ item.FIELD }}`
and `{{ index }}`. A string that is exactly one `{{ expression }}` keeps the expression's type,
so `nodes: { dedicated: \"{{ count }}\" }` is a number. The `shell_quote` filter quotes a value
for a command line. Unknown keys are errors. Top-level keys starting with `x-` are ignored, to
hold YAML anchors for reuse (`x-defaults: &defaults ...`, then `<<: *defaults`).

Durations are written `90s`, `15m`, `2h`, `1d`, `1h30m`, ISO 8601 (`PT2H`), `HH:MM:SS` or
`D.HH:MM:SS`; a bare integer counts seconds. Secrets are `{env: NAME}` or `{keyvault: URL}` and
are never printed.
";

/// The reference page as Markdown.
pub fn markdown() -> String {
    let root = recipe_schema();
    let mut out = String::from(PRELUDE);
    let mut queue: VecDeque<(String, &Value)> = VecDeque::from([("Recipe".to_owned(), root)]);
    let mut seen = vec!["Recipe".to_owned()];
    while let Some((name, node)) = queue.pop_front() {
        let _ = write!(out, "\n## {name}\n\n");
        if let Some(desc) = node.get("description").and_then(Value::as_str) {
            let _ = writeln!(out, "{}\n", desc.replace('\n', " "));
        }
        if let Some(props) = node.get("properties").and_then(Value::as_object) {
            let required: Vec<&str> = node
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            out.push_str("| field | type | default | meaning |\n|---|---|---|---|\n");
            for (field, schema) in props {
                let default = if required.contains(&field.as_str()) {
                    "required".to_owned()
                } else {
                    schema
                        .get("default")
                        .map_or_else(|| "—".to_owned(), |d| format!("`{d}`"))
                };
                let meaning = schema
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .replace('\n', " ")
                    .replace('|', "\\|");
                let _ = writeln!(
                    out,
                    "| `{field}` | {} | {default} | {meaning} |",
                    type_of(schema)
                );
            }
        }
        for (label, variants) in choices(node) {
            let _ = writeln!(out, "- {label}{variants}");
        }
        for referenced in refs(node) {
            if !seen.contains(&referenced)
                && let Some(def) = root.pointer(&format!("/$defs/{referenced}"))
            {
                seen.push(referenced.clone());
                queue.push_back((referenced, def));
            }
        }
    }
    out
}

/// For enums and tagged choices: one line per allowed value.
fn choices(node: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for key in ["oneOf", "anyOf"] {
        let Some(list) = node.get(key).and_then(Value::as_array) else {
            continue;
        };
        for alt in list {
            let desc = alt
                .get("description")
                .and_then(Value::as_str)
                .map(|d| format!(": {}", d.replace('\n', " ")))
                .unwrap_or_default();
            if let Some(c) = alt.get("const") {
                out.push((
                    format!(
                        "`{}`",
                        c.as_str().map_or_else(|| c.to_string(), str::to_owned)
                    ),
                    desc,
                ));
            } else if let Some(values) = alt.get("enum").and_then(Value::as_array) {
                for v in values {
                    out.push((
                        format!("`{}`", v.as_str().unwrap_or_default()),
                        desc.clone(),
                    ));
                }
            } else if let Some(tag) = alt
                .get("required")
                .and_then(Value::as_array)
                .filter(|r| r.len() == 1)
                .and_then(|r| r[0].as_str())
            {
                let inner = alt
                    .pointer(&format!("/properties/{tag}"))
                    .map(type_of)
                    .unwrap_or_default();
                out.push((format!("`{tag}`: {inner}"), desc));
            } else {
                out.push((type_of(alt), desc));
            }
        }
    }
    if let Some(values) = node.get("enum").and_then(Value::as_array) {
        for v in values {
            out.push((
                format!("`{}`", v.as_str().unwrap_or_default()),
                String::new(),
            ));
        }
    }
    out
}

fn refs(node: &Value) -> Vec<String> {
    let mut found = Vec::new();
    collect_refs(node, &mut found);
    found
}

fn collect_refs(node: &Value, found: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/$defs/"))
                && !found.iter().any(|f| f == name)
            {
                found.push(name.to_owned());
            }
            for (k, v) in map {
                if k != "$defs" {
                    collect_refs(v, found);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_refs(i, found)),
        _ => {}
    }
}

fn anchor(name: &str) -> String {
    name.to_lowercase()
}

/// A short human name for a schema's type.
fn type_of(schema: &Value) -> String {
    if let Some(name) = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/$defs/"))
    {
        return format!("[{name}](#{})", anchor(name));
    }
    if let Some(c) = schema.get("const") {
        return format!(
            "`{}`",
            c.as_str().map_or_else(|| c.to_string(), str::to_owned)
        );
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(list) = schema.get(key).and_then(Value::as_array) {
            return list.iter().map(type_of).collect::<Vec<_>>().join(" or ");
        }
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("array") => match schema.get("items") {
            Some(items) => format!("list of {}", type_of(items)),
            None => "list".into(),
        },
        Some("object") => match schema.get("additionalProperties") {
            Some(v) if v.is_object() && v.as_object().is_some_and(|o| !o.is_empty()) => {
                format!("map of {}", type_of(v))
            }
            _ => "mapping".into(),
        },
        Some(t) => t.to_owned(),
        None if schema.get("enum").is_some() => "one of the values below".into(),
        None => "any".into(),
    }
}
