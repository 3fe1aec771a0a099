//! The recorded sessions of Microsoft's Python SDK against the real Batch service
//! (`spec/recordings/`, API 2023-05-01.17.0), read once for every test that checks
//! batchyard against them: the client's requests, the reconciler's plans and the
//! emulator's answers. Only with the `test-support` feature.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Fields of 2023-05-01.17.0 that later API versions removed (the recordings' README; the
/// spec's changelog for 2024-07-01.20.0): today's service refuses them.
pub const REMOVED: &[&str] = &["applicationLicenses", "cloudServiceConfiguration"];

/// One recorded request and its answer.
#[derive(Debug, Clone)]
pub struct Entry {
    /// `GET`, `PUT`, ...
    pub method: String,
    /// The path after the account's host (`/pools/p1`).
    pub path: String,
    /// The query string without `?` (may be empty).
    pub query: String,
    /// The request's `Content-Type`, when it had one.
    pub content_type: Option<String>,
    /// The answer's status code.
    pub status: u16,
    /// The request body (`Value::Null` or a string when it was not JSON).
    pub request: Value,
    /// The answer body.
    pub response: Value,
}

/// The folder of the recordings.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("spec/recordings")
}

/// Every recording, in file-name order, as (file stem, entries). Panics with the file's
/// name when a recording cannot be read: the tests that call this have nothing to check
/// without them.
pub fn load() -> Vec<(String, Vec<Entry>)> {
    let dir = dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("a readable folder entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "recordings missing in {}", dir.display());
    files
        .into_iter()
        .map(|file| (stem(&file), entries(&file)))
        .collect()
}

fn stem(file: &Path) -> String {
    file.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn entries(file: &Path) -> Vec<Entry> {
    let text = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    let doc: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", file.display()));
    doc["Entries"]
        .as_array()
        .unwrap_or_else(|| panic!("{} has no `Entries`", file.display()))
        .iter()
        .map(|e| {
            let uri = e["RequestUri"]
                .as_str()
                .expect("every entry has a RequestUri");
            let rest = uri
                .split_once(".batch.azure.com")
                .unwrap_or_else(|| panic!("{uri} is not a Batch account URL"))
                .1;
            let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
            Entry {
                method: e["RequestMethod"]
                    .as_str()
                    .expect("every entry has a RequestMethod")
                    .to_owned(),
                path: path.to_owned(),
                query: query.to_owned(),
                content_type: e["RequestHeaders"]["Content-Type"]
                    .as_str()
                    .map(str::to_owned),
                status: e["StatusCode"]
                    .as_u64()
                    .and_then(|s| u16::try_from(s).ok())
                    .expect("every entry has a StatusCode"),
                request: e["RequestBody"].clone(),
                response: e["ResponseBody"].clone(),
            }
        })
        .collect()
}

/// `value` without the [`REMOVED`] fields, at any depth.
pub fn without_removed(value: &Value) -> Value {
    fn strip(value: &mut Value) {
        match value {
            Value::Object(map) => {
                map.retain(|k, _| !REMOVED.contains(&k.as_str()));
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut value = value.clone();
    strip(&mut value);
    value
}
