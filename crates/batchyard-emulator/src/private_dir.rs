//! Where a state's secret material lives: outside the state's own folder, so a state
//! folder kept beside a recipe (and perhaps copied, archived or committed by mistake)
//! holds no key and no secret in clear.
//!
//! The folder is `$XDG_STATE_HOME/batchyard/local/<hash>` (`~/.local/state/...` when
//! `XDG_STATE_HOME` is not set), where `<hash>` is the first 16 bytes, in hex, of the
//! SHA-256 of the state file's absolute path. It is created owner-only (0700), its files
//! 0600. Moving a state file therefore starts a new folder: the secrets sealed with the
//! old key can no longer be read (the service never serves them back anyway).

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// The private folder of the state file `state`, created (0700) when missing.
pub fn for_state(state: &Path) -> std::io::Result<PathBuf> {
    for_state_under(&root()?, state)
}

/// [`for_state`] under `root` (`<state home>/batchyard`).
pub fn for_state_under(root: &Path, state: &Path) -> std::io::Result<PathBuf> {
    let local = root.join("local");
    let dir = local.join(hash_of(&absolute(state)?));
    DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
    // New parents get 0700 too; existing ones keep their mode, so the levels batchyard
    // owns are narrowed.
    for owned in [root, local.as_path(), dir.as_path()] {
        std::fs::set_permissions(owned, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(dir)
}

/// `<state home>/batchyard`.
fn root() -> std::io::Result<PathBuf> {
    let state_home = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map(|home| home.join(".local").join("state"))
        })
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "neither XDG_STATE_HOME nor HOME is set to an absolute path, so there is no private folder for the local service's keys",
            )
        })?;
    Ok(state_home.join("batchyard"))
}

/// The state file's path made absolute, its folder resolved through links when it
/// exists, so two spellings of one state share one private folder.
fn absolute(state: &Path) -> std::io::Result<PathBuf> {
    let state = std::path::absolute(state)?;
    match (state.parent(), state.file_name()) {
        (Some(parent), Some(name)) => match parent.canonicalize() {
            Ok(parent) => Ok(parent.join(name)),
            Err(_) => Ok(state),
        },
        _ => Ok(state),
    }
}

fn hash_of(path: &Path) -> String {
    let digest = Sha256::digest(path.as_os_str().as_encoded_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads the file `name` of the private folder `dir`, or makes it with `make` when it is
/// missing or `usable` rejects it. Two processes may start on a new state at once: the
/// first file to land is the one both use.
pub fn read_or_make(
    dir: &Path,
    name: &str,
    usable: impl Fn(&[u8]) -> bool,
    make: impl Fn() -> Vec<u8>,
) -> std::io::Result<Vec<u8>> {
    let path = dir.join(name);
    match std::fs::read(&path) {
        Ok(bytes) if usable(&bytes) => return Ok(bytes),
        Ok(_) => {
            tracing::warn!(path = %path.display(), "unusable key file; making a new one");
            let bytes = make();
            write_private(&path, &bytes, true)?;
            return Ok(bytes);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let bytes = make();
    let tmp = dir.join(format!("{name}.new-{:016x}", rand::random::<u64>()));
    write_private(&tmp, &bytes, false)?;
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::read(&path),
        Err(e) => Err(e),
    }
}

/// Writes `bytes` to a new owner-only file (replacing one when `replace`), synced so a
/// kill right after cannot leave it empty.
pub fn write_private(path: &Path, bytes: &[u8], replace: bool) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).mode(0o600);
    if replace {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_state_one_private_folder_outside_it() {
        let home = tempfile::tempdir().unwrap();
        let root = home.path().join("batchyard");
        let states = tempfile::tempdir().unwrap();
        let state = states.path().join("emulator.db");
        let dir = for_state_under(&root, &state).unwrap();
        assert!(dir.starts_with(root.join("local")));
        assert!(!dir.starts_with(states.path()));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&root), mode(&dir)), (0o700, 0o700));
        // Another spelling of the same file, the same folder; another file, another.
        let spelled = states.path().join(".").join("emulator.db");
        assert_eq!(for_state_under(&root, &spelled).unwrap(), dir);
        let other = states.path().join("other.db");
        assert_ne!(for_state_under(&root, &other).unwrap(), dir);

        let made = read_or_make(&dir, "k", |b| b.len() == 3, || b"abc".to_vec()).unwrap();
        let again = read_or_make(&dir, "k", |b| b.len() == 3, || b"xyz".to_vec()).unwrap();
        assert_eq!(
            (made.as_slice(), again.as_slice()),
            (&b"abc"[..], &b"abc"[..])
        );
        assert_eq!(mode(&dir.join("k")), 0o600);
        // An unusable file is replaced.
        std::fs::write(dir.join("k"), b"too long").unwrap();
        let made = read_or_make(&dir, "k", |b| b.len() == 3, || b"new".to_vec()).unwrap();
        assert_eq!(made, b"new");
    }
}
