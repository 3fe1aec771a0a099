//! What pools cost.
//!
//! A Batch node is billed as the virtual machine it runs on: the VM size's hourly price in
//! the pool's region, on the Linux or Windows meter after the pool's image, and on the
//! `Spot` meter for spot (low-priority) nodes. This crate answers two questions:
//!
//! - **What does one node-hour cost?** [`Prices::lookup`] takes a [`PriceKey`] (VM size,
//!   region, OS, priority) and gives a [`Price`] (USD per hour, where the figure came
//!   from, its date) or [`Lookup::Unknown`]. Figures come, in this order, from the user's
//!   cache of Azure's public Retail Prices API (fresh for [`cache::FRESH_DAYS`]), from the
//!   API itself ([`retail`], no authentication), from a stale cache, and from the dated
//!   snapshot shipped in this crate ([`snapshot`]), where every figure names its public
//!   source. A size with no figure anywhere is unknown: nothing is estimated.
//! - **What do node-hours cost?** [`money`] turns node counts, hours and prices into
//!   amounts, keeping unknown prices unknown instead of counting them as zero.

pub mod cache;
pub mod money;
pub mod price;
pub mod prices;
pub mod retail;
pub mod snapshot;

pub use money::{Amount, NodeMix, PoolRate};
pub use price::{Lookup, Origin, Os, Price, PriceKey, Priority};
pub use prices::{Prices, PricesOptions};
