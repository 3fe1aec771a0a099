//! The typed recipe: what a checked recipe file means.
//!
//! These types are the contract between the recipe language and the compiler. They derive
//! `JsonSchema`, and the published `recipe.schema.json` is generated from them, so the schema,
//! the docs and the code cannot drift apart. Every struct rejects unknown keys.

mod common;
mod data;
mod duration;
mod factory;
mod job;
mod mount;
mod pool;
mod secret;
mod storage;
mod task;
mod toggle;

pub use common::{
    DependencyAction, EnvMap, ExitAction, ExitCodeRange, ExitCodeRule, ExitConditions,
    JobExitAction, Metadata, OutputFile, OutputUpload, RawBatch, ResourceFile,
};
pub use data::{Input, Output};
pub use duration::{Duration, DurationError};
pub use factory::{
    Axis, BlobsSource, Combinations, Factory, FilesSource, RandomAxis, RandomFactory, Table,
};
pub use job::{Job, JobConstraints, JobPreparation, JobRelease, OnAllTasksComplete, OnTaskFailure};
pub use mount::{AzureBlobMount, AzureFilesMount, Mount, NfsMount};
pub use pool::{
    Autoscale, AutoscaleScenario, Containers, ImageRef, Network, NodeCounts, Pool, Preinstalled,
    PublicIp, SchedulingPolicy, StartTask,
};
pub use secret::{KeyVaultRef, Secret};
pub use storage::{DEFAULT_CONTAINER, Storage};
pub use task::{
    Dependency, DependsOn, Mpi, MpiRuntime, Task, TaskConstraints, TaskFactory, TaskSpec,
};
pub use toggle::Toggle;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A whole recipe file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "batchyard recipe")]
pub struct Recipe {
    /// The recipe's name. It tags every pool and job the recipe owns (metadata
    /// `batchyard.recipe`), so two recipes never touch each other's resources.
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{1,64}$"))]
    pub recipe: String,
    /// Template variables with their default values. `--var NAME=VALUE` and `--vars FILE`
    /// override them. Inside templates they are `var.NAME`, or just `NAME`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub variables: IndexMap<String, serde_json::Value>,
    /// Private container registries that pools log in to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub registries: Vec<Registry>,
    /// The blob storage that carries the recipe's data (task `inputs` and `outputs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Storage>,
    /// The pools of compute nodes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pools: Vec<Pool>,
    /// The jobs, each bound to one pool of this recipe.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<Job>,
}

impl Recipe {
    /// Every secret the recipe names, each with its place (a JSON pointer into the
    /// recipe, as diagnostics use): registry passwords, mount keys and SAS tokens, and the
    /// storage's SAS and key.
    pub fn secrets(&self) -> Vec<(String, &Secret)> {
        let mut out = Vec::new();
        for (i, r) in self.registries.iter().enumerate() {
            if let Some(s) = &r.password {
                out.push((format!("/registries/{i}/password"), s));
            }
        }
        if let Some(storage) = &self.storage {
            if let Some(s) = &storage.sas {
                out.push(("/storage/sas".to_owned(), s));
            }
            if let Some(s) = &storage.key {
                out.push(("/storage/key".to_owned(), s));
            }
        }
        for (i, pool) in self.pools.iter().enumerate() {
            for (j, mount) in pool.mounts.iter().enumerate() {
                let at = format!("/pools/{i}/mounts/{j}");
                match mount {
                    Mount::AzureBlob(m) => {
                        if let Some(s) = &m.key {
                            out.push((format!("{at}/azure_blob/key"), s));
                        }
                        if let Some(s) = &m.sas {
                            out.push((format!("{at}/azure_blob/sas"), s));
                        }
                    }
                    Mount::AzureFiles(m) => out.push((format!("{at}/azure_files/key"), &m.key)),
                    Mount::Nfs(_) => {}
                }
            }
        }
        out
    }
}

/// A container registry and the credentials to log in to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    /// The registry's host name, such as `myacr.azurecr.io`.
    #[schemars(length(min = 1))]
    pub server: String,
    /// The user name to log in with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The password, never written in the recipe itself: `{env: NAME}` or `{keyvault: URL}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// Resource id of a managed identity used to pull instead of a password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
}
