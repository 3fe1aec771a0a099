//! Azure's public Retail Prices API: `GET https://prices.azure.com/api/retail/prices` with
//! an OData `$filter`, no authentication, answered in pages of `Items` linked by
//! `NextPageLink` (<https://learn.microsoft.com/rest/api/cost-management/retail-prices/azure-retail-prices>).
//!
//! One request per VM size and region returns all of that size's meters there: Linux and
//! Windows, pay-as-you-go, Spot, Low Priority, Dev/Test and reservations. `select` keeps
//! the ones a Batch node is billed on.

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::price::{Os, Priority};

/// The public endpoint.
pub const DEFAULT_URL: &str = "https://prices.azure.com/api/retail/prices";

/// The environment variable that points batchyard at another endpoint (a proxy, a test
/// server), or turns the live lookup off with `off`.
pub const URL_ENV: &str = "BATCHYARD_RETAIL_PRICES_URL";

/// Pages followed at most: one size in one region is a handful of items, so more pages
/// than this means the filter was not applied.
const MAX_PAGES: usize = 20;

/// How long one lookup may take before the plan falls back to the cache or the snapshot.
pub const TIMEOUT: Duration = Duration::from_secs(8);

/// One meter a Batch node of some size can be billed on.
#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
pub struct Meter {
    /// Linux or Windows.
    pub os: Os,
    /// Dedicated (pay-as-you-go) or spot.
    pub priority: Priority,
    /// `retailPrice`, per hour.
    pub per_hour: f64,
    /// `currencyCode`.
    pub currency: String,
    /// `meterName`, e.g. `D4s v5 Spot`.
    pub meter: String,
    /// `productName`, e.g. `Virtual Machines Dsv5 Series Windows`.
    pub product: String,
    /// `effectiveStartDate`.
    pub effective: String,
}

/// Why the API gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum RetailError {
    /// The endpoint could not be reached or answered with an error status.
    #[error("the Retail Prices API at {url} did not answer: {detail}")]
    Unreachable {
        /// The request.
        url: String,
        /// What went wrong.
        detail: String,
    },
    /// The answer was not in the API's shape.
    #[error("the Retail Prices API's answer could not be read: {0}")]
    Shape(String),
    /// The size or region name cannot be put in a filter.
    #[error("`{0}` is not a VM size or region name")]
    BadName(String),
}

/// One page of the API's answer.
#[derive(Debug, Deserialize)]
struct Page {
    #[serde(rename = "Items", default)]
    items: Vec<Item>,
    #[serde(rename = "NextPageLink", default)]
    next_page_link: Option<String>,
}

/// One item of a page; fields as the API names them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Item {
    currency_code: String,
    retail_price: f64,
    arm_region_name: String,
    arm_sku_name: String,
    meter_name: String,
    product_name: String,
    sku_name: String,
    service_name: String,
    #[serde(rename = "type")]
    kind: String,
    unit_of_measure: String,
    is_primary_meter_region: Option<bool>,
    effective_start_date: String,
}

/// The base URL from [`URL_ENV`], or the public endpoint; `None` when turned off.
pub fn configured_url() -> Option<String> {
    match std::env::var(URL_ENV) {
        Ok(v) if v.trim().eq_ignore_ascii_case("off") => None,
        Ok(v) if !v.trim().is_empty() => Some(v.trim().to_owned()),
        _ => Some(DEFAULT_URL.to_owned()),
    }
}

fn check_name(name: &str) -> Result<&str, RetailError> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(name)
    } else {
        Err(RetailError::BadName(name.to_owned()))
    }
}

/// The `$filter` for one size in one region, pay-as-you-go and spot prices only.
pub fn filter(vm_size: &str, region: &str) -> Result<String, RetailError> {
    let size = check_name(vm_size)?;
    let region = check_name(region)?;
    Ok(format!(
        "serviceName eq 'Virtual Machines' and armRegionName eq '{}' and armSkuName eq '{size}' and priceType eq 'Consumption'",
        region.to_ascii_lowercase()
    ))
}

/// The first page's URL.
pub fn request_url(base: &str, vm_size: &str, region: &str) -> Result<Url, RetailError> {
    let mut url = Url::parse(base).map_err(|e| RetailError::Unreachable {
        url: base.to_owned(),
        detail: e.to_string(),
    })?;
    url.query_pairs_mut()
        .append_pair("$filter", &filter(vm_size, region)?);
    Ok(url)
}

/// Asks the API for one size in one region and keeps the meters a Batch node is billed
/// on. Follows `NextPageLink` while it stays on the same host as `base`.
pub async fn fetch(
    client: &reqwest::Client,
    base: &str,
    vm_size: &str,
    region: &str,
) -> Result<Vec<Meter>, RetailError> {
    let first = request_url(base, vm_size, region)?;
    let mut next = Some(first.clone());
    let mut items = Vec::new();
    for _ in 0..MAX_PAGES {
        let Some(url) = next.take() else { break };
        let shown = url.to_string();
        let unreachable = |detail: String| RetailError::Unreachable {
            url: shown.clone(),
            detail,
        };
        let response = client
            .get(url)
            .timeout(TIMEOUT)
            .send()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(unreachable(format!("HTTP {status}")));
        }
        let page: Page = response
            .json()
            .await
            .map_err(|e| RetailError::Shape(e.to_string()))?;
        items.extend(page.items);
        next = match page.next_page_link.filter(|l| !l.is_empty()) {
            Some(link) => {
                let link = Url::parse(&link).map_err(|e| RetailError::Shape(e.to_string()))?;
                if link.host_str() != first.host_str() {
                    return Err(RetailError::Shape(format!(
                        "NextPageLink leaves {}: {link}",
                        first.host_str().unwrap_or("the endpoint")
                    )));
                }
                Some(link)
            }
            None => None,
        };
    }
    Ok(select(items, vm_size, region))
}

/// Parses one page's JSON text and selects its meters (for callers holding a saved answer).
pub fn select_from_json(
    text: &str,
    vm_size: &str,
    region: &str,
) -> Result<Vec<Meter>, RetailError> {
    let page: Page = serde_json::from_str(text).map_err(|e| RetailError::Shape(e.to_string()))?;
    Ok(select(page.items, vm_size, region))
}

/// The meters a Batch node is billed on: `Virtual Machines`, `Consumption`, per hour, for
/// this size and region; Linux unless the product ends in `Windows`; spot when the meter
/// ends in `Spot`. `Low Priority` meters are left out: Batch's `lowPriority` nodes are
/// Spot VMs (<https://learn.microsoft.com/azure/batch/batch-spot-vms>). Of duplicates,
/// the latest effective date wins, then the primary meter region.
fn select(items: Vec<Item>, vm_size: &str, region: &str) -> Vec<Meter> {
    let mut chosen: Vec<(Meter, bool)> = Vec::new();
    for item in items {
        if item.service_name != "Virtual Machines"
            || item.kind != "Consumption"
            || item.unit_of_measure != "1 Hour"
            || !item.arm_sku_name.eq_ignore_ascii_case(vm_size)
            || !item.arm_region_name.eq_ignore_ascii_case(region)
            || item.meter_name.contains("Low Priority")
            || item.sku_name.contains("Low Priority")
            || !item.retail_price.is_finite()
            || item.retail_price < 0.0
        {
            continue;
        }
        let priority = if item.meter_name.ends_with(" Spot") || item.sku_name.ends_with(" Spot") {
            Priority::Spot
        } else {
            Priority::Dedicated
        };
        let os = if item.product_name.trim_end().ends_with("Windows") {
            Os::Windows
        } else {
            Os::Linux
        };
        let primary = item.is_primary_meter_region.unwrap_or(true);
        let meter = Meter {
            os,
            priority,
            per_hour: item.retail_price,
            currency: if item.currency_code.is_empty() {
                "USD".to_owned()
            } else {
                item.currency_code
            },
            meter: item.meter_name,
            product: item.product_name,
            effective: item.effective_start_date,
        };
        match chosen
            .iter_mut()
            .find(|(m, _)| m.os == os && m.priority == priority)
        {
            Some((existing, existing_primary)) => {
                let newer = (meter.effective.as_str(), primary)
                    > (existing.effective.as_str(), *existing_primary);
                if newer {
                    *existing = meter;
                    *existing_primary = primary;
                }
            }
            None => chosen.push((meter, primary)),
        }
    }
    chosen.into_iter().map(|(m, _)| m).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"{"Items": [
      {"currencyCode":"USD","retailPrice":0.192,"armRegionName":"eastus","armSkuName":"Standard_D4s_v5","meterName":"D4s v5","productName":"Virtual Machines Dsv5 Series","skuName":"D4s v5","serviceName":"Virtual Machines","type":"Consumption","unitOfMeasure":"1 Hour","isPrimaryMeterRegion":true,"effectiveStartDate":"2021-11-01T00:00:00Z"},
      {"currencyCode":"USD","retailPrice":0.376,"armRegionName":"eastus","armSkuName":"Standard_D4s_v5","meterName":"D4s v5","productName":"Virtual Machines Dsv5 Series Windows","skuName":"D4s v5","serviceName":"Virtual Machines","type":"Consumption","unitOfMeasure":"1 Hour","effectiveStartDate":"2021-11-01T00:00:00Z"},
      {"currencyCode":"USD","retailPrice":0.03,"armRegionName":"eastus","armSkuName":"Standard_D4s_v5","meterName":"D4s v5 Spot","productName":"Virtual Machines Dsv5 Series","skuName":"D4s v5 Spot","serviceName":"Virtual Machines","type":"Consumption","unitOfMeasure":"1 Hour","effectiveStartDate":"2024-01-01T00:00:00Z"},
      {"currencyCode":"USD","retailPrice":0.02,"armRegionName":"eastus","armSkuName":"Standard_D4s_v5","meterName":"D4s v5 Spot","productName":"Virtual Machines Dsv5 Series","skuName":"D4s v5 Spot","serviceName":"Virtual Machines","type":"Consumption","unitOfMeasure":"1 Hour","effectiveStartDate":"2023-01-01T00:00:00Z"},
      {"currencyCode":"USD","retailPrice":0.04,"armRegionName":"eastus","armSkuName":"Standard_D4s_v5","meterName":"D4s v5 Low Priority","productName":"Virtual Machines Dsv5 Series","skuName":"D4s v5 Low Priority","serviceName":"Virtual Machines","type":"Consumption","unitOfMeasure":"1 Hour"},
      {"currencyCode":"USD","retailPrice":0.1,"armRegionName":"eastus","armSkuName":"Standard_D4s_v5","meterName":"D4s v5","productName":"Virtual Machines Dsv5 Series","skuName":"D4s v5","serviceName":"Virtual Machines","type":"DevTestConsumption","unitOfMeasure":"1 Hour"},
      {"currencyCode":"USD","retailPrice":900,"armRegionName":"eastus","armSkuName":"Standard_D4s_v5","meterName":"D4s v5","productName":"Virtual Machines Dsv5 Series","skuName":"D4s v5","serviceName":"Virtual Machines","type":"Reservation","unitOfMeasure":"1 Hour"}
    ], "NextPageLink": null}"#;

    #[test]
    fn keeps_the_meters_a_batch_node_is_billed_on() {
        let meters = select_from_json(PAGE, "standard_d4s_v5", "EastUS").expect("page");
        let find = |os, priority| {
            meters
                .iter()
                .find(|m| m.os == os && m.priority == priority)
                .map(|m| m.per_hour)
        };
        assert_eq!(meters.len(), 3, "{meters:?}");
        assert_eq!(find(Os::Linux, Priority::Dedicated), Some(0.192));
        assert_eq!(find(Os::Windows, Priority::Dedicated), Some(0.376));
        assert_eq!(
            find(Os::Linux, Priority::Spot),
            Some(0.03),
            "latest spot price wins"
        );
        assert_eq!(find(Os::Windows, Priority::Spot), None);
    }

    #[test]
    fn the_filter_refuses_names_that_would_change_it() {
        assert!(filter("Standard_D4s_v5' or 1 eq 1", "eastus").is_err());
        let f = filter("Standard_D4s_v5", "EastUS").expect("filter");
        assert!(f.contains("armRegionName eq 'eastus'"), "{f}");
        assert!(f.contains("armSkuName eq 'Standard_D4s_v5'"), "{f}");
    }
}
