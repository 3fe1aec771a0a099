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
    /// Log what batchyard does to stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
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
    /// Show what `apply` would change, and why.
    ///
    /// Exit status: 0 success (with --detailed-exitcode: no changes), 2 with
    /// --detailed-exitcode when there are changes, 1 on an error or a conflict.
    Plan(PlanArgs),
    /// Make the target match the recipe: create, change, resize, add tasks.
    ///
    /// Exit status: 0 applied (or nothing to do), 1 on an error or a refusal.
    Apply(ApplyArgs),
    /// Apply, follow the jobs to their end, and summarize their tasks.
    ///
    /// Exit status: 0 when every task succeeded, 1 when any failed or on an error.
    Run(RunArgs),
    /// Delete the pools and jobs the recipe owns, and nothing else.
    Destroy(DestroyArgs),
    /// Show pools, nodes by state, jobs and task counts.
    Status(StatusArgs),
    /// Print a task's stdout (or stderr).
    Logs(LogsArgs),
    /// Run failed tasks again, without editing the recipe (Batch's reactivate).
    ///
    /// Exit status: 0 when every named task was retried, 1 when Batch refused any (a task
    /// that succeeded or has not completed, or a job that has completed).
    Retry(RetryArgs),
    /// Download what a job's tasks uploaded (their `outputs`), a folder per task.
    ///
    /// Files already there with the same size are skipped, so it can be run again as
    /// tasks finish.
    Outputs(OutputsArgs),
    /// Print the Batch payloads a recipe compiles to: pools and jobs as documents, tasks
    /// as JSON Lines.
    Render(RenderArgs),
    /// Run the recipe in virtual time, with no process started: makespan, node-hours,
    /// busy/idle split, cost and the autoscale trace, before anything is paid for.
    ///
    /// Exit status: 0 when every task completed in the simulation, 1 when some never
    /// could (a pool without nodes, a dependency never met) or on an error.
    Simulate(SimulateArgs),
    /// Write a job's run report: one self-contained HTML file with a node x time timeline
    /// of its tasks, their outcomes and exit codes, the slowest and failed tasks, node
    /// utilization and node-hours.
    Report(ReportArgs),
    /// Manage the local Batch service of a state folder (started by apply and run).
    Local {
        /// What to do with it.
        #[command(subcommand)]
        command: LocalCommand,
    },
    /// Run the local Batch emulator.
    Emulator {
        /// What to do with it.
        #[command(subcommand)]
        command: EmulatorCommand,
    },
    /// Convert configurations of other tools into recipes.
    Import {
        /// From what.
        #[command(subcommand)]
        command: ImportCommand,
    },
}

/// `batchyard import ...`.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Convert a Batch Shipyard config set (credentials, config, pool, jobs) into a recipe.
    ///
    /// What cannot come across is listed one line each, with the Shipyard key and what
    /// batchyard offers instead. Exit status: 0 imported, 1 imported with errors (the recipe
    /// is still written, with the problems noted in it), 2 nothing could be imported.
    Shipyard(ImportShipyardArgs),
}

/// `batchyard import shipyard`.
#[derive(Debug, Args)]
pub struct ImportShipyardArgs {
    /// The config set's directory.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Write the recipe here instead of to stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The recipe's name [default: from the directory name].
    #[arg(long)]
    pub name: Option<String>,
    /// Jobs files to read [default: every jobs*.yaml in DIR] (repeatable).
    #[arg(long = "jobs", value_name = "FILE")]
    pub jobs_files: Vec<PathBuf>,
}

/// Where the Batch service is and how to authenticate.
#[derive(Debug, Clone, Args, Default)]
pub struct TargetArgs {
    /// Batch account endpoint (or a served emulator), e.g.
    /// https://NAME.REGION.batch.azure.com. Without it: the local Batch service of the state folder.
    // clap prints this doc as the --help text, where the placeholder URL needs no markup.
    #[allow(rustdoc::bare_urls)]
    #[arg(long, env = "AZURE_BATCH_ENDPOINT", value_name = "URL")]
    pub account_url: Option<String>,
    /// Allow a plain http:// --account-url on a host other than this machine: the
    /// credentials then cross the network in clear.
    #[arg(long, env = "BATCHYARD_ALLOW_INSECURE_HTTP")]
    pub allow_insecure_http: bool,
    /// State folder of the local Batch service [default: .batchyard beside the recipe].
    #[arg(long, value_name = "DIR", conflicts_with = "account_url")]
    pub state_dir: Option<PathBuf>,
    /// How long the local Batch service that apply or run starts stays up with no task
    /// running and nothing changing, e.g. 90s, 10m [default: 5m].
    #[arg(long, value_name = "DURATION", env = "BATCHYARD_LOCAL_IDLE_TIMEOUT")]
    pub idle_timeout: Option<String>,
    /// How to authenticate to --account-url. auto: Shared Key when AZURE_BATCH_ACCOUNT and
    /// AZURE_BATCH_ACCESS_KEY are set, none for a loopback URL, else Microsoft Entra ID.
    #[arg(long, value_enum, default_value_t)]
    pub auth: AuthMethod,
}

/// Authentication methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum AuthMethod {
    /// Pick from the environment and the URL.
    #[default]
    Auto,
    /// Shared Key from AZURE_BATCH_ACCOUNT and AZURE_BATCH_ACCESS_KEY.
    SharedKey,
    /// Microsoft Entra ID (service principal, workload identity, managed identity, Azure CLI).
    Entra,
    /// No credentials (an emulator on loopback).
    None,
}

/// `batchyard plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The recipe file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Variable overrides.
    #[command(flatten)]
    pub vars: VarArgs,
    /// The target.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
    /// Exit 0 when there is nothing to change, 2 when there are changes, 1 on an error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// The Azure region to price the pools in, e.g. eastus [default: the region of
    /// --account-url; the local service has none, so its plans show costs only with this].
    #[arg(long, env = "BATCHYARD_REGION", value_name = "REGION")]
    pub region: Option<String>,
    /// How long the pools will run, e.g. 90m, 12h: the plan then shows the expected cost.
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,
    /// Estimated task durations, as `simulate --duration` takes them (90s,
    /// uniform:30s..90s, normal:60s,10s, column:NAME, measured): the plan simulates the
    /// run with them and shows its expected cost.
    #[arg(long, value_name = "MODEL")]
    pub task_durations: Option<String>,
    /// For --task-durations column:NAME and measured: the model of tasks with no value.
    #[arg(long, value_name = "MODEL", requires = "task_durations")]
    pub fallback: Option<String>,
    /// The Batch account's Azure resource id
    /// (/subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Batch/batchAccounts/NAME):
    /// plan then reads its core quotas through the management API and warns when the
    /// pools do not fit.
    #[arg(long, env = "BATCHYARD_ACCOUNT_RESOURCE_ID", value_name = "ID")]
    pub account_resource_id: Option<String>,
}

/// Flags shared by the commands that change things.
#[derive(Debug, Clone, Args)]
pub struct ChangeArgs {
    /// Apply destructive actions without asking (needed when not on a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Allow changes that drain or replace a pool, re-create a job, or re-create drifted
    /// tasks.
    #[arg(long)]
    pub allow_replace: bool,
    /// Longest wait for a pool to become ready, e.g. 90s, 15m, 1h.
    #[arg(long, value_name = "DURATION", default_value = "30m")]
    pub pool_timeout: String,
}

/// `batchyard apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The recipe file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Variable overrides.
    #[command(flatten)]
    pub vars: VarArgs,
    /// The target.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Change flags.
    #[command(flatten)]
    pub change: ChangeArgs,
    /// Output format (progress always goes to stderr).
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// `batchyard run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The recipe file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Variable overrides.
    #[command(flatten)]
    pub vars: VarArgs,
    /// The target.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Change flags.
    #[command(flatten)]
    pub change: ChangeArgs,
    /// Give up following the jobs after this long, e.g. 2h.
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// At the end, download the tasks' outputs into DIR/JOB/TASK/...
    #[arg(long, value_name = "DIR")]
    pub download: Option<PathBuf>,
    /// At the end, write the HTML run report of the jobs here (as `batchyard report`).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// The Azure region to price the report's node-hours in, e.g. eastus [default: the
    /// region of --account-url; the local service has none].
    #[arg(long, env = "BATCHYARD_REGION", value_name = "REGION")]
    pub region: Option<String>,
    /// Summary format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// `batchyard destroy`.
#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// The recipe file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Variable overrides.
    #[command(flatten)]
    pub vars: VarArgs,
    /// The target.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Delete without asking (needed when not on a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Output format (progress always goes to stderr).
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// `batchyard status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// A recipe: show only its pools and jobs (and find the local state beside it).
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Variable overrides.
    #[command(flatten)]
    pub vars: VarArgs,
    /// The target.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// `batchyard logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The job.
    pub job: String,
    /// The task; without it, every task of the job in turn.
    pub task: Option<String>,
    /// Print stderr.txt instead of stdout.txt.
    #[arg(long)]
    pub stderr: bool,
    /// Keep printing as the task writes, until it completes.
    #[arg(long, short = 'f', requires = "task")]
    pub follow: bool,
    /// The recipe whose local state to read (.batchyard beside it).
    #[arg(long, value_name = "FILE")]
    pub recipe: Option<PathBuf>,
    /// The Azure region to price the run's node-hours in, e.g. eastus [default: the
    /// region of --account-url; the local service has none].
    #[arg(long, env = "BATCHYARD_REGION", value_name = "REGION")]
    pub region: Option<String>,
    /// The target.
    #[command(flatten)]
    pub target: TargetArgs,
}

/// `batchyard outputs`.
#[derive(Debug, Args)]
pub struct OutputsArgs {
    /// The job.
    pub job: String,
    /// Only these tasks [default: every task of the job].
    #[arg(value_name = "TASK")]
    pub tasks: Vec<String>,
    /// Where to put them: DIR/TASK/... [default: a folder named after the job].
    #[arg(short = 'o', long = "output-dir", value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The recipe whose storage the outputs are in.
    #[arg(long, value_name = "FILE")]
    pub recipe: PathBuf,
    /// Variable overrides.
    #[command(flatten)]
    pub vars: VarArgs,
    /// The target.
    #[command(flatten)]
    pub target: TargetArgs,
}

/// `batchyard retry`.
#[derive(Debug, Args)]
pub struct RetryArgs {
    /// The job.
    pub job: String,
    /// The tasks to run again.
    #[arg(value_name = "TASK")]
    pub tasks: Vec<String>,
    /// Every failed task of the job.
    #[arg(long)]
    pub failed: bool,
    /// The recipe whose local state to use (.batchyard beside it).
    #[arg(long, value_name = "FILE")]
    pub recipe: Option<PathBuf>,
    /// The target.
    #[command(flatten)]
    pub target: TargetArgs,
}

/// `batchyard simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The recipe file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Variable overrides.
    #[command(flatten)]
    pub vars: VarArgs,
    /// How long each task runs: a time (`90s`, `5m`), `uniform:30s..90s`,
    /// `normal:60s,10s` (mean, standard deviation), `column:NAME` (seconds in that column
    /// of the table factory that made the task), or `measured` (the durations of the last
    /// run of this recipe on the target, the local service by default).
    #[arg(long, value_name = "MODEL")]
    pub duration: String,
    /// The duration of tasks that `column:` or `measured` has no value for (same forms as
    /// --duration, `column:` and `measured` aside).
    #[arg(long, value_name = "MODEL")]
    pub fallback: Option<String>,
    /// Node boot time, allocation to ready (start task included): a time, or LOW..HIGH
    /// drawn uniformly [default: 16s..44s, measured in recorded sessions of the real service].
    #[arg(long, value_name = "TIME|LOW..HIGH")]
    pub boot: Option<String>,
    /// Seed of every random draw (durations, boot times, preemptions).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Preemptions per spot node-hour (e.g. 0.05); a preempted node's tasks start over.
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    pub spot_preemptions: f64,
    /// The wall-clock start of the run, which `time()` in autoscale formulas reads
    /// (RFC 3339) [default: now].
    #[arg(long, value_name = "TIME")]
    pub start: Option<String>,
    /// The Azure region to price the run in, e.g. eastus [default: the region of
    /// --account-url; without either, the cost is "price unknown"].
    #[arg(long, env = "BATCHYARD_REGION", value_name = "REGION")]
    pub region: Option<String>,
    /// Also write a self-contained HTML report of the simulated run here.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Where `--duration measured` reads the previous run.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// `batchyard report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The job.
    pub job: String,
    /// Write the report here [default: JOB-report.html].
    #[arg(short = 'o', long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The recipe whose local state to read (.batchyard beside it).
    #[arg(long, value_name = "FILE")]
    pub recipe: Option<PathBuf>,
    /// The Azure region to price the run's node-hours in, e.g. eastus [default: the
    /// region of --account-url; the local service has none].
    #[arg(long, env = "BATCHYARD_REGION", value_name = "REGION")]
    pub region: Option<String>,
    /// The target.
    #[command(flatten)]
    pub target: TargetArgs,
}

/// Formats of `render`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum RenderFormat {
    /// YAML documents for pools and jobs.
    #[default]
    Yaml,
    /// Pretty JSON documents for pools and jobs.
    Json,
}

/// `batchyard render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The recipe file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Variable overrides.
    #[command(flatten)]
    pub vars: VarArgs,
    /// Only this job (and its tasks).
    #[arg(long, value_name = "ID")]
    pub job: Option<String>,
    /// Format of the pool and job documents (tasks are always JSON Lines).
    #[arg(long, value_enum, default_value_t)]
    pub output: RenderFormat,
}

/// `batchyard local ...`.
#[derive(Debug, Subcommand)]
pub enum LocalCommand {
    /// Whether the local Batch service of a state folder runs: address, process id, idle
    /// timeout, log.
    ///
    /// Exit status: 0 whether or not it runs (see the output), 1 on an error.
    Status(LocalArgs),
    /// Stop the local Batch service of a state folder. Tasks it was running are stopped
    /// and run again when it next starts, as Batch requeues the tasks of a lost node.
    Stop(LocalArgs),
    /// Serve a state folder in the foreground (what apply and run start in the background).
    #[command(hide = true)]
    Serve(LocalServeArgs),
}

/// `batchyard local status|stop`.
#[derive(Debug, Args)]
pub struct LocalArgs {
    /// A recipe: its state folder is .batchyard beside it.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The state folder [default: .batchyard beside the recipe, or in the current
    /// directory].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// `batchyard local serve`.
#[derive(Debug, Args)]
pub struct LocalServeArgs {
    /// The state folder.
    #[arg(long, value_name = "DIR")]
    pub state_dir: PathBuf,
    /// Stop after this long with nothing to do.
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    pub idle_timeout: String,
}

/// `batchyard emulator ...`.
#[derive(Debug, Subcommand)]
pub enum EmulatorCommand {
    /// Serve the Batch REST API on this machine until Ctrl-C; prints the URL.
    Serve(ServeArgs),
}

/// `batchyard emulator serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// SQLite state file.
    #[arg(long, default_value = ".batchyard/emulator.db", value_name = "FILE")]
    pub state: PathBuf,
    /// Port (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Address to listen on; anything but loopback needs --account and --key.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// Listen on a non-loopback --bind address with no key: anyone who can reach it
    /// can run commands as you.
    #[arg(long)]
    pub insecure_no_auth_on_network: bool,
    /// Account name to verify Shared Key signatures against (needs --key).
    #[arg(long, requires = "key")]
    pub account: Option<String>,
    /// Base64 account key to verify Shared Key signatures against.
    #[arg(
        long,
        requires = "account",
        env = "BATCHYARD_EMULATOR_KEY",
        hide_env_values = true
    )]
    pub key: Option<String>,
    /// Node boot time in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub boot_delay_ms: u64,
    /// Run autoscale FACTOR times faster than the service: the 30 s sampling period,
    /// evaluation intervals and formulas' look-back windows all shrink by it (300 turns a
    /// 5-minute interval into 1 s). `time()` in formulas stays the wall clock.
    #[arg(long, default_value_t = 1.0, value_name = "FACTOR", value_parser = parse_time_scale)]
    pub autoscale_time_scale: f64,
    /// Seed of the injected faults (the same seed and request order give the same faults).
    #[arg(long, default_value_t = 0)]
    pub fault_seed: u64,
    /// Rate of injected 429 TooManyRequests answers (0..1).
    #[arg(long, default_value_t = 0.0, value_name = "RATE")]
    pub fault_throttle: f64,
    /// Rate of injected 503 ServerBusy answers (0..1).
    #[arg(long, default_value_t = 0.0, value_name = "RATE")]
    pub fault_server_busy: f64,
    /// Rate of injected 500 OperationTimedOut answers (0..1).
    #[arg(long, default_value_t = 0.0, value_name = "RATE")]
    pub fault_timeout: f64,
    /// Rate of connections dropped before the answer is complete (0..1).
    #[arg(long, default_value_t = 0.0, value_name = "RATE")]
    pub fault_drop: f64,
    /// Latency added to every request, in milliseconds.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub fault_latency_ms: u64,
    /// Rate of per-task servererror results in add-collection answers (0..1).
    #[arg(long, default_value_t = 0.0, value_name = "RATE")]
    pub fault_task_server_error: f64,
    /// Core quotas, spot preemptions and unusable nodes (drawn with --fault-seed).
    #[command(flatten)]
    pub node_faults: batchyard_emulator::NodeFaultArgs,
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
    /// Fail (exit 1) when the recipe has warnings (a retired VM size or image, ...), as
    /// CI wants.
    #[arg(long)]
    pub deny_warnings: bool,
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

/// An autoscale time scale: a finite factor from 1 (the service's pace) to 100,000.
fn parse_time_scale(text: &str) -> Result<f64, String> {
    let factor: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if factor.is_finite() && (1.0..=100_000.0).contains(&factor) {
        Ok(factor)
    } else {
        Err(format!(
            "{text} is out of range: use a factor from 1 (the service's pace) to 100000"
        ))
    }
}
