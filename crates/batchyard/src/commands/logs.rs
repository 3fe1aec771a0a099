//! `batchyard logs`: a task's stdout or stderr, once or following.

use std::io::Write as _;
use std::time::Duration;

use batchyard_batch::models::BatchTaskState;
use batchyard_batch::{BatchClient, ListOptions};
use futures::TryStreamExt as _;
use miette::miette;

use crate::cli::LogsArgs;
use crate::exit::Exit;
use crate::{runtime, target};

/// Prints the file; with `--follow`, keeps printing until the task completes.
pub fn run(args: &LogsArgs) -> miette::Result<Exit> {
    runtime::block_on(async {
        let target =
            target::connect(&args.target, args.recipe.as_deref(), target::Access::Read).await?;
        let file = if args.stderr {
            "stderr.txt"
        } else {
            "stdout.txt"
        };
        let result = match &args.task {
            Some(task) if args.follow => follow(&target.client, &args.job, task, file).await,
            Some(task) => print_file(&target.client, &args.job, task, file, 0)
                .await
                .map(|_| ()),
            None => every_task(&target.client, &args.job, file).await,
        };
        target.close().await;
        result.map(|()| Exit::Success)
    })
}

/// Prints `file` from byte `from`; returns the new end.
async fn print_file(
    client: &BatchClient,
    job: &str,
    task: &str,
    file: &str,
    from: u64,
) -> miette::Result<u64> {
    let range = (from > 0).then_some((from, None));
    match client.get_task_file(job, task, file, range).await {
        Ok(bytes) => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&bytes);
            let _ = out.flush();
            Ok(from + bytes.len() as u64)
        }
        Err(e) if e.is_not_found() => Err(miette!(
            help = "the task may not have started yet; `batchyard status` shows its job",
            "no {file} for task {task} of job {job}"
        )),
        Err(e) if e.batch_error().is_some_and(|b| b.status == 416) => Ok(from),
        Err(e) => Err(miette!("{e}")),
    }
}

async fn follow(client: &BatchClient, job: &str, task: &str, file: &str) -> miette::Result<()> {
    let mut offset = 0;
    loop {
        let state = client
            .get_task(job, task)
            .await
            .map_err(|e| miette!("{e}"))?
            .state;
        let size = match client.get_task_file_properties(job, task, file).await {
            Ok(p) => p.content_length.unwrap_or(0),
            Err(e) if e.is_not_found() => 0,
            Err(e) => return Err(miette!("{e}")),
        };
        if size > offset {
            offset = print_file(client, job, task, file, offset).await?;
        }
        if state == Some(BatchTaskState::Completed) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn every_task(client: &BatchClient, job: &str, file: &str) -> miette::Result<()> {
    let options = ListOptions {
        select: Some("id,state".into()),
        ..ListOptions::default()
    };
    let tasks: Vec<_> = client
        .list_tasks(job, &options)
        .try_collect()
        .await
        .map_err(|e| miette!("{e}"))?;
    for task in tasks {
        let id = task.id.unwrap_or_default();
        println!("==> {job}/{id} {file} <==");
        if let Err(e) = print_file(client, job, &id, file, 0).await {
            println!("({e})");
        }
    }
    Ok(())
}
