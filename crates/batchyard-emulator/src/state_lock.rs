//! One service per state: an exclusive OS lock on `<state file>.lock`, taken before
//! the state database, the node directories or the task supervisor are touched.
//!
//! Two services on one state would each stop the other's task supervisor and
//! requeue the other's running tasks, and fight over the database. The lock is an
//! `flock` on an open file: the kernel releases it when the holder exits, however it
//! exits, so a killed service never leaves a stale lock behind. The holder writes its
//! process id into the file so a refused start can name it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// Why the state could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum StateLockError {
    /// Another service holds the state.
    #[error(
        "the emulator state {state} is in use by another running service{}; talk to that service or stop it first",
        pid.map(|p| format!(" (process {p})")).unwrap_or_default()
    )]
    InUse {
        /// The state file.
        state: PathBuf,
        /// The holder's process id, when it recorded one.
        pid: Option<u32>,
    },
    /// The lock file could not be created or locked.
    #[error("cannot lock the emulator state {}: {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

/// The held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct StateLock {
    _file: File,
    path: PathBuf,
}

impl StateLock {
    /// Creates the state's folder (owner-only) when missing and takes the lock, or
    /// fails at once if another process holds it.
    pub fn acquire(state_path: &Path) -> Result<Self, StateLockError> {
        let path = lock_path(state_path);
        let io = |source| StateLockError::Io {
            path: path.clone(),
            source,
        };
        if let Some(parent) = state_path.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_private_dir(parent).map_err(io)?;
        }
        let mut file = open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StateLockError::InUse {
                    state: state_path.to_path_buf(),
                    pid: read_pid(&mut file),
                });
            }
            Err(TryLockError::Error(err)) => return Err(io(err)),
        }
        // Ours now: record who holds it, replacing a previous holder's pid.
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(std::process::id().to_string().as_bytes())
            .map_err(io)?;
        Ok(Self { _file: file, path })
    }

    /// Takes the lock shared, for an emulator that only reads the state: readers do
    /// not exclude each other, and a service cannot start while one reads. Fails at
    /// once while a service holds it.
    pub fn acquire_shared(state_path: &Path) -> Result<Self, StateLockError> {
        let path = lock_path(state_path);
        let io = |source| StateLockError::Io {
            path: path.clone(),
            source,
        };
        if let Some(parent) = state_path.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_private_dir(parent).map_err(io)?;
        }
        let mut file = open(&path).map_err(io)?;
        match file.try_lock_shared() {
            // The holder's pid stays in the file: readers do not record theirs.
            Ok(()) => Ok(Self { _file: file, path }),
            Err(TryLockError::WouldBlock) => Err(StateLockError::InUse {
                state: state_path.to_path_buf(),
                pid: read_pid(&mut file),
            }),
            Err(TryLockError::Error(err)) => Err(io(err)),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The process holding the state's lock, if one does; `None` when the state is free.
/// The answer can change right after it is given: only [`StateLock::acquire`] is a
/// guarantee.
pub fn lock_holder(state_path: &Path) -> Option<u32> {
    let mut file = File::open(lock_path(state_path)).ok()?;
    match file.try_lock() {
        // Free: the probe's own lock goes away with the file.
        Ok(()) => None,
        Err(TryLockError::WouldBlock) => Some(read_pid(&mut file).unwrap_or(0)),
        Err(TryLockError::Error(_)) => None,
    }
}

/// `<state file>.lock`, beside the state file.
pub fn lock_path(state_path: &Path) -> PathBuf {
    let mut name = state_path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "emulator".into());
    name.push(".lock");
    state_path.with_file_name(name)
}

/// Creates a directory (and its missing parents) readable by its owner only. An
/// existing directory keeps its mode: it may be one the user chose, such as `/tmp`.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Opens (creating) a file readable and writable by its owner only, and narrows the
/// mode of one that exists with wider permissions.
pub fn open(path: &Path) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    restrict(&file)?;
    Ok(file)
}

/// Removes group and other permissions from an open file.
pub fn restrict(file: &File) -> std::io::Result<()> {
    let mode = file.metadata()?.permissions().mode();
    if mode & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(mode & 0o700))?;
    }
    Ok(())
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_state_is_refused_with_the_holders_pid() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("sub/state.db");
        let held = StateLock::acquire(&state).unwrap();
        assert_eq!(lock_holder(&state), Some(std::process::id()));
        match StateLock::acquire(&state) {
            Err(StateLockError::InUse { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("expected InUse, got {other:?}"),
        }
        let mode = std::fs::metadata(held.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = std::fs::metadata(dir.path().join("sub"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        assert!(matches!(
            StateLock::acquire_shared(&state),
            Err(StateLockError::InUse { .. })
        ));
        drop(held);
        assert_eq!(lock_holder(&state), None);
        StateLock::acquire(&state).unwrap();
    }

    #[test]
    fn readers_share_the_lock_and_keep_a_service_out() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.db");
        let first = StateLock::acquire_shared(&state).unwrap();
        let second = StateLock::acquire_shared(&state).unwrap();
        assert!(matches!(
            StateLock::acquire(&state),
            Err(StateLockError::InUse { .. })
        ));
        drop((first, second));
        StateLock::acquire(&state).unwrap();
    }
}
