//! Task and node files: listing and reading stdout.txt, stderr.txt and the working
//! directory of a task, and anything under a node's root (the start task's
//! `startup/stderr.txt`, for example).
//!
//! A file path is relative to the task directory (or the node root) and may never leave it:
//! `..`, absolute paths and links pointing outside are refused before any file is touched.
//!
//! Tasks write these trees, so they can hold anything: only regular files are read
//! (a FIFO would block the reader forever, a device has no end), reads seek to the
//! range asked for and stream it, listings stop at a bound, and every file system
//! call runs on the blocking pool, never on the async workers that serve requests.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Component, Path as FsPath, PathBuf};

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Shared;
use super::error::{ApiError, ApiResult};
use super::odata::Params;
use super::tasks;
use crate::engine::layout::NodeLayout;

fn file_not_found() -> ApiError {
    ApiError::not_found("FileNotFound", "file")
}

fn invalid_path() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "InvalidUri",
        "The requested URI does not represent any resource on the server: the file path must stay inside the task or node directory.",
    )
}

/// The root of a node that exists in the store (404 `PoolNotFound` / `NodeNotFound`
/// otherwise, as the service answers).
fn node_root(state: &Shared, pool: &str, node: &str) -> ApiResult<PathBuf> {
    super::pools::load(state, pool)?;
    state
        .store
        .read(|c| crate::store::docs::get(c, crate::store::Table::Nodes, pool, node))?
        .ok_or_else(|| ApiError::not_found("NodeNotFound", "node"))?;
    Ok(NodeLayout::new(&state.work_dir, pool, node).root)
}

fn task_dir(state: &Shared, job: &str, task: &str) -> ApiResult<PathBuf> {
    let doc = tasks::load(state, job, task)?;
    let info = doc.get("nodeInfo").ok_or_else(file_not_found)?;
    let pool = info.get("poolId").and_then(Value::as_str).unwrap_or("");
    let node = info.get("nodeId").and_then(Value::as_str).unwrap_or("");
    // The service writes nodeInfo, but the path is built from it: anything that is
    // not an id could lead outside the node directories.
    if !crate::ids::is_valid_id(pool) || !crate::ids::is_valid_id(node) {
        return Err(file_not_found());
    }
    let task_id = doc.get("id").and_then(Value::as_str).unwrap_or(task);
    Ok(NodeLayout::new(&state.work_dir, pool, node).task_dir(job, task_id))
}

/// Resolves `relative` inside `root`, refusing anything that could leave it.
pub fn resolve(root: &FsPath, relative: &str) -> ApiResult<PathBuf> {
    if relative.contains('\0') || relative.contains('\\') {
        return Err(invalid_path());
    }
    let rel = FsPath::new(relative);
    if !rel
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(invalid_path());
    }
    let path = root.join(rel);
    // Symbolic links made by a task must not lead outside either.
    let canonical_root = std::fs::canonicalize(root).map_err(|_| file_not_found())?;
    let canonical = std::fs::canonicalize(&path).map_err(|_| file_not_found())?;
    if !canonical.starts_with(&canonical_root) {
        return Err(invalid_path());
    }
    Ok(canonical)
}

fn parse_range(text: &str, len: u64) -> Option<(u64, u64)> {
    let spec = text.trim().strip_prefix("bytes=")?;
    let (start, end) = spec.split_once('-')?;
    if len == 0 {
        return None;
    }
    let (start, end) = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().ok()?;
            (len.saturating_sub(n), len - 1)
        }
        (s, "") => (s.parse().ok()?, len - 1),
        (s, e) => (s.parse().ok()?, e.parse::<u64>().ok()?.min(len - 1)),
    };
    (start <= end && start < len).then_some((start, end))
}

fn file_headers(headers: &mut HeaderMap, meta: &std::fs::Metadata, url: &str) {
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    if let Ok(created) = meta.created().or_else(|_| meta.modified()) {
        put("ocp-creation-time", httpdate::fmt_http_date(created));
    }
    if let Ok(modified) = meta.modified() {
        put("last-modified", httpdate::fmt_http_date(modified));
    }
    put("ocp-batch-file-isdirectory", meta.is_dir().to_string());
    put("ocp-batch-file-url", url.to_string());
    put("ocp-batch-file-mode", "0100644".to_string());
    put("content-type", "application/octet-stream".to_string());
}

pub async fn get_file(
    State(state): State<Shared>,
    Path((job, task, path)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let root = task_dir(&state, &job, &task)?;
    let url = format!("{}/jobs/{job}/tasks/{task}/files/{path}", state.base_url);
    read_file(root, path, headers, url).await
}

pub async fn get_node_file(
    State(state): State<Shared>,
    Path((pool, node, path)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let root = node_root(&state, &pool, &node)?;
    let url = format!("{}/pools/{pool}/nodes/{node}/files/{path}", state.base_url);
    read_file(root, path, headers, url).await
}

/// Largest piece read at once while streaming a file.
const CHUNK: usize = 64 * 1024;

/// Most entries one listing returns; a task can make millions of files.
pub const MAX_LISTED: usize = 10_000;
/// Deepest directory a recursive listing descends into.
pub const MAX_LIST_DEPTH: usize = 32;

/// Runs file system work on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(work).await.map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "The server encountered an internal error. Please retry the request.",
        )
    })?
}

fn not_a_regular_file() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "InvalidUri",
        "The requested URI does not represent any resource on the server: only regular files can be read.",
    )
}

/// A file under `root`, whole or the `ocp-range` asked for, streamed from disk.
async fn read_file(
    root: PathBuf,
    path: String,
    headers: HeaderMap,
    url: String,
) -> ApiResult<Response> {
    let (file, meta, start, len) = blocking(move || {
        let path = resolve(&root, &path)?;
        // Non-blocking, so opening a FIFO returns at once instead of waiting for a
        // writer; not following a link swapped in after `resolve` checked the path.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(
                rustix::fs::OFlags::NONBLOCK.bits() as i32
                    | rustix::fs::OFlags::NOFOLLOW.bits() as i32,
            )
            .open(&path)
            .map_err(|_| file_not_found())?;
        // What was opened, not what the path named a moment before.
        let meta = file.metadata().map_err(|_| file_not_found())?;
        if meta.is_dir() {
            return Err(file_not_found());
        }
        if !meta.is_file() {
            return Err(not_a_regular_file());
        }
        let range = headers
            .get("ocp-range")
            .and_then(|v| v.to_str().ok())
            .map(|r| {
                parse_range(r, meta.len()).ok_or_else(|| {
                    ApiError::new(
                        StatusCode::RANGE_NOT_SATISFIABLE,
                        "InvalidRange",
                        "The range specified is invalid for the current size of the resource.",
                    )
                })
            })
            .transpose()?;
        let (start, len) = match range {
            Some((start, end)) => (start, end - start + 1),
            None => (0, meta.len()),
        };
        Ok((file, meta, start, len))
    })
    .await?;
    let mut response = Response::new(Body::from_stream(stream(file, start, len)));
    file_headers(response.headers_mut(), &meta, &url);
    if let Ok(v) = HeaderValue::from_str(&len.to_string()) {
        response.headers_mut().insert(header::CONTENT_LENGTH, v);
    }
    Ok(response)
}

/// `len` bytes of `file` from `start`, read a chunk at a time on the blocking pool:
/// memory stays at one chunk whatever the range, and a file that shrinks meanwhile
/// ends the body early (the client sees a short read) instead of hanging.
fn stream(
    file: std::fs::File,
    start: u64,
    len: u64,
) -> impl futures::Stream<Item = std::io::Result<bytes::Bytes>> {
    futures::stream::try_unfold(
        (Some(file), start, len),
        |(file, offset, left)| async move {
            let Some(mut file) = file.filter(|_| left > 0) else {
                return Ok(None);
            };
            let (file, chunk) = tokio::task::spawn_blocking(move || {
                let want = usize::try_from(left).unwrap_or(CHUNK).min(CHUNK);
                let mut chunk = vec![0; want];
                file.seek(SeekFrom::Start(offset))?;
                let got = file.read(&mut chunk)?;
                chunk.truncate(got);
                Ok::<_, std::io::Error>((file, chunk))
            })
            .await
            .map_err(std::io::Error::other)??;
            if chunk.is_empty() {
                return Ok(None);
            }
            let read = chunk.len() as u64;
            Ok(Some((
                bytes::Bytes::from(chunk),
                (Some(file), offset + read, left - read),
            )))
        },
    )
}

pub async fn delete_file(
    State(state): State<Shared>,
    Path((job, task, path)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let root = task_dir(&state, &job, &task)?;
    blocking(move || remove(&root, &path)).await
}

pub async fn delete_node_file(
    State(state): State<Shared>,
    Path((pool, node, path)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let root = node_root(&state, &pool, &node)?;
    blocking(move || remove(&root, &path)).await
}

fn remove(root: &FsPath, path: &str) -> ApiResult<Response> {
    let file = resolve(root, path)?;
    if file == std::fs::canonicalize(root).map_err(|_| file_not_found())? {
        return Err(invalid_path());
    }
    let removed = if file.is_dir() {
        fs_err::remove_dir_all(&file)
    } else {
        fs_err::remove_file(&file)
    };
    removed.map_err(|_| file_not_found())?;
    Ok(StatusCode::OK.into_response())
}

/// Lists `dir` into `out`, descending into directories (never links) when
/// `recursive`, until [`MAX_LISTED`] entries or [`MAX_LIST_DEPTH`] levels.
fn walk(
    root: &FsPath,
    dir: &FsPath,
    recursive: bool,
    depth: usize,
    base_url: &str,
    out: &mut Vec<Value>,
) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    // Read at most one entry past the bound: a directory of millions is not sorted
    // whole to list ten thousand.
    let room = MAX_LISTED.saturating_sub(out.len());
    let mut entries: Vec<_> = entries.flatten().take(room).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        if out.len() >= MAX_LISTED {
            return;
        }
        let path = entry.path();
        let Ok(rel) = path.strip_prefix(root) else {
            continue;
        };
        let name = rel.to_string_lossy().to_string();
        let Ok(meta) = entry.metadata() else { continue };
        let time = |t: std::io::Result<std::time::SystemTime>| {
            t.ok()
                .map(|t| crate::clock::format_time(t.into()))
                .unwrap_or_default()
        };
        let mut item = json!({
            "name": name,
            "url": format!("{base_url}/{name}"),
            "isDirectory": meta.is_dir(),
            "properties": {
                "creationTime": time(meta.created().or_else(|_| meta.modified())),
                "lastModified": time(meta.modified()),
                // An int64 is a string in Batch's JSON (recording: test_batch_files).
                "contentLength": if meta.is_dir() { 0 } else { meta.len() }.to_string(),
                "contentType": "application/octet-stream",
                "fileMode": if meta.is_dir() { "040755" } else { "0100644" },
            },
        });
        if meta.is_dir() {
            item["properties"]["contentLength"] = json!("0");
        }
        out.push(item);
        // The entry's own metadata: a link to a directory is listed, not followed.
        if recursive && meta.is_dir() && depth < MAX_LIST_DEPTH {
            walk(root, &path, recursive, depth + 1, base_url, out);
        }
    }
}

pub async fn list(
    State(state): State<Shared>,
    Path((job, task)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> ApiResult<Response> {
    let root = task_dir(&state, &job, &task).or_else(|e| {
        if e.code == "FileNotFound" {
            Ok(PathBuf::new())
        } else {
            Err(e)
        }
    })?;
    let base = format!("{}/jobs/{job}/tasks/{task}/files", state.base_url);
    blocking(move || Ok(listing(&root, &params, &base))).await
}

pub async fn list_node_files(
    State(state): State<Shared>,
    Path((pool, node)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> ApiResult<Response> {
    let root = node_root(&state, &pool, &node)?;
    let base = format!("{}/pools/{pool}/nodes/{node}/files", state.base_url);
    blocking(move || Ok(listing(&root, &params, &base))).await
}

/// The files under `root` (an empty root lists nothing: the task has not run yet).
fn listing(root: &FsPath, params: &Params, base: &str) -> Response {
    let recursive = params
        .get("recursive")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let mut out = Vec::new();
    if !root.as_os_str().is_empty() {
        walk(root, root, recursive, 0, base, &mut out);
    }
    let mut response =
        axum::Json(json!({"odata.metadata": super::odata::context("files"), "value": out}))
            .into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;odata=minimalmetadata"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_cannot_leave_the_task_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("task");
        std::fs::create_dir_all(root.join("wd")).unwrap();
        std::fs::write(root.join("stdout.txt"), "hi").unwrap();
        std::fs::write(dir.path().join("secret"), "x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("wd/link")).unwrap();
        assert!(resolve(&root, "stdout.txt").is_ok());
        assert_eq!(resolve(&root, "../secret").unwrap_err().code, "InvalidUri");
        assert_eq!(
            resolve(&root, "../../etc/passwd").unwrap_err().code,
            "InvalidUri"
        );
        assert_eq!(
            resolve(&root, "/etc/passwd").unwrap_err().code,
            "InvalidUri"
        );
        assert_eq!(resolve(&root, "wd/link").unwrap_err().code, "InvalidUri");
        assert_eq!(
            resolve(&root, "missing.txt").unwrap_err().code,
            "FileNotFound"
        );
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-4", 10), Some((0, 4)));
        assert_eq!(parse_range("bytes=5-", 10), Some((5, 9)));
        assert_eq!(parse_range("bytes=-3", 10), Some((7, 9)));
        assert_eq!(parse_range("bytes=8-100", 10), Some((8, 9)));
        assert_eq!(parse_range("bytes=12-20", 10), None);
        assert_eq!(parse_range("lines=1-2", 10), None);
    }
}
