use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::pool::default_true;
use super::{Duration, EnvMap, Input, Metadata, RawBatch, ResourceFile, TaskSpec};

/// A job: a set of tasks that run on one pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// The job id in the Batch account: letters, digits, `-` and `_`, at most 64.
    pub id: String,
    /// The id of the pool (in this recipe) the job runs on.
    pub pool: String,
    /// Default container image for the job's tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Environment variables for every task of the job.
    #[serde(default, skip_serializing_if = "EnvMap::is_empty")]
    pub env: EnvMap,
    /// Job priority, from -1000 (lowest) to 1000 (highest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -1000, max = 1000))]
    pub priority: Option<i32>,
    /// At most this many tasks of the job run at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_parallel_tasks: Option<u32>,
    /// Limits on the whole job and default limits for its tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<JobConstraints>,
    /// A command run on each node before the job's first task there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preparation: Option<JobPreparation>,
    /// A command run on each node that ran the job's tasks, when the job ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<JobRelease>,
    /// What Batch does once every task has completed. batchyard sets it only after the
    /// last task has been added, so a job cannot complete early.
    #[serde(default)]
    pub on_all_tasks_complete: OnAllTasksComplete,
    /// What Batch does when a task fails.
    #[serde(default)]
    pub on_task_failure: OnTaskFailure,
    /// Metadata added to the job (besides batchyard's own ownership tags).
    #[serde(default, skip_serializing_if = "Metadata::is_empty")]
    pub metadata: Metadata,
    /// Data every task of the job needs (added to each task's own `inputs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<Input>,
    /// Raw Batch job fields merged last into the payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<RawBatch>,
    /// The tasks: single tasks, and task factories that expand into many.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<TaskSpec>,
}

/// Job-wide limits.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobConstraints {
    /// The job is terminated when it has run this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_wall_time: Option<Duration>,
    /// Default retry count for the job's tasks (-1: retry forever).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -1, max = 100))]
    pub max_task_retries: Option<i32>,
}

/// The job preparation task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobPreparation {
    /// The command line (no implicit shell).
    #[schemars(length(min = 1))]
    pub command: String,
    /// Run as the administrator auto-user.
    #[serde(default)]
    pub elevated: bool,
    /// Do not start the job's tasks on a node until preparation succeeded there.
    #[serde(default = "default_true")]
    pub wait_for_success: bool,
    /// Run it again after the node reboots.
    #[serde(default = "default_true")]
    pub rerun_on_node_reboot: bool,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "EnvMap::is_empty")]
    pub env: EnvMap,
    /// Files downloaded before it runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_files: Vec<ResourceFile>,
    /// Run it inside this container image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// The job release task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobRelease {
    /// The command line (no implicit shell).
    #[schemars(length(min = 1))]
    pub command: String,
    /// Run as the administrator auto-user.
    #[serde(default)]
    pub elevated: bool,
    /// Stop it after this long (Batch's limit is 15 minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_wall_time: Option<Duration>,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "EnvMap::is_empty")]
    pub env: EnvMap,
    /// Files downloaded before it runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_files: Vec<ResourceFile>,
    /// Run it inside this container image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// What happens when all of a job's tasks are complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnAllTasksComplete {
    /// The job ends once its tasks are done; tasks added to the recipe later make apply
    /// re-create the whole job (every task runs again).
    TerminateJob,
    /// The job stays active, so tasks added to the recipe later are added to it and only
    /// they run (Batch Shipyard's default, `auto_complete: false`). `batchyard run` still
    /// ends when every task is done.
    #[default]
    NoAction,
}

/// What happens when a task of the job fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnTaskFailure {
    /// Nothing: other tasks go on.
    #[default]
    NoAction,
    /// Take the job action of the task's exit conditions.
    PerformExitOptionsJobAction,
}
