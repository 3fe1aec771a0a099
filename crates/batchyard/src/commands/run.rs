//! `batchyard run`: apply, follow the jobs to their end, summarize.

use batchyard_reconcile::{FollowOptions, Mode, RunSummary};
use miette::miette;

use crate::cli::{Output, RunArgs};
use crate::commands::apply::plan_and_apply;
use crate::exit::Exit;
use crate::output::outln;
use crate::output::{Color, paint, stdout_color};
use crate::prepared;
use crate::progress::Progress;
use crate::runtime;
use crate::target::Access;

/// Exit 1 when any task failed or never ran.
pub fn run(args: &RunArgs) -> miette::Result<Exit> {
    runtime::block_on(async {
        let timeout = args
            .timeout
            .as_deref()
            .map(runtime::parse_duration)
            .transpose()?;
        let prepared =
            prepared::prepare(&args.file, &args.vars, &args.target, Access::Change).await?;
        let progress = Progress::new();
        let result = async {
            plan_and_apply(&prepared, Mode::Apply, &args.change, &progress).await?;
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
            batchyard_reconcile::follow(&prepared.target.client, &jobs, &options, &sink)
                .await
                .map_err(|e| miette!("{e}"))
        }
        .await;
        progress.finish();
        prepared.target.close().await;
        let summary = result?;
        match args.output {
            Output::Human => print_summary(&summary),
            Output::Json => outln!(
                "{}",
                serde_json::to_string_pretty(&summary).unwrap_or_else(|_| "{}".into())
            ),
        }
        Ok(if summary.any_failed() {
            Exit::Failure
        } else {
            Exit::Success
        })
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
