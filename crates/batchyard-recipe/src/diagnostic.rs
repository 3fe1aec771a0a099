//! Problems found in a recipe, each pointing into the file by JSON pointer.

use serde::Serialize;

use crate::code::Code;
use crate::source::{Span, Target};

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; the recipe still works.
    Warning,
    /// The recipe cannot be used until it is fixed.
    Error,
}

/// One problem, at a place in the recipe.
///
/// `path` is a JSON pointer into the recipe (`/pools/0/vm_size`); [`crate::Source`] maps it to
/// the exact YAML token. `span`, when set, overrides the pointer (a position inside a
/// template, or a YAML syntax error that has no path).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The stable code of this kind of problem (see [`Code`]).
    pub code: Code,
    /// JSON pointer to the value (or key) at fault.
    pub path: String,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, as a sentence.
    pub message: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// Short text shown under the underlined token; defaults to the message.
    #[serde(skip)]
    pub label: Option<String>,
    /// Point at the key rather than the value.
    #[serde(skip)]
    pub target: Target,
    /// An exact byte range, when known better than the pointer's.
    #[serde(skip)]
    pub span: Option<Span>,
}

impl Diagnostic {
    /// An error of kind `code` at `path`.
    pub fn error(code: Code, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code,
            path: path.into(),
            severity: Severity::Error,
            message: message.into(),
            help: None,
            label: None,
            target: Target::Value,
            span: None,
        }
    }

    /// A warning of kind `code` at `path`.
    pub fn warning(code: Code, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, path, message)
        }
    }

    /// Adds the line that says what to do.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Sets the short text under the token.
    #[must_use]
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Points at the key instead of the value.
    #[must_use]
    pub fn at_key(mut self) -> Self {
        self.target = Target::Key;
        self
    }

    /// Concerns the whole file, not a token in it.
    #[must_use]
    pub fn for_file(mut self) -> Self {
        self.target = Target::File;
        self.span = Some(0..0);
        self
    }

    /// Points at an exact byte range.
    #[must_use]
    pub fn at_span(mut self, span: Span) -> Self {
        self.span = Some(span);
        self
    }

    /// Whether this is an error (not a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Whether any diagnostic is an error.
pub fn has_errors(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().any(Diagnostic::is_error)
}

/// Joins JSON pointer tokens.
pub fn pointer<I, S>(tokens: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    tokens
        .into_iter()
        .map(|t| format!("/{}", crate::source::escape_token(t.as_ref())))
        .collect()
}

/// The closest of `candidates` to `word`, when close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::jaro_winkler(&word.to_lowercase(), &c.to_lowercase()),
                c,
            )
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_find_typos_only() {
        let keys = ["vm_size", "nodes", "task_slots_per_node"];
        assert_eq!(did_you_mean("vmsize", keys), Some("vm_size"));
        assert_eq!(did_you_mean("node", keys), Some("nodes"));
        assert_eq!(did_you_mean("xyz", keys), None);
    }

    #[test]
    fn pointers_escape_tokens() {
        assert_eq!(pointer(["pools", "0", "a/b"]), "/pools/0/a~1b");
    }
}
