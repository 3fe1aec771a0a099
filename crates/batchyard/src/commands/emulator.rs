//! `batchyard emulator serve`: the local Batch service in the foreground.

use batchyard_recipe::Code;
use std::net::SocketAddr;
use std::time::Duration;

use batchyard_emulator::{AccountKey, EmulatorConfig, FaultConfig};
use miette::miette;

use crate::cli::EmulatorCommand;
use crate::exit::Exit;
use crate::runtime;

/// Serves until Ctrl-C or SIGTERM; prints the URL on stdout once listening.
pub fn run(command: EmulatorCommand) -> miette::Result<Exit> {
    let EmulatorCommand::Serve(args) = command;
    let mut config = EmulatorConfig::new(&args.state);
    config.bind = SocketAddr::new(args.bind, args.port);
    config.insecure_no_auth_on_network = args.insecure_no_auth_on_network;
    config.boot_delay = Duration::from_millis(args.boot_delay_ms);
    config.autoscale_time_scale = args.autoscale_time_scale;
    config.account = args
        .account
        .zip(args.key)
        .map(|(name, key)| AccountKey { name, key });
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
    runtime::block_on(async move {
        batchyard_emulator::serve(config)
            .await
            .map_err(|e| miette!(code = Code::LocalStopped, "the emulator stopped: {e}"))?;
        Ok(Exit::Success)
    })
}
