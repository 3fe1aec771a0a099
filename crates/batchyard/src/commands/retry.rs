//! `batchyard retry`: run failed tasks again without editing the recipe (Batch's
//! reactivate: the task goes back to active with its retry count reset, and the tasks
//! blocked behind it run once it succeeds).

use batchyard_batch::models::BatchTask;
use batchyard_batch::{BatchClient, ListOptions};
use batchyard_recipe::Code;
use batchyard_reconcile::blocked;
use futures::TryStreamExt as _;
use miette::miette;

use crate::cli::RetryArgs;
use crate::commands::logs::{check_job, find_recipe};
use crate::exit::Exit;
use crate::output::outln;
use crate::target::Access;
use crate::{runtime, target};

/// Reactivates the named tasks, or every failed one with `--failed`.
pub fn run(args: &RetryArgs) -> miette::Result<Exit> {
    if args.tasks.is_empty() && !args.failed {
        return Err(miette!(
            code = Code::InvalidArgument,
            help = format!(
                "name the tasks (`batchyard retry {} TASK...`) or pass --failed for every failed task of the job",
                args.job
            ),
            "nothing to retry"
        ));
    }
    let recipe = find_recipe(args.recipe.as_deref(), &args.target)?;
    runtime::block_on(async {
        // Change: on the local target the service must run to execute the tasks again.
        let target = target::connect(&args.target, recipe.as_deref(), Access::Change).await?;
        let result = retry(&target.client, args).await;
        target.close().await;
        result
    })
}

async fn retry(client: &BatchClient, args: &RetryArgs) -> miette::Result<Exit> {
    let job = args.job.as_str();
    check_job(client, job).await?;
    let mut ids = args.tasks.clone();
    if args.failed {
        let tasks: Vec<BatchTask> = client
            .list_tasks(
                job,
                &ListOptions {
                    select: Some(blocked::SELECT.into()),
                    ..ListOptions::default()
                },
            )
            .try_collect()
            .await
            .map_err(|e| miette!(code = crate::fail::batch_code(&e), "{e}"))?;
        for t in tasks.iter().filter(|t| blocked::failed(t)) {
            if let Some(id) = &t.id
                && !ids.contains(id)
            {
                ids.push(id.clone());
            }
        }
        if ids.is_empty() {
            outln!("No failed task in job {job}: nothing to retry.");
            return Ok(Exit::Success);
        }
    }
    let mut refused = Vec::new();
    let mut retried = Vec::new();
    for id in &ids {
        match client.reactivate_task(job, id).await {
            Ok(()) => retried.push(id.as_str()),
            Err(e) if e.is_not_found() => refused.push(format!("{id}: no such task in job {job}")),
            Err(e) => match e.batch_error() {
                // Batch refuses a task that succeeded or has not completed, and any task of
                // a completed job (409 with the reason).
                Some(b) if b.status == 409 => refused.push(format!(
                    "{id}: Batch refused ({}); only a failed task of an active job can be retried",
                    b.code.as_deref().unwrap_or("Conflict")
                )),
                _ => return Err(miette!(code = crate::fail::batch_code(&e), "{e}")),
            },
        }
    }
    if !retried.is_empty() {
        outln!(
            "Retrying {} task(s) of job {job}: {}",
            retried.len(),
            retried.join(", ")
        );
        outln!(
            "Tasks waiting on them run once they succeed. Follow with `batchyard logs {job} TASK --follow` or `batchyard status`."
        );
    }
    if refused.is_empty() {
        Ok(Exit::Success)
    } else {
        for r in &refused {
            eprintln!("not retried: {r}");
        }
        Ok(Exit::Failure)
    }
}
