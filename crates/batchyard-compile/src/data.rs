//! Task data: `inputs` become Batch resource files and `outputs` become Batch output files.
//!
//! A local input is addressed by its content: its blob is `inputs/sha256/HEX` in the
//! recipe's container, so an unchanged file is never uploaded twice, a changed one gets a
//! new name (a task can never see half of an old and half of a new file), and the task
//! that reads it gets a new content key (`BATCHYARD_INPUTS_KEY` in its environment), which
//! the plan shows as a change of that task only. The files are hashed here, once per
//! path, size and modification time (a [`HashCache`] keeps the hashes between runs); what
//! to upload is read back from the [`ContentIndex`] after the tasks are expanded.
//!
//! URLs in payloads carry no SAS: apply adds one to each (see `batchyard-data`), so no
//! secret is ever part of a plan or a rendered payload.

use std::collections::{BTreeMap, HashMap};
use std::io::Read as _;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use batchyard_recipe::model::{Input, Output, OutputUpload};
use batchyard_recipe::{Code, Diagnostic};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// Where content-addressed inputs live in the container.
pub const INPUTS_PREFIX: &str = "inputs/sha256/";
/// The environment variable that carries a task's content key.
pub const CONTENT_KEY_ENV: &str = "BATCHYARD_INPUTS_KEY";

/// The container tasks read inputs from and write outputs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageLocation {
    /// The container's URL without any query (no SAS), e.g.
    /// `https://acct.blob.core.windows.net/batchyard`.
    pub container_url: String,
    /// A pool managed identity the nodes use instead of a SAS.
    pub node_identity: Option<String>,
}

impl StorageLocation {
    /// The stand-in used when no storage is known yet (validate, render without a
    /// target): the local service's account, which the target replaces when it connects.
    pub fn local_placeholder(container: &str) -> Self {
        Self {
            container_url: format!("http://127.0.0.1/local/{container}"),
            node_identity: None,
        }
    }

    fn blob_url(&self, blob: &str) -> String {
        format!("{}/{blob}", self.container_url.trim_end_matches('/'))
    }
}

/// The blob prefix under which a task's outputs land: `outputs/JOB/TASK/`.
pub fn outputs_prefix(job: &str, task: &str) -> String {
    format!("outputs/{job}/{task}/")
}

/// A local file a task reads, by content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    /// Where it is on this machine.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// SHA-256 of its content, lowercase hex.
    pub sha256: String,
    /// Its modification time when it was hashed, nanoseconds since the Unix epoch.
    pub mtime_ns: u128,
    /// Whether it was hashed in this run at least [`RACY_WINDOW`] after its last
    /// modification: then an unchanged size and modification time prove its content
    /// unchanged since (a change within the same clock tick as the hash could not hide).
    pub settled: bool,
}

/// How long after a file's modification time its hash is trusted to outlast it: well
/// above the coarsest file-system timestamp granularity Linux uses (one jiffy, or the
/// 2 s of FAT).
pub const RACY_WINDOW: std::time::Duration = std::time::Duration::from_secs(3);

impl LocalFile {
    /// Its blob name in the container.
    pub fn blob_name(&self) -> String {
        format!("{INPUTS_PREFIX}{}", self.sha256)
    }
}

/// Hashes of files seen before, keyed by path, valid while size and modification time
/// are unchanged: an unchanged input set is not read again.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HashCache {
    /// Path (as given) to what was seen.
    pub files: BTreeMap<String, CachedHash>,
}

/// One cached hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedHash {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: u128,
    /// SHA-256, lowercase hex.
    pub sha256: String,
}

/// Every local file the expanded tasks reference, shared by the tasks of a compilation
/// (tasks are built on several threads).
#[derive(Debug, Default)]
pub struct ContentIndex {
    inner: Mutex<IndexInner>,
}

#[derive(Debug, Default)]
struct IndexInner {
    cache: HashCache,
    used: HashMap<PathBuf, LocalFile>,
}

impl ContentIndex {
    /// An index that trusts the hashes in `cache` for unchanged files.
    pub fn with_cache(cache: HashCache) -> Self {
        Self {
            inner: Mutex::new(IndexInner {
                cache,
                used: HashMap::new(),
            }),
        }
    }

    /// The distinct files (by content) referenced so far, in a stable order.
    pub fn files(&self) -> Vec<LocalFile> {
        let inner = self.lock();
        let mut by_hash: BTreeMap<&str, &LocalFile> = BTreeMap::new();
        for f in inner.used.values() {
            by_hash.entry(f.sha256.as_str()).or_insert(f);
        }
        by_hash.into_values().cloned().collect()
    }

    /// The hashes to keep for the next run: those of the files referenced this time.
    pub fn cache(&self) -> HashCache {
        let inner = self.lock();
        let files = inner
            .cache
            .files
            .iter()
            .filter(|(k, _)| inner.used.contains_key(Path::new(k.as_str())))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        HashCache { files }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, IndexInner> {
        // A panic while holding the lock leaves plain data behind; keep using it.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The files at `paths`, in order, hashed on every core: for a folder of large
    /// inputs, hashing is most of the compile stage's work.
    fn files_of(&self, paths: &[&Path]) -> Vec<std::io::Result<LocalFile>> {
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .min(paths.len());
        if threads <= 1 {
            return paths.iter().map(|p| self.file(p)).collect();
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let mut done: Vec<(usize, std::io::Result<LocalFile>)> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(path) = paths.get(i) else { break };
                            done.push((i, self.file(path)));
                        }
                        done
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|worker| {
                    worker
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        });
        done.sort_unstable_by_key(|(i, _)| *i);
        done.into_iter().map(|(_, result)| result).collect()
    }

    /// The file at `path`, hashed (or taken from the cache).
    fn file(&self, path: &Path) -> std::io::Result<LocalFile> {
        if let Some(f) = self.lock().used.get(path) {
            return Ok(f.clone());
        }
        let meta = std::fs::metadata(path)?;
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let key = path.to_string_lossy().into_owned();
        let cached = self.lock().cache.files.get(&key).cloned();
        let (sha256, settled) = match cached {
            Some(c) if c.size == meta.len() && c.mtime_ns == mtime_ns && mtime_ns != 0 => {
                (c.sha256, false)
            }
            _ => {
                let hashing_from = std::time::SystemTime::now();
                let settled = meta
                    .modified()
                    .is_ok_and(|m| m + RACY_WINDOW < hashing_from);
                (hash_file(path)?, settled && mtime_ns != 0)
            }
        };
        let file = LocalFile {
            path: path.to_path_buf(),
            size: meta.len(),
            sha256: sha256.clone(),
            mtime_ns,
            settled,
        };
        let mut inner = self.lock();
        inner.cache.files.insert(
            key,
            CachedHash {
                size: meta.len(),
                mtime_ns,
                sha256,
            },
        );
        inner.used.insert(path.to_path_buf(), file.clone());
        Ok(file)
    }
}

/// SHA-256 of a file's content, lowercase hex.
pub fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// What the tasks of one job need to turn `inputs` and `outputs` into payload parts.
#[derive(Debug, Clone)]
pub struct TaskData {
    /// The job's id (outputs go under `outputs/JOB/TASK/`).
    pub job_id: String,
    /// The job's own inputs and their recipe path (`/jobs/N`).
    pub job_inputs: Vec<Input>,
    pub job_path: String,
    /// The recipe's directory: local inputs are relative to it.
    pub base_dir: PathBuf,
    /// The container, when the recipe names storage or the target has some.
    pub storage: Option<StorageLocation>,
    /// Whether the recipe has a `storage` section at all.
    pub has_storage: bool,
    /// The local files referenced, shared by every job of the compilation.
    pub index: Arc<ContentIndex>,
    /// What `blobs` factories iterate over.
    pub blob_listings: Arc<crate::factory::BlobListings>,
}

/// Resource files, the content key and output files of one task.
#[derive(Debug, Default)]
pub struct TaskDataParts {
    pub resource_files: Vec<Value>,
    /// `Some` when the task reads local files.
    pub content_key: Option<String>,
    pub output_files: Vec<Value>,
}

impl TaskData {
    /// The payload parts for a task's `inputs` and `outputs`. `path` is the task's recipe
    /// path.
    pub fn parts(
        &self,
        task_id: &str,
        inputs: &[Input],
        outputs: &[Output],
        path: &str,
    ) -> Result<TaskDataParts, Diagnostic> {
        let mut parts = TaskDataParts::default();
        if self.job_inputs.is_empty() && inputs.is_empty() && outputs.is_empty() {
            return Ok(parts);
        }
        if !self.has_storage {
            let at = if inputs.is_empty() && outputs.is_empty() {
                format!("{}/inputs", self.job_path)
            } else if inputs.is_empty() {
                format!("{path}/outputs")
            } else {
                format!("{path}/inputs")
            };
            return Err(Diagnostic::error(Code::NoStorage, at, "inputs and outputs need a `storage` section")
                .with_help("add `storage: {}` to use the target's own storage (the local service has one), or `storage: {account_url: https://NAME.blob.core.windows.net}`"));
        }
        let storage = self
            .storage
            .clone()
            .unwrap_or_else(|| StorageLocation::local_placeholder("batchyard"));
        let mut keyed: Vec<(String, String)> = Vec::new();
        let all = self
            .job_inputs
            .iter()
            .enumerate()
            .map(|(i, input)| (input, format!("{}/inputs/{i}", self.job_path)))
            .chain(
                inputs
                    .iter()
                    .enumerate()
                    .map(|(i, input)| (input, format!("{path}/inputs/{i}"))),
            );
        let sources = InputSources {
            base_dir: &self.base_dir,
            index: &self.index,
        };
        for (input, at) in all {
            sources.input(input, &at, &storage, &mut parts.resource_files, &mut keyed)?;
        }
        if !keyed.is_empty() {
            keyed.sort();
            let mut h = Sha256::new();
            for (to, sha) in &keyed {
                h.update(to.as_bytes());
                h.update(b"\t");
                h.update(sha.as_bytes());
                h.update(b"\n");
            }
            parts.content_key = Some(hex(&h.finalize()[..8]));
        }
        for (i, o) in outputs.iter().enumerate() {
            let at = format!("{path}/outputs/{i}");
            parts
                .output_files
                .push(output_file(&self.job_id, task_id, o, &storage, &at)?);
        }
        Ok(parts)
    }
}

/// The resource files of a pool's `inputs`, for its start task; `at` is the pool's recipe
/// path. Local files are registered in `index`, so apply uploads them with the tasks' own.
pub fn pool_resource_files(
    inputs: &[Input],
    at: &str,
    base_dir: &Path,
    index: &ContentIndex,
    storage: &StorageLocation,
) -> Result<Vec<Value>, Diagnostic> {
    let sources = InputSources { base_dir, index };
    let mut files = Vec::new();
    let mut keyed = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        sources.input(
            input,
            &format!("{at}/inputs/{i}"),
            storage,
            &mut files,
            &mut keyed,
        )?;
    }
    Ok(files)
}

/// Points resource files made for `from` at `to` instead (the target's own storage, known
/// only once it is connected): the same blobs, in the other container.
pub fn relocate_resource_files(files: &mut [Value], from: &StorageLocation, to: &StorageLocation) {
    let old = from.container_url.trim_end_matches('/');
    let new = to.container_url.trim_end_matches('/');
    for rf in files {
        let Some(rf) = rf.as_object_mut() else {
            continue;
        };
        let mut ours = false;
        for key in ["httpUrl", "storageContainerUrl"] {
            if let Some(Value::String(url)) = rf.get_mut(key)
                && (url == old || url.starts_with(&format!("{old}/")))
            {
                *url = format!("{new}{}", &url[old.len()..]);
                ours = true;
            }
        }
        if ours {
            match &to.node_identity {
                Some(id) => {
                    rf.insert("identityReference".into(), json!({"resourceId": id}));
                }
                None => {
                    rf.remove("identityReference");
                }
            }
        }
    }
}

/// Where inputs come from: local paths below the recipe's folder, hashed into `index`.
struct InputSources<'a> {
    base_dir: &'a Path,
    index: &'a ContentIndex,
}

impl InputSources<'_> {
    fn input(
        &self,
        input: &Input,
        at: &str,
        storage: &StorageLocation,
        out: &mut Vec<Value>,
        keyed: &mut Vec<(String, String)>,
    ) -> Result<(), Diagnostic> {
        let sources = [
            input.local.is_some(),
            input.blob.is_some(),
            input.url.is_some(),
        ];
        if sources.iter().filter(|s| **s).count() != 1 {
            return Err(Diagnostic::error(Code::InputSource, at, "an input needs exactly one source")
                .with_help("give one of `local` (a file, folder or glob), `blob` (a prefix in the storage container) or `url`"));
        }
        let to = match &input.to {
            Some(to) => Some(node_path(to).map_err(|m| {
                Diagnostic::error(Code::InvalidDataPath, format!("{at}/to"), m)
                    .with_help("write a path relative to the task's working directory")
            })?),
            None => None,
        };
        let mut push = |mut rf: Map<String, Value>| {
            if let Some(mode) = &input.mode {
                rf.insert("fileMode".into(), json!(mode));
            }
            if let Some(id) = &storage.node_identity {
                rf.insert("identityReference".into(), json!({"resourceId": id}));
            }
            out.push(Value::Object(rf));
        };
        if let Some(url) = &input.url {
            let file_path = match &to {
                Some(t) => t.clone(),
                None => url
                    .split(['?', '#'])
                    .next()
                    .and_then(|u| u.rsplit('/').next())
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        Diagnostic::error(
                            Code::UrlWithoutFile,
                            format!("{at}/url"),
                            "the URL names no file",
                        )
                        .with_help("add `to: NAME` for the file's path on the node")
                    })?,
            };
            let mut rf = Map::new();
            rf.insert("httpUrl".into(), json!(url));
            rf.insert("filePath".into(), json!(file_path));
            push(rf);
            return Ok(());
        }
        if let Some(prefix) = &input.blob {
            let mut rf = Map::new();
            rf.insert("storageContainerUrl".into(), json!(storage.container_url));
            if !prefix.is_empty() {
                rf.insert("blobPrefix".into(), json!(prefix));
            }
            if let Some(t) = &to {
                rf.insert("filePath".into(), json!(t));
            }
            push(rf);
            return Ok(());
        }
        let Some(local) = &input.local else {
            return Ok(());
        };
        let files = self.local_files(local, to.as_deref(), at)?;
        for (node, file) in files {
            let mut rf = Map::new();
            rf.insert("httpUrl".into(), json!(storage.blob_url(&file.blob_name())));
            rf.insert("filePath".into(), json!(node));
            keyed.push((node, file.sha256.clone()));
            push(rf);
        }
        Ok(())
    }

    /// The files of a local input with their node paths, sorted by node path.
    fn local_files(
        &self,
        local: &str,
        to: Option<&str>,
        at: &str,
    ) -> Result<Vec<(String, LocalFile)>, Diagnostic> {
        let err = |m: String| {
            Diagnostic::error(Code::InvalidDataPath, format!("{at}/local"), m)
                .with_help("local inputs are relative to the recipe's folder; check the path")
        };
        let written = node_path(local).map_err(|m| err(m.to_owned()))?;
        let full = self.base_dir.join(local);
        let is_glob = local.contains(['*', '?', '[']);
        // (file on disk, path relative to the input's root)
        let mut found: Vec<(PathBuf, String)> = Vec::new();
        let root_written: String;
        if is_glob {
            // The fixed part of the pattern (before the first component with a glob
            // character) is the root the matches keep their paths below.
            let fixed: Vec<&str> = written
                .split('/')
                .take_while(|c| !c.contains(['*', '?', '[']))
                .collect();
            root_written = fixed.join("/");
            let root = self.base_dir.join(&root_written);
            let pattern = full.to_string_lossy().into_owned();
            let paths =
                glob::glob(&pattern).map_err(|e| err(format!("bad glob `{local}`: {}", e.msg)))?;
            for p in paths.flatten() {
                if p.is_file() {
                    let rel = p
                        .strip_prefix(&root)
                        .map_or_else(|_| p.clone(), Path::to_path_buf);
                    found.push((p, slash(&rel)));
                } else if p.is_dir() {
                    let rel = p
                        .strip_prefix(&root)
                        .map_or_else(|_| p.clone(), Path::to_path_buf);
                    walk(&p, &slash(&rel), &mut found).map_err(|e| err(e.to_string()))?;
                }
            }
            if found.is_empty() {
                return Err(err(format!("no file matches `{local}`")));
            }
        } else if full.is_dir() {
            root_written = written.clone();
            walk(&full, "", &mut found).map_err(|e| err(format!("cannot read {local}: {e}")))?;
        } else if full.is_file() {
            let name = written.rsplit('/').next().unwrap_or(&written).to_owned();
            let node = match to {
                Some(t) if t.ends_with('/') => format!("{t}{name}"),
                Some(t) => t.to_owned(),
                None => written.clone(),
            };
            let file = self
                .index
                .file(&full)
                .map_err(|e| err(format!("cannot read {local}: {e}")))?;
            return Ok(vec![(node, file)]);
        } else {
            return Err(err(format!("`{local}` does not exist")));
        }
        let base = match to {
            Some(t) => t.trim_end_matches('/').to_owned(),
            None => root_written,
        };
        let disks: Vec<&Path> = found.iter().map(|(disk, _)| disk.as_path()).collect();
        let hashed = self.index.files_of(&disks);
        let mut out = Vec::with_capacity(found.len());
        for ((disk, rel), file) in found.iter().zip(hashed) {
            let node = match (base.is_empty(), rel.is_empty()) {
                (true, _) => rel.clone(),
                (false, true) => base.clone(),
                (false, false) => format!("{base}/{rel}"),
            };
            let file = file.map_err(|e| err(format!("cannot read {}: {e}", disk.display())))?;
            out.push((node, file));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.dedup_by(|a, b| a.0 == b.0);
        Ok(out)
    }
}

/// Every file below `dir`, with its path relative to `dir` after `prefix`.
fn walk(dir: &Path, prefix: &str, out: &mut Vec<(PathBuf, String)>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let ty = e.file_type()?;
        if ty.is_dir() {
            walk(&e.path(), &rel, out)?;
        } else if ty.is_file() || e.path().is_file() {
            out.push((e.path(), rel));
        }
    }
    Ok(())
}

fn slash(p: &Path) -> String {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A path relative to the task's working directory, with `/` separators: no leading `/`,
/// no `..` (Batch refuses paths that leave the working directory).
fn node_path(p: &str) -> Result<String, &'static str> {
    let trimmed = p.trim();
    if trimmed.is_empty() {
        return Err("the path is empty");
    }
    if trimmed.starts_with('/') || trimmed.contains(":\\") || trimmed.starts_with('\\') {
        return Err("the path must be relative, not absolute");
    }
    let mut parts = Vec::new();
    for c in trimmed.split(['/', '\\']) {
        match c {
            "" | "." => {}
            ".." => return Err("the path must stay inside the task's folder (no `..`)"),
            other => parts.push(other),
        }
    }
    let mut out = parts.join("/");
    if trimmed.ends_with('/') && !out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// One `outputFiles` item. With wildcards in the pattern, `path` is the virtual folder
/// the matches go to; without, it is the blob's name (Batch `OutputFileBlobContainerDestination.path`).
fn output_file(
    job: &str,
    task: &str,
    o: &Output,
    storage: &StorageLocation,
    at: &str,
) -> Result<Value, Diagnostic> {
    let prefix = outputs_prefix(job, task);
    let to = match &o.to {
        Some(t) => node_path(t).map_err(|m| {
            Diagnostic::error(Code::InvalidDataPath, format!("{at}/to"), m)
                .with_help("write a path below the task's output folder")
        })?,
        None => String::new(),
    };
    let wildcard = o.pattern.contains(['*', '?', '[']);
    let path = if wildcard {
        format!("{prefix}{}", to.trim_end_matches('/'))
            .trim_end_matches('/')
            .to_owned()
    } else {
        let name = o
            .pattern
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or(&o.pattern)
            .to_owned();
        match to.as_str() {
            "" => format!("{prefix}{name}"),
            t if t.ends_with('/') => format!("{prefix}{t}{name}"),
            t => format!("{prefix}{t}"),
        }
    };
    let mut container = Map::new();
    container.insert("containerUrl".into(), json!(storage.container_url));
    container.insert("path".into(), json!(path));
    if let Some(id) = &storage.node_identity {
        container.insert("identityReference".into(), json!({"resourceId": id}));
    }
    let condition = match o.when {
        OutputUpload::Success => "taskSuccess",
        OutputUpload::Failure => "taskFailure",
        OutputUpload::Completion => "taskCompletion",
    };
    Ok(json!({
        "filePattern": o.pattern,
        "destination": {"container": container},
        "uploadOptions": {"uploadCondition": condition},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(dir: &Path) -> TaskData {
        TaskData {
            job_id: "j".into(),
            job_inputs: vec![],
            job_path: "/jobs/0".into(),
            base_dir: dir.to_path_buf(),
            storage: Some(StorageLocation {
                container_url: "https://a.blob.core.windows.net/c".into(),
                node_identity: None,
            }),
            has_storage: true,
            index: Arc::new(ContentIndex::default()),
            blob_listings: Arc::default(),
        }
    }

    fn input(v: Value) -> Input {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_folder_becomes_one_content_addressed_file_each_and_a_content_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("data/sub")).unwrap();
        std::fs::write(dir.path().join("data/a.txt"), "alpha").unwrap();
        std::fs::write(dir.path().join("data/sub/b.txt"), "beta").unwrap();
        let d = data(dir.path());
        let parts = d
            .parts(
                "t",
                &[input(json!({"local": "data", "to": "in"}))],
                &[],
                "/jobs/0/tasks/0",
            )
            .unwrap();
        let paths: Vec<&str> = parts
            .resource_files
            .iter()
            .map(|r| r["filePath"].as_str().unwrap())
            .collect();
        assert_eq!(paths, ["in/a.txt", "in/sub/b.txt"]);
        let alpha = hex(&Sha256::digest(b"alpha"));
        assert_eq!(
            parts.resource_files[0]["httpUrl"],
            json!(format!(
                "https://a.blob.core.windows.net/c/inputs/sha256/{alpha}"
            ))
        );
        assert_eq!(d.index.files().len(), 2);
        let key = parts.content_key.clone().unwrap();

        // Changing one file changes the key and that file's blob only.
        std::fs::write(dir.path().join("data/sub/b.txt"), "beta2").unwrap();
        let d2 = data(dir.path());
        let again = d2
            .parts(
                "t",
                &[input(json!({"local": "data", "to": "in"}))],
                &[],
                "/jobs/0/tasks/0",
            )
            .unwrap();
        assert_ne!(again.content_key.unwrap(), key);
        assert_eq!(again.resource_files[0], parts.resource_files[0]);
        assert_ne!(again.resource_files[1], parts.resource_files[1]);
    }

    #[test]
    fn globs_keep_paths_below_their_fixed_part_and_files_default_to_their_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        std::fs::write(dir.path().join("data/a.txt"), "a").unwrap();
        std::fs::write(dir.path().join("data/b.csv"), "b").unwrap();
        let d = data(dir.path());
        let parts = d
            .parts(
                "t",
                &[
                    input(json!({"local": "data/*.txt"})),
                    input(json!({"local": "data/b.csv", "to": "x/", "mode": "0644"})),
                ],
                &[],
                "/p",
            )
            .unwrap();
        assert_eq!(parts.resource_files[0]["filePath"], json!("data/a.txt"));
        assert_eq!(parts.resource_files[1]["filePath"], json!("x/b.csv"));
        assert_eq!(parts.resource_files[1]["fileMode"], json!("0644"));
    }

    #[test]
    fn missing_inputs_and_escaping_paths_are_errors_at_their_field() {
        let dir = tempfile::tempdir().unwrap();
        let d = data(dir.path());
        let e = d
            .parts(
                "t",
                &[input(json!({"local": "nope.txt"}))],
                &[],
                "/jobs/0/tasks/2",
            )
            .unwrap_err();
        assert_eq!(e.path, "/jobs/0/tasks/2/inputs/0/local");
        let e = d
            .parts(
                "t",
                &[input(json!({"url": "https://x/y", "to": "../y"}))],
                &[],
                "/t",
            )
            .unwrap_err();
        assert_eq!(e.path, "/t/inputs/0/to");
        let e = d
            .parts(
                "t",
                &[input(json!({"url": "https://x/y", "blob": "p/"}))],
                &[],
                "/t",
            )
            .unwrap_err();
        assert_eq!(e.path, "/t/inputs/0");
    }

    #[test]
    fn outputs_land_under_the_task_folder_with_their_condition() {
        let dir = tempfile::tempdir().unwrap();
        let d = data(dir.path());
        let outs: Vec<Output> = serde_json::from_value(json!([
            {"pattern": "result.txt"},
            {"pattern": "out/**/*.csv", "to": "tables", "when": "success"},
            {"pattern": "../stderr.txt", "when": "failure"}
        ]))
        .unwrap();
        let parts = d.parts("t1", &[], &outs, "/t").unwrap();
        let paths: Vec<&str> = parts
            .output_files
            .iter()
            .map(|o| o["destination"]["container"]["path"].as_str().unwrap())
            .collect();
        assert_eq!(
            paths,
            [
                "outputs/j/t1/result.txt",
                "outputs/j/t1/tables",
                "outputs/j/t1/stderr.txt"
            ]
        );
        let when: Vec<&str> = parts
            .output_files
            .iter()
            .map(|o| o["uploadOptions"]["uploadCondition"].as_str().unwrap())
            .collect();
        assert_eq!(when, ["taskCompletion", "taskSuccess", "taskFailure"]);
        assert!(parts.content_key.is_none());
    }

    #[test]
    fn without_storage_the_data_keys_say_what_to_add() {
        let dir = tempfile::tempdir().unwrap();
        let mut d = data(dir.path());
        d.has_storage = false;
        let e = d
            .parts("t", &[input(json!({"url": "https://x/y"}))], &[], "/t")
            .unwrap_err();
        assert_eq!(e.path, "/t/inputs");
        assert!(e.help.unwrap_or_default().contains("storage"));
    }

    #[test]
    fn the_hash_cache_is_trusted_only_for_unchanged_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, "one").unwrap();
        let first = ContentIndex::default();
        let f = first.file(&p).unwrap();
        let cache = first.cache();
        assert_eq!(cache.files.len(), 1);
        // A lying cache entry with the right size and time is trusted (that is the point
        // of the cache) ...
        let mut lying = cache.clone();
        for v in lying.files.values_mut() {
            v.sha256 = "cafe".into();
        }
        assert_eq!(
            ContentIndex::with_cache(lying).file(&p).unwrap().sha256,
            "cafe"
        );
        // ... and a changed size is not.
        std::fs::write(&p, "three").unwrap();
        let again = ContentIndex::with_cache(cache).file(&p).unwrap();
        assert_ne!(again.sha256, f.sha256);
        assert_eq!(again.sha256, hash_file(&p).unwrap());
    }
}
