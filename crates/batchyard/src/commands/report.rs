//! `batchyard report JOB`: the HTML run report of a job, read over REST from the target
//! (the local service of the recipe's state folder by default): its tasks with their
//! nodes, times and exit codes, and the nodes of its pool.

use batchyard_recipe::Code;
use std::collections::HashMap;

use batchyard_batch::ListOptions;
use futures::TryStreamExt as _;
use miette::miette;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use batchyard_cost::{Lookup, Os, PriceKey, Prices, PricesOptions, Priority};

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
        let region =
            crate::cost::region(args.region.as_deref(), args.target.account_url.as_deref());
        let result = collect(
            &target.client,
            std::slice::from_ref(&args.job),
            local,
            origin,
            region.as_deref(),
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
                code = Code::WriteFailed,
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
    region: Option<&str>,
) -> miette::Result<Timeline> {
    let mut tasks = Vec::new();
    let mut nodes = Vec::new();
    let mut pools_seen: Vec<String> = Vec::new();
    // Each pool's VM size and OS, to price its node-hours; a deleted pool has none.
    let mut pool_meters: HashMap<String, (String, Os)> = HashMap::new();
    for job_id in jobs {
        let job = client.get_job(job_id).await.map_err(|e| {
            if e.is_not_found() {
                miette!(
                    code = Code::UnknownJob,
                    help = "`batchyard status` lists the jobs at this target",
                    "no job `{job_id}` at this target"
                )
            } else {
                miette!(
                    code = crate::fail::batch_code(&e),
                    "cannot read job {job_id}: {e}"
                )
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
            .map_err(|e| {
                miette!(
                    code = crate::fail::batch_code(&e),
                    "cannot list the tasks of job {job_id}: {e}"
                )
            })?;
        tasks.extend(
            listed
                .into_iter()
                .map(|t| (job_id.clone(), pool_id.clone(), t)),
        );
        if pool_id.is_empty() || pools_seen.contains(&pool_id) {
            continue;
        }
        pools_seen.push(pool_id.clone());
        if let Ok(pool) = client.get_pool(&pool_id).await
            && let Some(size) = pool.vm_size
        {
            let windows = pool
                .virtual_machine_configuration
                .is_some_and(|v| v.node_agent_sku_id.starts_with("batch.node.windows"));
            let os = if windows { Os::Windows } else { Os::Linux };
            pool_meters.insert(pool_id.clone(), (size, os));
        }
        match client
            .list_nodes(&pool_id, &ListOptions::default())
            .try_collect::<Vec<_>>()
            .await
        {
            Ok(n) => nodes.extend(n.into_iter().map(|n| (pool_id.clone(), n))),
            // The pool may be gone; the tasks still name their nodes.
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                return Err(miette!(
                    code = crate::fail::batch_code(&e),
                    "cannot list the nodes of pool {pool_id}: {e}"
                ));
            }
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
    let spot_nodes: std::collections::HashSet<String> = nodes
        .iter()
        .filter(|(_, n)| n.is_dedicated == Some(false))
        .filter_map(|(_, n)| n.id.clone())
        .collect();
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
    let hours = |r: &NodeRow| (end - r.from.unwrap_or(0.0)).max(0.0) / 3600.0;
    let node_hours: f64 = rows.iter().map(hours).sum();
    // Node-hours by pool and priority, to price.
    let mut usage: Vec<Usage> = Vec::new();
    for r in &rows {
        let spot = spot_nodes.contains(&r.id);
        match usage
            .iter_mut()
            .find(|u| u.pool == r.pool && u.spot == spot)
        {
            Some(u) => u.node_hours += hours(r),
            None => usage.push(Usage {
                pool: r.pool.clone(),
                spot,
                node_hours: hours(r),
            }),
        }
    }
    let priced = match region {
        Some(region) => Some(price_usage(&usage, &pool_meters, region).await),
        None => None,
    };
    let cost = cost_line(node_hours, local, region, priced.as_ref());
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

/// Node-hours of one pool on one priority.
struct Usage {
    pool: String,
    spot: bool,
    node_hours: f64,
}

/// The priced node-hours: the amount (unknown when a price is), its currency, and the
/// sources of the prices with their dates, or why a price is unknown.
struct Priced {
    amount: batchyard_cost::money::Amount,
    currency: String,
    sources: Vec<String>,
}

/// Prices each pool's node-hours at its VM size's hourly price in `region`, looked up as
/// `plan` does (the Retail Prices API, the user's cache, then batchyard's snapshot).
async fn price_usage(
    usage: &[Usage],
    meters: &HashMap<String, (String, Os)>,
    region: &str,
) -> Priced {
    let mut prices = Prices::new(PricesOptions::from_env());
    price_usage_with(&mut prices, usage, meters, region).await
}

async fn price_usage_with(
    prices: &mut Prices,
    usage: &[Usage],
    meters: &HashMap<String, (String, Os)>,
    region: &str,
) -> Priced {
    let mut amounts = Vec::new();
    let mut sources: Vec<String> = Vec::new();
    let mut currency = "USD".to_owned();
    for u in usage {
        let Some((size, os)) = meters.get(&u.pool) else {
            amounts.push(batchyard_cost::money::cost(u.node_hours, None));
            sources.push(format!("pool {}: its VM size could not be read", u.pool));
            continue;
        };
        let priority = if u.spot {
            Priority::Spot
        } else {
            Priority::Dedicated
        };
        let lookup = prices
            .get(&PriceKey::new(size, region, *os, priority))
            .await;
        let price = lookup.price();
        amounts.push(batchyard_cost::money::cost(u.node_hours, price));
        let said = match (&lookup, price) {
            (_, Some(p)) => {
                currency.clone_from(&p.currency);
                format!(
                    "pool {} {size} {priority} {} per node-hour from {} of {}",
                    u.pool,
                    batchyard_cost::money::format_value(p.per_hour, &p.currency),
                    p.origin,
                    p.date
                )
            }
            (Lookup::Unknown { reason }, None) => {
                format!(
                    "pool {} {size} {priority}: price unknown ({reason})",
                    u.pool
                )
            }
            (Lookup::Known(_), None) => continue,
        };
        sources.push(said);
    }
    Priced {
        amount: batchyard_cost::money::sum(amounts),
        currency,
        sources,
    }
}

/// The report's cost line.
fn cost_line(
    node_hours: f64,
    local: bool,
    region: Option<&str>,
    priced: Option<&Priced>,
) -> String {
    let hours =
        format!("{node_hours:.3} node-hours (from each node's allocation to the last task's end)");
    let Some((region, priced)) = region.zip(priced) else {
        let place = if local {
            "on the local Batch service, where nothing is billed"
        } else {
            "at this target"
        };
        return format!("{hours} {place}; price unknown: give --region to price them");
    };
    let amount = batchyard_cost::money::format_amount(priced.amount, &priced.currency);
    let what = if local {
        format!(
            "nothing is billed on the local Batch service; in {region} they would cost {amount}"
        )
    } else {
        format!("{amount} in {region}")
    };
    format!("{what} for {hours}; prices: {}", priced.sources.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn node_hours_are_priced_with_the_shipped_snapshot() {
        // Offline: the figures come from batchyard's snapshot (westus, Linux).
        let meters: HashMap<String, (String, Os)> = [
            ("spot".to_owned(), ("Standard_D4_v2".to_owned(), Os::Linux)),
            ("big".to_owned(), ("Standard_D48_v4".to_owned(), Os::Linux)),
        ]
        .into();
        let usage = |pool: &str, spot: bool, node_hours: f64| Usage {
            pool: pool.into(),
            spot,
            node_hours,
        };
        let mut prices = Prices::new(PricesOptions::offline());
        // 10 spot node-hours at 0.113812 and 2 dedicated ones at 2.688.
        let priced = price_usage_with(
            &mut prices,
            &[usage("spot", true, 10.0), usage("big", false, 2.0)],
            &meters,
            "westus",
        )
        .await;
        let amount = priced.amount.unwrap();
        assert!((amount - (1.13812 + 5.376)).abs() < 1e-9, "{amount}");
        let line = cost_line(12.0, false, Some("westus"), Some(&priced));
        assert!(
            line.starts_with("$6.51 in westus for 12.000 node-hours"),
            "{line}"
        );
        assert!(
            line.contains("pool big Standard_D48_v4 dedicated $2.69 per node-hour from batchyard's price snapshot of 2021-11-01"),
            "{line}"
        );

        // A dedicated D4_v2 has no figure: the whole amount is unknown, and says why.
        let priced =
            price_usage_with(&mut prices, &[usage("spot", false, 1.0)], &meters, "westus").await;
        assert_eq!(priced.amount, None);
        let line = cost_line(1.0, false, Some("westus"), Some(&priced));
        assert!(line.starts_with("price unknown in westus"), "{line}");
        assert!(
            line.contains("no linux dedicated price for Standard_D4_v2 in westus"),
            "{line}"
        );
    }
}
