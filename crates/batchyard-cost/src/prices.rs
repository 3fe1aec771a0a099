//! Choosing where each price comes from: a fresh cache entry, the Retail Prices API, a
//! stale cache entry, then the shipped snapshot, once per VM size and region.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::cache::{self, PriceCache};
use crate::price::{Lookup, Origin, Price, PriceKey};
use crate::retail::{self, Meter};
use crate::snapshot::{self, Snapshot};

/// Where to look.
#[derive(Debug, Clone)]
pub struct PricesOptions {
    /// The Retail Prices API's base URL; `None` never asks it.
    pub retail_url: Option<String>,
    /// The cache folder (see [`cache::base_dir`]); `None` caches nothing.
    pub cache_dir: Option<PathBuf>,
    /// Today, `YYYY-MM-DD`, for the cache's age.
    pub today: String,
}

impl PricesOptions {
    /// From the environment: [`retail::URL_ENV`], [`cache::DIR_ENV`] and the platform's
    /// cache folder.
    pub fn from_env() -> Self {
        Self {
            retail_url: retail::configured_url(),
            cache_dir: cache::base_dir(),
            today: cache::today(),
        }
    }

    /// The snapshot only: no network, no cache.
    pub fn offline() -> Self {
        Self {
            retail_url: None,
            cache_dir: None,
            today: cache::today(),
        }
    }
}

/// The meters known for one size in one region, and where they came from.
#[derive(Debug, Clone)]
enum Resolved {
    Meters {
        origin: Origin,
        date: String,
        url: String,
        meters: Vec<Meter>,
    },
    Snapshot,
}

/// One source a set of prices used, for the plan's "prices from ..." line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SourceUsed {
    /// API, cache or snapshot.
    pub origin: Origin,
    /// The date of its figures (the snapshot's own date for the snapshot).
    pub date: String,
    /// For the API and the cache, the endpoint; for the snapshot, its refresh command.
    pub detail: String,
}

/// Prices for the sizes and regions a command needs.
pub struct Prices {
    options: PricesOptions,
    client: Option<reqwest::Client>,
    snapshot: &'static Snapshot,
    resolved: HashMap<(String, String), Resolved>,
    live_failed: bool,
    notes: Vec<String>,
}

impl Prices {
    /// Prices looked up per `options`, falling back to the shipped snapshot.
    pub fn new(options: PricesOptions) -> Self {
        Self::with_snapshot(options, snapshot::shipped())
    }

    /// As [`Prices::new`], with another snapshot.
    pub fn with_snapshot(options: PricesOptions, snapshot: &'static Snapshot) -> Self {
        let client = options.retail_url.as_ref().and_then(|_| {
            reqwest::Client::builder()
                .connect_timeout(retail::TIMEOUT)
                .build()
                .ok()
        });
        Self {
            options,
            client,
            snapshot,
            resolved: HashMap::new(),
            live_failed: false,
            notes: Vec::new(),
        }
    }

    /// The price for `key`, resolving its size and region on first use.
    pub async fn get(&mut self, key: &PriceKey) -> Lookup {
        self.load(&key.vm_size, &key.region).await;
        self.lookup(key)
    }

    /// The price for `key` from what is already resolved (the snapshot otherwise).
    pub fn lookup(&self, key: &PriceKey) -> Lookup {
        match self.resolved.get(&pair(&key.vm_size, &key.region)) {
            Some(Resolved::Meters {
                origin,
                date,
                url,
                meters,
            }) => match meters
                .iter()
                .find(|m| m.os == key.os && m.priority == key.priority)
            {
                Some(m) => Lookup::Known(Price {
                    per_hour: m.per_hour,
                    currency: m.currency.clone(),
                    origin: *origin,
                    date: date.clone(),
                    source: url.clone(),
                    meter: Some(m.meter.clone()),
                }),
                None => Lookup::Unknown {
                    reason: format!(
                        "the Retail Prices API lists no {} {} price for {} in {} ({} of {date})",
                        key.os,
                        key.priority,
                        key.vm_size,
                        key.region,
                        if *origin == Origin::Cache {
                            "cached answer"
                        } else {
                            "answer"
                        }
                    ),
                },
            },
            Some(Resolved::Snapshot) | None => self.snapshot.lookup(key),
        }
    }

    /// Resolves one size in one region: fresh cache, API, stale cache, snapshot.
    pub async fn load(&mut self, vm_size: &str, region: &str) {
        let k = pair(vm_size, region);
        if self.resolved.contains_key(&k) {
            return;
        }
        let resolved = self.resolve(vm_size, region).await;
        self.resolved.insert(k, resolved);
    }

    async fn resolve(&mut self, vm_size: &str, region: &str) -> Resolved {
        let cache = self.options.cache_dir.as_deref().map(PriceCache::new);
        let cached = cache.as_ref().and_then(|c| c.get(vm_size, region));
        let from_cache = |e: cache::Entry| Resolved::Meters {
            origin: Origin::Cache,
            date: e.fetched,
            url: e.url,
            meters: e.meters,
        };
        if let Some(entry) = &cached
            && cache::days_between(&entry.fetched, &self.options.today)
                .is_some_and(|d| (0..=cache::FRESH_DAYS).contains(&d))
        {
            return from_cache(entry.clone());
        }
        if let (Some(base), Some(client), false) =
            (&self.options.retail_url, &self.client, self.live_failed)
        {
            match retail::fetch(client, base, vm_size, region).await {
                Ok(meters) => {
                    let url = retail::request_url(base, vm_size, region)
                        .map(|u| u.to_string())
                        .unwrap_or_else(|_| base.clone());
                    let entry = cache::Entry {
                        fetched: self.options.today.clone(),
                        url: url.clone(),
                        meters: meters.clone(),
                    };
                    if let Some(c) = &cache {
                        c.put(vm_size, region, &entry);
                    }
                    return Resolved::Meters {
                        origin: Origin::RetailPricesApi,
                        date: self.options.today.clone(),
                        url,
                        meters,
                    };
                }
                Err(retail::RetailError::BadName(name)) => {
                    self.notes.push(format!(
                        "`{name}` cannot be looked up as a VM size or region"
                    ));
                    return Resolved::Snapshot;
                }
                Err(e) => {
                    // One failure is enough: asking again for every size would multiply
                    // the wait of an offline plan.
                    self.live_failed = true;
                    self.notes.push(e.to_string());
                }
            }
        }
        match cached {
            Some(entry) => from_cache(entry),
            None => Resolved::Snapshot,
        }
    }

    /// Problems met on the way (an unreachable API), each once.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The sources the resolved prices came from, each once.
    pub fn sources(&self) -> Vec<SourceUsed> {
        let mut out: Vec<SourceUsed> = self
            .resolved
            .values()
            .map(|r| match r {
                Resolved::Meters {
                    origin, date, url, ..
                } => SourceUsed {
                    origin: *origin,
                    date: date.clone(),
                    detail: endpoint(url),
                },
                Resolved::Snapshot => SourceUsed {
                    origin: Origin::Snapshot,
                    date: self.snapshot.date.clone(),
                    detail: self.snapshot.refresh.clone(),
                },
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The snapshot in use.
    pub fn snapshot(&self) -> &Snapshot {
        self.snapshot
    }
}

fn pair(vm_size: &str, region: &str) -> (String, String) {
    (vm_size.to_ascii_lowercase(), region.to_ascii_lowercase())
}

/// A request URL without its query: where the figures came from, shortly.
fn endpoint(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_owned()
}
