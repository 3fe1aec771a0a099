//! Whether a JSON value satisfies a JSON Schema (draft 7), decided by walking the schema
//! directly, with no validator to compile.
//!
//! Compiling a JSON Schema validator costs milliseconds, and nearly every value checked is
//! valid. So a verdict comes first from this walk; a value it does not find valid goes to a
//! compiled validator, which finds and words every error. The walk knows the keywords that
//! batchyard's schemas use. Anything else makes it answer "don't know" ([`None`]), which
//! also sends the value to the validator, so it never answers "valid" for a value the
//! validator rejects. Each user holds the walk to its validator with a differential test
//! (`fast_verdicts_agree_with_the_compiled_validator` in `batchyard-recipe` and
//! `batchyard-batch`).
//!
//! What differs between the schemas it walks is a [`Dialect`]: how a `$ref` resolves, how a
//! `pattern` matches, what a `format` asks, and whether an object admits fields it does not
//! declare.

use serde_json::{Map, Value};

/// How deep `$ref`s and nesting may go before the walk answers "don't know".
const MAX_DEPTH: usize = 128;

/// What one kind of schema document adds to the draft 7 walk.
pub trait Dialect<'s> {
    /// The schema a `$ref` names, or `None` when it cannot be followed.
    fn resolve(&mut self, reference: &str) -> Option<&'s Value>;

    /// Whether `text` matches the regular expression `pattern`; `None` when undecided.
    fn matches(&mut self, pattern: &'s str, text: &str) -> Option<bool>;

    /// Whether `value` satisfies `format` in `schema` (the schema holding the keyword, for
    /// formats whose meaning depends on its `type`); `None` when undecided.
    fn format(
        &mut self,
        schema: &'s Map<String, Value>,
        format: &str,
        value: &Value,
    ) -> Option<bool>;

    /// Whether an object of `schema` may hold the field `name`, which none of its
    /// `properties` or `patternProperties` names, when `schema` has no
    /// `additionalProperties` (draft 7 allows it).
    fn undeclared(&mut self, schema: &'s Map<String, Value>, name: &str) -> Option<bool> {
        let _ = (schema, name);
        Some(true)
    }
}

/// `Some(true)` when `value` satisfies `schema`, `Some(false)` when it does not, `None`
/// when the walk met something it does not decide.
pub fn verdict<'s>(
    dialect: &mut impl Dialect<'s>,
    schema: &'s Value,
    value: &Value,
) -> Option<bool> {
    check(dialect, schema, value, 0)
}

fn check<'s>(
    dialect: &mut impl Dialect<'s>,
    schema: &'s Value,
    value: &Value,
    depth: usize,
) -> Option<bool> {
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
        let target = dialect.resolve(reference.as_str()?)?;
        return check(dialect, target, value, depth + 1);
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
            // Numbers are left to the validator, whose equality rules for them are its own.
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
                        object(dialect, schema, fields, depth)?
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
                    // The tuple form is not walked.
                    if rule.is_array() {
                        return None;
                    }
                    let mut ok = true;
                    for element in elements {
                        ok &= check(dialect, rule, element, depth + 1)?;
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
                Some(text) => dialect.matches(rule.as_str()?, text)?,
                None => true,
            },
            "format" => dialect.format(schema, rule.as_str()?, value)?,
            "anyOf" => {
                let mut any = false;
                let mut unknown = false;
                for branch in rule.as_array()? {
                    match check(dialect, branch, value, depth + 1) {
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
                    matched += usize::from(check(dialect, branch, value, depth + 1)?);
                }
                matched == 1
            }
            "allOf" => {
                let mut all = true;
                for branch in rule.as_array()? {
                    all &= check(dialect, branch, value, depth + 1)?;
                }
                all
            }
            // Annotations, and extensions (`x-...`), which draft 7 ignores.
            "description" | "title" | "default" | "examples" | "example" | "$schema"
            | "definitions" | "$defs" | "deprecated" | "readOnly" | "writeOnly" => true,
            k if k.starts_with("x-") => true,
            _ => return None,
        };
        valid &= ok;
    }
    Some(valid)
}

/// `properties`, `patternProperties` and `additionalProperties` of one object schema.
fn object<'s>(
    dialect: &mut impl Dialect<'s>,
    schema: &'s Map<String, Value>,
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
            ok &= check(dialect, sub, field, depth + 1)?;
        }
        for (pattern, sub) in patterns.into_iter().flatten() {
            if dialect.matches(pattern, name)? {
                matched = true;
                ok &= check(dialect, sub, field, depth + 1)?;
            }
        }
        if !matched {
            ok &= match additional {
                Some(rule) => check(dialect, rule, field, depth + 1)?,
                None => dialect.undeclared(schema, name)?,
            };
        }
    }
    Some(ok)
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

/// JSON Schema's `type`, as draft 7 reads it. A number with a fraction part, or one only
/// representable as a float, is left to the validator, which counts `1.0` as an integer.
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Resolves `#/...` pointers in one document and knows no pattern or format.
    struct Plain<'s>(&'s Value);

    impl<'s> Dialect<'s> for Plain<'s> {
        fn resolve(&mut self, reference: &str) -> Option<&'s Value> {
            self.0.pointer(reference.strip_prefix('#')?)
        }
        fn matches(&mut self, _: &'s str, _: &str) -> Option<bool> {
            None
        }
        fn format(&mut self, _: &'s Map<String, Value>, _: &str, _: &Value) -> Option<bool> {
            None
        }
    }

    #[test]
    fn decides_the_keywords_it_knows() {
        let schema = json!({
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": { "type": "string", "minLength": 1 },
                "tags": { "type": "array", "items": { "$ref": "#/definitions/Tag" } },
                "kind": { "enum": ["a", "b"] }
            },
            "additionalProperties": false,
            "definitions": { "Tag": { "type": "string", "maxLength": 3 } }
        });
        let mut plain = Plain(&schema);
        let mut v = |value: Value| verdict(&mut plain, &schema, &value);
        assert_eq!(
            v(json!({"name": "x", "tags": ["abc"], "kind": "a"})),
            Some(true)
        );
        assert_eq!(v(json!({"name": ""})), Some(false));
        assert_eq!(v(json!({"tags": []})), Some(false));
        assert_eq!(v(json!({"name": "x", "tags": ["abcd"]})), Some(false));
        assert_eq!(v(json!({"name": "x", "kind": "c"})), Some(false));
        assert_eq!(v(json!({"name": "x", "other": 1})), Some(false));
        assert_eq!(v(json!([])), Some(false));
    }

    #[test]
    fn answers_dont_know_for_what_it_does_not_decide() {
        let schema = json!({
            "properties": {
                "n": { "type": "integer" },
                "p": { "type": "string", "pattern": "^a" },
                "e": { "enum": [1, 2] },
                "u": { "if": { "type": "string" } }
            }
        });
        let mut plain = Plain(&schema);
        let mut v = |value: Value| verdict(&mut plain, &schema, &value);
        assert_eq!(v(json!({"n": 1})), Some(true));
        assert_eq!(v(json!({"n": 1.0})), None);
        assert_eq!(v(json!({"p": "abc"})), None);
        assert_eq!(v(json!({"e": "x"})), None);
        assert_eq!(v(json!({"u": "x"})), None);
        assert_eq!(v(json!({"n": "1"})), Some(false));
    }
}
