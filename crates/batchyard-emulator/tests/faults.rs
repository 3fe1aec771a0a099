//! Seeded fault injection over real HTTP.
#![allow(clippy::unwrap_used)] // Test helpers panic on purpose: a failure is the test failing.

mod common;

use common::Harness;
use serde_json::{Value, json};

async fn statuses(seed: u64) -> Vec<u16> {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::start_with(dir, |c| {
        c.faults.seed = seed;
        c.faults.throttle = 0.2;
        c.faults.server_busy = 0.2;
        c.faults.timeout = 0.1;
        c.faults.drop_connection = 0.1;
    })
    .await;
    let mut out = Vec::new();
    for _ in 0..40 {
        match h.http.get(h.at("/pools")).send().await {
            Err(_) => out.push(0),
            Ok(r) => {
                let status = r.status().as_u16();
                if status == 429 || status == 503 {
                    assert_eq!(r.headers()["retry-after"], "1");
                }
                match r.bytes().await {
                    // A dropped connection may surface while reading the body.
                    Err(_) => out.push(0),
                    Ok(body) => {
                        if status != 200 {
                            let code =
                                serde_json::from_slice::<Value>(&body).unwrap()["code"].clone();
                            let expected = match status {
                                429 => "TooManyRequests",
                                503 => "ServerBusy",
                                _ => "OperationTimedOut",
                            };
                            assert_eq!(code, expected);
                        }
                        out.push(status);
                    }
                }
            }
        }
    }
    h.shutdown().await;
    out
}

#[tokio::test]
async fn faults_are_seeded_and_reproducible() {
    let first = statuses(42).await;
    let second = statuses(42).await;
    assert_eq!(first, second, "the same seed gives the same faults");
    for code in [0, 200, 429, 500, 503] {
        assert!(first.contains(&code), "{code} never happened in {first:?}");
    }
    assert_ne!(first, statuses(43).await, "another seed gives other faults");
}

#[tokio::test]
async fn collection_results_carry_server_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::start_with(dir, |c| {
        c.faults.seed = 1;
        c.faults.task_server_error = 0.3;
    })
    .await;
    h.create_pool("p", 0, 1, json!({})).await;
    h.post("/jobs", json!({"id": "j", "poolInfo": {"poolId": "p"}}))
        .await;
    let tasks: Vec<Value> = (0..100)
        .map(|i| json!({"id": format!("t{i}"), "commandLine": "/bin/true"}))
        .collect();
    let (status, body) = h
        .post("/jobs/j/addtaskcollection", json!({"value": tasks}))
        .await;
    assert_eq!(status, 200);
    let results = body["value"].as_array().unwrap();
    let failed: Vec<&Value> = results
        .iter()
        .filter(|r| r["status"] == "servererror")
        .collect();
    assert!(
        !failed.is_empty() && failed.len() < 100,
        "{} server errors",
        failed.len()
    );
    // Server errors were not added; resubmitting just those succeeds eventually.
    let (_, listed) = h.get("/jobs/j/tasks").await;
    assert_eq!(
        listed["value"].as_array().unwrap().len(),
        100 - failed.len()
    );
    h.shutdown().await;
}
