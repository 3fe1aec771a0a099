//! batchyard-emulator: a local Azure Batch service.
//!
//! It speaks the Batch data-plane REST protocol (same paths, `api-version`, JSON
//! shapes, paging, errors), keeps its state in one SQLite file, and runs tasks on
//! this machine as processes or Docker containers. Embed it with [`Emulator::start`]
//! or run it with [`serve`]. Beside it, [`blob`] serves a local Blob Storage account
//! for resource and output files.
//!
//! # Start-up
//!
//! [`Emulator::start`] takes the state lock first ([`state_lock`]: one service per state
//! file, an `flock` the kernel drops when the holder dies), opens the `store`
//! (migrating its schema), starts the task [`supervisor`], builds the `engine` and
//! binds the HTTP listeners. A read-only service takes a shared lock and starts no
//! supervisor, engine or autoscaler.
//!
//! # The request path
//!
//! `server` binds axum to the `api` router. Every request passes `api`'s gate first:
//! request id, Shared Key (or the keyless checks of a local service), `api-version`,
//! injected faults ([`FaultConfig`]), body size. Its handler then runs on Tokio's blocking
//! pool, never on the async workers that accept connections and stream bodies (the store
//! is synchronous SQLite behind one lock), reads or writes Batch JSON documents through the
//! `store`, one transaction per change, and answers with the service's shapes (OData
//! paging, `$filter`/`$select`, ETags, Batch error bodies).
//! Handlers write only the documents they are asked to write (a task added, a pool
//! resized) and wake the engine; they never start processes or move nodes or tasks
//! through their states themselves.
//!
//! # The engine loop
//!
//! `engine` is one loop, on a thread and single-threaded runtime of its own (as is the
//! autoscaler), that owns everything that changes without a request: its transactions
//! never hold up a worker serving requests. It wakes on its tick, on a handler's wake-up,
//! on a finished process, or on a command
//! (stop a task). Each step moves node lifecycles (resize, boot, start task, removal),
//! then places active tasks on free slots (dependencies, job
//! preparation, multi-instance), and hands each placed run to the supervisor. Ends that
//! arrive together are recorded in one transaction: exit code, retry or requeue, the
//! task's final state, and the job's reaction (`onAllTasksComplete`, exit conditions).
//!
//! # The supervisor
//!
//! Task processes are not children of the emulator: they are started by the task
//! [`supervisor`], the same program run again with a marker in its environment, which
//! outlives the emulator. It starts each run (a process, or `docker run`), never through
//! a shell, and appends `<exit code> <marker>` to an exit journal when a run ends by
//! itself, before reporting the end over its pipe. Every run carries
//! `BATCHYARD_ATTEMPT=<job>/<task>/<attempt>` and the service's id, so a restarted
//! service finds its own processes and never another's.
//!
//! # The store
//!
//! One SQLite file in WAL mode (`store`). Four document tables, `pools`, `nodes`
//! (keyed by pool and id), `jobs` and `tasks` (keyed by job and id), each row the
//! resource's Batch JSON document plus the columns queries need (id, state; rowid is the
//! creation order and the paging cursor; ids compare without case, as in Batch). A fifth
//! table, `task_attempts`, has one row per run of a task on a node: written before the
//! process starts, closed when its end is recorded. The schema version is SQLite's
//! `user_version`; a state written by a newer emulator is refused, not rewritten.
//!
//! # Recovery after a kill
//!
//! A kill at any moment leaves each document old or new, never half written. On the next
//! start the engine's recovery reads the open attempt rows (the runs that were in flight)
//! and the exit journal:
//! - a run whose exit is in the journal finished while the emulator was down: its exit
//!   is recorded like any other, and the task is not run again;
//! - a run without an exit was killed with the emulator (its leftover processes, found
//!   by their marker, are killed): the task is requeued, as Batch requeues the tasks of a
//!   lost node (`requeueCount` + 1, not a retry).
//!
//! Nodes come back as after a reboot: no task runs on them, a node that was running tasks
//! is idle, and a start task that had not finished runs again. Autoscale formulas are
//! evaluated by a task of their own beside the engine (`engine::autoscale`).
//!
//! # What is public
//!
//! The service as a whole: [`Emulator`], [`serve`], its configuration, the state lock,
//! the task supervisor's entry points (a program embedding the emulator must call
//! [`run_if_requested`]), the [`blob`] endpoint, and the [`autoscale`] formula language
//! (parse and evaluate, which `batchyard-simulate` runs so that a simulation scales a pool
//! with the local service's own code, not a copy). `api`, `engine` and `store` are
//! private to the crate, so nothing outside it can reach past the REST protocol into the
//! store or the engine; their tests are unit tests beside the code (the autoscale
//! formulas, the executor, the store), and everything else is tested over HTTP.
//!
//! # Where to change what
//!
//! A new REST operation or field: `api` (and its spec checks in the tests). How nodes,
//! scheduling or task ends behave: `engine`. How processes are started and watched:
//! [`supervisor`] and `engine::executor`. Anything persistent: `store`, with a new
//! `user_version` step.

pub(crate) mod api;
pub mod blob;
pub mod clock;
pub mod config;
pub(crate) mod engine;
pub mod ids;
pub mod listen;
pub mod private_dir;
mod server;
pub mod state_lock;
pub(crate) mod store;
pub mod supervisor;

/// Autoscale formulas: parsing, and evaluation against a history of sampled task metrics
/// (what the engine runs on each pool's evaluation interval).
pub mod autoscale {
    pub use crate::engine::autoscale::history::{Counts, History, SAMPLE_PERIOD_SECS};
    pub use crate::engine::autoscale::{
        EvalError, Formula, Inputs, Outcome, SyntaxError, evaluation_interval,
    };
}

pub use config::{AccountKey, EmulatorConfig, FaultConfig, NodeFaultArgs, NodeFaults};
pub use server::{Emulator, EmulatorError, RunningEmulator, serve};
pub use state_lock::{StateLock, StateLockError, lock_holder};
pub use supervisor::{SupervisorCommand, run_if_requested};
