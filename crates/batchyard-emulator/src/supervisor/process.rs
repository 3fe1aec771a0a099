//! The supervisor process: starts the processes the emulator asks for, waits for
//! them, and appends each exit code to the exit journal before reporting it.
//!
//! It leads its own process group and does not stop when the emulator dies: runs
//! go on, their exits are still written, and it leaves once the last one ends. A
//! restarted emulator first stops a supervisor left over from the previous run
//! (SIGTERM: every run is killed and reported as killed) and then reads the exit
//! journal, so "ended by itself" and "killed with the emulator" are told apart by the
//! one process that reaped the run.

use std::collections::HashMap;
use std::io::Write as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::PathBuf;
use std::process::{ExitCode, ExitStatus, Stdio};

use std::os::fd::AsFd as _;

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::net::unix::pipe;
use tokio::sync::mpsc;

use super::SUPERVISOR_ENV;
use super::journal::Journal;
use super::protocol::{self, Event, Request, Spawn};
use super::unix;

/// Runs the supervisor until its runs are over and it was told to stop (or the
/// emulator went away).
pub(super) fn main(work_dir: PathBuf) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("batchyard task supervisor: cannot start: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        // The emulator's pipes, read and written without a blocking thread between:
        // each hop to another thread adds latency to every task's start and end.
        let pipes = (|| {
            let requests = std::io::stdin().as_fd().try_clone_to_owned()?;
            let events = std::io::stdout().as_fd().try_clone_to_owned()?;
            Ok::<_, std::io::Error>((
                pipe::Receiver::from_owned_fd(requests)?,
                pipe::Sender::from_owned_fd(events)?,
            ))
        })();
        match pipes {
            Ok((requests, events)) => serve(Journal::open(&work_dir), requests, events).await,
            Err(err) => {
                eprintln!("batchyard task supervisor: stdin and stdout must be pipes: {err}");
                ExitCode::FAILURE
            }
        }
    })
}

/// A process the supervisor started and has not reaped yet.
struct Run {
    pid: u32,
    marker: String,
    /// Stopped on request: its end is not the run's own, so not journaled.
    killed: bool,
}

async fn serve(mut journal: Journal, requests: pipe::Receiver, out: pipe::Sender) -> ExitCode {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(err) => {
            eprintln!("batchyard task supervisor: cannot watch SIGTERM: {err}");
            return ExitCode::FAILURE;
        }
    };
    let (events, events_rx) = mpsc::unbounded_channel();
    // Once the emulator is gone the journal is the only record; events are dropped.
    let writer = tokio::spawn(protocol::write_lines(out, events_rx));
    let (exits_tx, mut exits) = mpsc::unbounded_channel::<(u64, std::io::Result<ExitStatus>)>();
    let mut runs: HashMap<u64, Run> = HashMap::new();
    let mut requests = BufReader::new(requests).lines();
    let mut reading = true;
    let _ = events.send(Event::Ready {
        pid: std::process::id(),
    });
    while reading || !runs.is_empty() {
        tokio::select! {
            line = requests.next_line(), if reading => match line {
                Ok(Some(line)) => match serde_json::from_str::<Request>(&line) {
                    Ok(Request::Spawn(spawn)) => start(spawn, &mut runs, &mut journal, &events, &exits_tx),
                    Ok(Request::Kill { id }) => {
                        if let Some(run) = runs.get_mut(&id) {
                            kill(run);
                        }
                    }
                    Ok(Request::Shutdown) => {
                        runs.values_mut().for_each(kill);
                        reading = false;
                    }
                    Err(err) => eprintln!("batchyard task supervisor: ignoring a request it cannot read: {err}"),
                },
                // The emulator went away: the runs go on and their exits are written
                // for the next emulator to find.
                Ok(None) | Err(_) => reading = false,
            },
            Some((id, status)) = exits.recv() => finished(id, status, &mut runs, &mut journal, &events),
            _ = term.recv() => {
                runs.values_mut().for_each(kill);
                reading = false;
            }
        }
    }
    drop(events);
    let _ = writer.await;
    ExitCode::SUCCESS
}

fn start(
    spawn: Spawn,
    runs: &mut HashMap<u64, Run>,
    journal: &mut Journal,
    events: &mpsc::UnboundedSender<Event>,
    exits: &mpsc::UnboundedSender<(u64, std::io::Result<ExitStatus>)>,
) {
    let id = spawn.id;
    match launch(&spawn) {
        Ok(Launched::Running(mut child)) => {
            let pid = child.id().unwrap_or(0);
            runs.insert(
                id,
                Run {
                    pid,
                    marker: spawn.marker,
                    killed: false,
                },
            );
            let _ = events.send(Event::Started { id, pid });
            let exits = exits.clone();
            tokio::spawn(async move {
                let status = child.wait().await;
                let _ = exits.send((id, status));
            });
        }
        Ok(Launched::NotRunnable(code)) => {
            journal.record(&spawn.marker, code);
            let _ = events.send(Event::Exited {
                id,
                code: Some(code),
            });
        }
        Err(err) => {
            let _ = events.send(Event::Failed {
                id,
                message: err.to_string(),
            });
        }
    }
}

enum Launched {
    Running(tokio::process::Child),
    /// The program could not be executed; the code is the one a shell gives (127
    /// not found, 126 not executable), with the reason in stderr.txt.
    NotRunnable(i64),
}

fn launch(spawn: &Spawn) -> std::io::Result<Launched> {
    fs_err::create_dir_all(&spawn.working_dir)?;
    let stdout = fs_err::File::create(spawn.task_dir.join("stdout.txt"))?
        .into_parts()
        .0;
    let mut stderr = fs_err::File::create(spawn.task_dir.join("stderr.txt"))?
        .into_parts()
        .0;
    let Some((program, args)) = spawn.argv.split_first() else {
        let _ = writeln!(stderr, "the command line is empty");
        return Ok(Launched::NotRunnable(127));
    };
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .current_dir(&spawn.working_dir)
        .envs(spawn.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        // With the service id inherited from the supervisor's own environment, this
        // names the run for a restarted service (see `super::processes_of_run`).
        .env(super::ATTEMPT_ENV, &spawn.marker)
        .env_remove(SUPERVISOR_ENV)
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr.try_clone()?))
        // Its own process group, so a kill reaches every process the run started.
        .process_group(0)
        .kill_on_drop(false);
    match command.spawn() {
        Ok(child) => Ok(Launched::Running(child)),
        Err(err) => {
            let code = if err.kind() == std::io::ErrorKind::NotFound {
                let _ = writeln!(stderr, "{program}: not found");
                127
            } else {
                let _ = writeln!(stderr, "{program}: cannot be run: {err}");
                126
            };
            Ok(Launched::NotRunnable(code))
        }
    }
}

fn kill(run: &mut Run) {
    run.killed = true;
    // The run has not been reaped (its end would have removed it), so the group
    // id still names its processes.
    unix::kill_group(i64::from(run.pid));
}

fn finished(
    id: u64,
    status: std::io::Result<ExitStatus>,
    runs: &mut HashMap<u64, Run>,
    journal: &mut Journal,
    events: &mpsc::UnboundedSender<Event>,
) {
    let Some(run) = runs.remove(&id) else {
        return;
    };
    let code = status.ok().and_then(|status| {
        status
            .code()
            .map(i64::from)
            .or_else(|| status.signal().map(|signal| 128 + i64::from(signal)))
    });
    if run.killed {
        let _ = events.send(Event::Exited { id, code: None });
        return;
    }
    if let Some(code) = code {
        // Journaled before it is reported: a restarted emulator counts the run as
        // finished even if the report never reached the one that died.
        journal.record(&run.marker, code);
    }
    let _ = events.send(Event::Exited { id, code });
}
