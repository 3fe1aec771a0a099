//! 10,000 trivial tasks against `xargs -P N` running the same commands.
//! Ignored by default (it takes a while); run with
//! `cargo test -p batchyard-emulator --release --test throughput -- --ignored --nocapture`.
#![allow(clippy::unwrap_used)] // Test helpers panic on purpose: a failure is the test failing.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Harness;
use serde_json::{Value, json};

const TASKS: usize = 10_000;
const SLOTS: u32 = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "throughput measurement; run explicitly"]
async fn ten_thousand_tasks_against_xargs() {
    let mut h = Harness::start().await;
    h.create_pool("tp", 1, SLOTS, json!({})).await;
    h.wait_idle("tp", 1).await;
    h.post("/jobs", json!({"id": "tj", "poolInfo": {"poolId": "tp"}}))
        .await;
    let started = Instant::now();
    for chunk in 0..TASKS / 100 {
        let value: Vec<Value> = (0..100)
            .map(|i| json!({"id": format!("t{}", chunk * 100 + i), "commandLine": "/bin/true"}))
            .collect();
        let (status, _) = h
            .post("/jobs/tj/addtaskcollection", json!({"value": value}))
            .await;
        assert_eq!(status, 200);
    }
    let added = started.elapsed();
    h.patch("/jobs/tj", json!({"onAllTasksComplete": "terminatejob"}))
        .await;
    h.wait_for(
        "/jobs/tj",
        "job completion",
        Duration::from_secs(1800),
        |j| j["state"] == "completed",
    )
    .await;
    let emulator = started.elapsed();
    let (_, counts) = h.get("/jobs/tj/taskcounts").await;
    assert_eq!(counts["taskCounts"]["succeeded"], TASKS);
    h.shutdown().await;

    let started = Instant::now();
    let mut xargs = Command::new("xargs")
        .args(["-P", &SLOTS.to_string(), "-n", "1", "/bin/true"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = xargs.stdin.take().unwrap();
        for i in 0..TASKS {
            writeln!(stdin, "{i}").unwrap();
        }
    }
    assert!(xargs.wait().unwrap().success());
    let baseline = started.elapsed();
    println!(
        "{TASKS} tasks, {SLOTS} slots: emulator {:.1}s (adding {:.1}s), xargs -P {SLOTS} {:.1}s, ratio {:.2}",
        emulator.as_secs_f64(),
        added.as_secs_f64(),
        baseline.as_secs_f64(),
        emulator.as_secs_f64() / baseline.as_secs_f64()
    );
}
