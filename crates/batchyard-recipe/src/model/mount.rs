use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Secret;

/// A file system Batch mounts on every node of the pool when the node starts, at
/// `$AZ_BATCH_NODE_MOUNTS_DIR/<path>`. Written as one key naming the kind, such as
/// `{nfs: {source: ..., path: scratch}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Mount {
    /// An Azure Blob Storage container, mounted with blobfuse.
    AzureBlob(AzureBlobMount),
    /// An Azure Files share, mounted over SMB.
    AzureFiles(AzureFilesMount),
    /// An NFS export, such as an Azure Files NFS share or an Azure NetApp Files volume.
    Nfs(NfsMount),
}

impl Mount {
    /// Where the file system is mounted, relative to `$AZ_BATCH_NODE_MOUNTS_DIR`.
    pub fn path(&self) -> &str {
        match self {
            Mount::AzureBlob(m) => &m.path,
            Mount::AzureFiles(m) => &m.path,
            Mount::Nfs(m) => &m.path,
        }
    }
}

/// An Azure Blob Storage container mounted with blobfuse. Exactly one of `key`, `sas` and
/// `identity` gives access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AzureBlobMount {
    /// The storage account name.
    #[schemars(length(min = 1))]
    pub account: String,
    /// The blob container.
    #[schemars(length(min = 1))]
    pub container: String,
    /// The mount directory, relative to `$AZ_BATCH_NODE_MOUNTS_DIR`.
    #[schemars(regex(pattern = r"^[^/]"), length(min = 1))]
    pub path: String,
    /// The storage account key: `{env: NAME}` or `{keyvault: URL}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Secret>,
    /// A SAS token for the container: `{env: NAME}` or `{keyvault: URL}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sas: Option<Secret>,
    /// ARM id of a user-assigned managed identity of the pool that may read the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// Extra blobfuse options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<String>,
}

/// An Azure Files share mounted over SMB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AzureFilesMount {
    /// The storage account name.
    #[schemars(length(min = 1))]
    pub account: String,
    /// The share's URL, such as `https://myaccount.file.core.windows.net/myshare`.
    #[schemars(regex(pattern = r"^https://"))]
    pub url: String,
    /// The mount directory, relative to `$AZ_BATCH_NODE_MOUNTS_DIR`.
    #[schemars(regex(pattern = r"^[^/]"), length(min = 1))]
    pub path: String,
    /// The storage account key: `{env: NAME}` or `{keyvault: URL}`.
    pub key: Secret,
    /// Extra `mount` options, such as `-o vers=3.0,dir_mode=0777,file_mode=0777`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<String>,
}

/// An NFS export. Azure Files NFS shares and Azure NetApp Files need the pool in a virtual
/// network that may reach them (`network.subnet_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NfsMount {
    /// The export, such as `myaccount.file.core.windows.net:/myaccount/myshare`.
    #[schemars(length(min = 1))]
    pub source: String,
    /// The mount directory, relative to `$AZ_BATCH_NODE_MOUNTS_DIR`.
    #[schemars(regex(pattern = r"^[^/]"), length(min = 1))]
    pub path: String,
    /// Extra `mount` options, such as `-o vers=4,minorversion=1,sec=sys`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<String>,
}
