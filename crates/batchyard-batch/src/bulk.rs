//! Adding any number of tasks to a job: [`BatchClient::add_tasks`].
//!
//! Tasks are pulled from a stream, serialized once, and packed into `addtaskcollection`
//! calls of at most [`BulkAddOptions::max_tasks_per_call`] tasks and a measured body under
//! [`BulkAddOptions::max_body_bytes`]. Up to [`BulkAddOptions::concurrency`] calls are in
//! flight; the stream is read only as fast as calls complete, so memory holds at most
//! `concurrency + 1` chunks whatever the number of tasks.
//!
//! Each call's answer is read task by task:
//! - `success`: added;
//! - `clienterror` `TaskExists`: already present (after a retried or partially applied
//!   call this is our own earlier attempt; otherwise the task existed before: either way
//!   the id is in the job, and whether its content matches is for the caller to decide);
//! - other `clienterror`: reported with the task id and the service's error, not retried
//!   (the service would refuse the same task again);
//! - `servererror`, or a task missing from the answer: sent again in a later call, up to
//!   [`BulkAddOptions::max_task_attempts`] times in all;
//! - a 413 `RequestBodyTooLarge` for the whole call: the chunk is split in halves.
//!
//! Whole-call failures that the client retries (429, 5xx, dropped connections, timeouts)
//! are retried by the client's [`crate::RetryPolicy`]; a call that still fails reports
//! every task of it as failed with that error. Nothing is dropped silently: every task
//! read from the stream ends up counted in exactly one of the report's three parts.
//!
//! Re-running a bulk add with the same task ids is safe: present tasks come back as
//! `TaskExists` and are counted as already present.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::pin::Pin;

use bytes::{BufMut as _, Bytes, BytesMut};
use futures::stream::{self, Stream, StreamExt as _};

use crate::client::BatchClient;
use crate::error::ClientError;
use crate::models::{self, BatchTaskAddStatus, BatchTaskCreateOptions};

/// Bytes of `{"value":[]}`, the collection body around the tasks.
const ENVELOPE_BYTES: usize = 12;

/// How [`BatchClient::add_tasks`] packs and sends tasks. Defaults are the service limits
/// and a moderate parallelism.
///
/// Retried: whole calls per the client's [`crate::RetryPolicy`]; single tasks answered
/// `servererror` (or missing from an answer) up to `max_task_attempts`; chunks answered
/// 413, split in halves. Idempotent: yes, task ids are the caller's, so a repeat comes
/// back `TaskExists` and counts as already present. The caller decides what to do with
/// the tasks in [`BulkAddReport::failed`] and whether an already present task matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkAddOptions {
    /// Tasks per `addtaskcollection` call. Default and service maximum: 100.
    pub max_tasks_per_call: usize,
    /// Largest serialized body sent, in bytes. Default 1,000,000 (the service refuses
    /// bodies of 1 MB and more with 413).
    pub max_body_bytes: usize,
    /// Calls in flight at once. Default 8.
    pub concurrency: usize,
    /// How often one task is sent while the service answers `servererror` for it
    /// (the first send included). Default 5.
    pub max_task_attempts: u32,
}

impl Default for BulkAddOptions {
    fn default() -> Self {
        Self {
            max_tasks_per_call: 100,
            max_body_bytes: 1_000_000,
            concurrency: 8,
            max_task_attempts: 5,
        }
    }
}

/// The outcome of a bulk add. `added + already_present + failed.len()` is the number
/// of tasks read from the stream.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct BulkAddReport {
    /// Tasks this call created.
    pub added: u64,
    /// Tasks whose id was already in the job (`TaskExists`).
    pub already_present: u64,
    /// Tasks not added, each with the reason.
    pub failed: Vec<TaskAddFailure>,
}

impl BulkAddReport {
    /// Every task read, whatever happened to it.
    pub fn total(&self) -> u64 {
        self.added + self.already_present + self.failed.len() as u64
    }

    /// True when every task is in the job now.
    pub fn all_present(&self) -> bool {
        self.failed.is_empty()
    }

    fn merge(mut self, other: BulkAddReport) -> Self {
        self.added += other.added;
        self.already_present += other.already_present;
        self.failed.extend(other.failed);
        self
    }
}

impl fmt::Display for BulkAddReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} tasks: {} added, {} already present, {} failed",
            self.total(),
            self.added,
            self.already_present,
            self.failed.len()
        )?;
        if self.all_present() {
            write!(f, "; every task is in the job")?;
        }
        Ok(())
    }
}

/// One task that was not added.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskAddFailure {
    /// The task's id.
    pub task_id: String,
    /// Why.
    pub reason: TaskAddFailureReason,
}

/// Why a task was not added.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TaskAddFailureReason {
    /// The service refused the task (`clienterror`), e.g. an invalid property.
    #[error("refused by Batch: {}", describe(.0))]
    Rejected(models::BatchError),
    /// The service answered `servererror` (or left the task out) on every attempt.
    #[error("server error on every attempt: {}", .0.as_ref().map(describe).unwrap_or_else(|| "task missing from the answer".into()))]
    ServerError(Option<models::BatchError>),
    /// The task alone serializes to more than `max_body_bytes`, or the service answered
    /// 413 for it alone.
    #[error("the task is too large for one request ({bytes} bytes serialized)")]
    TooLarge {
        /// Serialized size of the task.
        bytes: usize,
    },
    /// The whole `addtaskcollection` call failed (after the client's retries).
    #[error("the call carrying it failed: {0}")]
    CallFailed(String),
    /// The task could not be serialized.
    #[error("could not serialize the task: {0}")]
    Serialize(String),
}

fn describe(error: &models::BatchError) -> String {
    let code = error.code.as_deref().unwrap_or("no code");
    match error.message.as_ref().and_then(|m| m.value.as_deref()) {
        Some(message) => format!("{code}: {message}"),
        None => code.to_owned(),
    }
}

/// A task serialized once, with how often it has been sent.
#[derive(Debug)]
struct Item {
    id: String,
    json: Bytes,
    attempts: u32,
}

/// What the chunker hands to the senders.
enum Chunk {
    Send(Vec<Item>),
    Failed(TaskAddFailure),
}

type ItemStream<'a> = Pin<Box<dyn Stream<Item = Result<Item, TaskAddFailure>> + Send + 'a>>;

impl BatchClient {
    /// Adds every task of `tasks` to job `job_id`; see the [module docs](crate::bulk) for
    /// what is retried and what is reported. Never fails as a whole: failures are in the
    /// report, task by task.
    pub async fn add_tasks<S>(
        &self,
        job_id: &str,
        tasks: S,
        options: &BulkAddOptions,
    ) -> BulkAddReport
    where
        S: Stream<Item = BatchTaskCreateOptions> + Send,
    {
        let items: ItemStream<'_> = Box::pin(tasks.map(|task| match serde_json::to_vec(&task) {
            Ok(json) => Ok(Item {
                id: task.id,
                json: Bytes::from(json),
                attempts: 0,
            }),
            Err(e) => Err(TaskAddFailure {
                task_id: task.id,
                reason: TaskAddFailureReason::Serialize(e.to_string()),
            }),
        }));
        let chunks = stream::unfold((items, None), move |(mut items, carry)| async move {
            let (chunk, carry) = next_chunk(&mut items, carry, options).await?;
            Some((chunk, (items, carry)))
        });
        chunks
            .map(|chunk| async move {
                match chunk {
                    Chunk::Send(items) => self.send_chunk(job_id, items, options).await,
                    Chunk::Failed(failure) => BulkAddReport {
                        failed: vec![failure],
                        ..Default::default()
                    },
                }
            })
            .buffer_unordered(options.concurrency.max(1))
            .fold(BulkAddReport::default(), |total, part| async move {
                total.merge(part)
            })
            .await
    }

    /// Sends one chunk until every task in it is settled.
    async fn send_chunk(
        &self,
        job_id: &str,
        items: Vec<Item>,
        options: &BulkAddOptions,
    ) -> BulkAddReport {
        let mut report = BulkAddReport::default();
        let mut queue = VecDeque::from([items]);
        let mut round = 0;
        while let Some(mut part) = queue.pop_front() {
            for item in &mut part {
                item.attempts += 1;
            }
            match self
                .create_task_collection_raw(job_id, collection_body(&part))
                .await
            {
                Ok((answer, _attempts)) => {
                    let retry = settle(part, answer, options, &mut report);
                    if !retry.is_empty() {
                        round += 1;
                        tokio::time::sleep(self.options().retry.delay(round, None)).await;
                        queue.push_back(retry);
                    }
                }
                Err(ClientError::Batch(e)) if e.status == 413 => {
                    if part.len() > 1 {
                        let second = part.split_off(part.len() / 2);
                        for half in [second, part] {
                            queue.push_front(
                                half.into_iter()
                                    .map(|i| Item {
                                        attempts: i.attempts - 1,
                                        ..i
                                    })
                                    .collect(),
                            );
                        }
                    } else {
                        report
                            .failed
                            .extend(part.into_iter().map(|i| TaskAddFailure {
                                reason: TaskAddFailureReason::TooLarge {
                                    bytes: i.json.len(),
                                },
                                task_id: i.id,
                            }));
                    }
                }
                Err(e) => {
                    let reason = TaskAddFailureReason::CallFailed(e.to_string());
                    report
                        .failed
                        .extend(part.into_iter().map(|i| TaskAddFailure {
                            task_id: i.id,
                            reason: reason.clone(),
                        }));
                }
            }
        }
        report
    }
}

/// Books every task of an answered call; returns the ones to send again.
fn settle(
    part: Vec<Item>,
    answer: models::BatchCreateTaskCollectionResult,
    options: &BulkAddOptions,
    report: &mut BulkAddReport,
) -> Vec<Item> {
    let mut sent: HashMap<String, Item> = part.into_iter().map(|i| (i.id.clone(), i)).collect();
    let mut retry = Vec::new();
    let mut retry_or_fail =
        |item: Item, error: Option<models::BatchError>, report: &mut BulkAddReport| {
            if item.attempts < options.max_task_attempts {
                retry.push(item);
            } else {
                report.failed.push(TaskAddFailure {
                    task_id: item.id,
                    reason: TaskAddFailureReason::ServerError(error),
                });
            }
        };
    for result in answer.values.unwrap_or_default() {
        // An answer for a task not sent in this call is ignored; ids are matched exactly
        // as sent, which is how the service echoes them.
        let Some(item) = sent.remove(&result.task_id) else {
            continue;
        };
        match result.status {
            BatchTaskAddStatus::Success => report.added += 1,
            BatchTaskAddStatus::ClientError
                if result
                    .error
                    .as_ref()
                    .and_then(|e| e.code.as_deref())
                    .is_some_and(|c| c.eq_ignore_ascii_case("TaskExists")) =>
            {
                report.already_present += 1;
            }
            BatchTaskAddStatus::ClientError => report.failed.push(TaskAddFailure {
                task_id: item.id,
                reason: TaskAddFailureReason::Rejected(result.error.unwrap_or_default()),
            }),
            BatchTaskAddStatus::ServerError | BatchTaskAddStatus::Unrecognized(_) => {
                retry_or_fail(item, result.error, report);
            }
        }
    }
    // Tasks the answer left out are in an unknown state: send them again; if one was in
    // fact added, the service will say TaskExists.
    for (_, item) in sent {
        retry_or_fail(item, None, report);
    }
    retry
}

/// Packs the next chunk: up to `max_tasks_per_call` tasks whose body stays within
/// `max_body_bytes`. A task that does not fit in an empty chunk fails on its own.
async fn next_chunk(
    items: &mut ItemStream<'_>,
    mut carry: Option<Result<Item, TaskAddFailure>>,
    options: &BulkAddOptions,
) -> Option<(Chunk, Option<Result<Item, TaskAddFailure>>)> {
    let mut chunk: Vec<Item> = Vec::new();
    let mut size = ENVELOPE_BYTES;
    loop {
        let next = match carry.take() {
            Some(next) => next,
            None => match items.next().await {
                Some(next) => next,
                None => break,
            },
        };
        let item = match next {
            Ok(item) => item,
            Err(failure) if chunk.is_empty() => return Some((Chunk::Failed(failure), None)),
            Err(failure) => return Some((Chunk::Send(chunk), Some(Err(failure)))),
        };
        let added = item.json.len() + usize::from(!chunk.is_empty());
        if chunk.is_empty() && size + added > options.max_body_bytes {
            let failure = TaskAddFailure {
                reason: TaskAddFailureReason::TooLarge {
                    bytes: item.json.len(),
                },
                task_id: item.id,
            };
            return Some((Chunk::Failed(failure), None));
        }
        if size + added > options.max_body_bytes || chunk.len() >= options.max_tasks_per_call.max(1)
        {
            return Some((Chunk::Send(chunk), Some(Ok(item))));
        }
        size += added;
        chunk.push(item);
    }
    (!chunk.is_empty()).then_some((Chunk::Send(chunk), None))
}

/// `{"value":[task,task,...]}` from the already serialized tasks.
fn collection_body(items: &[Item]) -> Bytes {
    let len = ENVELOPE_BYTES + items.iter().map(|i| i.json.len() + 1).sum::<usize>();
    let mut body = BytesMut::with_capacity(len);
    body.put_slice(b"{\"value\":[");
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            body.put_u8(b',');
        }
        body.put_slice(&item.json);
    }
    body.put_slice(b"]}");
    body.freeze()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn task(id: &str, command: &str) -> BatchTaskCreateOptions {
        BatchTaskCreateOptions {
            id: id.into(),
            command_line: command.into(),
            ..Default::default()
        }
    }

    async fn chunk_sizes(
        tasks: Vec<BatchTaskCreateOptions>,
        options: &BulkAddOptions,
    ) -> Vec<Result<(usize, usize), String>> {
        let mut items: ItemStream<'_> = Box::pin(stream::iter(tasks).map(|t| {
            Ok(Item {
                json: Bytes::from(serde_json::to_vec(&t).unwrap()),
                id: t.id,
                attempts: 0,
            })
        }));
        let mut carry = None;
        let mut out = Vec::new();
        while let Some((chunk, next_carry)) = next_chunk(&mut items, carry, options).await {
            carry = next_carry;
            out.push(match chunk {
                Chunk::Send(items) => Ok((items.len(), collection_body(&items).len())),
                Chunk::Failed(f) => Err(f.task_id),
            });
        }
        out
    }

    #[tokio::test]
    async fn chunks_hold_at_most_100_tasks() {
        let tasks = (0..250).map(|i| task(&format!("t{i}"), "true")).collect();
        let sizes = chunk_sizes(tasks, &BulkAddOptions::default()).await;
        let counts: Vec<_> = sizes.iter().map(|s| s.as_ref().unwrap().0).collect();
        assert_eq!(counts, vec![100, 100, 50]);
    }

    #[tokio::test]
    async fn chunks_stay_under_the_byte_limit_measured_exactly() {
        let options = BulkAddOptions {
            max_body_bytes: 1_000,
            ..Default::default()
        };
        let tasks = (0..40)
            .map(|i| task(&format!("t{i:02}"), &"x".repeat(100)))
            .collect();
        let sizes = chunk_sizes(tasks, &options).await;
        let mut total = 0;
        for size in &sizes {
            let (count, bytes) = size.clone().unwrap();
            assert!(bytes <= 1_000, "{bytes}");
            total += count;
        }
        assert_eq!(total, 40);
        // Each task is 129 bytes serialized: 7 fit (12 + 7*129 + 6 commas = 921),
        // an 8th (1 comma + 129) would pass 1,000.
        let one = serde_json::to_vec(&task("t00", &"x".repeat(100)))
            .unwrap()
            .len();
        assert_eq!(one, 129);
        assert_eq!(sizes[0].clone().unwrap(), (7, 921));
    }

    #[tokio::test]
    async fn a_task_larger_than_the_limit_fails_alone() {
        let options = BulkAddOptions {
            max_body_bytes: 500,
            ..Default::default()
        };
        let tasks = vec![
            task("a", "true"),
            task("huge", &"x".repeat(600)),
            task("b", "true"),
        ];
        let sizes = chunk_sizes(tasks, &options).await;
        assert_eq!(sizes.len(), 3);
        assert_eq!(sizes[0].as_ref().unwrap().0, 1);
        assert_eq!(sizes[1], Err("huge".to_owned()));
        assert_eq!(sizes[2].as_ref().unwrap().0, 1);
    }
}
