//! A recipe's warnings reach `--output json` of plan, apply and run in the shape of
//! `validate --output json`'s diagnostics, and `--deny-warnings` makes them fail.
#![allow(clippy::unwrap_used)]

mod e2e;

use e2e::*;

/// A size the catalogue does not know (gpu and rdma stated, so it is only a warning).
const RECIPE: &str = "recipe: warned\n\
pools:\n  - id: cpu\n    vm_size: Standard_A2_v2\n    gpu: false\n    rdma: false\n    os: ubuntu-24.04\n    nodes: { dedicated: 1 }\n\
jobs:\n  - id: work\n    pool: cpu\n    tasks:\n      - id: hello\n        command: echo hi\n";

fn json_of(args: &[&str]) -> (i32, serde_json::Value) {
    let out = batchyard().args(args).output().unwrap();
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "`batchyard {}` printed no JSON ({e}): {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), doc)
}

fn assert_the_warning(doc: &serde_json::Value, command: &str) {
    let warnings = doc["warnings"].as_array().unwrap_or_else(|| {
        panic!("{command}: no `warnings` array in {doc:#}");
    });
    assert_eq!(warnings.len(), 1, "{command}: {doc:#}");
    let w = &warnings[0];
    assert_eq!(w["severity"], "warning", "{command}");
    assert_eq!(w["path"], "/pools/0/vm_size", "{command}");
    assert_eq!(w["line"], 4, "{command}");
    assert_eq!(w["column"], 14, "{command}");
    assert!(
        w["message"]
            .as_str()
            .unwrap()
            .contains("`Standard_A2_v2` is not in batchyard's hardware catalogue"),
        "{command}: {w}"
    );
    assert!(w["help"].as_str().unwrap().contains("did you mean"), "{w}");
}

#[test]
fn warnings_are_in_the_json_of_plan_apply_and_run() {
    let (dir, recipe) = recipe_dir(RECIPE);
    let served = Served::start(&dir.path().join("emulator.db"));
    let recipe = recipe.to_str().unwrap();
    let url = served.url.as_str();

    let (code, plan) = json_of(&["plan", recipe, "--account-url", url, "--output", "json"]);
    assert_eq!(code, 0, "{plan:#}");
    assert_the_warning(&plan, "plan");

    let (code, applied) = json_of(&["apply", recipe, "--account-url", url, "--output", "json"]);
    assert_eq!(code, 0, "{applied:#}");
    assert_the_warning(&applied, "apply");
    assert!(
        applied["plan"].get("warnings").is_none(),
        "the warnings are listed once, at the top: {applied:#}"
    );

    let (code, ran) = json_of(&["run", recipe, "--account-url", url, "--output", "json"]);
    assert_eq!(code, 0, "{ran:#}");
    assert_the_warning(&ran, "run");

    // A recipe without warnings says so with an empty list.
    std::fs::write(
        dir.path().join("clean.yaml"),
        RECIPE.replace("Standard_A2_v2", "Standard_D2s_v5"),
    )
    .unwrap();
    let clean = dir.path().join("clean.yaml");
    let (code, plan) = json_of(&[
        "plan",
        clean.to_str().unwrap(),
        "--account-url",
        url,
        "--output",
        "json",
    ]);
    assert_eq!(code, 0, "{plan:#}");
    assert_eq!(plan["warnings"], serde_json::json!([]), "{plan:#}");

    // Under --deny-warnings the plan fails, with the warning in its JSON diagnostics.
    let out = batchyard()
        .args(["plan", recipe, "--account-url", url])
        .args(["--output", "json", "--deny-warnings"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--deny-warnings"),
        "{out:?}"
    );
}
