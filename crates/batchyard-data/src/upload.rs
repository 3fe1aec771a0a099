//! Content-addressed, incremental upload of local inputs.
//!
//! A file's blob name is its content hash, so what is already in the container is
//! exactly what need not be sent: one listing of the content prefix tells the plan how
//! many files and bytes apply will upload, and a second apply of unchanged files sends
//! nothing. Uploads run in parallel; each blob appears only when its content is complete.

use std::collections::HashSet;
use std::path::PathBuf;

use futures::StreamExt as _;

use crate::store::{BlobStore, FileStamp, StoreError};

/// How many files are sent at once. Small files are latency-bound, so this is well
/// above the core count.
pub const DEFAULT_PARALLEL: usize = 32;

/// One local file and the blob it becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// The file on this machine.
    pub path: PathBuf,
    /// Its blob name (content-addressed).
    pub blob: String,
    /// Its size in bytes.
    pub size: u64,
    /// SHA-256 of its content (checked again as it is sent).
    pub sha256: Option<String>,
    /// Its size and modification time when it was hashed, if that was long enough after
    /// its last change for them to vouch for the content: the send then checks them
    /// instead of hashing the content a second time.
    pub settled: Option<FileStamp>,
}

/// What an apply will send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadPlan {
    /// The files whose content is not in the container yet.
    pub missing: Vec<Upload>,
    /// Files already there.
    pub present: usize,
}

impl UploadPlan {
    /// Bytes to send.
    pub fn bytes(&self) -> u64 {
        self.missing.iter().map(|u| u.size).sum()
    }
}

/// Compares `wanted` with the blobs under `prefix`: a blob of the same name and size is
/// the same content (names are content hashes).
pub async fn plan(
    store: &BlobStore,
    prefix: &str,
    wanted: &[Upload],
) -> Result<UploadPlan, StoreError> {
    if wanted.is_empty() {
        return Ok(UploadPlan::default());
    }
    let listed = store.list(prefix).await?;
    let present: HashSet<(&str, u64)> = listed.iter().map(|b| (b.name.as_str(), b.size)).collect();
    let mut out = UploadPlan::default();
    let mut seen = HashSet::new();
    for u in wanted {
        if !seen.insert(u.blob.as_str()) {
            continue;
        }
        if present.contains(&(u.blob.as_str(), u.size)) {
            out.present += 1;
        } else {
            out.missing.push(u.clone());
        }
    }
    Ok(out)
}

/// Progress of an upload or download: files and bytes done so far.
pub trait Progress: Sync {
    /// One more file is done.
    fn file_done(&self, bytes: u64);
}

impl<F: Fn(u64) + Sync> Progress for F {
    fn file_done(&self, bytes: u64) {
        self(bytes);
    }
}

/// Sends every missing file, `parallel` at a time. Stops at the first failure (the
/// blobs sent so far are complete and are reused by the next apply).
pub async fn execute(
    store: &BlobStore,
    plan: &UploadPlan,
    parallel: usize,
    progress: &dyn Progress,
) -> Result<u64, StoreError> {
    if plan.missing.is_empty() {
        return Ok(0);
    }
    store.ensure_container().await?;
    let mut sends = futures::stream::iter(plan.missing.iter().map(|u| async move {
        let sent = store
            .upload_file(&u.path, &u.blob, u.sha256.as_deref(), u.settled)
            .await?;
        progress.file_done(sent);
        Ok::<u64, StoreError>(sent)
    }))
    .buffer_unordered(parallel.max(1));
    let mut total = 0;
    while let Some(r) = sends.next().await {
        total += r?;
    }
    Ok(total)
}
