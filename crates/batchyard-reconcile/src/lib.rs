//! Reconciliation: brings a Batch account to what a compiled recipe asks for.
//!
//! The stages, each a function from one type to the next:
//!
//! ```text
//! Intent (compiled pools, jobs, tasks) ──observe──▶ Observed (live pools, nodes, jobs, task ids)
//! Intent + Observed ──diff──▶ Plan (ordered actions, each with its reason)
//! Plan ──apply──▶ Events (progress) and an ApplyReport
//! ```
//!
//! - [`observe()`] reads only; it lists tasks with `$select`, 1,000 a page, so large jobs stay
//!   cheap. It needs only the recipe's [`Scope`] (its name and ids), so callers can list
//!   while the tasks are still being expanded ([`observe_scope`]).
//! - [`diff`] is pure: it compares normalized values (server defaults filled in, case of
//!   VM sizes and enum values, whitespace of autoscale formulas, order of lists the service
//!   does not order), so a plan made right after a successful apply is empty.
//! - [`apply`] is idempotent: every action checks what is there before it acts, treats
//!   "already exists" as success for what it creates and "not found" as success for what it
//!   deletes, and sets a job's `onAllTasksComplete` only after its last task is in. An apply
//!   interrupted at any point is finished by the next one, which plans only what is left.
//! - Ownership: pools and jobs carry the metadata `batchyard.recipe`; only those with this
//!   recipe's name are changed or deleted. Anything else with a wanted id is a
//!   [`Change::Conflict`], and apply refuses to start while the plan has one.
//! - [`follow()`] watches jobs to the end and summarizes their tasks (`batchyard run`).
//!
//! Retries of individual requests (429, 5xx, dropped connections) belong to
//! [`batchyard_batch::BatchClient`]; this crate adds waits with timeouts on top.

mod apply;
pub mod blocked;
mod compare;
mod diff;
mod drift;
pub mod error;
pub mod event;
mod fields;
pub mod follow;
pub mod intent;
pub mod observe;
pub mod plan;
pub mod redact;
pub mod start_task;
mod wait;

pub use apply::{ApplyOptions, ApplyReport, apply};
pub use blocked::{BlockedTask, blocked_tasks};
pub use diff::{Mode, diff};
pub use error::{ApplyError, ObserveError};
pub use event::Event;
pub use follow::{
    FailedTask, FollowOptions, JobSummary, RunSummary, follow, stderr_tail, summarize,
};
pub use intent::{Intent, JobIntent};
pub use observe::{
    LiveTask, LiveTasks, NodeFailure, NodeSummary, Observed, ObservedJob, ObservedPool, Scope,
    observe, observe_scope,
};
pub use plan::{Action, Change, FieldChange, Plan, Resource};
pub use start_task::{Redactions, add_start_task_stderr};
pub use wait::PoolWait;

/// The value comparison, exposed for property tests; not a stable API.
#[doc(hidden)]
pub mod compare_for_tests {
    pub use crate::compare::matches;
}
