//! The published schema (`schemas/recipe.schema.json`), which editors check unrendered
//! recipes with, accepts every example recipe and every `init` starter, templates included
//! (`dedicated: "{{ nodes }}"`), and still rejects what it should.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(repo().join("schemas/recipe.schema.json")).unwrap();
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
}

/// The recipe as the editor sees it: YAML to JSON, templates unrendered.
fn unrendered(text: &str) -> serde_json::Value {
    batchyard_recipe::source::parse(text).unwrap().to_value()
}

fn problems(validator: &jsonschema::Validator, text: &str) -> Vec<String> {
    validator
        .iter_errors(&unrendered(text))
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
}

#[test]
fn every_example_recipe_fits_the_published_schema() {
    let validator = validator();
    let mut files = Vec::new();
    yaml_files(&repo().join("recipes"), &mut files);
    assert!(files.len() >= 8, "found only {files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let found = problems(&validator, &text);
        assert!(found.is_empty(), "{}: {found:#?}", file.display());
    }
}

#[test]
fn every_init_starter_fits_the_published_schema() {
    let validator = validator();
    for flag in [None, Some("--gpu"), Some("--mpi")] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("recipe.yaml");
        let mut cmd = Command::cargo_bin("batchyard").unwrap();
        cmd.arg("init").arg(&file);
        if let Some(flag) = flag {
            cmd.arg(flag);
        }
        cmd.assert().success();
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.starts_with("# yaml-language-server: $schema=.batchyard/recipe.schema.json\n"),
            "{flag:?}: the starter does not point editors at its schema"
        );
        assert!(
            text.contains("{{"),
            "{flag:?}: the starter has no template to check"
        );
        let found = problems(&validator, &text);
        assert!(found.is_empty(), "{flag:?}: {found:#?}");
    }
}

#[test]
fn templates_are_accepted_where_values_are_typed_and_mistakes_still_are_not() {
    let validator = validator();
    let ok = "recipe: r\nvariables: { n: 2, g: false }\npools:\n  - id: p\n    vm_size: Standard_D2s_v5\n    os: ubuntu-24.04\n    gpu: \"{{ g }}\"\n    nodes: { dedicated: \"{{ n }}\" }\n    task_slots_per_node: \"{% if n > 1 %}2{% else %}1{% endif %}\"\njobs: []\n";
    assert_eq!(problems(&validator, ok), Vec::<String>::new());
    for bad in [
        ok.replace("dedicated: \"{{ n }}\"", "dedicated: many"),
        ok.replace("gpu: \"{{ g }}\"", "gpu: sometimes"),
        ok.replace("vm_size: Standard_D2s_v5", "vm_sise: Standard_D2s_v5"),
    ] {
        assert!(!problems(&validator, &bad).is_empty(), "accepted:\n{bad}");
    }
}
