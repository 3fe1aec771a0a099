use crate::cli::{Output, ValidateArgs};
use crate::exit::Exit;
use crate::{input, output};

/// Checks every file, reports every problem, and exits 1 if any file has an error.
pub fn run(args: &ValidateArgs) -> miette::Result<Exit> {
    let vars = input::overrides(&args.vars)?;
    let mut loaded = Vec::new();
    for file in &args.files {
        loaded.push(input::load(file, &vars)?);
    }
    let failed = loaded.iter().any(batchyard_recipe::Loaded::has_errors);
    match args.output {
        Output::Json => {
            let all: Vec<_> = loaded
                .iter()
                .flat_map(batchyard_recipe::Loaded::json_diagnostics)
                .collect();
            let text = serde_json::to_string_pretty(&all).unwrap_or_else(|_| "[]".into());
            println!("{text}");
        }
        Output::Human => {
            let style = output::report_style();
            for one in &loaded {
                if !one.diagnostics.is_empty() {
                    eprint!("{}", one.render(style));
                }
                let errors = one.diagnostics.iter().filter(|d| d.is_error()).count();
                let warnings = one.diagnostics.len() - errors;
                match (errors, warnings) {
                    (0, 0) => println!("{}: valid", one.source.name),
                    (0, w) => println!("{}: valid, {w} warning{}", one.source.name, plural(w)),
                    (e, _) => println!("{}: {e} error{}", one.source.name, plural(e)),
                }
            }
        }
    }
    Ok(if failed { Exit::Failure } else { Exit::Success })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
