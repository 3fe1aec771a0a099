//! Task streaming: every task of a job, rendered one item at a time.

use batchyard_batch::models::BatchTaskCreateOptions;
use batchyard_batch::validate_against_spec;
use batchyard_recipe::model::{DependsOn, Task, TaskSpec};
use batchyard_recipe::{Diagnostic, Loaded, TaskTemplate};

use crate::dependencies::{MergeBuilder, TaskDependencies};
use crate::desired::{Desired, DesiredJob};
use crate::factory::{self, Items};
use crate::ids::{SeenIds, check_id};
use crate::payload::task;

/// The tasks of one job, in recipe order, merge tasks (`depends_on: all`) last. Each item is
/// a task payload or a problem at the recipe path that caused it; the stream goes on after a
/// problem so every one is reported.
pub struct TaskStream<'a> {
    loaded: &'a Loaded,
    job: &'a DesiredJob,
    specs: &'a [TaskSpec],
    base_dir: &'a std::path::Path,
    /// Next task spec to start.
    next_spec: usize,
    /// The factory being drained: its recipe path, template, items and next index.
    current: Option<(String, TaskTemplate, Items<'a>, u64)>,
    seen: SeenIds,
    merge: Option<MergeBuilder>,
    merge_error: Option<String>,
    /// Merge tasks, emitted once everything else has streamed past.
    merges: Vec<usize>,
    merged: Option<TaskDependencies>,
}

/// The tasks of `job` (from `desired.jobs`), rendered through the recipe's per-item API.
pub fn tasks<'a>(loaded: &'a Loaded, desired: &'a Desired, job: &'a DesiredJob) -> TaskStream<'a> {
    let specs: &'a [TaskSpec] = loaded
        .recipe
        .as_ref()
        .and_then(|r| r.jobs.get(job.index))
        .map(|j| j.tasks.as_slice())
        .unwrap_or(&[]);
    let has_merge = specs
        .iter()
        .any(|s| matches!(s, TaskSpec::Single(t) if t.depends_on == Some(DependsOn::All)));
    TaskStream {
        loaded,
        job,
        specs,
        base_dir: &desired.options.base_dir,
        next_spec: 0,
        current: None,
        seen: SeenIds::new(),
        merge: has_merge.then(MergeBuilder::new),
        merge_error: None,
        merges: Vec::new(),
        merged: None,
    }
}

impl TaskStream<'_> {
    fn path(&self, spec: usize) -> String {
        format!("{}/tasks/{spec}", self.job.path)
    }

    /// Checks the id, remembers it, and builds the payload.
    fn emit(
        &mut self,
        t: &Task,
        path: &str,
        merge_deps: Option<&TaskDependencies>,
    ) -> Result<BatchTaskCreateOptions, Diagnostic> {
        check_id(&t.id).map_err(|e| Diagnostic::error(format!("{path}/id"), e.to_string()))?;
        if !self.seen.insert(&t.id) {
            return Err(Diagnostic::error(
                format!("{path}/id"),
                format!("task id `{}` is used twice in job `{}`", t.id, self.job.id),
            )
            .with_help("make the id template unique per item, e.g. with `{{ index }}`"));
        }
        if merge_deps.is_none()
            && let Some(m) = &mut self.merge
            && let Err(e) = m.push(&t.id)
        {
            self.merge_error.get_or_insert(e.to_string());
        }
        let value = task::build(&self.job.context, t, path, merge_deps)?;
        if t.batch.is_some()
            && let Err(errors) = validate_against_spec("BatchTaskCreateOptions", &value)
        {
            let msg = errors
                .iter()
                .map(|e| format!("`{}`: {}", e.path, e.message))
                .collect::<Vec<_>>()
                .join("; ");
            return Err(Diagnostic::error(
                format!("{path}/batch"),
                format!("the task payload breaks the Batch API schema: {msg}"),
            ));
        }
        serde_json::from_value(value).map_err(|e| {
            Diagnostic::error(
                path,
                format!("the task payload does not fit Batch's model: {e}"),
            )
        })
    }
}

impl Iterator for TaskStream<'_> {
    type Item = Result<BatchTaskCreateOptions, Diagnostic>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            // Drain the current factory.
            if let Some((path, template, items, index)) = &mut self.current {
                match items.next() {
                    Some(Ok(item)) => {
                        let i = *index;
                        *index += 1;
                        let rendered = template.render(&item, i);
                        // Taken out and put back so `emit` may borrow the stream mutably.
                        let path = std::mem::take(path);
                        let result = rendered.and_then(|t| {
                            if t.depends_on == Some(DependsOn::All) {
                                return Err(Diagnostic::error(
                                    format!("{path}/depends_on"),
                                    "a factory task cannot be a merge task",
                                )
                                .with_help(
                                    "write the merge task as a single task with `depends_on: all`",
                                ));
                            }
                            self.emit(&t, &path, None)
                        });
                        if let Some(current) = &mut self.current {
                            current.0 = path;
                        }
                        return Some(result);
                    }
                    Some(Err(e)) => {
                        return Some(Err(Diagnostic::error(
                            format!("{path}/factory"),
                            e.to_string(),
                        )));
                    }
                    None => self.current = None,
                }
                continue;
            }
            // Start the next task spec.
            if let Some(spec) = self.specs.get(self.next_spec) {
                let i = self.next_spec;
                self.next_spec += 1;
                match spec {
                    TaskSpec::Single(t) if t.depends_on == Some(DependsOn::All) => {
                        self.merges.push(i)
                    }
                    TaskSpec::Single(t) => {
                        let path = self.path(i);
                        return Some(self.emit(t, &path, None));
                    }
                    TaskSpec::Factory(f) => {
                        let template = match self.loaded.task_template(self.job.index, i) {
                            Some(Ok(t)) => t,
                            Some(Err(mut diags)) => return diags.pop().map(Err),
                            None => continue,
                        };
                        if let Some(n) = factory::count(&f.factory) {
                            self.seen
                                .reserve(usize::try_from(n).unwrap_or(usize::MAX).min(1 << 24));
                        }
                        match factory::items(&f.factory, self.base_dir) {
                            Ok(items) => self.current = Some((self.path(i), template, items, 0)),
                            Err(e) => {
                                return Some(Err(Diagnostic::error(
                                    format!("{}/factory", self.path(i)),
                                    e.to_string(),
                                )));
                            }
                        }
                    }
                }
                continue;
            }
            // Everything else is out: the merge tasks.
            if self.merges.is_empty() {
                return None;
            }
            let i = self.merges.remove(0);
            let path = self.path(i);
            if let Some(e) = self.merge_error.take() {
                return Some(Err(Diagnostic::error(format!("{path}/depends_on"), e)));
            }
            if self.merged.is_none() {
                self.merged = Some(
                    self.merge
                        .take()
                        .map(MergeBuilder::finish)
                        .unwrap_or_default(),
                );
            }
            let deps = self.merged.clone().unwrap_or_default();
            let TaskSpec::Single(t) = &self.specs[i] else {
                continue;
            };
            return Some(self.emit(t, &path, Some(&deps)));
        }
    }
}
