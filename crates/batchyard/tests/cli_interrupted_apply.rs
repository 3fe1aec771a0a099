//! An apply killed at random points, five times, then run again: the live task set is
//! exactly the desired one, and the job's end condition is set only at the end.
#![allow(clippy::unwrap_used)]

mod e2e;

use std::process::Stdio;
use std::time::Duration;

use e2e::*;
use rand::{Rng as _, SeedableRng as _};

const TASKS: usize = 3000;

#[test]
fn an_apply_killed_five_times_then_rerun_converges_to_exactly_the_desired_tasks() {
    // No nodes: tasks stay queued, so only adding them is measured against the kills.
    let text = format!(
        r#"
recipe: interrupted
pools:
  - id: queue
    vm_size: Standard_D2s_v5
    os: ubuntu-22.04
    nodes: {{ dedicated: 0 }}
jobs:
  - id: many
    pool: queue
    tasks:
      - id: "t-{{{{ index }}}}"
        command: /bin/sh -c 'echo {{{{ index }}}}'
        factory: {{ repeat: {TASKS} }}
      - id: last
        command: /bin/sh -c 'echo done'
        depends_on: all
"#
    );
    // How long one uninterrupted apply takes here, so the kills land inside it.
    let (_timing_dir, timing_recipe) = recipe_dir(&text);
    let started = std::time::Instant::now();
    batchyard()
        .args(["apply", "--yes"])
        .arg(&timing_recipe)
        .assert()
        .success();
    let full = u64::try_from(started.elapsed().as_millis()).unwrap();
    let (dir, recipe) = recipe_dir(&text);
    let mut rng = rand::rngs::StdRng::seed_from_u64(6);
    let mut kills = Vec::new();
    for _ in 0..5 {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("batchyard"))
            .args(["apply", "--yes"])
            .arg(&recipe)
            .env("NO_COLOR", "1")
            .env_remove("AZURE_BATCH_ENDPOINT")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let delay = rng.random_range(full * 2 / 5..full);
        std::thread::sleep(Duration::from_millis(delay));
        // SIGKILL: no cleanup of any kind runs.
        child.kill().unwrap();
        child.wait().unwrap();
        // What the killed apply left behind, read through a served emulator on its state.
        let served = Served::start(&dir.path().join(".batchyard/emulator.db"));
        let client = served.client();
        let left = match block_on(client.get_job("many")) {
            Ok(_) => task_ids(&client, "many").len(),
            Err(_) => 0,
        };
        drop(served);
        kills.push((delay, left));
    }
    eprintln!("one apply: {full} ms; kills (ms, tasks left): {kills:?}");
    // The kills must have hit the middle of adding tasks at least once, or this test
    // proves nothing about convergence.
    assert!(
        kills.iter().any(|(_, left)| *left > 0 && *left < TASKS + 1),
        "no kill interrupted the task adds: {kills:?}"
    );
    batchyard()
        .args(["apply", "--yes"])
        .arg(&recipe)
        .assert()
        .success();

    let served = Served::start(&dir.path().join(".batchyard/emulator.db"));
    let client = served.client();
    let mut expected: Vec<String> = (0..TASKS).map(|i| format!("t-{i}")).collect();
    expected.push("last".into());
    expected.sort();
    assert_eq!(
        task_ids(&client, "many"),
        expected,
        "kills (ms, tasks left): {kills:?}"
    );
    let job = block_on(client.get_job("many")).unwrap();
    assert_eq!(
        job.all_tasks_complete_mode_for_test(),
        Some("terminatejob".to_owned())
    );
    let (code, plan) = plan_json(&[recipe.to_str().unwrap(), "--account-url", &served.url]);
    assert_eq!(code, 0, "{plan:#}");
}

trait EndCondition {
    fn all_tasks_complete_mode_for_test(&self) -> Option<String>;
}

impl EndCondition for batchyard_batch::models::BatchJob {
    fn all_tasks_complete_mode_for_test(&self) -> Option<String> {
        serde_json::to_value(self).unwrap()["onAllTasksComplete"]
            .as_str()
            .map(str::to_owned)
    }
}
