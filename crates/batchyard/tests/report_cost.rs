//! The cost in the run report: node-hours priced at the pool's VM size, priority and
//! region, with the source and date of each price, or "price unknown" when none is known.
#![allow(clippy::unwrap_used)]

mod e2e;

use e2e::*;

/// One spot node of Standard_D4_v2, whose westus Spot price is in batchyard's snapshot.
const RECIPE: &str = r#"
recipe: priced
pools:
  - id: cpu
    vm_size: Standard_D4_v2
    os: ubuntu-22.04
    nodes: { dedicated: 0, spot: 1 }
jobs:
  - id: work
    pool: cpu
    tasks:
      - id: "t-{{ index }}"
        command: /bin/sh -c 'sleep 0.{{ index }}'
        factory: { repeat: 2 }
"#;

/// The leading number of `text`.
fn leading_number(text: &str) -> f64 {
    let digits: String = text
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    digits.parse().unwrap()
}

#[test]
fn the_report_prices_the_runs_node_hours_or_says_the_price_is_unknown() {
    let (dir, recipe) = recipe_dir(RECIPE);
    let cache = tempfile::tempdir().unwrap();
    let page = dir.path().join("run.html");
    // No Retail Prices API: the price comes from the shipped snapshot.
    batchyard()
        .arg("run")
        .arg(&recipe)
        .args(["--region", "westus", "--report"])
        .arg(&page)
        .env("BATCHYARD_RETAIL_PRICES_URL", "off")
        .env("BATCHYARD_CACHE_DIR", cache.path())
        .assert()
        .success();
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("nothing is billed on the local Batch service; in westus they would cost $"),
        "{html}"
    );
    // The service spells the size in lower case; the price, its source and date follow.
    assert!(
        html.to_ascii_lowercase().contains(
            "pool cpu standard_d4_v2 spot $0.1138 per node-hour from batchyard&#39;s price snapshot of 2026-09-01"
        ),
        "{html}"
    );
    // The run's node-hours are tiny (two short tasks): the amount is their price, shown
    // to four decimals. The arithmetic itself is checked in the report module's tests.
    let (_, rest) = html.split_once("would cost $").unwrap();
    let (amount, rest) = rest.split_once(" for ").unwrap();
    let amount: f64 = amount.parse().unwrap();
    let hours = leading_number(rest);
    assert!(
        (amount - hours * 0.113812).abs() <= 0.0002,
        "{amount} for {hours} node-hours in {html}"
    );

    // Without a region the report says what it cannot price.
    let page = dir.path().join("report.html");
    batchyard()
        .args(["report", "work", "--recipe"])
        .arg(&recipe)
        .arg("--out")
        .arg(&page)
        .env_remove("BATCHYARD_REGION")
        .assert()
        .success();
    stop_local(&dir.path().join(".batchyard"));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("on the local Batch service, where nothing is billed; price unknown: give --region to price them"),
        "{html}"
    );
}
