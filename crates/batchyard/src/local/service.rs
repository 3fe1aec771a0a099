//! Finding, starting, reusing and stopping the local Batch service of a state folder.
//!
//! Two locks in the folder keep this safe between any number of commands:
//! - `start.lock` is held (exclusive) by whoever decides whether a service runs: a command
//!   that starts or reuses one, `local stop`, and the service itself when it stops for
//!   being idle. So a decision is never made on a service that is going away.
//! - the emulator's state lock (`emulator.db.lock`) is held exclusive by the running
//!   service for its whole life, and shared by read-only commands that open the state
//!   themselves while no service runs.
//!   The kernel releases it when its holder dies, even by `kill -9`, so a lock that can be
//!   taken means nothing runs, whatever `service.json` still says.

use crate::fail::OrCode as _;
use batchyard_recipe::Code;
use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use miette::miette;
use serde::{Deserialize, Serialize};

use super::folder::{StateFolder, write_private};

/// How long a command waits for another one that is deciding, or for a service to start.
const WAIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(50);

/// What the running service writes into the state folder once it listens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceRecord {
    /// Its process id.
    pub pid: u32,
    /// Where it listens (loopback).
    pub url: String,
    /// When it started, in seconds since the Unix epoch.
    pub started: u64,
    /// How long it stays up with nothing to do, in seconds.
    pub idle_timeout_secs: u64,
    /// Its blob endpoint (`http://127.0.0.1:PORT/ACCOUNT`), verifying the same account
    /// name and key as the Batch endpoint.
    #[serde(default)]
    pub blob_url: Option<String>,
}

impl ServiceRecord {
    /// Reads the record, if there is a readable one.
    pub fn read(folder: &StateFolder) -> Option<Self> {
        let text = fs_err::read_to_string(folder.record()).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes it (owner-only).
    pub fn write(&self, folder: &StateFolder) -> miette::Result<()> {
        let text = serde_json::to_vec_pretty(self).or_code(Code::LocalState)?;
        write_private(&folder.record(), &text)
    }
}

/// What a read-only command finds.
pub enum Reading {
    /// A service runs: talk to it.
    Service(ServiceRecord),
    /// None runs: the command may read the state itself while it holds this (shared)
    /// lock, which keeps a service from starting under it.
    Offline(File),
}

enum Probe {
    Service(ServiceRecord),
    /// Read-only commands hold the state; no service runs.
    Readers,
    /// Nothing holds the state; the exclusive lock is held through this file.
    Free(File),
}

/// The decision lock, released on drop.
pub struct StartGuard {
    _file: File,
}

impl StartGuard {
    /// Waits (bounded) for the decision lock.
    pub async fn acquire(folder: &StateFolder) -> miette::Result<Self> {
        let file = StateFolder::open_lock(&folder.start_lock())?;
        let deadline = Instant::now() + WAIT;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Self { _file: file }),
                Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    tokio::time::sleep(POLL).await;
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(miette!(
                        code = Code::LocalBusy,
                        help = "another batchyard command is starting or stopping the local service for this folder; try again, or run `batchyard local status`",
                        "waited {} s for {}",
                        WAIT.as_secs(),
                        folder.start_lock().display()
                    ));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(miette!(
                        code = Code::LocalState,
                        "cannot lock {}: {e}",
                        folder.start_lock().display()
                    ));
                }
            }
        }
    }

    /// Takes the decision lock only if it is free now.
    pub fn try_acquire(folder: &StateFolder) -> Option<Self> {
        let file = StateFolder::open_lock(&folder.start_lock()).ok()?;
        file.try_lock().ok().map(|()| Self { _file: file })
    }
}

/// Call with the decision lock held.
fn probe(folder: &StateFolder) -> miette::Result<Probe> {
    let lock = StateFolder::open_lock(&folder.service_lock())?;
    match lock.try_lock() {
        Ok(()) => {
            // Left by a service that was killed.
            let _ = fs_err::remove_file(folder.record());
            Ok(Probe::Free(lock))
        }
        Err(std::fs::TryLockError::WouldBlock) => Ok(ServiceRecord::read(folder)
            .filter(|r| alive(r.pid))
            .map_or(Probe::Readers, Probe::Service)),
        Err(std::fs::TryLockError::Error(e)) => Err(miette!(
            code = Code::LocalState,
            "cannot lock {}: {e}",
            folder.service_lock().display()
        )),
    }
}

/// Whether the process runs; a zombie (ended, not yet reaped) does not count.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesized command name, which may hold anything.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// Marks the service as in use now: it counts as activity against the idle timeout.
fn touch(folder: &StateFolder) {
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(folder.last_use())
        .and_then(|f| f.set_modified(SystemTime::now()));
}

/// Keeps marking the service as in use while the command runs (`run` following its
/// tasks, `logs --follow`), so that it does not stop under a command that waits on it.
pub fn keep_alive(folder: StateFolder, record: &ServiceRecord) -> tokio::task::JoinHandle<()> {
    let every = Duration::from_secs(record.idle_timeout_secs / 3).max(Duration::from_secs(1));
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            touch(&folder);
        }
    })
}

/// The running service, started first when none runs.
pub async fn for_change(
    folder: &StateFolder,
    idle_timeout: Duration,
) -> miette::Result<ServiceRecord> {
    let _guard = StartGuard::acquire(folder).await?;
    let deadline = Instant::now() + WAIT;
    let mut said = false;
    loop {
        match probe(folder)? {
            Probe::Service(record) => {
                touch(folder);
                return Ok(record);
            }
            Probe::Free(lock) => {
                drop(lock);
                touch(folder);
                return start(folder, idle_timeout).await;
            }
            Probe::Readers if Instant::now() < deadline => {
                if !said {
                    eprintln!(
                        "waiting for a read-only batchyard command on {} to end...",
                        folder.dir().display()
                    );
                    said = true;
                }
                tokio::time::sleep(POLL).await;
            }
            Probe::Readers => {
                return Err(miette!(
                    code = Code::LocalBusy,
                    help = "a `batchyard logs --follow`, `status` or `plan` is reading this state without a service; end it and try again",
                    "waited {} s for read-only commands on {} to end",
                    WAIT.as_secs(),
                    folder.dir().display()
                ));
            }
        }
    }
}

/// The running service, or the right to read the state alone.
pub async fn for_reading(folder: &StateFolder) -> miette::Result<Reading> {
    let _guard = StartGuard::acquire(folder).await?;
    match probe(folder)? {
        Probe::Service(record) => {
            touch(folder);
            Ok(Reading::Service(record))
        }
        // flock converts the exclusive lock held through this file into a shared one.
        Probe::Free(lock) => shared(lock, folder),
        Probe::Readers => shared(StateFolder::open_lock(&folder.service_lock())?, folder),
    }
}

fn shared(lock: File, folder: &StateFolder) -> miette::Result<Reading> {
    lock.try_lock_shared().map_err(|e| {
        miette!(
            code = Code::LocalState,
            "cannot lock {} for reading: {e}",
            folder.service_lock().display()
        )
    })?;
    Ok(Reading::Offline(lock))
}

/// The running service's record, without starting or touching anything.
pub fn running(folder: &StateFolder) -> miette::Result<Option<ServiceRecord>> {
    let Some(_guard) = StartGuard::try_acquire(folder) else {
        // Another command is deciding: probing the lock now could keep a service it is
        // starting from taking it.
        return Ok(ServiceRecord::read(folder).filter(|r| alive(r.pid)));
    };
    Ok(match probe(folder)? {
        Probe::Service(record) => Some(record),
        Probe::Readers | Probe::Free(_) => None,
    })
}

/// Stops the running service: it stops its task processes (requeued on its next start,
/// as Batch requeues the tasks of a lost node) and closes the state. Returns what was
/// stopped.
pub async fn stop(folder: &StateFolder) -> miette::Result<Option<ServiceRecord>> {
    let _guard = StartGuard::acquire(folder).await?;
    let Probe::Service(record) = probe(folder)? else {
        return Ok(None);
    };
    signal(record.pid, rustix::process::Signal::TERM);
    let lock = StateFolder::open_lock(&folder.service_lock())?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while lock.try_lock().is_err() {
        if Instant::now() >= deadline {
            tracing::warn!(
                pid = record.pid,
                "the local service did not stop in 30 s; killing it"
            );
            signal(record.pid, rustix::process::Signal::KILL);
            lock.lock().or_code(Code::LocalState)?;
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    // The lock goes with the state; the process ends right after. Stopped means gone.
    while alive(record.pid) {
        if Instant::now() >= deadline {
            signal(record.pid, rustix::process::Signal::KILL);
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    let _ = fs_err::remove_file(folder.record());
    Ok(Some(record))
}

fn signal(pid: u32, signal: rustix::process::Signal) {
    if let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

/// Starts this program as the service, detached: its own session (so closing the
/// terminal does not stop it), stdin closed, stdout and stderr appended to the log in
/// the state folder. Returns once it listens.
async fn start(folder: &StateFolder, idle_timeout: Duration) -> miette::Result<ServiceRecord> {
    let log_path = folder.log();
    let log = fs_err::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .or_code(Code::LocalState)?;
    let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
    let exe = std::env::current_exe().or_code(Code::LocalState)?;
    let mut child = std::process::Command::new(exe)
        .args(["-v", "local", "serve", "--state-dir"])
        .arg(folder.dir())
        .arg("--idle-timeout")
        .arg(format!("{}s", idle_timeout.as_secs().max(1)))
        .stdin(Stdio::null())
        .stdout(log.try_clone().or_code(Code::LocalState)?.into_file())
        .stderr(log.into_file())
        .spawn()
        .map_err(|e| {
            miette!(
                code = Code::LocalStart,
                "cannot start the local Batch service: {e}"
            )
        })?;
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(record) = ServiceRecord::read(folder).filter(|r| r.pid == child.id()) {
            tracing::info!(url = %record.url, pid = record.pid, "local Batch service started");
            return Ok(record);
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(miette!(
                code = Code::LocalStart,
                help = format!("its log is {}", log_path.display()),
                "the local Batch service stopped as it started ({status}):\n{}",
                tail(&log_path, log_start)
            ));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            return Err(miette!(
                code = Code::LocalStart,
                help = format!("its log is {}", log_path.display()),
                "the local Batch service did not start within {} s",
                WAIT.as_secs()
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// What the log gained since `from`, at most its last 4 KiB.
fn tail(path: &Path, from: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(path) {
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let start = from.max(len.saturating_sub(4096));
        if file.seek(SeekFrom::Start(start)).is_ok() {
            let _ = file.read_to_string(&mut text);
        }
    }
    text.trim_end().to_owned()
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
