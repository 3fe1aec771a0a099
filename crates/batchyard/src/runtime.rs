//! The async runtime, logging and small argument parsers shared by the commands that talk
//! to Batch.

use crate::fail::OrCode as _;
use batchyard_recipe::Code;
use std::future::Future;
use std::time::Duration;

use miette::miette;

use crate::exit::Exit;
use crate::output;

/// Sends `tracing` logs to stderr: warnings by default, more with each `-v`; `RUST_LOG`
/// overrides both.
pub fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(output::stderr_color())
        .try_init();
}

/// Runs a command body on a fresh multi-threaded runtime. Errors are printed here and end
/// the process with status 1, so that 2 keeps meaning "changes" for `plan
/// --detailed-exitcode` (clap's own usage errors still exit 2).
pub fn block_on<F>(body: F) -> miette::Result<Exit>
where
    F: Future<Output = miette::Result<Exit>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .or_code(Code::Internal)?;
    match runtime.block_on(body) {
        Ok(exit) => Ok(exit),
        Err(err) => {
            output::print_error(&err);
            Ok(Exit::Failure)
        }
    }
}

/// Parses `90s`, `15m`, `2h`, `1d`, a bare number of seconds, or ISO 8601 (`PT2H`).
pub fn parse_duration(text: &str) -> miette::Result<Duration> {
    if let Ok(secs) = text.trim().parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    batchyard_recipe::model::Duration::parse(text)
        .map(|d| d.0)
        .map_err(|e| {
            miette!(
                code = Code::InvalidArgument,
                help = "write e.g. 90s, 15m or 2h",
                "bad duration {text:?}: {e}"
            )
        })
}
