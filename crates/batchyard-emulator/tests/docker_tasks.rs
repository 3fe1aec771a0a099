//! Container tasks in a real Docker engine, with an image built from local files.
//!
//! Runs wherever `docker info` answers. With BATCHYARD_REQUIRE_DOCKER=1 a missing
//! engine or image tooling is a failure, never a skip.
#![allow(clippy::unwrap_used)] // Test helpers panic on purpose: a failure is the test failing.

mod common;

use std::io::Write as _;
use std::process::Command;
use std::time::Duration;

use common::Harness;
use serde_json::json;

const IMAGE: &str = "batchyard-emulator-test/busybox:local";

fn docker_answers() -> bool {
    Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn required() -> bool {
    std::env::var("BATCHYARD_REQUIRE_DOCKER").is_ok_and(|v| v == "1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_task_runs_in_docker() {
    if !docker_answers() {
        assert!(
            !required(),
            "BATCHYARD_REQUIRE_DOCKER=1 but no Docker engine answers `docker info`"
        );
        // Straight to the process's stderr: the test harness captures eprintln!, and a
        // skip nobody sees reads as a pass.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED container_task_runs_in_docker: no Docker engine answers `docker info` (set BATCHYARD_REQUIRE_DOCKER=1 to make this a failure)"
        );
        return;
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/docker/build-busybox-image.sh"
    );
    let built = Command::new("sh").arg(script).arg(IMAGE).output().unwrap();
    assert!(
        built.status.success(),
        "building the test image failed: {}",
        String::from_utf8_lossy(&built.stderr)
    );

    let mut h = Harness::start().await;
    h.create_pool(
        "cpool",
        1,
        2,
        json!({"virtualMachineConfiguration": {
            "imageReference": {"publisher": "microsoft-azure-batch", "offer": "ubuntu-server-container", "sku": "20-04-lts"},
            "nodeAgentSKUId": "batch.node.ubuntu 20.04",
            "containerConfiguration": {"type": "dockerCompatible", "containerImageNames": [IMAGE]}
        }}),
    )
    .await;
    h.wait_idle("cpool", 1).await;
    h.post("/jobs", json!({"id": "cj", "poolInfo": {"poolId": "cpool"}, "commonEnvironmentSettings": [{"name": "GREETING", "value": "hello"}]}))
        .await;
    let (status, body) = h
        .post(
            "/jobs/cj/addtaskcollection",
            json!({"value": [
                {"id": "in-docker", "commandLine": "/bin/sh -c \"cat /etc/marker; echo $GREETING $AZ_BATCH_TASK_ID; echo out > $AZ_BATCH_TASK_WORKING_DIR/result.txt\"",
                 "containerSettings": {"imageName": IMAGE, "containerRunOptions": "--network none"}},
                {"id": "no-image", "commandLine": "/bin/true",
                 "containerSettings": {"imageName": "batchyard-emulator-test/absent:never"}}
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for id in ["in-docker", "no-image"] {
        h.wait_for(
            &format!("/jobs/cj/tasks/{id}"),
            id,
            Duration::from_secs(60),
            |t| t["state"] == "completed",
        )
        .await;
    }
    let (_, ran) = h.get("/jobs/cj/tasks/in-docker").await;
    assert_eq!(ran["executionInfo"]["exitCode"], 0, "{ran}");
    let stdout = h
        .http
        .get(h.at("/jobs/cj/tasks/in-docker/files/stdout.txt"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The marker exists only inside the image: the command really ran in the container.
    assert_eq!(stdout, "from-image\nhello in-docker\n");
    let result = h
        .http
        .get(h.at("/jobs/cj/tasks/in-docker/files/wd/result.txt"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        result, "out\n",
        "the task directory is mounted into the container"
    );

    let (_, missing) = h.get("/jobs/cj/tasks/no-image").await;
    assert_eq!(missing["executionInfo"]["result"], "failure");
    assert_eq!(
        missing["executionInfo"]["failureInfo"]["code"], "ContainerImageNotFound",
        "{missing}"
    );
    h.shutdown().await;
}
