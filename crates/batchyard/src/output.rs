//! Where and how things are printed: colour only on a terminal and without `NO_COLOR`, and
//! stdout written so that a reader that stops early (`| head`) ends nothing badly.

use batchyard_recipe::Code;
use std::io::{IsTerminal, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by commands run with `--output json`: problems that end them early (an invalid
/// recipe) are then also printed on stdout as JSON, so a program always gets a document.
static JSON_ON_STDOUT: AtomicBool = AtomicBool::new(false);

/// Says that this command prints JSON on stdout (see [`json_on_stdout`]).
pub fn set_json_on_stdout(on: bool) {
    JSON_ON_STDOUT.store(on, Ordering::Relaxed);
}

/// Whether this command prints JSON on stdout.
pub fn json_on_stdout() -> bool {
    JSON_ON_STDOUT.load(Ordering::Relaxed)
}

/// Set once stdout's reader has gone away; later writes are dropped.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `text` to stdout and flushes it. When the reader has closed the pipe (`| head`),
/// the rest of the output is dropped quietly, as Unix tools do: the reader has what it
/// wanted, and a command that changes things still finishes its work. Any other write
/// error is reported once on stderr.
pub fn emit(text: &str) {
    emit_bytes(text.as_bytes());
}

/// Writes bytes to stdout, as [`emit`] does text.
pub fn emit_bytes(bytes: &[u8]) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("batchyard: cannot write to stdout: {e}");
        }
    }
}

/// Whether stdout can no longer be written (its reader went away): commands that would
/// only print more, such as `logs --follow`, stop.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// The error of a failed write to stdout, for commands that stream straight to it
/// (`render`, which holds no target). A reader that went away (`| head`) ends the process
/// quietly with status 0, as Unix tools do.
pub fn write_failed(e: std::io::Error) -> miette::Report {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    miette::miette!(code = Code::WriteFailed, "cannot write to stdout: {e}")
}

/// `println!` that never panics on a closed stdout (see [`emit`]).
macro_rules! outln {
    () => {
        $crate::output::emit("\n")
    };
    ($($arg:tt)*) => {
        $crate::output::emit(&format!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use outln;

/// Whether stderr gets colour.
pub fn stderr_color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The report style for stderr.
pub fn report_style() -> batchyard_recipe::report::Style {
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100);
    batchyard_recipe::report::Style {
        color: stderr_color(),
        width,
    }
}

/// Prints an error that stopped a command.
pub fn print_error(err: &miette::Report) {
    eprintln!("{err:?}");
}

/// The stable code of an error (see `batchyard_recipe::Code`), for the `error_code` member
/// that JSON documents carry beside `error`; `null` for an error without one.
pub fn error_code(err: &miette::Report) -> serde_json::Value {
    err.code()
        .map_or(serde_json::Value::Null, |c| c.to_string().into())
}

/// Whether stdout gets colour.
pub fn stdout_color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Wraps `text` in an ANSI colour when `on`.
pub fn paint(text: &str, color: Color, on: bool) -> String {
    if !on {
        return text.to_owned();
    }
    let code = match color {
        Color::Green => "32",
        Color::Yellow => "33",
        Color::Red => "31",
        Color::Dim => "2",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// The few colours used.
#[derive(Debug, Clone, Copy)]
pub enum Color {
    /// Creates, successes.
    Green,
    /// Changes.
    Yellow,
    /// Deletions, replacements, failures.
    Red,
    /// Reasons and details.
    Dim,
}
