//! The body of the background local Batch service (`batchyard local serve`, started by
//! `apply` and `run`).

use crate::fail::OrCode as _;
use batchyard_recipe::Code;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use batchyard_batch::auth::SharedKeyCredential;
use batchyard_batch::{BatchClient, ClientOptions};
use batchyard_emulator::{AccountKey, Emulator, EmulatorConfig};
use miette::miette;
use tokio::signal::unix::{SignalKind, signal};

use super::folder::{ACCOUNT, StateFolder};
use super::idle::Activity;
use super::service::{ServiceRecord, StartGuard, now_secs};
use crate::exit::Exit;
use crate::runtime;

/// Why the service stops.
enum Stop {
    /// Nothing happened for the idle timeout; the decision lock is held until the end, so
    /// no command picks this service in the meantime.
    Idle { _guard: StartGuard },
    /// SIGTERM or SIGINT (`batchyard local stop`).
    Signal,
    /// Its record was removed: the state folder was deleted or taken over.
    Orphaned,
}

/// Serves the state folder until stopped or idle.
pub fn run(dir: &Path, idle_timeout: Duration) -> miette::Result<Exit> {
    // Its own session: closing the terminal of the command that started it sends it no
    // hangup, and Ctrl-C there does not reach it.
    let _ = rustix::process::setsid();
    let folder = StateFolder::prepare(dir)?;
    let key = folder.key()?;
    runtime::block_on(async move {
        // Registered before anything can send them, so that neither ends the process
        // without the shutdown below; a hangup is ignored.
        let mut term = signal(SignalKind::terminate()).or_code(Code::Internal)?;
        let mut int = signal(SignalKind::interrupt()).or_code(Code::Internal)?;
        let mut hup = signal(SignalKind::hangup()).or_code(Code::Internal)?;
        let mut config = EmulatorConfig::new(folder.database());
        config.account = Some(AccountKey {
            name: ACCOUNT.to_owned(),
            key: key.clone(),
        });
        // The emulator takes the state's lock first, so a second service fails here.
        let running = Emulator::start(config).await.map_err(|e| {
            miette!(
                code = Code::LocalStart,
                help = "run `batchyard local status` to see what holds it",
                "cannot start the local Batch service in {}: {e}",
                folder.dir().display()
            )
        })?;
        let record = ServiceRecord {
            pid: std::process::id(),
            url: running.url(),
            started: now_secs(),
            idle_timeout_secs: idle_timeout.as_secs(),
            blob_url: Some(running.blob_url()),
        };
        record.write(&folder)?;
        tracing::info!(url = %record.url, pid = record.pid, state = %folder.dir().display(), idle_timeout_secs = record.idle_timeout_secs, "local Batch service listening");
        let credential = SharedKeyCredential::new(ACCOUNT, &key)
            .map_err(|e| miette!(code = Code::LocalState, "{e}"))?;
        let client = BatchClient::new(&record.url, Arc::new(credential), ClientOptions::default())
            .or_code(Code::LocalState)?;
        let mut activity = Activity::new(idle_timeout);
        let stop = loop {
            tokio::select! {
                _ = term.recv() => break Stop::Signal,
                _ = int.recv() => break Stop::Signal,
                _ = hup.recv() => continue,
                () = tokio::time::sleep(activity.interval()) => {}
            }
            if ServiceRecord::read(&folder).is_none_or(|r| r.pid != record.pid) {
                break Stop::Orphaned;
            }
            if activity.idle(&client, &folder).await
                && let Some(guard) = StartGuard::try_acquire(&folder)
            {
                // A command may have picked this service just before the lock was taken.
                if activity.used_since(&folder) {
                    continue;
                }
                break Stop::Idle { _guard: guard };
            }
        };
        match &stop {
            Stop::Idle { .. } => tracing::info!("stopping: idle for {} s", idle_timeout.as_secs()),
            Stop::Signal => tracing::info!("stopping: asked to"),
            Stop::Orphaned => tracing::warn!("stopping: service.json was removed"),
        }
        if !matches!(stop, Stop::Orphaned) {
            let _ = fs_err::remove_file(folder.record());
        }
        let result = running.shutdown().await;
        drop(stop);
        result.map_err(|e| {
            miette!(
                code = Code::LocalStopped,
                "the local Batch service stopped badly: {e}"
            )
        })?;
        tracing::info!("stopped");
        Ok(Exit::Success)
    })
}
