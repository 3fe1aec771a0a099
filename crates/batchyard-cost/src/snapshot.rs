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
    /// The date the source was read (or, for a dated page, its date), `YYYY-MM-DD`.
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

    #[test]
    fn every_figure_is_sourced_dated_and_unique() {
        let s = shipped();
        assert_eq!(s.currency, "USD");
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
