//! Splitting a task command line into program and arguments.
//!
//! Batch runs a command line without a shell: no variable expansion, no pipes, no
//! globbing. Quotes group words and a backslash escapes the next character, as the
//! Linux node agent does; a user who wants a shell writes `/bin/sh -c "..."`.

/// Why a command line cannot be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandLineError {
    /// The command line has no words.
    #[error("the command line is empty")]
    Empty,
    /// A quote was opened and never closed.
    #[error("the command line has an unterminated {0} quote")]
    UnterminatedQuote(char),
}

/// Splits a command line into words.
pub fn split(line: &str) -> Result<Vec<String>, CommandLineError> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(inner) => current.push(inner),
                        None => return Err(CommandLineError::UnterminatedQuote('\'')),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\' | '$' | '`')) => current.push(e),
                            Some(other) => {
                                current.push('\\');
                                current.push(other);
                            }
                            None => return Err(CommandLineError::UnterminatedQuote('"')),
                        },
                        Some(inner) => current.push(inner),
                        None => return Err(CommandLineError::UnterminatedQuote('"')),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            other => {
                in_word = true;
                current.push(other);
            }
        }
    }
    if in_word {
        words.push(current);
    }
    if words.is_empty() {
        return Err(CommandLineError::Empty);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_without_shell_semantics() {
        assert_eq!(
            split(r#"/bin/sh -c "echo \"hi\" $HOME | cat" 'a b' c\ d"#).unwrap(),
            vec!["/bin/sh", "-c", r#"echo "hi" $HOME | cat"#, "a b", "c d"]
        );
        assert_eq!(split("echo $HOME;ls").unwrap(), vec!["echo", "$HOME;ls"]);
        assert_eq!(split("a ''").unwrap(), vec!["a", ""]);
        assert_eq!(split("  ").unwrap_err(), CommandLineError::Empty);
        assert_eq!(
            split("echo 'x").unwrap_err(),
            CommandLineError::UnterminatedQuote('\'')
        );
    }
}
