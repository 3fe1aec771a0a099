//! The user's cache of Retail Prices API answers: one small JSON file per VM size and
//! region under `<cache folder>/batchyard/prices/`, with the time it was fetched, so that a
//! plan made offline still shows the last prices seen, and says how old they are.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::retail::Meter;

/// A cached answer younger than this is used without asking the API again: retail prices
/// change at most monthly.
pub const FRESH_DAYS: i64 = 7;

/// The environment variable that moves the cache (tests, read-only homes).
pub const DIR_ENV: &str = "BATCHYARD_CACHE_DIR";

/// One cached answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// When it was fetched, `YYYY-MM-DD`.
    pub fetched: String,
    /// The request it answers.
    pub url: String,
    /// The meters selected from it.
    pub meters: Vec<Meter>,
}

/// The user's cache folder for batchyard: `$BATCHYARD_CACHE_DIR`, else the platform's
/// (`$XDG_CACHE_HOME` or `~/.cache` on Linux, `~/Library/Caches` on macOS,
/// `%LOCALAPPDATA%` on Windows) with `batchyard` appended. `None` without a home.
pub fn base_dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = env(DIR_ENV) {
        return Some(dir);
    }
    let platform = if cfg!(target_os = "windows") {
        env("LOCALAPPDATA")
    } else if cfg!(target_os = "macos") {
        env("HOME").map(|h| h.join("Library").join("Caches"))
    } else {
        env("XDG_CACHE_HOME").or_else(|| env("HOME").map(|h| h.join(".cache")))
    };
    platform.map(|d| d.join("batchyard"))
}

/// The cache of prices under `base`.
#[derive(Debug, Clone)]
pub struct PriceCache {
    dir: PathBuf,
}

impl PriceCache {
    /// The cache in `base` (see [`base_dir`]).
    pub fn new(base: &Path) -> Self {
        Self {
            dir: base.join("prices"),
        }
    }

    fn path(&self, vm_size: &str, region: &str) -> PathBuf {
        // Names were checked by the filter builder before anything is cached; lower case
        // makes the file name independent of how the recipe spells them.
        self.dir.join(format!(
            "{}--{}.json",
            region.to_ascii_lowercase(),
            vm_size.to_ascii_lowercase()
        ))
    }

    /// The cached answer for a size and region, if any can be read.
    pub fn get(&self, vm_size: &str, region: &str) -> Option<Entry> {
        let text = std::fs::read_to_string(self.path(vm_size, region)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Saves an answer: written beside and renamed over, so that a reader never sees half
    /// a file. A cache that cannot be written is not an error for the plan.
    pub fn put(&self, vm_size: &str, region: &str, entry: &Entry) {
        let path = self.path(vm_size, region);
        let result = (|| -> std::io::Result<()> {
            std::fs::create_dir_all(&self.dir)?;
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, serde_json::to_vec_pretty(entry)?)?;
            std::fs::rename(&tmp, &path)
        })();
        if let Err(e) = result {
            tracing::debug!(path = %path.display(), "cannot write the price cache: {e}");
        }
    }
}

/// Days from `from` to `to` (dates `YYYY-MM-DD`), `None` when either does not parse.
pub fn days_between(from: &str, to: &str) -> Option<i64> {
    Some(day_number(to)? - day_number(from)?)
}

fn day_number(date: &str) -> Option<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(date.get(..10)?, &format).ok()?;
    Some(i64::from(d.to_julian_day()))
}

/// Today in UTC, `YYYY-MM-DD`.
pub fn today() -> String {
    let d = time::OffsetDateTime::now_utc().date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::price::{Os, Priority};

    #[test]
    fn an_entry_survives_a_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = PriceCache::new(dir.path());
        assert_eq!(cache.get("Standard_D4s_v5", "eastus"), None);
        let entry = Entry {
            fetched: "2026-12-01".into(),
            url: "https://prices.example/x".into(),
            meters: vec![Meter {
                os: Os::Linux,
                priority: Priority::Spot,
                per_hour: 0.05,
                currency: "USD".into(),
                meter: "D4s v5 Spot".into(),
                product: "Virtual Machines Dsv5 Series".into(),
                effective: "2024-01-01T00:00:00Z".into(),
            }],
        };
        cache.put("Standard_D4s_v5", "EastUS", &entry);
        assert_eq!(cache.get("standard_d4s_v5", "eastus"), Some(entry));
    }

    #[test]
    fn counts_days() {
        assert_eq!(days_between("2026-11-30", "2026-12-03"), Some(3));
        assert_eq!(days_between("2026-12-03T10:00:00Z", "2026-12-03"), Some(0));
        assert_eq!(days_between("soon", "2026-12-03"), None);
        assert_eq!(today().len(), 10);
    }
}
