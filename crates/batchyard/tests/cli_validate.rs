//! `batchyard validate`, `schema` and `init` as a user runs them: the built binary, real files.
#![allow(clippy::unwrap_used)]

use assert_cmd::Command;
use predicates::prelude::*;

fn batchyard() -> Command {
    let mut cmd = Command::cargo_bin("batchyard").unwrap();
    cmd.env("NO_COLOR", "1").env("COLUMNS", "100");
    cmd
}

fn repo(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

#[test]
fn committed_schema_is_fresh() {
    let out = batchyard().arg("schema").output().unwrap();
    assert!(out.status.success());
    let committed = std::fs::read_to_string(repo("schemas/recipe.schema.json")).unwrap();
    assert!(
        committed == String::from_utf8(out.stdout).unwrap(),
        "schemas/recipe.schema.json is stale: regenerate it with \
         `cargo run -p batchyard -- schema > schemas/recipe.schema.json`"
    );
}

#[test]
fn valid_recipes_exit_zero() {
    batchyard()
        .args(["validate"])
        .arg(repo("recipes/quickstart/recipe.yaml"))
        .arg(repo("recipes/gpu-sweep/recipe.yaml"))
        .arg(repo("recipes/mpi/recipe.yaml"))
        .assert()
        .code(0)
        .stdout(predicate::str::contains("quickstart/recipe.yaml: valid"));
}

#[test]
fn invalid_recipe_exits_one_with_a_located_report() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.yaml");
    std::fs::write(&file, "recipe: r\npools:\n  - id: p\n    vm_sise: x\n").unwrap();
    batchyard()
        .arg("validate")
        .arg(&file)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("unknown field `vm_sise`"))
        .stderr(predicate::str::contains("r.yaml:4:5"))
        .stderr(predicate::str::contains("did you mean `vm_size`?"));
}

#[test]
fn json_output_lists_every_problem_with_position() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.yaml");
    std::fs::write(
        &file,
        "recipe: r\npools:\n  - id: p\n    vm_sise: x\njobs:\n  - id: j\n    pool: q\n",
    )
    .unwrap();
    let out = batchyard()
        .args(["validate", "--output", "json"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["format_version"], 1);
    assert_eq!(doc["valid"], false);
    let all = doc["diagnostics"].as_array().unwrap();
    let paths: Vec<&str> = all.iter().map(|d| d["path"].as_str().unwrap()).collect();
    assert!(paths.contains(&"/pools/0/vm_sise"), "{paths:?}");
    assert!(paths.contains(&"/jobs/0/pool"), "{paths:?}");
    let pool = all.iter().find(|d| d["path"] == "/jobs/0/pool").unwrap();
    assert_eq!(pool["line"], 7);
    assert_eq!(pool["column"], 11);
    assert_eq!(pool["severity"], "error");
    assert!(pool["file"].as_str().unwrap().ends_with("r.yaml"));
}

#[test]
fn usage_and_file_errors_exit_two() {
    batchyard()
        .args(["validate", "/no/such/recipe.yaml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("recipe.yaml"));
    batchyard().args(["validate"]).assert().code(2);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bin.yaml");
    std::fs::write(&file, [0x72, 0x3a, 0xff, 0xfe]).unwrap();
    batchyard()
        .arg("validate")
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not UTF-8"));
}

#[test]
fn variables_override_and_unknown_ones_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.yaml");
    std::fs::write(
        &file,
        "recipe: r\nvariables:\n  n: 1\npools:\n  - id: p\n    vm_size: Standard_D2s_v5\n    os: ubuntu-22.04\n    nodes: { dedicated: \"{{ n }}\" }\n",
    )
    .unwrap();
    batchyard()
        .arg("validate")
        .arg(&file)
        .args(["--var", "n=3"])
        .assert()
        .code(0);
    batchyard()
        .arg("validate")
        .arg(&file)
        .args(["--var", "n=-3"])
        .assert()
        .code(1);
    batchyard()
        .arg("validate")
        .arg(&file)
        .args(["--var", "m=3"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("declares no such variable"));
    let vars = dir.path().join("vars.yaml");
    std::fs::write(&vars, "n: 2\n").unwrap();
    batchyard()
        .arg("validate")
        .arg(&file)
        .arg("--vars")
        .arg(&vars)
        .assert()
        .code(0);
    batchyard()
        .arg("validate")
        .arg(&file)
        .args(["--var", "novalue"])
        .assert()
        .code(2);
}

#[test]
fn init_writes_a_valid_starter_and_refuses_to_overwrite() {
    for flags in [&[][..], &["--gpu"][..], &["--mpi"][..]] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("recipe.yaml");
        batchyard()
            .arg("init")
            .args(flags)
            .arg(&file)
            .assert()
            .code(0);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("# yaml-language-server: $schema=.batchyard/recipe.schema.json"));
        assert!(dir.path().join(".batchyard/recipe.schema.json").exists());
        batchyard().arg("validate").arg(&file).assert().code(0);
        batchyard()
            .arg("init")
            .arg(&file)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("already exists"));
    }
}

#[test]
fn completions_are_generated() {
    batchyard()
        .args(["completions", "bash"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("batchyard"));
}
