//! Downloading a task's `resourceFiles` before it starts (tasks, start tasks and job
//! preparation tasks alike): `httpUrl`, `storageContainerUrl` with `blobPrefix`, and
//! `autoStorageContainerName` (the emulator's own storage account), to `filePath`
//! under the working directory, with `fileMode` (default 0770, BatchService.json
//! `ResourceFile`).
//!
//! A file that cannot be fetched fails the task before its command runs, with
//! category `usererror` and the codes of Batch's TaskFailureInformationCodes
//! (<https://learn.microsoft.com/dotnet/api/microsoft.azure.batch.common.taskfailureinformationcodes>):
//! `BlobNotFound`, `BlobAccessDenied`, `BlobDownloadMiscError`,
//! `ResourceContainerAccessDenied`, `ResourceContainerListMiscError`,
//! `ResourceFileCreateFailed`. Messages name the file and the URL without its SAS.

use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::Value;
use url::Url;

use super::blob_client::{self, Transfer, redacted};
use super::docs_util::text;
use super::executor::RunFailure;
use super::task_files::AutoStorage;

/// Default mode of a downloaded file on a Linux node.
const DEFAULT_MODE: u32 = 0o770;

fn failure(code: &'static str, message: String) -> RunFailure {
    RunFailure {
        category: "usererror",
        code,
        message,
    }
}

/// A path under the working directory; `None` when it would leave it (absolute or
/// with `..`), which Batch forbids for `filePath`.
fn inside(working_dir: &Path, relative: &str) -> Option<PathBuf> {
    let path = Path::new(relative);
    path.components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        .then(|| working_dir.join(path))
}

fn mode_of(resource: &Value) -> Result<u32, RunFailure> {
    match text(resource, "fileMode") {
        "" => Ok(DEFAULT_MODE),
        mode => u32::from_str_radix(mode, 8).map_err(|_| {
            failure(
                "ResourceFileCreateFailed",
                format!("The fileMode {mode} is not an octal file mode such as 0755."),
            )
        }),
    }
}

/// Downloads every resource file, in order; the first that fails ends the staging.
pub async fn download_all(
    resources: &[Value],
    working_dir: &Path,
    auto: Option<&AutoStorage>,
) -> Result<(), RunFailure> {
    for resource in resources {
        download_one(resource, working_dir, auto).await?;
    }
    Ok(())
}

async fn download_one(
    resource: &Value,
    working_dir: &Path,
    auto: Option<&AutoStorage>,
) -> Result<(), RunFailure> {
    let file_path = text(resource, "filePath");
    let mode = mode_of(resource)?;
    let http_url = text(resource, "httpUrl");
    if !http_url.is_empty() {
        let dest = inside(working_dir, file_path)
            .filter(|_| !file_path.is_empty())
            .ok_or_else(|| {
                failure(
                    "ResourceFileCreateFailed",
                    format!("The filePath '{file_path}' of {} must be a relative path inside the task's working directory.", redacted(http_url)),
                )
            })?;
        let url = blob_client::checked(http_url)
            .map_err(|e| failure("BlobDownloadMiscError", e.to_string()))?;
        return fetch(url, &dest, mode, http_url, file_path).await;
    }
    let container = match (
        text(resource, "storageContainerUrl"),
        text(resource, "autoStorageContainerName"),
    ) {
        ("", "") => {
            return Err(failure(
                "BlobDownloadMiscError",
                "The resource file names no httpUrl, storageContainerUrl or autoStorageContainerName.".into(),
            ));
        }
        ("", name) => {
            let Some(auto) = auto else {
                return Err(failure(
                    "ResourceContainerAccessDenied",
                    format!(
                        "The container {name} cannot be reached: the emulator has no storage account."
                    ),
                ));
            };
            auto.container_url(name, SystemTime::now() + Duration::from_secs(3600))
        }
        (url, _) => url.to_string(),
    };
    let dir = inside(working_dir, file_path).ok_or_else(|| {
        failure(
            "ResourceFileCreateFailed",
            format!("The filePath '{file_path}' must be a relative path inside the task's working directory."),
        )
    })?;
    let container_url = blob_client::checked(&container)
        .map_err(|e| failure("ResourceContainerListMiscError", e.to_string()))?;
    let prefix = text(resource, "blobPrefix");
    let names = blob_client::list(&container_url, prefix).await.map_err(|e| match e {
        Transfer::Status(401 | 403, _) => failure(
            "ResourceContainerAccessDenied",
            format!("Access to the container {} was denied ({e}): the SAS must grant read and list.", redacted(&container)),
        ),
        e => failure(
            "ResourceContainerListMiscError",
            format!(
                "The blobs{} of the container {} could not be listed: {e}.",
                if prefix.is_empty() { String::new() } else { format!(" under '{prefix}'") },
                redacted(&container)
            ),
        ),
    })?;
    // Batch does not document an empty match; the emulator fails rather than let a
    // task start without the inputs it named, so a missing input is never silent.
    if names.is_empty() && !prefix.is_empty() {
        return Err(failure(
            "BlobNotFound",
            format!(
                "No blob in the container {} starts with '{prefix}'.",
                redacted(&container)
            ),
        ));
    }
    for name in names {
        let dest = inside(&dir, &name).ok_or_else(|| {
            failure(
                "ResourceFileCreateFailed",
                format!("The blob '{name}' cannot be written inside the task's working directory."),
            )
        })?;
        let url = blob_client::blob_url(&container_url, &name);
        let shown = format!("{}/{name}", redacted(&container));
        fetch(url, &dest, mode, &shown, &name).await?;
    }
    Ok(())
}

async fn fetch(
    url: Url,
    dest: &Path,
    mode: u32,
    source: &str,
    file_path: &str,
) -> Result<(), RunFailure> {
    if let Some(parent) = dest.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(|e| {
            failure(
                "ResourceFileCreateFailed",
                format!("The directory for {file_path} could not be created: {e}."),
            )
        })?;
    }
    let source = redacted(source);
    blob_client::download(url, dest).await.map_err(|e| match e {
        Transfer::Status(404, _) => failure(
            "BlobNotFound",
            format!("The resource file {file_path} does not exist at {source}."),
        ),
        Transfer::Status(401 | 403, _) => failure(
            "BlobAccessDenied",
            format!("Access was denied when downloading the resource file {file_path} from {source} ({e})."),
        ),
        e => failure(
            "BlobDownloadMiscError",
            format!("The resource file {file_path} could not be downloaded from {source}: {e}."),
        ),
    })?;
    use std::os::unix::fs::PermissionsExt as _;
    tokio::fs::set_permissions(dest, std::fs::Permissions::from_mode(mode))
        .await
        .map_err(|e| {
            failure(
                "ResourceFileWriteFailed",
                format!("The mode of {file_path} could not be set: {e}."),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_paths_stay_inside_the_working_directory() {
        let wd = Path::new("/wd");
        assert_eq!(inside(wd, "a/b.txt"), Some(PathBuf::from("/wd/a/b.txt")));
        assert_eq!(inside(wd, ""), Some(PathBuf::from("/wd")));
        assert_eq!(inside(wd, "../x"), None);
        assert_eq!(inside(wd, "/etc/passwd"), None);
    }

    #[test]
    fn file_modes_are_octal_with_the_documented_default() {
        assert_eq!(mode_of(&serde_json::json!({})).unwrap(), 0o770);
        assert_eq!(
            mode_of(&serde_json::json!({"fileMode": "0755"})).unwrap(),
            0o755
        );
        assert_eq!(
            mode_of(&serde_json::json!({"fileMode": "644"})).unwrap(),
            0o644
        );
        assert_eq!(
            mode_of(&serde_json::json!({"fileMode": "rwx"}))
                .unwrap_err()
                .code,
            "ResourceFileCreateFailed"
        );
    }
}
