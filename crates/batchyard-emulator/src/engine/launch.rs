//! Starting tasks: their processes' launches (command, environment, directories),
//! the transaction that marks a pass's tasks running, and the spawned runs.

use crate::store::docs::at;
use std::path::PathBuf;

use serde_json::{Value, json};

use super::container::Decision;
use super::docs_util::{private, set_state, text};
use super::executor::{self, ContainerRun, Launch, Outcome, RunFailure};
use super::layout::{NodeLayout, node_env};
use super::node_tally::NodeTally;
use futures::FutureExt as _;

use super::{Engine, RunningTask, cmdline, completion, key};
use crate::clock;
use crate::store::docs::{self, Table};
use crate::store::{StoreError, attempts};

/// Builds the launch for a task, start task or job task.
#[allow(clippy::too_many_arguments)]
pub(super) async fn launch_for(
    engine: &mut Engine,
    spec: &Value,
    job_env: &[Value],
    mut env: Vec<(String, String)>,
    task_dir: PathBuf,
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
                let (run_options, dropped) = super::container::drop_missing_hardware(
                    cmdline::split(text(settings, "containerRunOptions")).unwrap_or_default(),
                    |p| std::path::Path::new(p).exists(),
                    super::container::memlock_unlimited(),
                );
                if !dropped.is_empty() {
                    tracing::warn!(
                        "{}: this machine lacks the hardware for `{}`; the container runs without it",
                        task_dir.display(),
                        dropped.join("`, `")
                    );
                }
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
    let wall_time = at(spec, "/constraints/maxWallClockTime")
        .and_then(Value::as_str)
        .and_then(clock::parse_duration);
    Ok(Launch {
        argv,
        env,
        working_dir: task_dir.join("wd"),
        task_dir,
        wall_time,
        container,
        marker,
        files: super::task_files::TaskFiles::of(spec, engine.settings.auto_storage.as_ref()),
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

/// A task the scheduler placed on `nodes` (one per instance; the primary first).
pub(super) struct Placement {
    /// The task's document as read for this pass.
    pub task: Value,
    /// Nodes and whether each is dedicated.
    pub nodes: Vec<(String, bool)>,
    /// Slots taken on each node.
    pub slots: i64,
}

/// A placement with its launches built, ready to be marked running and spawned.
struct Prepared {
    task_id: String,
    nodes: Vec<(String, bool)>,
    slots: i64,
    attempt: i64,
    subtasks: Option<Vec<Value>>,
    primary_info: Value,
    launch: Result<(Launch, Vec<Launch>), RunFailure>,
}

/// Starts the tasks of one job placed in one pass: one transaction marks them all
/// running and opens their attempts, then their processes are spawned. A task that
/// is no longer active when the transaction reads it (terminated or deleted in the
/// meantime) is skipped.
pub(super) async fn start_tasks(
    engine: &mut Engine,
    job: &Value,
    pool: &Value,
    placements: Vec<Placement>,
) -> Result<(), StoreError> {
    if placements.is_empty() {
        return Ok(());
    }
    let job_id = text(job, "id").to_string();
    let pool_id = text(pool, "id").to_string();
    let job_env: Vec<Value> = job
        .get("commonEnvironmentSettings")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut prepared = Vec::with_capacity(placements.len());
    for placement in placements {
        if let Some(p) = prepare(engine, &job_id, &pool_id, &job_env, placement).await {
            prepared.push(p);
        }
    }
    let now = clock::now();
    let started = engine.store.write(|tx| -> Result<Vec<bool>, StoreError> {
        let mut tally = NodeTally::default();
        let mut started = Vec::with_capacity(prepared.len());
        for p in &prepared {
            let Some(mut doc) = docs::get(tx, Table::Tasks, &job_id, &p.task_id)? else {
                started.push(false);
                continue;
            };
            if doc.state() != "active" {
                started.push(false);
                continue;
            }
            set_state(&mut doc.value, "running");
            private(&mut doc.value)["attempt"] = json!(p.attempt);
            if let Some(subtasks) = &p.subtasks {
                private(&mut doc.value)["subtasks"] = json!(subtasks);
            }
            let info = &mut doc.value["executionInfo"];
            info["startTime"] = json!(now);
            if let Some(map) = info.as_object_mut() {
                for stale in ["endTime", "exitCode", "failureInfo", "result"] {
                    map.remove(stale);
                }
            }
            doc.value["nodeInfo"] = p.primary_info.clone();
            docs::put(tx, Table::Tasks, &job_id, &p.task_id, &doc.value)?;
            let primary = p.nodes.first().map(|n| n.0.clone()).unwrap_or_default();
            attempts::open(
                tx,
                &attempts::Attempt {
                    job_id: job_id.clone(),
                    task_id: p.task_id.clone(),
                    attempt: p.attempt,
                    pool_id: pool_id.clone(),
                    node_id: primary,
                    pid: None,
                },
                &now,
            )?;
            for node in &p.nodes {
                tally.count(tx, &pool_id, &node.0, 1, p.slots, false)?;
            }
            started.push(true);
        }
        tally.write(tx)?;
        Ok(started)
    })?;
    for (p, started) in prepared.into_iter().zip(started) {
        if started {
            spawn_run(engine, &job_id, &pool_id, p);
        }
    }
    Ok(())
}

async fn prepare(
    engine: &mut Engine,
    job_id: &str,
    pool_id: &str,
    job_env: &[Value],
    placement: Placement,
) -> Option<Prepared> {
    let Placement { task, nodes, slots } = placement;
    let primary = nodes.first()?.clone();
    let task_id = text(&task, "id").to_string();
    let attempt = at(&task, "/_emulator/attempt")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        + 1;
    let multi = nodes.len() > 1;
    let mut coordination = Vec::new();
    if multi {
        let mut spec = task.clone();
        spec["commandLine"] = at(&task, "/multiInstanceSettings/coordinationCommandLine")
            .cloned()
            .unwrap_or(json!(""));
        // Every instance gets the common resource files; the primary's application
        // command gets the task's own and uploads its output files.
        spec["resourceFiles"] = at(&task, "/multiInstanceSettings/commonResourceFiles")
            .cloned()
            .unwrap_or(json!([]));
        spec["outputFiles"] = json!([]);
        for (index, node) in nodes.iter().enumerate() {
            let layout = NodeLayout::new(&engine.settings.work_dir, pool_id, &node.0);
            let task_dir = layout.task_dir(job_id, &task_id);
            let mut env = task_env(engine, &layout, pool_id, node, job_id, &task_id);
            env.extend(multi_instance_env(
                engine,
                pool_id,
                job_id,
                &task_id,
                nodes.len(),
                index == 0,
            ));
            // Subtasks write their own output files; the primary's are the task's.
            let dir = if index == 0 {
                task_dir.join("coordination")
            } else {
                task_dir.clone()
            };
            let marker = format!("{job_id}/{task_id}/{attempt}/{index}");
            coordination.push(launch_for(engine, &spec, job_env, env, dir, &layout, marker).await);
        }
    }
    let layout = NodeLayout::new(&engine.settings.work_dir, pool_id, &primary.0);
    let task_dir = layout.task_dir(job_id, &task_id);
    let mut env = task_env(engine, &layout, pool_id, &primary, job_id, &task_id);
    if multi {
        env.extend(multi_instance_env(
            engine,
            pool_id,
            job_id,
            &task_id,
            nodes.len(),
            true,
        ));
    }
    let marker = format!("{job_id}/{task_id}/{attempt}");
    let launch = launch_for(engine, &task, job_env, env, task_dir, &layout, marker).await;
    let launch = match (
        launch,
        coordination.into_iter().collect::<Result<Vec<_>, _>>(),
    ) {
        (Ok(app), Ok(coord)) => Ok((app, coord)),
        (Err(failure), _) | (_, Err(failure)) => Err(failure),
    };
    let now = clock::now();
    let subtasks = multi.then(|| {
        nodes
            .iter()
            .enumerate()
            .skip(1)
            .map(|(index, node)| {
                json!({
                    "id": index,
                    "nodeInfo": node_info(pool_id, &node.0, job_id, &task_id),
                    "startTime": now,
                    "state": "running",
                    "stateTransitionTime": now,
                })
            })
            .collect()
    });
    Some(Prepared {
        primary_info: node_info(pool_id, &primary.0, job_id, &task_id),
        task_id,
        nodes,
        slots,
        attempt,
        subtasks,
        launch,
    })
}

/// Runs a started task's processes; their process id and their end come back to the
/// loop as messages.
fn spawn_run(engine: &mut Engine, job_id: &str, pool_id: &str, p: Prepared) {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    engine.running.insert(
        key(job_id, &p.task_id),
        RunningTask {
            pool: pool_id.to_string(),
            node: p.nodes.first().map(|n| n.0.clone()).unwrap_or_default(),
            extra_nodes: p.nodes.iter().skip(1).map(|n| n.0.clone()).collect(),
            slots: p.slots,
            attempt: p.attempt,
            stop: Some(stop_tx),
            reason: None,
        },
    );
    let supervisor = engine.supervisor.clone();
    let job = job_id.to_string();
    let Prepared {
        task_id: task,
        attempt,
        launch,
        ..
    } = p;
    engine.runs.push(
        async move {
            let (outcome, pid) = match launch {
                Ok((application, coordination)) => {
                    let (pid_tx, pid_rx) = tokio::sync::oneshot::channel();
                    let outcome = if coordination.is_empty() {
                        executor::run(&supervisor, application, pid_tx, stop_rx).await
                    } else {
                        executor::run_multi(&supervisor, coordination, application, pid_tx, stop_rx)
                            .await
                    };
                    (outcome, pid_rx.await.ok())
                }
                Err(failure) => (
                    Outcome {
                        failure: Some(failure),
                        ..Outcome::default()
                    },
                    None,
                ),
            };
            completion::Event {
                job,
                task,
                attempt,
                pid,
                outcome,
            }
        }
        .boxed(),
    );
}
