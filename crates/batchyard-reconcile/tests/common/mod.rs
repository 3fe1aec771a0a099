//! Shared by the integration tests: an emulator in this process and recipe loading.
#![allow(clippy::unwrap_used, dead_code)]

use std::time::Duration;

use batchyard_batch::BatchClient;
use batchyard_compile::CompileOptions;
use batchyard_emulator::{Emulator, EmulatorConfig, RunningEmulator, SupervisorCommand};
use batchyard_reconcile::{ApplyOptions, Event, Intent, Mode, Plan, PoolWait};

pub struct Env {
    pub emulator: RunningEmulator,
    pub client: BatchClient,
    _dir: tempfile::TempDir,
}

/// Not a test: the harness owns this binary's main, so the emulator's task
/// supervisor is this binary run again with only this entry selected (see
/// `SupervisorCommand::test_entry`). Run as a test, it returns at once.
#[test]
fn task_supervisor() {
    batchyard_emulator::supervisor::test_entry();
}

pub async fn emulator() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EmulatorConfig::new(dir.path().join("state.db"));
    config.boot_delay = Duration::from_millis(20);
    config.tick = Duration::from_millis(10);
    config.supervisor = SupervisorCommand::test_entry("common::task_supervisor");
    let emulator = Emulator::start(config).await.unwrap();
    let client = BatchClient::unauthenticated(&emulator.url()).unwrap();
    Env {
        emulator,
        client,
        _dir: dir,
    }
}

pub fn intent(text: &str) -> Intent {
    let loaded = batchyard_recipe::load("recipe.yaml", text, &Default::default());
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    let recipe = loaded.recipe.clone().unwrap();
    let desired = batchyard_compile::compile(&recipe, &CompileOptions::default()).unwrap();
    Intent::from_compiled(&loaded, &desired).unwrap()
}

pub async fn plan(client: &BatchClient, intent: &Intent) -> Plan {
    let observed = batchyard_reconcile::observe(client, intent).await.unwrap();
    batchyard_reconcile::diff(intent, &observed, Mode::Apply)
}

pub fn options() -> ApplyOptions {
    ApplyOptions {
        wait: PoolWait {
            timeout: Duration::from_secs(30),
            poll: Duration::from_millis(20),
            max_poll: Duration::from_millis(200),
        },
        ..ApplyOptions::default()
    }
}

pub fn quiet(_: Event) {}

pub async fn plan_and_apply(client: &BatchClient, intent: &Intent, options: &ApplyOptions) -> Plan {
    let plan = plan(client, intent).await;
    batchyard_reconcile::apply(client, intent, &plan, options, &quiet)
        .await
        .unwrap();
    plan
}

pub fn recipe(nodes: u32, vm: &str, tasks: u32) -> String {
    format!(
        r#"
recipe: t
pools:
  - id: cpu
    vm_size: {vm}
    os: ubuntu-22.04
    nodes: {{ dedicated: {nodes} }}
    task_slots_per_node: 2
    start_task:
      command: /bin/sh -c 'echo ready'
jobs:
  - id: work
    pool: cpu
    on_all_tasks_complete: no_action
    env: {{ A: "1" }}
    tasks:
      - id: "t-{{{{ index }}}}"
        command: /bin/sh -c 'echo {{{{ index }}}}'
        factory: {{ repeat: {tasks} }}
"#
    )
}
