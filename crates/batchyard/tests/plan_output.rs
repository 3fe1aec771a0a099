//! The human `plan` output, as a reader sees it, for the main cases. What varies between
//! runs (the served emulator's port) is redacted; colour is off (`NO_COLOR`, and stdout is
//! not a terminal).
#![allow(clippy::unwrap_used)]

mod e2e;

use e2e::*;

/// `plan` in human form: exit code and stdout (with `--detailed-exitcode`).
fn plan_text(recipe: &str, url: &str, vars: &[&str]) -> (i32, String) {
    let mut cmd = batchyard();
    cmd.args(["plan", recipe, "--account-url", url, "--detailed-exitcode"]);
    for var in vars {
        cmd.args(["--var", var]);
    }
    let out = cmd.output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    (out.status.code().unwrap(), text)
}

fn apply(recipe: &str, url: &str, vars: &[&str]) {
    let mut cmd = batchyard();
    cmd.args(["apply", recipe, "--account-url", url]);
    for var in vars {
        cmd.args(["--var", var]);
    }
    cmd.assert().success();
}

macro_rules! assert_plan {
    ($text:expr, @$snapshot:literal) => {
        insta::with_settings!({filters => vec![(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]")]}, {
            insta::assert_snapshot!($text, @$snapshot);
        })
    };
}

#[test]
fn plans_of_a_recipe_through_its_changes() {
    let (dir, recipe) = recipe_dir(SMALL);
    let r = recipe.to_str().unwrap();
    let served = Served::start(&dir.path().join("served.db"));
    let url = served.url.as_str();

    let (code, text) = plan_text(r, url, &[]);
    assert_eq!(code, 2);
    assert_plan!(text, @r"
    target: http://127.0.0.1:[PORT], auth: none
    recipe: small

        + create pool cpu (Standard_D2s_v5, 1 dedicated + 0 spot nodes)
            the pool does not exist
        + create job work on pool cpu (3 task(s))
            the job does not exist
        + add 3 task(s) to job work
            tasks: t-0, t-1, t-2
            then onAllTasksComplete=noaction
            a new job gets every task of the recipe

    Plan: 3 to create, 0 to change, 0 to replace, 0 to delete.
    ");

    apply(r, url, &[]);
    let (code, text) = plan_text(r, url, &[]);
    assert_eq!(code, 0);
    assert_plan!(text, @r"
    target: http://127.0.0.1:[PORT], auth: none
    recipe: small

    No changes: the target matches the recipe.
    ");

    let (code, text) = plan_text(r, url, &["nodes=3"]);
    assert_eq!(code, 2);
    assert_plan!(text, @r"
    target: http://127.0.0.1:[PORT], auth: none
    recipe: small

        ~ resize pool cpu: 1 → 3 dedicated, 0 → 0 spot
            the recipe changed: the pool's size differs

    Plan: 0 to create, 1 to change, 0 to replace, 0 to delete.
    ");

    let (code, text) = plan_text(r, url, &["tasks=12"]);
    assert_eq!(code, 2);
    assert_plan!(text, @r"
    target: http://127.0.0.1:[PORT], auth: none
    recipe: small

        + add 9 task(s) to job work
            tasks: t-3, t-4, t-5, t-6, t-7 and 4 more
            these task ids are in the recipe but not in the job

    Plan: 1 to create, 0 to change, 0 to replace, 0 to delete.
    ");

    let (code, text) = plan_text(r, url, &["vm=Standard_D4s_v5"]);
    assert_eq!(code, 2);
    assert_plan!(text, @r#"
    target: http://127.0.0.1:[PORT], auth: none
    recipe: small

      -/+ empty-pool change of pool cpu: vm_size (drains 1 node(s), 0 running task(s) at risk)
            vm_size: "standard_d2s_v5" → "Standard_D4s_v5"
            the recipe changed: Batch changes `vm_size` only on a pool without nodes, so apply resizes it to 0, updates it and resizes it back; needs --allow-replace

    Plan: 0 to create, 0 to change, 1 to replace, 0 to delete.
    "#);
}

#[test]
fn a_pool_not_made_by_batchyard_is_a_conflict() {
    let (dir, recipe) = recipe_dir(SMALL);
    let r = recipe.to_str().unwrap();
    let served = Served::start(&dir.path().join("served.db"));
    let foreign = batchyard_batch::models::BatchPoolCreateOptions {
        id: "cpu".into(),
        vm_size: "Standard_D8s_v5".into(),
        ..Default::default()
    };
    block_on(served.client().create_pool(&foreign)).unwrap();
    let (code, text) = plan_text(r, &served.url, &[]);
    assert_eq!(code, 1);
    assert_plan!(text, @r"
    target: http://127.0.0.1:[PORT], auth: none
    recipe: small

        ! conflict: pool cpu exists and is not owned by this recipe (no batchyard metadata)
            batchyard changes only what carries its recipe's metadata; rename it in the recipe, or delete the existing one yourself, then plan again
        + create job work on pool cpu (3 task(s))
            the job does not exist
        + add 3 task(s) to job work
            tasks: t-0, t-1, t-2
            then onAllTasksComplete=noaction
            a new job gets every task of the recipe

    Plan: 2 to create, 0 to change, 0 to replace, 0 to delete, 1 blocked.
    ");
}

/// Tasks whose command changed, and live tasks the recipe no longer has.
const GREETINGS: &str = r#"
recipe: greetings
variables: { greeting: hello, tasks: 3 }
pools:
  - id: cpu
    vm_size: Standard_D2s_v5
    os: ubuntu-22.04
    nodes: { dedicated: 0 }
jobs:
  - id: greet
    pool: cpu
    on_all_tasks_complete: no_action
    tasks:
      - id: "g-{{ index }}"
        command: /bin/echo {{ greeting }} {{ index }}
        factory: { repeat: "{{ tasks }}" }
"#;

#[test]
fn drifted_tasks_and_tasks_the_recipe_no_longer_has() {
    let (dir, recipe) = recipe_dir(GREETINGS);
    let r = recipe.to_str().unwrap();
    let served = Served::start(&dir.path().join("served.db"));
    let url = served.url.as_str();
    apply(r, url, &[]);
    let (code, text) = plan_text(r, url, &["greeting=bye", "tasks=2"]);
    assert_eq!(code, 2);
    assert_plan!(text, @r"
    target: http://127.0.0.1:[PORT], auth: none
    recipe: greetings

      -/+ re-create 2 drifted task(s) of job greet (command)
            tasks: g-0, g-1
            Batch tasks cannot change; apply deletes these and adds them again (they run again); needs --allow-replace
      note: job greet has 1 live task(s) that the recipe does not have; left alone

    Plan: 0 to create, 0 to change, 1 to replace, 0 to delete.
    ");
}

/// A nested field (the image) changes: the plan names the changed leaves, not the JSON.
const IMAGE: &str = r#"
recipe: image
variables: { os: ubuntu-22.04 }
pools:
  - id: cpu
    vm_size: Standard_D2s_v5
    os: "{{ os }}"
    nodes: { dedicated: 0 }
"#;

#[test]
fn a_nested_change_shows_its_changed_leaves() {
    let (dir, recipe) = recipe_dir(IMAGE);
    let r = recipe.to_str().unwrap();
    let served = Served::start(&dir.path().join("served.db"));
    let url = served.url.as_str();
    apply(r, url, &[]);
    let (code, text) = plan_text(r, url, &["os=ubuntu-24.04"]);
    assert_eq!(code, 2);
    assert_plan!(text, @r#"
    target: http://127.0.0.1:[PORT], auth: none
    recipe: image

      -/+ empty-pool change of pool cpu: os / containers (drains 0 node(s), 0 running task(s) at risk)
            imageReference.offer: "0001-com-ubuntu-server-jammy" → "ubuntu-24_04-lts"
            imageReference.sku: "22_04-lts-gen2" → "server"
            nodeAgentSKUId: "batch.node.ubuntu 22.04" → "batch.node.ubuntu 24.04"
            the recipe changed: Batch changes `os / containers` only on a pool without nodes, so apply resizes it to 0, updates it and resizes it back; needs --allow-replace

    Plan: 0 to create, 0 to change, 1 to replace, 0 to delete.
    "#);
}
