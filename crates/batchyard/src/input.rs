//! Reading recipes and variable overrides from the command line.

use crate::fail::OrCode as _;
use std::path::Path;

use batchyard_recipe::render::{Variables, parse_assignment, parse_vars_file};
use batchyard_recipe::{Code, Loaded};
use miette::miette;

use crate::cli::VarArgs;

/// The overrides from `--vars` files (in order) and then `--var` flags.
pub fn overrides(args: &VarArgs) -> miette::Result<Variables> {
    let mut vars = Variables::new();
    for file in &args.var_files {
        let text = fs_err::read_to_string(file).or_code(Code::InvalidVariable)?;
        let parsed = parse_vars_file(&text).map_err(|e| {
            miette!(
                code = Code::InvalidVariable,
                "cannot read variables from {}: {e}",
                file.display()
            )
        })?;
        vars.extend(parsed);
    }
    for assignment in &args.vars {
        let (name, value) = parse_assignment(assignment).map_err(|e| {
            miette!(
                code = Code::InvalidVariable,
                help = "write --var NAME=VALUE, e.g. --var nodes=4",
                "bad --var: {e}"
            )
        })?;
        vars.insert(name, value);
    }
    Ok(vars)
}

/// Reads and loads one recipe file.
pub fn load(path: &Path, vars: &Variables) -> miette::Result<Loaded> {
    let bytes = fs_err::read(path)
        .map_err(|e| miette!(code = Code::RecipeUnreadable, "cannot read the recipe: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        miette!(
            code = Code::RecipeUnreadable,
            help = "save the recipe as UTF-8 text",
            "{} is not UTF-8 text (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })?;
    Ok(batchyard_recipe::load(
        &path.display().to_string(),
        &text,
        vars,
    ))
}
