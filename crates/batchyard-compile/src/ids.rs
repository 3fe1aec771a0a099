//! Batch id rules and duplicate detection for generated task ids.

use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault};

/// The longest id Batch accepts for pools, jobs and tasks.
pub const MAX_ID_LEN: usize = 64;

/// Why an id is not a valid Batch id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The id is empty.
    #[error("the id is empty")]
    Empty,
    /// The id is longer than 64 characters.
    #[error("`{id}` is {len} characters long; Batch allows at most 64")]
    TooLong { id: String, len: usize },
    /// The id has a character other than letters, digits, `-` and `_`.
    #[error("`{id}` contains `{ch}`; Batch ids allow only letters, digits, `-` and `_`")]
    BadChar { id: String, ch: char },
}

/// Whether `id` is a valid Batch id, in one pass over its bytes.
pub fn is_valid_id(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks an id against Batch's rules: 1 to 64 ASCII letters, digits, hyphens, underscores.
pub fn check_id(id: &str) -> Result<(), IdError> {
    if is_valid_id(id.as_bytes()) {
        return Ok(());
    }
    if id.is_empty() {
        return Err(IdError::Empty);
    }
    let len = id.chars().count();
    if len > MAX_ID_LEN {
        return Err(IdError::TooLong {
            id: id.to_string(),
            len,
        });
    }
    if let Some(ch) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(IdError::BadChar {
            id: id.to_string(),
            ch,
        });
    }
    Ok(())
}

/// Remembers ids seen so far to report duplicates, ignoring case as Batch does.
///
/// It keeps a 64-bit hash per id rather than the id itself, so a million-task job costs about
/// 16 MiB instead of the ids' full size. A hash seen before is only a suspicion
/// ([`Seen::Unsure`]): the caller confirms it with [`SeenIds::confirm`], handing over the ids
/// remembered so far, and from then on the ids themselves are kept, so no hash collision is
/// ever reported as a duplicate.
#[derive(Debug, Default)]
pub struct SeenIds {
    hashes: HashSet<u64, BuildHasherDefault<IdentityHasher>>,
    /// The ids in lower case, once a hash was seen twice.
    exact: Option<HashSet<Box<[u8]>>>,
}

/// Whether an id was seen before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Not seen before; it is now remembered.
    New,
    /// Seen before.
    Again,
    /// Its hash was seen before: call [`SeenIds::confirm`], then insert it again.
    Unsure,
}

/// Fixed keys: the same ids hash the same in every run, so a run is reproducible.
const HASH_SEED: u64 = 0x6261_7463_6879_6172;

/// The hash [`SeenIds`] keeps for `id`, for [`SeenIds::insert_hash`].
pub(crate) fn hash_id(id: &[u8]) -> u64 {
    // Lower-case into a stack buffer: checked ids are at most 64 bytes, so the common case
    // allocates nothing.
    let state = foldhash::quality::FixedState::with_seed(HASH_SEED);
    let mut buf = [0u8; MAX_ID_LEN];
    if id.len() <= MAX_ID_LEN {
        for (slot, b) in buf.iter_mut().zip(id) {
            *slot = b.to_ascii_lowercase();
        }
        state.hash_one(&buf[..id.len()])
    } else {
        state.hash_one(id.to_ascii_lowercase())
    }
}

impl SeenIds {
    pub fn new() -> Self {
        Self::default()
    }

    /// Room for `additional` more ids, so a big factory does not grow the set step by step
    /// (each growth briefly holds the old and the new table).
    pub fn reserve(&mut self, additional: usize) {
        match &mut self.exact {
            Some(exact) => exact.reserve(additional),
            None => self.hashes.reserve(additional),
        }
    }

    /// Records `id`, or says it (or the same id in another case) was seen before.
    pub fn insert(&mut self, id: &[u8]) -> Seen {
        if let Some(exact) = &mut self.exact {
            return if exact.insert(id.to_ascii_lowercase().into_boxed_slice()) {
                Seen::New
            } else {
                Seen::Again
            };
        }
        if self.hashes.insert(hash_id(id)) {
            Seen::New
        } else {
            Seen::Unsure
        }
    }

    /// Records an id by its [`hash_id`], computed elsewhere (on another thread). Once the
    /// ids themselves are kept, a hash settles nothing: the answer is [`Seen::Unsure`] and
    /// nothing is recorded, and the caller goes through [`Self::insert`].
    pub(crate) fn insert_hash(&mut self, hash: u64) -> Seen {
        if self.exact.is_none() && self.hashes.insert(hash) {
            Seen::New
        } else {
            Seen::Unsure
        }
    }

    /// Whether the ids themselves are kept, so [`Self::insert_hash`] cannot settle anything.
    pub(crate) fn is_exact(&self) -> bool {
        self.exact.is_some()
    }

    /// Switches to remembering the ids themselves, given every id recorded so far (in any
    /// case, in any order).
    pub fn confirm(&mut self, earlier: impl IntoIterator<Item = String>) {
        let exact = earlier
            .into_iter()
            .map(|id| id.to_ascii_lowercase().into_bytes().into_boxed_slice())
            .collect();
        self.exact = Some(exact);
        self.hashes = HashSet::default();
    }

    /// Whether `id` (or the same id in another case) was recorded. Without the ids
    /// themselves this compares hashes, so a collision can say yes for an id never seen.
    pub fn contains(&self, id: &[u8]) -> bool {
        match &self.exact {
            Some(exact) => exact.contains(id.to_ascii_lowercase().as_slice()),
            None => self.hashes.contains(&hash_id(id)),
        }
    }

    pub fn len(&self) -> usize {
        match &self.exact {
            Some(exact) => exact.len(),
            None => self.hashes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The keys are already hashes: pass them through.
#[derive(Debug, Default)]
struct IdentityHasher(u64);

impl std::hash::Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_rules() {
        assert_eq!(
            check_id("sweep-0.1-16").unwrap_err(),
            IdError::BadChar {
                id: "sweep-0.1-16".into(),
                ch: '.'
            }
        );
        assert!(check_id("sweep_01-16").is_ok());
        assert_eq!(check_id(""), Err(IdError::Empty));
        assert!(matches!(
            check_id(&"a".repeat(65)),
            Err(IdError::TooLong { len: 65, .. })
        ));
        assert!(check_id(&"a".repeat(64)).is_ok());
        assert!(check_id("tâche").is_err());
    }

    #[test]
    fn duplicates_ignore_case() {
        let mut seen = SeenIds::new();
        assert_eq!(seen.insert(b"Task-1"), Seen::New);
        assert_eq!(seen.insert(b"task-1"), Seen::Unsure);
        assert_eq!(seen.insert(b"task-2"), Seen::New);
        assert_eq!(seen.len(), 2);
        for i in 0..100_000 {
            assert_eq!(seen.insert(format!("t{i}").as_bytes()), Seen::New);
        }
    }

    #[test]
    fn a_suspicion_is_settled_by_the_ids_themselves() {
        let mut seen = SeenIds::new();
        assert_eq!(seen.insert(b"a-1"), Seen::New);
        assert_eq!(seen.insert(b"A-1"), Seen::Unsure);
        seen.confirm(["a-1".to_owned()]);
        assert_eq!(seen.insert(b"A-1"), Seen::Again);
        assert_eq!(seen.insert(b"a-2"), Seen::New);
        assert_eq!(seen.insert(b"a-2"), Seen::Again);
        // A hash that collided with a different id: the ids tell them apart.
        let mut seen = SeenIds::new();
        seen.insert(b"x");
        seen.confirm(["y".to_owned()]);
        assert_eq!(seen.insert(b"x"), Seen::New);
        assert_eq!(seen.len(), 2);
    }
}
