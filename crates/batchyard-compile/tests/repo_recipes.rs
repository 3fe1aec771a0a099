//! Every recipe in the repository's `recipes/` directory compiles, and every pool, job and
//! task payload it renders validates against the official Batch spec.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::path::{Path, PathBuf};

use batchyard_batch::validate_against_spec;
use batchyard_compile::{CompileOptions, compile, tasks};
use batchyard_recipe::load;
use batchyard_recipe::render::Variables;

fn recipe_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../recipes");
    let mut files = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

fn check(definition: &str, v: &serde_json::Value, file: &Path) {
    if let Err(e) = validate_against_spec(definition, v) {
        panic!("{}: {definition} invalid: {e:#?}\n{v:#}", file.display());
    }
}

#[test]
fn every_repository_recipe_renders_valid_payloads() {
    let files = recipe_files();
    assert!(
        files.len() >= 3,
        "expected the repository's example recipes, found {files:?}"
    );
    let mut payloads = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let loaded = load(&file.display().to_string(), &text, &Variables::new());
        assert!(
            !loaded.has_errors(),
            "{}: {:#?}",
            file.display(),
            loaded.diagnostics
        );
        let base_dir = file.parent().unwrap().to_path_buf();
        let desired = compile(
            loaded.recipe.as_ref().unwrap(),
            &CompileOptions {
                base_dir,
                ..CompileOptions::default()
            },
        )
        .unwrap_or_else(|d| panic!("{}: {d:#?}", file.display()));
        for p in &desired.pools {
            check(
                "BatchPoolCreateOptions",
                &serde_json::to_value(&p.payload).unwrap(),
                file,
            );
            payloads += 1;
        }
        for j in &desired.jobs {
            check(
                "BatchJobCreateOptions",
                &serde_json::to_value(&j.payload).unwrap(),
                file,
            );
            for t in tasks(&loaded, &desired, j) {
                let t = t.unwrap_or_else(|d| panic!("{}: {d:#?}", file.display()));
                check(
                    "BatchTaskCreateOptions",
                    &serde_json::to_value(&t).unwrap(),
                    file,
                );
                payloads += 1;
            }
        }
    }
    assert!(payloads >= files.len(), "only {payloads} payloads checked");
}
