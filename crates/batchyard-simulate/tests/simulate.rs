//! Simulations of real recipes, checked against hand computation where one exists.

use std::path::{Path, PathBuf};

use batchyard_compile::{CompileOptions, compile};
use batchyard_recipe::load;
use batchyard_recipe::render::Variables;
use batchyard_simulate::{
    BootModel, DurationModel, NoPrices, Options, Price, PriceBook, RunOutcome, Simulation, cost,
    run, workload,
};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn simulate_text(
    text: &str,
    base_dir: &Path,
    durations: &DurationModel,
    options: &Options,
) -> Simulation {
    let loaded = load("recipe.yaml", text, &Variables::new());
    let recipe = loaded
        .recipe
        .clone()
        .unwrap_or_else(|| panic!("recipe invalid: {:?}", loaded.diagnostics));
    let desired = compile(
        &recipe,
        &CompileOptions {
            base_dir: base_dir.to_path_buf(),
            ..CompileOptions::default()
        },
    )
    .unwrap_or_else(|d| panic!("compile failed: {d:?}"));
    let w = workload::build(&loaded, &desired, durations, options.seed)
        .unwrap_or_else(|e| panic!("workload: {e}"));
    run(&w, options)
}

fn fixed_boot(secs: f64) -> Options {
    Options {
        boot: BootModel::Fixed(secs),
        ..Options::default()
    }
}

fn sweep(tasks: u64, nodes: u32, slots: u32) -> String {
    format!(
        "recipe: sweep\npools:\n  - id: p\n    vm_size: Standard_D2s_v5\n    os: ubuntu-24.04\n    nodes: {{ dedicated: {nodes} }}\n    task_slots_per_node: {slots}\njobs:\n  - id: j\n    pool: p\n    tasks:\n      - id: \"t-{{{{ index }}}}\"\n        command: /bin/true\n        factory: {{ repeat: {tasks} }}\n"
    )
}

/// makespan = ceil(tasks / slots) x duration + boot, for fixed durations on fixed nodes.
#[test]
fn fixed_durations_on_fixed_nodes_match_hand_computation() {
    for (tasks, nodes, slots, duration, boot) in [
        (10u64, 2u32, 2u32, 60.0, 30.0),
        (1000, 4, 3, 7.5, 20.0),
        (5, 10, 1, 100.0, 45.0),
        (97, 3, 4, 1.0, 0.0),
    ] {
        let sim = simulate_text(
            &sweep(tasks, nodes, slots),
            Path::new("."),
            &DurationModel::Fixed(duration),
            &fixed_boot(boot),
        );
        let total_slots = u64::from(nodes * slots);
        let waves = tasks.div_ceil(total_slots) as f64;
        let expected = waves * duration + boot;
        assert!(sim.finished);
        assert_eq!(sim.tasks.succeeded, tasks);
        assert!(
            (sim.makespan_secs - expected).abs() < 1e-6,
            "{tasks} tasks on {nodes}x{slots}: {} s, expected {expected} s",
            sim.makespan_secs
        );
        // Every node is billed from request to the end of the run.
        let node_hours = f64::from(nodes) * expected / 3600.0;
        let pool = &sim.pools[0];
        assert!((pool.node_hours() - node_hours).abs() < 1e-9);
        assert!((pool.booting_node_hours - f64::from(nodes) * boot / 3600.0).abs() < 1e-9);
        let busy = tasks as f64 * duration / f64::from(slots) / 3600.0;
        assert!((pool.busy_node_hours - busy).abs() < 1e-9);
        assert!(
            (pool.idle_node_hours - (node_hours - busy - pool.booting_node_hours)).abs() < 1e-9
        );
        assert_eq!(sim.runs.len() as u64, tasks);
    }
}

/// The quickstart: 4 tasks on 2 nodes x 2 slots, then a summary task that depends on all
/// of them: boot + 2 x duration.
#[test]
fn quickstart_runs_the_merge_task_after_the_others() {
    let path = repo_root().join("recipes/quickstart/recipe.yaml");
    let text = std::fs::read_to_string(&path).expect("quickstart recipe");
    let sim = simulate_text(
        &text,
        path.parent().expect("dir"),
        &DurationModel::Fixed(30.0),
        &fixed_boot(40.0),
    );
    assert!(sim.finished);
    assert_eq!(sim.tasks.total, 5);
    assert!((sim.makespan_secs - (40.0 + 2.0 * 30.0)).abs() < 1e-6);
    let summary = sim.runs.iter().max_by_key(|r| r.start_ms).expect("a run");
    assert_eq!(summary.start_ms, 70_000);
    assert!(sim.notes.iter().any(|n| n.contains("start task")));
}

/// A 100,000-task sweep on an autoscaled pool: the pending-tasks scenario grows the pool
/// to its maximum, and every task runs.
#[test]
fn hundred_thousand_task_sweep_with_autoscale() {
    let text = "recipe: big\npools:\n  - id: p\n    vm_size: Standard_D2s_v5\n    os: ubuntu-24.04\n    task_slots_per_node: 4\n    autoscale:\n      scenario: pending_tasks\n      max_dedicated: 50\n      interval: 5m\njobs:\n  - id: j\n    pool: p\n    tasks:\n      - id: \"t-{{ index }}\"\n        command: /bin/true\n        factory: { repeat: 100000 }\n";
    let sim = simulate_text(
        text,
        Path::new("."),
        &DurationModel::Fixed(60.0),
        &fixed_boot(30.0),
    );
    assert!(sim.finished, "{:?}", sim.tasks);
    assert_eq!(sim.tasks.succeeded, 100_000);
    // The first evaluation (at 0 s) sees every task active and asks for the maximum.
    let first = &sim.autoscale[0];
    assert_eq!(first.at_secs, 0.0);
    assert_eq!(first.target_dedicated, 50);
    assert_eq!(sim.pools[0].max_nodes, 50);
    // With 50 nodes from the start, the hand computation holds: 100,000 / 200 slots = 500
    // waves of 60 s, after a 30 s boot.
    assert!((sim.makespan_secs - (500.0 * 60.0 + 30.0)).abs() < 1e-6);
    // Evaluations every 5 minutes over the run.
    let evaluations = sim.autoscale.len() as f64;
    let expected = (sim.makespan_secs / 300.0).floor() + 1.0;
    assert!(
        (evaluations - expected).abs() <= 1.0,
        "{evaluations} vs {expected}"
    );
    assert!(sim.autoscale.iter().all(|e| e.error.is_none()));
}

/// A formula that shrinks the pool once the queue drains releases idle nodes, so
/// node-hours are less than max nodes x makespan.
#[test]
fn autoscale_shrinks_when_the_queue_drains() {
    let text = "recipe: shrink\npools:\n  - id: p\n    vm_size: Standard_D2s_v5\n    os: ubuntu-24.04\n    autoscale:\n      formula: \"$TargetDedicatedNodes = min(10, $ActiveTasks.GetSample(1) + $RunningTasks.GetSample(1)); $NodeDeallocationOption = taskcompletion;\"\n      interval: 5m\njobs:\n  - id: j\n    pool: p\n    tasks:\n      - id: \"short-{{ index }}\"\n        command: /bin/true\n        factory: { repeat: 10 }\n      - id: long\n        command: /bin/true\n        depends_on: [short-0]\n";
    // short tasks 60 s each; the `long` one (not from a table) also 60 s but it starts
    // only after short-0; all finish within the first interval, so one evaluation after
    // start is enough to see the shrink when the run is longer: use 400 s durations.
    let sim = simulate_text(
        text,
        Path::new("."),
        &DurationModel::Fixed(400.0),
        &fixed_boot(30.0),
    );
    assert!(sim.finished);
    assert_eq!(sim.autoscale[0].target_dedicated, 10);
    // At 300 s, 10 short tasks run: target stays 10. At 600 s only `long` runs: target 1.
    let at_600 = sim
        .autoscale
        .iter()
        .find(|e| e.at_secs == 600.0)
        .expect("evaluation at 600 s");
    assert_eq!(at_600.target_dedicated, 1);
    assert_eq!(at_600.running_tasks, 1);
    // The node running `long` stays; the other nine left at 600 s.
    let gone: Vec<_> = sim.nodes.iter().filter(|n| n.gone_ms.is_some()).collect();
    assert_eq!(gone.len(), 9);
    assert!(gone.iter().all(|n| n.gone_ms == Some(600_000)));
    assert!(sim.pools[0].node_hours() < 10.0 * sim.makespan_secs / 3600.0);
}

#[test]
fn spot_preemption_requeues_and_still_finishes() {
    let text = "recipe: spot\npools:\n  - id: p\n    vm_size: Standard_D2s_v5\n    os: ubuntu-24.04\n    nodes: { spot: 5 }\njobs:\n  - id: j\n    pool: p\n    tasks:\n      - id: \"t-{{ index }}\"\n        command: /bin/true\n        factory: { repeat: 200 }\n";
    let options = Options {
        spot_preemptions_per_hour: 2.0,
        seed: 3,
        ..fixed_boot(30.0)
    };
    let sim = simulate_text(text, Path::new("."), &DurationModel::Fixed(600.0), &options);
    assert!(sim.finished);
    assert_eq!(sim.tasks.succeeded, 200);
    assert!(sim.pools[0].preemptions > 0);
    assert!(sim.tasks.requeued_runs > 0);
    let requeued = sim
        .runs
        .iter()
        .filter(|r| r.outcome == RunOutcome::Requeued)
        .count() as u64;
    assert_eq!(requeued, sim.tasks.requeued_runs);
    // Without preemption: 200 / 5 = 40 waves of 600 s plus boot; preemption costs time.
    assert!(sim.makespan_secs > 40.0 * 600.0 + 30.0);
    assert_eq!(sim.pools[0].dedicated_node_hours, 0.0);
    // Same seed, same result.
    let again = simulate_text(text, Path::new("."), &DurationModel::Fixed(600.0), &options);
    assert_eq!(again.makespan_secs, sim.makespan_secs);
}

#[test]
fn durations_from_a_table_column_and_measures() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("cases.csv"),
        "name,seconds\na,10\nb,20\nc,x\n",
    )
    .expect("csv");
    let text = "recipe: table\npools:\n  - id: p\n    vm_size: Standard_D2s_v5\n    os: ubuntu-24.04\n    nodes: { dedicated: 1 }\njobs:\n  - id: j\n    pool: p\n    tasks:\n      - id: first\n        command: /bin/true\n      - id: \"case-{{ item.name }}\"\n        command: /bin/true\n        factory: { table: { file: cases.csv } }\n";
    let model = DurationModel::Column {
        name: "seconds".into(),
        fallback: Box::new(DurationModel::Fixed(5.0)),
    };
    let sim = simulate_text(text, dir.path(), &model, &fixed_boot(0.0));
    // One node, one slot: 5 (first) + 10 + 20 + 5 (row c has no number).
    assert!((sim.makespan_secs - 40.0).abs() < 1e-6);
    assert!(sim.notes.iter().any(|n| n.contains("1 row(s)")));

    let mut by_task = std::collections::HashMap::new();
    by_task.insert(("j".to_string(), "case-b".to_string()), 100.0);
    let measured = DurationModel::Measured {
        by_task,
        fallback: Box::new(model),
    };
    let sim = simulate_text(text, dir.path(), &measured, &fixed_boot(0.0));
    assert!((sim.makespan_secs - 120.0).abs() < 1e-6);
}

#[test]
fn a_pool_with_no_nodes_never_finishes_and_says_so() {
    let sim = simulate_text(
        &sweep(3, 0, 1),
        Path::new("."),
        &DurationModel::Fixed(1.0),
        &fixed_boot(1.0),
    );
    assert!(!sim.finished);
    assert_eq!(sim.tasks.never_completed, 3);
}

struct TestPrices;

impl PriceBook for TestPrices {
    fn hourly(&self, _pool: &str, vm_size: &str, spot: bool) -> Option<Price> {
        (vm_size == "Standard_D2s_v5").then(|| Price {
            per_hour: if spot { 0.02 } else { 0.1 },
            currency: "USD".into(),
        })
    }
    fn source(&self) -> String {
        "test prices".into()
    }
}

#[test]
fn cost_is_node_hours_times_price_and_unknown_stays_unknown() {
    let sim = simulate_text(
        &sweep(10, 2, 1),
        Path::new("."),
        &DurationModel::Fixed(360.0),
        &fixed_boot(0.0),
    );
    // 5 waves of 6 minutes = 0.5 h on 2 nodes = 1 node-hour.
    let c = cost(&sim, &TestPrices);
    assert!((c.total.expect("priced") - 0.1).abs() < 1e-12);
    let unknown = cost(&sim, &NoPrices);
    assert_eq!(unknown.total, None);
    assert_eq!(unknown.pools[0].cost, None);
}
