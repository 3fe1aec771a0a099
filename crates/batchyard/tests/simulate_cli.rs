//! `batchyard simulate` end to end: the built binary on real recipes, and durations
//! measured from a real run on the local service.
#![allow(clippy::unwrap_used)]

mod e2e;

use e2e::*;

fn simulate_json(args: &[&str]) -> (i32, serde_json::Value) {
    let out = batchyard()
        .arg("simulate")
        .args(args)
        .args(["--output", "json"])
        .output()
        .unwrap();
    let doc = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap(), doc)
}

#[test]
fn quickstart_makespan_is_boot_plus_two_waves() {
    let recipe = repo("recipes/quickstart/recipe.yaml");
    let (code, doc) = simulate_json(&[
        recipe.to_str().unwrap(),
        "--duration",
        "30s",
        "--boot",
        "40s",
        "--start",
        "2026-01-05T09:00:00Z",
    ]);
    assert_eq!(code, 0, "{doc}");
    let sim = &doc["simulation"];
    assert_eq!(sim["makespan_secs"], 100.0);
    assert_eq!(sim["tasks"]["succeeded"], 5);
    assert_eq!(doc["model"]["start"], "2026-01-05T09:00:00Z");
    assert_eq!(doc["cost"]["total"], serde_json::Value::Null);
    // Human output says the same.
    let out = batchyard()
        .args([
            "simulate",
            recipe.to_str().unwrap(),
            "--duration",
            "30s",
            "--boot",
            "40s",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("makespan   1m 40s"), "{text}");
    assert!(text.contains("price unknown"), "{text}");
    // --report writes the simulated run's timeline: one bar per task run.
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("sim.html");
    batchyard()
        .args([
            "simulate",
            recipe.to_str().unwrap(),
            "--duration",
            "30s",
            "--report",
        ])
        .arg(&page)
        .assert()
        .success();
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(html.matches("<rect class=\"bar succeeded\"").count(), 5);
    assert!(html.contains("summary") && !html.contains("<script"));
}

#[test]
fn bad_models_are_usage_errors_that_say_what_to_write() {
    let recipe = repo("recipes/quickstart/recipe.yaml");
    for (args, help) in [
        (vec!["--duration", "uniform:90s"], "uniform:30s..90s"),
        (vec!["--duration", "column:secs"], "--fallback"),
        (
            vec!["--duration", "30s", "--boot", "50s..10s"],
            "shorter time first",
        ),
        (
            vec!["--duration", "30s", "--fallback", "2s"],
            "drop --fallback",
        ),
    ] {
        let out = batchyard()
            .arg("simulate")
            .arg(&recipe)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(help), "{args:?}: {err}");
    }
}

#[test]
fn a_pool_without_nodes_exits_1_with_tasks_never_completed() {
    let (_dir, path) = recipe_dir(SMALL);
    let (code, doc) = simulate_json(&[
        path.to_str().unwrap(),
        "--var",
        "nodes=0",
        "--duration",
        "5s",
    ]);
    assert_eq!(code, 1);
    assert_eq!(doc["simulation"]["finished"], false);
    assert_eq!(doc["simulation"]["tasks"]["never_completed"], 3);
}

#[test]
fn measured_durations_come_from_the_last_local_run() {
    let text = SMALL.replace("echo task {{ index }}", "sleep 0.{{ index }}");
    let (dir, path) = recipe_dir(&text);
    batchyard().arg("run").arg(&path).assert().success();
    let (code, doc) = simulate_json(&[
        path.to_str().unwrap(),
        "--duration",
        "measured",
        "--fallback",
        "1000s",
        "--boot",
        "0s",
    ]);
    stop_local(&dir.path().join(".batchyard"));
    assert_eq!(code, 0, "{doc}");
    let model = doc["model"]["durations"].as_str().unwrap();
    assert!(
        model.starts_with("measured in a previous run (3 tasks"),
        "{model}"
    );
    // Every task was measured (none took the 1000 s fallback), and the measured sleeps
    // are short: one node with two slots runs them in well under the fallback.
    let makespan = doc["simulation"]["makespan_secs"].as_f64().unwrap();
    assert!(makespan > 0.0 && makespan < 100.0, "{makespan}");
}

#[test]
fn simulated_cost_and_report_use_the_snapshot_price_with_its_source() {
    // Two spot nodes of Standard_D4_v2 (8 slots each), whose westus Spot price is in
    // batchyard's snapshot (0.113812 per node-hour): 16 tasks of 60 s run in one wave,
    // so the makespan is the 40 s boot plus 60 s, and each node is billed 100 s.
    let (dir, recipe) = recipe_dir(
        r#"
recipe: spotsim
pools:
  - id: cpu
    vm_size: Standard_D4_v2
    os: ubuntu-22.04
    nodes: { dedicated: 0, spot: 2 }
    task_slots_per_node: 8
jobs:
  - id: work
    pool: cpu
    tasks:
      - id: "t-{{ index }}"
        command: /bin/true
        factory: { repeat: 16 }
"#,
    );
    let cache = tempfile::tempdir().unwrap();
    let page = dir.path().join("sim.html");
    let out = batchyard()
        .arg("simulate")
        .arg(&recipe)
        .args(["--duration", "60s", "--boot", "40s", "--region", "westus"])
        .args(["--output", "json", "--report"])
        .arg(&page)
        .env("BATCHYARD_RETAIL_PRICES_URL", "off")
        .env("BATCHYARD_CACHE_DIR", cache.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["simulation"]["makespan_secs"], 100.0);
    let expected = 2.0 * 100.0 / 3600.0 * 0.113812;
    let total = doc["cost"]["total"].as_f64().unwrap();
    assert!((total - expected).abs() < 1e-9, "{doc}");
    assert_eq!(doc["cost"]["currency"], "USD");
    let source = doc["cost"]["source"].as_str().unwrap();
    assert!(
        source.contains("westus") && source.contains("snapshot"),
        "{source}"
    );
    // The report carries the same figure and its source.
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains(&format!(
            "<td>{expected:.2} USD (region westus: batchyard&#39;s price snapshot"
        )),
        "{html}"
    );
}
