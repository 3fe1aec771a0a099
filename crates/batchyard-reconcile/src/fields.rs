//! Which pool and job fields may change how (Batch REST API 2025-06-01.21.0), their
//! server defaults, and the recipe names shown in plans.

use serde_json::{Value, json};

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

/// The kind of a pool field, by its wire name.
pub fn pool_field_kind(field: &str) -> PoolFieldKind {
    match field {
        "targetDedicatedNodes"
        | "targetLowPriorityNodes"
        | "enableAutoScale"
        | "autoScaleFormula"
        | "autoScaleEvaluationInterval" => PoolFieldKind::Scale,
        "startTask"
        | "metadata"
        | "applicationPackageReferences"
        | "certificateReferences"
        | "targetNodeCommunicationMode" => PoolFieldKind::Patch,
        "displayName"
        | "vmSize"
        | "enableInterNodeCommunication"
        | "virtualMachineConfiguration"
        | "taskSlotsPerNode"
        | "taskSchedulingPolicy"
        | "networkConfiguration"
        | "resourceTags"
        | "userAccounts"
        | "mountConfiguration"
        | "upgradePolicy" => PoolFieldKind::EmptyPoolOnly,
        // resizeTimeout only matters while a resize runs; it is passed with each resize.
        "id" | "resizeTimeout" => PoolFieldKind::Ignored,
        _ => PoolFieldKind::Replace,
    }
}

/// The value the service reports for a pool field the create payload left out.
pub fn pool_default(field: &str) -> Option<Value> {
    Some(match field {
        "enableInterNodeCommunication" | "enableAutoScale" => json!(false),
        "taskSlotsPerNode" => json!(1),
        "taskSchedulingPolicy" => json!({"nodeFillType": "spread"}),
        "targetNodeCommunicationMode" => json!("default"),
        "targetDedicatedNodes" | "targetLowPriorityNodes" => json!(0),
        "metadata"
        | "applicationPackageReferences"
        | "certificateReferences"
        | "userAccounts"
        | "mountConfiguration" => json!([]),
        "resourceTags" => json!({}),
        _ => return None,
    })
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

/// The kind of a job field, by its wire name.
pub fn job_field_kind(field: &str) -> JobFieldKind {
    match field {
        "priority" | "maxParallelTasks" | "allowTaskPreemption" | "constraints" | "metadata" => {
            JobFieldKind::Patch
        }
        // onAllTasksComplete is managed by apply after the tasks are in.
        "id" | "onAllTasksComplete" => JobFieldKind::Ignored,
        _ => JobFieldKind::Replace,
    }
}

/// The value the service reports for a job field the create payload left out.
pub fn job_default(field: &str) -> Option<Value> {
    Some(match field {
        "priority" => json!(0),
        "maxParallelTasks" => json!(-1),
        "allowTaskPreemption" | "usesTaskDependencies" => json!(false),
        "onTaskFailure" => json!("noaction"),
        "metadata" | "commonEnvironmentSettings" => json!([]),
        // What the service reports for a job created without constraints: unlimited.
        "constraints" => json!({
            "maxWallClockTime": "P10675199DT2H48M5.4775807S",
            "maxTaskRetryCount": 0
        }),
        _ => return None,
    })
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
