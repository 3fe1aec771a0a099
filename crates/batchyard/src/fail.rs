//! The stable code of every error that ends a command (see `batchyard_recipe::Code` and
//! docs/diagnostics.md): a helper for errors shown as their library words them, and the
//! codes of the client's and the reconciler's errors by kind, so that "Batch unreachable"
//! and "credentials refused" can be told apart by programs.

use batchyard_batch::ClientError;
use batchyard_recipe::Code;
use batchyard_reconcile::{ApplyError, ObserveError};

/// Turns any error into a report with a code, worded as the error words itself.
pub trait OrCode<T> {
    /// The error, as a report with `code`.
    fn or_code(self, code: Code) -> miette::Result<T>;
}

impl<T, E: std::fmt::Display> OrCode<T> for Result<T, E> {
    fn or_code(self, code: Code) -> miette::Result<T> {
        self.map_err(|e| miette::miette!(code = code, "{e}"))
    }
}

/// The code of a failed call to Batch.
pub fn batch_code(e: &ClientError) -> Code {
    match e {
        ClientError::Transport { .. } | ClientError::Timeout { .. } => Code::BatchUnreachable,
        ClientError::Auth(_) => Code::BatchAuth,
        ClientError::Batch(b) if matches!(b.status, 401 | 403) => Code::BatchAuth,
        ClientError::InvalidUrl(_) => Code::InvalidAccountUrl,
        _ => Code::BatchService,
    }
}

/// The code of a failure to read the target's state.
pub fn observe_code(e: &ObserveError) -> Code {
    match e {
        ObserveError::Client { source, .. } => batch_code(source),
        _ => Code::FollowTimeout,
    }
}

/// The code of a failed apply.
pub fn apply_code(e: &ApplyError) -> Code {
    match e {
        ApplyError::Blocked(_) | ApplyError::ReplaceNotAllowed(_) => Code::ApplyRefused,
        ApplyError::Client { source, .. } => batch_code(source),
        ApplyError::Conflict { .. } => Code::ApplyConflict,
        ApplyError::Timeout { .. } => Code::ApplyTimeout,
        ApplyError::ResizeFailed { .. } | ApplyError::NodesFailed { .. } => Code::PoolFailed,
        ApplyError::TasksFailed { .. } => Code::TasksNotAdded,
        ApplyError::Secret(_) => Code::StorageSecret,
        ApplyError::Observe(o) => observe_code(o),
        _ => Code::Internal,
    }
}
