//! The properties a client may send when it creates a pool, job or task: those of
//! the create model in Microsoft's Batch REST spec (`BatchPoolCreateOptions`,
//! `BatchJobCreateOptions`, `BatchTaskCreateOptions` in BatchService.json,
//! api-version 2025-06-01). Everything else on the resource (`state`,
//! `executionInfo`, `nodeInfo`, `creationTime`, the emulator's own `_emulator`
//! record) belongs to the service: a client that could set `nodeInfo` chose the
//! directory the files API reads and deletes in.
//!
//! Unknown properties get the service's 400 `UnsupportedProperty` ("One of the
//! properties specified in the request body is not supported.", as reported in
//! Azure/azure-sdk-for-python#42399 and listed in docs/batch-rest-api notes).

use axum::http::StatusCode;
use serde_json::Value;

use super::error::{ApiError, ApiResult};

/// `BatchPoolCreateOptions`.
pub const POOL: &[&str] = &[
    "applicationPackageReferences",
    "autoScaleEvaluationInterval",
    "autoScaleFormula",
    "certificateReferences",
    "displayName",
    "enableAutoScale",
    "enableInterNodeCommunication",
    "id",
    "metadata",
    "mountConfiguration",
    "networkConfiguration",
    "resizeTimeout",
    "resourceTags",
    "startTask",
    "targetDedicatedNodes",
    "targetLowPriorityNodes",
    "targetNodeCommunicationMode",
    "taskSchedulingPolicy",
    "taskSlotsPerNode",
    "upgradePolicy",
    "userAccounts",
    "virtualMachineConfiguration",
    "vmSize",
];

/// `BatchJobCreateOptions`.
pub const JOB: &[&str] = &[
    "allowTaskPreemption",
    "commonEnvironmentSettings",
    "constraints",
    "displayName",
    "id",
    "jobManagerTask",
    "jobPreparationTask",
    "jobReleaseTask",
    "maxParallelTasks",
    "metadata",
    "networkConfiguration",
    "onAllTasksComplete",
    "onTaskFailure",
    "poolInfo",
    "priority",
    "usesTaskDependencies",
];

/// `BatchTaskCreateOptions`.
pub const TASK: &[&str] = &[
    "affinityInfo",
    "applicationPackageReferences",
    "authenticationTokenSettings",
    "commandLine",
    "constraints",
    "containerSettings",
    "dependsOn",
    "displayName",
    "environmentSettings",
    "exitConditions",
    "id",
    "multiInstanceSettings",
    "outputFiles",
    "requiredSlots",
    "resourceFiles",
    "userIdentity",
];

/// Refuses a create body with a top-level property outside `allowed`.
pub fn only(body: &Value, allowed: &[&str]) -> ApiResult<()> {
    let Some(map) = body.as_object() else {
        return Ok(());
    };
    match map.keys().find(|key| !allowed.contains(&key.as_str())) {
        None => Ok(()),
        Some(key) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "UnsupportedProperty",
            "One of the properties specified in the request body is not supported.",
        )
        .with("PropertyName", key.as_str())),
    }
}
