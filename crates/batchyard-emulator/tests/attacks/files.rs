//! Task files a task made to hurt the service: a FIFO, a huge sparse file read by a
//! small range, a link to a device, a tree too big to list.

use std::time::Duration;

use serde_json::Value;

use crate::services::{KINDS, Options, Service, start};

/// Runs a shell script as a task and waits for it to succeed.
async fn task_making(service: &Service, task: &str, script: &str) {
    let (status, body) = service
        .post(
            "/jobs/j/tasks",
            serde_json::json!({"id": task, "commandLine": format!("/bin/sh -c '{script}'")}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let done = service.completed("j", task).await;
    assert_eq!(done["executionInfo"]["exitCode"], 0, "{done}");
}

async fn get_file(service: &Service, path: &str, range: Option<&str>) -> (u16, Value, Vec<u8>) {
    // Bounded: a service that blocks on the file fails the test instead of hanging it.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut request = client.get(service.at(path));
    if let Some(range) = range {
        request = request.header("ocp-range", range);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{:?}: GET {path} got no answer: {e}", service.kind));
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap().to_vec();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, json, bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifos_devices_and_huge_files_do_not_hang_or_exhaust_the_service() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let service = start(kind, &dir.path().join("state.db"), &Options::default())
            .await
            .unwrap();
        service.pool_and_job("p", "j").await;
        task_making(
            &service,
            "t",
            "mkfifo fifo && ln -s /dev/zero zero && truncate -s 64G sparse && printf tail >> sparse",
        )
        .await;
        let base = "/jobs/j/tasks/t/files/wd";
        // A FIFO: refused at once, where reading it would wait for a writer forever.
        let (status, answer, _) = get_file(&service, &format!("{base}/fifo"), None).await;
        assert_eq!(status, 400, "{kind:?}: {answer}");
        // A link to a device leads outside the task directory.
        let (status, answer, _) = get_file(&service, &format!("{base}/zero"), None).await;
        assert_eq!(status, 400, "{kind:?}: {answer}");
        // The last bytes of a 64 GiB sparse file, read with a seek.
        let (status, answer, bytes) = get_file(
            &service,
            &format!("{base}/sparse"),
            Some("bytes=68719476736-68719476739"),
        )
        .await;
        assert_eq!(
            (status, bytes.as_slice()),
            (200, b"tail".as_slice()),
            "{kind:?}: {answer}"
        );
        let (status, _, bytes) =
            get_file(&service, &format!("{base}/sparse"), Some("bytes=10-19")).await;
        assert_eq!((status, bytes), (200, vec![0; 10]), "{kind:?}");
        // The service still answers while and after all that.
        assert_eq!(service.get("/pools/p").await.0, 200);
        service.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recursive_listings_are_bounded() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let service = start(kind, &dir.path().join("state.db"), &Options::default())
            .await
            .unwrap();
        service.pool_and_job("p", "j").await;
        // 12,000 files, and a directory chain 40 levels deep with a link loop.
        task_making(
            &service,
            "t",
            "mkdir many && cd many && seq 12000 | xargs touch && cd .. && mkdir -p $(seq -s / 40) && ln -s .. 1/loop",
        )
        .await;
        let (status, listing) = service.get("/jobs/j/tasks/t/files?recursive=true").await;
        assert_eq!(status, 200, "{kind:?}: {listing}");
        let names: Vec<&str> = listing["value"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f["name"].as_str())
            .collect();
        assert_eq!(
            names.len(),
            10_000,
            "{kind:?}: the listing stops at its bound"
        );
        let deepest = names.iter().map(|n| n.matches('/').count()).max().unwrap();
        assert!(deepest <= 33, "{kind:?}: descended {deepest} levels");
        assert!(
            names.iter().all(|n| !n.contains("loop/")),
            "{kind:?}: a link is listed, not followed"
        );
        service.stop().await;
    }
}
