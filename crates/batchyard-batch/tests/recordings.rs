//! batchyard's client speaks like Microsoft's SDK: for each request of the recorded
//! sessions (`spec/recordings/`, the Python SDK against the real service) that batchyard
//! also makes, the client is asked for the same operation with the same ids and body, and
//! the request it sends to a local server must have the recorded method, path, query
//! (the API version mapped to ours), content type and body shape (the set of fields and
//! their JSON types).
//!
//! Recorded requests that use what the API has since removed (`cloudServiceConfiguration`,
//! `applicationLicenses`) lose those fields on both sides: today's models cannot carry
//! them, and today's service refuses them. Requests batchyard never makes are counted and
//! named, not compared.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use batchyard_batch::auth::NoAuth;
use batchyard_batch::recordings::{self, Entry, without_removed};
use batchyard_batch::{BatchClient, ListOptions};
use common::{Recorded, Reply, ScriptedServer, fast_options};
use futures::StreamExt as _;
use serde_json::Value;

fn typed<T: serde::de::DeserializeOwned>(body: &Value) -> T {
    serde_json::from_value(without_removed(body)).unwrap()
}

/// Field paths and JSON types of a body; array items share `name[]`.
fn shape(value: &Value, at: &str, out: &mut BTreeSet<String>) {
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    out.insert(format!("{at}: {kind}"));
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                shape(v, &format!("{at}/{k}"), out);
            }
        }
        Value::Array(items) => {
            for item in items {
                shape(item, &format!("{at}[]"), out);
            }
        }
        _ => {}
    }
}

/// Query pairs, decoded, without the API version.
fn query_pairs(query: &str) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .filter(|(k, _)| k != "api-version")
        .collect()
}

fn segments(path: &str) -> Vec<String> {
    path.trim_start_matches('/')
        .split('/')
        .map(percent_decode)
        .collect()
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Asks the client for the operation of `entry`; `false` when batchyard never makes it.
async fn call(client: &BatchClient, entry: &Entry) -> bool {
    let p = segments(&entry.path);
    let p: Vec<&str> = p.iter().map(String::as_str).collect();
    let q = query_pairs(&entry.query);
    let list = ListOptions {
        filter: q.get("$filter").cloned(),
        select: q.get("$select").cloned(),
        expand: q.get("$expand").cloned(),
        max_results: q.get("maxresults").map(|m| m.parse().unwrap()),
    };
    let body = &entry.request;
    match (entry.method.as_str(), p.as_slice()) {
        // A page after the first is the service's next link, followed as given.
        ("GET", _) if q.contains_key("$skiptoken") => return false,
        ("POST", ["pools"]) => drop(client.create_pool(&typed(body)).await),
        ("GET", ["pools"]) => drop(client.list_pools(&list).next().await),
        ("GET", ["pools", id]) if q.is_empty() => drop(client.get_pool(id).await),
        ("HEAD", ["pools", id]) => drop(client.pool_exists(id).await),
        ("PATCH", ["pools", id]) => drop(client.patch_pool(id, &typed(body), None).await),
        ("DELETE", ["pools", id]) => drop(client.delete_pool(id, None).await),
        ("POST", ["pools", id, "updateproperties"]) => {
            drop(client.replace_pool_properties(id, &typed(body)).await)
        }
        ("POST", ["pools", id, "resize"]) => drop(client.resize_pool(id, &typed(body), None).await),
        ("POST", ["pools", id, "stopresize"]) => drop(client.stop_pool_resize(id).await),
        ("POST", ["pools", id, "enableautoscale"]) => {
            drop(client.enable_pool_autoscale(id, &typed(body)).await)
        }
        ("POST", ["pools", id, "disableautoscale"]) => {
            drop(client.disable_pool_autoscale(id).await)
        }
        ("POST", ["pools", id, "evaluateautoscale"]) => drop(
            client
                .evaluate_pool_autoscale(id, body["autoScaleFormula"].as_str().unwrap())
                .await,
        ),
        ("POST", ["pools", id, "removenodes"]) => drop(client.remove_nodes(id, &typed(body)).await),
        ("GET", ["pools", id, "nodes"]) => drop(client.list_nodes(id, &list).next().await),
        ("GET", ["pools", id, "nodes", node]) => drop(client.get_node(id, node).await),
        ("POST", ["pools", id, "nodes", node, "reboot"]) => {
            drop(client.reboot_node(id, node, &typed(body)).await)
        }
        ("POST", ["pools", id, "nodes", node, "reimage"]) => {
            drop(client.reimage_node(id, node, &typed(body)).await)
        }
        ("GET", ["pools", id, "nodes", node, "files", rest @ ..]) if !rest.is_empty() => {
            drop(client.get_node_file(id, node, &rest.join("/"), None).await)
        }
        ("HEAD", ["pools", id, "nodes", node, "files", rest @ ..]) if !rest.is_empty() => drop(
            client
                .get_node_file_properties(id, node, &rest.join("/"))
                .await,
        ),
        ("GET", ["supportedimages"]) => drop(client.list_supported_images(&list).next().await),
        ("GET", ["nodecounts"]) => drop(client.list_pool_node_counts(&list).next().await),
        ("POST", ["jobs"]) => drop(client.create_job(&typed(body)).await),
        ("GET", ["jobs"]) => drop(client.list_jobs(&list).next().await),
        ("GET", ["jobs", id]) if q.is_empty() => drop(client.get_job(id).await),
        ("PATCH", ["jobs", id]) => drop(client.patch_job(id, &typed(body), None).await),
        ("DELETE", ["jobs", id]) => drop(client.delete_job(id, false).await),
        ("POST", ["jobs", id, "terminate"]) => drop(
            client
                .terminate_job(id, body["terminateReason"].as_str(), false)
                .await,
        ),
        ("POST", ["jobs", job, "tasks"]) => drop(client.create_task(job, &typed(body)).await),
        ("GET", ["jobs", job, "tasks", task]) => drop(client.get_task(job, task).await),
        ("GET", ["jobs", job, "tasks", task, "files"]) => drop(
            client
                .list_task_files(job, task, q.contains_key("recursive"), &list)
                .next()
                .await,
        ),
        ("GET", ["jobs", job, "tasks", task, "files", rest @ ..]) if !rest.is_empty() => {
            drop(client.get_task_file(job, task, &rest.join("/"), None).await)
        }
        ("HEAD", ["jobs", job, "tasks", task, "files", rest @ ..]) if !rest.is_empty() => drop(
            client
                .get_task_file_properties(job, task, &rest.join("/"))
                .await,
        ),
        _ => return false,
    }
    true
}

/// A path with its ids as `{}`.
fn operation(path: &str) -> String {
    let mut out = Vec::new();
    let mut id_next = false;
    for part in path.trim_start_matches('/').split('/') {
        if id_next {
            out.push("{}");
            id_next = false;
            continue;
        }
        if part == "files" {
            out.push("files/{path}");
            break;
        }
        out.push(part);
        id_next = matches!(part, "pools" | "jobs" | "tasks" | "nodes");
    }
    format!("/{}", out.join("/"))
}

fn body_shape(body: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if !body.is_null() {
        shape(&without_removed(body), "", &mut out);
    }
    out
}

fn sent_body(request: &Recorded) -> Value {
    if request.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&request.body).unwrap()
    }
}

#[tokio::test]
async fn the_client_sends_what_the_sdk_sent() {
    let mut compared = 0;
    let mut operations = BTreeSet::new();
    let mut not_made = BTreeSet::new();
    let mut differences = Vec::new();
    for (name, entries) in recordings::load() {
        for entry in &entries {
            let server = ScriptedServer::start().await;
            let client = BatchClient::new(&server.url, Arc::new(NoAuth), fast_options(1)).unwrap();
            let mut answer = entry.response.clone();
            if let Some(map) = answer.as_object_mut() {
                // The next page lives on the recorded account; only the first is asked for.
                map.remove("odata.nextLink");
            }
            server.push(Reply::Json(
                entry.status,
                vec![],
                (!answer.is_null()).then_some(answer),
            ));
            if !call(&client, entry).await {
                not_made.insert(format!("{} {}", entry.method, entry.path));
                continue;
            }
            compared += 1;
            operations.insert(entry.method.clone() + " " + &operation(&entry.path));
            let sent = server.requests();
            assert_eq!(sent.len(), 1, "{name}: {} {}", entry.method, entry.path);
            let sent = &sent[0];
            let what = format!("{name}: {} {}", entry.method, entry.path);
            let mut differ = |aspect: &str, recorded: String, ours: String| {
                if recorded != ours {
                    differences.push(format!(
                        "{what}: {aspect}: SDK {recorded}, batchyard {ours}"
                    ));
                }
            };
            differ("method", entry.method.clone(), sent.method.to_string());
            differ(
                "path",
                format!("{:?}", segments(&entry.path)),
                format!("{:?}", segments(&sent.path)),
            );
            differ(
                "query",
                format!("{:?}", query_pairs(&entry.query)),
                format!(
                    "{:?}",
                    query_pairs(sent.query.as_deref().unwrap_or_default())
                ),
            );
            let ours_body = sent_body(sent);
            // The SDK sends no body where the spec's body is optional and empty; an empty
            // object is the same request.
            let ours_body = if ours_body
                .as_object()
                .is_some_and(|m| m.values().all(Value::is_null))
                && entry.request.is_null()
            {
                Value::Null
            } else {
                ours_body
            };
            differ(
                "content type",
                format!(
                    "{:?}",
                    entry
                        .content_type
                        .as_deref()
                        .filter(|_| !entry.request.is_null())
                ),
                format!(
                    "{:?}",
                    sent.header("content-type").filter(|_| !ours_body.is_null())
                ),
            );
            differ(
                "body shape",
                format!("{:?}", body_shape(&entry.request)),
                format!("{:?}", body_shape(&ours_body)),
            );
        }
    }
    println!(
        "requests compared with the SDK's: {compared}, of {} operations:",
        operations.len()
    );
    for op in &operations {
        println!("  {op}");
    }
    println!(
        "recorded requests batchyard never makes ({}):",
        not_made.len()
    );
    for op in &not_made {
        println!("  {op}");
    }
    assert!(compared >= 50, "only {compared} requests compared");
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n")
    );
}
