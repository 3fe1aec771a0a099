//! `batchyard plan`: what apply would change, and why.

use batchyard_recipe::Code;
use batchyard_recipe::report::JsonDiagnostic;
use batchyard_reconcile::{Mode, Plan};
use serde_json::{Value, json};

use crate::cli::{Output, PlanArgs};
use crate::exit::Exit;
use crate::output::outln;
use crate::output::{Color, paint, stdout_color};
use crate::prepared::{self, Prepared};
use crate::runtime;
use crate::secrets::Needed;
use crate::target::{Access, TargetInfo};

/// Prints the plan; exit status per `--detailed-exitcode`.
pub fn run(args: &PlanArgs) -> miette::Result<Exit> {
    crate::output::set_json_on_stdout(args.output == crate::cli::Output::Json);
    let region = crate::cost::region(args.region.as_deref(), args.target.account_url.as_deref());
    let duration = args
        .duration
        .as_deref()
        .map(runtime::parse_duration)
        .transpose()?;
    if duration.is_some() && region.is_none() {
        return Err(miette::miette!(
            code = Code::InvalidArgument,
            help = "add --region REGION (e.g. --region eastus) to price the pools there",
            "--duration prices the run, but this target has no Azure region"
        ));
    }
    // The simulation reads a measured run and prices with runtimes of its own: before ours.
    let expected = match (&args.task_durations, &region) {
        (Some(model), Some(r)) => Some(super::simulate::expected_run(
            &args.file,
            &args.vars,
            &args.target,
            model,
            args.fallback.as_deref(),
            r,
        )?),
        (Some(_), None) => {
            return Err(miette::miette!(
                code = Code::InvalidArgument,
                help = "add --region REGION (e.g. --region eastus) to price the pools there",
                "--task-durations prices the run, but this target has no Azure region"
            ));
        }
        (None, _) => None,
    };
    runtime::block_on(async {
        let Prepared {
            target,
            intent,
            observed,
            data,
            warnings,
            ..
        } = prepared::prepare(
            &args.file,
            &args.vars,
            &args.target,
            Access::Read,
            Needed::All,
        )
        .await?;
        let plan = batchyard_reconcile::diff(&intent, &observed, Mode::Apply);
        let preflight = crate::preflight::check(
            &target.client,
            &target.info,
            args.account_resource_id.as_deref(),
            &intent,
        )
        .await;
        let cost = match &region {
            Some(r) => Some(
                crate::cost::estimate(
                    &intent,
                    &observed,
                    r,
                    duration,
                    batchyard_cost::PricesOptions::from_env(),
                )
                .await,
            ),
            None => None,
        };
        // The process ends once the plan is printed: freeing a large job's desired and live
        // tasks one allocation at a time would cost a good part of what the diff did.
        std::mem::forget((intent, observed));
        let info = target.info.clone();
        target.close().await;
        // Warnings go to stderr, as the recipe's own diagnostics do: stdout stays the plan.
        for w in &preflight.warnings {
            eprintln!("warning: {w}");
        }
        for n in &preflight.notes {
            eprintln!("note: {n}");
        }
        match args.output {
            Output::Human => {
                print_human(&info, &plan);
                if let Some(c) = &cost {
                    outln!();
                    for line in c.lines() {
                        outln!("{line}");
                    }
                }
                if let Some(e) = &expected {
                    outln!("{}", e.line());
                }
                if let Some(d) = &data {
                    outln!("{}", d.summary());
                }
            }
            Output::Json => {
                let mut v = to_json(&info, &plan, &warnings);
                if let (Some(d), Some(map)) = (&data, v.as_object_mut()) {
                    map.insert("data".into(), d.to_json());
                }
                if let (false, Some(map)) = (preflight.is_empty(), v.as_object_mut()) {
                    map.insert(
                        "preflight".into(),
                        serde_json::to_value(&preflight).unwrap_or(Value::Null),
                    );
                }
                if let (Some(c), Some(map)) = (&cost, v.as_object_mut()) {
                    map.insert(
                        "cost".into(),
                        serde_json::to_value(c).unwrap_or(Value::Null),
                    );
                }
                if let (Some(e), Some(map)) = (&expected, v.as_object_mut()) {
                    map.insert(
                        "expected_run".into(),
                        serde_json::to_value(e).unwrap_or(Value::Null),
                    );
                }
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&v).unwrap_or_else(|_| "{}".into())
                );
            }
        }
        if plan.blocking() > 0 {
            return Ok(Exit::Failure);
        }
        let uploads = data.as_ref().is_some_and(|d| !d.plan.missing.is_empty());
        Ok(
            if args.detailed_exitcode && (plan.has_changes() || uploads) {
                Exit::Changes
            } else {
                Exit::Success
            },
        )
    })
}

/// The documented `--output json` shape (see docs/cli.md). `warnings` are the recipe's,
/// in the shape of `validate --output json`'s diagnostics.
pub fn to_json(info: &TargetInfo, plan: &Plan, warnings: &[JsonDiagnostic]) -> Value {
    let actions: Vec<Value> = plan
        .actions
        .iter()
        .map(|a| {
            let mut v = serde_json::to_value(a).unwrap_or(Value::Null);
            if let Some(map) = v.as_object_mut() {
                map.insert("summary".into(), json!(a.summary()));
            }
            v
        })
        .collect();
    let mut target = serde_json::to_value(info).unwrap_or(Value::Null);
    // The local service listens on a port picked at its start: leaving it out keeps the
    // plan of the same recipe and state byte-identical from run to run.
    if info.state_dir.is_some()
        && let Some(map) = target.as_object_mut()
    {
        map.remove("url");
    }
    json!({
        "format_version": 1,
        "target": target,
        "recipe": plan.recipe,
        "changes": plan.has_changes(),
        "counts": plan.counts(),
        "blocking": plan.blocking(),
        "actions": actions,
        "notes": plan.notes,
        "warnings": warnings,
    })
}

/// The human plan on stdout: target, actions with reasons and details, a count line.
pub fn print_human(info: &TargetInfo, plan: &Plan) {
    let color = stdout_color();
    outln!("{info}");
    outln!("recipe: {}", plan.recipe);
    outln!();
    if plan.actions.is_empty() {
        outln!("No changes: the target matches the recipe.");
    }
    for action in &plan.actions {
        let symbol = action.change.symbol();
        let tint = match symbol {
            "+" => Color::Green,
            "~" => Color::Yellow,
            _ => Color::Red,
        };
        outln!(
            "  {} {}",
            paint(&format!("{symbol:>3}"), tint, color),
            action.summary()
        );
        for line in action.details() {
            outln!("        {line}");
        }
        outln!("        {}", paint(&action.reason, Color::Dim, color));
    }
    for note in &plan.notes {
        outln!("  note: {note}");
    }
    if !plan.actions.is_empty() {
        let c = plan.counts();
        outln!();
        outln!(
            "Plan: {} to create, {} to change, {} to replace, {} to delete{}.",
            c.create,
            c.change,
            c.replace,
            c.delete,
            if c.blocked > 0 {
                format!(", {} blocked", c.blocked)
            } else {
                String::new()
            }
        );
    }
}
