use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Data a task needs on its node, downloaded before it starts (Batch resource files).
/// Exactly one of `local`, `blob` or `url`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// A local file, folder or glob, relative to the recipe. `apply` uploads it to the
    /// recipe's storage once per content (a second apply of unchanged files uploads
    /// nothing) before the task is added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<String>,
    /// Blobs under this prefix of the storage container, passed through as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
    /// One file at an HTTP(S) URL, passed through as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Where it goes, relative to the task's working directory. Default: the path as
    /// written for `local`, the blob names for `blob`, the URL's last segment for `url`.
    /// A folder or glob lands below it, keeping the paths relative to the folder (or the
    /// glob's fixed part).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Octal file mode on Linux nodes, such as `0755`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^0?[0-7]{3}$"))]
    pub mode: Option<String>,
}

/// Files a task leaves on its node that are uploaded to the recipe's storage when it ends
/// (Batch output files), under `outputs/JOB/TASK/`, where `batchyard outputs` finds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Output {
    /// A pattern relative to the task's working directory: a file name, or a glob with
    /// `*`, `?` and `**` (any number of folders), such as `results/**/*.csv`.
    #[schemars(length(min = 1))]
    pub pattern: String,
    /// A path below the task's output folder: the blob name for a single file, the folder
    /// the matches go to for a glob. Default: the file's name, or the folder itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// When to upload: `success` (exit code 0), `failure`, or `completion` (either).
    #[serde(default)]
    pub when: super::OutputUpload,
}
