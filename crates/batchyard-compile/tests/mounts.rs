//! Pool mounts compile to Batch `mountConfiguration` entries that validate against the
//! official spec, with every key and SAS token kept out of the payload.

#![allow(clippy::unwrap_used)] // tests may unwrap

use batchyard_batch::validate_against_spec;
use batchyard_compile::{CompileOptions, compile};
use batchyard_recipe::load;
use batchyard_recipe::model::Secret;
use batchyard_recipe::render::Variables;
use serde_json::{Value, json};

const RECIPE: &str = include_str!("../../../recipes/shared-storage/recipe.yaml");

fn pool_payload() -> (Value, batchyard_compile::Desired) {
    let loaded = load("recipe.yaml", RECIPE, &Variables::new());
    assert!(!loaded.has_errors(), "{:#?}", loaded.diagnostics);
    let desired = compile(loaded.recipe.as_ref().unwrap(), &CompileOptions::default())
        .unwrap_or_else(|d| panic!("{d:#?}"));
    let mut v = serde_json::to_value(&desired.pools[0].payload).unwrap();
    validate_against_spec("BatchPoolCreateOptions", &v).unwrap_or_else(|e| panic!("{e:#?}\n{v:#}"));
    // The ownership hash follows every payload edit; keep the snapshot about the mounts.
    for m in v["metadata"].as_array_mut().unwrap() {
        if m["name"] == "batchyard.spec" {
            m["value"] = json!("[sha256]");
        }
    }
    (v, desired)
}

#[test]
fn mounts_become_mount_configuration() {
    let (v, _) = pool_payload();
    insta::assert_json_snapshot!("shared_storage_pool", v);
    let mounts = v["mountConfiguration"].as_array().unwrap();
    assert_eq!(mounts.len(), 3);
    let blob = &mounts[0]["azureBlobFileSystemConfiguration"];
    assert_eq!(blob["containerName"], "inputs");
    assert_eq!(blob["relativeMountPath"], "inputs");
    assert_eq!(
        mounts[1]["azureFileShareConfiguration"]["azureFileUrl"],
        "https://mystorageaccount.file.core.windows.net/results"
    );
    assert_eq!(
        mounts[2]["nfsMountConfiguration"]["source"],
        "mystorageaccount.file.core.windows.net:/mystorageaccount/scratch"
    );
}

#[test]
fn mount_keys_are_slots_filled_at_apply_time() {
    let (v, desired) = pool_payload();
    let slots = &desired.pools[0].secrets;
    let pointers: Vec<&str> = slots.iter().map(|s| s.pointer.as_str()).collect();
    assert_eq!(
        pointers,
        [
            "/mountConfiguration/0/azureBlobFileSystemConfiguration/accountKey",
            "/mountConfiguration/1/azureFileShareConfiguration/accountKey",
        ]
    );
    for slot in slots {
        assert_eq!(slot.secret, Secret::Env("STORAGE_KEY".into()));
        // The payload holds only where the key comes from.
        assert_eq!(
            v.pointer(&slot.pointer).unwrap(),
            "(secret from env STORAGE_KEY)"
        );
    }
}
