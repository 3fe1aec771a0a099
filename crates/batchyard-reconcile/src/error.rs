//! What observing and applying can fail with.

use batchyard_batch::ClientError;

use crate::observe::NodeFailure;

/// Reading the live state failed. Expected when the endpoint is unreachable or refuses the
/// credentials; every request was already retried by the client.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    /// A list or get call failed.
    #[error("could not read {what} from Batch: {source}")]
    Client {
        /// What was being read, e.g. `pool cpu`.
        what: String,
        /// The client's error.
        #[source]
        source: ClientError,
    },
    /// Following jobs took longer than allowed.
    #[error("{what} did not finish in time")]
    Timeout {
        /// What was followed.
        what: String,
    },
}

/// Applying a plan stopped. Everything done before the error stays done; running apply
/// again plans only what is left.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The plan has conflicts (resources with a wanted id that this recipe does not own)
    /// or resources in a state that blocks changes; nothing was changed.
    #[error("the plan has {0} blocking problem(s); nothing was changed")]
    Blocked(usize),
    /// The plan replaces or drains something and the caller did not allow it.
    #[error(
        "the plan needs {0} replace or empty-pool change(s); nothing was changed. \
         Pass --allow-replace to allow them"
    )]
    ReplaceNotAllowed(usize),
    /// A request failed after the client's retries.
    #[error("{action}: {source}")]
    Client {
        /// The action being applied.
        action: String,
        /// The client's error.
        #[source]
        source: ClientError,
    },
    /// A resource was created by someone else between the plan and the apply.
    #[error(
        "{resource} appeared while applying and is not owned by recipe `{recipe}`; \
         it was left untouched. Rename it in the recipe or delete it, then apply again"
    )]
    Conflict {
        /// e.g. `pool cpu`.
        resource: String,
        /// This recipe's name.
        recipe: String,
    },
    /// A wait did not end in time.
    #[error("{what} did not finish within {seconds} s; apply again to continue waiting")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The timeout.
        seconds: u64,
    },
    /// A pool could not reach its target size (the service's resize error).
    #[error(
        "pool {pool} failed to resize: {code}: {message}\n{}",
        resize_advice(code)
    )]
    ResizeFailed {
        /// The pool.
        pool: String,
        /// The service's error code, e.g. `AllocationFailed`.
        code: String,
        /// The service's message.
        message: String,
    },
    /// No node of a pool became usable (every node failed its start task or is unusable).
    #[error("pool {pool}: no node is usable\n{}", node_lines(failures))]
    NodesFailed {
        /// The pool.
        pool: String,
        /// The failed nodes, the first few with their start task's stderr.
        failures: Vec<NodeFailure>,
    },
    /// Some tasks could not be added.
    #[error("job {job}: {failed} task(s) could not be added, e.g. {first}")]
    TasksFailed {
        /// The job.
        job: String,
        /// How many.
        failed: usize,
        /// The first failure, as text.
        first: String,
    },
    /// A secret referenced by the recipe could not be read.
    #[error("{0}")]
    Secret(String),
    /// Reading the live state failed.
    #[error(transparent)]
    Observe(#[from] ObserveError),
    /// A payload could not be built from the desired values (a bug if it happens).
    #[error("could not build the request for {action}: {message}")]
    Payload {
        /// The action.
        action: String,
        /// The serde error.
        message: String,
    },
}

/// What to do about a resize error, by its code (codes: `PoolResizeErrorCodes` of the
/// Batch .NET library; advice: learn.microsoft.com/azure/batch/batch-quota-limit and
/// batch-pool-node-error-checking).
fn resize_advice(code: &str) -> &'static str {
    match code {
        "AccountCoreQuotaReached" | "AccountVMSeriesCoreQuotaReached" => {
            "The Batch account's dedicated core quota is used up: request a quota increase (Azure portal, Batch account, Quotas), lower the pool's dedicated node count or VM size, or free cores held by other pools."
        }
        "AccountLowPriorityCoreQuotaReached" | "AccountSpotCoreQuotaReached" => {
            "The Batch account's spot/low-priority core quota is used up: request a quota increase (Azure portal, Batch account, Quotas), lower the pool's spot node count or VM size, or free cores held by other pools."
        }
        "AllocationTimedOut" => {
            "The nodes were not allocated within the pool's resize timeout: apply again, or give the pool a longer resize timeout."
        }
        "ResizeStopped" => "The resize was stopped: apply again to resume it.",
        _ => {
            "Apply again to retry; if it fails the same way, see the code in Azure Batch's pool error documentation."
        }
    }
}

/// One failed node after another, each with its stderr lines.
fn node_lines(failures: &[NodeFailure]) -> String {
    failures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}
