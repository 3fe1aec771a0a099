//! Identifier rules shared by pools, jobs and tasks.

/// Longest id the service accepts.
pub const MAX_ID_LEN: usize = 64;

/// Whether `id` is a valid Batch id: 1 to 64 characters, ASCII letters, digits,
/// hyphens and underscores.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_rules() {
        assert!(is_valid_id("task-1_A"));
        assert!(is_valid_id(&"a".repeat(64)));
        assert!(!is_valid_id(&"a".repeat(65)));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("a b"));
        assert!(!is_valid_id("../x"));
        assert!(!is_valid_id("é"));
    }
}
