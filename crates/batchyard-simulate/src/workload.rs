//! The compiled recipe as the simulation needs it: pools with their node counts, slots and
//! autoscale formula; every task with its pool, slots, duration and dependencies.
//!
//! Tasks come from `batchyard_compile::tasks`, the same stream `apply` adds to Batch, so
//! the ids, slots and dependencies simulated are the ones a real run would submit.

use std::collections::HashMap;
use std::hash::BuildHasher;

use batchyard_batch::models::BatchTaskCreateOptions;
use batchyard_compile::{Desired, DesiredJob, DesiredPool};
use batchyard_emulator::autoscale::{Formula, evaluation_interval};
use batchyard_recipe::model::{DependsOn, Factory, TaskSpec};
use batchyard_recipe::{Diagnostic, Loaded};
use serde_json::Value;

use crate::model::{Draws, DurationModel};

/// One pool.
#[derive(Debug, Clone)]
pub struct PoolSpec {
    pub id: String,
    pub vm_size: String,
    /// Fixed node counts (the starting targets of an autoscale pool are its formula's).
    pub dedicated: u32,
    pub spot: u32,
    pub slots_per_node: u32,
    /// `pack` fills a node before the next; `spread` (Batch's default) deals tasks round.
    pub pack: bool,
    pub autoscale: Option<AutoscaleSpec>,
}

/// A pool's autoscale formula, parsed by the emulator's evaluator.
#[derive(Debug, Clone)]
pub struct AutoscaleSpec {
    pub formula: Formula,
    pub interval_secs: f64,
}

/// Every task of every job, column by column (a million tasks stay compact).
#[derive(Debug, Default)]
pub struct Tasks {
    pub ids: Vec<Box<str>>,
    /// Index into [`Workload::jobs`].
    pub job: Vec<u32>,
    pub slots: Vec<u32>,
    /// Milliseconds.
    pub duration_ms: Vec<u64>,
    /// How many tasks each waits for (ids no task has included: those never start).
    pub waits_for: Vec<u32>,
    /// `dependents[dependents_start[t]..dependents_start[t + 1]]` wait for task `t`.
    pub dependents_start: Vec<u32>,
    pub dependents: Vec<u32>,
}

impl Tasks {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn dependents_of(&self, task: u32) -> &[u32] {
        let t = task as usize;
        &self.dependents[self.dependents_start[t] as usize..self.dependents_start[t + 1] as usize]
    }
}

/// One job: its id and the index of its pool.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub id: String,
    pub pool: u32,
}

/// What is simulated.
#[derive(Debug)]
pub struct Workload {
    pub pools: Vec<PoolSpec>,
    pub jobs: Vec<JobSpec>,
    pub tasks: Tasks,
    /// What the simulation does not model of this recipe, said once each.
    pub notes: Vec<String>,
}

/// Why a workload could not be built.
#[derive(Debug)]
pub enum WorkloadError {
    /// The task stream reported problems (as `render` would).
    Tasks(Vec<Diagnostic>),
    /// Anything else, with a sentence that says what to do.
    Other(String),
}

impl std::fmt::Display for WorkloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tasks(d) => write!(f, "{} problem(s) in the recipe's tasks", d.len()),
            Self::Other(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for WorkloadError {}

/// Builds the workload of a compiled recipe, drawing each task's duration from `model`
/// with `seed`.
pub fn build(
    loaded: &Loaded,
    desired: &Desired,
    model: &DurationModel,
    seed: u64,
) -> Result<Workload, WorkloadError> {
    let mut notes = Vec::new();
    let pools = desired
        .pools
        .iter()
        .map(|p| pool_spec(p, &mut notes))
        .collect::<Result<Vec<_>, _>>()?;
    let mut jobs = Vec::new();
    let mut tasks = Tasks::default();
    let mut draws = Draws::new(seed);
    let mut problems = Vec::new();
    let mut pending: Vec<(u32, PendingDeps)> = Vec::new();
    let mut ids_by_job: Vec<IdIndex> = Vec::new();
    let mut multi_instance = false;
    for job in &desired.jobs {
        let pool_id = job.payload.pool_info.pool_id.clone().unwrap_or_default();
        let Some(pool) = pools
            .iter()
            .position(|p| p.id.eq_ignore_ascii_case(&pool_id))
        else {
            return Err(WorkloadError::Other(format!(
                "job `{}` runs on pool `{pool_id}`, which the recipe does not define: the simulation needs the pool's size",
                job.id
            )));
        };
        let job_index = jobs.len() as u32;
        jobs.push(JobSpec {
            id: job.id.clone(),
            pool: pool as u32,
        });
        let mut columns = ColumnValues::new(loaded, desired, job, model.column(), &mut notes);
        let mut index = IdIndex::default();
        for item in batchyard_compile::tasks(loaded, desired, job) {
            let task = match item {
                Ok(t) => t,
                Err(d) => {
                    problems.push(d);
                    continue;
                }
            };
            let t = tasks.ids.len() as u32;
            let seconds = match model.measured(&job.id, &task.id) {
                Some(s) => {
                    columns.skip();
                    s
                }
                None => match columns.next() {
                    Some(s) => s,
                    None => draws.duration(model),
                },
            };
            multi_instance |= task.multi_instance_settings.is_some();
            tasks.job.push(job_index);
            tasks
                .slots
                .push(u32::try_from(task.required_slots.unwrap_or(1).max(1)).unwrap_or(1));
            tasks.duration_ms.push(secs_to_ms(seconds));
            if let Some(deps) = pending_deps(&task) {
                pending.push((t, deps));
            }
            index.insert(&task.id, t);
            tasks.ids.push(task.id.into_boxed_str());
        }
        if let Some(note) = columns.finish() {
            notes.push(note);
        }
        ids_by_job.push(index);
    }
    if !problems.is_empty() {
        return Err(WorkloadError::Tasks(problems));
    }
    if multi_instance {
        notes.push(
            "multi-instance (MPI) tasks are simulated on one node each: the simulation does not reserve their other nodes"
                .into(),
        );
    }
    link_dependencies(&mut tasks, &ids_by_job, pending);
    Ok(Workload {
        pools,
        jobs,
        tasks,
        notes,
    })
}

pub(crate) fn secs_to_ms(seconds: f64) -> u64 {
    if seconds.is_finite() && seconds > 0.0 {
        (seconds * 1000.0).round() as u64
    } else {
        0
    }
}

fn pool_spec(pool: &DesiredPool, notes: &mut Vec<String>) -> Result<PoolSpec, WorkloadError> {
    let json = serde_json::to_value(&pool.payload).unwrap_or(Value::Null);
    let count = |v: Option<i32>| u32::try_from(v.unwrap_or(0).max(0)).unwrap_or(0);
    let autoscale = if pool.payload.enable_auto_scale == Some(true) {
        let text = pool.payload.auto_scale_formula.clone().unwrap_or_default();
        let formula = Formula::parse(&text).map_err(|e| {
            WorkloadError::Other(format!(
                "the autoscale formula of pool `{}` does not parse ({e}): fix it in the recipe",
                pool.id
            ))
        })?;
        let interval = evaluation_interval(&json).map_err(|e| {
            WorkloadError::Other(format!(
                "the autoscale evaluation interval of pool `{}` {e}",
                pool.id
            ))
        })?;
        Some(AutoscaleSpec {
            formula,
            interval_secs: interval.as_secs_f64(),
        })
    } else {
        None
    };
    if pool.payload.start_task.is_some() {
        notes.push(format!(
            "pool `{}` has a start task: its run time is taken as part of the boot time",
            pool.id
        ));
    }
    Ok(PoolSpec {
        id: pool.id.clone(),
        vm_size: pool.payload.vm_size.clone(),
        dedicated: count(pool.payload.target_dedicated_nodes),
        spot: count(pool.payload.target_low_priority_nodes),
        slots_per_node: u32::try_from(pool.payload.task_slots_per_node.unwrap_or(1).max(1))
            .unwrap_or(1),
        pack: json
            .pointer("/taskSchedulingPolicy/nodeFillType")
            .and_then(Value::as_str)
            .is_some_and(|s| s.eq_ignore_ascii_case("pack")),
        autoscale,
    })
}

/// A task's dependencies, by id and by range, before every id is known.
struct PendingDeps {
    ids: Vec<String>,
    ranges: Vec<(i64, i64)>,
}

fn pending_deps(task: &BatchTaskCreateOptions) -> Option<PendingDeps> {
    let deps = task.depends_on.as_ref()?;
    let ids = deps.task_ids.clone().unwrap_or_default();
    let ranges: Vec<(i64, i64)> = deps
        .task_id_ranges
        .iter()
        .flatten()
        .map(|r| (i64::from(r.start), i64::from(r.end)))
        .collect();
    (!ids.is_empty() || !ranges.is_empty()).then_some(PendingDeps { ids, ranges })
}

/// A job's task ids by hash, checked against the stored id on lookup, so a million ids
/// are not held twice.
#[derive(Default)]
struct IdIndex {
    by_hash: HashMap<u64, Vec<u32>>,
    /// Tasks whose id is a canonical integer, for Batch's id ranges.
    numeric: Vec<(i64, u32)>,
}

impl IdIndex {
    fn hash(id: &str) -> u64 {
        foldhash::quality::FixedState::with_seed(0x5eed).hash_one(id)
    }

    fn insert(&mut self, id: &str, task: u32) {
        self.by_hash.entry(Self::hash(id)).or_default().push(task);
        if let Ok(n) = id.parse::<i64>()
            && n.to_string() == id
        {
            self.numeric.push((n, task));
        }
    }

    fn get(&self, ids: &[Box<str>], id: &str) -> Option<u32> {
        self.by_hash
            .get(&Self::hash(id))?
            .iter()
            .copied()
            .find(|t| &*ids[*t as usize] == id)
    }
}

/// Turns the pending dependencies into counts and a dependents list. An id no task has
/// keeps its task waiting for ever, as Batch keeps it blocked.
fn link_dependencies(tasks: &mut Tasks, index: &[IdIndex], pending: Vec<(u32, PendingDeps)>) {
    let n = tasks.len();
    tasks.waits_for = vec![0; n];
    let mut edges: Vec<(u32, u32)> = Vec::new();
    let mut sorted_numeric: Vec<Option<Vec<(i64, u32)>>> = vec![None; index.len()];
    for (task, deps) in pending {
        let job = tasks.job[task as usize] as usize;
        let mut count = 0u32;
        for id in &deps.ids {
            count += 1;
            if let Some(dep) = index[job].get(&tasks.ids, id) {
                edges.push((dep, task));
            }
        }
        if !deps.ranges.is_empty() {
            let numeric = sorted_numeric[job].get_or_insert_with(|| {
                let mut v = index[job].numeric.clone();
                v.sort_unstable();
                v
            });
            for (start, end) in &deps.ranges {
                let from = numeric.partition_point(|(k, _)| k < start);
                for (k, dep) in &numeric[from..] {
                    if k > end {
                        break;
                    }
                    count += 1;
                    edges.push((*dep, task));
                }
            }
        }
        // Unresolved ids count too: those dependencies are never met.
        tasks.waits_for[task as usize] = count;
    }
    let mut start = vec![0u32; n + 1];
    for (dep, _) in &edges {
        start[*dep as usize + 1] += 1;
    }
    for i in 0..n {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut dependents = vec![0u32; edges.len()];
    for (dep, task) in edges {
        let at = &mut fill[dep as usize];
        dependents[*at as usize] = task;
        *at += 1;
    }
    tasks.dependents_start = start;
    tasks.dependents = dependents;
}

/// The values of the duration column for the tasks of one job, in task order: the table
/// factories' rows, one per task, and nothing for other tasks.
struct ColumnValues {
    /// Per task spec in stream order (merge specs last): its value list, or the number of
    /// tasks to pass over.
    segments: std::vec::IntoIter<Segment>,
    current: Option<Segment>,
    used: u64,
    column: Option<String>,
}

enum Segment {
    Values(std::vec::IntoIter<Option<f64>>),
    /// A spec whose task count is unknown up front: everything after it has no values.
    Rest,
}

impl ColumnValues {
    fn new(
        loaded: &Loaded,
        desired: &Desired,
        job: &DesiredJob,
        column: Option<&str>,
        notes: &mut Vec<String>,
    ) -> Self {
        let mut segments = Vec::new();
        let specs = loaded
            .recipe
            .as_ref()
            .and_then(|r| r.jobs.get(job.index))
            .map(|j| j.tasks.as_slice())
            .unwrap_or_default();
        if let Some(name) = column {
            let base = base_dir(desired);
            let (merges, others): (Vec<&TaskSpec>, Vec<&TaskSpec>) =
                specs.iter().partition(|s| is_merge(s));
            for spec in others.into_iter().chain(merges) {
                segments.push(spec_segment(spec, name, &base, notes));
            }
        }
        Self {
            segments: segments.into_iter(),
            current: None,
            used: 0,
            column: column.map(str::to_string),
        }
    }

    /// The value for the next task, when it has one.
    fn next(&mut self) -> Option<f64> {
        self.column.as_ref()?;
        loop {
            match &mut self.current {
                Some(Segment::Values(values)) => {
                    if let Some(v) = values.next() {
                        if v.is_some() {
                            self.used += 1;
                        }
                        return v;
                    }
                    self.current = None;
                }
                Some(Segment::Rest) => return None,
                None => self.current = Some(self.segments.next()?),
            }
        }
    }

    fn skip(&mut self) {
        let _ = self.next();
    }

    fn finish(self) -> Option<String> {
        let name = self.column?;
        (self.used == 0).then(|| {
            format!("no task of this job came from a table factory with a column `{name}`: every task took the fallback duration")
        })
    }
}

fn base_dir(desired: &Desired) -> std::path::PathBuf {
    desired.base_dir().to_path_buf()
}

fn is_merge(spec: &TaskSpec) -> bool {
    match spec {
        TaskSpec::Single(task) => matches!(task.depends_on, Some(DependsOn::All)),
        TaskSpec::Factory(f) => f
            .template
            .get("depends_on")
            .is_some_and(|v| v.as_str() == Some("all")),
    }
}

fn spec_segment(
    spec: &TaskSpec,
    name: &str,
    base: &std::path::Path,
    notes: &mut Vec<String>,
) -> Segment {
    let factory = match spec {
        TaskSpec::Single(_) => return Segment::Values(vec![None].into_iter()),
        TaskSpec::Factory(f) => &f.factory,
    };
    if let Factory::Table(_) = factory {
        let Ok(mut rows) = batchyard_compile::factory::rows(factory, base) else {
            return Segment::Rest;
        };
        let key = rows.key(name);
        let mut values = Vec::new();
        let mut unreadable = 0u64;
        while let Some(Ok(())) = rows.advance() {
            let v = key
                .as_ref()
                .and_then(|k| rows.get(k))
                .and_then(|v| match &*v {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) => s.trim().parse::<f64>().ok(),
                    _ => None,
                });
            if v.is_none() {
                unreadable += 1;
            }
            values.push(v);
        }
        if unreadable > 0 {
            notes.push(format!(
                "{unreadable} row(s) of a table factory have no number of seconds in column `{name}`: those tasks took the fallback duration"
            ));
        }
        return Segment::Values(values.into_iter());
    }
    match batchyard_compile::factory::count(factory) {
        Some(n) => Segment::Values(vec![None; usize::try_from(n).unwrap_or(0)].into_iter()),
        None => Segment::Rest,
    }
}
