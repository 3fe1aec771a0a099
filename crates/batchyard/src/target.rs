//! Choosing the Batch endpoint and credentials: the embedded emulator by default, or an
//! account (or served emulator) at `--account-url` / `AZURE_BATCH_ENDPOINT`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use batchyard_batch::auth::{Authenticator, EntraIdAuth, NoAuth, SharedKeyCredential};
use batchyard_batch::{BatchClient, ClientOptions};
use batchyard_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use miette::{IntoDiagnostic, miette};
use serde::Serialize;

use crate::cli::{AuthMethod, TargetArgs};

/// A connected target. Call [`Target::close`] when done, so the embedded emulator stops
/// its processes and closes its state cleanly.
pub struct Target {
    /// The client for it.
    pub client: BatchClient,
    /// What it is, for the top of plans and for JSON output.
    pub info: TargetInfo,
    embedded: Option<RunningEmulator>,
}

/// What the target is (never a secret).
#[derive(Debug, Clone, Serialize)]
pub struct TargetInfo {
    /// `embedded-emulator` or `endpoint`.
    pub kind: &'static str,
    /// The URL requests go to.
    pub url: String,
    /// The embedded emulator's state directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<PathBuf>,
    /// The authentication method: `none`, `shared-key (account NAME)`, `entra-id`.
    pub auth: String,
}

impl std::fmt::Display for TargetInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.state_dir {
            Some(dir) => write!(
                f,
                "target: embedded emulator (state in {}), auth: {}",
                dir.display(),
                self.auth
            ),
            None => write!(f, "target: {}, auth: {}", self.url, self.auth),
        }
    }
}

/// The embedded emulator's state directory for a recipe: `--state-dir`, else `.batchyard`
/// beside the recipe (or in the current directory without one).
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

/// Connects to the target the arguments name.
pub async fn connect(args: &TargetArgs, recipe: Option<&Path>) -> miette::Result<Target> {
    let Some(url) = args.account_url.as_deref().filter(|u| !u.is_empty()) else {
        let dir = state_dir(args, recipe);
        fs_err::create_dir_all(&dir).into_diagnostic()?;
        let config = EmulatorConfig::new(dir.join("emulator.db"));
        let running = Emulator::start(config).await.map_err(|e| {
            miette!(
                help = "another batchyard may be using this state directory; pass --state-dir to use another",
                "cannot start the embedded emulator in {}: {e}",
                dir.display()
            )
        })?;
        let client = BatchClient::unauthenticated(&running.url()).into_diagnostic()?;
        tracing::info!(url = %running.url(), "embedded emulator started");
        return Ok(Target {
            client,
            info: TargetInfo {
                kind: "embedded-emulator",
                url: running.url(),
                state_dir: Some(dir),
                auth: "none".into(),
            },
            embedded: Some(running),
        });
    };
    let (auth, name) = authenticator(args.auth, url)?;
    let client = BatchClient::new(url, auth, ClientOptions::default()).map_err(|e| {
        miette!(
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
        },
        embedded: None,
    })
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn is_loopback(url: &str) -> bool {
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
                help = "set AZURE_BATCH_ACCOUNT and AZURE_BATCH_ACCESS_KEY (az batch account keys list)",
                "Shared Key needs the account name and key"
            ));
        };
        let credential = SharedKeyCredential::new(account.clone(), &key)
            .map_err(|e| miette!(help = "copy the key again from the portal", "{e}"))?;
        Ok((
            Arc::new(credential),
            format!("shared-key (account {account})"),
        ))
    };
    let entra = || -> miette::Result<(Arc<dyn Authenticator>, String)> {
        let auth = EntraIdAuth::from_environment().map_err(|e| miette!("{e}"))?;
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
    /// Stops the embedded emulator, if any.
    pub async fn close(self) {
        if let Some(running) = self.embedded
            && let Err(e) = running.shutdown().await
        {
            tracing::warn!("the embedded emulator stopped badly: {e}");
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
