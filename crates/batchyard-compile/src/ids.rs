//! Batch id rules and duplicate detection for generated task ids.

use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};

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

/// Checks an id against Batch's rules: 1 to 64 ASCII letters, digits, hyphens, underscores.
pub fn check_id(id: &str) -> Result<(), IdError> {
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
/// 16 MiB instead of the ids' full size. A false duplicate needs a 64-bit hash collision: for
/// a million ids the chance is about 3 in 100 million.
#[derive(Debug, Default)]
pub struct SeenIds {
    hashes: HashSet<u64, BuildHasherDefault<IdentityHasher>>,
}

impl SeenIds {
    pub fn new() -> Self {
        Self::default()
    }

    /// Room for `additional` more ids, so a big factory does not grow the set step by step
    /// (each growth briefly holds the old and the new table).
    pub fn reserve(&mut self, additional: usize) {
        self.hashes.reserve(additional);
    }

    /// Records `id`; false when it (or the same id in another case) was seen before.
    pub fn insert(&mut self, id: &str) -> bool {
        // Lower-case into a stack buffer: checked ids are at most 64 bytes, so the common
        // case allocates nothing. DefaultHasher's keys are fixed, stable within the process.
        let mut buf = [0u8; MAX_ID_LEN];
        let h = if id.len() <= MAX_ID_LEN {
            for (slot, b) in buf.iter_mut().zip(id.bytes()) {
                *slot = b.to_ascii_lowercase();
            }
            BuildHasherDefault::<DefaultHasher>::default().hash_one(&buf[..id.len()])
        } else {
            BuildHasherDefault::<DefaultHasher>::default()
                .hash_one(id.to_ascii_lowercase().as_bytes())
        };
        self.hashes.insert(h)
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
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
        assert!(seen.insert("Task-1"));
        assert!(!seen.insert("task-1"));
        assert!(seen.insert("task-2"));
        assert_eq!(seen.len(), 2);
        for i in 0..100_000 {
            assert!(seen.insert(&format!("t{i}")));
        }
    }
}
