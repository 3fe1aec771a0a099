//! Progress reported by apply and follow, for the CLI to render (bars on a terminal,
//! plain lines otherwise). Events never carry secret values.

use crate::observe::NodeFailure;

/// Something that happened while applying or following.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An action of the plan started.
    ActionStarted {
        /// Its one-line summary.
        summary: String,
    },
    /// An action finished.
    ActionDone {
        /// Its one-line summary.
        summary: String,
    },
    /// A pool's allocation, polled while waiting for it.
    PoolProgress {
        /// The pool.
        pool: String,
        /// `steady`, `resizing`, `stopping`.
        allocation_state: String,
        /// Nodes that can run tasks.
        usable: u32,
        /// The target node count.
        target: u32,
    },
    /// A node failed its start task or became unusable.
    NodeFailed {
        /// The pool.
        pool: String,
        /// Why.
        failure: NodeFailure,
    },
    /// A batch of tasks went in.
    TasksAdded {
        /// The job.
        job: String,
        /// Tasks in the job so far from this apply (added or already present).
        done: u64,
        /// Tasks this apply adds.
        total: u64,
    },
    /// Task counts of a followed job.
    JobProgress {
        /// The job.
        job: String,
        /// Tasks waiting.
        active: u64,
        /// Tasks running.
        running: u64,
        /// Tasks that ended with exit code 0.
        succeeded: u64,
        /// Tasks that failed.
        failed: u64,
        /// Tasks in the recipe for this job.
        total: u64,
    },
    /// A followed job reached its end.
    JobFinished {
        /// The job.
        job: String,
    },
    /// Something the user should know that does not stop the command.
    Warning(String),
}

/// Where events go. Called from async code; must not block for long.
pub type EventSink<'a> = &'a (dyn Fn(Event) + Send + Sync);
