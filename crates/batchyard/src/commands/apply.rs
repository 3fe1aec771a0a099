//! `batchyard apply`: make the target match the recipe.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use batchyard_reconcile::{ApplyOptions, Mode, Plan, PoolWait};
use miette::miette;

use crate::cli::{ApplyArgs, ChangeArgs};
use crate::commands::plan;
use crate::exit::Exit;
use crate::output::outln;
use crate::prepared::{self, Prepared};
use crate::progress::Progress;
use crate::runtime;
use crate::target::Access;

/// Plans, asks when it must, applies.
pub fn run(args: &ApplyArgs) -> miette::Result<Exit> {
    runtime::block_on(async {
        let prepared =
            prepared::prepare(&args.file, &args.vars, &args.target, Access::Change).await?;
        let progress = Progress::new();
        let result = plan_and_apply(&prepared, Mode::Apply, &args.change, &progress).await;
        progress.finish();
        prepared.target.close().await;
        result.map(|_| Exit::Success)
    })
}

/// Prints the plan and applies it. Refuses (an error, nothing changed) on conflicts, on
/// replacements without `--allow-replace`, and on destructive actions without `--yes`
/// when there is no terminal to ask on.
pub async fn plan_and_apply(
    prepared: &Prepared,
    mode: Mode,
    change: &ChangeArgs,
    progress: &Progress,
) -> miette::Result<Plan> {
    let Prepared {
        target,
        intent,
        observed,
    } = prepared;
    let plan = batchyard_reconcile::diff(intent, observed, mode);
    plan::print_human(&target.info, &plan);
    if !plan.has_changes() {
        return Ok(plan);
    }
    if plan.blocking() > 0 {
        return Err(miette!(
            help = "resolve the conflicts shown above (rename the resource in the recipe, or remove the existing one yourself), then apply again",
            "the plan has {} conflict(s) or blocked resource(s); nothing was changed",
            plan.blocking()
        ));
    }
    if plan.needing_replace() > 0 && !change.allow_replace {
        return Err(miette!(
            help = "pass --allow-replace to drain or replace as planned",
            "the plan drains or replaces {} resource(s); apply refuses without --allow-replace, nothing was changed",
            plan.needing_replace()
        ));
    }
    if plan.destructive() > 0 && !change.yes {
        confirm(plan.destructive())?;
    }
    let options = ApplyOptions {
        allow_replace: change.allow_replace,
        wait: PoolWait {
            timeout: runtime::parse_duration(&change.pool_timeout)?,
            ..PoolWait::default()
        },
        ..ApplyOptions::default()
    };
    let sink = |event| progress.event(event);
    let report = batchyard_reconcile::apply(&target.client, intent, &plan, &options, &sink)
        .await
        .map_err(|e| miette!("{e}"))?;
    progress.finish();
    outln!(
        "Apply complete: {} action(s), {} task(s) added, {} already present.",
        report.actions,
        report.tasks_added,
        report.tasks_present
    );
    Ok(plan)
}

/// Asks on a terminal; without one, refuses.
fn confirm(count: usize) -> miette::Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(miette!(
            help = "pass --yes to apply destructive actions without a terminal (e.g. in CI)",
            "the plan has {count} destructive action(s) and there is no terminal to ask on; nothing was changed"
        ));
    }
    eprint!("The plan has {count} destructive action(s). Type `yes` to apply it: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| miette!("cannot read the answer: {e}"))?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(miette!("not confirmed; nothing was changed"))
    }
}
