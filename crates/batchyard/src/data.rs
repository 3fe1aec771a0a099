//! The recipe's data: opening its storage, listing `blobs` factories, planning and sending
//! the uploads of local inputs, giving the nodes a SAS at apply time, and fetching outputs.

use batchyard_recipe::Code;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use batchyard_compile::Desired;
use batchyard_compile::data::{HashCache, INPUTS_PREFIX, StorageLocation};
use batchyard_compile::factory::{BlobEntry as FactoryBlob, BlobListings};
use batchyard_data::upload::DEFAULT_PARALLEL;
use batchyard_data::{BlobStore, Credential, Upload, UploadPlan};
use batchyard_recipe::model::{Factory, Recipe, Secret, TaskSpec};
use batchyard_reconcile::Intent;
use batchyard_secrets::SecretValues;
use miette::miette;
use serde_json::Value;

use crate::progress::Progress;
use crate::target::Target;

/// How long the SAS tokens given to the nodes stay valid: tasks may wait in a queue for
/// a long time before they download their inputs.
const NODE_SAS_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// The recipe's storage, opened.
#[derive(Debug, Clone)]
pub struct Storage {
    pub store: BlobStore,
    /// A pool managed identity the nodes use instead of a SAS.
    pub node_identity: Option<String>,
}

impl Storage {
    /// Where payloads point (no SAS in it).
    pub fn location(&self) -> StorageLocation {
        StorageLocation {
            container_url: self.store.container_url().to_owned(),
            node_identity: self.node_identity.clone(),
        }
    }
}

/// What apply will send, found at plan time.
#[derive(Debug, Clone)]
pub struct DataStep {
    pub storage: Storage,
    /// Every local input (distinct contents).
    pub wanted: usize,
    pub plan: UploadPlan,
}

/// The hash cache beside the recipe (`.batchyard/input-hashes.json`): hashes of local
/// inputs by path, size and modification time. No secret is in it.
pub fn cache_path(recipe: &Path) -> PathBuf {
    recipe
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
        .join(".batchyard")
        .join("input-hashes.json")
}

/// The hashes known from earlier runs (none when the file is missing or unreadable).
pub fn load_cache(recipe: &Path) -> HashCache {
    fs_err::read_to_string(cache_path(recipe))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn save_cache(recipe: &Path, cache: &HashCache) {
    let path = cache_path(recipe);
    if let Some(dir) = path.parent() {
        let _ = fs_err::create_dir_all(dir);
    }
    if let Ok(text) = serde_json::to_string(cache)
        && let Err(e) = fs_err::write(&path, text)
    {
        tracing::warn!("cannot keep the input hashes: {e}");
    }
}

/// Opens the recipe's storage: `storage.account_url` with its credential, or the target's
/// own storage. `None` when the recipe has no `storage`.
/// Its secret was read by [`crate::secrets::resolve`].
pub fn open(
    recipe: &Recipe,
    target: &Target,
    secrets: &SecretValues,
) -> miette::Result<Option<Storage>> {
    let Some(s) = &recipe.storage else {
        return Ok(None);
    };
    let store = match &s.account_url {
        Some(url) => {
            let credential = if let Some(sas) = &s.sas {
                Credential::Sas(value(secrets, sas)?)
            } else if let Some(key) = &s.key {
                let account = account_of(url).ok_or_else(|| {
                    miette!(code = Code::StorageUnusable,
                        help = "write the endpoint as https://NAME.blob.core.windows.net (or http://127.0.0.1:PORT/NAME for a local emulator)",
                        "cannot tell the storage account's name from {url}"
                    )
                })?;
                Credential::AccountKey {
                    account,
                    key: decode_key(&value(secrets, key)?)?,
                }
            } else {
                Credential::Token(
                    crate::secrets::entra_credential()
                        .map_err(|e| miette!(code = Code::Credentials, "{e}"))?,
                )
            };
            BlobStore::new(url, &s.container, credential)
                .map_err(|e| miette!(code = Code::StorageUnusable, "{e}"))?
        }
        None => match target.blob_account() {
            Some(account) => BlobStore::new(
                &account.url,
                &s.container,
                Credential::AccountKey {
                    account: account.name.clone(),
                    key: account.key.clone(),
                },
            )
            .map_err(|e| miette!(code = Code::StorageUnusable, "{e}"))?,
            None => {
                return Err(miette!(
                    code = Code::NoStorage,
                    help = "set `storage.account_url` (and `key`, `sas`, or sign in for Microsoft Entra ID)",
                    "this target has no storage of its own, and the recipe's `storage` names no account"
                ));
            }
        },
    };
    Ok(Some(Storage {
        store,
        node_identity: s.node_identity.clone(),
    }))
}

fn value(secrets: &SecretValues, secret: &Secret) -> miette::Result<String> {
    secrets.get(secret).map(str::to_owned).ok_or_else(|| {
        miette!(
            code = Code::StorageSecret,
            "the storage secret {secret} was not read before the storage was opened"
        )
    })
}

fn decode_key(text: &str) -> miette::Result<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| {
            miette!(
                code = Code::StorageSecret,
                help = "copy the key again (az storage account keys list)",
                "the storage account key is not valid base64"
            )
        })
}

fn account_of(url: &str) -> Option<String> {
    let rest = url.split("://").nth(1)?;
    let host = rest.split(['/', ':']).next()?;
    // Path-style, as storage emulators are addressed (Azurite, the local service):
    // `http://127.0.0.1:10000/ACCOUNT`.
    if host == "localhost" || host.parse::<std::net::IpAddr>().is_ok() {
        let account = rest.split('/').nth(1)?;
        return (!account.is_empty()).then(|| account.to_owned());
    }
    let label = host.split('.').next()?;
    (host.contains('.') && !label.is_empty() && label.parse::<u8>().is_err())
        .then(|| label.to_owned())
}

/// Lists the blobs under every prefix a `blobs` factory of the recipe names.
pub async fn list_factories(
    recipe: &Recipe,
    storage: Option<&Storage>,
) -> miette::Result<BlobListings> {
    let mut listings = BlobListings::default();
    for job in &recipe.jobs {
        for spec in &job.tasks {
            let TaskSpec::Factory(f) = spec else { continue };
            let Factory::Blobs(b) = &f.factory else {
                continue;
            };
            if listings.by_prefix.contains_key(&b.prefix) {
                continue;
            }
            let Some(storage) = storage else {
                return Err(miette!(
                    code = Code::NoStorage,
                    help = "add a `storage` section to the recipe",
                    "job {}: a `blobs` factory needs the recipe's storage",
                    job.id
                ));
            };
            let blobs = storage
                .store
                .list(&b.prefix)
                .await
                .map_err(|e| miette!(code = Code::StorageUnusable, "{e}"))?;
            listings.by_prefix.insert(
                b.prefix.clone(),
                blobs
                    .into_iter()
                    .filter(|b| !b.name.ends_with('/'))
                    .map(|b| FactoryBlob {
                        name: b.name,
                        size: b.size,
                    })
                    .collect(),
            );
        }
    }
    Ok(listings)
}

/// What apply will upload: the local inputs the tasks reference, against what the
/// container holds. Keeps the hashes for the next run.
pub async fn plan(
    recipe_path: &Path,
    desired: &Desired,
    storage: Storage,
) -> miette::Result<DataStep> {
    let index = &desired.options().content;
    save_cache(recipe_path, &index.cache());
    let wanted: Vec<Upload> = index
        .files()
        .into_iter()
        .map(|f| Upload {
            blob: f.blob_name(),
            size: f.size,
            sha256: Some(f.sha256),
            settled: f.settled.then_some(batchyard_data::FileStamp {
                size: f.size,
                mtime_ns: f.mtime_ns,
            }),
            path: f.path,
        })
        .collect();
    let plan = batchyard_data::upload::plan(&storage.store, INPUTS_PREFIX, &wanted)
        .await
        .map_err(|e| miette!(code = Code::TransferFailed, "{e}"))?;
    Ok(DataStep {
        storage,
        wanted: wanted.len(),
        plan,
    })
}

impl DataStep {
    /// The plan's data line.
    pub fn summary(&self) -> String {
        format!(
            "data: {} local input file(s); {} to upload ({}), {} already in storage",
            self.wanted,
            self.plan.missing.len(),
            bytes(self.plan.bytes()),
            self.plan.present
        )
    }

    /// For `--output json`.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "container": self.storage.store.container_url(),
            "files": self.wanted,
            "upload_files": self.plan.missing.len(),
            "upload_bytes": self.plan.bytes(),
            "present_files": self.plan.present,
        })
    }

    /// Sends what is missing, with progress.
    pub async fn upload(&self, progress: &Progress) -> miette::Result<u64> {
        let total = self.plan.missing.len() as u64;
        if total == 0 {
            return Ok(0);
        }
        let started = Instant::now();
        let done = std::sync::atomic::AtomicU64::new(0);
        let sent = std::sync::atomic::AtomicU64::new(0);
        let all = self.plan.bytes();
        let tick = |b: u64| {
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            let s = sent.fetch_add(b, std::sync::atomic::Ordering::Relaxed) + b;
            progress.transfer(
                "upload",
                total,
                n,
                &format!(
                    "uploading inputs: {n}/{total} file(s), {} of {}",
                    bytes(s),
                    bytes(all)
                ),
            );
        };
        let result = batchyard_data::upload::execute(
            &self.storage.store,
            &self.plan,
            DEFAULT_PARALLEL,
            &tick,
        )
        .await
        .map_err(|e| {
            miette!(
                code = Code::TransferFailed,
                help = "apply again: what was sent is kept",
                "{e}"
            )
        });
        progress.finish();
        let sent = result?;
        eprintln!(
            "✓ uploaded {total} input file(s), {} in {:.1}s",
            bytes(sent),
            started.elapsed().as_secs_f64()
        );
        Ok(sent)
    }

    /// The intent with a SAS added to every URL of the recipe's container (nodes that
    /// use a managed identity need none). Only the copy sent to Batch carries it.
    pub fn sign(&self, intent: &Intent) -> miette::Result<Intent> {
        let mut signed = intent.clone();
        if self.storage.node_identity.is_some() {
            return Ok(signed);
        }
        let store = &self.storage.store;
        let read = store
            .node_sas("rl", NODE_SAS_TTL)
            .map_err(|e| miette!(code = Code::StorageUnusable, "{e}"))?;
        let write = store
            .node_sas("acw", NODE_SAS_TTL)
            .map_err(|e| miette!(code = Code::StorageUnusable, "{e}"))?;
        let base = store.container_url();
        let ours =
            |url: &str| !url.contains('?') && (url == base || url.starts_with(&format!("{base}/")));
        let sign_read = |rf: &mut batchyard_batch::models::ResourceFile| {
            for url in [&mut rf.http_url, &mut rf.storage_container_url]
                .into_iter()
                .flatten()
            {
                if ours(url) {
                    url.push('?');
                    url.push_str(&read);
                }
            }
        };
        // A pool's inputs come with its start task, which nodes that join later run too.
        for pool in &mut signed.pools {
            if let Some(st) = &mut pool.payload.start_task {
                st.resource_files.iter_mut().flatten().for_each(&sign_read);
            }
        }
        for job in &mut signed.jobs {
            for task in &mut job.tasks {
                task.resource_files
                    .iter_mut()
                    .flatten()
                    .for_each(&sign_read);
                for of in task.output_files.iter_mut().flatten() {
                    if let Some(c) = &mut of.destination.container
                        && ours(&c.container_url)
                    {
                        c.container_url.push('?');
                        c.container_url.push_str(&write);
                    }
                }
            }
        }
        Ok(signed)
    }
}

/// Fetches the outputs of `tasks` of `job` (all when empty) into `dir/TASK/...`.
pub async fn download(
    storage: &Storage,
    job: &str,
    tasks: &[String],
    dir: &Path,
    progress: &Progress,
) -> miette::Result<(usize, usize, u64)> {
    let plan = batchyard_data::download::plan(&storage.store, job, tasks, dir)
        .await
        .map_err(|e| miette!(code = Code::TransferFailed, "{e}"))?;
    let total = plan.missing.len() as u64;
    let done = std::sync::atomic::AtomicU64::new(0);
    let tick = |_b: u64| {
        let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        progress.transfer(
            &format!("download {job}"),
            total,
            n,
            &format!("job {job}: {n}/{total} output file(s) downloaded"),
        );
    };
    let got = batchyard_data::download::execute(&storage.store, &plan, DEFAULT_PARALLEL, &tick)
        .await
        .map_err(|e| {
            miette!(
                code = Code::TransferFailed,
                help = "run it again: what was fetched is kept",
                "{e}"
            )
        })?;
    progress.finish();
    Ok((plan.missing.len(), plan.present, got))
}

/// `1.5 MB`, `320 B`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names_and_sizes() {
        assert_eq!(
            account_of("https://acct.blob.core.windows.net").as_deref(),
            Some("acct")
        );
        assert_eq!(account_of("http://127.0.0.1:1/x").as_deref(), Some("x"));
        assert_eq!(
            account_of("http://localhost:10000/devstoreaccount1/").as_deref(),
            Some("devstoreaccount1")
        );
        assert_eq!(account_of("http://127.0.0.1:1"), None);
        assert_eq!(account_of("http://127.0.0.1:1/"), None);
        assert_eq!(bytes(320), "320 B");
        assert_eq!(bytes(1_500_000), "1.5 MB");
    }
}
