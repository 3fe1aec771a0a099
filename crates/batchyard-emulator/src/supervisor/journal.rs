//! The exit journal: one line per run that ended by itself, `<exit code> <marker>`,
//! appended by the supervisor before it reports the end. A restarted emulator reads
//! it to count the runs that finished while it was down.
//!
//! One append-only file instead of a file per run: creating a file per task costs a
//! new inode each time, which on a busy ext4 is much of a short task's price.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

const FILE: &str = ".supervisor-exits";

fn path(work_dir: &Path) -> PathBuf {
    work_dir.join(FILE)
}

/// The supervisor's open journal.
pub(super) struct Journal {
    file: Option<std::fs::File>,
}

impl Journal {
    pub(super) fn open(work_dir: &Path) -> Self {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path(work_dir));
        if let Err(err) = &file {
            eprintln!(
                "batchyard task supervisor: cannot open the exit journal in {}: {err}",
                work_dir.display()
            );
        }
        Self { file: file.ok() }
    }

    /// Appends one end in a single write, so a line is whole or absent.
    pub(super) fn record(&mut self, marker: &str, code: i64) {
        if let Some(file) = &mut self.file
            && let Err(err) = file.write_all(format!("{code} {marker}\n").as_bytes())
        {
            eprintln!("batchyard task supervisor: cannot write the exit journal: {err}");
        }
    }
}

/// The exit codes the journal holds, by marker (the last one wins).
pub fn read_exits(work_dir: &Path) -> HashMap<String, i64> {
    let Ok(text) = std::fs::read_to_string(path(work_dir)) else {
        return HashMap::new();
    };
    text.lines()
        .filter_map(|line| {
            let (code, marker) = line.split_once(' ')?;
            Some((marker.to_string(), code.parse().ok()?))
        })
        .collect()
}

/// Empties the journal once its entries are recorded elsewhere. The supervisor
/// appends, so it writes on at the new end.
pub fn clear_exits(work_dir: &Path) {
    if let Ok(file) = std::fs::OpenOptions::new().write(true).open(path(work_dir)) {
        let _ = file.set_len(0);
    }
}
