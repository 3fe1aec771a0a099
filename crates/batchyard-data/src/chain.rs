//! Microsoft Entra ID for storage through the same credentials as Batch: azure_identity
//! 1.x has no default chain, so the first credential of the list that yields a token is
//! used, as for Batch.

use std::sync::Arc;

use async_trait::async_trait;
use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};

/// Tries each credential in order; the first that yields a token answers.
#[derive(Debug)]
pub struct ChainCredential {
    chain: Vec<(String, Arc<dyn TokenCredential>)>,
}

impl ChainCredential {
    /// The chain, each credential with the name it is logged under.
    pub fn new(chain: Vec<(String, Arc<dyn TokenCredential>)>) -> Self {
        Self { chain }
    }
}

#[async_trait]
impl TokenCredential for ChainCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let mut failures = Vec::new();
        for (name, credential) in &self.chain {
            match credential.get_token(scopes, options.clone()).await {
                Ok(token) => {
                    tracing::debug!(credential = %name, "storage token obtained");
                    return Ok(token);
                }
                Err(e) => failures.push(format!("{name}: {e}")),
            }
        }
        Err(azure_core::Error::with_message(
            azure_core::error::ErrorKind::Credential,
            format!(
                "no credential gave a storage token ({})",
                failures.join("; ")
            ),
        ))
    }
}
