//! Whether a recipe satisfies its JSON Schema, decided by walking the schema directly, with
//! no validator to compile.
//!
//! Compiling the recipe schema into a validator was most of what `batchyard validate`
//! cost, and most recipes are valid. So the verdict comes first, from this walk; only a
//! recipe it does not find valid goes to the compiled validator, which finds and words
//! every error. The walk knows the keywords the generated draft 7 schema uses; anything
//! else makes it answer "don't know" ([`None`]), which also sends the recipe to the
//! validator. It never answers "valid" for a value the validator rejects:
//! `tests::fast_verdicts_agree_with_the_compiled_validator` holds the two to the same
//! verdict over the repository's recipes and thousands of broken copies of them.

use std::collections::HashMap;

use regex::Regex;
use serde_json::{Map, Value};

/// How deep `$ref`s and nesting may go before the walk answers "don't know".
const MAX_DEPTH: usize = 128;

/// Formats the generated schema carries that the validator does not know, so ignores
/// (schemars writes them for Rust's integer and float types, next to explicit bounds).
const IGNORED_FORMATS: &[&str] = &[
    "uint", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64", "float",
    "double",
];

/// The walk over one schema document, with its patterns compiled as they are met.
pub(crate) struct Walk<'a> {
    root: &'a Value,
    patterns: HashMap<&'a str, Option<Regex>>,
}

impl<'a> Walk<'a> {
    pub(crate) fn new(root: &'a Value) -> Self {
        Self {
            root,
            patterns: HashMap::new(),
        }
    }

    /// `Some(true)` when `value` satisfies the document's root schema, `Some(false)` when it
    /// does not, `None` when the walk met something it does not decide.
    pub(crate) fn verdict(&mut self, value: &Value) -> Option<bool> {
        self.check(self.root, value, 0)
    }

    fn check(&mut self, schema: &'a Value, value: &Value, depth: usize) -> Option<bool> {
        if depth > MAX_DEPTH {
            return None;
        }
        let schema = match schema {
            Value::Bool(b) => return Some(*b),
            Value::Object(map) => map,
            _ => return None,
        };
        // Draft 7: a `$ref` makes its siblings ignored.
        if let Some(reference) = schema.get("$ref") {
            let target = reference
                .as_str()?
                .strip_prefix('#')
                .and_then(|pointer| self.root.pointer(pointer))?;
            return self.check(target, value, depth + 1);
        }
        let mut valid = true;
        for (key, rule) in schema {
            let ok = match key.as_str() {
                "type" => match rule {
                    Value::String(ty) => of_type(ty, value)?,
                    Value::Array(types) => {
                        let mut any = false;
                        for ty in types {
                            any |= of_type(ty.as_str()?, value)?;
                        }
                        any
                    }
                    _ => return None,
                },
                "enum" => {
                    if value.is_number() || rule.as_array()?.iter().any(Value::is_number) {
                        return None;
                    }
                    rule.as_array()?.contains(value)
                }
                "const" => {
                    if value.is_number() || rule.is_number() {
                        return None;
                    }
                    rule == value
                }
                "properties" | "additionalProperties" | "patternProperties" => {
                    // All three at once, on the first of them met.
                    match value.as_object() {
                        Some(fields) if key == first_object_key(schema) => {
                            self.object(schema, fields, depth)?
                        }
                        _ => true,
                    }
                }
                "required" => match value.as_object() {
                    Some(fields) => {
                        let mut ok = true;
                        for name in rule.as_array()? {
                            ok &= fields.contains_key(name.as_str()?);
                        }
                        ok
                    }
                    None => true,
                },
                "items" => match value.as_array() {
                    Some(elements) => {
                        if rule.is_array() {
                            return None;
                        }
                        let mut ok = true;
                        for element in elements {
                            ok &= self.check(rule, element, depth + 1)?;
                        }
                        ok
                    }
                    None => true,
                },
                "minItems" | "maxItems" => match value.as_array() {
                    Some(elements) => within(key, rule, elements.len())?,
                    None => true,
                },
                "minLength" | "maxLength" => match value.as_str() {
                    Some(text) => within(key, rule, text.chars().count())?,
                    None => true,
                },
                "minimum" | "maximum" => match value {
                    Value::Number(n) => {
                        let (Some(n), Some(limit)) = (n.as_i64(), rule.as_i64()) else {
                            return None;
                        };
                        if key == "minimum" {
                            n >= limit
                        } else {
                            n <= limit
                        }
                    }
                    _ => true,
                },
                "pattern" => match value.as_str() {
                    Some(text) => self.pattern(rule.as_str()?)?.is_match(text),
                    None => true,
                },
                "anyOf" => {
                    let mut any = false;
                    let mut unknown = false;
                    for branch in rule.as_array()? {
                        match self.check(branch, value, depth + 1) {
                            Some(true) => {
                                any = true;
                                break;
                            }
                            Some(false) => {}
                            None => unknown = true,
                        }
                    }
                    if !any && unknown {
                        return None;
                    }
                    any
                }
                "oneOf" => {
                    let mut matched = 0;
                    for branch in rule.as_array()? {
                        matched += usize::from(self.check(branch, value, depth + 1)?);
                    }
                    matched == 1
                }
                "allOf" => {
                    let mut all = true;
                    for branch in rule.as_array()? {
                        all &= self.check(branch, value, depth + 1)?;
                    }
                    all
                }
                "format" => {
                    if !IGNORED_FORMATS.contains(&rule.as_str()?) {
                        return None;
                    }
                    true
                }
                "description" | "title" | "default" | "examples" | "$schema" | "definitions"
                | "$defs" | "deprecated" | "readOnly" | "writeOnly" => true,
                _ => return None,
            };
            valid &= ok;
        }
        Some(valid)
    }

    /// `properties`, `patternProperties` and `additionalProperties` of one object schema.
    fn object(
        &mut self,
        schema: &'a Map<String, Value>,
        fields: &Map<String, Value>,
        depth: usize,
    ) -> Option<bool> {
        let declared = match schema.get("properties") {
            Some(p) => Some(p.as_object()?),
            None => None,
        };
        let patterns = match schema.get("patternProperties") {
            Some(p) => Some(p.as_object()?),
            None => None,
        };
        let additional = schema.get("additionalProperties");
        let mut ok = true;
        for (name, field) in fields {
            let mut matched = false;
            if let Some(sub) = declared.and_then(|d| d.get(name)) {
                matched = true;
                ok &= self.check(sub, field, depth + 1)?;
            }
            for (pattern, sub) in patterns.into_iter().flatten() {
                if self.pattern(pattern)?.is_match(name) {
                    matched = true;
                    ok &= self.check(sub, field, depth + 1)?;
                }
            }
            if !matched && let Some(rule) = additional {
                ok &= self.check(rule, field, depth + 1)?;
            }
        }
        Some(ok)
    }

    fn pattern(&mut self, pattern: &'a str) -> Option<&Regex> {
        self.patterns
            .entry(pattern)
            .or_insert_with(|| Regex::new(pattern).ok())
            .as_ref()
    }
}

/// The first of the object keywords in the schema's own order, so the three are checked
/// together exactly once.
fn first_object_key(schema: &Map<String, Value>) -> &str {
    schema
        .keys()
        .find(|k| {
            matches!(
                k.as_str(),
                "properties" | "additionalProperties" | "patternProperties"
            )
        })
        .map_or("", String::as_str)
}

fn within(key: &str, rule: &Value, len: usize) -> Option<bool> {
    let limit = usize::try_from(rule.as_u64()?).ok()?;
    Some(if key.starts_with("min") {
        len >= limit
    } else {
        len <= limit
    })
}

/// JSON Schema's `type`, as draft 7 reads it. A float is left to the validator, which
/// counts `1.0` as an integer.
fn of_type(ty: &str, value: &Value) -> Option<bool> {
    Some(match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => match value {
            Value::Number(n) if n.is_f64() => return None,
            Value::Number(_) => true,
            _ => false,
        },
        _ => return None,
    })
}
