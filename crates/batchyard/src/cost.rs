//! The cost section of a plan: per pool, node-hours per hour and their price; the change
//! per hour the plan makes; with `--duration`, the expected cost. Prices from
//! `batchyard-cost` (Retail Prices API, cache, snapshot), each with its source.

use std::time::Duration;

use batchyard_compile::catalogue::OsType;
use batchyard_cost::money::{self, Amount, format_amount};
use batchyard_cost::prices::SourceUsed;
use batchyard_cost::{
    Lookup, NodeMix, Os, PoolRate, Price, PriceKey, Prices, PricesOptions, Priority,
};
use batchyard_reconcile::{Intent, Observed};
use serde::Serialize;

/// The cost section.
#[derive(Debug, Clone, Serialize)]
pub struct CostReport {
    /// The region priced.
    pub region: String,
    /// Currency of every amount.
    pub currency: String,
    /// One line per pool of the recipe, and per live pool the plan deletes.
    pub pools: Vec<PoolCost>,
    /// All fixed-size pools of the recipe per hour, once the plan is applied.
    pub per_hour: Amount,
    /// How much more (or less) an hour costs after the plan than before it.
    pub change_per_hour: Amount,
    /// `--duration` in hours.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_hours: Option<f64>,
    /// `per_hour` over `--duration`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_cost: Option<Amount>,
    /// Where the prices came from.
    pub sources: Vec<SourceUsed>,
    /// Problems met looking them up.
    pub notes: Vec<String>,
}

/// One pool's cost.
#[derive(Debug, Clone, Serialize)]
pub struct PoolCost {
    /// Pool id.
    pub pool: String,
    /// VM size.
    pub vm_size: String,
    /// The OS meter.
    pub os: Os,
    /// Whether an autoscale formula sets its size (then no node count is known ahead).
    pub autoscale: bool,
    /// The pool as the recipe wants it (absent for a pool the plan deletes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wanted: Option<PoolRate>,
    /// The live pool, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<PoolRate>,
    /// `wanted` minus `current`, per hour.
    pub change_per_hour: Amount,
    /// The prices used.
    pub prices: PoolPrices,
}

/// A pool's prices per node-hour, with provenance, or why unknown.
#[derive(Debug, Clone, Serialize)]
pub struct PoolPrices {
    /// Dedicated node-hour.
    pub dedicated: PriceOrUnknown,
    /// Spot node-hour.
    pub spot: PriceOrUnknown,
}

/// A price, or the reason there is none.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum PriceOrUnknown {
    /// Known.
    Known(Price),
    /// Unknown.
    Unknown {
        /// Always `null`, so that readers test one field.
        per_hour: Option<f64>,
        /// Why.
        unknown: String,
    },
}

impl From<&Lookup> for PriceOrUnknown {
    fn from(l: &Lookup) -> Self {
        match l {
            Lookup::Known(p) => Self::Known(p.clone()),
            Lookup::Unknown { reason } => Self::Unknown {
                per_hour: None,
                unknown: reason.clone(),
            },
        }
    }
}

/// The region to price in: `--region`, else the one in a Batch account URL
/// (`https://NAME.REGION.batch.azure.com`).
pub fn region(flag: Option<&str>, account_url: Option<&str>) -> Option<String> {
    if let Some(r) = flag.map(str::trim).filter(|r| !r.is_empty()) {
        return Some(r.to_ascii_lowercase());
    }
    let url = url_host(account_url?)?;
    let labels: Vec<&str> = url.split('.').collect();
    (labels.len() == 5 && url.ends_with(".batch.azure.com")).then(|| labels[1].to_ascii_lowercase())
}

fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', ':', '?']).next()?;
    Some(host.to_ascii_lowercase())
}

pub fn os_of(os: OsType) -> Os {
    match os {
        OsType::Linux => Os::Linux,
        OsType::Windows => Os::Windows,
    }
}

fn count(v: Option<i32>) -> u32 {
    v.and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
}

/// Prices the recipe's pools in `region`.
pub async fn estimate(
    intent: &Intent,
    observed: &Observed,
    region: &str,
    duration: Option<Duration>,
    options: PricesOptions,
) -> CostReport {
    let mut prices = Prices::new(options);
    let mut pools = Vec::new();
    let lookups = |vm_size: &str, os: Os| {
        let d = PriceKey::new(vm_size, region, os, Priority::Dedicated);
        let s = PriceKey::new(vm_size, region, os, Priority::Spot);
        (d, s)
    };
    for pool in &intent.pools {
        let p = &pool.payload;
        let os = os_of(pool.facts.os_type);
        let (dk, sk) = lookups(&p.vm_size, os);
        let dedicated = prices.get(&dk).await;
        let spot = prices.get(&sk).await;
        let autoscale = p.enable_auto_scale == Some(true);
        let wanted = (!autoscale).then(|| {
            PoolRate::of(
                NodeMix::new(
                    count(p.target_dedicated_nodes),
                    count(p.target_low_priority_nodes),
                ),
                &dedicated,
                &spot,
            )
        });
        let current = match observed.pools.get(&pool.id) {
            Some(live) => Some(live_rate(&live.pool, region, os, &mut prices).await),
            None => None,
        };
        let change = match (&wanted, &current) {
            (Some(w), Some(c)) => money::change_per_hour(c.per_hour, w.per_hour),
            (Some(w), None) => w.per_hour,
            (None, _) => None,
        };
        pools.push(PoolCost {
            pool: pool.id.clone(),
            vm_size: p.vm_size.clone(),
            os,
            autoscale,
            wanted,
            current,
            change_per_hour: change,
            prices: PoolPrices {
                dedicated: (&dedicated).into(),
                spot: (&spot).into(),
            },
        });
    }
    // Live pools of the recipe that it no longer has: the plan deletes them.
    for (id, live) in &observed.pools {
        if intent.pools.iter().any(|p| &p.id == id) {
            continue;
        }
        let vm_size = live.pool.vm_size.clone().unwrap_or_default();
        let os = Os::Linux;
        let current = live_rate(&live.pool, region, os, &mut prices).await;
        let (dk, sk) = lookups(&vm_size, os);
        pools.push(PoolCost {
            pool: id.clone(),
            vm_size,
            os,
            autoscale: live.pool.enable_auto_scale == Some(true),
            change_per_hour: current.per_hour.map(|v| -v),
            current: Some(current),
            wanted: None,
            prices: PoolPrices {
                dedicated: (&prices.lookup(&dk)).into(),
                spot: (&prices.lookup(&sk)).into(),
            },
        });
    }
    let per_hour = money::sum(
        pools
            .iter()
            .filter_map(|p| p.wanted.as_ref().map(|w| w.per_hour)),
    );
    let change_per_hour = money::sum(pools.iter().map(|p| p.change_per_hour));
    let hours = duration.map(|d| d.as_secs_f64() / 3600.0);
    CostReport {
        region: region.to_owned(),
        currency: "USD".to_owned(),
        per_hour,
        change_per_hour,
        duration_hours: hours,
        expected_cost: hours.map(|h| per_hour.map(|r| r * h)),
        sources: prices.sources(),
        notes: prices.notes().to_vec(),
        pools,
    }
}

/// A live pool's rate at its current targets (what it is billed for once they are reached).
async fn live_rate(
    pool: &batchyard_batch::models::BatchPool,
    region: &str,
    os: Os,
    prices: &mut Prices,
) -> PoolRate {
    let vm_size = pool.vm_size.clone().unwrap_or_default();
    let d = prices
        .get(&PriceKey::new(&vm_size, region, os, Priority::Dedicated))
        .await;
    let s = prices
        .get(&PriceKey::new(&vm_size, region, os, Priority::Spot))
        .await;
    PoolRate::of(
        NodeMix::new(
            count(pool.target_dedicated_nodes),
            count(pool.target_low_priority_nodes),
        ),
        &d,
        &s,
    )
}

impl CostReport {
    /// The human lines.
    pub fn lines(&self) -> Vec<String> {
        let c = self.currency.as_str();
        let amount = |a: Amount| format_amount(a, c);
        let signed = |a: Amount| match a {
            Some(v) if v > 0.0 => format!("+{}/hour", format_amount(Some(v), c)),
            Some(v) => format!("{}/hour", format_amount(Some(v), c)),
            None => "price unknown".to_owned(),
        };
        let hourly = |a: Amount| match a {
            Some(_) => format!("{}/hour", amount(a)),
            None => "price unknown".to_owned(),
        };
        let mut out = vec![format!(
            "Cost in {} ({}):",
            self.region,
            self.sources
                .iter()
                .map(describe_source)
                .collect::<Vec<_>>()
                .join("; ")
        )];
        for p in &self.pools {
            let price = |x: &PriceOrUnknown| match x {
                PriceOrUnknown::Known(p) => format_amount(Some(p.per_hour), c),
                PriceOrUnknown::Unknown { .. } => "price unknown".to_owned(),
            };
            let head = format!("  pool {} ({}, {}):", p.pool, p.vm_size, p.os);
            match &p.wanted {
                Some(w) => out.push(format!(
                    "{head} {} dedicated + {} spot = {} node-hours/hour at {} dedicated, {} spot = {}",
                    w.nodes.dedicated,
                    w.nodes.spot,
                    w.node_hours_per_hour,
                    price(&p.prices.dedicated),
                    price(&p.prices.spot),
                    hourly(w.per_hour)
                )),
                None if p.autoscale => out.push(format!(
                    "{head} autoscale: node count set by the formula, {} per dedicated node-hour, {} per spot node-hour",
                    price(&p.prices.dedicated),
                    price(&p.prices.spot)
                )),
                None => out.push(format!("{head} deleted by this plan")),
            }
            if let Some(cur) = &p.current {
                out.push(format!(
                    "      now {} dedicated + {} spot = {}; change {}",
                    cur.nodes.dedicated,
                    cur.nodes.spot,
                    hourly(cur.per_hour),
                    signed(p.change_per_hour)
                ));
            }
            for x in [&p.prices.dedicated, &p.prices.spot] {
                if let PriceOrUnknown::Unknown { unknown, .. } = x {
                    out.push(format!("      price unknown: {unknown}"));
                }
            }
        }
        let autoscaled = self.pools.iter().any(|p| p.autoscale && p.wanted.is_none());
        let but = if autoscaled {
            " (autoscale pools not counted)"
        } else {
            ""
        };
        out.push(format!(
            "  total {}{but}; this plan changes it by {}",
            hourly(self.per_hour),
            signed(self.change_per_hour)
        ));
        if let (Some(h), Some(cost)) = (self.duration_hours, self.expected_cost) {
            out.push(format!("  expected cost over {h} h: {}{but}", amount(cost)));
        }
        for n in &self.notes {
            out.push(format!("  note: {n}"));
        }
        out
    }
}

fn describe_source(s: &SourceUsed) -> String {
    match s.origin {
        batchyard_cost::Origin::Snapshot => format!(
            "prices from batchyard's snapshot of {} (refresh: {})",
            s.date, s.detail
        ),
        batchyard_cost::Origin::Cache => format!(
            "prices from the Azure Retail Prices API as cached on {} ({})",
            s.date, s.detail
        ),
        batchyard_cost::Origin::RetailPricesApi => format!(
            "prices from the Azure Retail Prices API on {} ({})",
            s.date, s.detail
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_region_comes_from_the_flag_or_the_account_url() {
        assert_eq!(region(Some("EastUS"), None).as_deref(), Some("eastus"));
        assert_eq!(
            region(None, Some("https://acct.westeurope.batch.azure.com")).as_deref(),
            Some("westeurope")
        );
        assert_eq!(
            region(
                Some("uksouth"),
                Some("https://acct.westeurope.batch.azure.com/")
            )
            .as_deref(),
            Some("uksouth")
        );
        assert_eq!(region(None, Some("http://127.0.0.1:8080")), None);
        assert_eq!(region(None, None), None);
    }
}
