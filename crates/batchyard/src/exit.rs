//! Exit statuses, the same for every command so scripts and CI can rely on them.

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything worked (and, for `plan --detailed-exitcode`, nothing would change).
    Success = 0,
    /// The command ran and found a problem: an invalid recipe, a failed task.
    Failure = 1,
    /// Bad arguments or an unreadable file: the command could not do its work.
    Usage = 2,
    /// `plan --detailed-exitcode` found changes (status 2, like Terraform).
    Changes = 3,
    /// Stopped by Ctrl-C (status 130, as shells report SIGINT).
    Interrupted = 130,
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        let code = match exit {
            Exit::Changes => 2,
            other => other as u8,
        };
        std::process::ExitCode::from(code)
    }
}
