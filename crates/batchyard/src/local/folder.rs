//! The local service's state folder: owner-only, ignored by version control, and home of
//! the service's key, address, locks and log.

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use miette::{IntoDiagnostic as _, miette};

/// The account name the local service verifies Shared Key signatures against.
pub const ACCOUNT: &str = "local";

/// A prepared state folder.
#[derive(Debug, Clone)]
pub struct StateFolder {
    dir: PathBuf,
}

impl StateFolder {
    /// Creates the folder when missing, makes it owner-only (0700) and gives it a
    /// `.gitignore` of `*`, so a team that versions its recipes cannot commit its state
    /// (task outputs, the key, the database).
    pub fn prepare(dir: &Path) -> miette::Result<Self> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| {
                miette!(
                    help = "pass --state-dir to keep the local state somewhere writable",
                    "cannot create the local state folder {}: {e}",
                    dir.display()
                )
            })?;
        // An older batchyard created it with the default mode; the mode applies to new
        // folders only.
        fs_err::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).into_diagnostic()?;
        let ignore = dir.join(".gitignore");
        if !ignore.exists() {
            write_private(&ignore, b"# batchyard's local state: never commit it.\n*\n")?;
        }
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    /// The folder, when it exists, without changing anything (read-only commands).
    pub fn existing(dir: &Path) -> Option<Self> {
        dir.is_dir().then(|| Self {
            dir: dir.to_path_buf(),
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The SQLite state of the local service.
    pub fn database(&self) -> PathBuf {
        self.dir.join("emulator.db")
    }

    /// Where the running service writes its address and process id.
    pub fn record(&self) -> PathBuf {
        self.dir.join("service.json")
    }

    /// The emulator's state lock: held exclusive by the running service, shared by
    /// read-only commands (see `batchyard_emulator::state_lock`).
    pub fn service_lock(&self) -> PathBuf {
        batchyard_emulator::state_lock::lock_path(&self.database())
    }

    /// Held while a command decides whether to start, reuse or stop the service.
    pub fn start_lock(&self) -> PathBuf {
        self.dir.join("start.lock")
    }

    /// Touched by every command that uses the service: it counts as activity.
    pub fn last_use(&self) -> PathBuf {
        self.dir.join("last-use")
    }

    /// The service's stdout and stderr.
    pub fn log(&self) -> PathBuf {
        self.dir.join("service.log")
    }

    fn key_path(&self) -> PathBuf {
        self.dir.join("service.key")
    }

    /// The service's key, generated on first use: 32 random bytes, base64, in an
    /// owner-only file. The service verifies every request against it, so no
    /// unauthenticated endpoint exists on this machine.
    pub fn key(&self) -> miette::Result<String> {
        let path = self.key_path();
        let replace = match fs_err::read_to_string(&path) {
            Ok(text) if valid_key(text.trim()) => return Ok(text.trim().to_owned()),
            Ok(_) => {
                tracing::warn!(path = %path.display(), "the local service key is not base64; generating a new one");
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(miette!("cannot read the local service key: {e}")),
        };
        let bytes: [u8; 32] = rand::random();
        let key = base64::engine::general_purpose::STANDARD.encode(bytes);
        if replace {
            write_private(&path, key.as_bytes())?;
            return Ok(key);
        }
        // Two commands may start on a new folder at once: the first key to land is the
        // key, and the other command reads it.
        let tmp = path.with_extension(format!("new-{:016x}", rand::random::<u64>()));
        write_private(&tmp, key.as_bytes())?;
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(key),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = fs_err::read_to_string(&path).into_diagnostic()?;
                Ok(text.trim().to_owned())
            }
            Err(e) => Err(miette!("cannot write {}: {e}", path.display())),
        }
    }

    /// Opens (creating) a lock file, owner-only.
    pub fn open_lock(path: &Path) -> miette::Result<std::fs::File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|e| miette!("cannot open {}: {e}", path.display()))
    }
}

fn valid_key(text: &str) -> bool {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .is_ok_and(|k| k.len() >= 16)
}

/// Writes a file readable by its owner only, through a temporary name so that a reader
/// never sees half of it.
pub fn write_private(path: &Path, bytes: &[u8]) -> miette::Result<()> {
    let tmp = path.with_extension(format!("tmp-{:016x}", rand::random::<u64>()));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| miette!("cannot write {}: {e}", tmp.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| miette!("cannot write {}: {e}", tmp.display()))?;
    fs_err::rename(&tmp, path).into_diagnostic()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_folder_is_owner_only_ignored_and_keeps_its_key() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/.batchyard");
        let folder = StateFolder::prepare(&dir).unwrap();
        let mode = |p: &Path| fs_err::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        let ignore = fs_err::read_to_string(dir.join(".gitignore")).unwrap();
        assert!(ignore.lines().any(|l| l == "*"), "{ignore}");
        let key = folder.key().unwrap();
        assert!(valid_key(&key));
        assert_eq!(mode(&dir.join("service.key")), 0o600);
        assert_eq!(folder.key().unwrap(), key, "the key is generated once");
        // Commands starting together on a new folder all end up with one key.
        let fresh = StateFolder::prepare(&tmp.path().join("b")).unwrap();
        let keys: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8).map(|_| s.spawn(|| fresh.key().unwrap())).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
        // A folder made by an older version with the default mode is tightened.
        fs_err::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        StateFolder::prepare(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
    }
}
