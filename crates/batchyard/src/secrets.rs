//! The recipe's secrets, read once per command before anything is changed: plan proves
//! that each one resolves (printing none), and apply sends the values read then. A secret
//! that cannot be read is an error at its place in the recipe.

use std::path::Path;
use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use batchyard_compile::DesiredPool;
use batchyard_recipe::model::Secret;
use batchyard_recipe::{Code, Diagnostic, Loaded};
use batchyard_secrets::SecretValues;

/// Which of the recipe's secrets a command reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needed {
    /// Every secret apply would send (plan, apply, run).
    All,
    /// Only what opens the recipe's storage (destroy sends no secret to Batch).
    Storage,
}

/// Reads the secrets `needed` of the recipe (`pools` compiled from it). Every secret that cannot be read is
/// printed as an error at each place the recipe names it, and ends the command.
pub async fn resolve(
    loaded: &mut Loaded,
    pools: &[DesiredPool],
    path: &Path,
    needed: Needed,
) -> miette::Result<SecretValues> {
    let Some(recipe) = loaded.recipe.as_ref() else {
        return Ok(SecretValues::default());
    };
    let mut wanted: Vec<&Secret> = Vec::new();
    if needed == Needed::All {
        wanted.extend(pools.iter().flat_map(|p| &p.secrets).map(|s| &s.secret));
    }
    // The storage uses its SAS when it has one, else its key (see `data::open`).
    if let Some(s) = recipe.storage.as_ref().filter(|s| s.account_url.is_some()) {
        wanted.extend(s.sas.as_ref().or(s.key.as_ref()));
    }
    let (values, failures) = batchyard_secrets::resolve_all(wanted, &entra_credential).await;
    if failures.is_empty() {
        return Ok(values);
    }
    let places = recipe.secrets();
    let mut diagnostics = Vec::new();
    for failure in &failures {
        for (at, _) in places.iter().filter(|(_, s)| **s == failure.secret) {
            diagnostics.push(
                Diagnostic::error(
                    Code::UnreadableSecret,
                    at.clone(),
                    format!("{}: {}", failure.secret, failure.message),
                )
                .with_help(failure.help.clone())
                .with_label("this secret cannot be read"),
            );
        }
    }
    Err(crate::recipe::report(loaded, path, diagnostics))
}

/// The credential chain batchyard uses for Batch with Microsoft Entra ID (a service
/// principal, workload identity, managed identity, the Azure CLI), as one credential.
pub fn entra_credential() -> Result<Arc<dyn TokenCredential>, String> {
    let auth = batchyard_batch::auth::EntraIdAuth::from_environment().map_err(|e| e.to_string())?;
    Ok(Arc::new(batchyard_data::chain::ChainCredential::new(
        auth.chain()
            .iter()
            .map(|c| (c.name.clone(), c.credential.clone()))
            .collect(),
    )))
}
