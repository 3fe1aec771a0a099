//! Output file patterns, with the wildcards Batch documents for `OutputFile.filePattern`
//! (BatchService.json): `*` (any run of characters), `?` (one character), `**` (any
//! number of directories), `[abc]`, `[a-c]` and `[!abc]`; a name starting with `.` is
//! matched only by a pattern segment that starts with `.`. Relative patterns start at
//! the task's working directory; `..` segments are allowed (`../std*.txt` names the
//! task's stdout and stderr).

use std::path::{Path, PathBuf};

/// Deepest directory walk, so a symbolic link loop cannot run forever.
const MAX_DEPTH: usize = 64;

/// Whether a pattern has wildcards (and so may match many files).
pub fn has_wildcards(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// Files matching `pattern` relative to `working_dir`, each with its path relative to
/// the pattern's fixed leading directories (the part before the first wildcard), in
/// name order. Without wildcards: the named file alone, relative path = its name.
pub fn expand(working_dir: &Path, pattern: &str) -> Vec<(PathBuf, String)> {
    let absolute = pattern.starts_with('/');
    let segments: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    let fixed = segments
        .iter()
        .position(|s| has_wildcards(s))
        .unwrap_or(segments.len());
    let mut base = if absolute {
        PathBuf::from("/")
    } else {
        working_dir.to_path_buf()
    };
    if fixed == segments.len() {
        let path = segments.iter().fold(base, |p, s| p.join(s));
        return match (path.is_file(), path.file_name()) {
            (true, Some(name)) => {
                let name = name.to_string_lossy().to_string();
                vec![(path, name)]
            }
            _ => Vec::new(),
        };
    }
    for segment in &segments[..fixed] {
        base.push(segment);
    }
    let mut found = Vec::new();
    walk(&base, &segments[fixed..], String::new(), 0, &mut found);
    found.sort_by(|a, b| a.1.cmp(&b.1));
    found.dedup_by(|a, b| a.1 == b.1);
    found
}

fn walk(
    dir: &Path,
    rest: &[&str],
    relative: String,
    depth: usize,
    found: &mut Vec<(PathBuf, String)>,
) {
    let Some((segment, tail)) = rest.split_first() else {
        return;
    };
    if depth > MAX_DEPTH {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<(String, PathBuf, bool)> = entries
        .filter_map(Result::ok)
        .map(|e| {
            let path = e.path();
            let is_dir = path.is_dir();
            (e.file_name().to_string_lossy().to_string(), path, is_dir)
        })
        .collect();
    entries.sort();
    let join = |name: &str| {
        if relative.is_empty() {
            name.to_string()
        } else {
            format!("{relative}/{name}")
        }
    };
    if *segment == "**" {
        // Zero directories, then one more directory with `**` still to match.
        walk(dir, tail, relative.clone(), depth + 1, found);
        for (name, path, is_dir) in &entries {
            if *is_dir && !name.starts_with('.') {
                walk(path, rest, join(name), depth + 1, found);
            }
        }
        return;
    }
    for (name, path, is_dir) in entries {
        if !segment_matches(segment, &name) {
            continue;
        }
        if tail.is_empty() {
            if !is_dir {
                found.push((path, join(&name)));
            }
        } else if is_dir {
            walk(&path, tail, join(&name), depth + 1, found);
        }
    }
}

/// Whether one name matches one pattern segment.
pub fn segment_matches(segment: &str, name: &str) -> bool {
    if name.starts_with('.') && !segment.starts_with('.') {
        return false;
    }
    let pattern: Vec<char> = segment.chars().collect();
    let name: Vec<char> = name.chars().collect();
    matches(&pattern, &name)
}

fn matches(pattern: &[char], name: &[char]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some(('*', rest)) => (0..=name.len()).any(|skip| matches(rest, &name[skip..])),
        Some(('?', rest)) => !name.is_empty() && matches(rest, &name[1..]),
        Some(('[', rest)) => match (class(rest), name.split_first()) {
            (Some((set, after)), Some((c, name_rest))) => {
                set.contains(*c) && matches(after, name_rest)
            }
            // An unclosed bracket is a literal `[`.
            (None, Some(('[', name_rest))) => matches(rest, name_rest),
            _ => false,
        },
        Some((c, rest)) => name.first() == Some(c) && matches(rest, &name[1..]),
    }
}

/// A bracket class: the characters it accepts and the pattern after it.
struct Class {
    negated: bool,
    items: Vec<(char, char)>,
}

impl Class {
    fn contains(&self, c: char) -> bool {
        self.items.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != self.negated
    }
}

fn class(pattern: &[char]) -> Option<(Class, &[char])> {
    let (negated, mut body) = match pattern.first() {
        Some('!') => (true, &pattern[1..]),
        _ => (false, pattern),
    };
    let mut items = Vec::new();
    let mut first = true;
    loop {
        match body {
            [] => return None,
            // `]` right after the opening closes nothing: it is a member.
            [']', rest @ ..] if !first => return Some((Class { negated, items }, rest)),
            [lo, '-', hi, rest @ ..] if *hi != ']' => {
                items.push((*lo, *hi));
                body = rest;
            }
            [c, rest @ ..] => {
                items.push((*c, *c));
                body = rest;
            }
        }
        first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_match_the_documented_wildcards() {
        assert!(segment_matches("abc*", "abc"));
        assert!(segment_matches("abc*", "abcdef"));
        assert!(segment_matches("*.txt", "a.txt"));
        assert!(!segment_matches("*.gif", ".a.gif"));
        assert!(segment_matches(".*.gif", ".a.gif"));
        assert!(segment_matches("?.txt", "a.txt"));
        assert!(!segment_matches("?.txt", "ab.txt"));
        assert!(segment_matches("[abc].txt", "b.txt"));
        assert!(segment_matches("[a-c].txt", "c.txt"));
        assert!(!segment_matches("[a-c].txt", "d.txt"));
        assert!(segment_matches("[!abc].txt", "d.txt"));
        assert!(!segment_matches("[!abc].txt", "a.txt"));
        assert!(segment_matches("abc[*]", "abc*"));
        assert!(!segment_matches("abc[*]", "abcd"));
    }

    #[test]
    fn double_star_walks_directories_and_skips_dot_names() {
        let dir = tempfile::tempdir().unwrap();
        let wd = dir.path().join("wd");
        for f in [
            "out/a.txt",
            "out/sub/b.txt",
            "out/sub/deep/c.txt",
            "out/sub/d.log",
            "out/.hid/e.txt",
            "out/.f.txt",
        ] {
            let p = wd.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, f).unwrap();
        }
        std::fs::write(dir.path().join("stdout.txt"), "o").unwrap();
        let names = |pattern: &str| {
            expand(&wd, pattern)
                .into_iter()
                .map(|(_, rel)| rel)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names("out/**/*.txt"),
            vec!["a.txt", "sub/b.txt", "sub/deep/c.txt"]
        );
        assert_eq!(names("**/*.log"), vec!["out/sub/d.log"]);
        assert_eq!(names("out/*"), vec!["a.txt"]);
        assert_eq!(names("out/.*.txt"), vec![".f.txt"]);
        assert_eq!(names("../std*.txt"), vec!["stdout.txt"]);
        assert_eq!(names("out/sub/b.txt"), vec!["b.txt"]);
        assert!(names("out/missing.txt").is_empty());
        let absolute = format!("{}/out/s?b/*.txt", wd.display());
        assert_eq!(names(&absolute), vec!["sub/b.txt"]);
    }
}
