//! Placing active tasks on free slots and recording how they end.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::container::Decision;
use super::docs_util::{int, private, set_state, text, update};
use super::executor::{self, ContainerRun, Launch, Outcome, RunFailure};
use super::layout::{NodeLayout, node_env};
use super::{Engine, Finished, RunningTask, StopReason, cmdline, job_prep, key};
use crate::clock;
use crate::store::docs::{self, Table};
use crate::store::{StoreError, attempts};

/// How many active tasks of one job are considered per step.
const SCAN_LIMIT: usize = 2000;

pub(super) async fn step(engine: &mut Engine) -> Result<(), StoreError> {
    let mut jobs = engine
        .store
        .read(|c| docs::list(c, Table::Jobs, None, 0, None, usize::MAX))?;
    jobs.sort_by_key(|j| -int(&j.value, "priority", 0));
    for job in jobs {
        match job.state() {
            "active" => {
                schedule_job(engine, &job.value).await?;
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
    let counts = engine
        .store
        .read(|c| docs::count_by_state(c, Table::Tasks, job_id))?;
    let unfinished = counts
        .iter()
        .any(|(state, n)| state != "completed" && *n > 0);
    if !unfinished {
        // Through terminating, so release tasks run before the job completes.
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
    if doc
        .value
        .pointer("/executionInfo/result")
        .and_then(Value::as_str)
        == Some("success")
    {
        return Ok(true);
    }
    let exit_code = doc
        .value
        .pointer("/executionInfo/exitCode")
        .and_then(Value::as_i64);
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
    conditions.get("default")
}

async fn schedule_job(engine: &mut Engine, job: &Value) -> Result<(), StoreError> {
    let job_id = text(job, "id").to_string();
    let pool_id = job
        .pointer("/poolInfo/poolId")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(pool) = engine
        .store
        .read(|c| docs::get(c, Table::Pools, "", &pool_id))?
    else {
        return Ok(());
    };
    if pool.state() != "active" {
        return Ok(());
    }
    let slots_per_node = int(&pool.value, "taskSlotsPerNode", 1).max(1);
    let pack = pool
        .value
        .pointer("/taskSchedulingPolicy/nodeFillType")
        .and_then(Value::as_str)
        == Some("pack");
    let used = engine.used_slots(&pool_id);
    let nodes = engine.store.read(|c| {
        docs::list(
            c,
            Table::Nodes,
            Some(&pool_id),
            0,
            Some(&["idle", "running"]),
            usize::MAX,
        )
    })?;
    let mut free: Vec<FreeNode> = nodes
        .iter()
        .filter(|n| text(&n.value, "schedulingState") != "disabled")
        .filter(|n| n.value.pointer("/_emulator/remove").is_none())
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
    // Read about as many tasks as can start now (tasks blocked on dependencies are
    // skipped, hence the margin): parsing thousands of waiting tasks per step would
    // cost more than running them.
    let free_slots: i64 = free.iter().map(|n| n.free.max(0)).sum();
    let batch_size = usize::try_from(free_slots * 2).unwrap_or(16).clamp(16, 200);
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
                task.value
                    .pointer("/multiInstanceSettings/numberOfInstances")
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
            start_task(engine, job, &pool.value, &task.value, &chosen, required).await?;
            if free.iter().all(|n| n.free <= 0) {
                break;
            }
        }
    }
    Ok(())
}

/// Builds the launch for a task, start task or job task.
#[allow(clippy::too_many_arguments)]
pub(super) async fn launch_for(
    engine: &mut Engine,
    spec: &Value,
    job_env: &[Value],
    mut env: Vec<(String, String)>,
    task_dir: PathBuf,
    exit_file: PathBuf,
    layout: &NodeLayout,
    marker: String,
) -> Result<Launch, RunFailure> {
    let user_error = |code: &'static str, message: String| RunFailure {
        category: "usererror",
        code,
        message,
    };
    let argv = cmdline::split(text(spec, "commandLine")).map_err(|e| {
        user_error(
            "InvalidCommandLine",
            format!("The command line cannot be run: {e}"),
        )
    })?;
    let settings = job_env.iter().chain(
        spec.get("environmentSettings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten(),
    );
    for setting in settings {
        let name = text(setting, "name");
        if !name.is_empty() {
            env.retain(|(k, _)| k != name);
            env.push((name.to_string(), text(setting, "value").to_string()));
        }
    }
    let mut container = None;
    if let Some(settings) = spec.get("containerSettings").filter(|c| c.is_object()) {
        let image = text(settings, "imageName").to_string();
        match engine.containers.decide(&image).await {
            Decision::Docker => {
                let run_options =
                    cmdline::split(text(settings, "containerRunOptions")).unwrap_or_default();
                container = Some(ContainerRun {
                    image,
                    run_options,
                    image_workdir: text(settings, "workingDirectory") == "containerImageDefault",
                    mount: layout.root.clone(),
                });
            }
            Decision::Host => {}
            Decision::Fail(code, message) => return Err(user_error(code, message)),
        }
    }
    let wall_time = spec
        .pointer("/constraints/maxWallClockTime")
        .and_then(Value::as_str)
        .and_then(clock::parse_duration);
    Ok(Launch {
        argv,
        env,
        working_dir: task_dir.join("wd"),
        task_dir,
        exit_file,
        wall_time,
        container,
        marker,
    })
}

/// The environment of one task instance on one node.
fn task_env(
    engine: &Engine,
    layout: &NodeLayout,
    pool_id: &str,
    node: &(String, bool),
    job_id: &str,
    task_id: &str,
) -> Vec<(String, String)> {
    let task_dir = layout.task_dir(job_id, task_id);
    let prep_dir = layout.job_prep_dir(job_id);
    let mut env = node_env(
        layout,
        pool_id,
        &node.0,
        &engine.settings.account,
        &engine.settings.url,
        node.1,
    );
    let path = |p: PathBuf| p.display().to_string();
    env.extend([
        ("AZ_BATCH_JOB_ID".to_string(), job_id.to_string()),
        ("AZ_BATCH_TASK_ID".to_string(), task_id.to_string()),
        ("AZ_BATCH_TASK_DIR".to_string(), path(task_dir.clone())),
        (
            "AZ_BATCH_TASK_WORKING_DIR".to_string(),
            path(task_dir.join("wd")),
        ),
        ("AZ_BATCH_JOB_PREP_DIR".to_string(), path(prep_dir.clone())),
        (
            "AZ_BATCH_JOB_PREP_WORKING_DIR".to_string(),
            path(prep_dir.join("wd")),
        ),
        ("AZ_BATCH_TASK_USER".to_string(), "_azbatch".to_string()),
        (
            "AZ_BATCH_TASK_RESERVED_EPHEMERAL_DISK_SPACE_BYTES".to_string(),
            "1000000000".to_string(),
        ),
        (
            "AZ_BATCH_CERTIFICATES_DIR".to_string(),
            path(task_dir.join("certs")),
        ),
    ]);
    env
}

/// Variables of a multi-instance task. Every emulated node has the loopback
/// address, so the host list repeats it once per instance.
fn multi_instance_env(
    engine: &Engine,
    pool_id: &str,
    job_id: &str,
    task_id: &str,
    instances: usize,
    primary: bool,
) -> Vec<(String, String)> {
    let hosts = vec!["127.0.0.1"; instances];
    // One directory all instances share, as AZ_BATCH_TASK_SHARED_DIR promises.
    let shared = engine
        .settings
        .work_dir
        .join(pool_id.to_ascii_lowercase())
        .join("multi-instance")
        .join(job_id.to_ascii_lowercase())
        .join(task_id);
    let _ = fs_err::create_dir_all(&shared);
    vec![
        ("AZ_BATCH_HOST_LIST".to_string(), hosts.join(",")),
        ("AZ_BATCH_NODE_LIST".to_string(), hosts.join(";")),
        (
            "AZ_BATCH_MASTER_NODE".to_string(),
            "127.0.0.1:6000".to_string(),
        ),
        (
            "AZ_BATCH_IS_CURRENT_NODE_MASTER".to_string(),
            primary.to_string(),
        ),
        (
            "AZ_BATCH_TASK_SHARED_DIR".to_string(),
            shared.display().to_string(),
        ),
    ]
}

fn node_info(pool_id: &str, node_id: &str, job_id: &str, task_id: &str) -> Value {
    let node_url = format!("/pools/{pool_id}/nodes/{node_id}");
    let root = format!("workitems/{}/job-1/{task_id}", job_id.to_ascii_lowercase());
    json!({
        "affinityId": format!("TVM:{node_id}"),
        "nodeUrl": node_url,
        "poolId": pool_id,
        "nodeId": node_id,
        "taskRootDirectory": root,
        "taskRootDirectoryUrl": format!("{node_url}/files/{root}"),
    })
}

fn count_on_node(node: &mut Value, tasks: i64, slots: i64, succeeded: bool) {
    let running = (int(node, "runningTasksCount", 0) + tasks).max(0);
    node["runningTasksCount"] = json!(running);
    node["runningTaskSlotsCount"] = json!((int(node, "runningTaskSlotsCount", 0) + slots).max(0));
    if tasks > 0 {
        node["totalTasksRun"] = json!(int(node, "totalTasksRun", 0) + 1);
        if text(node, "state") != "running" {
            set_state(node, "running");
        }
    } else if running == 0 && text(node, "state") == "running" {
        set_state(node, "idle");
    }
    if succeeded {
        node["totalTasksSucceeded"] = json!(int(node, "totalTasksSucceeded", 0) + 1);
    }
}

/// Starts a task on `nodes` (one per instance; the primary first).
async fn start_task(
    engine: &mut Engine,
    job: &Value,
    pool: &Value,
    task: &Value,
    nodes: &[(String, bool)],
    slots: i64,
) -> Result<(), StoreError> {
    let Some(primary) = nodes.first() else {
        return Ok(());
    };
    let job_id = text(job, "id").to_string();
    let task_id = text(task, "id").to_string();
    let pool_id = text(pool, "id").to_string();
    let attempt = task
        .pointer("/_emulator/attempt")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        + 1;
    let job_env: Vec<Value> = job
        .get("commonEnvironmentSettings")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let multi = nodes.len() > 1;
    let mut coordination = Vec::new();
    if multi {
        let mut spec = task.clone();
        spec["commandLine"] = task
            .pointer("/multiInstanceSettings/coordinationCommandLine")
            .cloned()
            .unwrap_or(json!(""));
        for (index, node) in nodes.iter().enumerate() {
            let layout = NodeLayout::new(&engine.settings.work_dir, &pool_id, &node.0);
            let task_dir = layout.task_dir(&job_id, &task_id);
            let mut env = task_env(engine, &layout, &pool_id, node, &job_id, &task_id);
            env.extend(multi_instance_env(
                engine,
                &pool_id,
                &job_id,
                &task_id,
                nodes.len(),
                index == 0,
            ));
            // Subtasks write their own output files; the primary's are the task's.
            let (dir, name) = if index == 0 {
                (
                    task_dir.join("coordination"),
                    format!(".exit-coord-{attempt}"),
                )
            } else {
                (task_dir.clone(), format!(".exit-sub-{attempt}"))
            };
            let marker = format!("{job_id}/{task_id}/{attempt}/{index}");
            let exit_file = dir.join(name);
            coordination.push(
                launch_for(
                    engine, &spec, &job_env, env, dir, exit_file, &layout, marker,
                )
                .await,
            );
        }
    }
    let layout = NodeLayout::new(&engine.settings.work_dir, &pool_id, &primary.0);
    let task_dir = layout.task_dir(&job_id, &task_id);
    let mut env = task_env(engine, &layout, &pool_id, primary, &job_id, &task_id);
    if multi {
        env.extend(multi_instance_env(
            engine,
            &pool_id,
            &job_id,
            &task_id,
            nodes.len(),
            true,
        ));
    }
    let marker = format!("{job_id}/{task_id}/{attempt}");
    let exit_file = task_dir.join(format!(".exit-{attempt}"));
    let launch = launch_for(
        engine,
        task,
        &job_env,
        env,
        task_dir.clone(),
        exit_file,
        &layout,
        marker,
    )
    .await;
    let launch = match (
        launch,
        coordination.into_iter().collect::<Result<Vec<_>, _>>(),
    ) {
        (Ok(app), Ok(coord)) => Ok((app, coord)),
        (Err(failure), _) | (_, Err(failure)) => Err(failure),
    };
    let now = clock::now();
    let primary_info = node_info(&pool_id, &primary.0, &job_id, &task_id);
    let subtasks: Vec<Value> = nodes
        .iter()
        .enumerate()
        .skip(1)
        .map(|(index, node)| {
            json!({
                "id": index,
                "nodeInfo": node_info(&pool_id, &node.0, &job_id, &task_id),
                "startTime": now,
                "state": "running",
                "stateTransitionTime": now,
            })
        })
        .collect();
    let started = engine.store.write(|tx| -> Result<bool, StoreError> {
        let Some(mut doc) = docs::get(tx, Table::Tasks, &job_id, &task_id)? else {
            return Ok(false);
        };
        if doc.state() != "active" {
            return Ok(false);
        }
        set_state(&mut doc.value, "running");
        private(&mut doc.value)["attempt"] = json!(attempt);
        if multi {
            private(&mut doc.value)["subtasks"] = json!(subtasks);
        }
        let info = &mut doc.value["executionInfo"];
        info["startTime"] = json!(now);
        if let Some(map) = info.as_object_mut() {
            for stale in ["endTime", "exitCode", "failureInfo", "result"] {
                map.remove(stale);
            }
        }
        doc.value["nodeInfo"] = primary_info;
        docs::put(tx, Table::Tasks, &job_id, &task_id, &doc.value)?;
        attempts::open(
            tx,
            &attempts::Attempt {
                job_id: job_id.clone(),
                task_id: task_id.clone(),
                attempt,
                pool_id: pool_id.clone(),
                node_id: primary.0.clone(),
                pid: None,
            },
            &now,
        )?;
        for node in nodes {
            if let Some(mut doc) = docs::get(tx, Table::Nodes, &pool_id, &node.0)? {
                count_on_node(&mut doc.value, 1, slots, false);
                docs::put(tx, Table::Nodes, &pool_id, &node.0, &doc.value)?;
            }
        }
        Ok(true)
    })?;
    if !started {
        return Ok(());
    }
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    engine.running.insert(
        key(&job_id, &task_id),
        RunningTask {
            pool: pool_id,
            node: primary.0.clone(),
            extra_nodes: nodes.iter().skip(1).map(|n| n.0.clone()).collect(),
            slots,
            attempt,
            stop: Some(stop_tx),
            reason: None,
        },
    );
    let finished = engine.finished_tx.clone();
    let store = engine.store.clone();
    tokio::spawn(async move {
        let outcome = match launch {
            Ok((application, coordination)) => {
                let (pid_tx, pid_rx) = tokio::sync::oneshot::channel();
                let record_pid = async {
                    if let Ok(pid) = pid_rx.await {
                        let _ = store
                            .write(|tx| attempts::set_pid(tx, &job_id, &task_id, attempt, pid));
                    }
                };
                let run = async {
                    if coordination.is_empty() {
                        executor::run(application, pid_tx, stop_rx).await
                    } else {
                        executor::run_multi(coordination, application, pid_tx, stop_rx).await
                    }
                };
                let (outcome, ()) = tokio::join!(run, record_pid);
                outcome
            }
            Err(failure) => Outcome {
                failure: Some(failure),
                ..Outcome::default()
            },
        };
        let _ = finished.send(Finished::Task {
            job: job_id,
            task: task_id,
            attempt,
            outcome,
        });
    });
    Ok(())
}

/// Records a task's end: retry, requeue or completion, and the job's reaction.
pub(super) fn task_finished(
    engine: &mut Engine,
    job: &str,
    task: &str,
    attempt: i64,
    outcome: Outcome,
) -> Result<(), StoreError> {
    let Some(running) = engine.running.remove(&key(job, task)) else {
        return Ok(());
    };
    let reason = running.reason;
    let now = clock::now();
    let mut job_action: Option<String> = None;
    engine.store.write(|tx| -> Result<(), StoreError> {
        let closing = match (reason, &outcome.failure) {
            (Some(StopReason::Requeue), _) => "requeued",
            (Some(StopReason::Terminate), _) => "terminated",
            (Some(StopReason::Discard), _) => "discarded",
            (None, Some(_)) => "failed",
            (None, None) => "exited",
        };
        attempts::close(tx, job, task, attempt, &now, outcome.exit_code, closing)?;
        let succeeded =
            reason.is_none() && outcome.failure.is_none() && outcome.exit_code == Some(0);
        for node_id in std::iter::once(&running.node).chain(&running.extra_nodes) {
            if let Some(mut node) = docs::get(tx, Table::Nodes, &running.pool, node_id)? {
                count_on_node(&mut node.value, -1, -running.slots, succeeded);
                docs::put(tx, Table::Nodes, &running.pool, node_id, &node.value)?;
            }
        }
        let Some(mut doc) = docs::get(tx, Table::Tasks, job, task)? else {
            return Ok(());
        };
        let current = doc.value.pointer("/_emulator/attempt").and_then(Value::as_i64);
        if doc.state() != "running" || current != Some(running.attempt) {
            return Ok(());
        }
        record_subtasks(&mut doc.value, &outcome, &now);
        let value = &mut doc.value;
        match reason {
            Some(StopReason::Discard) => return Ok(()),
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
                let max_retries = value.pointer("/constraints/maxTaskRetryCount").and_then(Value::as_i64).unwrap_or(0);
                let retries = value.pointer("/executionInfo/retryCount").and_then(Value::as_i64).unwrap_or(0);
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
                        let (category, code, message) = match &outcome.failure {
                            Some(f) => (f.category, f.code, f.message.clone()),
                            None => ("usererror", "FailureExitCode", "The task exited with an exit code representing a failure".to_string()),
                        };
                        info["failureInfo"] = json!({"category": category, "code": code, "message": message});
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
                        job_action = exit_options(value, outcome.exit_code)
                            .and_then(|o| o.get("jobAction"))
                            .and_then(Value::as_str)
                            .map(str::to_string);
                    }
                }
            }
        }
        docs::put(tx, Table::Tasks, job, task, &doc.value)?;
        Ok(())
    })?;
    if let Some(action) = job_action {
        apply_job_action(engine, job, &action)?;
    }
    engine.wake.notify_one();
    Ok(())
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
