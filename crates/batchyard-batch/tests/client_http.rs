//! The client over real HTTP against a scripted server started by each test: the exact
//! requests sent (method, path, query, headers, body) and what the caller gets back.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is the failure report

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use batchyard_batch::auth::{
    EntraIdAuth, NamedCredential, NoAuth, SharedKeyCredential, string_to_sign,
};
use batchyard_batch::bulk::{BulkAddOptions, TaskAddFailureReason};
use batchyard_batch::models::*;
use batchyard_batch::{BatchClient, ClientError, CreateOutcome, ListOptions};
use common::{Recorded, Reply, ScriptedServer, fast_options};
use futures::TryStreamExt as _;
use serde_json::json;

const API: &str = "api-version=2025-06-01.21.0";

fn client(server: &ScriptedServer, attempts: u32) -> BatchClient {
    BatchClient::new(&server.url, Arc::new(NoAuth), fast_options(attempts)).unwrap()
}

/// The headers every request must carry.
fn assert_standard_headers(request: &Recorded) {
    let id = request.header("client-request-id").unwrap();
    assert!(
        uuid::Uuid::parse_str(id).is_ok(),
        "client-request-id {id:?} is not a GUID"
    );
    assert_eq!(request.header("return-client-request-id"), Some("true"));
    let date = request.header("ocp-date").unwrap();
    assert!(httpdate::parse_http_date(date).is_ok(), "ocp-date {date:?}");
    if request.body.is_empty() {
        assert_eq!(request.header("content-type"), None);
    } else {
        assert_eq!(
            request.header("content-type"),
            Some("application/json; odata=minimalmetadata")
        );
        assert_eq!(
            request.header("content-length"),
            Some(request.body.len().to_string().as_str())
        );
    }
}

fn task_ids(request: &Recorded) -> Vec<String> {
    let group: BatchTaskGroup = serde_json::from_slice(&request.body).unwrap();
    group.values.into_iter().map(|t| t.id).collect()
}

fn task(id: &str) -> BatchTaskCreateOptions {
    BatchTaskCreateOptions {
        id: id.into(),
        command_line: format!("echo {id}"),
        ..Default::default()
    }
}

#[tokio::test]
async fn list_follows_next_links_over_several_pages() {
    let server = ScriptedServer::start().await;
    let pool = |id: &str| json!({"id": id, "state": "active"});
    server.push(Reply::ok(json!({
        "value": [pool("p1"), pool("p2")],
        "odata.nextLink": format!("{}/pools?{API}&$skiptoken=page2", server.url),
    })));
    // A relative next link without api-version: the client adds it.
    server.push(Reply::ok(
        json!({"value": [pool("p3")], "odata.nextLink": "/pools?$skiptoken=page3"}),
    ));
    server.push(Reply::ok(json!({"value": [pool("p4")]})));

    let options = ListOptions {
        filter: Some("state eq 'active'".into()),
        select: Some("id,state".into()),
        max_results: Some(2),
        ..Default::default()
    };
    let pools: Vec<BatchPool> = client(&server, 1)
        .list_pools(&options)
        .try_collect()
        .await
        .unwrap();
    let ids: Vec<_> = pools.iter().map(|p| p.id.clone().unwrap()).collect();
    assert_eq!(ids, ["p1", "p2", "p3", "p4"]);

    let requests = server.requests();
    let seen: Vec<_> = requests
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str(), r.query.clone().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            (
                "GET",
                "/pools",
                format!("{API}&$filter=state%20eq%20%27active%27&$select=id%2Cstate&maxresults=2")
            ),
            ("GET", "/pools", format!("{API}&$skiptoken=page2")),
            ("GET", "/pools", format!("$skiptoken=page3&{API}")),
        ]
    );
    for request in &requests {
        assert_standard_headers(request);
        assert!(request.body.is_empty());
        assert_eq!(request.header("authorization"), None);
    }
    let ids: std::collections::HashSet<_> = requests
        .iter()
        .map(|r| r.header("client-request-id").unwrap())
        .collect();
    assert_eq!(
        ids.len(),
        3,
        "each page is its own call with its own client-request-id"
    );
}

#[tokio::test]
async fn a_next_link_to_another_host_is_refused() {
    let server = ScriptedServer::start().await;
    server.push(Reply::ok(
        json!({"value": [{"id": "j1"}], "odata.nextLink": "https://elsewhere.example/jobs?x=1"}),
    ));
    let results: Vec<_> = futures::StreamExt::collect::<Vec<_>>(
        client(&server, 1).list_jobs(&ListOptions::default()),
    )
    .await;
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].as_ref().unwrap().id.as_deref(), Some("j1"));
    assert!(matches!(results[1], Err(ClientError::InvalidUrl(_))));
    assert_eq!(server.requests().len(), 1);
}

// The clock is paused: tokio moves it only to the next timer when every task waits, so the
// gaps between requests are exactly the waits the client chose, whatever the machine's load.
#[tokio::test(start_paused = true)]
async fn throttling_is_retried_with_backoff_and_retry_after() {
    let server = ScriptedServer::start().await;
    server.push(Reply::error(503, "ServerBusy", "The server is busy."));
    server.push(Reply::error(429, "TooManyRequests", "Slow down.").with_header("retry-after", "1"));
    server.push(Reply::ok(json!({"id": "p1", "vmSize": "standard_d2s_v3"})));

    let pool = client(&server, 4).get_pool("p1").await.unwrap();
    assert_eq!(pool.id.as_deref(), Some("p1"));

    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    for request in &requests {
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("GET", "/pools/p1")
        );
        assert_eq!(request.query.as_deref(), Some(API));
        assert_standard_headers(request);
    }
    let ids: Vec<_> = requests
        .iter()
        .map(|r| r.header("client-request-id").unwrap())
        .collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "retries keep the client-request-id: {ids:?}"
    );
    // 503 without Retry-After: a backoff of at most the 1 ms base (fast_options). 429 with
    // Retry-After: 1 s, exactly.
    assert!(
        requests[1].at - requests[0].at <= Duration::from_millis(1),
        "{:?}",
        requests[1].at - requests[0].at
    );
    assert_eq!(requests[2].at - requests[1].at, Duration::from_secs(1));
}

/// Attempt after attempt without `Retry-After`: each wait is at most `base * 2^(n-1)`, never
/// more than `max_delay`, and the call ends after exactly `max_attempts` requests.
#[tokio::test(start_paused = true)]
async fn backoff_doubles_up_to_its_cap_and_attempts_are_counted() {
    let server = ScriptedServer::start().await;
    const ATTEMPTS: u32 = 10;
    for _ in 0..ATTEMPTS {
        server.push(Reply::error(503, "ServerBusy", "The server is busy."));
    }
    let mut options = fast_options(ATTEMPTS);
    options.retry.base_delay = Duration::from_millis(100);
    options.retry.max_delay = Duration::from_millis(400);
    let client = BatchClient::new(&server.url, Arc::new(NoAuth), options).unwrap();
    let started = tokio::time::Instant::now();
    let error = client.get_pool("p1").await.unwrap_err();
    let batch = error.batch_error().unwrap();
    assert_eq!((batch.status, batch.attempts), (503, ATTEMPTS));

    let requests = server.requests();
    assert_eq!(requests.len(), ATTEMPTS as usize);
    assert_eq!(
        requests[0].at, started,
        "the first attempt waits for nothing"
    );
    // Caps for the waits after attempts 1, 2, 3, ...: 100, 200, then 400 ms for good.
    let caps = [100, 200, 400, 400, 400, 400, 400, 400, 400];
    let waits: Vec<Duration> = requests.windows(2).map(|w| w[1].at - w[0].at).collect();
    for (n, (wait, cap)) in waits.iter().zip(caps).enumerate() {
        assert!(
            *wait <= Duration::from_millis(cap),
            "wait after attempt {}: {wait:?}, over its {cap} ms cap (all waits: {waits:?})",
            n + 1
        );
    }
}

#[tokio::test]
async fn retries_are_bounded_and_end_in_the_typed_error() {
    let server = ScriptedServer::start().await;
    for _ in 0..3 {
        server
            .push(Reply::error(500, "InternalError", "Oops.").with_header("request-id", "req-500"));
    }
    let error = client(&server, 3).get_job("j1").await.unwrap_err();
    let batch = error.batch_error().unwrap();
    assert_eq!(
        (batch.status, batch.code.as_deref(), batch.attempts),
        (500, Some("InternalError"), 3)
    );
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn a_connection_dropped_mid_response_is_retried() {
    let server = ScriptedServer::start().await;
    server.push(Reply::DropMidBody);
    server.push(Reply::ok(
        json!({"value": [{"id": "t1", "state": "active"}]}),
    ));

    let tasks: Vec<BatchTask> = client(&server, 3)
        .list_tasks("job-1", &ListOptions::default())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].state, Some(BatchTaskState::Active));

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("GET", "/jobs/job-1/tasks")
        );
        assert_eq!(request.query.as_deref(), Some(API));
    }
    assert_eq!(
        requests[0].header("client-request-id"),
        requests[1].header("client-request-id")
    );
}

#[tokio::test]
async fn a_dropped_connection_on_every_attempt_is_a_transport_error() {
    let server = ScriptedServer::start().await;
    server.push(Reply::DropMidBody);
    server.push(Reply::DropMidBody);
    let error = client(&server, 2).get_job("j1").await.unwrap_err();
    assert!(
        matches!(error, ClientError::Transport { attempts: 2, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn service_errors_are_typed() {
    let server = ScriptedServer::start().await;
    server.push(Reply::Json(
        404,
        vec![("request-id", "8b2c-req".into())],
        Some(json!({
            "code": "PoolNotFound",
            "message": {"lang": "en-US", "value": "The specified pool does not exist.\nRequestId:8b2c-req"},
            "values": [{"key": "PoolId", "value": "nope"}]
        })),
    ));
    let error = client(&server, 3).get_pool("nope").await.unwrap_err();
    assert!(error.is_not_found());
    let batch = error.batch_error().unwrap();
    assert_eq!(batch.status, 404);
    assert_eq!(batch.code.as_deref(), Some("PoolNotFound"));
    assert_eq!(
        batch.message.as_deref(),
        Some("The specified pool does not exist.\nRequestId:8b2c-req")
    );
    assert_eq!(
        batch.values,
        vec![BatchErrorDetail {
            key: Some("PoolId".into()),
            value: Some("nope".into())
        }]
    );
    assert_eq!(batch.request_id.as_deref(), Some("8b2c-req"));
    assert_eq!(
        batch.client_request_id,
        server.requests()[0].header("client-request-id").unwrap()
    );
    assert_eq!(batch.attempts, 1);
    assert_eq!(server.requests().len(), 1, "404 is not retried");
}

#[tokio::test]
async fn a_create_retried_into_exists_is_already_exists() {
    let server = ScriptedServer::start().await;
    server.push(Reply::error(503, "ServerBusy", "busy"));
    server.push(Reply::error(
        409,
        "PoolExists",
        "The specified pool already exists.",
    ));
    server.push(Reply::error(
        409,
        "JobExists",
        "The specified job already exists.",
    ));
    server.push(Reply::status(201));
    let client = client(&server, 3);
    let pool = BatchPoolCreateOptions {
        id: "p1".into(),
        vm_size: "standard_d2s_v3".into(),
        ..Default::default()
    };
    assert_eq!(
        client.create_pool(&pool).await.unwrap(),
        CreateOutcome::AlreadyExists { after_retry: true }
    );
    let job = BatchJobCreateOptions {
        id: "j1".into(),
        pool_info: BatchPoolInfo {
            pool_id: Some("p1".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    assert_eq!(
        client.create_job(&job).await.unwrap(),
        CreateOutcome::AlreadyExists { after_retry: false }
    );
    assert_eq!(
        client.create_task("j1", &task("t1")).await.unwrap(),
        CreateOutcome::Created
    );

    let requests = server.requests();
    let seen: Vec<_> = requests
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("POST", "/pools"),
            ("POST", "/pools"),
            ("POST", "/jobs"),
            ("POST", "/jobs/j1/tasks")
        ]
    );
    assert_eq!(requests[0].body, requests[1].body);
    assert_eq!(
        requests[0].json(),
        json!({"id": "p1", "vmSize": "standard_d2s_v3"}),
        "absent optionals are not sent"
    );
    assert_eq!(
        requests[3].json(),
        json!({"id": "t1", "commandLine": "echo t1"})
    );
    for request in &requests {
        assert_standard_headers(request);
        batchyard_batch::validate_against_spec(
            match request.path.as_str() {
                "/pools" => "BatchPoolCreateOptions",
                "/jobs" => "BatchJobCreateOptions",
                _ => "BatchTaskCreateOptions",
            },
            &request.json(),
        )
        .unwrap();
    }
}

#[tokio::test]
async fn etag_if_match_and_ocp_range_are_sent() {
    let server = ScriptedServer::start().await;
    server.push(Reply::status(200));
    server.push(Reply::Json(206, vec![], None));
    server.push(
        Reply::status(200)
            .with_header("ocp-batch-file-isdirectory", "False")
            .with_header("ocp-creation-time", "Fri, 27 Nov 2026 12:00:00 GMT")
            .with_header("ocp-batch-file-mode", "0100644"),
    );
    let client = client(&server, 1);
    let update = BatchPoolUpdateOptions {
        metadata: Some(vec![]),
        ..Default::default()
    };
    client
        .patch_pool("p1", &update, Some("\"0x8D4EDFEBFADF4AB\""))
        .await
        .unwrap();
    client
        .get_task_file("j1", "t1", "wd/out put.txt", Some((0, Some(1023))))
        .await
        .unwrap();
    let props = client
        .get_task_file_properties("j1", "t1", "stdout.txt")
        .await
        .unwrap();
    assert!(!props.is_directory);
    assert_eq!(props.mode.as_deref(), Some("0100644"));

    let requests = server.requests();
    assert_eq!(
        (requests[0].method.as_str(), requests[0].path.as_str()),
        ("PATCH", "/pools/p1")
    );
    assert_eq!(
        requests[0].header("if-match"),
        Some("\"0x8D4EDFEBFADF4AB\"")
    );
    assert_eq!(requests[0].json(), json!({"metadata": []}));
    assert_eq!(
        requests[1].path,
        "/jobs/j1/tasks/t1/files/wd%2Fout%20put.txt"
    );
    assert_eq!(requests[1].header("ocp-range"), Some("bytes=0-1023"));
    assert_eq!(requests[1].header("if-match"), None);
    assert_eq!(
        (requests[2].method.as_str(), requests[2].path.as_str()),
        ("HEAD", "/jobs/j1/tasks/t1/files/stdout.txt")
    );
}

#[tokio::test]
async fn task_collection_with_mixed_results_is_settled_task_by_task() {
    let server = ScriptedServer::start().await;
    let result = |id: &str, status: &str, code: Option<&str>| {
        let mut r = json!({"taskId": id, "status": status});
        if let Some(code) = code {
            r["error"] = json!({"code": code, "message": {"lang": "en-US", "value": format!("{code} for {id}")}});
        }
        r
    };
    server.push(Reply::ok(json!({"value": [
        result("t1", "success", None),
        result("t2", "clienterror", Some("TaskExists")),
        result("t3", "clienterror", Some("InvalidPropertyValue")),
        result("t4", "servererror", Some("InternalError")),
        // t5 is missing from the answer
    ]})));
    server.push(Reply::ok(json!({"value": [
        result("t5", "clienterror", Some("TaskExists")),
        result("t4", "success", None),
    ]})));

    let tasks = futures::stream::iter(["t1", "t2", "t3", "t4", "t5"].map(task));
    let report = client(&server, 1)
        .add_tasks("job-1", tasks, &BulkAddOptions::default())
        .await;
    assert_eq!(
        (report.added, report.already_present, report.failed.len()),
        (2, 2, 1)
    );
    assert_eq!(report.failed[0].task_id, "t3");
    match &report.failed[0].reason {
        TaskAddFailureReason::Rejected(error) => {
            assert_eq!(error.code.as_deref(), Some("InvalidPropertyValue"))
        }
        other => panic!("unexpected reason {other:?}"),
    }
    assert_eq!(
        report.to_string(),
        "5 tasks: 2 added, 2 already present, 1 failed"
    );

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("POST", "/jobs/job-1/addtaskcollection")
        );
        assert_eq!(request.query.as_deref(), Some(API));
        assert_standard_headers(request);
        batchyard_batch::validate_against_spec("BatchTaskGroup", &request.json()).unwrap();
    }
    assert_eq!(task_ids(&requests[0]), ["t1", "t2", "t3", "t4", "t5"]);
    assert_eq!(task_ids(&requests[1]), ["t4", "t5"]);
    assert_eq!(
        requests[1].json(),
        json!({"value": [{"id": "t4", "commandLine": "echo t4"}, {"id": "t5", "commandLine": "echo t5"}]})
    );
}

#[tokio::test]
async fn a_413_splits_the_chunk() {
    let server = ScriptedServer::start().await;
    server.push(Reply::error(
        413,
        "RequestBodyTooLarge",
        "The request body is too large.",
    ));
    server.push(Reply::ok(json!({"value": [{"taskId": "t1", "status": "success"}, {"taskId": "t2", "status": "success"}]})));
    server.push(Reply::error(413, "RequestBodyTooLarge", "Still too large."));
    server.push(Reply::ok(
        json!({"value": [{"taskId": "t3", "status": "success"}]}),
    ));
    server.push(Reply::ok(
        json!({"value": [{"taskId": "t4", "status": "success"}]}),
    ));

    let tasks = futures::stream::iter(["t1", "t2", "t3", "t4"].map(task));
    let report = client(&server, 1)
        .add_tasks("j", tasks, &BulkAddOptions::default())
        .await;
    assert_eq!(
        (report.added, report.already_present, report.failed.len()),
        (4, 0, 0)
    );
    let bodies: Vec<_> = server.requests().iter().map(task_ids).collect();
    assert_eq!(
        bodies,
        [
            vec!["t1", "t2", "t3", "t4"],
            vec!["t1", "t2"],
            vec!["t3", "t4"],
            vec!["t3"],
            vec!["t4"]
        ]
    );
}

/// A token credential that hands out numbered tokens with a chosen lifetime.
#[derive(Debug)]
struct CountingCredential {
    calls: AtomicU32,
    lifetime: time::Duration,
}

#[async_trait]
impl TokenCredential for CountingCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        assert_eq!(scopes, ["https://batch.core.windows.net/.default"]);
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(AccessToken::new(
            format!("token-{n}"),
            time::OffsetDateTime::now_utc() + self.lifetime,
        ))
    }
}

fn entra_client(
    server: &ScriptedServer,
    lifetime: time::Duration,
) -> (BatchClient, Arc<CountingCredential>) {
    let credential = Arc::new(CountingCredential {
        calls: AtomicU32::new(0),
        lifetime,
    });
    let auth = EntraIdAuth::new(vec![NamedCredential {
        name: "test".into(),
        credential: credential.clone(),
    }]);
    (
        BatchClient::new(&server.url, Arc::new(auth), fast_options(1)).unwrap(),
        credential,
    )
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_on_401() {
    let server = ScriptedServer::start().await;
    server.push(Reply::ok(json!({"id": "j1"})));
    server.push(Reply::error(401, "AuthenticationFailed", "Token expired."));
    server.push(Reply::ok(json!({"id": "j1"})));
    let (client, credential) = entra_client(&server, time::Duration::hours(1));
    client.get_job("j1").await.unwrap();
    client.get_job("j1").await.unwrap();
    let auth: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.header("authorization").unwrap().to_owned())
        .collect();
    assert_eq!(auth, ["Bearer token-1", "Bearer token-1", "Bearer token-2"]);
    assert_eq!(credential.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_second_401_is_the_callers_error() {
    let server = ScriptedServer::start().await;
    server.push(Reply::error(401, "AuthenticationFailed", "No."));
    server.push(Reply::error(401, "AuthenticationFailed", "Still no."));
    let (client, _) = entra_client(&server, time::Duration::hours(1));
    let error = client.get_job("j1").await.unwrap_err();
    assert_eq!(error.batch_error().unwrap().status, 401);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn tokens_are_cached_until_five_minutes_before_expiry() {
    let server = ScriptedServer::start().await;
    for _ in 0..4 {
        server.push(Reply::ok(json!({"id": "j1"})));
    }
    let (long, long_calls) = entra_client(&server, time::Duration::minutes(60));
    let (short, short_calls) = entra_client(&server, time::Duration::minutes(4));
    for _ in 0..2 {
        long.get_job("j1").await.unwrap();
        short.get_job("j1").await.unwrap();
    }
    assert_eq!(long_calls.calls.load(Ordering::SeqCst), 1);
    assert_eq!(short_calls.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn shared_key_authorization_header_signs_what_was_sent() {
    let server = ScriptedServer::start().await;
    server.push(Reply::status(201));
    server.push(Reply::ok(json!({"value": []})));
    let key =
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==";
    let credential = SharedKeyCredential::new("acct", key).unwrap();
    let client =
        BatchClient::new(&server.url, Arc::new(credential.clone()), fast_options(1)).unwrap();
    let pool = BatchPoolCreateOptions {
        id: "p1".into(),
        vm_size: "standard_d2s_v3".into(),
        ..Default::default()
    };
    client.create_pool(&pool).await.unwrap();
    let options = ListOptions {
        filter: Some("id eq 'p1'".into()),
        ..Default::default()
    };
    let _: Vec<BatchPool> = client.list_pools(&options).try_collect().await.unwrap();

    let requests = server.requests();
    let post = &requests[0];
    let date = post.header("ocp-date").unwrap();
    let expected = format!(
        "POST\n\n\n{}\n\napplication/json; odata=minimalmetadata\n\n\n\n\n\n\nocp-date:{date}\n/acct/pools\napi-version:2025-06-01.21.0",
        post.body.len()
    );
    assert_eq!(
        string_to_sign(
            "acct",
            "POST",
            &post.path,
            post.query.as_deref(),
            &post.headers
        ),
        expected
    );
    assert_eq!(
        post.header("authorization").unwrap(),
        format!("SharedKey acct:{}", credential.sign(&expected))
    );

    let get = &requests[1];
    let date = get.header("ocp-date").unwrap();
    let expected = format!(
        "GET\n\n\n\n\n\n\n\n\n\n\n\nocp-date:{date}\n/acct/pools\n$filter:id eq 'p1'\napi-version:2025-06-01.21.0"
    );
    assert_eq!(
        string_to_sign("acct", "GET", &get.path, get.query.as_deref(), &get.headers),
        expected
    );
    assert_eq!(
        get.header("authorization").unwrap(),
        format!("SharedKey acct:{}", credential.sign(&expected))
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_answer_times_out_and_is_retried() {
    let server = ScriptedServer::start().await;
    server.push(Reply::Slow(Duration::from_secs(3)));
    server.push(Reply::ok(json!({"id": "j1"})));
    let mut options = fast_options(2);
    options.request_timeout = Duration::from_millis(300);
    let client = BatchClient::new(&server.url, Arc::new(NoAuth), options).unwrap();
    let started = tokio::time::Instant::now();
    client.get_job("j1").await.unwrap();
    // Gave up on the 3 s answer after the 300 ms timeout, then waited at most the 1 ms
    // backoff base: the paused clock makes both exact.
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took <= Duration::from_millis(301),
        "did not give up on the slow answer at its timeout: {took:?}"
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].header("client-request-id"),
        requests[1].header("client-request-id")
    );

    server.push(Reply::Slow(Duration::from_secs(3)));
    server.push(Reply::Slow(Duration::from_secs(3)));
    let error = client.get_job("j1").await.unwrap_err();
    assert!(
        matches!(error, ClientError::Timeout { attempts: 2, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_bulk_add_to_a_missing_job_reports_every_task() {
    let server = ScriptedServer::start().await;
    server.push(Reply::error(
        404,
        "JobNotFound",
        "The specified job does not exist.",
    ));
    let tasks = futures::stream::iter(["a", "b", "c"].map(task));
    let report = client(&server, 3)
        .add_tasks("nope", tasks, &BulkAddOptions::default())
        .await;
    assert_eq!((report.added, report.already_present), (0, 0));
    let failed: Vec<_> = report.failed.iter().map(|f| f.task_id.as_str()).collect();
    assert_eq!(failed, ["a", "b", "c"]);
    match &report.failed[0].reason {
        TaskAddFailureReason::CallFailed(message) => {
            assert!(message.contains("JobNotFound"), "{message}")
        }
        other => panic!("unexpected reason {other:?}"),
    }
    assert_eq!(server.requests().len(), 1, "a 404 is not retried");
}
