//! End-to-end scenarios of plan, apply, run, destroy, status and logs: the built binary
//! against the local Batch service or one served by `batchyard emulator serve`.
#![allow(clippy::unwrap_used)]

mod e2e;

use e2e::*;
use predicates::prelude::*;

#[test]
fn run_on_the_quickstart_succeeds_and_a_second_plan_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = dir.path().join("recipe.yaml");
    std::fs::copy(repo("recipes/quickstart/recipe.yaml"), &recipe).unwrap();
    batchyard()
        .arg("run")
        .arg(&recipe)
        .assert()
        .success()
        .stdout(predicate::str::contains("target: local Batch service"))
        .stdout(predicate::str::contains("auth: shared-key"))
        .stdout(predicate::str::contains(
            "job hello: 5 succeeded, 0 failed (5 task(s))",
        ));
    assert!(dir.path().join(".batchyard/emulator.db").exists());
    batchyard()
        .args(["plan", "--detailed-exitcode"])
        .arg(&recipe)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("No changes"));
    // The state beside the recipe is what status and logs read.
    batchyard()
        .arg("status")
        .arg(&recipe)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "job hello (active, pool cpu): 0 waiting, 0 running, 5 succeeded, 0 failed",
        ));
    batchyard()
        .args(["logs", "hello", "say-2", "--recipe"])
        .arg(&recipe)
        .assert()
        .success()
        .stdout(predicate::str::contains("hello from task 2 on"));
    stop_local(&dir.path().join(".batchyard"));
}

#[test]
fn a_node_count_change_plans_only_a_resize() {
    let (_dir, recipe) = recipe_dir(SMALL);
    let r = recipe.to_str().unwrap();
    batchyard().args(["apply", r]).assert().success();
    let (code, plan) = plan_json(&[r, "--var", "nodes=3"]);
    assert_eq!(code, 2, "{plan:#}");
    assert_eq!(changes(&plan), ["resize_pool"]);
    assert_eq!(plan["actions"][0]["from_dedicated"], 1);
    assert_eq!(plan["actions"][0]["to_dedicated"], 3);
    assert_eq!(plan["target"]["kind"], "local");
    batchyard()
        .args(["apply", r, "--var", "nodes=3"])
        .assert()
        .success();
    let (code, plan) = plan_json(&[r, "--var", "nodes=3"]);
    assert_eq!(code, 0, "{plan:#}");
}

#[test]
fn a_vm_size_change_is_an_empty_pool_change_refused_without_the_flag() {
    let (_dir, recipe) = recipe_dir(SMALL);
    let r = recipe.to_str().unwrap();
    batchyard().args(["apply", r]).assert().success();
    let (code, plan) = plan_json(&[r, "--var", "vm=Standard_D4s_v5"]);
    assert_eq!(code, 2);
    assert_eq!(changes(&plan), ["empty_pool_change"]);
    let fields: Vec<&str> = plan["actions"][0]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["vm_size"]);
    assert_eq!(plan["actions"][0]["needs_allow_replace"], true);
    batchyard()
        .args(["apply", r, "--yes", "--var", "vm=Standard_D4s_v5"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "empty-pool change of pool cpu: vm_size",
        ))
        .stderr(predicate::str::contains("--allow-replace"));
    // Refused means untouched.
    let (code, _) = plan_json(&[r]);
    assert_eq!(code, 0);
    batchyard()
        .args([
            "apply",
            r,
            "--yes",
            "--allow-replace",
            "--var",
            "vm=Standard_D4s_v5",
        ])
        .assert()
        .success();
    let (code, plan) = plan_json(&[r, "--var", "vm=Standard_D4s_v5"]);
    assert_eq!(code, 0, "{plan:#}");
}

#[test]
fn adding_tasks_adds_exactly_those_and_a_served_emulator_holds_the_live_state() {
    let (dir, recipe) = recipe_dir(SMALL);
    let r = recipe.to_str().unwrap();
    let served = Served::start(&dir.path().join("served/emulator.db"));
    let url = served.url.as_str();
    batchyard()
        .args(["apply", r, "--account-url", url])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "target: {url}, auth: none"
        )));
    let (code, plan) = plan_json(&[r, "--account-url", url, "--var", "tasks=5"]);
    assert_eq!(code, 2);
    assert_eq!(changes(&plan), ["add_tasks"]);
    assert_eq!(plan["actions"][0]["count"], 2);
    assert_eq!(
        plan["actions"][0]["sample"],
        serde_json::json!(["t-3", "t-4"])
    );
    batchyard()
        .args(["apply", r, "--account-url", url, "--var", "tasks=5"])
        .assert()
        .success();
    assert_eq!(
        task_ids(&served.client(), "work"),
        ["t-0", "t-1", "t-2", "t-3", "t-4"]
    );
    // batchyard keeps no state of its own: with the local directory gone, a plan against
    // the served emulator still sees everything.
    let _ = std::fs::remove_dir_all(dir.path().join(".batchyard"));
    let (code, plan) = plan_json(&[r, "--account-url", url, "--var", "tasks=5"]);
    assert_eq!(code, 0, "{plan:#}");
    // The environment variable works as the flag does.
    batchyard()
        .args(["plan", r, "--detailed-exitcode", "--var", "tasks=5"])
        .env("AZURE_BATCH_ENDPOINT", url)
        .assert()
        .code(0);
}

#[test]
fn a_pool_made_outside_batchyard_is_a_conflict_left_untouched() {
    let (dir, recipe) = recipe_dir(SMALL);
    let r = recipe.to_str().unwrap();
    let served = Served::start(&dir.path().join("served.db"));
    let client = served.client();
    let foreign = batchyard_batch::models::BatchPoolCreateOptions {
        id: "cpu".into(),
        vm_size: "Standard_D8s_v5".into(),
        ..Default::default()
    };
    block_on(client.create_pool(&foreign)).unwrap();
    let (code, plan) = plan_json(&[r, "--account-url", &served.url]);
    assert_eq!(code, 1);
    assert_eq!(changes(&plan)[0], "conflict");
    assert_eq!(plan["blocking"], 1);
    batchyard()
        .args(["apply", r, "--yes", "--account-url", &served.url])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "conflict: pool cpu exists and is not owned by this recipe",
        ))
        .stderr(predicate::str::contains("nothing was changed"));
    let pool = block_on(client.get_pool("cpu")).unwrap();
    assert!(pool.metadata.unwrap_or_default().is_empty());
    assert_eq!(
        pool.vm_size.unwrap().to_ascii_lowercase(),
        "standard_d8s_v5"
    );
    assert!(block_on(client.get_job("work")).unwrap_err().is_not_found());
}

#[test]
fn a_failing_task_makes_run_exit_1_with_its_stderr_tail() {
    let (_dir, recipe) = recipe_dir(
        r#"
recipe: failing
pools:
  - id: cpu
    vm_size: Standard_D2s_v5
    os: ubuntu-22.04
    nodes: { dedicated: 1 }
jobs:
  - id: mixed
    pool: cpu
    tasks:
      - id: good
        command: /bin/sh -c 'echo fine'
      - id: bad
        command: /bin/sh -c 'echo first line >&2; echo the disk is full >&2; exit 3'
"#,
    );
    batchyard()
        .arg("run")
        .arg(&recipe)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("job mixed: 1 succeeded, 1 failed"))
        .stdout(predicate::str::contains("✗ task bad (exit code 3)"))
        .stdout(predicate::str::contains(
            "| first line\n      | the disk is full",
        ));
    batchyard()
        .args(["logs", "mixed", "bad", "--stderr", "--recipe"])
        .arg(&recipe)
        .assert()
        .success()
        .stdout(predicate::str::contains("the disk is full"));
}

#[test]
fn destroy_removes_what_the_recipe_owns_and_nothing_else() {
    let (dir, recipe) = recipe_dir(SMALL);
    let r = recipe.to_str().unwrap();
    let served = Served::start(&dir.path().join("served.db"));
    let client = served.client();
    let foreign = batchyard_batch::models::BatchPoolCreateOptions {
        id: "other".into(),
        vm_size: "Standard_D2s_v5".into(),
        ..Default::default()
    };
    block_on(client.create_pool(&foreign)).unwrap();
    batchyard()
        .args(["apply", r, "--account-url", &served.url])
        .assert()
        .success();
    // Without a terminal, destructive plans need --yes.
    batchyard()
        .args(["destroy", r, "--account-url", &served.url])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--yes"));
    assert!(block_on(client.get_pool("cpu")).is_ok());
    batchyard()
        .args(["destroy", r, "--yes", "--account-url", &served.url])
        .assert()
        .success()
        .stdout(predicate::str::contains("delete job work"))
        .stdout(predicate::str::contains("delete pool cpu"));
    assert!(block_on(client.get_pool("cpu")).unwrap_err().is_not_found());
    assert!(block_on(client.get_job("work")).unwrap_err().is_not_found());
    assert!(block_on(client.get_pool("other")).is_ok());
    // Nothing left to destroy.
    batchyard()
        .args(["destroy", r, "--account-url", &served.url])
        .assert()
        .success()
        .stdout(predicate::str::contains("No changes"));
}

#[test]
fn render_prints_pool_and_job_documents_and_tasks_as_json_lines() {
    let out = batchyard()
        .args(["render", "--output", "json"])
        .arg(repo("recipes/quickstart/recipe.yaml"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let (documents, tasks) = text
        .split_once("# tasks of job hello (JSON Lines)\n")
        .unwrap();
    let mut stream = serde_json::Deserializer::from_str(documents).into_iter::<serde_json::Value>();
    let pool = stream.next().unwrap().unwrap();
    let job = stream.next().unwrap().unwrap();
    assert!(stream.next().is_none());
    assert_eq!(pool["id"], "cpu");
    assert_eq!(pool["targetDedicatedNodes"], 2);
    assert_eq!(job["id"], "hello");
    assert_eq!(job["onAllTasksComplete"], "noaction");
    let ids: Vec<String> = tasks
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids, ["say-0", "say-1", "say-2", "say-3", "summary"]);
    // --job narrows to one job; an unknown one is an error naming the jobs there are.
    batchyard()
        .args(["render", "--job", "nope"])
        .arg(repo("recipes/quickstart/recipe.yaml"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("jobs in this recipe: hello"));
}
