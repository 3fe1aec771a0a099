//! The Batch REST client: one [`BatchClient`] per account endpoint.
//!
//! Every call:
//! - goes to `{endpoint}/{path}?api-version=2025-06-01.21.0&...`;
//! - carries a fresh `client-request-id` (a GUID, the same on every retry of the call,
//!   logged at debug level), `return-client-request-id: true`, a current `ocp-date`
//!   (re-stamped per attempt so Shared Key signatures stay fresh), and for bodies
//!   `Content-Type: application/json; odata=minimalmetadata` with an explicit
//!   `Content-Length`;
//! - is retried per [`RetryPolicy`] and bounded by a per-attempt timeout;
//! - fails with [`ClientError`], whose `Batch` case is the service's typed error.
//!
//! Idempotency: creates (`create_pool`, `create_job`, `create_task`) return
//! [`CreateOutcome::AlreadyExists`] instead of failing when the id exists, so re-running
//! them is safe; whether an existing resource matches is for the caller to decide.
//! Updates that take an `if_match` ETag fail with 412 `ConditionNotMet` when the resource
//! changed since it was read; the caller decides whether to re-read and re-apply.

mod account;
mod files;
mod jobs;
mod nodes;
mod paging;
mod pools;
mod tasks;

pub use files::FileProperties;
pub use paging::ListOptions;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, IF_MATCH};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::auth::{Authenticator, NoAuth};
use crate::error::{BatchError, ClientError};
use crate::models;
use crate::retry::{RetryPolicy, retry_after};
use crate::spec::API_VERSION;

/// The content type every Batch request body is sent with.
pub const JSON_CONTENT_TYPE: &str = "application/json; odata=minimalmetadata";

/// Settings of a [`BatchClient`]; every field has a documented default.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Retries; see [`RetryPolicy`] for the defaults.
    pub retry: RetryPolicy,
    /// Longest time one attempt may take, from sending to the last body byte.
    /// Default 60 s (the service gives itself 30 s per request).
    pub request_timeout: Duration,
    /// Longest time to establish a connection. Default 10 s.
    pub connect_timeout: Duration,
    /// The `api-version` query parameter. Default `2025-06-01.21.0`, the version the
    /// models describe.
    pub api_version: String,
    /// Largest response body read, in bytes; a longer answer (announced or actually sent)
    /// fails with [`ClientError::ResponseTooLarge`] instead of filling memory. Default
    /// 256 MiB. Task files larger than this are read by range.
    pub max_response_bytes: u64,
    /// Most pages one list call follows; a service that keeps sending `odata.nextLink`
    /// past this fails the list with [`ClientError::Paging`]. Default 100,000 (100
    /// million items at the service's 1,000 per page).
    pub max_list_pages: u64,
    /// Allow a plain `http://` endpoint on a host other than loopback. Off by
    /// default: Shared Key signatures and Entra tokens would cross the network in
    /// clear, readable and replayable by anyone on the path.
    pub allow_insecure_http: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            api_version: API_VERSION.to_owned(),
            max_response_bytes: 256 * 1024 * 1024,
            max_list_pages: 100_000,
            allow_insecure_http: false,
        }
    }
}

/// What a create call found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateOutcome {
    /// The resource was created by this call.
    Created,
    /// A resource with this id already existed (`PoolExists`, `JobExists`, `TaskExists`).
    /// `after_retry` is true when an earlier attempt of this same call may have created
    /// it (the first attempt failed in a way that left its effect unknown); false when it
    /// existed before the call. Either way its content is for the caller to compare.
    AlreadyExists {
        /// Whether the call had been retried before the service said "exists".
        after_retry: bool,
    },
}

/// A client for one Batch account endpoint (Azure, or the batchyard emulator).
///
/// Cheap to clone; clones share the connection pool and the credentials.
///
/// **Retried** (per [`ClientOptions::retry`], see [`RetryPolicy`]): every call, on 429,
/// 500, 502, 503, 504, connection errors and timeouts, honouring `Retry-After`; a 401
/// under Entra ID once with a fresh token. Every retry re-sends the same method, URL,
/// body and `client-request-id`, with a fresh `ocp-date` and signature.
///
/// **Idempotent**: reads; creates, because ids are the caller's and a repeat answers
/// "exists", which [`CreateOutcome::AlreadyExists`] reports (with `after_retry` telling
/// whether this call's own earlier attempt may have created it); patches, replaces,
/// resizes and autoscale settings, which set a state. Not idempotent at the service:
/// deletes and terminates, whose repeat after a lost answer comes back 404 or 409
/// (`PoolBeingDeleted`, `JobCompleted`, ...) and is returned as such.
///
/// **The caller decides**: whether an existing resource matches what it wanted; what a
/// 404/409 after a delete or terminate means for it; whether to re-read and re-apply
/// after a 412 `ConditionNotMet` from an `if_match` update; what to do with tasks a
/// bulk add reports as failed.
#[derive(Debug, Clone)]
pub struct BatchClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    endpoint: Url,
    auth: Arc<dyn Authenticator>,
    options: ClientOptions,
}

/// One logical call, re-sent as is on every attempt.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    method: Method,
    url: Url,
    body: Option<Bytes>,
    headers: Vec<(HeaderName, String)>,
}

/// A successful answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) attempts: u32,
    pub(crate) client_request_id: String,
}

impl BatchClient {
    /// A client for `endpoint` (e.g. `https://acct.westeurope.batch.azure.com`, or
    /// `http://127.0.0.1:8080` for the emulator) with the given authorization.
    pub fn new(
        endpoint: &str,
        auth: Arc<dyn Authenticator>,
        options: ClientOptions,
    ) -> Result<Self, ClientError> {
        let endpoint = Url::parse(endpoint)
            .map_err(|e| ClientError::InvalidUrl(format!("{endpoint:?}: {e}")))?;
        if endpoint.cannot_be_a_base() || !matches!(endpoint.scheme(), "http" | "https") {
            return Err(ClientError::InvalidUrl(format!(
                "{endpoint} is not an http(s) URL"
            )));
        }
        if endpoint.scheme() == "http" && !options.allow_insecure_http && !is_loopback(&endpoint) {
            return Err(ClientError::InvalidUrl(format!(
                "{endpoint} is plain http to a host that is not this machine: credentials would cross the network in clear. Use https, or allow it explicitly (--allow-insecure-http) on a network that is yours alone"
            )));
        }
        // No redirects: Batch never sends them, and following one would re-send the
        // request (body and credentials) to wherever the answer points.
        let http = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ClientError::InvalidUrl(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                endpoint,
                auth,
                options,
            }),
        })
    }

    /// A client without authorization, for an emulator on loopback.
    pub fn unauthenticated(endpoint: &str) -> Result<Self, ClientError> {
        Self::new(endpoint, Arc::new(NoAuth), ClientOptions::default())
    }

    /// The endpoint this client talks to.
    pub fn endpoint(&self) -> &Url {
        &self.inner.endpoint
    }

    /// The options in force.
    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// The URL of `segments` under the endpoint, each segment percent-encoded (so a file
    /// path `wd/out.txt` is one segment `wd%2Fout.txt`), with `api-version` and `query`.
    pub(crate) fn url(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Url, ClientError> {
        let mut url = self.inner.endpoint.clone();
        url.path_segments_mut()
            .map_err(|()| {
                ClientError::InvalidUrl(format!("{} cannot have a path", self.inner.endpoint))
            })?
            .pop_if_empty()
            .extend(segments);
        let mut pairs = vec![format!(
            "api-version={}",
            encode(&self.inner.options.api_version)
        )];
        pairs.extend(
            query
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k), encode(v))),
        );
        url.set_query(Some(&pairs.join("&")));
        Ok(url)
    }

    pub(crate) fn call(&self, method: Method, url: Url) -> Call {
        Call {
            method,
            url,
            body: None,
            headers: Vec::new(),
        }
    }

    pub(crate) fn call_with_body<T: Serialize>(
        &self,
        method: Method,
        url: Url,
        body: &T,
    ) -> Result<Call, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::Serialize(e.to_string()))?;
        Ok(Call {
            method,
            url,
            body: Some(Bytes::from(bytes)),
            headers: Vec::new(),
        })
    }

    /// Sends `call` and parses a JSON answer.
    pub(crate) async fn json<T: DeserializeOwned>(&self, call: Call) -> Result<T, ClientError> {
        self.execute(call).await?.decode()
    }

    /// Sends `call` and ignores the body of the answer.
    pub(crate) async fn empty(&self, call: Call) -> Result<(), ClientError> {
        self.execute(call).await.map(|_| ())
    }

    /// Sends a create; a 409 with one of `exists_codes` becomes `AlreadyExists`.
    pub(crate) async fn create(
        &self,
        call: Call,
        exists_code: &str,
    ) -> Result<CreateOutcome, ClientError> {
        match self.execute(call).await {
            Ok(_) => Ok(CreateOutcome::Created),
            Err(ClientError::Batch(e)) if e.status == 409 && e.has_code(exists_code) => {
                Ok(CreateOutcome::AlreadyExists {
                    after_retry: e.attempts > 1,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Sends `call`, retrying per the policy, until a success or a final failure.
    pub(crate) async fn execute(&self, call: Call) -> Result<Reply, ClientError> {
        let options = &self.inner.options;
        let policy = &options.retry;
        let client_request_id = uuid::Uuid::new_v4().to_string();
        let mut attempt: u32 = 0;
        let mut token_refreshed = false;
        loop {
            attempt += 1;
            let mut request = self.build(&call, &client_request_id)?;
            self.inner.auth.authorize(&mut request).await?;
            tracing::debug!(
                method = %call.method, url = %call.url, %client_request_id, attempt,
                "Batch request"
            );
            let sent = tokio::time::timeout(options.request_timeout, async {
                let response = self.inner.http.execute(request).await?;
                let status = response.status();
                let headers = response.headers().clone();
                let body = read_body(response, options.max_response_bytes).await?;
                Ok::<_, reqwest::Error>((status, headers, body))
            })
            .await;
            let sent = match sent {
                Ok(Ok((status, _, Err(received)))) => {
                    // Not retried: the same request would bring the same answer.
                    return Err(ClientError::ResponseTooLarge {
                        status: status.as_u16(),
                        limit: options.max_response_bytes,
                        received,
                        client_request_id,
                    });
                }
                Ok(Ok((status, headers, Ok(body)))) => Ok(Ok((status, headers, body))),
                Ok(Err(e)) => Ok(Err(e)),
                Err(elapsed) => Err(elapsed),
            };
            let (wait, last_failure) = match sent {
                Ok(Ok((status, headers, body))) if status.is_success() => {
                    return Ok(Reply {
                        headers,
                        body,
                        attempts: attempt,
                        client_request_id,
                    });
                }
                Ok(Ok((status, headers, body))) => {
                    let error = batch_error(status, &headers, &body, &client_request_id, attempt);
                    if status == StatusCode::UNAUTHORIZED
                        && !token_refreshed
                        && self.inner.auth.invalidate().await
                    {
                        // A token that expired early or was revoked: one more try with a
                        // fresh one, not counted as a retry.
                        token_refreshed = true;
                        attempt -= 1;
                        tracing::info!(%client_request_id, "401 from Batch; retrying with a fresh token");
                        continue;
                    }
                    if !RetryPolicy::is_retryable_status(status) || attempt >= policy.max_attempts {
                        return Err(ClientError::Batch(error));
                    }
                    (
                        policy.delay(attempt, retry_after(&headers)),
                        ClientError::Batch(error),
                    )
                }
                Ok(Err(e)) => {
                    let failure = ClientError::Transport {
                        message: error_chain(&e),
                        attempts: attempt,
                        client_request_id: client_request_id.clone(),
                    };
                    if e.is_builder() || attempt >= policy.max_attempts {
                        return Err(failure);
                    }
                    (policy.delay(attempt, None), failure)
                }
                Err(_elapsed) => {
                    let failure = ClientError::Timeout {
                        timeout: options.request_timeout,
                        attempts: attempt,
                        client_request_id: client_request_id.clone(),
                    };
                    if attempt >= policy.max_attempts {
                        return Err(failure);
                    }
                    (policy.delay(attempt, None), failure)
                }
            };
            tracing::debug!(%client_request_id, attempt, ?wait, error = %last_failure, "retrying Batch request");
            tokio::time::sleep(wait).await;
        }
    }

    fn build(&self, call: &Call, client_request_id: &str) -> Result<reqwest::Request, ClientError> {
        let mut request = reqwest::Request::new(call.method.clone(), call.url.clone());
        let headers = request.headers_mut();
        let mut put = |name: HeaderName, value: &str| -> Result<(), ClientError> {
            let value = HeaderValue::from_str(value)
                .map_err(|e| ClientError::InvalidUrl(format!("header {name}: {e}")))?;
            headers.insert(name, value);
            Ok(())
        };
        put(
            HeaderName::from_static("client-request-id"),
            client_request_id,
        )?;
        put(HeaderName::from_static("return-client-request-id"), "true")?;
        put(
            HeaderName::from_static("ocp-date"),
            &httpdate::fmt_http_date(std::time::SystemTime::now()),
        )?;
        match &call.body {
            Some(body) => {
                put(CONTENT_TYPE, JSON_CONTENT_TYPE)?;
                put(CONTENT_LENGTH, &body.len().to_string())?;
            }
            // Sent explicitly because Shared Key signs it as 0 for these methods.
            None if call.method != Method::GET && call.method != Method::HEAD => {
                put(CONTENT_LENGTH, "0")?;
            }
            None => {}
        }
        for (name, value) in &call.headers {
            put(name.clone(), value)?;
        }
        if let Some(body) = &call.body {
            *request.body_mut() = Some(reqwest::Body::from(body.clone()));
        }
        Ok(request)
    }
}

impl Reply {
    /// The body parsed as JSON; a body that is not says what it was instead.
    pub(crate) fn decode<T: DeserializeOwned>(self) -> Result<T, ClientError> {
        serde_json::from_slice(&self.body).map_err(|e| ClientError::Decode {
            message: describe_bad_body(&e, &self.headers, &self.body),
            client_request_id: self.client_request_id,
        })
    }
}

impl Call {
    /// Adds `If-Match` when an ETag is given.
    pub(crate) fn if_match(mut self, etag: Option<&str>) -> Self {
        if let Some(etag) = etag {
            self.headers.push((IF_MATCH, etag.to_owned()));
        }
        self
    }

    pub(crate) fn header(mut self, name: HeaderName, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

/// Reads a response body of at most `limit` bytes. `Err(size)` when the answer is
/// longer: `size` is the announced `Content-Length`, or the bytes read when the limit
/// was passed.
async fn read_body(
    mut response: reqwest::Response,
    limit: u64,
) -> Result<Result<Bytes, u64>, reqwest::Error> {
    if let Some(announced) = response.content_length()
        && announced > limit
    {
        return Ok(Err(announced));
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        let size = (body.len() + chunk.len()) as u64;
        if size > limit {
            return Ok(Err(size));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Ok(body.freeze()))
}

/// What was wrong with a success answer that should have been JSON: the parser's
/// complaint, the content type, and the start of the body.
fn describe_bad_body(error: &serde_json::Error, headers: &HeaderMap, body: &[u8]) -> String {
    let content_type = headers
        .get(CONTENT_TYPE)
        .map_or("no content type".to_owned(), |v| {
            format!("content type {:?}", String::from_utf8_lossy(v.as_bytes()))
        });
    if body.iter().all(u8::is_ascii_whitespace) {
        return format!(
            "the answer has an empty body ({} bytes, {content_type}) where JSON was expected",
            body.len()
        );
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    format!(
        "the answer is not the expected JSON ({error}); {} bytes, {content_type}, starting {:?}{}",
        body.len(),
        text,
        if body.len() > 200 { "..." } else { "" }
    )
}

/// The typed error of a non-success answer; a body that is not a `BatchError` still
/// gives a useful message.
fn batch_error(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    client_request_id: &str,
    attempts: u32,
) -> BatchError {
    let parsed: Option<models::BatchError> = serde_json::from_slice(body).ok();
    let (code, message, values) = match parsed {
        Some(e) => (
            e.code,
            e.message.and_then(|m| m.value),
            e.values.unwrap_or_default(),
        ),
        None => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            let message = (!text.is_empty()).then(|| text.chars().take(500).collect());
            (None, message, Vec::new())
        }
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    BatchError {
        status: status.as_u16(),
        code,
        message,
        values,
        request_id: header("request-id"),
        client_request_id: client_request_id.to_owned(),
        attempts,
    }
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Percent-encodes a query name or value: unreserved characters and `$` stay, space is
/// `%20` (not `+`, which some servers keep literally).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~$".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `localhost`, `127.0.0.0/8` or `::1`: traffic that never leaves this machine.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}
