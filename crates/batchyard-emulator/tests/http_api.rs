//! The Batch REST API over real HTTP, real SQLite and real processes.
#![allow(clippy::unwrap_used)] // Test helpers panic on purpose: a failure is the test failing.

mod common;

use std::time::Duration;

use common::Harness;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_job_collections_paging_and_files() {
    let mut h = Harness::start().await;
    h.create_pool(
        "pool-1",
        2,
        4,
        json!({"startTask": {"commandLine": "/bin/sh -c \"echo node $AZ_BATCH_NODE_ID ready > $AZ_BATCH_NODE_SHARED_DIR/ready\"", "waitForSuccess": true}}),
    )
    .await;
    let (status, again) = h
        .post("/pools", json!({"id": "POOL-1", "vmSize": "x"}))
        .await;
    assert_eq!((status, again["code"].as_str()), (409, Some("PoolExists")));

    let nodes = h.wait_idle("pool-1", 2).await;
    for node in nodes["value"].as_array().unwrap() {
        assert_eq!(node["startTaskInfo"]["result"], "success", "{node}");
        assert_eq!(node["startTaskInfo"]["exitCode"], 0);
    }
    let (_, pool) = h.get("/pools/pool-1").await;
    assert_eq!(pool["allocationState"], "steady");
    assert_eq!(pool["currentDedicatedNodes"], 2);

    let (status, body) = h
        .post(
            "/jobs",
            json!({"id": "job-1", "poolInfo": {"poolId": "pool-1"}, "usesTaskDependencies": true}),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    // 250 tasks in three collections; tasks print their own id without a shell
    // expanding anything but what /bin/sh -c is given explicitly.
    let ids: Vec<String> = (0..250).map(|i| i.to_string()).collect();
    for chunk in ids.chunks(100) {
        let value: Vec<Value> = chunk
            .iter()
            .map(|id| json!({"id": id, "commandLine": "/bin/sh -c \"echo out-$AZ_BATCH_TASK_ID-$AZ_BATCH_JOB_ID\""}))
            .collect();
        let (status, body) = h
            .post("/jobs/job-1/addtaskcollection", json!({"value": value}))
            .await;
        assert_eq!(status, 200, "{body}");
        let results = body["value"].as_array().unwrap();
        assert_eq!(results.len(), chunk.len());
        assert!(results.iter().all(|r| r["status"] == "success"), "{body}");
    }
    // A merge task depending on a range, and a retried duplicate that reports TaskExists.
    let (status, body) = h
        .post(
            "/jobs/job-1/addtaskcollection",
            json!({"value": [
                {"id": "merge", "commandLine": "/bin/echo merged", "dependsOn": {"taskIdRanges": [{"start": 0, "end": 249}]}},
                {"id": "7", "commandLine": "/bin/true"},
                {"id": "bad id!", "commandLine": "/bin/true"}
            ]}),
        )
        .await;
    assert_eq!(status, 200);
    let by_id = |id: &str| {
        body["value"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["taskId"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_id("merge")["status"], "success");
    assert_eq!(by_id("7")["error"]["code"], "TaskExists");
    assert_eq!(by_id("bad id!")["error"]["code"], "InvalidPropertyValue");

    // Paging: 251 tasks, 100 per page, following odata.nextLink.
    let mut next = Some(h.at("/jobs/job-1/tasks?maxresults=100&$select=id,state"));
    let mut seen = Vec::new();
    let mut pages = 0;
    while let Some(url) = next {
        let page: Value = h.http.get(&url).send().await.unwrap().json().await.unwrap();
        pages += 1;
        for task in page["value"].as_array().unwrap() {
            assert!(
                task.get("commandLine").is_none(),
                "$select keeps only id and state"
            );
            seen.push(task["id"].as_str().unwrap().to_string());
        }
        next = page["odata.nextLink"].as_str().map(str::to_string);
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 251);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 251, "no task listed twice");

    // Terminate the job when all tasks are done, then wait for it.
    let (status, _) = h
        .patch("/jobs/job-1", json!({"onAllTasksComplete": "terminatejob"}))
        .await;
    assert_eq!(status, 200);
    let job = h
        .wait_for(
            "/jobs/job-1",
            "job completion",
            Duration::from_secs(60),
            |j| j["state"] == "completed",
        )
        .await;
    assert_eq!(job["executionInfo"]["terminateReason"], "AllTasksComplete");

    let (_, counts) = h.get("/jobs/job-1/taskcounts").await;
    assert_eq!(counts["taskCounts"]["succeeded"], 251, "{counts}");
    assert_eq!(counts["taskCounts"]["failed"], 0);

    // The merge task ran after every task of its range.
    let (_, merge) = h.get("/jobs/job-1/tasks/merge").await;
    let merge_start = merge["executionInfo"]["startTime"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, failed) = h
        .get("/jobs/job-1/tasks?$filter=state eq 'completed' and executionInfo/result eq 'failure'")
        .await;
    assert_eq!(failed["value"].as_array().unwrap().len(), 0);
    let (_, done) = h
        .get("/jobs/job-1/tasks?$filter=startswith(id,'24')&$select=id,executionInfo")
        .await;
    for t in done["value"].as_array().unwrap() {
        assert!(
            t["executionInfo"]["endTime"].as_str().unwrap() <= merge_start.as_str(),
            "{t}"
        );
    }

    // stdout through the files API, whole and with ocp-range.
    let stdout = h
        .http
        .get(h.at("/jobs/job-1/tasks/42/files/stdout.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(stdout.status(), 200);
    assert_eq!(stdout.headers()["ocp-batch-file-isdirectory"], "false");
    assert_eq!(stdout.text().await.unwrap(), "out-42-job-1\n");
    let part = h
        .http
        .get(h.at("/jobs/job-1/tasks/42/files/stdout.txt"))
        .header("ocp-range", "bytes=4-5")
        .send()
        .await
        .unwrap();
    assert_eq!(part.text().await.unwrap(), "42");
    let (_, files) = h.get("/jobs/job-1/tasks/42/files?recursive=true").await;
    let names: Vec<&str> = files["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"stdout.txt") && names.contains(&"stderr.txt") && names.contains(&"wd"),
        "{names:?}"
    );

    // The start task wrote into the node's shared directory.
    let (_, node_list) = h.get("/pools/pool-1/nodes").await;
    let node_id = node_list["value"][0]["id"].as_str().unwrap();
    let ready = std::fs::read_to_string(
        h.dir
            .path()
            .join("state.db.nodes/pool-1")
            .join(node_id)
            .join("shared/ready"),
    )
    .unwrap();
    assert_eq!(ready, format!("node {node_id} ready\n"));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_retries_and_job_actions() {
    let mut h = Harness::start().await;
    h.create_pool("p", 1, 2, json!({})).await;
    h.wait_idle("p", 1).await;
    let (status, _) = h
        .post("/jobs", json!({"id": "j", "poolInfo": {"poolId": "p"}, "onTaskFailure": "performexitoptionsjobaction"}))
        .await;
    assert_eq!(status, 201);
    let (status, body) = h
        .post("/jobs/j/tasks", json!({"id": "flaky", "commandLine": "/bin/sh -c \"exit 3\"", "constraints": {"maxTaskRetryCount": 2}}))
        .await;
    assert_eq!(status, 201, "{body}");
    let task = h
        .wait_for(
            "/jobs/j/tasks/flaky",
            "failed task",
            Duration::from_secs(20),
            |t| t["state"] == "completed",
        )
        .await;
    assert_eq!(task["executionInfo"]["retryCount"], 2);
    assert_eq!(task["executionInfo"]["exitCode"], 3);
    assert_eq!(task["executionInfo"]["result"], "failure");
    assert_eq!(
        task["executionInfo"]["failureInfo"]["code"],
        "FailureExitCode"
    );

    // Wall-clock limit.
    h.post("/jobs/j/tasks", json!({"id": "slow", "commandLine": "/bin/sleep 30", "constraints": {"maxWallClockTime": "PT0.3S"}})).await;
    let slow = h
        .wait_for(
            "/jobs/j/tasks/slow",
            "timed-out task",
            Duration::from_secs(20),
            |t| t["state"] == "completed",
        )
        .await;
    assert_eq!(slow["executionInfo"]["failureInfo"]["code"], "TaskEnded");

    // A missing program fails the task instead of the emulator.
    h.post(
        "/jobs/j/tasks",
        json!({"id": "missing", "commandLine": "/no/such/program"}),
    )
    .await;
    let missing = h
        .wait_for(
            "/jobs/j/tasks/missing",
            "missing program",
            Duration::from_secs(20),
            |t| t["state"] == "completed",
        )
        .await;
    assert_eq!(missing["executionInfo"]["exitCode"], 127);

    // An exit code mapped to jobAction terminate ends the job.
    h.post(
        "/jobs/j/tasks",
        json!({"id": "fatal", "commandLine": "/bin/sh -c \"exit 9\"",
               "exitConditions": {"exitCodes": [{"code": 9, "exitOptions": {"jobAction": "terminate"}}]}}),
    )
    .await;
    let job = h
        .wait_for("/jobs/j", "job terminated", Duration::from_secs(20), |j| {
            j["state"] == "completed"
        })
        .await;
    assert_eq!(job["executionInfo"]["terminateReason"], "TaskFailed");
    let (status, body) = h
        .post(
            "/jobs/j/tasks",
            json!({"id": "late", "commandLine": "/bin/true"}),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (409, Some("JobCompleted")));
    h.shutdown().await;
}

#[tokio::test]
async fn protocol_errors_and_conditions() {
    let mut h = Harness::start().await;
    // api-version is required and checked.
    let r = h.http.get(format!("{}/pools", h.url)).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().contains_key("request-id"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "MissingRequiredQueryParameter");
    assert!(
        body["message"]["value"]
            .as_str()
            .unwrap()
            .contains("RequestId:")
    );
    let r = h
        .http
        .get(format!("{}/pools?api-version=2019-01-01.0", h.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["code"],
        "UnsupportedRequestVersion"
    );
    let r = h
        .http
        .get(format!("{}/pools?api-version=2025-06-01", h.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the Python SDK's api-version is accepted");

    // client-request-id is echoed when asked.
    let r = h
        .http
        .get(h.at("/pools"))
        .header("client-request-id", "0f6c1c2e-7d2e-4a3c-9b7e-111111111111")
        .header("return-client-request-id", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["client-request-id"],
        "0f6c1c2e-7d2e-4a3c-9b7e-111111111111"
    );

    assert_eq!(h.get("/pools/nope").await.1["code"], "PoolNotFound");
    assert_eq!(h.get("/jobs/nope/tasks/x").await.1["code"], "JobNotFound");
    let (status, body) = h
        .post("/pools", json!({"id": "a".repeat(65), "vmSize": "x"}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("InvalidPropertyValue"))
    );
    let (status, body) = h.post("/pools", json!({"id": "p"})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("MissingRequiredProperty"))
    );
    let r = h
        .http
        .post(h.at("/pools"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["code"],
        "InvalidRequestBody"
    );

    // ETag / If-Match.
    h.create_pool("p", 0, 1, json!({})).await;
    let r = h.http.get(h.at("/pools/p")).send().await.unwrap();
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let r = h
        .http
        .get(h.at("/pools/p"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    let r = h
        .http
        .patch(h.at("/pools/p"))
        .header("if-match", "0x8D000000000000")
        .header("content-type", "application/json")
        .body(json!({"metadata": [{"name": "a", "value": "b"}]}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "ConditionNotMet");
    assert!(
        h.get("/pools/p").await.1.get("metadata").is_none(),
        "a failed condition changes nothing"
    );
    let r = h
        .http
        .patch(h.at("/pools/p"))
        .header("if-match", &etag)
        .header("content-type", "application/json")
        .body(json!({"metadata": [{"name": "a", "value": "b"}]}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_ne!(r.headers()["etag"].to_str().unwrap(), etag);

    // Collections over 100 tasks and bodies over 1 MB are refused whole.
    h.post("/jobs", json!({"id": "j", "poolInfo": {"poolId": "p"}}))
        .await;
    let many: Vec<Value> = (0..101)
        .map(|i| json!({"id": format!("t{i}"), "commandLine": "/bin/true"}))
        .collect();
    let (status, _) = h
        .post("/jobs/j/addtaskcollection", json!({"value": many}))
        .await;
    assert_eq!(status, 400);
    let big: Vec<Value> = (0..100).map(|i| json!({"id": format!("t{i}"), "commandLine": format!("/bin/echo {}", "x".repeat(11_000))})).collect();
    let (status, body) = h
        .post("/jobs/j/addtaskcollection", json!({"value": big}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("RequestBodyTooLarge"))
    );
    let (_, tasks) = h.get("/jobs/j/tasks").await;
    assert_eq!(
        tasks["value"].as_array().unwrap().len(),
        0,
        "nothing was added"
    );

    // $filter syntax errors are the client's.
    let (status, body) = h.get("/jobs/j/tasks?$filter=state%20eq").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("InvalidQueryParameterValue"))
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_instance_task_spans_nodes() {
    let mut h = Harness::start().await;
    h.create_pool("mpi", 3, 1, json!({"enableInterNodeCommunication": true}))
        .await;
    h.wait_idle("mpi", 3).await;
    h.post("/jobs", json!({"id": "mj", "poolInfo": {"poolId": "mpi"}}))
        .await;
    let (status, body) = h
        .post(
            "/jobs/mj/tasks",
            json!({
                "id": "mpi-run",
                "commandLine": "/bin/sh -c \"sort $AZ_BATCH_TASK_SHARED_DIR/coord.log; echo hosts=$AZ_BATCH_HOST_LIST master=$AZ_BATCH_IS_CURRENT_NODE_MASTER\"",
                "multiInstanceSettings": {
                    "numberOfInstances": 3,
                    "coordinationCommandLine": "/bin/sh -c \"echo coord $AZ_BATCH_IS_CURRENT_NODE_MASTER >> $AZ_BATCH_TASK_SHARED_DIR/coord.log\""
                }
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let task = h
        .wait_for(
            "/jobs/mj/tasks/mpi-run",
            "multi-instance task",
            Duration::from_secs(30),
            |t| t["state"] == "completed",
        )
        .await;
    assert_eq!(task["executionInfo"]["exitCode"], 0, "{task}");
    let stdout = h
        .http
        .get(h.at("/jobs/mj/tasks/mpi-run/files/stdout.txt"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        stdout,
        "coord false\ncoord false\ncoord true\nhosts=127.0.0.1,127.0.0.1,127.0.0.1 master=true\n"
    );
    let (_, subtasks) = h.get("/jobs/mj/tasks/mpi-run/subtasksinfo").await;
    let subtasks = subtasks["value"].as_array().unwrap().clone();
    assert_eq!(subtasks.len(), 2);
    let primary = task["nodeInfo"]["nodeId"].as_str().unwrap();
    let mut nodes: Vec<&str> = subtasks
        .iter()
        .map(|s| s["nodeInfo"]["nodeId"].as_str().unwrap())
        .collect();
    nodes.push(primary);
    nodes.sort();
    nodes.dedup();
    assert_eq!(nodes.len(), 3, "each instance ran on its own node");
    for s in &subtasks {
        assert_eq!(s["state"], "completed");
        assert_eq!(s["result"], "success", "{s}");
    }
    // The nodes are free again.
    h.wait_idle("mpi", 3).await;
    h.shutdown().await;
}

#[tokio::test]
async fn urls_follow_the_current_address_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::start_with(dir, |_| {}).await;
    h.create_pool("p", 0, 1, json!({})).await;
    let (_, pool) = h.get("/pools/p").await;
    assert_eq!(pool["url"], format!("{}/pools/p", h.url));
    h.shutdown().await;
    let dir = std::mem::replace(&mut h.dir, tempfile::tempdir().unwrap());
    let mut h2 = Harness::start_with(dir, |_| {}).await;
    let (_, pool) = h2.get("/pools/p").await;
    assert_eq!(pool["url"], format!("{}/pools/p", h2.url));
    let r = h2
        .http
        .post(h2.at("/pools"))
        .header("content-type", "application/json")
        .body(json!({"id": "q", "vmSize": "x"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["location"],
        format!("{}/pools/q", h2.url).as_str()
    );
    h2.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_preparation_and_release_tasks() {
    let mut h = Harness::start().await;
    h.create_pool("pp", 2, 1, json!({})).await;
    h.wait_idle("pp", 2).await;
    let (status, body) = h
        .post(
            "/jobs",
            json!({
                "id": "pj",
                "poolInfo": {"poolId": "pp"},
                "jobPreparationTask": {"commandLine": "/bin/sh -c \"echo prepared > $AZ_BATCH_NODE_SHARED_DIR/prep-$AZ_BATCH_JOB_ID\""},
                "jobReleaseTask": {"commandLine": "/bin/sh -c \"echo released > $AZ_BATCH_NODE_SHARED_DIR/release-$AZ_BATCH_JOB_ID\""}
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let tasks: Vec<serde_json::Value> = (0..4)
        .map(|i| json!({"id": format!("t{i}"), "commandLine": "/bin/sh -c \"cat $AZ_BATCH_NODE_SHARED_DIR/prep-$AZ_BATCH_JOB_ID\""}))
        .collect();
    h.post("/jobs/pj/addtaskcollection", json!({"value": tasks}))
        .await;
    // Set only once the tasks are in: a job with no tasks would end at once.
    h.patch("/jobs/pj", json!({"onAllTasksComplete": "terminatejob"}))
        .await;
    h.wait_for("/jobs/pj", "job completion", Duration::from_secs(30), |j| {
        j["state"] == "completed"
    })
    .await;
    // Every task saw the preparation task's output on its node.
    for i in 0..4 {
        let out = h
            .http
            .get(h.at(&format!("/jobs/pj/tasks/t{i}/files/stdout.txt")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(out, "prepared\n");
    }
    let (_, status) = h.get("/jobs/pj/jobpreparationandreleasetaskstatus").await;
    let entries = status["value"].as_array().unwrap();
    assert!(!entries.is_empty(), "{status}");
    for e in entries {
        assert_eq!(
            e["jobPreparationTaskExecutionInfo"]["result"], "success",
            "{e}"
        );
        assert_eq!(e["jobReleaseTaskExecutionInfo"]["result"], "success", "{e}");
        let node = e["nodeId"].as_str().unwrap();
        let released = h
            .dir
            .path()
            .join("state.db.nodes/pp")
            .join(node)
            .join("shared/release-pj");
        assert_eq!(std::fs::read_to_string(released).unwrap(), "released\n");
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mount_points_exist_as_local_directories() {
    let mut h = Harness::start().await;
    h.create_pool(
        "mp",
        1,
        1,
        json!({"mountConfiguration": [
            {"nfsMountConfiguration": {"source": "10.0.0.4:/export", "relativeMountPath": "data"}},
            {"azureFileShareConfiguration": {"accountName": "acct", "azureFileUrl": "https://acct.file.core.windows.net/share", "accountKey": "a2V5", "relativeMountPath": "scratch/job"}}
        ]}),
    )
    .await;
    h.wait_idle("mp", 1).await;
    let (status, body) = h
        .post("/jobs", json!({"id": "mj", "poolInfo": {"poolId": "mp"}}))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = h
        .post(
            "/jobs/mj/tasks",
            json!({"id": "look", "commandLine": "/bin/sh -c \"test -d $AZ_BATCH_NODE_MOUNTS_DIR/data && test -d $AZ_BATCH_NODE_MOUNTS_DIR/scratch/job && echo both\""}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let task = h
        .wait_for(
            "/jobs/mj/tasks/look",
            "the task",
            Duration::from_secs(20),
            |t| t["state"] == "completed",
        )
        .await;
    assert_eq!(task["executionInfo"]["exitCode"], 0, "{task}");
    h.shutdown().await;
}

#[tokio::test]
async fn supported_images_carry_batch_end_of_life_dates() {
    let h = Harness::start().await;
    let (status, body) = h.get("/supportedimages").await;
    assert_eq!(status, 200, "{body}");
    let images = body["value"].as_array().unwrap();
    let find = |agent: &str, sku: &str| {
        images
            .iter()
            .find(|i| i["nodeAgentSKUId"] == agent && i["imageReference"]["sku"] == sku)
            .unwrap_or_else(|| panic!("{agent} {sku} not listed: {body}"))
    };
    // As the Batch service dates them: CentOS 7 in the recorded answer, Ubuntu 22.04 per
    // Microsoft's announcement (Azure/Batch#200); Ubuntu 24.04 has no end date.
    assert_eq!(
        find("batch.node.centos 7", "7_9")["batchSupportEndOfLife"],
        "2024-06-30T00:00:00Z"
    );
    assert_eq!(
        find("batch.node.ubuntu 22.04", "22_04-lts-gen2")["batchSupportEndOfLife"],
        "2027-06-30T00:00:00Z"
    );
    assert!(
        find("batch.node.ubuntu 24.04", "server")
            .get("batchSupportEndOfLife")
            .is_none()
    );
    assert!(
        images.iter().all(|i| i.get("source").is_none()),
        "the data file's sources are not part of the answer"
    );
}
