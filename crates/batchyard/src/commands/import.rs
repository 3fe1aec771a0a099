use crate::fail::OrCode as _;
use batchyard_recipe::Code;
use batchyard_shipyard::{ImportError, ImportOptions, import};
use miette::miette;

use crate::cli::ImportShipyardArgs;
use crate::exit::Exit;

/// Imports a Shipyard config set; the recipe goes to the file or stdout, findings to stderr.
pub fn run(args: &ImportShipyardArgs) -> miette::Result<Exit> {
    let options = ImportOptions {
        name: args.name.clone(),
        jobs_files: args.jobs_files.clone(),
    };
    let imported = match import(&args.dir, &options) {
        Ok(imported) => imported,
        Err(ImportError::Io(err)) => {
            return Err(miette!(
                code = Code::ImportUnreadable,
                help = "DIR is the folder holding pool.yaml and its siblings",
                "cannot read {}: {err}",
                args.dir.display()
            ));
        }
        Err(err) => return Err(miette!(code = Code::ImportFailed, "{err}")),
    };
    match &args.output {
        Some(path) => {
            fs_err::write(path, &imported.recipe).or_code(Code::WriteFailed)?;
            eprintln!("wrote {}", path.display());
        }
        None => crate::output::emit(&imported.recipe),
    }
    for finding in &imported.findings {
        eprintln!("{finding}");
    }
    if !imported.env.is_empty() {
        eprintln!("\nset these environment variables before `batchyard apply`:");
        for var in &imported.env {
            eprintln!("  {var}");
        }
    }
    Ok(if imported.has_errors() {
        Exit::Failure
    } else {
        Exit::Success
    })
}
