//! Where and how things are printed: colour only on a terminal and without `NO_COLOR`.

use std::io::IsTerminal;

/// Whether stderr gets colour.
pub fn stderr_color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The report style for stderr.
pub fn report_style() -> batchyard_recipe::report::Style {
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100);
    batchyard_recipe::report::Style {
        color: stderr_color(),
        width,
    }
}

/// Prints an error that stopped a command.
pub fn print_error(err: &miette::Report) {
    eprintln!("{err:?}");
}
