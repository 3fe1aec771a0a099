//! Recipe → desired state, for the commands that compare it with a target.

use std::path::Path;

use batchyard_compile::CompileOptions;
use batchyard_recipe::{Diagnostic, Loaded};
use batchyard_reconcile::Intent;
use miette::miette;

use crate::cli::VarArgs;
use crate::{input, output};

/// Expands every task of a compiled recipe; problems in the task templates are printed
/// with their spans.
pub fn expand(
    loaded: &mut Loaded,
    desired: &batchyard_compile::Desired,
    path: &Path,
) -> miette::Result<Intent> {
    Intent::from_compiled(loaded, desired).map_err(|diagnostics| report(loaded, path, diagnostics))
}

/// Prints the problems with their spans; the error only says that there were some.
pub fn report(loaded: &mut Loaded, path: &Path, diagnostics: Vec<Diagnostic>) -> miette::Report {
    for d in diagnostics {
        if !loaded.diagnostics.contains(&d) {
            loaded.diagnostics.push(d);
        }
    }
    eprint!("{}", loaded.render(output::report_style()));
    let errors = loaded.diagnostics.iter().filter(|d| d.is_error()).count();
    miette!(
        help = format!("run `batchyard validate {}` for details", path.display()),
        "{} has {errors} error(s)",
        path.display()
    )
}

/// Loads, checks and compiles `path` without expanding its tasks (they stream from
/// `batchyard_compile::tasks`).
pub fn load_and_compile(
    path: &Path,
    vars: &VarArgs,
) -> miette::Result<(Loaded, batchyard_compile::Desired)> {
    let overrides = input::overrides(vars)?;
    let mut loaded = input::load(path, &overrides)?;
    let Some(recipe) = loaded.recipe.clone().filter(|_| !loaded.has_errors()) else {
        return Err(report(&mut loaded, path, Vec::new()));
    };
    let base_dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| std::path::PathBuf::from("."), Path::to_path_buf);
    let desired = match batchyard_compile::compile(&recipe, &CompileOptions { base_dir }) {
        Ok(desired) => desired,
        Err(diagnostics) => return Err(report(&mut loaded, path, diagnostics)),
    };
    Ok((loaded, desired))
}
