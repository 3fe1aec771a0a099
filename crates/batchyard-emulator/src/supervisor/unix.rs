//! Signals and `/proc` lookups, shared by the supervisor and the emulator.

use rustix::process::{Pid, Signal};

fn pid(pid: i64) -> Option<Pid> {
    i32::try_from(pid).ok().and_then(Pid::from_raw)
}

/// Sends `signal` to one process.
pub fn signal(process: i64, signal: Signal) {
    if let Some(process) = pid(process) {
        let _ = rustix::process::kill_process(process, signal);
    }
}

/// Sends SIGKILL to the process group `leader` leads.
pub fn kill_group(leader: i64) {
    if let Some(leader) = pid(leader) {
        let _ = rustix::process::kill_process_group(leader, Signal::KILL);
    }
}

/// Sends SIGKILL to a process and to the group it leads, if it leads one.
pub fn kill_process(process: i64) {
    kill_group(process);
    signal(process, Signal::KILL);
}

/// Whether the process belongs to this user: another user's processes are never
/// signalled, even by a service running as root.
pub fn is_own(process: i64) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(format!("/proc/{process}"))
        .is_ok_and(|m| m.uid() == rustix::process::getuid().as_raw())
}

/// Whether one `NAME=value` entry of the process's environment matches.
pub fn environ_has(process: i64, matches: impl Fn(&[u8]) -> bool) -> bool {
    std::fs::read(format!("/proc/{process}/environ"))
        .is_ok_and(|environ| environ.split(|b| *b == 0).any(matches))
}

/// Running, as opposed to gone or a zombie waiting to be reaped.
pub fn is_alive(process: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{process}/stat")).is_ok_and(|stat| {
        // The state follows the parenthesized command name, which may hold spaces.
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}
