//! Helpers for the end-to-end scenarios: the built binary, recipes in temporary
//! directories, and a served emulator as a child process.
#![allow(clippy::unwrap_used, dead_code)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use assert_cmd::Command;

/// The CLI with a clean environment: no colour, no Azure variables, and a local service
/// that stops 5 s after its work (or at once when its temporary folder is deleted).
pub fn batchyard() -> Command {
    let mut cmd = Command::cargo_bin("batchyard").unwrap();
    cmd.env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .env("BATCHYARD_LOCAL_IDLE_TIMEOUT", "5s")
        .env_remove("AZURE_BATCH_ENDPOINT")
        .env_remove("AZURE_BATCH_ACCOUNT")
        .env_remove("AZURE_BATCH_ACCESS_KEY")
        .env_remove("RUST_LOG")
        .env_remove("BATCHYARD_REGION")
        // Plans never ask the public price API from tests: those about prices point it
        // at a local server.
        .env("BATCHYARD_RETAIL_PRICES_URL", "off");
    cmd
}

pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// A recipe with one pool and one job of `tasks` echo tasks; `nodes`, `vm` and `tasks`
/// are variables, so scenarios change them with `--var`.
pub const SMALL: &str = r#"
recipe: small
variables: { nodes: 1, vm: Standard_D2s_v5, tasks: 3 }
pools:
  - id: cpu
    vm_size: "{{ vm }}"
    os: ubuntu-22.04
    nodes: { dedicated: "{{ nodes }}" }
    task_slots_per_node: 2
jobs:
  - id: work
    pool: cpu
    on_all_tasks_complete: no_action
    tasks:
      - id: "t-{{ index }}"
        command: /bin/sh -c 'echo task {{ index }}'
        factory: { repeat: "{{ tasks }}" }
"#;

/// Writes `text` as `recipe.yaml` in a new temporary directory.
pub fn recipe_dir(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recipe.yaml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// Stops the local service of a state folder, if one runs (`batchyard local stop`).
pub fn stop_local(state_dir: &Path) {
    batchyard()
        .args(["local", "stop", "--state-dir"])
        .arg(state_dir)
        .assert()
        .success();
}

/// `batchyard emulator serve` in the background; killed on drop.
pub struct Served {
    child: Child,
    pub url: String,
}

impl Served {
    pub fn start(state: &Path) -> Self {
        Self::start_with(state, &[])
    }

    /// Served with more `emulator serve` options, e.g. injected failures.
    pub fn start_with(state: &Path, options: &[&str]) -> Self {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("batchyard"))
            .args(["emulator", "serve", "--boot-delay-ms", "50", "--state"])
            .arg(state)
            .args(options)
            .env_remove("AZURE_BATCH_ACCOUNT")
            .env_remove("AZURE_BATCH_ACCESS_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line.trim().to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "{url:?}");
        Self { child, url }
    }

    pub fn client(&self) -> batchyard_batch::BatchClient {
        batchyard_batch::BatchClient::unauthenticated(&self.url).unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs an async block on a small runtime (tests talk to the emulator directly).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// The ids of every task of a job, sorted.
pub fn task_ids(client: &batchyard_batch::BatchClient, job: &str) -> Vec<String> {
    use futures::TryStreamExt as _;
    let options = batchyard_batch::ListOptions {
        select: Some("id".into()),
        ..Default::default()
    };
    let tasks: Vec<batchyard_batch::models::BatchTask> =
        block_on(client.list_tasks(job, &options).try_collect()).unwrap();
    let mut ids: Vec<String> = tasks.into_iter().filter_map(|t| t.id).collect();
    ids.sort();
    ids
}

/// `plan --output json` parsed, with the exit code.
pub fn plan_json(args: &[&str]) -> (i32, serde_json::Value) {
    let out = batchyard()
        .arg("plan")
        .args(args)
        .args(["--output", "json", "--detailed-exitcode"])
        .output()
        .unwrap();
    let code = out.status.code().unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "plan printed no JSON ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, json)
}

/// The `change` of every action in a JSON plan.
pub fn changes(plan: &serde_json::Value) -> Vec<String> {
    plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["change"].as_str().unwrap().to_owned())
        .collect()
}
