use crate::cli::{Output, ValidateArgs};
use crate::exit::Exit;
use crate::output::outln;
use crate::recipe::{self, Checked};
use crate::{input, output};

/// Checks every file as far as it can be without a target (recipe, templates, the compile
/// stage, every generated task), reports every problem, and exits 1 if any file has an
/// error (or a warning, under `--deny-warnings`).
pub fn run(args: &ValidateArgs) -> miette::Result<Exit> {
    let vars = input::overrides(&args.vars)?;
    let mut checked = Vec::new();
    // A file that cannot be read is reported, and the others are still checked.
    let mut unreadable = Vec::new();
    for file in &args.files {
        match recipe::check(file, &vars) {
            Ok(mut one) => {
                recipe::check_tasks(&mut one);
                checked.push(one);
            }
            Err(e) => {
                if args.output == Output::Human {
                    output::print_error(&e);
                }
                unreadable.push((
                    file.display().to_string(),
                    format!("{e}"),
                    output::error_code(&e),
                ));
            }
        }
    }
    let deny = args.vars.deny_warnings;
    let failed = checked.iter().any(|c| {
        let (errors, warnings) = c.counts();
        errors > 0 || (deny && warnings > 0)
    });
    match args.output {
        Output::Json => {
            let mut files: Vec<_> = checked
                .iter()
                .map(|c| {
                    let (errors, warnings) = c.counts();
                    serde_json::json!({
                        "file": c.loaded.source.name,
                        "valid": errors == 0 && !(deny && warnings > 0),
                        "errors": errors,
                        "warnings": warnings,
                    })
                })
                .collect();
            files.extend(unreadable.iter().map(|(file, error, code)| {
                serde_json::json!({
                    "file": file, "valid": false, "error": error, "error_code": code,
                })
            }));
            let doc = serde_json::json!({
                "format_version": 1,
                "valid": !failed && unreadable.is_empty(),
                "files": files,
                "diagnostics": checked
                    .iter()
                    .flat_map(|c| c.loaded.json_diagnostics())
                    .collect::<Vec<_>>(),
            });
            let text = serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into());
            outln!("{text}");
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
                    (0, 0) => outln!("{name}: valid"),
                    (0, w) if deny => outln!(
                        "{name}: {w} warning{}, denied by --deny-warnings",
                        plural(w)
                    ),
                    (0, w) => outln!("{name}: valid, {w} warning{}", plural(w)),
                    (e, 0) => outln!("{name}: {e} error{}", plural(e)),
                    (e, w) => outln!("{name}: {e} error{}, {w} warning{}", plural(e), plural(w)),
                }
            }
        }
    }
    Ok(if !unreadable.is_empty() {
        Exit::Usage
    } else if failed {
        Exit::Failure
    } else {
        Exit::Success
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
