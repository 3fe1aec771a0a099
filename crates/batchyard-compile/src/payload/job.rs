//! Job payloads (`BatchJobCreateOptions`).

use batchyard_recipe::model::{
    DependsOn, Job, OnAllTasksComplete, OnTaskFailure, Recipe, TaskSpec,
};
use serde_json::{Map, Value, json};

use super::common::{admin_identity, env, metadata, put_value, resource_files};

/// Whether any task of the job has dependencies (Batch then needs `usesTaskDependencies`).
pub fn uses_dependencies(job: &Job) -> bool {
    job.tasks.iter().any(|t| match t {
        TaskSpec::Single(task) => match &task.depends_on {
            Some(DependsOn::Tasks(list)) => !list.is_empty(),
            Some(DependsOn::All) => true,
            None => false,
        },
        TaskSpec::Factory(f) => f.template.get("depends_on").is_some_and(|v| !v.is_null()),
    })
}

/// The Batch value of `onAllTasksComplete`, set once every task has been added.
pub fn on_all_tasks_complete(job: &Job) -> &'static str {
    match job.on_all_tasks_complete {
        OnAllTasksComplete::TerminateJob => "terminatejob",
        OnAllTasksComplete::NoAction => "noaction",
    }
}

/// Builds the job payload (before the `batch:` merge). `onAllTasksComplete` is left out on
/// purpose: the job must not complete before its tasks are in.
pub fn build(recipe: &Recipe, job: &Job) -> Value {
    let mut j = Map::new();
    j.insert("id".into(), json!(job.id));
    j.insert("poolInfo".into(), json!({"poolId": job.pool}));
    if let Some(p) = job.priority {
        j.insert("priority".into(), json!(p));
    }
    if let Some(m) = job.max_parallel_tasks {
        j.insert("maxParallelTasks".into(), json!(m));
    }
    if let Some(c) = &job.constraints {
        let mut m = Map::new();
        if let Some(w) = &c.max_wall_time {
            m.insert("maxWallClockTime".into(), json!(w.to_iso8601()));
        }
        if let Some(r) = c.max_task_retries {
            m.insert("maxTaskRetryCount".into(), json!(r));
        }
        put_value(&mut j, "constraints", Value::Object(m));
    }
    if let Some(prep) = &job.preparation {
        let mut m = Map::new();
        m.insert("commandLine".into(), json!(prep.command));
        put_value(
            &mut m,
            "resourceFiles",
            resource_files(&prep.resource_files),
        );
        put_value(&mut m, "environmentSettings", env(&prep.env));
        if let Some(id) = admin_identity(prep.elevated) {
            m.insert("userIdentity".into(), id);
        }
        m.insert("waitForSuccess".into(), json!(prep.wait_for_success));
        m.insert(
            "rerunOnNodeRebootAfterSuccess".into(),
            json!(prep.rerun_on_node_reboot),
        );
        if let Some(img) = &prep.image {
            m.insert("containerSettings".into(), json!({"imageName": img}));
        }
        j.insert("jobPreparationTask".into(), Value::Object(m));
    }
    if let Some(rel) = &job.release {
        let mut m = Map::new();
        m.insert("commandLine".into(), json!(rel.command));
        put_value(&mut m, "resourceFiles", resource_files(&rel.resource_files));
        put_value(&mut m, "environmentSettings", env(&rel.env));
        if let Some(id) = admin_identity(rel.elevated) {
            m.insert("userIdentity".into(), id);
        }
        if let Some(w) = &rel.max_wall_time {
            m.insert("maxWallClockTime".into(), json!(w.to_iso8601()));
        }
        if let Some(img) = &rel.image {
            m.insert("containerSettings".into(), json!({"imageName": img}));
        }
        j.insert("jobReleaseTask".into(), Value::Object(m));
    }
    put_value(&mut j, "commonEnvironmentSettings", env(&job.env));
    if uses_dependencies(job) {
        j.insert("usesTaskDependencies".into(), json!(true));
    }
    if job.on_task_failure == OnTaskFailure::PerformExitOptionsJobAction {
        j.insert("onTaskFailure".into(), json!("performexitoptionsjobaction"));
    }
    j.insert(
        "metadata".into(),
        Value::Array(metadata(&job.metadata, &recipe.recipe)),
    );
    Value::Object(j)
}
