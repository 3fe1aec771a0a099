//! The HTTP face of the emulator: the Batch data-plane paths, served by axum.

mod change;
mod create_fields;
pub mod error;
mod faults;
mod files;
pub mod filter;
mod gate;
mod jobs;
mod keyless;
pub(crate) mod odata;
mod offload;
mod pools;
mod projection;
pub mod shared_key;
mod tasks;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

pub use faults::Faults;

use crate::config::AccountKey;
use crate::engine::EngineHandle;
use crate::engine::autoscale::Autoscaler;
use crate::store::Store;

/// API versions the emulator answers: the spec's, and the one Python SDK 15.x sends.
pub const API_VERSIONS: &[&str] = &["2025-06-01.21.0", "2025-06-01"];

/// Largest request body the service accepts (the add-collection limit).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What every handler can reach.
pub struct AppState {
    /// State database.
    pub store: Arc<Store>,
    /// The scheduler loop.
    pub engine: EngineHandle,
    /// `http://host:port` of this emulator, used in `url` fields and next links.
    pub base_url: String,
    /// Shared Key credentials to verify, if any.
    pub account: Option<AccountKey>,
    /// Keyless and knowingly reachable beyond loopback
    /// (`--insecure-no-auth-on-network`): the loopback `Host` check is off.
    pub open_network: bool,
    /// Fault injection.
    pub faults: Faults,
    /// Root of node directories (for the files API).
    pub work_dir: PathBuf,
    /// Autoscale histories and schedules, shared with the autoscale loop.
    pub autoscale: Arc<Autoscaler>,
}

/// Shared state handle.
pub type Shared = Arc<AppState>;

/// The complete router.
pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/pools", get(pools::list).post(pools::create))
        .route(
            "/pools/{pool}",
            get(pools::get_one)
                .delete(pools::delete)
                .patch(pools::patch),
        )
        .route(
            "/pools/{pool}/updateproperties",
            post(pools::replace_properties),
        )
        .route("/pools/{pool}/resize", post(pools::resize))
        .route("/pools/{pool}/stopresize", post(pools::stop_resize))
        .route("/pools/{pool}/removenodes", post(pools::remove_nodes))
        .route(
            "/pools/{pool}/enableautoscale",
            post(pools::enable_autoscale),
        )
        .route(
            "/pools/{pool}/evaluateautoscale",
            post(pools::evaluate_autoscale),
        )
        .route(
            "/pools/{pool}/disableautoscale",
            post(pools::disable_autoscale),
        )
        .route("/pools/{pool}/nodes", get(pools::list_nodes))
        .route("/pools/{pool}/nodes/{node}", get(pools::get_node))
        .route(
            "/pools/{pool}/nodes/{node}/files",
            get(files::list_node_files),
        )
        .route(
            "/pools/{pool}/nodes/{node}/files/{*path}",
            get(files::get_node_file).delete(files::delete_node_file),
        )
        .route("/nodecounts", get(pools::node_counts))
        .route("/supportedimages", get(pools::supported_images))
        .route("/jobs", get(jobs::list).post(jobs::create))
        .route(
            "/jobs/{job}",
            get(jobs::get_one).delete(jobs::delete).patch(jobs::patch),
        )
        .route("/jobs/{job}/terminate", post(jobs::terminate))
        .route("/jobs/{job}/disable", post(jobs::disable))
        .route("/jobs/{job}/enable", post(jobs::enable))
        .route("/jobs/{job}/taskcounts", get(jobs::task_counts))
        .route(
            "/jobs/{job}/jobpreparationandreleasetaskstatus",
            get(jobs::prep_and_release_status),
        )
        .route("/jobs/{job}/tasks", get(tasks::list).post(tasks::create))
        .route("/jobs/{job}/addtaskcollection", post(tasks::add_collection))
        .route(
            "/jobs/{job}/tasks/{task}",
            get(tasks::get_one)
                .delete(tasks::delete)
                .put(tasks::replace),
        )
        .route("/jobs/{job}/tasks/{task}/terminate", post(tasks::terminate))
        .route(
            "/jobs/{job}/tasks/{task}/reactivate",
            post(tasks::reactivate),
        )
        .route(
            "/jobs/{job}/tasks/{task}/subtasksinfo",
            get(tasks::subtasks),
        )
        .route("/jobs/{job}/tasks/{task}/files", get(files::list))
        .route(
            "/jobs/{job}/tasks/{task}/files/{*path}",
            get(files::get_file).delete(files::delete_file),
        )
        .fallback(gate::not_found)
        // Inner to the gate: handlers (and their SQLite work) run on the blocking
        // pool once the gate has admitted the request and read its body.
        .layer(axum::middleware::from_fn(offload::offload))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            gate::gate,
        ))
        .with_state(state)
}
