//! The task supervisor as a real process: how runs start, end, are killed, and
//! what is left on disk when the emulator that started it goes away.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use batchyard_emulator::SupervisorCommand;
use batchyard_emulator::supervisor::protocol::Spawn;
use batchyard_emulator::supervisor::{RunEvent, Supervisor, read_exits};
use tokio::sync::mpsc;

fn command() -> SupervisorCommand {
    SupervisorCommand::program(env!("CARGO_BIN_EXE_batchyard-emulator"))
}

fn spawn(dir: &Path, name: &str, argv: &[&str]) -> impl FnOnce(u64) -> Spawn {
    let task_dir = dir.join(name);
    let argv = argv.iter().map(|s| s.to_string()).collect();
    move |id| Spawn {
        id,
        argv,
        env: vec![("AZ_BATCH_TASK_ID".into(), name.to_string())],
        working_dir: task_dir.join("wd"),
        task_dir,
        marker: format!("supervisor-test/{name}/1"),
    }
}

async fn end(events: &mut mpsc::UnboundedReceiver<RunEvent>) -> (Option<u32>, RunEvent) {
    let mut pid = None;
    loop {
        let event = tokio::time::timeout(Duration::from_secs(20), events.recv())
            .await
            .expect("the run ends")
            .expect("the run reports its end");
        match event {
            RunEvent::Started(p) => pid = Some(p),
            other => return (pid, other),
        }
    }
}

/// The journaled exit of the run `name` (see `spawn`).
fn exit_of(work_dir: &Path, name: &str) -> Option<i64> {
    read_exits(work_dir)
        .get(&format!("supervisor-test/{name}/1"))
        .copied()
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(path).unwrap()
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z")
    })
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn runs_without_a_shell_and_records_exits() {
    let dir = tempfile::tempdir().unwrap();
    let supervisor = Supervisor::start(&command(), dir.path()).await.unwrap();

    // `$AZ_BATCH_TASK_ID` is not expanded: the command line has no shell.
    let (_, mut events) = supervisor.spawn(spawn(
        dir.path(),
        "echo",
        &["echo", "$AZ_BATCH_TASK_ID", "a;b"],
    ));
    let (pid, ended) = end(&mut events).await;
    assert!(pid.is_some());
    assert_eq!(ended, RunEvent::Exited(Some(0)));
    assert_eq!(
        read(dir.path().join("echo/stdout.txt")),
        "$AZ_BATCH_TASK_ID a;b\n"
    );
    assert_eq!(exit_of(dir.path(), "echo"), Some(0));

    let (_, mut events) = supervisor.spawn(spawn(
        dir.path(),
        "fails",
        &[
            "/bin/sh",
            "-c",
            "echo $AZ_BATCH_TASK_ID $BATCHYARD_TASK_SUPERVISOR >&2; exit 3",
        ],
    ));
    assert_eq!(end(&mut events).await.1, RunEvent::Exited(Some(3)));
    // The task's variables are set; the supervisor's own mark is not passed on.
    assert_eq!(read(dir.path().join("fails/stderr.txt")), "fails\n");
    assert_eq!(exit_of(dir.path(), "fails"), Some(3));

    // A signal ends a run as a shell reports it: 128 + the signal.
    let (_, mut events) = supervisor.spawn(spawn(
        dir.path(),
        "signal",
        &["/bin/sh", "-c", "kill -TERM $$"],
    ));
    assert_eq!(end(&mut events).await.1, RunEvent::Exited(Some(128 + 15)));

    // A program that does not exist fails the run with the shell's 127.
    let (_, mut events) = supervisor.spawn(spawn(dir.path(), "missing", &["/no/such/program"]));
    assert_eq!(end(&mut events).await.1, RunEvent::Exited(Some(127)));
    assert_eq!(
        read(dir.path().join("missing/stderr.txt")),
        "/no/such/program: not found\n"
    );
    assert_eq!(exit_of(dir.path(), "missing"), Some(127));

    supervisor.shutdown().await;
}

#[tokio::test]
async fn a_kill_reaches_the_whole_process_group_and_records_no_exit() {
    let dir = tempfile::tempdir().unwrap();
    let supervisor = Supervisor::start(&command(), dir.path()).await.unwrap();
    let (id, mut events) = supervisor.spawn(spawn(
        dir.path(),
        "tree",
        &["/bin/sh", "-c", "sleep 30 & echo $! > child; wait"],
    ));
    let child_file = dir.path().join("tree/wd/child");
    wait_until("the run starts its child", || {
        child_file.exists() && !read(child_file.clone()).is_empty()
    })
    .await;
    let grandchild: u32 = read(child_file).trim().parse().unwrap();
    assert!(alive(grandchild));
    supervisor.kill(id);
    let (pid, ended) = end(&mut events).await;
    assert_eq!(ended, RunEvent::Exited(None));
    assert!(!alive(pid.unwrap()));
    wait_until("the run's child is killed too", || !alive(grandchild)).await;
    assert_eq!(exit_of(dir.path(), "tree"), None);
    supervisor.shutdown().await;
}

#[tokio::test]
async fn runs_outlive_the_emulator_and_their_exits_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let supervisor = Supervisor::start(&command(), dir.path()).await.unwrap();
    let (_, mut events) = supervisor.spawn(spawn(
        dir.path(),
        "late",
        &["/bin/sh", "-c", "sleep 0.5; echo done"],
    ));
    let Some(RunEvent::Started(pid)) = events.recv().await else {
        panic!("the run starts")
    };
    // The emulator's end of the pipes closes, as when it is killed.
    drop(events);
    drop(supervisor);
    wait_until("the run's exit is journaled", || {
        exit_of(dir.path(), "late").is_some()
    })
    .await;
    assert_eq!(exit_of(dir.path(), "late"), Some(0));
    assert_eq!(read(dir.path().join("late/stdout.txt")), "done\n");
    assert!(!alive(pid));
}

#[tokio::test]
async fn a_restart_stops_the_previous_supervisor_and_its_runs() {
    let dir = tempfile::tempdir().unwrap();
    let first = Supervisor::start(&command(), dir.path()).await.unwrap();
    let (_, mut quick) = first.spawn(spawn(dir.path(), "quick", &["/bin/sh", "-c", "exit 0"]));
    assert_eq!(end(&mut quick).await.1, RunEvent::Exited(Some(0)));
    let (_, mut slow) = first.spawn(spawn(dir.path(), "slow", &["/bin/sh", "-c", "sleep 30"]));
    let Some(RunEvent::Started(slow_pid)) = slow.recv().await else {
        panic!("the run starts")
    };

    // A second emulator on the same directory (the first one still holds its
    // handle, as a killed emulator's supervisor still runs).
    let second = Supervisor::start(&command(), dir.path()).await.unwrap();
    assert!(!alive(slow_pid), "the previous supervisor's run is killed");
    assert_eq!(end(&mut slow).await.1, RunEvent::Exited(None));
    assert_eq!(exit_of(dir.path(), "slow"), None);
    assert_eq!(exit_of(dir.path(), "quick"), Some(0));
    // The first supervisor is gone; its handle hears so.
    let (_, mut after) = first.spawn(spawn(dir.path(), "after", &["/bin/true"]));
    assert_eq!(end(&mut after).await.1, RunEvent::Lost);

    let (_, mut fresh) = second.spawn(spawn(dir.path(), "fresh", &["/bin/true"]));
    assert_eq!(end(&mut fresh).await.1, RunEvent::Exited(Some(0)));
    second.shutdown().await;
}

#[tokio::test]
async fn a_program_that_is_not_a_supervisor_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = Supervisor::start(&SupervisorCommand::program("/bin/true"), dir.path())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("did not start a task supervisor"),
        "{err}"
    );
}
