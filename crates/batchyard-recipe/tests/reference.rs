//! docs/recipe-reference.md is generated from the types; this fails when it is stale.
#![allow(clippy::unwrap_used)]

#[test]
fn recipe_reference_is_current() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/recipe-reference.md");
    let fresh = batchyard_recipe::reference::markdown();
    if std::env::var_os("BATCHYARD_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "docs/recipe-reference.md is out of date with the recipe types; regenerate it with \
         BATCHYARD_BLESS=1 cargo test -p batchyard-recipe --test reference"
    );
}

#[test]
fn every_pool_field_is_documented() {
    let doc = batchyard_recipe::reference::markdown();
    for field in [
        "vm_size",
        "task_slots_per_node",
        "start_task",
        "autoscale",
        "depends_on",
        "factory",
        "max_wall_time",
    ] {
        assert!(
            doc.contains(&format!("| `{field}` |")),
            "{field} missing from the reference"
        );
    }
}
