//! Writing stored documents into a list response without building them in memory.
//!
//! A stored document is the compact JSON the store wrote. Listing 1,000 tasks with
//! `$select=id,state` should not parse, copy and re-serialize 1,000 whole
//! documents: the top-level fields are split off as raw text and the chosen ones are
//! copied into the response as they are. Only a field that holds a URL path (which
//! is served prefixed with the base URL) is parsed and rewritten.

use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// The top-level fields of a stored object, in stored order, as raw JSON text.
struct Fields<'a>(Vec<(&'a str, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some(entry) = map.next_entry::<&'de str, &'de RawValue>()? {
                    fields.push(entry);
                }
                Ok(Fields(fields))
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

/// Whether a raw value may hold a URL path that is served absolute: a string field
/// named `...url` starting with `/`, or an object or array with a `...url` key.
fn may_hold_url_path(key: &str, raw: &str) -> bool {
    if raw.starts_with('{') || raw.starts_with('[') {
        return raw
            .as_bytes()
            .windows(4)
            .any(|w| w[0].eq_ignore_ascii_case(&b'u') && w[1..].eq_ignore_ascii_case(b"rl\""));
    }
    key.to_ascii_lowercase().ends_with("url") && raw.starts_with("\"/")
}

/// Appends a stored document as served (without the emulator's private fields, URL
/// paths made absolute against `base`), keeping only `select`'s top-level fields
/// when given, in the order asked. Errors when the text is not a JSON object whose
/// keys need no unescaping; the caller then takes the general path.
pub fn write_public(
    out: &mut String,
    stored: &str,
    select: Option<&[String]>,
    base: &str,
) -> Result<(), serde_json::Error> {
    let Fields(fields) = serde_json::from_str(stored)?;
    let start = out.len();
    out.push('{');
    let mut first = true;
    let mut emit = |out: &mut String, key: &str, raw: &RawValue| -> Result<(), serde_json::Error> {
        if !first {
            out.push(',');
        }
        first = false;
        out.push('"');
        // A key borrowed from the stored text had no escapes, so it is written as is.
        out.push_str(key);
        out.push_str("\":");
        let text = raw.get();
        if may_hold_url_path(key, text) || super::odata::may_hold_secret(text) {
            let mut value = serde_json::Value::Object(serde_json::Map::from_iter([(
                key.to_string(),
                serde_json::from_str(text)?,
            )]));
            super::odata::absolutize(&mut value, base);
            super::odata::redact_secrets(&mut value);
            out.push_str(&serde_json::to_string(&value[key])?);
        } else {
            out.push_str(text);
        }
        Ok(())
    };
    let result = match select {
        None => fields
            .iter()
            .filter(|(key, _)| {
                *key != "_emulator" && !super::odata::SECRET_PROPERTIES.contains(key)
            })
            .try_for_each(|(key, raw)| emit(out, key, raw)),
        Some(select) => {
            let mut done: Vec<&str> = Vec::with_capacity(select.len());
            select.iter().try_for_each(|field| {
                let top = field.split('/').next().unwrap_or(field);
                if done.contains(&top) {
                    return Ok(());
                }
                done.push(top);
                match fields.iter().find(|(key, _)| *key == top) {
                    Some((key, raw)) => emit(out, key, raw),
                    None => Ok(()),
                }
            })
        }
    };
    if let Err(err) = result {
        out.truncate(start);
        return Err(err);
    }
    out.push('}');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn served(doc: &Value, select: Option<&[&str]>) -> Value {
        let select: Option<Vec<String>> = select.map(|s| s.iter().map(|f| f.to_string()).collect());
        let mut out = String::new();
        write_public(&mut out, &doc.to_string(), select.as_deref(), "http://h:1").unwrap();
        serde_json::from_str(&out).unwrap()
    }

    #[test]
    fn private_fields_are_dropped_and_url_paths_made_absolute() {
        let doc = json!({
            "id": "t1",
            "url": "/jobs/j/tasks/t1",
            "_emulator": {"attempt": 2},
            "nodeInfo": {"nodeUrl": "/pools/p/nodes/n", "poolId": "p"},
            "resourceFiles": [{"httpUrl": "https://example.org/a"}],
            "commandLine": "echo url\"",
        });
        let out = served(&doc, None);
        assert_eq!(
            out,
            json!({
                "id": "t1",
                "url": "http://h:1/jobs/j/tasks/t1",
                "nodeInfo": {"nodeUrl": "http://h:1/pools/p/nodes/n", "poolId": "p"},
                "resourceFiles": [{"httpUrl": "https://example.org/a"}],
                "commandLine": "echo url\"",
            })
        );
        // Field order is the stored order.
        let keys: Vec<_> = out.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            ["id", "url", "nodeInfo", "resourceFiles", "commandLine"]
        );
    }

    #[test]
    fn select_keeps_the_asked_fields_in_the_asked_order() {
        let doc = json!({"id": "t1", "state": "active", "commandLine": "c", "url": "/x", "executionInfo": {"retryCount": 0}});
        let out = served(
            &doc,
            Some(&[
                "state",
                "id",
                "missing",
                "executionInfo/retryCount",
                "state",
            ]),
        );
        assert_eq!(
            out,
            json!({"state": "active", "id": "t1", "executionInfo": {"retryCount": 0}})
        );
        let keys: Vec<_> = out.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["state", "id", "executionInfo"]);
        assert_eq!(served(&doc, Some(&["url"])), json!({"url": "http://h:1/x"}));
    }

    #[test]
    fn escaped_keys_and_non_objects_are_refused_without_output() {
        let mut out = String::from("[");
        assert!(write_public(&mut out, r#"{"a\"b": 1}"#, None, "").is_err());
        assert!(write_public(&mut out, "[1]", None, "").is_err());
        assert_eq!(out, "[");
    }
}
