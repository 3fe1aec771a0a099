//! `batchyard apply`: make the target match the recipe.

use batchyard_recipe::Code;
use std::io::{BufRead as _, IsTerminal as _, Write as _};

use batchyard_recipe::report::JsonDiagnostic;
use batchyard_reconcile::{ApplyOptions, ApplyReport, Mode, Plan, PoolWait};
use miette::miette;
use serde_json::{Value, json};

use crate::cli::{ApplyArgs, ChangeArgs, Output};
use crate::commands::plan;
use crate::exit::Exit;
use crate::output::outln;
use crate::prepared::{self, Prepared};
use crate::progress::Progress;
use crate::runtime;
use crate::secrets::Needed;
use crate::target::{Access, TargetInfo};

/// Plans, asks when it must, applies.
pub fn run(args: &ApplyArgs) -> miette::Result<Exit> {
    crate::output::set_json_on_stdout(args.output == crate::cli::Output::Json);
    runtime::block_on(async {
        let prepared = prepared::prepare(
            &args.file,
            &args.vars,
            &args.target,
            Access::Change,
            Needed::All,
        )
        .await?;
        let progress = Progress::new();
        let (plan, outcome) =
            plan_and_apply(&prepared, Mode::Apply, &args.change, &progress, args.output).await;
        progress.finish();
        let info = prepared.target.info.clone();
        prepared.target.close().await;
        finish(
            args.output,
            "apply",
            &info,
            &plan,
            &prepared.warnings,
            outcome,
        )
    })
}

/// Ends `apply` or `destroy`: in JSON, the one document on stdout (also when apply
/// refused, with the reason in `error`); the error, if any, also on stderr.
pub fn finish(
    output: Output,
    command: &str,
    info: &TargetInfo,
    plan: &Plan,
    warnings: &[JsonDiagnostic],
    outcome: miette::Result<Option<ApplyReport>>,
) -> miette::Result<Exit> {
    if output == Output::Json {
        let mut doc = json!({ "format_version": 1, "command": command });
        append(&mut doc, &applied_json(info, plan, warnings, &outcome));
        outln!("{}", to_text(&doc));
    }
    outcome.map(|_| Exit::Success)
}

/// `plan`, `applied`, `result`, `error` and `warnings`: what apply, destroy and run print
/// in JSON. The warnings are the recipe's, at the top level as in plan's document.
pub fn applied_json(
    info: &TargetInfo,
    plan: &Plan,
    warnings: &[JsonDiagnostic],
    outcome: &miette::Result<Option<ApplyReport>>,
) -> Value {
    let (result, error, error_code) = match outcome {
        Ok(Some(report)) => (
            json!({
                "actions": report.actions,
                "tasks_added": report.tasks_added,
                "tasks_present": report.tasks_present,
            }),
            Value::Null,
            Value::Null,
        ),
        Ok(None) => (Value::Null, Value::Null, Value::Null),
        Err(e) => (
            Value::Null,
            json!(e.to_string()),
            crate::output::error_code(e),
        ),
    };
    let mut plan_doc = plan::to_json(info, plan, warnings);
    if let Some(map) = plan_doc.as_object_mut() {
        map.remove("format_version");
        map.remove("warnings");
    }
    json!({
        "plan": plan_doc,
        "applied": matches!(outcome, Ok(Some(_))),
        "result": result,
        "error": error,
        "error_code": error_code,
        "warnings": warnings,
    })
}

/// Adds the members of `extra` to the object `doc`.
pub fn append(doc: &mut Value, extra: &Value) {
    if let (Some(doc), Some(extra)) = (doc.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            doc.insert(k.clone(), v.clone());
        }
    }
}

/// Pretty JSON text of a document built here (it cannot fail to serialize).
pub fn to_text(doc: &Value) -> String {
    serde_json::to_string_pretty(doc).unwrap_or_else(|_| "{}".into())
}

/// Prints the plan (for people) and applies it. Refuses (an error, nothing changed) on
/// conflicts, on replacements without `--allow-replace`, and on destructive actions
/// without `--yes` when there is no terminal to ask on. The report is `None` when there
/// was nothing to do.
pub async fn plan_and_apply(
    prepared: &Prepared,
    mode: Mode,
    change: &ChangeArgs,
    progress: &Progress,
    output: Output,
) -> (Plan, miette::Result<Option<ApplyReport>>) {
    let Prepared {
        target,
        intent,
        observed,
        data,
        ..
    } = prepared;
    let plan = batchyard_reconcile::diff(intent, observed, mode);
    if output == Output::Human {
        plan::print_human(&target.info, &plan);
        if let Some(d) = data.as_ref().filter(|_| mode != Mode::Destroy) {
            outln!("{}", d.summary());
        }
    }
    let outcome = carry_out(prepared, &plan, mode, change, progress).await;
    if output == Output::Human
        && let Ok(Some(report)) = &outcome
    {
        progress.finish();
        match mode {
            Mode::Destroy => outln!("Destroy complete: {} deletion(s) done.", report.actions),
            _ => outln!(
                "Apply complete: {} action(s), {} task(s) added, {} already present.",
                report.actions,
                report.tasks_added,
                report.tasks_present
            ),
        }
    }
    (plan, outcome)
}

async fn carry_out(
    prepared: &Prepared,
    plan: &Plan,
    mode: Mode,
    change: &ChangeArgs,
    progress: &Progress,
) -> miette::Result<Option<ApplyReport>> {
    let data = prepared.data.as_ref().filter(|_| mode != Mode::Destroy);
    if !plan.has_changes() {
        // Inputs whose blobs went missing are sent again even when Batch needs nothing.
        if let Some(d) = data {
            d.upload(progress).await?;
        }
        return Ok(None);
    }
    let verb = match mode {
        Mode::Destroy => "destroy",
        _ => "apply",
    };
    if plan.blocking() > 0 {
        return Err(miette!(
            code = Code::ApplyRefused,
            help = format!(
                "resolve the conflicts shown in the plan (rename the resource in the recipe, or remove the existing one yourself), then {verb} again"
            ),
            "the plan has {} conflict(s) or blocked resource(s); nothing was changed",
            plan.blocking()
        ));
    }
    if plan.needing_replace() > 0 && !change.allow_replace {
        return Err(miette!(
            code = Code::ApplyRefused,
            help = "pass --allow-replace to drain or replace as planned",
            "the plan drains or replaces {} resource(s); apply refuses without --allow-replace, nothing was changed",
            plan.needing_replace()
        ));
    }
    if plan.destructive() > 0 && !change.yes {
        confirm(plan.destructive(), verb)?;
    }
    let options = ApplyOptions {
        allow_replace: change.allow_replace,
        wait: PoolWait {
            timeout: runtime::parse_duration(&change.pool_timeout)?,
            ..PoolWait::default()
        },
        secrets: prepared.secrets.clone(),
        ..ApplyOptions::default()
    };
    // Every input is in storage before any task that reads it is added, and the nodes'
    // SAS tokens go only into the requests.
    let signed;
    let intent = match data {
        Some(d) => {
            d.upload(progress).await?;
            signed = d.sign(&prepared.intent)?;
            &signed
        }
        None => &prepared.intent,
    };
    let sink = |event| progress.event(event);
    batchyard_reconcile::apply(&prepared.target.client, intent, plan, &options, &sink)
        .await
        .map(Some)
        .map_err(|e| miette!(code = crate::fail::apply_code(&e), "{e}"))
}

/// Asks on a terminal; without one, refuses.
fn confirm(count: usize, verb: &str) -> miette::Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(miette!(
            code = Code::ApplyRefused,
            help = format!("pass --yes to {verb} without a terminal (e.g. in CI)"),
            "the plan has {count} destructive action(s) and there is no terminal to ask on; nothing was changed"
        ));
    }
    eprint!("The plan has {count} destructive action(s). Type `yes` to {verb}: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| miette!(code = Code::ApplyRefused, "cannot read the answer: {e}"))?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(miette!(
            code = Code::ApplyRefused,
            "not confirmed; nothing was changed"
        ))
    }
}
