//! Small helpers for reading and changing stored documents.

use serde_json::{Value, json};

use crate::clock;
use crate::store::docs::{self, Table};
use crate::store::{Store, StoreError};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// A string field, or "".
pub fn text<'a>(doc: &'a Value, field: &str) -> &'a str {
    doc.get(field).and_then(Value::as_str).unwrap_or("")
}

/// An integer field, or `default`.
pub fn int(doc: &Value, field: &str, default: i64) -> i64 {
    doc.get(field).and_then(Value::as_i64).unwrap_or(default)
}

/// The emulator's private part of a document (never served).
pub fn private(doc: &mut Value) -> &mut Value {
    if !doc.get("_emulator").is_some_and(Value::is_object) {
        doc["_emulator"] = json!({});
    }
    &mut doc["_emulator"]
}

/// Sets `state`, remembering the previous one and the transition time, and renews
/// the entity tag.
pub fn set_state(doc: &mut Value, state: &str) {
    let now = clock::now();
    let previous = text(doc, "state").to_string();
    if previous != state {
        doc["previousState"] = Value::String(previous);
        doc["previousStateTransitionTime"] = doc
            .get("stateTransitionTime")
            .cloned()
            .unwrap_or(Value::Null);
        doc["state"] = Value::String(state.to_string());
        doc["stateTransitionTime"] = Value::String(now.clone());
    }
    touch(doc, &now);
}

/// Renews the entity tag and last-modified time.
pub fn touch(doc: &mut Value, now: &str) {
    doc["eTag"] = Value::String(clock::new_etag());
    doc["lastModified"] = Value::String(now.to_string());
}

/// Reads, changes and writes one document in a transaction; false if missing.
pub fn update(
    store: &Store,
    table: Table,
    parent: &str,
    id: &str,
    change: impl FnOnce(&mut Value),
) -> Result<bool, StoreError> {
    store.write(|tx| -> Result<bool, StoreError> {
        let Some(mut doc) = docs::get(tx, table, parent, id)? else {
            return Ok(false);
        };
        change(&mut doc.value);
        docs::put(tx, table, parent, id, &doc.value)
    })
}
