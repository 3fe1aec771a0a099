//! Renders every task of a recipe as JSON Lines on stdout, the way `batchyard render` streams
//! them; used to measure task streaming (see PERFORMANCE.md).
//!
//! `cargo run --release -p batchyard-compile --example render_tasks -- RECIPE > /dev/null`

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use batchyard_compile::{CompileOptions, compile, tasks};
use batchyard_recipe::load;
use batchyard_recipe::render::Variables;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: render_tasks RECIPE");
        return ExitCode::from(2);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let loaded = load(&path, &text, &Variables::new());
    let Some(recipe) = loaded.recipe.as_ref() else {
        eprintln!("{:#?}", loaded.diagnostics);
        return ExitCode::FAILURE;
    };
    let base_dir = Path::new(&path)
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let desired = match compile(
        recipe,
        &CompileOptions {
            base_dir,
            ..CompileOptions::default()
        },
    ) {
        Ok(d) => d,
        Err(diags) => {
            eprintln!("{diags:#?}");
            return ExitCode::FAILURE;
        }
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let (mut ok, mut failed) = (0u64, 0u64);
    let mut lines = Vec::with_capacity(1 << 18);
    for job in &desired.jobs {
        let mut stream = tasks(&loaded, &desired, job);
        while let Some(written) = stream.write_next(&mut lines) {
            match written {
                Ok(()) => ok += 1,
                Err(d) => {
                    failed += 1;
                    eprintln!("{}: {}", d.path, d.message);
                }
            }
            if lines.len() >= 1 << 18 {
                if out.write_all(&lines).is_err() {
                    return ExitCode::FAILURE;
                }
                lines.clear();
            }
        }
    }
    if out.write_all(&lines).is_err() {
        return ExitCode::FAILURE;
    }
    if out.flush().is_err() {
        return ExitCode::FAILURE;
    }
    eprintln!("{ok} tasks rendered, {failed} problems");
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
