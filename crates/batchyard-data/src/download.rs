//! Fetching what tasks uploaded: `outputs/JOB/TASK/...` to `DIR/TASK/...`, incrementally.

use std::path::{Path, PathBuf};

use futures::StreamExt as _;

use crate::store::{BlobEntry, BlobStore, StoreError};
use crate::upload::Progress;

/// One blob to fetch and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    /// The blob.
    pub blob: BlobEntry,
    /// The local file.
    pub dest: PathBuf,
}

/// What a download will do.
#[derive(Debug, Clone, Default)]
pub struct DownloadPlan {
    /// Blobs not yet here (or here with another size).
    pub missing: Vec<Fetch>,
    /// Blobs already here.
    pub present: usize,
}

impl DownloadPlan {
    /// Bytes to fetch.
    pub fn bytes(&self) -> u64 {
        self.missing.iter().map(|f| f.blob.size).sum()
    }
}

/// The outputs of `tasks` of `job` (every task when empty) against what `dir` holds:
/// a local file of the same size counts as fetched.
pub async fn plan(
    store: &BlobStore,
    job: &str,
    tasks: &[String],
    dir: &Path,
) -> Result<DownloadPlan, StoreError> {
    let job_prefix = format!("outputs/{job}/");
    let mut listed = Vec::new();
    if tasks.is_empty() {
        listed = store.list(&job_prefix).await?;
    } else {
        for t in tasks {
            listed.extend(store.list(&format!("{job_prefix}{t}/")).await?);
        }
    }
    let mut out = DownloadPlan::default();
    for blob in listed {
        let Some(rel) = blob.name.strip_prefix(&job_prefix) else {
            continue;
        };
        let Some(dest) = safe_join(dir, rel) else {
            tracing::warn!(blob = %blob.name, "skipping a blob whose name leaves the output folder");
            continue;
        };
        let here = std::fs::metadata(&dest).ok().map(|m| m.len());
        if here == Some(blob.size) {
            out.present += 1;
        } else {
            out.missing.push(Fetch { blob, dest });
        }
    }
    Ok(out)
}

/// Fetches every missing blob, `parallel` at a time.
pub async fn execute(
    store: &BlobStore,
    plan: &DownloadPlan,
    parallel: usize,
    progress: &dyn Progress,
) -> Result<u64, StoreError> {
    let mut gets = futures::stream::iter(plan.missing.iter().map(|f| async move {
        let got = store.download(&f.blob.name, &f.dest).await?;
        progress.file_done(got);
        Ok::<u64, StoreError>(got)
    }))
    .buffer_unordered(parallel.max(1));
    let mut total = 0;
    while let Some(r) = gets.next().await {
        total += r?;
    }
    Ok(total)
}

/// `dir/rel`, refusing names that would leave `dir` (`..`, absolute parts).
fn safe_join(dir: &Path, rel: &str) -> Option<PathBuf> {
    let mut out = dir.to_path_buf();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            p if p.contains('\\') || p.contains(':') => return None,
            p => out.push(p),
        }
    }
    (out != dir).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_names_cannot_leave_the_output_folder() {
        let d = Path::new("/tmp/out");
        assert_eq!(safe_join(d, "t1/a/b.txt"), Some(d.join("t1/a/b.txt")));
        assert_eq!(safe_join(d, "t1/../../etc/passwd"), None);
        assert_eq!(safe_join(d, "t1/c:\\x"), None);
        assert_eq!(safe_join(d, ""), None);
    }
}
