use clap::CommandFactory;

use crate::cli::Cli;
use crate::exit::Exit;

/// Prints the completion script for `shell`.
pub fn run(shell: clap_complete::Shell) -> miette::Result<Exit> {
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "batchyard",
        &mut std::io::stdout(),
    );
    Ok(Exit::Success)
}
