use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Environment variables, name to value. Order is kept as written.
pub type EnvMap = IndexMap<String, String>;

/// Free-form name/value metadata attached to a Batch resource. Names starting with
/// `batchyard.` are reserved for ownership tags.
pub type Metadata = IndexMap<String, String>;

/// A raw JSON object merged last into the generated Batch payload, for Batch fields the recipe
/// does not model. It is checked against the official Batch REST API schema.
pub type RawBatch = serde_json::Map<String, serde_json::Value>;

/// A file downloaded onto the node before a task runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceFile {
    /// An HTTP(S) URL of one file (a blob URL with a SAS token, for example).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A blob container URL: every blob in it (or under `prefix`) is downloaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_url: Option<String>,
    /// The name of a container in the Batch account's linked storage account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_storage_container: Option<String>,
    /// Only blobs whose names start with this prefix (containers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Where to put it, relative to the task's working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Octal file mode on Linux nodes, such as `0755`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^0?[0-7]{3}$"))]
    pub mode: Option<String>,
}

/// When an output file is uploaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutputUpload {
    /// Only when the task exits with code 0.
    Success,
    /// Only when the task fails.
    Failure,
    /// Whatever the outcome.
    #[default]
    Completion,
}

/// Files uploaded from the node to blob storage when a task ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputFile {
    /// A glob relative to the task directory, such as `outputs/**/*.csv` or `../std*.txt`.
    #[schemars(length(min = 1))]
    pub pattern: String,
    /// The blob container URL (with a SAS token or managed identity access).
    #[schemars(length(min = 1))]
    pub container_url: String,
    /// The blob name or virtual directory to upload to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// When to upload.
    #[serde(default)]
    pub upload: OutputUpload,
}

/// What happens to the job and to dependent tasks when a task exits a certain way.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExitAction {
    /// `none`, `disable`, `terminate`: what to do with the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobExitAction>,
    /// Whether tasks that depend on this one may run (`satisfy`) or not (`block`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependents: Option<DependencyAction>,
}

/// The job action Batch takes on a task exit condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobExitAction {
    /// Leave the job alone.
    None,
    /// Disable the job (running tasks are requeued).
    Disable,
    /// Terminate the job.
    Terminate,
}

/// Whether dependent tasks run after this exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DependencyAction {
    /// Dependent tasks may run.
    Satisfy,
    /// Dependent tasks stay blocked.
    Block,
}

/// One exit code and what it means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExitCodeRule {
    /// The process exit code.
    pub code: i32,
    /// What happens when the task exits with it.
    pub action: ExitAction,
}

/// A range of exit codes and what they mean.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExitCodeRange {
    /// First code of the range.
    pub start: i32,
    /// Last code of the range (included).
    pub end: i32,
    /// What happens when the task exits with a code in the range.
    pub action: ExitAction,
}

/// How a task's exit is interpreted (Batch `exitConditions`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExitConditions {
    /// Single exit codes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<ExitCodeRule>,
    /// Ranges of exit codes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<ExitCodeRange>,
    /// When the task could not start (a resource file failed to download, for example).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_processing_error: Option<ExitAction>,
    /// When an output file failed to upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_upload_error: Option<ExitAction>,
    /// Any exit not matched above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<ExitAction>,
}
