//! Diagnostics for people (miette reports pointing at the YAML token) and for programs
//! (JSON records with file, line and column).

use std::fmt;
use std::sync::Arc;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceCode};
use serde::Serialize;

use crate::code::Code;
use crate::diagnostic::{Diagnostic, Severity};
use crate::load::Loaded;
use crate::source::{Span, Target};

/// One diagnostic bound to its source text, ready for miette.
#[derive(Debug)]
pub struct Report {
    diagnostic: Diagnostic,
    span: Span,
    source: NamedSource<Arc<str>>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.diagnostic.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diagnostic
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        (self.diagnostic.target != Target::File).then_some(&self.source as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.diagnostic.target == Target::File {
            return None;
        }
        let label = self
            .diagnostic
            .label
            .clone()
            .unwrap_or_else(|| self.diagnostic.message.clone());
        let span = miette::SourceSpan::from(self.span.clone());
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            Some(label),
            span,
        ))))
    }
}

/// A diagnostic as JSON for `--output json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JsonDiagnostic {
    /// The stable code of this kind of problem (`batchyard::recipe::unknown_field`).
    pub code: Code,
    /// JSON pointer into the recipe.
    pub path: String,
    /// The recipe file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// `error` or `warning`.
    pub severity: Severity,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub help: Option<String>,
}

/// How many reports are drawn at most: past that, a file is broken wholesale and more
/// reports help nobody (`--output json` still lists them all).
pub const MAX_RENDERED: usize = 50;

/// Line start offsets of a text, for many line/column look-ups.
struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(text: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self { text, starts }
    }

    fn line_column(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self.starts[line - 1];
        (line, self.text[start..offset].chars().count() + 1)
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

impl Loaded {
    /// Every diagnostic as a miette report.
    pub fn reports(&self) -> Vec<Report> {
        self.diagnostics
            .iter()
            .map(|d| {
                let mut span = self.span_of(d);
                span.end = span.end.min(self.source.text.len());
                span.start = span.start.min(span.end);
                Report {
                    diagnostic: d.clone(),
                    span,
                    source: NamedSource::new(
                        self.source.name.clone(),
                        Arc::clone(&self.source.text),
                    ),
                }
            })
            .collect()
    }

    /// Every diagnostic as a JSON record.
    pub fn json_diagnostics(&self) -> Vec<JsonDiagnostic> {
        let lines = LineIndex::new(&self.source.text);
        self.diagnostics
            .iter()
            .map(|d| {
                let (line, column) = lines.line_column(self.span_of(d).start);
                JsonDiagnostic {
                    code: d.code,
                    path: d.path.clone(),
                    file: self.source.name.clone(),
                    line,
                    column,
                    severity: d.severity,
                    message: d.message.clone(),
                    help: d.help.clone(),
                }
            })
            .collect()
    }

    /// Every diagnostic rendered as text, separated by blank lines.
    pub fn render(&self, style: Style) -> String {
        let theme = if style.color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        let handler = GraphicalReportHandler::new_themed(theme)
            .with_width(style.width)
            .with_links(false);
        let mut out = String::new();
        let reports = self.reports();
        let hidden = reports.len().saturating_sub(MAX_RENDERED);
        for report in reports.into_iter().take(MAX_RENDERED) {
            let mut one = String::new();
            if handler.render_report(&mut one, &report).is_err() {
                one = format!(
                    "{}: {}\n",
                    report.diagnostic.path, report.diagnostic.message
                );
            }
            out.push_str(&one);
            out.push('\n');
        }
        if hidden > 0 {
            out.push_str(&format!(
                "… and {hidden} more problems not shown; `--output json` lists them all\n\n"
            ));
        }
        out
    }
}

/// How to draw reports.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Use colour.
    pub color: bool,
    /// Wrap at this width.
    pub width: usize,
}

impl Default for Style {
    fn default() -> Self {
        Self {
            color: false,
            width: 100,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters() {
        let text = "a: 1\nbé: x\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 5), (2, 1));
        assert_eq!(line_column(text, text.find('x').unwrap()), (2, 5));
        assert_eq!(line_column(text, 999), (3, 1));
        let index = LineIndex::new(text);
        for offset in [0, 3, 5, 7, 9, 999] {
            assert_eq!(
                index.line_column(offset),
                line_column(text, offset),
                "offset {offset}"
            );
        }
    }
}
