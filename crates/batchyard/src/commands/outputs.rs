//! `batchyard outputs`: download what a job's tasks uploaded, a folder per task.

use batchyard_recipe::Code;
use std::path::{Path, PathBuf};

use miette::miette;

use crate::cli::OutputsArgs;
use crate::data;
use crate::exit::Exit;
use crate::progress::Progress;
use crate::secrets::Needed;
use crate::target::Target;
use crate::{input, runtime, target};
use batchyard_secrets::SecretValues;

/// Downloads into `-o DIR` (default: a folder named after the job); files already there
/// with the same size are skipped.
pub fn run(args: &OutputsArgs) -> miette::Result<Exit> {
    runtime::block_on(async {
        let overrides = input::overrides(&args.vars)?;
        let mut loaded = input::load(&args.recipe, &overrides)?;
        if loaded.has_errors() || loaded.recipe.is_none() {
            return Err(miette!(
                code = Code::RecipeInvalid,
                help = format!("run `batchyard validate {}`", args.recipe.display()),
                "{} has errors",
                args.recipe.display()
            ));
        }
        let secrets =
            crate::secrets::resolve(&mut loaded, &[], &args.recipe, Needed::Storage).await?;
        let Some(recipe) = loaded.recipe.as_ref() else {
            return Err(miette!(
                code = Code::RecipeInvalid,
                "{} has errors",
                args.recipe.display()
            ));
        };
        let target =
            target::connect(&args.target, Some(&args.recipe), target::Access::Read).await?;
        let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(&args.job));
        let result = fetch(recipe, &target, &secrets, &args.job, &args.tasks, &dir).await;
        target.close().await;
        result.map(|()| Exit::Success)
    })
}

/// Downloads one job's outputs into `dir/TASK/...` and says what it did.
pub async fn fetch(
    recipe: &batchyard_recipe::model::Recipe,
    target: &Target,
    secrets: &SecretValues,
    job: &str,
    tasks: &[String],
    dir: &Path,
) -> miette::Result<()> {
    let Some(storage) = data::open(recipe, target, secrets)? else {
        return Err(miette!(
            code = Code::NoStorage,
            help = "add `storage:` and task `outputs:` to the recipe",
            "the recipe has no storage, so its tasks upload no outputs"
        ));
    };
    let progress = Progress::new();
    let (fetched, present, bytes) = data::download(&storage, job, tasks, dir, &progress).await?;
    eprintln!(
        "job {job}: {fetched} output file(s) downloaded ({}), {present} already in {}",
        data::bytes(bytes),
        dir.display()
    );
    Ok(())
}
