//! Resource files and output files on the emulator's nodes, end to end over HTTP:
//! inputs put on the blob endpoint reach the task's working directory before it runs,
//! a missing input fails the task without running it, and outputs are uploaded per
//! upload condition and pattern.
#![allow(clippy::unwrap_used)] // Test helpers panic on purpose: a failure is the test failing.

mod common;

use std::time::{Duration, SystemTime};

use batchyard_emulator::blob::sas::service_sas;
use common::Harness;
use serde_json::{Value, json};

struct Store {
    http: reqwest::Client,
    url: String,
    account: String,
    key: String,
}

impl Store {
    fn of(h: &Harness) -> Self {
        let e = h.emulator.as_ref().unwrap();
        Self {
            http: reqwest::Client::new(),
            url: e.blob_url(),
            account: e.storage_account().to_string(),
            key: e.storage_key().to_string(),
        }
    }

    fn sas(&self, container: &str, permissions: &str) -> String {
        service_sas(
            &self.account,
            &self.key,
            container,
            None,
            permissions,
            SystemTime::now() + Duration::from_secs(3600),
        )
    }

    /// `http://.../ACCOUNT/CONTAINER?sas`.
    fn container_url(&self, container: &str, permissions: &str) -> String {
        format!(
            "{}/{container}?{}",
            self.url,
            self.sas(container, permissions)
        )
    }

    /// Creates a container through an account SAS made for the test: a service SAS
    /// never creates containers.
    async fn create(&self, container: &str) {
        let url = format!("{}/{container}?restype=container", self.url);
        let r = self
            .http
            .put(url)
            .query(&self.account_sas())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }

    fn account_sas(&self) -> Vec<(String, String)> {
        use base64::Engine as _;
        use hmac::{KeyInit, Mac};
        let (sp, ss, srt, se, sv) = ("rwdlc", "b", "sco", "2099-01-01T00:00:00Z", "2024-08-04");
        // Account SAS string-to-sign (version 2020-12-06 and later), per "Create an
        // account SAS" in the Storage REST reference.
        let text = format!("{}\n{sp}\n{ss}\n{srt}\n\n{se}\n\n\n{sv}\n\n", self.account);
        let key = base64::engine::general_purpose::STANDARD
            .decode(&self.key)
            .unwrap();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
        mac.update(text.as_bytes());
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        [
            ("sp", sp),
            ("ss", ss),
            ("srt", srt),
            ("se", se),
            ("sv", sv),
            ("sig", &sig),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    async fn put(&self, container: &str, blob: &str, data: &str) {
        let r = self
            .http
            .put(format!(
                "{}/{container}/{blob}?{}",
                self.url,
                self.sas(container, "w")
            ))
            .header("x-ms-blob-type", "BlockBlob")
            .body(data.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }

    async fn get(&self, container: &str, blob: &str) -> Option<String> {
        let r = self
            .http
            .get(format!(
                "{}/{container}/{blob}?{}",
                self.url,
                self.sas(container, "r")
            ))
            .send()
            .await
            .unwrap();
        (r.status() == 200).then_some(r.text().await.unwrap())
    }

    async fn names(&self, container: &str) -> Vec<String> {
        let r = self
            .http
            .get(format!(
                "{}/{container}?restype=container&comp=list&{}",
                self.url,
                self.sas(container, "l")
            ))
            .send()
            .await
            .unwrap();
        let text = r.text().await.unwrap();
        text.split("<Name>")
            .skip(1)
            .map(|s| s.split("</Name>").next().unwrap().to_string())
            .collect()
    }
}

async fn setup() -> (Harness, Store) {
    let h = Harness::start().await;
    h.create_pool("p", 1, 4, json!({})).await;
    h.wait_idle("p", 1).await;
    let (status, body) = h
        .post("/jobs", json!({"id": "j", "poolInfo": {"poolId": "p"}}))
        .await;
    assert_eq!(status, 201, "{body}");
    let store = Store::of(&h);
    (h, store)
}

async fn finished(h: &Harness, task: &str) -> Value {
    h.wait_for(
        &format!("/jobs/j/tasks/{task}"),
        "task completion",
        Duration::from_secs(30),
        |b| b["state"] == "completed",
    )
    .await
}

async fn add(h: &Harness, task: Value) {
    let (status, body) = h.post("/jobs/j/tasks", task).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_files_of_every_kind_arrive_before_the_task_runs() {
    let (mut h, s) = setup().await;
    s.create("inputs").await;
    s.put("inputs", "data/a.txt", "alpha").await;
    s.put("inputs", "data/sub/b.txt", "beta").await;
    s.put("inputs", "other.txt", "not downloaded").await;
    s.put("inputs", "tool.sh", "#!/bin/sh\necho tool ran\n")
        .await;
    let tool_url = format!("{}/inputs/tool.sh?{}", s.url, s.sas("inputs", "r"));
    // The command checks what it finds and exits non-zero on any difference.
    let check = [
        "test \"$(cat in/data/a.txt)\" = alpha",
        "test \"$(cat in/data/sub/b.txt)\" = beta",
        "test ! -e in/other.txt",
        "test \"$(stat -c %a bin/tool.sh)\" = 755",
        "test \"$(./bin/tool.sh)\" = \"tool ran\"",
        "test \"$(cat auto/other.txt)\" = \"not downloaded\"",
        "test \"$(stat -c %a auto/other.txt)\" = 770",
    ]
    .join(" && ");
    add(
        &h,
        json!({
            "id": "staged",
            "commandLine": format!("/bin/sh -c '{check}'"),
            "resourceFiles": [
                {"storageContainerUrl": s.container_url("inputs", "rl"), "blobPrefix": "data/", "filePath": "in"},
                {"httpUrl": tool_url, "filePath": "bin/tool.sh", "fileMode": "0755"},
                {"autoStorageContainerName": "inputs", "blobPrefix": "other", "filePath": "auto"},
            ],
        }),
    )
    .await;
    let task = finished(&h, "staged").await;
    assert_eq!(task["executionInfo"]["exitCode"], 0, "{task}");
    assert_eq!(task["executionInfo"]["result"], "success", "{task}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_resource_file_fails_the_task_before_it_runs() {
    let (mut h, s) = setup().await;
    s.create("inputs").await;
    let marker = h.dir.path().join("ran");
    let missing = format!("{}/inputs/absent.txt?{}", s.url, s.sas("inputs", "r"));
    add(
        &h,
        json!({
            "id": "missing",
            "commandLine": format!("touch {}", marker.display()),
            "resourceFiles": [{"httpUrl": missing, "filePath": "absent.txt"}],
        }),
    )
    .await;
    let task = finished(&h, "missing").await;
    let info = &task["executionInfo"];
    assert_eq!(info["result"], "failure", "{task}");
    assert_eq!(info["failureInfo"]["category"], "usererror", "{task}");
    assert_eq!(info["failureInfo"]["code"], "BlobNotFound", "{task}");
    let message = info["failureInfo"]["message"].as_str().unwrap();
    assert!(message.contains("absent.txt"), "{message}");
    assert!(
        !message.contains("sig="),
        "the SAS stays out of messages: {message}"
    );
    assert!(info.get("exitCode").is_none(), "{task}");
    assert!(!marker.exists(), "the command must not run");

    // Access denied (a SAS without read) and a container that cannot be listed.
    let denied = format!("{}/inputs/absent.txt?{}", s.url, s.sas("inputs", "w"));
    add(&h, json!({"id": "denied", "commandLine": format!("touch {}", marker.display()), "resourceFiles": [{"httpUrl": denied, "filePath": "x"}]})).await;
    let task = finished(&h, "denied").await;
    assert_eq!(
        task["executionInfo"]["failureInfo"]["code"], "BlobAccessDenied",
        "{task}"
    );
    add(&h, json!({"id": "unlisted", "commandLine": format!("touch {}", marker.display()), "resourceFiles": [{"storageContainerUrl": s.container_url("inputs", "r")}]})).await;
    let task = finished(&h, "unlisted").await;
    assert_eq!(
        task["executionInfo"]["failureInfo"]["code"], "ResourceContainerAccessDenied",
        "{task}"
    );
    add(&h, json!({"id": "remote", "commandLine": format!("touch {}", marker.display()), "resourceFiles": [{"httpUrl": "https://example.com/x", "filePath": "x"}]})).await;
    let task = finished(&h, "remote").await;
    assert_eq!(
        task["executionInfo"]["failureInfo"]["code"], "BlobDownloadMiscError",
        "{task}"
    );
    assert!(!marker.exists(), "no command ran");
    h.shutdown().await;
}

fn output(pattern: &str, container: &str, path: &str, condition: &str) -> Value {
    json!({
        "filePattern": pattern,
        "destination": {"container": {"containerUrl": container, "path": path}},
        "uploadOptions": {"uploadCondition": condition},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_upload_per_condition_and_pattern() {
    let (mut h, s) = setup().await;
    s.create("results").await;
    let url = s.container_url("results", "cw");
    for (id, exit) in [("good", 0), ("bad", 3)] {
        let script = format!(
            "mkdir -p out/sub/deep && echo a > out/a.txt && echo b > out/sub/b.txt && echo c > out/sub/deep/c.txt && echo h > out/.hidden.txt && echo l > out/sub/x.log && echo {id} && exit {exit}"
        );
        add(
            &h,
            json!({
                "id": id,
                "commandLine": format!("/bin/sh -c '{script}'"),
                "outputFiles": [
                    output("out/a.txt", &url, &format!("{id}/success/a-renamed.txt"), "taskSuccess"),
                    output("out/a.txt", &url, &format!("{id}/failure/a.txt"), "taskFailure"),
                    output("out/**/*.txt", &url, &format!("{id}/all"), "taskCompletion"),
                    output("../std*.txt", &url, &format!("{id}/logs"), "taskCompletion"),
                    output("$AZ_BATCH_TASK_WORKING_DIR/out/sub/*.log", &url, &format!("{id}/env"), "taskcompletion"),
                ],
            }),
        )
        .await;
    }
    let good = finished(&h, "good").await;
    assert_eq!(good["executionInfo"]["result"], "success", "{good}");
    let bad = finished(&h, "bad").await;
    assert_eq!(bad["executionInfo"]["exitCode"], 3, "{bad}");
    assert_eq!(
        bad["executionInfo"]["failureInfo"]["code"], "FailureExitCode",
        "{bad}"
    );
    let names = s.names("results").await;
    let expect = |id: &str, first: &str| {
        vec![
            format!("{id}/all/a.txt"),
            format!("{id}/all/sub/b.txt"),
            format!("{id}/all/sub/deep/c.txt"),
            format!("{id}/env/x.log"),
            first.to_string(),
            format!("{id}/logs/stderr.txt"),
            format!("{id}/logs/stdout.txt"),
        ]
    };
    let mut wanted = expect("bad", "bad/failure/a.txt");
    wanted.extend(expect("good", "good/success/a-renamed.txt"));
    wanted.sort();
    assert_eq!(names, wanted);
    assert_eq!(
        s.get("results", "good/success/a-renamed.txt")
            .await
            .as_deref(),
        Some("a\n")
    );
    assert_eq!(
        s.get("results", "good/logs/stdout.txt").await.as_deref(),
        Some("good\n")
    );
    assert_eq!(
        s.get("results", "bad/all/sub/deep/c.txt").await.as_deref(),
        Some("c\n")
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_upload_fails_the_task_with_the_batch_code() {
    let (mut h, s) = setup().await;
    s.create("results").await;
    add(
        &h,
        json!({
            "id": "readonly",
            "commandLine": "/bin/sh -c 'echo x > r.txt'",
            "outputFiles": [output("r.txt", &s.container_url("results", "r"), "r.txt", "taskSuccess")],
        }),
    )
    .await;
    let task = finished(&h, "readonly").await;
    let info = &task["executionInfo"];
    assert_eq!(info["exitCode"], 0, "{task}");
    assert_eq!(info["result"], "failure", "{task}");
    assert_eq!(info["failureInfo"]["category"], "usererror", "{task}");
    assert_eq!(
        info["failureInfo"]["code"], "FileUploadAccessDenied",
        "{task}"
    );
    assert!(
        !info["failureInfo"]["message"]
            .as_str()
            .unwrap()
            .contains("sig=")
    );
    add(
        &h,
        json!({
            "id": "nocontainer",
            "commandLine": "/bin/sh -c 'echo x > r.txt'",
            "outputFiles": [output("r.txt", &s.container_url("absent", "cw"), "r.txt", "taskCompletion")],
        }),
    )
    .await;
    let task = finished(&h, "nocontainer").await;
    assert_eq!(
        task["executionInfo"]["failureInfo"]["code"], "FileUploadContainerNotFound",
        "{task}"
    );
    assert!(s.names("results").await.is_empty());
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_tasks_fetch_their_resource_files_too() {
    let mut h = Harness::start().await;
    let s = Store::of(&h);
    s.create("setup").await;
    s.put("setup", "install.sh", "#!/bin/sh\nexit 0\n").await;
    let present = format!("{}/setup/install.sh?{}", s.url, s.sas("setup", "r"));
    let absent = format!("{}/setup/absent.sh?{}", s.url, s.sas("setup", "r"));
    let start_task = |url: &str| {
        json!({"startTask": {
            "commandLine": "./install.sh",
            "resourceFiles": [{"httpUrl": url, "filePath": "install.sh", "fileMode": "0700"}],
            "waitForSuccess": true,
        }})
    };
    h.create_pool("good", 1, 1, start_task(&present)).await;
    h.wait_idle("good", 1).await;
    h.create_pool("bad", 1, 1, start_task(&absent)).await;
    let nodes = h
        .wait_for(
            "/pools/bad/nodes",
            "start task failure",
            Duration::from_secs(20),
            |b| b["value"][0]["state"] == "starttaskfailed",
        )
        .await;
    let info = &nodes["value"][0]["startTaskInfo"];
    assert_eq!(info["failureInfo"]["category"], "usererror", "{info}");
    assert_eq!(info["failureInfo"]["code"], "BlobNotFound", "{info}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_failure_takes_the_file_upload_error_exit_options() {
    let (mut h, s) = setup().await;
    let (status, body) = h
        .post(
            "/jobs",
            json!({"id": "strict", "poolInfo": {"poolId": "p"}, "onTaskFailure": "performexitoptionsjobaction"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = h
        .post(
            "/jobs/strict/tasks",
            json!({
                "id": "upload",
                "commandLine": "/bin/sh -c 'echo x > r.txt'",
                "outputFiles": [output("r.txt", &s.container_url("absent", "cw"), "r.txt", "taskCompletion")],
                "exitConditions": {"fileUploadError": {"jobAction": "terminate"}, "default": {"jobAction": "none"}},
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let job = h
        .wait_for(
            "/jobs/strict",
            "job terminated",
            Duration::from_secs(30),
            |b| b["state"] == "completed" || b["state"] == "terminating",
        )
        .await;
    assert_eq!(
        job["executionInfo"]["terminateReason"], "TaskFailed",
        "{job}"
    );
    h.shutdown().await;
}
