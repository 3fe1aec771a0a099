//! Chaos: `apply` against a served emulator that answers 20% of requests with 429, 503
//! or 500 and drops 5% of connections. One apply per seed must succeed, and the job must
//! then hold every desired task exactly once (none missing, none twice, none extra), with
//! an empty plan afterwards.
//!
//! "Exactly once" is counted at the server: the emulator appends every task add that
//! reaches its store to an add log (`BATCHYARD_EMULATOR_ADD_LOG`), including adds it
//! answers `TaskExists`, since its primary key makes a stored duplicate impossible. The
//! emulator injects its faults before a request is applied, so the client never has to add
//! a task again to learn whether it was added: each id must be added exactly once.
//!
//! Short form (the CI default): 3 seeds × 1,000 tasks. Long form: `scripts/chaos`, which
//! runs this test in a release build with `BATCHYARD_CHAOS_SEEDS=20` and
//! `BATCHYARD_CHAOS_TASKS=10000`. `BATCHYARD_CHAOS_SEEDS` is a count (seeds 1..=N) or a
//! comma-separated list of seeds, to replay one run.
#![allow(clippy::unwrap_used)]

mod e2e;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use e2e::*;

/// Rates of the injected faults: 20% of requests answered 429, 503 or 500, plus 5% of
/// connections dropped before the answer is complete.
const THROTTLE: &str = "0.07";
const SERVER_BUSY: &str = "0.07";
const TIMEOUT: &str = "0.06";
const DROP: &str = "0.05";

/// `batchyard emulator serve` with faults on; killed on drop.
struct Faulty {
    child: Child,
    url: String,
}

impl Faulty {
    fn start(state: &Path, add_log: &Path, seed: u64) -> Self {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("batchyard"))
            .args(["emulator", "serve", "--boot-delay-ms", "50", "--state"])
            .arg(state)
            .args(["--fault-seed", &seed.to_string()])
            .args(["--fault-throttle", THROTTLE])
            .args(["--fault-server-busy", SERVER_BUSY])
            .args(["--fault-timeout", TIMEOUT])
            .args(["--fault-drop", DROP])
            .env_remove("AZURE_BATCH_ACCOUNT")
            .env_remove("AZURE_BATCH_ACCESS_KEY")
            .env("BATCHYARD_EMULATOR_ADD_LOG", add_log)
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
}

impl Drop for Faulty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// The seeds to run: `BATCHYARD_CHAOS_SEEDS` as a count N (seeds 1..=N) or a list.
fn seeds() -> Vec<u64> {
    match std::env::var("BATCHYARD_CHAOS_SEEDS") {
        Ok(v) if v.contains(',') => v.split(',').map(|s| s.trim().parse().unwrap()).collect(),
        Ok(v) => (1..=v.trim().parse::<u64>().unwrap()).collect(),
        Err(_) => vec![1, 2, 3],
    }
}

fn recipe(tasks: usize) -> String {
    // No nodes: the tasks stay queued, so only getting them in is under test.
    format!(
        r#"
recipe: chaos
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
        factory: {{ repeat: {tasks} }}
"#
    )
}

/// One seeded run; `Err` says how it failed.
fn run(seed: u64, tasks: usize) -> Result<(String, [usize; 4]), String> {
    let (dir, recipe_path) = recipe_dir(&recipe(tasks));
    let state = dir.path().join("emulator.db");
    let add_log = dir.path().join("adds.log");
    let faulty = Faulty::start(&state, &add_log, seed);
    let started = Instant::now();
    let out = batchyard()
        .args(["apply", "--yes", "-vv", "--account-url", &faulty.url])
        .arg(&recipe_path)
        .timeout(Duration::from_secs(600))
        .output()
        .unwrap();
    let took = started.elapsed();
    drop(faulty);
    if !out.status.success() {
        return Err(format!(
            "apply failed after {took:.1?} ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .join(" | ")
        ));
    }
    // The faults were met: the client logs each retry at -vv with the error it got.
    let log = String::from_utf8_lossy(&out.stderr);
    let retries: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("retrying Batch request"))
        .collect();
    let kind = |code: &str| retries.iter().filter(|l| l.contains(code)).count();
    let (r429, r503, r500) = (
        kind("answered 429"),
        kind("answered 503"),
        kind("answered 500"),
    );
    let met = [r429, r503, r500, retries.len() - r429 - r503 - r500];
    if retries.is_empty() {
        return Err("apply met no fault: the test proves nothing".into());
    }
    let retried = format!(
        "{} retries (429: {r429}, 503: {r503}, 500: {r500}, connection: {})",
        retries.len(),
        met[3]
    );

    // Every add the server applied, per id.
    let mut adds: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for line in std::fs::read_to_string(&add_log)
        .unwrap_or_default()
        .lines()
    {
        *adds.entry(line.to_owned()).or_default() += 1;
    }
    let twice: Vec<(&String, &usize)> = adds.iter().filter(|&(_, &n)| n > 1).collect();
    // What the job holds, through a fault-free emulator on the same state.
    let served = Served::start(&state);
    let client = served.client();
    let listed: std::collections::BTreeSet<String> =
        task_ids(&client, "many").into_iter().collect();
    let expected: std::collections::BTreeSet<String> =
        (0..tasks).map(|i| format!("t-{i}")).collect();
    let added: std::collections::BTreeSet<String> = adds
        .keys()
        .filter_map(|k| k.strip_prefix("many/"))
        .map(str::to_owned)
        .collect();
    let missing = expected.difference(&listed).count();
    let extra = listed.difference(&expected).count();
    let summary = format!(
        "apply {took:.1?} with {retried}, {} adds of {} distinct ids, {} ids added more than once, {} listed, {missing} missing, {extra} extra",
        adds.values().sum::<usize>(),
        adds.len(),
        twice.len(),
        listed.len()
    );
    if !twice.is_empty() || added != expected || missing + extra > 0 {
        return Err(format!(
            "{summary}; first ids added more than once: {:?}",
            &twice[..twice.len().min(5)]
        ));
    }
    let (code, plan) = plan_json(&[recipe_path.to_str().unwrap(), "--account-url", &served.url]);
    if code != 0 {
        return Err(format!("{summary}; plan not empty (exit {code}): {plan}"));
    }
    Ok((summary, met))
}

#[test]
fn apply_under_injected_faults_adds_every_task_exactly_once() {
    let tasks = env_or("BATCHYARD_CHAOS_TASKS", 1000usize);
    let seeds = seeds();
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut met = [0; 4];
    for &seed in &seeds {
        match run(seed, tasks) {
            Ok((summary, counts)) => {
                eprintln!("seed {seed}: {tasks} tasks: converged: {summary}");
                for (all, one) in met.iter_mut().zip(counts) {
                    *all += one;
                }
            }
            Err(why) => {
                eprintln!("seed {seed}: {tasks} tasks: FAILED: {why}");
                failures.push((seed, why));
            }
        }
    }
    let n = seeds.len();
    eprintln!(
        "{} of {n} converged ({tasks} tasks each, faults: 429 {THROTTLE}, 503 {SERVER_BUSY}, \
         500 {TIMEOUT}, dropped {DROP}; {:.1?} in all)",
        n - failures.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "seeds that did not converge: {failures:?}"
    );
    // Every kind of fault was met somewhere, or the runs did not test what they claim.
    assert!(
        met.iter().all(|&n| n > 0) || seeds.len() < 3,
        "retries met (429, 503, 500, connection): {met:?}"
    );
}
