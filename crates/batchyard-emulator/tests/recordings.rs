//! The emulator answers like the real service: every request of the recorded sessions in
//! `crates/batchyard-batch/spec/recordings/` (Microsoft's Python SDK tests against a real
//! Batch account) is replayed against a fresh emulator, and each answer is compared with
//! the recorded one: status code, error code, and the set and JSON types of the fields of
//! the body (values are the account's and the moment's: ids, times, etags, URLs).
//!
//! Normalized before replay:
//! - the API version is ours; recorded node ids map to the emulator's nodes in list order;
//!   recorded `$skiptoken`s map to the emulator's next links;
//! - pools, nodes and jobs the SDK tests made outside the recording are made first: a pool
//!   with as many idle nodes as the recording lists, and a job on it;
//! - what the API removed after 2023-05-01 (`cloudServiceConfiguration`,
//!   `applicationLicenses`) is replaced by today's equivalent, auto pools by the pool made
//!   first; their recorded fields are named in the exceptions;
//! - before a GET whose recorded answer has a `state`, the replay waits (polling, generous
//!   timeout) until the emulator's resource is in that state.
//!
//! What the emulator does not model is listed, with the reason, in
//! `tests/recordings/exceptions.txt`; the test reads it, fails on any other difference in
//! the operations batchyard uses, and fails on an exception that no longer excuses anything.
//! It prints the fidelity score: fields matched / fields recorded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use batchyard_batch::recordings::{self, Entry};
use common::{API, Harness};
use serde_json::{Value, json};

/// The operation of a request: method and path with ids as `{}`.
fn operation(method: &str, path: &str) -> String {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < parts.len() {
        let part = parts[i];
        let (name, keyed) = match part.split_once('(') {
            Some((name, _)) => (name, true),
            None => (part, false),
        };
        out.push(if keyed {
            format!("{name}({{}})")
        } else {
            name.to_owned()
        });
        if matches!(
            name,
            "pools" | "jobs" | "tasks" | "nodes" | "jobschedules" | "users" | "applications"
        ) && i + 1 < parts.len()
        {
            out.push("{}".into());
            i += 1;
        }
        if name == "files" && i + 1 < parts.len() {
            out.push("{path}".into());
            break;
        }
        i += 1;
    }
    format!("{method} /{}", out.join("/"))
}

/// Operations batchyard's client makes (`crates/batchyard-batch/src/client/`).
const BATCHYARD_USES: &[&str] = &[
    "GET /pools",
    "POST /pools",
    "GET /pools/{}",
    "HEAD /pools/{}",
    "PATCH /pools/{}",
    "DELETE /pools/{}",
    "POST /pools/{}/updateproperties",
    "POST /pools/{}/resize",
    "POST /pools/{}/stopresize",
    "POST /pools/{}/enableautoscale",
    "POST /pools/{}/disableautoscale",
    "POST /pools/{}/evaluateautoscale",
    "POST /pools/{}/removenodes",
    "GET /pools/{}/nodes",
    "GET /pools/{}/nodes/{}",
    "POST /pools/{}/nodes/{}/reboot",
    "POST /pools/{}/nodes/{}/reimage",
    "GET /pools/{}/nodes/{}/files/{path}",
    "HEAD /pools/{}/nodes/{}/files/{path}",
    "GET /supportedimages",
    "GET /nodecounts",
    "GET /jobs",
    "POST /jobs",
    "GET /jobs/{}",
    "PATCH /jobs/{}",
    "DELETE /jobs/{}",
    "POST /jobs/{}/terminate",
    "GET /jobs/{}/taskcounts",
    "GET /jobs/{}/tasks",
    "POST /jobs/{}/tasks",
    "POST /jobs/{}/addtaskcollection",
    "GET /jobs/{}/tasks/{}",
    "DELETE /jobs/{}/tasks/{}",
    "POST /jobs/{}/tasks/{}/terminate",
    "POST /jobs/{}/tasks/{}/reactivate",
    "GET /jobs/{}/tasks/{}/subtasksinfo",
    "GET /jobs/{}/tasks/{}/files",
    "GET /jobs/{}/tasks/{}/files/{path}",
    "HEAD /jobs/{}/tasks/{}/files/{path}",
];

/// One line of `exceptions.txt`: an operation (or `*`), a field prefix (or `*` for the
/// whole answer, `status` for the status and error code), and why.
struct Exception {
    operation: String,
    /// May excuse nothing in a run (a difference that depends on timing).
    optional: bool,
    field: String,
    reason: String,
    used: std::cell::Cell<usize>,
}

impl Exception {
    fn covers(&self, operation: &str, field: &str) -> bool {
        let (method, path) = operation.split_once(' ').unwrap_or((operation, ""));
        let (want_method, want_path) = self
            .operation
            .split_once(' ')
            .unwrap_or((self.operation.as_str(), "*"));
        let method_ok = want_method == "*" || want_method == method;
        let path_ok = want_path == "*"
            || want_path == path
            || (want_path.ends_with('*') && path.starts_with(want_path.trim_end_matches('*')));
        let field_ok = self.field == "*"
            || self.field == field
            || field.starts_with(&format!("{}.", self.field))
            || field.starts_with(&format!("{}[]", self.field));
        method_ok && path_ok && field_ok
    }
}

fn exceptions(path: &Path) -> Vec<Exception> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (rule, reason) = line
                .split_once(" -- ")
                .unwrap_or_else(|| panic!("exceptions.txt: no ' -- reason' in {line:?}"));
            let (optional, rule) = match rule.strip_prefix("? ") {
                Some(rest) => (true, rest),
                None => (false, rule),
            };
            let words: Vec<&str> = rule.split_whitespace().collect();
            let (operation, field) = match words.as_slice() {
                ["*", field] => ("* *".to_owned(), (*field).to_owned()),
                [method, path, field] => (format!("{method} {path}"), (*field).to_owned()),
                _ => panic!(
                    "exceptions.txt: expected '<METHOD> <path> <field>' or '* <field>' in {line:?}"
                ),
            };
            assert!(!reason.trim().is_empty(), "{line:?} names no reason");
            Exception {
                operation,
                field,
                optional,
                reason: reason.trim().to_owned(),
                used: std::cell::Cell::new(0),
            }
        })
        .collect()
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every field of a body as `path -> type`; array items share the path `name[]`.
fn fields(value: &Value, at: &str, out: &mut BTreeMap<String, &'static str>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let here = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                out.insert(here.clone(), kind(v));
                fields(v, &here, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                fields(item, &format!("{at}[]"), out);
            }
        }
        _ => {}
    }
}

/// Recorded request bodies in today's API: removed properties replaced by their
/// successors, auto pools by the pool made first.
fn today(body: &Value, pool: &str) -> Value {
    let mut body = body.clone();
    let vm = json!({
        "imageReference": {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts"},
        "nodeAgentSKUId": "batch.node.ubuntu 22.04"
    });
    if let Some(map) = body.as_object_mut() {
        if map.remove("cloudServiceConfiguration").is_some() {
            map.insert("virtualMachineConfiguration".into(), vm);
        }
        map.remove("applicationLicenses");
        if map
            .get("poolInfo")
            .is_some_and(|p| p.get("autoPoolSpecification").is_some())
        {
            map.insert("poolInfo".into(), json!({"poolId": pool}));
        }
    }
    body
}

struct Replay<'a> {
    harness: &'a Harness,
    nodes: BTreeMap<String, String>,
    skiptokens: BTreeMap<String, String>,
    prelude_pool: String,
}

impl Replay<'_> {
    fn with_our_nodes(&self, mut text: String) -> String {
        for (recorded, ours) in &self.nodes {
            text = text.replace(recorded, ours);
        }
        text
    }

    fn url(&self, entry: &Entry) -> String {
        let mut path = entry.path.clone();
        for (recorded, ours) in &self.nodes {
            path = path.replace(recorded, ours);
        }
        let mut query: Vec<String> = entry
            .query
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("api-version="))
            .map(|p| match p.strip_prefix("$skiptoken=") {
                Some(token) => self
                    .skiptokens
                    .get(&decoded(token))
                    .cloned()
                    .unwrap_or_else(|| p.to_owned()),
                None => p.to_owned(),
            })
            .collect();
        query.push(API.to_owned());
        format!("{}{path}?{}", self.harness.url, query.join("&"))
    }

    async fn send(&self, entry: &Entry) -> (u16, Value, String) {
        let method = reqwest::Method::from_bytes(entry.method.as_bytes()).unwrap();
        let mut request = self.harness.http.request(method, self.url(entry));
        if !entry.request.is_null() {
            request = request
                .header(
                    "content-type",
                    entry
                        .content_type
                        .as_deref()
                        .unwrap_or("application/json; odata=minimalmetadata"),
                )
                .body(self.with_our_nodes(today(&entry.request, &self.prelude_pool).to_string()));
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        )
    }

    /// Waits until the resource is in the state the recording saw (a barrier, not a time).
    async fn reach_state(&self, entry: &Entry) {
        let want = entry.response["state"].as_str();
        let Some(want) = want else { return };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            let (status, body, _) = self.send(entry).await;
            if status != 200
                || body["state"]
                    .as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(want))
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A create body for a pool the SDK test made outside the recording: what its first
/// recorded GET shows (as today's API has it), with `nodes` dedicated nodes and no
/// autoscale (the recording enables that itself). User passwords are write-only, so the
/// GET has none: one is made up.
fn like_recorded(entries: &[Entry], pool: &str, nodes: usize) -> Value {
    let recorded = entries
        .iter()
        .find(|e| e.method == "GET" && e.path == format!("/pools/{pool}") && e.status == 200)
        .map(|e| today(&e.response, pool));
    let Some(recorded) = recorded else {
        return json!({
            "id": pool,
            "vmSize": "standard_d2_v2",
            "virtualMachineConfiguration": today(&json!({"cloudServiceConfiguration": {}}), pool)["virtualMachineConfiguration"],
            "targetDedicatedNodes": nodes,
        });
    };
    let create: batchyard_batch::models::BatchPoolCreateOptions =
        serde_json::from_value(recorded).unwrap();
    let mut body = serde_json::to_value(create).unwrap();
    let map = body.as_object_mut().unwrap();
    map.retain(|_, v| !v.is_null());
    for field in [
        "enableAutoScale",
        "autoScaleFormula",
        "autoScaleEvaluationInterval",
    ] {
        map.remove(field);
    }
    map.insert("targetDedicatedNodes".into(), json!(nodes));
    map.insert("targetLowPriorityNodes".into(), json!(0));
    for user in map
        .get_mut("userAccounts")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        user["password"] = json!("made-up");
    }
    body
}

/// A query value without its percent-encoding (recorded links and requests encode it
/// differently).
fn decoded(value: &str) -> String {
    url::form_urlencoded::parse(format!("v={}", value.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Pools and jobs the recording uses but does not create: (pools with node counts, jobs).
fn outside(entries: &[Entry]) -> (BTreeMap<String, usize>, BTreeSet<String>) {
    let created = |collection: &str, id: &str| {
        entries.iter().any(|e| {
            e.method == "POST" && e.path == collection && e.request["id"].as_str() == Some(id)
        })
    };
    let mut pools = BTreeMap::new();
    let mut jobs = BTreeSet::new();
    for e in entries {
        let parts: Vec<&str> = e.path.trim_start_matches('/').split('/').collect();
        if parts.len() >= 2 && parts[0] == "pools" && !created("/pools", parts[1]) {
            let listed = if parts.len() == 3 && parts[2] == "nodes" {
                e.response["value"].as_array().map_or(0, Vec::len)
            } else {
                0
            };
            let count = pools.entry(parts[1].to_owned()).or_insert(1);
            *count = (*count).max(listed);
        }
        if parts.len() >= 2 && parts[0] == "jobs" && !created("/jobs", parts[1]) {
            jobs.insert(parts[1].to_owned());
        }
    }
    (pools, jobs)
}

#[derive(Default)]
struct Tally {
    recorded: usize,
    matched: usize,
    excused: usize,
    used_recorded: usize,
    used_matched: usize,
    used_excused: usize,
    failures: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_answers_every_recorded_request_like_the_service() {
    let exceptions_path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/recordings/exceptions.txt");
    let exceptions = exceptions(&exceptions_path);
    let mut tally = Tally::default();
    for (name, entries) in recordings::load() {
        let harness = Harness::start().await;
        let (pools, jobs) = outside(&entries);
        let prelude_pool = pools
            .keys()
            .next()
            .cloned()
            .unwrap_or_else(|| "recorded-prelude".into());
        if pools.is_empty() && !jobs.is_empty() || entries.iter().any(|e| e.path == "/jobs") {
            harness.create_pool(&prelude_pool, 1, 1, json!({})).await;
            harness.wait_idle(&prelude_pool, 1).await;
        }
        for (pool, count) in &pools {
            let (status, body) = harness
                .post("/pools", like_recorded(&entries, pool, *count))
                .await;
            assert_eq!(status, 201, "{name}: pool {pool}: {body}");
            harness.wait_idle(pool, *count).await;
        }
        for job in &jobs {
            let (status, body) = harness
                .post(
                    "/jobs",
                    json!({"id": job, "poolInfo": {"poolId": prelude_pool}}),
                )
                .await;
            assert_eq!(status, 201, "{body}");
        }
        let mut replay = Replay {
            harness: &harness,
            nodes: BTreeMap::new(),
            skiptokens: BTreeMap::new(),
            prelude_pool,
        };
        for pool in pools.keys() {
            let recorded: Vec<String> = entries
                .iter()
                .filter(|e| e.path == format!("/pools/{pool}/nodes"))
                .flat_map(|e| e.response["value"].as_array().cloned().unwrap_or_default())
                .filter_map(|n| n["id"].as_str().map(str::to_owned))
                .fold(Vec::new(), |mut seen, id| {
                    if !seen.contains(&id) {
                        seen.push(id);
                    }
                    seen
                });
            let (_, ours) = harness.get(&format!("/pools/{pool}/nodes")).await;
            let ours: Vec<String> = ours["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["id"].as_str().unwrap().to_owned())
                .collect();
            for (recorded, ours) in recorded.into_iter().zip(ours) {
                replay.nodes.insert(recorded, ours);
            }
        }
        for entry in &entries {
            let op = operation(&entry.method, &entry.path);
            let used = BATCHYARD_USES.contains(&op.as_str());
            if entry.method == "GET" && entry.status == 200 {
                replay.reach_state(entry).await;
            }
            let (status, body, _) = replay.send(entry).await;
            if let (Some(recorded), Some(ours)) = (
                entry.response["odata.nextLink"].as_str(),
                body["odata.nextLink"].as_str(),
            ) {
                let token = |link: &str| {
                    link.split(['?', '&'])
                        .find_map(|p| {
                            p.strip_prefix("$skiptoken=")
                                .or_else(|| p.strip_prefix("%24skiptoken="))
                        })
                        .map(str::to_owned)
                };
                if let (Some(r), Some(o)) = (token(recorded), token(ours)) {
                    replay
                        .skiptokens
                        .insert(decoded(&r), format!("$skiptoken={o}"));
                }
            }
            let mut check = |field: &str, same: bool, detail: String| {
                tally.recorded += 1;
                if used {
                    tally.used_recorded += 1;
                }
                if same {
                    tally.matched += 1;
                    if used {
                        tally.used_matched += 1;
                    }
                    return;
                }
                if let Some(e) = exceptions.iter().find(|e| e.covers(&op, field)) {
                    e.used.set(e.used.get() + 1);
                    tally.excused += 1;
                    if used {
                        tally.used_excused += 1;
                    }
                    return;
                }
                tally
                    .failures
                    .push(format!("{name}: {op}: {field}: {detail}"));
            };
            let recorded_code = entry.response["code"].as_str().unwrap_or_default();
            let our_code = body["code"]
                .as_str()
                .or_else(|| body.pointer("/odata.error/code").and_then(Value::as_str))
                .unwrap_or_default();
            check(
                "status",
                status == entry.status && (entry.status < 400 || recorded_code == our_code),
                format!(
                    "recorded {} {recorded_code}, emulator {status} {our_code} {body}",
                    entry.status
                ),
            );
            if entry.status >= 400 || status >= 400 {
                continue;
            }
            let mut recorded = BTreeMap::new();
            fields(&entry.response, "", &mut recorded);
            let mut ours = BTreeMap::new();
            fields(&body, "", &mut ours);
            for (field, kind) in &recorded {
                let got = ours.get(field).copied();
                check(
                    field,
                    got == Some(*kind),
                    format!("recorded {kind}, emulator {}", got.unwrap_or("absent")),
                );
            }
        }
    }
    let stale: Vec<String> = exceptions
        .iter()
        .filter(|e| e.used.get() == 0 && !e.optional)
        .map(|e| format!("{} {} ({})", e.operation, e.field, e.reason))
        .collect();
    let percent = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
    println!(
        "fidelity: {}/{} recorded fields matched ({:.1}%); {} excused by exceptions.txt",
        tally.matched,
        tally.recorded,
        percent(tally.matched, tally.recorded),
        tally.excused
    );
    println!(
        "fidelity, operations batchyard uses: {}/{} matched ({:.1}%); {} excused",
        tally.used_matched,
        tally.used_recorded,
        percent(tally.used_matched, tally.used_recorded),
        tally.used_excused
    );
    for e in &exceptions {
        println!(
            "  exception ({}x): {} {} -- {}",
            e.used.get(),
            e.operation,
            e.field,
            e.reason
        );
    }
    assert!(
        tally.failures.is_empty(),
        "{} differences not named in exceptions.txt:\n{}",
        tally.failures.len(),
        tally.failures.join("\n")
    );
    assert!(
        stale.is_empty(),
        "exceptions that excuse nothing: {stale:?}"
    );
    assert_eq!(tally.used_matched + tally.used_excused, tally.used_recorded);
}
