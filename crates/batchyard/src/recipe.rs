//! Recipe → desired state, with every problem that needs no target found on the way.
//!
//! `validate`, `render`, `plan`, `apply` and the other commands that read a recipe go
//! through [`check`], so they report the same problems with the same words; only `validate`
//! stops there.

use std::path::Path;

use batchyard_compile::{CompileOptions, Desired};
use batchyard_recipe::render::Variables;
use batchyard_recipe::{Code, Diagnostic, Loaded};
use batchyard_reconcile::Intent;
use miette::miette;

use crate::cli::VarArgs;
use crate::{input, output};

/// A recipe checked as far as it can be without a target.
pub struct Checked {
    /// The recipe and every problem found, in file order (compile problems included).
    pub loaded: Loaded,
    /// The compiled pools and jobs, when there was no error.
    pub desired: Option<Desired>,
}

impl Checked {
    /// How many errors and warnings were found.
    pub fn counts(&self) -> (usize, usize) {
        let errors = self
            .loaded
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .count();
        (errors, self.loaded.diagnostics.len() - errors)
    }
}

/// Loads, checks and compiles `path`. The compile stage (hardware catalogue, images,
/// payloads against the Batch spec) also runs when the recipe has errors that leave its
/// types intact, so problems that do not depend on each other are found in one run.
pub fn check(path: &Path, overrides: &Variables) -> miette::Result<Checked> {
    let mut loaded = input::load(path, overrides)?;
    let mut desired = None;
    if let Some(recipe) = loaded.recipe.as_ref().or(loaded.typed.as_ref()) {
        let options = CompileOptions {
            base_dir: base_dir(path),
            // Hashes of unchanged local inputs are taken from the last run.
            content: std::sync::Arc::new(batchyard_compile::data::ContentIndex::with_cache(
                crate::data::load_cache(path),
            )),
            ..CompileOptions::default()
        };
        let found = match batchyard_compile::compile(recipe, &options) {
            Ok(compiled) => {
                let warnings = compiled.warnings.clone();
                if loaded.recipe.is_some() {
                    desired = Some(compiled);
                }
                warnings
            }
            Err(diagnostics) => diagnostics,
        };
        add(&mut loaded, found);
    }
    Ok(Checked { loaded, desired })
}

/// Expands every task of every job without keeping them (a million-task factory streams
/// past), adding the problems found: ids, templates per item, dependencies.
pub fn check_tasks(checked: &mut Checked) {
    let Some(desired) = &checked.desired else {
        return;
    };
    let mut found = Vec::new();
    for job in &desired.jobs {
        let mut stream = batchyard_compile::tasks(&checked.loaded, desired, job);
        let mut lines = Vec::with_capacity(1 << 20);
        // Writing to memory that is thrown away cannot fail.
        let _ = stream.write_all(&mut lines, 1 << 20, &mut |_| Ok(()), &mut |problem| {
            found.push(problem);
        });
    }
    if found.iter().any(Diagnostic::is_error) {
        checked.desired = None;
    }
    add(&mut checked.loaded, found);
}

/// Adds problems of a later stage, leaving out those at a place where an earlier stage
/// already found an error (the same problem seen twice), and keeps them in file order.
fn add(loaded: &mut Loaded, found: Vec<Diagnostic>) {
    if found.is_empty() {
        return;
    }
    let mut all = std::mem::take(&mut loaded.diagnostics);
    let earlier = all.len();
    for d in found {
        let repeated = all[..earlier]
            .iter()
            .any(|e| *e == d || (e.is_error() && d.is_error() && e.path == d.path));
        if !repeated {
            all.push(d);
        }
    }
    all.sort_by_cached_key(|d| loaded.span_of(d).start);
    loaded.diagnostics = all;
}

fn base_dir(path: &Path) -> std::path::PathBuf {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| std::path::PathBuf::from("."), Path::to_path_buf)
}

/// Expands every task of a compiled recipe; problems in the task templates are printed
/// with their spans.
pub fn expand(loaded: &mut Loaded, desired: &Desired, path: &Path) -> miette::Result<Intent> {
    Intent::from_compiled(loaded, desired).map_err(|diagnostics| report(loaded, path, diagnostics))
}

/// Prints problems found after the recipe was checked (those of the tasks) with their
/// spans; the error says how many errors the recipe has.
pub fn report(loaded: &mut Loaded, path: &Path, diagnostics: Vec<Diagnostic>) -> miette::Report {
    let shown = std::mem::replace(&mut loaded.diagnostics, diagnostics);
    eprint!("{}", loaded.render(output::report_style()));
    let new = std::mem::replace(&mut loaded.diagnostics, shown);
    add(loaded, new);
    invalid(path, loaded)
}

/// The error that ends a command on an invalid recipe, once its problems are printed.
/// Under `--output json` the problems are also the document on stdout (the shape of
/// `validate --output json`).
fn invalid(path: &Path, loaded: &Loaded) -> miette::Report {
    let errors = loaded.diagnostics.iter().filter(|d| d.is_error()).count();
    if output::json_on_stdout() {
        let doc = serde_json::json!({
            "format_version": 1,
            "valid": false,
            "files": [{
                "file": loaded.source.name,
                "valid": false,
                "errors": errors,
                "warnings": loaded.diagnostics.len() - errors,
            }],
            "diagnostics": loaded.json_diagnostics(),
        });
        output::emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into())
        ));
    }
    miette!(
        code = Code::RecipeInvalid,
        "{} has {errors} error{}",
        path.display(),
        if errors == 1 { "" } else { "s" }
    )
}

/// Loads, checks and compiles `path` without expanding its tasks (they stream from
/// `batchyard_compile::tasks`). Errors and warnings are printed; an error, or a warning
/// under `--deny-warnings`, ends the command.
pub fn load_and_compile(path: &Path, vars: &VarArgs) -> miette::Result<(Loaded, Desired)> {
    let overrides = input::overrides(vars)?;
    let checked = check(path, &overrides)?;
    let (errors, warnings) = checked.counts();
    let Checked { loaded, desired } = checked;
    if !loaded.diagnostics.is_empty() {
        eprint!("{}", loaded.render(output::report_style()));
    }
    let Some(desired) = desired.filter(|_| errors == 0) else {
        return Err(invalid(path, &loaded));
    };
    if vars.deny_warnings && warnings > 0 {
        return Err(denied(path, warnings));
    }
    Ok((loaded, desired))
}

/// The error that ends a command on warnings under `--deny-warnings`.
pub fn denied(path: &Path, warnings: usize) -> miette::Report {
    miette!(
        code = Code::WarningsDenied,
        help = "fix what the warnings say, or run without --deny-warnings to accept them",
        "{} has {warnings} warning{}, and --deny-warnings makes warnings fail",
        path.display(),
        if warnings == 1 { "" } else { "s" }
    )
}
