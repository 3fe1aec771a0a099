//! Reading the live state of the resources a recipe is about.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use batchyard_batch::models::{BatchJob, BatchNode, BatchPool, BatchTask};
use batchyard_batch::{BatchClient, ClientError, ListOptions};
use batchyard_compile::{Desired, METADATA_RECIPE};
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
    /// The start task's exit code, when it ran to an end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The last lines of the start task's stderr, redacted (or a note saying why there are
    /// none); read only where asked for, see [`crate::start_task`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_task_stderr: Option<String>,
}

impl NodeFailure {
    /// The start task's stderr as lines to print under the node: a heading and each line
    /// after `| `, or one line with the note saying why there is none.
    pub fn stderr_lines(&self) -> Vec<String> {
        let Some(stderr) = &self.start_task_stderr else {
            return Vec::new();
        };
        if stderr.starts_with('(') && !stderr.contains('\n') {
            return vec![format!("start task stderr: {stderr}")];
        }
        std::iter::once("start task stderr (last lines):".to_owned())
            .chain(stderr.lines().map(|l| format!("| {l}")))
            .collect()
    }
}

impl std::fmt::Display for NodeFailure {
    /// `node ID (STATE): DETAIL`, then the stderr lines, indented.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "node {} ({}): {}", self.node_id, self.state, self.detail)?;
        for line in self.stderr_lines() {
            write!(f, "\n  {line}")?;
        }
        Ok(())
    }
}

/// A live job and the tasks in it.
#[derive(Debug, Clone)]
pub struct ObservedJob {
    /// The job as the service returns it.
    pub job: BatchJob,
    /// Its tasks by [`task_key`] (only the fields the diff needs).
    pub tasks: LiveTasks,
}

/// A job's live tasks by [`task_key`]. Hashed with foldhash: a plan looks up every
/// desired id of a large job, and SipHash was a visible share of that.
pub type LiveTasks = HashMap<String, LiveTask, foldhash::fast::RandomState>;

/// The fields of a live task that the diff reads.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveTask {
    /// The id as the service spells it.
    pub id: String,
    /// Its command line.
    pub command_line: Option<String>,
    /// Its environment, as sorted `NAME=VALUE` pairs.
    pub env: Vec<(String, String)>,
}

impl LiveTask {
    /// The fields the diff reads of a task as the service returns it; `None` without an id.
    pub fn from_task(task: BatchTask) -> Option<Self> {
        let id = task.id?;
        let mut env: Vec<(String, String)> = task
            .environment_settings
            .unwrap_or_default()
            .into_iter()
            .map(|e| (e.name, e.value.unwrap_or_default()))
            .collect();
        if env.len() > 1 {
            env.sort_unstable();
        }
        Some(Self {
            id,
            command_line: task.command_line,
            env,
        })
    }
}

/// The fields listed for each task: the id and what drift is judged on, no more.
pub const TASK_SELECT: &str = "id,commandLine,environmentSettings";

/// Tasks per page: the service's maximum, so a large job is read in the fewest requests.
const TASK_PAGE: u32 = 1000;

/// What observing looks at: the recipe's name and the ids of its pools and jobs. Known as
/// soon as the recipe compiles, before its tasks are expanded, so the listing (which for
/// a large job takes as long as the expansion) can run while they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// The recipe's name: the value of the `batchyard.recipe` ownership metadata.
    pub recipe: String,
    /// Pool ids, in recipe order.
    pub pools: Vec<String>,
    /// Job ids, in recipe order.
    pub jobs: Vec<String>,
}

impl Scope {
    /// The scope of a compiled recipe.
    pub fn of(desired: &Desired) -> Self {
        Self {
            recipe: desired.recipe.clone(),
            pools: desired.pools.iter().map(|p| p.id.clone()).collect(),
            jobs: desired.jobs.iter().map(|j| j.id.clone()).collect(),
        }
    }

    /// Whether the recipe has this pool (Batch ids are case-insensitive).
    pub fn has_pool(&self, id: &str) -> bool {
        self.pools.iter().any(|p| p.eq_ignore_ascii_case(id))
    }

    /// Whether the recipe has this job.
    pub fn has_job(&self, id: &str) -> bool {
        self.jobs.iter().any(|j| j.eq_ignore_ascii_case(id))
    }
}

/// Reads the live state of everything `intent` is about. Read-only and safe to repeat.
pub async fn observe(client: &BatchClient, intent: &Intent) -> Result<Observed, ObserveError> {
    observe_scope(client, &intent.scope()).await
}

/// Reads the live state of the pools and jobs in `scope`. Pools and jobs are read at the
/// same time, and so are the task lists of different jobs.
pub async fn observe_scope(client: &BatchClient, scope: &Scope) -> Result<Observed, ObserveError> {
    let ((pools, owned_pools), (jobs, owned_jobs)) =
        futures::try_join!(observe_pools(client, scope), observe_jobs(client, scope))?;
    Ok(Observed {
        pools,
        jobs,
        owned_pools,
        owned_jobs,
    })
}

/// The recipe's pools with their nodes, and every pool it owns with its node count.
async fn observe_pools(
    client: &BatchClient,
    scope: &Scope,
) -> Result<(BTreeMap<String, ObservedPool>, Vec<(String, u32)>), ObserveError> {
    let pools: Vec<BatchPool> = client
        .list_pools(&ListOptions::default())
        .try_collect()
        .await
        .map_err(|source| client_error("the pools", source))?;
    let mut owned = Vec::new();
    let mut wanted = Vec::new();
    for pool in pools {
        let Some(id) = pool.id.clone() else { continue };
        if owner(pool.metadata.as_deref()) == Some(scope.recipe.as_str()) {
            let nodes = pool.current_dedicated_nodes.unwrap_or(0)
                + pool.current_low_priority_nodes.unwrap_or(0);
            owned.push((id.clone(), u32::try_from(nodes).unwrap_or(0)));
        }
        if scope.has_pool(&id) {
            wanted.push((id, pool));
        }
    }
    let observed = futures::future::try_join_all(wanted.into_iter().map(|(id, pool)| async move {
        let nodes = node_summary(client, &id).await?;
        Ok::<_, ObserveError>((id.to_ascii_lowercase(), ObservedPool { pool, nodes }))
    }))
    .await?;
    Ok((observed.into_iter().collect(), owned))
}

/// The recipe's jobs with their tasks, and the ids of every job it owns.
async fn observe_jobs(
    client: &BatchClient,
    scope: &Scope,
) -> Result<(BTreeMap<String, ObservedJob>, Vec<String>), ObserveError> {
    let jobs: Vec<BatchJob> = client
        .list_jobs(&ListOptions::default())
        .try_collect()
        .await
        .map_err(|source| client_error("the jobs", source))?;
    let mut owned = Vec::new();
    let mut wanted = Vec::new();
    for job in jobs {
        let Some(id) = job.id.clone() else { continue };
        if owner(job.metadata.as_deref()) == Some(scope.recipe.as_str()) {
            owned.push(id.clone());
        }
        if scope.has_job(&id) {
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
    let mut observed = BTreeMap::new();
    for item in listed {
        let (id, job) = item?;
        observed.insert(id, job);
    }
    Ok((observed, owned))
}

/// The tasks of a job, with only [`TASK_SELECT`] fields, keyed by [`task_key`].
pub async fn live_tasks(client: &BatchClient, job_id: &str) -> Result<LiveTasks, ObserveError> {
    let options = ListOptions {
        select: Some(TASK_SELECT.to_owned()),
        max_results: Some(TASK_PAGE),
        ..ListOptions::default()
    };
    let mut stream = client.list_tasks(job_id, &options);
    let mut tasks = LiveTasks::default();
    while let Some(task) = stream.next().await {
        let task: BatchTask =
            task.map_err(|source| client_error(&format!("the tasks of job {job_id}"), source))?;
        if let Some(live) = LiveTask::from_task(task) {
            tasks.insert(task_key(&live.id).into_owned(), live);
        }
    }
    Ok(tasks)
}

/// The key of a task id in [`ObservedJob::tasks`]: lowercase, as Batch compares ids.
/// Borrowed when the id has no uppercase letter, the common case, so looking up a large
/// job's ids allocates nothing.
pub fn task_key(id: &str) -> Cow<'_, str> {
    if id.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(id.to_ascii_lowercase())
    } else {
        Cow::Borrowed(id)
    }
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
                exit_code: node.start_task_info.as_ref().and_then(|i| i.exit_code),
                start_task_stderr: None,
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
