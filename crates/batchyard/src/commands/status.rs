//! `batchyard status`: pools, nodes by state, jobs, task counts, failures.

use batchyard_batch::models::{BatchJob, BatchPool, BatchTask};
use batchyard_batch::{BatchClient, ListOptions};
use batchyard_reconcile::blocked::{self, BlockedTask};
use batchyard_reconcile::observe::{node_summary, owner};
use batchyard_reconcile::{
    FailedTask, NodeSummary, Redactions, Scope, add_start_task_stderr, start_task, stderr_tail,
};
use futures::TryStreamExt as _;
use miette::miette;
use serde::Serialize;

use crate::cli::{Output, StatusArgs};
use crate::exit::Exit;
use crate::output::outln;
use crate::{recipe, runtime, target};

#[derive(Serialize)]
struct PoolStatus {
    id: String,
    recipe: Option<String>,
    state: String,
    allocation_state: String,
    vm_size: String,
    target_nodes: i32,
    nodes: NodeSummary,
}

#[derive(Serialize)]
struct JobStatus {
    id: String,
    recipe: Option<String>,
    state: String,
    pool: String,
    active: i32,
    running: i32,
    succeeded: i32,
    failed: i32,
    /// The failed tasks (the first few, with their stderr tails).
    failed_tasks: Vec<FailedTask>,
    /// Tasks that can never run because a task they depend on failed.
    blocked_tasks: Vec<BlockedTask>,
}

/// Failed tasks shown per job, each with its stderr tail (one small request each).
const FAILED_SHOWN: usize = 5;
/// Lines of stderr kept per failed task.
const STDERR_LINES: usize = 5;

#[derive(Serialize)]
struct Status {
    /// The shape's version (docs/cli.md).
    format_version: u32,
    target: crate::target::TargetInfo,
    pools: Vec<PoolStatus>,
    jobs: Vec<JobStatus>,
}

/// Shows the recipe's resources (or all, without a recipe).
pub fn run(args: &StatusArgs) -> miette::Result<Exit> {
    crate::output::set_json_on_stdout(args.output == crate::cli::Output::Json);
    runtime::block_on(async {
        // Only the ids and the secrets are needed: the tasks are not expanded.
        let (wanted, redactions) = match &args.file {
            Some(file) => {
                let desired = recipe::load_and_compile(file, &args.vars)?.1;
                (
                    Some(Scope::of(&desired)),
                    Redactions::of_pools(&desired.pools),
                )
            }
            None => (None, Redactions::of_pools(&[])),
        };
        let target =
            target::connect(&args.target, args.file.as_deref(), target::Access::Read).await?;
        let result = collect(&target.client, wanted.as_ref(), &redactions).await;
        let info = target.info.clone();
        target.close().await;
        let (pools, jobs) = result?;
        let status = Status {
            format_version: 1,
            target: info,
            pools,
            jobs,
        };
        match args.output {
            Output::Json => outln!(
                "{}",
                serde_json::to_string_pretty(&status).unwrap_or_else(|_| "{}".into())
            ),
            Output::Human => print_human(&status),
        }
        Ok(Exit::Success)
    })
}

async fn collect(
    client: &BatchClient,
    wanted: Option<&Scope>,
    redactions: &Redactions,
) -> miette::Result<(Vec<PoolStatus>, Vec<JobStatus>)> {
    let err = |e: batchyard_batch::ClientError| miette!(code = crate::fail::batch_code(&e), "{e}");
    let pools: Vec<BatchPool> = client
        .list_pools(&ListOptions::default())
        .try_collect()
        .await
        .map_err(err)?;
    let mut pool_status = Vec::new();
    for pool in pools {
        let id = pool.id.clone().unwrap_or_default();
        if wanted.is_some_and(|w| !w.has_pool(&id)) {
            continue;
        }
        let mut nodes = node_summary(client, &id)
            .await
            .map_err(|e| miette!(code = crate::fail::observe_code(&e), "{e}"))?;
        add_start_task_stderr(
            client,
            &id,
            &mut nodes.failures,
            redactions,
            start_task::NODES_WITH_STDERR,
        )
        .await;
        pool_status.push(PoolStatus {
            recipe: owner(pool.metadata.as_deref()).map(str::to_owned),
            state: pool
                .state
                .as_ref()
                .map(|s| s.to_string())
                .unwrap_or_default(),
            allocation_state: pool
                .allocation_state
                .as_ref()
                .map(|s| s.to_string())
                .unwrap_or_default(),
            vm_size: pool.vm_size.clone().unwrap_or_default(),
            target_nodes: pool.target_dedicated_nodes.unwrap_or(0)
                + pool.target_low_priority_nodes.unwrap_or(0),
            nodes,
            id,
        });
    }
    let jobs: Vec<BatchJob> = client
        .list_jobs(&ListOptions::default())
        .try_collect()
        .await
        .map_err(err)?;
    let mut job_status = Vec::new();
    for job in jobs {
        let id = job.id.clone().unwrap_or_default();
        if wanted.is_some_and(|w| !w.has_job(&id)) {
            continue;
        }
        let counts = client
            .get_job_task_counts(&id)
            .await
            .map_err(err)?
            .task_counts;
        // Only a job with failures can have blocked tasks: the listing is skipped otherwise.
        let (failed_tasks, blocked_tasks) = if counts.failed > 0 {
            problems(client, &id).await.map_err(err)?
        } else {
            (Vec::new(), Vec::new())
        };
        job_status.push(JobStatus {
            failed_tasks,
            blocked_tasks,
            recipe: owner(job.metadata.as_deref()).map(str::to_owned),
            state: job
                .state
                .as_ref()
                .map(|s| s.to_string())
                .unwrap_or_default(),
            pool: job.pool_info.pool_id.clone().unwrap_or_default(),
            active: counts.active,
            running: counts.running,
            succeeded: counts.succeeded,
            failed: counts.failed,
            id,
        });
    }
    Ok((pool_status, job_status))
}

/// The failed tasks of a job (the first [`FAILED_SHOWN`], with their stderr tails) and the
/// tasks blocked behind them.
async fn problems(
    client: &BatchClient,
    job: &str,
) -> Result<(Vec<FailedTask>, Vec<BlockedTask>), batchyard_batch::ClientError> {
    let tasks: Vec<BatchTask> = client
        .list_tasks(
            job,
            &ListOptions {
                select: Some(blocked::SELECT.into()),
                ..ListOptions::default()
            },
        )
        .try_collect()
        .await?;
    let mut failed = Vec::new();
    for task in tasks
        .iter()
        .filter(|t| blocked::failed(t))
        .take(FAILED_SHOWN)
    {
        let id = task.id.clone().unwrap_or_default();
        let info = task.execution_info.as_ref();
        failed.push(FailedTask {
            exit_code: info.and_then(|i| i.exit_code),
            failure: info
                .and_then(|i| i.failure_info.as_ref())
                .and_then(|f| f.message.clone().or_else(|| f.code.clone())),
            stderr_tail: stderr_tail(client, job, &id, STDERR_LINES).await,
            id,
        });
    }
    Ok((failed, blocked::blocked_tasks(&tasks)))
}

fn print_human(status: &Status) {
    outln!("{}", status.target);
    outln!();
    if status.pools.is_empty() {
        outln!("No pools.");
    }
    for p in &status.pools {
        let nodes = p
            .nodes
            .by_state
            .iter()
            .map(|(state, n)| format!("{n} {state}"))
            .collect::<Vec<_>>()
            .join(", ");
        outln!(
            "pool {} ({}, {}, {}, target {} nodes): {}",
            p.id,
            p.vm_size,
            p.state,
            p.allocation_state,
            p.target_nodes,
            if nodes.is_empty() {
                "no nodes".into()
            } else {
                nodes
            }
        );
        for f in &p.nodes.failures {
            outln!("  ! node {} {}: {}", f.node_id, f.state, f.detail);
            for line in f.stderr_lines() {
                outln!("    {line}");
            }
        }
    }
    if status.jobs.is_empty() {
        outln!("No jobs.");
    }
    for j in &status.jobs {
        outln!(
            "job {} ({}, pool {}): {} waiting, {} running, {} succeeded, {} failed",
            j.id,
            j.state,
            j.pool,
            j.active,
            j.running,
            j.succeeded,
            j.failed
        );
        for f in &j.failed_tasks {
            let code = f
                .exit_code
                .map_or_else(|| "no exit code".to_owned(), |c| format!("exit code {c}"));
            outln!("  ✗ task {} failed ({code})", f.id);
            if let Some(failure) = &f.failure {
                outln!("      {failure}");
            }
            for line in f.stderr_tail.lines() {
                outln!("      | {line}");
            }
        }
        if j.failed_tasks.len() < usize::try_from(j.failed).unwrap_or(0) {
            outln!(
                "  … and {} more failed task(s)",
                usize::try_from(j.failed).unwrap_or(0) - j.failed_tasks.len()
            );
        }
        for b in &j.blocked_tasks {
            if b.waits_for == b.failed {
                outln!(
                    "  ⊘ task {} is blocked: it depends on task {}, which failed",
                    b.id,
                    b.failed
                );
            } else {
                outln!(
                    "  ⊘ task {} is blocked: it depends on task {}, blocked by failed task {}",
                    b.id,
                    b.waits_for,
                    b.failed
                );
            }
        }
    }
}
