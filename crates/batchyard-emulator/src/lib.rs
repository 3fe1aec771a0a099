//! batchyard-emulator: a local Azure Batch service.
//!
//! It speaks the Batch data-plane REST protocol (same paths, `api-version`, JSON
//! shapes, paging, errors), keeps its state in one SQLite file, and runs tasks on
//! this machine as processes or Docker containers. Embed it with [`Emulator::start`]
//! or run it with [`serve`].

pub mod api;
pub mod blob;
pub mod clock;
pub mod config;
pub mod engine;
pub mod ids;
pub mod listen;
mod server;
pub mod state_lock;
pub mod store;
pub mod supervisor;

pub use config::{AccountKey, EmulatorConfig, FaultConfig};
pub use server::{Emulator, EmulatorError, RunningEmulator, serve};
pub use state_lock::{StateLock, StateLockError, lock_holder};
pub use supervisor::{SupervisorCommand, run_if_requested};
