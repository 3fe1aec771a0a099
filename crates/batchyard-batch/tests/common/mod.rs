//! A real HTTP server for the client tests: it records every request it receives and
//! answers each with the next scripted reply.

#![allow(dead_code, clippy::unwrap_used)] // shared by several test binaries

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use batchyard_batch::{ClientOptions, RetryPolicy};
use serde_json::Value;
use tokio::time::Instant;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// When it arrived, on tokio's clock (virtual under a paused clock).
    pub at: Instant,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// What to answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A status, extra headers and an optional JSON body.
    Json(u16, Vec<(&'static str, String)>, Option<Value>),
    /// Headers announcing a body, a few bytes of it, then the connection is cut.
    DropMidBody,
    /// Waits this long before answering 200 with an empty JSON object.
    Slow(Duration),
}

impl Reply {
    pub fn ok(body: Value) -> Self {
        Reply::Json(200, vec![], Some(body))
    }

    pub fn status(status: u16) -> Self {
        Reply::Json(status, vec![], None)
    }

    /// A Batch error body as the service sends it.
    pub fn error(status: u16, code: &str, message: &str) -> Self {
        Reply::Json(
            status,
            vec![("request-id", format!("req-{code}"))],
            Some(serde_json::json!({
                "odata.metadata": "https://acct/$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element",
                "code": code,
                "message": {"lang": "en-US", "value": message},
            })),
        )
    }

    pub fn with_header(self, name: &'static str, value: &str) -> Self {
        match self {
            Reply::Json(status, mut headers, body) => {
                headers.push((name, value.to_owned()));
                Reply::Json(status, headers, body)
            }
            other => other,
        }
    }
}

#[derive(Default)]
struct Shared {
    recorded: Mutex<Vec<Recorded>>,
    script: Mutex<VecDeque<Reply>>,
}

pub struct ScriptedServer {
    pub url: String,
    shared: Arc<Shared>,
}

impl ScriptedServer {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let app = Router::new().fallback(answer).with_state(shared.clone());
        let url = serve(app).await;
        Self { url, shared }
    }

    pub fn push(&self, reply: Reply) {
        self.shared.script.lock().unwrap().push_back(reply);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.recorded.lock().unwrap().clone()
    }
}

/// Serves `app` on a free loopback port; returns its base URL.
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{addr}")
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.recorded.lock().unwrap().push(Recorded {
        method,
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers,
        body,
        at: Instant::now(),
    });
    let reply = shared.script.lock().unwrap().pop_front();
    match reply {
        Some(Reply::Json(status, headers, body)) => {
            let mut response = Response::builder().status(StatusCode::from_u16(status).unwrap());
            for (name, value) in headers {
                response = response.header(name, value);
            }
            match body {
                Some(body) => response
                    .header("content-type", "application/json;odata=minimalmetadata")
                    .body(Body::from(body.to_string()))
                    .unwrap(),
                None => response.body(Body::empty()).unwrap(),
            }
        }
        Some(Reply::DropMidBody) => {
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(Bytes::from_static(b"{\"value\":")),
                Err(std::io::Error::other("connection cut by the test server")),
            ];
            Response::builder()
                .status(200)
                .header("content-length", "100")
                .body(Body::from_stream(futures::stream::iter(chunks)))
                .unwrap()
        }
        Some(Reply::Slow(delay)) => {
            tokio::time::sleep(delay).await;
            Response::builder()
                .status(200)
                .body(Body::from("{}"))
                .unwrap()
        }
        None => Response::builder()
            .status(599)
            .body(Body::from("script exhausted"))
            .unwrap(),
    }
}

/// Client options for tests: millisecond backoff, a short timeout.
pub fn fast_options(max_attempts: u32) -> ClientOptions {
    ClientOptions {
        retry: RetryPolicy {
            max_attempts,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            max_retry_after: Duration::from_secs(5),
        },
        request_timeout: Duration::from_secs(5),
        ..ClientOptions::default()
    }
}
