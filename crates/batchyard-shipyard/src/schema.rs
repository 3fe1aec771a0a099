//! Checks a Shipyard file against Shipyard's own pykwalify schema (the copies in `schemas/`),
//! reporting problems the way pykwalify words them, with the key path and line.
//!
//! Only the rule keywords the Shipyard schemas use are implemented: `type` (map, seq, str,
//! int, float, bool, text, any), `required`, `enum`, `range`, `mapping` (with `regex;(...)`
//! keys) and `sequence`. As in pykwalify, a null value passes unless the key is required.

use std::sync::OnceLock;

use serde_json::Value;

use crate::doc::{Doc, V};
use crate::finding::{Finding, Severity};

const SCHEMAS: [(&str, &str); 8] = [
    ("credentials", include_str!("../schemas/credentials.yaml")),
    ("config", include_str!("../schemas/config.yaml")),
    ("pool", include_str!("../schemas/pool.yaml")),
    ("jobs", include_str!("../schemas/jobs.yaml")),
    ("fs", include_str!("../schemas/fs.yaml")),
    ("monitor", include_str!("../schemas/monitor.yaml")),
    ("federation", include_str!("../schemas/federation.yaml")),
    ("slurm", include_str!("../schemas/slurm.yaml")),
];

fn schemas() -> &'static Vec<(&'static str, Value)> {
    static CELL: OnceLock<Vec<(&'static str, Value)>> = OnceLock::new();
    CELL.get_or_init(|| {
        SCHEMAS
            .iter()
            .filter_map(|(kind, text)| {
                // The embedded schemas are fixed text, parsed by the same parser as input;
                // one that failed to parse would simply not be checked.
                let node = batchyard_recipe::source::parse(text).ok()?;
                Some((*kind, node.to_value()))
            })
            .collect()
    })
}

/// Checks `doc` against the schema of its `kind` (`pool`, `jobs`, ...).
pub fn check(kind: &str, doc: &Doc) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some((_, rule)) = schemas().iter().find(|(k, _)| *k == kind) {
        let root = doc.cursor();
        check_node(rule, &root, "/", &mut out);
    }
    out
}

fn err(v: &V<'_>, message: String) -> Finding {
    v.finding(Severity::Error, message)
}

/// pykwalify's path form, `/job_specifications/0/id`, for messages.
fn slash_path(path: &str) -> String {
    if path.is_empty() {
        return "/".into();
    }
    let mut out = String::new();
    for part in path.split('.') {
        let (name, rest) = part.split_once('[').unwrap_or((part, ""));
        out.push('/');
        out.push_str(name);
        for idx in rest.split('[') {
            let idx = idx.trim_end_matches(']');
            if !idx.is_empty() {
                out.push('/');
                out.push_str(idx);
            }
        }
    }
    out
}

fn check_node(rule: &Value, v: &V<'_>, _parent: &str, out: &mut Vec<Finding>) {
    let Some(rule) = rule.as_object() else {
        return;
    };
    let ty = rule.get("type").and_then(Value::as_str).unwrap_or("any");
    let value = v.scalar();
    if matches!(value, Some(Value::Null)) {
        return;
    }
    let type_ok = match ty {
        "map" => v.is_map(),
        "seq" => matches!(v.node.kind, batchyard_recipe::source::NodeKind::Seq(_)),
        "str" => matches!(value, Some(Value::String(_))),
        "int" => matches!(value, Some(Value::Number(n)) if n.is_i64() || n.is_u64()),
        "float" | "number" => matches!(value, Some(Value::Number(_))),
        "bool" => matches!(value, Some(Value::Bool(_))),
        "text" => matches!(value, Some(Value::String(_) | Value::Number(_))),
        _ => true,
    };
    if !type_ok {
        let shown = match value {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None if v.is_map() => "a mapping".into(),
            None => "a list".into(),
        };
        out.push(err(
            v,
            format!(
                "Value '{shown}' is not of type '{ty}'. Path: '{}'",
                slash_path(&v.path)
            ),
        ));
        return;
    }
    if let (Some(choices), Some(value)) = (rule.get("enum").and_then(Value::as_array), value)
        && !choices.contains(value)
    {
        let shown = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned);
        let allowed: Vec<String> = choices
            .iter()
            .map(|c| c.as_str().map_or_else(|| c.to_string(), str::to_owned))
            .collect();
        out.push(
            err(
                v,
                format!(
                    "Enum '{shown}' does not exist. Path: '{}'",
                    slash_path(&v.path)
                ),
            )
            .with_instead(format!("one of: {}", allowed.join(", "))),
        );
    }
    if let Some(range) = rule.get("range").and_then(Value::as_object) {
        check_range(range, v, out);
    }
    if let Some(mapping) = rule.get("mapping").and_then(Value::as_object) {
        check_mapping(mapping, v, out);
    }
    if let Some(item_rule) = rule
        .get("sequence")
        .and_then(Value::as_array)
        .and_then(|s| s.first())
    {
        for item in v.items() {
            check_node(item_rule, &item, &v.path, out);
        }
    }
}

fn check_range(range: &serde_json::Map<String, Value>, v: &V<'_>, out: &mut Vec<Finding>) {
    // pykwalify applies `range` to numbers, and to the length of strings and collections.
    let size = match v.scalar() {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => Some(s.chars().count() as f64),
        Some(_) => None,
        None => Some(match &v.node.kind {
            batchyard_recipe::source::NodeKind::Seq(items) => items.len() as f64,
            batchyard_recipe::source::NodeKind::Map(entries) => entries.len() as f64,
            batchyard_recipe::source::NodeKind::Scalar(_) => 0.0,
        }),
    };
    let Some(size) = size else { return };
    let bound = |k: &str| range.get(k).and_then(Value::as_f64);
    let shown = v.text().unwrap_or_else(|| format!("{size}"));
    let path = slash_path(&v.path);
    if let Some(min) = bound("min")
        && size < min
    {
        out.push(err(
            v,
            format!(
                "Type 'scalar' has size of '{shown}', less than min limit '{min}'. Path: '{path}'"
            ),
        ));
    }
    if let Some(max) = bound("max")
        && size > max
    {
        out.push(err(
            v,
            format!("Type 'scalar' has size of '{shown}', greater than max limit '{max}'. Path: '{path}'"),
        ));
    }
}

fn check_mapping(mapping: &serde_json::Map<String, Value>, v: &V<'_>, out: &mut Vec<Finding>) {
    let entries = v.entries();
    for (name, rule) in mapping {
        if name.starts_with("regex;") {
            continue;
        }
        let required = rule.get("required").and_then(Value::as_bool) == Some(true);
        if !required {
            continue;
        }
        let present = entries
            .iter()
            .find(|(k, _)| k == name)
            .is_some_and(|(_, c)| !matches!(c.scalar(), Some(Value::Null)));
        if !present {
            out.push(
                err(
                    v,
                    format!(
                        "Cannot find required key '{name}'. Path: '{}'",
                        slash_path(&v.path)
                    ),
                )
                .with_key_suffix(name),
            );
        }
    }
    for (key, child) in &entries {
        let rule = mapping.get(key).or_else(|| {
            mapping
                .iter()
                .find(|(pattern, _)| {
                    pattern
                        .strip_prefix("regex;")
                        .is_some_and(|p| regex_matches(p, key))
                })
                .map(|(_, r)| r)
        });
        match rule {
            Some(rule) => check_node(rule, child, &v.path, out),
            None => out.push(err(
                child,
                format!(
                    "Key '{key}' was not defined. Path: '{}'",
                    slash_path(&v.path)
                ),
            )),
        }
    }
}

/// The handful of key patterns the Shipyard schemas use, with Python `re.search` meaning.
/// An unknown pattern accepts every key, so a schema change can only make the check looser.
fn regex_matches(pattern: &str, key: &str) -> bool {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    match pattern {
        "(.+)" => !key.is_empty(),
        "([a-zA-Z0-9]+)" => key.chars().any(alnum),
        "([a-zA-Z0-9.]+)" => key.chars().any(|c| alnum(c) || c == '.'),
        "([0-9]+)" => key.chars().any(|c| c.is_ascii_digit()),
        "(^(?!aad$)[a-zA-Z0-9]+)" => key != "aad" && key.starts_with(alnum),
        "([a-zA-Z0-9]+\\.json)" => key
            .match_indices(".json")
            .any(|(i, _)| key[..i].ends_with(alnum)),
        _ => true,
    }
}

impl Finding {
    pub(crate) fn with_instead(mut self, instead: impl Into<String>) -> Self {
        self.instead = Some(instead.into());
        self
    }

    fn with_key_suffix(mut self, name: &str) -> Self {
        self.key = if self.key.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.key)
        };
        self
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn problems(kind: &str, text: &str) -> Vec<String> {
        let doc = Doc::parse("x.yaml", text).unwrap();
        check(kind, &doc)
            .iter()
            .map(|f| format!("{}:{} {}", f.line.unwrap_or(0), f.key, f.message))
            .collect()
    }

    #[test]
    fn every_schema_parses() {
        assert_eq!(schemas().len(), SCHEMAS.len());
    }

    #[test]
    fn unknown_key_is_reported_with_line_and_path() {
        let p = problems(
            "jobs",
            "job_specifications:\n- id: a\n  tasks:\n  - command: x\n    gpu: true\n",
        );
        assert_eq!(
            p,
            [
                "5:job_specifications[0].tasks[0].gpu Key 'gpu' was not defined. Path: '/job_specifications/0/tasks/0'"
            ]
        );
    }

    #[test]
    fn types_enums_ranges_and_required_keys() {
        let p = problems(
            "pool",
            "pool_specification:\n  vm_size: 3\n  vm_count: {dedicated: -1}\n  node_fill_type: fill\n  vm_configuration: {}\n",
        );
        assert!(
            p.iter()
                .any(|m| m.contains("Cannot find required key 'id'")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|m| m
                    .starts_with("2:pool_specification.vm_size Value '3' is not of type 'str'")),
            "{p:?}"
        );
        assert!(p.iter().any(|m| m.contains("less than min limit")), "{p:?}");
        assert!(
            p.iter()
                .any(|m| m.starts_with("4:") && m.contains("Enum 'fill'")),
            "{p:?}"
        );
    }

    #[test]
    fn null_values_pass_unless_required() {
        assert!(problems("pool", "pool_specification:\n  id: p\n  vm_size: s\n  vm_count: {dedicated: 1}\n  vm_configuration: {platform_image: {publisher: a, offer: b, sku: c}}\n  resize_timeout:\n").is_empty());
        assert!(!problems("pool", "pool_specification:\n  id:\n").is_empty());
    }

    #[test]
    fn regex_keys_accept_registry_names() {
        assert!(regex_matches("([a-zA-Z0-9.]+)", "myacr.azurecr.io"));
        assert!(!regex_matches("(^(?!aad$)[a-zA-Z0-9]+)", "aad"));
        assert!(regex_matches("([a-zA-Z0-9]+\\.json)", "dash.json"));
        assert!(!regex_matches("([a-zA-Z0-9]+\\.json)", "dash.yaml"));
    }
}
