//! Findings: what the import reports about one Shipyard key, in Shipyard's terms.

use std::fmt;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The recipe still runs, but something behaves differently or was left out.
    Warning,
    /// Part of the workload cannot run as Shipyard ran it.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One Shipyard key that did not come across as it was, or that Shipyard itself rejects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// The config file, as named in the config set (`pool.yaml`).
    pub file: String,
    /// The Shipyard key path, dotted with list indices (`job_specifications[0].tasks[1].gpus`).
    pub key: String,
    /// 1-based line of the key in `file`, when known.
    pub line: Option<usize>,
    /// What happened to the key.
    pub message: String,
    /// What batchyard offers instead, when it offers something.
    pub instead: Option<String>,
}

impl Finding {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}: {}: {}", self.severity, self.key, self.message)?;
        if let Some(instead) = &self.instead {
            write!(f, " (instead: {instead})")?;
        }
        Ok(())
    }
}

/// An environment variable the user must set before applying the recipe: the recipe refers
/// to it with `{env: NAME}` instead of holding the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    pub name: String,
    /// What it holds, such as "password of registry myacr.azurecr.io".
    pub purpose: String,
}

impl fmt::Display for EnvVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.purpose)
    }
}
