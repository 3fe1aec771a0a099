//! Reads a recipe's secrets: `{env: NAME}` from the environment, `{keyvault: URL}` from
//! Azure Key Vault through the official client. The one place values are read: `plan`
//! reads them all to prove they resolve, and `apply` sends the values read then, so a
//! green plan means apply will not fail on a secret.
//!
//! Values never reach a log, an error or a `Debug` print: errors name the secret's source
//! and [`SecretValues`] prints only how many it holds.

pub mod key_vault;

use std::collections::HashMap;
use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use batchyard_recipe::model::Secret;
use futures::StreamExt as _;

use crate::key_vault::KeyVault;

/// A value read, or what went wrong and what to do.
type Read = Result<String, (String, String)>;

/// Secrets read at once (Key Vault requests in flight).
const CONCURRENCY: usize = 8;

/// The values of the secrets read, by secret.
#[derive(Clone, Default)]
pub struct SecretValues(HashMap<Secret, String>);

impl std::fmt::Debug for SecretValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretValues({} values, redacted)", self.0.len())
    }
}

impl SecretValues {
    /// The value of `secret`, when it was read.
    pub fn get(&self, secret: &Secret) -> Option<&str> {
        self.0.get(secret).map(String::as_str)
    }

    /// Every secret read and its value.
    pub fn iter(&self) -> impl Iterator<Item = (&Secret, &str)> {
        self.0.iter().map(|(s, v)| (s, v.as_str()))
    }

    /// Adds a value read elsewhere (tests of the code that consumes values).
    pub fn insert(&mut self, secret: Secret, value: String) {
        self.0.insert(secret, value);
    }
}

/// A secret that could not be read: what went wrong and what to do, never a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The secret.
    pub secret: Secret,
    /// What went wrong.
    pub message: String,
    /// What to do about it.
    pub help: String,
}

/// Where Key Vault tokens come from: built only when the recipe has a Key Vault secret,
/// so a recipe without one never touches the credential chain.
pub type CredentialSource<'a> = &'a (dyn Fn() -> Result<Arc<dyn TokenCredential>, String> + Sync);

/// Reads every distinct secret of `secrets` once; returns the values read and a failure
/// for each secret that could not be read.
pub async fn resolve_all<'a>(
    secrets: impl IntoIterator<Item = &'a Secret>,
    credential: CredentialSource<'_>,
) -> (SecretValues, Vec<Failure>) {
    let mut distinct: Vec<&Secret> = Vec::new();
    for s in secrets {
        if !distinct.contains(&s) {
            distinct.push(s);
        }
    }
    let mut values = SecretValues::default();
    let mut failures = Vec::new();
    let needs_vault = distinct.iter().any(|s| matches!(s, Secret::Keyvault(_)));
    // Built only when used: a recipe without Key Vault secrets never reaches for a
    // credential.
    let vault = if needs_vault {
        credential().and_then(KeyVault::from_environment)
    } else {
        Err(String::new())
    };
    let results: Vec<(Secret, Read)> = futures::stream::iter(distinct.into_iter().map(|secret| {
        let vault = &vault;
        async move {
            let result = match secret {
                Secret::Env(name) => from_env(name),
                Secret::Keyvault(url) => match vault {
                    Ok(vault) => vault.read(url).await,
                    Err(e) => Err(key_vault::no_credential(e)),
                },
            };
            (secret.clone(), result)
        }
    }))
    .buffer_unordered(CONCURRENCY)
    .collect()
    .await;
    for (secret, result) in results {
        match result {
            Ok(value) => values.insert(secret, value),
            Err((message, help)) => failures.push(Failure {
                secret,
                message,
                help,
            }),
        }
    }
    // The order the secrets were named in, so that output is stable.
    failures.sort_by_key(|f| f.secret.to_string());
    (values, failures)
}

/// `{env: NAME}`: set and not empty.
fn from_env(name: &str) -> Read {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => Ok(value),
        Ok(_) => Err((
            format!("the environment variable {name} is empty"),
            format!("set {name} to the secret's value and run again"),
        )),
        Err(std::env::VarError::NotPresent) => Err((
            format!("the environment variable {name} is not set"),
            format!("set {name} to the secret's value (export {name}=...) and run again"),
        )),
        Err(std::env::VarError::NotUnicode(_)) => Err((
            format!("the environment variable {name} is not valid UTF-8"),
            format!("set {name} to the secret's value as text and run again"),
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn no_credential() -> Result<Arc<dyn TokenCredential>, String> {
        Err("not used".into())
    }

    #[tokio::test]
    async fn env_secrets_resolve_once_and_unset_or_empty_ones_fail() {
        let path = Secret::Env("PATH".into());
        let unset = Secret::Env("BATCHYARD_TEST_SURELY_UNSET_3f9c".into());
        let (values, failures) = resolve_all([&path, &unset, &path, &unset], &no_credential).await;
        assert_eq!(values.get(&path).unwrap(), std::env::var("PATH").unwrap());
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert_eq!(failures[0].secret, unset);
        assert!(failures[0].message.contains("is not set"));
        assert!(!format!("{values:?}").contains(&std::env::var("PATH").unwrap()));
    }

    #[tokio::test]
    async fn a_key_vault_secret_without_a_credential_says_how_to_sign_in() {
        let secret = Secret::Keyvault("https://v.vault.azure.net/secrets/x".into());
        let (_, failures) = resolve_all([&secret], &no_credential).await;
        assert_eq!(failures.len(), 1);
        assert!(
            failures[0].message.contains("no credential"),
            "{failures:?}"
        );
        assert!(failures[0].help.contains("az login"), "{failures:?}");
    }
}
