//! Messages between the emulator and its task supervisor: one JSON object a line,
//! requests on the supervisor's stdin, events on its stdout.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncWrite, AsyncWriteExt as _};
use tokio::sync::mpsc;

/// What the emulator asks of the supervisor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Start a process.
    Spawn(Spawn),
    /// Stop a run's whole process group; its end is reported as killed.
    Kill {
        /// The run.
        id: u64,
    },
    /// Stop every run, then exit.
    Shutdown,
}

/// One process to start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spawn {
    /// Chosen by the emulator; names the run in later messages.
    pub id: u64,
    /// Program and arguments, run without a shell.
    pub argv: Vec<String>,
    /// Variables added to the supervisor's own environment.
    pub env: Vec<(String, String)>,
    /// Created when missing; the process starts there.
    pub working_dir: PathBuf,
    /// Receives stdout.txt and stderr.txt.
    pub task_dir: PathBuf,
    /// Names the run in the exit journal, and is put in the process's environment as
    /// `BATCHYARD_ATTEMPT` so the run can be found after a restart. No newline.
    pub marker: String,
}

/// What the supervisor reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// The supervisor runs and reads requests.
    Ready {
        /// Its process id.
        pid: u32,
    },
    /// A run's process started; it leads its own process group.
    Started {
        /// The run.
        id: u64,
        /// Process id (and process group id).
        pid: u32,
    },
    /// A run could not start (its directory could not be made).
    Failed {
        /// The run.
        id: u64,
        /// Why.
        message: String,
    },
    /// A run ended.
    Exited {
        /// The run.
        id: u64,
        /// Exit code (128 + signal when a signal ended it); none when it was
        /// stopped on request.
        code: Option<i64>,
    },
}

/// Writes what `messages` receives to `out`, one JSON object a line; a burst goes out
/// in one write. Stops when the channel closes or the other side is gone.
pub(super) async fn write_lines<T: Serialize>(
    mut out: impl AsyncWrite + Unpin,
    mut messages: mpsc::UnboundedReceiver<T>,
) {
    let mut buffer = Vec::new();
    while let Some(message) = messages.recv().await {
        buffer.clear();
        push_line(&mut buffer, &message);
        while let Ok(message) = messages.try_recv() {
            push_line(&mut buffer, &message);
        }
        if out.write_all(&buffer).await.is_err() || out.flush().await.is_err() {
            return;
        }
    }
}

fn push_line(buffer: &mut Vec<u8>, message: &impl Serialize) {
    if serde_json::to_writer(&mut *buffer, message).is_ok() {
        buffer.push(b'\n');
    }
}
