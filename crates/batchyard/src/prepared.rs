//! A compiled recipe and the live state of its target, read at the same time: listing a
//! large job takes about as long as expanding its tasks, so the expansion runs on a
//! blocking thread while the runtime reads the target.

use std::path::Path;

use batchyard_reconcile::{Intent, Observed, Scope};
use miette::miette;

use crate::cli::{TargetArgs, VarArgs};
use crate::recipe;
use crate::target::{self, Target};

/// What plan, apply, run and destroy compare.
pub struct Prepared {
    /// The connected target; close it with [`Target::close`].
    pub target: Target,
    /// Pools, jobs and every task of the recipe.
    pub intent: Intent,
    /// The target's live state of what the recipe is about.
    pub observed: Observed,
}

/// Loads and compiles `file` (its problems end the command before any connection), then
/// connects and observes while the tasks expand. Problems in the tasks are reported before
/// a failure to read the target, as they would be without the overlap.
pub async fn prepare(file: &Path, vars: &VarArgs, args: &TargetArgs) -> miette::Result<Prepared> {
    let (loaded, desired) = recipe::load_and_compile(file, vars)?;
    let target = target::connect(args, Some(file)).await?;
    let scope = Scope::of(&desired);
    let path = file.to_path_buf();
    let expanding = tokio::task::spawn_blocking(move || {
        let mut loaded = loaded;
        recipe::expand(&mut loaded, &desired, &path)
    });
    let observed = batchyard_reconcile::observe_scope(&target.client, &scope).await;
    let intent = match expanding.await {
        Ok(Ok(intent)) => intent,
        Ok(Err(report)) => {
            target.close().await;
            return Err(report);
        }
        Err(join) => {
            target.close().await;
            return Err(miette!("expanding the recipe's tasks stopped: {join}"));
        }
    };
    match observed {
        Ok(observed) => Ok(Prepared {
            target,
            intent,
            observed,
        }),
        Err(e) => {
            target.close().await;
            Err(miette!("{e}"))
        }
    }
}
