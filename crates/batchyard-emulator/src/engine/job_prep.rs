//! Job preparation and release tasks.
//!
//! The preparation task runs on a node before the first task of its job runs there
//! (with `waitForSuccess`, the job's tasks wait for it and avoid a node where it
//! failed). When the job ends, the release task runs on every node that ran the
//! preparation task, and the job completes once they are done. The per-node results
//! live in the node document and are served by
//! `GET /jobs/{job}/jobpreparationandreleasetaskstatus`.

use serde_json::{Value, json};

use super::docs_util::{private, text, update};
use super::executor::{self, Outcome};
use super::layout::NodeLayout;
use super::{Engine, Finished, launch};
use crate::clock;
use crate::store::StoreError;
use crate::store::docs::{self, Table};

/// Which of the two tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// `jobPreparationTask`.
    Prep,
    /// `jobReleaseTask`.
    Release,
}

impl Phase {
    fn key(self) -> &'static str {
        match self {
            Phase::Prep => "prep",
            Phase::Release => "release",
        }
    }

    fn spec_field(self) -> &'static str {
        match self {
            Phase::Prep => "jobPreparationTask",
            Phase::Release => "jobReleaseTask",
        }
    }
}

/// The record of `phase` for `job` on a node, if any.
pub fn record<'a>(node: &'a Value, job: &str, phase: Phase) -> Option<&'a Value> {
    node.pointer(&format!(
        "/_emulator/jobPrep/{}/{}",
        job.to_ascii_lowercase(),
        phase.key()
    ))
}

/// Whether a node may run tasks of `job` now; launches the preparation task there
/// when it has not run yet.
pub(super) async fn node_ready(
    engine: &mut Engine,
    job: &Value,
    pool_id: &str,
    node: &Value,
) -> Result<bool, StoreError> {
    let Some(spec) = job.get("jobPreparationTask").filter(|s| s.is_object()) else {
        return Ok(true);
    };
    let wait = spec
        .get("waitForSuccess")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let job_id = text(job, "id");
    match record(node, job_id, Phase::Prep) {
        None => {
            launch(engine, job, pool_id, text(node, "id"), Phase::Prep).await?;
            Ok(!wait)
        }
        Some(r) if text(r, "state") == "running" => Ok(!wait),
        Some(r) => Ok(!wait || text(r, "result") == "success"),
    }
}

/// Launches the release task on every node that ran the preparation task and has
/// not run the release task; true once every release task has finished.
pub(super) async fn release_done(engine: &mut Engine, job: &Value) -> Result<bool, StoreError> {
    let job_id = text(job, "id").to_string();
    let pool_id = job
        .pointer("/poolInfo/poolId")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let nodes = engine
        .store
        .read(|c| docs::list(c, Table::Nodes, Some(&pool_id), 0, None, usize::MAX))?;
    let mut done = true;
    for node in nodes {
        if record(&node.value, &job_id, Phase::Prep).is_none() {
            continue;
        }
        match record(&node.value, &job_id, Phase::Release) {
            Some(r) if text(r, "state") == "completed" => {}
            Some(_) => done = false,
            None if job.get("jobReleaseTask").is_some_and(Value::is_object) => {
                launch(
                    engine,
                    job,
                    &pool_id,
                    text(&node.value, "id"),
                    Phase::Release,
                )
                .await?;
                done = false;
            }
            None => {}
        }
    }
    Ok(done)
}

async fn launch(
    engine: &mut Engine,
    job: &Value,
    pool_id: &str,
    node_id: &str,
    phase: Phase,
) -> Result<(), StoreError> {
    // The node's preparation records change: the scheduler must not reuse them.
    engine.invalidate();
    let job_id = text(job, "id").to_string();
    let Some(spec) = job.get(phase.spec_field()).cloned() else {
        return Ok(());
    };
    let layout = NodeLayout::new(&engine.settings.work_dir, pool_id, node_id);
    let dir = match phase {
        Phase::Prep => layout.job_prep_dir(&job_id),
        Phase::Release => layout.job_prep_dir(&job_id).with_file_name("jobrelease"),
    };
    let task_id = match text(&spec, "id") {
        "" => match phase {
            Phase::Prep => "jobpreparation".to_string(),
            Phase::Release => "jobrelease".to_string(),
        },
        id => id.to_string(),
    };
    let node_doc = engine
        .store
        .read(|c| docs::get(c, Table::Nodes, pool_id, node_id))?;
    let dedicated = node_doc
        .as_ref()
        .and_then(|n| n.value["isDedicated"].as_bool())
        .unwrap_or(true);
    let mut env = super::layout::node_env(
        &layout,
        pool_id,
        node_id,
        &engine.settings.account,
        &engine.settings.url,
        dedicated,
    );
    env.extend([
        ("AZ_BATCH_JOB_ID".to_string(), job_id.clone()),
        ("AZ_BATCH_TASK_ID".to_string(), task_id),
        ("AZ_BATCH_TASK_DIR".to_string(), dir.display().to_string()),
        (
            "AZ_BATCH_TASK_WORKING_DIR".to_string(),
            dir.join("wd").display().to_string(),
        ),
        (
            "AZ_BATCH_JOB_PREP_DIR".to_string(),
            layout.job_prep_dir(&job_id).display().to_string(),
        ),
        (
            "AZ_BATCH_JOB_PREP_WORKING_DIR".to_string(),
            layout
                .job_prep_dir(&job_id)
                .join("wd")
                .display()
                .to_string(),
        ),
    ]);
    let job_env: Vec<Value> = job
        .get("commonEnvironmentSettings")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let marker = format!("{job_id}/{}/{node_id}", phase.key());
    let launch =
        launch::launch_for(engine, &spec, &job_env, env, dir.clone(), &layout, marker).await;
    let now = clock::now();
    let retry_count = node_doc
        .as_ref()
        .and_then(|n| {
            n.value.pointer(&format!(
                "/_emulator/jobPrep/{}/{}Retries",
                job_id.to_ascii_lowercase(),
                phase.key()
            ))
        })
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let root = dir
        .strip_prefix(&layout.root)
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    update(&engine.store, Table::Nodes, pool_id, node_id, |doc| {
        let slot = &mut private(doc)["jobPrep"][job_id.to_ascii_lowercase()][phase.key()];
        *slot = json!({"state": "running", "startTime": now, "retryCount": retry_count, "taskRootDirectory": root});
    })?;
    let finished = engine.finished_tx.clone();
    let (pool, node) = (pool_id.to_string(), node_id.to_string());
    let supervisor = engine.supervisor.clone();
    tokio::spawn(async move {
        let outcome = match launch {
            Ok(launch) => {
                let (started_tx, _started_rx) = tokio::sync::oneshot::channel();
                // Preparation and release tasks are short and never stopped early.
                let (_stop_tx, stop_rx) = tokio::sync::oneshot::channel();
                executor::run(&supervisor, launch, started_tx, stop_rx).await
            }
            Err(failure) => Outcome {
                failure: Some(failure),
                ..Outcome::default()
            },
        };
        let _ = finished.send(Finished::JobPrep {
            pool,
            node,
            job: job_id,
            phase,
            outcome,
        });
    });
    Ok(())
}

/// Records the end of a preparation or release task.
pub(super) fn finished(
    engine: &mut Engine,
    pool: &str,
    node: &str,
    job: &str,
    phase: Phase,
    outcome: Outcome,
) -> Result<(), StoreError> {
    let job_doc = engine.store.read(|c| docs::get(c, Table::Jobs, "", job))?;
    let max_retries = job_doc
        .as_ref()
        .and_then(|j| {
            j.value.pointer(&format!(
                "/{}/constraints/maxTaskRetryCount",
                phase.spec_field()
            ))
        })
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let success = outcome.failure.is_none() && outcome.exit_code == Some(0);
    let now = clock::now();
    update(&engine.store, Table::Nodes, pool, node, |doc| {
        let slot = &mut private(doc)["jobPrep"][job.to_ascii_lowercase()];
        let retries = slot[phase.key()]["retryCount"].as_i64().unwrap_or(0);
        if !success && phase == Phase::Prep && (max_retries == -1 || retries < max_retries) {
            // Forget the run so the next step launches it again, keeping the count.
            slot[format!("{}Retries", phase.key())] = json!(retries + 1);
            if let Some(map) = slot.as_object_mut() {
                map.remove(phase.key());
            }
            return;
        }
        let record = &mut slot[phase.key()];
        record["state"] = json!("completed");
        record["endTime"] = json!(now);
        if let Some(code) = outcome.exit_code {
            record["exitCode"] = json!(code);
        }
        record["result"] = json!(if success { "success" } else { "failure" });
        if let Some(f) = &outcome.failure {
            record["failureInfo"] =
                json!({"category": f.category, "code": f.code, "message": f.message});
        }
    })?;
    engine.wake.notify_one();
    Ok(())
}
