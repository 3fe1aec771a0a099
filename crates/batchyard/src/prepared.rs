//! A compiled recipe and the live state of its target, read at the same time: listing a
//! large job takes about as long as expanding its tasks, so the expansion runs on a
//! blocking thread while the runtime reads the target.

use batchyard_recipe::Code;
use std::path::Path;

use batchyard_reconcile::{Intent, Observed, Scope};
use miette::miette;

use crate::cli::{TargetArgs, VarArgs};
use crate::recipe;
use crate::secrets::Needed;
use crate::target::{self, Access, Target};
use batchyard_secrets::SecretValues;

/// What plan, apply, run and destroy compare.
pub struct Prepared {
    /// The connected target; close it with [`Target::close`].
    pub target: Target,
    /// Pools, jobs and every task of the recipe.
    pub intent: Intent,
    /// The target's live state of what the recipe is about.
    pub observed: Observed,
    /// The uploads apply will make, when the recipe has `storage`.
    pub data: Option<crate::data::DataStep>,
    /// The recipe's warnings (a retired VM size or image, ...), for `--output json`; they
    /// were printed on stderr already.
    pub warnings: Vec<batchyard_recipe::report::JsonDiagnostic>,
    /// The values of the recipe's secrets, read once for the whole command.
    pub secrets: SecretValues,
}

/// Loads and compiles `file` (its problems end the command before any connection), reads
/// the secrets `needed` (one that cannot be read is an error at its place in the recipe,
/// before any connection), then connects and observes while the tasks expand. Problems in the tasks end the command as
/// soon as the expansion finds them, without waiting for a slow or unreachable target.
pub async fn prepare(
    file: &Path,
    vars: &VarArgs,
    args: &TargetArgs,
    access: Access,
    needed: Needed,
) -> miette::Result<Prepared> {
    let (mut loaded, mut desired) = recipe::load_and_compile(file, vars)?;
    let warnings = loaded.json_diagnostics();
    target::check_local_support(args, &desired)?;
    let secrets = crate::secrets::resolve(&mut loaded, &desired.pools, file, needed).await?;
    let target = target::connect(args, Some(file), access).await?;
    let storage = match attach_storage(&loaded, &mut desired, &target, &secrets).await {
        Ok(s) => s,
        Err(e) => {
            target.close().await;
            return Err(e);
        }
    };
    let scope = Scope::of(&desired);
    let path = file.to_path_buf();
    let mut expanding = tokio::task::spawn_blocking(move || {
        let mut loaded = loaded;
        recipe::expand(&mut loaded, &desired, &path).map(|intent| (intent, desired))
    });
    // In a block, so that the listing (which borrows the client) is over, or dropped and
    // with it cancelled, before the target is handed on or closed.
    let (expanded, observed) = {
        let observing = batchyard_reconcile::observe_scope(&target.client, &scope);
        tokio::pin!(observing);
        tokio::select! {
            expanded = &mut expanding => match expanded {
                Ok(Ok(intent)) => (Ok(Ok(intent)), observing.await),
                other => (other, Ok(Default::default())),
            },
            observed = &mut observing => (expanding.await, observed),
        }
    };
    let result = match (expanded, observed) {
        (Ok(Ok((intent, desired))), Ok(observed)) => match storage {
            Some(storage) => crate::data::plan(file, &desired, storage)
                .await
                .map(|data| (intent, observed, Some(data))),
            None => Ok((intent, observed, None)),
        },
        (Ok(Err(report)), _) => Err(report),
        (Err(join), _) => Err(miette!(
            code = Code::Internal,
            "expanding the recipe's tasks stopped: {join}"
        )),
        (Ok(Ok(_)), Err(e)) => Err(miette!(code = crate::fail::observe_code(&e), "{e}")),
    };
    match result {
        Ok((intent, observed, data)) => Ok(Prepared {
            target,
            intent,
            observed,
            data,
            warnings,
            secrets,
        }),
        Err(report) => {
            target.close().await;
            Err(report)
        }
    }
}

/// Opens the recipe's storage (if it has one), points the tasks at it, and lists what its
/// `blobs` factories iterate over.
async fn attach_storage(
    loaded: &batchyard_recipe::Loaded,
    desired: &mut batchyard_compile::Desired,
    target: &Target,
    secrets: &SecretValues,
) -> miette::Result<Option<crate::data::Storage>> {
    let Some(recipe) = loaded.recipe.as_ref() else {
        return Ok(None);
    };
    let storage = crate::data::open(recipe, target, secrets)?;
    if let Some(s) = &storage {
        desired.set_storage(s.location());
    }
    let listings = crate::data::list_factories(recipe, storage.as_ref()).await?;
    desired.set_blob_listings(listings);
    Ok(storage)
}
