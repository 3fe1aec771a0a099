//! Every official example in spec/examples parses into the models and serializes back to
//! the same JSON (nulls aside). Which model applies is read from BatchService.json: the
//! example's operationId names the operation, whose body parameter and response schema
//! name the definitions.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is the failure report

use batchyard_batch::models::*;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn crate_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn load(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Drops `null` members, which the models never send (absent and null mean "not set").
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

fn roundtrip_as<T: Serialize + DeserializeOwned>(json: &Value) -> Value {
    let typed: T = serde_json::from_value(json.clone())
        .unwrap_or_else(|e| panic!("does not parse as {}: {e}", std::any::type_name::<T>()));
    serde_json::to_value(&typed).unwrap()
}

fn roundtrip(definition: &str, json: &Value) -> Value {
    match definition {
        "BatchJobCreateOptions" => roundtrip_as::<BatchJobCreateOptions>(json),
        "BatchTaskCountsResult" => roundtrip_as::<BatchTaskCountsResult>(json),
        "BatchNodeListResult" => roundtrip_as::<BatchNodeListResult>(json),
        "BatchPoolCreateOptions" => roundtrip_as::<BatchPoolCreateOptions>(json),
        "BatchPool" => roundtrip_as::<BatchPool>(json),
        "BatchPoolNodeCountsListResult" => roundtrip_as::<BatchPoolNodeCountsListResult>(json),
        "BatchAccountListSupportedImagesResult" => {
            roundtrip_as::<BatchAccountListSupportedImagesResult>(json)
        }
        "BatchNodeRemoveOptions" => roundtrip_as::<BatchNodeRemoveOptions>(json),
        "BatchPoolReplaceOptions" => roundtrip_as::<BatchPoolReplaceOptions>(json),
        "BatchPoolResizeOptions" => roundtrip_as::<BatchPoolResizeOptions>(json),
        "BatchPoolUpdateOptions" => roundtrip_as::<BatchPoolUpdateOptions>(json),
        "BatchTaskGroup" => roundtrip_as::<BatchTaskGroup>(json),
        "BatchCreateTaskCollectionResult" => roundtrip_as::<BatchCreateTaskCollectionResult>(json),
        "BatchTaskCreateOptions" => roundtrip_as::<BatchTaskCreateOptions>(json),
        "BatchTask" => roundtrip_as::<BatchTask>(json),
        "BatchNodeFileListResult" => roundtrip_as::<BatchNodeFileListResult>(json),
        "BatchTaskListResult" => roundtrip_as::<BatchTaskListResult>(json),
        other => panic!("no model mapped for definition {other}; add it to roundtrip()"),
    }
}

/// (example file, definition, JSON) for every body and response body of every example.
fn example_payloads() -> Vec<(String, String, Value)> {
    let spec = load(&crate_path("spec/BatchService.json"));
    let mut operations = std::collections::HashMap::new();
    for methods in spec["paths"].as_object().unwrap().values() {
        for op in methods.as_object().unwrap().values() {
            operations.insert(op["operationId"].as_str().unwrap().to_owned(), op.clone());
        }
    }
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(crate_path("spec/examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 19, "examples missing: {files:?}");
    for file in files {
        let example = load(&file);
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let op = &operations[example["operationId"].as_str().unwrap()];
        let definition_of = |schema: &Value| {
            schema["$ref"]
                .as_str()
                .map(|r| r.rsplit('/').next().unwrap().to_owned())
        };
        for param in op["parameters"].as_array().into_iter().flatten() {
            if param["in"] == "body" {
                let body = &example["parameters"][param["name"].as_str().unwrap()];
                assert!(!body.is_null(), "{name}: no body parameter");
                let def = definition_of(&param["schema"]).unwrap();
                out.push((name.clone(), def, body.clone()));
            }
        }
        for (code, response) in example["responses"].as_object().unwrap() {
            if let Some(body) = response.get("body") {
                let def = definition_of(&op["responses"][code]["schema"]).unwrap();
                out.push((name.clone(), def, body.clone()));
            }
        }
    }
    out
}

#[test]
fn every_official_example_roundtrips_through_the_models() {
    let payloads = example_payloads();
    // 19 files: 13 with a request body, 10 with a response body.
    assert!(
        payloads.len() >= 21,
        "only {} payloads found",
        payloads.len()
    );
    for (file, definition, json) in payloads {
        let expected = without_nulls(&json);
        let actual = roundtrip(&definition, &json);
        assert_eq!(
            actual, expected,
            "{file}: {definition} does not round-trip\nexpected {expected:#}\nactual {actual:#}"
        );
    }
}

#[test]
fn every_official_example_and_its_roundtrip_validate_against_the_spec() {
    for (file, definition, json) in example_payloads() {
        if let Err(errors) = batchyard_batch::validate_against_spec(&definition, &json) {
            panic!("{file}: example is not a valid {definition}: {errors:#?}");
        }
        let back = roundtrip(&definition, &json);
        if let Err(errors) = batchyard_batch::validate_against_spec(&definition, &back) {
            panic!("{file}: re-serialized {definition} is not valid: {errors:#?}");
        }
    }
}

#[test]
fn unknown_enum_values_and_fields_are_tolerated_and_kept() {
    let json = serde_json::json!({
        "id": "p1",
        "state": "hibernating",
        "allocationState": "STEADY",
        "someFieldFromTheFuture": {"x": 1}
    });
    let pool: BatchPool = serde_json::from_value(json).unwrap();
    assert_eq!(
        pool.state,
        Some(BatchPoolState::Unrecognized("hibernating".into()))
    );
    assert_eq!(pool.allocation_state, Some(AllocationState::Steady));
    let back = serde_json::to_value(&pool).unwrap();
    assert_eq!(back["state"], "hibernating");
    assert_eq!(back["allocationState"], "steady");
    assert!(back.get("someFieldFromTheFuture").is_none());
}

#[test]
fn wire_names_follow_the_spec() {
    let config = VirtualMachineConfiguration {
        image_reference: BatchVmImageReference {
            publisher: Some("microsoft-dsvm".into()),
            ..Default::default()
        },
        node_agent_sku_id: "batch.node.ubuntu 22.04".into(),
        ..Default::default()
    };
    let json = serde_json::to_value(&config).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "imageReference": {"publisher": "microsoft-dsvm"},
            "nodeAgentSKUId": "batch.node.ubuntu 22.04"
        })
    );
    let group = BatchTaskGroup { values: vec![] };
    assert_eq!(
        serde_json::to_value(&group).unwrap(),
        serde_json::json!({"value": []})
    );
}

#[test]
fn int64_counters_travel_as_strings() {
    let props: FileProperties = serde_json::from_value(serde_json::json!({
        "lastModified": "2024-01-01T00:00:00Z",
        "contentLength": "1813"
    }))
    .unwrap();
    assert_eq!(props.content_length, 1813);
    assert_eq!(
        serde_json::to_value(&props).unwrap()["contentLength"],
        "1813"
    );
    let bad = serde_json::from_value::<FileProperties>(serde_json::json!({
        "lastModified": "2024-01-01T00:00:00Z",
        "contentLength": "lots"
    }));
    assert!(bad.is_err());
}
