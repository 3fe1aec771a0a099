//! The OData `$filter` subset that batchyard and the SDKs send: comparisons of a
//! property path with a literal (`state eq 'active'`, `executionInfo/exitCode ne 0`),
//! `startswith(id,'x')`, joined with `and`, `or`, `not` and parentheses.

use serde_json::Value;

/// Longest filter text accepted. The service's URLs are bounded too; a filter of a
/// few hundred ids fits.
pub const MAX_FILTER_BYTES: usize = 16 * 1024;
/// Deepest nesting of parentheses and `not` accepted: parsing and matching recurse
/// once per level, and a request must never be able to exhaust the stack.
pub const MAX_DEPTH: usize = 32;
/// Most comparisons in one filter; `and`/`or` chains nest one level per term.
pub const MAX_TERMS: usize = 1000;

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `path op literal`.
    Compare(String, Op, Value),
    /// `startswith(path, 'prefix')`.
    StartsWith(String, String),
    /// Both hold.
    And(Box<Filter>, Box<Filter>),
    /// Either holds.
    Or(Box<Filter>, Box<Filter>),
    /// Negation.
    Not(Box<Filter>),
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `gt`
    Gt,
    /// `ge`
    Ge,
    /// `lt`
    Lt,
    /// `le`
    Le,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Num(f64),
    Open,
    Close,
    Comma,
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                out.push(Token::Open);
                i += 1;
            }
            ')' => {
                out.push(Token::Close);
                i += 1;
            }
            ',' => {
                out.push(Token::Comma);
                i += 1;
            }
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated string literal".into()),
                        // OData escapes a quote by doubling it.
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            s.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Token::Str(s));
            }
            c if c.is_ascii_digit() || c == '-' => {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                out.push(Token::Num(
                    text.parse().map_err(|_| format!("bad number {text}"))?,
                ));
            }
            c if c.is_alphanumeric() || c == '_' || c == '/' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '/')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                // datetime'...' literals compare as strings of RFC 3339 text.
                if word == "datetime" && chars.get(i) == Some(&'\'') {
                    continue;
                }
                out.push(Token::Ident(word));
            }
            other => return Err(format!("unexpected character '{other}'")),
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    terms: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Ident(w)) if w.eq_ignore_ascii_case(word))
    }

    fn or(&mut self) -> Result<Filter, String> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.pos += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, String>) -> Result<T, String> {
        if self.depth >= MAX_DEPTH {
            return Err(format!(
                "the filter nests parentheses or 'not' more than {MAX_DEPTH} levels deep"
            ));
        }
        self.depth += 1;
        let out = f(self);
        self.depth -= 1;
        out
    }

    fn unary(&mut self) -> Result<Filter, String> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(format!("the filter has more than {MAX_TERMS} terms"));
        }
        if self.keyword("not") {
            self.pos += 1;
            return self.nested(|p| Ok(Filter::Not(Box::new(p.unary()?))));
        }
        match self.next() {
            Some(Token::Open) => {
                let inner = self.nested(Self::or)?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err("missing ')'".into()),
                }
            }
            Some(Token::Ident(f)) if f.eq_ignore_ascii_case("startswith") => {
                let (
                    Some(Token::Open),
                    Some(Token::Ident(path)),
                    Some(Token::Comma),
                    Some(Token::Str(prefix)),
                    Some(Token::Close),
                ) = (
                    self.next(),
                    self.next(),
                    self.next(),
                    self.next(),
                    self.next(),
                )
                else {
                    return Err("startswith takes (property, 'prefix')".into());
                };
                Ok(Filter::StartsWith(path, prefix))
            }
            Some(Token::Ident(path)) => {
                let op = match self.next() {
                    Some(Token::Ident(op)) => match op.to_ascii_lowercase().as_str() {
                        "eq" => Op::Eq,
                        "ne" => Op::Ne,
                        "gt" => Op::Gt,
                        "ge" => Op::Ge,
                        "lt" => Op::Lt,
                        "le" => Op::Le,
                        other => return Err(format!("unknown operator '{other}'")),
                    },
                    _ => return Err(format!("expected an operator after '{path}'")),
                };
                let literal = match self.next() {
                    Some(Token::Str(s)) => Value::String(s),
                    Some(Token::Num(n)) => serde_json::Number::from_f64(n)
                        .map(Value::Number)
                        .unwrap_or(Value::Null),
                    Some(Token::Ident(w)) if w == "true" || w == "false" => {
                        Value::Bool(w == "true")
                    }
                    Some(Token::Ident(w)) if w == "null" => Value::Null,
                    _ => return Err(format!("expected a literal after '{path}'")),
                };
                Ok(Filter::Compare(path, op, literal))
            }
            _ => Err("expected a comparison".into()),
        }
    }
}

/// Parses a `$filter` expression; the error says what is wrong.
pub fn parse(text: &str) -> Result<Filter, String> {
    if text.len() > MAX_FILTER_BYTES {
        return Err(format!(
            "the filter is longer than {MAX_FILTER_BYTES} bytes"
        ));
    }
    let mut parser = Parser {
        tokens: tokenize(text)?,
        pos: 0,
        depth: 0,
        terms: 0,
    };
    let filter = parser.or()?;
    if parser.pos != parser.tokens.len() {
        return Err("unexpected text after the expression".into());
    }
    Ok(filter)
}

fn lookup<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('/').try_fold(doc, |v, key| v.get(key))
}

fn compare(left: Option<&Value>, op: Op, right: &Value) -> bool {
    use std::cmp::Ordering;
    let ordering = match (left, right) {
        (Some(Value::String(a)), Value::String(b)) => {
            // Enum values and ids compare case-insensitively in the service.
            Some(a.to_ascii_lowercase().cmp(&b.to_ascii_lowercase()))
        }
        (Some(Value::Number(a)), Value::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(a, b)| a.partial_cmp(&b)),
        (Some(Value::Bool(a)), Value::Bool(b)) => Some(a.cmp(b)),
        (None | Some(Value::Null), Value::Null) => Some(Ordering::Equal),
        _ => None,
    };
    match (op, ordering) {
        (Op::Eq, Some(o)) => o == Ordering::Equal,
        (Op::Ne, Some(o)) => o != Ordering::Equal,
        (Op::Ne, None) => true,
        (Op::Gt, Some(o)) => o == Ordering::Greater,
        (Op::Ge, Some(o)) => o != Ordering::Less,
        (Op::Lt, Some(o)) => o == Ordering::Less,
        (Op::Le, Some(o)) => o != Ordering::Greater,
        (_, None) => false,
    }
}

impl Filter {
    /// Whether the document matches.
    pub fn matches(&self, doc: &Value) -> bool {
        match self {
            Filter::Compare(path, op, lit) => compare(lookup(doc, path), *op, lit),
            Filter::StartsWith(path, prefix) => {
                lookup(doc, path).and_then(Value::as_str).is_some_and(|s| {
                    s.to_ascii_lowercase()
                        .starts_with(&prefix.to_ascii_lowercase())
                })
            }
            Filter::And(a, b) => a.matches(doc) && b.matches(doc),
            Filter::Or(a, b) => a.matches(doc) || b.matches(doc),
            Filter::Not(a) => !a.matches(doc),
        }
    }

    /// When the filter only admits documents in a fixed set of states (the common
    /// `state eq 'x' or state eq 'y'`), that set; lets the store use its state index.
    pub fn states(&self) -> Option<Vec<String>> {
        match self {
            Filter::Compare(path, Op::Eq, Value::String(s)) if path == "state" => {
                Some(vec![s.to_ascii_lowercase()])
            }
            Filter::Or(a, b) => {
                let mut s = a.states()?;
                s.extend(b.states()?);
                Some(s)
            }
            Filter::And(a, b) => a.states().or_else(|| b.states()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn state_comparisons_with_and_or() {
        let f =
            parse("(state eq 'active' or state eq 'running') and executionInfo/retryCount ge 1")
                .unwrap();
        assert!(f.matches(&json!({"state": "running", "executionInfo": {"retryCount": 2}})));
        assert!(!f.matches(&json!({"state": "running", "executionInfo": {"retryCount": 0}})));
        assert!(!f.matches(&json!({"state": "completed", "executionInfo": {"retryCount": 3}})));
        assert_eq!(f.states(), Some(vec!["active".into(), "running".into()]));
    }

    #[test]
    fn startswith_not_and_quotes() {
        let f = parse("startswith(id,'sweep-') and not (state eq 'completed')").unwrap();
        assert!(f.matches(&json!({"id": "sweep-1", "state": "active"})));
        assert!(!f.matches(&json!({"id": "sweep-1", "state": "completed"})));
        assert!(!f.matches(&json!({"id": "prep", "state": "active"})));
        let q = parse("id eq 'it''s'").unwrap();
        assert!(q.matches(&json!({"id": "it's"})));
        assert_eq!(q.states(), None);
    }

    #[test]
    fn malformed_filters_are_rejected() {
        assert!(parse("state eq").is_err());
        assert!(parse("state like 'x'").is_err());
        assert!(parse("(state eq 'a'").is_err());
        assert!(parse("state eq 'a' junk").is_err());
    }
}
