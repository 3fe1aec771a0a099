//! The Blob operations: one handler takes every request, finds the operation from the
//! method, the path depth and `restype`/`comp`, authenticates it and runs it against
//! the store. Operation semantics follow the Blob service REST reference
//! (<https://learn.microsoft.com/rest/api/storageservices/blob-service-rest-api>).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::BlobState;
use super::auth::{self, Access, Credentials, Level, Signed, Target};
use super::error::BlobError;
use super::store::{BlobProps, BlobRecord, ContainerRecord, Listed, Metadata};
use super::xml::{self, element};

/// Version answered when a request names none (the one current SDKs send).
const DEFAULT_VERSION: &str = "2025-11-05";

/// Listing page size when `maxresults` is absent, and its ceiling.
const MAX_RESULTS: usize = 5000;

/// The router: every path goes to [`handle`].
pub fn router(state: Arc<BlobState>) -> Router {
    Router::new()
        .fallback(handle)
        // Blob bodies stream to disk, so no in-memory ceiling applies.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// A parsed request.
struct Request {
    method: Method,
    headers: HeaderMap,
    query: Vec<(String, String)>,
    container: Option<String>,
    blob: Option<String>,
    access: Access,
}

impl Request {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
    }

    fn container(&self) -> &str {
        self.container.as_deref().unwrap_or_default()
    }

    fn blob(&self) -> &str {
        self.blob.as_deref().unwrap_or_default()
    }

    fn metadata(&self) -> Metadata {
        self.headers
            .iter()
            .filter_map(|(name, value)| {
                let key = name.as_str().strip_prefix("x-ms-meta-")?;
                Some((key.to_string(), value.to_str().ok()?.to_string()))
            })
            .collect()
    }

    /// HTTP properties from `x-ms-blob-*` headers, falling back to the standard
    /// headers where Put Blob accepts them.
    fn props(&self, standard_fallback: bool) -> BlobProps {
        let pick = |ms: &str, standard: &str| {
            self.header(ms)
                .or_else(|| standard_fallback.then(|| self.header(standard)).flatten())
                .unwrap_or_default()
                .to_string()
        };
        BlobProps {
            content_type: pick("x-ms-blob-content-type", "content-type"),
            content_encoding: pick("x-ms-blob-content-encoding", "content-encoding"),
            content_language: pick("x-ms-blob-content-language", "content-language"),
            content_disposition: pick("x-ms-blob-content-disposition", "content-disposition"),
            cache_control: pick("x-ms-blob-cache-control", "cache-control"),
            content_md5: pick("x-ms-blob-content-md5", "content-md5"),
        }
    }
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

async fn handle(
    State(state): State<Arc<BlobState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let version = headers
        .get("x-ms-version")
        .cloned()
        .unwrap_or(HeaderValue::from_static(DEFAULT_VERSION));
    let client_request_id = headers.get("x-ms-client-request-id").cloned();
    let mut response = match route(&state, peer, method, &uri, headers, body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    };
    let h = response.headers_mut();
    h.insert("x-ms-version", version);
    if !h.contains_key("x-ms-request-id") {
        h.insert(
            "x-ms-request-id",
            HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
                .unwrap_or(HeaderValue::from_static("")),
        );
    }
    if let Some(id) = client_request_id {
        h.insert("x-ms-client-request-id", id);
    }
    if let Ok(date) = HeaderValue::from_str(&httpdate::fmt_http_date(SystemTime::now())) {
        h.insert("date", date);
    }
    response
}

async fn route(
    state: &Arc<BlobState>,
    peer: SocketAddr,
    method: Method,
    uri: &Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, BlobError> {
    let path = uri.path().trim_start_matches('/');
    let (account, rest) = path.split_once('/').unwrap_or((path, ""));
    if account != state.account {
        return Err(BlobError::bad_request(
            "InvalidUri",
            format!(
                "The requested URI does not represent any resource on the server: this endpoint serves the account {}.",
                state.account
            ),
        ));
    }
    let (container, blob) = match rest.split_once('/') {
        Some((c, b)) => (c, Some(b).filter(|b| !b.is_empty())),
        None => (rest, None),
    };
    let invalid = || BlobError::bad_request("InvalidUri", "The request URI is invalid.");
    let container = Some(container)
        .filter(|c| !c.is_empty())
        .map(|c| percent_decode(c).ok_or_else(invalid))
        .transpose()?;
    let blob = blob
        .map(|b| percent_decode(b).ok_or_else(invalid))
        .transpose()?;
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let access = auth::authenticate(
        Signed {
            method: &method,
            uri,
            headers: &headers,
            query: &query,
        },
        Credentials {
            account: &state.account,
            key: &state.key,
        },
        Target {
            container: container.as_deref(),
            blob: blob.as_deref(),
        },
        Some(peer.ip()),
        SystemTime::now(),
    )?;
    let req = Request {
        method,
        headers,
        query,
        container,
        blob,
        access,
    };
    if state.read_only && !matches!(req.method, Method::GET | Method::HEAD) {
        return Err(BlobError::new(
            StatusCode::CONFLICT,
            "OperationNotAllowedInCurrentState",
            "This local storage endpoint only reads its state: start the emulator with `batchyard apply` or `batchyard run` to make changes.",
        ));
    }
    let restype = req.param("restype").unwrap_or_default().to_string();
    let comp = req.param("comp").unwrap_or_default().to_string();
    let m = req.method.clone();
    match (req.container.is_some(), req.blob.is_some()) {
        (false, _) => match (m, comp.as_str()) {
            (Method::GET, "list") => list_containers(state, req).await,
            _ => Err(unsupported()),
        },
        (true, false) if restype == "container" => match (m, comp.as_str()) {
            (Method::PUT, "") => create_container(state, req).await,
            (Method::PUT, "metadata") => set_container_metadata(state, req).await,
            (Method::GET | Method::HEAD, "" | "metadata") => container_properties(state, req).await,
            (Method::GET, "list") => list_blobs(state, req).await,
            (Method::DELETE, "") => delete_container(state, req).await,
            _ => Err(unsupported()),
        },
        (true, false) => Err(BlobError::bad_request(
            "InvalidQueryParameterValue",
            "Value for one of the query parameters specified in the request URI is invalid: restype must be container.",
        )),
        (true, true) => match (m, comp.as_str()) {
            (Method::PUT, "") => put_blob(state, req, body).await,
            (Method::PUT, "block") => put_block(state, req, body).await,
            (Method::PUT, "blocklist") => put_block_list(state, req, body).await,
            (Method::PUT, "metadata" | "properties") => update_blob(state, req, comp).await,
            (Method::GET, "blocklist") => get_block_list(state, req).await,
            (Method::GET, "") => get_blob(state, req).await,
            (Method::HEAD, "") | (Method::GET, "metadata") => blob_properties(state, req).await,
            (Method::DELETE, "") => delete_blob(state, req).await,
            _ => Err(unsupported()),
        },
    }
}

fn unsupported() -> BlobError {
    BlobError::new(
        StatusCode::BAD_REQUEST,
        "UnsupportedHttpVerb",
        "The resource doesn't support the specified HTTP verb or query parameters on this emulator.",
    )
}

/// Runs blocking store work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, BlobError> + Send + 'static,
) -> Result<T, BlobError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(BlobError::internal)?
}

fn http_date(ms: i64) -> String {
    let secs = u64::try_from(ms / 1000).unwrap_or(0);
    httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

struct Headers(Vec<(HeaderName, HeaderValue)>);

impl Headers {
    fn new() -> Self {
        Self(Vec::new())
    }

    fn set(&mut self, name: &str, value: &str) -> &mut Self {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            self.0.push((n, v));
        }
        self
    }

    fn respond(self, status: StatusCode, body: Body) -> Response {
        let mut response = Response::new(body);
        *response.status_mut() = status;
        response.headers_mut().extend(self.0);
        response
    }
}

fn metadata_headers(h: &mut Headers, metadata: &Metadata) {
    for (k, v) in metadata {
        h.set(&format!("x-ms-meta-{k}"), v);
    }
}

fn max_results(req: &Request) -> Result<usize, BlobError> {
    match req.param("maxresults") {
        None => Ok(MAX_RESULTS),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_RESULTS).contains(n))
            .ok_or_else(|| {
                BlobError::bad_request(
                    "OutOfRangeQueryParameterValue",
                    "One of the query parameters specified in the request URI is outside the permissible range: maxresults.",
                )
            }),
    }
}

fn includes(req: &Request, what: &str) -> bool {
    req.param("include")
        .is_some_and(|i| i.split(',').any(|p| p.trim() == what))
}

fn xml_response(body: String) -> Response {
    let mut h = Headers::new();
    h.set("content-type", "application/xml");
    h.respond(StatusCode::OK, Body::from(body))
}

fn metadata_xml(out: &mut String, metadata: &Metadata) {
    out.push_str("<Metadata>");
    for (k, v) in metadata {
        element(out, k, v);
    }
    out.push_str("</Metadata>");
}

// ---- containers ----

fn valid_container_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

async fn create_container(state: &Arc<BlobState>, req: Request) -> Result<Response, BlobError> {
    req.access.require(Level::Container, 'c')?;
    if !valid_container_name(req.container()) {
        return Err(BlobError::bad_request(
            "InvalidResourceName",
            "The specifed resource name contains invalid characters.",
        ));
    }
    let state = state.clone();
    let record = blocking(move || {
        state
            .store
            .create_container(req.container(), &req.metadata())
    })
    .await?;
    Ok(container_headers(&record, false).respond(StatusCode::CREATED, Body::empty()))
}

fn container_headers(record: &ContainerRecord, with_metadata: bool) -> Headers {
    let mut h = Headers::new();
    h.set("etag", &record.etag)
        .set("last-modified", &http_date(record.modified_ms));
    if with_metadata {
        metadata_headers(&mut h, &record.metadata);
        h.set("x-ms-lease-status", "unlocked")
            .set("x-ms-lease-state", "available")
            .set("x-ms-has-immutability-policy", "false")
            .set("x-ms-has-legal-hold", "false");
    }
    h
}

async fn container_properties(state: &Arc<BlobState>, req: Request) -> Result<Response, BlobError> {
    req.access.require(Level::Container, 'r')?;
    let state = state.clone();
    let record = blocking(move || state.store.container(req.container())).await?;
    Ok(container_headers(&record, true).respond(StatusCode::OK, Body::empty()))
}

async fn set_container_metadata(
    state: &Arc<BlobState>,
    req: Request,
) -> Result<Response, BlobError> {
    req.access.require(Level::Container, 'w')?;
    let state = state.clone();
    let record = blocking(move || {
        state
            .store
            .set_container_metadata(req.container(), &req.metadata())
    })
    .await?;
    Ok(container_headers(&record, false).respond(StatusCode::OK, Body::empty()))
}

async fn delete_container(state: &Arc<BlobState>, req: Request) -> Result<Response, BlobError> {
    req.access.require(Level::Container, 'd')?;
    let state = state.clone();
    blocking(move || state.store.delete_container(req.container())).await?;
    Ok(Headers::new().respond(StatusCode::ACCEPTED, Body::empty()))
}

async fn list_containers(state: &Arc<BlobState>, req: Request) -> Result<Response, BlobError> {
    req.access.require(Level::Service, 'l')?;
    let max = max_results(&req)?;
    let prefix = req.param("prefix").unwrap_or_default().to_string();
    let marker = req.param("marker").unwrap_or_default().to_string();
    let with_metadata = includes(&req, "metadata");
    let (containers, next) = {
        let state = state.clone();
        let (prefix, marker) = (prefix.clone(), marker.clone());
        blocking(move || state.store.list_containers(&prefix, &marker, max)).await?
    };
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults ServiceEndpoint=\"{}/\">",
        xml::escape(&state.endpoint)
    );
    element(&mut out, "Prefix", &prefix);
    element(&mut out, "Marker", &marker);
    if req.param("maxresults").is_some() {
        element(&mut out, "MaxResults", &max.to_string());
    }
    out.push_str("<Containers>");
    for c in containers {
        out.push_str("<Container>");
        element(&mut out, "Name", &c.name);
        out.push_str("<Properties>");
        element(&mut out, "Last-Modified", &http_date(c.modified_ms));
        element(&mut out, "Etag", &c.etag);
        out.push_str("<LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState><HasImmutabilityPolicy>false</HasImmutabilityPolicy><HasLegalHold>false</HasLegalHold></Properties>");
        if with_metadata {
            metadata_xml(&mut out, &c.metadata);
        }
        out.push_str("</Container>");
    }
    out.push_str("</Containers>");
    out.push_str("<NextMarker>");
    out.push_str(&xml::escape(next.as_deref().unwrap_or_default()));
    out.push_str("</NextMarker></EnumerationResults>");
    Ok(xml_response(out))
}

async fn list_blobs(state: &Arc<BlobState>, req: Request) -> Result<Response, BlobError> {
    req.access.require(Level::Container, 'l')?;
    let max = max_results(&req)?;
    let prefix = req.param("prefix").unwrap_or_default().to_string();
    let marker = req.param("marker").unwrap_or_default().to_string();
    let delimiter = req.param("delimiter").unwrap_or_default().to_string();
    let with_metadata = includes(&req, "metadata");
    let container = req.container().to_string();
    let (entries, next) = {
        let state = state.clone();
        let (prefix, marker, delimiter, container) = (
            prefix.clone(),
            marker.clone(),
            delimiter.clone(),
            container.clone(),
        );
        blocking(move || {
            state
                .store
                .list_blobs(&container, &prefix, &delimiter, &marker, max)
        })
        .await?
    };
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults ServiceEndpoint=\"{}/\" ContainerName=\"{}\">",
        xml::escape(&state.endpoint),
        xml::escape(&container)
    );
    element(&mut out, "Prefix", &prefix);
    element(&mut out, "Marker", &marker);
    if req.param("maxresults").is_some() {
        element(&mut out, "MaxResults", &max.to_string());
    }
    element(&mut out, "Delimiter", &delimiter);
    out.push_str("<Blobs>");
    for entry in entries {
        match entry {
            Listed::Prefix(p) => {
                out.push_str("<BlobPrefix>");
                element(&mut out, "Name", &p);
                out.push_str("</BlobPrefix>");
            }
            Listed::Blob(b) => {
                out.push_str("<Blob>");
                element(&mut out, "Name", &b.name);
                out.push_str("<Properties>");
                element(&mut out, "Creation-Time", &http_date(b.created_ms));
                element(&mut out, "Last-Modified", &http_date(b.modified_ms));
                element(&mut out, "Etag", &b.etag);
                element(&mut out, "Content-Length", &b.size.to_string());
                element(&mut out, "Content-Type", content_type(&b));
                element(&mut out, "Content-Encoding", &b.props.content_encoding);
                element(&mut out, "Content-Language", &b.props.content_language);
                element(&mut out, "Content-MD5", &b.props.content_md5);
                element(
                    &mut out,
                    "Content-Disposition",
                    &b.props.content_disposition,
                );
                element(&mut out, "Cache-Control", &b.props.cache_control);
                out.push_str("<BlobType>BlockBlob</BlobType><AccessTier>Hot</AccessTier><AccessTierInferred>true</AccessTierInferred><LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState><ServerEncrypted>true</ServerEncrypted></Properties>");
                if with_metadata {
                    metadata_xml(&mut out, &b.metadata);
                }
                out.push_str("</Blob>");
            }
        }
    }
    out.push_str("</Blobs><NextMarker>");
    out.push_str(&xml::escape(next.as_deref().unwrap_or_default()));
    out.push_str("</NextMarker></EnumerationResults>");
    Ok(xml_response(out))
}

// ---- blobs ----

fn content_type(b: &BlobRecord) -> &str {
    if b.props.content_type.is_empty() {
        "application/octet-stream"
    } else {
        &b.props.content_type
    }
}

fn etag_matches(condition: &str, etag: &str) -> bool {
    condition
        .split(',')
        .map(str::trim)
        .any(|c| c == "*" || c == etag)
}

/// Conditions of a request (`If-Match`, `If-None-Match`) plus, for a SAS that may only
/// create, that the blob must not exist yet.
fn precondition(
    req: &Request,
    create_only: bool,
) -> impl Fn(Option<&BlobRecord>) -> Result<(), BlobError> + Sync + use<> {
    let if_match = req.header("if-match").map(str::to_string);
    let if_none_match = req.header("if-none-match").map(str::to_string);
    let writing = req.method == Method::PUT || req.method == Method::DELETE;
    move |current: Option<&BlobRecord>| {
        if let Some(cond) = &if_match {
            match current {
                Some(b) if etag_matches(cond, &b.etag) => {}
                Some(_) => return Err(BlobError::condition_not_met()),
                None if writing => return Err(BlobError::blob_not_found()),
                None => {}
            }
        }
        if let (Some(cond), Some(b)) = (&if_none_match, current)
            && etag_matches(cond, &b.etag)
        {
            return Err(if cond.trim() == "*" && writing {
                BlobError::new(
                    StatusCode::CONFLICT,
                    "BlobAlreadyExists",
                    "The specified blob already exists.",
                )
            } else if writing {
                BlobError::condition_not_met()
            } else {
                BlobError::new(StatusCode::NOT_MODIFIED, "ConditionNotMet", "Not modified.")
            });
        }
        if create_only && current.is_some() {
            return Err(BlobError::permission_mismatch());
        }
        Ok(())
    }
}

/// How much of a request body is gathered in memory before it is written out: one
/// blocking write per batch instead of one per network chunk (tokio's file writes hop to
/// the blocking pool on every call, which at 16 KiB chunks cost more than the copy).
const WRITE_BATCH: usize = 4 << 20;

/// Streams a request body into a new temporary file, at most [`WRITE_BATCH`] bytes of it
/// in memory at a time.
async fn receive(state: &BlobState, body: Body) -> Result<std::path::PathBuf, BlobError> {
    let path = state.store.temp_path();
    let result = async {
        let file = Arc::new(tokio::fs::File::create(&path).await?.into_std().await);
        let mut stream = body.into_data_stream();
        let mut batch: Vec<bytes::Bytes> = Vec::new();
        let mut batched = 0;
        loop {
            let next = stream.next().await;
            let end = next.is_none();
            if let Some(chunk) = next {
                let chunk = chunk.map_err(|e| std::io::Error::other(e.to_string()))?;
                batched += chunk.len();
                batch.push(chunk);
            }
            if (end && !batch.is_empty()) || batched >= WRITE_BATCH {
                let chunks = std::mem::take(&mut batch);
                batched = 0;
                let file = file.clone();
                tokio::task::spawn_blocking(move || {
                    use std::io::Write as _;
                    let mut out = &*file;
                    chunks.iter().try_for_each(|c| out.write_all(c))
                })
                .await
                .map_err(std::io::Error::other)??;
            }
            if end {
                return Ok::<_, std::io::Error>(());
            }
        }
    }
    .await;
    match result {
        Ok(()) => Ok(path),
        Err(e) => {
            let _ = tokio::fs::remove_file(&path).await;
            Err(BlobError::bad_request(
                "IncompleteBody",
                format!("The request body is incomplete: {e}"),
            ))
        }
    }
}

fn blob_write_headers(record: &BlobRecord) -> Headers {
    let mut h = Headers::new();
    h.set("etag", &record.etag)
        .set("last-modified", &http_date(record.modified_ms))
        .set("x-ms-request-server-encrypted", "true");
    h
}

async fn put_blob(state: &Arc<BlobState>, req: Request, body: Body) -> Result<Response, BlobError> {
    let overwrite = req.access.may_overwrite()?;
    match req.header("x-ms-blob-type") {
        Some("BlockBlob") => {}
        _ => {
            return Err(BlobError::bad_request(
                "InvalidHeaderValue",
                "The value for one of the HTTP headers is not in the correct format: x-ms-blob-type must be BlockBlob (the emulator stores block blobs only).",
            ));
        }
    }
    let temp = receive(state, body).await?;
    let state = state.clone();
    let record = blocking(move || {
        let check = precondition(&req, !overwrite);
        let result = state.store.put_blob(
            req.container(),
            req.blob(),
            &temp,
            req.props(true),
            req.metadata(),
            &check,
        );
        let _ = fs_err::remove_file(&temp);
        result
    })
    .await?;
    Ok(blob_write_headers(&record).respond(StatusCode::CREATED, Body::empty()))
}

async fn put_block(
    state: &Arc<BlobState>,
    req: Request,
    body: Body,
) -> Result<Response, BlobError> {
    req.access.may_overwrite()?;
    let id = req.param("blockid").unwrap_or_default().to_string();
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD.decode(&id);
    if id.is_empty() || decoded.map_or(true, |d| d.len() > 64) {
        return Err(BlobError::bad_request(
            "InvalidQueryParameterValue",
            "Value for one of the query parameters specified in the request URI is invalid: blockid must be base64 of at most 64 bytes.",
        ));
    }
    let temp = receive(state, body).await?;
    let state = state.clone();
    blocking(move || {
        let result = state
            .store
            .put_block(req.container(), req.blob(), &id, &temp);
        let _ = fs_err::remove_file(&temp);
        result
    })
    .await?;
    let mut h = Headers::new();
    h.set("x-ms-request-server-encrypted", "true");
    Ok(h.respond(StatusCode::CREATED, Body::empty()))
}

async fn put_block_list(
    state: &Arc<BlobState>,
    req: Request,
    body: Body,
) -> Result<Response, BlobError> {
    let overwrite = req.access.may_overwrite()?;
    let bytes = axum::body::to_bytes(body, 16 * 1024 * 1024)
        .await
        .map_err(|e| BlobError::bad_request("InvalidXmlDocument", e.to_string()))?;
    let text = String::from_utf8_lossy(&bytes);
    let list = xml::parse_block_list(&text).ok_or_else(|| {
        BlobError::bad_request(
            "InvalidXmlDocument",
            "XML specified is not syntactically valid: expected <BlockList> of <Latest>, <Committed> or <Uncommitted> ids.",
        )
    })?;
    let state = state.clone();
    let record = blocking(move || {
        let check = precondition(&req, !overwrite);
        state.store.put_block_list(
            req.container(),
            req.blob(),
            &list,
            req.props(false),
            req.metadata(),
            &check,
        )
    })
    .await?;
    Ok(blob_write_headers(&record).respond(StatusCode::CREATED, Body::empty()))
}

async fn get_block_list(state: &Arc<BlobState>, req: Request) -> Result<Response, BlobError> {
    req.access.require(Level::Object, 'r')?;
    let which = req
        .param("blocklisttype")
        .unwrap_or("committed")
        .to_string();
    let state = state.clone();
    let (record, uncommitted) = blocking(move || {
        let record = state.store.blob(req.container(), req.blob()).ok();
        let uncommitted = state
            .store
            .uncommitted_blocks(req.container(), req.blob())?;
        if record.is_none() && uncommitted.is_empty() {
            return Err(BlobError::blob_not_found());
        }
        Ok((record, uncommitted))
    })
    .await?;
    let list = |out: &mut String, tag: &str, blocks: &[(String, u64)]| {
        out.push_str(&format!("<{tag}>"));
        for (id, size) in blocks {
            out.push_str("<Block>");
            element(out, "Name", id);
            element(out, "Size", &size.to_string());
            out.push_str("</Block>");
        }
        out.push_str(&format!("</{tag}>"));
    };
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
    if which == "committed" || which == "all" {
        let committed = record
            .as_ref()
            .map(|r| r.blocks.clone())
            .unwrap_or_default();
        list(&mut out, "CommittedBlocks", &committed);
    }
    if which == "uncommitted" || which == "all" {
        list(&mut out, "UncommittedBlocks", &uncommitted);
    }
    out.push_str("</BlockList>");
    let mut response = xml_response(out);
    if let Some(r) = &record {
        if let Ok(v) = HeaderValue::from_str(&r.etag) {
            response.headers_mut().insert("etag", v);
        }
        response
            .headers_mut()
            .insert("x-ms-blob-content-length", HeaderValue::from(r.size));
    }
    Ok(response)
}

fn blob_headers(b: &BlobRecord) -> Headers {
    let mut h = Headers::new();
    h.set("etag", &b.etag)
        .set("last-modified", &http_date(b.modified_ms))
        .set("x-ms-creation-time", &http_date(b.created_ms))
        .set("content-type", content_type(b))
        .set("x-ms-blob-type", "BlockBlob")
        .set("accept-ranges", "bytes")
        .set("x-ms-lease-status", "unlocked")
        .set("x-ms-lease-state", "available")
        .set("x-ms-server-encrypted", "true")
        .set("x-ms-access-tier", "Hot")
        .set("x-ms-access-tier-inferred", "true");
    for (name, value) in [
        ("content-encoding", &b.props.content_encoding),
        ("content-language", &b.props.content_language),
        ("content-disposition", &b.props.content_disposition),
        ("cache-control", &b.props.cache_control),
        ("content-md5", &b.props.content_md5),
    ] {
        if !value.is_empty() {
            h.set(name, value);
        }
    }
    if !b.blocks.is_empty() {
        h.set(
            "x-ms-blob-committed-block-count",
            &b.blocks.len().to_string(),
        );
    }
    metadata_headers(&mut h, &b.metadata);
    h
}

async fn read_blob(
    state: &Arc<BlobState>,
    req: Request,
) -> Result<(Request, BlobRecord), BlobError> {
    req.access.require(Level::Object, 'r')?;
    let state = state.clone();
    blocking(move || {
        let record = state.store.blob(req.container(), req.blob())?;
        precondition(&req, false)(Some(&record))?;
        Ok((req, record))
    })
    .await
}

async fn blob_properties(state: &Arc<BlobState>, req: Request) -> Result<Response, BlobError> {
    let (_, record) = read_blob(state, req).await?;
    let mut h = blob_headers(&record);
    h.set("content-length", &record.size.to_string());
    Ok(h.respond(StatusCode::OK, Body::empty()))
}

/// `bytes=START-END` or `bytes=START-`, as an inclusive range.
fn parse_range(text: &str) -> Option<(u64, Option<u64>)> {
    let spec = text.trim().strip_prefix("bytes=")?;
    let (start, end) = spec.split_once('-')?;
    let start = start.trim().parse().ok()?;
    let end = match end.trim() {
        "" => None,
        e => Some(e.parse().ok()?),
    };
    if end.is_some_and(|e| e < start) {
        return None;
    }
    Some((start, end))
}

async fn get_blob(state: &Arc<BlobState>, req: Request) -> Result<Response, BlobError> {
    let range_header = req
        .header("x-ms-range")
        .or_else(|| req.header("range"))
        .map(str::to_string);
    let (_, record) = read_blob(state, req).await?;
    let size = record.size;
    let (status, start, len) = match range_header.as_deref().map(|r| (r, parse_range(r))) {
        None => (StatusCode::OK, 0, size),
        // A range the service cannot parse is ignored, as HTTP allows.
        Some((_, None)) => (StatusCode::OK, 0, size),
        Some((_, Some((start, _)))) if start >= size => {
            let mut e = BlobError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                "The range specified is invalid for the current size of the resource.",
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                e.headers_mut().insert("content-range", v);
            }
            return Ok(e);
        }
        Some((_, Some((start, end)))) => {
            let end = end.map_or(size - 1, |e| e.min(size - 1));
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
    };
    let mut file = tokio::fs::File::open(state.store.data_path(&record.data)).await?;
    file.seek(std::io::SeekFrom::Start(start)).await?;
    let reader = file.take(len);
    let stream = futures::stream::unfold(reader, |mut reader| async move {
        let mut buf = vec![0u8; 256 * 1024];
        match reader.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), reader))
            }
            Err(e) => Some((Err(e), reader)),
        }
    });
    let mut h = blob_headers(&record);
    h.set("content-length", &len.to_string());
    if status == StatusCode::PARTIAL_CONTENT {
        h.set(
            "content-range",
            &format!("bytes {start}-{}/{size}", start + len - 1),
        );
    }
    Ok(h.respond(status, Body::from_stream(stream)))
}

async fn update_blob(
    state: &Arc<BlobState>,
    req: Request,
    comp: String,
) -> Result<Response, BlobError> {
    req.access.require(Level::Object, 'w')?;
    let state = state.clone();
    let record = blocking(move || {
        let check = precondition(&req, false);
        let (props, metadata) = if comp == "metadata" {
            (None, Some(req.metadata()))
        } else {
            (Some(req.props(false)), None)
        };
        state
            .store
            .update_blob(req.container(), req.blob(), props, metadata, &check)
    })
    .await?;
    let mut h = Headers::new();
    h.set("etag", &record.etag)
        .set("last-modified", &http_date(record.modified_ms));
    Ok(h.respond(StatusCode::OK, Body::empty()))
}

async fn delete_blob(state: &Arc<BlobState>, req: Request) -> Result<Response, BlobError> {
    req.access.require(Level::Object, 'd')?;
    let state = state.clone();
    blocking(move || {
        let check = precondition(&req, false);
        state.store.delete_blob(req.container(), req.blob(), &check)
    })
    .await?;
    let mut h = Headers::new();
    h.set("x-ms-delete-type-permanent", "true");
    Ok(h.respond(StatusCode::ACCEPTED, Body::empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_as_http_writes_them() {
        assert_eq!(parse_range("bytes=0-99"), Some((0, Some(99))));
        assert_eq!(parse_range("bytes=5-"), Some((5, None)));
        assert_eq!(parse_range("bytes=9-3"), None);
        assert_eq!(parse_range("items=0-1"), None);
    }

    #[test]
    fn container_names_follow_the_naming_rules() {
        assert!(valid_container_name("inputs-2"));
        assert!(!valid_container_name("In"));
        assert!(!valid_container_name("a--b"));
        assert!(!valid_container_name("-ab"));
    }

    #[test]
    fn paths_decode_percent_escapes() {
        assert_eq!(percent_decode("a%2Fb%20c").as_deref(), Some("a/b c"));
        assert_eq!(percent_decode("bad%zz"), None);
    }
}
