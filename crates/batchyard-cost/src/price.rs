//! The vocabulary: what a price is for, what it is, and where it came from.

use serde::{Deserialize, Serialize};

/// Dedicated nodes, or spot nodes (Batch's `lowPriority` counts, billed on the Spot meter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Pay-as-you-go nodes.
    Dedicated,
    /// Spot nodes: the Retail Prices API's `... Spot` meters.
    Spot,
}

impl std::fmt::Display for Priority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Dedicated => "dedicated",
            Self::Spot => "spot",
        })
    }
}

/// The operating system meter: Windows VM prices include the Windows licence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Os {
    /// The Linux meter (products without a `Windows` suffix).
    Linux,
    /// The Windows meter (products named `... Windows`).
    Windows,
}

impl std::fmt::Display for Os {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Linux => "linux",
            Self::Windows => "windows",
        })
    }
}

/// What a price is asked for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PriceKey {
    /// The ARM SKU name, e.g. `Standard_D4s_v5` (compared without regard to case).
    pub vm_size: String,
    /// The ARM region name, e.g. `eastus` (compared without regard to case).
    pub region: String,
    /// Linux or Windows meter.
    pub os: Os,
    /// Dedicated or spot.
    pub priority: Priority,
}

impl PriceKey {
    /// A key; names are kept as given and compared case-insensitively.
    pub fn new(vm_size: &str, region: &str, os: Os, priority: Priority) -> Self {
        Self {
            vm_size: vm_size.to_owned(),
            region: region.to_owned(),
            os,
            priority,
        }
    }

    pub(crate) fn matches(&self, vm_size: &str, region: &str, os: Os, priority: Priority) -> bool {
        self.vm_size.eq_ignore_ascii_case(vm_size)
            && self.region.eq_ignore_ascii_case(region)
            && self.os == os
            && self.priority == priority
    }
}

/// Where a figure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// Azure's Retail Prices API, asked during this command.
    RetailPricesApi,
    /// The user's cache of an earlier answer of the Retail Prices API.
    Cache,
    /// The snapshot shipped with batchyard.
    Snapshot,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::RetailPricesApi => "Azure Retail Prices API",
            Self::Cache => "cached Azure Retail Prices API answer",
            Self::Snapshot => "batchyard's price snapshot",
        })
    }
}

/// One hourly price and its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Price {
    /// Price of one node for one hour.
    pub per_hour: f64,
    /// ISO 4217 code; the Retail Prices API's default, `USD`.
    pub currency: String,
    /// Where the figure came from.
    pub origin: Origin,
    /// The date the figure was read from its source, `YYYY-MM-DD`.
    pub date: String,
    /// The public page or API request the figure was copied from.
    pub source: String,
    /// The meter, e.g. `D4s v5 Spot`, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meter: Option<String>,
}

/// The answer to a price question.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// A figure with its source.
    Known(Price),
    /// No figure: the plan says "price unknown" and why.
    Unknown {
        /// Why, in a sentence fragment (e.g. "not in the snapshot").
        reason: String,
    },
}

impl Lookup {
    /// The price, when known.
    pub fn price(&self) -> Option<&Price> {
        match self {
            Self::Known(p) => Some(p),
            Self::Unknown { .. } => None,
        }
    }
}
