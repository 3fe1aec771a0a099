//! Habits a CI pipeline relies on: no panic on a closed pipe, `logs` that finds the recipe
//! and says what is wrong, and tasks that can never run named as such. The built binary
//! against the embedded emulator.
#![allow(clippy::unwrap_used)]

mod e2e;

use std::path::Path;
use std::time::Duration;

use e2e::*;
use predicates::prelude::*;

/// Runs the CLI in `dir` with a stdout whose reader is already gone, so the first write
/// meets a closed pipe whatever the timing. Returns the status code and stderr.
fn with_closed_stdout(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("batchyard"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("AZURE_BATCH_ENDPOINT")
        .env("BATCHYARD_LOCAL_IDLE_TIMEOUT", "5s")
        .env_remove("RUST_BACKTRACE")
        .stdout(writer)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_quiet(dir: &Path, args: &[&str]) {
    let (code, stderr) = with_closed_stdout(dir, args);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "`batchyard {}` on a closed pipe:\n{stderr}",
        args.join(" ")
    );
    assert_ne!(code, Some(101), "`batchyard {}` panicked", args.join(" "));
}

#[test]
fn no_command_panics_on_a_closed_pipe() {
    let (dir, recipe) = recipe_dir(SMALL);
    let r = recipe.to_str().unwrap();
    for args in [
        vec!["completions", "fish"],
        vec!["completions", "bash"],
        vec!["schema"],
        vec!["render", r],
        vec!["render", r, "--output", "json"],
    ] {
        assert_quiet(dir.path(), &args);
    }
    batchyard().args(["run", r]).assert().success();
    for args in [
        vec!["plan", r],
        vec!["plan", r, "--output", "json"],
        vec!["status", r],
        vec!["status", r, "--output", "json"],
        vec!["logs", "work", "t-0", "--recipe", r],
        vec!["logs", "work", "--recipe", r],
        vec!["logs", "work", "t-0", "--follow", "--recipe", r],
    ] {
        assert_quiet(dir.path(), &args);
    }
}

const CHAIN: &str = r#"
recipe: chain
pools:
  - id: cpu
    vm_size: Standard_D2s_v5
    os: ubuntu-22.04
    nodes: { dedicated: 1 }
jobs:
  - id: work
    pool: cpu
    tasks:
      - id: ok
        command: /bin/sh -c 'echo all good'
      - id: bad
        command: /bin/sh -c 'echo the input is missing >&2; exit 3'
      - id: after
        command: /bin/sh -c 'echo never'
        depends_on: [bad]
      - id: last
        command: /bin/sh -c 'echo never either'
        depends_on: [after]
"#;

#[test]
fn logs_finds_the_recipe_and_names_what_is_missing_or_blocked() {
    let (dir, recipe) = recipe_dir(CHAIN);
    let r = recipe.to_str().unwrap();
    batchyard().args(["run", r]).assert().code(1);

    // Without --recipe, from the recipe's directory: the recipe there is found.
    batchyard()
        .args(["logs", "work", "ok"])
        .current_dir(dir.path())
        .assert()
        .success()
        .stdout("all good\n");
    batchyard()
        .args(["logs", "work", "nope"])
        .current_dir(dir.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("job work has no task `nope`"));
    batchyard()
        .args(["logs", "nojob", "ok"])
        .current_dir(dir.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no job `nojob` at this target"))
        .stderr(predicate::str::contains("jobs at this target: work"));
    batchyard()
        .args(["logs", "work", "after", "--recipe", r])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "task after of job work will not run: it depends on task bad, which failed",
        ));
    // --follow on a task that can never run ends with the reason instead of waiting.
    batchyard()
        .args(["logs", "work", "last", "--follow", "--recipe", r])
        .timeout(Duration::from_secs(120))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "task last of job work will never run",
        ))
        .stderr(predicate::str::contains(
            "depends on task after, blocked by",
        ))
        .stderr(predicate::str::contains("failed task bad"));
}

#[test]
fn logs_never_creates_a_state_folder() {
    let empty = tempfile::tempdir().unwrap();
    batchyard()
        .args(["logs", "work", "t-0"])
        .current_dir(empty.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no recipe and no local state"));
    assert!(!empty.path().join(".batchyard").exists());
    // A recipe that never ran has no state beside it either.
    let (dir, _recipe) = recipe_dir(SMALL);
    batchyard()
        .args(["logs", "work", "t-0"])
        .current_dir(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nothing has run there"));
    assert!(!dir.path().join(".batchyard").exists());
}
