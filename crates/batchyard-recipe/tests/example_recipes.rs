//! Every recipe under recipes/ loads with no diagnostics.
#![allow(clippy::unwrap_used)]

use std::path::Path;

fn recipes() -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../recipes");
    let mut found = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

#[test]
fn example_recipes_are_valid() {
    let all = recipes();
    assert!(
        all.len() >= 3,
        "expected the example recipes, found {all:?}"
    );
    for path in all {
        let text = std::fs::read_to_string(&path).unwrap();
        let loaded =
            batchyard_recipe::load(&path.display().to_string(), &text, &Default::default());
        assert!(
            loaded.diagnostics.is_empty(),
            "{}:\n{}",
            path.display(),
            loaded.render(Default::default())
        );
        assert!(loaded.recipe.is_some());
    }
}
