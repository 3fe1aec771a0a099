//! The cost section of `plan`: prices from a server in the Retail Prices API's shape when
//! it answers, from the shipped snapshot when it does not, and the plan names which.
#![allow(clippy::unwrap_used)]

mod e2e;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use e2e::*;
use serde_json::{Value, json};

/// A one-thread HTTP server that answers every GET with `answer(path_and_query)` and keeps
/// the request lines it saw.
struct FakeHttp {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl FakeHttp {
    fn start(answer: impl Fn(&str) -> (u16, String) + Send + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                }
                let target = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                log.lock().unwrap().push(target.clone());
                let (status, body) = answer(&target);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self { url, seen }
    }
}

fn retail_item(meter: &str, product: &str, price: f64) -> Value {
    json!({
        "currencyCode": "USD", "retailPrice": price, "unitPrice": price,
        "armRegionName": "westeurope", "armSkuName": "Standard_D2s_v5",
        "meterName": meter, "skuName": meter, "productName": product,
        "serviceName": "Virtual Machines", "type": "Consumption", "unitOfMeasure": "1 Hour",
        "isPrimaryMeterRegion": true, "effectiveStartDate": "2025-01-01T00:00:00Z"
    })
}

fn plan(recipe: &str, url: &str, extra: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let cache = tempfile::tempdir().unwrap();
    let mut cmd = batchyard();
    cmd.args(["plan", recipe, "--account-url", url]).args(extra);
    cmd.env("BATCHYARD_CACHE_DIR", cache.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    // JSON is read from stdout alone; problems on stderr are shown after it on failure.
    if extra.contains(&"json") {
        assert!(out.status.success(), "{text}{err}");
        return (out.status.code().unwrap(), text);
    }
    (out.status.code().unwrap(), format!("{text}{err}"))
}

#[test]
fn plan_prices_pools_from_the_retail_prices_api_when_it_answers() {
    let (dir, recipe) = recipe_dir(SMALL);
    let served = Served::start(&dir.path().join("served.db"));
    let prices = FakeHttp::start(|target| {
        if target.contains("armSkuName%20eq%20%27Standard_D2s_v5%27")
            || target.contains("armSkuName+eq+%27Standard_D2s_v5%27")
        {
            let body = json!({"Items": [
                retail_item("D2s v5", "Virtual Machines Dsv5 Series", 0.115),
                retail_item("D2s v5 Spot", "Virtual Machines Dsv5 Series", 0.0231),
                retail_item("D2s v5", "Virtual Machines Dsv5 Series Windows", 0.207),
            ], "NextPageLink": null});
            (200, body.to_string())
        } else {
            (200, json!({"Items": [], "NextPageLink": null}).to_string())
        }
    });
    let api = format!("{}/api/retail/prices", prices.url);
    let env = [("BATCHYARD_RETAIL_PRICES_URL", api.as_str())];
    let r = recipe.to_str().unwrap();

    let (code, text) = plan(
        r,
        &served.url,
        &[
            "--region",
            "westeurope",
            "--duration",
            "10h",
            "--var",
            "nodes=3",
        ],
        &env,
    );
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("Cost in westeurope (prices from the Azure Retail Prices API on "),
        "{text}"
    );
    assert!(
        text.contains(
            "pool cpu (Standard_D2s_v5, linux): 3 dedicated + 0 spot = 3 node-hours/hour at $0.1150 dedicated, $0.0231 spot = $0.3450/hour"
        ),
        "{text}"
    );
    assert!(
        text.contains("this plan changes it by +$0.3450/hour"),
        "{text}"
    );
    assert!(text.contains("expected cost over 10 h: $3.45"), "{text}");
    assert!(
        prices
            .seen
            .lock()
            .unwrap()
            .iter()
            .any(|t| t.contains("westeurope")),
        "the filter names the region"
    );

    // JSON carries the same figures and the source.
    let (code, text) = plan(
        r,
        &served.url,
        &[
            "--region",
            "westeurope",
            "--duration",
            "10h",
            "--var",
            "nodes=3",
            "--output",
            "json",
        ],
        &env,
    );
    assert_eq!(code, 0, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    let cost = &v["cost"];
    assert_eq!(cost["region"], "westeurope");
    assert_eq!(cost["sources"][0]["origin"], "retail-prices-api");
    let pool = &cost["pools"][0];
    assert_eq!(pool["wanted"]["node_hours_per_hour"], 3);
    assert_eq!(pool["prices"]["dedicated"]["per_hour"], 0.115);
    assert_eq!(pool["prices"]["dedicated"]["origin"], "retail-prices-api");
    assert!(
        pool["prices"]["dedicated"]["source"]
            .as_str()
            .unwrap()
            .starts_with(&api)
    );
    assert!((cost["per_hour"].as_f64().unwrap() - 0.345).abs() < 1e-9);
    assert!((cost["expected_cost"].as_f64().unwrap() - 3.45).abs() < 1e-9);

    // With task duration estimates the plan simulates the run and prices it. Hand
    // computation: 12 tasks of 60 s on 3 nodes of 2 slots run in ceil(12 / 6) = 2 waves,
    // so the makespan is 120 s plus the boot time (16 s to 44 s, the simulator's default);
    // the 3 nodes are billed for the whole makespan at 0.115 an hour each.
    let (code, text) = plan(
        r,
        &served.url,
        &[
            "--region",
            "westeurope",
            "--task-durations",
            "60s",
            "--var",
            "nodes=3",
            "--var",
            "tasks=12",
            "--output",
            "json",
        ],
        &env,
    );
    assert_eq!(code, 0, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    let run = &v["expected_run"];
    let makespan = run["makespan_secs"].as_f64().unwrap();
    assert!((136.0..=164.0).contains(&makespan), "{run}");
    let node_hours = run["node_hours"].as_f64().unwrap();
    assert!((node_hours - 3.0 * makespan / 3600.0).abs() < 1e-9, "{run}");
    assert!(
        (run["cost"].as_f64().unwrap() - node_hours * 0.115).abs() < 1e-9,
        "{run}"
    );
    assert_eq!(run["currency"], "USD");
    assert_eq!(run["finished"], true);
    assert!(
        run["prices"].as_str().unwrap().contains("westeurope"),
        "{run}"
    );

    let (code, text) = plan(
        r,
        &served.url,
        &[
            "--region",
            "westeurope",
            "--task-durations",
            "60s",
            "--var",
            "tasks=12",
        ],
        &env,
    );
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("expected cost of the run with task durations "),
        "{text}"
    );

    // Estimates need a region to price in.
    let (code, text) = plan(r, &served.url, &["--task-durations", "60s"], &env);
    assert_ne!(code, 0, "{text}");
    assert!(
        text.contains("--task-durations prices the run, but this target has no Azure region"),
        "{text}"
    );
}

#[test]
fn plan_falls_back_to_the_snapshot_and_says_so() {
    let (dir, recipe) = recipe_dir(SMALL);
    let served = Served::start(&dir.path().join("served.db"));
    let r = recipe.to_str().unwrap();
    let snapshot: Value = serde_json::from_str(
        &std::fs::read_to_string(repo("crates/batchyard-cost/data/prices.json")).unwrap(),
    )
    .unwrap();
    let date = snapshot["date"].as_str().unwrap();
    let figure = |priority: &str| {
        snapshot["prices"].as_array().unwrap().iter().find(|e| {
            e["vm_size"] == "Standard_D2s_v5"
                && e["region"] == "eastus"
                && e["os"] == "linux"
                && e["priority"] == priority
        })
    };

    // An API that cannot be reached: a port nothing listens on.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/api/retail/prices", l.local_addr().unwrap())
    };
    let (code, text) = plan(
        r,
        &served.url,
        &["--region", "eastus", "--output", "json"],
        &[("BATCHYARD_RETAIL_PRICES_URL", closed.as_str())],
    );
    assert_eq!(code, 0, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    let cost = &v["cost"];
    assert_eq!(cost["sources"][0]["origin"], "snapshot");
    assert_eq!(cost["sources"][0]["date"], date);
    assert!(
        cost["notes"][0]
            .as_str()
            .unwrap()
            .contains("did not answer"),
        "{cost}"
    );
    let dedicated = &cost["pools"][0]["prices"]["dedicated"];
    match figure("dedicated") {
        Some(e) => {
            assert_eq!(dedicated["per_hour"], e["per_hour"]);
            assert_eq!(dedicated["source"], e["source"]);
            assert_eq!(dedicated["origin"], "snapshot");
        }
        None => {
            assert!(dedicated["per_hour"].is_null());
            assert!(dedicated["unknown"].as_str().unwrap().contains("snapshot"));
        }
    }

    let (code, text) = plan(r, &served.url, &["--region", "eastus"], &[]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!("prices from batchyard's snapshot of {date}")),
        "{text}"
    );
    if figure("dedicated").is_none() {
        assert!(text.contains("price unknown"), "{text}");
    }
}

#[test]
fn a_plan_without_a_region_shows_no_cost_and_duration_asks_for_one() {
    let (dir, recipe) = recipe_dir(SMALL);
    let served = Served::start(&dir.path().join("served.db"));
    let r = recipe.to_str().unwrap();
    let (code, text) = plan(r, &served.url, &[], &[]);
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("Cost in"), "{text}");
    let (code, text) = plan(r, &served.url, &["--duration", "2h"], &[]);
    assert_eq!(code, 2, "a usage error: {text}");
    assert!(text.contains("--region"), "{text}");
}

/// `plan` with stdout and stderr apart.
fn plan_split(
    recipe: &str,
    url: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let mut cmd = batchyard();
    cmd.args(["plan", recipe, "--account-url", url]).args(extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn plan_warns_of_an_image_near_its_batch_end_of_life() {
    let (dir, recipe) = recipe_dir(SMALL);
    let served = Served::start(&dir.path().join("served.db"));
    let r = recipe.to_str().unwrap();
    // The served emulator lists ubuntu 22.04 with batchSupportEndOfLife 2027-06-30, as
    // Microsoft announced it (Azure/Batch#200).
    let (code, _out, err) = plan_split(r, &served.url, &[], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning: pool cpu: Batch support for image canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2 with node agent `batch.node.ubuntu 22.04` end")
            && err.contains("2027-06-30"),
        "{err}"
    );
    let (_, out, _) = plan_split(r, &served.url, &["--output", "json"], &[]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["preflight"]["warnings"][0]
            .as_str()
            .unwrap()
            .contains("2027-06-30")
    );

    // Ubuntu 24.04 has no end date: nothing to say.
    let (dir2, recipe2) = recipe_dir(&SMALL.replace("ubuntu-22.04", "ubuntu-24.04"));
    let served2 = Served::start(&dir2.path().join("served.db"));
    let (code, _out, err) = plan_split(recipe2.to_str().unwrap(), &served2.url, &[], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("Batch support for image"), "{err}");
}

#[test]
fn plan_reads_core_quotas_through_the_management_api_and_says_when_it_may_not() {
    let (dir, recipe) = recipe_dir(SMALL);
    let served = Served::start(&dir.path().join("served.db"));
    let r = recipe.to_str().unwrap();
    // A server in the management API's shape: the account GET answers the quotas, or 403
    // for a principal without read access, as Azure Resource Manager does.
    // Field names and meanings: BatchAccountProperties in Azure/azure-rest-api-specs
    // specification/batch/resource-manager/Microsoft.Batch/stable/2024-07-01/BatchManagement.json.
    let account = |name: &str, total: u64, family: u64, spot: u64| {
        json!({
            "id": format!("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts/{name}"),
            "name": name, "type": "Microsoft.Batch/batchAccounts", "location": "westeurope",
            "properties": {
                "accountEndpoint": format!("{name}.westeurope.batch.azure.com"),
                "poolAllocationMode": "BatchService",
                "dedicatedCoreQuotaPerVMFamilyEnforced": true,
                "dedicatedCoreQuotaPerVMFamily": [
                    {"name": "standardDSv3Family", "coreQuota": family},
                    {"name": "standardDSv5Family", "coreQuota": 100}
                ],
                "dedicatedCoreQuota": total, "lowPriorityCoreQuota": spot, "poolQuota": 100
            }
        })
        .to_string()
    };
    let management = FakeHttp::start(move |target| {
        if target.contains("/batchAccounts/readable?api-version=") {
            (200, account("readable", 4, 4, 100))
        } else if target.contains("/batchAccounts/wide?api-version=") {
            // A large total but a small family quota, and little spot quota.
            (200, account("wide", 100, 4, 2))
        } else {
            let body = json!({"error": {"code": "AuthorizationFailed", "message": "The client does not have authorization to perform action 'Microsoft.Batch/batchAccounts/read'"}});
            (403, body.to_string())
        }
    });
    let env = [("BATCHYARD_MANAGEMENT_URL", management.url.as_str())];
    let id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts";

    // Three Standard_D2s_v3 nodes need 6 dedicated cores; the account has 4.
    let readable = format!("{id}/readable");
    let args = [
        "--var",
        "vm=Standard_D2s_v3",
        "--var",
        "nodes=3",
        "--account-resource-id",
        readable.as_str(),
    ];
    let (code, _out, err) = plan_split(r, &served.url, &args, &env);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning: dedicated core quota: the recipe's pools need 6 cores (pool cpu 6), the account's quota is 4"),
        "{err}"
    );
    // Standard_D2s_v3 counts against standardDSv3Family, which holds 4 cores too.
    assert!(
        err.contains("warning: dedicated core quota of VM family standardDSv3Family: the recipe's pools need 6 cores (pool cpu 6), the account's quota for the family is 4"),
        "{err}"
    );
    assert!(
        management
            .seen
            .lock()
            .unwrap()
            .iter()
            .any(|t| t.starts_with(&format!("{readable}?api-version="))),
        "the account GET"
    );

    // Two nodes fit: no quota warning.
    let args = [
        "--var",
        "vm=Standard_D2s_v3",
        "--var",
        "nodes=2",
        "--account-resource-id",
        readable.as_str(),
    ];
    let (_, _out, err) = plan_split(r, &served.url, &args, &env);
    assert!(!err.contains("core quota:"), "{err}");

    // The total holds the pool but its family does not: only the family warns.
    let wide = format!("{id}/wide");
    let args = [
        "--var",
        "vm=Standard_D2s_v3",
        "--var",
        "nodes=3",
        "--account-resource-id",
        wide.as_str(),
    ];
    let (code, _out, err) = plan_split(r, &served.url, &args, &env);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(
            "dedicated core quota of VM family standardDSv3Family: the recipe's pools need 6 cores"
        ),
        "{err}"
    );
    assert!(!err.contains("warning: dedicated core quota: "), "{err}");
    // Standard_D2s_v5 counts against standardDSv5Family, which has room: no warning.
    let args = ["--var", "nodes=3", "--account-resource-id", wide.as_str()];
    let (_, _out, err) = plan_split(r, &served.url, &args, &env);
    assert!(!err.contains("core quota"), "{err}");
    // Spot nodes count against lowPriorityCoreQuota (2 cores here): two D2s_v5 need 4.
    let (sdir, spot_recipe) = recipe_dir(&SMALL.replace(
        r#"nodes: { dedicated: "{{ nodes }}" }"#,
        r#"nodes: { dedicated: 0, spot: 2 }"#,
    ));
    let spot_served = Served::start(&sdir.path().join("served.db"));
    let args = ["--account-resource-id", wide.as_str()];
    let (code, _out, err) =
        plan_split(spot_recipe.to_str().unwrap(), &spot_served.url, &args, &env);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning: spot (low-priority) core quota: the recipe's pools need 4 cores (pool cpu 4), the account's quota is 2"),
        "{err}"
    );

    // A principal that may not read the account: plan says so and goes on.
    let hidden = format!("{id}/hidden");
    let args = ["--account-resource-id", hidden.as_str(), "--output", "json"];
    let (code, out, err) = plan_split(r, &served.url, &args, &env);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let notes = v["preflight"]["notes"].to_string();
    assert!(
        notes.contains("may not read the Batch account through the management API (HTTP 403 AuthorizationFailed)"),
        "{notes}"
    );
}
