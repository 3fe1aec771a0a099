//! `kill -9` of `batchyard apply` at seeded random points, ten trials: each trial kills
//! one apply on a fresh state, records what it left behind, then runs apply again; the
//! re-run converges to exactly the desired pools, jobs and task set, the job's end
//! condition is set only at the end, the pool's and job's desired-payload hashes are the
//! recipe's, and (last trial) the plan after it is empty.
//!
//! A kill point is a number of task adds, not a time: the local service apply starts
//! appends every task add it receives to its add log (`BATCHYARD_EMULATOR_ADD_LOG`), and
//! the test kills apply once the log holds that many. The same seed gives the same kill
//! points on any machine. The seed is fixed (`DEFAULT_SEED`) and printed;
//! `BATCHYARD_KILL_SEED` chooses another, `BATCHYARD_KILL_TRIALS` changes the number of
//! trials (default 10).
#![allow(clippy::unwrap_used)]

mod e2e;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use e2e::*;
use futures::TryStreamExt as _;
use rand::{Rng as _, SeedableRng as _};

const TASKS: usize = 1500;
const DEFAULT_SEED: u64 = 20_261_203;

/// What a killed apply left: pools, jobs, tasks in the job.
#[derive(Debug, Clone, Copy)]
#[allow(dead_code)] // Read through Debug, in the report of the kills.
struct Left {
    /// Adds seen in the add log when the kill was sent.
    after_adds: usize,
    pools: usize,
    jobs: usize,
    tasks: usize,
}

fn ids<T>(
    stream: futures::stream::BoxStream<'static, Result<T, batchyard_batch::ClientError>>,
    id: impl Fn(T) -> Option<String>,
) -> Vec<String> {
    let mut v: Vec<String> = block_on(stream.try_collect::<Vec<T>>())
        .unwrap()
        .into_iter()
        .filter_map(id)
        .collect();
    v.sort();
    v
}

/// The metadata of pool `queue` and job `many` (owner and desired-payload hash).
fn metadata(client: &batchyard_batch::BatchClient) -> serde_json::Value {
    let pool = serde_json::to_value(block_on(client.get_pool("queue")).unwrap()).unwrap();
    let job = serde_json::to_value(block_on(client.get_job("many")).unwrap()).unwrap();
    assert!(
        pool["metadata"].to_string().contains("batchyard.spec"),
        "{pool}"
    );
    serde_json::json!({ "pool": pool["metadata"], "job": job["metadata"] })
}

fn pools(client: &batchyard_batch::BatchClient) -> Vec<String> {
    ids(client.list_pools(&Default::default()), |p| p.id)
}

fn jobs(client: &batchyard_batch::BatchClient) -> Vec<String> {
    ids(client.list_jobs(&Default::default()), |j| j.id)
}

#[test]
fn apply_killed_at_random_points_then_rerun_converges_to_exactly_the_desired_state() {
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
    # Ending the job is what must come only after the last task is in.
    on_all_tasks_complete: terminate_job
    tasks:
      - id: "t-{{{{ index }}}}"
        command: /bin/sh -c 'echo {{{{ index }}}}'
        factory: {{ repeat: {TASKS} }}
      - id: last
        command: /bin/sh -c 'echo done'
        depends_on: all
"#
    );
    let seed: u64 = std::env::var("BATCHYARD_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    let trials: u64 = std::env::var("BATCHYARD_KILL_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    eprintln!("BATCHYARD_KILL_SEED={seed} BATCHYARD_KILL_TRIALS={trials}");

    // One uninterrupted apply: the reference for the desired pool and job.
    let (_timing_dir, timing_recipe) = recipe_dir(&text);
    let (child, _) = spawn_apply(&timing_recipe, &_timing_dir.path().join("adds.log"));
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");

    // The desired pool and job as that apply left them: their metadata carries the
    // hash of the desired payload (`batchyard.spec`), compared after every trial.
    let reference = {
        stop_local(&_timing_dir.path().join(".batchyard"));
        let served = Served::start(&_timing_dir.path().join(".batchyard/emulator.db"));
        metadata(&served.client())
    };

    // Each trial draws its kill point from its own seeded generator.
    let mut kills = Vec::new();
    for trial in 0..trials {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed.wrapping_add(trial));
        // Every task add, then the job's end condition after the last one.
        let after_adds = rng.random_range(0..=TASKS + 1);
        let left = trial_once(
            &text,
            &reference,
            seed,
            trial,
            after_adds,
            trial + 1 == trials,
        );
        kills.push((trial, left));
    }
    kills.sort_by_key(|(trial, _)| *trial);
    eprintln!("seed {seed}: kills (trial, what was left): {kills:?}");
    assert_eq!(kills.len(), usize::try_from(trials).unwrap());
    // The kills must have hit the middle of adding tasks at least once, or this test
    // proves nothing about convergence.
    assert!(
        kills
            .iter()
            .any(|(_, k)| k.tasks > 0 && k.tasks < TASKS + 1),
        "seed {seed}: no kill interrupted the task adds: {kills:?}"
    );
}

/// `batchyard apply --yes RECIPE` with stdout piped, its local service logging task adds
/// to `add_log`; returns once it printed a line.
fn spawn_apply(recipe: &Path, add_log: &Path) -> (Child, String) {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("batchyard"))
        .args(["apply", "--yes"])
        .arg(recipe)
        .env("NO_COLOR", "1")
        .env("BATCHYARD_EMULATOR_ADD_LOG", add_log)
        .env_remove("AZURE_BATCH_ENDPOINT")
        .env_remove("AZURE_BATCH_ACCOUNT")
        .env_remove("AZURE_BATCH_ACCESS_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    // The rest of the output goes nowhere, so the pipe never fills.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    (child, line.trim().to_owned())
}

/// Lines in the add log: the task adds the service has received so far.
fn adds(add_log: &Path) -> usize {
    std::fs::read(add_log).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
}

/// One trial on a fresh state: apply killed once its service received `after_adds` task
/// adds (or at its end, if it never does), then applied
/// again; the result is checked against the recipe (and, with `plan`, against an empty
/// plan). Returns what the kill left.
fn trial_once(
    text: &str,
    reference: &serde_json::Value,
    seed: u64,
    trial: u64,
    after_adds: usize,
    plan: bool,
) -> Left {
    let (dir, recipe) = recipe_dir(text);
    let state = dir.path().join(".batchyard/emulator.db");
    let add_log = dir.path().join("adds.log");
    let (mut child, _) = spawn_apply(&recipe, &add_log);
    let started = Instant::now();
    while adds(&add_log) < after_adds && child.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "seed {seed}, trial {trial}: apply stalled before {after_adds} adds"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    // SIGKILL: no cleanup of any kind runs.
    child.kill().unwrap();
    child.wait().unwrap();
    // The local service it started goes on; stopped, it leaves the state to read.
    stop_local(&dir.path().join(".batchyard"));

    // What the killed apply left behind, read through a served emulator on its state.
    let served = Served::start(&state);
    let client = served.client();
    let jobs_left = jobs(&client);
    let left = Left {
        after_adds,
        pools: pools(&client).len(),
        jobs: jobs_left.len(),
        tasks: if jobs_left.is_empty() {
            0
        } else {
            task_ids(&client, "many").len()
        },
    };
    if left.jobs == 1 && left.tasks < TASKS + 1 {
        let job = block_on(client.get_job("many")).unwrap();
        assert_ne!(
            job.all_tasks_complete_mode_for_test().as_deref(),
            Some("terminatejob"),
            "seed {seed}, trial {trial}: end condition set before the last task: {left:?}"
        );
    }
    drop(served);

    batchyard()
        .args(["apply", "--yes"])
        .arg(&recipe)
        .assert()
        .success();
    stop_local(&dir.path().join(".batchyard"));

    let served = Served::start(&state);
    let client = served.client();
    let context = format!("seed {seed}, trial {trial}, killed leaving {left:?}");
    let mut expected: Vec<String> = (0..TASKS).map(|i| format!("t-{i}")).collect();
    expected.push("last".into());
    expected.sort();
    assert_eq!(pools(&client), ["queue"], "{context}");
    assert_eq!(jobs(&client), ["many"], "{context}");
    assert_eq!(task_ids(&client, "many"), expected, "{context}");
    let job = block_on(client.get_job("many")).unwrap();
    assert_eq!(
        job.all_tasks_complete_mode_for_test(),
        Some("terminatejob".to_owned()),
        "{context}"
    );
    assert_eq!(&metadata(&client), reference, "{context}");
    if plan {
        // Nothing left to do: the live pools and jobs match the recipe field by field.
        let (code, plan) = plan_json(&[recipe.to_str().unwrap(), "--account-url", &served.url]);
        assert_eq!(code, 0, "{context}: {plan:#}");
    }
    left
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
