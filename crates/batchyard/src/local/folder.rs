//! The local service's state folder: owner-only, ignored by version control, and home of
//! the service's key, address, locks and log.

use crate::fail::OrCode as _;
use batchyard_recipe::Code;
use std::fs::{DirBuilder, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use miette::miette;

/// The service key's file name (in the private folder).
const KEY_FILE: &str = "service.key";

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
                    code = Code::LocalState,
                    help = "pass --state-dir to keep the local state somewhere writable",
                    "cannot create the local state folder {}: {e}",
                    dir.display()
                )
            })?;
        // An older batchyard created it with the default mode; the mode applies to new
        // folders only.
        fs_err::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .or_code(Code::LocalState)?;
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

    /// The folder outside the state folder that keeps this state's keys (the service's,
    /// and the one sealing the secrets in its database): see
    /// `batchyard_emulator::private_dir`.
    pub fn private_dir(&self) -> miette::Result<PathBuf> {
        batchyard_emulator::private_dir::for_state(&self.database()).map_err(|e| {
            miette!(
                code = Code::LocalState,
                help = "set XDG_STATE_HOME (or HOME) to a folder you can write",
                "cannot make the local service's private folder: {e}"
            )
        })
    }

    /// The service's key, generated on first use: 32 random bytes, base64, in an
    /// owner-only file of the private folder (never in the state folder, which may sit in
    /// a recipe's folder). The service verifies every request against it, so no
    /// unauthenticated endpoint exists on this machine. A key left in the state folder by
    /// an older batchyard is moved out.
    pub fn key(&self) -> miette::Result<String> {
        let private = self.private_dir()?;
        let legacy = self.dir.join(KEY_FILE);
        let old = fs_err::read_to_string(&legacy)
            .ok()
            .map(|t| t.trim().to_owned())
            .filter(|t| valid_key(t));
        let key = batchyard_emulator::private_dir::read_or_make(
            &private,
            KEY_FILE,
            |bytes| std::str::from_utf8(bytes).is_ok_and(|t| valid_key(t.trim())),
            || match &old {
                Some(old) => old.clone().into_bytes(),
                None => {
                    let bytes: [u8; 32] = rand::random();
                    base64::engine::general_purpose::STANDARD
                        .encode(bytes)
                        .into_bytes()
                }
            },
        )
        .map_err(|e| {
            miette!(
                code = Code::LocalState,
                "cannot read or write the local service key: {e}"
            )
        })?;
        if legacy.exists() {
            fs_err::remove_file(&legacy).or_code(Code::LocalState)?;
        }
        Ok(String::from_utf8_lossy(&key).trim().to_owned())
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
            .map_err(|e| {
                miette!(
                    code = Code::LocalState,
                    "cannot open {}: {e}",
                    path.display()
                )
            })
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
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .map_err(|e| {
            miette!(
                code = Code::LocalState,
                "cannot write {}: {e}",
                tmp.display()
            )
        })?;
    fs_err::rename(&tmp, path).or_code(Code::LocalState)
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
        let private = folder.private_dir().unwrap();
        assert!(!private.starts_with(tmp.path()), "{}", private.display());
        assert_eq!(mode(&private.join(KEY_FILE)), 0o600);
        assert!(!dir.join(KEY_FILE).exists(), "no key in the state folder");
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
