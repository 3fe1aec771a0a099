//! Whether a value satisfies a spec definition, decided by walking the swagger definitions
//! directly, with no validator to compile (see `batchyard_schemawalk`).
//!
//! Compiling a JSON Schema validator costs milliseconds even for the few definitions a
//! payload reaches, and nearly every payload is valid. So the verdict comes first, from this
//! walk; only a value it does not find valid goes to the compiled validator, which words
//! every error. The walk reads the swagger definitions as [`super::convert`] turns them into
//! draft 7 (int32 bounds, int64 digit strings, closed objects but for `odata.*`); anything
//! it does not decide sends the value to the validator. It never answers "valid" for a
//! value the validator would reject: `tests::fast_verdicts_agree_with_the_compiled_validator`
//! holds the two to the same verdict over valid and broken payloads.

use batchyard_schemawalk::Dialect;
use serde_json::{Map, Value};

use super::Definitions;

/// `Some(true)` when `value` satisfies `definition`, `Some(false)` when it does not,
/// `None` when the walk met something it does not decide.
pub(super) fn verdict(definitions: &Definitions, definition: &str, value: &Value) -> Option<bool> {
    let schema = definitions.get(definition)?;
    batchyard_schemawalk::verdict(&mut Swagger(definitions), schema, value)
}

/// The spec's definitions, read as their conversion to draft 7.
struct Swagger<'a>(&'a Definitions);

impl<'a> Dialect<'a> for Swagger<'a> {
    fn resolve(&mut self, reference: &str) -> Option<&'a Value> {
        self.0.get(reference.strip_prefix("#/definitions/")?)
    }

    /// The spec has no patterns of its own.
    fn matches(&mut self, _: &'a str, _: &str) -> Option<bool> {
        None
    }

    /// The conversion bounds int32 integers and makes int64 strings decimal digits; it
    /// drops every other format (the service's own spelling of them is looser).
    fn format(
        &mut self,
        schema: &'a Map<String, Value>,
        format: &str,
        value: &Value,
    ) -> Option<bool> {
        Some(
            match (schema.get("type").and_then(Value::as_str), format, value) {
                (Some("integer"), "int32", Value::Number(n)) => {
                    n.as_i64().is_some_and(|i| i32::try_from(i).is_ok())
                }
                (Some("string"), "int64", Value::String(s)) => is_decimal_integer(s),
                _ => true,
            },
        )
    }

    /// An object with declared `properties` is closed, but for `odata.*` annotations.
    fn undeclared(&mut self, schema: &'a Map<String, Value>, name: &str) -> Option<bool> {
        Some(!schema.contains_key("properties") || name.starts_with("odata."))
    }
}

/// `^-?[0-9]+$`, the pattern the conversion gives int64 strings.
fn is_decimal_integer(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}
