//! `batchyard local status|stop`: the local Batch service of a state folder.

use serde_json::json;

use crate::cli::{LocalArgs, LocalCommand, Output, TargetArgs};
use crate::exit::Exit;
use crate::local::{self, ServiceRecord, StateFolder};
use crate::{runtime, target};

/// Runs a `local` subcommand.
pub fn run(command: LocalCommand) -> miette::Result<Exit> {
    match command {
        LocalCommand::Status(args) => status(&args),
        LocalCommand::Stop(args) => stop(&args),
        LocalCommand::Serve(args) => {
            let timeout = runtime::parse_duration(&args.idle_timeout)?;
            local::serve::run(&args.state_dir, timeout)
        }
    }
}

fn folder_of(args: &LocalArgs) -> std::path::PathBuf {
    let target = TargetArgs {
        state_dir: args.state_dir.clone(),
        ..TargetArgs::default()
    };
    target::state_dir(&target, args.file.as_deref())
}

fn status(args: &LocalArgs) -> miette::Result<Exit> {
    let dir = folder_of(args);
    let record = match StateFolder::existing(&dir) {
        Some(folder) => local::service::running(&folder)?.map(|r| (r, folder.log())),
        None => None,
    };
    match args.output {
        Output::Json => {
            let value = match &record {
                Some((r, log)) => json!({
                    "format_version": 1,
                    "state_dir": dir,
                    "running": true,
                    "pid": r.pid,
                    "url": r.url,
                    "started": r.started,
                    "idle_timeout_secs": r.idle_timeout_secs,
                    "blob_url": r.blob_url,
                    "log": log,
                }),
                None => json!({ "format_version": 1, "state_dir": dir, "running": false }),
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_else(|_| "{}".into())
            );
        }
        Output::Human => match &record {
            Some((r, log)) => {
                println!(
                    "local Batch service for {}: running, pid {}, {}",
                    dir.display(),
                    r.pid,
                    r.url
                );
                println!(
                    "  up {}, stops after {} with nothing to do; log: {}",
                    since(r),
                    seconds(r.idle_timeout_secs),
                    log.display()
                );
            }
            None => println!(
                "local Batch service for {}: not running (`batchyard apply` or `run` starts it)",
                dir.display()
            ),
        },
    }
    Ok(Exit::Success)
}

fn stop(args: &LocalArgs) -> miette::Result<Exit> {
    let dir = folder_of(args);
    let Some(folder) = StateFolder::existing(&dir) else {
        println!("local Batch service for {}: not running", dir.display());
        return Ok(Exit::Success);
    };
    runtime::block_on(async move {
        match local::service::stop(&folder).await? {
            Some(r) => println!(
                "local Batch service for {} stopped (pid {})",
                dir.display(),
                r.pid
            ),
            None => println!("local Batch service for {}: not running", dir.display()),
        }
        Ok(Exit::Success)
    })
}

fn since(record: &ServiceRecord) -> String {
    seconds(local::service::now_secs().saturating_sub(record.started))
}

fn seconds(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s => format!("{} h", s / 3600),
    }
}
