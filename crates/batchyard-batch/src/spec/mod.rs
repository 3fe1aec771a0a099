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

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use jsonschema::error::ValidationErrorKind;

mod verdict;
use serde_json::{Map, Value, json};

/// The embedded spec, the one the models were generated from.
pub const BATCH_SERVICE_JSON: &str = include_str!("../../spec/BatchService.json");

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
/// A valid value is recognised by walking the definitions (see the `verdict` module), with nothing to
/// compile. Only a value that walk does not accept goes to a JSON Schema validator, which
/// words the errors: compiling the whole spec costs about 0.2 s, so a validator is compiled
/// for the definitions this value can reach (see [`reached_definitions`]) and cached for the
/// process, so values of the same shape reuse it.
pub fn validate_against_spec(definition: &str, json: &Value) -> Result<(), Vec<SpecError>> {
    let definitions = definitions();
    if !definitions.contains_key(definition) {
        return Err(vec![SpecError {
            path: String::new(),
            kind: SpecErrorKind::UnknownDefinition,
            message: format!("BatchService.json has no definition named {definition:?}."),
        }]);
    }
    if verdict::verdict(definitions, definition, json) == Some(true) {
        return Ok(());
    }
    let reached = reached_definitions(definitions, definition, json);
    let validator = match validator_for(definitions, definition, reached) {
        Ok(validator) => validator,
        Err(message) => {
            return Err(vec![SpecError {
                path: String::new(),
                kind: SpecErrorKind::Other,
                message,
            }]);
        }
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
    definitions().names().map(str::to_owned).collect()
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

/// The spec's swagger definitions, each parsed from the embedded text on first use: a
/// process checks a handful of payload shapes, which reach a few dozen of the spec's 250
/// definitions, and parsing the whole file cost more than everything else `validate` does.
/// `build.rs` records where each definition lies in the text.
pub struct Definitions {
    ranges: &'static [(&'static str, usize, usize)],
    index: HashMap<&'static str, usize>,
    parsed: Vec<OnceLock<Value>>,
}

impl Definitions {
    fn new() -> Self {
        const RANGES: &[(&str, usize, usize)] =
            include!(concat!(env!("OUT_DIR"), "/definition_ranges.rs"));
        Self {
            ranges: RANGES,
            index: RANGES
                .iter()
                .enumerate()
                .map(|(i, (name, _, _))| (*name, i))
                .collect(),
            parsed: RANGES.iter().map(|_| OnceLock::new()).collect(),
        }
    }

    /// The definition of this name, as the spec writes it.
    pub fn get(&self, name: &str) -> Option<&Value> {
        let &i = self.index.get(name)?;
        let (_, start, end) = self.ranges[i];
        Some(self.parsed[i].get_or_init(|| {
            // build.rs parsed the whole file and took these ranges from it, so each is a
            // complete JSON value; `Null` would fail the validator's compile, never pass.
            BATCH_SERVICE_JSON
                .get(start..end)
                .and_then(|text| serde_json::from_str(text).ok())
                .unwrap_or(Value::Null)
        }))
    }

    /// Whether the spec has a definition of this name.
    pub fn contains_key(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// Every definition name, in the spec's order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.ranges.iter().map(|(name, _, _)| *name)
    }
}

/// The spec's definitions (parsed lazily, see [`Definitions`]).
pub fn definitions() -> &'static Definitions {
    static DEFINITIONS: OnceLock<Definitions> = OnceLock::new();
    DEFINITIONS.get_or_init(Definitions::new)
}

/// A validator of `definition` compiled from the definitions in `reached` (every other
/// definition is accepted as anything), cached. A cached validator compiled from a superset
/// serves as well: a definition it holds in full checks exactly what the spec says.
fn validator_for(
    definitions: &Definitions,
    definition: &str,
    reached: BTreeSet<String>,
) -> Result<Arc<jsonschema::Validator>, String> {
    type Cache = Mutex<Vec<(String, BTreeSet<String>, Arc<jsonschema::Validator>)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Cache::default);
    let find = |entries: &[(String, BTreeSet<String>, Arc<jsonschema::Validator>)]| {
        entries
            .iter()
            .find(|(name, names, _)| name == definition && reached.is_subset(names))
            .map(|(_, _, v)| Arc::clone(v))
    };
    if let Some(found) = find(&cache.lock().unwrap_or_else(PoisonError::into_inner)) {
        return Ok(found);
    }
    let schema = json_schema_for(definitions, definition, &reached);
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .should_validate_formats(false)
        .build(&schema)
        .map_err(|e| format!("The converted spec is not a valid JSON Schema: {e}."))?;
    let validator = Arc::new(validator);
    let mut entries = cache.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(found) = find(&entries) {
        return Ok(found);
    }
    entries.push((definition.to_owned(), reached, Arc::clone(&validator)));
    Ok(validator)
}

/// A draft 7 document validating `definition`: the definitions in `reached` converted in
/// full, and an empty schema (anything goes) for each other definition they refer to.
fn json_schema_for(
    definitions: &Definitions,
    definition: &str,
    reached: &BTreeSet<String>,
) -> Value {
    let mut converted = Map::new();
    let mut referred = BTreeSet::new();
    for name in reached {
        if let Some(def) = definitions.get(name) {
            refs_in(def, &mut referred);
            converted.insert(name.clone(), convert(def));
        }
    }
    for name in referred {
        if definitions.contains_key(&name) && !converted.contains_key(&name) {
            converted.insert(name, json!({}));
        }
    }
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "definitions": converted,
        "allOf": [{ "$ref": format!("#/definitions/{definition}") }],
    })
}

/// The definitions whose rules can apply to some part of `instance` when it is checked
/// against `definition`: those the walk reaches by following `$ref`s along the value's own
/// properties and items. A definition outside this set only describes properties the value
/// does not have, so leaving it out cannot change the outcome. The walk over-approximates:
/// every `$ref` it cannot follow precisely brings in everything it can lead to.
pub fn reached_definitions(
    definitions: &Definitions,
    definition: &str,
    instance: &Value,
) -> BTreeSet<String> {
    let mut reached = BTreeSet::new();
    let root = json!({ "$ref": format!("#/definitions/{definition}") });
    walk(definitions, &root, instance, &mut reached, 0);
    reached
}

/// How many `$ref`s may be followed in a row without descending into the value before the
/// walk gives up on precision (a reference cycle that consumes nothing).
const MAX_REF_CHAIN: usize = 32;

fn walk(
    definitions: &Definitions,
    schema: &Value,
    instance: &Value,
    reached: &mut BTreeSet<String>,
    chain: usize,
) {
    let Some(schema) = schema.as_object() else {
        return;
    };
    for (key, value) in schema {
        match key.as_str() {
            "$ref" => {
                let Some(name) = value
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/definitions/"))
                else {
                    continue;
                };
                let Some(target) = definitions.get(name) else {
                    continue;
                };
                if chain >= MAX_REF_CHAIN {
                    closure(definitions, name, reached);
                    continue;
                }
                reached.insert(name.to_owned());
                walk(definitions, target, instance, reached, chain + 1);
            }
            "properties" => {
                if let (Some(props), Some(fields)) = (value.as_object(), instance.as_object()) {
                    for (name, field) in fields {
                        if let Some(sub) = props.get(name) {
                            walk(definitions, sub, field, reached, 0);
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let Some(fields) = instance.as_object() {
                    for field in fields.values() {
                        walk(definitions, value, field, reached, 0);
                    }
                }
            }
            "items" => {
                if let Some(elements) = instance.as_array() {
                    for (i, element) in elements.iter().enumerate() {
                        let sub = match value {
                            Value::Array(tuple) => tuple.get(i),
                            single => Some(single),
                        };
                        if let Some(sub) = sub {
                            walk(definitions, sub, element, reached, 0);
                        }
                    }
                }
            }
            "allOf" | "anyOf" | "oneOf" => {
                for branch in value.as_array().into_iter().flatten() {
                    walk(definitions, branch, instance, reached, chain);
                }
            }
            // Annotations and keywords without subschemas.
            "description" | "type" | "format" | "enum" | "required" | "readOnly" | "default"
            | "example" => {}
            k if k.starts_with("x-") => {}
            // Anything else is followed without regard to the value.
            _ => {
                let mut names = BTreeSet::new();
                refs_in(value, &mut names);
                for name in names {
                    closure(definitions, &name, reached);
                }
            }
        }
    }
}

/// Adds `name` and every definition reachable from it.
fn closure(definitions: &Definitions, name: &str, reached: &mut BTreeSet<String>) {
    let mut pending = vec![name.to_owned()];
    while let Some(name) = pending.pop() {
        let Some(def) = definitions.get(&name) else {
            continue;
        };
        if reached.insert(name) {
            let mut names = BTreeSet::new();
            refs_in(def, &mut names);
            pending.extend(names);
        }
    }
}

/// The definition names `value` refers to anywhere inside it.
fn refs_in(value: &Value, names: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if key == "$ref" {
                    if let Some(name) = inner
                        .as_str()
                        .and_then(|r| r.strip_prefix("#/definitions/"))
                    {
                        names.insert(name.to_owned());
                    }
                } else {
                    refs_in(inner, names);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| refs_in(item, names)),
        _ => {}
    }
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
        let spec: Value = serde_json::from_str(BATCH_SERVICE_JSON).unwrap();
        assert_eq!(spec["info"]["version"], API_VERSION);
        assert!(definition_names().len() >= 240);
    }

    /// Each definition read from its recorded range is the definition the whole file holds,
    /// and no definition is missing or extra.
    #[test]
    fn lazily_read_definitions_equal_the_whole_spec() {
        let spec: Value = serde_json::from_str(BATCH_SERVICE_JSON).unwrap();
        let whole = spec["definitions"].as_object().unwrap();
        let defs = definitions();
        let names: Vec<&str> = defs.names().collect();
        assert_eq!(names, whole.keys().map(String::as_str).collect::<Vec<_>>());
        for (name, def) in whole {
            assert_eq!(defs.get(name), Some(def), "{name}");
        }
        assert!(!defs.contains_key("NoSuchThing"));
        assert_eq!(defs.get("NoSuchThing"), None);
    }

    /// Validators for every definition of the spec, compiled all together as one document.
    fn whole_spec_validators() -> jsonschema::ValidatorMap {
        let defs = definitions();
        let all: Map<String, Value> = defs
            .names()
            .map(|name| (name.to_owned(), convert(defs.get(name).unwrap())))
            .collect();
        let schema = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "definitions": all,
        });
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft7)
            .should_validate_formats(false)
            .build_map(&schema)
            .unwrap()
    }

    /// Every definition converts to valid JSON Schema, compiled all together as one document.
    #[test]
    fn the_whole_spec_compiles() {
        let map = whole_spec_validators();
        assert!(map.get("#/definitions/BatchTaskCreateOptions").is_some());
    }

    /// A value checked against a validator built for its own reach gets the same verdict, error
    /// for error, as against the whole spec.
    #[test]
    fn partial_validators_agree_with_the_whole_spec() {
        let definitions = definitions();
        let map = whole_spec_validators();
        let cases = [
            (
                "BatchTaskCreateOptions",
                json!({"id": "t", "commandLine": "x"}),
            ),
            (
                "BatchTaskCreateOptions",
                json!({"id": "t", "commandLine": "x", "constraints": {"maxTaskRetryCount": "2"},
                       "containerSettings": {"imageName": "i", "workingDirectory": "nowhere"},
                       "environmentSettings": [{"value": "v"}], "nope": 1}),
            ),
            (
                "BatchPoolCreateOptions",
                json!({"id": "p", "vmSize": "s", "virtualMachineConfiguration": {
                    "imageReference": {"publisher": "p", "offer": "o", "sku": "s"},
                    "nodeAgentSkuId": "n", "containerConfiguration": {"type": "bad"}},
                    "startTask": {"commandLine": 3, "userIdentity": {"autoUser": {"scope": "x"}}},
                    "metadata": [{"name": "a"}], "odata.type": "t"}),
            ),
            (
                "BatchJobCreateOptions",
                json!({"id": "j", "poolInfo": {"autoPoolSpecification": {"poolLifetimeOption": "job",
                    "pool": {"vmSize": "s", "taskSlotsPerNode": 1e10}}}, "priority": "high"}),
            ),
        ];
        for (i, (definition, value)) in cases.into_iter().enumerate() {
            let whole: Vec<SpecError> = map
                .get(&format!("#/definitions/{definition}"))
                .unwrap()
                .iter_errors(&value)
                .map(|e| to_spec_error(&e))
                .collect();
            let partial = validate_against_spec(definition, &value)
                .err()
                .unwrap_or_default();
            assert_eq!(partial, whole, "{definition}: {value}");
            // A float where an integer belongs is left to the validator (`None`).
            let fast = verdict::verdict(definitions, definition, &value);
            assert!(
                fast.is_none_or(|valid| valid == whole.is_empty()),
                "{definition}: {value}"
            );
            assert_eq!(whole.is_empty(), i == 0, "{whole:?}");
            let reached = reached_definitions(definitions, definition, &value);
            assert!(
                reached.len() < definitions.names().count() / 4,
                "{reached:?}"
            );
        }
    }

    /// Values derived from the spec's own request examples, each broken in every way a
    /// payload can be (wrong type, unknown enum value, unknown or missing field, out-of-range
    /// int32, malformed int64, fractions): wherever the walk gives a verdict, it is the
    /// verdict of the validator compiled from the whole spec.
    #[test]
    fn fast_verdicts_agree_with_the_compiled_validator() {
        let map = whole_spec_validators();
        let defs = definitions();
        let examples: [(&str, &str, &str); 5] = [
            ("Jobs_CreateJob_Basic.json", "job", "BatchJobCreateOptions"),
            (
                "Pools_CreatePool_VirtualMachineConfiguration.json",
                "pool",
                "BatchPoolCreateOptions",
            ),
            (
                "Pools_CreatePool_VirtualMachineConfigurationWithContainers.json",
                "pool",
                "BatchPoolCreateOptions",
            ),
            (
                "Pools_CreatePool_VirtualMachineConfigurationWithExtensions.json",
                "pool",
                "BatchPoolCreateOptions",
            ),
            (
                "Tasks_CreateTask_ContainerSettings.json",
                "task",
                "BatchTaskCreateOptions",
            ),
        ];
        let (mut decided, mut invalid) = (0, 0);
        for (file, param, definition) in examples {
            let path = format!("{}/spec/examples/{file}", env!("CARGO_MANIFEST_DIR"));
            let example: Value =
                serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            let body = example["parameters"][param].clone();
            assert!(body.is_object(), "{file}");
            let validator = map.get(&format!("#/definitions/{definition}")).unwrap();
            let mut variants = vec![body.clone()];
            variants.extend(broken(&body));
            for value in variants {
                let expected = validator.is_valid(&value);
                if let Some(fast) = verdict::verdict(defs, definition, &value) {
                    decided += 1;
                    invalid += usize::from(!fast);
                    assert_eq!(fast, expected, "{definition}: {value}");
                }
                let errors = validate_against_spec(definition, &value)
                    .err()
                    .unwrap_or_default();
                assert_eq!(errors.is_empty(), expected, "{definition}: {value}");
            }
        }
        // The walk decides nearly all of them, broken ones included.
        assert!(
            decided > 500 && invalid > 300,
            "{decided} decided, {invalid} invalid"
        );
    }

    /// Copies of `value`, each with one place broken.
    fn broken(value: &Value) -> Vec<Value> {
        let mut out = Vec::new();
        let mut pointers = Vec::new();
        collect_pointers(value, String::new(), &mut pointers);
        let replacements = [
            json!("text"),
            json!(7),
            json!(-1),
            json!(3_000_000_000_u64),
            json!(1.5),
            json!(2.0),
            json!(true),
            json!(null),
            json!([]),
            json!({}),
            json!({"odata.kind": 1}),
            json!({"notAField": 1}),
            json!("12"),
            json!("-4x"),
        ];
        for pointer in &pointers {
            for replacement in &replacements {
                let mut copy = value.clone();
                *copy.pointer_mut(pointer).unwrap() = replacement.clone();
                out.push(copy);
            }
            let mut added = value.clone();
            if let Some(object) = added.pointer_mut(pointer).and_then(Value::as_object_mut) {
                object.insert("notAField".into(), json!(1));
                object.insert("odata.metadata".into(), json!("m"));
                out.push(added);
            }
            let mut removed = value.clone();
            if let Some(object) = removed.pointer_mut(pointer).and_then(Value::as_object_mut)
                && let Some(first) = object.keys().next().cloned()
            {
                object.remove(&first);
                out.push(removed);
            }
        }
        out
    }

    fn collect_pointers(value: &Value, at: String, out: &mut Vec<String>) {
        if !at.is_empty() {
            out.push(at.clone());
        }
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    collect_pointers(v, format!("{at}/{k}"), out);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    collect_pointers(v, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
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
