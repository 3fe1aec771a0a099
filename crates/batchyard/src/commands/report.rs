//! `batchyard report JOB`: the HTML run report of a job, read over REST from the target
//! (the local service of the recipe's state folder by default): its tasks with their
//! nodes, times and exit codes, and the nodes of its pool.

use std::collections::HashMap;

use batchyard_batch::ListOptions;
use futures::TryStreamExt as _;
use miette::miette;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::cli::ReportArgs;
use crate::exit::Exit;
use crate::report::{NodeRow, TaskBar, Timeline};
use crate::{runtime, target};

pub fn run(args: &ReportArgs) -> miette::Result<Exit> {
    runtime::block_on(async {
        let target =
            target::connect(&args.target, args.recipe.as_deref(), target::Access::Read).await?;
        let local = target.info.kind == "local";
        let origin = target.info.to_string();
        let result = collect(
            &target.client,
            std::slice::from_ref(&args.job),
            local,
            origin,
        )
        .await;
        target.close().await;
        let timeline = result?;
        let path = args
            .out
            .clone()
            .unwrap_or_else(|| format!("{}-report.html", args.job).into());
        fs_err::write(&path, crate::report::html(&timeline)).map_err(|e| {
            miette!(
                help = "give a writable path with --out",
                "cannot write the report: {e}"
            )
        })?;
        eprintln!(
            "wrote {} ({} task runs on {} nodes)",
            path.display(),
            timeline.tasks.len(),
            timeline.nodes.len()
        );
        Ok(Exit::Success)
    })
}

fn parse(t: Option<&String>) -> Option<OffsetDateTime> {
    t.and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
}

/// The timeline of `jobs`: their tasks and the nodes of their pools, on one clock.
pub async fn collect(
    client: &batchyard_batch::BatchClient,
    jobs: &[String],
    local: bool,
    origin: String,
) -> miette::Result<Timeline> {
    let mut tasks = Vec::new();
    let mut nodes = Vec::new();
    let mut pools_seen: Vec<String> = Vec::new();
    for job_id in jobs {
        let job = client.get_job(job_id).await.map_err(|e| {
            if e.is_not_found() {
                miette!(
                    help = "`batchyard status` lists the jobs at this target",
                    "no job `{job_id}` at this target"
                )
            } else {
                miette!("cannot read job {job_id}: {e}")
            }
        })?;
        let pool_id = job.pool_info.pool_id.unwrap_or_default();
        let listed: Vec<_> = client
            .list_tasks(
                job_id,
                &ListOptions {
                    select: Some("id,executionInfo,nodeInfo".into()),
                    ..ListOptions::default()
                },
            )
            .try_collect()
            .await
            .map_err(|e| miette!("cannot list the tasks of job {job_id}: {e}"))?;
        tasks.extend(
            listed
                .into_iter()
                .map(|t| (job_id.clone(), pool_id.clone(), t)),
        );
        if pool_id.is_empty() || pools_seen.contains(&pool_id) {
            continue;
        }
        pools_seen.push(pool_id.clone());
        match client
            .list_nodes(&pool_id, &ListOptions::default())
            .try_collect::<Vec<_>>()
            .await
        {
            Ok(n) => nodes.extend(n.into_iter().map(|n| (pool_id.clone(), n))),
            // The pool may be gone; the tasks still name their nodes.
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(miette!("cannot list the nodes of pool {pool_id}: {e}")),
        }
    }
    let now = OffsetDateTime::now_utc();
    let starts = tasks
        .iter()
        .filter_map(|(_, _, t)| parse(t.execution_info.as_ref()?.start_time.as_ref()));
    let allocations = nodes
        .iter()
        .filter_map(|(_, n)| parse(n.allocation_time.as_ref()));
    let zero = starts.chain(allocations).min().unwrap_or(now);
    let secs = |t: OffsetDateTime| {
        let since: time::Duration = t - zero;
        since.as_seconds_f64().max(0.0)
    };

    let mut rows: Vec<NodeRow> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (pool_id, n) in &nodes {
        let id = n.id.clone().unwrap_or_default();
        index.insert(id.clone(), rows.len());
        rows.push(NodeRow {
            id,
            pool: pool_id.clone(),
            from: parse(n.allocation_time.as_ref()).map(secs),
            to: None,
        });
    }
    let mut bars = Vec::new();
    for (job_id, pool_id, t) in &tasks {
        let Some(info) = &t.execution_info else {
            continue;
        };
        let Some(start) = parse(info.start_time.as_ref()) else {
            continue;
        };
        let end = parse(info.end_time.as_ref());
        let node = t
            .node_info
            .as_ref()
            .and_then(|n| n.node_id.clone())
            .map(|id| {
                *index.entry(id.clone()).or_insert_with(|| {
                    rows.push(NodeRow {
                        id,
                        pool: pool_id.clone(),
                        from: None,
                        to: None,
                    });
                    rows.len() - 1
                })
            });
        let outcome = match (end, info.exit_code) {
            (None, _) => "running",
            (Some(_), Some(0)) if info.failure_info.is_none() => "succeeded",
            (Some(_), _) => "failed",
        };
        bars.push(TaskBar {
            id: t.id.clone().unwrap_or_default(),
            job: job_id.clone(),
            node,
            start: secs(start),
            end: secs(end.unwrap_or(now)),
            exit_code: info.exit_code,
            outcome: outcome.into(),
        });
    }
    bars.sort_by(|a, b| a.start.total_cmp(&b.start));
    let end = bars.iter().map(|b| b.end).fold(0.0f64, f64::max);
    let node_hours: f64 = rows
        .iter()
        .map(|r| (end - r.from.unwrap_or(0.0)).max(0.0))
        .sum::<f64>()
        / 3600.0;
    let cost = if local {
        format!("{node_hours:.3} node-hours on the local Batch service: nothing is billed")
    } else {
        format!(
            "{node_hours:.3} node-hours (nodes listed now, from allocation to the last task's end); price them with `batchyard plan --region`"
        )
    };
    Ok(Timeline {
        title: format!(
            "job{} {}",
            if jobs.len() == 1 { "" } else { "s" },
            jobs.join(", ")
        ),
        origin,
        nodes: rows,
        tasks: bars,
        cost,
    })
}
