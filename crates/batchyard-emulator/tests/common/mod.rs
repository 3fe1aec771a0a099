//! Helpers shared by the integration tests: a started emulator and a thin client.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use batchyard_emulator::{Emulator, EmulatorConfig, RunningEmulator, SupervisorCommand};
use serde_json::{Value, json};

pub const API: &str = "api-version=2025-06-01.21.0";

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub emulator: Option<RunningEmulator>,
    pub http: reqwest::Client,
    pub url: String,
}

pub fn config(dir: &std::path::Path) -> EmulatorConfig {
    let mut config = EmulatorConfig::new(dir.join("state.db"));
    // The harness owns this test binary's main; the emulator's own binary hosts the
    // task supervisor.
    config.supervisor = SupervisorCommand::program(env!("CARGO_BIN_EXE_batchyard-emulator"));
    config.boot_delay = Duration::from_millis(60);
    config.tick = Duration::from_millis(20);
    config
}

impl Harness {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::start_with(dir, |_| {}).await
    }

    pub async fn start_with(
        dir: tempfile::TempDir,
        tweak: impl FnOnce(&mut EmulatorConfig),
    ) -> Self {
        let mut cfg = config(dir.path());
        tweak(&mut cfg);
        let emulator = Emulator::start(cfg).await.unwrap();
        let url = emulator.url();
        Self {
            dir,
            emulator: Some(emulator),
            http: reqwest::Client::new(),
            url,
        }
    }

    pub fn at(&self, path: &str) -> String {
        let sep = if path.contains('?') { '&' } else { '?' };
        format!("{}{path}{sep}{API}", self.url)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(self.at(path)).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.at(path))
            .header("content-type", "application/json; odata=minimalmetadata")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .patch(self.at(path))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Polls `path` until `done` holds for its body.
    pub async fn wait_for(
        &self,
        path: &str,
        what: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let start = Instant::now();
        loop {
            let (status, body) = self.get(path).await;
            if status == 200 && done(&body) {
                return body;
            }
            assert!(
                start.elapsed() < timeout,
                "timed out waiting for {what}; last answer {status}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn create_pool(&self, id: &str, nodes: u32, slots: u32, extra: Value) {
        let mut body = json!({
            "id": id,
            "vmSize": "Standard_D2s_v3",
            "virtualMachineConfiguration": {
                "imageReference": {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts"},
                "nodeAgentSKUId": "batch.node.ubuntu 22.04"
            },
            "targetDedicatedNodes": nodes,
            "taskSlotsPerNode": slots,
        });
        for (k, v) in extra.as_object().into_iter().flatten() {
            body[k] = v.clone();
        }
        let (status, err) = self.post("/pools", body).await;
        assert_eq!(status, 201, "{err}");
    }

    pub async fn wait_idle(&self, pool: &str, nodes: usize) -> Value {
        self.wait_for(
            &format!("/pools/{pool}/nodes"),
            "idle nodes",
            Duration::from_secs(20),
            |b| {
                let v = b["value"].as_array().cloned().unwrap_or_default();
                v.len() == nodes && v.iter().all(|n| n["state"] == "idle")
            },
        )
        .await
    }

    pub async fn shutdown(&mut self) {
        if let Some(e) = self.emulator.take() {
            e.shutdown().await.unwrap();
        }
    }
}
