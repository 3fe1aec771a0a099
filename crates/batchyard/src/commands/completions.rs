use clap::CommandFactory;

use crate::cli::Cli;
use crate::exit::Exit;

/// Prints the completion script for `shell`.
pub fn run(shell: clap_complete::Shell) -> miette::Result<Exit> {
    // Generated into memory first: clap_complete panics on a failed write, and a reader
    // that stops early (`| head`) is no failure.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "batchyard", &mut script);
    crate::output::emit_bytes(&script);
    Ok(Exit::Success)
}
