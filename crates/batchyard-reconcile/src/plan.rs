//! The plan: ordered actions, each with its reason. Serialized as the `--output json` shape.

use serde::Serialize;
use serde_json::Value;

/// What apply would do, in the order it would do it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// The recipe's name.
    pub recipe: String,
    /// The actions, in apply order (conflicts first).
    pub actions: Vec<Action>,
    /// Things worth knowing that need no action (e.g. live tasks not in the recipe).
    pub notes: Vec<String>,
}

impl Plan {
    /// True when apply would change something (or cannot, because of a conflict).
    pub fn has_changes(&self) -> bool {
        !self.actions.is_empty()
    }

    /// Conflicts and blocked resources: apply refuses to start while there are any.
    pub fn blocking(&self) -> usize {
        self.actions
            .iter()
            .filter(|a| a.change.is_blocking())
            .count()
    }

    /// Actions that need `--allow-replace`.
    pub fn needing_replace(&self) -> usize {
        self.actions
            .iter()
            .filter(|a| a.change.needs_allow_replace())
            .count()
    }

    /// Actions that delete, replace or drain something.
    pub fn destructive(&self) -> usize {
        self.actions
            .iter()
            .filter(|a| a.change.is_destructive())
            .count()
    }

    /// Counts by category, for the summary line.
    pub fn counts(&self) -> PlanCounts {
        let mut c = PlanCounts::default();
        for a in &self.actions {
            match a.change.symbol() {
                "+" => c.create += 1,
                "~" => c.change += 1,
                "-/+" => c.replace += 1,
                "-" => c.delete += 1,
                _ => c.blocked += 1,
            }
        }
        c
    }
}

/// How many actions of each category a plan has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PlanCounts {
    /// Creates and task adds.
    pub create: usize,
    /// In-place changes.
    pub change: usize,
    /// Replacements and empty-pool changes.
    pub replace: usize,
    /// Deletions.
    pub delete: usize,
    /// Conflicts and blocked resources.
    pub blocked: usize,
}

/// A pool or a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    /// A Batch pool.
    Pool,
    /// A Batch job.
    Job,
}

/// The resource an action is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resource {
    /// Pool or job.
    pub kind: ResourceKind,
    /// Its id.
    pub id: String,
}

impl Resource {
    /// A pool.
    pub fn pool(id: &str) -> Self {
        Self {
            kind: ResourceKind::Pool,
            id: id.to_owned(),
        }
    }

    /// A job.
    pub fn job(id: &str) -> Self {
        Self {
            kind: ResourceKind::Job,
            id: id.to_owned(),
        }
    }
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            ResourceKind::Pool => write!(f, "pool {}", self.id),
            ResourceKind::Job => write!(f, "job {}", self.id),
        }
    }
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    /// What it is about.
    pub resource: Resource,
    /// What changes.
    #[serde(flatten)]
    pub change: Change,
    /// Why, in a sentence.
    pub reason: String,
    /// Whether it deletes, replaces or drains something (apply asks first).
    pub destructive: bool,
    /// Whether apply needs `--allow-replace` for it.
    pub needs_allow_replace: bool,
}

impl Action {
    /// An action with its flags derived from the change.
    pub fn new(resource: Resource, change: Change, reason: impl Into<String>) -> Self {
        Self {
            destructive: change.is_destructive(),
            needs_allow_replace: change.needs_allow_replace(),
            resource,
            change,
            reason: reason.into(),
        }
    }

    /// One line: what happens to what.
    pub fn summary(&self) -> String {
        let r = &self.resource;
        match &self.change {
            Change::Conflict { owner } => format!(
                "conflict: {r} exists and is not owned by this recipe ({})",
                owner
                    .as_deref()
                    .map_or("no batchyard metadata".to_owned(), |o| format!(
                        "owned by recipe `{o}`"
                    ))
            ),
            Change::Blocked { state } => format!("blocked: {r} is {state}"),
            Change::CreatePool {
                vm_size,
                dedicated,
                low_priority,
                autoscale,
            } => {
                if *autoscale {
                    format!("create {r} ({vm_size}, autoscale)")
                } else {
                    format!(
                        "create {r} ({vm_size}, {dedicated} dedicated + {low_priority} spot nodes)"
                    )
                }
            }
            Change::PatchPool { fields } => format!("update {r} in place: {}", names(fields)),
            Change::ResizePool {
                from_dedicated,
                from_low_priority,
                to_dedicated,
                to_low_priority,
                disable_autoscale,
            } => format!(
                "resize {r}: {from_dedicated} → {to_dedicated} dedicated, {from_low_priority} → {to_low_priority} spot{}",
                if *disable_autoscale {
                    " (autoscale off)"
                } else {
                    ""
                }
            ),
            Change::EnableAutoScale { .. } => format!("set the autoscale formula of {r}"),
            Change::EmptyPoolChange {
                fields,
                nodes,
                tasks_at_risk,
            } => format!(
                "empty-pool change of {r}: {} (drains {nodes} node(s), {tasks_at_risk} running task(s) at risk)",
                names(fields)
            ),
            Change::ReplacePool {
                fields,
                nodes,
                tasks_at_risk,
            } => format!(
                "replace {r}: {} (deletes {nodes} node(s), {tasks_at_risk} running task(s) at risk)",
                names(fields)
            ),
            Change::DeletePool { nodes } => format!("delete {r} ({nodes} node(s))"),
            Change::CreateJob { pool, tasks } => {
                format!("create {r} on pool {pool} ({tasks} task(s))")
            }
            Change::PatchJob { fields } => format!("update {r} in place: {}", names(fields)),
            Change::ReplaceJob { fields, live_tasks } => format!(
                "replace {r}: {} (its {live_tasks} live task(s) are deleted and added again)",
                if fields.is_empty() {
                    "the job is finished".to_owned()
                } else {
                    names(fields)
                }
            ),
            Change::DeleteJob => format!("delete {r} and its tasks"),
            Change::AddTasks { count, .. } => format!("add {count} task(s) to {r}"),
            Change::RecreateTasks { count, fields, .. } => format!(
                "re-create {count} drifted task(s) of {r} ({})",
                fields.join(", ")
            ),
            Change::SetOnAllTasksComplete { value } => {
                format!("set onAllTasksComplete={value} on {r}")
            }
        }
    }

    /// Extra lines: field values, task ids.
    pub fn details(&self) -> Vec<String> {
        match &self.change {
            Change::PatchPool { fields }
            | Change::EmptyPoolChange { fields, .. }
            | Change::ReplacePool { fields, .. }
            | Change::PatchJob { fields }
            | Change::ReplaceJob { fields, .. } => {
                fields.iter().flat_map(FieldChange::lines).collect()
            }
            Change::EnableAutoScale { formula, interval } => {
                let mut lines = vec![format!("formula: {}", formula.trim())];
                if let Some(i) = interval {
                    lines.push(format!("evaluation interval: {i}"));
                }
                lines
            }
            Change::AddTasks {
                count,
                sample,
                then_on_all_tasks_complete,
            }
            | Change::RecreateTasks {
                count,
                sample,
                then_on_all_tasks_complete,
                ..
            } => {
                let mut lines = vec![task_list(sample, *count)];
                if let Some(v) = then_on_all_tasks_complete {
                    lines.push(format!("then onAllTasksComplete={v}"));
                }
                lines
            }
            _ => Vec::new(),
        }
    }
}

fn names(fields: &[FieldChange]) -> String {
    fields
        .iter()
        .map(|f| f.field.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn task_list(sample: &[String], count: usize) -> String {
    let mut text = format!("tasks: {}", sample.join(", "));
    if count > sample.len() {
        text.push_str(&format!(" and {} more", count - sample.len()));
    }
    text
}

/// What changes, with the facts the plan shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// A resource with the wanted id exists and is not this recipe's: left untouched.
    Conflict {
        /// The recipe it belongs to, when it has batchyard metadata.
        owner: Option<String>,
    },
    /// The resource is in a state that accepts no change now (e.g. `deleting`).
    Blocked {
        /// Its state.
        state: String,
    },
    /// A new pool.
    CreatePool {
        /// Its VM size.
        vm_size: String,
        /// Dedicated nodes.
        dedicated: i64,
        /// Spot nodes.
        low_priority: i64,
        /// Whether it autoscales.
        autoscale: bool,
    },
    /// Fields Batch lets change while nodes exist.
    PatchPool {
        /// The fields.
        fields: Vec<FieldChange>,
    },
    /// A new target size (and autoscale off when it was on).
    ResizePool {
        /// Current target, dedicated.
        from_dedicated: i64,
        /// Current target, spot.
        from_low_priority: i64,
        /// New target, dedicated.
        to_dedicated: i64,
        /// New target, spot.
        to_low_priority: i64,
        /// Whether autoscale is switched off first.
        disable_autoscale: bool,
    },
    /// Autoscale on, or a new formula.
    EnableAutoScale {
        /// The formula.
        formula: String,
        /// Evaluation interval.
        interval: Option<String>,
    },
    /// Fields Batch lets change only on an empty pool: resize to 0, patch, resize back.
    EmptyPoolChange {
        /// The fields.
        fields: Vec<FieldChange>,
        /// Nodes that are removed.
        nodes: u32,
        /// Tasks running on them now (they are requeued).
        tasks_at_risk: u64,
    },
    /// Fields only a new pool can have: delete and create.
    ReplacePool {
        /// The fields.
        fields: Vec<FieldChange>,
        /// Nodes that are deleted.
        nodes: u32,
        /// Tasks running on them now.
        tasks_at_risk: u64,
    },
    /// Delete a pool this recipe owns.
    DeletePool {
        /// Its nodes.
        nodes: u32,
    },
    /// A new job.
    CreateJob {
        /// Its pool.
        pool: String,
        /// Tasks added after it.
        tasks: usize,
    },
    /// Job fields Batch lets change.
    PatchJob {
        /// The fields.
        fields: Vec<FieldChange>,
    },
    /// Delete the job and create it again with all its tasks.
    ReplaceJob {
        /// Fields that force it (empty when the job is finished and tasks are missing).
        fields: Vec<FieldChange>,
        /// Tasks in the live job.
        live_tasks: usize,
    },
    /// Delete a job this recipe owns, with its tasks.
    DeleteJob,
    /// Add the tasks whose ids are missing.
    AddTasks {
        /// How many.
        count: usize,
        /// The first few ids.
        sample: Vec<String>,
        /// Set after the last task is in.
        then_on_all_tasks_complete: Option<String>,
    },
    /// Tasks whose live spec differs from the recipe: delete and add again.
    RecreateTasks {
        /// How many.
        count: usize,
        /// The first few ids.
        sample: Vec<String>,
        /// The fields that differ.
        fields: Vec<String>,
        /// Set after the last task is in.
        then_on_all_tasks_complete: Option<String>,
    },
    /// Every task is in; the job's end condition is set.
    SetOnAllTasksComplete {
        /// The value.
        value: String,
    },
}

impl Change {
    /// Conflicts and blocked resources.
    pub fn is_blocking(&self) -> bool {
        matches!(self, Change::Conflict { .. } | Change::Blocked { .. })
    }

    /// Drains, replaces and re-creations.
    pub fn needs_allow_replace(&self) -> bool {
        matches!(
            self,
            Change::EmptyPoolChange { .. }
                | Change::ReplacePool { .. }
                | Change::ReplaceJob { .. }
                | Change::RecreateTasks { .. }
        )
    }

    /// Anything that removes nodes, tasks or resources.
    pub fn is_destructive(&self) -> bool {
        self.needs_allow_replace() || matches!(self, Change::DeletePool { .. } | Change::DeleteJob)
    }

    /// The plan's symbol: `+` create, `~` change, `-/+` replace, `-` delete, `!` blocked.
    pub fn symbol(&self) -> &'static str {
        match self {
            Change::Conflict { .. } | Change::Blocked { .. } => "!",
            Change::CreatePool { .. } | Change::CreateJob { .. } | Change::AddTasks { .. } => "+",
            Change::EmptyPoolChange { .. }
            | Change::ReplacePool { .. }
            | Change::ReplaceJob { .. }
            | Change::RecreateTasks { .. } => "-/+",
            Change::DeletePool { .. } | Change::DeleteJob => "-",
            _ => "~",
        }
    }

    /// Apply order: jobs go before the pools they use are deleted, pools are ready
    /// before jobs, tasks after their job, the end condition last.
    pub(crate) fn phase(&self) -> u8 {
        match self {
            Change::Conflict { .. } | Change::Blocked { .. } => 0,
            Change::DeleteJob => 1,
            Change::CreatePool { .. }
            | Change::PatchPool { .. }
            | Change::ResizePool { .. }
            | Change::EnableAutoScale { .. }
            | Change::EmptyPoolChange { .. }
            | Change::ReplacePool { .. } => 2,
            Change::DeletePool { .. } => 3,
            Change::ReplaceJob { .. } | Change::CreateJob { .. } | Change::PatchJob { .. } => 4,
            Change::AddTasks { .. } | Change::RecreateTasks { .. } => 5,
            Change::SetOnAllTasksComplete { .. } => 6,
        }
    }
}

impl Change {
    /// Blanks secret-bearing live and desired values (see [`crate::redact`]).
    pub fn redact(&mut self) {
        if let Change::PatchPool { fields }
        | Change::EmptyPoolChange { fields, .. }
        | Change::ReplacePool { fields, .. }
        | Change::PatchJob { fields }
        | Change::ReplaceJob { fields, .. } = self
        {
            for f in fields {
                if crate::redact::is_secret_key(&f.wire) {
                    for v in [&mut f.from, &mut f.to] {
                        if !v.is_null() {
                            *v = Value::String(crate::redact::REDACTED.into());
                        }
                    }
                }
                crate::redact::redact(&mut f.from);
                crate::redact::redact(&mut f.to);
            }
        }
    }
}

/// One field that differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    /// The recipe's name for it (`vm_size`).
    pub field: String,
    /// The Batch REST name (`vmSize`).
    pub wire: String,
    /// The live value (`null` when absent).
    pub from: Value,
    /// The desired value (`null` when absent; secrets appear only in redacted form).
    pub to: Value,
}

impl FieldChange {
    /// `vm_size: "standard_d2s_v5" → "Standard_D4s_v5"`: the first of [`FieldChange::lines`].
    pub fn line(&self) -> String {
        self.lines().into_iter().next().unwrap_or_default()
    }

    /// One line per changed leaf: `vm_size: ... → ...` for a plain field, and for a nested
    /// one the path inside it, `imageReference.sku: "22_04-lts" → "server"`. Objects are
    /// walked by the keys the recipe sets (keys only the service has are its defaults),
    /// lists of the same length item by item; anything else is shown whole, never cut.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        leaves("", &self.field, &self.wire, &self.from, &self.to, &mut out);
        if out.is_empty() {
            out.push(format!(
                "{}: {} → {}",
                self.field,
                show(&self.from),
                show(&self.to)
            ));
        }
        out
    }
}

/// `path` is the place inside the field ("" at its top); `name` what a leaf at the top is
/// called.
fn leaves(path: &str, name: &str, key: &str, from: &Value, to: &Value, out: &mut Vec<String>) {
    if crate::compare::matches(key, to, from) {
        return;
    }
    let at = |inner: &str| -> String {
        if path.is_empty() {
            inner.to_owned()
        } else if inner.starts_with('[') {
            format!("{path}{inner}")
        } else {
            format!("{path}.{inner}")
        }
    };
    match (from, to) {
        (Value::Object(live), Value::Object(want)) => {
            for (k, v) in want {
                let live_v = live.get(k).unwrap_or(&Value::Null);
                leaves(&at(k), k, k, live_v, v, out);
            }
        }
        (Value::Array(live), Value::Array(want)) if live.len() == want.len() => {
            let base = if path.is_empty() { name } else { path };
            for (i, (l, w)) in live.iter().zip(want).enumerate() {
                leaves(&format!("{base}[{i}]"), name, key, l, w, out);
            }
        }
        _ => {
            let place = if path.is_empty() { name } else { path };
            out.push(format!("{place}: {} → {}", show(from), show(to)));
        }
    }
}

fn show(value: &Value) -> String {
    match value {
        Value::Null => "(none)".to_owned(),
        other => other.to_string(),
    }
}
