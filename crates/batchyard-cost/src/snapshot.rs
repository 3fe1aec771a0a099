//! The price snapshot shipped with batchyard (`data/prices.json`): what a plan uses when
//! the Retail Prices API cannot be reached and nothing is cached. Every figure carries the
//! public page or API request it was copied from and the date it was read; a size or
//! region it lacks is "price unknown". `docs/cost.md` says how to refresh it.

use std::sync::OnceLock;

use serde::Deserialize;

use crate::price::{Lookup, Origin, Os, Price, PriceKey, Priority};

const DATA: &str = include_str!("../data/prices.json");

/// The snapshot file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// When the snapshot was assembled, `YYYY-MM-DD`.
    pub date: String,
    /// The currency of every figure.
    pub currency: String,
    /// The command that refreshes it.
    pub refresh: String,
    /// What the figures are.
    pub about: String,
    /// The figures.
    pub prices: Vec<Entry>,
}

/// One figure.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// ARM SKU name.
    pub vm_size: String,
    /// ARM region name.
    pub region: String,
    /// Linux or Windows meter.
    pub os: Os,
    /// Dedicated or spot.
    pub priority: Priority,
    /// Per node-hour.
    pub per_hour: f64,
    /// The meter, as the source names it.
    #[serde(default)]
    pub meter: Option<String>,
    /// The public page or API request the figure was copied from.
    pub source: String,
    /// The figure's date, `YYYY-MM-DD`: the `effectiveStartDate` of the API item it was
    /// copied from, or the date a page was read.
    pub source_date: String,
}

/// The shipped snapshot.
pub fn shipped() -> &'static Snapshot {
    static SNAPSHOT: OnceLock<Snapshot> = OnceLock::new();
    SNAPSHOT.get_or_init(|| {
        // The file is part of the build and checked by this crate's tests.
        serde_json::from_str(DATA).expect("data/prices.json is valid")
    })
}

impl Snapshot {
    /// Parses a snapshot file (the refresh command reads the one it rewrites).
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The figure for `key`, or why there is none.
    pub fn lookup(&self, key: &PriceKey) -> Lookup {
        let found = self
            .prices
            .iter()
            .find(|e| key.matches(&e.vm_size, &e.region, e.os, e.priority));
        match found {
            Some(e) => Lookup::Known(Price {
                per_hour: e.per_hour,
                currency: self.currency.clone(),
                origin: Origin::Snapshot,
                date: e.source_date.clone(),
                source: e.source.clone(),
                meter: e.meter.clone(),
            }),
            None => Lookup::Unknown {
                reason: format!(
                    "no {} {} price for {} in {} in the snapshot of {}",
                    key.os, key.priority, key.vm_size, key.region, self.date
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped_price(vm_size: &str, priority: Priority) -> Lookup {
        shipped().lookup(&PriceKey::new(vm_size, "westus", Os::Linux, priority))
    }

    #[test]
    fn cost_arithmetic_with_the_shipped_snapshot() {
        use crate::money::{NodeMix, PoolRate, format_amount};
        // Figures copied from the Retail Prices API's own output (see data/prices.json).
        let d48 = shipped_price("Standard_D48_v4", Priority::Dedicated);
        let d4_spot = shipped_price("standard_d4_V2", Priority::Spot);
        let p = d48.price().expect("Standard_D48_v4 is in the snapshot");
        assert_eq!((p.per_hour, p.date.as_str()), (2.688, "2021-11-01"));
        assert_eq!(p.origin, Origin::Snapshot);
        assert!(
            p.source.contains("AzurePriceList_westus.csv"),
            "{}",
            p.source
        );
        assert_eq!(d4_spot.price().map(|p| p.per_hour), Some(0.113812));

        // 2 dedicated D48_v4 and no spot: 2 x 2.688 = 5.376 an hour, 53.76 over 10 h.
        let rate = PoolRate::of(
            NodeMix::new(2, 0),
            &d48,
            &Lookup::Unknown { reason: "x".into() },
        );
        assert_eq!(rate.node_hours_per_hour, 2);
        assert!((rate.per_hour.unwrap() - 5.376).abs() < 1e-12);
        assert!((rate.over(10.0).unwrap() - 53.76).abs() < 1e-9);
        assert_eq!(format_amount(rate.over(10.0), "USD"), "$53.76");

        // 3 spot D4_v2 nodes: 3 x 0.113812 = 0.341436 an hour.
        let unknown_dedicated = shipped_price("Standard_D4_v2", Priority::Dedicated);
        assert!(
            unknown_dedicated.price().is_none(),
            "no dedicated D4_v2 figure was copied"
        );
        let rate = PoolRate::of(NodeMix::new(0, 3), &unknown_dedicated, &d4_spot);
        assert!((rate.per_hour.unwrap() - 0.341436).abs() < 1e-12);
        // One dedicated node at an unknown price makes the pool's price unknown.
        let rate = PoolRate::of(NodeMix::new(1, 3), &unknown_dedicated, &d4_spot);
        assert_eq!(rate.per_hour, None);
        assert_eq!(format_amount(rate.over(10.0), "USD"), "price unknown");

        // A size of the shipped recipes has no copied figure: unknown, with the reason.
        match shipped_price("Standard_D2s_v5", Priority::Dedicated) {
            Lookup::Unknown { reason } => {
                assert!(reason.contains("Standard_D2s_v5 in westus"), "{reason}")
            }
            Lookup::Known(p) => panic!("no figure was copied for Standard_D2s_v5: {p:?}"),
        }
    }

    #[test]
    fn every_figure_is_sourced_dated_and_unique() {
        let s = shipped();
        assert_eq!(s.currency, "USD");
        assert!(!s.prices.is_empty(), "the snapshot holds figures");
        assert!(!s.refresh.is_empty());
        let mut seen = std::collections::BTreeSet::new();
        for e in &s.prices {
            assert!(
                e.source.starts_with("https://"),
                "{} {}: source must be a public URL",
                e.vm_size,
                e.region
            );
            assert!(
                crate::cache::days_between(&e.source_date, &s.date).is_some_and(|d| d >= 0),
                "{} {}: source_date {} must be a date no later than the snapshot's",
                e.vm_size,
                e.region,
                e.source_date
            );
            assert!(e.per_hour.is_finite() && e.per_hour > 0.0);
            let key = (
                e.vm_size.to_ascii_lowercase(),
                e.region.to_ascii_lowercase(),
                e.os,
                e.priority,
            );
            assert!(
                seen.insert(key),
                "duplicate figure for {} {}",
                e.vm_size,
                e.region
            );
        }
    }
}
