//! Compiles a checked recipe into Azure Batch REST payloads.
//!
//! The parts that need no recipe are usable on their own: the hardware [`catalogue`],
//! [`autoscale`] formulas, [`mpi`] launch commands, task [`factory`] iterators and task
//! [`dependencies`].

pub mod autoscale;
pub mod catalogue;
pub mod dependencies;
pub mod factory;
pub mod ids;
pub mod mpi;
