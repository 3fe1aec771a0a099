//! Templates inside string scalars (tera syntax).
//!
//! Every string scalar is rendered on its own, never the file text as a whole, so each error
//! keeps its position and the file stays valid YAML for editors. A scalar that is exactly one
//! `{{ expr }}` keeps the expression's type: `nodes: "{{ count }}"` is a number when `count` is.

use std::ops::Range;

use serde_json::Value;
use tera::{Kwargs, State, Tera};

/// Why a template failed, with the byte range inside the scalar's text when tera knows it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// What went wrong.
    pub message: String,
    /// What to do.
    pub help: Option<String>,
    /// Byte range inside the template text.
    pub range: Option<Range<usize>>,
}

/// Names that templates may use besides the variables.
pub const RESERVED_NAMES: [&str; 4] = ["var", "recipe", "item", "index"];

/// Whether a string contains template syntax.
pub fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// The tera instance with batchyard's filters.
pub struct Engine {
    tera: Tera,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Engine")
    }
}

/// Quotes a value for a POSIX shell command line: safe words stay as they are, anything else
/// goes in single quotes.
pub fn shell_quote(text: &str) -> String {
    let safe = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if safe {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

fn value_text(value: &tera::Value) -> String {
    match value.as_str() {
        Some(s) => s.to_owned(),
        None => value.to_string(),
    }
}

impl Engine {
    /// A tera instance with the `shell_quote` and `tojson` filters.
    pub fn new() -> Self {
        let mut tera = Tera::new();
        tera.register_filter("shell_quote", |v: tera::Value, _: Kwargs, _: &State<'_>| {
            shell_quote(&value_text(&v))
        });
        tera.register_filter("tojson", |v: &tera::Value, _: Kwargs, _: &State<'_>| {
            if v.is_undefined() {
                return Err(tera::Error::message("undefined value"));
            }
            serde_json::to_string(v).map_err(|e| tera::Error::message(e.to_string()))
        });
        Self { tera }
    }

    /// Renders one scalar's text. Text without template syntax comes back unchanged.
    pub fn render(&self, text: &str, context: &tera::Context) -> Result<Value, TemplateError> {
        if !is_template(text) {
            return Ok(Value::String(text.to_owned()));
        }
        check_shape(text)?;
        match Expression::whole(text) {
            Some(expr) => {
                let json = render_str_bounded(&self.tera, &expr.wrapped(), context)
                    .map_err(|e| self.explain(text, context, &e))?;
                serde_json::from_str(&json).map_err(|e| TemplateError {
                    message: format!("the expression did not give a value: {e}"),
                    help: None,
                    range: None,
                })
            }
            None => render_str_bounded(&self.tera, text, context)
                .map(Value::String)
                .map_err(|e| convert(&e)),
        }
    }

    /// The error to show for a failed render of `text`. A whole expression is rendered
    /// through a wrapper that keeps its type; rendering the text as written gives tera's own
    /// message, with positions in the user's text.
    fn explain(&self, text: &str, context: &tera::Context, err: &tera::Error) -> TemplateError {
        match render_str_bounded(&self.tera, text, context) {
            Err(plain) => convert(&plain),
            Ok(_) => convert(err),
        }
    }

    /// Compiles a template once, to be rendered many times (task factories).
    pub fn compile(&self, text: &str) -> Result<Compiled, TemplateError> {
        self.compile_with(text, &serde_json::Map::new())
    }

    /// Compiles a template whose renders all share `globals` (the recipe's variables), so each
    /// render only needs a small context of its own (`item`, `index`): a million renders do
    /// not copy the variables a million times.
    pub fn compile_with(
        &self,
        text: &str,
        globals_json: &serde_json::Map<String, Value>,
    ) -> Result<Compiled, TemplateError> {
        let globals = tera::Context::from_serialize(globals_json).map_err(|e| TemplateError {
            message: format!("the variables cannot be used in templates: {e}"),
            help: None,
            range: None,
        })?;
        let globals = &globals;
        check_shape(text)?;
        let whole = Expression::whole(text).is_some();
        let source = Expression::whole(text).map_or_else(|| text.to_owned(), |e| e.wrapped());
        let mut engine = self.tera.clone();
        *engine.global_context() = globals.clone();
        let mut tera = Tera::new();
        tera.register_from(&engine);
        *tera.global_context() = globals.clone();
        if let Err(err) = tera.add_raw_template("t", &source) {
            let mut plain = Tera::new();
            plain.register_from(&self.tera);
            return Err(match plain.add_raw_template("t", text) {
                Err(e) => convert(&e),
                Ok(()) => convert(&err),
            });
        }
        Ok(Compiled {
            fast: crate::substitute::Substitution::parse(text),
            globals: globals_json.clone(),
            engine,
            tera,
            whole,
            text: text.to_owned(),
        })
    }
}

/// A template compiled once for repeated rendering.
pub struct Compiled {
    fast: Option<crate::substitute::Substitution>,
    globals: serde_json::Map<String, Value>,
    engine: Tera,
    tera: Tera,
    whole: bool,
    text: String,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Compiled")
    }
}

impl Compiled {
    /// The plain-lookup form of the template, when it has one (see
    /// [`crate::substitute::Substitution`]).
    pub fn substitution(&self) -> Option<&crate::substitute::Substitution> {
        self.fast.as_ref()
    }

    /// The variables every render of it sees (`var`, `recipe`, each variable by name).
    pub fn globals(&self) -> &serde_json::Map<String, Value> {
        &self.globals
    }

    /// Renders it for one factory item: plain lookups directly, anything else with tera.
    pub fn render_item(&self, item: &Value, index: u64) -> Result<Value, TemplateError> {
        if let Some(value) = self
            .fast
            .as_ref()
            .and_then(|f| f.render(&self.globals, item, index))
        {
            return Ok(value);
        }
        let mut ctx = tera::Context::new();
        ctx.insert("item", item);
        ctx.insert("index", &index);
        self.render(&ctx)
    }

    /// Renders it with `context`, keeping the type of a whole-expression template.
    pub fn render(&self, context: &tera::Context) -> Result<Value, TemplateError> {
        let mut sink = Bounded::default();
        let out = self
            .tera
            .render_to("t", context, &mut sink)
            .map(|()| sink.into_string())
            .map_err(
                |err| match render_str_bounded(&self.engine, &self.text, context) {
                    Err(plain) => convert(&plain),
                    Ok(_) => convert(&err),
                },
            );
        match self.whole {
            true => {
                let json = out?;
                serde_json::from_str(&json).map_err(|e| TemplateError {
                    message: format!("the expression did not give a value: {e}"),
                    help: None,
                    range: None,
                })
            }
            false => out.map(Value::String),
        }
    }
}

/// Most text one template may render.
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;
/// Most `{% for %}` loops in one template (they may not nest).
pub const MAX_TEMPLATE_LOOPS: usize = 8;

/// Collects rendered text and fails once it passes [`MAX_OUTPUT_BYTES`], which stops tera
/// early: a loop cannot fill memory.
#[derive(Default)]
struct Bounded {
    out: Vec<u8>,
}

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.out.len() + buf.len() > MAX_OUTPUT_BYTES {
            return Err(std::io::Error::from(std::io::ErrorKind::FileTooLarge));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Bounded {
    fn into_string(self) -> String {
        String::from_utf8_lossy(&self.out).into_owned()
    }
}

fn render_str_bounded(
    tera: &Tera,
    text: &str,
    context: &tera::Context,
) -> Result<String, tera::Error> {
    let mut sink = Bounded::default();
    tera.render_str_to(text, context, false, &mut sink)?;
    Ok(sink.into_string())
}

/// Longest template text accepted in one scalar.
pub const MAX_TEMPLATE_BYTES: usize = 64 * 1024;
/// Deepest bracket nesting accepted in a template.
pub const MAX_TEMPLATE_NESTING: usize = 64;

/// Refuses templates whose size or nesting could exhaust the parser's stack: a recipe's
/// templates are short, so the bounds cost nothing to real use.
fn check_shape(text: &str) -> Result<(), TemplateError> {
    if text.len() > MAX_TEMPLATE_BYTES {
        return Err(TemplateError {
            message: format!(
                "the template is {} bytes long; the limit is {MAX_TEMPLATE_BYTES}",
                text.len()
            ),
            help: Some("keep long text in a file the task downloads, and reference it".into()),
            range: None,
        });
    }
    let (mut loops, mut open) = (0usize, 0usize);
    for (i, _) in text.match_indices("{%") {
        let tag = text[i + 2..].trim_start_matches(['-', '+']).trim_start();
        if tag.starts_with("for ") || tag.starts_with("for\t") {
            loops += 1;
            open += 1;
            if open > 1 || loops > MAX_TEMPLATE_LOOPS {
                return Err(TemplateError {
                    message: format!(
                        "templates may hold at most {MAX_TEMPLATE_LOOPS} loops, none inside another"
                    ),
                    help: Some(
                        "generate many tasks with a `factory` instead of looping in a template"
                            .into(),
                    ),
                    range: Some(i..i + 2),
                });
            }
        } else if tag.starts_with("endfor") {
            open = open.saturating_sub(1);
        }
    }
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_TEMPLATE_NESTING {
                    return Err(TemplateError {
                        message: format!(
                            "the template nests brackets more than {MAX_TEMPLATE_NESTING} levels deep"
                        ),
                        help: Some("simplify the expression".into()),
                        range: Some(i..i + 1),
                    });
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// A scalar that is exactly one `{{ expr }}`.
#[derive(Debug, Clone)]
struct Expression {
    inner: String,
}

const PREFIX: &str = "{{(";

impl Expression {
    fn whole(text: &str) -> Option<Expression> {
        let trimmed = text.trim();
        let body = trimmed.strip_prefix("{{")?.strip_suffix("}}")?;
        if body.contains("{{") || body.contains("}}") || body.contains("{%") || body.contains("{#")
        {
            return None;
        }
        // Whitespace control (`{{- x -}}`) means nothing for a whole scalar.
        let lead = usize::from(body.starts_with('-'));
        let body = &body[lead..];
        let body = body.strip_suffix('-').unwrap_or(body);
        if body.trim().is_empty() {
            return None;
        }
        Some(Expression {
            inner: body.to_owned(),
        })
    }

    fn wrapped(&self) -> String {
        format!("{PREFIX}{})|tojson}}}}", self.inner)
    }
}

fn convert(err: &tera::Error) -> TemplateError {
    match err.kind() {
        tera::ErrorKind::Io(std::io::ErrorKind::FileTooLarge) => TemplateError {
            message: format!("the template renders more than {MAX_OUTPUT_BYTES} bytes"),
            help: Some(
                "a recipe value is short text: keep long content in a file the task downloads"
                    .into(),
            ),
            range: None,
        },
        tera::ErrorKind::SyntaxError(report) | tera::ErrorKind::RenderingError(report) => {
            let (message, help) = split_help(first_line(report.message()));
            TemplateError {
                message,
                help,
                range: Some(report.span().range.clone()),
            }
        }
        other => {
            let text = other.to_string();
            let (message, mut help) = split_help(first_line(&text));
            if message.starts_with("Unknown filter") {
                help = Some(
                    "batchyard adds `shell_quote` and `tojson` to tera's built-in filters".into(),
                );
            }
            TemplateError {
                message,
                help,
                range: None,
            }
        }
    }
}

/// Some tera messages embed a whole rendered report; its first line is the message.
fn first_line(text: &str) -> &str {
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first)
}

/// tera appends "Available variables: ..." to the message; it reads better as help.
fn split_help(message: &str) -> (String, Option<String>) {
    for marker in [" Available variables: ", " Available fields: "] {
        if let Some(i) = message.find(marker) {
            let available = message[i + marker.len()..].trim();
            let what = if marker.contains("variables") {
                "variables"
            } else {
                "fields"
            };
            return (
                message[..i].trim_end_matches('.').to_owned(),
                Some(format!("available {what}: {available}")),
            );
        }
    }
    (message.trim_end_matches('.').to_owned(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> tera::Context {
        tera::Context::from_serialize(&serde_json::json!({
            "nodes": 4, "name": "it's", "var": {"nodes": 4}, "lrs": [0.1, 0.01]
        }))
        .unwrap()
    }

    #[test]
    fn whole_expressions_keep_their_type() {
        let e = Engine::new();
        assert_eq!(
            e.render("{{ nodes }}", &ctx()).unwrap(),
            serde_json::json!(4)
        );
        assert_eq!(
            e.render("{{ nodes * 2 }}", &ctx()).unwrap(),
            serde_json::json!(8)
        );
        assert_eq!(
            e.render("{{ lrs }}", &ctx()).unwrap(),
            serde_json::json!([0.1, 0.01])
        );
        assert_eq!(
            e.render("{{ var.nodes > 2 }}", &ctx()).unwrap(),
            serde_json::json!(true)
        );
        assert_eq!(
            e.render("n{{ nodes }}", &ctx()).unwrap(),
            serde_json::json!("n4")
        );
        assert_eq!(
            e.render("plain", &ctx()).unwrap(),
            serde_json::json!("plain")
        );
    }

    #[test]
    fn shell_quote_filter_quotes() {
        let e = Engine::new();
        let out = e.render("echo {{ name | shell_quote }}", &ctx()).unwrap();
        assert_eq!(out, serde_json::json!(r"echo 'it'\''s'"));
        assert_eq!(shell_quote("abc-1.2"), "abc-1.2");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn undefined_names_point_inside_the_scalar() {
        let e = Engine::new();
        let text = "{{ nodez }}";
        let err = e.render(text, &ctx()).unwrap_err();
        assert!(err.message.contains("nodez"), "{err:?}");
        assert!(
            err.help.as_deref().unwrap_or("").contains("nodes"),
            "{err:?}"
        );
        assert_eq!(&text[err.range.clone().unwrap()], "nodez");
        let text = "run --n {{ nodez }}";
        let err = e.render(text, &ctx()).unwrap_err();
        assert_eq!(&text[err.range.unwrap()], "nodez");
    }

    #[test]
    fn syntax_errors_are_errors() {
        let e = Engine::new();
        assert!(e.render("{{ nodes ", &ctx()).is_err());
        assert!(e.render("{% if %}", &ctx()).is_err());
        assert!(e.render("{{ nodes | nosuchfilter }}", &ctx()).is_err());
    }

    #[test]
    fn compiled_templates_render_repeatedly() {
        let e = Engine::new();
        let t = e.compile("task-{{ item.i }}").unwrap();
        for i in 0..3 {
            let c = tera::Context::from_serialize(&serde_json::json!({"item": {"i": i}})).unwrap();
            assert_eq!(
                t.render(&c).unwrap(),
                serde_json::json!(format!("task-{i}"))
            );
        }
        let t = e.compile("{{ item.i + 1 }}").unwrap();
        let c = tera::Context::from_serialize(&serde_json::json!({"item": {"i": 1}})).unwrap();
        assert_eq!(t.render(&c).unwrap(), serde_json::json!(2));
    }
}
