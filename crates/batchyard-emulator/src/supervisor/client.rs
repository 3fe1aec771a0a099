//! The emulator's side: starting the supervisor, handing it runs and routing its
//! events back to the runs that wait for them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, ChildStdout};
use tokio::sync::mpsc;

use super::protocol::{self, Event, Request, Spawn};
use super::{SUPERVISOR_ENV, SupervisorCommand, service, unix};
use rustix::process::Signal;

/// How long a starting supervisor may take to say it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a supervisor may take to stop its runs and leave.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Beside the node directories; names the supervisor of the last emulator run on
/// this state.
const PID_FILE: &str = ".supervisor.pid";

/// Why the supervisor could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    /// The program could not be executed.
    #[error("cannot start the task supervisor `{program}`: {source}")]
    Spawn {
        /// The program.
        program: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The service id could not be read or written in the node directory.
    #[error("cannot read or write the service id in {}: {source}", work_dir.display())]
    ServiceId {
        /// The node directory.
        work_dir: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The program ran but never said it was ready.
    #[error(
        "`{program}` did not start a task supervisor; a program that embeds the emulator must call batchyard_emulator::supervisor::run_if_requested() at the start of main"
    )]
    NotASupervisor {
        /// The program.
        program: PathBuf,
    },
}

/// What a run hears about its process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEvent {
    /// It runs with this process id.
    Started(u32),
    /// It could not start.
    Failed(String),
    /// It ended: its exit code, none when stopped on request.
    Exited(Option<i64>),
    /// The supervisor went away; the run's end will never be known.
    Lost,
}

/// Handle on a running supervisor; cheap to clone.
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("pid", &self.inner.pid)
            .finish_non_exhaustive()
    }
}

struct Inner {
    pid: u32,
    service: String,
    requests: mpsc::UnboundedSender<Request>,
    runs: Mutex<Routes>,
    next_id: AtomicU64,
    child: tokio::sync::Mutex<Option<Child>>,
}

#[derive(Default)]
struct Routes {
    waiting: HashMap<u64, mpsc::UnboundedSender<RunEvent>>,
    /// The supervisor's events ended: new runs are lost at once.
    closed: bool,
}

impl Supervisor {
    /// Stops the supervisor a previous emulator on `work_dir` left behind (its runs
    /// are killed and their exit files settled), then starts a new one.
    pub async fn start(
        command: &SupervisorCommand,
        work_dir: &Path,
    ) -> Result<Self, SupervisorError> {
        let service =
            service::service_id(work_dir).map_err(|source| SupervisorError::ServiceId {
                work_dir: work_dir.to_path_buf(),
                source,
            })?;
        stop_previous(work_dir).await;
        let spawn_error = |source| SupervisorError::Spawn {
            program: command.program.clone(),
            source,
        };
        let mut child = tokio::process::Command::new(&command.program)
            .args(&command.args)
            .env(SUPERVISOR_ENV, work_dir)
            // Passed on to every run, so a restart finds this service's runs only.
            .env(service::SERVICE_ENV, &service)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // Out of the emulator's group: a Ctrl-C meant for the emulator does not
            // reach it, and it outlives an emulator that is killed.
            .process_group(0)
            .kill_on_drop(false)
            .spawn()
            .map_err(spawn_error)?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(spawn_error(std::io::Error::other(
                "no pipes to the supervisor",
            )));
        };
        let mut events = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(READY_TIMEOUT, async {
            // A test harness re-run as the supervisor prints a line of its own first.
            while let Ok(Some(line)) = events.next_line().await {
                if let Ok(Event::Ready { pid }) = serde_json::from_str(&line) {
                    return Some(pid);
                }
            }
            None
        })
        .await;
        let Ok(Some(pid)) = ready else {
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Err(SupervisorError::NotASupervisor {
                program: command.program.clone(),
            });
        };
        if let Err(err) = fs_err::write(work_dir.join(PID_FILE), pid.to_string()) {
            tracing::warn!(error = %err, "cannot record the task supervisor's process id; a restart will not find it");
        }
        let (requests, requests_rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            pid,
            service,
            requests,
            runs: Mutex::new(Routes::default()),
            next_id: AtomicU64::new(1),
            child: tokio::sync::Mutex::new(Some(child)),
        });
        tokio::spawn(protocol::write_lines(stdin, requests_rx));
        tokio::spawn(route_events(events, Arc::downgrade(&inner)));
        Ok(Self { inner })
    }

    /// The id this state's service marks its runs with (see [`super::processes_of_run`]).
    pub fn service(&self) -> &str {
        &self.inner.service
    }

    /// Hands a process to the supervisor; its events come on the receiver.
    pub fn spawn(
        &self,
        spawn: impl FnOnce(u64) -> Spawn,
    ) -> (u64, mpsc::UnboundedReceiver<RunEvent>) {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::unbounded_channel();
        {
            let mut routes = self.inner.routes();
            if routes.closed {
                let _ = tx.send(RunEvent::Lost);
                return (id, rx);
            }
            routes.waiting.insert(id, tx);
        }
        if self.inner.requests.send(Request::Spawn(spawn(id))).is_err()
            && let Some(tx) = self.inner.routes().waiting.remove(&id)
        {
            let _ = tx.send(RunEvent::Lost);
        }
        (id, rx)
    }

    /// Kills a run's process group; it then reports `Exited(None)`.
    pub fn kill(&self, id: u64) {
        let _ = self.inner.requests.send(Request::Kill { id });
    }

    /// Stops every run and waits for the supervisor to leave.
    pub async fn shutdown(&self) {
        let _ = self.inner.requests.send(Request::Shutdown);
        let Some(mut child) = self.inner.child.lock().await.take() else {
            return;
        };
        if tokio::time::timeout(STOP_TIMEOUT, child.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                pid = self.inner.pid,
                "the task supervisor did not stop in time; killing it"
            );
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }
}

impl Inner {
    fn routes(&self) -> std::sync::MutexGuard<'_, Routes> {
        self.runs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

async fn route_events(
    mut events: tokio::io::Lines<BufReader<ChildStdout>>,
    inner: std::sync::Weak<Inner>,
) {
    while let Ok(Some(line)) = events.next_line().await {
        let Some(inner) = inner.upgrade() else { return };
        let (id, event) = match serde_json::from_str::<Event>(&line) {
            Ok(Event::Started { id, pid }) => (id, RunEvent::Started(pid)),
            Ok(Event::Failed { id, message }) => (id, RunEvent::Failed(message)),
            Ok(Event::Exited { id, code }) => (id, RunEvent::Exited(code)),
            Ok(Event::Ready { .. }) => continue,
            Err(err) => {
                tracing::warn!(error = %err, "unreadable event from the task supervisor");
                continue;
            }
        };
        let mut routes = inner.routes();
        let route = if matches!(event, RunEvent::Exited(_) | RunEvent::Failed(_)) {
            routes.waiting.remove(&id)
        } else {
            routes.waiting.get(&id).cloned()
        };
        if let Some(route) = route {
            let _ = route.send(event);
        }
    }
    let Some(inner) = inner.upgrade() else { return };
    let mut routes = inner.routes();
    routes.closed = true;
    if !routes.waiting.is_empty() {
        tracing::error!(
            runs = routes.waiting.len(),
            "the task supervisor stopped while processes ran"
        );
    }
    for (_, route) in routes.waiting.drain() {
        let _ = route.send(RunEvent::Lost);
    }
}

/// Stops the supervisor named by the pid file, if it still runs and belongs to
/// `work_dir`: it kills its runs, writes the exits of those that ended by
/// themselves, and leaves.
async fn stop_previous(work_dir: &Path) {
    let Some(pid) = fs_err::read_to_string(work_dir.join(PID_FILE))
        .ok()
        .and_then(|text| text.trim().parse::<i64>().ok())
    else {
        return;
    };
    // A recycled process id belongs to someone else: only a process carrying this
    // work directory's supervisor mark is stopped.
    let mut mark = format!("{SUPERVISOR_ENV}=").into_bytes();
    mark.extend_from_slice(work_dir.as_os_str().as_encoded_bytes());
    if !unix::is_own(pid) || !unix::environ_has(pid, |entry| entry == mark.as_slice()) {
        return;
    }
    tracing::info!(pid, "stopping the task supervisor of the previous run");
    unix::signal(pid, Signal::TERM);
    let deadline = tokio::time::Instant::now() + STOP_TIMEOUT;
    while unix::is_alive(pid) {
        if tokio::time::Instant::now() > deadline {
            tracing::warn!(pid, "the previous task supervisor did not stop; killing it");
            unix::kill_process(pid);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
