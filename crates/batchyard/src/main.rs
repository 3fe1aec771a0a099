//! The `batchyard` command.

mod cli;
mod commands;
mod exit;
mod input;
mod output;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::exit::Exit;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(args) => commands::validate::run(&args),
        Command::Schema => commands::schema::run(),
        Command::Init(args) => commands::init::run(&args),
        Command::Completions { shell } => commands::completions::run(shell),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(err) => {
            output::print_error(&err);
            Exit::Usage.into()
        }
    }
}
