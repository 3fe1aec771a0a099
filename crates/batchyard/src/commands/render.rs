//! `batchyard render`: the Batch payloads a recipe compiles to.
//!
//! Pool and job payloads are printed as documents (YAML separated by `---`, or pretty
//! JSON), then each job's tasks as JSON Lines, one `addtaskcollection` item per line, so
//! a million tasks stream. Secrets appear only as `(secret from env NAME)`.

use crate::fail::OrCode as _;
use batchyard_recipe::Code;
use std::io::Write as _;

use miette::miette;
use serde::Serialize;

use crate::cli::{RenderArgs, RenderFormat};
use crate::exit::Exit;
use crate::{output, recipe};

/// Task lines are gathered up to this many bytes before each write to stdout.
const LINES_BUFFER: usize = 1 << 18;

/// Prints the payloads, streaming the tasks: a million-task job never sits in memory.
pub fn run(args: &RenderArgs) -> miette::Result<Exit> {
    let (mut loaded, desired) = match recipe::load_and_compile(&args.file, &args.vars) {
        Ok(c) => c,
        Err(e) => {
            crate::output::print_error(&e);
            return Ok(Exit::Failure);
        }
    };
    if let Some(id) = &args.job
        && !desired.jobs.iter().any(|j| j.id.eq_ignore_ascii_case(id))
    {
        return Err(miette!(
            code = Code::UnknownJob,
            help = format!(
                "jobs in this recipe: {}",
                desired
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
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.job.is_none() {
        for pool in &desired.pools {
            document(&mut out, args.output, &pool.payload)?;
        }
    }
    let mut problems = Vec::new();
    let jobs = desired.jobs.iter().filter(|j| {
        args.job
            .as_ref()
            .is_none_or(|id| j.id.eq_ignore_ascii_case(id))
    });
    for job in jobs {
        let mut payload = serde_json::to_value(&job.payload).or_code(Code::Internal)?;
        if let Some(map) = payload.as_object_mut() {
            map.insert(
                "onAllTasksComplete".into(),
                job.on_all_tasks_complete.into(),
            );
        }
        document(&mut out, args.output, &payload)?;
        if args.output == RenderFormat::Yaml {
            writeln!(out, "---").map_err(output::write_failed)?;
        }
        writeln!(out, "# tasks of job {} (JSON Lines)", job.id).map_err(output::write_failed)?;
        let mut stream = batchyard_compile::tasks(&loaded, &desired, job);
        let mut lines = Vec::with_capacity(LINES_BUFFER + 4096);
        stream
            .write_all(
                &mut lines,
                LINES_BUFFER,
                &mut |bytes| out.write_all(bytes),
                &mut |problem| problems.push(problem),
            )
            .map_err(output::write_failed)?;
    }
    out.flush().map_err(output::write_failed)?;
    drop(out);
    if problems.is_empty() {
        Ok(Exit::Success)
    } else {
        let path = args.file.clone();
        crate::output::print_error(&recipe::report(&mut loaded, &path, problems));
        Ok(Exit::Failure)
    }
}

fn document<T: Serialize>(
    out: &mut impl std::io::Write,
    format: RenderFormat,
    value: &T,
) -> miette::Result<()> {
    match format {
        RenderFormat::Yaml => {
            let text = serde_saphyr::to_string(value)
                .map_err(|e| miette!(code = Code::Internal, "{e}"))?;
            writeln!(out, "---\n{}", text.trim_end()).map_err(output::write_failed)
        }
        RenderFormat::Json => {
            let text = serde_json::to_string_pretty(value).or_code(Code::Internal)?;
            writeln!(out, "{text}").map_err(output::write_failed)
        }
    }
}
