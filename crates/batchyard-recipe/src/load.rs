//! The whole pipeline from text to a checked [`Recipe`], and per-item rendering of factory
//! tasks.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::code::Code;
use crate::diagnostic::{Diagnostic, has_errors};
use crate::model::{Recipe, Task};
use crate::render::{Variables, context, render_tree, template_diagnostic};
use crate::source::{Node, NodeKind, Span};
use crate::template::{Compiled, Engine, is_template};

/// A recipe file's name and text, shared by every diagnostic that points into it.
#[derive(Debug, Clone)]
pub struct Source {
    /// The name shown in reports (the path as given).
    pub name: String,
    /// The file's text.
    pub text: Arc<str>,
}

/// The outcome of loading a recipe: the checked recipe when there were no errors, and every
/// problem found (warnings included).
#[derive(Debug)]
pub struct Loaded {
    /// The file.
    pub source: Source,
    /// The checked recipe; `None` when any error was found.
    pub recipe: Option<Recipe>,
    /// The typed recipe whenever its YAML has the right shape and types, even when other
    /// checks (ids, references, limits) found errors: later stages check it as well, so
    /// problems independent of those errors are reported in the same run.
    pub typed: Option<Recipe>,
    /// Every problem, in file order.
    pub diagnostics: Vec<Diagnostic>,
    /// The parsed tree (templates unrendered), for spans.
    tree: Option<Node>,
    /// Template variables after overrides.
    variables: Variables,
    engine: Arc<Engine>,
}

/// The largest recipe file accepted. Recipes are small even for a million tasks (factories
/// generate them); the bound keeps a hostile file from costing time and memory.
pub const MAX_RECIPE_BYTES: usize = 4 * 1024 * 1024;

/// Loads and checks a recipe. `overrides` come from `--var` and `--vars` and must name
/// variables that the recipe declares.
pub fn load(name: &str, text: &str, overrides: &Variables) -> Loaded {
    let source = Source {
        name: name.to_owned(),
        text: Arc::from(text),
    };
    let engine = Arc::new(Engine::new());
    let mut loaded = Loaded {
        source,
        recipe: None,
        typed: None,
        diagnostics: Vec::new(),
        tree: None,
        variables: Variables::new(),
        engine,
    };
    if text.len() > MAX_RECIPE_BYTES {
        loaded.diagnostics.push(
            Diagnostic::error(Code::RecipeTooLarge, "", format!("the recipe is {} bytes; the limit is {MAX_RECIPE_BYTES}", text.len()))
                .with_help("a recipe describes pools and jobs, not data: generate many tasks with a `factory`, and keep long lists in a `table` file")
                .for_file(),
        );
        return loaded;
    }
    let tree = match crate::source::parse(text) {
        Ok(tree) => tree,
        Err(err) => {
            let help = if err.message.contains("duplicate") {
                "each key may appear once in a mapping: remove or rename one of them"
            } else if err.limit {
                "recipes are limited to 64 levels of nesting and 250,000 values after aliases are expanded"
            } else {
                "fix the YAML syntax: check indentation, quotes and brackets around this point"
            };
            loaded.diagnostics.push(
                Diagnostic::error(
                    Code::YamlSyntax,
                    "",
                    format!("invalid YAML: {}", err.message),
                )
                .with_label("here")
                .with_help(help)
                .at_span(err.span),
            );
            return loaded;
        }
    };
    if !matches!(tree.kind, NodeKind::Map(_)) {
        loaded.diagnostics.push(
            Diagnostic::error(Code::NotAMapping, "", "a recipe must be a YAML mapping")
                .with_help("start with `recipe: NAME`, then `pools:` and `jobs:`; `batchyard init` writes a starter"),
        );
        return loaded;
    }
    let declared: Variables = match tree.get("variables").map(Node::to_value) {
        Some(Value::Object(map)) => map.into_iter().collect(),
        _ => Variables::new(),
    };
    let mut variables = declared.clone();
    for (name, value) in overrides {
        if declared.contains_key(name) {
            variables.insert(name.clone(), value.clone());
        } else {
            let mut d = Diagnostic::error(
                Code::UndeclaredVariable,
                "/variables",
                format!(
                    "`{name}` is set from the command line but the recipe declares no such variable"
                ),
            );
            d = match crate::diagnostic::did_you_mean(name, declared.keys().map(String::as_str)) {
                Some(close) => d.with_help(format!("did you mean `{close}`?")),
                None => d.with_help(format!(
                    "declare it under `variables:` with a default value, e.g. `{name}: ...`"
                )),
            };
            loaded.diagnostics.push(d);
        }
    }
    let recipe_name = tree.get("recipe").map(Node::to_value);
    let recipe_name = recipe_name
        .as_ref()
        .and_then(Value::as_str)
        .unwrap_or_default();
    let ctx = context(recipe_name, &variables);
    let (rendered, template_errors) = render_tree(&loaded.engine, &tree, &ctx, text);
    let failed: Vec<String> = template_errors.iter().map(|d| d.path.clone()).collect();
    loaded.diagnostics.extend(template_errors);
    let value = rendered.to_value();

    let deferred = |path: &str, instance: &Value| {
        failed.iter().any(|f| f == path)
            || (is_factory_field(&value, path) && instance.as_str().is_some_and(is_template))
    };
    let schema_errors = crate::schema::validate(&value, &deferred);
    let schema_failed = has_errors(&schema_errors);
    loaded.diagnostics.extend(schema_errors);
    loaded.diagnostics.extend(crate::checks::check(&value));

    if !schema_failed && failed.is_empty() {
        let mut typed = value.clone();
        if let Some(root) = typed.as_object_mut() {
            root.retain(|k, _| !k.starts_with("x-"));
        }
        match serde_path_to_error::deserialize::<_, Recipe>(&typed) {
            Ok(recipe) if !has_errors(&loaded.diagnostics) => {
                loaded.typed = Some(recipe.clone());
                loaded.recipe = Some(recipe);
            }
            Ok(recipe) => loaded.typed = Some(recipe),
            Err(err) => loaded.diagnostics.push(typed_error(&value, &err)),
        }
    }
    loaded.tree = Some(tree);
    loaded.variables = variables;
    let tree = loaded.tree.as_ref();
    loaded.diagnostics.sort_by_key(|d| span_for(tree, d).start);
    loaded
}

/// A typed deserialization error as a diagnostic. Tasks are deserialized through
/// [`crate::model::TaskSpec`], which hides the path inside the task; deserializing that task
/// again recovers it.
fn typed_error(value: &Value, err: &serde_path_to_error::Error<serde_json::Error>) -> Diagnostic {
    let mut pointer = to_pointer(&err.path().to_string());
    let mut message = err.inner().to_string();
    let parts: Vec<&str> = pointer.split('/').collect();
    if parts.len() == 5
        && parts[1] == "jobs"
        && parts[3] == "tasks"
        && let Some(task) = value.pointer(&pointer)
        && let Err(inner) = serde_path_to_error::deserialize::<_, Task>(task)
    {
        pointer.push_str(&to_pointer(&inner.path().to_string()));
        message = inner.inner().to_string();
    }
    let mut d = Diagnostic::error(Code::InvalidValue, pointer, message).with_label("invalid value");
    if d.message.contains("duration") {
        d = d.with_help(crate::model::DurationError::help());
    }
    d
}

/// Whether `path` lies inside a factory task but outside its `factory` key.
fn is_factory_field(value: &Value, path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    // "", "jobs", N, "tasks", M, field...
    if parts.len() < 6 || parts[1] != "jobs" || parts[3] != "tasks" || parts[5] == "factory" {
        return false;
    }
    let task_path = parts[..5].join("/");
    value
        .pointer(&task_path)
        .and_then(|t| t.get("factory"))
        .is_some()
}

/// serde_path_to_error's `a.b[0].c` as a JSON pointer.
fn to_pointer(path: &str) -> String {
    if path == "." {
        return String::new();
    }
    let mut out = String::new();
    for segment in path.split('.') {
        let (name, rest) = match segment.find('[') {
            Some(i) => (&segment[..i], &segment[i..]),
            None => (segment, ""),
        };
        if !name.is_empty() {
            out.push('/');
            out.push_str(&crate::source::escape_token(name));
        }
        for index in rest.split(['[', ']']).filter(|s| !s.is_empty()) {
            out.push('/');
            out.push_str(index);
        }
    }
    out
}

fn span_for(tree: Option<&Node>, d: &Diagnostic) -> Span {
    if let Some(span) = &d.span {
        return span.clone();
    }
    tree.map(|t| t.span_of(&d.path, d.target)).unwrap_or(0..0)
}

impl Loaded {
    /// The byte range a diagnostic points at.
    pub fn span_of(&self, diagnostic: &Diagnostic) -> Span {
        span_for(self.tree.as_ref(), diagnostic)
    }

    /// Whether loading found any error.
    pub fn has_errors(&self) -> bool {
        has_errors(&self.diagnostics)
    }

    /// The variables after overrides.
    pub fn variables(&self) -> &Variables {
        &self.variables
    }

    /// A renderer for the factory task at `jobs[job].tasks[task]`, or `None` when that task
    /// has no factory. Its templates are compiled once; template errors are diagnostics at
    /// the field's span.
    pub fn task_template(
        &self,
        job: usize,
        task: usize,
    ) -> Option<Result<TaskTemplate, Vec<Diagnostic>>> {
        let recipe = self.recipe.as_ref()?;
        let crate::model::TaskSpec::Factory(factory) = recipe.jobs.get(job)?.tasks.get(task)?
        else {
            return None;
        };
        let base = format!("/jobs/{job}/tasks/{task}");
        let mut fields = Vec::new();
        let mut errors = Vec::new();
        let skeleton = Value::Object(factory.template.clone());
        let globals = crate::render::globals(&recipe.recipe, &self.variables);
        let task_tokens = ["jobs", "0", "tasks", "0"].map(str::to_owned);
        collect_templates(&skeleton, String::new(), &mut |pointer, text| match self
            .engine
            .compile_with(text, &globals)
        {
            Ok(compiled) => {
                let tokens: Vec<String> = task_tokens
                    .iter()
                    .cloned()
                    .chain(
                        pointer
                            .split('/')
                            .skip(1)
                            .map(|t| t.replace("~1", "/").replace("~0", "~")),
                    )
                    .collect();
                let text_field = crate::schema::wants_string(&tokens);
                fields.push(Field {
                    pointer,
                    compiled,
                    text_field,
                });
            }
            Err(err) => {
                let path = format!("{base}{pointer}");
                let span = self
                    .tree
                    .as_ref()
                    .map(|t| t.span_of(&path, crate::source::Target::Value))
                    .unwrap_or(0..0);
                errors.push(template_diagnostic(&path, &err, &span, &self.source.text));
            }
        });
        if !errors.is_empty() {
            return Some(Err(errors));
        }
        Some(Ok(TaskTemplate {
            base,
            skeleton,
            fields,
        }))
    }
}

/// A scalar as text, for fields that hold text.
pub(crate) fn as_text(value: Value) -> Value {
    match value {
        Value::Number(_) | Value::Bool(_) => {
            let mut text = String::new();
            crate::substitute::push_as_text(&mut text, &value);
            Value::String(text)
        }
        other => other,
    }
}

fn collect_templates(value: &Value, pointer: String, found: &mut dyn FnMut(String, &str)) {
    match value {
        Value::String(s) if is_template(s) => found(pointer, s),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect_templates(item, format!("{pointer}/{i}"), found);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                collect_templates(
                    v,
                    format!("{pointer}/{}", crate::source::escape_token(k)),
                    found,
                );
            }
        }
        _ => {}
    }
}

/// A factory task's template, compiled once and rendered once per generated item.
#[derive(Debug)]
pub struct TaskTemplate {
    base: String,
    skeleton: Value,
    fields: Vec<Field>,
}

/// One templated field of a factory task.
#[derive(Debug)]
struct Field {
    pointer: String,
    compiled: Compiled,
    /// The field holds text, so a number or boolean the template gives is written as text
    /// (an id template of just `{{ index }}`).
    text_field: bool,
}

impl TaskTemplate {
    /// The JSON pointer of the factory task in the recipe, for diagnostics.
    pub fn path(&self) -> &str {
        &self.base
    }

    /// The templated fields: each one's JSON pointer inside the task, its compiled template,
    /// and whether the field holds text (a number or boolean the template gives is then
    /// written as text).
    pub fn fields(&self) -> impl ExactSizeIterator<Item = (&str, &Compiled, bool)> {
        self.fields
            .iter()
            .map(|f| (f.pointer.as_str(), &f.compiled, f.text_field))
    }

    /// Renders the task for one item (`item`, `index` in scope) and checks it as a task.
    pub fn render(&self, item: &Value, index: u64) -> Result<Task, Diagnostic> {
        let mut values = Vec::with_capacity(self.fields.len());
        for Field {
            pointer,
            compiled,
            text_field,
        } in &self.fields
        {
            // The item is not named here: the caller counts the items a problem recurs in
            // and names the first.
            let rendered = compiled.render_item(item, index).map_err(|e| {
                let d = Diagnostic::error(
                    Code::Template,
                    format!("{}{pointer}", self.base),
                    format!("template error: {}", e.message),
                );
                match &e.help {
                    Some(help) => d.with_help(help.clone()),
                    None => d,
                }
            })?;
            values.push(if *text_field {
                as_text(rendered)
            } else {
                rendered
            });
        }
        let value = self.filled(values);
        // The fast path; on failure deserialize again to learn where it failed.
        if let Ok(task) = Task::deserialize(&value) {
            return Ok(task);
        }
        serde_path_to_error::deserialize::<_, Task>(&value).map_err(|err| {
            let pointer = to_pointer(&err.path().to_string());
            Diagnostic::error(
                Code::InvalidGeneratedTask,
                format!("{}{pointer}", self.base),
                format!("the generated task is invalid: {}", err.into_inner()),
            )
        })
    }

    /// The task with each templated field set to the given value (in the order of
    /// [`Self::fields`]); `None` when that is not a valid task.
    pub fn fill(&self, values: Vec<Value>) -> Option<Task> {
        Task::deserialize(&self.filled(values)).ok()
    }

    fn filled(&self, values: Vec<Value>) -> Value {
        let mut value = self.skeleton.clone();
        for (field, rendered) in self.fields.iter().zip(values) {
            if let Some(slot) = value.pointer_mut(&field.pointer) {
                *slot = rendered;
            }
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factory_tasks_render_per_item_with_variables() {
        let text = "recipe: r\nvariables:\n  image: img:1\n  slots: 2\npools:\n  - {id: p, vm_size: s, os: o, nodes: {dedicated: 1}, task_slots_per_node: 2}\njobs:\n  - id: j\n    pool: p\n    tasks:\n      - id: \"t-{{ item.lr }}-{{ index }}\"\n        command: run --lr {{ item.lr }} --image {{ var.image }} {{ image }}\n        required_slots: \"{{ slots }}\"\n        factory: {product: {lr: [1, 2]}}\n";
        let loaded = load("r.yaml", text, &Variables::new());
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        let template = loaded.task_template(0, 0).unwrap().unwrap();
        let task = template.render(&serde_json::json!({"lr": 0.5}), 7).unwrap();
        assert_eq!(task.id, "t-0.5-7");
        assert_eq!(task.command, "run --lr 0.5 --image img:1 img:1");
        assert_eq!(task.required_slots, Some(2));
        let err = template
            .render(&serde_json::json!({"other": 1}), 0)
            .unwrap_err();
        assert_eq!(err.path, "/jobs/0/tasks/0/id");
        assert!(err.message.contains("lr"), "{}", err.message);
    }

    #[test]
    fn numbers_become_text_in_text_fields() {
        let text = "recipe: r\nvariables:\n  n: 5\npools:\n  - {id: \"{{ n }}\", vm_size: s, os: o, nodes: {dedicated: \"{{ n }}\"}}\njobs:\n  - id: j\n    pool: \"5\"\n    tasks:\n      - id: \"{{ index }}\"\n        command: \"{{ n }}\"\n        factory: {repeat: 2}\n";
        let loaded = load("r.yaml", text, &Variables::new());
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        let recipe = loaded.recipe.as_ref().unwrap();
        assert_eq!(recipe.pools[0].id, "5");
        assert_eq!(recipe.pools[0].nodes.as_ref().unwrap().dedicated, 5);
        let task = loaded
            .task_template(0, 0)
            .unwrap()
            .unwrap()
            .render(&serde_json::json!(null), 1)
            .unwrap();
        assert_eq!(task.id, "1");
        assert_eq!(task.command, "5");
    }

    #[test]
    fn pointers_from_serde_paths() {
        assert_eq!(to_pointer("pools[0].vm_size"), "/pools/0/vm_size");
        assert_eq!(
            to_pointer("jobs[1].tasks[2].constraints.max_wall_time"),
            "/jobs/1/tasks/2/constraints/max_wall_time"
        );
        assert_eq!(to_pointer("."), "");
    }
}
