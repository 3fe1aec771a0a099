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
        vec!["simulate", r, "--duration", "1s"],
        vec!["simulate", r, "--duration", "1s", "--output", "json"],
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

/// Parses stdout as exactly one JSON document (nothing before or after it).
fn one_json(stdout: &[u8]) -> serde_json::Value {
    let text = String::from_utf8_lossy(stdout);
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{text}"))
}

#[test]
fn json_output_is_the_only_thing_on_stdout_and_the_plan_is_byte_stable() {
    let (_dir, recipe) = recipe_dir(SMALL);
    let r = recipe.to_str().unwrap();
    let plan = || {
        batchyard()
            .args(["plan", r, "--output", "json"])
            .output()
            .unwrap()
            .stdout
    };
    let first = plan();
    assert_eq!(one_json(&first)["format_version"], 1);
    assert_eq!(
        first,
        plan(),
        "the same recipe and state planned differently"
    );

    let out = batchyard()
        .args(["apply", r, "--output", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = one_json(&out.stdout);
    assert_eq!(doc["format_version"], 1);
    assert_eq!(doc["command"], "apply");
    assert_eq!(doc["applied"], true);
    assert_eq!(doc["result"]["tasks_added"], 3);
    assert_eq!(doc["plan"]["counts"]["create"], 3);
    // With the local service up (apply started it), plans stay byte-identical too.
    let up = plan();
    assert_eq!(up, plan());

    let out = batchyard()
        .args(["run", r, "--output", "json", "--var", "tasks=4"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = one_json(&out.stdout);
    assert_eq!(doc["command"], "run");
    assert_eq!(doc["result"]["tasks_added"], 1);
    assert_eq!(doc["jobs"][0]["succeeded"], 4);

    let out = batchyard()
        .args(["destroy", r, "--yes", "--output", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = one_json(&out.stdout);
    assert_eq!(doc["command"], "destroy");
    assert_eq!(doc["applied"], true);
    assert_eq!(doc["plan"]["counts"]["delete"], 2);
}

#[test]
fn a_refused_apply_still_prints_its_json_and_destroy_speaks_of_deletion() {
    let (_dir, recipe) = recipe_dir(SMALL);
    let r = recipe.to_str().unwrap();
    batchyard().args(["apply", r]).assert().success();
    let out = batchyard()
        .args([
            "apply",
            r,
            "--output",
            "json",
            "--var",
            "vm=Standard_D4s_v5",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc = one_json(&out.stdout);
    assert_eq!(doc["applied"], false);
    assert!(
        doc["error"].as_str().unwrap().contains("--allow-replace"),
        "{doc:#}"
    );

    batchyard()
        .args(["destroy", r, "--yes"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "Destroy complete: 2 deletion(s) done.",
        ))
        .stdout(predicate::str::contains("Apply complete").not());
}

#[test]
fn ctrl_c_during_run_says_what_it_left_running_and_how_to_resume() {
    use std::io::{BufRead as _, BufReader};
    let (dir, recipe) = recipe_dir(
        r#"
recipe: slow
pools:
  - id: cpu
    vm_size: Standard_D2s_v5
    os: ubuntu-22.04
    nodes: { dedicated: 1 }
jobs:
  - id: long
    pool: cpu
    tasks:
      - id: nap
        command: /bin/sh -c 'sleep 30'
"#,
    );
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("batchyard"))
        .arg("run")
        .arg(&recipe)
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env("BATCHYARD_LOCAL_IDLE_TIMEOUT", "5s")
        .env_remove("AZURE_BATCH_ENDPOINT")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    // Progress lines come on stderr; interrupt once the task runs.
    loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "run ended early:\n{seen}"
        );
        seen.push_str(&line);
        if line.contains("1 running") {
            break;
        }
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(130), "{seen}{rest}");
    assert!(rest.contains("Interrupted. Nothing was stopped"), "{rest}");
    assert!(rest.contains("job long: 1 running"), "{rest}");
    assert!(rest.contains("Resume with `batchyard run"), "{rest}");
    // It was left running indeed: the service still has it.
    batchyard()
        .args(["status", recipe.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains("1 running"));
    let _ = batchyard()
        .args(["destroy", recipe.to_str().unwrap(), "--yes"])
        .output();
}

#[test]
fn status_names_failed_and_blocked_tasks_and_retry_runs_the_failed_again() {
    let dir = tempfile::tempdir().unwrap();
    let fixed = dir.path().join("fixed");
    let recipe = dir.path().join("recipe.yaml");
    // `bad` fails until the file `fixed` exists.
    std::fs::write(
        &recipe,
        CHAIN.replace(
            "/bin/sh -c 'echo the input is missing >&2; exit 3'",
            &format!(
                "/bin/sh -c 'test -f {} || {{ echo the input is missing >&2; exit 3; }}'",
                fixed.display()
            ),
        ),
    )
    .unwrap();
    let r = recipe.to_str().unwrap();
    batchyard().args(["run", r]).assert().code(1);

    batchyard()
        .args(["status", r])
        .assert()
        .success()
        .stdout(predicate::str::contains("✗ task bad failed (exit code 3)"))
        .stdout(predicate::str::contains("| the input is missing"))
        .stdout(predicate::str::contains(
            "⊘ task after is blocked: it depends on task bad, which failed",
        ))
        .stdout(predicate::str::contains(
            "⊘ task last is blocked: it depends on task after, blocked by failed task bad",
        ));
    let out = batchyard()
        .args(["status", r, "--output", "json"])
        .output()
        .unwrap();
    let doc = one_json(&out.stdout);
    assert_eq!(doc["format_version"], 1);
    let job = &doc["jobs"][0];
    assert_eq!(job["failed_tasks"][0]["id"], "bad");
    assert_eq!(job["failed_tasks"][0]["exit_code"], 3);
    assert_eq!(job["blocked_tasks"][1]["id"], "last");
    assert_eq!(job["blocked_tasks"][1]["waits_for"], "after");
    assert_eq!(job["blocked_tasks"][1]["failed"], "bad");

    // Nothing named: a usage error that says what to do.
    batchyard()
        .args(["retry", "work", "--recipe", r])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--failed"));
    // A task that succeeded is refused by Batch, and said so.
    batchyard()
        .args(["retry", "work", "ok", "--recipe", r])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not retried: ok"));

    std::fs::write(&fixed, "").unwrap();
    batchyard()
        .args(["retry", "work", "--failed", "--recipe", r])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "Retrying 1 task(s) of job work: bad",
        ));
    // The chain behind it now runs to the end.
    batchyard()
        .args(["logs", "work", "last", "--follow", "--recipe", r])
        .timeout(Duration::from_secs(120))
        .assert()
        .success()
        .stdout("never either\n");
    batchyard()
        .args(["status", r])
        .assert()
        .success()
        .stdout(predicate::str::contains("4 succeeded, 0 failed"));
}

#[test]
fn validate_reports_a_missing_file_and_checks_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("a.yaml");
    let bad = dir.path().join("b.yaml");
    std::fs::write(&good, SMALL).unwrap();
    std::fs::write(&bad, SMALL.replace("vm_size:", "vm_sise:")).unwrap();
    let missing = dir.path().join("missing.yaml");
    let args = [&good, &missing, &bad];
    batchyard()
        .arg("validate")
        .args(args)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("missing.yaml"))
        .stderr(predicate::str::contains("unknown field `vm_sise`"))
        .stdout(predicate::str::contains("a.yaml: valid"))
        .stdout(predicate::str::contains("b.yaml: 1 error"));
    let out = batchyard()
        .args(["validate", "--output", "json"])
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let doc = one_json(&out.stdout);
    assert_eq!(doc["format_version"], 1);
    assert_eq!(doc["valid"], false);
    let files: Vec<(String, bool)> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let name = f["file"].as_str().unwrap();
            let base = name.rsplit('/').next().unwrap().to_owned();
            (base, f["valid"].as_bool().unwrap())
        })
        .collect();
    assert_eq!(
        files,
        [
            ("a.yaml".to_owned(), true),
            ("b.yaml".to_owned(), false),
            ("missing.yaml".to_owned(), false)
        ]
    );
    // A closed pipe on validate's JSON ends quietly too.
    assert_quiet(
        dir.path(),
        &["validate", "--output", "json", good.to_str().unwrap()],
    );
}

#[test]
fn an_invalid_recipe_with_json_output_prints_its_diagnostics_as_json() {
    let (_dir, recipe) = recipe_dir(&SMALL.replace("vm_size:", "vm_sise:"));
    let r = recipe.to_str().unwrap();
    for command in ["plan", "apply", "run", "destroy", "status"] {
        let mut cmd = batchyard();
        cmd.args([command, r, "--output", "json"]);
        if command == "destroy" {
            cmd.arg("--yes");
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{command}");
        let doc = one_json(&out.stdout);
        assert_eq!(doc["format_version"], 1, "{command}");
        assert_eq!(doc["valid"], false, "{command}");
        assert_eq!(
            doc["diagnostics"][0]["path"], "/pools/0/vm_sise",
            "{command}: {doc:#}"
        );
    }
}
