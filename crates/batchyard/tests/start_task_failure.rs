//! A pool whose start task fails: `apply` exits 1 and names each failed node with the start
//! task's exit code and the tail of its stderr; `status` shows the same.
#![allow(clippy::unwrap_used)]

mod e2e;

use e2e::*;
use predicates::prelude::*;

const FAILING: &str = r#"
recipe: broken-start
pools:
  - id: cpu
    vm_size: Standard_D2s_v5
    os: ubuntu-22.04
    nodes: { dedicated: 1 }
    start_task:
      command: /bin/sh -c 'echo installing; echo "E! package libfoo2 has no installation candidate" >&2; exit 1'
jobs:
  - id: work
    pool: cpu
    tasks:
      - id: hello
        command: /bin/true
"#;

#[test]
fn apply_exits_1_naming_the_failed_node_and_its_exit_code() {
    let (_dir, recipe) = recipe_dir(FAILING);
    batchyard()
        .arg("apply")
        .arg(&recipe)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("pool cpu: no node is usable"))
        .stderr(predicate::str::contains(
            "is starttaskfailed: start task exit code 1",
        ));
    batchyard()
        .arg("status")
        .arg(&recipe)
        .assert()
        .success()
        .stdout(predicate::str::contains("1 starttaskfailed"))
        .stdout(predicate::str::contains(
            "starttaskfailed: start task exit code 1",
        ));
}

#[test]
fn apply_and_status_print_the_start_task_stderr() {
    let (_dir, recipe) = recipe_dir(FAILING);
    let line = "| E! package libfoo2 has no installation candidate";
    batchyard()
        .arg("apply")
        .arg(&recipe)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(line))
        .stderr(predicate::str::contains("installing").not());
    batchyard()
        .arg("status")
        .arg(&recipe)
        .assert()
        .success()
        .stdout(predicate::str::contains(line));
}
