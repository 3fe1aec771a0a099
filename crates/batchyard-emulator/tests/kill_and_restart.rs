//! Kill -9 of the emulator binary during a running job, then a restart on the same
//! state file: every record is still there, tasks that were running are requeued,
//! tasks that finished while it was down are not run again.
#![allow(clippy::unwrap_used)] // Test helpers panic on purpose: a failure is the test failing.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const API: &str = "api-version=2025-06-01.21.0";

fn start(state: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_batchyard-emulator"))
        .arg("--state")
        .arg(state)
        .args(["--port", "0", "--boot-delay-ms", "40"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.starts_with("http://"),
        "unexpected first line {line:?}"
    );
    (child, line.trim().to_string())
}

async fn get(http: &reqwest::Client, url: &str, path: &str) -> Value {
    let sep = if path.contains('?') { '&' } else { '?' };
    http.get(format!("{url}{path}{sep}{API}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn post(http: &reqwest::Client, url: &str, path: &str, body: Value) -> u16 {
    http.post(format!("{url}{path}?{API}"))
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn wait(
    http: &reqwest::Client,
    url: &str,
    path: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let body = get(http, url, path).await;
        if done(&body) {
            return body;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn kill_nine_loses_nothing_and_runs_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.db");
    let log = dir.path().join("completions.log");
    let http = reqwest::Client::new();

    let (mut first, url) = start(&state);
    let pool = json!({"id": "p", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 2, "taskSlotsPerNode": 2});
    assert_eq!(post(&http, &url, "/pools", pool).await, 201);
    assert_eq!(
        post(
            &http,
            &url,
            "/jobs",
            json!({"id": "j", "poolInfo": {"poolId": "p"}})
        )
        .await,
        201
    );
    // Two tasks end shortly after the kill (while the emulator is down); two run on
    // past the restart. Each appends its id to the log when it completes.
    let task = |id: &str, secs: &str| json!({"id": id, "commandLine": format!("/bin/sh -c \"sleep {secs}; echo $AZ_BATCH_TASK_ID >> {}\"", log.display())});
    let tasks = json!({"value": [task("short1", "0.6"), task("short2", "0.6"), task("long1", "2.5"), task("long2", "2.5")]});
    assert_eq!(
        post(&http, &url, "/jobs/j/addtaskcollection", tasks).await,
        200
    );
    let nodes_before = wait(&http, &url, "/pools/p/nodes", "nodes", |b| {
        b["value"].as_array().is_some_and(|v| v.len() == 2)
    })
    .await;
    wait(
        &http,
        &url,
        "/jobs/j/tasks?$filter=state eq 'running'",
        "all tasks running",
        |b| b["value"].as_array().is_some_and(|v| v.len() == 4),
    )
    .await;

    first.kill().unwrap(); // SIGKILL: no shutdown code runs.
    first.wait().unwrap();
    // Let the short tasks finish while nothing is watching them.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let (mut second, url) = start(&state);
    let pool = get(&http, &url, "/pools/p").await;
    assert_eq!(pool["id"], "p");
    let nodes_after = get(&http, &url, "/pools/p/nodes").await;
    let ids = |b: &Value| {
        let mut v: Vec<String> = b["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        ids(&nodes_before),
        ids(&nodes_after),
        "the same nodes come back"
    );

    let job = wait(
        &http,
        &url,
        "/jobs/j/taskcounts",
        "all tasks completed",
        |c| c["taskCounts"]["completed"] == 4,
    )
    .await;
    assert_eq!(job["taskCounts"]["succeeded"], 4, "{job}");
    for id in ["short1", "short2"] {
        let t = get(&http, &url, &format!("/jobs/j/tasks/{id}")).await;
        assert_eq!(
            t["executionInfo"]["requeueCount"], 0,
            "{id} finished while down and counts as done: {t}"
        );
        assert_eq!(t["executionInfo"]["exitCode"], 0);
    }
    for id in ["long1", "long2"] {
        let t = get(&http, &url, &format!("/jobs/j/tasks/{id}")).await;
        assert_eq!(
            t["executionInfo"]["requeueCount"], 1,
            "{id} was requeued as on a lost node: {t}"
        );
        assert_eq!(
            t["executionInfo"]["retryCount"], 0,
            "a requeue is not a retry"
        );
    }
    // Every task completed exactly once: the killed runs never reached their echo.
    let mut lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    assert_eq!(lines, vec!["long1", "long2", "short1", "short2"]);

    second.kill().unwrap();
    second.wait().unwrap();
}
