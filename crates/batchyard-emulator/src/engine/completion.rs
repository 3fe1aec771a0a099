//! Recording how tasks ended: retry, requeue or completion, and the job's reaction.
//!
//! The ends (and process ids) that reach the loop together are written in one
//! transaction, so a burst of exits costs one commit.

use crate::store::docs::at;
use serde_json::{Value, json};

use super::docs_util::{int, set_state, text, update};
use super::executor::Outcome;
use super::node_tally::NodeTally;
use super::scheduler::exit_options;
use super::{Engine, RunningTask, StopReason, key};
use crate::clock;
use crate::store::docs::{self, Table};
use crate::store::{StoreError, attempts};

/// How a task's run ended, as the loop heard it.
#[derive(Debug)]
pub(super) struct Event {
    pub job: String,
    pub task: String,
    pub attempt: i64,
    /// The process id, when it started.
    pub pid: Option<i64>,
    pub outcome: Outcome,
}

/// An end the loop still tracked, with what it knew of the run.
struct Ended {
    event: Event,
    running: RunningTask,
}

/// Records a batch of task events in one transaction, then applies the job actions
/// the failures asked for.
pub(super) fn record(engine: &mut Engine, events: Vec<Event>) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut ends = Vec::new();
    for event in events {
        // A run the loop no longer tracks was already recorded (recovery).
        if let Some(running) = engine.running.remove(&key(&event.job, &event.task)) {
            ends.push(Ended { event, running });
        }
    }
    let now = clock::now();
    let actions = engine
        .store
        .write(|tx| -> Result<Vec<(String, String)>, StoreError> {
            let mut tally = NodeTally::default();
            let mut actions = Vec::new();
            for end in &ends {
                if let Some(action) = record_end(tx, &mut tally, end, &now)? {
                    actions.push((end.event.job.clone(), action));
                }
            }
            tally.write(tx)?;
            Ok(actions)
        })?;
    for (job, action) in actions {
        engine.invalidate();
        apply_job_action(engine, &job, &action)?;
    }
    Ok(())
}

/// Records one end; returns the job action its failure asks for, if any.
fn record_end(
    tx: &rusqlite::Connection,
    tally: &mut NodeTally,
    end: &Ended,
    now: &str,
) -> Result<Option<String>, StoreError> {
    let Ended {
        event:
            Event {
                job,
                task,
                attempt,
                pid,
                outcome,
            },
        running,
    } = end;
    let (job, task, now) = (job.as_str(), task.as_str(), now.to_string());
    let reason = running.reason;
    let closing = match (reason, &outcome.failure) {
        (Some(StopReason::Requeue), _) => "requeued",
        (Some(StopReason::Terminate), _) => "terminated",
        (Some(StopReason::Discard), _) => "discarded",
        (None, Some(_)) => "failed",
        (None, None) => "exited",
    };
    attempts::close(
        tx,
        job,
        task,
        *attempt,
        *pid,
        &now,
        outcome.exit_code,
        closing,
    )?;
    let succeeded = reason.is_none() && outcome.failure.is_none() && outcome.exit_code == Some(0);
    for node_id in std::iter::once(&running.node).chain(&running.extra_nodes) {
        tally.count(tx, &running.pool, node_id, -1, -running.slots, succeeded)?;
    }
    let mut return_action: Option<String> = None;
    let Some(mut doc) = docs::get(tx, Table::Tasks, job, task)? else {
        return Ok(None);
    };
    let current = at(&doc.value, "/_emulator/attempt").and_then(Value::as_i64);
    if doc.state() != "running" || current != Some(running.attempt) {
        return Ok(None);
    }
    record_subtasks(&mut doc.value, outcome, &now);
    let value = &mut doc.value;
    match reason {
        Some(StopReason::Discard) => return Ok(None),
        Some(StopReason::Requeue) => {
            set_state(value, "active");
            let info = &mut value["executionInfo"];
            info["requeueCount"] = json!(int(info, "requeueCount", 0) + 1);
            info["lastRequeueTime"] = json!(now);
        }
        Some(StopReason::Terminate) => {
            set_state(value, "completed");
            let info = &mut value["executionInfo"];
            info["endTime"] = json!(now);
            info["result"] = json!("failure");
            info["failureInfo"] = json!({"category": "usererror", "code": "TaskEnded", "message": "The task was terminated."});
        }
        None => {
            let success = outcome.failure.is_none() && outcome.exit_code == Some(0);
            let max_retries = at(value, "/constraints/maxTaskRetryCount")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let retries = at(value, "/executionInfo/retryCount")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let retry = !success && (max_retries == -1 || retries < max_retries);
            {
                let info = &mut value["executionInfo"];
                info["endTime"] = json!(now);
                match outcome.exit_code {
                    Some(code) => info["exitCode"] = json!(code),
                    None => {
                        if let Some(map) = info.as_object_mut() {
                            map.remove("exitCode");
                        }
                    }
                }
                info["result"] = json!(if success { "success" } else { "failure" });
                if !success {
                    info["failureInfo"] = outcome.failure_info();
                }
                if retry {
                    info["retryCount"] = json!(retries + 1);
                    info["lastRetryTime"] = json!(now);
                }
            }
            if retry {
                set_state(value, "active");
            } else {
                set_state(value, "completed");
                if !success {
                    return_action = exit_options(value, outcome.exit_code)
                        .and_then(|o| o.get("jobAction"))
                        .and_then(Value::as_str)
                        .map(str::to_string);
                }
            }
        }
    }
    docs::put(tx, Table::Tasks, job, task, &doc.value)?;
    Ok(return_action)
}

/// Ends the subtask records of a multi-instance task with their instances' results.
fn record_subtasks(doc: &mut Value, outcome: &Outcome, now: &str) {
    let Some(subtasks) = doc
        .pointer_mut("/_emulator/subtasks")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for (index, subtask) in subtasks.iter_mut().enumerate() {
        // Instance 0 is the primary; subtask n ran instance n.
        let instance = outcome.instances.get(index + 1);
        subtask["state"] = json!("completed");
        subtask["stateTransitionTime"] = json!(now);
        subtask["endTime"] = json!(instance.map_or(now, |i| i.end.as_str()));
        let ok = instance.is_some_and(|i| i.failure.is_none() && i.exit_code == Some(0));
        if let Some(code) = instance.and_then(|i| i.exit_code) {
            subtask["exitCode"] = json!(code);
        }
        subtask["result"] = json!(if ok { "success" } else { "failure" });
    }
}

fn apply_job_action(engine: &mut Engine, job: &str, action: &str) -> Result<(), StoreError> {
    update(&engine.store, Table::Jobs, "", job, |doc| {
        if text(doc, "onTaskFailure") != "performexitoptionsjobaction"
            || text(doc, "state") != "active"
        {
            return;
        }
        match action {
            "terminate" => {
                set_state(doc, "terminating");
                doc["executionInfo"]["terminateReason"] = json!("TaskFailed");
            }
            "disable" => set_state(doc, "disabled"),
            _ => {}
        }
    })?;
    Ok(())
}
