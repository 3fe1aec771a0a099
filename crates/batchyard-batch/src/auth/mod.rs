//! How requests prove who sends them: one small trait, three implementations.
//!
//! - [`SharedKeyCredential`]: the account name and key (`Authorization: SharedKey`).
//! - [`EntraIdAuth`]: Microsoft Entra ID bearer tokens through azure_identity, cached.
//! - [`NoAuth`]: nothing, for an emulator on loopback that has no key.

mod entra;
mod shared_key;

pub use entra::{BATCH_SCOPE, EntraIdAuth, NamedCredential};
pub use shared_key::{SharedKeyCredential, string_to_sign};

use async_trait::async_trait;

/// Why a request could not be authorized.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The Shared Key account key is not valid base64. Copy it again from the portal or
    /// `az batch account keys list`.
    #[error("the Batch account key is not valid base64: {0}")]
    InvalidKey(String),
    /// A token credential failed; `credential` names which one, `message` says why.
    #[error("could not get a Microsoft Entra ID token from {credential}: {message}")]
    Token {
        /// Name of the credential that failed (e.g. `ClientSecretCredential`).
        credential: String,
        /// The credential's error.
        message: String,
    },
    /// No credential of the chain produced a token; each attempt is listed.
    #[error(
        "no Microsoft Entra ID credential worked; tried: {0}. Set AZURE_BATCH_ACCOUNT and \
         AZURE_BATCH_ACCESS_KEY, a service principal (AZURE_TENANT_ID, AZURE_CLIENT_ID, \
         AZURE_CLIENT_SECRET), or run `az login`"
    )]
    NoCredential(String),
    /// A value could not be put into an HTTP header.
    #[error("invalid authorization header value: {0}")]
    Header(String),
}

/// Adds credentials to a request that is otherwise complete: final URL, every header
/// (including `ocp-date` and `Content-Length`) and the body are already set, because
/// Shared Key signs them.
///
/// Called once per attempt, so a retried request is signed afresh.
#[async_trait]
pub trait Authenticator: Send + Sync + std::fmt::Debug {
    /// Sets the `Authorization` header (or leaves the request alone).
    async fn authorize(&self, request: &mut reqwest::Request) -> Result<(), AuthError>;

    /// The service answered 401 to a request authorized with the current credentials:
    /// forget anything cached. Returns `true` when trying again can help (a fresh token
    /// may succeed), `false` when it cannot (a wrong key stays wrong).
    async fn invalidate(&self) -> bool {
        false
    }

    /// A short name for logs (never a secret).
    fn kind(&self) -> &'static str;
}

/// No authorization at all: for the local emulator on loopback started without a key.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAuth;

#[async_trait]
impl Authenticator for NoAuth {
    async fn authorize(&self, _request: &mut reqwest::Request) -> Result<(), AuthError> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "none"
    }
}
