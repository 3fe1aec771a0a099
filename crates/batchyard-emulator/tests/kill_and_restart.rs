//! Kill -9 of the emulator binary during a running job, then a restart on the same
//! state file: every record is still there, tasks that were running are requeued,
//! tasks that finished while it was down are not run again, and the job finishes.
//!
//! Five kill points, sharing one setup and one check: while the nodes boot, while
//! tasks wait for free slots, while every task runs (with tasks ending during the
//! downtime), after some tasks completed, and twice in a row (the second kill during
//! the recovery of the first).
//!
//! Nothing here waits for time to pass. Each task runs until the test releases it (a
//! file it polls for), so a task ends exactly where the test says: before the kill,
//! while the service is down (the test then waits for the supervisor's exit journal to
//! hold its exit), or only after the restarted service has requeued it.
#![allow(clippy::unwrap_used)] // Test helpers panic on purpose: a failure is the test failing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use batchyard_emulator::EmulatorConfig;
use batchyard_emulator::supervisor::read_exits;
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

/// A pool `p` of 2 nodes × 2 slots, a job `j` on it and `tasks`, each running until
/// the test releases it and then appending its id to `completions.log`; the job
/// terminates when all tasks are complete.
struct Trial {
    dir: tempfile::TempDir,
    http: reqwest::Client,
    child: Option<Child>,
    url: String,
    tasks: Vec<String>,
}

/// Long enough that no node finishes booting while a test looks.
const NEVER_MS: u64 = 3_600_000;
const FAST_BOOT_MS: u64 = 40;

impl Trial {
    async fn start(boot_delay_ms: u64, tasks: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let http = reqwest::Client::new();
        let (child, url) = start(&dir.path().join("state.db"), boot_delay_ms);
        let pool = json!({"id": "p", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 2, "taskSlotsPerNode": 2});
        assert_eq!(post(&http, &url, "/pools", pool).await, 201);
        let job = json!({"id": "j", "poolInfo": {"poolId": "p"}});
        assert_eq!(post(&http, &url, "/jobs", job).await, 201);
        let log = dir.path().join("completions.log");
        let gate = dir.path().join("release.");
        let value: Vec<Value> = tasks
            .iter()
            .map(|id| {
                let script = format!(
                    "while [ ! -e {gate}$AZ_BATCH_TASK_ID ]; do sleep 0.02; done; echo $AZ_BATCH_TASK_ID >> {log}",
                    gate = gate.display(),
                    log = log.display()
                );
                json!({"id": id, "commandLine": format!("/bin/sh -c \"{script}\"")})
            })
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
        let mut tasks: Vec<String> = tasks.iter().map(|id| (*id).to_string()).collect();
        tasks.sort();
        Self {
            dir,
            http,
            child: Some(child),
            url,
            tasks,
        }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state.db")
    }

    /// Lets task `id` finish (now, or as soon as it runs).
    fn release(&self, id: &str) {
        std::fs::write(self.dir.path().join(format!("release.{id}")), "").unwrap();
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

    /// Kill -9; returns the records the service answered for just before.
    async fn kill(&mut self) -> Value {
        let before = self.records().await;
        assert_eq!(before["tasks"], json!(self.tasks), "{before}");
        kill(self.child.take().unwrap());
        before
    }

    /// While the service is down: waits until the supervisor it left behind has
    /// journaled the exit of each of `ids` (a run that ended while nobody watched).
    async fn wait_journaled(&self, ids: &[&str]) {
        let work_dir = EmulatorConfig::new(self.state()).work_dir();
        let start = Instant::now();
        loop {
            let exits = read_exits(&work_dir);
            let missing: Vec<&&str> = ids
                .iter()
                .filter(|id| !exits.keys().any(|m| m.starts_with(&format!("j/{id}/"))))
                .collect();
            if missing.is_empty() {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "timed out waiting for the exits of {missing:?}: {exits:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Restart on the same state; every record is back.
    async fn restart(&mut self, before: Value, boot_delay_ms: u64) {
        let (child, url) = start(&self.state(), boot_delay_ms);
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

    async fn kill_and_restart(&mut self) {
        let before = self.kill().await;
        self.restart(before, FAST_BOOT_MS).await;
    }

    /// Waits until the service has requeued each of `ids` `times` times in all: the
    /// runs that were in flight at a kill are over, so a release now reaches only a
    /// new run.
    async fn wait_requeued(&self, ids: &[&str], times: u64) {
        for id in ids {
            self.wait(
                &format!("/jobs/j/tasks/{id}"),
                &format!("{id} requeued {times} times"),
                |t| t["executionInfo"]["requeueCount"] == times,
            )
            .await;
        }
    }

    /// Every task released; the job finishes: every task completed and succeeded, and
    /// each one's command ran to its end exactly once.
    async fn finishes(self) -> Self {
        for id in &self.tasks {
            self.release(id);
        }
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

async fn all_running(trial: &Trial, n: usize, what: &str) -> Value {
    trial
        .wait("/jobs/j/tasks?$filter=state eq 'running'", what, |b| {
            count(b) == n
        })
        .await
}

#[tokio::test]
async fn kill_nine_while_every_task_runs_loses_nothing_and_runs_nothing_twice() {
    // Two tasks end while the emulator is down; two run on past the restart.
    let mut trial = Trial::start(FAST_BOOT_MS, &["short1", "short2", "long1", "long2"]).await;
    all_running(&trial, 4, "all tasks running").await;
    let before = trial.kill().await;
    trial.release("short1");
    trial.release("short2");
    trial.wait_journaled(&["short1", "short2"]).await;
    trial.restart(before, FAST_BOOT_MS).await;
    trial.wait_requeued(&["long1", "long2"], 1).await;
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
    let mut trial = Trial::start(NEVER_MS, &["a", "b", "c"]).await;
    let running = trial.get("/jobs/j/tasks?$filter=state eq 'running'").await;
    assert_eq!(count(&running), 0, "nothing runs yet: {running}");
    let before = trial.kill().await;
    // The restarted service boots its nodes at once.
    trial.restart(before, FAST_BOOT_MS).await;
    let trial = trial.finishes().await;
    for id in ["a", "b", "c"] {
        assert_eq!(requeues(&trial, id).await, 0, "{id} never ran before");
    }
}

#[tokio::test]
async fn kill_nine_while_tasks_wait_for_slots() {
    // Eight tasks on four slots: four run, four wait.
    let tasks = ["r1", "r2", "r3", "r4", "w1", "w2", "w3", "w4"];
    let mut trial = Trial::start(FAST_BOOT_MS, &tasks).await;
    let running = all_running(&trial, 4, "four tasks running").await;
    let active = trial.get("/jobs/j/tasks?$filter=state eq 'active'").await;
    assert_eq!(count(&active), 4, "{active}");
    trial.kill_and_restart().await;
    let ran = ids(&running);
    let ran: Vec<&str> = ran.iter().map(String::as_str).collect();
    trial.wait_requeued(&ran, 1).await;
    let trial = trial.finishes().await;
    for id in ran {
        assert_eq!(requeues(&trial, id).await, 1, "{id} ran at the kill");
    }
}

#[tokio::test]
async fn kill_nine_after_some_tasks_completed() {
    let mut trial = Trial::start(FAST_BOOT_MS, &["quick1", "quick2", "slow1", "slow2"]).await;
    trial.release("quick1");
    trial.release("quick2");
    trial
        .wait("/jobs/j/taskcounts", "two tasks completed", |c| {
            c["taskCounts"]["completed"] == 2
        })
        .await;
    all_running(&trial, 2, "the slow tasks running").await;
    trial.kill_and_restart().await;
    trial.wait_requeued(&["slow1", "slow2"], 1).await;
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
    let mut trial = Trial::start(FAST_BOOT_MS, &["a", "b", "c"]).await;
    all_running(&trial, 3, "all tasks running").await;
    trial.kill_and_restart().await;
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
    trial.kill_and_restart().await;
    trial.wait_requeued(&["a", "b", "c"], 2).await;
    let trial = trial.finishes().await;
    for id in ["a", "b", "c"] {
        assert_eq!(requeues(&trial, id).await, 2, "{id} ran at both kills");
    }
}
