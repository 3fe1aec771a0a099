//! A finished recipe grows by exactly its new tasks: jobs stay open to new tasks by default
//! (Batch Shipyard's `auto_complete: false`), `run` still ends when every task is done, and
//! the tasks that already ran keep their results and do not run again.
#![allow(clippy::unwrap_used)]

mod e2e;

use e2e::*;
use predicates::prelude::*;

/// Every task appends its index to `runs.txt` beside the recipe, so the file counts runs.
fn sweep(runs: &std::path::Path) -> String {
    format!(
        r#"
recipe: sweep
variables: {{ tasks: 2 }}
pools:
  - id: cpu
    vm_size: Standard_D2s_v5
    os: ubuntu-22.04
    nodes: {{ dedicated: 1 }}
jobs:
  - id: grid
    pool: cpu
    tasks:
      - id: "p-{{{{ index }}}}"
        command: /bin/sh -c 'echo {{{{ index }}}} >> {runs}'
        factory: {{ repeat: "{{{{ tasks }}}}" }}
"#,
        runs = runs.display()
    )
}

fn runs(path: &std::path::Path) -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

#[test]
fn growing_a_finished_recipe_runs_only_the_new_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("runs.txt");
    let recipe = dir.path().join("recipe.yaml");
    std::fs::write(&recipe, sweep(&log)).unwrap();
    let r = recipe.to_str().unwrap();

    batchyard()
        .args(["run", r])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "job grid: 2 succeeded, 0 failed (2 task(s))",
        ));
    assert_eq!(runs(&log), ["0", "1"]);

    // The job stayed open, so the plan adds the new tasks instead of replacing the job.
    let (code, plan) = plan_json(&[r, "--var", "tasks=4"]);
    assert_eq!(code, 2, "{plan:#}");
    assert_eq!(changes(&plan), ["add_tasks"], "{plan:#}");
    assert_eq!(
        plan["actions"][0]["sample"],
        serde_json::json!(["p-2", "p-3"])
    );

    batchyard()
        .args(["run", r, "--var", "tasks=4"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "job grid: 4 succeeded, 0 failed (4 task(s))",
        ));
    // p-0 and p-1 ran once, p-2 and p-3 once: nothing ran twice.
    assert_eq!(runs(&log), ["0", "1", "2", "3"]);
    let (code, plan) = plan_json(&[r, "--var", "tasks=4"]);
    assert_eq!(code, 0, "{plan:#}");
}

#[test]
fn terminating_on_completion_is_explicit() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("runs.txt");
    let recipe = dir.path().join("recipe.yaml");
    let text = sweep(&log).replace(
        "    pool: cpu\n",
        "    pool: cpu\n    on_all_tasks_complete: terminate_job\n",
    );
    std::fs::write(&recipe, text).unwrap();
    let r = recipe.to_str().unwrap();
    batchyard().args(["run", r]).assert().success();
    // A terminated job takes no new tasks: growing it means re-creating it, which the plan
    // says and apply refuses without --allow-replace.
    let (code, plan) = plan_json(&[r, "--var", "tasks=3"]);
    assert_eq!(code, 2, "{plan:#}");
    assert_eq!(changes(&plan), ["replace_job"], "{plan:#}");
}
