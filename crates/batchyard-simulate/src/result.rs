//! What a simulation found: makespan, node-hours and their split, the autoscale trace,
//! and (for the report) every node and task run.

use serde::Serialize;

/// The outcome of one simulation.
#[derive(Debug, Clone, Serialize)]
pub struct Simulation {
    /// From the first node requested to the last task's end (or to where the simulation
    /// stopped, when not every task ran).
    pub makespan_secs: f64,
    /// Whether every task completed.
    pub finished: bool,
    pub tasks: TaskTotals,
    pub pools: Vec<PoolUsage>,
    /// Every autoscale evaluation, in time order.
    pub autoscale: Vec<AutoscaleEvaluation>,
    /// Assumptions, and what the simulation does not model of this recipe.
    pub notes: Vec<String>,
    /// Every node that was requested.
    #[serde(skip)]
    pub nodes: Vec<NodeRecord>,
    /// Every task run, preempted ones included, in the order they ended.
    #[serde(skip)]
    pub runs: Vec<RunRecord>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TaskTotals {
    pub total: u64,
    pub succeeded: u64,
    /// Ended by a pool shrinking with `terminate`.
    pub failed: u64,
    /// Runs cut short by a spot preemption or a `requeue` shrink, then run again.
    pub requeued_runs: u64,
    /// Tasks that never completed (waiting on a dependency that never completed, or on a
    /// pool that never had a node).
    pub never_completed: u64,
}

/// Node time of one pool, in hours, split by what the nodes were doing.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PoolUsage {
    pub id: String,
    pub vm_size: String,
    pub slots_per_node: u32,
    pub dedicated_node_hours: f64,
    pub spot_node_hours: f64,
    /// Booting (allocation to ready, start task included).
    pub booting_node_hours: f64,
    /// Running tasks, weighted by the share of the node's slots they took.
    pub busy_node_hours: f64,
    /// Ready with free slots.
    pub idle_node_hours: f64,
    pub max_nodes: u32,
    pub preemptions: u64,
}

impl PoolUsage {
    pub fn node_hours(&self) -> f64 {
        self.dedicated_node_hours + self.spot_node_hours
    }
}

/// One evaluation of a pool's autoscale formula.
#[derive(Debug, Clone, Serialize)]
pub struct AutoscaleEvaluation {
    pub at_secs: f64,
    pub pool: String,
    pub target_dedicated: i64,
    pub target_spot: i64,
    /// The task and node counts the formula saw in its last sample.
    pub active_tasks: u64,
    pub running_tasks: u64,
    pub nodes: u32,
    /// Set when the formula failed; the targets then stay as they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One node from request to removal.
#[derive(Debug, Clone, Serialize)]
pub struct NodeRecord {
    pub id: String,
    pub pool: u32,
    pub spot: bool,
    pub requested_ms: u64,
    /// When it could run tasks; `None` if removed while booting.
    pub ready_ms: Option<u64>,
    /// When it was removed or preempted; `None` if it was there at the end.
    pub gone_ms: Option<u64>,
    pub preempted: bool,
}

/// One run of one task on one node.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RunRecord {
    pub task: u32,
    pub node: u32,
    pub start_ms: u64,
    pub end_ms: u64,
    pub outcome: RunOutcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    Succeeded,
    /// Cut short by a preemption or a requeue, then run again.
    Requeued,
    /// Ended by a `terminate` shrink.
    Terminated,
}

/// An hourly price, from wherever the caller's price book gets it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Price {
    pub per_hour: f64,
    pub currency: String,
}

/// Where node prices come from: one call, plugged in by the caller.
pub trait PriceBook {
    /// The price of one node of `pool` (of `vm_size`) for an hour, dedicated or spot;
    /// `None` when unknown (never an estimate).
    fn hourly(&self, pool: &str, vm_size: &str, spot: bool) -> Option<Price>;
    /// Where the prices come from and their date, for output.
    fn source(&self) -> String;
}

/// A price book that knows no price.
pub struct NoPrices;

impl PriceBook for NoPrices {
    fn hourly(&self, _pool: &str, _vm_size: &str, _spot: bool) -> Option<Price> {
        None
    }
    fn source(&self) -> String {
        "no price source".into()
    }
}

/// The cost of the simulated run, pool by pool.
#[derive(Debug, Clone, Serialize)]
pub struct Cost {
    pub source: String,
    pub pools: Vec<PoolCost>,
    /// The sum over pools whose prices are all known, by currency; `None` when any price
    /// is unknown.
    pub total: Option<f64>,
    pub currency: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PoolCost {
    pub pool: String,
    pub vm_size: String,
    pub dedicated_per_hour: Option<Price>,
    pub spot_per_hour: Option<Price>,
    /// `None` when a price for node-hours that were used is unknown.
    pub cost: Option<f64>,
}

/// Prices the node-hours of a simulation.
pub fn cost(sim: &Simulation, prices: &dyn PriceBook) -> Cost {
    let mut pools = Vec::new();
    let mut total = Some(0.0);
    let mut currency: Option<String> = None;
    for p in &sim.pools {
        let dedicated = prices.hourly(&p.id, &p.vm_size, false);
        let spot = prices.hourly(&p.id, &p.vm_size, true);
        let part = |hours: f64, price: &Option<Price>| -> Option<f64> {
            if hours == 0.0 {
                Some(0.0)
            } else {
                price.as_ref().map(|pr| pr.per_hour * hours)
            }
        };
        let cost = match (
            part(p.dedicated_node_hours, &dedicated),
            part(p.spot_node_hours, &spot),
        ) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
        for price in [&dedicated, &spot].into_iter().flatten() {
            match &currency {
                None => currency = Some(price.currency.clone()),
                Some(c) if *c != price.currency => total = None,
                Some(_) => {}
            }
        }
        total = match (total, cost) {
            (Some(t), Some(c)) => Some(t + c),
            _ => None,
        };
        pools.push(PoolCost {
            pool: p.id.clone(),
            vm_size: p.vm_size.clone(),
            dedicated_per_hour: dedicated,
            spot_per_hour: spot,
            cost,
        });
    }
    Cost {
        source: prices.source(),
        pools,
        total,
        currency,
    }
}
