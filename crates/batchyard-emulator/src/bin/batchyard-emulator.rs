//! Standalone emulator: `batchyard-emulator --state FILE [--port N] [--blob-port N] [--account NAME --key KEY]`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use batchyard_emulator::{AccountKey, EmulatorConfig, FaultConfig, serve};
use clap::Parser;

/// A local Azure Batch service.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// SQLite state file.
    #[arg(long, default_value = ".batchyard/emulator.db")]
    state: PathBuf,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Port of the blob endpoint (0 picks a free one; the URL is logged at start).
    #[arg(long, default_value_t = 0)]
    blob_port: u16,
    /// Address to listen on; anything but loopback lets others run commands here.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    bind: IpAddr,
    /// Listen on a non-loopback --bind address with no key: anyone who can reach it
    /// can run commands as you. Refused without this flag.
    #[arg(long)]
    insecure_no_auth_on_network: bool,
    /// Account name for Shared Key verification (needs --key).
    #[arg(long, env = "AZURE_BATCH_ACCOUNT", requires = "key")]
    account: Option<String>,
    /// Base64 account key for Shared Key verification.
    #[arg(
        long,
        env = "AZURE_BATCH_ACCESS_KEY",
        requires = "account",
        hide_env_values = true
    )]
    key: Option<String>,
    /// Most connections open at once; more wait to be accepted.
    #[arg(long, default_value_t = batchyard_emulator::listen::Limits::default().max_connections)]
    max_connections: usize,
    /// Longest time a client may take to send a request's headers, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    header_read_timeout_ms: u64,
    /// Longest time a connection may stay silent before it is closed, in milliseconds.
    #[arg(long, default_value_t = 120_000)]
    idle_timeout_ms: u64,
    /// Node boot time in milliseconds.
    #[arg(long, default_value_t = 100)]
    boot_delay_ms: u64,
    /// Run container tasks on the host when Docker cannot run them.
    #[arg(long)]
    containers_on_host: bool,
    /// Fault seed.
    #[arg(long, default_value_t = 0)]
    fault_seed: u64,
    /// Rate of 429 answers (0..1).
    #[arg(long, default_value_t = 0.0)]
    fault_throttle: f64,
    /// Rate of 503 ServerBusy answers (0..1).
    #[arg(long, default_value_t = 0.0)]
    fault_server_busy: f64,
    /// Rate of 500 OperationTimedOut answers (0..1).
    #[arg(long, default_value_t = 0.0)]
    fault_timeout: f64,
    /// Rate of dropped connections (0..1).
    #[arg(long, default_value_t = 0.0)]
    fault_drop: f64,
    /// Latency added to each request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    fault_latency_ms: u64,
    /// Rate of per-task servererror results in add-collection answers (0..1).
    #[arg(long, default_value_t = 0.0)]
    fault_task_server_error: f64,
    /// Core quotas, preemptions and unusable nodes (drawn with --fault-seed).
    #[command(flatten)]
    node_faults: batchyard_emulator::NodeFaultArgs,
}

fn main() -> ExitCode {
    // The emulator runs its task supervisor as this program started again.
    if let Some(code) = batchyard_emulator::run_if_requested() {
        return code;
    }
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(serve_from_args()),
        Err(err) => {
            eprintln!("error: cannot start the runtime: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn serve_from_args() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut config = EmulatorConfig::new(args.state);
    config.bind = SocketAddr::new(args.bind, args.port);
    config.storage_bind = SocketAddr::new(args.bind, args.blob_port);
    config.account = args
        .account
        .zip(args.key)
        .map(|(name, key)| AccountKey { name, key });
    config.insecure_no_auth_on_network = args.insecure_no_auth_on_network;
    config.limits = batchyard_emulator::listen::Limits {
        max_connections: args.max_connections,
        header_read_timeout: Duration::from_millis(args.header_read_timeout_ms),
        idle_timeout: Duration::from_millis(args.idle_timeout_ms),
    };
    config.boot_delay = Duration::from_millis(args.boot_delay_ms);
    config.containers_on_host = args.containers_on_host;
    config.faults = FaultConfig {
        seed: args.fault_seed,
        throttle: args.fault_throttle,
        server_busy: args.fault_server_busy,
        timeout: args.fault_timeout,
        drop_connection: args.fault_drop,
        latency: Duration::from_millis(args.fault_latency_ms),
        task_server_error: args.fault_task_server_error,
    };
    config.node_faults = args.node_faults.faults(args.fault_seed);
    match serve(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
