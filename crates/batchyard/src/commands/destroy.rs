//! `batchyard destroy`: delete what the recipe owns, and nothing else.

use batchyard_reconcile::Mode;

use crate::cli::{ChangeArgs, DestroyArgs};
use crate::commands::apply::plan_and_apply;
use crate::exit::Exit;
use crate::progress::Progress;
use crate::{recipe, runtime, target};

/// Plans the deletions, asks (or needs `--yes`), deletes.
pub fn run(args: &DestroyArgs) -> miette::Result<Exit> {
    runtime::block_on(async {
        let compiled = recipe::compile(&args.file, &args.vars)?;
        let target = target::connect(&args.target, Some(&args.file)).await?;
        let progress = Progress::new();
        let change = ChangeArgs {
            yes: args.yes,
            allow_replace: false,
            pool_timeout: "30m".into(),
        };
        let result =
            plan_and_apply(&target, &compiled.intent, Mode::Destroy, &change, &progress).await;
        progress.finish();
        target.close().await;
        result.map(|_| Exit::Success)
    })
}
