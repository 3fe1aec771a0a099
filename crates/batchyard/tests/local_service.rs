//! The local Batch service: started in the background by `apply` and `run`, reused by every
//! command on the same state folder, never executing anything for read-only commands,
//! stopping by itself when idle or with `batchyard local stop`. Each test stops what it
//! starts.
#![allow(clippy::unwrap_used)]

mod e2e;

use std::io::{Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use e2e::*;
use predicates::prelude::*;
use serde_json::Value;

/// Generous: the machine running the tests may be busy.
const DEADLINE: Duration = Duration::from_secs(90);

fn local_status(state: &Path) -> Value {
    let out = batchyard()
        .args(["local", "status", "--output", "json", "--state-dir"])
        .arg(state)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Whether a process runs (a zombie does not count).
fn alive(pid: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

fn job_status(recipe: &Path, job: &str) -> Value {
    let out = batchyard()
        .args(["status", "--output", "json"])
        .arg(recipe)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    status["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == job)
        .cloned()
        .unwrap_or(Value::Null)
}

/// Polls (bounded) until `done` holds.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < DEADLINE, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn apply_returns_the_tasks_finish_in_the_background_and_the_idle_service_stops() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = dir.path().join("recipe.yaml");
    std::fs::copy(repo("recipes/quickstart/recipe.yaml"), &recipe).unwrap();
    let state = dir.path().join(".batchyard");
    let out = batchyard()
        .arg("apply")
        .arg(&recipe)
        .env("BATCHYARD_LOCAL_IDLE_TIMEOUT", "3s")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    // apply has returned; the service it started runs the tasks.
    let service = local_status(&state);
    assert_eq!(service["running"], true, "{service:#}");
    let pid = service["pid"].as_u64().unwrap();
    assert!(alive(pid));
    assert_eq!(service["idle_timeout_secs"], 3);
    assert!(
        service["blob_url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:"),
        "{service:#}"
    );
    // The service answers only requests signed with the key in its folder.
    let url = service["url"].as_str().unwrap();
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET /pools?api-version=2025-06-01.21.0 HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status_line = answer.lines().next().unwrap_or_default().to_owned();
    assert!(
        status_line.contains(" 401 ") || status_line.contains(" 403 "),
        "an unsigned request got {status_line:?}"
    );

    wait_until("the quickstart's 5 tasks succeed", || {
        job_status(&recipe, "hello")["succeeded"] == 5
    });

    // The folder is owner-only and ignored by git; its key is kept outside it, in the
    // state's private folder, owner-only, and is never printed.
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&state), 0o700);
    assert!(!state.join("service.key").exists());
    let private = batchyard_emulator::private_dir::for_state(&state.join("emulator.db")).unwrap();
    assert!(!private.starts_with(&state));
    assert_eq!(mode(&private), 0o700);
    assert_eq!(mode(&private.join("service.key")), 0o600);
    let ignore = std::fs::read_to_string(state.join(".gitignore")).unwrap();
    assert!(ignore.lines().any(|l| l == "*"), "{ignore}");
    let key = std::fs::read_to_string(private.join("service.key")).unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!printed.contains(key.trim()));

    // Nothing left to do: it stops by itself.
    wait_until("the idle service stops", || {
        local_status(&state)["running"] == false
    });
    wait_until("its process ends", || !alive(pid));
    let log = std::fs::read_to_string(state.join("service.log")).unwrap();
    assert!(log.contains("stopping: idle for 3 s"), "{log}");
}

/// A task that appends a line to a file outside the state each time it starts, then stays
/// running long enough to be caught by a stop.
fn marker_recipe(marker: &Path) -> String {
    format!(
        r#"
recipe: marker
pools:
  - id: cpu
    vm_size: Standard_D2s_v5
    os: ubuntu-22.04
    nodes: {{ dedicated: 1 }}
jobs:
  - id: mark
    pool: cpu
    on_all_tasks_complete: no_action
    tasks:
      - id: slow
        command: /bin/sh -c 'echo started >> {}; echo started; sleep 60'
"#,
        marker.display()
    )
}

fn starts(marker: &Path) -> usize {
    std::fs::read_to_string(marker)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

#[test]
fn read_only_commands_start_no_task_and_local_stop_stops_the_service() {
    let marker_dir = tempfile::tempdir().unwrap();
    let marker = marker_dir.path().join("starts.txt");
    let (dir, recipe) = recipe_dir(&marker_recipe(&marker));
    let state = dir.path().join(".batchyard");
    batchyard().arg("apply").arg(&recipe).assert().success();
    wait_until("the task starts once", || starts(&marker) == 1);
    let pid = local_status(&state)["pid"].as_u64().unwrap();

    // Stopped with its task running: the task is stopped and waits for the next start.
    batchyard()
        .args(["local", "stop"])
        .arg(&recipe)
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("stopped (pid {pid})")));
    assert_eq!(local_status(&state)["running"], false);
    assert!(!alive(pid));

    // plan, status and logs read the state as it was left, and run nothing.
    batchyard()
        .args(["plan", "--detailed-exitcode"])
        .arg(&recipe)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("not running"));
    let job = job_status(&recipe, "mark");
    assert_eq!(job["succeeded"], 0, "{job:#}");
    batchyard()
        .args(["logs", "mark", "slow", "--recipe"])
        .arg(&recipe)
        .assert()
        .success()
        .stdout(predicate::str::contains("started"));
    // What a read-only command would have started needs a moment to show.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(starts(&marker), 1, "a read-only command ran the task");
    assert_eq!(local_status(&state)["running"], false);

    // The same check sees a start: apply brings the service back, which runs it again.
    batchyard().arg("apply").arg(&recipe).assert().success();
    wait_until("the requeued task starts again", || starts(&marker) == 2);
    stop_local(&state);
    assert_eq!(local_status(&state)["running"], false);
}

#[test]
fn concurrent_commands_on_one_state_share_one_service() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let recipe = |name: &str| {
        let path = dir.path().join(format!("{name}.yaml"));
        std::fs::write(
            &path,
            format!(
                r#"
recipe: {name}
pools:
  - id: pool-{name}
    vm_size: Standard_D2s_v5
    os: ubuntu-22.04
    nodes: {{ dedicated: 1 }}
jobs:
  - id: job-{name}
    pool: pool-{name}
    tasks:
      - id: "t-{{{{ index }}}}"
        command: /bin/sh -c 'sleep 1; echo {name} {{{{ index }}}}'
        factory: {{ repeat: 3 }}
"#
            ),
        )
        .unwrap();
        path
    };
    let (a, b) = (recipe("a"), recipe("b"));
    let spawn = |verb: &str, recipe: &Path| {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("batchyard"))
            .arg(verb)
            .arg(recipe)
            .arg("--state-dir")
            .arg(&state)
            .env("NO_COLOR", "1")
            .env("BATCHYARD_LOCAL_IDLE_TIMEOUT", "30s")
            .env_remove("AZURE_BATCH_ENDPOINT")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Started together: one of them starts the service, the other waits and reuses it.
    let first = spawn("apply", &a);
    let second = spawn("run", &b);
    let first = first.wait_with_output().unwrap();
    let second = second.wait_with_output().unwrap();
    assert!(first.status.success(), "{first:?}");
    assert!(second.status.success(), "{second:?}");
    assert!(
        String::from_utf8_lossy(&second.stdout).contains("job job-b: 3 succeeded, 0 failed"),
        "{second:?}"
    );
    let service = local_status(&state);
    let pid = service["pid"].as_u64().unwrap();
    let log = std::fs::read_to_string(state.join("service.log")).unwrap();
    assert_eq!(
        log.matches("local Batch service listening").count(),
        1,
        "{log}"
    );
    // A later command reuses it too.
    batchyard()
        .arg("run")
        .arg(&a)
        .arg("--state-dir")
        .arg(&state)
        .assert()
        .success()
        .stdout(predicate::str::contains("job job-a: 3 succeeded, 0 failed"));
    assert_eq!(local_status(&state)["pid"].as_u64(), Some(pid));
    stop_local(&state);
    assert!(!alive(pid));
}

#[test]
fn a_windows_recipe_is_refused_at_plan_on_the_local_target() {
    let (dir, recipe) = recipe_dir(
        r#"
recipe: win
pools:
  - id: win
    vm_size: Standard_D2s_v5
    os: windows-2022
    nodes: { dedicated: 1 }
jobs:
  - id: hello
    pool: win
    tasks:
      - id: hi
        command: cmd /c echo hello
"#,
    );
    for verb in ["plan", "apply", "run"] {
        batchyard()
            .arg(verb)
            .arg(&recipe)
            .assert()
            .code(1)
            .stderr(predicate::str::contains(
                "pool win runs Windows: Windows commands need Azure Batch",
            ))
            .stderr(predicate::str::contains("--account-url"));
    }
    // Refused before anything starts.
    assert!(!dir.path().join(".batchyard").exists());
}

#[test]
fn a_service_killed_with_sigkill_is_restarted_by_the_next_command_and_every_task_ends_once() {
    let marker_dir = tempfile::tempdir().unwrap();
    let marker = marker_dir.path().join("ends.txt");
    let (dir, recipe) = recipe_dir(&format!(
        r#"
recipe: killed
pools:
  - id: cpu
    vm_size: Standard_D2s_v5
    os: ubuntu-22.04
    nodes: {{ dedicated: 1 }}
    task_slots_per_node: 2
jobs:
  - id: work
    pool: cpu
    tasks:
      - id: "t-{{{{ index }}}}"
        command: /bin/sh -c 'echo start-{{{{ index }}}} >> {m}; sleep 2; echo end-{{{{ index }}}} >> {m}'
        factory: {{ repeat: 4 }}
"#,
        m = marker.display()
    ));
    let state = dir.path().join(".batchyard");
    batchyard().arg("apply").arg(&recipe).assert().success();
    let lines = |prefix: &str| {
        std::fs::read_to_string(&marker)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with(prefix))
            .count()
    };
    wait_until("two tasks start", || lines("start-") >= 2);
    let pid = local_status(&state)["pid"].as_u64().unwrap();
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_until("the killed service is gone", || !alive(pid));
    // Its service.json is left behind; the lock tells that nothing runs.
    assert!(state.join("service.json").exists());
    assert_eq!(local_status(&state)["running"], false);

    batchyard()
        .arg("run")
        .arg(&recipe)
        .assert()
        .success()
        .stdout(predicate::str::contains("job work: 4 succeeded, 0 failed"));
    let restarted = local_status(&state)["pid"].as_u64().unwrap();
    assert_ne!(restarted, pid);
    let text = std::fs::read_to_string(&marker).unwrap();
    for i in 0..4 {
        assert_eq!(
            text.lines().filter(|l| *l == format!("end-{i}")).count(),
            1,
            "task t-{i} must run to its end exactly once:\n{text}"
        );
    }
    stop_local(&state);
    assert!(!alive(restarted));
}

#[test]
fn a_command_following_its_jobs_keeps_the_service_up_and_read_only_commands_create_nothing() {
    let (dir, recipe) = recipe_dir(
        r#"
recipe: stuck
pools:
  - id: empty
    vm_size: Standard_D2s_v5
    os: ubuntu-22.04
    nodes: { dedicated: 0 }
jobs:
  - id: waits
    pool: empty
    tasks:
      - id: never
        command: /bin/sh -c 'echo never'
"#,
    );
    let state = dir.path().join(".batchyard");
    // Looking creates nothing.
    batchyard()
        .args(["plan", "--detailed-exitcode"])
        .arg(&recipe)
        .assert()
        .code(2)
        .stdout(predicate::str::contains("not running"));
    batchyard().arg("status").arg(&recipe).assert().success();
    assert!(
        !state.exists(),
        "a read-only command created the state folder"
    );

    // Its task can never run (the pool has no node), so nothing changes; the service stays
    // up while `run` follows it, well past its 2 s idle timeout.
    let run = std::process::Command::new(assert_cmd::cargo::cargo_bin("batchyard"))
        .arg("run")
        .arg(&recipe)
        .args(["--timeout", "8s"])
        .env("NO_COLOR", "1")
        .env("BATCHYARD_LOCAL_IDLE_TIMEOUT", "2s")
        .env_remove("AZURE_BATCH_ENDPOINT")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the service starts", || state.join("service.json").exists());
    std::thread::sleep(Duration::from_secs(5));
    let service = local_status(&state);
    assert_eq!(service["running"], true, "{service:#}");
    let out = run.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "run gave up on its timeout");
    // Alone, it goes.
    wait_until("the idle service stops", || {
        local_status(&state)["running"] == false
    });
    let pid = service["pid"].as_u64().unwrap();
    wait_until("its process ends", || !alive(pid));
}
