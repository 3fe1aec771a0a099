//! How the reconciler brings each pool and job field to its desired value, from Batch's
//! rules in [`batchyard_batch::rules`] (the same table the local emulator follows), and
//! the recipe names shown in plans.

use batchyard_batch::rules::{self, Update};
use serde_json::Value;

/// How a differing pool field can be brought to the desired value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolFieldKind {
    /// Scale settings: resize or autoscale calls.
    Scale,
    /// `PATCH /pools/{id}` at any time.
    Patch,
    /// `PATCH /pools/{id}` only while the pool has no nodes.
    EmptyPoolOnly,
    /// Not compared (identity, or a value only the service sets).
    Ignored,
    /// Anything else: only a new pool can have it.
    Replace,
}

/// The kind of a pool field, by its wire name, from the shared table of Batch's rules
/// ([`batchyard_batch::rules`]).
pub fn pool_field_kind(field: &str) -> PoolFieldKind {
    match field {
        // resizeTimeout only matters while a resize runs; it is passed with each resize.
        "id" | "resizeTimeout" => PoolFieldKind::Ignored,
        _ => match rules::pool_update(field) {
            Update::Scale => PoolFieldKind::Scale,
            Update::Anytime => PoolFieldKind::Patch,
            Update::EmptyPoolOnly => PoolFieldKind::EmptyPoolOnly,
            Update::WhileDisabled | Update::CreateOnly => PoolFieldKind::Replace,
        },
    }
}

/// The value a pool field has when the payload leaves it out: the service's default, or
/// the empty collection a PATCH sends to remove it.
pub fn pool_default(field: &str) -> Option<Value> {
    rules::pool_default(field).or_else(|| rules::pool_clear(field))
}

/// How a differing job field can be brought to the desired value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobFieldKind {
    /// `PATCH /jobs/{id}`.
    Patch,
    /// Not compared here.
    Ignored,
    /// Only a new job can have it.
    Replace,
}

/// The kind of a job field, by its wire name, from [`batchyard_batch::rules`].
pub fn job_field_kind(field: &str) -> JobFieldKind {
    match field {
        // onAllTasksComplete is managed by apply after the tasks are in.
        "id" | "onAllTasksComplete" => JobFieldKind::Ignored,
        // The pool of a job changes only while it is disabled, which apply never does.
        _ => match rules::job_update(field) {
            Update::Anytime => JobFieldKind::Patch,
            _ => JobFieldKind::Replace,
        },
    }
}

/// The value a job field has when the payload leaves it out: the service's default, or
/// the empty collection a PATCH sends to remove it.
pub fn job_default(field: &str) -> Option<Value> {
    rules::job_default(field).or_else(|| rules::job_clear(field))
}

/// The recipe's name for a wire field, as plans show it.
pub fn recipe_name(field: &str) -> &str {
    match field {
        "vmSize" => "vm_size",
        "virtualMachineConfiguration" => "os / containers",
        "enableInterNodeCommunication" => "inter-node communication (rdma, mpi)",
        "taskSlotsPerNode" => "task_slots_per_node",
        "taskSchedulingPolicy" => "scheduling",
        "networkConfiguration" => "network",
        "startTask" => "start_task",
        "applicationPackageReferences" => "application_packages",
        "targetDedicatedNodes" => "nodes.dedicated",
        "targetLowPriorityNodes" => "nodes.spot",
        "autoScaleFormula" => "nodes.autoscale",
        "commonEnvironmentSettings" => "env",
        "jobPreparationTask" => "preparation",
        "jobReleaseTask" => "release",
        "usesTaskDependencies" => "depends_on",
        "poolInfo" => "pool",
        "onTaskFailure" => "on_task_failure",
        "maxParallelTasks" => "max_parallel_tasks",
        "displayName" => "display_name",
        "userAccounts" => "user_accounts",
        "mountConfiguration" => "mounts",
        "resourceTags" => "resource_tags",
        other => other,
    }
}
