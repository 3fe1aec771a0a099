//! Every operation sends the documented method, path and query, and a body that is valid
//! for the spec definition of its operation.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is the failure report

mod common;

use std::sync::Arc;

use batchyard_batch::auth::NoAuth;
use batchyard_batch::models::*;
use batchyard_batch::{BatchClient, ListOptions, validate_against_spec};
use common::{Reply, ScriptedServer, fast_options};
use futures::TryStreamExt as _;
use serde_json::json;

const API: &str = "api-version=2025-06-01.21.0";

#[tokio::test]
async fn operations_use_the_documented_method_path_and_body() {
    let server = ScriptedServer::start().await;
    let client = BatchClient::new(&server.url, Arc::new(NoAuth), fast_options(1)).unwrap();
    // (method, path, extra query, body definition) in call order below.
    let expected: Vec<(&str, &str, &str, Option<&str>)> = vec![
        ("GET", "/pools/p1", "", None),
        ("HEAD", "/pools/p1", "", None),
        (
            "POST",
            "/pools/p1/updateproperties",
            "",
            Some("BatchPoolReplaceOptions"),
        ),
        (
            "POST",
            "/pools/p1/resize",
            "",
            Some("BatchPoolResizeOptions"),
        ),
        ("POST", "/pools/p1/stopresize", "", None),
        (
            "POST",
            "/pools/p1/enableautoscale",
            "",
            Some("BatchPoolEnableAutoScaleOptions"),
        ),
        ("POST", "/pools/p1/disableautoscale", "", None),
        (
            "POST",
            "/pools/p1/evaluateautoscale",
            "",
            Some("BatchPoolEvaluateAutoScaleOptions"),
        ),
        (
            "POST",
            "/pools/p1/removenodes",
            "",
            Some("BatchNodeRemoveOptions"),
        ),
        ("DELETE", "/pools/p1", "", None),
        ("GET", "/pools/p1/nodes", "&maxresults=10", None),
        ("GET", "/pools/p1/nodes/n1", "", None),
        (
            "POST",
            "/pools/p1/nodes/n1/reboot",
            "",
            Some("BatchNodeRebootOptions"),
        ),
        (
            "POST",
            "/pools/p1/nodes/n1/reimage",
            "",
            Some("BatchNodeReimageOptions"),
        ),
        ("GET", "/jobs", "", None),
        ("PATCH", "/jobs/j1", "", Some("BatchJobUpdateOptions")),
        (
            "POST",
            "/jobs/j1/terminate",
            "&force=true",
            Some("BatchJobTerminateOptions"),
        ),
        ("DELETE", "/jobs/j1", "", None),
        ("GET", "/jobs/j1/taskcounts", "", None),
        ("GET", "/jobs/j1/tasks/t1", "", None),
        ("DELETE", "/jobs/j1/tasks/t1", "", None),
        ("POST", "/jobs/j1/tasks/t1/terminate", "", None),
        ("GET", "/jobs/j1/tasks/t1/subtasksinfo", "", None),
        ("GET", "/jobs/j1/tasks/t1/files", "&recursive=true", None),
        (
            "POST",
            "/jobs/j1/addtaskcollection",
            "",
            Some("BatchTaskGroup"),
        ),
        (
            "GET",
            "/supportedimages",
            "&$filter=verificationType%20eq%20%27verified%27",
            None,
        ),
        ("GET", "/nodecounts", "", None),
    ];
    let empty_list = || Reply::ok(json!({"value": []}));
    server.push(Reply::ok(json!({"id": "p1"})));
    server.push(Reply::status(200));
    for _ in 0..5 {
        server.push(Reply::status(202));
    }
    server.push(Reply::ok(
        json!({"timestamp": "2026-11-27T12:00:00Z", "results": "$TargetDedicatedNodes=1"}),
    ));
    server.push(Reply::status(202));
    server.push(Reply::status(202));
    server.push(empty_list());
    server.push(Reply::ok(json!({"id": "n1", "state": "idle"})));
    server.push(Reply::status(202));
    server.push(Reply::status(202));
    server.push(empty_list());
    server.push(Reply::status(200));
    server.push(Reply::status(202));
    server.push(Reply::status(202));
    server.push(Reply::ok(json!({
        "taskCounts": {"active": 1, "running": 2, "completed": 3, "succeeded": 2, "failed": 1},
        "taskSlotCounts": {"active": 1, "running": 2, "completed": 3, "succeeded": 2, "failed": 1}
    })));
    server.push(Reply::ok(json!({"id": "t1", "state": "completed"})));
    server.push(Reply::status(200));
    server.push(Reply::status(204));
    server.push(Reply::ok(json!({"value": [{"id": 1, "state": "running"}]})));
    server.push(empty_list());
    server.push(Reply::ok(
        json!({"value": [{"taskId": "t1", "status": "success"}]}),
    ));
    server.push(empty_list());
    server.push(empty_list());

    assert_eq!(
        client.get_pool("p1").await.unwrap().id.as_deref(),
        Some("p1")
    );
    assert!(client.pool_exists("p1").await.unwrap());
    let replace = BatchPoolReplaceOptions {
        certificate_references: vec![],
        application_package_references: vec![],
        metadata: vec![BatchMetadataItem {
            name: "batchyard.recipe".into(),
            value: "r".into(),
        }],
        ..Default::default()
    };
    client
        .replace_pool_properties("p1", &replace)
        .await
        .unwrap();
    let resize = BatchPoolResizeOptions {
        target_dedicated_nodes: Some(2),
        ..Default::default()
    };
    client.resize_pool("p1", &resize, None).await.unwrap();
    client.stop_pool_resize("p1").await.unwrap();
    let autoscale = BatchPoolEnableAutoScaleOptions {
        auto_scale_formula: Some("$TargetDedicatedNodes=1".into()),
        auto_scale_evaluation_interval: Some("PT5M".into()),
    };
    client
        .enable_pool_autoscale("p1", &autoscale)
        .await
        .unwrap();
    client.disable_pool_autoscale("p1").await.unwrap();
    let run = client
        .evaluate_pool_autoscale("p1", "$TargetDedicatedNodes=1")
        .await
        .unwrap();
    assert_eq!(run.results.as_deref(), Some("$TargetDedicatedNodes=1"));
    let remove = BatchNodeRemoveOptions {
        node_ids: vec!["n2".into()],
        ..Default::default()
    };
    client.remove_nodes("p1", &remove).await.unwrap();
    client.delete_pool("p1", None).await.unwrap();
    let page = ListOptions {
        max_results: Some(10),
        ..Default::default()
    };
    let nodes: Vec<BatchNode> = client.list_nodes("p1", &page).try_collect().await.unwrap();
    assert!(nodes.is_empty());
    assert_eq!(
        client.get_node("p1", "n1").await.unwrap().state,
        Some(BatchNodeState::Idle)
    );
    let reboot = BatchNodeRebootOptions {
        node_reboot_kind: Some(BatchNodeRebootKind::TaskCompletion),
    };
    client.reboot_node("p1", "n1", &reboot).await.unwrap();
    client
        .reimage_node("p1", "n1", &BatchNodeReimageOptions::default())
        .await
        .unwrap();
    let jobs: Vec<BatchJob> = client
        .list_jobs(&ListOptions::default())
        .try_collect()
        .await
        .unwrap();
    assert!(jobs.is_empty());
    let patch = BatchJobUpdateOptions {
        all_tasks_complete_mode: Some(BatchAllTasksCompleteMode::TerminateJob),
        ..Default::default()
    };
    client.patch_job("j1", &patch, None).await.unwrap();
    client
        .terminate_job("j1", Some("done"), true)
        .await
        .unwrap();
    client.delete_job("j1", false).await.unwrap();
    assert_eq!(
        client
            .get_job_task_counts("j1")
            .await
            .unwrap()
            .task_counts
            .failed,
        1
    );
    assert_eq!(
        client.get_task("j1", "t1").await.unwrap().state,
        Some(BatchTaskState::Completed)
    );
    client.delete_task("j1", "t1").await.unwrap();
    client.terminate_task("j1", "t1").await.unwrap();
    assert_eq!(
        client.list_subtasks("j1", "t1").await.unwrap()[0].id,
        Some(1)
    );
    let files: Vec<BatchNodeFile> = client
        .list_task_files("j1", "t1", true, &ListOptions::default())
        .try_collect()
        .await
        .unwrap();
    assert!(files.is_empty());
    let group = BatchTaskGroup {
        values: vec![BatchTaskCreateOptions {
            id: "t1".into(),
            command_line: "true".into(),
            ..Default::default()
        }],
    };
    let answer = client.create_task_collection("j1", &group).await.unwrap();
    assert_eq!(
        answer.values.unwrap()[0].status,
        BatchTaskAddStatus::Success
    );
    let verified = ListOptions {
        filter: Some("verificationType eq 'verified'".into()),
        ..Default::default()
    };
    let images: Vec<BatchSupportedImage> = client
        .list_supported_images(&verified)
        .try_collect()
        .await
        .unwrap();
    assert!(images.is_empty());
    let counts: Vec<BatchPoolNodeCounts> = client
        .list_pool_node_counts(&ListOptions::default())
        .try_collect()
        .await
        .unwrap();
    assert!(counts.is_empty());

    let requests = server.requests();
    assert_eq!(requests.len(), expected.len());
    for (request, (method, path, query, definition)) in requests.iter().zip(expected) {
        let what = format!("{method} {path}");
        assert_eq!(request.method.as_str(), method, "{what}");
        assert_eq!(request.path, path, "{what}");
        assert_eq!(
            request.query.as_deref(),
            Some(format!("{API}{query}").as_str()),
            "{what}"
        );
        match definition {
            Some(definition) => {
                assert_eq!(
                    request.header("content-type"),
                    Some("application/json; odata=minimalmetadata")
                );
                if let Err(errors) = validate_against_spec(definition, &request.json()) {
                    panic!("{what}: body is not a valid {definition}: {errors:?}");
                }
            }
            None => {
                assert!(request.body.is_empty(), "{what} has a body");
                let length = request.header("content-length");
                if method == "GET" || method == "HEAD" {
                    assert_eq!(length, None, "{what}");
                } else {
                    assert_eq!(length, Some("0"), "{what}");
                }
            }
        }
    }
}
