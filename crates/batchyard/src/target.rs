//! Choosing the Batch endpoint and credentials: the local Batch service by default (see
//! [`crate::local`]), or an account (or served emulator) at `--account-url` /
//! `AZURE_BATCH_ENDPOINT`.

use crate::fail::OrCode as _;
use batchyard_recipe::Code;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use batchyard_batch::auth::{Authenticator, EntraIdAuth, NoAuth, SharedKeyCredential};
use batchyard_batch::{BatchClient, ClientOptions};
use batchyard_compile::Desired;
use batchyard_compile::catalogue::OsType;
use batchyard_emulator::{AccountKey, Emulator, EmulatorConfig, RunningEmulator};
use miette::miette;
use serde::Serialize;

use crate::cli::{AuthMethod, TargetArgs};
use crate::local::{self, StateFolder};

/// A connected target. Call [`Target::close`] when done, so that a state opened for reading
/// is closed cleanly.
pub struct Target {
    /// The client for it.
    pub client: BatchClient,
    /// What it is, for the top of plans and for JSON output.
    pub info: TargetInfo,
    /// The local state opened for reading while no service runs.
    offline: Option<Offline>,
    /// Marks the running local service as in use for as long as this command is.
    keep_alive: Option<tokio::task::JoinHandle<()>>,
    /// The local service's blob account.
    blob: Option<BlobAccount>,
}

/// A local state read without a service.
struct Offline {
    running: RunningEmulator,
    /// The shared state lock that keeps a service from starting under the reader.
    lock: Option<std::fs::File>,
    /// An empty state made for a folder that does not exist, deleted on close.
    scratch: Option<PathBuf>,
}

/// What a command does with the target: on the local target, commands that change
/// things start the service; the others only read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// plan, status, logs: talk to the running local service, or read its state without
    /// executing anything.
    Read,
    /// apply, run, destroy: start (or reuse) the local service.
    Change,
}

/// What the target is (never a secret).
#[derive(Debug, Clone, Serialize)]
pub struct TargetInfo {
    /// `local` or `endpoint`.
    pub kind: &'static str,
    /// The URL requests go to.
    pub url: String,
    /// The local service's state folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<PathBuf>,
    /// The authentication method: `none`, `shared-key (account NAME)`, `entra-id`.
    pub auth: String,
    /// On the local target: `running`, or `stopped` when the state was read without a
    /// service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<&'static str>,
}

impl std::fmt::Display for TargetInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.state_dir, self.service) {
            (Some(dir), Some("stopped")) => write!(
                f,
                "target: local Batch service, not running (state in {}, read only)",
                dir.display()
            ),
            (Some(dir), _) => write!(
                f,
                "target: local Batch service (state in {}), auth: {}",
                dir.display(),
                self.auth
            ),
            (None, _) => write!(f, "target: {}, auth: {}", self.url, self.auth),
        }
    }
}

/// The local service's state folder for a recipe: `--state-dir`, else `.batchyard` beside
/// the recipe (or in the current directory without one).
pub fn state_dir(args: &TargetArgs, recipe: Option<&Path>) -> PathBuf {
    if let Some(dir) = &args.state_dir {
        return dir.clone();
    }
    let base = recipe
        .and_then(Path::parent)
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    base.join(".batchyard")
}

/// Whether the arguments name the local target.
pub fn is_local(args: &TargetArgs) -> bool {
    args.account_url.as_deref().is_none_or(str::is_empty)
}

/// Refuses, on the local target, a recipe with a Windows pool: the local service runs
/// tasks on this machine with a POSIX shell, so every task would fail with `cmd: not
/// found`. Said once, at plan, before anything starts.
pub fn check_local_support(args: &TargetArgs, desired: &Desired) -> miette::Result<()> {
    if !is_local(args) {
        return Ok(());
    }
    let windows: Vec<&str> = desired
        .pools
        .iter()
        .filter(|p| {
            p.facts.os_type == OsType::Windows
                || p.payload
                    .virtual_machine_configuration
                    .as_ref()
                    .is_some_and(|vm| {
                        vm.node_agent_sku_id
                            .to_ascii_lowercase()
                            .contains("windows")
                    })
        })
        .map(|p| p.id.as_str())
        .collect();
    if windows.is_empty() {
        return Ok(());
    }
    Err(miette!(
        code = Code::NeedsAzure,
        help = "point the recipe at an Azure Batch account with --account-url (or AZURE_BATCH_ENDPOINT), or give the pool a Linux `os` (e.g. ubuntu-22.04) to try it on this machine",
        "pool {} runs Windows: Windows commands need Azure Batch; the local Batch service runs tasks on this machine with a POSIX shell",
        windows.join(", ")
    ))
}

/// The idle timeout of a local service this command starts.
fn idle_timeout(args: &TargetArgs) -> miette::Result<Duration> {
    match args.idle_timeout.as_deref().filter(|t| !t.is_empty()) {
        Some(text) => crate::runtime::parse_duration(text),
        None => Ok(local::DEFAULT_IDLE_TIMEOUT),
    }
}

fn local_client(url: &str, key: &str) -> miette::Result<BatchClient> {
    let credential = SharedKeyCredential::new(local::folder::ACCOUNT, key).map_err(|e| {
        miette!(code = Code::LocalState,
            help = "delete service.key in the local service's private folder (under ~/.local/state/batchyard/local/) to have a new one generated",
            "{e}"
        )
    })?;
    BatchClient::new(url, Arc::new(credential), ClientOptions::default()).or_code(Code::LocalState)
}

/// Connects to the target the arguments name.
pub async fn connect(
    args: &TargetArgs,
    recipe: Option<&Path>,
    access: Access,
) -> miette::Result<Target> {
    let Some(url) = args.account_url.as_deref().filter(|u| !u.is_empty()) else {
        return connect_local(args, recipe, access).await;
    };
    let (auth, name) = authenticator(args.auth, url)?;
    let options = ClientOptions {
        allow_insecure_http: args.allow_insecure_http,
        ..ClientOptions::default()
    };
    let client = BatchClient::new(url, auth, options).map_err(|e| {
        miette!(
            code = Code::InvalidAccountUrl,
            help = "write the endpoint as https://NAME.REGION.batch.azure.com",
            "{e}"
        )
    })?;
    Ok(Target {
        client,
        info: TargetInfo {
            kind: "endpoint",
            url: url.to_owned(),
            state_dir: None,
            auth: name,
            service: None,
        },
        offline: None,
        keep_alive: None,
        blob: None,
    })
}

async fn connect_local(
    args: &TargetArgs,
    recipe: Option<&Path>,
    access: Access,
) -> miette::Result<Target> {
    let dir = state_dir(args, recipe);
    let info = |url: &str, service| TargetInfo {
        kind: "local",
        url: url.to_owned(),
        state_dir: Some(dir.clone()),
        auth: "shared-key (the local service's own key)".into(),
        service: Some(service),
    };
    if access == Access::Read && !dir.exists() {
        // Nothing was ever applied here: read an empty state rather than create a folder
        // for a command that only looks.
        let scratch =
            std::env::temp_dir().join(format!("batchyard-empty-{:016x}", rand::random::<u64>()));
        let folder = StateFolder::prepare(&scratch)?;
        let key = folder.key()?;
        let (client, running) = open_read_only(&folder, &key).await?;
        return Ok(Target {
            client,
            info: info(&running.url(), "stopped"),
            blob: local_blob(&running.blob_url(), &key),
            offline: Some(Offline {
                running,
                lock: None,
                scratch: Some(scratch),
            }),
            keep_alive: None,
        });
    }
    let folder = StateFolder::prepare(&dir)?;
    let key = folder.key()?;
    let reading = match access {
        Access::Change => {
            let record = local::service::for_change(&folder, idle_timeout(args)?).await?;
            local::Reading::Service(record)
        }
        Access::Read => local::service::for_reading(&folder).await?,
    };
    match reading {
        local::Reading::Service(record) => Ok(Target {
            client: local_client(&record.url, &key)?,
            info: info(&record.url, "running"),
            offline: None,
            blob: record
                .blob_url
                .as_deref()
                .and_then(|url| local_blob(url, &key)),
            keep_alive: Some(local::service::keep_alive(folder, &record)),
        }),
        local::Reading::Offline(lock) => {
            let (client, running) = open_read_only(&folder, &key).await?;
            Ok(Target {
                client,
                info: info(&running.url(), "stopped"),
                blob: local_blob(&running.blob_url(), &key),
                offline: Some(Offline {
                    running,
                    lock: Some(lock),
                    scratch: None,
                }),
                keep_alive: None,
            })
        }
    }
}

/// The state of a folder without a service: read, never executed.
async fn open_read_only(
    folder: &StateFolder,
    key: &str,
) -> miette::Result<(BatchClient, RunningEmulator)> {
    let mut config = EmulatorConfig::read_only(folder.database());
    config.account = Some(AccountKey {
        name: local::folder::ACCOUNT.to_owned(),
        key: key.to_owned(),
    });
    let running = Emulator::start(config).await.map_err(|e| {
        miette!(
            code = Code::LocalState,
            "cannot read the local state in {}: {e}",
            folder.dir().display()
        )
    })?;
    tracing::info!(url = %running.url(), "no local service runs: reading its state without executing anything");
    Ok((local_client(&running.url(), key)?, running))
}

/// The local service's blob account: same account name and key as its Batch endpoint.
fn local_blob(url: &str, key: &str) -> Option<BlobAccount> {
    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD
        .decode(key.trim())
        .ok()?;
    Some(BlobAccount {
        url: url.to_owned(),
        name: local::folder::ACCOUNT.to_owned(),
        key,
    })
}

/// A blob account a target brings with it (the local service's own).
#[derive(Clone)]
pub struct BlobAccount {
    /// Path-style endpoint, `http://127.0.0.1:PORT/ACCOUNT`.
    pub url: String,
    /// The account name.
    pub name: String,
    /// The account key (decoded).
    pub key: Vec<u8>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

pub fn is_loopback(url: &str) -> bool {
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or(url)
        .split(['/', '?'])
        .next()
        .unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    matches!(host, "localhost" | "[::1]")
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The authenticator, and its name for display.
fn authenticator(
    method: AuthMethod,
    url: &str,
) -> miette::Result<(Arc<dyn Authenticator>, String)> {
    let shared_key = || -> miette::Result<(Arc<dyn Authenticator>, String)> {
        let (Some(account), Some(key)) =
            (env("AZURE_BATCH_ACCOUNT"), env("AZURE_BATCH_ACCESS_KEY"))
        else {
            return Err(miette!(
                code = Code::Credentials,
                help = "set AZURE_BATCH_ACCOUNT and AZURE_BATCH_ACCESS_KEY (az batch account keys list)",
                "Shared Key needs the account name and key"
            ));
        };
        let credential = SharedKeyCredential::new(account.clone(), &key).map_err(|e| {
            miette!(
                code = Code::Credentials,
                help = "copy the key again from the portal",
                "{e}"
            )
        })?;
        Ok((
            Arc::new(credential),
            format!("shared-key (account {account})"),
        ))
    };
    let entra = || -> miette::Result<(Arc<dyn Authenticator>, String)> {
        let auth = EntraIdAuth::from_environment()
            .map_err(|e| miette!(code = Code::Credentials, "{e}"))?;
        Ok((Arc::new(auth), "entra-id".to_owned()))
    };
    match method {
        AuthMethod::SharedKey => shared_key(),
        AuthMethod::Entra => entra(),
        AuthMethod::None => Ok((Arc::new(NoAuth), "none".to_owned())),
        AuthMethod::Auto => {
            if env("AZURE_BATCH_ACCOUNT").is_some() && env("AZURE_BATCH_ACCESS_KEY").is_some() {
                shared_key()
            } else if is_loopback(url) {
                Ok((Arc::new(NoAuth), "none".to_owned()))
            } else {
                entra()
            }
        }
    }
}

impl Target {
    /// The target's own blob account, if it has one.
    pub fn blob_account(&self) -> Option<BlobAccount> {
        self.blob.clone()
    }

    /// Closes the local state opened for reading, if any.
    pub async fn close(self) {
        if let Some(keep_alive) = self.keep_alive {
            keep_alive.abort();
        }
        if let Some(offline) = self.offline {
            if let Err(e) = offline.running.shutdown().await {
                tracing::warn!("the local state was closed badly: {e}");
            }
            drop(offline.lock);
            if let Some(scratch) = offline.scratch {
                let _ = fs_err::remove_dir_all(scratch);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn loopback_urls() {
        assert!(is_loopback("http://127.0.0.1:8080"));
        assert!(is_loopback("http://localhost:1/x"));
        assert!(is_loopback("http://[::1]:9"));
        assert!(!is_loopback("https://acct.westeurope.batch.azure.com"));
        assert!(!is_loopback("https://127.example.com"));
    }
}
