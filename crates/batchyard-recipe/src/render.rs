//! Stage two: templates evaluated per string scalar, spans kept.

use indexmap::IndexMap;
use serde_json::Value;

use crate::code::Code;
use crate::diagnostic::{Diagnostic, pointer};
use crate::source::{Node, NodeKind, Span};
use crate::template::{Engine, RESERVED_NAMES, TemplateError, is_template};

/// Template variables after overrides, in declaration order.
pub type Variables = IndexMap<String, Value>;

/// The template context of a recipe: `var`, each variable by its bare name, and `recipe`.
pub fn context(recipe_name: &str, variables: &Variables) -> tera::Context {
    let mut ctx = tera::Context::new();
    for (name, value) in globals(recipe_name, variables) {
        ctx.insert(name, &value);
    }
    ctx
}

/// The same context as JSON, for templates compiled once and rendered many times.
pub fn globals(recipe_name: &str, variables: &Variables) -> serde_json::Map<String, Value> {
    let mut map = serde_json::Map::new();
    for (name, value) in variables {
        if !RESERVED_NAMES.contains(&name.as_str()) {
            map.insert(name.clone(), value.clone());
        }
    }
    map.insert(
        "var".into(),
        Value::Object(variables.clone().into_iter().collect()),
    );
    map.insert("recipe".into(), serde_json::json!({ "name": recipe_name }));
    map
}

/// Parses `NAME=VALUE` from the command line. The value is read as a YAML scalar, so
/// `nodes=4` is a number and `name=abc` a string.
pub fn parse_assignment(text: &str) -> Result<(String, Value), String> {
    let (name, raw) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not NAME=VALUE"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("`{text}` has no variable name before `=`"));
    }
    let value = match crate::source::parse(raw) {
        Ok(node) if !raw.trim().is_empty() => match node.to_value() {
            Value::Object(_) => Value::String(raw.to_owned()),
            v => v,
        },
        _ => Value::String(raw.to_owned()),
    };
    Ok((name.to_owned(), value))
}

/// Parses a `--vars` file: a YAML mapping of variable names to values.
pub fn parse_vars_file(text: &str) -> Result<Variables, String> {
    let node = crate::source::parse(text).map_err(|e| e.message)?;
    match node.to_value() {
        Value::Object(map) => Ok(map.into_iter().collect()),
        Value::Null => Ok(Variables::new()),
        _ => Err("a vars file must be a mapping of NAME: VALUE".into()),
    }
}

/// Whether `tokens` is a task (`/jobs/N/tasks/M`).
fn is_task(tokens: &[String]) -> bool {
    tokens.len() == 4 && tokens[0] == "jobs" && tokens[2] == "tasks"
}

/// Renders every string scalar of `tree`, except the fields of factory tasks (rendered once
/// per item later) and `variables` (they are the context).
pub fn render_tree(
    engine: &Engine,
    tree: &Node,
    ctx: &tera::Context,
    text: &str,
) -> (Node, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let mut path = Vec::new();
    let node = walk(engine, tree, ctx, text, &mut path, &mut diagnostics);
    (node, diagnostics)
}

fn walk(
    engine: &Engine,
    node: &Node,
    ctx: &tera::Context,
    text: &str,
    path: &mut Vec<String>,
    out: &mut Vec<Diagnostic>,
) -> Node {
    match &node.kind {
        NodeKind::Scalar(Value::String(s)) if is_template(s) => match engine.render(s, ctx) {
            Ok(value) => {
                let value = if crate::schema::wants_string(path) {
                    crate::load::as_text(value)
                } else {
                    value
                };
                Node::from_value(value, node.span.clone())
            }
            Err(err) => {
                out.push(template_diagnostic(
                    &pointer(path.iter()),
                    &err,
                    &node.span,
                    text,
                ));
                node.clone()
            }
        },
        NodeKind::Scalar(_) => node.clone(),
        NodeKind::Seq(items) => {
            let items = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    path.push(i.to_string());
                    let n = walk(engine, item, ctx, text, path, out);
                    path.pop();
                    n
                })
                .collect();
            Node {
                span: node.span.clone(),
                kind: NodeKind::Seq(items),
            }
        }
        NodeKind::Map(entries) => {
            let deferred = is_task(path) && node.get("factory").is_some();
            let entries = entries
                .iter()
                .map(|(k, v)| {
                    let skip = (path.is_empty() && k.name == "variables")
                        || (deferred && k.name != "factory");
                    if skip {
                        return (k.clone(), v.clone());
                    }
                    path.push(k.name.clone());
                    let n = walk(engine, v, ctx, text, path, out);
                    path.pop();
                    (k.clone(), n)
                })
                .collect();
            Node {
                span: node.span.clone(),
                kind: NodeKind::Map(entries),
            }
        }
    }
}

/// A template error as a diagnostic, pointing inside the scalar where tera says.
pub fn template_diagnostic(
    path: &str,
    err: &TemplateError,
    scalar: &Span,
    text: &str,
) -> Diagnostic {
    let mut d = Diagnostic::error(
        Code::Template,
        path,
        format!("template error: {}", err.message),
    )
    .with_label(err.message.clone());
    if let Some(help) = &err.help {
        d = d.with_help(help.clone());
    }
    if let Some(range) = &err.range {
        let opener = text.as_bytes().get(scalar.start).copied();
        let base = match opener {
            Some(b'"' | b'\'') => Some(scalar.start + 1),
            Some(b'|' | b'>') => None,
            _ => Some(scalar.start),
        };
        if let Some(base) = base {
            let (start, end) = (base + range.start, base + range.end.max(range.start));
            if end <= scalar.end && text.is_char_boundary(start) && text.is_char_boundary(end) {
                d = d.at_span(start..end);
            }
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_are_typed() {
        assert_eq!(
            parse_assignment("n=4").unwrap(),
            ("n".into(), serde_json::json!(4))
        );
        assert_eq!(
            parse_assignment("s=abc").unwrap(),
            ("s".into(), serde_json::json!("abc"))
        );
        assert_eq!(
            parse_assignment("b=true").unwrap(),
            ("b".into(), serde_json::json!(true))
        );
        assert_eq!(
            parse_assignment("l=[1, 2]").unwrap(),
            ("l".into(), serde_json::json!([1, 2]))
        );
        assert_eq!(
            parse_assignment("e=").unwrap(),
            ("e".into(), serde_json::json!(""))
        );
        assert_eq!(
            parse_assignment("u=a: b").unwrap(),
            ("u".into(), serde_json::json!("a: b"))
        );
        assert!(parse_assignment("novalue").is_err());
        assert!(parse_assignment("=4").is_err());
    }

    #[test]
    fn factory_task_fields_are_deferred() {
        let text = "jobs:\n  - id: j\n    tasks:\n      - id: t-{{ item.x }}\n        command: echo {{ n }}\n        factory: {repeat: \"{{ n }}\"}\n";
        let tree = crate::source::parse(text).unwrap();
        let vars: Variables = [("n".to_owned(), serde_json::json!(3))]
            .into_iter()
            .collect();
        let (out, diags) = render_tree(&Engine::new(), &tree, &context("r", &vars), text);
        assert!(diags.is_empty(), "{diags:?}");
        let v = out.to_value();
        assert_eq!(v["jobs"][0]["tasks"][0]["id"], "t-{{ item.x }}");
        assert_eq!(v["jobs"][0]["tasks"][0]["factory"]["repeat"], 3);
    }
}
