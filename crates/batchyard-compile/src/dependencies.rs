//! Task dependencies in Batch's shape: explicit ids and numeric id ranges.
//!
//! A merge task (`depends_on: all`) depends on every other task of its job. Batch limits the
//! `taskIds` list to 64,000 characters in total, so numeric ids are folded into
//! `taskIdRanges` as they stream past (consecutive runs only: a range never covers an id the
//! job does not have) and only the other ids are listed.

use serde::Serialize;

/// Batch's limit on the combined length of `taskIds`.
pub const MAX_TASK_IDS_CHARS: usize = 64_000;

/// Batch `taskDependencies`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDependencies {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub task_ids: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub task_id_ranges: Vec<IdRange>,
}

impl TaskDependencies {
    pub fn is_empty(&self) -> bool {
        self.task_ids.is_empty() && self.task_id_ranges.is_empty()
    }
}

/// Batch `BatchTaskIdRange`: both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IdRange {
    pub start: u32,
    pub end: u32,
}

/// The dependency list does not fit Batch's limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the task ids this task depends on add up to more than {MAX_TASK_IDS_CHARS} characters \
     ({count} non-numeric ids); give the tasks numeric ids so they fold into id ranges"
)]
pub struct TooManyIds {
    pub count: usize,
}

/// The id as a Batch range member: a canonical non-negative integer (no sign, no leading
/// zero), as range matching compares ids numerically.
pub fn numeric_id(id: &str) -> Option<u32> {
    if id.is_empty()
        || (id.len() > 1 && id.starts_with('0'))
        || !id.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    id.parse().ok()
}

/// Builds the dependencies of a merge task from the ids of the job's other tasks.
#[derive(Debug, Default)]
pub struct MergeBuilder {
    deps: TaskDependencies,
    chars: usize,
}

impl MergeBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one id. Numeric ids extend the last range when they follow it, so ids generated
    /// in order cost one range in all.
    pub fn push(&mut self, id: &str) -> Result<(), TooManyIds> {
        if let Some(n) = numeric_id(id) {
            if let Some(last) = self.deps.task_id_ranges.last_mut() {
                if last.end.checked_add(1) == Some(n) {
                    last.end = n;
                    return Ok(());
                }
                if (last.start..=last.end).contains(&n) {
                    return Ok(());
                }
            }
            self.deps.task_id_ranges.push(IdRange { start: n, end: n });
            return Ok(());
        }
        self.chars += id.len();
        if self.chars > MAX_TASK_IDS_CHARS {
            return Err(TooManyIds {
                count: self.deps.task_ids.len() + 1,
            });
        }
        self.deps.task_ids.push(id.to_string());
        Ok(())
    }

    /// The dependencies, with runs that arrived out of order merged.
    pub fn finish(mut self) -> TaskDependencies {
        let ranges = &mut self.deps.task_id_ranges;
        ranges.sort_by_key(|r| r.start);
        let mut merged: Vec<IdRange> = Vec::with_capacity(ranges.len());
        for r in ranges.drain(..) {
            match merged.last_mut() {
                Some(last) if r.start <= last.end.saturating_add(1) => {
                    last.end = last.end.max(r.end)
                }
                _ => merged.push(r),
            }
        }
        self.deps.task_id_ranges = merged;
        self.deps
    }
}

/// Checks an explicit `taskIds` list against Batch's limit.
pub fn check_explicit(ids: &[String]) -> Result<(), TooManyIds> {
    let chars: usize = ids.iter().map(String::len).sum();
    if chars > MAX_TASK_IDS_CHARS {
        return Err(TooManyIds { count: ids.len() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_ids() {
        assert_eq!(numeric_id("42"), Some(42));
        assert_eq!(numeric_id("0"), Some(0));
        assert_eq!(numeric_id("007"), None);
        assert_eq!(numeric_id("-1"), None);
        assert_eq!(numeric_id("task-1"), None);
        assert_eq!(numeric_id("99999999999"), None);
    }

    #[test]
    fn a_million_numeric_ids_fold_into_one_range() {
        let mut b = MergeBuilder::new();
        for i in 0..1_000_000u32 {
            b.push(&i.to_string()).unwrap();
        }
        b.push("prepare").unwrap();
        let deps = b.finish();
        assert_eq!(
            deps.task_id_ranges,
            vec![IdRange {
                start: 0,
                end: 999_999
            }]
        );
        assert_eq!(deps.task_ids, vec!["prepare".to_string()]);
        let json = serde_json::to_value(&deps).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"taskIds": ["prepare"], "taskIdRanges": [{"start": 0, "end": 999999}]})
        );
    }

    #[test]
    fn gaps_and_disorder_give_exact_ranges() {
        let mut b = MergeBuilder::new();
        for id in ["5", "6", "1", "2", "9", "3", "007"] {
            b.push(id).unwrap();
        }
        let deps = b.finish();
        assert_eq!(
            deps.task_id_ranges,
            vec![
                IdRange { start: 1, end: 3 },
                IdRange { start: 5, end: 6 },
                IdRange { start: 9, end: 9 }
            ]
        );
        assert_eq!(deps.task_ids, vec!["007".to_string()]);
    }

    #[test]
    fn too_many_named_ids_is_an_error() {
        let mut b = MergeBuilder::new();
        let mut failed = None;
        for i in 0..10_000 {
            if let Err(e) = b.push(&format!("sweep-task-{i:05}")) {
                failed = Some((i, e));
                break;
            }
        }
        let (at, err) = failed.expect("the limit is reached");
        assert_eq!(at, 64_000 / 16);
        assert!(err.to_string().contains("numeric ids"));
        assert!(check_explicit(&["a".repeat(64_001)]).is_err());
        assert!(check_explicit(&["a".into(), "b".into()]).is_ok());
    }
}
