//! Pool allocation and node lifecycles.
//!
//! A resize adds nodes in `creating`; after half the boot delay they are `starting`,
//! after the other half the start task runs (`waitingforstarttask` when it must
//! succeed) and then they are `idle`. Removed nodes leave the pool according to the
//! deallocation option. Injected failures ([`crate::NodeFaults`], see [`node_faults`]): a
//! resize beyond the core quota stops at what fits, a node may come up `unusable` instead
//! of `starting`, and a spot node may be `preempted`, then boot again.

use serde_json::{Value, json};

use super::docs_util::{int, now_ms, private, set_state, text, update};
use super::executor::{self, Outcome};
use super::layout::{NodeLayout, node_env};
use super::{Engine, Finished, StopReason, launch, node_faults};
use crate::clock;
use crate::store::StoreError;
use crate::store::docs::{self, Table};

pub(super) async fn step(engine: &mut Engine) -> Result<(), StoreError> {
    let pools = engine
        .store
        .read(|c| docs::list(c, Table::Pools, None, 0, None, usize::MAX))?;
    for pool in pools {
        let pool_id = text(&pool.value, "id").to_string();
        if pool.state() == "deleting" {
            delete_pool_step(engine, &pool_id)?;
            continue;
        }
        if text(&pool.value, "allocationState") == "resizing" {
            resize(engine, &pool.value)?;
        }
        advance_nodes(engine, &pool.value).await?;
    }
    if engine.node_faults.preemption_due() {
        preempt_one(engine)?;
    }
    Ok(())
}

/// Preempts one spot/low-priority node of any pool, a busy one when there is one: its
/// running tasks go back to the queue (`requeueCount`+1; `retryCount` is for failures of
/// the task itself) and it is `preempted` until the service gets it back (see
/// [`node_faults`]).
fn preempt_one(engine: &mut Engine) -> Result<(), StoreError> {
    let all = engine
        .store
        .read(|c| docs::list(c, Table::Nodes, None, 0, None, usize::MAX))?;
    let mut candidates: Vec<&Value> = all
        .iter()
        .map(|d| &d.value)
        .filter(|n| is_live(n, false))
        .filter(|n| matches!(text(n, "state"), "running" | "idle"))
        .collect();
    if candidates.iter().any(|n| text(n, "state") == "running") {
        candidates.retain(|n| text(n, "state") == "running");
    }
    if candidates.is_empty() {
        return Ok(());
    }
    // A stable order, so the seeded draw picks the same place in it each run.
    candidates.sort_by_key(|n| {
        (
            text(n, "allocationTime").to_owned(),
            text(n, "id").to_owned(),
        )
    });
    let node = candidates[engine.node_faults.pick(candidates.len())];
    let pool_id = node
        .pointer("/_emulator/pool")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let node_id = text(node, "id").to_owned();
    let on_node: Vec<(String, String)> = engine
        .running
        .iter()
        .filter(|(_, t)| {
            t.pool.eq_ignore_ascii_case(&pool_id)
                && (t.node == node_id || t.extra_nodes.contains(&node_id))
        })
        .map(|(k, _)| k.clone())
        .collect();
    for (job, task) in &on_node {
        engine.stop_task(job, task, StopReason::Requeue);
    }
    if let Some(stop) = engine
        .start_tasks
        .remove(&(pool_id.to_ascii_lowercase(), node_id.to_ascii_lowercase()))
    {
        let _ = stop.send(());
    }
    tracing::info!(
        pool = pool_id,
        node = node_id,
        tasks = on_node.len(),
        "spot node preempted"
    );
    update(&engine.store, Table::Nodes, &pool_id, &node_id, |doc| {
        set_state(doc, "preempted");
        private(doc)["since"] = json!(now_ms());
    })?;
    Ok(())
}

fn delete_pool_step(engine: &mut Engine, pool_id: &str) -> Result<(), StoreError> {
    let running: Vec<(String, String)> = engine
        .running
        .iter()
        .filter(|(_, t)| t.pool.eq_ignore_ascii_case(pool_id))
        .map(|(k, _)| k.clone())
        .collect();
    let busy = !running.is_empty()
        || engine
            .start_tasks
            .keys()
            .any(|(p, _)| p.eq_ignore_ascii_case(pool_id));
    for (job, task) in running {
        engine.stop_task(&job, &task, StopReason::Requeue);
    }
    for ((p, _), stop) in engine.start_tasks.iter_mut() {
        if p.eq_ignore_ascii_case(pool_id) {
            // Dropping the sender would also stop it; sending is explicit.
            let (tx, _) = tokio::sync::oneshot::channel();
            let _ = std::mem::replace(stop, tx).send(());
        }
    }
    if busy {
        return Ok(());
    }
    engine.store.write(|tx| -> Result<(), StoreError> {
        docs::delete_children(tx, Table::Nodes, pool_id)?;
        docs::delete(tx, Table::Pools, "", pool_id)?;
        Ok(())
    })
}

fn new_node(pool: &Value, dedicated: bool) -> Value {
    let now = clock::now();
    let suffix = if dedicated { "d" } else { "p" };
    let id = format!("tvmps_{}_{suffix}", uuid::Uuid::new_v4().simple());
    let pool_id = text(pool, "id");
    json!({
        "id": id,
        "url": format!("/pools/{pool_id}/nodes/{id}"),
        "state": "creating",
        "schedulingState": "enabled",
        "stateTransitionTime": now,
        "allocationTime": now,
        "ipAddress": "127.0.0.1",
        "affinityId": format!("TVM:{id}"),
        "vmSize": text(pool, "vmSize").to_ascii_lowercase(),
        "totalTasksRun": 0,
        "runningTasksCount": 0,
        "runningTaskSlotsCount": 0,
        "totalTasksSucceeded": 0,
        "isDedicated": dedicated,
        "nodeAgentInfo": {"version": "1.11.0-batchyard", "lastUpdateTime": now},
        // As the service reports them (recording: test_batch_compute_nodes): the image
        // the node runs, with its exact version, and the pool's certificates.
        "virtualMachineInfo": {"imageReference": node_image(pool)},
        "certificateReferences": pool.get("certificateReferences").cloned().unwrap_or(json!([])),
        "_emulator": {"since": now_ms(), "pool": pool_id},
    })
}

/// The pool's image reference, with the exact version the node was made from (a local
/// node has no image of its own: the version asked for).
fn node_image(pool: &Value) -> Value {
    let mut image = pool
        .pointer("/virtualMachineConfiguration/imageReference")
        .cloned()
        .unwrap_or(json!({}));
    let version = image["version"].as_str().unwrap_or("latest").to_owned();
    image["exactVersion"] = json!(version);
    image
}

fn resize(engine: &mut Engine, pool: &Value) -> Result<(), StoreError> {
    let pool_id = text(pool, "id").to_string();
    let nodes = engine
        .store
        .read(|c| docs::list(c, Table::Nodes, Some(&pool_id), 0, None, usize::MAX))?;
    let option = pool
        .pointer("/_emulator/deallocation")
        .and_then(Value::as_str)
        .unwrap_or("requeue")
        .to_string();
    let mut new_docs = Vec::new();
    let mut victims = Vec::new();
    let mut current = [0_usize; 2];
    let mut errors = Vec::new();
    for (kind, dedicated) in [true, false].into_iter().enumerate() {
        let field = if dedicated {
            "targetDedicatedNodes"
        } else {
            "targetLowPriorityNodes"
        };
        let target = usize::try_from(int(pool, field, 0)).unwrap_or(0);
        let mut live: Vec<&Value> = nodes
            .iter()
            .map(|d| &d.value)
            .filter(|n| is_live(n, dedicated))
            .collect();
        current[kind] = target;
        if live.len() < target {
            let wanted = target - live.len();
            let fit = match quota_room(engine, pool, dedicated)? {
                Some(fit) if fit < wanted => {
                    // As the service does: allocate what fits, report the rest, go steady.
                    errors.push(node_faults::quota_error(dedicated));
                    fit
                }
                _ => wanted,
            };
            for _ in 0..fit {
                new_docs.push(new_node(pool, dedicated));
            }
            current[kind] = live.len() + fit;
        } else if live.len() > target {
            // Remove nodes doing the least work first.
            live.sort_by_key(|n| match text(n, "state") {
                "creating" | "starting" | "unusable" | "starttaskfailed" | "preempted" => 0,
                "idle" | "waitingforstarttask" => 1,
                _ => 2,
            });
            let excess = live.len() - target;
            for node in live.into_iter().take(excess) {
                victims.push(text(node, "id").to_string());
            }
        }
    }
    let victims_marked = victims.clone();
    let option_marked = option.clone();
    engine.store.write(|tx| -> Result<(), StoreError> {
        for node in &new_docs {
            docs::insert(tx, Table::Nodes, &pool_id, text(node, "id"), node)?;
        }
        for id in &victims_marked {
            if let Some(mut doc) = docs::get(tx, Table::Nodes, &pool_id, id)? {
                private(&mut doc.value)["remove"] = Value::String(option_marked.clone());
                docs::put(tx, Table::Nodes, &pool_id, id, &doc.value)?;
            }
        }
        if let Some(mut doc) = docs::get(tx, Table::Pools, "", &pool_id)? {
            doc.value["currentDedicatedNodes"] = json!(current[0]);
            doc.value["currentLowPriorityNodes"] = json!(current[1]);
            if !errors.is_empty() {
                doc.value["resizeErrors"] = json!(errors);
            }
            doc.value["allocationState"] = json!("steady");
            doc.value["allocationStateTransitionTime"] = json!(clock::now());
            docs::put(tx, Table::Pools, "", &pool_id, &doc.value)?;
        }
        Ok(())
    })?;
    Ok(())
}

/// How many more nodes of this pool's kind fit in the account's core quota (see
/// [`node_faults`]); `None` without a quota. Every node of the kind in every pool counts,
/// preempted ones included (they stay in the pool's count), removed ones not.
fn quota_room(engine: &Engine, pool: &Value, dedicated: bool) -> Result<Option<usize>, StoreError> {
    let cores = node_faults::cores_of(text(pool, "vmSize"));
    if engine
        .node_faults
        .nodes_that_fit(dedicated, cores, 0)
        .is_none()
    {
        return Ok(None);
    }
    let all = engine
        .store
        .read(|c| docs::list(c, Table::Nodes, None, 0, None, usize::MAX))?;
    let used: u64 = all
        .iter()
        .map(|d| &d.value)
        .filter(|n| is_live(n, dedicated))
        .map(|n| u64::from(node_faults::cores_of(text(n, "vmSize"))))
        .sum();
    Ok(engine
        .node_faults
        .nodes_that_fit(dedicated, cores, used)
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX)))
}

/// Whether `node` is a dedicated (or spot) node that is not on its way out of the pool.
fn is_live(node: &Value, dedicated: bool) -> bool {
    node["isDedicated"].as_bool() == Some(dedicated) && node.pointer("/_emulator/remove").is_none()
}

async fn advance_nodes(engine: &mut Engine, pool: &Value) -> Result<(), StoreError> {
    let pool_id = text(pool, "id").to_string();
    let nodes = engine
        .store
        .read(|c| docs::list(c, Table::Nodes, Some(&pool_id), 0, None, usize::MAX))?;
    let half_boot = i64::try_from(engine.settings.boot_delay.as_millis() / 2).unwrap_or(0);
    let preempted_for = i64::try_from(engine.node_faults.preempted_for().as_millis()).unwrap_or(0);
    let now = now_ms();
    for node in nodes {
        let node_id = text(&node.value, "id").to_string();
        let since = node
            .value
            .pointer("/_emulator/since")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if let Some(option) = node
            .value
            .pointer("/_emulator/remove")
            .and_then(Value::as_str)
        {
            remove_node_step(engine, &pool_id, &node_id, option)?;
            continue;
        }
        match node.state() {
            "creating" if now - since >= half_boot => {
                let unusable = engine.node_faults.draw_unusable();
                update(&engine.store, Table::Nodes, &pool_id, &node_id, |doc| {
                    if unusable {
                        set_state(doc, "unusable");
                        doc["errors"] = node_faults::unusable_errors();
                    } else {
                        set_state(doc, "starting");
                    }
                    private(doc)["since"] = json!(now);
                })?;
            }
            "preempted" if now - since >= preempted_for => {
                // The service gets the node back and it boots again, start task included.
                update(&engine.store, Table::Nodes, &pool_id, &node_id, |doc| {
                    set_state(doc, "creating");
                    private(doc)["since"] = json!(now);
                })?;
            }
            "starting" if now - since >= half_boot => {
                start_node(engine, pool, &node.value).await?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn remove_node_step(
    engine: &mut Engine,
    pool_id: &str,
    node_id: &str,
    option: &str,
) -> Result<(), StoreError> {
    let on_node: Vec<(String, String)> = engine
        .running
        .iter()
        .filter(|(_, t)| {
            t.pool.eq_ignore_ascii_case(pool_id)
                && (t.node == node_id || t.extra_nodes.iter().any(|n| n == node_id))
        })
        .map(|(k, _)| k.clone())
        .collect();
    let reason = match option {
        "terminate" => Some(StopReason::Terminate),
        "taskcompletion" | "retaineddata" => None,
        _ => Some(StopReason::Requeue),
    };
    if let Some(reason) = reason {
        for (job, task) in &on_node {
            engine.stop_task(job, task, reason);
        }
    }
    if let Some(stop) = engine
        .start_tasks
        .remove(&(pool_id.to_ascii_lowercase(), node_id.to_ascii_lowercase()))
    {
        let _ = stop.send(());
    }
    if on_node.is_empty() {
        engine
            .store
            .write(|tx| docs::delete(tx, Table::Nodes, pool_id, node_id))?;
    } else {
        update(&engine.store, Table::Nodes, pool_id, node_id, |doc| {
            if text(doc, "state") != "leavingpool" {
                set_state(doc, "leavingpool");
            }
        })?;
    }
    Ok(())
}

/// The pool's `mountConfiguration` cannot be mounted on this machine (no storage account,
/// no NFS server): each mount point is made as an empty local directory, so tasks that use
/// the path still start, and a warning says the file system is not there.
fn make_mount_points(layout: &NodeLayout, pool: &Value) {
    const KINDS: [&str; 4] = [
        "azureBlobFileSystemConfiguration",
        "azureFileShareConfiguration",
        "nfsMountConfiguration",
        "cifsMountConfiguration",
    ];
    let Some(mounts) = pool.get("mountConfiguration").and_then(Value::as_array) else {
        return;
    };
    for mount in mounts {
        for kind in KINDS {
            let Some(relative) = mount
                .get(kind)
                .and_then(|m| m.get("relativeMountPath"))
                .and_then(Value::as_str)
            else {
                continue;
            };
            let path = std::path::Path::new(relative);
            // A mount point is one or more plain names below the mounts directory.
            if relative.is_empty()
                || !path
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)))
            {
                tracing::warn!(pool = text(pool, "id"), relative, "mount path refused");
                continue;
            }
            let _ = fs_err::create_dir_all(layout.mounts().join(path));
            tracing::warn!(
                pool = text(pool, "id"),
                kind,
                relative,
                "the emulator does not mount file systems: the mount point is an empty local directory"
            );
        }
    }
}

async fn start_node(engine: &mut Engine, pool: &Value, node: &Value) -> Result<(), StoreError> {
    let pool_id = text(pool, "id").to_string();
    let node_id = text(node, "id").to_string();
    // The node's shared directory exists from boot, as on a Batch node.
    let _ = fs_err::create_dir_all(
        NodeLayout::new(&engine.settings.work_dir, &pool_id, &node_id).shared(),
    );
    make_mount_points(
        &NodeLayout::new(&engine.settings.work_dir, &pool_id, &node_id),
        pool,
    );
    let Some(start_task) = pool.get("startTask").filter(|s| s.is_object()).cloned() else {
        update(&engine.store, Table::Nodes, &pool_id, &node_id, |doc| {
            set_state(doc, "idle");
            doc["lastBootTime"] = json!(clock::now());
        })?;
        return Ok(());
    };
    let wait = start_task
        .get("waitForSuccess")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let retry_count = node
        .pointer("/startTaskInfo/retryCount")
        .and_then(Value::as_i64)
        .unwrap_or(-1)
        + 1;
    let layout = NodeLayout::new(&engine.settings.work_dir, &pool_id, &node_id);
    let dedicated = node["isDedicated"].as_bool().unwrap_or(true);
    let mut env = node_env(
        &layout,
        &pool_id,
        &node_id,
        &engine.settings.account,
        &engine.settings.url,
        dedicated,
    );
    env.push((
        "AZ_BATCH_TASK_DIR".into(),
        layout.startup().display().to_string(),
    ));
    env.push((
        "AZ_BATCH_TASK_WORKING_DIR".into(),
        layout.startup().join("wd").display().to_string(),
    ));
    let _ = fs_err::create_dir_all(layout.shared());
    let launch = launch::launch_for(
        engine,
        &start_task,
        &[],
        env,
        layout.startup(),
        &layout,
        format!("{pool_id}/{node_id}/start"),
    )
    .await;
    let now = clock::now();
    update(&engine.store, Table::Nodes, &pool_id, &node_id, |doc| {
        set_state(doc, if wait { "waitingforstarttask" } else { "idle" });
        doc["lastBootTime"] = json!(now);
        doc["startTask"] = start_task.clone();
        doc["startTaskInfo"] =
            json!({"state": "running", "startTime": now, "retryCount": retry_count.max(0)});
    })?;
    match launch {
        Ok(launch) => {
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
            engine.start_tasks.insert(
                (pool_id.to_ascii_lowercase(), node_id.to_ascii_lowercase()),
                stop_tx,
            );
            let finished = engine.finished_tx.clone();
            let supervisor = engine.supervisor.clone();
            tokio::spawn(async move {
                let (started_tx, _started_rx) = tokio::sync::oneshot::channel();
                let outcome = executor::run(&supervisor, launch, started_tx, stop_rx).await;
                let _ = finished.send(Finished::StartTask {
                    pool: pool_id,
                    node: node_id,
                    outcome,
                });
            });
        }
        Err(failure) => {
            let outcome = Outcome {
                exit_code: None,
                failure: Some(failure),
                ..Outcome::default()
            };
            start_task_finished(engine, &pool_id, &node_id, outcome)?;
        }
    }
    Ok(())
}

/// Records the end of a start task and moves the node on.
pub(super) fn start_task_finished(
    engine: &mut Engine,
    pool: &str,
    node: &str,
    outcome: Outcome,
) -> Result<(), StoreError> {
    if outcome.killed {
        return Ok(());
    }
    let pool_doc = engine
        .store
        .read(|c| docs::get(c, Table::Pools, "", pool))?;
    let max_retries = pool_doc
        .as_ref()
        .and_then(|p| p.value.pointer("/startTask/maxTaskRetryCount"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let wait = pool_doc
        .as_ref()
        .and_then(|p| p.value.pointer("/startTask/waitForSuccess"))
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let success = outcome.failure.is_none() && outcome.exit_code == Some(0);
    let now = clock::now();
    update(&engine.store, Table::Nodes, pool, node, |doc| {
        let retry_count = doc
            .pointer("/startTaskInfo/retryCount")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let info = &mut doc["startTaskInfo"];
        info["state"] = json!("completed");
        info["endTime"] = json!(now);
        if let Some(code) = outcome.exit_code {
            info["exitCode"] = json!(code);
        }
        info["result"] = json!(if success { "success" } else { "failure" });
        if !success {
            info["failureInfo"] = outcome.failure_info();
        }
        let retries_left = max_retries == -1 || retry_count < max_retries;
        if !success && retries_left {
            // Run it again from "starting" on the next step.
            set_state(doc, "starting");
            private(doc)["since"] = json!(0);
        } else if success && text(doc, "state") == "waitingforstarttask" {
            set_state(doc, "idle");
        } else if !success && wait {
            set_state(doc, "starttaskfailed");
        }
    })?;
    Ok(())
}
