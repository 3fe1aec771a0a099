//! Waiting for pools and jobs to reach a state, with a timeout and polling that backs off.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use batchyard_batch::BatchClient;
use batchyard_batch::models::AllocationState;
use tokio::time::Instant;

use crate::error::ApplyError;
use crate::event::{Event, EventSink};
use crate::observe::{NodeFailure, node_summary};
use crate::start_task::{NODES_WITH_STDERR, Redactions, add_start_task_stderr};

/// How long waits may take and how often they poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolWait {
    /// Longest wait for one pool (allocation plus start tasks). Default 30 minutes.
    pub timeout: Duration,
    /// First polling interval; it doubles up to `max_poll`. Default 200 ms.
    pub poll: Duration,
    /// Longest polling interval. Default 2 s.
    pub max_poll: Duration,
}

impl Default for PoolWait {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30 * 60),
            poll: Duration::from_millis(200),
            max_poll: Duration::from_secs(2),
        }
    }
}

/// A poll loop: `until` returns `Some(result)` to stop.
async fn poll<T, F, Fut>(wait: &PoolWait, what: &str, mut until: F) -> Result<T, ApplyError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, ApplyError>>,
{
    let deadline = Instant::now() + wait.timeout;
    let mut interval = wait.poll;
    loop {
        if let Some(done) = until().await? {
            return Ok(done);
        }
        if Instant::now() >= deadline {
            return Err(ApplyError::Timeout {
                what: what.to_owned(),
                seconds: wait.timeout.as_secs(),
            });
        }
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(wait.max_poll);
    }
}

fn client_error(action: &str, source: batchyard_batch::ClientError) -> ApplyError {
    ApplyError::Client {
        action: action.to_owned(),
        source,
    }
}

/// Waits until the pool's allocation is steady (no resize running).
pub(crate) async fn pool_steady(
    client: &BatchClient,
    pool_id: &str,
    wait: &PoolWait,
) -> Result<(), ApplyError> {
    let what = format!("pool {pool_id} (allocation to become steady)");
    poll(wait, &what, || async {
        let pool = client
            .get_pool(pool_id)
            .await
            .map_err(|e| client_error(&what, e))?;
        Ok((pool.allocation_state == Some(AllocationState::Steady)).then_some(()))
    })
    .await
}

/// Waits until the pool is steady at its target and every node has settled (start task
/// done); reports failed nodes as events, the first few with their start task's stderr.
/// Fails on a resize error, or when no node is usable.
pub(crate) async fn pool_ready(
    client: &BatchClient,
    pool_id: &str,
    wait: &PoolWait,
    redactions: &Redactions,
    events: EventSink<'_>,
) -> Result<(), ApplyError> {
    let what = format!("pool {pool_id} (nodes to become ready)");
    // Failed nodes already reported, with what was read about them; the lock is never
    // held across a request.
    let reported: Mutex<HashMap<String, NodeFailure>> = Mutex::new(HashMap::new());
    poll(wait, &what, || {
        let what = what.clone();
        let reported = &reported;
        async move {
            let pool = client
                .get_pool(pool_id)
                .await
                .map_err(|e| client_error(&what, e))?;
            let steady = pool.allocation_state == Some(AllocationState::Steady);
            let target = pool.target_dedicated_nodes.unwrap_or(0)
                + pool.target_low_priority_nodes.unwrap_or(0);
            let mut nodes = node_summary(client, pool_id).await?;
            events(Event::PoolProgress {
                pool: pool_id.to_owned(),
                allocation_state: pool
                    .allocation_state
                    .as_ref()
                    .map_or_else(String::new, |s| s.as_str().to_owned()),
                usable: nodes.usable(),
                target: u32::try_from(target).unwrap_or(0),
            });
            let (mut new, stderr_read): (Vec<NodeFailure>, usize) = {
                let seen = reported.lock().map_err(|_| poisoned(&what))?;
                let new = nodes
                    .failures
                    .iter()
                    .filter(|f| !seen.contains_key(&f.node_id))
                    .cloned()
                    .collect();
                let read = seen
                    .values()
                    .filter(|f| f.start_task_stderr.is_some())
                    .count();
                (new, read)
            };
            let budget = NODES_WITH_STDERR.saturating_sub(stderr_read);
            add_start_task_stderr(client, pool_id, &mut new, redactions, budget).await;
            {
                let mut seen = reported.lock().map_err(|_| poisoned(&what))?;
                for failure in new {
                    events(Event::NodeFailed {
                        pool: pool_id.to_owned(),
                        failure: failure.clone(),
                    });
                    seen.insert(failure.node_id.clone(), failure);
                }
                for failure in &mut nodes.failures {
                    if let Some(known) = seen.get(&failure.node_id) {
                        failure.start_task_stderr = known.start_task_stderr.clone();
                    }
                }
            }
            if !steady {
                return Ok(None);
            }
            if let Some(error) = pool.resize_errors.iter().flatten().next()
                && i64::from(nodes.total()) < i64::from(target)
            {
                return Err(ApplyError::ResizeFailed {
                    pool: pool_id.to_owned(),
                    code: error.code.clone().unwrap_or_else(|| "unknown".into()),
                    message: error.message.clone().unwrap_or_default(),
                });
            }
            if nodes.settling() > 0 {
                return Ok(None);
            }
            if nodes.total() > 0 && nodes.usable() == 0 {
                return Err(ApplyError::NodesFailed {
                    pool: pool_id.to_owned(),
                    failures: nodes.failures,
                });
            }
            Ok(Some(()))
        }
    })
    .await
}

fn poisoned(what: &str) -> ApplyError {
    ApplyError::Payload {
        action: what.to_owned(),
        message: "a thread panicked while waiting".into(),
    }
}

/// Waits until the pool is steady with no nodes.
pub(crate) async fn pool_empty(
    client: &BatchClient,
    pool_id: &str,
    wait: &PoolWait,
) -> Result<(), ApplyError> {
    let what = format!("pool {pool_id} (nodes to leave)");
    poll(wait, &what, || async {
        let pool = client
            .get_pool(pool_id)
            .await
            .map_err(|e| client_error(&what, e))?;
        let nodes = pool.current_dedicated_nodes.unwrap_or(0)
            + pool.current_low_priority_nodes.unwrap_or(0);
        Ok((pool.allocation_state == Some(AllocationState::Steady) && nodes == 0).then_some(()))
    })
    .await
}

/// Waits until a pool no longer exists.
pub(crate) async fn pool_gone(
    client: &BatchClient,
    pool_id: &str,
    wait: &PoolWait,
) -> Result<(), ApplyError> {
    let what = format!("pool {pool_id} (deletion)");
    poll(wait, &what, || async {
        match client.get_pool(pool_id).await {
            Ok(_) => Ok(None),
            Err(e) if e.is_not_found() => Ok(Some(())),
            Err(e) => Err(client_error(&what, e)),
        }
    })
    .await
}

/// Waits until a job no longer exists.
pub(crate) async fn job_gone(
    client: &BatchClient,
    job_id: &str,
    wait: &PoolWait,
) -> Result<(), ApplyError> {
    let what = format!("job {job_id} (deletion)");
    poll(wait, &what, || async {
        match client.get_job(job_id).await {
            Ok(_) => Ok(None),
            Err(e) if e.is_not_found() => Ok(Some(())),
            Err(e) => Err(client_error(&what, e)),
        }
    })
    .await
}
