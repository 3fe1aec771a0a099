//! Files around a run: resource files downloaded before the command starts and output
//! files uploaded after it exits. Attached to a [`super::executor::Launch`] by the
//! launch builder, so tasks, start tasks and job preparation tasks share it.

use std::path::Path;
use std::time::SystemTime;

use serde_json::Value;

use super::executor::{Outcome, RunFailure};
use super::{output_files, resource_files};

/// The emulator's own storage account, which `autoStorageContainerName` refers to.
#[derive(Debug, Clone)]
pub struct AutoStorage {
    /// Account URL, `http://127.0.0.1:PORT/ACCOUNT`.
    pub endpoint: String,
    /// Account name.
    pub account: String,
    /// Base64 key, to sign the read-and-list SAS a node uses.
    pub key: String,
}

impl AutoStorage {
    /// A container URL with a read-and-list SAS valid until `expiry`.
    pub fn container_url(&self, container: &str, expiry: SystemTime) -> String {
        let sas =
            crate::blob::sas::service_sas(&self.account, &self.key, container, None, "rl", expiry);
        format!("{}/{container}?{sas}", self.endpoint)
    }
}

/// A run's resource and output files.
#[derive(Debug, Clone, Default)]
pub struct TaskFiles {
    resources: Vec<Value>,
    outputs: Vec<Value>,
    auto_storage: Option<AutoStorage>,
}

impl TaskFiles {
    /// The files a task (or start / job preparation task) document names; `None`
    /// when it names none.
    pub fn of(spec: &Value, auto_storage: Option<&AutoStorage>) -> Option<Self> {
        let list = |key: &str| {
            spec.get(key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let files = Self {
            resources: list("resourceFiles"),
            outputs: list("outputFiles"),
            auto_storage: auto_storage.cloned(),
        };
        (!files.resources.is_empty() || !files.outputs.is_empty()).then_some(files)
    }

    /// Downloads the resource files into `working_dir`.
    pub async fn download(&self, working_dir: &Path) -> Result<(), RunFailure> {
        if self.resources.is_empty() {
            return Ok(());
        }
        tokio::fs::create_dir_all(working_dir)
            .await
            .map_err(|e| RunFailure {
                category: "usererror",
                code: "ResourceDirectoryCreateFailed",
                message: format!("The task's working directory could not be created: {e}."),
            })?;
        resource_files::download_all(&self.resources, working_dir, self.auto_storage.as_ref()).await
    }

    /// Uploads the output files the outcome calls for; an upload failure becomes the
    /// outcome's failure (the exit code is kept).
    pub async fn upload(
        &self,
        working_dir: &Path,
        task_dir: &Path,
        env: &[(String, String)],
        mut outcome: Outcome,
    ) -> Outcome {
        if self.outputs.is_empty() {
            return outcome;
        }
        if let Some(failure) =
            output_files::upload_all(&self.outputs, working_dir, task_dir, env, &outcome).await
            && outcome.failure.is_none()
        {
            outcome.failure = Some(failure);
        }
        outcome
    }
}
