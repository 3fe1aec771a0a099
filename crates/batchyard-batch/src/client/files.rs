//! Task and node files: list, read (whole or a byte range via `ocp-range`), properties.

use bytes::Bytes;
use futures::stream::BoxStream;
use reqwest::Method;
use reqwest::header::{CONTENT_LENGTH, HeaderMap, HeaderName, LAST_MODIFIED};

use super::{BatchClient, ListOptions};
use crate::error::ClientError;
use crate::models::BatchNodeFile;

/// What `HEAD` on a file says about it (from the `ocp-*` response headers).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileProperties {
    /// `Content-Length`: size in bytes.
    pub content_length: Option<u64>,
    /// `ocp-creation-time`.
    pub creation_time: Option<String>,
    /// `Last-Modified`.
    pub last_modified: Option<String>,
    /// `ocp-batch-file-isdirectory`.
    pub is_directory: bool,
    /// `ocp-batch-file-url`.
    pub url: Option<String>,
    /// `ocp-batch-file-mode` (Linux file mode, octal text).
    pub mode: Option<String>,
}

impl FileProperties {
    fn from_headers(headers: &HeaderMap) -> Self {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Self {
            content_length: text(CONTENT_LENGTH.as_str()).and_then(|v| v.parse().ok()),
            creation_time: text("ocp-creation-time"),
            last_modified: text(LAST_MODIFIED.as_str()),
            is_directory: text("ocp-batch-file-isdirectory")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            url: text("ocp-batch-file-url"),
            mode: text("ocp-batch-file-mode"),
        }
    }
}

impl BatchClient {
    /// `GET /jobs/{job}/tasks/{task}/files`, all pages; `recursive` lists subdirectories.
    pub fn list_task_files(
        &self,
        job_id: &str,
        task_id: &str,
        recursive: bool,
        options: &ListOptions,
    ) -> BoxStream<'static, Result<BatchNodeFile, ClientError>> {
        let mut query = options.query();
        if recursive {
            query.push(("recursive", "true".to_owned()));
        }
        self.list(self.url(&["jobs", job_id, "tasks", task_id, "files"], &query))
    }

    /// `GET /jobs/{job}/tasks/{task}/files/{path}` (e.g. `stdout.txt`). With `range`
    /// `(start, end)`, only bytes `start..=end` (`end` `None`: to the end of the file) are
    /// fetched, through the `ocp-range` header.
    pub async fn get_task_file(
        &self,
        job_id: &str,
        task_id: &str,
        file_path: &str,
        range: Option<(u64, Option<u64>)>,
    ) -> Result<Bytes, ClientError> {
        let url = self.url(&["jobs", job_id, "tasks", task_id, "files", file_path], &[])?;
        self.read_file(url, range).await
    }

    /// `HEAD /jobs/{job}/tasks/{task}/files/{path}`.
    pub async fn get_task_file_properties(
        &self,
        job_id: &str,
        task_id: &str,
        file_path: &str,
    ) -> Result<FileProperties, ClientError> {
        let url = self.url(&["jobs", job_id, "tasks", task_id, "files", file_path], &[])?;
        self.file_properties(url).await
    }

    /// `GET /pools/{pool}/nodes/{node}/files/{path}`: a file of the node, by its path from
    /// the node's root (e.g. `startup/stderr.txt`, the start task's stderr). `range` as for
    /// [`BatchClient::get_task_file`].
    pub async fn get_node_file(
        &self,
        pool_id: &str,
        node_id: &str,
        file_path: &str,
        range: Option<(u64, Option<u64>)>,
    ) -> Result<Bytes, ClientError> {
        let url = self.url(&node_file_segments(pool_id, node_id, file_path), &[])?;
        self.read_file(url, range).await
    }

    /// `HEAD /pools/{pool}/nodes/{node}/files/{path}`.
    pub async fn get_node_file_properties(
        &self,
        pool_id: &str,
        node_id: &str,
        file_path: &str,
    ) -> Result<FileProperties, ClientError> {
        let url = self.url(&node_file_segments(pool_id, node_id, file_path), &[])?;
        self.file_properties(url).await
    }

    /// A task or node file, whole or the bytes `range` names (through `ocp-range`).
    async fn read_file(
        &self,
        url: reqwest::Url,
        range: Option<(u64, Option<u64>)>,
    ) -> Result<Bytes, ClientError> {
        let mut call = self.call(Method::GET, url);
        if let Some((start, end)) = range {
            let end = end.map(|e| e.to_string()).unwrap_or_default();
            call = call.header(
                HeaderName::from_static("ocp-range"),
                format!("bytes={start}-{end}"),
            );
        }
        Ok(self.execute(call).await?.body)
    }

    /// The properties of a task or node file, from the headers of a `HEAD`.
    async fn file_properties(&self, url: reqwest::Url) -> Result<FileProperties, ClientError> {
        let reply = self.execute(self.call(Method::HEAD, url)).await?;
        Ok(FileProperties::from_headers(&reply.headers))
    }
}

/// The URL path of a node file: each directory of `file_path` is its own segment, so
/// `startup/stderr.txt` reads as the service documents it (a `/` inside one segment would
/// be sent as `%2F`).
fn node_file_segments<'a>(pool_id: &'a str, node_id: &'a str, file_path: &'a str) -> Vec<&'a str> {
    let mut segments = vec!["pools", pool_id, "nodes", node_id, "files"];
    segments.extend(file_path.split('/').filter(|s| !s.is_empty()));
    segments
}
