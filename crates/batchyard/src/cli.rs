//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Declarative orchestrator for Azure Batch: describe pools, containers, GPUs, MPI and jobs in
/// a recipe file; batchyard checks it, plans the changes and applies them.
#[derive(Debug, Parser)]
#[command(
    name = "batchyard",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check recipes for errors without touching any Batch account.
    ///
    /// Exit status: 0 when every recipe is valid, 1 when any has an error, 2 on a usage or
    /// file error.
    Validate(ValidateArgs),
    /// Print the recipe JSON Schema (for editors and CI).
    Schema,
    /// Write a commented starter recipe.
    Init(InitArgs),
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Template variable overrides, shared by every command that reads a recipe.
#[derive(Debug, Clone, Args, Default)]
pub struct VarArgs {
    /// Override a recipe variable: NAME=VALUE (repeatable). VALUE is read as YAML, so
    /// `nodes=4` is a number.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Read variable overrides from a YAML file of NAME: VALUE (repeatable; later wins;
    /// `--var` wins over files).
    #[arg(long = "vars", value_name = "FILE")]
    pub var_files: Vec<PathBuf>,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Output {
    /// For people.
    #[default]
    Human,
    /// For programs.
    Json,
}

/// `batchyard validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The recipe files.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Variable overrides.
    #[command(flatten)]
    pub vars: VarArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// `batchyard init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write the recipe.
    #[arg(default_value = "recipe.yaml", value_name = "PATH")]
    pub path: PathBuf,
    /// Start from a GPU pool and a parameter sweep.
    #[arg(long)]
    pub gpu: bool,
    /// Start from an InfiniBand pool and an MPI task.
    #[arg(long, conflicts_with = "gpu")]
    pub mpi: bool,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}
