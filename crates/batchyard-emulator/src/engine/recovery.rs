//! Picking up after a previous run that was killed.
//!
//! Batch handles a lost node by requeueing its running tasks; the emulator does the
//! same for tasks that were running when it died. A task whose process finished
//! while the emulator was down left its exit code in the supervisor's exit journal:
//! that run counts, so it is recorded and not run again.

use serde_json::{Value, json};

use super::docs_util::{private, set_state};
use super::executor::Outcome;
use super::{Engine, RunningTask, StopReason, completion, key};
use crate::store::docs::{self, Table};
use crate::store::{StoreError, attempts};
use crate::supervisor;

pub(super) async fn recover(engine: &mut Engine) -> Result<(), StoreError> {
    let open = engine.store.read(attempts::open_attempts)?;
    // The previous supervisor is gone (it was stopped before this one started), so
    // the journal holds every run that ended by itself.
    let exits = supervisor::read_exits(&engine.settings.work_dir);
    let mut ends = Vec::new();
    for attempt in open {
        let marker = format!("{}/{}/{}", attempt.job_id, attempt.task_id, attempt.attempt);
        // The recorded pid may be missing (killed between spawn and record), so the
        // processes are found by the marker in their environment.
        for pid in supervisor::processes_of_run(engine.supervisor.service(), &marker) {
            supervisor::unix::kill_process(pid);
        }
        let exit_code = exits.get(&marker).copied();
        let reason = if exit_code.is_some() {
            None
        } else {
            Some(StopReason::Requeue)
        };
        tracing::info!(job = %attempt.job_id, task = %attempt.task_id, finished = exit_code.is_some(), "recovering a task that was running at the last stop");
        if engine
            .running
            .contains_key(&key(&attempt.job_id, &attempt.task_id))
        {
            // Two open attempts of one task: record the earlier ones first.
            completion::record(engine, std::mem::take(&mut ends))?;
        }
        engine.running.insert(
            key(&attempt.job_id, &attempt.task_id),
            RunningTask {
                pool: attempt.pool_id.clone(),
                node: attempt.node_id.clone(),
                extra_nodes: Vec::new(),
                slots: 0,
                attempt: attempt.attempt,
                stop: None,
                reason,
            },
        );
        ends.push(completion::Event {
            job: attempt.job_id.clone(),
            task: attempt.task_id.clone(),
            attempt: attempt.attempt,
            pid: None,
            outcome: Outcome {
                exit_code,
                failure: None,
                killed: exit_code.is_none(),
                ..Outcome::default()
            },
        });
    }
    completion::record(engine, ends)?;
    // Recorded: the journal's entries are spent. This supervisor has run nothing yet.
    supervisor::clear_exits(&engine.settings.work_dir);
    // Preparation and release tasks that were running start over.
    engine.store.write(|tx| -> Result<(), StoreError> {
        for mut node in docs::list(tx, Table::Nodes, None, 0, None, usize::MAX)? {
            let Some(jobs) = node
                .value
                .pointer_mut("/_emulator/jobPrep")
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            let mut changed = false;
            for record in jobs.values_mut().filter_map(Value::as_object_mut) {
                record.retain(|_, phase| {
                    let running = phase.get("state").and_then(Value::as_str) == Some("running");
                    changed |= running;
                    !running
                });
            }
            if changed {
                let pool = node
                    .value
                    .pointer("/_emulator/pool")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let id = node.value["id"].as_str().unwrap_or("").to_string();
                docs::put(tx, Table::Nodes, &pool, &id, &node.value)?;
            }
        }
        Ok(())
    })?;
    // Nodes come back as after a reboot: no task runs on them, and a start task
    // that had not finished runs again.
    engine.store.write(|tx| -> Result<(), StoreError> {
        let nodes = docs::list(
            tx,
            Table::Nodes,
            None,
            0,
            Some(&["running", "waitingforstarttask"]),
            usize::MAX,
        )?;
        for mut node in nodes {
            let pool = node
                .value
                .pointer("/_emulator/pool")
                .and_then(Value::as_str)
                .map(str::to_string);
            let id = node.value["id"].as_str().unwrap_or("").to_string();
            let Some(pool) = pool else { continue };
            if node.state() == "waitingforstarttask" {
                set_state(&mut node.value, "starting");
                private(&mut node.value)["since"] = json!(0);
            } else {
                set_state(&mut node.value, "idle");
            }
            node.value["runningTasksCount"] = json!(0);
            node.value["runningTaskSlotsCount"] = json!(0);
            docs::put(tx, Table::Nodes, &pool, &id, &node.value)?;
        }
        Ok(())
    })?;
    Ok(())
}
