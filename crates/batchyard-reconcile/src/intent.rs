//! What the recipe wants, in Batch REST shape, with every task id known.

use batchyard_batch::models::{BatchJobCreateOptions, BatchTaskCreateOptions};
use batchyard_compile::{Desired, DesiredPool};
use batchyard_recipe::model::TaskSpec;
use batchyard_recipe::{Diagnostic, Loaded};

use crate::observe::Scope;

/// The desired state that [`crate::diff`] compares with the live one.
///
/// Tasks are held in memory (a few hundred bytes each): a plan needs every desired id to
/// find the missing ones, and apply needs the payloads of those.
#[derive(Debug, Clone)]
pub struct Intent {
    /// The recipe's name: the value of the `batchyard.recipe` ownership metadata.
    pub recipe: String,
    /// Pools, in recipe order.
    pub pools: Vec<DesiredPool>,
    /// Jobs, in recipe order.
    pub jobs: Vec<JobIntent>,
}

/// One job and all its tasks.
#[derive(Debug, Clone)]
pub struct JobIntent {
    /// The job id.
    pub id: String,
    /// The create payload (without `onAllTasksComplete`, which is set after the tasks).
    pub payload: BatchJobCreateOptions,
    /// The `batchyard.spec` hash in the payload's metadata.
    pub spec_hash: String,
    /// Batch's `onAllTasksComplete` value, set once every task is in.
    pub on_all_tasks_complete: String,
    /// Every task, in recipe order (tasks with dependencies after the tasks they need).
    pub tasks: Vec<BatchTaskCreateOptions>,
}

impl JobIntent {
    /// The pool the job runs on.
    pub fn pool_id(&self) -> &str {
        self.payload
            .pool_info
            .pool_id
            .as_deref()
            .unwrap_or_default()
    }
}

impl Intent {
    /// Expands every task of a compiled recipe. Fails with every problem found in the task
    /// templates (each a diagnostic with its recipe path).
    pub fn from_compiled(loaded: &Loaded, desired: &Desired) -> Result<Self, Vec<Diagnostic>> {
        let mut problems = Vec::new();
        let mut jobs = Vec::new();
        for job in &desired.jobs {
            // Sized up front: the payloads are large, and growing a vector of 100,000 of
            // them by doubling copies each several times.
            let mut tasks = Vec::with_capacity(task_count(loaded, job.index));
            for task in batchyard_compile::tasks(loaded, desired, job) {
                match task {
                    Ok(task) => tasks.push(task),
                    Err(d) => problems.push(d),
                }
            }
            jobs.push(JobIntent {
                id: job.id.clone(),
                payload: job.payload.clone(),
                spec_hash: job.spec_hash.clone(),
                on_all_tasks_complete: job.on_all_tasks_complete.to_owned(),
                tasks,
            });
        }
        if problems.iter().any(Diagnostic::is_error) {
            return Err(problems);
        }
        Ok(Self {
            recipe: desired.recipe.clone(),
            pools: desired.pools.clone(),
            jobs,
        })
    }

    /// The recipe's name and the ids of its pools and jobs: what observing looks at.
    pub fn scope(&self) -> Scope {
        Scope {
            recipe: self.recipe.clone(),
            pools: self.pools.iter().map(|p| p.id.clone()).collect(),
            jobs: self.jobs.iter().map(|j| j.id.clone()).collect(),
        }
    }

    /// The pool with this id (Batch ids are case-insensitive).
    pub fn pool(&self, id: &str) -> Option<&DesiredPool> {
        self.pools.iter().find(|p| p.id.eq_ignore_ascii_case(id))
    }

    /// The job with this id.
    pub fn job(&self, id: &str) -> Option<&JobIntent> {
        self.jobs.iter().find(|j| j.id.eq_ignore_ascii_case(id))
    }
}

/// How many tasks a job's specs make, as far as it is known without expanding them (a
/// factory reading a file is counted as none); capped, since it only sizes a vector.
fn task_count(loaded: &Loaded, job: usize) -> usize {
    const CAP: u64 = 1 << 24;
    let Some(specs) = loaded
        .recipe
        .as_ref()
        .and_then(|r| r.jobs.get(job))
        .map(|j| j.tasks.as_slice())
    else {
        return 0;
    };
    let count = specs
        .iter()
        .map(|spec| match spec {
            TaskSpec::Single(_) => 1,
            TaskSpec::Factory(f) => batchyard_compile::factory::count(&f.factory).unwrap_or(0),
        })
        .fold(0u64, u64::saturating_add)
        .min(CAP);
    usize::try_from(count).unwrap_or(0)
}
