//! Whether a value satisfies a spec definition, decided by walking the swagger definitions
//! directly, with no validator to compile.
//!
//! Compiling a JSON Schema validator costs milliseconds even for the few definitions a
//! payload reaches, and nearly every payload is valid. So the verdict comes first, from this
//! walk; only a value it does not find valid goes to the compiled validator, which words
//! every error. The walk knows the swagger subset the spec uses and the conversion rules of
//! [`super::convert`] (int32 bounds, int64 digit strings, closed objects but for `odata.*`,
//! closed enums); anything else it meets makes it answer "don't know" ([`None`]), which
//! also sends the value to the validator. It never answers "valid" for a value the validator
//! would reject: `tests::fast_verdicts_agree_with_the_compiled_validator` holds the two to
//! the same verdict over valid and broken payloads.

use serde_json::{Map, Value};

use super::Definitions;

/// How deep `$ref`s and nesting may go before the walk gives up and answers "don't know".
const MAX_DEPTH: usize = 64;

/// `Some(true)` when `value` satisfies `definition`, `Some(false)` when it does not,
/// `None` when the walk met something it does not decide.
pub(super) fn verdict(definitions: &Definitions, definition: &str, value: &Value) -> Option<bool> {
    let schema = definitions.get(definition)?;
    check(definitions, schema, value, 0)
}

fn check(definitions: &Definitions, schema: &Value, value: &Value, depth: usize) -> Option<bool> {
    if depth > MAX_DEPTH {
        return None;
    }
    let schema = schema.as_object()?;
    let ty = schema
        .get("type")
        .map(|t| t.as_str())
        .map(Option::unwrap_or_default);
    let format = schema.get("format").and_then(Value::as_str);
    let mut valid = true;
    for (key, rule) in schema {
        let ok = match key.as_str() {
            "$ref" => {
                let name = rule.as_str()?.strip_prefix("#/definitions/")?;
                let target = definitions.get(name)?;
                check(definitions, target, value, depth + 1)?
            }
            "type" => of_type(rule.as_str()?, value)?,
            "enum" => {
                let options = rule.as_array()?;
                // The spec's enums are lists of strings; anything else is left to the
                // validator, whose equality rules for numbers are its own.
                if !options.iter().all(Value::is_string) {
                    return None;
                }
                match value {
                    Value::String(_) => options.contains(value),
                    Value::Number(_) => return None,
                    _ => false,
                }
            }
            "properties" => match value.as_object() {
                Some(fields) => properties(definitions, schema, rule.as_object()?, fields, depth)?,
                None => true,
            },
            "additionalProperties" => {
                // Checked with `properties` when both are present.
                if schema.contains_key("properties") {
                    true
                } else {
                    match value.as_object() {
                        Some(fields) => {
                            let mut ok = true;
                            for field in fields.values() {
                                ok &= extra(definitions, rule, field, depth)?;
                            }
                            ok
                        }
                        None => true,
                    }
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
                    // A tuple form of `items` does not occur in the spec.
                    rule.as_object()?;
                    let mut ok = true;
                    for element in elements {
                        ok &= check(definitions, rule, element, depth + 1)?;
                    }
                    ok
                }
                None => true,
            },
            // Dropped by the conversion (annotations); `format` only matters through the
            // bounds checked below.
            "description" | "readOnly" | "format" | "default" | "example" => true,
            k if k.starts_with("x-") => true,
            _ => return None,
        };
        valid &= ok;
    }
    match (ty, format) {
        (Some("integer"), Some("int32")) => {
            if let Value::Number(n) = value {
                valid &= n.as_i64().is_some_and(|i| i32::try_from(i).is_ok());
            }
        }
        (Some("string"), Some("int64")) => {
            if let Value::String(s) = value {
                valid &= is_decimal_integer(s);
            }
        }
        _ => {}
    }
    Some(valid)
}

/// The object's fields against `properties`; fields it does not declare are allowed by an
/// explicit `additionalProperties`, or else only as `odata.*` annotations.
fn properties(
    definitions: &Definitions,
    schema: &Map<String, Value>,
    declared: &Map<String, Value>,
    fields: &Map<String, Value>,
    depth: usize,
) -> Option<bool> {
    let additional = schema.get("additionalProperties");
    let mut ok = true;
    for (name, field) in fields {
        ok &= match (declared.get(name), additional) {
            (Some(sub), _) => check(definitions, sub, field, depth + 1)?,
            (None, Some(rule)) => extra(definitions, rule, field, depth)?,
            (None, None) => name.starts_with("odata."),
        };
    }
    Some(ok)
}

fn extra(definitions: &Definitions, rule: &Value, field: &Value, depth: usize) -> Option<bool> {
    match rule {
        Value::Bool(allowed) => Some(*allowed),
        Value::Object(_) => check(definitions, rule, field, depth + 1),
        _ => None,
    }
}

/// JSON Schema's `type`, as draft 7 reads it. A number with a fraction part, or one that
/// is only representable as a float, is left to the validator ("1.0" counts as an integer
/// there).
fn of_type(ty: &str, value: &Value) -> Option<bool> {
    Some(match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "number" => value.is_number(),
        "integer" => match value {
            Value::Number(n) if n.is_f64() => return None,
            Value::Number(_) => true,
            _ => false,
        },
        _ => return None,
    })
}

/// `^-?[0-9]+$`, the pattern the conversion gives int64 strings.
fn is_decimal_integer(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}
