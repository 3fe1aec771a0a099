//! Microsoft Entra ID: `Authorization: Bearer {token}` for scope [`BATCH_SCOPE`].
//!
//! Tokens come from azure_identity credentials. [`EntraIdAuth::from_environment`] builds
//! the chain batchyard uses (azure_identity 1.x has no default chain): a service
//! principal from `AZURE_TENANT_ID` / `AZURE_CLIENT_ID` / `AZURE_CLIENT_SECRET`, workload
//! identity (`AZURE_FEDERATED_TOKEN_FILE`), managed identity, then the Azure CLI. The
//! first one that yields a token is kept for the life of the client; which one is logged,
//! the token never is.
//!
//! A token is reused until five minutes before it expires. When the service answers 401
//! the cached token is dropped and the request is tried once more with a fresh one.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use azure_core::credentials::{AccessToken, Secret, TokenCredential};
use azure_identity::{
    AzureCliCredential, ClientSecretCredential, ManagedIdentityCredential,
    WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use reqwest::header::{AUTHORIZATION, HeaderValue};
use time::OffsetDateTime;
use tokio::sync::Mutex;

use super::{AuthError, Authenticator};

/// The OAuth scope of the Azure Batch data plane.
pub const BATCH_SCOPE: &str = "https://batch.core.windows.net/.default";

/// A token is refreshed when less than this much of its life is left.
const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// A token credential and the name it is logged under.
#[derive(Debug, Clone)]
pub struct NamedCredential {
    /// For logs and errors, e.g. `ClientSecretCredential`.
    pub name: String,
    /// The credential.
    pub credential: Arc<dyn TokenCredential>,
}

#[derive(Debug, Default)]
struct State {
    /// Index into `chain` of the credential that worked, once one has.
    chosen: Option<usize>,
    token: Option<AccessToken>,
}

/// Bearer-token authorization with a credential chain and a token cache. Cloning is not
/// offered; share it through the client (it is `Send + Sync`).
#[derive(Debug)]
pub struct EntraIdAuth {
    chain: Vec<NamedCredential>,
    scope: String,
    state: Mutex<State>,
}

impl EntraIdAuth {
    /// Tries `chain` in order on first use; the first credential that returns a token is
    /// used from then on.
    pub fn new(chain: Vec<NamedCredential>) -> Self {
        Self {
            chain,
            scope: BATCH_SCOPE.to_owned(),
            state: Mutex::new(State::default()),
        }
    }

    /// Uses a different scope (for sovereign clouds or tests).
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = scope.into();
        self
    }

    /// The chain from the process environment, in the documented order. Credentials whose
    /// environment is absent are left out; managed identity and the Azure CLI are always
    /// in the chain and fail at token time when unavailable.
    pub fn from_environment() -> Result<Self, AuthError> {
        Self::from_variables(|name| std::env::var(name).ok())
    }

    /// The same chain, reading variables through `lookup` (empty values count as unset).
    pub fn from_variables(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, AuthError> {
        let env = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let token_error = |credential: &str, e: azure_core::Error| AuthError::Token {
            credential: credential.to_owned(),
            message: e.to_string(),
        };
        let mut chain = Vec::new();
        let (tenant, client) = (env("AZURE_TENANT_ID"), env("AZURE_CLIENT_ID"));
        if let (Some(tenant), Some(client), Some(secret)) =
            (&tenant, &client, env("AZURE_CLIENT_SECRET"))
        {
            let credential =
                ClientSecretCredential::new(tenant, client.clone(), Secret::from(secret), None)
                    .map_err(|e| token_error("ClientSecretCredential", e))?;
            chain.push(NamedCredential {
                name: "ClientSecretCredential".into(),
                credential,
            });
        }
        if let Some(token_file) = env("AZURE_FEDERATED_TOKEN_FILE") {
            let options = WorkloadIdentityCredentialOptions {
                client_id: client,
                tenant_id: tenant,
                token_file_path: Some(token_file.into()),
                ..Default::default()
            };
            let credential = WorkloadIdentityCredential::new(Some(options))
                .map_err(|e| token_error("WorkloadIdentityCredential", e))?;
            chain.push(NamedCredential {
                name: "WorkloadIdentityCredential".into(),
                credential,
            });
        }
        let credential = ManagedIdentityCredential::new(None)
            .map_err(|e| token_error("ManagedIdentityCredential", e))?;
        chain.push(NamedCredential {
            name: "ManagedIdentityCredential".into(),
            credential,
        });
        let credential =
            AzureCliCredential::new(None).map_err(|e| token_error("AzureCliCredential", e))?;
        chain.push(NamedCredential {
            name: "AzureCliCredential".into(),
            credential,
        });
        Ok(Self::new(chain))
    }

    /// The chain's credentials, in the order they are tried (blob storage uses the same).
    pub fn chain(&self) -> &[NamedCredential] {
        &self.chain
    }

    /// The names of the chain's credentials, in the order they are tried.
    pub fn credential_names(&self) -> Vec<&str> {
        self.chain.iter().map(|c| c.name.as_str()).collect()
    }

    /// The name of the credential in use, once one has produced a token.
    pub async fn chosen_credential(&self) -> Option<String> {
        let state = self.state.lock().await;
        state
            .chosen
            .and_then(|i| self.chain.get(i))
            .map(|c| c.name.clone())
    }

    /// A token valid for at least five more minutes, from the cache or freshly acquired.
    async fn token(&self) -> Result<Secret, AuthError> {
        let mut state = self.state.lock().await;
        if let Some(token) = &state.token
            && token.expires_on - OffsetDateTime::now_utc() > REFRESH_MARGIN
        {
            return Ok(token.token.clone());
        }
        let scopes = [self.scope.as_str()];
        let (index, token) = match state.chosen {
            Some(index) => {
                let named = self.chain.get(index).ok_or_else(|| {
                    AuthError::NoCredential("the chosen credential vanished".into())
                })?;
                let token = named
                    .credential
                    .get_token(&scopes, None)
                    .await
                    .map_err(|e| AuthError::Token {
                        credential: named.name.clone(),
                        message: e.to_string(),
                    })?;
                (index, token)
            }
            None => self.first_working(&scopes).await?,
        };
        tracing::debug!(
            credential = %self.chain.get(index).map(|c| c.name.as_str()).unwrap_or("?"),
            expires_on = %token.expires_on,
            "acquired a Microsoft Entra ID token for Azure Batch"
        );
        let secret = token.token.clone();
        state.chosen = Some(index);
        state.token = Some(token);
        Ok(secret)
    }

    async fn first_working(&self, scopes: &[&str]) -> Result<(usize, AccessToken), AuthError> {
        let mut failures = Vec::new();
        for (index, named) in self.chain.iter().enumerate() {
            match named.credential.get_token(scopes, None).await {
                Ok(token) => {
                    tracing::info!(credential = %named.name, "using Microsoft Entra ID credential");
                    return Ok((index, token));
                }
                Err(e) => {
                    tracing::debug!(credential = %named.name, error = %e, "credential unavailable");
                    failures.push(format!("{} ({e})", named.name));
                }
            }
        }
        Err(AuthError::NoCredential(if failures.is_empty() {
            "none configured".into()
        } else {
            failures.join("; ")
        }))
    }
}

#[async_trait]
impl Authenticator for EntraIdAuth {
    async fn authorize(&self, request: &mut reqwest::Request) -> Result<(), AuthError> {
        let token = self.token().await?;
        let mut value =
            HeaderValue::from_str(&format!("Bearer {}", token.secret())).map_err(|_| {
                AuthError::Header("the token has characters not allowed in a header".into())
            })?;
        value.set_sensitive(true);
        request.headers_mut().insert(AUTHORIZATION, value);
        Ok(())
    }

    async fn invalidate(&self) -> bool {
        self.state.lock().await.token = None;
        true
    }

    fn kind(&self) -> &'static str {
        "Microsoft Entra ID"
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_chain_follows_the_environment_in_order() {
        let token_file = std::env::temp_dir().join("batchyard-batch-federated-token");
        std::fs::write(&token_file, "a.b.c").unwrap();
        let all = |name: &str| -> Option<String> {
            Some(match name {
                "AZURE_TENANT_ID" => "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
                "AZURE_CLIENT_ID" => "00000000-0000-0000-0000-000000000001".into(),
                "AZURE_CLIENT_SECRET" => "s3cret".into(),
                "AZURE_FEDERATED_TOKEN_FILE" => token_file.display().to_string(),
                _ => return None,
            })
        };
        let auth = EntraIdAuth::from_variables(all).unwrap();
        assert_eq!(
            auth.credential_names(),
            [
                "ClientSecretCredential",
                "WorkloadIdentityCredential",
                "ManagedIdentityCredential",
                "AzureCliCredential"
            ]
        );
        let none = EntraIdAuth::from_variables(|_| None).unwrap();
        assert_eq!(
            none.credential_names(),
            ["ManagedIdentityCredential", "AzureCliCredential"]
        );
        let no_secret =
            EntraIdAuth::from_variables(|n| all(n).filter(|_| n != "AZURE_CLIENT_SECRET")).unwrap();
        assert_eq!(
            no_secret.credential_names()[0],
            "WorkloadIdentityCredential"
        );
    }
}
