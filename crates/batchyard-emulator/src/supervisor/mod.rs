//! The task supervisor: one long-lived process per emulator that starts the
//! processes of tasks, start tasks and job preparation tasks, and records how each
//! ended.
//!
//! Why a separate process: a task that finishes while the emulator is down (killed,
//! crashed) must count as finished, not run again after the restart. Its parent
//! must outlive the emulator and write the exit code somewhere durable; the
//! supervisor does both for every run, so a task costs one process, as under
//! `xargs`, instead of a shell wrapper per task.
//!
//! The supervisor is the emulator's own program run again with
//! [`SUPERVISOR_ENV`] set: a program that embeds the emulator calls
//! [`run_if_requested`] first thing in `main`. Tests, whose `main` belongs to the
//! test harness, use [`SupervisorCommand::test_entry`].

mod client;
mod journal;
mod process;
pub mod protocol;
mod service;
pub(crate) mod unix;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

pub use client::{RunEvent, Supervisor, SupervisorError};
pub use journal::{clear_exits, read_exits};
pub use service::{ATTEMPT_ENV, SERVICE_ENV, processes_of_run, service_id};

/// Set (to the emulator's work directory) in the supervisor's environment; never
/// passed on to the processes it starts.
pub const SUPERVISOR_ENV: &str = "BATCHYARD_TASK_SUPERVISOR";

/// When this process was started as a task supervisor, runs it to its end and
/// returns the exit code to leave with; otherwise returns `None` at once.
///
/// Call it at the very start of `main`, before any runtime is built.
pub fn run_if_requested() -> Option<ExitCode> {
    let work_dir = std::env::var_os(SUPERVISOR_ENV)?;
    Some(process::main(PathBuf::from(work_dir)))
}

/// The body of a test binary's supervisor entry (see
/// [`SupervisorCommand::test_entry`]): when this process was started as the
/// supervisor, runs it and exits the process; otherwise returns at once.
pub fn test_entry() {
    if let Some(code) = run_if_requested() {
        std::process::exit(if code == ExitCode::SUCCESS { 0 } else { 1 });
    }
}

/// How to start the supervisor: a program that calls [`run_if_requested`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupervisorCommand {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
}

impl SupervisorCommand {
    /// This very program, which must call [`run_if_requested`] in `main`.
    pub fn this_program() -> Self {
        Self {
            program: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe")),
            args: Vec::new(),
        }
    }

    /// Another program that calls [`run_if_requested`] in `main`.
    pub fn program(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
        }
    }

    /// This test binary, running only the test named `test_path` (for example
    /// `common::task_supervisor`), whose body is a call to [`run_if_requested`].
    /// For test binaries, whose `main` is the harness's.
    pub fn test_entry(test_path: &str) -> Self {
        Self {
            args: [
                test_path,
                "--exact",
                "--nocapture",
                "--test-threads=1",
                "--quiet",
            ]
            .into_iter()
            .map(OsString::from)
            .collect(),
            ..Self::this_program()
        }
    }
}
