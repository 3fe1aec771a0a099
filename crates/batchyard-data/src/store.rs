//! One blob container, through Microsoft's `azure_storage_blob` crate.
//!
//! The crate authenticates with a Microsoft Entra ID token credential, or with a SAS in
//! the URL (it has no Shared Key signing). With an account key batchyard signs a
//! short-lived container SAS itself ([`crate::sas`]) and hands the SDK that URL, so every
//! request still goes through the SDK's pipeline (retries, paging, block uploads).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use azure_core::http::{RequestContent, Url};
use azure_storage_blob::BlobContainerClient;
use azure_storage_blob::models::{
    BlobContainerClientListBlobsOptions, BlockBlobClientUploadOptions, BlockLookupList,
};
use futures::TryStreamExt as _;
use sha2::Digest as _;
use time::OffsetDateTime;
use tokio::io::AsyncReadExt as _;

use crate::buffers::BufferPool;
use crate::sas::{AccountSas, ContainerSas};

/// Files up to this size go up in one request by default; larger ones in blocks of
/// [`BLOCK_SIZE`] ([`Limits`] changes both).
pub const SINGLE_PUT_LIMIT: u64 = 32 * 1024 * 1024;
/// The block size of large uploads.
pub const BLOCK_SIZE: usize = 8 * 1024 * 1024;

/// How batchyard authenticates to the account.
#[derive(Clone)]
pub enum Credential {
    /// The account key (decoded): batchyard signs SAS tokens with it.
    AccountKey {
        /// The account's name.
        account: String,
        /// The key's bytes.
        key: Vec<u8>,
    },
    /// A SAS token for the container (query string, without `?`).
    Sas(String),
    /// Microsoft Entra ID.
    Token(Arc<dyn TokenCredential>),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::AccountKey { account, .. } => {
                write!(f, "AccountKey {{ account: {account}, key: (secret) }}")
            }
            Credential::Sas(_) => f.write_str("Sas((secret))"),
            Credential::Token(_) => f.write_str("Token"),
        }
    }
}

/// Why a storage call failed. Messages never carry a SAS signature or a key.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL is not one of a blob account.
    #[error("`{url}` is not a blob account URL: {reason}")]
    BadUrl { url: String, reason: String },
    /// A storage request failed.
    #[error("{what}: {message}")]
    Request { what: String, message: String },
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The nodes need a SAS that this credential cannot make.
    #[error(
        "with Microsoft Entra ID, batchyard cannot give the nodes access to storage: set `storage.node_identity` to a managed identity of the pool, or give `storage.key` or `storage.sas`"
    )]
    NoNodeAccess,
}

fn request_error(what: impl Into<String>) -> impl FnOnce(azure_core::Error) -> StoreError {
    let what = what.into();
    move |e| StoreError::Request {
        what,
        message: crate::sas::redact_text(&e.to_string()),
    }
}

/// Reads `file` (`size` bytes when it was opened) into `buf`, straight from the file with
/// no buffer of the async runtime's in between. A file that grew since is read whole all
/// the same, and the checks after the read refuse it.
fn read_all(
    mut file: std::fs::File,
    mut buf: bytes::BytesMut,
    size: usize,
) -> std::io::Result<bytes::BytesMut> {
    use std::io::Read as _;
    let read = |file: &mut std::fs::File, into: &mut [u8]| loop {
        match file.read(into) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            other => return other,
        }
    };
    buf.resize(size, 0);
    let mut filled = 0;
    while filled < size {
        match read(&mut file, &mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    buf.truncate(filled);
    let mut more = [0u8; 8192];
    loop {
        match read(&mut file, &mut more)? {
            0 => return Ok(buf),
            n => buf.extend_from_slice(&more[..n]),
        }
    }
}

/// One blob, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobEntry {
    /// Its full name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Request sizes: when a file goes up in blocks, how big they are, and how many blobs a
/// listing page asks for. The defaults suit Azure; tests make them small to reach the
/// block path and the paging with small data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Files up to this size go up in one request.
    pub single_put: u64,
    /// The block size above it.
    pub block_size: usize,
    /// `maxresults` of each listing page; `None`: the service's default (5,000 on Azure).
    pub page_size: Option<u32>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            single_put: SINGLE_PUT_LIMIT,
            block_size: BLOCK_SIZE,
            page_size: None,
        }
    }
}

/// A blob container batchyard reads and writes.
#[derive(Clone)]
pub struct BlobStore {
    /// The container URL without a query.
    container_url: Url,
    account: String,
    container: String,
    credential: Credential,
    client: Arc<BlobContainerClient>,
    limits: Limits,
    buffers: Arc<BufferPool>,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStore")
            .field("container_url", &self.container_url())
            .field("credential", &self.credential)
            .finish_non_exhaustive()
    }
}

impl BlobStore {
    /// A store for `container` in the account at `account_url` (path-style
    /// `http://127.0.0.1:PORT/ACCOUNT` for a local service, or
    /// `https://ACCOUNT.blob.core.windows.net`).
    pub fn new(
        account_url: &str,
        container: &str,
        credential: Credential,
    ) -> Result<Self, StoreError> {
        let shown = account_url.split('?').next().unwrap_or_default().to_owned();
        let bad = |reason: &str| StoreError::BadUrl {
            url: shown.clone(),
            reason: reason.to_owned(),
        };
        let base =
            Url::parse(account_url.trim_end_matches('/')).map_err(|e| bad(&e.to_string()))?;
        if base.query().is_some() {
            return Err(bad(
                "give the SAS as `storage.sas`, not in the URL (it is a secret)",
            ));
        }
        let account = account_name(&base).ok_or_else(|| bad("no account name in it"))?;
        let container_url = Url::parse(&format!(
            "{}/{container}",
            base.as_str().trim_end_matches('/')
        ))
        .map_err(|e| bad(&e.to_string()))?;
        let (url, token) = match &credential {
            Credential::AccountKey { key, .. } => {
                let mut url = container_url.clone();
                url.set_query(Some(
                    &AccountSas {
                        account: &account,
                        permissions: "racwdl",
                        expiry: OffsetDateTime::now_utc() + time::Duration::hours(12),
                    }
                    .sign(key),
                ));
                (url, None)
            }
            Credential::Sas(sas) => {
                let mut url = container_url.clone();
                url.set_query(Some(sas.trim_start_matches('?')));
                (url, None)
            }
            Credential::Token(t) => (container_url.clone(), Some(t.clone())),
        };
        let client =
            BlobContainerClient::new(url, token, None).map_err(|e| StoreError::BadUrl {
                url: shown.clone(),
                reason: crate::sas::redact_text(&e.to_string()),
            })?;
        Ok(Self {
            container_url,
            account,
            container: container.to_owned(),
            credential,
            client: Arc::new(client),
            limits: Limits::default(),
            buffers: Arc::new(BufferPool::new(crate::upload::DEFAULT_PARALLEL)),
        })
    }

    /// The same store with other request sizes (a block size of 0 counts as 1 byte).
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = Limits {
            block_size: limits.block_size.max(1),
            page_size: limits.page_size.map(|p| p.max(1)),
            ..limits
        };
        self
    }

    /// The request sizes in use.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The container's URL, without any SAS.
    pub fn container_url(&self) -> &str {
        self.container_url.as_str().trim_end_matches('/')
    }

    /// A SAS query for the nodes with these permissions, valid for `ttl`; `None` when
    /// the nodes use a managed identity instead (the caller decides that).
    pub fn node_sas(&self, permissions: &str, ttl: Duration) -> Result<String, StoreError> {
        match &self.credential {
            Credential::AccountKey { key, .. } => Ok(ContainerSas {
                account: &self.account,
                container: &self.container,
                permissions,
                expiry: OffsetDateTime::now_utc()
                    + time::Duration::seconds(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)),
            }
            .sign(key)),
            Credential::Sas(sas) => Ok(sas.trim_start_matches('?').to_owned()),
            Credential::Token(_) => Err(StoreError::NoNodeAccess),
        }
    }

    /// Creates the container unless it exists.
    pub async fn ensure_container(&self) -> Result<(), StoreError> {
        let exists = self.client.exists().await.map_err(request_error(format!(
            "checking container {}",
            self.container
        )))?;
        if !exists {
            match self.client.create(None).await {
                Ok(_) => {}
                // Someone else created it in between.
                Err(e) if e.http_status().is_some_and(|s| u16::from(s) == 409) => {}
                Err(e) => {
                    return Err(request_error(format!(
                        "creating container {}",
                        self.container
                    ))(e));
                }
            }
        }
        Ok(())
    }

    /// Every blob whose name starts with `prefix`, in name order. A missing container
    /// has none.
    pub async fn list(&self, prefix: &str) -> Result<Vec<BlobEntry>, StoreError> {
        let what = format!("listing blobs under `{prefix}` in {}", self.container);
        let options = BlobContainerClientListBlobsOptions {
            prefix: (!prefix.is_empty()).then(|| prefix.to_owned()),
            maxresults: self
                .limits
                .page_size
                .map(|p| i32::try_from(p).unwrap_or(i32::MAX)),
            ..Default::default()
        };
        let mut pager = self
            .client
            .list_blobs(Some(options))
            .map_err(request_error(what.clone()))?;
        let mut out = Vec::new();
        loop {
            match pager.try_next().await {
                Ok(Some(item)) => {
                    let Some(name) = item.name else { continue };
                    let size = item.properties.and_then(|p| p.content_length).unwrap_or(0);
                    out.push(BlobEntry { name, size });
                }
                Ok(None) => break,
                Err(e) if e.http_status().is_some_and(|s| u16::from(s) == 404) => break,
                Err(e) => return Err(request_error(what)(e)),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Uploads the file at `path` as blob `name`. Small files go in one request; large
    /// ones in blocks that become the blob only when the block list is committed, so an
    /// interrupted upload never leaves a partial blob under `name`. With `sha256`, the
    /// content sent is checked against it first: a file changed since it was hashed is
    /// refused rather than stored under the wrong name. With `settled` (the size and
    /// modification time the file had when it was hashed, long after its last change),
    /// that check is the file's size and modification time, the same before and after the
    /// read, instead of a second hash of the content (as `git` trusts its index for files
    /// that are not "racily clean").
    pub async fn upload_file(
        &self,
        path: &Path,
        name: &str,
        sha256: Option<&str>,
        settled: Option<FileStamp>,
    ) -> Result<u64, StoreError> {
        let changed = || StoreError::Request {
            what: format!("uploading {}", path.display()),
            message: "the file changed while it was being applied; apply again".to_owned(),
        };
        let mut hasher = sha2::Sha256::new();
        let io = |source| StoreError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut file = tokio::fs::File::open(path).await.map_err(io)?;
        let before = FileStamp::of(&file.metadata().await.map_err(io)?);
        let size = before.size;
        if settled.is_some_and(|s| s != before) {
            return Err(changed());
        }
        // The content is hashed again only when its stamp cannot vouch for it.
        let sha256 = sha256.filter(|_| settled.is_none());
        let unchanged_since_read = || async {
            match settled {
                Some(s) => tokio::fs::metadata(path)
                    .await
                    .map(|m| FileStamp::of(&m) == s)
                    .map_err(io),
                None => Ok(true),
            }
        };
        let blob = self.client.blob_client(name).block_blob_client();
        let what = format!("uploading {} as {name}", path.display());
        if size <= self.limits.single_put {
            let size = usize::try_from(size).unwrap_or(0);
            let buf = self.buffers.take(size);
            let file = file.into_std().await;
            let buf = tokio::task::spawn_blocking(move || read_all(file, buf, size))
                .await
                .map_err(|e| io(std::io::Error::other(e)))?
                .map_err(io)?;
            let len = buf.len() as u64;
            if let Some(want) = sha256 {
                hasher.update(&buf);
                if hex(&hasher.finalize()) != want {
                    return Err(changed());
                }
            }
            if !unchanged_since_read().await? {
                return Err(changed());
            }
            let options = BlockBlobClientUploadOptions {
                parallel: std::num::NonZero::new(1),
                ..Default::default()
            };
            let body = buf.freeze();
            let sent = blob.upload(body.clone().into(), Some(options)).await;
            self.buffers.give_back(body);
            sent.map_err(request_error(what))?;
            return Ok(len);
        }
        let mut ids: Vec<Vec<u8>> = Vec::new();
        let mut sent = 0u64;
        let block_size = self.limits.block_size;
        loop {
            let mut chunk = vec![0u8; block_size];
            let mut filled = 0;
            while filled < block_size {
                let n = file.read(&mut chunk[filled..]).await.map_err(io)?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if filled == 0 {
                break;
            }
            chunk.truncate(filled);
            if sha256.is_some() {
                hasher.update(&chunk);
            }
            // Block ids must all have the same length within a blob.
            let id = format!("{:08}", ids.len()).into_bytes();
            blob.stage_block(&id, filled as u64, RequestContent::from(chunk), None)
                .await
                .map_err(request_error(what.clone()))?;
            ids.push(id);
            sent += filled as u64;
        }
        if sha256.is_some_and(|want| hex(&hasher.finalize()) != want)
            || !unchanged_since_read().await?
        {
            // The staged blocks are never committed; the service drops them.
            return Err(changed());
        }
        let list = BlockLookupList {
            latest: Some(ids),
            ..Default::default()
        };
        let content = RequestContent::try_from(list).map_err(request_error(what.clone()))?;
        blob.commit_block_list(content, None)
            .await
            .map_err(request_error(what))?;
        Ok(sent)
    }

    /// Downloads blob `name` to `dest` (through a temporary file beside it, renamed at
    /// the end, so an interrupted download leaves no half file under the final name).
    pub async fn download(&self, name: &str, dest: &Path) -> Result<u64, StoreError> {
        let io = |source| StoreError::Io {
            path: dest.display().to_string(),
            source,
        };
        let what = format!("downloading {name}");
        let result = self
            .client
            .blob_client(name)
            .download(None)
            .await
            .map_err(request_error(what.clone()))?;
        let bytes = result.body.collect().await.map_err(request_error(what))?;
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(io)?;
        }
        let tmp = dest.with_extension("batchyard-partial");
        tokio::fs::write(&tmp, &bytes).await.map_err(io)?;
        tokio::fs::rename(&tmp, dest).await.map_err(io)?;
        Ok(bytes.len() as u64)
    }
}

/// A file's size and modification time, which change whenever its content does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch (0 when unknown).
    pub mtime_ns: u128,
}

impl FileStamp {
    /// The stamp of a file's metadata.
    pub fn of(meta: &std::fs::Metadata) -> Self {
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        Self {
            size: meta.len(),
            mtime_ns,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The account name of a blob endpoint: the first path segment of a path-style URL
/// (`http://127.0.0.1:10000/ACCOUNT`), else the first label of the host.
fn account_name(url: &Url) -> Option<String> {
    if let Some(seg) = url
        .path_segments()
        .and_then(|mut s| s.next())
        .filter(|s| !s.is_empty())
    {
        return Some(seg.to_owned());
    }
    let Some(url::Host::Domain(host)) = url.host() else {
        return None;
    };
    let label = host.split('.').next()?;
    (!label.is_empty() && host.contains('.')).then(|| label.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names_from_both_url_styles() {
        let u = |s| Url::parse(s).unwrap();
        assert_eq!(
            account_name(&u("https://acct.blob.core.windows.net")).as_deref(),
            Some("acct")
        );
        assert_eq!(
            account_name(&u("http://127.0.0.1:10000/devstore")).as_deref(),
            Some("devstore")
        );
        assert_eq!(account_name(&u("http://127.0.0.1:10000")), None);
    }

    #[test]
    fn a_sas_in_the_account_url_is_refused_and_never_echoed() {
        let e = BlobStore::new(
            "https://acct.blob.core.windows.net?sv=1&sig=SECRETSIG",
            "c",
            Credential::Sas("sv=1&sig=x".into()),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("storage.sas"), "{e}");
        assert!(!e.contains("SECRETSIG"), "{e}");
    }

    #[test]
    fn credentials_never_print_their_secret() {
        let k = Credential::AccountKey {
            account: "a".into(),
            key: b"SECRETKEY".to_vec(),
        };
        assert!(!format!("{k:?}").contains("SECRETKEY"));
        assert!(!format!("{:?}", Credential::Sas("sig=SECRET".into())).contains("SECRET"));
    }
}
