//! Running one task (or start task) as a local process or a Docker container.
//!
//! The command runs under a tiny `/bin/sh` wrapper that only executes `"$@"` and then
//! writes the exit code to a file: the command line itself is never given to a shell.
//! The exit file lets a restarted emulator tell "finished while we were down" from
//! "killed with us", so a task never runs twice to completion after a crash.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use tokio::sync::oneshot;

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
    /// File receiving the exit code.
    pub exit_file: PathBuf,
    /// Wall-clock limit.
    pub wall_time: Option<Duration>,
    /// Run in Docker instead of on the host.
    pub container: Option<ContainerRun>,
    /// Marker put in the environment to recognise the process after a restart.
    pub marker: String,
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

// `printf` is a shell builtin and its few bytes go out in one write, so the exit file
// costs no extra process; a wrapper killed between opening and writing leaves an
// empty file, which reads as "no exit recorded", as a missing file does.
const WRAPPER: &str = r#""$@"; c=$?; printf '%s' "$c" > "$BATCHYARD_EXIT_FILE"; exit $c"#;

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

/// Sends SIGKILL to a whole process group, through the `kill` utility so no unsafe
/// code is needed.
pub async fn kill_group(pid: i64) {
    let _ = Command::new("kill")
        .arg("-KILL")
        .arg("--")
        .arg(format!("-{pid}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
}

/// Reads an exit file written by the wrapper.
pub fn read_exit_file(path: &Path) -> Option<i64> {
    fs_err::read_to_string(path).ok()?.trim().parse().ok()
}

/// Processes whose environment carries `marker` (or a sub-marker `marker/...`, the
/// instances of a multi-instance task): the runs of one attempt, found even when the
/// emulator died before it could record their process id.
pub fn processes_with_marker(marker: &str) -> Vec<i64> {
    let exact = format!("BATCHYARD_ATTEMPT={marker}");
    let nested = format!("{exact}/");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i64>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|environ| {
                environ
                    .split(|b| *b == 0)
                    .any(|entry| entry == exact.as_bytes() || entry.starts_with(nested.as_bytes()))
            })
        })
        .collect()
}

/// Sends SIGKILL to a process and to the group it leads, if it leads one.
pub async fn kill_process(pid: i64) {
    kill_group(pid).await;
    let _ = Command::new("kill")
        .arg("-KILL")
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
}

/// Runs a launch to its end. `started` receives the process id once running; `kill`
/// stops the run early.
pub async fn run(
    launch: Launch,
    started: oneshot::Sender<i64>,
    kill: oneshot::Receiver<()>,
) -> Outcome {
    if let Err(err) = fs_err::create_dir_all(&launch.working_dir) {
        return failure(
            "servererror",
            "TaskDirectoryCreationFailed",
            err.to_string(),
        );
    }
    let _ = fs_err::remove_file(&launch.exit_file);
    let stdout = match fs_err::File::create(launch.task_dir.join("stdout.txt")) {
        Ok(f) => f,
        Err(err) => {
            return failure(
                "servererror",
                "TaskDirectoryCreationFailed",
                err.to_string(),
            );
        }
    };
    let stderr = match fs_err::File::create(launch.task_dir.join("stderr.txt")) {
        Ok(f) => f,
        Err(err) => {
            return failure(
                "servererror",
                "TaskDirectoryCreationFailed",
                err.to_string(),
            );
        }
    };
    let container_name = format!("batchyard-{}", uuid::Uuid::new_v4().simple());
    let argv = match &launch.container {
        Some(container) => docker_argv(&launch, container, &container_name),
        None => launch.argv.clone(),
    };
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(WRAPPER)
        .arg("batchyard-task")
        .args(&argv)
        .current_dir(&launch.working_dir)
        .envs(launch.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("BATCHYARD_EXIT_FILE", &launch.exit_file)
        .env("BATCHYARD_ATTEMPT", &launch.marker)
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout.into_parts().0))
        .stderr(Stdio::from(stderr.into_parts().0))
        // Its own process group, so a kill reaches every process the task started.
        .process_group(0)
        .kill_on_drop(false);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => {
            return failure(
                "servererror",
                "TaskLaunchFailed",
                format!("cannot start /bin/sh: {err}"),
            );
        }
    };
    let pid = child.id().map(i64::from).unwrap_or(0);
    let _ = started.send(pid);
    let wall = launch
        .wall_time
        .unwrap_or(Duration::from_secs(u64::from(u32::MAX)));
    let stop = |reason_killed: bool| {
        let name = container_name.clone();
        let in_docker = launch.container.is_some();
        async move {
            if in_docker {
                let _ = Command::new("docker")
                    .args(["kill", &name])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .await;
            }
            kill_group(pid).await;
            reason_killed
        }
    };
    tokio::select! {
        status = child.wait() => {
            let code = match status {
                Ok(status) => status.code().map(i64::from).or_else(|| read_exit_file(&launch.exit_file)),
                Err(err) => return failure("servererror", "TaskLaunchFailed", err.to_string()),
            };
            Outcome { exit_code: code, ..Outcome::default() }
        }
        _ = tokio::time::sleep(wall) => {
            stop(false).await;
            let _ = child.wait().await;
            Outcome {
                exit_code: None,
                failure: Some(RunFailure {
                    category: "usererror",
                    code: "TaskEnded",
                    message: "The task ran longer than its maximum wall clock time and was terminated.".into(),
                }),
                ..Outcome::default()
            }
        }
        _ = kill => {
            stop(true).await;
            let _ = child.wait().await;
            Outcome { killed: true, ..Outcome::default() }
        }
    }
}

/// Runs a multi-instance task: the coordination command on every instance at once;
/// when all have exited successfully, the application command on the primary. The
/// processes the coordination commands left behind are stopped at the end, as Batch
/// ends subtasks when the primary finishes.
pub async fn run_multi(
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
            let outcome = run_until_killed(launch, pid_tx, kill_rx).await;
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
        run_until_killed(application, started, kill_all_rx).await
    };
    for pid in leftovers {
        kill_group(pid).await;
    }
    forward.abort();
    outcome.instances = instances;
    outcome
}

/// [`run`], stopped when `kill` turns true.
async fn run_until_killed(
    launch: Launch,
    started: oneshot::Sender<i64>,
    mut kill: tokio::sync::watch::Receiver<bool>,
) -> Outcome {
    let (stop_tx, stop_rx) = oneshot::channel();
    let running = run(launch, started, stop_rx);
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
    use super::*;

    fn launch(dir: &Path, argv: &[&str], wall: Option<Duration>) -> Launch {
        Launch {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            env: vec![("AZ_BATCH_TASK_ID".into(), "t1".into())],
            task_dir: dir.to_path_buf(),
            working_dir: dir.join("wd"),
            exit_file: dir.join("exit"),
            wall_time: wall,
            container: None,
            marker: "j/t1/1".into(),
        }
    }

    #[tokio::test]
    async fn runs_without_a_shell_and_captures_output() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, _rx) = oneshot::channel();
        let (_kill_tx, kill_rx) = oneshot::channel();
        // `$AZ_BATCH_TASK_ID` is not expanded: the command line has no shell.
        let out = run(
            launch(dir.path(), &["echo", "$AZ_BATCH_TASK_ID", "a;b"], None),
            tx,
            kill_rx,
        )
        .await;
        assert_eq!(out.exit_code, Some(0));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("stdout.txt")).unwrap(),
            "$AZ_BATCH_TASK_ID a;b\n"
        );
        assert_eq!(read_exit_file(&dir.path().join("exit")), Some(0));

        let (tx, _rx) = oneshot::channel();
        let (_kill_tx, kill_rx) = oneshot::channel();
        let out = run(
            launch(
                dir.path(),
                &["/bin/sh", "-c", "echo $AZ_BATCH_TASK_ID >&2; exit 3"],
                None,
            ),
            tx,
            kill_rx,
        )
        .await;
        assert_eq!(out.exit_code, Some(3));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("stderr.txt")).unwrap(),
            "t1\n"
        );
    }

    #[tokio::test]
    async fn wall_time_kills_the_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, _rx) = oneshot::channel();
        let (_kill_tx, kill_rx) = oneshot::channel();
        let started = std::time::Instant::now();
        let out = run(
            launch(
                dir.path(),
                &["/bin/sh", "-c", "sleep 30"],
                Some(Duration::from_millis(200)),
            ),
            tx,
            kill_rx,
        )
        .await;
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(out.failure.unwrap().code, "TaskEnded");
        assert_eq!(read_exit_file(&dir.path().join("exit")), None);
    }
}
