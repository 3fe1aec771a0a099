//! `batchyard logs`: a task's stdout or stderr, once or following.

use batchyard_recipe::Code;
use std::path::{Path, PathBuf};
use std::time::Duration;

use batchyard_batch::models::{BatchTask, BatchTaskState};
use batchyard_batch::{BatchClient, ListOptions};
use batchyard_reconcile::blocked;
use futures::TryStreamExt as _;
use miette::miette;

use crate::cli::{LogsArgs, TargetArgs};
use crate::exit::Exit;
use crate::output::{self, outln};
use crate::{runtime, target};

/// Prints the file; with `--follow`, keeps printing until the task completes, or ends with
/// the reason when it never can.
pub fn run(args: &LogsArgs) -> miette::Result<Exit> {
    let recipe = find_recipe(args.recipe.as_deref(), &args.target)?;
    runtime::block_on(async {
        let target = target::connect(&args.target, recipe.as_deref(), target::Access::Read).await?;
        let file = if args.stderr {
            "stderr.txt"
        } else {
            "stdout.txt"
        };
        let client = &target.client;
        let result = async {
            check_job(client, &args.job).await?;
            match &args.task {
                Some(task) => {
                    let live = check_task(client, &args.job, task).await?;
                    if args.follow {
                        follow(client, &args.job, live, file).await
                    } else {
                        print_once(client, &args.job, &live, file).await
                    }
                }
                None => every_task(client, &args.job, file).await,
            }
        }
        .await;
        target.close().await;
        result
    })
}

/// The recipe whose local state `logs` and `retry` read, checked to have a state: refuses
/// rather than creating an empty one.
pub fn find_recipe(recipe: Option<&Path>, target: &TargetArgs) -> miette::Result<Option<PathBuf>> {
    let recipe = recipe_for(recipe, target)?;
    if target.account_url.as_deref().is_none_or(str::is_empty) {
        let dir = target::state_dir(target, recipe.as_deref());
        if !dir.is_dir() {
            return Err(miette!(
                code = Code::NoRecipeOrState,
                help = "run the recipe first (`batchyard run RECIPE`), or point at the state with --recipe FILE or --state-dir DIR",
                "no local state in {}: nothing has run there",
                dir.display()
            ));
        }
    }
    Ok(recipe)
}

/// `--recipe`, or none when the target is named otherwise (`--account-url`,
/// `--state-dir`), or when the current directory holds the state (`.batchyard`).
/// Otherwise the one recipe in the current directory.
fn recipe_for(recipe: Option<&Path>, target: &TargetArgs) -> miette::Result<Option<PathBuf>> {
    if let Some(recipe) = recipe {
        return Ok(Some(recipe.to_path_buf()));
    }
    if !target_is_local_default(target) || Path::new(".batchyard").is_dir() {
        return Ok(None);
    }
    let found = recipes_in(Path::new("."));
    let beside_state: Vec<&PathBuf> = found
        .iter()
        .filter(|r| target::state_dir(target, Some(r)).is_dir())
        .collect();
    match (found.len(), beside_state.as_slice()) {
        (1, _) => Ok(found.into_iter().next()),
        (_, [one]) => Ok(Some((*one).clone())),
        (0, _) => Err(miette!(
            code = Code::NoRecipeOrState,
            help = "pass --recipe FILE (the state is read beside it), --state-dir DIR, or --account-url URL",
            "no recipe and no local state (.batchyard) in the current directory, so there are no logs to read"
        )),
        _ => Err(miette!(
            code = Code::NoRecipeOrState,
            help = "pass --recipe FILE to say which",
            "the current directory holds {} recipes: {}",
            found.len(),
            found
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

fn target_is_local_default(args: &TargetArgs) -> bool {
    args.account_url.as_deref().is_none_or(str::is_empty) && args.state_dir.is_none()
}

/// YAML files directly in `dir` whose first key is `recipe:`, sorted.
fn recipes_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .filter(|p| {
            std::fs::read_to_string(p).is_ok_and(|text| {
                text.lines()
                    .map(str::trim_end)
                    .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("---"))
                    .is_some_and(|l| l.starts_with("recipe:"))
            })
        })
        .collect();
    found.sort();
    found
}

pub async fn check_job(client: &BatchClient, job: &str) -> miette::Result<()> {
    match client.get_job(job).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => {
            let jobs: Vec<String> = client
                .list_jobs(&ListOptions {
                    select: Some("id".into()),
                    ..ListOptions::default()
                })
                .try_collect::<Vec<_>>()
                .await
                .map(|jobs| jobs.into_iter().filter_map(|j| j.id).collect())
                .unwrap_or_default();
            Err(miette!(
                code = Code::UnknownJob,
                help = if jobs.is_empty() {
                    "the target has no jobs; `batchyard run RECIPE` creates them".to_owned()
                } else {
                    format!("jobs at this target: {}", jobs.join(", "))
                },
                "no job `{job}` at this target"
            ))
        }
        Err(e) => Err(miette!(code = crate::fail::batch_code(&e), "{e}")),
    }
}

async fn check_task(client: &BatchClient, job: &str, task: &str) -> miette::Result<BatchTask> {
    match client.get_task(job, task).await {
        Ok(live) => Ok(live),
        Err(e) if e.is_not_found() => {
            let ids = task_ids(client, job).await;
            let close: Vec<&String> = ids
                .iter()
                .filter(|id| id.starts_with(task.get(..task.len().min(2)).unwrap_or(task)))
                .take(5)
                .collect();
            let listed: Vec<&String> = if close.is_empty() {
                ids.iter().take(5).collect()
            } else {
                close
            };
            Err(miette!(
                code = Code::UnknownJob,
                help = if listed.is_empty() {
                    "the job has no tasks yet".to_owned()
                } else {
                    format!(
                        "tasks of job {job} include: {}{}",
                        listed
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        if ids.len() > listed.len() {
                            ", ..."
                        } else {
                            ""
                        }
                    )
                },
                "job {job} has no task `{task}`"
            ))
        }
        Err(e) => Err(miette!(code = crate::fail::batch_code(&e), "{e}")),
    }
}

async fn task_ids(client: &BatchClient, job: &str) -> Vec<String> {
    client
        .list_tasks(
            job,
            &ListOptions {
                select: Some("id".into()),
                ..ListOptions::default()
            },
        )
        .try_collect::<Vec<_>>()
        .await
        .map(|tasks| tasks.into_iter().filter_map(|t| t.id).collect())
        .unwrap_or_default()
}

/// Why a task that has not completed cannot run: the failed task it waits for.
async fn blocked_by(client: &BatchClient, job: &str, task: &BatchTask) -> Option<String> {
    task.depends_on.as_ref()?;
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
        .ok()?;
    let id = task.id.as_deref()?;
    blocked::blocked_tasks(&tasks)
        .into_iter()
        .find(|b| b.id == id)
        .map(|b| {
            if b.waits_for == b.failed {
                format!("it depends on task {}, which failed", b.failed)
            } else {
                format!(
                    "it depends on task {}, blocked by failed task {}",
                    b.waits_for, b.failed
                )
            }
        })
}

/// Prints the file as it is now. A task that has not run yet says why there is nothing.
async fn print_once(
    client: &BatchClient,
    job: &str,
    task: &BatchTask,
    file: &str,
) -> miette::Result<Exit> {
    let id = task.id.as_deref().unwrap_or_default();
    if matches!(task.state, Some(BatchTaskState::Active)) {
        if let Some(reason) = blocked_by(client, job, task).await {
            return Err(miette!(
                code = Code::TaskWillNotRun,
                help = format!(
                    "see why with `batchyard logs {job} TASK --stderr`; rerun it with `batchyard retry {job} --failed`"
                ),
                "task {id} of job {job} will not run: {reason}"
            ));
        }
        return Err(miette!(
            code = Code::TaskNotStarted,
            help = "`batchyard logs --follow` waits for it",
            "task {id} of job {job} has not started yet (it is waiting for a node)"
        ));
    }
    print_file(client, job, id, file, 0).await?;
    Ok(Exit::Success)
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
            output::emit_bytes(&bytes);
            Ok(from + bytes.len() as u64)
        }
        Err(e) if e.is_not_found() => Err(miette!(
            code = Code::TaskNotStarted,
            help = "the task is starting; try again in a moment, or `batchyard logs --follow`",
            "no {file} for task {task} of job {job} yet"
        )),
        Err(e) if e.batch_error().is_some_and(|b| b.status == 416) => Ok(from),
        Err(e) => Err(miette!(code = crate::fail::batch_code(&e), "{e}")),
    }
}

async fn follow(
    client: &BatchClient,
    job: &str,
    mut task: BatchTask,
    file: &str,
) -> miette::Result<Exit> {
    let id = task.id.clone().unwrap_or_default();
    let mut offset = 0;
    loop {
        let size = match client.get_task_file_properties(job, &id, file).await {
            Ok(p) => p.content_length.unwrap_or(0),
            Err(e) if e.is_not_found() => 0,
            Err(e) => return Err(miette!(code = crate::fail::batch_code(&e), "{e}")),
        };
        if size > offset {
            offset = print_file(client, job, &id, file, offset).await?;
        }
        // Nobody reads any more (`| head`): following further would only wait.
        if output::stdout_closed() || task.state == Some(BatchTaskState::Completed) {
            return Ok(Exit::Success);
        }
        if task.state == Some(BatchTaskState::Active)
            && let Some(reason) = blocked_by(client, job, &task).await
        {
            return Err(miette!(
                code = Code::TaskWillNotRun,
                help = format!("rerun the failed task with `batchyard retry {job} --failed`"),
                "task {id} of job {job} will never run: {reason}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        task = client
            .get_task(job, &id)
            .await
            .map_err(|e| miette!(code = crate::fail::batch_code(&e), "{e}"))?;
    }
}

async fn every_task(client: &BatchClient, job: &str, file: &str) -> miette::Result<Exit> {
    let options = ListOptions {
        select: Some("id,state".into()),
        ..ListOptions::default()
    };
    let tasks: Vec<_> = client
        .list_tasks(job, &options)
        .try_collect()
        .await
        .map_err(|e| miette!(code = crate::fail::batch_code(&e), "{e}"))?;
    for task in tasks {
        if output::stdout_closed() {
            break;
        }
        let id = task.id.unwrap_or_default();
        outln!("==> {job}/{id} {file} <==");
        if let Err(e) = print_file(client, job, &id, file, 0).await {
            outln!("({e})");
        }
    }
    Ok(Exit::Success)
}
