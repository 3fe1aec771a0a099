//! Desired + observed → plan. Pure: no I/O, the same inputs give the same plan.

use batchyard_batch::models::BatchJobState;
use batchyard_compile::{DesiredPool, METADATA_SPEC};
use serde_json::{Map, Value};

use crate::compare::{formula_text, is_empty, matches};
use crate::drift::{Drift, drift};
use crate::fields::{
    JobFieldKind, PoolFieldKind, job_default, job_field_kind, pool_default, pool_field_kind,
    recipe_name,
};
use crate::intent::{Intent, JobIntent};
use crate::observe::{Observed, ObservedJob, ObservedPool, owner, task_key};
use crate::plan::{Action, Change, FieldChange, Plan, Resource};

/// What the plan is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Make the live state what the recipe says; delete owned resources the recipe no
    /// longer has.
    Apply,
    /// Delete everything the recipe owns, and nothing else.
    Destroy,
}

/// Task ids shown per action.
const SAMPLE: usize = 5;

/// Pool fields compared even when the desired payload leaves them out, so that removing
/// them from the recipe shows up.
const POOL_FIELDS: &[&str] = &[
    "startTask",
    "metadata",
    "applicationPackageReferences",
    "certificateReferences",
    "targetNodeCommunicationMode",
    "displayName",
    "enableInterNodeCommunication",
    "taskSlotsPerNode",
    "taskSchedulingPolicy",
    "networkConfiguration",
    "resourceTags",
    "userAccounts",
    "mountConfiguration",
];

/// Job fields compared even when absent from the desired payload.
const JOB_FIELDS: &[&str] = &[
    "priority",
    "maxParallelTasks",
    "constraints",
    "metadata",
    "commonEnvironmentSettings",
    "jobPreparationTask",
    "jobReleaseTask",
    "usesTaskDependencies",
    "onTaskFailure",
];

/// Compares the desired state with the live one and orders what differs into a plan.
pub fn diff(intent: &Intent, observed: &Observed, mode: Mode) -> Plan {
    let mut actions = Vec::new();
    let mut notes = Vec::new();
    match mode {
        Mode::Apply => {
            for pool in &intent.pools {
                let live = observed.pools.get(&pool.id.to_ascii_lowercase());
                diff_pool(intent, pool, live, &mut actions);
            }
            for job in &intent.jobs {
                let live = observed.jobs.get(&job.id.to_ascii_lowercase());
                diff_job(intent, job, live, &mut actions, &mut notes);
            }
            for id in &observed.owned_jobs {
                if intent.job(id).is_none() {
                    actions.push(Action::new(
                        Resource::job(id),
                        Change::DeleteJob,
                        "the recipe owns this job but no longer has it",
                    ));
                }
            }
            for (id, nodes) in &observed.owned_pools {
                if intent.pool(id).is_none() {
                    actions.push(Action::new(
                        Resource::pool(id),
                        Change::DeletePool { nodes: *nodes },
                        "the recipe owns this pool but no longer has it",
                    ));
                }
            }
        }
        Mode::Destroy => {
            for id in &observed.owned_jobs {
                actions.push(Action::new(
                    Resource::job(id),
                    Change::DeleteJob,
                    format!("owned by recipe `{}`", intent.recipe),
                ));
            }
            for (id, nodes) in &observed.owned_pools {
                actions.push(Action::new(
                    Resource::pool(id),
                    Change::DeletePool { nodes: *nodes },
                    format!("owned by recipe `{}`", intent.recipe),
                ));
            }
            for live in observed.pools.values() {
                if owner(live.pool.metadata.as_deref()) != Some(intent.recipe.as_str()) {
                    notes.push(format!(
                        "pool {} is not owned by this recipe; left alone",
                        live.pool.id.as_deref().unwrap_or_default()
                    ));
                }
            }
            for live in observed.jobs.values() {
                if owner(live.job.metadata.as_deref()) != Some(intent.recipe.as_str()) {
                    notes.push(format!(
                        "job {} is not owned by this recipe; left alone",
                        live.job.id.as_deref().unwrap_or_default()
                    ));
                }
            }
        }
    }
    // Stable: within a phase, recipe order stays.
    actions.sort_by_key(|a| a.change.phase());
    for action in &mut actions {
        action.change.redact();
    }
    Plan {
        recipe: intent.recipe.clone(),
        actions,
        notes,
    }
}

fn ownership_conflict(
    intent: &Intent,
    resource: Resource,
    metadata: Option<&[batchyard_batch::models::BatchMetadataItem]>,
) -> Option<Action> {
    let found = owner(metadata);
    if found == Some(intent.recipe.as_str()) {
        return None;
    }
    Some(Action::new(
        resource,
        Change::Conflict {
            owner: found.map(str::to_owned),
        },
        "batchyard changes only what carries its recipe's metadata; rename it in the \
         recipe, or delete the existing one yourself, then plan again",
    ))
}

fn to_object<T: serde::Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// Metadata without the spec hash, which changes with every recipe change and is
/// rewritten by every action, so it never causes one.
fn without_spec_hash(value: Option<&Value>) -> Value {
    let items = value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter(|m| m.get("name").and_then(Value::as_str) != Some(METADATA_SPEC))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    Value::Array(items)
}

fn spec_hash_of(value: Option<&Value>) -> Option<String> {
    value?
        .as_array()?
        .iter()
        .find(|m| m.get("name").and_then(Value::as_str) == Some(METADATA_SPEC))
        .and_then(|m| m.get("value"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Compares one field; `None` when it matches.
fn field_difference(
    field: &str,
    desired: &Map<String, Value>,
    compared: &Map<String, Value>,
    observed: &Map<String, Value>,
    default: Option<Value>,
) -> Option<FieldChange> {
    let (want, live) = if field == "metadata" {
        (
            without_spec_hash(compared.get(field)),
            without_spec_hash(observed.get(field)),
        )
    } else {
        (
            compared
                .get(field)
                .cloned()
                .or_else(|| default.clone())
                .unwrap_or(Value::Null),
            observed
                .get(field)
                .cloned()
                .or(default)
                .unwrap_or(Value::Null),
        )
    };
    let same = if compared.contains_key(field) || field == "metadata" {
        matches(field, &want, &live)
    } else if want.is_null() {
        // Absent from the recipe, no known default: the live value must be empty.
        is_empty(&live)
    } else {
        matches(field, &want, &live)
    };
    if same {
        return None;
    }
    Some(FieldChange {
        field: recipe_name(field).to_owned(),
        wire: field.to_owned(),
        from: observed.get(field).cloned().unwrap_or(Value::Null),
        to: desired.get(field).cloned().unwrap_or(Value::Null),
    })
}

fn int(map: &Map<String, Value>, key: &str) -> i64 {
    map.get(key)
        .and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .unwrap_or(0)
}

fn flag(map: &Map<String, Value>, key: &str) -> bool {
    map.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// The desired pool payload with secret values blanked: the service never returns them,
/// so they are not compared.
fn comparable_pool(pool: &DesiredPool, desired: &Map<String, Value>) -> Map<String, Value> {
    let mut value = Value::Object(desired.clone());
    for slot in &pool.secrets {
        if let Some(v) = value.pointer_mut(&slot.pointer) {
            *v = Value::Null;
        }
    }
    comparable(value)
}

/// A desired payload without its write-only values (`x-ms-secret` in the spec), which no
/// `GET` returns.
fn comparable(mut value: Value) -> Map<String, Value> {
    batchyard_batch::rules::blank_write_only(&mut value);
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The pool with the SAS tokens of its start task's resource files cut off: apply signs the
/// URLs of the recipe's container with a fresh token each time, so the token is neither a
/// change nor something a plan may show.
fn without_signatures(pool: &mut Map<String, Value>) {
    let Some(files) = pool
        .get_mut("startTask")
        .and_then(|st| st.get_mut("resourceFiles"))
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for rf in files.iter_mut().filter_map(Value::as_object_mut) {
        for key in ["httpUrl", "storageContainerUrl"] {
            if let Some(Value::String(url)) = rf.get_mut(key)
                && let Some((bare, query)) = url.split_once('?')
                && query.split('&').any(|p| p.starts_with("sig="))
            {
                *url = bare.to_owned();
            }
        }
    }
}

fn diff_pool(
    intent: &Intent,
    pool: &DesiredPool,
    live: Option<&ObservedPool>,
    out: &mut Vec<Action>,
) {
    let resource = Resource::pool(&pool.id);
    let desired = to_object(&pool.payload);
    let Some(live) = live else {
        out.push(Action::new(
            resource,
            Change::CreatePool {
                vm_size: pool.payload.vm_size.clone(),
                dedicated: int(&desired, "targetDedicatedNodes"),
                low_priority: int(&desired, "targetLowPriorityNodes"),
                autoscale: flag(&desired, "enableAutoScale"),
            },
            "the pool does not exist",
        ));
        return;
    };
    if let Some(conflict) =
        ownership_conflict(intent, resource.clone(), live.pool.metadata.as_deref())
    {
        out.push(conflict);
        return;
    }
    let mut observed = to_object(&live.pool);
    without_signatures(&mut observed);
    let state = observed.get("state").and_then(Value::as_str).unwrap_or("");
    if state.eq_ignore_ascii_case("deleting") {
        out.push(Action::new(
            resource,
            Change::Blocked {
                state: "deleting".into(),
            },
            "the pool is being deleted; apply again once it is gone to create it anew",
        ));
        return;
    }
    let mut compared = comparable_pool(pool, &desired);
    without_signatures(&mut compared);
    let mut fields: Vec<&str> = desired.keys().map(String::as_str).collect();
    for f in POOL_FIELDS {
        if !fields.contains(f) {
            fields.push(f);
        }
    }
    let (mut patch, mut empty_only, mut replace) = (Vec::new(), Vec::new(), Vec::new());
    for field in fields {
        let kind = pool_field_kind(field);
        if matches!(kind, PoolFieldKind::Scale | PoolFieldKind::Ignored) {
            continue;
        }
        let Some(change) =
            field_difference(field, &desired, &compared, &observed, pool_default(field))
        else {
            continue;
        };
        match kind {
            PoolFieldKind::Patch => patch.push(change),
            PoolFieldKind::EmptyPoolOnly => empty_only.push(change),
            _ => replace.push(change),
        }
    }
    let scale = scale_change(&desired, &observed);
    let live_hash = spec_hash_of(observed.get("metadata"));
    let cause = if live_hash.as_deref() == Some(pool.spec_hash.as_str()) {
        "it was changed outside batchyard since the last apply"
    } else {
        "the recipe changed"
    };
    let nodes = live.nodes.total();
    let tasks_at_risk = live.nodes.running_tasks;
    if !empty_only.is_empty() || !replace.is_empty() {
        let mut all = Vec::new();
        all.extend(replace.iter().cloned());
        all.extend(empty_only.iter().cloned());
        all.extend(patch);
        all.extend(scale.iter().flat_map(|s| s.1.clone()));
        let named = empty_only
            .iter()
            .chain(&replace)
            .map(|f| format!("`{}`", f.field))
            .collect::<Vec<_>>()
            .join(", ");
        let action = if replace.is_empty() {
            Action::new(
                resource,
                Change::EmptyPoolChange {
                    fields: all,
                    nodes,
                    tasks_at_risk,
                },
                format!(
                    "{cause}: Batch changes {named} only on a pool without nodes, so apply \
                     resizes it to 0, updates it and resizes it back; needs --allow-replace"
                ),
            )
        } else {
            Action::new(
                resource,
                Change::ReplacePool {
                    fields: all,
                    nodes,
                    tasks_at_risk,
                },
                format!(
                    "{cause}: Batch cannot change {named} on an existing pool, so apply \
                     deletes it and creates it again; needs --allow-replace"
                ),
            )
        };
        out.push(action);
        return;
    }
    if !patch.is_empty() {
        out.push(Action::new(
            resource.clone(),
            Change::PatchPool { fields: patch },
            format!("{cause}; Batch changes these fields on a running pool (nodes pick up a new start task when they reboot)"),
        ));
    }
    if let Some((change, _)) = scale {
        out.push(Action::new(
            resource,
            change,
            format!("{cause}: the pool's size differs"),
        ));
    }
}

/// The scale action, if the size settings differ, with the field changes it makes.
fn scale_change(
    desired: &Map<String, Value>,
    observed: &Map<String, Value>,
) -> Option<(Change, Vec<FieldChange>)> {
    let want_auto = flag(desired, "enableAutoScale");
    let live_auto = flag(observed, "enableAutoScale");
    let field = |wire: &str| FieldChange {
        field: recipe_name(wire).to_owned(),
        wire: wire.to_owned(),
        from: observed.get(wire).cloned().unwrap_or(Value::Null),
        to: desired.get(wire).cloned().unwrap_or(Value::Null),
    };
    if want_auto {
        let formula = desired
            .get("autoScaleFormula")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let live_formula = observed
            .get("autoScaleFormula")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let interval = desired
            .get("autoScaleEvaluationInterval")
            .and_then(Value::as_str);
        let live_interval = observed
            .get("autoScaleEvaluationInterval")
            .and_then(Value::as_str);
        let interval_differs = interval.is_some_and(|i| Some(i) != live_interval);
        if live_auto && formula_text(formula) == formula_text(live_formula) && !interval_differs {
            return None;
        }
        return Some((
            Change::EnableAutoScale {
                formula: formula.to_owned(),
                interval: interval.map(str::to_owned),
            },
            vec![field("autoScaleFormula")],
        ));
    }
    let (to_d, to_l) = (
        int(desired, "targetDedicatedNodes"),
        int(desired, "targetLowPriorityNodes"),
    );
    let (from_d, from_l) = (
        int(observed, "targetDedicatedNodes"),
        int(observed, "targetLowPriorityNodes"),
    );
    if !live_auto && to_d == from_d && to_l == from_l {
        return None;
    }
    let mut fields = Vec::new();
    if to_d != from_d {
        fields.push(field("targetDedicatedNodes"));
    }
    if to_l != from_l {
        fields.push(field("targetLowPriorityNodes"));
    }
    Some((
        Change::ResizePool {
            from_dedicated: from_d,
            from_low_priority: from_l,
            to_dedicated: to_d,
            to_low_priority: to_l,
            disable_autoscale: live_auto,
        },
        fields,
    ))
}

fn sample(ids: &[&str]) -> Vec<String> {
    ids.iter().take(SAMPLE).map(|s| (*s).to_owned()).collect()
}

fn diff_job(
    intent: &Intent,
    job: &JobIntent,
    live: Option<&ObservedJob>,
    out: &mut Vec<Action>,
    notes: &mut Vec<String>,
) {
    let resource = Resource::job(&job.id);
    let Some(live) = live else {
        let all_ids: Vec<&str> = job
            .tasks
            .iter()
            .take(SAMPLE)
            .map(|t| t.id.as_str())
            .collect();
        out.push(Action::new(
            resource.clone(),
            Change::CreateJob {
                pool: job.pool_id().to_owned(),
                tasks: job.tasks.len(),
            },
            "the job does not exist",
        ));
        out.push(Action::new(
            resource,
            Change::AddTasks {
                count: job.tasks.len(),
                sample: sample(&all_ids),
                then_on_all_tasks_complete: Some(job.on_all_tasks_complete.clone()),
            },
            "a new job gets every task of the recipe",
        ));
        return;
    };
    if let Some(conflict) =
        ownership_conflict(intent, resource.clone(), live.job.metadata.as_deref())
    {
        out.push(conflict);
        return;
    }
    let state = live.job.state.clone();
    if matches!(state, Some(BatchJobState::Deleting)) {
        out.push(Action::new(
            resource,
            Change::Blocked {
                state: "deleting".into(),
            },
            "the job is being deleted; apply again once it is gone to create it anew",
        ));
        return;
    }
    let desired = to_object(&job.payload);
    let compared = comparable(Value::Object(desired.clone()));
    let observed = to_object(&live.job);
    let mut fields: Vec<&str> = desired.keys().map(String::as_str).collect();
    for f in JOB_FIELDS {
        if !fields.contains(f) {
            fields.push(f);
        }
    }
    let (mut patch, mut replace) = (Vec::new(), Vec::new());
    for field in fields {
        let kind = job_field_kind(field);
        if kind == JobFieldKind::Ignored {
            continue;
        }
        let Some(change) =
            field_difference(field, &desired, &compared, &observed, job_default(field))
        else {
            continue;
        };
        match kind {
            JobFieldKind::Patch => patch.push(change),
            _ => replace.push(change),
        }
    }
    // One pass over the desired tasks: each is missing, drifted or in place. Desired ids
    // are unique (the compiler refuses duplicates in any case), so the live tasks not
    // matched are the ones the recipe does not have.
    let mut missing: Vec<&str> = Vec::new();
    let mut drifted: Vec<&str> = Vec::new();
    let mut drift_any = Drift::default();
    let mut present = 0usize;
    for t in &job.tasks {
        let Some(l) = live.tasks.get(task_key(&t.id).as_ref()) else {
            missing.push(t.id.as_str());
            continue;
        };
        present += 1;
        let d = drift(t, l);
        if d.any() {
            drifted.push(t.id.as_str());
            drift_any.command |= d.command;
            drift_any.env |= d.env;
        }
    }
    let drift_fields: Vec<String> = [(drift_any.command, "command"), (drift_any.env, "env")]
        .into_iter()
        .filter(|(differs, _)| *differs)
        .map(|(_, name)| name.to_owned())
        .collect();
    let extra = live.tasks.len().saturating_sub(present);
    if extra > 0 {
        notes.push(format!(
            "job {} has {extra} live task(s) that the recipe does not have; left alone",
            job.id
        ));
    }
    let finished = matches!(
        state,
        Some(BatchJobState::Completed) | Some(BatchJobState::Terminating)
    );
    if !replace.is_empty() || (finished && (!missing.is_empty() || !drifted.is_empty())) {
        let named = replace
            .iter()
            .map(|f| format!("`{}`", f.field))
            .collect::<Vec<_>>()
            .join(", ");
        let reason = if replace.is_empty() {
            format!(
                "the job is finished and Batch accepts no new tasks into it ({} missing, {} drifted); \
                 apply deletes it and creates it again with every task; needs --allow-replace",
                missing.len(),
                drifted.len()
            )
        } else {
            format!(
                "Batch cannot change {named} on an existing job, so apply deletes it and creates \
                 it again with every task; needs --allow-replace"
            )
        };
        let mut all = replace;
        all.extend(patch);
        out.push(Action::new(
            resource,
            Change::ReplaceJob {
                fields: all,
                live_tasks: live.tasks.len(),
            },
            reason,
        ));
        return;
    }
    if !patch.is_empty() {
        out.push(Action::new(
            resource.clone(),
            Change::PatchJob { fields: patch },
            "the recipe changed; Batch changes these job fields in place",
        ));
    }
    let live_end = observed
        .get("onAllTasksComplete")
        .and_then(Value::as_str)
        .unwrap_or("noaction");
    let end_differs = !live_end.eq_ignore_ascii_case(&job.on_all_tasks_complete);
    let end = end_differs.then(|| job.on_all_tasks_complete.clone());
    if !missing.is_empty() {
        out.push(Action::new(
            resource.clone(),
            Change::AddTasks {
                count: missing.len(),
                sample: sample(&missing),
                then_on_all_tasks_complete: if drifted.is_empty() {
                    end.clone()
                } else {
                    None
                },
            },
            "these task ids are in the recipe but not in the job",
        ));
    }
    if !drifted.is_empty() {
        out.push(Action::new(
            resource.clone(),
            Change::RecreateTasks {
                count: drifted.len(),
                sample: sample(&drifted),
                fields: drift_fields,
                then_on_all_tasks_complete: end.clone(),
            },
            "Batch tasks cannot change; apply deletes these and adds them again (they run \
             again); needs --allow-replace",
        ));
    }
    if missing.is_empty() && drifted.is_empty() && end_differs {
        out.push(Action::new(
            resource,
            Change::SetOnAllTasksComplete {
                value: job.on_all_tasks_complete.clone(),
            },
            "every task is in; the job's end condition was not set yet (an earlier apply stopped before it)",
        ));
    }
}
