//! Compiles a checked recipe into Azure Batch REST payloads.
//!
//! [`compile`] turns a [`Recipe`](batchyard_recipe::model::Recipe) into [`Desired`]: pool and
//! job payloads (`BatchPoolCreateOptions`, `BatchJobCreateOptions`) with ownership metadata,
//! every GPU/RDMA/container rule checked. [`tasks`] streams a job's
//! `BatchTaskCreateOptions`, one factory item at a time.
//!
//! The parts that need no recipe are usable on their own: the hardware [`catalogue`],
//! [`autoscale`] formulas, [`mpi`] launch commands, task [`factory`] iterators, task
//! [`dependencies`] and Batch [`ids`].

pub mod autoscale;
pub mod catalogue;
pub mod data;
pub mod dependencies;
mod desired;
pub mod factory;
pub mod hardware;
pub mod ids;
pub mod lifecycle;
pub mod mpi;
pub mod payload;
mod skeleton;
mod stream;

pub use desired::{
    CompileOptions, Desired, DesiredJob, DesiredPool, METADATA_RECIPE, METADATA_SPEC, compile,
    spec_hash,
};
pub use payload::pool::SecretSlot;
pub use stream::{TaskStream, tasks};
