//! Autoscale formulas: parsed when a pool is given one, evaluated on the pool's
//! evaluation interval against its sampled task metrics, and applied through the same
//! resize path as a manual resize.
//!
//! The formula is parsed whole with the service's general grammar. Evaluation covers
//! the language's types, operators and functions, task metrics (`$ActiveTasks`,
//! `$RunningTasks`, `$PendingTasks`, `$SucceededTasks`, `$FailedTasks`), node counts and
//! `time()`. What the emulator cannot evaluate (node resource metrics such as
//! `$CPUPercent`, unknown functions) ends the run with an `autoScaleRun.error` naming it.
//!
//! Differences from the service, on purpose: samples are available as soon as they are
//! taken (the service delays them about a minute); vectors from `GetSample` are newest
//! first; the history lives in memory, so after a restart a pool starts with none, as a
//! new pool does.

mod eval;
mod functions;
pub mod history;
mod lexer;
mod metrics;
mod parser;
mod schedule;
mod value;

use std::fmt;

pub use eval::{Inputs, Outcome};
pub use schedule::{Autoscaler, evaluation_interval, run_json};

use parser::{Pos, Statement};

/// The formula does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl SyntaxError {
    fn at(line: usize, col: usize, message: impl Into<String>) -> Self {
        Self {
            line,
            col,
            message: message.into(),
        }
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Line {}, Col {}: {}", self.line, self.col, self.message)
    }
}

impl std::error::Error for SyntaxError {}

/// An evaluation that ended without a result, as `autoScaleRun.error` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError {
    /// `AutoScalingFormulaEvaluationError`, `InsufficientSampleData`, or
    /// `AutoScalingFormulaNotSupportedByEmulator` for constructs the emulator does not
    /// evaluate.
    pub code: &'static str,
    /// `Line L, Col C: ...`.
    pub message: String,
}

impl EvalError {
    fn failed(pos: Pos, message: impl fmt::Display) -> Self {
        Self::with_code("AutoScalingFormulaEvaluationError", pos, message)
    }

    fn insufficient(pos: Pos, message: impl fmt::Display) -> Self {
        Self::with_code("InsufficientSampleData", pos, message)
    }

    fn unsupported(pos: Pos, message: impl fmt::Display) -> Self {
        Self::with_code("AutoScalingFormulaNotSupportedByEmulator", pos, message)
    }

    fn with_code(code: &'static str, pos: Pos, message: impl fmt::Display) -> Self {
        Self {
            code,
            message: format!("Line {}, Col {}: {message}", pos.line, pos.col),
        }
    }
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for EvalError {}

/// A parsed formula.
#[derive(Debug, Clone, PartialEq)]
pub struct Formula {
    statements: Vec<Statement>,
    reads_completed: bool,
}

impl Formula {
    /// Parses a whole formula; the service's limits (8 KB, 100 statements) apply.
    pub fn parse(text: &str) -> Result<Self, SyntaxError> {
        Ok(Self {
            statements: parser::parse(text)?,
            reads_completed: text.contains("$SucceededTasks") || text.contains("$FailedTasks"),
        })
    }

    /// Evaluates the formula; never panics, whatever the formula and inputs.
    pub fn evaluate(&self, inputs: Inputs<'_>) -> Result<Outcome, EvalError> {
        eval::evaluate(&self.statements, inputs)
    }

    /// Whether sampling must count completed tasks for this formula.
    pub fn reads_completed(&self) -> bool {
        self.reads_completed
    }
}

#[cfg(test)]
mod scenario_tests;
#[cfg(test)]
mod tests;
