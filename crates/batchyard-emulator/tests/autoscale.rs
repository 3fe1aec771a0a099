//! Autoscale through a real emulator over HTTP: pools that grow and shrink, formulas the
//! service refuses, evaluation, and restarts. The generated formulas themselves are
//! evaluated with known histories in the crate's unit tests (`engine::autoscale`).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use batchyard_compile::autoscale::{Scenario, ScenarioParams, formula};
use common::Harness;
use serde_json::{Value, json};
use time::OffsetDateTime;

fn params() -> ScenarioParams {
    ScenarioParams {
        min_dedicated: 1,
        max_dedicated: 10,
        min_spot: 0,
        max_spot: 20,
        ..ScenarioParams::default()
    }
}

const POOL_SPEC: &str = r#"{
    "vmSize": "Standard_D2s_v3",
    "virtualMachineConfiguration": {
        "imageReference": {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts"},
        "nodeAgentSKUId": "batch.node.ubuntu 22.04"
    }
}"#;

fn autoscale_pool(id: &str, formula: &str, interval: &str) -> Value {
    let mut body: Value = serde_json::from_str(POOL_SPEC).unwrap();
    body["id"] = json!(id);
    body["enableAutoScale"] = json!(true);
    body["autoScaleFormula"] = json!(formula);
    body["autoScaleEvaluationInterval"] = json!(interval);
    body
}

/// 300 times the service's pace: 5-minute intervals take a second, samples 0.1 s.
async fn fast_harness() -> Harness {
    Harness::start_with(tempfile::tempdir().unwrap(), |c| {
        c.autoscale_time_scale = 300.0;
    })
    .await
}

#[tokio::test]
async fn active_tasks_pool_grows_for_a_queue_and_shrinks_when_it_drains() {
    let h = fast_harness().await;
    let p = ScenarioParams {
        min_dedicated: 0,
        max_dedicated: 3,
        ..ScenarioParams::default()
    };
    let f = formula(Scenario::ActiveTasks, &p);
    let (status, body) = h.post("/pools", autoscale_pool("grow", &f, "PT5M")).await;
    assert_eq!(status, 201, "{body}");
    let (_, pool) = h.get("/pools/grow").await;
    assert_eq!(pool["targetDedicatedNodes"], 0);
    assert!(
        pool["autoScaleRun"]["results"]
            .as_str()
            .unwrap()
            .starts_with("$TargetDedicatedNodes=0;$TargetLowPriorityNodes=0;"),
        "{pool}"
    );

    let (status, body) = h
        .post(
            "/jobs",
            json!({"id": "queue", "poolInfo": {"poolId": "grow"}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let tasks: Vec<Value> = (0..6)
        .map(|i| json!({"id": format!("t{i}"), "commandLine": "/bin/sh -c 'sleep 0.3'"}))
        .collect();
    let (status, body) = h
        .post("/jobs/queue/addtaskcollection", json!({"value": tasks}))
        .await;
    assert_eq!(status, 200, "{body}");

    // The next evaluation sees six queued tasks; the pool grows to its maximum.
    let pool = h
        .wait_for("/pools/grow", "growth", Duration::from_secs(30), |p| {
            p["targetDedicatedNodes"] == 3
        })
        .await;
    assert!(
        pool["autoScaleRun"]["results"]
            .as_str()
            .unwrap()
            .contains("$TargetDedicatedNodes=3;"),
        "{pool}"
    );
    h.wait_for(
        "/pools/grow/nodes",
        "three nodes",
        Duration::from_secs(30),
        |b| b["value"].as_array().is_some_and(|v| v.len() == 3),
    )
    .await;
    h.wait_for(
        "/jobs/queue/taskcounts",
        "the queue to drain",
        Duration::from_secs(60),
        |b| b["taskCounts"]["completed"] == 6,
    )
    .await;
    // Once the ten-minute window holds no queued task, the pool shrinks to zero.
    let pool = h
        .wait_for("/pools/grow", "shrinking", Duration::from_secs(60), |p| {
            p["targetDedicatedNodes"] == 0 && p["currentDedicatedNodes"] == 0
        })
        .await;
    assert_eq!(pool["enableAutoScale"], true);
    h.wait_for(
        "/pools/grow/nodes",
        "nodes to leave",
        Duration::from_secs(30),
        |b| b["value"].as_array().is_some_and(Vec::is_empty),
    )
    .await;
    let (_, counts) = h.get("/jobs/queue/taskcounts").await;
    assert_eq!(counts["taskCounts"]["succeeded"], 6, "{counts}");
}

#[tokio::test]
async fn formulas_outside_the_subset_report_an_error() {
    let h = Harness::start().await;
    let (status, body) = h
        .post(
            "/pools",
            autoscale_pool(
                "cpu",
                "$TargetDedicatedNodes = avg($CPUPercent.GetSample(TimeInterval_Minute * 5));",
                "PT5M",
            ),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, pool) = h.get("/pools/cpu").await;
    let error = &pool["autoScaleRun"]["error"];
    assert_eq!(error["code"], "AutoScalingFormulaNotSupportedByEmulator");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.starts_with("Line 1, Col 29: $CPUPercent"),
        "{message}"
    );
    assert_eq!(pool["targetDedicatedNodes"], 0);
    assert!(pool["autoScaleRun"].get("results").is_none());

    // A syntax error is refused up front, as the service does.
    let (status, body) = h
        .post(
            "/pools",
            autoscale_pool("bad", "$TargetDedicatedNodes = (1 +;", "PT5M"),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "AutoScalingFormulaSyntaxError");
    assert!(
        body["values"][0]["value"]
            .as_str()
            .unwrap()
            .starts_with("Line 1, Col 29:"),
        "{body}"
    );
    let (status, body) = h
        .post(
            "/pools",
            autoscale_pool("short", "$TargetDedicatedNodes = 1;", "PT1M"),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "InvalidPropertyValue");
    let (status, _) = h.get("/pools/bad").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn evaluate_reports_without_changing_the_pool() {
    let h = Harness::start().await;
    let (status, body) = h
        .post(
            "/pools",
            autoscale_pool("steady", "$TargetDedicatedNodes = 1;", "PT5M"),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    h.wait_idle("steady", 1).await;
    let (_, before) = h.get("/pools/steady").await;
    assert_eq!(before["autoScaleEvaluationInterval"], "PT5M");

    let (status, run) = h
        .post(
            "/pools/steady/evaluateautoscale",
            json!({"autoScaleFormula": "$x = $CurrentDedicatedNodes; $TargetDedicatedNodes = 5; $NodeDeallocationOption = terminate;"}),
        )
        .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(
        run["results"],
        "$TargetDedicatedNodes=5;$TargetLowPriorityNodes=0;$NodeDeallocationOption=terminate;$x=1"
    );
    assert!(run["timestamp"].is_string());
    let (status, run) = h
        .post(
            "/pools/steady/evaluateautoscale",
            json!({"autoScaleFormula": "$TargetDedicatedNodes = $MemoryBytes;"}),
        )
        .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(
        run["error"]["code"],
        "AutoScalingFormulaNotSupportedByEmulator"
    );

    // Today's answer of the weekend scenario, read from the wall clock around the call.
    let f = formula(Scenario::Weekend, &params());
    let before_day = OffsetDateTime::now_utc().weekday();
    let (_, run) = h
        .post(
            "/pools/steady/evaluateautoscale",
            json!({"autoScaleFormula": f}),
        )
        .await;
    let after_day = OffsetDateTime::now_utc().weekday();
    if before_day == after_day {
        let weekend = matches!(before_day, time::Weekday::Saturday | time::Weekday::Sunday);
        let want = if weekend {
            "$TargetDedicatedNodes=10;$TargetLowPriorityNodes=20;"
        } else {
            "$TargetDedicatedNodes=1;$TargetLowPriorityNodes=0;"
        };
        assert!(run["results"].as_str().unwrap().starts_with(want), "{run}");
    }

    let (status, body) = h
        .post(
            "/pools/steady/evaluateautoscale",
            json!({"autoScaleFormula": "$TargetDedicatedNodes = max(1,"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "AutoScalingFormulaSyntaxError");

    let (_, after) = h.get("/pools/steady").await;
    assert_eq!(after["eTag"], before["eTag"]);
    assert_eq!(after["targetDedicatedNodes"], 1);
    assert_eq!(after["autoScaleRun"], before["autoScaleRun"]);
    let (_, nodes) = h.get("/pools/steady/nodes").await;
    assert_eq!(nodes["value"].as_array().unwrap().len(), 1);

    // Only a pool with autoscale enabled evaluates formulas.
    h.create_pool("fixed", 0, 1, json!({})).await;
    let (status, body) = h
        .post(
            "/pools/fixed/evaluateautoscale",
            json!({"autoScaleFormula": "$TargetDedicatedNodes = 1;"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
}

#[tokio::test]
async fn enable_and_disable_autoscale_on_an_existing_pool() {
    let h = Harness::start().await;
    h.create_pool("later", 0, 1, json!({})).await;
    let (status, body) = h
        .post(
            "/pools/later/enableautoscale",
            json!({"autoScaleFormula": "$TargetDedicatedNodes = 2 +"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = h
        .post(
            "/pools/later/enableautoscale",
            json!({"autoScaleFormula": "$TargetDedicatedNodes = time().weekday >= 0 ? 2 : 0; $NodeDeallocationOption = requeue;"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    h.wait_idle("later", 2).await;
    let (_, pool) = h.get("/pools/later").await;
    assert_eq!(pool["enableAutoScale"], true);
    assert_eq!(pool["autoScaleEvaluationInterval"], "PT15M");
    assert_eq!(pool["currentDedicatedNodes"], 2);
    let (status, body) = h.post("/pools/later/disableautoscale", json!({})).await;
    assert_eq!(status, 200, "{body}");
    let (_, pool) = h.get("/pools/later").await;
    assert_eq!(pool["enableAutoScale"], false);
    // A fixed-size pool again: manual resizes are accepted.
    let (status, body) = h
        .post("/pools/later/resize", json!({"targetDedicatedNodes": 1}))
        .await;
    assert_eq!(status, 202, "{body}");
    h.wait_idle("later", 1).await;
}

#[tokio::test]
async fn evaluation_resumes_after_a_restart_with_a_fresh_history() {
    let mut h = fast_harness().await;
    let f = "$TargetDedicatedNodes = 1; $samples = $ActiveTasks.Count();";
    let (status, body) = h.post("/pools", autoscale_pool("kept", f, "PT5M")).await;
    assert_eq!(status, 201, "{body}");
    // Let evaluations pass until the history holds two sampling windows' worth.
    let later = h
        .wait_for(
            "/pools/kept",
            "a long history",
            Duration::from_secs(30),
            |p| p["autoScaleRun"]["results"].is_string() && samples(p) >= 20,
        )
        .await;
    let samples_before = samples(&later);

    h.shutdown().await;
    let dir = std::mem::replace(&mut h.dir, tempfile::tempdir().unwrap());
    let h = Harness::start_with(dir, |c| c.autoscale_time_scale = 300.0).await;
    let stopped_at = later["autoScaleRun"]["timestamp"].clone();
    let resumed = h
        .wait_for(
            "/pools/kept",
            "a run after restart",
            Duration::from_secs(30),
            |p| p["autoScaleRun"]["timestamp"] != stopped_at,
        )
        .await;
    assert_eq!(resumed["targetDedicatedNodes"], 1);
    assert!(resumed["autoScaleRun"].get("error").is_none(), "{resumed}");
    // The history started again with the new process: the first run after the restart
    // (due one interval, about a second, after the last) sees fewer samples.
    assert!(samples(&resumed) < samples_before, "{resumed}");
}

fn samples(pool: &Value) -> u64 {
    let results = pool["autoScaleRun"]["results"].as_str().unwrap();
    results
        .split(';')
        .find_map(|kv| kv.strip_prefix("$samples="))
        .unwrap()
        .parse()
        .unwrap()
}

/// A one-node autoscale pool running one task that ends only when the file this
/// returns is created, then a formula that shrinks the pool to nothing with the given
/// deallocation option.
async fn shrink_under_a_running_task(h: &Harness, option: &str) -> std::path::PathBuf {
    let (status, body) = h
        .post(
            "/pools",
            autoscale_pool("down", "$TargetDedicatedNodes = 1;", "PT5M"),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    h.wait_idle("down", 1).await;
    h.post("/jobs", json!({"id": "j", "poolInfo": {"poolId": "down"}}))
        .await;
    let release = h.dir.path().join("release");
    let command = format!(
        "/bin/sh -c 'while [ ! -e {} ]; do sleep 0.02; done'",
        release.display()
    );
    let (status, body) = h
        .post(
            "/jobs/j/tasks",
            json!({"id": "long", "commandLine": command}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    h.wait_for(
        "/jobs/j/tasks/long",
        "the task to run",
        Duration::from_secs(20),
        |t| t["state"] == "running",
    )
    .await;
    let formula = format!("$TargetDedicatedNodes = 0; $NodeDeallocationOption = {option};");
    let (status, body) = h
        .post(
            "/pools/down/enableautoscale",
            json!({"autoScaleFormula": formula}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    release
}

async fn node_gone(h: &Harness) {
    h.wait_for(
        "/pools/down/nodes",
        "the node to leave",
        Duration::from_secs(30),
        |b| b["value"].as_array().is_some_and(Vec::is_empty),
    )
    .await;
}

#[tokio::test]
async fn shrinking_with_taskcompletion_waits_for_the_running_task() {
    let h = fast_harness().await;
    let release = shrink_under_a_running_task(&h, "taskcompletion").await;
    // The shrink is decided: the node is leaving, but stays while its task runs (the
    // task cannot end before the release below).
    let nodes = h
        .wait_for(
            "/pools/down/nodes",
            "the node to start leaving",
            Duration::from_secs(30),
            |b| b["value"][0]["state"] == "leavingpool",
        )
        .await;
    assert_eq!(nodes["value"].as_array().unwrap().len(), 1, "{nodes}");
    let (_, task) = h.get("/jobs/j/tasks/long").await;
    assert_eq!(task["state"], "running", "{task}");
    std::fs::write(&release, "").unwrap();
    node_gone(&h).await;
    let (_, task) = h.get("/jobs/j/tasks/long").await;
    assert_eq!(task["state"], "completed", "{task}");
    assert_eq!(task["executionInfo"]["exitCode"], 0, "{task}");
    assert_eq!(task["executionInfo"]["requeueCount"], 0, "{task}");
}

#[tokio::test]
async fn shrinking_with_requeue_stops_the_running_task() {
    let h = fast_harness().await;
    // Never released: the task can only end by being stopped.
    let _release = shrink_under_a_running_task(&h, "requeue").await;
    node_gone(&h).await;
    let (_, task) = h.get("/jobs/j/tasks/long").await;
    // Queued again, with no node left to run it.
    assert_eq!(task["state"], "active", "{task}");
    assert_eq!(task["executionInfo"]["requeueCount"], 1, "{task}");
}

#[tokio::test]
async fn batchyards_client_reads_the_autoscale_runs() {
    use batchyard_batch::auth::NoAuth;
    use batchyard_batch::{BatchClient, ClientOptions};
    use std::sync::Arc;

    let h = Harness::start().await;
    let client = BatchClient::new(&h.url, Arc::new(NoAuth), ClientOptions::default()).unwrap();
    let (status, body) = h
        .post(
            "/pools",
            autoscale_pool("client", "$TargetDedicatedNodes = 0;", "PT5M"),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let run = client
        .evaluate_pool_autoscale("client", "$a = max(2, 3); $TargetLowPriorityNodes = $a;")
        .await
        .unwrap();
    assert_eq!(
        run.results.as_deref(),
        Some(
            "$TargetDedicatedNodes=0;$TargetLowPriorityNodes=3;$NodeDeallocationOption=requeue;$a=3"
        )
    );
    assert!(run.error.is_none());
    let run = client
        .evaluate_pool_autoscale("client", "$TargetDedicatedNodes = $DiskBytes.GetSample(1);")
        .await
        .unwrap();
    let error = run.error.unwrap();
    assert_eq!(
        error.code.as_deref(),
        Some("AutoScalingFormulaNotSupportedByEmulator")
    );
    assert!(run.results.is_none());
    let pool = client.get_pool("client").await.unwrap();
    assert!(pool.auto_scale_run.unwrap().results.is_some());
}
