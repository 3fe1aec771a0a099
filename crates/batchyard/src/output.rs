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

/// Whether stdout gets colour.
pub fn stdout_color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Wraps `text` in an ANSI colour when `on`.
pub fn paint(text: &str, color: Color, on: bool) -> String {
    if !on {
        return text.to_owned();
    }
    let code = match color {
        Color::Green => "32",
        Color::Yellow => "33",
        Color::Red => "31",
        Color::Dim => "2",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// The few colours used.
#[derive(Debug, Clone, Copy)]
pub enum Color {
    /// Creates, successes.
    Green,
    /// Changes.
    Yellow,
    /// Deletions, replacements, failures.
    Red,
    /// Reasons and details.
    Dim,
}
