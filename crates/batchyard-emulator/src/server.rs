//! Starting and stopping an emulator.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::response::IntoResponse as _;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::{self, AppState, Faults};
use crate::blob::BlobService;
use crate::config::EmulatorConfig;
use crate::engine::autoscale::Autoscaler;
use crate::engine::{Engine, EngineHandle, EngineSettings};
use crate::state_lock::{self, StateLock, StateLockError};
use crate::store::{Store, StoreError};
use crate::supervisor::{Supervisor, SupervisorError};

/// Why an emulator could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// Another service holds this state (see [`crate::state_lock`]), or its lock
    /// could not be taken.
    #[error(transparent)]
    Lock(#[from] StateLockError),
    /// The configuration is unsafe or invalid (a keyless non-loopback bind, a key
    /// that is not base64).
    #[error("{0}")]
    Config(String),
    /// The state file could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The listening address could not be bound (in use, not permitted).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Requested address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// The state directory or node directory could not be created.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The task supervisor could not be started.
    #[error(transparent)]
    Supervisor(#[from] SupervisorError),
    /// A background task of the emulator failed.
    #[error("the emulator stopped unexpectedly: {0}")]
    Stopped(String),
}

/// Entry point for embedding.
pub struct Emulator;

/// A started emulator; stop it with [`RunningEmulator::shutdown`].
pub struct RunningEmulator {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    engine: JoinHandle<()>,
    autoscale: JoinHandle<()>,
    blob: BlobService,
}

impl Emulator {
    /// Opens the state, starts the scheduler and listens. Must run inside a Tokio
    /// runtime.
    ///
    /// The state's lock is taken first: while another service holds it this fails
    /// with [`EmulatorError::Lock`] before the database, the node directories or
    /// the other service's task supervisor are touched.
    pub async fn start(config: EmulatorConfig) -> Result<RunningEmulator, EmulatorError> {
        config.check()?;
        // An emulator that only reads shares the lock with other readers, and still
        // keeps a service from starting on the state under it.
        let lock = Arc::new(if config.execute {
            StateLock::acquire(&config.state_path)?
        } else {
            StateLock::acquire_shared(&config.state_path)?
        });
        let work_dir = config.work_dir();
        state_lock::create_private_dir(&work_dir)?;
        // Later paths are derived from this one and compared after canonicalization.
        let work_dir = fs_err::canonicalize(&work_dir)?;
        if !config.bind.ip().is_loopback() && config.account.is_none() {
            tracing::warn!(addr = %config.bind, "the emulator listens beyond loopback without a key (--insecure-no-auth-on-network): anyone who can reach this address can run commands on this machine");
        }
        let store = Arc::new(Store::open(&config.state_path)?);
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|source| EmulatorError::Bind {
                addr: config.bind,
                source,
            })?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");
        let (stop, stop_rx) = watch::channel(false);
        let blob = BlobService::start(
            &crate::blob::dir_for(&config.state_path),
            config.storage_bind,
            config.storage_account(),
            !config.execute,
            stop_rx.clone(),
        )
        .await?;
        let autoscaler = Arc::new(Autoscaler::new(config.autoscale_time_scale));
        let (engine, autoscale, handle) = if config.execute {
            let account = config
                .account
                .as_ref()
                .map_or("emulator".to_string(), |a| a.name.clone());
            let supervisor = Supervisor::start(&config.supervisor, &work_dir).await?;
            let (engine, handle) = Engine::new(
                store.clone(),
                supervisor,
                EngineSettings {
                    work_dir: work_dir.clone(),
                    account,
                    url: base_url.clone(),
                    boot_delay: config.boot_delay,
                    tick: config.tick,
                    containers_on_host: config.containers_on_host,
                    auto_storage: Some(blob.auto_storage()),
                    node_faults: config.node_faults.clone(),
                },
            );
            let autoscale = own_thread(
                "batchyard-autoscale",
                autoscaler
                    .clone()
                    .run(store.clone(), handle.clone(), config.tick, stop_rx.clone()),
            );
            // The lock lives as long as the engine and the server, which are the ones
            // touching the state, even when the handle is dropped without a shutdown.
            let engine_lock = lock.clone();
            let engine_stop = stop_rx.clone();
            let engine = own_thread("batchyard-engine", async move {
                engine.run(engine_stop).await;
                drop(engine_lock);
            });
            (engine, autoscale, handle)
        } else {
            let idle = || tokio::spawn(async {});
            (idle(), idle(), EngineHandle::detached())
        };
        let state = Arc::new(AppState {
            store,
            engine: handle,
            autoscale: autoscaler,
            base_url,
            account: config.account.clone(),
            open_network: config.insecure_no_auth_on_network,
            faults: Faults::new(config.faults.clone()),
            work_dir,
        });
        let mut app = api::router(state);
        if !config.execute {
            app = app.layer(axum::middleware::from_fn(refuse_writes));
        }
        let server_stop = stop_rx;
        let limits = config.limits;
        let server = tokio::spawn(async move {
            let served = crate::listen::serve(listener, app, limits, server_stop).await;
            drop(lock);
            served
        });
        Ok(RunningEmulator {
            addr,
            stop,
            server,
            engine,
            autoscale,
            blob,
        })
    }
}

impl RunningEmulator {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL to give Batch clients, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The blob endpoint's account URL, `http://127.0.0.1:PORT/ACCOUNT`: containers are
    /// at `{blob_url}/{container}`.
    pub fn blob_url(&self) -> String {
        self.blob.state.endpoint.clone()
    }

    /// The storage account name the blob endpoint serves.
    pub fn storage_account(&self) -> &str {
        &self.blob.state.account
    }

    /// The storage account key (base64) the blob endpoint verifies signatures with.
    pub fn storage_key(&self) -> &str {
        &self.blob.state.key
    }

    /// Stops accepting requests, finishes the ones in flight, stops running
    /// processes (they are requeued on the next start) and closes the state.
    pub async fn shutdown(self) -> Result<(), EmulatorError> {
        let _ = self.stop.send(true);
        let served = self
            .server
            .await
            .map_err(|e| EmulatorError::Stopped(e.to_string()))?;
        self.engine
            .await
            .map_err(|e| EmulatorError::Stopped(e.to_string()))?;
        self.autoscale
            .await
            .map_err(|e| EmulatorError::Stopped(e.to_string()))?;
        let blob_served = self
            .blob
            .server
            .await
            .map_err(|e| EmulatorError::Stopped(e.to_string()))?;
        served?;
        blob_served?;
        Ok(())
    }

    /// Waits until the process receives Ctrl-C or SIGTERM, then shuts down.
    pub async fn run_until_signal(self) -> Result<(), EmulatorError> {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        self.shutdown().await
    }
}

/// Runs `work` on a thread of its own, with a single-threaded runtime. The engine and
/// the autoscaler write the store synchronously; on the async workers their
/// transactions would hold up the connections those workers serve. The returned
/// handle ends when `work` does.
fn own_thread(
    name: &str,
    work: impl std::future::Future<Output = ()> + Send + 'static,
) -> JoinHandle<()> {
    let (done, finished) = tokio::sync::oneshot::channel::<()>();
    // Handed over through a slot, so the work is still here if no thread starts.
    let slot = Arc::new(std::sync::Mutex::new(Some(work)));
    let theirs = slot.clone();
    let started = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .and_then(|runtime| {
            std::thread::Builder::new()
                .name(name.to_string())
                .spawn(move || {
                    let work = theirs.lock().ok().and_then(|mut w| w.take());
                    if let Some(work) = work {
                        runtime.block_on(work);
                    }
                    let _ = done.send(());
                })
        });
    match started {
        Ok(_) => tokio::spawn(async move {
            let _ = finished.await;
        }),
        Err(error) => {
            tracing::warn!(%error, thread = name, "no thread of its own; running on the shared runtime");
            let work = slot.lock().ok().and_then(|mut w| w.take());
            tokio::spawn(async move {
                if let Some(work) = work {
                    work.await;
                }
            })
        }
    }
}

/// An emulator that does not execute answers reads only: a write it accepted would sit
/// in the state with nothing to act on it.
async fn refuse_writes(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::Method;
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return next.run(request).await;
    }
    let body = serde_json::json!({
        "code": "OperationNotAllowed",
        "message": {
            "lang": "en-US",
            "value": "This local Batch service only reads its state: start it with `batchyard apply` or `batchyard run` to make changes."
        }
    });
    (axum::http::StatusCode::CONFLICT, axum::Json(body)).into_response()
}

/// Runs an emulator in the foreground until a signal: the body of
/// `batchyard emulator serve`. Prints the URL on stdout once listening.
pub async fn serve(config: EmulatorConfig) -> Result<(), EmulatorError> {
    let running = Emulator::start(config).await?;
    tracing::info!(url = %running.blob_url(), account = running.storage_account(), "blob endpoint listening");
    println!("{}", running.url());
    running.run_until_signal().await
}
