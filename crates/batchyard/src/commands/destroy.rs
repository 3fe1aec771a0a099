//! `batchyard destroy`: delete what the recipe owns, and nothing else.

use batchyard_reconcile::Mode;

use crate::cli::{ChangeArgs, DestroyArgs};
use crate::commands::apply::{finish, plan_and_apply};
use crate::exit::Exit;
use crate::prepared;
use crate::progress::Progress;
use crate::runtime;
use crate::secrets::Needed;
use crate::target::Access;

/// Plans the deletions, asks (or needs `--yes`), deletes.
pub fn run(args: &DestroyArgs) -> miette::Result<Exit> {
    crate::output::set_json_on_stdout(args.output == crate::cli::Output::Json);
    runtime::block_on(async {
        let prepared = prepared::prepare(
            &args.file,
            &args.vars,
            &args.target,
            Access::Change,
            Needed::Storage,
        )
        .await?;
        let progress = Progress::new();
        let change = ChangeArgs {
            yes: args.yes,
            allow_replace: false,
            pool_timeout: "30m".into(),
        };
        let (plan, outcome) =
            plan_and_apply(&prepared, Mode::Destroy, &change, &progress, args.output).await;
        progress.finish();
        let info = prepared.target.info.clone();
        prepared.target.close().await;
        finish(
            args.output,
            "destroy",
            &info,
            &plan,
            &prepared.warnings,
            outcome,
        )
    })
}
