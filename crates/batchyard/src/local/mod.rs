//! The local target: a Batch service on this machine, one per state folder, that runs in
//! the background once `apply` or `run` starts it and stops by itself when idle.
//!
//! It lives in its state folder (`.batchyard` beside the recipe): the SQLite state and
//! task directories, its address and process id (`service.json`), its locks and its log
//! (`service.log`). Its keys (`service.key`, and the emulator's `store.key` that seals the
//! secrets in its database) are kept outside, in the state's private folder
//! (`batchyard_emulator::private_dir`), so the folder beside a recipe holds no secret.

pub mod folder;
mod idle;
pub mod serve;
pub mod service;

pub use folder::StateFolder;
pub use service::{Reading, ServiceRecord};

/// How long the service stays up with nothing to do, unless told otherwise.
pub const DEFAULT_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);
