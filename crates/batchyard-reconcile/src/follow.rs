//! Following jobs to their end and summarizing their tasks (`batchyard run`).

use std::time::Duration;

use batchyard_batch::models::{BatchJobState, BatchTask, BatchTaskExecutionResult, BatchTaskState};
use batchyard_batch::{BatchClient, ClientError, ListOptions};
use futures::TryStreamExt as _;
use serde::Serialize;
use tokio::time::Instant;

use crate::error::ObserveError;
use crate::event::{Event, EventSink};

/// How jobs are followed.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// Time between polls of task counts. Default 500 ms.
    pub poll: Duration,
    /// Give up after this long. Default none.
    pub timeout: Option<Duration>,
    /// Lines of stderr kept per failed task. Default 10.
    pub stderr_lines: usize,
    /// Polls with nothing running, tasks waiting and failures, unchanged, after which the
    /// waiting tasks are taken as blocked by a failed dependency. Default 6.
    pub stalled_polls: u32,
}

impl Default for FollowOptions {
    fn default() -> Self {
        Self {
            poll: Duration::from_millis(500),
            timeout: None,
            stderr_lines: 10,
            stalled_polls: 6,
        }
    }
}

/// The outcome of every followed job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    /// One entry per job, in the order given.
    pub jobs: Vec<JobSummary>,
}

impl RunSummary {
    /// Whether any task failed or never ran.
    pub fn any_failed(&self) -> bool {
        self.jobs
            .iter()
            .any(|j| !j.failed.is_empty() || j.not_run > 0)
    }
}

/// The outcome of one job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JobSummary {
    /// The job id.
    pub job: String,
    /// Tasks in the job.
    pub total: u64,
    /// Tasks that succeeded.
    pub succeeded: u64,
    /// Tasks that failed, with their stderr tails.
    pub failed: Vec<FailedTask>,
    /// Tasks that never ran (blocked by a failed dependency, or the job was ended).
    pub not_run: u64,
    /// Tasks the service put back in the queue at least once while they ran (their node
    /// was preempted or removed) and ran again; `requeueCount` of each task.
    pub requeued: u64,
}

/// A failed task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedTask {
    /// Its id.
    pub id: String,
    /// Its exit code, when it ran.
    pub exit_code: Option<i32>,
    /// The service's failure code and message (e.g. `BlobNotFound: ...` for a missing
    /// resource file), if any.
    pub failure: Option<String>,
    /// The last lines of its stderr.txt.
    pub stderr_tail: String,
}

/// Polls each job until it ends, then summarizes it. A job ends when Batch completes it,
/// when every task of it has completed, or when only tasks blocked by failed dependencies
/// are left. Read-only: safe to interrupt and repeat.
pub async fn follow(
    client: &BatchClient,
    jobs: &[(String, u64)],
    options: &FollowOptions,
    events: EventSink<'_>,
) -> Result<RunSummary, ObserveError> {
    let summaries = futures::future::try_join_all(
        jobs.iter()
            .map(|(job, total)| follow_one(client, job, *total, options, events)),
    )
    .await?;
    Ok(RunSummary { jobs: summaries })
}

fn read_error(what: String) -> impl FnOnce(ClientError) -> ObserveError {
    move |source| ObserveError::Client { what, source }
}

async fn follow_one(
    client: &BatchClient,
    job: &str,
    total: u64,
    options: &FollowOptions,
    events: EventSink<'_>,
) -> Result<JobSummary, ObserveError> {
    let start = Instant::now();
    let mut last = None;
    let mut stalled = 0;
    loop {
        let counts = client
            .get_job_task_counts(job)
            .await
            .map_err(read_error(format!("the task counts of job {job}")))?
            .task_counts;
        let state = client
            .get_job(job)
            .await
            .map_err(read_error(format!("job {job}")))?
            .state;
        let n = |v: i32| u64::try_from(v).unwrap_or(0);
        events(Event::JobProgress {
            job: job.to_owned(),
            active: n(counts.active),
            running: n(counts.running),
            succeeded: n(counts.succeeded),
            failed: n(counts.failed),
            total,
        });
        let now = (
            counts.active,
            counts.running,
            counts.completed,
            counts.failed,
        );
        if counts.running == 0 && counts.active > 0 && counts.failed > 0 && last == Some(now) {
            stalled += 1;
        } else {
            stalled = 0;
        }
        last = Some(now);
        let all_done = counts.active == 0 && counts.running == 0 && n(counts.completed) >= total;
        if matches!(state, Some(BatchJobState::Completed))
            || all_done
            || stalled >= options.stalled_polls
        {
            break;
        }
        if let Some(limit) = options.timeout
            && start.elapsed() >= limit
        {
            return Err(ObserveError::Timeout {
                what: format!("job {job}"),
            });
        }
        tokio::time::sleep(options.poll).await;
    }
    events(Event::JobFinished {
        job: job.to_owned(),
    });
    summarize(client, job, options).await
}

/// Reads every task's outcome, and the stderr tail of each failed one.
pub async fn summarize(
    client: &BatchClient,
    job: &str,
    options: &FollowOptions,
) -> Result<JobSummary, ObserveError> {
    let list = ListOptions {
        select: Some("id,state,executionInfo".into()),
        max_results: Some(1000),
        ..ListOptions::default()
    };
    let tasks: Vec<BatchTask> = client
        .list_tasks(job, &list)
        .try_collect()
        .await
        .map_err(read_error(format!("the tasks of job {job}")))?;
    let mut summary = JobSummary {
        job: job.to_owned(),
        total: tasks.len() as u64,
        ..JobSummary::default()
    };
    for task in tasks {
        let id = task.id.clone().unwrap_or_default();
        if task
            .execution_info
            .as_ref()
            .is_some_and(|i| i.requeue_count > 0)
        {
            summary.requeued += 1;
        }
        if task.state != Some(BatchTaskState::Completed) {
            summary.not_run += 1;
            continue;
        }
        let info = task.execution_info.as_ref();
        let exit_code = info.and_then(|i| i.exit_code);
        let result_failed =
            info.and_then(|i| i.result.as_ref()) == Some(&BatchTaskExecutionResult::Failure);
        if !result_failed && exit_code.unwrap_or(0) == 0 {
            summary.succeeded += 1;
            continue;
        }
        let failure =
            info.and_then(|i| i.failure_info.as_ref())
                .and_then(|f| match (&f.code, &f.message) {
                    (Some(code), Some(message)) => Some(format!("{code}: {message}")),
                    (code, message) => message.clone().or_else(|| code.clone()),
                });
        let stderr_tail = stderr_tail(client, job, &id, options.stderr_lines).await;
        summary.failed.push(FailedTask {
            id,
            exit_code,
            failure,
            stderr_tail,
        });
    }
    Ok(summary)
}

/// The last `lines` lines of a task's stderr.txt (read with a byte range, so a huge file
/// costs one small request), or a note saying why there is none.
pub async fn stderr_tail(client: &BatchClient, job: &str, task: &str, lines: usize) -> String {
    const TAIL_BYTES: u64 = 8192;
    let size = match client
        .get_task_file_properties(job, task, "stderr.txt")
        .await
    {
        Ok(p) => p.content_length.unwrap_or(0),
        Err(e) if e.is_not_found() => return "(no stderr.txt)".into(),
        Err(e) => return format!("(stderr.txt unreadable: {e})"),
    };
    if size == 0 {
        return String::new();
    }
    let start = size.saturating_sub(TAIL_BYTES);
    match client
        .get_task_file(job, task, "stderr.txt", Some((start, None)))
        .await
    {
        Ok(bytes) => tail_lines(&String::from_utf8_lossy(&bytes), lines),
        Err(e) => format!("(stderr.txt unreadable: {e})"),
    }
}

fn tail_lines(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::tail_lines;

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail_lines("a", 5), "a");
        assert_eq!(tail_lines("", 5), "");
    }
}
