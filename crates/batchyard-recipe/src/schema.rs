//! The recipe's JSON Schema, generated from the model types, and validation against it.
//!
//! Generating the schemas from the types (schemars) costs more than the rest of `validate`,
//! so a run reads them from committed files instead, parsed on first use: the published
//! `schemas/recipe.schema.json` and the strict draft 7 `schema/recipe.draft7.json` of this
//! crate. `tests::committed_schemas_match_the_types` holds both to the types
//! (`BATCHYARD_BLESS=1` rewrites them).

use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use crate::code::Code;
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::model::Recipe;
use crate::source::escape_token;

/// The published schema's text, `schemas/recipe.schema.json`.
const PUBLISHED: &str = include_str!("../../../schemas/recipe.schema.json");

/// The strict draft 7 schema's text (see [`validation_schema`]).
const STRICT: &str = include_str!("../schema/recipe.draft7.json");

/// The JSON Schema of a recipe (JSON Schema 2020-12), as published in
/// `schemas/recipe.schema.json`.
pub fn recipe_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    // Embedded and checked against the types by the tests: a failure is a build defect.
    SCHEMA.get_or_init(|| serde_json::from_str(PUBLISHED).expect("the published schema is JSON"))
}

/// The published schema, generated from the model types.
fn published_schema() -> Value {
    let mut schema = finish(schemars::schema_for!(Recipe).to_value());
    accept_templates(&mut schema);
    schema
}

/// Name of the schema definition of a template string.
const TEMPLATE_DEF: &str = "Template";

/// Any scalar of a recipe may be a template (`dedicated: "{{ nodes }}"`): templates are
/// rendered before the recipe is checked. The published schema, which editors check the
/// unrendered file with, accepts a template string wherever a number, a boolean, a choice
/// or a patterned string is expected. (The validator checks rendered values, with the
/// strict schema.)
fn accept_templates(schema: &mut Value) {
    wrap_scalars(schema);
    if let Some(defs) = schema.get_mut("$defs").and_then(Value::as_object_mut) {
        defs.insert(
            TEMPLATE_DEF.into(),
            serde_json::json!({
                "description": "A template, rendered before the recipe is checked, e.g. `{{ nodes }}`.",
                "type": "string",
                "pattern": "\\{\\{|\\{%"
            }),
        );
    }
}

fn wrap_scalars(node: &mut Value) {
    let Value::Object(map) = node else {
        if let Value::Array(items) = node {
            items.iter_mut().for_each(wrap_scalars);
        }
        return;
    };
    for v in map.values_mut() {
        wrap_scalars(v);
    }
    let strict_scalar = match map.get("type") {
        Some(Value::String(t)) => {
            matches!(t.as_str(), "integer" | "number" | "boolean")
                || (t == "string" && (map.contains_key("pattern") || map.contains_key("format")))
        }
        _ => false,
    } || map.contains_key("enum")
        || map.contains_key("const");
    if !strict_scalar {
        return;
    }
    // The description and default stay on the outside, where editors show them.
    let mut outer = serde_json::Map::new();
    for key in ["description", "title", "default"] {
        if let Some(v) = map.remove(key) {
            outer.insert(key.into(), v);
        }
    }
    let inner = Value::Object(std::mem::take(map));
    outer.insert(
        "anyOf".into(),
        serde_json::json!([inner, { "$ref": format!("#/$defs/{TEMPLATE_DEF}") }]),
    );
    *map = outer;
}

/// The same schema in draft 7, for the validator: compiling a validator also checks the
/// schema against its draft's meta-schema, and draft 7's is far smaller than 2020-12's,
/// which matters when `validate` compiles it (for a recipe with errors). A run reads the
/// committed copy; the tests generate it.
#[cfg(test)]
fn validation_schema() -> Value {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    finish(generator.into_root_schema_for::<Recipe>().to_value())
}

fn finish(mut schema: Value) -> Value {
    strip_null(&mut schema);
    // Top-level `x-` keys are free, to hold YAML anchors for reuse (as in Compose files).
    if let Some(root) = schema.as_object_mut() {
        root.insert(
            "patternProperties".into(),
            serde_json::json!({ EXTENSION_PATTERN: {} }),
        );
    }
    schema
}

/// Optional fields are simply left out of a recipe. schemars also allows `null` for them,
/// which turns every optional object into an `anyOf` and hides the precise error inside it;
/// this removes those `null` alternatives.
fn strip_null(node: &mut Value) {
    match node {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".into(), only);
                }
            }
            let is_null = |v: &Value| {
                v.get("type") == Some(&Value::String("null".into()))
                    && v.as_object().is_some_and(|o| o.len() == 1)
            };
            if let Some(Value::Array(alts)) = map.get_mut("anyOf") {
                alts.retain(|a| !is_null(a));
                if alts.len() == 1 {
                    let only = alts.remove(0);
                    map.remove("anyOf");
                    if let Value::Object(inner) = only {
                        for (k, v) in inner {
                            map.entry(k).or_insert(v);
                        }
                    }
                }
            }
            for v in map.values_mut() {
                strip_null(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_null),
        _ => {}
    }
}

/// Schema problems listed at most: past that a file is broken wholesale, and finding the
/// place of each one costs time for nothing.
pub const MAX_SCHEMA_DIAGNOSTICS: usize = 500;

/// Top-level keys matching this are extension keys, ignored by batchyard.
pub const EXTENSION_PATTERN: &str = "^x-";

/// The schema as pretty JSON text with a trailing newline (what `batchyard schema` prints),
/// generated from the model types.
pub fn recipe_schema_text() -> String {
    pretty(&published_schema())
}

fn pretty(schema: &Value) -> String {
    let mut text = serde_json::to_string_pretty(schema).unwrap_or_default();
    text.push('\n');
    text
}

/// The draft 7 schema the recipe is checked against.
fn strict_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    // Embedded and checked against the types by the tests: a failure is a build defect.
    SCHEMA.get_or_init(|| serde_json::from_str(STRICT).expect("the strict schema is JSON"))
}

fn validator() -> Option<&'static jsonschema::Validator> {
    static VALIDATOR: OnceLock<Option<jsonschema::Validator>> = OnceLock::new();
    VALIDATOR
        .get_or_init(|| jsonschema::validator_for(strict_schema()).ok())
        .as_ref()
}

/// Checks `value` against the schema. `skip` tells which paths hold unrendered templates
/// (factory task fields), where a string standing for a later value is not an error.
///
/// A value the schema walk finds valid has nothing to report, and the validator, whose
/// compile costs more than the rest of `validate`, is not built (see the `schema_verdict` module).
pub fn validate(value: &Value, skip: &dyn Fn(&str, &Value) -> bool) -> Vec<Diagnostic> {
    if crate::schema_verdict::Walk::new(strict_schema()).verdict(value) == Some(true) {
        return Vec::new();
    }
    let Some(validator) = validator() else {
        return vec![Diagnostic::error(
            Code::SchemaBroken,
            "",
            "the recipe schema failed to compile",
        )];
    };
    let mut out = Vec::new();
    for err in validator.iter_errors(value) {
        if out.len() >= MAX_SCHEMA_DIAGNOSTICS {
            out.push(
                Diagnostic::error(
                    Code::TooManyProblems,
                    "",
                    format!("more than {MAX_SCHEMA_DIAGNOSTICS} problems; the rest are not listed"),
                )
                .with_help("fix these first, then validate again")
                .for_file(),
            );
            break;
        }
        let path = err.instance_path().as_str().to_owned();
        if skip(&path, err.instance()) {
            continue;
        }
        out.extend(to_diagnostics(
            &path,
            err.instance(),
            err.kind(),
            &err.to_string(),
        ));
    }
    drop_missing_explained_by_typo(out)
}

/// `vm_sise: x` gives both "unknown field vm_sise" (with "did you mean vm_size") and "missing
/// field vm_size"; the first says it all.
fn drop_missing_explained_by_typo(all: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let typos: Vec<(String, String)> = all
        .iter()
        .filter_map(|d| {
            let help = d.help.as_deref()?;
            let close = help.strip_prefix("did you mean `")?.split('`').next()?;
            let parent = d.path.rsplit_once('/')?.0;
            Some((parent.to_owned(), format!("missing field `{close}`")))
        })
        .collect();
    all.into_iter()
        .filter(|d| {
            !typos
                .iter()
                .any(|(parent, message)| &d.path == parent && &d.message == message)
        })
        .collect()
}

fn to_diagnostics(
    path: &str,
    instance: &Value,
    kind: &ValidationErrorKind,
    text: &str,
) -> Vec<Diagnostic> {
    let root = recipe_schema();
    let tokens = tokens(path);
    match kind {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let valid = valid_keys(root, &tokens);
            unexpected
                .iter()
                .take(MAX_SCHEMA_DIAGNOSTICS)
                .map(|key| {
                    let mut help = String::new();
                    if let Some(close) = did_you_mean(key, valid.iter().map(String::as_str)) {
                        help.push_str(&format!("did you mean `{close}`? "));
                    }
                    help.push_str(&format!("valid fields here are: {}", valid.join(", ")));
                    Diagnostic::error(
                        Code::UnknownField,
                        format!("{path}/{}", escape_token(key)),
                        format!("unknown field `{key}`"),
                    )
                    .with_label("unknown field")
                    .with_help(help)
                    .at_key()
                })
                .collect()
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let mut d =
                Diagnostic::error(Code::MissingField, path, format!("missing field `{name}`"))
                    .with_label(format!("`{name}` is required here"));
            if let Some(desc) = description(root, &[tokens.clone(), vec![name.to_owned()]].concat())
            {
                d = d.with_help(format!("`{name}`: {desc}"));
            }
            vec![d]
        }
        ValidationErrorKind::AnyOf { .. } | ValidationErrorKind::OneOfNotValid { .. } => {
            alternatives(path, &tokens, instance)
        }
        _ => {
            let mut d = Diagnostic::error(Code::InvalidValue, path, tidy(text));
            if let Some(desc) = description(root, &tokens) {
                d = d.with_help(desc);
            }
            vec![d]
        }
    }
}

/// A value that matches none of several shapes: for tagged choices (a factory kind, a
/// secret source) name the valid tags; otherwise say what the field takes.
fn alternatives(path: &str, tokens: &[String], instance: &Value) -> Vec<Diagnostic> {
    let root = recipe_schema();
    let tags = choice_tags(root, tokens);
    if let (Some(obj), false) = (instance.as_object(), tags.is_empty()) {
        if let (1, Some((tag, inner))) = (obj.len(), obj.iter().next())
            && tags.contains(tag)
        {
            let inner_path = format!("{path}/{}", escape_token(tag));
            let found = validate_at(&inner_path, inner);
            if !found.is_empty() {
                return drop_missing_explained_by_typo(found);
            }
        }
        if obj.len() == 1 {
            if let Some(key) = obj.keys().next().filter(|k| !tags.contains(k)) {
                let mut help = String::new();
                if let Some(close) = did_you_mean(key, tags.iter().map(String::as_str)) {
                    help.push_str(&format!("did you mean `{close}`? "));
                }
                help.push_str(&format!("valid choices are: {}", tags.join(", ")));
                return vec![
                    Diagnostic::error(
                        Code::UnknownChoice,
                        format!("{path}/{}", escape_token(key)),
                        format!("unknown choice `{key}`"),
                    )
                    .with_label("not one of the choices")
                    .with_help(help)
                    .at_key(),
                ];
            }
        } else {
            return vec![
                Diagnostic::error(
                    Code::NotOneChoice,
                    path,
                    "exactly one choice must be given here",
                )
                .with_help(format!("valid choices are: {}", tags.join(", "))),
            ];
        }
    }
    let shown = short(instance);
    let mut d = Diagnostic::error(
        Code::InvalidValue,
        path,
        format!("{shown} is not a valid value here"),
    )
    .with_label("invalid value");
    if let Some(desc) = description(root, tokens) {
        d = d.with_help(desc);
    }
    vec![d]
}

fn short(instance: &Value) -> String {
    let text = instance.to_string();
    if text.chars().count() > 40 {
        format!("{}…", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

/// Validates `instance` against the schema that applies at `path` on its own, to find the
/// precise error inside one branch of a choice.
fn validate_at(path: &str, instance: &Value) -> Vec<Diagnostic> {
    let root = recipe_schema();
    let tokens = tokens(path);
    let Some(node) = schemas_at(root, &tokens)
        .into_iter()
        .find(|n| n.get("properties").is_some() || n.get("type").is_some())
    else {
        return Vec::new();
    };
    let mut schema = node.clone();
    if let (Some(obj), Some(defs)) = (schema.as_object_mut(), root.get("$defs")) {
        obj.insert("$defs".into(), defs.clone());
    }
    let Ok(validator) = jsonschema::validator_for(&schema) else {
        return Vec::new();
    };
    validator
        .iter_errors(instance)
        .flat_map(|err| {
            let sub = format!("{path}{}", err.instance_path().as_str());
            to_diagnostics(&sub, err.instance(), err.kind(), &err.to_string())
        })
        .collect()
}

/// jsonschema's wording, cut to something a person reads.
fn tidy(text: &str) -> String {
    let mut text = text.to_owned();
    for (json, word) in [
        ("of type \"object\"", "a mapping"),
        ("of type \"array\"", "a list"),
        ("of type \"string\"", "a string"),
        ("of type \"integer\"", "an integer"),
        ("of type integer", "an integer"),
        ("of type \"number\"", "a number"),
        ("of type \"boolean\"", "`true` or `false`"),
    ] {
        text = text.replace(json, word);
    }
    if text.chars().count() > 200 {
        format!("{}…", text.chars().take(200).collect::<String>())
    } else {
        text
    }
}

fn tokens(path: &str) -> Vec<String> {
    path.split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect()
}

fn resolve<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    let mut node = node;
    for _ in 0..32 {
        match node.get("$ref").and_then(Value::as_str) {
            Some(r) => match r.strip_prefix('#').and_then(|p| root.pointer(p)) {
                Some(target) => node = target,
                None => break,
            },
            None => break,
        }
    }
    node
}

/// A schema node and every alternative it may take (`anyOf`, `oneOf`, `allOf`).
fn expand<'a>(root: &'a Value, node: &'a Value, out: &mut Vec<&'a Value>, depth: usize) {
    let node = resolve(root, node);
    out.push(node);
    if depth > 16 {
        return;
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(list) = node.get(key).and_then(Value::as_array) {
            for alt in list {
                expand(root, alt, out, depth + 1);
            }
        }
    }
}

/// The schema nodes that may apply at `tokens`.
fn schemas_at<'a>(root: &'a Value, tokens: &[String]) -> Vec<&'a Value> {
    let mut current = Vec::new();
    expand(root, root, &mut current, 0);
    for token in tokens {
        let mut next = Vec::new();
        for node in &current {
            if let Some(child) = node.get("properties").and_then(|p| p.get(token.as_str())) {
                expand(root, child, &mut next, 0);
            } else if let (Some(items), true) = (node.get("items"), token.parse::<usize>().is_ok())
            {
                expand(root, items, &mut next, 0);
            } else if let Some(extra) = node.get("additionalProperties").filter(|v| v.is_object()) {
                expand(root, extra, &mut next, 0);
            }
        }
        current = next;
    }
    current
}

/// Whether the value at `tokens` can only be text.
pub(crate) fn wants_string(tokens: &[String]) -> bool {
    let found = schemas_at(recipe_schema(), tokens);
    let typed: Vec<&Value> = found
        .iter()
        .copied()
        .filter(|n| n.get("type").is_some())
        .collect();
    !typed.is_empty()
        && typed
            .iter()
            .all(|n| n.get("type") == Some(&Value::String("string".into())))
}

/// The field names valid in the mapping at `tokens`.
pub(crate) fn valid_keys(root: &Value, tokens: &[String]) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for node in schemas_at(root, tokens) {
        if let Some(props) = node.get("properties").and_then(Value::as_object) {
            for k in props.keys() {
                if !keys.contains(k) {
                    keys.push(k.clone());
                }
            }
        }
    }
    keys
}

/// The tags of an externally tagged choice at `tokens` (`product`, `zip`, ...).
fn choice_tags(root: &Value, tokens: &[String]) -> Vec<String> {
    let mut tags = Vec::new();
    for node in schemas_at(root, tokens) {
        let single = node
            .get("required")
            .and_then(Value::as_array)
            .filter(|r| r.len() == 1);
        let closed = node.get("additionalProperties") == Some(&Value::Bool(false));
        let one_property = node
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|p| p.len() == 1);
        if let (Some(req), true, true) = (single, closed, one_property)
            && let Some(tag) = req[0].as_str()
            && !tags.iter().any(|t| t == tag)
        {
            tags.push(tag.to_owned());
        }
    }
    tags
}

/// The first description the schema gives at `tokens`.
fn description(root: &Value, tokens: &[String]) -> Option<String> {
    schemas_at(root, tokens)
        .into_iter()
        .find_map(|n| n.get("description").and_then(Value::as_str))
        .map(|d| d.split("\n\n").next().unwrap_or(d).replace('\n', " "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every recipe in the repository (good and bad ones, templates unrendered), and copies
    /// of the good ones broken at each place in many ways: wherever the schema walk gives a
    /// verdict, it is the compiled validator's.
    #[test]
    fn fast_verdicts_agree_with_the_compiled_validator() {
        let validator = validator().unwrap();
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let mut files = Vec::new();
        for dir in [
            "recipes",
            "recipes/quickstart",
            "recipes/seed-examples",
            "bench/recipes",
            "crates/batchyard-recipe/tests/bad",
            "crates/batchyard/tests/bad_recipes",
            "crates/batchyard-compile/tests/recipes",
        ] {
            let Ok(entries) = std::fs::read_dir(format!("{root}/{dir}")) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "yaml") {
                    files.push(path);
                }
            }
            for sub in std::fs::read_dir(format!("{root}/{dir}"))
                .unwrap()
                .flatten()
            {
                let recipe = sub.path().join("recipe.yaml");
                if recipe.is_file() {
                    files.push(recipe);
                }
            }
        }
        assert!(files.len() > 60, "{} recipes found", files.len());
        let (mut decided, mut valid, mut invalid) = (0, 0, 0);
        let mut walk = crate::schema_verdict::Walk::new(strict_schema());
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            let Ok(tree) = crate::source::parse(&text) else {
                continue;
            };
            let value = tree.to_value();
            let mut variants = vec![value.clone()];
            variants.extend(broken(&value));
            for variant in &variants {
                let expected = validator.is_valid(variant);
                let fast = walk.verdict(variant);
                if let Some(fast) = fast {
                    assert_eq!(fast, expected, "{}: {variant}", file.display());
                    decided += 1;
                    if fast {
                        valid += 1;
                    } else {
                        invalid += 1;
                    }
                }
            }
        }
        assert!(
            decided > 5000 && valid > 100 && invalid > 3000,
            "{decided} decided, {valid} valid, {invalid} invalid"
        );
    }

    /// Copies of `value`, each with one place broken (or, by chance, still valid).
    fn broken(value: &Value) -> Vec<Value> {
        let mut pointers = Vec::new();
        collect_pointers(value, String::new(), &mut pointers);
        let replacements = [
            serde_json::json!("text"),
            serde_json::json!(""),
            serde_json::json!("/abs"),
            serde_json::json!("0755"),
            serde_json::json!("https://x"),
            serde_json::json!("x-y"),
            serde_json::json!(0),
            serde_json::json!(7),
            serde_json::json!(-2),
            serde_json::json!(100_000),
            serde_json::json!(5_000_000_000_u64),
            serde_json::json!(1.5),
            serde_json::json!(true),
            serde_json::json!(null),
            serde_json::json!([]),
            serde_json::json!(["a"]),
            serde_json::json!({}),
            serde_json::json!({"repeat": 2}),
            serde_json::json!({"notAField": 1}),
        ];
        let mut out = Vec::new();
        for pointer in &pointers {
            for replacement in &replacements {
                let mut copy = value.clone();
                if let Some(slot) = copy.pointer_mut(pointer) {
                    *slot = replacement.clone();
                    out.push(copy);
                }
            }
            let mut added = value.clone();
            if let Some(object) = added.pointer_mut(pointer).and_then(Value::as_object_mut) {
                object.insert("not_a_field".into(), serde_json::json!(1));
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
                    collect_pointers(v, format!("{at}/{}", escape_token(k)), out);
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

    /// The committed schemas a run reads are the ones the types generate. With
    /// `BATCHYARD_BLESS=1` the test rewrites them instead.
    #[test]
    fn committed_schemas_match_the_types() {
        let dir = env!("CARGO_MANIFEST_DIR");
        for (committed, generated, file) in [
            (
                PUBLISHED,
                pretty(&published_schema()),
                "../../schemas/recipe.schema.json",
            ),
            (
                STRICT,
                pretty(&validation_schema()),
                "schema/recipe.draft7.json",
            ),
        ] {
            if std::env::var_os("BATCHYARD_BLESS").is_some() {
                std::fs::write(format!("{dir}/{file}"), &generated).unwrap();
            } else {
                assert!(
                    committed == generated,
                    "{file} is stale: regenerate it with \
                     `BATCHYARD_BLESS=1 cargo test -p batchyard-recipe --lib schema`"
                );
            }
        }
    }

    #[test]
    fn valid_keys_follow_refs() {
        let keys = valid_keys(recipe_schema(), &["pools".into(), "0".into()]);
        assert!(keys.contains(&"vm_size".to_owned()), "{keys:?}");
        let keys = valid_keys(
            recipe_schema(),
            &["jobs".into(), "0".into(), "tasks".into(), "0".into()],
        );
        assert!(keys.contains(&"factory".to_owned()), "{keys:?}");
        assert!(keys.contains(&"depends_on".to_owned()), "{keys:?}");
    }

    #[test]
    fn factory_tags_are_known() {
        let tags = choice_tags(
            recipe_schema(),
            &[
                "jobs".into(),
                "0".into(),
                "tasks".into(),
                "0".into(),
                "factory".into(),
            ],
        );
        assert!(tags.contains(&"product".to_owned()), "{tags:?}");
        assert!(tags.contains(&"repeat".to_owned()), "{tags:?}");
    }
}
