//! The two ways an emulator runs: embedded in this process (`Emulator::start`) and
//! served by its own binary (`batchyard-emulator`). Every attack is tried on both.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use batchyard_emulator::{
    AccountKey, Emulator, EmulatorConfig, EmulatorError, RunningEmulator, SupervisorCommand,
};
use serde_json::{Value, json};

pub const API: &str = "api-version=2025-06-01.21.0";

/// How the service under attack runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Embedded,
    Served,
}

pub const KINDS: [Kind; 2] = [Kind::Embedded, Kind::Served];

/// What a test may ask of a starting service.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub account: Option<(String, String)>,
    pub bind: Option<std::net::IpAddr>,
    pub insecure_no_auth_on_network: bool,
    pub limits: Option<batchyard_emulator::listen::Limits>,
}

pub enum Handle {
    Embedded(Option<RunningEmulator>),
    Served(Child),
}

/// A running service.
pub struct Service {
    pub kind: Kind,
    pub url: String,
    pub state: PathBuf,
    pub handle: Handle,
    pub http: reqwest::Client,
}

/// Why a service did not start: the embedded error, or the served binary's stderr.
#[derive(Debug)]
pub enum StartFailure {
    Embedded(EmulatorError),
    Served(String),
}

impl StartFailure {
    pub fn text(&self) -> String {
        match self {
            StartFailure::Embedded(err) => err.to_string(),
            StartFailure::Served(text) => text.clone(),
        }
    }
}

pub fn config(state: &Path, options: &Options) -> EmulatorConfig {
    let mut config = EmulatorConfig::new(state);
    config.supervisor = SupervisorCommand::program(env!("CARGO_BIN_EXE_batchyard-emulator"));
    config.boot_delay = Duration::from_millis(50);
    config.tick = Duration::from_millis(20);
    if let Some((name, key)) = &options.account {
        config.account = Some(AccountKey {
            name: name.clone(),
            key: key.clone(),
        });
    }
    if let Some(ip) = options.bind {
        config.bind = std::net::SocketAddr::new(ip, 0);
    }
    config.insecure_no_auth_on_network = options.insecure_no_auth_on_network;
    if let Some(limits) = options.limits {
        config.limits = limits;
    }
    config
}

pub async fn start(kind: Kind, state: &Path, options: &Options) -> Result<Service, StartFailure> {
    let (url, handle) = match kind {
        Kind::Embedded => {
            let running = Emulator::start(config(state, options))
                .await
                .map_err(StartFailure::Embedded)?;
            (running.url(), Handle::Embedded(Some(running)))
        }
        Kind::Served => {
            let mut command = Command::new(env!("CARGO_BIN_EXE_batchyard-emulator"));
            command
                .arg("--state")
                .arg(state)
                .args(["--port", "0", "--boot-delay-ms", "50"])
                .env_remove("AZURE_BATCH_ACCOUNT")
                .env_remove("AZURE_BATCH_ACCESS_KEY")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            if let Some((name, key)) = &options.account {
                command.args(["--account", name, "--key", key]);
            }
            if let Some(ip) = options.bind {
                command.args(["--bind", &ip.to_string()]);
            }
            if options.insecure_no_auth_on_network {
                command.arg("--insecure-no-auth-on-network");
            }
            if let Some(limits) = options.limits {
                command
                    .arg("--max-connections")
                    .arg(limits.max_connections.to_string())
                    .arg("--header-read-timeout-ms")
                    .arg(limits.header_read_timeout.as_millis().to_string())
                    .arg("--idle-timeout-ms")
                    .arg(limits.idle_timeout.as_millis().to_string());
            }
            let mut child = command.spawn().expect("the emulator binary starts");
            let mut line = String::new();
            BufReader::new(child.stdout.take().expect("piped"))
                .read_line(&mut line)
                .expect("read the emulator's first line");
            if !line.starts_with("http://") {
                let _ = child.wait();
                let mut err = String::new();
                child
                    .stderr
                    .take()
                    .expect("piped")
                    .read_to_string(&mut err)
                    .expect("read stderr");
                return Err(StartFailure::Served(err));
            }
            // Nobody reads it from here on; a full pipe must not stall the service.
            drop(child.stderr.take());
            (line.trim().to_string(), Handle::Served(child))
        }
    };
    Ok(Service {
        kind,
        url,
        state: state.to_path_buf(),
        handle,
        http: reqwest::Client::new(),
    })
}

impl Service {
    pub fn at(&self, path: &str) -> String {
        let sep = if path.contains('?') { '&' } else { '?' };
        format!("{}{path}{sep}{API}", self.url)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(self.at(path)).send().await.expect("GET");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .request(method, self.at(path))
            .header("content-type", "application/json; odata=minimalmetadata")
            .body(body.to_string())
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, &body).await
    }

    /// Polls `path` until `done` holds.
    pub async fn wait_for(&self, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let (status, body) = self.get(path).await;
            if status == 200 && done(&body) {
                return body;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{:?}: timed out waiting for {what}; last answer {status}: {body}",
                self.kind
            );
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    }

    /// A one-node pool with a job on it.
    pub async fn pool_and_job(&self, pool: &str, job: &str) {
        let (status, body) = self.post("/pools", pool_body(pool)).await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = self
            .post("/jobs", json!({"id": job, "poolInfo": {"poolId": pool}}))
            .await;
        assert_eq!(status, 201, "{body}");
    }

    /// Adds a task and waits until it runs.
    pub async fn running_task(&self, job: &str, task: &str, command: &str) {
        let (status, body) = self
            .post(
                &format!("/jobs/{job}/tasks"),
                json!({"id": task, "commandLine": command}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        self.wait_for(
            &format!("/jobs/{job}/tasks/{task}"),
            "a running task",
            |t| t["state"] == "running",
        )
        .await;
    }

    /// Waits for a task to complete and returns it.
    pub async fn completed(&self, job: &str, task: &str) -> Value {
        self.wait_for(
            &format!("/jobs/{job}/tasks/{task}"),
            "a completed task",
            |t| t["state"] == "completed",
        )
        .await
    }

    /// The served binary's process id.
    pub fn pid(&self) -> u32 {
        match &self.handle {
            Handle::Served(child) => child.id(),
            Handle::Embedded(_) => std::process::id(),
        }
    }

    /// Stops the service: a clean shutdown embedded, SIGKILL served (the harder case
    /// for what the next start finds).
    pub async fn stop(mut self) {
        match &mut self.handle {
            Handle::Embedded(running) => {
                if let Some(running) = running.take() {
                    running.shutdown().await.expect("clean shutdown");
                }
            }
            Handle::Served(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Handle::Served(child) = &mut self.handle {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn pool_body(id: &str) -> Value {
    json!({
        "id": id,
        "vmSize": "Standard_D2s_v3",
        "virtualMachineConfiguration": {
            "imageReference": {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts"},
            "nodeAgentSKUId": "batch.node.ubuntu 22.04"
        },
        "targetDedicatedNodes": 1,
        "taskSlotsPerNode": 2,
    })
}
