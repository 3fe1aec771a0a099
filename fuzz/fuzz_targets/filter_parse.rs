//! Arbitrary text into the emulator's `$filter` parser, as a client sends it in a
//! query: it must answer a filter or an error, never panic or overflow the stack,
//! and a filter it accepts must evaluate against a document without panicking.
#![no_main]

#[path = "../../crates/batchyard-emulator/src/api/filter.rs"]
#[allow(dead_code, clippy::all)]
mod filter;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(parsed) = filter::parse(&text) {
        let doc = serde_json::json!({
            "id": "task-1",
            "state": "active",
            "executionInfo": {"exitCode": 0, "retryCount": 2},
            "creationTime": "2025-01-01T00:00:00Z",
        });
        let _ = parsed.matches(&doc);
        let _ = parsed.states();
    }
});
