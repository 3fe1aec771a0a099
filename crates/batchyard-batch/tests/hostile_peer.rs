//! The client against a hostile peer: each test starts a real TCP server on 127.0.0.1
//! that speaks (or fails to speak) HTTP in one bad way, byte by byte, and checks that
//! the client ends with the right error kind and a message that says what happened,
//! within a bounded time, and that list streams end.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is the failure report

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use batchyard_batch::auth::NoAuth;
use batchyard_batch::bulk::{BulkAddOptions, TaskAddFailureReason};
use batchyard_batch::models::{BatchPoolCreateOptions, BatchTaskCreateOptions};
use batchyard_batch::{BatchClient, ClientError, ClientOptions, ListOptions, RetryPolicy};
use futures::StreamExt as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// Per-attempt timeout of the clients in these tests.
const TIMEOUT: Duration = Duration::from_millis(400);
/// Longest `Retry-After` obeyed by the clients in these tests.
const MAX_RETRY_AFTER: Duration = Duration::from_millis(300);
/// Response body limit of the clients in these tests.
const MAX_BODY: u64 = 1024 * 1024;
/// Page limit of the clients in these tests.
const MAX_PAGES: u64 = 40;

/// One request as the raw server read it.
#[derive(Debug, Clone)]
struct Request {
    /// 0-based, in arrival order.
    index: u32,
    method: String,
    /// Path and query, as on the request line.
    target: String,
    /// The server's own base URL, `http://127.0.0.1:port`.
    base: String,
}

/// What the server does on a connection after reading the request.
enum Act {
    /// Writes these bytes.
    Write(Vec<u8>),
    /// Writes these bytes one at a time, pausing between them.
    Trickle(Vec<u8>, Duration),
    /// Keeps the connection open and says nothing more.
    Hang,
    /// Writes this chunk of a chunked body over and over, up to `max_bytes`.
    Endless { chunk: Vec<u8>, max_bytes: usize },
}

type Script = dyn Fn(&Request) -> Vec<Act> + Send + Sync;

/// A TCP server that answers every request with its script, then closes the connection.
struct RawServer {
    url: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl RawServer {
    async fn start(script: impl Fn(&Request) -> Vec<Act> + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let count = Arc::new(AtomicU32::new(0));
        let recorded = requests.clone();
        let base = url.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let (script, count, recorded) = (script.clone(), count.clone(), recorded.clone());
                let base = base.clone();
                tokio::spawn(async move {
                    serve_one(stream, &*script, &count, &recorded, base).await;
                });
            }
        });
        Self { url, requests }
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

async fn serve_one(
    mut stream: TcpStream,
    script: &Script,
    count: &AtomicU32,
    recorded: &Mutex<Vec<Request>>,
    base: String,
) {
    // The request head, then as many body bytes as it announces.
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.trim().parse().unwrap());
    while data.len() < head_end + length {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
    let mut words = head.split_whitespace();
    let request = Request {
        index: count.fetch_add(1, Ordering::SeqCst),
        method: words.next().unwrap().to_owned(),
        target: words.next().unwrap().to_owned(),
        base,
    };
    recorded.lock().unwrap().push(request.clone());
    for act in script(&request) {
        match act {
            Act::Write(bytes) => {
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Act::Trickle(bytes, pause) => {
                for byte in bytes {
                    if stream.write_all(&[byte]).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(pause).await;
                }
            }
            Act::Hang => {
                // Until the client gives up and closes its end.
                let _ = stream.read(&mut buf).await;
                tokio::time::sleep(Duration::from_secs(30)).await;
                return;
            }
            Act::Endless { chunk, max_bytes } => {
                let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
                framed.extend_from_slice(&chunk);
                framed.extend_from_slice(b"\r\n");
                let mut sent = 0;
                while sent < max_bytes {
                    if stream.write_all(&framed).await.is_err() {
                        return;
                    }
                    sent += chunk.len();
                }
                return;
            }
        }
    }
    let _ = stream.shutdown().await;
}

/// A complete HTTP/1.1 response; `Content-Length` is added unless `headers` has one.
fn http(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nconnection: close\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if !headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        out.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

const JSON: (&str, &str) = ("content-type", "application/json;odata=minimalmetadata");

fn json_200(body: &serde_json::Value) -> Vec<Act> {
    vec![Act::Write(http(
        "200 OK",
        &[JSON],
        body.to_string().as_bytes(),
    ))]
}

fn options(max_attempts: u32) -> ClientOptions {
    ClientOptions {
        retry: RetryPolicy {
            max_attempts,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            max_retry_after: MAX_RETRY_AFTER,
        },
        request_timeout: TIMEOUT,
        connect_timeout: Duration::from_secs(1),
        max_response_bytes: MAX_BODY,
        max_list_pages: MAX_PAGES,
        ..ClientOptions::default()
    }
}

fn client(server: &RawServer, max_attempts: u32) -> BatchClient {
    BatchClient::new(&server.url, Arc::new(NoAuth), options(max_attempts)).unwrap()
}

/// Runs `work`, failing the test if it has not finished within `limit`; returns its
/// output and how long it took, on tokio's clock.
async fn within<F: Future>(limit: Duration, work: F) -> (F::Output, Duration) {
    let started = Instant::now();
    match tokio::time::timeout(limit, work).await {
        Ok(out) => (out, started.elapsed()),
        Err(_) => panic!("the client had not finished after {limit:?}"),
    }
}

/// Checks that a call that timed out `attempts` times took exactly that many timeouts plus
/// the backoffs between them, each at most `min(5 ms, 1 ms * 2^(n-1))` (see `options`).
/// The tests that call this run on a paused clock, which tokio moves only to the next
/// timer once every task waits: a duration is then the sum of the waits the client chose,
/// not of the machine's load.
fn assert_took_timeouts(took: Duration, attempts: u32) {
    let least = TIMEOUT * attempts;
    let backoffs: Duration = (1..attempts)
        .map(|n| Duration::from_millis((1u64 << (n - 1)).min(5)))
        .sum();
    assert!(
        took >= least && took <= least + backoffs,
        "took {took:?}; {attempts} timeouts of {TIMEOUT:?} and their backoffs take \
         {least:?} to {:?}",
        least + backoffs
    );
}

fn assert_contains(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{part:?} missing from: {text}");
    }
}

// ---- bodies that are not what they claim ----

#[tokio::test]
async fn invalid_json_with_200_is_a_decode_error_that_quotes_the_body() {
    let server = RawServer::start(|_| {
        vec![Act::Write(http(
            "200 OK",
            &[JSON],
            br#"{"id": "p1", "state": "active",,}"#,
        ))]
    })
    .await;
    let (result, _) = within(Duration::from_secs(2), client(&server, 3).get_pool("p1")).await;
    let error = result.unwrap_err();
    assert!(matches!(error, ClientError::Decode { .. }), "{error:?}");
    assert_contains(
        &error.to_string(),
        &[
            "not the expected JSON",
            "application/json;odata=minimalmetadata",
            r#"{\"id\": \"p1\""#,
            "client-request-id",
        ],
    );
    assert_eq!(server.count(), 1, "a malformed answer is not retried");
}

#[tokio::test]
async fn json_of_the_wrong_shape_is_a_decode_error() {
    let server = RawServer::start(|_| json_200(&serde_json::json!({"value": "not a list"}))).await;
    let results: Vec<_> = client(&server, 3)
        .list_pools(&ListOptions::default())
        .collect()
        .await;
    assert_eq!(results.len(), 1);
    let error = results[0].as_ref().unwrap_err();
    assert!(matches!(error, ClientError::Decode { .. }), "{error:?}");
    assert_contains(&error.to_string(), &["invalid type", "not a list"]);
}

#[tokio::test]
async fn html_with_200_is_a_decode_error_naming_the_content_type() {
    let page = b"<html><body><h1>Sign in to the proxy</h1></body></html>";
    let server = RawServer::start(move |_| {
        vec![Act::Write(http(
            "200 OK",
            &[("content-type", "text/html; charset=utf-8")],
            page,
        ))]
    })
    .await;
    let (result, _) = within(Duration::from_secs(2), client(&server, 3).get_job("j1")).await;
    let error = result.unwrap_err();
    assert!(matches!(error, ClientError::Decode { .. }), "{error:?}");
    assert_contains(
        &error.to_string(),
        &["text/html", "<html><body><h1>Sign in to the proxy"],
    );
}

#[tokio::test]
async fn without_a_content_type_json_is_read_and_anything_else_is_named() {
    // Lenient on the header, strict on the body: valid JSON is accepted as such.
    let server = RawServer::start(|request| {
        let body: &[u8] = if request.index == 0 {
            br#"{"id": "j1"}"#
        } else {
            b"plain words"
        };
        vec![Act::Write(http("200 OK", &[], body))]
    })
    .await;
    let client = client(&server, 3);
    assert_eq!(
        client.get_job("j1").await.unwrap().id.as_deref(),
        Some("j1")
    );
    let error = client.get_job("j1").await.unwrap_err();
    assert!(matches!(error, ClientError::Decode { .. }), "{error:?}");
    assert_contains(&error.to_string(), &["no content type", "plain words"]);
}

#[tokio::test]
async fn an_empty_200_where_json_is_expected_says_so() {
    let server = RawServer::start(|_| vec![Act::Write(http("200 OK", &[JSON], b""))]).await;
    let (result, _) = within(Duration::from_secs(2), client(&server, 3).get_pool("p1")).await;
    let error = result.unwrap_err();
    assert!(matches!(error, ClientError::Decode { .. }), "{error:?}");
    assert_contains(
        &error.to_string(),
        &["empty body", "where JSON was expected"],
    );
    assert_eq!(server.count(), 1);
}

// ---- bodies cut short ----

#[tokio::test]
async fn a_body_shorter_than_its_content_length_then_closed_is_a_transport_error() {
    let server = RawServer::start(|_| {
        vec![Act::Write(http(
            "200 OK",
            &[JSON, ("content-length", "500")],
            br#"{"id": "p1", "st"#,
        ))]
    })
    .await;
    let (result, _) = within(Duration::from_secs(3), client(&server, 3).get_pool("p1")).await;
    let error = result.unwrap_err();
    assert!(
        matches!(error, ClientError::Transport { attempts: 3, .. }),
        "{error:?}"
    );
    assert_contains(
        &error.to_string(),
        &[
            "could not reach the Batch endpoint after 3 attempt(s)",
            "body",
        ],
    );
    assert_eq!(server.count(), 3, "a cut body is retried, within the bound");
}

#[tokio::test(start_paused = true)]
async fn a_body_shorter_than_its_content_length_on_an_open_connection_times_out() {
    let server = RawServer::start(|_| {
        vec![
            Act::Write(http(
                "200 OK",
                &[JSON, ("content-length", "500")],
                br#"{"id": "p1", "st"#,
            )),
            Act::Hang,
        ]
    })
    .await;
    let (result, took) = within(Duration::from_secs(3), client(&server, 2).get_pool("p1")).await;
    let error = result.unwrap_err();
    assert!(
        matches!(error, ClientError::Timeout { attempts: 2, timeout, .. } if timeout == TIMEOUT),
        "{error:?}"
    );
    assert_contains(&error.to_string(), &["did not answer within 400ms"]);
    assert_took_timeouts(took, 2);
}

#[tokio::test]
async fn a_chunked_body_dropped_mid_way_is_a_transport_error() {
    let server = RawServer::start(|_| {
        vec![Act::Write(
            b"HTTP/1.1 200 OK\r\nconnection: close\r\ntransfer-encoding: chunked\r\n\
              content-type: application/json\r\n\r\n10\r\n{\"value\": [{\"id\"\r\n"
                .to_vec(),
        )]
    })
    .await;
    let results: Vec<_> = within(
        Duration::from_secs(3),
        client(&server, 2)
            .list_jobs(&ListOptions::default())
            .collect::<Vec<_>>(),
    )
    .await
    .0;
    assert_eq!(results.len(), 1);
    let error = results[0].as_ref().unwrap_err();
    assert!(
        matches!(error, ClientError::Transport { attempts: 2, .. }),
        "{error:?}"
    );
    assert_eq!(server.count(), 2);
}

#[tokio::test]
async fn a_peer_that_does_not_speak_http_is_a_transport_error() {
    let server = RawServer::start(|_| {
        vec![Act::Write(
            b"SSH-2.0-OpenSSH_9.6\r\nProtocol mismatch.\r\n".to_vec(),
        )]
    })
    .await;
    let (result, _) = within(Duration::from_secs(3), client(&server, 2).get_job("j1")).await;
    let error = result.unwrap_err();
    assert!(
        matches!(error, ClientError::Transport { attempts: 2, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_endless_response_head_is_a_transport_error() {
    let server = RawServer::start(|_| {
        let mut head = b"HTTP/1.1 200 OK\r\nx-filler: ".to_vec();
        head.extend(std::iter::repeat_n(b'a', 2 * 1024 * 1024));
        vec![Act::Write(head), Act::Hang]
    })
    .await;
    let (result, _) = within(Duration::from_secs(3), client(&server, 1).get_job("j1")).await;
    let error = result.unwrap_err();
    // Refused as malformed, not left to the timeout (the peer keeps the line open).
    assert!(matches!(error, ClientError::Transport { .. }), "{error:?}");
    assert_eq!(server.count(), 1);
}

// ---- peers that are slow or silent ----

#[tokio::test(start_paused = true)]
async fn a_peer_that_accepts_and_never_answers_times_out_on_every_attempt() {
    let server = RawServer::start(|_| vec![Act::Hang]).await;
    let (result, took) = within(Duration::from_secs(3), client(&server, 3).get_pool("p1")).await;
    let error = result.unwrap_err();
    assert!(
        matches!(error, ClientError::Timeout { attempts: 3, .. }),
        "{error:?}"
    );
    assert_contains(
        &error.to_string(),
        &["did not answer within 400ms on any of 3 attempt(s)"],
    );
    assert_eq!(server.count(), 3);
    assert_took_timeouts(took, 3);
}

#[tokio::test(start_paused = true)]
async fn a_body_trickled_byte_by_byte_times_out_as_a_whole() {
    // Every byte comes well within the timeout, but the whole body would take 30 s.
    let body = serde_json::json!({"id": "p1", "displayName": "x".repeat(300)}).to_string();
    let server = RawServer::start(move |_| {
        let mut response = http("200 OK", &[JSON], body.as_bytes());
        let split = response.len() - body.len();
        let rest = response.split_off(split);
        vec![
            Act::Write(response),
            Act::Trickle(rest, Duration::from_millis(100)),
        ]
    })
    .await;
    let (result, took) = within(Duration::from_secs(3), client(&server, 2).get_pool("p1")).await;
    let error = result.unwrap_err();
    assert!(
        matches!(error, ClientError::Timeout { attempts: 2, .. }),
        "{error:?}"
    );
    assert_took_timeouts(took, 2);
}

#[tokio::test]
async fn a_response_head_trickled_byte_by_byte_times_out() {
    let server = RawServer::start(|_| {
        vec![Act::Trickle(
            http("200 OK", &[JSON], b"{}"),
            Duration::from_millis(100),
        )]
    })
    .await;
    let (result, _) = within(Duration::from_secs(3), client(&server, 2).get_job("j1")).await;
    let error = result.unwrap_err();
    assert!(
        matches!(error, ClientError::Timeout { attempts: 2, .. }),
        "{error:?}"
    );
}

// ---- bodies too large ----

#[tokio::test]
async fn a_huge_announced_body_is_refused_without_reading_it() {
    let server = RawServer::start(|_| {
        vec![
            Act::Write(http(
                "200 OK",
                &[JSON, ("content-length", "10000000000")],
                b"{\"value\": [",
            )),
            Act::Hang,
        ]
    })
    .await;
    let (result, _) = within(Duration::from_secs(3), client(&server, 3).get_pool("p1")).await;
    let error = result.unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::ResponseTooLarge {
                status: 200,
                limit: MAX_BODY,
                received: 10_000_000_000,
                ..
            }
        ),
        "{error:?}"
    );
    assert_contains(
        &error.to_string(),
        &["10000000000 bytes", "over the limit of 1048576 bytes"],
    );
    // The peer never sends the body: reading it would have ended in a timeout.
    assert_eq!(server.count(), 1, "a too-large answer is not retried");
}

#[tokio::test]
async fn a_huge_chunked_body_is_cut_at_the_limit() {
    let server = RawServer::start(|_| {
        vec![
            Act::Write(
                b"HTTP/1.1 200 OK\r\nconnection: close\r\ntransfer-encoding: chunked\r\n\
                  content-type: application/json\r\n\r\n"
                    .to_vec(),
            ),
            Act::Endless {
                chunk: vec![b' '; 64 * 1024],
                max_bytes: 512 * 1024 * 1024,
            },
        ]
    })
    .await;
    let results: Vec<_> = within(
        Duration::from_secs(5),
        client(&server, 3)
            .list_pools(&ListOptions::default())
            .collect::<Vec<_>>(),
    )
    .await
    .0;
    assert_eq!(results.len(), 1);
    match results[0].as_ref().unwrap_err() {
        ClientError::ResponseTooLarge {
            limit, received, ..
        } => {
            assert_eq!(*limit, MAX_BODY);
            assert!(*received > MAX_BODY && *received <= MAX_BODY + 64 * 1024);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn a_huge_error_body_is_refused_too() {
    let server = RawServer::start(|_| {
        let body = vec![b'x'; 2 * 1024 * 1024];
        vec![Act::Write(http(
            "503 Service Unavailable",
            &[("content-type", "text/plain")],
            &body,
        ))]
    })
    .await;
    let (result, _) = within(Duration::from_secs(3), client(&server, 3).get_job("j1")).await;
    let error = result.unwrap_err();
    assert!(
        matches!(error, ClientError::ResponseTooLarge { status: 503, .. }),
        "{error:?}"
    );
}

// ---- error answers that are not Batch errors ----

#[tokio::test]
async fn an_error_body_that_is_not_json_becomes_the_message() {
    let server = RawServer::start(|request| {
        if request.index == 0 {
            vec![Act::Write(http(
                "404 Not Found",
                &[("content-type", "text/html")],
                b"<h1>Not Found</h1>",
            ))]
        } else {
            // A long text error: kept to its first 500 characters.
            let body = format!("Bad Gateway {}", "y".repeat(5000));
            vec![Act::Write(http(
                "502 Bad Gateway",
                &[("content-type", "text/plain")],
                body.as_bytes(),
            ))]
        }
    })
    .await;
    let client = client(&server, 2);
    let error = client.get_job("j1").await.unwrap_err();
    let batch = error.batch_error().unwrap();
    assert_eq!((batch.status, batch.code.as_deref()), (404, None));
    assert_eq!(batch.message.as_deref(), Some("<h1>Not Found</h1>"));
    assert!(error.is_not_found());
    assert_contains(
        &error.to_string(),
        &["Batch answered 404", "<h1>Not Found</h1>"],
    );
    assert_eq!(server.count(), 1);

    let error = client.get_job("j1").await.unwrap_err();
    let batch = error.batch_error().unwrap();
    assert_eq!((batch.status, batch.attempts), (502, 2));
    let message = batch.message.as_deref().unwrap();
    assert!(message.starts_with("Bad Gateway yyy"), "{message}");
    assert_eq!(message.chars().count(), 500);
    assert_eq!(server.count(), 3);
}

// ---- Retry-After out of range ----

/// 503 with `Retry-After: value`, then success; returns the pause the client made.
async fn pause_after(value: &'static str) -> Duration {
    let server = RawServer::start(move |request| {
        if request.index == 0 {
            vec![Act::Write(http(
                "503 Service Unavailable",
                &[JSON, ("retry-after", value)],
                br#"{"code": "ServerBusy", "message": {"value": "busy"}}"#,
            ))]
        } else {
            json_200(&serde_json::json!({"id": "j1"}))
        }
    })
    .await;
    let started = Instant::now();
    let (result, _) = within(Duration::from_secs(2), client(&server, 2).get_job("j1")).await;
    assert_eq!(result.unwrap().id.as_deref(), Some("j1"), "{value}");
    assert_eq!(server.count(), 2, "{value}");
    started.elapsed()
}

#[tokio::test(start_paused = true)]
async fn absurd_retry_after_values_are_clamped_or_ignored() {
    // Too large: waited for exactly the configured maximum, not years.
    for value in [
        "999999999",
        "18446744073709551615",
        "Fri, 31 Dec 9999 23:59:59 GMT",
    ] {
        let pause = pause_after(value).await;
        assert_eq!(pause, MAX_RETRY_AFTER, "Retry-After {value}");
    }
    // Negative, overflowing, fractional or not a number: not a usable value, so the
    // ordinary backoff applies: after the first attempt, at most its 1 ms base.
    for value in [
        "-5",
        "-99999999999999999999",
        "99999999999999999999999",
        "1.5",
        "soon",
        "",
    ] {
        let pause = pause_after(value).await;
        assert!(
            pause <= Duration::from_millis(1),
            "Retry-After {value:?}: paused {pause:?}"
        );
    }
}

// ---- paging that does not end ----

fn page(ids: &[&str], next: Option<String>) -> serde_json::Value {
    let mut page = serde_json::json!({
        "value": ids.iter().map(|id| serde_json::json!({"id": id})).collect::<Vec<_>>()
    });
    if let Some(next) = next {
        page["odata.nextLink"] = next.into();
    }
    page
}

#[tokio::test]
async fn a_next_link_to_the_same_page_ends_the_list() {
    // The next link is exactly the URL just requested.
    let server = RawServer::start(|request| {
        json_200(&page(
            &["p1"],
            Some(format!("{}{}", request.base, request.target)),
        ))
    })
    .await;
    let (results, _) = within(
        Duration::from_secs(3),
        client(&server, 1)
            .list_pools(&ListOptions::default())
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(results.len(), 2, "{results:?}");
    assert_eq!(results[0].as_ref().unwrap().id.as_deref(), Some("p1"));
    let error = results[1].as_ref().unwrap_err();
    assert!(
        matches!(error, ClientError::Paging { pages: 1, .. }),
        "{error:?}"
    );
    assert_contains(
        &error.to_string(),
        &[
            "stopped after 1 page(s)",
            "leads back to a page already read",
            "cycle",
        ],
    );
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn next_links_cycling_among_pages_end_the_list() {
    // Page a -> b -> c -> a -> ..., with relative links, as the service writes them.
    let server = RawServer::start(|request| {
        let (id, next) = if request.target.contains("skiptoken=b") {
            ("from-b", "c")
        } else if request.target.contains("skiptoken=c") {
            ("from-c", "a")
        } else {
            ("from-a", "b")
        };
        let api = "api-version=2025-06-01.21.0";
        json_200(&page(&[id], Some(format!("/jobs?{api}&$skiptoken={next}"))))
    })
    .await;
    let (results, _) = within(
        Duration::from_secs(3),
        client(&server, 1)
            .list_jobs(&ListOptions::default())
            .collect::<Vec<_>>(),
    )
    .await;
    let ids: Vec<_> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|j| j.id.clone().unwrap())
        .collect();
    assert_eq!(ids, ["from-a", "from-b", "from-c", "from-a"]);
    let error = results.last().unwrap().as_ref().unwrap_err();
    assert!(
        matches!(error, ClientError::Paging { pages: 4, .. }),
        "{error:?}"
    );
    assert_contains(&error.to_string(), &["skiptoken=b", "cycle"]);
    // The first page (no skiptoken) and a, b, c: the link back to b is not followed.
    assert_eq!(server.count(), 4);
}

#[tokio::test]
async fn endless_distinct_next_links_stop_at_the_page_limit() {
    // Every page empty, every link new: only a page count can end this.
    let server = RawServer::start(|request| {
        json_200(&page(
            &[],
            Some(format!("/pools?$skiptoken={}", request.index + 1)),
        ))
    })
    .await;
    let (results, _) = within(
        Duration::from_secs(5),
        client(&server, 1)
            .list_pools(&ListOptions::default())
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(results.len(), 1, "{results:?}");
    let error = results[0].as_ref().unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::Paging {
                pages: MAX_PAGES,
                ..
            }
        ),
        "{error:?}"
    );
    assert_contains(&error.to_string(), &["limit of 40 pages", "max_list_pages"]);
    assert_eq!(server.count() as u64, MAX_PAGES);
    // The client added the api-version the links left out.
    assert!(
        server.requests()[1..]
            .iter()
            .all(|r| r.target.contains("api-version=2025-06-01.21.0"))
    );
}

#[tokio::test]
async fn a_list_of_many_pages_under_the_limit_is_read_whole() {
    // The guard does not cut a legitimate long list.
    let last = MAX_PAGES as u32 - 1;
    let server = RawServer::start(move |request| {
        let id = format!("p{}", request.index);
        let next =
            (request.index < last).then(|| format!("/pools?$skiptoken={}", request.index + 1));
        json_200(&page(&[&id], next))
    })
    .await;
    let results: Vec<_> = client(&server, 1)
        .list_pools(&ListOptions::default())
        .collect()
        .await;
    assert_eq!(results.len() as u64, MAX_PAGES);
    assert!(results.iter().all(Result::is_ok));
}

#[tokio::test]
async fn a_next_link_to_another_host_is_refused_and_that_host_never_called() {
    let elsewhere = RawServer::start(|_| json_200(&page(&["stolen"], None))).await;
    let other = elsewhere.url.clone();
    let server = RawServer::start(move |_| {
        json_200(&page(&["p1"], Some(format!("{other}/pools?$skiptoken=2"))))
    })
    .await;
    let results: Vec<_> = client(&server, 1)
        .list_pools(&ListOptions::default())
        .collect()
        .await;
    assert_eq!(results.len(), 2);
    let error = results[1].as_ref().unwrap_err();
    assert!(matches!(error, ClientError::InvalidUrl(_)), "{error:?}");
    assert_contains(&error.to_string(), &["leaves the endpoint"]);
    assert_eq!(elsewhere.count(), 0);
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let elsewhere = RawServer::start(|_| json_200(&serde_json::json!({"id": "j1"}))).await;
    let other = elsewhere.url.clone();
    let server = RawServer::start(move |request| {
        let location = format!("{other}{}", request.target);
        vec![Act::Write(http(
            "307 Temporary Redirect",
            &[("location", &location)],
            b"",
        ))]
    })
    .await;
    let client = client(&server, 3);
    let error = client.get_job("j1").await.unwrap_err();
    assert_eq!(error.batch_error().unwrap().status, 307, "{error:?}");
    // A create carries a body (perhaps registry passwords): never re-sent elsewhere.
    let pool = BatchPoolCreateOptions {
        id: "p1".into(),
        vm_size: "standard_d2s_v3".into(),
        ..Default::default()
    };
    let error = client.create_pool(&pool).await.unwrap_err();
    assert_eq!(error.batch_error().unwrap().status, 307, "{error:?}");
    assert_eq!(server.count(), 2, "a redirect is not retried");
    assert_eq!(elsewhere.count(), 0);
}

// ---- bulk add against a hostile peer ----

fn tasks(n: usize) -> impl futures::Stream<Item = BatchTaskCreateOptions> + Send {
    futures::stream::iter((0..n).map(|i| BatchTaskCreateOptions {
        id: format!("t{i:03}"),
        command_line: "true".into(),
        ..Default::default()
    }))
}

#[tokio::test]
async fn a_bulk_add_answered_with_garbage_reports_every_task_failed() {
    let server = RawServer::start(|_| {
        vec![Act::Write(http(
            "200 OK",
            &[("content-type", "text/html")],
            b"<html>maintenance</html>",
        ))]
    })
    .await;
    let (report, _) = within(
        Duration::from_secs(3),
        client(&server, 3).add_tasks("j1", tasks(250), &BulkAddOptions::default()),
    )
    .await;
    assert_eq!((report.added, report.already_present), (0, 0));
    assert_eq!(report.failed.len(), 250);
    match &report.failed[0].reason {
        TaskAddFailureReason::CallFailed(message) => {
            assert_contains(
                message,
                &["not the expected JSON", "text/html", "maintenance"],
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.count(), 3, "one call per chunk, none retried");
    assert!(server.requests().iter().all(|r| r.method == "POST"));
}

#[tokio::test]
async fn a_bulk_add_whose_answers_never_mention_the_tasks_ends() {
    // 200 with results for tasks that were never sent: the sent ones stay unknown, are
    // re-sent up to max_task_attempts, then reported.
    let server = RawServer::start(|_| {
        json_200(&serde_json::json!({"value": [
            {"taskId": "someone-else", "status": "success"}
        ]}))
    })
    .await;
    let options = BulkAddOptions {
        max_task_attempts: 3,
        ..Default::default()
    };
    let (report, _) = within(
        Duration::from_secs(5),
        client(&server, 1).add_tasks("j1", tasks(150), &options),
    )
    .await;
    assert_eq!((report.added, report.total()), (0, 150));
    assert!(
        report
            .failed
            .iter()
            .all(|f| f.reason == TaskAddFailureReason::ServerError(None))
    );
    assert_contains(
        &report.failed[0].reason.to_string(),
        &["task missing from the answer"],
    );
    assert_eq!(server.count(), 2 * 3, "two chunks, three sends each");
}

#[tokio::test(start_paused = true)]
async fn a_bulk_add_to_a_silent_peer_fails_within_the_timeouts() {
    let server = RawServer::start(|_| vec![Act::Hang]).await;
    let (report, took) = within(
        Duration::from_secs(4),
        client(&server, 2).add_tasks("j1", tasks(10), &BulkAddOptions::default()),
    )
    .await;
    assert_eq!(report.failed.len(), 10);
    assert_contains(
        &report.failed[0].reason.to_string(),
        &["the call carrying it failed", "did not answer within 400ms"],
    );
    assert_took_timeouts(took, 2);
}
