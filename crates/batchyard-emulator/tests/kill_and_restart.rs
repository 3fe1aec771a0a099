//! Kill -9 of the emulator binary during a running job, then a restart on the same
//! state file: every record is still there, tasks that were running are requeued,
//! tasks that finished while it was down are not run again, and the job finishes.
//!
//! Five kill points, sharing one setup and one check: while the nodes boot, while
//! tasks wait for free slots, while every task runs (with tasks ending during the
//! downtime), after some tasks completed, and twice in a row (the second kill during
//! the recovery of the first).
#![allow(clippy::unwrap_used)] // Test helpers panic on purpose: a failure is the test failing.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const API: &str = "api-version=2025-06-01.21.0";

fn start(state: &Path, boot_delay_ms: u64) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_batchyard-emulator"))
        .arg("--state")
        .arg(state)
        .args(["--port", "0", "--boot-delay-ms", &boot_delay_ms.to_string()])
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
    send(http.post(format!("{url}{path}?{API}")), body).await
}

async fn patch(http: &reqwest::Client, url: &str, path: &str, body: Value) -> u16 {
    send(http.patch(format!("{url}{path}?{API}")), body).await
}

async fn send(request: reqwest::RequestBuilder, body: Value) -> u16 {
    request
        .header("content-type", "application/json")
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

/// SIGKILL: no shutdown code runs.
fn kill(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

fn ids(body: &Value) -> Vec<String> {
    let mut v: Vec<String> = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

fn count(body: &Value) -> usize {
    body["value"].as_array().map_or(0, Vec::len)
}

/// A pool `p` of 2 nodes × 2 slots, a job `j` on it and `tasks` (id, seconds of sleep),
/// each appending its id to `completions.log` when it completes; the job terminates
/// when all tasks are complete.
struct Trial {
    dir: tempfile::TempDir,
    http: reqwest::Client,
    child: Option<Child>,
    url: String,
    boot_delay_ms: u64,
    tasks: Vec<String>,
}

impl Trial {
    async fn start(boot_delay_ms: u64, tasks: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let http = reqwest::Client::new();
        let (child, url) = start(&dir.path().join("state.db"), boot_delay_ms);
        let pool = json!({"id": "p", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 2, "taskSlotsPerNode": 2});
        assert_eq!(post(&http, &url, "/pools", pool).await, 201);
        let job = json!({"id": "j", "poolInfo": {"poolId": "p"}});
        assert_eq!(post(&http, &url, "/jobs", job).await, 201);
        let log = dir.path().join("completions.log");
        let value: Vec<Value> = tasks
            .iter()
            .map(|(id, secs)| json!({"id": id, "commandLine": format!("/bin/sh -c \"sleep {secs}; echo $AZ_BATCH_TASK_ID >> {}\"", log.display())}))
            .collect();
        assert_eq!(
            post(
                &http,
                &url,
                "/jobs/j/addtaskcollection",
                json!({ "value": value })
            )
            .await,
            200
        );
        let end = json!({"onAllTasksComplete": "terminatejob"});
        assert_eq!(patch(&http, &url, "/jobs/j", end).await, 200);
        let mut tasks: Vec<String> = tasks.iter().map(|(id, _)| (*id).to_string()).collect();
        tasks.sort();
        Self {
            dir,
            http,
            child: Some(child),
            url,
            boot_delay_ms,
            tasks,
        }
    }

    async fn wait(&self, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        wait(&self.http, &self.url, path, what, done).await
    }

    async fn get(&self, path: &str) -> Value {
        get(&self.http, &self.url, path).await
    }

    /// Every record the service answered for: pool, nodes, job and task ids.
    async fn records(&self) -> Value {
        json!({
            "pools": ids(&self.get("/pools").await),
            "nodes": ids(&self.get("/pools/p/nodes").await),
            "jobs": ids(&self.get("/jobs").await),
            "tasks": ids(&self.get("/jobs/j/tasks").await),
        })
    }

    /// Kill -9, `down` of downtime, restart on the same state; every record is back.
    async fn kill_and_restart(&mut self, down: Duration) {
        let before = self.records().await;
        assert_eq!(before["tasks"], json!(self.tasks), "{before}");
        kill(self.child.take().unwrap());
        tokio::time::sleep(down).await;
        let (child, url) = start(&self.dir.path().join("state.db"), self.boot_delay_ms);
        self.child = Some(child);
        self.url = url;
        let after = self.records().await;
        if before["nodes"].as_array().is_some_and(|n| n.is_empty()) {
            // Killed before the nodes were recorded: the resize goes on after the restart.
            assert_eq!(
                json!([before["pools"], before["jobs"], before["tasks"]]),
                json!([after["pools"], after["jobs"], after["tasks"]])
            );
        } else {
            assert_eq!(before, after, "every record comes back");
        }
    }

    /// The job finishes: every task completed and succeeded, and each one's command ran
    /// to its end exactly once.
    async fn finishes(self) -> Self {
        self.wait("/jobs/j", "the job to complete", |j| {
            j["state"] == "completed"
        })
        .await;
        let counts = self.get("/jobs/j/taskcounts").await;
        let n = self.tasks.len();
        assert_eq!(counts["taskCounts"]["completed"], n, "{counts}");
        assert_eq!(counts["taskCounts"]["succeeded"], n, "{counts}");
        let mut lines: Vec<String> =
            std::fs::read_to_string(self.dir.path().join("completions.log"))
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect();
        lines.sort();
        assert_eq!(lines, self.tasks, "each task completed exactly once");
        self
    }
}

impl Drop for Trial {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            kill(child);
        }
    }
}

async fn requeues(trial: &Trial, id: &str) -> Value {
    let t = trial.get(&format!("/jobs/j/tasks/{id}")).await;
    assert_eq!(t["executionInfo"]["exitCode"], 0, "{t}");
    assert_eq!(
        t["executionInfo"]["retryCount"], 0,
        "a requeue is not a retry: {t}"
    );
    t["executionInfo"]["requeueCount"].clone()
}

#[tokio::test]
async fn kill_nine_while_every_task_runs_loses_nothing_and_runs_nothing_twice() {
    // Two tasks end shortly after the kill (while the emulator is down); two run on
    // past the restart.
    let tasks = [
        ("short1", "0.6"),
        ("short2", "0.6"),
        ("long1", "2.5"),
        ("long2", "2.5"),
    ];
    let mut trial = Trial::start(40, &tasks).await;
    trial
        .wait("/pools/p/nodes", "nodes", |b| count(b) == 2)
        .await;
    trial
        .wait(
            "/jobs/j/tasks?$filter=state eq 'running'",
            "all tasks running",
            |b| count(b) == 4,
        )
        .await;
    // Let the short tasks finish while nothing is watching them.
    trial.kill_and_restart(Duration::from_millis(1500)).await;
    let trial = trial.finishes().await;
    for id in ["short1", "short2"] {
        assert_eq!(
            requeues(&trial, id).await,
            0,
            "{id} finished while down and counts as done"
        );
    }
    for id in ["long1", "long2"] {
        assert_eq!(
            requeues(&trial, id).await,
            1,
            "{id} was requeued as on a lost node"
        );
    }
}

#[tokio::test]
async fn kill_nine_while_the_nodes_boot() {
    let tasks = [("a", "0.2"), ("b", "0.2"), ("c", "0.2")];
    let mut trial = Trial::start(1500, &tasks).await;
    let running = trial.get("/jobs/j/tasks?$filter=state eq 'running'").await;
    assert_eq!(count(&running), 0, "nothing runs yet: {running}");
    trial.kill_and_restart(Duration::from_millis(200)).await;
    let trial = trial.finishes().await;
    for id in ["a", "b", "c"] {
        assert_eq!(requeues(&trial, id).await, 0, "{id} never ran before");
    }
}

#[tokio::test]
async fn kill_nine_while_tasks_wait_for_slots() {
    // Eight tasks on four slots: four run, four wait.
    let tasks = [
        ("r1", "1.5"),
        ("r2", "1.5"),
        ("r3", "1.5"),
        ("r4", "1.5"),
        ("w1", "0.2"),
        ("w2", "0.2"),
        ("w3", "0.2"),
        ("w4", "0.2"),
    ];
    let mut trial = Trial::start(40, &tasks).await;
    let running = trial
        .wait(
            "/jobs/j/tasks?$filter=state eq 'running'",
            "four tasks running",
            |b| count(b) == 4,
        )
        .await;
    let active = trial.get("/jobs/j/tasks?$filter=state eq 'active'").await;
    assert_eq!(count(&active), 4, "{active}");
    trial.kill_and_restart(Duration::from_millis(100)).await;
    let trial = trial.finishes().await;
    for id in ids(&running) {
        assert_eq!(requeues(&trial, &id).await, 1, "{id} ran at the kill");
    }
}

#[tokio::test]
async fn kill_nine_after_some_tasks_completed() {
    let tasks = [
        ("quick1", "0.1"),
        ("quick2", "0.1"),
        ("slow1", "2"),
        ("slow2", "2"),
    ];
    let mut trial = Trial::start(40, &tasks).await;
    trial
        .wait("/jobs/j/taskcounts", "two tasks completed", |c| {
            c["taskCounts"]["completed"] == 2
        })
        .await;
    trial.kill_and_restart(Duration::from_millis(100)).await;
    let trial = trial.finishes().await;
    for id in ["quick1", "quick2"] {
        assert_eq!(
            requeues(&trial, id).await,
            0,
            "{id} completed before the kill"
        );
    }
    for id in ["slow1", "slow2"] {
        assert_eq!(requeues(&trial, id).await, 1, "{id} ran at the kill");
    }
}

#[tokio::test]
async fn kill_nine_twice_in_a_row() {
    let tasks = [("a", "1.5"), ("b", "1.5"), ("c", "1.5")];
    let mut trial = Trial::start(40, &tasks).await;
    trial
        .wait(
            "/jobs/j/tasks?$filter=state eq 'running'",
            "all tasks running",
            |b| count(b) == 3,
        )
        .await;
    trial.kill_and_restart(Duration::from_millis(100)).await;
    // The requeued tasks run again; the second kill lands in that second run.
    trial
        .wait(
            "/jobs/j/tasks?$filter=state eq 'running'",
            "all tasks running again",
            |b| {
                count(b) == 3
                    && b["value"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|t| t["executionInfo"]["requeueCount"] == 1)
            },
        )
        .await;
    trial.kill_and_restart(Duration::from_millis(100)).await;
    let trial = trial.finishes().await;
    for id in ["a", "b", "c"] {
        assert_eq!(requeues(&trial, id).await, 2, "{id} ran at both kills");
    }
}
