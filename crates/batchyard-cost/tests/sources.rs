//! Where prices come from, against a real HTTP server in the Retail Prices API's shape:
//! the API when it answers (all pages), the cache after that, the stale cache and the
//! snapshot when it does not.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use batchyard_cost::cache::{Entry, PriceCache};
use batchyard_cost::{Lookup, Origin, Os, PriceKey, Prices, PricesOptions, Priority};
use serde_json::{Value, json};

struct Server {
    url: String,
    requests: Arc<AtomicUsize>,
}

/// A server that answers the filter for `Standard_D4s_v5` in `westeurope` in two pages, as
/// the API pages its answers, and records the filters it was sent.
async fn retail_server() -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let requests = Arc::new(AtomicUsize::new(0));
    let state = (base.clone(), requests.clone());
    let app = Router::new()
        .route("/api/retail/prices", get(answer))
        .with_state(state);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server {
        url: format!("{base}/api/retail/prices"),
        requests,
    }
}

fn item(meter: &str, product: &str, price: f64) -> Value {
    json!({
        "currencyCode": "USD", "tierMinimumUnits": 0.0, "retailPrice": price, "unitPrice": price,
        "armRegionName": "westeurope", "location": "EU West",
        "effectiveStartDate": "2025-01-01T00:00:00Z", "meterName": meter,
        "productName": product, "skuName": meter, "serviceName": "Virtual Machines",
        "serviceFamily": "Compute", "unitOfMeasure": "1 Hour", "type": "Consumption",
        "isPrimaryMeterRegion": true, "armSkuName": "Standard_D4s_v5"
    })
}

async fn answer(
    State((base, requests)): State<(String, Arc<AtomicUsize>)>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Json<Value> {
    requests.fetch_add(1, Ordering::SeqCst);
    let filter = q.get("$filter").cloned().unwrap_or_default();
    let wanted = filter.contains("armSkuName eq 'Standard_D4s_v5'")
        && filter.contains("armRegionName eq 'westeurope'")
        && filter.contains("serviceName eq 'Virtual Machines'");
    if !wanted {
        return Json(
            json!({"BillingCurrency": "USD", "Items": [], "NextPageLink": null, "Count": 0}),
        );
    }
    if q.contains_key("$skip") {
        return Json(json!({
            "BillingCurrency": "USD",
            "Items": [item("D4s v5 Spot", "Virtual Machines Dsv5 Series", 0.0423)],
            "NextPageLink": null, "Count": 1
        }));
    }
    let next = format!(
        "{base}/api/retail/prices?$filter={}&$skip=1",
        url_encode(&filter)
    );
    Json(json!({
        "BillingCurrency": "USD",
        "Items": [
            item("D4s v5", "Virtual Machines Dsv5 Series", 0.211),
            item("D4s v5", "Virtual Machines Dsv5 Series Windows", 0.395),
        ],
        "NextPageLink": next, "Count": 2
    }))
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn key(os: Os, priority: Priority) -> PriceKey {
    PriceKey::new("Standard_D4s_v5", "westeurope", os, priority)
}

fn known(l: &Lookup) -> (f64, Origin) {
    let p = l
        .price()
        .unwrap_or_else(|| panic!("expected a price, got {l:?}"));
    (p.per_hour, p.origin)
}

#[tokio::test]
async fn the_live_api_is_used_when_it_answers_and_cached_for_the_next_command() {
    let server = retail_server().await;
    let cache = tempfile::tempdir().expect("tempdir");
    let options = PricesOptions {
        retail_url: Some(server.url.clone()),
        cache_dir: Some(cache.path().to_path_buf()),
        today: "2026-12-03".into(),
    };
    let mut prices = Prices::new(options.clone());
    let linux = prices.get(&key(Os::Linux, Priority::Dedicated)).await;
    assert_eq!(known(&linux), (0.211, Origin::RetailPricesApi));
    assert_eq!(
        known(&prices.get(&key(Os::Windows, Priority::Dedicated)).await),
        (0.395, Origin::RetailPricesApi)
    );
    assert_eq!(
        known(&prices.get(&key(Os::Linux, Priority::Spot)).await),
        (0.0423, Origin::RetailPricesApi),
        "the spot meter is on the second page"
    );
    assert!(
        matches!(
            prices.get(&key(Os::Windows, Priority::Spot)).await,
            Lookup::Unknown { .. }
        ),
        "a meter the API does not list is unknown, not borrowed from elsewhere"
    );
    assert_eq!(
        server.requests.load(Ordering::SeqCst),
        2,
        "two pages, asked once"
    );
    let price = linux.price().expect("price");
    assert!(price.source.starts_with(&server.url), "{}", price.source);
    assert_eq!(price.date, "2026-12-03");
    assert_eq!(prices.sources()[0].origin, Origin::RetailPricesApi);

    // The next command, the same day: the cache answers and the API is not asked.
    let mut again = Prices::new(options);
    assert_eq!(
        known(&again.get(&key(Os::Linux, Priority::Dedicated)).await),
        (0.211, Origin::Cache)
    );
    assert_eq!(server.requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_unreachable_api_falls_back_to_a_stale_cache_then_the_snapshot() {
    // A port that was just free: nothing listens there.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}/api/retail/prices", l.local_addr().expect("addr"))
    };
    let cache = tempfile::tempdir().expect("tempdir");
    let options = PricesOptions {
        retail_url: Some(closed),
        cache_dir: Some(cache.path().to_path_buf()),
        today: "2026-12-03".into(),
    };

    let mut prices = Prices::new(options.clone());
    let lookup = prices.get(&key(Os::Linux, Priority::Dedicated)).await;
    assert_eq!(prices.notes().len(), 1, "{:?}", prices.notes());
    assert_eq!(prices.sources()[0].origin, Origin::Snapshot);
    if let Some(p) = lookup.price() {
        assert_eq!(p.origin, Origin::Snapshot);
    }

    // A cache entry from two months ago is used, with its own date, when the API is down.
    PriceCache::new(cache.path()).put(
        "Standard_D4s_v5",
        "westeurope",
        &Entry {
            fetched: "2026-10-01".into(),
            url: "https://prices.azure.com/api/retail/prices?$filter=x".into(),
            meters: batchyard_cost::retail::select_from_json(
                &json!({"Items": [item("D4s v5", "Virtual Machines Dsv5 Series", 0.2)]})
                    .to_string(),
                "Standard_D4s_v5",
                "westeurope",
            )
            .expect("items"),
        },
    );
    let mut prices = Prices::new(options);
    let p = prices.get(&key(Os::Linux, Priority::Dedicated)).await;
    let p = p.price().expect("cached price");
    assert_eq!(
        (p.per_hour, p.origin, p.date.as_str()),
        (0.2, Origin::Cache, "2026-10-01")
    );
}

#[tokio::test]
async fn a_stale_cache_is_refreshed_from_the_api() {
    let server = retail_server().await;
    let cache = tempfile::tempdir().expect("tempdir");
    PriceCache::new(cache.path()).put(
        "Standard_D4s_v5",
        "westeurope",
        &Entry {
            fetched: "2026-01-01".into(),
            url: "old".into(),
            meters: vec![],
        },
    );
    let mut prices = Prices::new(PricesOptions {
        retail_url: Some(server.url.clone()),
        cache_dir: Some(cache.path().to_path_buf()),
        today: "2026-12-03".into(),
    });
    assert_eq!(
        known(&prices.get(&key(Os::Linux, Priority::Dedicated)).await),
        (0.211, Origin::RetailPricesApi)
    );
    let saved = PriceCache::new(cache.path())
        .get("Standard_D4s_v5", "westeurope")
        .expect("cached");
    assert_eq!(saved.fetched, "2026-12-03");
}
