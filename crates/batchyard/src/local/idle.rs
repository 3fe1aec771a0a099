//! When the local service has nothing to do: it stops by itself after the idle timeout.
//!
//! Busy means a task is running or a node is booting or running its start task. Besides,
//! any change counts as activity: a task queued, ended or added, a pool resized, a node
//! changing state, and a batchyard command connected to the service. Tasks that wait and
//! can never run (their dependency failed, their pool has no node) do not keep the service
//! up forever by themselves: with nothing changing, the timeout runs.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use batchyard_batch::{BatchClient, ClientError, ListOptions};
use futures::TryStreamExt as _;

use super::folder::StateFolder;

/// Node states in which the node is still getting ready for tasks.
const NODE_BUSY: [&str; 5] = [
    "creating",
    "starting",
    "waitingforstarttask",
    "rebooting",
    "reimaging",
];

/// The activity seen so far.
pub struct Activity {
    timeout: Duration,
    last: Instant,
    seen: Vec<String>,
    last_use: Option<SystemTime>,
}

impl Activity {
    /// Starts counting now.
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            last: Instant::now(),
            seen: Vec::new(),
            last_use: None,
        }
    }

    /// How often to look.
    pub fn interval(&self) -> Duration {
        (self.timeout / 5).clamp(Duration::from_millis(200), Duration::from_secs(5))
    }

    /// Looks at the service; true once nothing happened for the timeout.
    pub async fn idle(&mut self, client: &BatchClient, folder: &StateFolder) -> bool {
        let now = Instant::now();
        let last_use = modified(&folder.last_use());
        if last_use != self.last_use {
            self.last_use = last_use;
            self.last = now;
        }
        match look(client).await {
            Ok((busy, seen)) => {
                if busy || seen != self.seen {
                    self.last = now;
                    self.seen = seen;
                }
            }
            Err(e) => {
                // Not knowing is not idleness.
                tracing::warn!("cannot read the service's own state: {e}");
                self.last = now;
            }
        }
        now.duration_since(self.last) >= self.timeout
    }

    /// Whether a command used the service since the last look.
    pub fn used_since(&self, folder: &StateFolder) -> bool {
        modified(&folder.last_use()) != self.last_use
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    fs_err::metadata(path).ok()?.modified().ok()
}

/// Whether something is busy, and a description of everything that can change.
async fn look(client: &BatchClient) -> Result<(bool, Vec<String>), ClientError> {
    let mut busy = false;
    let mut seen = Vec::new();
    let select = |s: &str| ListOptions {
        select: Some(s.to_owned()),
        ..ListOptions::default()
    };
    let pools: Vec<_> = client
        .list_pools(&select(
            "id,allocationState,currentDedicatedNodes,currentLowPriorityNodes",
        ))
        .try_collect()
        .await?;
    for pool in pools {
        let id = pool.id.unwrap_or_default();
        let nodes: Vec<_> = client
            .list_nodes(&id, &select("id,state"))
            .try_collect()
            .await?;
        for node in nodes {
            let state = node.state.map(|s| s.to_string()).unwrap_or_default();
            busy |= NODE_BUSY.contains(&state.as_str());
            seen.push(format!("node {id}/{} {state}", node.id.unwrap_or_default()));
        }
        seen.push(format!(
            "pool {id} {:?} {:?} {:?}",
            pool.allocation_state.map(|s| s.to_string()),
            pool.current_dedicated_nodes,
            pool.current_low_priority_nodes
        ));
    }
    let jobs: Vec<_> = client.list_jobs(&select("id,state")).try_collect().await?;
    for job in jobs {
        let id = job.id.unwrap_or_default();
        let state = job.state.map(|s| s.to_string()).unwrap_or_default();
        if state != "completed" {
            let c = client.get_job_task_counts(&id).await?.task_counts;
            busy |= c.running > 0;
            seen.push(format!(
                "job {id} {state} {} {} {} {}",
                c.active, c.running, c.succeeded, c.failed
            ));
        } else {
            seen.push(format!("job {id} {state}"));
        }
    }
    Ok((busy, seen))
}
