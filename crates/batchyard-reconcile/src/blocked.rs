//! Which tasks of a job failed, and which can never run because a task they depend on
//! failed. Batch's default dependency action (`block`) leaves such a task active forever,
//! so `status`, `logs --follow` and `run` have to say why it waits instead of waiting with
//! it.

use std::collections::HashMap;

use batchyard_batch::models::{BatchTask, BatchTaskExecutionResult, BatchTaskState};

/// The `$select` that [`blocked_tasks`] needs from a task listing.
pub const SELECT: &str = "id,state,dependsOn,executionInfo";

/// A task that waits for a dependency that failed (directly, or through a task that is
/// itself blocked).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BlockedTask {
    /// Its id.
    pub id: String,
    /// The dependency it waits for (a failed task, or a blocked one).
    pub waits_for: String,
    /// The failed task at the root of the chain.
    pub failed: String,
}

/// Whether a completed task failed: a failure result, or a non-zero exit code.
pub fn failed(task: &BatchTask) -> bool {
    if task.state != Some(BatchTaskState::Completed) {
        return false;
    }
    let info = task.execution_info.as_ref();
    info.and_then(|i| i.result.as_ref()) == Some(&BatchTaskExecutionResult::Failure)
        || info.and_then(|i| i.exit_code).unwrap_or(0) != 0
}

/// Every not-yet-completed task whose dependencies can never all succeed, in the order of
/// `tasks`. Ranges (`taskIdRanges`) cover the integer ids between their bounds.
pub fn blocked_tasks(tasks: &[BatchTask]) -> Vec<BlockedTask> {
    // The failed task at the root of each id known to be hopeless.
    let mut root: HashMap<&str, String> = tasks
        .iter()
        .filter(|t| failed(t))
        .filter_map(|t| t.id.as_deref().map(|id| (id, id.to_owned())))
        .collect();
    if root.is_empty() {
        return Vec::new();
    }
    let waiting: Vec<(&str, Vec<String>)> = tasks
        .iter()
        .filter(|t| t.state != Some(BatchTaskState::Completed))
        .filter_map(|t| Some((t.id.as_deref()?, dependencies(t, tasks))))
        .filter(|(_, deps)| !deps.is_empty())
        .collect();
    let mut through: HashMap<&str, String> = HashMap::new();
    // Chains are followed one link per pass; a pass that adds nothing ends it.
    loop {
        let mut added = false;
        for (id, deps) in &waiting {
            if root.contains_key(id) {
                continue;
            }
            if let Some(dep) = deps.iter().find(|d| root.contains_key(d.as_str())) {
                let origin = root[dep.as_str()].clone();
                through.insert(id, dep.clone());
                root.insert(id, origin);
                added = true;
            }
        }
        if !added {
            break;
        }
    }
    waiting
        .iter()
        .filter_map(|(id, _)| {
            Some(BlockedTask {
                id: (*id).to_owned(),
                waits_for: through.get(id)?.clone(),
                failed: root.get(id)?.clone(),
            })
        })
        .collect()
}

/// The ids a task depends on. Ranges are resolved against the ids present, so a range
/// over a million numbers costs what the job holds, not what the range spans.
fn dependencies(task: &BatchTask, all: &[BatchTask]) -> Vec<String> {
    let Some(deps) = &task.depends_on else {
        return Vec::new();
    };
    let mut ids = deps.task_ids.clone().unwrap_or_default();
    for range in deps.task_id_ranges.iter().flatten() {
        ids.extend(
            all.iter()
                .filter_map(|t| t.id.as_deref())
                .filter(|id| {
                    id.parse::<i32>()
                        .is_ok_and(|n| (range.start..=range.end).contains(&n))
                })
                .map(str::to_owned),
        );
    }
    ids
}

#[cfg(test)]
mod tests {
    use batchyard_batch::models::{
        BatchTaskDependencies, BatchTaskExecutionInfo, BatchTaskIdRange,
    };

    use super::*;

    fn task(id: &str, state: BatchTaskState, exit: Option<i32>, deps: &[&str]) -> BatchTask {
        BatchTask {
            id: Some(id.into()),
            state: Some(state),
            execution_info: exit.map(|code| BatchTaskExecutionInfo {
                exit_code: Some(code),
                ..Default::default()
            }),
            depends_on: (!deps.is_empty()).then(|| BatchTaskDependencies {
                task_ids: Some(deps.iter().map(|d| (*d).to_owned()).collect()),
                task_id_ranges: None,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_chain_behind_a_failed_task_is_blocked_and_names_its_root() {
        use BatchTaskState::*;
        let tasks = [
            task("prep", Completed, Some(2), &[]),
            task("ok", Completed, Some(0), &[]),
            task("train", Active, None, &["ok", "prep"]),
            task("report", Active, None, &["train"]),
            task("free", Active, None, &["ok"]),
        ];
        let blocked = blocked_tasks(&tasks);
        assert_eq!(
            blocked,
            [
                BlockedTask {
                    id: "train".into(),
                    waits_for: "prep".into(),
                    failed: "prep".into()
                },
                BlockedTask {
                    id: "report".into(),
                    waits_for: "train".into(),
                    failed: "prep".into()
                },
            ]
        );
    }

    #[test]
    fn ranges_cover_the_numeric_ids_between_their_bounds() {
        use BatchTaskState::*;
        let mut merge = task("merge", Active, None, &[]);
        merge.depends_on = Some(BatchTaskDependencies {
            task_ids: None,
            task_id_ranges: Some(vec![BatchTaskIdRange { start: 1, end: 3 }]),
        });
        let tasks = [
            task("1", Completed, Some(0), &[]),
            task("2", Completed, Some(9), &[]),
            task("7", Completed, Some(9), &[]),
            merge,
        ];
        let blocked = blocked_tasks(&tasks);
        assert_eq!(blocked.len(), 1);
        assert_eq!(blocked[0].failed, "2");
        // Without a failure in range, nothing is blocked.
        let none = blocked_tasks(&tasks[..1]);
        assert!(none.is_empty());
    }
}
