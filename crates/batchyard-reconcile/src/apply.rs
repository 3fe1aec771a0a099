//! Plan → changes on the Batch account.
//!
//! Every action is idempotent, so an apply stopped at any point (a crash, Ctrl-C, a kill)
//! is finished by the next plan and apply:
//! - creates treat "already exists" as done, after checking that what exists is ours;
//! - deletes treat "not found" and "being deleted" as done;
//! - tasks are added by id against a fresh list of the job's ids, in bulk, and a
//!   `TaskExists` answer counts as present;
//! - a job's `onAllTasksComplete` is set only after its last task is in, so a job never
//!   completes with tasks missing;
//! - each action that changes a pool or job rewrites its `batchyard.spec` metadata last.
//!
//! Requests are retried by the client (429, 5xx, dropped connections); waits here are
//! bounded by [`PoolWait::timeout`]. An error stops the apply after the actions already
//! running in the same phase; the error says which action failed.

use std::collections::HashSet;

use batchyard_batch::bulk::BulkAddOptions;
use batchyard_batch::models::{
    BatchJobCreateOptions, BatchJobUpdateOptions, BatchNodeDeallocationOption,
    BatchPoolCreateOptions, BatchPoolEnableAutoScaleOptions, BatchPoolResizeOptions,
    BatchPoolUpdateOptions, BatchTaskCreateOptions,
};
use batchyard_batch::{BatchClient, ClientError, CreateOutcome, ListOptions};
use batchyard_compile::DesiredPool;
use batchyard_secrets::SecretValues;
use futures::{StreamExt as _, TryStreamExt as _};
use serde_json::{Map, Value, json};

use crate::drift::drift;
use crate::error::ApplyError;
use crate::event::{Event, EventSink};
use crate::intent::{Intent, JobIntent};
use crate::observe::{owner, task_key};
use crate::plan::{Action, Change, Plan};
use crate::start_task::Redactions;
use crate::wait::{self, PoolWait};

/// How apply runs.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Allow drains, replacements and task re-creation. Default false.
    pub allow_replace: bool,
    /// Actions run at once within a phase. Default 4.
    pub concurrency: usize,
    /// Wait for created or resized pools to be ready before adding tasks. Default true.
    pub wait_for_pools: bool,
    /// Timeouts and polling of waits.
    pub wait: PoolWait,
    /// Bulk task add settings.
    pub bulk: BulkAddOptions,
    /// Tasks per progress event while adding. Default 2000.
    pub progress_every: usize,
    /// The values of the pools' secrets, read before the plan was made; a pool payload
    /// naming a secret not in here is not sent.
    pub secrets: SecretValues,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            allow_replace: false,
            concurrency: 4,
            wait_for_pools: true,
            wait: PoolWait::default(),
            bulk: BulkAddOptions::default(),
            progress_every: 2000,
            secrets: SecretValues::default(),
        }
    }
}

/// What an apply did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Actions carried out.
    pub actions: usize,
    /// Tasks created.
    pub tasks_added: u64,
    /// Tasks that were already in their job.
    pub tasks_present: u64,
}

/// Carries out `plan` (made by [`crate::diff`] from `intent`). Refuses to start, changing
/// nothing, when the plan has conflicts, or needs `allow_replace` without it.
pub async fn apply(
    client: &BatchClient,
    intent: &Intent,
    plan: &Plan,
    options: &ApplyOptions,
    events: EventSink<'_>,
) -> Result<ApplyReport, ApplyError> {
    if plan.blocking() > 0 {
        return Err(ApplyError::Blocked(plan.blocking()));
    }
    if plan.needing_replace() > 0 && !options.allow_replace {
        return Err(ApplyError::ReplaceNotAllowed(plan.needing_replace()));
    }
    let ctx = Ctx {
        client,
        intent,
        options,
        events,
    };
    // Start tasks may print what apply passed them; failed nodes' stderr is shown redacted.
    let redactions = &Redactions::of_pools(&intent.pools).with_values(&options.secrets);
    let mut report = ApplyReport::default();
    let mut phases: Vec<u8> = plan.actions.iter().map(|a| a.change.phase()).collect();
    phases.dedup();
    for phase in phases {
        let actions: Vec<&Action> = plan
            .actions
            .iter()
            .filter(|a| a.change.phase() == phase)
            .collect();
        let results: Vec<(u64, u64)> = futures::stream::iter(actions.iter().map(|a| ctx.run(a)))
            .buffer_unordered(options.concurrency.max(1))
            .try_collect()
            .await?;
        report.actions += actions.len();
        for (added, present) in results {
            report.tasks_added += added;
            report.tasks_present += present;
        }
        if phase == 2 && options.wait_for_pools {
            let pools: Vec<&str> = actions
                .iter()
                .filter(|a| {
                    !matches!(
                        a.change,
                        Change::PatchPool { .. } | Change::DeletePool { .. }
                    )
                })
                .map(|a| a.resource.id.as_str())
                .collect();
            futures::stream::iter(pools.into_iter().map(|p| async move {
                events(Event::ActionStarted {
                    summary: format!("wait for pool {p} to be ready"),
                });
                wait::pool_ready(client, p, &options.wait, redactions, events).await?;
                events(Event::ActionDone {
                    summary: format!("pool {p} is ready"),
                });
                Ok::<_, ApplyError>(())
            }))
            .buffer_unordered(options.concurrency.max(1))
            .try_collect::<Vec<()>>()
            .await?;
        }
    }
    Ok(report)
}

struct Ctx<'a> {
    client: &'a BatchClient,
    intent: &'a Intent,
    options: &'a ApplyOptions,
    events: EventSink<'a>,
}

fn failed(action: &str) -> impl FnOnce(ClientError) -> ApplyError + '_ {
    move |source| ApplyError::Client {
        action: action.to_owned(),
        source,
    }
}

fn payload_error(action: &str, e: serde_json::Error) -> ApplyError {
    ApplyError::Payload {
        action: action.to_owned(),
        message: e.to_string(),
    }
}

impl Ctx<'_> {
    /// Runs one action; returns (tasks added, tasks already present).
    async fn run(&self, action: &Action) -> Result<(u64, u64), ApplyError> {
        let summary = action.summary();
        (self.events)(Event::ActionStarted {
            summary: summary.clone(),
        });
        let id = action.resource.id.as_str();
        let s = summary.as_str();
        let mut counts = (0, 0);
        match &action.change {
            Change::Conflict { .. } | Change::Blocked { .. } => {
                return Err(ApplyError::Blocked(1));
            }
            Change::CreatePool { .. } => self.create_pool(self.pool(id)?, s).await?,
            Change::PatchPool { fields } => {
                let pool = self.pool(id)?;
                let wires: Vec<&str> = fields.iter().map(|f| f.wire.as_str()).collect();
                self.patch_pool(pool, &wires, s).await?;
            }
            Change::ResizePool {
                to_dedicated,
                to_low_priority,
                disable_autoscale,
                ..
            } => {
                let pool = self.pool(id)?;
                if *disable_autoscale {
                    self.client
                        .disable_pool_autoscale(id)
                        .await
                        .map_err(failed(s))?;
                }
                self.resize(id, *to_dedicated, *to_low_priority, s).await?;
                self.patch_pool(pool, &[], s).await?;
            }
            Change::EnableAutoScale { formula, interval } => {
                let pool = self.pool(id)?;
                wait::pool_steady(self.client, id, &self.options.wait).await?;
                self.enable_autoscale(id, formula, interval.as_deref(), s)
                    .await?;
                self.patch_pool(pool, &[], s).await?;
            }
            Change::EmptyPoolChange { fields, .. } => {
                let pool = self.pool(id)?;
                let live = self.client.get_pool(id).await.map_err(failed(s))?;
                if live.enable_auto_scale == Some(true) {
                    self.client
                        .disable_pool_autoscale(id)
                        .await
                        .map_err(failed(s))?;
                }
                self.resize(id, 0, 0, s).await?;
                wait::pool_empty(self.client, id, &self.options.wait).await?;
                let wires: Vec<&str> = fields
                    .iter()
                    .map(|f| f.wire.as_str())
                    .filter(|w| !w.starts_with("target") && !w.starts_with("autoScale"))
                    .collect();
                self.patch_pool(pool, &wires, s).await?;
                self.scale_to_desired(pool, s).await?;
            }
            Change::ReplacePool { .. } => {
                let pool = self.pool(id)?;
                self.delete_pool(id, s).await?;
                self.create_pool(pool, s).await?;
            }
            Change::DeletePool { .. } => self.delete_pool(id, s).await?,
            Change::CreateJob { .. } => self.create_job(self.job(id)?, s).await?,
            Change::PatchJob { fields } => {
                let job = self.job(id)?;
                let wires: Vec<&str> = fields.iter().map(|f| f.wire.as_str()).collect();
                self.patch_job(job, &wires, None, s).await?;
            }
            Change::ReplaceJob { .. } => {
                let job = self.job(id)?;
                self.delete_job(id, s).await?;
                self.create_job(job, s).await?;
                counts = self.add_missing(job, s).await?;
                self.patch_job(job, &[], Some(&job.on_all_tasks_complete), s)
                    .await?;
            }
            Change::DeleteJob => self.delete_job(id, s).await?,
            Change::AddTasks {
                then_on_all_tasks_complete,
                ..
            } => {
                let job = self.job(id)?;
                counts = self.add_missing(job, s).await?;
                if let Some(end) = then_on_all_tasks_complete {
                    self.patch_job(job, &[], Some(end), s).await?;
                }
            }
            Change::RecreateTasks {
                then_on_all_tasks_complete,
                ..
            } => {
                let job = self.job(id)?;
                self.delete_drifted(job, s).await?;
                counts = self.add_missing(job, s).await?;
                if let Some(end) = then_on_all_tasks_complete {
                    self.patch_job(job, &[], Some(end), s).await?;
                }
            }
            Change::SetOnAllTasksComplete { value } => {
                let job = self.job(id)?;
                self.patch_job(job, &[], Some(value), s).await?;
            }
        }
        (self.events)(Event::ActionDone { summary });
        Ok(counts)
    }

    fn pool(&self, id: &str) -> Result<&DesiredPool, ApplyError> {
        self.intent.pool(id).ok_or_else(|| ApplyError::Payload {
            action: format!("pool {id}"),
            message: "the plan names a pool the recipe does not have; plan again".into(),
        })
    }

    fn job(&self, id: &str) -> Result<&JobIntent, ApplyError> {
        self.intent.job(id).ok_or_else(|| ApplyError::Payload {
            action: format!("job {id}"),
            message: "the plan names a job the recipe does not have; plan again".into(),
        })
    }

    /// The pool's create payload as JSON, with secret values filled in.
    fn pool_value(
        &self,
        pool: &DesiredPool,
        action: &str,
    ) -> Result<Map<String, Value>, ApplyError> {
        let mut value =
            serde_json::to_value(&pool.payload).map_err(|e| payload_error(action, e))?;
        for slot in &pool.secrets {
            let secret = self.options.secrets.get(&slot.secret).ok_or_else(|| {
                ApplyError::Secret(format!(
                    "{} was not read before apply; plan and apply again",
                    slot.secret
                ))
            })?;
            if let Some(v) = value.pointer_mut(&slot.pointer) {
                *v = Value::String(secret.to_owned());
            }
        }
        match value {
            Value::Object(map) => Ok(map),
            _ => Err(ApplyError::Payload {
                action: action.to_owned(),
                message: "the pool payload is not an object".into(),
            }),
        }
    }

    async fn create_pool(&self, pool: &DesiredPool, action: &str) -> Result<(), ApplyError> {
        let value = self.pool_value(pool, action)?;
        let payload: BatchPoolCreateOptions =
            serde_json::from_value(Value::Object(value)).map_err(|e| payload_error(action, e))?;
        let outcome = self
            .client
            .create_pool(&payload)
            .await
            .map_err(failed(action))?;
        if let CreateOutcome::AlreadyExists { .. } = outcome {
            // Ours from an earlier, interrupted attempt; or someone else's since the plan.
            let live = self
                .client
                .get_pool(&pool.id)
                .await
                .map_err(failed(action))?;
            if owner(live.metadata.as_deref()) != Some(self.intent.recipe.as_str()) {
                return Err(ApplyError::Conflict {
                    resource: format!("pool {}", pool.id),
                    recipe: self.intent.recipe.clone(),
                });
            }
        }
        Ok(())
    }

    /// PATCHes `fields` (wire names) to their desired values, plus the metadata (which
    /// carries the new spec hash). A field the recipe no longer has is cleared.
    async fn patch_pool(
        &self,
        pool: &DesiredPool,
        fields: &[&str],
        action: &str,
    ) -> Result<(), ApplyError> {
        let desired = self.pool_value(pool, action)?;
        let mut patch = Map::new();
        for field in fields.iter().copied().chain(["metadata"]) {
            let value = match desired.get(field) {
                Some(v) => v.clone(),
                None => match crate::fields::pool_default(field) {
                    Some(default) => default,
                    None => continue,
                },
            };
            patch.insert(field.to_owned(), value);
        }
        let update: BatchPoolUpdateOptions =
            serde_json::from_value(Value::Object(patch)).map_err(|e| payload_error(action, e))?;
        self.client
            .patch_pool(&pool.id, &update, None)
            .await
            .map_err(failed(action))
    }

    async fn resize(
        &self,
        id: &str,
        dedicated: i64,
        low: i64,
        action: &str,
    ) -> Result<(), ApplyError> {
        // A running resize makes the service refuse a new one (409).
        wait::pool_steady(self.client, id, &self.options.wait).await?;
        let resize = BatchPoolResizeOptions {
            target_dedicated_nodes: Some(i32::try_from(dedicated).unwrap_or(i32::MAX)),
            target_low_priority_nodes: Some(i32::try_from(low).unwrap_or(i32::MAX)),
            node_deallocation_option: Some(BatchNodeDeallocationOption::Requeue),
            ..BatchPoolResizeOptions::default()
        };
        self.client
            .resize_pool(id, &resize, None)
            .await
            .map_err(failed(action))
    }

    async fn enable_autoscale(
        &self,
        id: &str,
        formula: &str,
        interval: Option<&str>,
        action: &str,
    ) -> Result<(), ApplyError> {
        let options = BatchPoolEnableAutoScaleOptions {
            auto_scale_formula: Some(formula.to_owned()),
            auto_scale_evaluation_interval: interval.map(str::to_owned),
        };
        self.client
            .enable_pool_autoscale(id, &options)
            .await
            .map_err(failed(action))
    }

    /// After an empty-pool change: the desired size or autoscale formula.
    async fn scale_to_desired(&self, pool: &DesiredPool, action: &str) -> Result<(), ApplyError> {
        let desired = self.pool_value(pool, action)?;
        let int = |k: &str| desired.get(k).and_then(Value::as_i64).unwrap_or(0);
        if desired.get("enableAutoScale").and_then(Value::as_bool) == Some(true) {
            let formula = desired
                .get("autoScaleFormula")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let interval = desired
                .get("autoScaleEvaluationInterval")
                .and_then(Value::as_str);
            self.enable_autoscale(&pool.id, formula, interval, action)
                .await
        } else {
            self.resize(
                &pool.id,
                int("targetDedicatedNodes"),
                int("targetLowPriorityNodes"),
                action,
            )
            .await
        }
    }

    async fn delete_pool(&self, id: &str, action: &str) -> Result<(), ApplyError> {
        match self.client.delete_pool(id, None).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => return Ok(()),
            Err(ClientError::Batch(e)) if e.has_code("PoolBeingDeleted") => {}
            Err(e) => return Err(failed(action)(e)),
        }
        wait::pool_gone(self.client, id, &self.options.wait).await
    }

    async fn delete_job(&self, id: &str, action: &str) -> Result<(), ApplyError> {
        match self.client.delete_job(id, false).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => return Ok(()),
            Err(ClientError::Batch(e)) if e.has_code("JobBeingDeleted") => {}
            Err(e) => return Err(failed(action)(e)),
        }
        wait::job_gone(self.client, id, &self.options.wait).await
    }

    async fn create_job(&self, job: &JobIntent, action: &str) -> Result<(), ApplyError> {
        let payload: &BatchJobCreateOptions = &job.payload;
        let outcome = self
            .client
            .create_job(payload)
            .await
            .map_err(failed(action))?;
        if let CreateOutcome::AlreadyExists { .. } = outcome {
            let live = self.client.get_job(&job.id).await.map_err(failed(action))?;
            if owner(live.metadata.as_deref()) != Some(self.intent.recipe.as_str()) {
                return Err(ApplyError::Conflict {
                    resource: format!("job {}", job.id),
                    recipe: self.intent.recipe.clone(),
                });
            }
        }
        Ok(())
    }

    async fn patch_job(
        &self,
        job: &JobIntent,
        fields: &[&str],
        on_all_tasks_complete: Option<&str>,
        action: &str,
    ) -> Result<(), ApplyError> {
        let desired = match serde_json::to_value(&job.payload) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        let mut patch = Map::new();
        for field in fields.iter().copied().chain(["metadata"]) {
            let value = match desired.get(field) {
                Some(v) => v.clone(),
                None => match crate::fields::job_default(field) {
                    Some(default) => default,
                    None => continue,
                },
            };
            patch.insert(field.to_owned(), value);
        }
        if let Some(end) = on_all_tasks_complete {
            patch.insert("onAllTasksComplete".into(), json!(end));
        }
        let update: BatchJobUpdateOptions =
            serde_json::from_value(Value::Object(patch)).map_err(|e| payload_error(action, e))?;
        self.client
            .patch_job(&job.id, &update, None)
            .await
            .map_err(failed(action))
    }

    /// Ids now in the job, lowercased.
    async fn live_ids(&self, job_id: &str, action: &str) -> Result<HashSet<String>, ApplyError> {
        let options = ListOptions {
            select: Some("id".into()),
            max_results: Some(1000),
            ..ListOptions::default()
        };
        let tasks: Vec<_> = self
            .client
            .list_tasks(job_id, &options)
            .try_collect()
            .await
            .map_err(failed(action))?;
        Ok(tasks
            .into_iter()
            .filter_map(|t| t.id.map(|id| id.to_ascii_lowercase()))
            .collect())
    }

    /// Adds every task of the job whose id is not in it. Tasks without dependencies go
    /// first, so a dependent task never waits on an id that is not there yet.
    async fn add_missing(&self, job: &JobIntent, action: &str) -> Result<(u64, u64), ApplyError> {
        let live = self.live_ids(&job.id, action).await?;
        let missing: Vec<&BatchTaskCreateOptions> = job
            .tasks
            .iter()
            .filter(|t| !live.contains(&t.id.to_ascii_lowercase()))
            .collect();
        let (independent, dependent): (Vec<&BatchTaskCreateOptions>, Vec<_>) =
            missing.into_iter().partition(|t| t.depends_on.is_none());
        let total = (independent.len() + dependent.len()) as u64;
        let mut done = 0u64;
        let (mut added, mut present) = (0u64, 0u64);
        for group in [independent, dependent] {
            for chunk in group.chunks(self.options.progress_every.max(1)) {
                let stream = futures::stream::iter(chunk.iter().map(|t| (*t).clone()));
                let report = self
                    .client
                    .add_tasks(&job.id, stream, &self.options.bulk)
                    .await;
                if let Some(first) = report.failed.first() {
                    return Err(ApplyError::TasksFailed {
                        job: job.id.clone(),
                        failed: report.failed.len(),
                        first: format!("{}: {}", first.task_id, first.reason),
                    });
                }
                added += report.added;
                present += report.already_present;
                done += report.total();
                (self.events)(Event::TasksAdded {
                    job: job.id.clone(),
                    done,
                    total,
                });
            }
        }
        Ok((added, present))
    }

    /// Deletes the tasks whose live command line or environment differs from the recipe.
    async fn delete_drifted(&self, job: &JobIntent, action: &str) -> Result<(), ApplyError> {
        let live = crate::observe::live_tasks(self.client, &job.id).await?;
        let drifted: Vec<String> = job
            .tasks
            .iter()
            .filter_map(|t| {
                let l = live.get(task_key(&t.id).as_ref())?;
                drift(t, l).any().then(|| l.id.clone())
            })
            .collect();
        futures::stream::iter(drifted.iter().map(|id| async move {
            match self.client.delete_task(&job.id, id).await {
                Ok(()) => Ok(()),
                Err(e) if e.is_not_found() => Ok(()),
                Err(e) => Err(failed(action)(e)),
            }
        }))
        .buffer_unordered(8)
        .try_collect::<Vec<()>>()
        .await?;
        Ok(())
    }
}
