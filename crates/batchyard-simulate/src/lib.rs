//! Runs a compiled recipe in virtual time, with no process started: a discrete-event
//! simulation of its pools, nodes and tasks.
//!
//! [`workload::build`] turns `batchyard_compile`'s output into a [`Workload`]: pools with
//! node counts, slots and autoscale formula, and every task (streamed from the same task
//! stream `apply` submits) with its slots, dependencies and a duration from a
//! [`DurationModel`]. [`run`] plays it: nodes boot after a delay from a [`BootModel`],
//! tasks start when a node has their slots and their dependencies are done, autoscale
//! formulas are evaluated on their interval by the emulator's own evaluator
//! (`batchyard_emulator::autoscale`, not a copy), spot nodes are preempted at a
//! given rate. The [`Simulation`] it returns has the makespan, node-hours split into
//! booting, busy and idle, the autoscale trace, and every node and task run for a report;
//! [`cost`] prices it with a [`PriceBook`] the caller plugs in.

mod engine;
pub mod model;
mod result;
pub mod workload;

pub use engine::{Options, run};
pub use model::{BootModel, DurationModel, RECORDED_BOOT_SECS};
pub use result::{
    AutoscaleEvaluation, Cost, NoPrices, NodeRecord, PoolCost, PoolUsage, Price, PriceBook,
    RunOutcome, RunRecord, Simulation, TaskTotals, cost,
};
pub use workload::{Workload, WorkloadError};
