//! Splits a formula into tokens. Comments (`//` to the end of the line and `/* */`) and
//! whitespace, line breaks included, separate tokens and are otherwise dropped.

use super::SyntaxError;

/// One token and the 1-based line and column it starts at.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub kind: Kind,
    pub line: usize,
    pub col: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Number(f64),
    Str(String),
    /// A `$name` (service-defined or user) or a bare name (user variable, constant,
    /// function); the text keeps its `$`.
    Name(String),
    Punct(&'static str),
    /// End of the formula.
    End,
}

const PUNCTS: &[&str] = &[
    "&&", "||", "==", "!=", "<=", ">=", "+", "-", "*", "/", "<", ">", "!", "?", ":", "(", ")", ",",
    ";", "=", ".",
];

pub fn tokenize(text: &str) -> Result<Vec<Token>, SyntaxError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1usize, 1usize);
    let advance = |i: &mut usize, line: &mut usize, col: &mut usize, n: usize| {
        for _ in 0..n {
            if chars.get(*i) == Some(&'\n') {
                *line += 1;
                *col = 1;
            } else {
                *col += 1;
            }
            *i += 1;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            advance(&mut i, &mut line, &mut col, 1);
            continue;
        }
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                advance(&mut i, &mut line, &mut col, 1);
            }
            continue;
        }
        if c == '/' && next == Some('*') {
            let (start_line, start_col) = (line, col);
            advance(&mut i, &mut line, &mut col, 2);
            loop {
                if i >= chars.len() {
                    return Err(SyntaxError::at(
                        start_line,
                        start_col,
                        "the comment is never closed with */",
                    ));
                }
                if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    advance(&mut i, &mut line, &mut col, 2);
                    break;
                }
                advance(&mut i, &mut line, &mut col, 1);
            }
            continue;
        }
        let (tline, tcol) = (line, col);
        let token = |kind| Token {
            kind,
            line: tline,
            col: tcol,
        };
        if c.is_ascii_digit() || (c == '.' && next.is_some_and(|n| n.is_ascii_digit())) {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                advance(&mut i, &mut line, &mut col, 1);
            }
            // An exponent only when digits follow, so `2e` stays a syntax error below.
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let mut j = i + 1;
                if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
                    j += 1;
                }
                if j < chars.len() && chars[j].is_ascii_digit() {
                    while j < chars.len() && chars[j].is_ascii_digit() {
                        j += 1;
                    }
                    let n = j - i;
                    advance(&mut i, &mut line, &mut col, n);
                }
            }
            let text: String = chars[start..i].iter().collect();
            let value: f64 = text
                .parse()
                .map_err(|_| SyntaxError::at(tline, tcol, format!("'{text}' is not a number")))?;
            if i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                return Err(SyntaxError::at(
                    tline,
                    tcol,
                    format!("'{text}{}' is not a number", chars[i]),
                ));
            }
            out.push(token(Kind::Number(value)));
            continue;
        }
        if c == '$' || c.is_alphabetic() || c == '_' {
            let start = i;
            advance(&mut i, &mut line, &mut col, 1);
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                advance(&mut i, &mut line, &mut col, 1);
            }
            let text: String = chars[start..i].iter().collect();
            if text == "$" {
                return Err(SyntaxError::at(
                    tline,
                    tcol,
                    "'$' must begin a variable name",
                ));
            }
            out.push(token(Kind::Name(text)));
            continue;
        }
        if c == '"' {
            advance(&mut i, &mut line, &mut col, 1);
            let start = i;
            while i < chars.len() && chars[i] != '"' {
                advance(&mut i, &mut line, &mut col, 1);
            }
            if i >= chars.len() {
                return Err(SyntaxError::at(tline, tcol, "the string is never closed"));
            }
            let text: String = chars[start..i].iter().collect();
            advance(&mut i, &mut line, &mut col, 1);
            out.push(token(Kind::Str(text)));
            continue;
        }
        let Some(p) = PUNCTS.iter().find(|p| {
            p.chars()
                .enumerate()
                .all(|(k, pc)| chars.get(i + k) == Some(&pc))
        }) else {
            return Err(SyntaxError::at(
                tline,
                tcol,
                format!("unexpected character '{c}'"),
            ));
        };
        advance(&mut i, &mut line, &mut col, p.len());
        out.push(token(Kind::Punct(p)));
    }
    out.push(Token {
        kind: Kind::End,
        line,
        col,
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Kind> {
        tokenize(text)
            .unwrap()
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    #[test]
    fn tokens_comments_and_positions() {
        assert_eq!(
            kinds("$a = 1.5e1; // note\n/* block */ b<=c"),
            vec![
                Kind::Name("$a".into()),
                Kind::Punct("="),
                Kind::Number(15.0),
                Kind::Punct(";"),
                Kind::Name("b".into()),
                Kind::Punct("<="),
                Kind::Name("c".into()),
                Kind::End,
            ]
        );
        let t = tokenize("$a = 1;\n  $b").unwrap();
        assert_eq!((t[4].line, t[4].col), (2, 3));
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(tokenize("$a = 1 # 2").is_err());
        assert!(tokenize("/* open").is_err());
        assert!(tokenize("\"open").is_err());
        assert!(tokenize("$ = 1").is_err());
        assert!(tokenize("1.2.3").is_err());
        assert!(tokenize("12abc").is_err());
    }
}
