//! Node-hours to money. An amount that depends on an unknown price is unknown (`None`),
//! never a smaller number: a plan that said "$0.00" for a GPU pool it had no price for
//! would be worse than one that says it does not know.

use serde::Serialize;

use crate::price::{Lookup, Price};

/// An amount of money, or `None` when a price it depends on is unknown.
pub type Amount = Option<f64>;

/// How many nodes of each priority.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NodeMix {
    /// Dedicated nodes.
    pub dedicated: u32,
    /// Spot nodes.
    pub spot: u32,
}

impl NodeMix {
    /// A mix.
    pub fn new(dedicated: u32, spot: u32) -> Self {
        Self { dedicated, spot }
    }

    /// All nodes.
    pub fn total(self) -> u32 {
        self.dedicated.saturating_add(self.spot)
    }
}

/// The cost of `node_hours` at `price`: zero node-hours cost nothing even at an unknown
/// price; otherwise the price must be known.
pub fn cost(node_hours: f64, price: Option<&Price>) -> Amount {
    if node_hours == 0.0 {
        return Some(0.0);
    }
    price.map(|p| node_hours * p.per_hour)
}

/// The sum of amounts: unknown when any is.
pub fn sum(amounts: impl IntoIterator<Item = Amount>) -> Amount {
    amounts
        .into_iter()
        .try_fold(0.0, |acc, a| a.map(|v| acc + v))
}

/// What a pool of fixed size costs per hour.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PoolRate {
    /// The nodes.
    pub nodes: NodeMix,
    /// Node-hours per hour: every node is billed while it is allocated.
    pub node_hours_per_hour: u32,
    /// Price of one dedicated node-hour.
    pub dedicated_per_hour: Option<f64>,
    /// Price of one spot node-hour.
    pub spot_per_hour: Option<f64>,
    /// The whole pool per hour; unknown when a price needed is.
    pub per_hour: Amount,
}

impl PoolRate {
    /// The rate of `nodes` at the given prices.
    pub fn of(nodes: NodeMix, dedicated: &Lookup, spot: &Lookup) -> Self {
        let d = dedicated.price();
        let s = spot.price();
        Self {
            nodes,
            node_hours_per_hour: nodes.total(),
            dedicated_per_hour: d.map(|p| p.per_hour),
            spot_per_hour: s.map(|p| p.per_hour),
            per_hour: sum([
                cost(f64::from(nodes.dedicated), d),
                cost(f64::from(nodes.spot), s),
            ]),
        }
    }

    /// The cost of running this pool for `hours`.
    pub fn over(&self, hours: f64) -> Amount {
        self.per_hour.map(|r| r * hours)
    }
}

/// How much an hour costs more (or less) after a change from `from` to `to`.
pub fn change_per_hour(from: Amount, to: Amount) -> Amount {
    Some(to? - from?)
}

/// An amount as text: `$12.35`, or `price unknown`. Sub-dollar amounts keep four
/// decimals so that a cheap node's hourly price is not shown as `$0.10` for `$0.096`.
pub fn format_amount(amount: Amount, currency: &str) -> String {
    match amount {
        None => "price unknown".to_owned(),
        Some(v) => format_value(v, currency),
    }
}

/// A known value as text (see [`format_amount`]).
pub fn format_value(v: f64, currency: &str) -> String {
    let symbol = if currency == "USD" { "$" } else { "" };
    let suffix = if currency == "USD" {
        String::new()
    } else {
        format!(" {currency}")
    };
    let sign = if v < 0.0 { "-" } else { "" };
    let a = v.abs();
    let digits = if a != 0.0 && a < 1.0 { 4 } else { 2 };
    format!("{sign}{symbol}{a:.digits$}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::price::Origin;

    fn price(v: f64) -> Lookup {
        Lookup::Known(Price {
            per_hour: v,
            currency: "USD".into(),
            origin: Origin::Snapshot,
            date: "2026-01-01".into(),
            source: "test".into(),
            meter: None,
        })
    }

    fn unknown() -> Lookup {
        Lookup::Unknown {
            reason: "not known".into(),
        }
    }

    #[test]
    fn zero_nodes_cost_nothing_even_at_an_unknown_price() {
        let rate = PoolRate::of(NodeMix::new(3, 0), &price(0.5), &unknown());
        assert_eq!(rate.per_hour, Some(1.5));
        assert_eq!(rate.node_hours_per_hour, 3);
    }

    #[test]
    fn an_unknown_price_makes_the_total_unknown() {
        let rate = PoolRate::of(NodeMix::new(3, 2), &price(0.5), &unknown());
        assert_eq!(rate.per_hour, None);
        assert_eq!(rate.over(10.0), None);
        assert_eq!(sum([Some(1.0), None]), None);
        assert_eq!(change_per_hour(None, Some(2.0)), None);
    }

    #[test]
    fn formats_small_and_large_amounts() {
        assert_eq!(format_amount(Some(0.096), "USD"), "$0.0960");
        assert_eq!(format_amount(Some(12.345), "USD"), "$12.35");
        assert_eq!(format_amount(Some(-1.5), "USD"), "-$1.50");
        assert_eq!(format_amount(None, "USD"), "price unknown");
        assert_eq!(format_amount(Some(2.0), "EUR"), "2.00 EUR");
    }
}
