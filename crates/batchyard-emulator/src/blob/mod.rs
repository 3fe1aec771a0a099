//! A local Azure Blob Storage endpoint, path-style as the storage emulators are
//! addressed: `http://127.0.0.1:PORT/ACCOUNT/CONTAINER/BLOB`. It serves one account on
//! its own port, beside the Batch endpoint, with the operations batchyard and the
//! tasks' resource and output files need; the official SDKs talk to it unchanged.

pub mod auth;
pub mod error;
mod handlers;
pub mod sas;
pub mod store;
pub mod xml;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::AccountKey;
use store::BlobStore;

/// The key of the storage account of an emulator started without credentials. It is
/// not a secret: like the Azurite development key, it is written here so any client on
/// this machine can use the local endpoint, which only listens on loopback. An
/// emulator started with a Batch account key uses that key for storage too.
pub const DEVELOPMENT_KEY: &str =
    "YmF0Y2h5YXJkLWVtdWxhdG9yLWxvY2FsLWJsb2Itc3RvcmFnZS1rZXktbm90LWEtc2VjcmV0";

/// Name of the storage account of an emulator started without credentials.
pub const DEFAULT_ACCOUNT: &str = "emulator";

/// What handlers reach.
pub struct BlobState {
    /// Account name (first path segment).
    pub account: String,
    /// Base64 account key.
    pub key: String,
    /// Content and index.
    pub store: BlobStore,
    /// `http://host:port/ACCOUNT`, as listings name it.
    pub endpoint: String,
    /// Only reads are served (an emulator that only looks at its state).
    pub read_only: bool,
}

/// A running blob endpoint.
pub struct BlobService {
    /// Shared state (also used by nodes to sign their own requests).
    pub state: Arc<BlobState>,
    /// The listening address.
    pub addr: SocketAddr,
    /// The server task.
    pub server: JoinHandle<std::io::Result<()>>,
}

/// The blob state directory beside a state file: `<state file>.blobs`.
pub fn dir_for(state_path: &Path) -> PathBuf {
    let mut name = state_path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "emulator".into());
    name.push(".blobs");
    state_path.with_file_name(name)
}

impl BlobService {
    /// The account as nodes see it, for `autoStorageContainerName` resource files.
    pub fn auto_storage(&self) -> crate::engine::task_files::AutoStorage {
        crate::engine::task_files::AutoStorage {
            endpoint: self.state.endpoint.clone(),
            account: self.state.account.clone(),
            key: self.state.key.clone(),
        }
    }

    /// Opens the store in `dir` and listens on `bind` until `stop` turns true;
    /// `read_only` refuses every write.
    pub async fn start(
        dir: &Path,
        bind: SocketAddr,
        credentials: AccountKey,
        read_only: bool,
        mut stop: watch::Receiver<bool>,
    ) -> Result<Self, crate::EmulatorError> {
        let store = {
            let owned = dir.to_path_buf();
            tokio::task::spawn_blocking(move || BlobStore::open(&owned, !read_only))
                .await
                .map_err(|e| crate::EmulatorError::Stopped(e.to_string()))?
                .map_err(|e| {
                    crate::EmulatorError::Io(std::io::Error::other(format!(
                        "cannot open the blob store in {}: {}",
                        dir.display(),
                        e.message
                    )))
                })?
        };
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|source| crate::EmulatorError::Bind { addr: bind, source })?;
        let addr = listener.local_addr()?;
        let state = Arc::new(BlobState {
            endpoint: format!("http://{addr}/{}", credentials.name),
            account: credentials.name,
            key: credentials.key,
            store,
            read_only,
        });
        let app = handlers::router(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|stop| *stop).await;
            })
            .await
        });
        Ok(Self {
            state,
            addr,
            server,
        })
    }
}
