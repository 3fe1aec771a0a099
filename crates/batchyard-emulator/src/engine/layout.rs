//! The Batch-shaped directory tree of a node and the `AZ_BATCH_*` environment.
//!
//! `<work>/<pool>/<node>/` is the node root (`AZ_BATCH_NODE_ROOT_DIR`), holding
//! `shared/`, `startup/` (start task) and `workitems/<job>/job-1/<task>/` (task
//! directory with stdout.txt, stderr.txt and `wd/`), as on a Linux Batch node.

use std::path::{Path, PathBuf};

/// Paths of one node.
#[derive(Debug, Clone)]
pub struct NodeLayout {
    /// Node root.
    pub root: PathBuf,
}

impl NodeLayout {
    /// The layout of `node` in `pool` under `work_dir`.
    pub fn new(work_dir: &Path, pool: &str, node: &str) -> Self {
        // Pool ids are case-insensitive: one directory whatever the spelling.
        Self {
            root: work_dir.join(pool.to_ascii_lowercase()).join(node),
        }
    }

    /// `AZ_BATCH_NODE_SHARED_DIR`.
    pub fn shared(&self) -> PathBuf {
        self.root.join("shared")
    }

    /// `AZ_BATCH_NODE_STARTUP_DIR`, the start task's directory.
    pub fn startup(&self) -> PathBuf {
        self.root.join("startup")
    }

    /// `AZ_BATCH_NODE_MOUNTS_DIR`, where the pool's file systems are mounted.
    pub fn mounts(&self) -> PathBuf {
        self.root.join("fsmounts")
    }

    /// A task's directory.
    pub fn task_dir(&self, job: &str, task: &str) -> PathBuf {
        self.root
            .join("workitems")
            .join(job.to_ascii_lowercase())
            .join("job-1")
            .join(task)
    }

    /// The directory of a job's preparation and release tasks.
    pub fn job_prep_dir(&self, job: &str) -> PathBuf {
        self.root
            .join("workitems")
            .join(job.to_ascii_lowercase())
            .join("job-1")
            .join("jobpreparation")
    }
}

/// Environment common to every task on a node.
pub fn node_env(
    layout: &NodeLayout,
    pool: &str,
    node: &str,
    account: &str,
    url: &str,
    dedicated: bool,
) -> Vec<(String, String)> {
    vec![
        ("AZ_BATCH_ACCOUNT_NAME".into(), account.to_string()),
        ("AZ_BATCH_ACCOUNT_URL".into(), url.to_string()),
        ("AZ_BATCH_POOL_ID".into(), pool.to_string()),
        ("AZ_BATCH_NODE_ID".into(), node.to_string()),
        ("AZ_BATCH_NODE_IS_DEDICATED".into(), dedicated.to_string()),
        (
            "AZ_BATCH_NODE_ROOT_DIR".into(),
            layout.root.display().to_string(),
        ),
        (
            "AZ_BATCH_NODE_SHARED_DIR".into(),
            layout.shared().display().to_string(),
        ),
        (
            "AZ_BATCH_NODE_STARTUP_DIR".into(),
            layout.startup().display().to_string(),
        ),
        (
            "AZ_BATCH_NODE_STARTUP_WORKING_DIR".into(),
            layout.startup().join("wd").display().to_string(),
        ),
        (
            "AZ_BATCH_NODE_MOUNTS_DIR".into(),
            layout.mounts().display().to_string(),
        ),
    ]
}
