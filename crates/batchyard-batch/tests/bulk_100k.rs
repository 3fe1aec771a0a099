//! 100,000 tasks through `add_tasks` against a server that answers 20% of calls with
//! 429 or 503 (a quarter of those after having applied the call, as a lost answer would)
//! and 2% of tasks with `servererror`: every task must end up in the job exactly once,
//! and the report must say so.
//!
//! The server counts every add of every id that it applies, including the repeats it
//! answers with `TaskExists`, and how often it applied an add of the id without the client
//! learning the outcome (a lost answer). A client adds a task once, and again only after it
//! could not know whether the previous add was applied.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is the failure report

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use batchyard_batch::BatchClient;
use batchyard_batch::auth::NoAuth;
use batchyard_batch::bulk::BulkAddOptions;
use batchyard_batch::models::{BatchTaskCreateOptions, BatchTaskGroup};
use serde_json::json;

const TASKS: usize = 100_000;

/// What the server did with one task id.
#[derive(Default)]
struct Adds {
    /// Adds of the id that reached the job, whether they inserted it or were answered
    /// `TaskExists`.
    applied: u32,
    /// Of those, the ones whose answer was lost, so the client had to add the id again.
    unanswered: u32,
}

#[derive(Default)]
struct Job {
    tasks: Mutex<HashMap<String, Adds>>,
    calls: AtomicU64,
    throttled: AtomicU64,
    busy_unapplied: AtomicU64,
    busy_after_apply: AtomicU64,
    task_server_errors: AtomicU64,
    max_tasks_per_call: AtomicUsize,
    max_body: AtomicUsize,
}

/// A deterministic pseudo-random number per call (splitmix64).
fn roll(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn busy(code: &str) -> serde_json::Value {
    json!({"code": code, "message": {"lang": "en-US", "value": "Please retry."}})
}

async fn add_collection(State(job): State<Arc<Job>>, body: Bytes) -> Response {
    let call = job.calls.fetch_add(1, Ordering::SeqCst);
    let group: BatchTaskGroup = match serde_json::from_slice(&body) {
        Ok(group) => group,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    job.max_tasks_per_call
        .fetch_max(group.values.len(), Ordering::SeqCst);
    job.max_body.fetch_max(body.len(), Ordering::SeqCst);
    let fault = roll(call) % 100;
    if fault < 10 {
        job.throttled.fetch_add(1, Ordering::SeqCst);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "0")],
            axum::Json(busy("TooManyRequests")),
        )
            .into_response();
    }
    if fault < 15 {
        job.busy_unapplied.fetch_add(1, Ordering::SeqCst);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(busy("ServerBusy")),
        )
            .into_response();
    }
    let mut results = Vec::with_capacity(group.values.len());
    let answer_lost = (15..20).contains(&fault);
    {
        let mut tasks = job.tasks.lock().unwrap();
        for (index, task) in group.values.iter().enumerate() {
            if roll(call * 1000 + index as u64 + 1).is_multiple_of(50) {
                job.task_server_errors.fetch_add(1, Ordering::SeqCst);
                results.push(json!({"taskId": task.id, "status": "servererror",
                    "error": {"code": "InternalError", "message": {"value": "try again"}}}));
                continue;
            }
            let adds = tasks.entry(task.id.clone()).or_default();
            adds.applied += 1;
            adds.unanswered += u32::from(answer_lost);
            if adds.applied > 1 {
                results.push(json!({"taskId": task.id, "status": "clienterror",
                    "error": {"code": "TaskExists", "message": {"value": "The specified task already exists."}}}));
            } else {
                results.push(json!({"taskId": task.id, "status": "success", "eTag": "0x1"}));
            }
        }
    }
    if answer_lost {
        // Applied, but the answer is lost: the client must not add anything twice.
        job.busy_after_apply.fetch_add(1, Ordering::SeqCst);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(busy("ServerBusy")),
        )
            .into_response();
    }
    results.reverse(); // the service does not promise any order
    axum::Json(json!({"value": results})).into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_tasks_land_exactly_once_despite_throttling() {
    let job = Arc::new(Job::default());
    let app = Router::new()
        .route("/jobs/{job_id}/addtaskcollection", post(add_collection))
        .with_state(job.clone());
    let url = common::serve(app).await;
    let client = BatchClient::new(&url, Arc::new(NoAuth), common::fast_options(12)).unwrap();

    let tasks = futures::stream::iter((0..TASKS).map(|i| BatchTaskCreateOptions {
        id: format!("task-{i:06}"),
        command_line: format!("/bin/sh -c 'echo {i}'"),
        ..Default::default()
    }));
    let options = BulkAddOptions {
        concurrency: 16,
        ..Default::default()
    };
    let started = Instant::now();
    let report = client.add_tasks("big-job", tasks, &options).await;
    let elapsed = started.elapsed();
    eprintln!("{report} in {elapsed:?}");

    assert!(
        report.failed.is_empty(),
        "failures: {:?}",
        &report.failed[..report.failed.len().min(5)]
    );
    assert_eq!(report.total(), TASKS as u64);
    assert_eq!(report.added + report.already_present, TASKS as u64);
    assert_eq!(
        report.to_string(),
        format!(
            "{TASKS} tasks: {} added, {} already present, 0 failed; every task is in the job",
            report.added, report.already_present
        )
    );

    let tasks = job.tasks.lock().unwrap();
    assert_eq!(tasks.len(), TASKS, "every task present, and no other id");
    assert!((0..TASKS).all(|i| tasks.contains_key(&format!("task-{i:06}"))));
    // Every id was added once, plus once per lost answer at most: a client that added a
    // task again after learning its outcome would exceed this.
    let mut repeated: Vec<(&String, u32, u32)> = tasks
        .iter()
        .filter(|(_, a)| a.applied > 1 + a.unanswered)
        .map(|(id, a)| (id, a.applied, a.unanswered))
        .collect();
    repeated.sort();
    assert!(
        repeated.is_empty(),
        "{} ids added more often than lost answers explain (id, adds, lost answers): {:?}",
        repeated.len(),
        &repeated[..repeated.len().min(5)]
    );
    let retried = tasks.values().filter(|a| a.applied > 1).count() as u64;
    assert_eq!(
        retried, report.already_present,
        "each repeated add came back TaskExists and was reported as already present"
    );

    // The faults really happened, and the lost answers showed up as already present.
    let calls = job.calls.load(Ordering::SeqCst);
    assert!(calls >= 1000, "{calls} calls");
    assert!(job.throttled.load(Ordering::SeqCst) > 0);
    assert!(job.busy_unapplied.load(Ordering::SeqCst) > 0);
    assert!(job.busy_after_apply.load(Ordering::SeqCst) > 0);
    assert!(job.task_server_errors.load(Ordering::SeqCst) > 0);
    assert!(report.already_present > 0);
    assert_eq!(job.max_tasks_per_call.load(Ordering::SeqCst), 100);
    assert!(job.max_body.load(Ordering::SeqCst) < 1_000_000);
    let faulty = job.throttled.load(Ordering::SeqCst)
        + job.busy_unapplied.load(Ordering::SeqCst)
        + job.busy_after_apply.load(Ordering::SeqCst);
    let share = faulty as f64 / calls as f64;
    assert!((0.15..0.25).contains(&share), "{share} of calls failed");
}
