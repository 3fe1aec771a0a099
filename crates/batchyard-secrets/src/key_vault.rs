//! `{keyvault: URL}` secrets, read with Microsoft's `azure_security_keyvault_secrets`
//! client and the credential chain batchyard uses for Batch.
//!
//! Two environment variables point the client at a vault that is not where public DNS
//! and the system's trust store say (a vault behind a TLS-inspecting proxy with its own
//! CA, a private endpoint without DNS, a local server that speaks the Key Vault protocol);
//! neither turns a check off:
//! - `BATCHYARD_KEYVAULT_CA_FILE`: a PEM file of CA certificates trusted in addition to the
//!   system's;
//! - `BATCHYARD_KEYVAULT_RESOLVE`: `HOST=IP:PORT[,HOST=IP:PORT...]`, connect to this address
//!   for HOST. The certificate must still be valid for HOST.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind;
use azure_core::http::{
    ClientOptions, ExponentialRetryOptions, RetryOptions, StatusCode, Transport,
};
use azure_security_keyvault_secrets::models::SecretClientGetSecretOptions;
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use batchyard_recipe::model::KeyVaultRef;

/// Extra CA certificates (PEM) for Key Vault connections.
pub const CA_FILE_VARIABLE: &str = "BATCHYARD_KEYVAULT_CA_FILE";
/// `HOST=IP:PORT` pairs that override name resolution for Key Vault connections.
pub const RESOLVE_VARIABLE: &str = "BATCHYARD_KEYVAULT_RESOLVE";

/// The role that lets an identity read secrets when the vault uses Azure RBAC
/// (<https://learn.microsoft.com/azure/key-vault/general/rbac-guide>).
const READER_ROLE: &str = "Key Vault Secrets User";

/// Reads secrets from any vault, one client per vault.
pub struct KeyVault {
    credential: Arc<dyn TokenCredential>,
    options: SecretClientOptions,
    clients: Mutex<HashMap<String, Arc<SecretClient>>>,
}

impl KeyVault {
    /// A reader whose connections follow [`CA_FILE_VARIABLE`] and [`RESOLVE_VARIABLE`].
    pub fn from_environment(credential: Arc<dyn TokenCredential>) -> Result<Self, String> {
        let lookup = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let transport = transport(
            lookup(CA_FILE_VARIABLE).as_deref(),
            lookup(RESOLVE_VARIABLE).as_deref(),
        )?;
        Ok(Self::new(credential, transport))
    }

    /// A reader with this HTTP client.
    pub fn new(credential: Arc<dyn TokenCredential>, http: reqwest::Client) -> Self {
        let client_options = ClientOptions {
            transport: Some(Transport::new(Arc::new(http))),
            // A vault that cannot be reached is said within seconds, not after the
            // client's default minute of retries.
            retry: RetryOptions::exponential(ExponentialRetryOptions {
                max_retries: 3,
                max_total_elapsed: azure_core::time::Duration::seconds(15),
                ..Default::default()
            }),
            ..Default::default()
        };
        Self {
            credential,
            options: SecretClientOptions {
                client_options,
                ..Default::default()
            },
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Reads the secret at `url`. Errors are (what went wrong, what to do).
    pub async fn read(&self, url: &str) -> Result<String, (String, String)> {
        let at = KeyVaultRef::parse(url).map_err(|e| {
            (
                e,
                "copy the secret's identifier from `az keyvault secret show --query id`".to_owned(),
            )
        })?;
        let client = self.client(&at.vault_url)?;
        let options = SecretClientGetSecretOptions {
            secret_version: at.version.clone(),
            ..Default::default()
        };
        let response = client
            .get_secret(&at.name, Some(options))
            .await
            .map_err(|e| explain(&at, &e))?;
        let secret = response.into_model().map_err(|e| {
            (
                format!(
                    "{} answered for secret {} with something that is not a secret: {e}",
                    at.vault_url, at.name
                ),
                "check that the URL names an Azure Key Vault".to_owned(),
            )
        })?;
        match secret.value {
            Some(value) if !value.is_empty() => Ok(value),
            _ => Err((
                format!(
                    "the Key Vault secret {} in {} is empty",
                    at.name, at.vault_url
                ),
                format!(
                    "set its value (az keyvault secret set --vault-name VAULT --name {} --file FILE)",
                    at.name
                ),
            )),
        }
    }

    fn client(&self, vault_url: &str) -> Result<Arc<SecretClient>, (String, String)> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(vault_url) {
            return Ok(c.clone());
        }
        let client = SecretClient::new(
            vault_url,
            self.credential.clone(),
            Some(self.options.clone()),
        )
        .map_err(|e| {
            (
                format!("cannot set up a Key Vault client for {vault_url}: {e}"),
                "check the secret's URL".to_owned(),
            )
        })?;
        let client = Arc::new(client);
        clients.insert(vault_url.to_owned(), client.clone());
        Ok(client)
    }
}

/// The error for a Key Vault secret when no credential could be built.
pub fn no_credential(e: &str) -> (String, String) {
    (
        format!("no credential to read Key Vault with: {e}"),
        sign_in_help(),
    )
}

fn sign_in_help() -> String {
    "sign in with `az login`, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (a service principal), or run with a managed identity".to_owned()
}

/// What went wrong, in terms of what to do.
fn explain(at: &KeyVaultRef, e: &azure_core::Error) -> (String, String) {
    let secret = match &at.version {
        Some(v) => format!("secret {} (version {v})", at.name),
        None => format!("secret {}", at.name),
    };
    let vault = &at.vault_url;
    match e.kind() {
        ErrorKind::HttpResponse { status, .. } if *status == StatusCode::NotFound => (
            format!("{vault} has no {secret}"),
            format!(
                "create it (az keyvault secret set --vault-name VAULT --name {} --file FILE), or fix the URL",
                at.name
            ),
        ),
        ErrorKind::HttpResponse { status, .. } if *status == StatusCode::Forbidden => (
            format!("{vault} refused to let this identity read {secret} (403 Forbidden)"),
            format!(
                "give the identity batchyard signs in with the role \"{READER_ROLE}\" on the vault (Azure RBAC), or a `get` permission on secrets in the vault's access policies"
            ),
        ),
        ErrorKind::HttpResponse { status, .. } if *status == StatusCode::Unauthorized => (
            format!("{vault} did not accept the token for {secret} (401 Unauthorized)"),
            format!("check that the vault is in the tenant you signed in to; {}", sign_in_help()),
        ),
        ErrorKind::HttpResponse { status, error_code, .. } => (
            format!(
                "{vault} answered {status} for {secret}{}",
                error_code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default()
            ),
            "try again; if it persists, check the vault in the Azure portal".to_owned(),
        ),
        ErrorKind::Credential => (
            format!("no credential gave a token to read {secret} from {vault}: {e}"),
            sign_in_help(),
        ),
        ErrorKind::Connection | ErrorKind::Io => (
            format!("cannot reach {vault} to read {secret}: {}", source_chain(e)),
            "check the vault's name in the URL, and that this machine may reach it (firewall, private endpoint)".to_owned(),
        ),
        _ => (
            format!("cannot read {secret} from {vault}: {}", source_chain(e)),
            "check the secret's URL and the vault's network rules".to_owned(),
        ),
    }
}

/// An error with its causes, which carry the useful part of connection errors.
fn source_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let next = c.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = c.source();
    }
    text
}

/// The HTTP client for Key Vault: the settings the SDK's own reqwest client uses (timeouts,
/// no redirects), with the extra CA certificates and addresses of the environment.
fn transport(ca_file: Option<&str>, resolve: Option<&str>) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(20))
        .read_timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| format!("cannot read {CA_FILE_VARIABLE} ({path}): {e}"))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            format!("{CA_FILE_VARIABLE} ({path}) is not a PEM certificate file: {e}")
        })?;
        if certificates.is_empty() {
            return Err(format!("{CA_FILE_VARIABLE} ({path}) holds no certificate"));
        }
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    for (host, addr) in parse_resolve(resolve.unwrap_or_default())? {
        builder = builder.resolve(&host, addr);
    }
    builder
        .build()
        .map_err(|e| format!("cannot set up HTTPS for Key Vault: {e}"))
}

/// `HOST=IP:PORT[,HOST=IP:PORT...]`.
fn parse_resolve(text: &str) -> Result<Vec<(String, SocketAddr)>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (host, addr) = pair
                .split_once('=')
                .ok_or_else(|| format!("{RESOLVE_VARIABLE}: `{pair}` is not HOST=IP:PORT"))?;
            let addr: SocketAddr = addr
                .trim()
                .parse()
                .map_err(|_| format!("{RESOLVE_VARIABLE}: `{addr}` is not IP:PORT"))?;
            Ok((host.trim().to_owned(), addr))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn resolve_overrides_are_host_equals_address() {
        let pairs =
            parse_resolve("a.vault.azure.net=127.0.0.1:8443, b.vault.azure.net=[::1]:9").unwrap();
        assert_eq!(pairs[0].0, "a.vault.azure.net");
        assert_eq!(pairs[0].1.port(), 8443);
        assert_eq!(pairs[1].1.port(), 9);
        assert!(parse_resolve("a.vault.azure.net").is_err());
        assert!(parse_resolve("a=localhost:1").is_err());
        assert!(parse_resolve("").unwrap().is_empty());
    }

    #[test]
    fn a_ca_file_that_is_not_pem_is_refused() {
        let dir = std::env::temp_dir().join(format!("by-ca-{}", std::process::id()));
        std::fs::write(&dir, "not a certificate").unwrap();
        let e = transport(Some(dir.to_str().unwrap()), None).unwrap_err();
        let _ = std::fs::remove_file(&dir);
        assert!(e.contains(CA_FILE_VARIABLE), "{e}");
    }
}
