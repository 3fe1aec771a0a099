//! Task streaming: every task of a job, rendered one item at a time.

mod parallel;
mod problems;

use std::collections::{HashMap, HashSet, VecDeque};

use batchyard_batch::models::BatchTaskCreateOptions;
use batchyard_batch::validate_against_spec;
use batchyard_recipe::model::{DependsOn, Factory, Task, TaskSpec};
use batchyard_recipe::{Code, Diagnostic, Loaded, TaskTemplate};

use crate::dependencies::{MergeBuilder, TaskDependencies};
use crate::desired::{Desired, DesiredJob};
use crate::factory::{self, Rows};
use crate::ids::{Seen, SeenIds, check_id, hash_id};
use crate::payload::task;
use crate::skeleton::Skeleton;

/// The tasks of one job, in recipe order, merge tasks (`depends_on: all`) last. Each item is
/// a task payload or a problem at the recipe path that caused it; the stream goes on after a
/// problem so every one is reported.
///
/// [`TaskStream::write_next`] gives the same tasks as JSON lines, faster.
pub struct TaskStream<'a> {
    loaded: &'a Loaded,
    job: &'a DesiredJob,
    specs: &'a [TaskSpec],
    base_dir: &'a std::path::Path,
    /// Next task spec to start.
    next_spec: usize,
    /// The factory being drained.
    current: Option<Running<'a>>,
    ids: IdBook<'a>,
    /// Merge tasks, emitted once everything else has streamed past.
    merges: Vec<usize>,
    merged: Option<TaskDependencies>,
    /// How many threads [`TaskStream::write_all`] may write a factory on; `None` asks the
    /// system.
    threads: Option<usize>,
    /// Problems to hand out before anything else: a factory's, once it is drained, and the
    /// dependencies no task provides, once every task is out.
    queued: VecDeque<Diagnostic>,
    /// Whether the dependencies were checked against the job's ids.
    finished: bool,
}

/// A factory being drained.
struct Running<'a> {
    /// The factory task's recipe path.
    path: String,
    template: TaskTemplate,
    factory: &'a Factory,
    rows: Rows<'a>,
    /// How many items the factory yields, when known up front.
    count: Option<u64>,
    /// The next item's index.
    index: u64,
    /// Items before this index are written one by one, on this thread: the rest of a chunk
    /// the threads could not finish.
    serial_until: u64,
    /// The line with holes, when the factory's tasks can be written that way.
    skeleton: Option<Skeleton>,
    /// The problems of its items so far, each kind once with a count.
    problems: problems::Grouped,
}

/// The job's ids so far, for duplicates and for what merge tasks depend on.
struct IdBook<'a> {
    loaded: &'a Loaded,
    job: &'a DesiredJob,
    base_dir: &'a std::path::Path,
    seen: SeenIds,
    /// How many ids were offered to `seen` so far.
    offered: u64,
    /// Set when this stream only replays an earlier part of the job to list its ids.
    replay: Option<Replay>,
    merge: Option<MergeBuilder>,
    merge_error: Option<String>,
    /// Ids named in `depends_on` that no task had when they were named, by [`hash_id`]:
    /// checked against every id of the job once all are out. Hashes keep a million-task
    /// job's check small; a collision could only hide a missing id, never invent one.
    wanted: HashMap<u64, Wanted>,
}

/// An id some task depends on.
struct Wanted {
    id: String,
    /// The recipe path of the `depends_on` that names it.
    path: String,
}

/// The ids a replay has collected, and how many more it needs.
struct Replay {
    remaining: u64,
    ids: HashSet<String>,
    /// When set, the replay looks for the ids closest to these (missing dependencies)
    /// instead of collecting every id.
    nearest: Vec<Nearest>,
}

/// The id of the job closest to a missing dependency, as the replay goes.
struct Nearest {
    wanted: String,
    best: Option<(f64, String)>,
}

/// The tasks of `job` (from `desired.jobs`), rendered through the recipe's per-item API.
pub fn tasks<'a>(loaded: &'a Loaded, desired: &'a Desired, job: &'a DesiredJob) -> TaskStream<'a> {
    TaskStream::new(loaded, job, &desired.options.base_dir)
}

/// What starting the next task spec gave.
enum Start {
    /// A single task (or why it has none).
    Task(Result<BatchTaskCreateOptions, Diagnostic>),
    /// A factory, now being drained.
    Factory,
}

/// What to do with a factory item.
enum Step {
    /// A task or a problem to hand out.
    Out(Result<BatchTaskCreateOptions, Diagnostic>),
    /// A line was written.
    Written,
    /// The item had a problem, kept with the factory's others.
    Skipped,
    /// The factory is drained.
    Done,
}

impl<'a> TaskStream<'a> {
    fn new(loaded: &'a Loaded, job: &'a DesiredJob, base_dir: &'a std::path::Path) -> Self {
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
            base_dir,
            next_spec: 0,
            current: None,
            ids: IdBook {
                loaded,
                job,
                base_dir,
                seen: SeenIds::new(),
                offered: 0,
                replay: None,
                merge: has_merge.then(MergeBuilder::new),
                merge_error: None,
                wanted: HashMap::new(),
            },
            merges: Vec::new(),
            merged: None,
            threads: None,
            queued: VecDeque::new(),
            finished: false,
        }
    }

    fn path(&self, spec: usize) -> String {
        format!("{}/tasks/{spec}", self.job.path)
    }

    /// Ends the current factory: its problems, each kind once, go out next.
    fn drained(&mut self) {
        if let Some(run) = self.current.take() {
            self.queued.extend(run.problems.finish(run.index));
        }
    }

    /// Once every task is out: the dependencies that name no task of the job.
    fn check_dependencies(&mut self) {
        if self.finished || self.ids.replay.is_some() {
            return;
        }
        self.finished = true;
        let wanted = std::mem::take(&mut self.ids.wanted);
        let mut missing: Vec<Wanted> = wanted
            .into_values()
            .filter(|w| !self.ids.seen.contains(w.id.as_bytes()))
            .collect();
        if missing.is_empty() {
            return;
        }
        missing.sort_by(|a, b| a.path.cmp(&b.path).then_with(|| a.id.cmp(&b.id)));
        // A templated `depends_on` in a factory can miss an id per item: one report per
        // place, with how many ids it misses.
        let mut places: Vec<(Wanted, usize)> = Vec::new();
        for w in missing {
            match places.last_mut() {
                Some((first, n)) if first.path == w.path => *n += 1,
                _ => places.push((w, 1)),
            }
        }
        // Suggestions cost a pass over the job's ids: a few are worth it.
        const SUGGESTED: usize = 8;
        let names: Vec<String> = places
            .iter()
            .take(SUGGESTED)
            .map(|(w, _)| w.id.clone())
            .collect();
        let nearest = self.ids.nearest_ids(names);
        let total = self.ids.seen.len();
        for (i, (w, n)) in places.into_iter().enumerate() {
            let others = match n {
                1 => String::new(),
                2 => ", nor the other id named here".to_owned(),
                n => format!(", nor {} other ids named here", n - 1),
            };
            let d = Diagnostic::error(
                Code::UnknownDependency,
                w.path,
                format!(
                    "no task of job `{}` has the id `{}`{others} (the job has {total} task{})",
                    self.job.id,
                    w.id,
                    if total == 1 { "" } else { "s" }
                ),
            )
            .with_label("no such task");
            let d = match nearest.get(i).and_then(Option::as_ref) {
                Some(close) => d.with_help(format!(
                    "did you mean `{close}`? Batch would wait for `{}` forever",
                    w.id
                )),
                None => d.with_help(format!(
                    "name a task this job makes; Batch would wait for `{}` forever",
                    w.id
                )),
            };
            self.queued.push_back(d);
        }
    }

    /// Writes the next task to `out` as one JSON line (an `addtaskcollection` item, newline
    /// included), the bytes `serde_json` gives for the task [`Iterator::next`] would give.
    /// `None` once every task is out; a problem is returned instead of its task, as there.
    pub fn write_next(&mut self, out: &mut Vec<u8>) -> Option<Result<(), Diagnostic>> {
        loop {
            if let Some(problem) = self.queued.pop_front() {
                return Some(Err(problem));
            }
            if let Some(run) = &mut self.current {
                let step = if run.skeleton.is_some() {
                    write_item(run, &mut self.ids, out)
                } else {
                    next_item(run, &mut self.ids)
                };
                match step {
                    Step::Written => return Some(Ok(())),
                    Step::Out(result) => return Some(result.and_then(|t| write_task(&t, out))),
                    Step::Skipped => {}
                    Step::Done => self.drained(),
                }
                continue;
            }
            if let Start::Task(result) = self.start_next()? {
                return Some(result.and_then(|t| write_task(&t, out)));
            }
        }
    }

    /// Writes every task as [`Self::write_next`] does, into `out`, handing `out` to `flush`
    /// (and clearing it) whenever it holds `block` bytes or more, and once at the end. Each
    /// problem goes to `problem`, in the order `write_next` gives them.
    ///
    /// A big factory whose items can be reached by index is written on several threads, in
    /// chunks that `flush` gets in item order: the bytes and the problems are the same.
    pub fn write_all(
        &mut self,
        out: &mut Vec<u8>,
        block: usize,
        flush: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
        problem: &mut dyn FnMut(Diagnostic),
    ) -> std::io::Result<()> {
        let threads = *self.threads.get_or_insert_with(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
        });
        loop {
            if let Some(run) = &mut self.current
                && let Some(plan) = parallel::plan(run, &self.ids, threads)
            {
                parallel::write(&plan, run, &mut self.ids, self.base_dir, out, block, flush)?;
                continue;
            }
            match self.write_next(out) {
                None => break,
                Some(Err(p)) => problem(p),
                Some(Ok(())) => {}
            }
            if out.len() >= block {
                flush(out)?;
                out.clear();
            }
        }
        if !out.is_empty() {
            flush(out)?;
            out.clear();
        }
        Ok(())
    }

    /// Starts the next task spec or merge task: `None` when there is none left.
    fn start_next(&mut self) -> Option<Start> {
        loop {
            if let Some(spec) = self.specs.get(self.next_spec) {
                let i = self.next_spec;
                self.next_spec += 1;
                match spec {
                    TaskSpec::Single(t) if t.depends_on == Some(DependsOn::All) => {
                        self.merges.push(i)
                    }
                    TaskSpec::Single(t) => {
                        let path = self.path(i);
                        return Some(Start::Task(self.ids.emit(t, &path, None)));
                    }
                    TaskSpec::Factory(f) => {
                        let template = match self.loaded.task_template(self.job.index, i) {
                            Some(Ok(t)) => t,
                            Some(Err(diags)) => {
                                self.queued.extend(diags);
                                match self.queued.pop_front() {
                                    Some(d) => return Some(Start::Task(Err(d))),
                                    None => continue,
                                }
                            }
                            None => continue,
                        };
                        // Dependencies written without a template are the same for every
                        // item, and items written from the skeleton never become tasks.
                        let path = self.path(i);
                        if let Some(deps) = f.template.get("depends_on").and_then(|d| d.as_array())
                        {
                            for (j, dep) in deps.iter().enumerate() {
                                if let Some(dep) = dep
                                    .as_str()
                                    .filter(|d| !batchyard_recipe::template::is_template(d))
                                {
                                    self.ids.want(dep, &format!("{path}/depends_on/{j}"));
                                }
                            }
                        }
                        let count = factory::count(&f.factory);
                        if let Some(n) = count {
                            self.ids
                                .seen
                                .reserve(usize::try_from(n).unwrap_or(usize::MAX).min(1 << 24));
                        }
                        let rows = match &f.factory {
                            Factory::Blobs(b) => {
                                factory::blob_rows(b, &self.job.context.data.blob_listings)
                            }
                            other => factory::rows(other, self.base_dir),
                        };
                        match rows {
                            Ok(rows) => {
                                // Inputs are hashed per rendered task: no skeleton can
                                // stand for that.
                                let has_data = f.template.contains_key("inputs")
                                    || f.template.contains_key("outputs")
                                    || !self.job.context.data.job_inputs.is_empty();
                                let skeleton = if has_data {
                                    None
                                } else {
                                    Skeleton::new(&template, &rows, |t| {
                                        let payload = payload(self.job, t, &path, None).ok()?;
                                        serde_json::to_vec(&payload).ok()
                                    })
                                };
                                self.current = Some(Running {
                                    path,
                                    template,
                                    factory: &f.factory,
                                    rows,
                                    count,
                                    index: 0,
                                    serial_until: 0,
                                    skeleton,
                                    problems: problems::Grouped::default(),
                                });
                                return Some(Start::Factory);
                            }
                            Err(e) => {
                                return Some(Start::Task(Err(Diagnostic::error(
                                    Code::InvalidFactory,
                                    format!("{path}/factory"),
                                    e.to_string(),
                                ))));
                            }
                        }
                    }
                }
                continue;
            }
            // Everything else is out: the merge tasks.
            if self.merges.is_empty() {
                self.check_dependencies();
                return self.queued.pop_front().map(|d| Start::Task(Err(d)));
            }
            let i = self.merges.remove(0);
            let path = self.path(i);
            if let Some(e) = self.ids.merge_error.take() {
                return Some(Start::Task(Err(Diagnostic::error(
                    Code::InvalidDependency,
                    format!("{path}/depends_on"),
                    e,
                ))));
            }
            if self.merged.is_none() {
                self.merged = Some(
                    self.ids
                        .merge
                        .take()
                        .map(MergeBuilder::finish)
                        .unwrap_or_default(),
                );
            }
            let deps = self.merged.clone().unwrap_or_default();
            let TaskSpec::Single(t) = &self.specs[i] else {
                continue;
            };
            return Some(Start::Task(self.ids.emit(t, &path, Some(&deps))));
        }
    }
}

/// The next item of a factory, rendered and built the ordinary way.
fn next_item(run: &mut Running<'_>, ids: &mut IdBook<'_>) -> Step {
    match run.rows.advance() {
        Some(Ok(())) => {
            let i = run.index;
            run.index += 1;
            match ordinary(run, ids, i) {
                Ok(task) => Step::Out(Ok(task)),
                Err(d) => run.note(d, i),
            }
        }
        Some(Err(e)) => {
            let d = Diagnostic::error(
                Code::InvalidFactory,
                format!("{}/factory", run.path),
                e.to_string(),
            );
            run.note(d, run.index)
        }
        None => Step::Done,
    }
}

impl Running<'_> {
    /// Keeps an item's problem with the factory's others.
    fn note(&mut self, problem: Diagnostic, index: u64) -> Step {
        let rows = &self.rows;
        self.problems
            .add(problem, index, || rows.item().into_owned());
        Step::Skipped
    }
}

/// The next item of a factory with a skeleton, written straight into `out`.
fn write_item(run: &mut Running<'_>, ids: &mut IdBook<'_>, out: &mut Vec<u8>) -> Step {
    match run.rows.advance() {
        Some(Ok(())) => {}
        Some(Err(e)) => {
            let d = Diagnostic::error(
                Code::InvalidFactory,
                format!("{}/factory", run.path),
                e.to_string(),
            );
            let index = run.index;
            return run.note(d, index);
        }
        None => return Step::Done,
    }
    let i = run.index;
    run.index += 1;
    let start = out.len();
    let Some(skeleton) = run.skeleton.as_mut() else {
        return match ordinary(run, ids, i) {
            Ok(task) => Step::Out(Ok(task)),
            Err(d) => run.note(d, i),
        };
    };
    // An item the skeleton cannot take goes the ordinary way, which also says what is wrong
    // with it.
    let Some(at) = skeleton.write(&run.template, &run.rows, i, out) else {
        return match ordinary(run, ids, i) {
            Ok(task) => Step::Out(Ok(task)),
            Err(d) => run.note(d, i),
        };
    };
    match ids.remember(skeleton.id(&at, out), &run.path, false) {
        Ok(()) => Step::Written,
        Err(e) => {
            out.truncate(start);
            run.note(e, i)
        }
    }
}

/// Renders the current item of `run` (index `i`) and builds its payload.
fn ordinary(
    run: &Running<'_>,
    ids: &mut IdBook<'_>,
    i: u64,
) -> Result<BatchTaskCreateOptions, Diagnostic> {
    let t = run.template.render(&run.rows.item(), i)?;
    if t.depends_on == Some(DependsOn::All) {
        return Err(Diagnostic::error(
            Code::InvalidDependency,
            format!("{}/depends_on", run.path),
            "a factory task cannot be a merge task",
        )
        .with_help("write the merge task as a single task with `depends_on: all`"));
    }
    ids.emit(&t, &run.path, None)
}

impl IdBook<'_> {
    /// Checks the id, remembers it, and builds the payload.
    fn emit(
        &mut self,
        t: &Task,
        path: &str,
        merge_deps: Option<&TaskDependencies>,
    ) -> Result<BatchTaskCreateOptions, Diagnostic> {
        check_id(&t.id)
            .map_err(|e| Diagnostic::error(Code::InvalidId, format!("{path}/id"), e.to_string()))?;
        if self.replay.is_none()
            && let Some(DependsOn::Tasks(deps)) = &t.depends_on
        {
            for (j, dep) in deps.iter().enumerate() {
                if let batchyard_recipe::model::Dependency::Id(dep) = dep {
                    self.want(dep, &format!("{path}/depends_on/{j}"));
                }
            }
        }
        self.remember(t.id.as_bytes(), path, merge_deps.is_some())?;
        payload(self.job, t, path, merge_deps)
    }

    /// Records a checked id: an error when the job already has it. Ids of tasks other than
    /// merge tasks are what a merge task depends on.
    fn remember(&mut self, id: &[u8], path: &str, is_merge: bool) -> Result<(), Diagnostic> {
        self.offered += 1;
        if let Some(replay) = &mut self.replay {
            replay.remaining = replay.remaining.saturating_sub(1);
            let id = String::from_utf8_lossy(id);
            if replay.nearest.is_empty() {
                replay.ids.insert(id.into_owned());
            } else {
                for n in &mut replay.nearest {
                    let score = strsim::jaro_winkler(&n.wanted, &id);
                    if score >= 0.7 && n.best.as_ref().is_none_or(|(best, _)| score > *best) {
                        n.best = Some((score, id.clone().into_owned()));
                    }
                }
            }
            return Ok(());
        }
        let seen = match self.seen.insert(id) {
            Seen::Unsure => {
                let earlier = self.earlier_ids(self.offered - 1);
                self.seen.confirm(earlier);
                self.seen.insert(id)
            }
            seen => seen,
        };
        if seen != Seen::New {
            let id = String::from_utf8_lossy(id);
            return Err(Diagnostic::error(
                Code::DuplicateTaskId,
                format!("{path}/id"),
                format!("task id `{id}` is used twice in job `{}`", self.job.id),
            )
            .with_help("make the id template unique per item, e.g. with `{{ index }}`"));
        }
        if !is_merge
            && let Some(m) = &mut self.merge
            && let Err(e) = m.push(&String::from_utf8_lossy(id))
        {
            self.merge_error.get_or_insert(e.to_string());
        }
        Ok(())
    }

    /// Remembers that a task depends on `id`, unless a task with that id is already out.
    fn want(&mut self, id: &str, path: &str) {
        if self.seen.contains(id.as_bytes()) {
            return;
        }
        self.wanted
            .entry(hash_id(id.as_bytes()))
            .or_insert_with(|| Wanted {
                id: id.to_owned(),
                path: path.to_owned(),
            });
    }

    /// For each of `wanted`, the job's id closest to it (a likely typo), found by replaying
    /// the job: the ids themselves are not kept.
    fn nearest_ids(&self, wanted: Vec<String>) -> Vec<Option<String>> {
        let mut replay = TaskStream::new(self.loaded, self.job, self.base_dir);
        replay.ids.replay = Some(Replay {
            remaining: u64::MAX,
            ids: HashSet::new(),
            nearest: wanted
                .into_iter()
                .map(|wanted| Nearest { wanted, best: None })
                .collect(),
        });
        let mut scratch = Vec::new();
        loop {
            scratch.clear();
            if replay.write_next(&mut scratch).is_none() {
                break;
            }
        }
        replay
            .ids
            .replay
            .map(|r| {
                r.nearest
                    .into_iter()
                    .map(|n| n.best.map(|(_, id)| id))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first `count` ids this stream offered to `seen`, found by replaying the job from
    /// its start: a hash seen twice is confirmed against the ids themselves.
    fn earlier_ids(&self, count: u64) -> HashSet<String> {
        let mut replay = TaskStream::new(self.loaded, self.job, self.base_dir);
        replay.ids.replay = Some(Replay {
            remaining: count,
            ids: HashSet::new(),
            nearest: Vec::new(),
        });
        let mut scratch = Vec::new();
        while replay.ids.replay.as_ref().is_some_and(|r| r.remaining > 0) {
            scratch.clear();
            if replay.write_next(&mut scratch).is_none() {
                break;
            }
        }
        replay.ids.replay.map(|r| r.ids).unwrap_or_default()
    }
}

/// Builds the payload and checks it against the Batch spec when the recipe adds raw
/// `batch:` fields.
fn payload(
    job: &DesiredJob,
    t: &Task,
    path: &str,
    merge_deps: Option<&TaskDependencies>,
) -> Result<BatchTaskCreateOptions, Diagnostic> {
    let value = task::build(&job.context, t, path, merge_deps)?;
    if t.batch.is_some()
        && let Err(errors) = validate_against_spec("BatchTaskCreateOptions", &value)
    {
        let msg = errors
            .iter()
            .map(|e| format!("`{}`: {}", e.path, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(Diagnostic::error(
            Code::PayloadSchema,
            format!("{path}/batch"),
            format!("the task payload breaks the Batch API schema: {msg}"),
        ));
    }
    serde_json::from_value(value).map_err(|e| {
        Diagnostic::error(
            Code::PayloadModel,
            path,
            format!("the task payload does not fit Batch's model: {e}"),
        )
    })
}

fn write_task(task: &BatchTaskCreateOptions, out: &mut Vec<u8>) -> Result<(), Diagnostic> {
    serde_json::to_writer(&mut *out, task).map_err(|e| {
        Diagnostic::error(
            Code::PayloadWrite,
            "",
            format!("cannot write the task: {e}"),
        )
    })?;
    out.push(b'\n');
    Ok(())
}

impl Iterator for TaskStream<'_> {
    type Item = Result<BatchTaskCreateOptions, Diagnostic>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(problem) = self.queued.pop_front() {
                return Some(Err(problem));
            }
            if let Some(run) = &mut self.current {
                match next_item(run, &mut self.ids) {
                    Step::Out(result) => return Some(result),
                    Step::Skipped => {}
                    Step::Written | Step::Done => self.drained(),
                }
                continue;
            }
            if let Start::Task(result) = self.start_next()? {
                return Some(result);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CompileOptions, compile};
    use batchyard_recipe::load;
    use batchyard_recipe::render::Variables;

    /// For each factory of the recipe's first job, whether its tasks are written from a
    /// skeleton.
    fn skeletons(tasks_yaml: &str) -> Vec<(String, bool)> {
        let text = format!(
            "recipe: r\nvariables: {{ v: 1 }}\npools:\n  - {{ id: p, vm_size: Standard_D2s_v5, os: ubuntu-hpc-24.04, nodes: {{ dedicated: 2 }}, containers: {{ images: [busybox] }}, inter_node_communication: true }}\njobs:\n  - id: j\n    pool: p\n    tasks:\n{tasks_yaml}"
        );
        let loaded = load("r.yaml", &text, &Variables::new());
        assert!(!loaded.has_errors(), "{:#?}", loaded.diagnostics);
        let desired = compile(loaded.recipe.as_ref().unwrap(), &CompileOptions::default()).unwrap();
        let mut stream = tasks(&loaded, &desired, &desired.jobs[0]);
        let mut found: Vec<(String, bool)> = Vec::new();
        let mut buf = Vec::new();
        while stream.write_next(&mut buf).is_some() {
            if let Some(run) = &stream.current
                && found.last().is_none_or(|(p, _)| *p != run.path)
            {
                found.push((run.path.clone(), run.skeleton.is_some()));
            }
        }
        found
    }

    fn loaded(text: &str) -> (batchyard_recipe::Loaded, Desired) {
        let loaded = load("r.yaml", text, &Variables::new());
        assert!(!loaded.has_errors(), "{:#?}", loaded.diagnostics);
        let desired = compile(loaded.recipe.as_ref().unwrap(), &CompileOptions::default()).unwrap();
        (loaded, desired)
    }

    type Problems = Vec<(String, String)>;

    /// The job's lines and problems written one task at a time.
    fn one_by_one(text: &str) -> (Vec<u8>, Problems) {
        let (loaded, desired) = loaded(text);
        let mut stream = tasks(&loaded, &desired, &desired.jobs[0]);
        let (mut lines, mut problems) = (Vec::new(), Vec::new());
        while let Some(written) = stream.write_next(&mut lines) {
            if let Err(d) = written {
                problems.push((d.path, d.message));
            }
        }
        (lines, problems)
    }

    /// The same through `write_all` on `threads` threads, after checking that the job's
    /// first factory is big enough to be written on threads.
    fn on_threads(text: &str, threads: usize) -> (Vec<u8>, Problems) {
        let (loaded, desired) = loaded(text);
        let mut stream = tasks(&loaded, &desired, &desired.jobs[0]);
        stream.threads = Some(threads);
        let mut probe = tasks(&loaded, &desired, &desired.jobs[0]);
        while probe.current.is_none() {
            probe.write_next(&mut Vec::new()).unwrap().ok();
        }
        let run = probe.current.as_ref().unwrap();
        assert!(parallel::plan(run, &probe.ids, threads).is_some());
        let (mut lines, mut problems) = (Vec::new(), Vec::new());
        let mut flushed = Vec::new();
        stream
            .write_all(
                &mut lines,
                1 << 16,
                &mut |bytes| {
                    flushed.extend_from_slice(bytes);
                    Ok(())
                },
                &mut |d| problems.push((d.path, d.message)),
            )
            .unwrap();
        assert!(lines.is_empty());
        (flushed, problems)
    }

    fn recipe(tasks_yaml: &str) -> String {
        format!(
            "recipe: r\npools:\n  - {{ id: p, vm_size: Standard_D2s_v5, os: ubuntu-22.04, nodes: {{ dedicated: 1 }} }}\njobs:\n  - id: j\n    pool: p\n    tasks:\n{tasks_yaml}"
        )
    }

    #[test]
    fn a_big_factory_written_on_threads_gives_the_same_bytes() {
        let text = recipe(
            r#"      - { id: first, command: x }
      - { id: "s-{{ item.a }}-{{ item.b }}-{{ index }}", command: "run {{ item.a }} {{ item.b }}", env: { C: "{{ item.c }}" }, factory: { product: { a: { range: [0, 300] }, b: { range: [0, 400, 1] }, c: [x, "y \"z\""] } } }
      - { id: "r-{{ index }}", command: "x", factory: { repeat: 60000 } }
      - { id: last, command: x }
"#,
        );
        let (expected, problems) = one_by_one(&text);
        assert!(problems.is_empty(), "{:?}", problems.first());
        assert_eq!(
            expected.iter().filter(|b| **b == b'\n').count(),
            2 + 240_000 + 60_000
        );
        for threads in [2, 3, 4] {
            let (got, problems) = on_threads(&text, threads);
            assert!(problems.is_empty(), "{:?}", problems.first());
            assert!(got == expected, "{threads} threads write other bytes");
        }
    }

    #[test]
    fn problems_in_later_chunks_are_reported_where_they_are_one_by_one() {
        // In the zip, item 40 000 (a chunk after the first) has an id Batch refuses, and the
        // zip goes on on threads after it; item 100 000 of the repeat (a later chunk still)
        // repeats an earlier id in another case.
        let values: Vec<String> = (0..120_000)
            .map(|i| match i {
                40_000 => "bad.id".to_owned(),
                i => format!("v{i}"),
            })
            .collect();
        let text = recipe(&format!(
            r#"      - {{ id: "z-{{{{ item.v }}}}", command: "x {{{{ item.n }}}}", factory: {{ zip: {{ v: [{}], n: {{ range: [0, 120000] }} }} }} }}
      - {{ id: T-100000, command: x }}
      - {{ id: "t-{{{{ index }}}}", command: "x", factory: {{ repeat: 150000 }} }}
"#,
            values.join(", ")
        ));
        let (expected, expected_problems) = one_by_one(&text);
        let messages: Vec<&str> = expected_problems.iter().map(|(_, m)| m.as_str()).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(messages[0].contains("contains `.`"), "{messages:?}");
        assert!(
            messages[1].contains("`t-100000` is used twice"),
            "{messages:?}"
        );
        for threads in [2, 3] {
            let (got, problems) = on_threads(&text, threads);
            assert_eq!(problems, expected_problems);
            assert!(got == expected, "{threads} threads write other bytes");
        }
    }

    #[test]
    fn copied_fields_get_a_skeleton_and_anything_else_does_not() {
        let found = skeletons(
            r#"      - { id: "a-{{ item.x }}", command: "c {{ item.x }} {{ v }}", env: { E: "{{ index }}" }, image: "i{{ item.x }}", factory: { zip: { x: [1, 2] } } }
      - { id: "b-{{ index }}", command: "c", factory: { repeat: 2 } }
      - { id: "c-{{ index }}", command: "c {{ item.x | upper }}", factory: { zip: { x: [a, b] } } }
      - { id: "d-{{ index }}", command: "c", required_slots: "{{ item.x }}", factory: { zip: { x: [1, 2] } } }
      - { id: "e-{{ index }}", command: "c", constraints: { max_wall_time: "{{ item.x }}" }, factory: { zip: { x: [1h] } } }
      - { id: "f-{{ index }}", command: "c", mpi: { runtime: openmpi, instances: 2 }, factory: { repeat: 1 } }
      - { id: "g-{{ index }}", command: "c", batch: { displayName: "d{{ index }}" }, factory: { repeat: 1 } }
      - { id: "h-{{ index }}", command: "c", container_options: "{{ item.x }}", factory: { zip: { x: [a] } } }
"#,
        );
        let got: Vec<bool> = found.iter().map(|(_, s)| *s).collect();
        assert_eq!(
            got,
            [true, true, true, false, false, false, false, false],
            "{found:?}"
        );
    }
}
