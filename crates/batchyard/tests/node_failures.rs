//! The failures of the real service, injected by `batchyard emulator serve` and surfaced by
//! `apply` and `run`: a resize cut short by the account's core quota, spot nodes preempted
//! while their tasks run, nodes that come up unusable. Each test serves an emulator with
//! the injection options and drives the CLI at it; waits are the CLI's own, bounded by
//! its timeouts and the test's.
#![allow(clippy::unwrap_used)]

mod e2e;

use std::time::Duration;

use batchyard_batch::ListOptions;
use batchyard_batch::models::{BatchPool, BatchTask};
use e2e::*;
use futures::TryStreamExt as _;
use predicates::prelude::*;

const LIMIT: Duration = Duration::from_secs(120);

fn pool(client: &batchyard_batch::BatchClient, id: &str) -> BatchPool {
    block_on(client.get_pool(id)).unwrap()
}

fn tasks(client: &batchyard_batch::BatchClient, job: &str) -> Vec<BatchTask> {
    block_on(
        client
            .list_tasks(job, &ListOptions::default())
            .try_collect(),
    )
    .unwrap()
}

#[test]
fn a_resize_beyond_the_dedicated_core_quota_fails_apply_naming_the_code() {
    let dir = tempfile::tempdir().unwrap();
    // Standard_D2s_v5 has 2 vCPUs: 5 cores hold 2 of the 3 nodes asked for.
    let served = Served::start_with(
        &dir.path().join("emulator.db"),
        &["--dedicated-core-quota", "5"],
    );
    let (_recipe_dir, recipe) = recipe_dir(SMALL);
    batchyard()
        .args([
            "apply",
            "--yes",
            "--var",
            "nodes=3",
            "--account-url",
            &served.url,
        ])
        .arg(&recipe)
        .timeout(LIMIT)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "pool cpu failed to resize: AccountCoreQuotaReached",
        ))
        // The message is wrapped to the terminal's width.
        .stderr(predicate::str::contains("The specified account"))
        .stderr(predicate::str::contains("has reached core quota"))
        .stderr(predicate::str::contains("request a quota"));
    let live = pool(&served.client(), "cpu");
    assert_eq!(
        live.current_dedicated_nodes,
        Some(2),
        "what fits is allocated"
    );
    assert_eq!(
        live.target_dedicated_nodes,
        Some(3),
        "the target stays as asked"
    );
    assert_eq!(
        live.allocation_state
            .map(|s| s.as_str().to_owned())
            .as_deref(),
        Some("steady")
    );
    let errors = live.resize_errors.unwrap_or_default();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].code.as_deref(), Some("AccountCoreQuotaReached"));
}

const SPOT: &str = r#"
recipe: spot
variables: { spot: 2, tasks: 6, seconds: 1 }
pools:
  - id: cheap
    vm_size: Standard_D2s_v5
    os: ubuntu-22.04
    nodes: { spot: "{{ spot }}" }
jobs:
  - id: work
    pool: cheap
    tasks:
      - id: "t-{{ index }}"
        command: /bin/sh -c 'sleep {{ seconds }}; echo done {{ index }}'
        factory: { repeat: "{{ tasks }}" }
"#;

#[test]
fn a_resize_beyond_the_spot_core_quota_names_the_low_priority_code() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start_with(&dir.path().join("emulator.db"), &["--spot-core-quota", "2"]);
    let (_recipe_dir, recipe) = recipe_dir(SPOT);
    batchyard()
        .args(["apply", "--yes", "--account-url", &served.url])
        .arg(&recipe)
        .timeout(LIMIT)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "pool cheap failed to resize: AccountLowPriorityCoreQuotaReached",
        ))
        .stderr(predicate::str::contains("spot/low-priority core quota"));
    assert_eq!(
        pool(&served.client(), "cheap").current_low_priority_nodes,
        Some(1)
    );
}

#[test]
fn run_completes_every_task_when_spot_nodes_are_preempted_and_reports_the_requeues() {
    let dir = tempfile::tempdir().unwrap();
    // A node is preempted every 2 s, a busy one first, and comes back 1 s later; the six
    // 1 s tasks keep both nodes busy for 3 s, so a preemption stops one of them.
    let served = Served::start_with(
        &dir.path().join("emulator.db"),
        &["--preempt-spot-every", "2s", "--fault-seed", "3"],
    );
    let (_recipe_dir, recipe) = recipe_dir(SPOT);
    batchyard()
        .args(["run", "--account-url", &served.url])
        .arg(&recipe)
        .timeout(LIMIT)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "job work: 6 succeeded, 0 failed (6 task(s))",
        ))
        .stdout(predicate::str::contains("task(s) requeued"));
    let tasks = tasks(&served.client(), "work");
    assert_eq!(tasks.len(), 6);
    let mut requeues = 0;
    for task in &tasks {
        let info = task.execution_info.as_ref().unwrap();
        assert_eq!(info.exit_code, Some(0), "{task:?}");
        // A preemption is not a failure of the task: it is requeued, not retried.
        assert_eq!(info.retry_count, 0, "{task:?}");
        requeues += info.requeue_count;
    }
    assert!(requeues > 0, "no task was requeued: {tasks:?}");
}

#[test]
fn unusable_nodes_are_named_with_their_error_code() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start_with(&dir.path().join("emulator.db"), &["--unusable-nodes", "1"]);
    let (_recipe_dir, recipe) = recipe_dir(SMALL);
    batchyard()
        .args(["apply", "--yes", "--account-url", &served.url])
        .arg(&recipe)
        .timeout(LIMIT)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("pool cpu: no node is usable"))
        .stderr(predicate::str::contains(
            "is unusable: InjectedNodeFailure:",
        ));
    batchyard()
        .args(["status", "--account-url", &served.url])
        .arg(&recipe)
        .timeout(LIMIT)
        .assert()
        .success()
        .stdout(predicate::str::contains("1 unusable"))
        .stdout(predicate::str::contains("InjectedNodeFailure"));
}

#[test]
fn the_service_refuses_a_share_of_unusable_nodes_outside_zero_to_one() {
    let dir = tempfile::tempdir().unwrap();
    batchyard()
        .args(["emulator", "serve", "--unusable-nodes", "2", "--state"])
        .arg(dir.path().join("emulator.db"))
        .timeout(LIMIT)
        .assert()
        .failure()
        .stderr(predicate::str::contains("between 0 and 1"));
}
