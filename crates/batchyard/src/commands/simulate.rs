//! `batchyard simulate`: the recipe run in virtual time (`batchyard-simulate`), with no
//! process started and nothing created; `--duration measured` reads the durations of the
//! last run from the target over REST, as `status` does.

use batchyard_recipe::Code;
use std::collections::HashMap;
use std::fmt::Write as _;

use batchyard_batch::ListOptions;
use batchyard_cost::{PriceKey, Prices, PricesOptions, Priority};
use batchyard_simulate::{
    BootModel, Cost, DurationModel, NoPrices, Options, Price, PriceBook, Simulation, WorkloadError,
};
use futures::TryStreamExt as _;
use miette::miette;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::cli::{Output, SimulateArgs};
use crate::exit::Exit;
use crate::output::emit;
use crate::{recipe, runtime, target};

/// The JSON document (`--output json`).
#[derive(Serialize)]
struct Document<'a> {
    format_version: u32,
    recipe: String,
    model: ModelInfo,
    simulation: &'a Simulation,
    cost: &'a Cost,
}

#[derive(Serialize)]
struct ModelInfo {
    durations: String,
    boot: String,
    spot_preemptions_per_hour: f64,
    seed: u64,
    start: String,
}

pub fn run(args: &SimulateArgs) -> miette::Result<Exit> {
    crate::output::set_json_on_stdout(args.output == Output::Json);
    let (mut loaded, desired) = recipe::load_and_compile(&args.file, &args.vars)?;
    let durations = duration_model(
        &args.duration,
        args.fallback.as_deref(),
        "--duration",
        &args.target,
        &args.file,
        &desired,
    )?;
    let boot = match &args.boot {
        Some(text) => boot_model(text)?,
        None => BootModel::default(),
    };
    if !(args.spot_preemptions.is_finite() && args.spot_preemptions >= 0.0) {
        return Err(miette!(
            code = Code::InvalidArgument,
            help = "give preemptions per spot node-hour, e.g. 0.05, or 0 for none",
            "--spot-preemptions must be a number of 0 or more"
        ));
    }
    let start = match &args.start {
        Some(text) => OffsetDateTime::parse(text, &Rfc3339).map_err(|e| {
            miette!(
                code = Code::InvalidArgument,
                help = "write an RFC 3339 time such as 2026-01-05T09:00:00Z",
                "bad --start {text:?}: {e}"
            )
        })?,
        None => OffsetDateTime::now_utc(),
    };
    let built = batchyard_simulate::workload::build(&loaded, &desired, &durations, args.seed);
    let workload = match built {
        Ok(w) => w,
        Err(WorkloadError::Tasks(problems)) => {
            return Err(recipe::report(&mut loaded, &args.file, problems));
        }
        Err(WorkloadError::Other(text)) => {
            return Err(miette!(
                code = Code::RecipeInvalid,
                help = "fix the recipe, then simulate again",
                "{text}"
            ));
        }
    };
    let options = Options {
        boot: boot.clone(),
        seed: args.seed,
        spot_preemptions_per_hour: args.spot_preemptions,
        start,
        ..Options::default()
    };
    let mut sim = batchyard_simulate::run(&workload, &options);
    let region = crate::cost::region(args.region.as_deref(), args.target.account_url.as_deref());
    let (prices, price_notes) = price_book(region.as_deref(), &desired)?;
    sim.notes.extend(price_notes);
    let cost = batchyard_simulate::cost(&sim, prices.as_ref());
    let model = ModelInfo {
        durations: durations.describe(),
        boot: boot_description(&boot),
        spot_preemptions_per_hour: args.spot_preemptions,
        seed: args.seed,
        start: start.format(&Rfc3339).unwrap_or_default(),
    };
    if let Some(path) = &args.report {
        let timeline = timeline(&desired.recipe, &workload, &sim, &cost);
        fs_err::write(path, crate::report::html(&timeline)).map_err(|e| {
            miette!(
                code = Code::WriteFailed,
                help = "give a writable path to --report",
                "cannot write the report: {e}"
            )
        })?;
    }
    match args.output {
        Output::Json => {
            let doc = Document {
                format_version: 1,
                recipe: desired.recipe.clone(),
                model,
                simulation: &sim,
                cost: &cost,
            };
            let text = serde_json::to_string_pretty(&doc)
                .map_err(|e| miette!(code = Code::Internal, "{e}"))?;
            emit(&format!("{text}\n"));
        }
        Output::Human => emit(&human(&args.file, &model, &sim, &cost)),
    }
    Ok(if sim.finished {
        Exit::Success
    } else {
        Exit::Failure
    })
}

/// The expected run of a recipe that `plan --task-durations` shows: the simulation with
/// its default boot times, no spot preemption and seed 0, priced in the region.
#[derive(Debug, Serialize)]
pub(crate) struct ExpectedRun {
    /// The duration model, described.
    pub task_durations: String,
    /// First node request to the last task's end, in seconds.
    pub makespan_secs: f64,
    /// Node-hours of all pools (dedicated and spot).
    pub node_hours: f64,
    /// The cost; `None` when a price needed is unknown.
    pub cost: Option<f64>,
    /// The currency of `cost`.
    pub currency: Option<String>,
    /// Where the prices came from.
    pub prices: String,
    /// Whether every task completed in the simulation.
    pub finished: bool,
}

impl ExpectedRun {
    /// The plan's line.
    pub fn line(&self) -> String {
        let amount = match (self.cost, &self.currency) {
            (Some(v), Some(c)) => batchyard_cost::money::format_value(v, c),
            _ => "price unknown".into(),
        };
        let unfinished = if self.finished {
            ""
        } else {
            " (some tasks never complete in the simulation: see batchyard simulate)"
        };
        format!(
            "expected cost of the run with task durations {}: {amount} (simulated makespan {}, {:.2} node-hours; prices: {}){unfinished}",
            self.task_durations,
            clock(self.makespan_secs),
            self.node_hours,
            self.prices
        )
    }
}

/// Simulates the compiled recipe with task durations `model` (a `simulate --duration`
/// model) and prices it, for `plan`. Call it outside an async runtime.
pub(crate) fn expected_run(
    file: &std::path::Path,
    vars: &crate::cli::VarArgs,
    target_args: &crate::cli::TargetArgs,
    model: &str,
    fallback: Option<&str>,
    region: &str,
) -> miette::Result<ExpectedRun> {
    let (mut loaded, desired) = recipe::load_and_compile(file, vars)?;
    let durations = duration_model(
        model,
        fallback,
        "--task-durations",
        target_args,
        file,
        &desired,
    )?;
    let workload = match batchyard_simulate::workload::build(&loaded, &desired, &durations, 0) {
        Ok(w) => w,
        Err(WorkloadError::Tasks(problems)) => {
            return Err(recipe::report(&mut loaded, file, problems));
        }
        Err(WorkloadError::Other(text)) => {
            return Err(miette!(
                code = Code::RecipeInvalid,
                help = "fix the recipe, then plan again",
                "{text}"
            ));
        }
    };
    let options = Options {
        start: OffsetDateTime::now_utc(),
        ..Options::default()
    };
    let sim = batchyard_simulate::run(&workload, &options);
    let (prices, _notes) = price_book(Some(region), &desired)?;
    let cost = batchyard_simulate::cost(&sim, prices.as_ref());
    Ok(ExpectedRun {
        task_durations: durations.describe(),
        makespan_secs: sim.makespan_secs,
        node_hours: sim
            .pools
            .iter()
            .map(batchyard_simulate::PoolUsage::node_hours)
            .sum(),
        cost: cost.total,
        currency: cost.currency.clone(),
        prices: cost.source.clone(),
        finished: sim.finished,
    })
}

/// Prices resolved per pool before the simulation, from `batchyard-cost` (the Retail
/// Prices API, the user's cache, or the shipped snapshot, as `plan` prices).
struct PoolPrices {
    by_pool: HashMap<(String, bool), Option<Price>>,
    source: String,
}

impl PriceBook for PoolPrices {
    fn hourly(&self, pool: &str, _vm_size: &str, spot: bool) -> Option<Price> {
        self.by_pool
            .get(&(pool.to_string(), spot))
            .cloned()
            .flatten()
    }
    fn source(&self) -> String {
        self.source.clone()
    }
}

/// The prices the cost is computed with: none without a region.
fn price_book(
    region: Option<&str>,
    desired: &batchyard_compile::Desired,
) -> miette::Result<(Box<dyn PriceBook>, Vec<String>)> {
    let Some(region) = region else {
        return Ok((
            Box::new(NoPrices),
            vec![
                "no region to price in: give --region (or BATCHYARD_REGION), or an --account-url"
                    .into(),
            ],
        ));
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| miette!(code = Code::Internal, "{e}"))?;
    Ok(rt.block_on(async {
        let mut prices = Prices::new(PricesOptions::from_env());
        let mut by_pool = HashMap::new();
        for pool in &desired.pools {
            let os = crate::cost::os_of(pool.facts.os_type);
            for (spot, priority) in [(false, Priority::Dedicated), (true, Priority::Spot)] {
                let key = PriceKey::new(&pool.payload.vm_size, region, os, priority);
                let price = prices.get(&key).await.price().map(|p| Price {
                    per_hour: p.per_hour,
                    currency: p.currency.clone(),
                });
                by_pool.insert((pool.id.clone(), spot), price);
            }
        }
        let mut sources: Vec<String> = prices
            .sources()
            .iter()
            .map(|s| format!("{} of {}", s.origin, s.date))
            .collect();
        if sources.is_empty() {
            sources.push("no source answered".into());
        }
        let source = format!("region {region}: {}", sources.join("; "));
        let notes = prices.notes().to_vec();
        (
            Box::new(PoolPrices { by_pool, source }) as Box<dyn PriceBook>,
            notes,
        )
    }))
}

fn boot_description(boot: &BootModel) -> String {
    if *boot == BootModel::default() {
        format!(
            "{} (allocation to idle, measured in recorded sessions of the real service)",
            boot.describe()
        )
    } else {
        boot.describe()
    }
}

/// The duration model `text` names (`flag` is the option that gave it, for messages);
/// `measured` reads the last run of the recipe `file` from `target_args`.
pub(crate) fn duration_model(
    text: &str,
    fallback_text: Option<&str>,
    flag: &str,
    target_args: &crate::cli::TargetArgs,
    file: &std::path::Path,
    desired: &batchyard_compile::Desired,
) -> miette::Result<DurationModel> {
    let text = text.trim();
    let fallback = || -> miette::Result<Box<DurationModel>> {
        let Some(f) = fallback_text else {
            return Err(miette!(
                code = Code::InvalidArgument,
                help = "add e.g. --fallback 60s: it is used for tasks with no value",
                "{flag} {text} needs --fallback"
            ));
        };
        Ok(Box::new(base_model(f)?))
    };
    if let Some(name) = text.strip_prefix("column:") {
        return Ok(DurationModel::Column {
            name: name.trim().to_string(),
            fallback: fallback()?,
        });
    }
    if text == "measured" {
        let fallback = fallback()?;
        let by_task = measured(target_args, file, desired)?;
        if by_task.is_empty() {
            return Err(miette!(
                code = Code::NothingMeasured,
                help = format!("run the recipe first (batchyard run FILE), or give {flag} a time"),
                "no completed task of this recipe's jobs was found on the target to measure"
            ));
        }
        return Ok(DurationModel::Measured { by_task, fallback });
    }
    if fallback_text.is_some() {
        return Err(miette!(
            code = Code::InvalidArgument,
            help = format!("drop --fallback, or use {flag} column:NAME or measured"),
            "--fallback applies only to {flag} column:NAME and measured"
        ));
    }
    base_model(text)
}

fn base_model(text: &str) -> miette::Result<DurationModel> {
    let text = text.trim();
    if let Some(range) = text.strip_prefix("uniform:") {
        let (low, high) = range.split_once("..").ok_or_else(|| {
            miette!(
                code = Code::InvalidArgument,
                help = "write e.g. uniform:30s..90s",
                "bad duration model {text:?}"
            )
        })?;
        let (low, high) = (seconds(low)?, seconds(high)?);
        if high < low {
            return Err(miette!(
                code = Code::InvalidArgument,
                help = "put the shorter time first",
                "uniform:{low}..{high} has its bounds reversed"
            ));
        }
        return Ok(DurationModel::Uniform { low, high });
    }
    if let Some(pair) = text.strip_prefix("normal:") {
        let (mean, std) = pair.split_once(',').ok_or_else(|| {
            miette!(
                code = Code::InvalidArgument,
                help = "write e.g. normal:60s,10s (mean, standard deviation)",
                "bad duration model {text:?}"
            )
        })?;
        return Ok(DurationModel::Normal {
            mean: seconds(mean)?,
            std: seconds(std)?,
        });
    }
    if text.starts_with("column:") || text == "measured" {
        return Err(miette!(
            code = Code::InvalidArgument,
            help = "give a time, uniform:LOW..HIGH or normal:MEAN,STD",
            "{text} cannot be a fallback"
        ));
    }
    Ok(DurationModel::Fixed(seconds(text)?))
}

fn boot_model(text: &str) -> miette::Result<BootModel> {
    match text.split_once("..") {
        Some((low, high)) => {
            let (low, high) = (seconds(low)?, seconds(high)?);
            if high < low {
                return Err(miette!(
                    code = Code::InvalidArgument,
                    help = "put the shorter time first",
                    "--boot {text} has its bounds reversed"
                ));
            }
            Ok(BootModel::Uniform { low, high })
        }
        None => Ok(BootModel::Fixed(seconds(text)?)),
    }
}

/// Seconds from `90s`, `1.5`, `5m`, `2h` or ISO 8601.
fn seconds(text: &str) -> miette::Result<f64> {
    let text = text.trim();
    if let Ok(v) = text.parse::<f64>()
        && v.is_finite()
        && v >= 0.0
    {
        return Ok(v);
    }
    if let Some(v) = text.strip_suffix('s').and_then(|n| n.parse::<f64>().ok())
        && v.is_finite()
        && v >= 0.0
    {
        return Ok(v);
    }
    Ok(runtime::parse_duration(text)?.as_secs_f64())
}

/// The durations of the completed tasks of the recipe's jobs on the target, by (job, task).
fn measured(
    target_args: &crate::cli::TargetArgs,
    file: &std::path::Path,
    desired: &batchyard_compile::Desired,
) -> miette::Result<HashMap<(String, String), f64>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| miette!(code = Code::Internal, "{e}"))?;
    rt.block_on(async {
        let target = target::connect(target_args, Some(file), target::Access::Read).await?;
        let mut out = HashMap::new();
        let mut result = Ok(());
        for job in &desired.jobs {
            let options = ListOptions {
                filter: Some("state eq 'completed'".into()),
                select: Some("id,executionInfo".into()),
                ..ListOptions::default()
            };
            let listed: Result<Vec<_>, _> = target
                .client
                .list_tasks(&job.id, &options)
                .try_collect()
                .await;
            match listed {
                Ok(tasks) => {
                    for task in tasks {
                        let (Some(id), Some(info)) = (task.id, task.execution_info) else {
                            continue;
                        };
                        if let (Some(start), Some(end)) = (info.start_time, info.end_time)
                            && let (Ok(s), Ok(e)) = (
                                OffsetDateTime::parse(&start, &Rfc3339),
                                OffsetDateTime::parse(&end, &Rfc3339),
                            )
                        {
                            out.insert((job.id.clone(), id), (e - s).as_seconds_f64().max(0.0));
                        }
                    }
                }
                // A job that was never created has nothing to measure.
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    result = Err(miette!(
                        code = crate::fail::batch_code(&e),
                        "cannot list the tasks of job {}: {e}",
                        job.id
                    ));
                    break;
                }
            }
        }
        target.close().await;
        result.map(|()| out)
    })
}

fn human(file: &std::path::Path, model: &ModelInfo, sim: &Simulation, cost: &Cost) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "simulated {} in virtual time (no process started, nothing created)",
        file.display()
    );
    let _ = writeln!(s, "  durations: {}", model.durations);
    let _ = writeln!(s, "  boot:      {}", model.boot);
    let _ = writeln!(
        s,
        "  spot preemptions: {} per node-hour; seed {}; start {}",
        model.spot_preemptions_per_hour, model.seed, model.start
    );
    let _ = writeln!(s);
    let t = &sim.tasks;
    if sim.finished {
        let _ = writeln!(s, "makespan   {}", clock(sim.makespan_secs));
    } else {
        let _ = writeln!(
            s,
            "makespan   not reached: {} of {} tasks never completed (stopped at {})",
            t.never_completed,
            t.total,
            clock(sim.makespan_secs)
        );
    }
    let _ = write!(s, "tasks      {} succeeded of {}", t.succeeded, t.total);
    if t.failed > 0 {
        let _ = write!(s, ", {} failed (pool shrank with terminate)", t.failed);
    }
    if t.requeued_runs > 0 {
        let _ = write!(s, ", {} runs requeued", t.requeued_runs);
    }
    let _ = writeln!(s);
    for (p, c) in sim.pools.iter().zip(&cost.pools) {
        let total = p.node_hours();
        let pct = |h: f64| {
            if total > 0.0 { h * 100.0 / total } else { 0.0 }
        };
        let _ = writeln!(
            s,
            "pool {} ({}, {} slot{} per node, at most {} node{})",
            p.id,
            p.vm_size,
            p.slots_per_node,
            if p.slots_per_node == 1 { "" } else { "s" },
            p.max_nodes,
            if p.max_nodes == 1 { "" } else { "s" }
        );
        let _ = writeln!(
            s,
            "  node-hours {total:.2} (dedicated {:.2}, spot {:.2}){}",
            p.dedicated_node_hours,
            p.spot_node_hours,
            if p.preemptions > 0 {
                format!(", {} preemptions", p.preemptions)
            } else {
                String::new()
            }
        );
        let _ = writeln!(
            s,
            "  busy {:.2} h ({:.0}%), idle {:.2} h ({:.0}%), booting {:.2} h ({:.0}%)",
            p.busy_node_hours,
            pct(p.busy_node_hours),
            p.idle_node_hours,
            pct(p.idle_node_hours),
            p.booting_node_hours,
            pct(p.booting_node_hours)
        );
        let _ = writeln!(
            s,
            "  cost {}",
            match (c.cost, &cost.currency) {
                (Some(v), Some(cur)) => format!("{v:.2} {cur}"),
                (Some(0.0), None) => "0".to_string(),
                _ => format!("price unknown for {}", p.vm_size),
            }
        );
    }
    let _ = writeln!(
        s,
        "cost       {} (prices: {})",
        match (cost.total, &cost.currency) {
            (Some(v), Some(cur)) => format!("{v:.2} {cur}"),
            _ => "price unknown".to_string(),
        },
        cost.source
    );
    if !sim.autoscale.is_empty() {
        let _ = writeln!(
            s,
            "autoscale trace (evaluations that changed a target, and errors):"
        );
        let mut last: HashMap<&str, (i64, i64)> = HashMap::new();
        let mut quiet = 0usize;
        for e in &sim.autoscale {
            let targets = (e.target_dedicated, e.target_spot);
            let changed = last.insert(&e.pool, targets) != Some(targets);
            if !changed && e.error.is_none() {
                quiet += 1;
                continue;
            }
            let _ = write!(
                s,
                "  {:>9}  {}  dedicated {} spot {}  (saw {} active, {} running, {} nodes)",
                clock(e.at_secs),
                e.pool,
                e.target_dedicated,
                e.target_spot,
                e.active_tasks,
                e.running_tasks,
                e.nodes
            );
            if let Some(err) = &e.error {
                let _ = write!(s, "  error: {err}");
            }
            let _ = writeln!(s);
        }
        if quiet > 0 {
            let _ = writeln!(
                s,
                "  ({quiet} more evaluation{} left the targets as they were; --output json lists all)",
                if quiet == 1 { "" } else { "s" }
            );
        }
    }
    if !sim.notes.is_empty() {
        let _ = writeln!(s, "notes:");
        for n in &sim.notes {
            let _ = writeln!(s, "  - {n}");
        }
    }
    s
}

/// `1h 02m 03s`, `4m 05s`, `12.5s`.
fn clock(secs: f64) -> String {
    if secs < 60.0 {
        return format!("{}s", (secs * 10.0).round() / 10.0);
    }
    let total = secs.round() as u64;
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    if h > 0 {
        format!("{h}h {m:02}m {s:02}s")
    } else {
        format!("{m}m {s:02}s")
    }
}

/// The report's timeline of a simulated run: nodes from request to removal, every run.
fn timeline(
    recipe: &str,
    workload: &batchyard_simulate::Workload,
    sim: &Simulation,
    cost: &Cost,
) -> crate::report::Timeline {
    use crate::report::{NodeRow, TaskBar, Timeline};
    let secs = |ms: u64| ms as f64 / 1000.0;
    let nodes = sim
        .nodes
        .iter()
        .map(|n| NodeRow {
            id: n.id.clone(),
            pool: workload.pools[n.pool as usize].id.clone(),
            from: Some(secs(n.requested_ms)),
            to: n.gone_ms.map(secs),
        })
        .collect();
    let mut tasks: Vec<TaskBar> = sim
        .runs
        .iter()
        .map(|r| {
            let t = r.task as usize;
            let outcome = match r.outcome {
                batchyard_simulate::RunOutcome::Succeeded => "succeeded",
                batchyard_simulate::RunOutcome::Requeued => "requeued",
                batchyard_simulate::RunOutcome::Terminated => "failed",
            };
            TaskBar {
                id: workload.tasks.ids[t].to_string(),
                job: workload.jobs[workload.tasks.job[t] as usize].id.clone(),
                node: Some(r.node as usize),
                start: secs(r.start_ms),
                end: secs(r.end_ms),
                exit_code: None,
                outcome: outcome.into(),
            }
        })
        .collect();
    tasks.sort_by(|a, b| a.start.total_cmp(&b.start));
    Timeline {
        title: format!("simulated run of {recipe}"),
        origin: "simulation in virtual time (batchyard simulate): no process ran; exit codes are not simulated".into(),
        nodes,
        tasks,
        cost: match (cost.total, &cost.currency) {
            (Some(v), Some(c)) => format!("{v:.2} {c} ({})", cost.source),
            _ => format!("price unknown ({})", cost.source),
        },
    }
}
