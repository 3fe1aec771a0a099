use crate::fail::OrCode as _;
use batchyard_recipe::Code;
use miette::miette;

use crate::cli::InitArgs;
use crate::exit::Exit;

/// The starter recipes, each valid as written (a test holds them to it).
pub const CPU: &str = include_str!("starters/cpu.yaml");
/// GPU sweep starter.
pub const GPU: &str = include_str!("starters/gpu.yaml");
/// MPI starter.
pub const MPI: &str = include_str!("starters/mpi.yaml");

/// Writes a starter recipe, and the schema beside it for editors.
pub fn run(args: &InitArgs) -> miette::Result<Exit> {
    if args.path.exists() && !args.force {
        return Err(miette!(
            code = Code::FileExists,
            help = "choose another path, or pass --force to overwrite it",
            "{} already exists",
            args.path.display()
        ));
    }
    let text = if args.gpu {
        GPU
    } else if args.mpi {
        MPI
    } else {
        CPU
    };
    if let Some(parent) = args.path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs_err::create_dir_all(parent).or_code(Code::WriteFailed)?;
    }
    fs_err::write(&args.path, text).or_code(Code::WriteFailed)?;
    let dir = args
        .path
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let schema_dir = dir.join(".batchyard");
    fs_err::create_dir_all(&schema_dir).or_code(Code::WriteFailed)?;
    fs_err::write(
        schema_dir.join("recipe.schema.json"),
        batchyard_recipe::schema::recipe_schema_text(),
    )
    .or_code(Code::WriteFailed)?;
    println!("wrote {}", args.path.display());
    println!("next: batchyard validate {}", args.path.display());
    Ok(Exit::Success)
}
