//! The `batchyard` command.

mod cli;
mod commands;
mod cost;
mod data;
mod exit;
mod fail;
mod input;
mod local;
mod output;
mod preflight;
mod prepared;
mod progress;
mod recipe;
mod report;
mod runtime;
mod secrets;
mod target;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::exit::Exit;

fn main() -> std::process::ExitCode {
    // The emulator runs its task supervisor as this program started again.
    if let Some(code) = batchyard_emulator::run_if_requested() {
        return code;
    }
    let cli = Cli::parse();
    runtime::init_logging(cli.verbose);
    let result = match cli.command {
        Command::Validate(args) => commands::validate::run(&args),
        Command::Schema => commands::schema::run(),
        Command::Init(args) => commands::init::run(&args),
        Command::Completions { shell } => commands::completions::run(shell),
        Command::Plan(args) => commands::plan::run(&args),
        Command::Apply(args) => commands::apply::run(&args),
        Command::Run(args) => commands::run::run(&args),
        Command::Destroy(args) => commands::destroy::run(&args),
        Command::Status(args) => commands::status::run(&args),
        Command::Logs(args) => commands::logs::run(&args),
        Command::Retry(args) => commands::retry::run(&args),
        Command::Outputs(args) => commands::outputs::run(&args),
        Command::Render(args) => commands::render::run(&args),
        Command::Simulate(args) => commands::simulate::run(&args),
        Command::Report(args) => commands::report::run(&args),
        Command::Local { command } => commands::local::run(command),
        Command::Emulator { command } => commands::emulator::run(command),
        Command::Import {
            command: cli::ImportCommand::Shipyard(args),
        } => commands::import::run(&args),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(err) => {
            output::print_error(&err);
            Exit::Usage.into()
        }
    }
}
