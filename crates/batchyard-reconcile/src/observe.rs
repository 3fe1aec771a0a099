//! Reading the live state of the resources a recipe is about.

use std::collections::{BTreeMap, HashMap};

use batchyard_batch::models::{BatchJob, BatchNode, BatchPool, BatchTask, BatchTaskState};
use batchyard_batch::{BatchClient, ClientError, ListOptions};
use batchyard_compile::METADATA_RECIPE;
use futures::{StreamExt as _, TryStreamExt as _};

use crate::error::ObserveError;
use crate::intent::Intent;

/// Live state of the recipe's pools and jobs, plus every pool and job the recipe owns.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The recipe's pools that exist, by lowercase id.
    pub pools: BTreeMap<String, ObservedPool>,
    /// The recipe's jobs that exist, by lowercase id.
    pub jobs: BTreeMap<String, ObservedJob>,
    /// Every pool carrying this recipe's ownership metadata (including ones no longer in
    /// the recipe), with its current node count.
    pub owned_pools: Vec<(String, u32)>,
    /// Ids of every job carrying this recipe's ownership metadata.
    pub owned_jobs: Vec<String>,
}

/// A live pool and its nodes.
#[derive(Debug, Clone)]
pub struct ObservedPool {
    /// The pool as the service returns it.
    pub pool: BatchPool,
    /// Its nodes, counted by state.
    pub nodes: NodeSummary,
}

/// Nodes of a pool by state, with the failed ones explained.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct NodeSummary {
    /// Node count per state (`idle`, `running`, `starttaskfailed`, ...).
    pub by_state: BTreeMap<String, u32>,
    /// Tasks running on the pool's nodes now.
    pub running_tasks: u64,
    /// Nodes in `starttaskfailed` or `unusable`.
    pub failures: Vec<NodeFailure>,
}

impl NodeSummary {
    /// All nodes.
    pub fn total(&self) -> u32 {
        self.by_state.values().sum()
    }

    /// Nodes that can run tasks (idle or running).
    pub fn usable(&self) -> u32 {
        ["idle", "running"]
            .iter()
            .map(|s| self.by_state.get(*s).copied().unwrap_or(0))
            .sum()
    }

    /// Nodes that are still on their way (creating, starting, waiting for the start task,
    /// rebooting, reimaging).
    pub fn settling(&self) -> u32 {
        self.by_state
            .iter()
            .filter(|(state, _)| {
                matches!(
                    state.as_str(),
                    "creating"
                        | "starting"
                        | "waitingforstarttask"
                        | "rebooting"
                        | "reimaging"
                        | "leavingpool"
                        | "upgradingos"
                )
            })
            .map(|(_, n)| n)
            .sum()
    }
}

/// A node that cannot run tasks, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeFailure {
    /// The node id.
    pub node_id: String,
    /// Its state.
    pub state: String,
    /// What the service says: start task exit code and failure, node errors.
    pub detail: String,
}

/// A live job and the tasks in it.
#[derive(Debug, Clone)]
pub struct ObservedJob {
    /// The job as the service returns it.
    pub job: BatchJob,
    /// Its tasks by lowercase id (only the fields the diff needs).
    pub tasks: HashMap<String, LiveTask>,
}

/// The fields of a live task that the diff reads.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveTask {
    /// The id as the service spells it.
    pub id: String,
    /// Its state.
    pub state: Option<BatchTaskState>,
    /// Its command line.
    pub command_line: Option<String>,
    /// Its environment, as sorted `NAME=VALUE` pairs.
    pub env: Vec<(String, String)>,
}

/// The fields listed for each task: enough for ids, states and drift, no more.
pub const TASK_SELECT: &str = "id,state,commandLine,environmentSettings";

/// Reads the live state of everything `intent` is about. Read-only and safe to repeat.
pub async fn observe(client: &BatchClient, intent: &Intent) -> Result<Observed, ObserveError> {
    let mut observed = Observed::default();
    let pools: Vec<BatchPool> = client
        .list_pools(&ListOptions::default())
        .try_collect()
        .await
        .map_err(|source| client_error("the pools", source))?;
    for pool in pools {
        let Some(id) = pool.id.clone() else { continue };
        if owner(pool.metadata.as_deref()) == Some(intent.recipe.as_str()) {
            let nodes = pool.current_dedicated_nodes.unwrap_or(0)
                + pool.current_low_priority_nodes.unwrap_or(0);
            observed
                .owned_pools
                .push((id.clone(), u32::try_from(nodes).unwrap_or(0)));
        }
        if intent.pool(&id).is_some() {
            let nodes = node_summary(client, &id).await?;
            observed
                .pools
                .insert(id.to_ascii_lowercase(), ObservedPool { pool, nodes });
        }
    }
    let jobs: Vec<BatchJob> = client
        .list_jobs(&ListOptions::default())
        .try_collect()
        .await
        .map_err(|source| client_error("the jobs", source))?;
    let mut wanted = Vec::new();
    for job in jobs {
        let Some(id) = job.id.clone() else { continue };
        if owner(job.metadata.as_deref()) == Some(intent.recipe.as_str()) {
            observed.owned_jobs.push(id.clone());
        }
        if intent.job(&id).is_some() {
            wanted.push((id, job));
        }
    }
    // Task lists of different jobs are read in parallel; each is paged by the client.
    let listed: Vec<Result<(String, ObservedJob), ObserveError>> =
        futures::stream::iter(wanted.into_iter().map(|(id, job)| async move {
            let tasks = live_tasks(client, &id).await?;
            Ok((id.to_ascii_lowercase(), ObservedJob { job, tasks }))
        }))
        .buffer_unordered(4)
        .collect()
        .await;
    for item in listed {
        let (id, job) = item?;
        observed.jobs.insert(id, job);
    }
    Ok(observed)
}

/// The tasks of a job, with only [`TASK_SELECT`] fields.
pub async fn live_tasks(
    client: &BatchClient,
    job_id: &str,
) -> Result<HashMap<String, LiveTask>, ObserveError> {
    let options = ListOptions {
        select: Some(TASK_SELECT.to_owned()),
        max_results: Some(1000),
        ..ListOptions::default()
    };
    let mut stream = client.list_tasks(job_id, &options);
    let mut tasks = HashMap::new();
    while let Some(task) = stream.next().await {
        let task: BatchTask =
            task.map_err(|source| client_error(&format!("the tasks of job {job_id}"), source))?;
        let Some(id) = task.id.clone() else { continue };
        let mut env: Vec<(String, String)> = task
            .environment_settings
            .unwrap_or_default()
            .into_iter()
            .map(|e| (e.name, e.value.unwrap_or_default()))
            .collect();
        env.sort();
        tasks.insert(
            id.to_ascii_lowercase(),
            LiveTask {
                id,
                state: task.state,
                command_line: task.command_line,
                env,
            },
        );
    }
    Ok(tasks)
}

/// Nodes of a pool by state, with failures explained.
pub async fn node_summary(
    client: &BatchClient,
    pool_id: &str,
) -> Result<NodeSummary, ObserveError> {
    let options = ListOptions {
        select: Some("id,state,runningTasksCount,startTaskInfo,errors".to_owned()),
        ..ListOptions::default()
    };
    let nodes: Vec<BatchNode> = client
        .list_nodes(pool_id, &options)
        .try_collect()
        .await
        .map_err(|source| client_error(&format!("the nodes of pool {pool_id}"), source))?;
    let mut summary = NodeSummary::default();
    for node in nodes {
        let state = node
            .state
            .as_ref()
            .map_or_else(|| "unknown".to_owned(), |s| s.as_str().to_owned());
        *summary.by_state.entry(state.clone()).or_default() += 1;
        summary.running_tasks += u64::try_from(node.running_tasks_count.unwrap_or(0)).unwrap_or(0);
        if matches!(state.as_str(), "starttaskfailed" | "unusable") {
            summary.failures.push(NodeFailure {
                node_id: node.id.clone().unwrap_or_default(),
                state,
                detail: node_failure_detail(&node),
            });
        }
    }
    Ok(summary)
}

fn node_failure_detail(node: &BatchNode) -> String {
    let mut parts = Vec::new();
    if let Some(info) = &node.start_task_info {
        if let Some(code) = info.exit_code {
            parts.push(format!("start task exit code {code}"));
        }
        if let Some(f) = &info.failure_info {
            let text = [f.code.as_deref(), f.message.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": ");
            if !text.is_empty() {
                parts.push(text);
            }
        }
    }
    for e in node.errors.iter().flatten() {
        let text = [e.code.as_deref(), e.message.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(": ");
        if !text.is_empty() {
            parts.push(text);
        }
    }
    if parts.is_empty() {
        "no details from the service".to_owned()
    } else {
        parts.join("; ")
    }
}

/// The recipe named by a resource's ownership metadata.
pub fn owner(metadata: Option<&[batchyard_batch::models::BatchMetadataItem]>) -> Option<&str> {
    metadata?
        .iter()
        .find(|m| m.name == METADATA_RECIPE)
        .map(|m| m.value.as_str())
}

fn client_error(what: &str, source: ClientError) -> ObserveError {
    ObserveError::Client {
        what: what.to_owned(),
        source,
    }
}
