use crate::cli::{Output, ValidateArgs};
use crate::exit::Exit;
use crate::recipe::{self, Checked};
use crate::{input, output};

/// Checks every file as far as it can be without a target (recipe, templates, the compile
/// stage, every generated task), reports every problem, and exits 1 if any file has an
/// error (or a warning, under `--deny-warnings`).
pub fn run(args: &ValidateArgs) -> miette::Result<Exit> {
    let vars = input::overrides(&args.vars)?;
    let mut checked = Vec::new();
    for file in &args.files {
        let mut one = recipe::check(file, &vars)?;
        recipe::check_tasks(&mut one);
        checked.push(one);
    }
    let deny = args.vars.deny_warnings;
    let failed = checked.iter().any(|c| {
        let (errors, warnings) = c.counts();
        errors > 0 || (deny && warnings > 0)
    });
    match args.output {
        Output::Json => {
            let all: Vec<_> = checked
                .iter()
                .flat_map(|c| c.loaded.json_diagnostics())
                .collect();
            let text = serde_json::to_string_pretty(&all).unwrap_or_else(|_| "[]".into());
            println!("{text}");
        }
        Output::Human => {
            let style = output::report_style();
            for one in &checked {
                let Checked { loaded, .. } = one;
                if !loaded.diagnostics.is_empty() {
                    eprint!("{}", loaded.render(style));
                }
                let name = &loaded.source.name;
                match one.counts() {
                    (0, 0) => println!("{name}: valid"),
                    (0, w) if deny => println!(
                        "{name}: {w} warning{}, denied by --deny-warnings",
                        plural(w)
                    ),
                    (0, w) => println!("{name}: valid, {w} warning{}", plural(w)),
                    (e, 0) => println!("{name}: {e} error{}", plural(e)),
                    (e, w) => println!("{name}: {e} error{}, {w} warning{}", plural(e), plural(w)),
                }
            }
        }
    }
    Ok(if failed { Exit::Failure } else { Exit::Success })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
