use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Secret;

/// The blob storage account that carries a recipe's data: local inputs are uploaded to it
/// by `apply`, task outputs are uploaded to it by the nodes and fetched back by
/// `batchyard outputs`. Without `account_url`, the target's own storage is used (the
/// local Batch service has one; an Azure Batch account needs `account_url`).
///
/// Authentication, first that applies: `sas`, then `key`, else Microsoft Entra ID through
/// the same credential chain as Batch. The nodes get a SAS made from the key (or a user
/// delegation key), unless `node_identity` names a managed identity of the pool.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    /// The account's blob endpoint, such as `https://NAME.blob.core.windows.net`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https?://"))]
    pub account_url: Option<String>,
    /// The container batchyard may use for inputs and outputs (created when missing).
    #[serde(default = "default_container")]
    #[schemars(regex(pattern = r"^[a-z0-9](?:[a-z0-9]|-[a-z0-9]){2,62}$"))]
    pub container: String,
    /// A SAS token for the container (read, write, list, create), as a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sas: Option<Secret>,
    /// The account key, as a secret; batchyard signs short-lived SAS tokens with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Secret>,
    /// Resource id of a managed identity assigned to the pools: the nodes read inputs and
    /// write outputs with it (Batch `identityReference`) instead of a SAS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_identity: Option<String>,
}

/// The container used when a recipe names none.
pub const DEFAULT_CONTAINER: &str = "batchyard";

fn default_container() -> String {
    DEFAULT_CONTAINER.to_owned()
}
