//! `batchyard run`: apply, follow the jobs to their end, summarize.

use batchyard_recipe::Code;
use batchyard_reconcile::{FollowOptions, Mode, RunSummary};
use miette::miette;
use serde_json::{Value, json};

use crate::cli::{Output, RunArgs};
use crate::commands::apply::{append, applied_json, plan_and_apply, to_text};
use crate::exit::Exit;
use crate::output::outln;
use crate::output::{Color, paint, stdout_color};
use crate::prepared::{self, Prepared};
use crate::progress::Progress;
use crate::runtime;
use crate::secrets::Needed;
use crate::target::Access;

/// Exit 1 when any task failed or never ran; 130 when interrupted (Ctrl-C), after saying
/// what was left running and how to resume.
pub fn run(args: &RunArgs) -> miette::Result<Exit> {
    crate::output::set_json_on_stdout(args.output == crate::cli::Output::Json);
    runtime::block_on(async {
        let timeout = args
            .timeout
            .as_deref()
            .map(runtime::parse_duration)
            .transpose()?;
        let prepared = prepared::prepare(
            &args.file,
            &args.vars,
            &args.target,
            Access::Change,
            Needed::All,
        )
        .await?;
        let progress = Progress::new();
        let info = prepared.target.info.clone();
        let done = {
            let work = async {
                let (plan, outcome) =
                    plan_and_apply(&prepared, Mode::Apply, &args.change, &progress, args.output)
                        .await;
                if outcome.is_err() {
                    return (plan, outcome, None);
                }
                let jobs: Vec<(String, u64)> = prepared
                    .intent
                    .jobs
                    .iter()
                    .map(|j| (j.id.clone(), j.tasks.len() as u64))
                    .collect();
                let options = FollowOptions {
                    timeout,
                    ..FollowOptions::default()
                };
                let sink = |event| progress.event(event);
                let summary =
                    batchyard_reconcile::follow(&prepared.target.client, &jobs, &options, &sink)
                        .await
                        .map_err(|e| miette!(code = crate::fail::observe_code(&e), "{e}"));
                // Results come back once every job has ended.
                let summary = match (summary, &args.download) {
                    (Ok(s), Some(dir)) => {
                        progress.finish();
                        download(&prepared, &args.file, &args.vars, dir)
                            .await
                            .map(|()| s)
                    }
                    (s, _) => s,
                };
                let summary = match (summary, &args.report) {
                    (Ok(s), Some(path)) => {
                        let region = crate::cost::region(
                            args.region.as_deref(),
                            args.target.account_url.as_deref(),
                        );
                        let ids: Vec<String> = jobs.iter().map(|(id, _)| id.clone()).collect();
                        write_report(&prepared, &ids, path, region.as_deref())
                            .await
                            .map(|()| s)
                    }
                    (s, _) => s,
                };
                (plan, outcome, Some(summary))
            };
            tokio::select! {
                done = work => Some(done),
                _ = tokio::signal::ctrl_c() => None,
            }
        };
        progress.finish();
        let Some((plan, outcome, summary)) = done else {
            interrupted(&prepared, &args.file).await;
            prepared.target.close().await;
            return Ok(Exit::Interrupted);
        };
        prepared.target.close().await;
        let summary = match summary {
            Some(Ok(summary)) => Ok(summary),
            Some(Err(e)) => Err(e),
            None => Err(miette!(code = Code::Internal, "nothing was followed")),
        };
        if args.output == Output::Json {
            let mut doc = json!({ "format_version": 1, "command": "run" });
            append(
                &mut doc,
                &applied_json(&info, &plan, &prepared.warnings, &outcome),
            );
            let jobs = summary
                .as_ref()
                .ok()
                .and_then(|s| serde_json::to_value(s).ok())
                .and_then(|v| v.get("jobs").cloned())
                .unwrap_or(Value::Null);
            append(&mut doc, &json!({ "jobs": jobs }));
            if let (Ok(_), Err(e)) = (&outcome, &summary) {
                append(
                    &mut doc,
                    &json!({ "error": e.to_string(), "error_code": crate::output::error_code(e) }),
                );
            }
            outln!("{}", to_text(&doc));
        }
        outcome?;
        let summary = summary?;
        if args.output == Output::Human {
            print_summary(&summary);
        }
        Ok(if summary.any_failed() {
            Exit::Failure
        } else {
            Exit::Success
        })
    })
}

/// Every job's outputs into `dir/JOB/TASK/...`.
async fn download(
    prepared: &Prepared,
    file: &std::path::Path,
    vars: &crate::cli::VarArgs,
    dir: &std::path::Path,
) -> miette::Result<()> {
    let overrides = crate::input::overrides(vars)?;
    let loaded = crate::input::load(file, &overrides)?;
    let Some(recipe) = loaded.recipe.as_ref() else {
        return Ok(());
    };
    for job in &prepared.intent.jobs {
        crate::commands::outputs::fetch(
            recipe,
            &prepared.target,
            &prepared.secrets,
            &job.id,
            &[],
            &dir.join(&job.id),
        )
        .await?;
    }
    Ok(())
}

/// After Ctrl-C: what is still running where, and the commands that take it from here.
/// Nothing is stopped: the tasks belong to the target, not to this process.
async fn interrupted(prepared: &Prepared, file: &std::path::Path) {
    let mut lines = vec![format!(
        "Interrupted. Nothing was stopped: what was applied stays, and the tasks go on ({}).",
        prepared.target.info
    )];
    for job in &prepared.intent.jobs {
        match prepared.target.client.get_job_task_counts(&job.id).await {
            Ok(c) => {
                let c = c.task_counts;
                lines.push(format!(
                    "  job {}: {} running, {} waiting, {} succeeded, {} failed",
                    job.id, c.running, c.active, c.succeeded, c.failed
                ));
            }
            Err(e) if e.is_not_found() => {
                lines.push(format!("  job {}: not created yet", job.id));
            }
            Err(e) => lines.push(format!("  job {}: ({e})", job.id)),
        }
    }
    let f = file.display();
    lines.push(format!(
        "Resume with `batchyard run {f}` (it finishes the apply and adds nothing twice), \
         watch with `batchyard status {f}`, or stop everything with `batchyard destroy {f}`."
    ));
    eprintln!("{}", lines.join("\n"));
}

/// Writes the HTML run report of the jobs (`--report`).
async fn write_report(
    prepared: &crate::prepared::Prepared,
    jobs: &[String],
    path: &std::path::Path,
    region: Option<&str>,
) -> miette::Result<()> {
    let target = &prepared.target;
    let timeline = super::report::collect(
        &target.client,
        jobs,
        target.info.kind == "local",
        target.info.to_string(),
        region,
    )
    .await?;
    fs_err::write(path, crate::report::html(&timeline)).map_err(|e| {
        miette!(
            code = Code::WriteFailed,
            help = "give a writable path to --report",
            "cannot write the report: {e}"
        )
    })
}

/// The run summary on stdout.
pub fn print_summary(summary: &RunSummary) {
    let color = stdout_color();
    outln!();
    outln!("Summary");
    for job in &summary.jobs {
        let mut line = format!(
            "  job {}: {} succeeded, {} failed",
            job.job,
            job.succeeded,
            job.failed.len()
        );
        if job.not_run > 0 {
            line.push_str(&format!(", {} did not run", job.not_run));
        }
        line.push_str(&format!(" ({} task(s))", job.total));
        let tint = if job.failed.is_empty() && job.not_run == 0 {
            Color::Green
        } else {
            Color::Red
        };
        outln!("{}", paint(&line, tint, color));
        if job.requeued > 0 {
            outln!(
                "    {} task(s) requeued: their node was preempted or removed while they ran, and the service ran them again",
                job.requeued
            );
        }
        for failed in &job.failed {
            let code = failed
                .exit_code
                .map_or_else(|| "no exit code".to_owned(), |c| format!("exit code {c}"));
            outln!("    ✗ task {} ({code})", failed.id);
            if let Some(f) = &failed.failure {
                outln!("      {f}");
            }
            if failed.stderr_tail.is_empty() {
                outln!("      (stderr is empty)");
            } else {
                outln!("      stderr (last lines):");
                for l in failed.stderr_tail.lines() {
                    outln!("      | {l}");
                }
            }
        }
    }
    if summary.any_failed() {
        outln!("See a task's output with `batchyard logs JOB TASK --stderr`.");
    }
}
