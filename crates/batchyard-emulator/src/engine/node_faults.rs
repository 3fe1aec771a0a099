//! Failures of the back end injected on demand ([`crate::NodeFaults`]): core quotas,
//! spot preemptions and unusable nodes, reported in the shapes the Batch service uses.
//!
//! Sources of each fact (also in docs/reliability.md, "Failures the local service can
//! inject"):
//! - Resize errors are `{code, message, values}` (`ResizeError` in
//!   `batch-openapi/BatchService.json`); a pool that cannot reach its target "goes into a
//!   steady state and reports resize errors", and "Batch stops allocating nodes once
//!   that quota has been reached"
//!   (<https://learn.microsoft.com/azure/batch/batch-pool-node-error-checking>).
//! - The codes `AccountCoreQuotaReached` ("The specified account has reached core quota")
//!   and `AccountLowPriorityCoreQuotaReached` ("... low priority core quota"):
//!   `PoolResizeErrorCodes` of the Batch .NET library
//!   (<https://learn.microsoft.com/dotnet/api/microsoft.azure.batch.common.poolresizeerrorcodes>);
//!   the first message exactly as the service returned it in
//!   <https://github.com/MicrosoftDocs/azure-docs/issues/53298> (`Values: n/a`: no values).
//! - Dedicated nodes count against the account's total dedicated cores, spot nodes against
//!   its total spot cores "without any distinction between different VM series"
//!   (<https://learn.microsoft.com/azure/batch/batch-quota-limit>). The per-series
//!   dedicated quota is not modelled.
//! - A preempted node is `preempted`; "Tasks which were running on the Compute Node when it
//!   was preempted will be rescheduled when another Compute Node becomes available"
//!   (`BatchNodeState` in the spec); preempted nodes stay in `currentLowPriorityNodes`
//!   (`BatchPool.currentLowPriorityNodes` in the spec), and "Batch pools automatically seek
//!   the target number of Spot VMs. If VMs are preempted or unavailable, Batch attempts to
//!   replace the lost capacity and return to the target"
//!   (<https://learn.microsoft.com/azure/batch/batch-spot-vms>).
//! - An unusable node carries `errors`, each `{code, message, errorDetails: [{name,
//!   value}]}` (`BatchNodeError` in the spec). Batch publishes no list of node error codes;
//!   the injected one is named for what it is.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::config::NodeFaults;

/// Resize error code when dedicated cores run out.
pub const DEDICATED_QUOTA_CODE: &str = "AccountCoreQuotaReached";
/// Resize error code when spot/low-priority cores run out.
pub const LOW_PRIORITY_QUOTA_CODE: &str = "AccountLowPriorityCoreQuotaReached";
/// Node error code of a node made unusable by [`NodeFaults::unusable_nodes`].
pub const UNUSABLE_CODE: &str = "InjectedNodeFailure";

/// The injector's state: its settings, its generator and when the next preemption is due.
pub(super) struct Injector {
    faults: NodeFaults,
    rng: StdRng,
    next_preemption: Option<Instant>,
}

impl Injector {
    pub(super) fn new(faults: &NodeFaults) -> Self {
        Self {
            faults: faults.clone(),
            rng: StdRng::seed_from_u64(faults.seed),
            next_preemption: faults
                .preempt_spot_every
                .map(|every| Instant::now() + every),
        }
    }

    /// How many more nodes of `cores` cores each fit in the quota of their kind, given the
    /// cores the account's nodes of that kind hold now; `None` without a quota.
    pub(super) fn nodes_that_fit(&self, dedicated: bool, cores: u32, used: u64) -> Option<u64> {
        let quota = if dedicated {
            self.faults.dedicated_core_quota
        } else {
            self.faults.low_priority_core_quota
        }?;
        Some(u64::from(quota).saturating_sub(used) / u64::from(cores.max(1)))
    }

    /// Whether a node that is starting now comes up unusable.
    pub(super) fn draw_unusable(&mut self) -> bool {
        self.faults.unusable_nodes > 0.0 && self.rng.random::<f64>() < self.faults.unusable_nodes
    }

    /// Whether a spot node is to be preempted now (at most once per interval).
    pub(super) fn preemption_due(&mut self) -> bool {
        let (Some(every), Some(next)) = (self.faults.preempt_spot_every, self.next_preemption)
        else {
            return false;
        };
        let now = Instant::now();
        if now < next {
            return false;
        }
        self.next_preemption = Some(now + every);
        true
    }

    /// How long a preempted node stays `preempted` before the service gets it back: half
    /// the interval, so a pool is not preempted faster than it comes back.
    pub(super) fn preempted_for(&self) -> Duration {
        self.faults.preempt_spot_every.unwrap_or_default() / 2
    }

    /// One of `count` candidates, drawn from the seeded generator.
    pub(super) fn pick(&mut self, count: usize) -> usize {
        self.rng.random_range(0..count.max(1))
    }
}

/// Cores of one node of this VM size: the catalogue's vCPUs, 1 for a size it does not know.
pub(super) fn cores_of(vm_size: &str) -> u32 {
    batchyard_compile::catalogue::vm_size(vm_size).map_or(1, |s| s.vcpus)
}

/// The resize error for a quota that cut a resize short.
pub(super) fn quota_error(dedicated: bool) -> Value {
    if dedicated {
        json!({"code": DEDICATED_QUOTA_CODE, "message": "The specified account has reached core quota"})
    } else {
        json!({"code": LOW_PRIORITY_QUOTA_CODE, "message": "The specified account has reached low priority core quota"})
    }
}

/// The `errors` of a node made unusable by the injector.
pub(super) fn unusable_errors() -> Value {
    json!([{
        "code": UNUSABLE_CODE,
        "message": "The local Batch service made this node unusable, as its --unusable-nodes option asks.",
        "errorDetails": [{"name": "Option", "value": "--unusable-nodes"}],
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults() -> NodeFaults {
        NodeFaults {
            seed: 7,
            dedicated_core_quota: Some(10),
            low_priority_core_quota: None,
            preempt_spot_every: None,
            unusable_nodes: 0.5,
        }
    }

    #[test]
    fn only_whole_nodes_fit_in_what_is_left_of_the_quota() {
        let injector = Injector::new(&faults());
        assert_eq!(injector.nodes_that_fit(true, 4, 0), Some(2));
        assert_eq!(injector.nodes_that_fit(true, 4, 8), Some(0));
        assert_eq!(injector.nodes_that_fit(true, 2, 12), Some(0));
        assert_eq!(injector.nodes_that_fit(false, 4, 1000), None);
    }

    #[test]
    fn the_same_seed_draws_the_same_unusable_nodes() {
        let draws = |seed| {
            let mut injector = Injector::new(&NodeFaults { seed, ..faults() });
            (0..64)
                .map(|_| injector.draw_unusable())
                .collect::<Vec<_>>()
        };
        assert_eq!(draws(7), draws(7));
        assert_ne!(draws(7), draws(8));
        let hits = draws(7).into_iter().filter(|d| *d).count();
        assert!((16..=48).contains(&hits), "{hits} of 64 at a share of 0.5");
    }

    #[test]
    fn cores_come_from_the_catalogue() {
        assert_eq!(cores_of("STANDARD_D4_V3"), 4);
        assert_eq!(cores_of("no_such_size"), 1);
    }
}
