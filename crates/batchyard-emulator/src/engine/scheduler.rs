//! Placing active tasks on free slots.

use crate::store::docs::at;
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::docs_util::{int, set_state, text, update};
use super::launch::{Placement, start_tasks};
use super::{Engine, StopReason, job_prep};
use crate::clock;
use crate::store::docs::{self, Doc, Table};
use crate::store::{Store, StoreError};

/// How many active tasks of one job are considered per step.
const SCAN_LIMIT: usize = 2000;

/// The jobs, pools and nodes a scheduling pass reads, kept from one pass to the next
/// while only tasks changed in between (runs ended, tasks were added or updated): that
/// changes task documents and node counters, not what a placement depends on (job state and priority, pool state and
/// slots, which nodes are enabled and idle or running). The engine drops it
/// ([`Engine::invalidate`]) on any other request, a timer tick, any other process end, and
/// every change it makes to a job or to a node's preparation records.
pub(super) struct View {
    /// Every job, highest priority first.
    jobs: Vec<Doc>,
    /// By lowercase pool id, for the pools of active jobs: the pool and its idle or
    /// running nodes.
    pools: HashMap<String, (Doc, Vec<Doc>)>,
}

impl View {
    fn load(store: &Store) -> Result<Self, StoreError> {
        store.read(|c| {
            let mut jobs = docs::list(c, Table::Jobs, None, 0, None, usize::MAX)?;
            jobs.sort_by_key(|j| -int(&j.value, "priority", 0));
            let mut pools = HashMap::new();
            // Only active jobs are placed; the others' pools need not be read.
            for job in jobs.iter().filter(|j| j.state() == "active") {
                let pool_id = pool_of(&job.value);
                let key = pool_id.to_ascii_lowercase();
                if pools.contains_key(&key) {
                    continue;
                }
                let Some(pool) = docs::get(c, Table::Pools, "", pool_id)? else {
                    continue;
                };
                let nodes = docs::list(
                    c,
                    Table::Nodes,
                    Some(pool_id),
                    0,
                    Some(&["idle", "running"]),
                    usize::MAX,
                )?;
                pools.insert(key, (pool, nodes));
            }
            Ok(Self { jobs, pools })
        })
    }
}

fn pool_of(job: &Value) -> &str {
    at(job, "/poolInfo/poolId")
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub(super) async fn step(engine: &mut Engine) -> Result<(), StoreError> {
    let view = match &engine.view {
        Some(view) => view.clone(),
        None => {
            let view = Arc::new(View::load(&engine.store)?);
            engine.view = Some(view.clone());
            view
        }
    };
    for job in &view.jobs {
        match job.state() {
            "active" => {
                schedule_job(engine, &view, &job.value).await?;
                complete_job_if_done(engine, &job.value)?;
            }
            "terminating" => wind_down(engine, &job.value, StopReason::Terminate, false).await?,
            "deleting" => wind_down(engine, &job.value, StopReason::Discard, true).await?,
            _ => {}
        }
    }
    Ok(())
}

/// Stops a job's running tasks; once none runs and its release tasks are done,
/// completes or deletes the job.
async fn wind_down(
    engine: &mut Engine,
    job: &Value,
    reason: StopReason,
    delete: bool,
) -> Result<(), StoreError> {
    let job_id = text(job, "id");
    let running: Vec<(String, String)> = engine
        .running
        .keys()
        .filter(|(j, _)| j.eq_ignore_ascii_case(job_id))
        .cloned()
        .collect();
    if !running.is_empty() {
        for (job, task) in running {
            engine.stop_task(&job, &task, reason);
        }
        return Ok(());
    }
    if !job_prep::release_done(engine, job).await? {
        return Ok(());
    }
    engine.invalidate();
    engine.store.write(|tx| -> Result<(), StoreError> {
        if delete {
            docs::delete_children(tx, Table::Tasks, job_id)?;
            docs::delete(tx, Table::Jobs, "", job_id)?;
        } else if let Some(mut doc) = docs::get(tx, Table::Jobs, "", job_id)? {
            set_state(&mut doc.value, "completed");
            doc.value["executionInfo"]["endTime"] = json!(clock::now());
            docs::put(tx, Table::Jobs, "", job_id, &doc.value)?;
        }
        Ok(())
    })
}

fn complete_job_if_done(engine: &mut Engine, job: &Value) -> Result<(), StoreError> {
    if text(job, "onAllTasksComplete") != "terminatejob" {
        return Ok(());
    }
    let job_id = text(job, "id");
    if !engine
        .store
        .read(|c| docs::has_unfinished_tasks(c, job_id))?
    {
        // Through terminating, so release tasks run before the job completes.
        engine.invalidate();
        update(&engine.store, Table::Jobs, "", job_id, |doc| {
            set_state(doc, "terminating");
            doc["executionInfo"]["terminateReason"] = json!("AllTasksComplete");
        })?;
    }
    Ok(())
}

struct FreeNode {
    id: String,
    free: i64,
    dedicated: bool,
}

fn dependency_satisfied(
    conn: &rusqlite::Connection,
    job: &str,
    dep: &str,
) -> Result<bool, StoreError> {
    let Some(doc) = docs::get(conn, Table::Tasks, job, dep)? else {
        return Ok(false);
    };
    if doc.state() != "completed" {
        return Ok(false);
    }
    if at(&doc.value, "/executionInfo/result").and_then(Value::as_str) == Some("success") {
        return Ok(true);
    }
    let exit_code = at(&doc.value, "/executionInfo/exitCode").and_then(Value::as_i64);
    Ok(exit_options(&doc.value, exit_code)
        .and_then(|o| o.get("dependencyAction"))
        .and_then(Value::as_str)
        == Some("satisfy"))
}

fn dependencies_met(
    conn: &rusqlite::Connection,
    job: &str,
    task: &Value,
) -> Result<bool, StoreError> {
    let Some(depends) = task.get("dependsOn") else {
        return Ok(true);
    };
    if let Some(ids) = depends.get("taskIds").and_then(Value::as_array) {
        for id in ids.iter().filter_map(Value::as_str) {
            if !dependency_satisfied(conn, job, id)? {
                return Ok(false);
            }
        }
    }
    if let Some(ranges) = depends.get("taskIdRanges").and_then(Value::as_array) {
        for range in ranges {
            let (start, end) = (int(range, "start", 0), int(range, "end", -1));
            for id in start..=end {
                if !dependency_satisfied(conn, job, &id.to_string())? {
                    return Ok(false);
                }
            }
        }
    }
    Ok(true)
}

/// The exit options that apply to an exit code (exitCodes, exitCodeRanges, default).
pub(super) fn exit_options(task: &Value, exit_code: Option<i64>) -> Option<&Value> {
    let conditions = task.get("exitConditions")?;
    if let Some(code) = exit_code {
        if let Some(hit) = conditions
            .get("exitCodes")
            .and_then(Value::as_array)
            .and_then(|list| {
                list.iter()
                    .find(|c| c.get("code").and_then(Value::as_i64) == Some(code))
            })
        {
            return hit.get("exitOptions");
        }
        if let Some(hit) = conditions
            .get("exitCodeRanges")
            .and_then(Value::as_array)
            .and_then(|list| {
                list.iter()
                    .find(|r| int(r, "start", i64::MAX) <= code && code <= int(r, "end", i64::MIN))
            })
        {
            return hit.get("exitOptions");
        }
    } else if let Some(pre) = conditions.get("preProcessingError") {
        return Some(pre);
    }
    // An output file upload failed after the process exited: `fileUploadError`
    // applies unless the exit code matched above, which takes precedence
    // (BatchService.json `ExitConditions.fileUploadError`).
    let upload_failed = at(task, "/executionInfo/failureInfo/code")
        .and_then(Value::as_str)
        .is_some_and(|c| c.starts_with("FileUpload"));
    if exit_code.is_some()
        && upload_failed
        && let Some(upload) = conditions.get("fileUploadError")
    {
        return Some(upload);
    }
    conditions.get("default")
}

async fn schedule_job(engine: &mut Engine, view: &View, job: &Value) -> Result<(), StoreError> {
    let job_id = text(job, "id").to_string();
    let pool_id = pool_of(job).to_string();
    let Some((pool, nodes)) = view.pools.get(&pool_id.to_ascii_lowercase()) else {
        return Ok(());
    };
    if pool.state() != "active" {
        return Ok(());
    }
    let slots_per_node = int(&pool.value, "taskSlotsPerNode", 1).max(1);
    // The service answers enum values capitalized ("Spread"), clients send them lowercase.
    let pack = at(&pool.value, "/taskSchedulingPolicy/nodeFillType")
        .and_then(Value::as_str)
        .is_some_and(|fill| fill.eq_ignore_ascii_case("pack"));
    let used = engine.used_slots(&pool_id);
    let mut free: Vec<FreeNode> = nodes
        .iter()
        .filter(|n| text(&n.value, "schedulingState") != "disabled")
        .filter(|n| at(&n.value, "/_emulator/remove").is_none())
        .map(|n| {
            let id = text(&n.value, "id").to_string();
            FreeNode {
                free: slots_per_node - used.get(&id).copied().unwrap_or(0),
                dedicated: n.value["isDedicated"].as_bool().unwrap_or(true),
                id,
            }
        })
        .collect();
    if free.iter().all(|n| n.free <= 0) {
        return Ok(());
    }
    if job.get("jobPreparationTask").is_some_and(Value::is_object) {
        let waiting = engine
            .store
            .read(|c| docs::list(c, Table::Tasks, Some(&job_id), 0, Some(&["active"]), 1))?;
        if waiting.is_empty() {
            return Ok(());
        }
        // A node takes the job's tasks once its preparation task allows it.
        let mut ready = Vec::new();
        for node in free {
            let doc = nodes.iter().find(|n| text(&n.value, "id") == node.id);
            let ok = match doc {
                Some(doc) if node.free > 0 => {
                    job_prep::node_ready(engine, job, &pool_id, &doc.value).await?
                }
                _ => false,
            };
            if ok {
                ready.push(node);
            }
        }
        free = ready;
    }
    let mut cursor = 0;
    let mut scanned = 0;
    let mut placements = Vec::new();
    // Read as many tasks as can start now, then twice as many each time some were
    // skipped (blocked on dependencies, too big for the free slots): parsing
    // thousands of waiting tasks per step would cost more than running them.
    let free_slots: i64 = free.iter().map(|n| n.free.max(0)).sum();
    let mut batch_size = usize::try_from(free_slots).unwrap_or(1).clamp(1, 200);
    while scanned < SCAN_LIMIT && free.iter().any(|n| n.free > 0) {
        let batch = engine.store.read(|c| {
            docs::list(
                c,
                Table::Tasks,
                Some(&job_id),
                cursor,
                Some(&["active"]),
                batch_size,
            )
        })?;
        if batch.is_empty() {
            break;
        }
        batch_size = (batch_size * 2).min(200);
        for task in batch {
            cursor = task.seq;
            scanned += 1;
            let required = int(&task.value, "requiredSlots", 1).max(1);
            let ready = engine
                .store
                .read(|c| dependencies_met(c, &job_id, &task.value))?;
            if !ready {
                continue;
            }
            let instances = usize::try_from(
                at(&task.value, "/multiInstanceSettings/numberOfInstances")
                    .and_then(Value::as_i64)
                    .unwrap_or(1),
            )
            .unwrap_or(1)
            .max(1);
            let mut fitting: Vec<usize> = (0..free.len())
                .filter(|i| free[*i].free >= required)
                .collect();
            if fitting.len() < instances {
                continue;
            }
            // Pack fills the busiest node first; spread the emptiest. Instances of a
            // multi-instance task each take a different node.
            fitting.sort_by_key(|i| if pack { free[*i].free } else { -free[*i].free });
            let chosen: Vec<(String, bool)> = fitting[..instances]
                .iter()
                .map(|i| {
                    free[*i].free -= required;
                    (free[*i].id.clone(), free[*i].dedicated)
                })
                .collect();
            placements.push(Placement {
                task: task.value,
                nodes: chosen,
                slots: required,
            });
            if free.iter().all(|n| n.free <= 0) {
                break;
            }
        }
    }
    start_tasks(engine, job, &pool.value, placements).await
}
