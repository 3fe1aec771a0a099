//! `batchyard render`: the Batch payloads a recipe compiles to.
//!
//! Pool and job payloads are printed as documents (YAML separated by `---`, or pretty
//! JSON), then each job's tasks as JSON Lines, one `addtaskcollection` item per line, so
//! a million tasks stream. Secrets appear only as `(secret from env NAME)`.

use std::io::Write as _;

use miette::{IntoDiagnostic, miette};
use serde::Serialize;

use crate::cli::{RenderArgs, RenderFormat};
use crate::exit::Exit;
use crate::recipe;

/// Prints the payloads.
pub fn run(args: &RenderArgs) -> miette::Result<Exit> {
    let compiled = match recipe::compile(&args.file, &args.vars) {
        Ok(c) => c,
        Err(e) => {
            crate::output::print_error(&e);
            return Ok(Exit::Failure);
        }
    };
    let intent = &compiled.intent;
    if let Some(id) = &args.job
        && intent.job(id).is_none()
    {
        return Err(miette!(
            help = format!(
                "jobs in this recipe: {}",
                intent
                    .jobs
                    .iter()
                    .map(|j| j.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "no job `{id}` in {}",
            args.file.display()
        ));
    }
    let mut out = std::io::stdout().lock();
    if args.job.is_none() {
        for pool in &intent.pools {
            document(&mut out, args.output, &pool.payload)?;
        }
    }
    let jobs = intent.jobs.iter().filter(|j| {
        args.job
            .as_ref()
            .is_none_or(|id| j.id.eq_ignore_ascii_case(id))
    });
    for job in jobs {
        let mut payload = serde_json::to_value(&job.payload).into_diagnostic()?;
        if let Some(map) = payload.as_object_mut() {
            map.insert(
                "onAllTasksComplete".into(),
                job.on_all_tasks_complete.clone().into(),
            );
        }
        document(&mut out, args.output, &payload)?;
        if args.output == RenderFormat::Yaml {
            writeln!(out, "---").into_diagnostic()?;
        }
        writeln!(out, "# tasks of job {} (JSON Lines)", job.id).into_diagnostic()?;
        for task in &job.tasks {
            let line = serde_json::to_string(task).into_diagnostic()?;
            writeln!(out, "{line}").into_diagnostic()?;
        }
    }
    Ok(Exit::Success)
}

fn document<T: Serialize>(
    out: &mut impl std::io::Write,
    format: RenderFormat,
    value: &T,
) -> miette::Result<()> {
    match format {
        RenderFormat::Yaml => {
            let text = serde_saphyr::to_string(value).map_err(|e| miette!("{e}"))?;
            writeln!(out, "---\n{}", text.trim_end()).into_diagnostic()
        }
        RenderFormat::Json => {
            let text = serde_json::to_string_pretty(value).into_diagnostic()?;
            writeln!(out, "{text}").into_diagnostic()
        }
    }
}
