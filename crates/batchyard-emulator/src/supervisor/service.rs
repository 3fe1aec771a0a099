//! The service's own mark on the processes it starts.
//!
//! Every run carries `BATCHYARD_ATTEMPT=<job>/<task>/<attempt>`, which is the same in
//! every service that runs the same recipe. So that a restarted service finds its own
//! runs and never another's, each run also carries `BATCHYARD_SERVICE=<id>`, an id
//! drawn once per state and kept in the node directory, and a process is only
//! touched when both match and it belongs to this user.

use std::io::{Read as _, Write as _};
use std::path::Path;

use super::unix;

/// Names the service in the environment of every process it starts.
pub const SERVICE_ENV: &str = "BATCHYARD_SERVICE";

/// Names the run in the environment of its processes.
pub const ATTEMPT_ENV: &str = "BATCHYARD_ATTEMPT";

const FILE: &str = ".service-id";

/// This state's service id: read from the node directory, or drawn and written
/// (owner-only) the first time.
pub fn service_id(work_dir: &Path) -> std::io::Result<String> {
    let mut file = crate::state_lock::open(&work_dir.join(FILE))?;
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    let text = text.trim();
    if !text.is_empty() {
        return Ok(text.to_string());
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    file.write_all(id.as_bytes())?;
    Ok(id)
}

/// The processes of one run of this service: their environment carries this
/// service's id and `marker` (or a sub-marker `marker/...`, the instances of a
/// multi-instance task), and they belong to this user. Found even when the service
/// died before it could record their process ids.
pub fn processes_of_run(service: &str, marker: &str) -> Vec<i64> {
    let attempt = format!("{ATTEMPT_ENV}={marker}");
    let nested = format!("{attempt}/");
    let ours = format!("{SERVICE_ENV}={service}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i64>().ok())
        .filter(|pid| {
            unix::is_own(*pid)
                && unix::environ_has(*pid, |entry| entry == ours.as_bytes())
                && unix::environ_has(*pid, |entry| {
                    entry == attempt.as_bytes() || entry.starts_with(nested.as_bytes())
                })
        })
        .collect()
}
