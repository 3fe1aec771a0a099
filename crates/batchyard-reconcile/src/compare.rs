//! Comparing a desired JSON value with the live one, after normalization.
//!
//! The rules, each chosen so that what batchyard wrote reads back as equal:
//! - a desired `null` means "not ours to say" (a secret the service never returns);
//! - objects: every desired key must match; keys only the service has are its defaults
//!   and are ignored, except non-empty lists, which the recipe must have asked for;
//! - a missing value equals an empty one (`false`, `0`, `""`, `[]`, `{}`);
//! - lists are compared as multisets: the service does not keep the order of metadata,
//!   environment settings, image names and the like;
//! - strings are exact, except VM sizes, image references and enum values
//!   (case-insensitive) and autoscale formulas (whitespace-insensitive);
//! - numbers compare by value, also when the service sends an `int64` as a string.

use serde_json::Value;

/// Keys whose string values Batch treats case-insensitively.
const CASE_INSENSITIVE: &[&str] = &[
    "vmSize",
    "nodeAgentSKUId",
    "publisher",
    "offer",
    "sku",
    "version",
    "nodeFillType",
    "elevationLevel",
    "scope",
    "type",
    "provision",
    "targetNodeCommunicationMode",
    "caching",
    "storageAccountType",
    "mode",
    "poolId",
    "onTaskFailure",
    "onAllTasksComplete",
];

/// Whether `desired` (under `key`) is what `observed` already is.
pub fn matches(key: &str, desired: &Value, observed: &Value) -> bool {
    match (desired, observed) {
        (Value::Null, _) => true,
        (d, Value::Null) => is_empty(d),
        (Value::Object(d), Value::Object(o)) => {
            d.iter().all(|(k, dv)| match o.get(k) {
                Some(ov) => matches(k, dv, ov),
                None => is_empty(dv),
            }) && o
                .iter()
                .all(|(k, ov)| d.contains_key(k) || ov.as_array().is_none_or(|a| a.is_empty()))
        }
        (Value::Array(d), Value::Array(o)) => d.len() == o.len() && multiset(key, d, o),
        (Value::String(d), Value::String(o)) => strings_match(key, d, o),
        (Value::Number(d), Value::Number(o)) => d.as_f64() == o.as_f64(),
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            s.trim().parse::<f64>().ok() == n.as_f64()
        }
        (Value::Bool(d), Value::Bool(o)) => d == o,
        _ => false,
    }
}

/// Empty values: what a missing field means.
pub fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_empty),
    }
}

fn strings_match(key: &str, desired: &str, observed: &str) -> bool {
    if key == "autoScaleFormula" {
        return formula_text(desired) == formula_text(observed);
    }
    if CASE_INSENSITIVE.contains(&key) {
        return desired.eq_ignore_ascii_case(observed);
    }
    desired == observed
}

/// A formula without whitespace: the service may reformat it.
pub fn formula_text(formula: &str) -> String {
    formula.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Every desired item matches a distinct observed item.
fn multiset(key: &str, desired: &[Value], observed: &[Value]) -> bool {
    let mut used = vec![false; observed.len()];
    desired.iter().all(|d| {
        let found = observed
            .iter()
            .enumerate()
            .find(|(i, o)| !used[*i] && matches(key, d, o))
            .map(|(i, _)| i);
        if let Some(i) = found {
            used[i] = true;
        }
        found.is_some()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn vm_size_case_and_formula_whitespace_are_ignored() {
        assert!(matches(
            "vmSize",
            &json!("Standard_D2s_v5"),
            &json!("standard_d2s_v5")
        ));
        assert!(!matches(
            "vmSize",
            &json!("Standard_D2s_v5"),
            &json!("standard_d4s_v5")
        ));
        assert!(matches(
            "autoScaleFormula",
            &json!("$TargetDedicatedNodes = 2;\n"),
            &json!("$TargetDedicatedNodes=2;")
        ));
        assert!(!matches("commandLine", &json!("echo A"), &json!("echo a")));
    }

    #[test]
    fn lists_are_unordered_and_server_defaults_ignored() {
        let desired = json!({"commandLine": "x", "environmentSettings": [
            {"name": "A", "value": "1"}, {"name": "B", "value": "2"}]});
        let observed = json!({"commandLine": "x", "maxTaskRetryCount": 0, "environmentSettings": [
            {"name": "B", "value": "2"}, {"name": "A", "value": "1"}]});
        assert!(matches("startTask", &desired, &observed));
    }

    #[test]
    fn a_removed_list_is_a_difference() {
        let desired = json!({"commandLine": "x"});
        let observed =
            json!({"commandLine": "x", "environmentSettings": [{"name": "A", "value": "1"}]});
        assert!(!matches("startTask", &desired, &observed));
        assert!(matches(
            "startTask",
            &desired,
            &json!({"commandLine": "x", "resourceFiles": []})
        ));
    }

    #[test]
    fn missing_equals_empty_and_null_is_dont_care() {
        assert!(matches("x", &json!(false), &Value::Null));
        assert!(matches("x", &json!([]), &Value::Null));
        assert!(!matches("x", &json!(true), &Value::Null));
        assert!(matches("password", &Value::Null, &json!("anything")));
        assert!(matches("n", &json!(5), &json!("5")));
    }
}
