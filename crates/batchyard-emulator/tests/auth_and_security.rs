//! Shared Key, request dates, path traversal and oversized bodies, against a keyed
//! emulator driven by batchyard's own Batch client.
#![allow(clippy::unwrap_used)] // Test helpers panic on purpose: a failure is the test failing.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use batchyard_batch::auth::SharedKeyCredential;
use batchyard_batch::{BatchClient, ClientOptions, ListOptions};
use batchyard_emulator::AccountKey;
use common::{API, Harness};
use futures::TryStreamExt;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

const ACCOUNT: &str = "testacct";

fn key() -> String {
    base64::engine::general_purpose::STANDARD.encode(b"0123456789abcdef0123456789abcdef")
}

/// Sends a request signed with `credential`, dated `date`.
async fn signed(
    h: &Harness,
    credential: &SharedKeyCredential,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    date: SystemTime,
) -> (u16, Value) {
    let url = reqwest::Url::parse(&format!("{}{path}?{API}", h.url)).unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(
        "ocp-date",
        HeaderValue::from_str(&httpdate::fmt_http_date(date)).unwrap(),
    );
    let body_text = body.map(|b| b.to_string());
    if let Some(text) = &body_text {
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/json; odata=minimalmetadata"),
        );
        headers.insert(
            "content-length",
            HeaderValue::from_str(&text.len().to_string()).unwrap(),
        );
    }
    let auth = credential.authorization(method.as_str(), url.path(), url.query(), &headers);
    headers.insert("authorization", HeaderValue::from_str(&auth).unwrap());
    let mut request = h.http.request(method, url).headers(headers);
    if let Some(text) = body_text {
        request = request.body(text);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_key_client_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::start_with(dir, |c| {
        c.account = Some(AccountKey {
            name: ACCOUNT.into(),
            key: key(),
        });
    })
    .await;
    let credential = SharedKeyCredential::new(ACCOUNT, &key()).unwrap();
    let client = BatchClient::new(
        &h.url,
        Arc::new(credential.clone()),
        ClientOptions::default(),
    )
    .unwrap();

    // batchyard's own client, signing with Shared Key, does a whole round.
    let pool = serde_json::from_value(json!({
        "id": "keyed", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 1,
        "virtualMachineConfiguration": {"imageReference": {"publisher": "canonical", "offer": "x", "sku": "y"}, "nodeAgentSKUId": "batch.node.ubuntu 22.04"}
    }))
    .unwrap();
    client.create_pool(&pool).await.unwrap();
    let job = serde_json::from_value(json!({"id": "kj", "poolInfo": {"poolId": "keyed"}})).unwrap();
    client.create_job(&job).await.unwrap();
    let group = serde_json::from_value(json!({"value": [
        {"id": "a", "commandLine": "/bin/echo alpha"},
        {"id": "b", "commandLine": "/bin/echo beta"},
        {"id": "c", "commandLine": "/bin/echo gamma"}
    ]}))
    .unwrap();
    let added = client.create_task_collection("kj", &group).await.unwrap();
    assert_eq!(
        serde_json::to_value(&added).unwrap()["value"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let listed: Vec<_> = client
        .list_tasks(
            "kj",
            &ListOptions {
                max_results: Some(2),
                ..ListOptions::default()
            },
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed.len(), 3, "two pages followed with signed next links");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let task = serde_json::to_value(client.get_task("kj", "c").await.unwrap()).unwrap();
        if task["state"] == "completed" {
            assert_eq!(task["executionInfo"]["exitCode"], 0);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "task c did not complete: {task}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // No signature, a wrong key, a stale date: 403 and nothing created.
    let now = SystemTime::now();
    let new_pool = json!({"id": "intruder", "vmSize": "x"});
    let r = h
        .http
        .post(h.at("/pools"))
        .body(new_pool.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.json::<Value>().await.unwrap()["code"],
        "AuthenticationFailed"
    );
    let wrong = SharedKeyCredential::new(
        ACCOUNT,
        &base64::engine::general_purpose::STANDARD.encode(b"not the key"),
    )
    .unwrap();
    let (status, body) = signed(
        &h,
        &wrong,
        reqwest::Method::POST,
        "/pools",
        Some(new_pool.clone()),
        now,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("AuthenticationFailed"))
    );
    let stale = now - Duration::from_secs(20 * 60);
    let (status, body) = signed(
        &h,
        &credential,
        reqwest::Method::POST,
        "/pools",
        Some(new_pool.clone()),
        stale,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("AuthenticationFailed"))
    );
    assert!(body["values"].to_string().contains("15 minutes"), "{body}");
    assert!(
        !client.pool_exists("intruder").await.unwrap(),
        "refused requests change nothing"
    );
    // The same request, correctly signed and dated, is accepted.
    let (status, _) = signed(
        &h,
        &credential,
        reqwest::Method::POST,
        "/pools",
        Some(new_pool),
        now,
    )
    .await;
    assert_eq!(status, 201);

    // A file path leaving the task directory is refused; a signed, encoded `..`
    // reaches the handler intact.
    for escape in [
        "..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "wd%2F..%2F..%2Fc%2Fstdout.txt",
    ] {
        let (status, body) = signed(
            &h,
            &credential,
            reqwest::Method::GET,
            &format!("/jobs/kj/tasks/c/files/{escape}"),
            None,
            now,
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("InvalidUri")),
            "{escape}: {body}"
        );
    }
    // Node files: readable under the node root, never beyond it.
    let task = serde_json::to_value(client.get_task("kj", "c").await.unwrap()).unwrap();
    let node = task["nodeInfo"]["nodeId"].as_str().unwrap().to_string();
    let stdout = client
        .get_node_file("keyed", &node, "workitems/kj/job-1/c/stdout.txt", None)
        .await
        .unwrap();
    assert_eq!(&stdout[..], b"gamma\n");
    for escape in [
        "..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "startup%2F..%2F..%2F..%2Fkeyed",
    ] {
        let (status, body) = signed(
            &h,
            &credential,
            reqwest::Method::GET,
            &format!("/pools/keyed/nodes/{node}/files/{escape}"),
            None,
            now,
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("InvalidUri")),
            "{escape}: {body}"
        );
    }
    let (status, body) = signed(
        &h,
        &credential,
        reqwest::Method::GET,
        "/pools/keyed/nodes/no-such-node/files/startup%2Fstderr.txt",
        None,
        now,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("NodeNotFound")),
        "{body}"
    );
    let r = h
        .http
        .get(format!("{}/jobs/kj/tasks/c/files/stdout.txt?{API}", h.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "files are behind the signature too");

    // An oversized body is refused before it is read into any state.
    let big: Vec<Value> = (0..100).map(|i| json!({"id": format!("big{i}"), "commandLine": format!("/bin/echo {}", "y".repeat(11_000))})).collect();
    let (status, body) = signed(
        &h,
        &credential,
        reqwest::Method::POST,
        "/jobs/kj/addtaskcollection",
        Some(json!({"value": big})),
        now,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("RequestBodyTooLarge"))
    );
    let all: Vec<_> = client
        .list_tasks("kj", &ListOptions::default())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    h.shutdown().await;
}
