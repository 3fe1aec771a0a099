//! The served emulator's memory does not grow with the number of tasks in a job: adding
//! them, listing every page and counting them holds nothing per task in memory (pages
//! are read from an index a page at a time, counts are an index-only read, the
//! scheduler keeps jobs, pools and nodes, not tasks).
//!
//! The emulator runs as its own process (the crate's binary), so its peak resident set
//! (`VmHWM` in `/proc/PID/status`) is its own. By default 200,000 tasks are added, and
//! the peak must stay under 128 MiB and grow by less than 8 MiB (56 bytes a task)
//! between the first quarter of the tasks and the last (measured: 30.7 MiB, grown by
//! 0.3 MiB). The full form, a million tasks under 1 GiB, is
//! the same test with a release build:
//!
//! ```sh
//! BATCHYARD_MEMORY_TASKS=1000000 BATCHYARD_MEMORY_LIMIT_MIB=1024 \
//!     cargo test --release -p batchyard-emulator --test memory_bound -- --nocapture
//! ```
#![allow(clippy::unwrap_used)] // Test helpers panic on purpose: a failure is the test failing.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use futures::StreamExt as _;
use serde_json::{Value, json};

const API: &str = "api-version=2025-06-01.21.0";

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The served emulator, killed when dropped.
struct Served {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Served {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_batchyard-emulator"))
            .arg("--state")
            .arg(dir.path().join("state.db"))
            .args(["--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let url = first.trim().to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "{url:?}");
        Self {
            child,
            url,
            _dir: dir,
        }
    }

    /// Peak resident set so far, in KiB.
    fn peak_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn post(http: &reqwest::Client, url: String, body: String) -> Value {
    let r = http
        .post(url)
        .header("content-type", "application/json; odata=minimalmetadata")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    // Creations answer 201 with no body; an add-collection answers its results.
    let body = r.bytes().await.unwrap();
    serde_json::from_slice(&body).unwrap_or(Value::Null)
}

/// Adds tasks `from..to` in collections of 100, four requests at a time.
async fn add(http: &reqwest::Client, base: &str, from: u64, to: u64) {
    let url = format!("{base}/jobs/big/addtaskcollection?{API}");
    let requests = (from..to).step_by(100).map(|start| {
        let tasks: Vec<Value> = (start..(start + 100).min(to))
            .map(|i| json!({"id": format!("t{i}"), "commandLine": format!("/bin/echo {i}")}))
            .collect();
        post(http, url.clone(), json!({ "value": tasks }).to_string())
    });
    let mut answers = futures::stream::iter(requests).buffer_unordered(4);
    while let Some(answer) = answers.next().await {
        let added = answer["value"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["status"] == "success")
            .count();
        assert!(added > 0 && added <= 100, "{answer}");
    }
}

/// Lists every task, page by page; returns how many were listed.
async fn list_all(http: &reqwest::Client, base: &str) -> u64 {
    let mut next = Some(format!(
        "{base}/jobs/big/tasks?{API}&maxresults=1000&$select=id,state"
    ));
    let mut listed = 0;
    while let Some(url) = next {
        let page: Value = http.get(url).send().await.unwrap().json().await.unwrap();
        listed += page["value"].as_array().unwrap().len() as u64;
        next = page["odata.nextLink"].as_str().map(str::to_string);
    }
    listed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peak_memory_does_not_grow_with_the_tasks_of_a_job() {
    let tasks = setting("BATCHYARD_MEMORY_TASKS", 200_000);
    let limit_mib = setting("BATCHYARD_MEMORY_LIMIT_MIB", 128);
    let served = Served::start();
    let http = reqwest::Client::new();
    let base = served.url.clone();
    // A pool without nodes: the tasks stay queued, as in a submission benchmark.
    post(
        &http,
        format!("{base}/pools?{API}"),
        json!({"id": "cpu", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 0,
               "virtualMachineConfiguration": {"imageReference": {"publisher": "canonical",
               "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"},
               "nodeAgentSKUId": "batch.node.ubuntu 24.04"}})
        .to_string(),
    )
    .await;
    post(
        &http,
        format!("{base}/jobs?{API}"),
        json!({"id": "big", "poolInfo": {"poolId": "cpu"}}).to_string(),
    )
    .await;

    let quarter = tasks / 4;
    add(&http, &base, 0, quarter).await;
    assert_eq!(list_all(&http, &base).await, quarter);
    let early = served.peak_kib();

    add(&http, &base, quarter, tasks).await;
    assert_eq!(list_all(&http, &base).await, tasks);
    let counts: Value = http
        .get(format!("{base}/jobs/big/taskcounts?{API}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counts["taskCounts"]["active"], tasks, "{counts}");
    let peak = served.peak_kib();

    eprintln!(
        "{tasks} tasks: peak RSS {:.1} MiB ({:.1} MiB after {quarter})",
        peak as f64 / 1024.0,
        early as f64 / 1024.0
    );
    assert!(
        peak < limit_mib * 1024,
        "peak RSS {peak} KiB over {limit_mib} MiB with {tasks} tasks"
    );
    assert!(
        peak.saturating_sub(early) < 8 * 1024,
        "peak RSS grew from {early} KiB to {peak} KiB between {quarter} and {tasks} tasks"
    );
}
