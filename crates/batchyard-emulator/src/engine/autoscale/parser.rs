//! Recursive-descent parser from tokens to statements.
//!
//! The grammar is the service's general one (any name, function or method parses), so
//! a formula that is valid Batch but outside what the emulator evaluates fails at
//! evaluation with a message naming the construct, not as a syntax error.

use super::SyntaxError;
use super::lexer::{Kind, Token, tokenize};

/// Where a construct starts, for messages in the service's `Line L, Col C` style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Number(f64),
    Str(String),
    Name(String, Pos),
    Call(String, Vec<Expr>, Pos),
    /// `target.name(args)`.
    Method(Box<Expr>, String, Vec<Expr>, Pos),
    /// `target.name`.
    Member(Box<Expr>, String, Pos),
    Unary(&'static str, Box<Expr>, Pos),
    Binary(&'static str, Box<Expr>, Box<Expr>, Pos),
    Ternary(Box<Expr>, Box<Expr>, Box<Expr>, Pos),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    Assign(String, Expr, Pos),
    Expr(Expr),
}

/// Nesting beyond this is refused, so a hostile formula cannot exhaust the stack.
const MAX_DEPTH: usize = 64;
/// The service's limits on a formula.
pub const MAX_BYTES: usize = 8 * 1024;
pub const MAX_STATEMENTS: usize = 100;

pub fn parse(text: &str) -> Result<Vec<Statement>, SyntaxError> {
    if text.len() > MAX_BYTES {
        return Err(SyntaxError::at(
            1,
            1,
            format!(
                "the formula is {} bytes; at most {MAX_BYTES} are allowed",
                text.len()
            ),
        ));
    }
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        tokens,
        at: 0,
        depth: 0,
    };
    let mut statements = Vec::new();
    loop {
        while parser.eat(";") {}
        if parser.peek().kind == Kind::End {
            break;
        }
        if statements.len() == MAX_STATEMENTS {
            let t = parser.peek();
            return Err(SyntaxError::at(
                t.line,
                t.col,
                format!("a formula holds at most {MAX_STATEMENTS} statements"),
            ));
        }
        statements.push(parser.statement()?);
        if !parser.eat(";") && parser.peek().kind != Kind::End {
            return Err(parser.unexpected("';' between statements"));
        }
    }
    if statements.is_empty() {
        return Err(SyntaxError::at(1, 1, "the formula has no statements"));
    }
    Ok(statements)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        // The token list always ends with `End`, and `bump` never moves past it.
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn peek_at(&self, ahead: usize) -> &Kind {
        &self.tokens[(self.at + ahead).min(self.tokens.len() - 1)].kind
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if self.at < self.tokens.len() - 1 {
            self.at += 1;
        }
        t
    }

    fn pos(&self) -> Pos {
        let t = self.peek();
        Pos {
            line: t.line,
            col: t.col,
        }
    }

    fn eat(&mut self, punct: &str) -> bool {
        if matches!(self.peek().kind, Kind::Punct(p) if p == punct) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, punct: &str) -> Result<(), SyntaxError> {
        if self.eat(punct) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("'{punct}'")))
        }
    }

    fn unexpected(&self, wanted: &str) -> SyntaxError {
        let t = self.peek();
        let found = match &t.kind {
            Kind::Number(n) => format!("the number {n}"),
            Kind::Str(s) => format!("the string \"{s}\""),
            Kind::Name(n) => format!("'{n}'"),
            Kind::Punct(p) => format!("'{p}'"),
            Kind::End => "the end of the formula".to_string(),
        };
        SyntaxError::at(t.line, t.col, format!("expected {wanted}, found {found}"))
    }

    fn statement(&mut self) -> Result<Statement, SyntaxError> {
        if let (Kind::Name(name), Kind::Punct("=")) = (&self.peek().kind, self.peek_at(1)) {
            let name = name.clone();
            let pos = self.pos();
            self.bump();
            self.bump();
            let value = self.expr()?;
            return Ok(Statement::Assign(name, value, pos));
        }
        Ok(Statement::Expr(self.expr()?))
    }

    fn expr(&mut self) -> Result<Expr, SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let t = self.peek();
            return Err(SyntaxError::at(
                t.line,
                t.col,
                format!("the expression nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        let out = self.ternary();
        self.depth -= 1;
        out
    }

    fn ternary(&mut self) -> Result<Expr, SyntaxError> {
        let pos = self.pos();
        let cond = self.binary(0)?;
        if !self.eat("?") {
            return Ok(cond);
        }
        let yes = self.expr()?;
        self.expect(":")?;
        let no = self.expr()?;
        Ok(Expr::Ternary(
            Box::new(cond),
            Box::new(yes),
            Box::new(no),
            pos,
        ))
    }

    /// Binary operators by level, loosest first; all associate to the left.
    fn binary(&mut self, level: usize) -> Result<Expr, SyntaxError> {
        const LEVELS: &[&[&str]] = &[
            &["||"],
            &["&&"],
            &["==", "!="],
            &["<", "<=", ">", ">="],
            &["+", "-"],
            &["*", "/"],
        ];
        let Some(ops) = LEVELS.get(level) else {
            return self.unary();
        };
        let mut left = self.binary(level + 1)?;
        loop {
            let pos = self.pos();
            let op = match self.peek().kind {
                Kind::Punct(p) if ops.contains(&p) => p,
                _ => return Ok(left),
            };
            self.bump();
            let right = self.binary(level + 1)?;
            left = Expr::Binary(op, Box::new(left), Box::new(right), pos);
        }
    }

    fn unary(&mut self) -> Result<Expr, SyntaxError> {
        let pos = self.pos();
        for op in ["-", "!", "+"] {
            if self.eat(op) {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(SyntaxError::at(
                        pos.line,
                        pos.col,
                        format!("the expression nests deeper than {MAX_DEPTH} levels"),
                    ));
                }
                let operand = self.unary();
                self.depth -= 1;
                let operand = operand?;
                return Ok(if op == "+" {
                    operand
                } else {
                    Expr::Unary(op, Box::new(operand), pos)
                });
            }
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr, SyntaxError> {
        let mut expr = self.primary()?;
        while self.eat(".") {
            let pos = self.pos();
            let Kind::Name(name) = self.peek().kind.clone() else {
                return Err(self.unexpected("a member or method name after '.'"));
            };
            self.bump();
            expr = if self.eat("(") {
                let args = self.args()?;
                Expr::Method(Box::new(expr), name, args, pos)
            } else {
                Expr::Member(Box::new(expr), name, pos)
            };
        }
        Ok(expr)
    }

    fn args(&mut self) -> Result<Vec<Expr>, SyntaxError> {
        let mut args = Vec::new();
        if self.eat(")") {
            return Ok(args);
        }
        loop {
            args.push(self.expr()?);
            if self.eat(")") {
                return Ok(args);
            }
            if !self.eat(",") {
                return Err(self.unexpected("',' or ')' in the argument list"));
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, SyntaxError> {
        let pos = self.pos();
        match self.peek().kind.clone() {
            Kind::Number(n) => {
                self.bump();
                Ok(Expr::Number(n))
            }
            Kind::Str(s) => {
                self.bump();
                Ok(Expr::Str(s))
            }
            Kind::Name(name) => {
                self.bump();
                if self.eat("(") {
                    let args = self.args()?;
                    Ok(Expr::Call(name, args, pos))
                } else {
                    Ok(Expr::Name(name, pos))
                }
            }
            Kind::Punct("(") => {
                self.bump();
                let inner = self.expr()?;
                self.expect(")")?;
                Ok(inner)
            }
            _ => Err(self.unexpected("a value")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_shapes() {
        let s = parse("$a = 1 + 2 * 3 < 4 && !$b || c ? d.e : f.g(1, $h)").unwrap();
        let [Statement::Assign(name, Expr::Ternary(cond, _, no, _), _)] = &s[..] else {
            panic!("{s:?}")
        };
        assert_eq!(name, "$a");
        assert!(matches!(**cond, Expr::Binary("||", _, _, _)));
        assert!(matches!(&**no, Expr::Method(_, m, args, _) if m == "g" && args.len() == 2));
    }

    #[test]
    fn statements_and_separators() {
        assert_eq!(parse(";;$a = 1;; $b = 2").unwrap().len(), 2);
        assert_eq!(parse("$a = 1;\n// done\n").unwrap().len(), 1);
    }

    #[test]
    fn syntax_errors_name_the_place() {
        let e = parse("$a = 1;\n$b = (2 + ;").unwrap_err();
        assert_eq!((e.line, e.col), (2, 11), "{e}");
        assert!(parse("$a = 1 $b = 2").is_err());
        assert!(parse("$a = max(1,").is_err());
        assert!(parse("$a = 1 ? 2").is_err());
        assert!(parse("$a = x.").is_err());
        assert!(parse("").is_err());
        assert!(parse("  // only a comment").is_err());
    }

    #[test]
    fn limits_hold() {
        let deep = format!("$a = {}1{};", "(".repeat(200), ")".repeat(200));
        assert!(parse(&deep).unwrap_err().message.contains("nests"));
        let negations = format!("$a = {}1;", "-".repeat(5000));
        assert!(parse(&negations).is_err());
        let many = "$a = 1;".repeat(101);
        assert!(parse(&many).unwrap_err().message.contains("100 statements"));
        assert!(parse(&"$a = 1;".repeat(2000)).is_err());
    }
}
