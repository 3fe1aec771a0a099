//! Checking JSON against the official Batch REST spec (`spec/BatchService.json`, embedded).
//!
//! The spec is swagger 2.0. Its definitions are turned into one JSON Schema (draft 7)
//! document, compiled once on first use, and [`validate_against_spec`] checks a value
//! against the definition of a given name. The conversion:
//!
//! - `$ref: "#/definitions/X"` stays as is: the converted definitions live under the same
//!   pointer, so references resolve inside the document.
//! - `x-ms-*` extensions and `description` are dropped (annotations only).
//! - `format: int32` becomes the int32 bounds; `type: string, format: int64` becomes a
//!   pattern for a decimal integer. Other formats (date-time, duration, uri, ...) are not
//!   checked: the service's own spelling of them is looser than JSON Schema's.
//! - An object with declared `properties` rejects properties it does not declare (a
//!   misspelled `nodeAgentSkuId` is an error, not silently dropped), except `odata.*`
//!   annotations, which the service adds to responses.
//! - `readOnly` properties are accepted in any payload; the service ignores them in
//!   requests.
//! - Enums are closed: a value not in the spec's list is rejected, even though the
//!   models keep such values when they come from a server.

use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use serde_json::{Map, Value, json};

/// The embedded spec, the one the models were generated from.
pub const BATCH_SERVICE_JSON: &str = include_str!("../spec/BatchService.json");

/// The API version the spec describes and the client sends.
pub const API_VERSION: &str = "2025-06-01.21.0";

/// What is wrong with a value, one case per kind of spec rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecErrorKind {
    /// No definition of that name exists in the spec (the caller passed a wrong name).
    UnknownDefinition,
    /// The value has the wrong JSON type (a string where a number belongs, ...).
    WrongType,
    /// A string is not one of the values the spec lists for that enum.
    UnknownEnumValue,
    /// A property the definition requires is missing.
    MissingRequired,
    /// A property the definition does not declare is present.
    UnknownProperty,
    /// A number is outside the range of its format (e.g. int32).
    OutOfRange,
    /// A string does not have the shape its format requires (e.g. int64 digits).
    WrongFormat,
    /// Any other schema rule.
    Other,
}

/// One violation: where it is (JSON pointer into the checked value) and what it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", if path.is_empty() { "(root)" } else { path.as_str() })]
pub struct SpecError {
    /// JSON pointer into the checked value, `""` for the value itself.
    pub path: String,
    /// The kind of rule broken.
    pub kind: SpecErrorKind,
    /// A sentence saying what is wrong.
    pub message: String,
}

/// Checks `json` against the definition `definition` of `BatchService.json`
/// (e.g. `"BatchPoolCreateOptions"`), reporting every violation found.
///
/// Pure and cheap after the first call (the compiled schema is cached for the process).
pub fn validate_against_spec(definition: &str, json: &Value) -> Result<(), Vec<SpecError>> {
    let validators = match compiled() {
        Ok(validators) => validators,
        Err(message) => {
            return Err(vec![SpecError {
                path: String::new(),
                kind: SpecErrorKind::Other,
                message: message.clone(),
            }]);
        }
    };
    let Some(validator) = validators.get(&format!("#/definitions/{definition}")) else {
        return Err(vec![SpecError {
            path: String::new(),
            kind: SpecErrorKind::UnknownDefinition,
            message: format!("BatchService.json has no definition named {definition:?}."),
        }]);
    };
    let errors: Vec<SpecError> = validator
        .iter_errors(json)
        .map(|e| to_spec_error(&e))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Names of all definitions in the spec, in the spec's order.
pub fn definition_names() -> Vec<String> {
    spec_json()
        .ok()
        .and_then(|spec| spec.get("definitions").and_then(Value::as_object).cloned())
        .map(|defs| defs.keys().cloned().collect())
        .unwrap_or_default()
}

fn to_spec_error(error: &jsonschema::ValidationError<'_>) -> SpecError {
    let kind = match error.kind() {
        ValidationErrorKind::Type { .. } => SpecErrorKind::WrongType,
        ValidationErrorKind::Enum { .. } => SpecErrorKind::UnknownEnumValue,
        ValidationErrorKind::Required { .. } => SpecErrorKind::MissingRequired,
        ValidationErrorKind::AdditionalProperties { .. } => SpecErrorKind::UnknownProperty,
        ValidationErrorKind::Minimum { .. } | ValidationErrorKind::Maximum { .. } => {
            SpecErrorKind::OutOfRange
        }
        ValidationErrorKind::Pattern { .. } => SpecErrorKind::WrongFormat,
        _ => SpecErrorKind::Other,
    };
    SpecError {
        path: error.instance_path().to_string(),
        kind,
        message: error.to_string(),
    }
}

fn spec_json() -> Result<&'static Value, String> {
    static SPEC: OnceLock<Result<Value, String>> = OnceLock::new();
    SPEC.get_or_init(|| {
        serde_json::from_str(BATCH_SERVICE_JSON)
            .map_err(|e| format!("The embedded BatchService.json does not parse: {e}."))
    })
    .as_ref()
    .map_err(Clone::clone)
}

fn compiled() -> Result<&'static jsonschema::ValidatorMap, &'static String> {
    static COMPILED: OnceLock<Result<jsonschema::ValidatorMap, String>> = OnceLock::new();
    COMPILED
        .get_or_init(|| {
            let spec = spec_json()?;
            let schema = json_schema_of(spec);
            jsonschema::options()
                .with_draft(jsonschema::Draft::Draft7)
                .should_validate_formats(false)
                .build_map(&schema)
                .map_err(|e| format!("The converted spec is not a valid JSON Schema: {e}."))
        })
        .as_ref()
}

/// The swagger definitions as one draft 7 document with the same `#/definitions/...` layout.
fn json_schema_of(spec: &Value) -> Value {
    let definitions: Map<String, Value> = spec
        .get("definitions")
        .and_then(Value::as_object)
        .map(|defs| {
            defs.iter()
                .map(|(name, def)| (name.clone(), convert(def)))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "definitions": definitions,
    })
}

/// Converts one swagger schema object (recursively) to JSON Schema draft 7.
fn convert(schema: &Value) -> Value {
    let Some(object) = schema.as_object() else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (key, value) in object {
        match key.as_str() {
            k if k.starts_with("x-") => {}
            "description" | "readOnly" | "format" | "default" | "example" => {}
            "properties" => {
                let props = value
                    .as_object()
                    .map(|p| p.iter().map(|(k, v)| (k.clone(), convert(v))).collect())
                    .unwrap_or_else(Map::new);
                out.insert(key.clone(), Value::Object(props));
            }
            "items" | "additionalProperties" => {
                out.insert(key.clone(), convert(value));
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    let ty = object.get("type").and_then(Value::as_str);
    match (ty, object.get("format").and_then(Value::as_str)) {
        (Some("integer"), Some("int32")) => {
            out.insert("minimum".into(), json!(i32::MIN));
            out.insert("maximum".into(), json!(i32::MAX));
        }
        (Some("string"), Some("int64")) => {
            out.insert("pattern".into(), json!("^-?[0-9]+$"));
        }
        _ => {}
    }
    if object.contains_key("properties") && !object.contains_key("additionalProperties") {
        out.insert("patternProperties".into(), json!({ "^odata\\.": {} }));
        out.insert("additionalProperties".into(), json!(false));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_embedded_spec_is_the_expected_version() {
        let spec = spec_json().unwrap();
        assert_eq!(spec["info"]["version"], API_VERSION);
        assert!(definition_names().len() >= 240);
        assert!(compiled().is_ok());
    }

    #[test]
    fn a_minimal_pool_is_valid() {
        let pool = json!({
            "id": "p", "vmSize": "standard_d2s_v3",
            "virtualMachineConfiguration": {
                "imageReference": {"publisher": "p", "offer": "o", "sku": "s"},
                "nodeAgentSKUId": "batch.node.ubuntu 22.04"
            }
        });
        assert_eq!(
            validate_against_spec("BatchPoolCreateOptions", &pool),
            Ok(())
        );
    }

    #[test]
    fn an_unknown_definition_is_reported() {
        let errors = validate_against_spec("NoSuchThing", &json!({})).unwrap_err();
        assert_eq!(errors[0].kind, SpecErrorKind::UnknownDefinition);
    }
}
