//! Running one task (or start task) as a local process or a Docker container.
//!
//! The process is started by the task supervisor ([`crate::supervisor`]), which
//! writes its exit code to the run's exit file: a restarted emulator tells "finished
//! while we were down" from "killed with us", so a task never runs twice to
//! completion after a crash. The command line is never given to a shell.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use tokio::sync::oneshot;

use crate::supervisor::protocol::Spawn;
use crate::supervisor::{RunEvent, Supervisor, unix};

/// How to run a container task.
#[derive(Debug, Clone)]
pub struct ContainerRun {
    /// Image name, which must exist locally.
    pub image: String,
    /// Extra `docker run` options, split into words.
    pub run_options: Vec<String>,
    /// Use the image's working directory instead of the task's.
    pub image_workdir: bool,
    /// Directory mounted into the container at the same path (the node root).
    pub mount: PathBuf,
}

/// Everything needed to start one run.
#[derive(Debug, Clone)]
pub struct Launch {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Environment added to the emulator's own (`AZ_BATCH_*`, task settings).
    pub env: Vec<(String, String)>,
    /// Directory receiving stdout.txt and stderr.txt.
    pub task_dir: PathBuf,
    /// Working directory of the process.
    pub working_dir: PathBuf,
    /// Wall-clock limit.
    pub wall_time: Option<Duration>,
    /// Run in Docker instead of on the host.
    pub container: Option<ContainerRun>,
    /// Marker put in the environment to recognise the process after a restart.
    pub marker: String,
    /// Resource files to download before the process starts and output files to
    /// upload after it exits.
    pub files: Option<super::task_files::TaskFiles>,
}

/// Why a run did not produce an ordinary exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFailure {
    /// `usererror` or `servererror`.
    pub category: &'static str,
    /// Batch failure code.
    pub code: &'static str,
    /// Explanation.
    pub message: String,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Exit code, when the process ran.
    pub exit_code: Option<i64>,
    /// Failure other than a non-zero exit.
    pub failure: Option<RunFailure>,
    /// The run was stopped on request (terminate, node removal).
    pub killed: bool,
    /// For a multi-instance task: how each instance's coordination command ended,
    /// with its start and end times.
    pub instances: Vec<InstanceOutcome>,
}

impl Outcome {
    /// Batch's `failureInfo` for a run that did not succeed: its failure, or a
    /// non-zero exit.
    pub fn failure_info(&self) -> serde_json::Value {
        let (category, code, message) = match &self.failure {
            Some(f) => (f.category, f.code, f.message.as_str()),
            None => (
                "usererror",
                "FailureExitCode",
                "The task exited with an exit code representing a failure",
            ),
        };
        serde_json::json!({"category": category, "code": code, "message": message})
    }
}

/// One instance of a multi-instance task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceOutcome {
    /// Start time (RFC 3339).
    pub start: String,
    /// End time (RFC 3339).
    pub end: String,
    /// The coordination command's end.
    pub exit_code: Option<i64>,
    /// Its failure, if any.
    pub failure: Option<RunFailure>,
}

fn failure(category: &'static str, code: &'static str, message: impl Into<String>) -> Outcome {
    Outcome {
        exit_code: None,
        failure: Some(RunFailure {
            category,
            code,
            message: message.into(),
        }),
        ..Outcome::default()
    }
}

fn docker_argv(launch: &Launch, container: &ContainerRun, name: &str) -> Vec<String> {
    let mount = container.mount.display().to_string();
    let mut argv = vec![
        "docker".to_string(),
        "run".into(),
        "--rm".into(),
        "--name".into(),
        name.to_string(),
        "-v".into(),
        format!("{mount}:{mount}"),
    ];
    if !container.image_workdir {
        argv.push("-w".into());
        argv.push(launch.working_dir.display().to_string());
    }
    for (key, _) in &launch.env {
        // `-e NAME` passes the value from docker's own environment, which keeps
        // values out of the process list.
        argv.push("-e".into());
        argv.push(key.clone());
    }
    argv.extend(container.run_options.iter().cloned());
    argv.push(container.image.clone());
    argv.extend(launch.argv.iter().cloned());
    argv
}

/// Runs a launch to its end through the supervisor: its resource files first (a
/// failed download ends the run before the process starts), then the process, then
/// its output files. `started` receives the process id once running; `kill` stops
/// the run early.
pub async fn run(
    supervisor: &Supervisor,
    mut launch: Launch,
    started: oneshot::Sender<i64>,
    mut kill: oneshot::Receiver<()>,
) -> Outcome {
    let Some(files) = launch.files.take() else {
        return run_process(supervisor, launch, started, kill).await;
    };
    let (working_dir, task_dir, env) = (
        launch.working_dir.clone(),
        launch.task_dir.clone(),
        launch.env.clone(),
    );
    tokio::select! {
        staged = files.download(&working_dir) => {
            if let Err(failure) = staged {
                return Outcome { failure: Some(failure), ..Outcome::default() };
            }
        }
        _ = &mut kill => return Outcome { killed: true, ..Outcome::default() },
    }
    let outcome = run_process(supervisor, launch, started, kill).await;
    files.upload(&working_dir, &task_dir, &env, outcome).await
}

/// Runs a launch's process to its end through the supervisor.
async fn run_process(
    supervisor: &Supervisor,
    launch: Launch,
    started: oneshot::Sender<i64>,
    mut kill: oneshot::Receiver<()>,
) -> Outcome {
    let container_name = format!("batchyard-{}", uuid::Uuid::new_v4().simple());
    let argv = match &launch.container {
        Some(container) => docker_argv(&launch, container, &container_name),
        None => launch.argv.clone(),
    };
    let in_docker = launch.container.is_some();
    let wall = launch
        .wall_time
        .unwrap_or(Duration::from_secs(u64::from(u32::MAX)));
    let (id, mut events) = supervisor.spawn(|id| Spawn {
        id,
        argv,
        env: launch.env,
        working_dir: launch.working_dir,
        task_dir: launch.task_dir,
        marker: launch.marker,
    });
    let stop = || async {
        if in_docker {
            let _ = Command::new("docker")
                .args(["kill", &container_name])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await;
        }
        supervisor.kill(id);
    };
    let mut started = Some(started);
    let deadline = tokio::time::sleep(wall);
    tokio::pin!(deadline);
    // Set once the run is being stopped: how it is reported when its end comes.
    let mut stopped: Option<Outcome> = None;
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(RunEvent::Started(pid)) => {
                    if let Some(started) = started.take() {
                        let _ = started.send(i64::from(pid));
                    }
                }
                Some(RunEvent::Exited(code)) => {
                    return stopped.unwrap_or(Outcome { exit_code: code, ..Outcome::default() });
                }
                Some(RunEvent::Failed(message)) => {
                    return failure("servererror", "TaskDirectoryCreationFailed", message);
                }
                Some(RunEvent::Lost) | None => {
                    return failure(
                        "servererror",
                        "TaskLaunchFailed",
                        "The task supervisor stopped while the task ran; its end is unknown.",
                    );
                }
            },
            () = &mut deadline, if stopped.is_none() => {
                stop().await;
                stopped = Some(Outcome {
                    exit_code: None,
                    failure: Some(RunFailure {
                        category: "usererror",
                        code: "TaskEnded",
                        message: "The task ran longer than its maximum wall clock time and was terminated.".into(),
                    }),
                    ..Outcome::default()
                });
            }
            _ = &mut kill, if stopped.is_none() => {
                stop().await;
                stopped = Some(Outcome { killed: true, ..Outcome::default() });
            }
        }
    }
}

/// Runs a multi-instance task: the coordination command on every instance at once;
/// when all have exited successfully, the application command on the primary. The
/// processes the coordination commands left behind are stopped at the end, as Batch
/// ends subtasks when the primary finishes.
pub async fn run_multi(
    supervisor: &Supervisor,
    coordination: Vec<Launch>,
    application: Launch,
    started: oneshot::Sender<i64>,
    kill: oneshot::Receiver<()>,
) -> Outcome {
    let (kill_all_tx, kill_all_rx) = tokio::sync::watch::channel(false);
    let forward = tokio::spawn(async move {
        if kill.await.is_ok() {
            let _ = kill_all_tx.send(true);
        }
    });
    let coordinated = futures::future::join_all(coordination.into_iter().map(|launch| {
        let (pid_tx, pid_rx) = oneshot::channel();
        let kill_rx = kill_all_rx.clone();
        async move {
            let start = crate::clock::now();
            let outcome = run_until_killed(supervisor, launch, pid_tx, kill_rx).await;
            (start, crate::clock::now(), outcome, pid_rx.await.ok())
        }
    }))
    .await;
    let leftovers: Vec<i64> = coordinated.iter().filter_map(|c| c.3).collect();
    let instances: Vec<InstanceOutcome> = coordinated
        .iter()
        .map(|(start, end, outcome, _)| InstanceOutcome {
            start: start.clone(),
            end: end.clone(),
            exit_code: outcome.exit_code,
            failure: outcome.failure.clone(),
        })
        .collect();
    let failed = coordinated
        .iter()
        .find(|c| c.2.failure.is_some() || c.2.exit_code != Some(0))
        .map(|c| c.2.clone());
    let mut outcome = if coordinated.iter().any(|c| c.2.killed) {
        Outcome {
            killed: true,
            ..Outcome::default()
        }
    } else if let Some(failed) = failed {
        Outcome {
            exit_code: failed.exit_code,
            failure: Some(RunFailure {
                category: "usererror",
                code: "CoordinationCommandFailed",
                message: format!(
                    "The coordination command of an instance failed (exit code {}); the application command did not run.",
                    failed
                        .exit_code
                        .map_or("none".to_string(), |c| c.to_string())
                ),
            }),
            ..Outcome::default()
        }
    } else {
        run_until_killed(supervisor, application, started, kill_all_rx).await
    };
    for pid in leftovers {
        unix::kill_group(pid);
    }
    forward.abort();
    outcome.instances = instances;
    outcome
}

/// [`run`], stopped when `kill` turns true.
async fn run_until_killed(
    supervisor: &Supervisor,
    launch: Launch,
    started: oneshot::Sender<i64>,
    mut kill: tokio::sync::watch::Receiver<bool>,
) -> Outcome {
    let (stop_tx, stop_rx) = oneshot::channel();
    let running = run(supervisor, launch, started, stop_rx);
    tokio::pin!(running);
    tokio::select! {
        outcome = &mut running => outcome,
        () = async {
            // The guard wait_for returns must not live across the await below.
            let _ = kill.wait_for(|k| *k).await;
        } => {
            let _ = stop_tx.send(());
            running.await
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::oneshot;

    use super::{Launch, run};
    use crate::SupervisorCommand;
    use crate::supervisor::{Supervisor, read_exits};

    /// Not a test: the harness owns this binary's main, so the task supervisor is this
    /// binary run again with only this entry selected. Run as a test, it returns at once.
    #[test]
    fn task_supervisor() {
        crate::supervisor::test_entry();
    }

    fn alive(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_some_and(|state| state != "Z")
        })
    }

    #[tokio::test]
    async fn wall_time_ends_a_run_as_the_service_does() {
        let dir = tempfile::tempdir().unwrap();
        let command = SupervisorCommand::test_entry("engine::executor::tests::task_supervisor");
        let supervisor = Supervisor::start(&command, dir.path()).await.unwrap();
        let (pid_tx, pid_rx) = oneshot::channel();
        let (_kill_tx, kill_rx) = oneshot::channel();
        let task_dir = dir.path().join("slow");
        let outcome = run(
            &supervisor,
            Launch {
                argv: vec!["/bin/sh".into(), "-c".into(), "sleep 30".into()],
                env: Vec::new(),
                working_dir: task_dir.join("wd"),
                task_dir,
                wall_time: Some(Duration::from_millis(200)),
                container: None,
                marker: "executor-test/slow/1".into(),
                files: None,
            },
            pid_tx,
            kill_rx,
        )
        .await;
        // Ended by its limit, not by its own exit: no exit code, nothing journaled.
        assert_eq!(outcome.exit_code, None, "{outcome:?}");
        assert_eq!(outcome.failure.unwrap().code, "TaskEnded");
        assert!(!alive(u32::try_from(pid_rx.await.unwrap()).unwrap()));
        assert_eq!(read_exits(dir.path()).get("executor-test/slow/1"), None);
        supervisor.shutdown().await;
    }
}
