//! A pool's `inputs` on the local Batch service: apply uploads the local file, the pool's
//! start task delivers it to every node, and a task reads it from the start task's folder.
//! A second plan changes nothing (the SAS apply signs the start task with is no change);
//! a changed input updates the pool's start task in place.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

const RECIPE: &str = r#"
recipe: pool-inputs
storage: {}
pools:
  - id: cpu
    vm_size: Standard_D2s_v5
    os: ubuntu-22.04
    nodes: { dedicated: 1 }
    inputs:
      - local: tools/greeting.txt
        to: shared/
jobs:
  - id: greet
    pool: cpu
    tasks:
      - id: read
        command: /bin/sh -c 'cp "$AZ_BATCH_NODE_STARTUP_DIR/wd/shared/greeting.txt" seen.txt'
        outputs:
          - pattern: seen.txt
"#;

fn run(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(assert_cmd::cargo::cargo_bin("batchyard"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("AZURE_BATCH_ENDPOINT")
        .current_dir(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let text = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text, stdout)
}

#[test]
fn a_task_reads_a_file_the_pool_inputs_delivered() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::create_dir_all(dir.join("tools")).unwrap();
    std::fs::write(dir.join("tools/greeting.txt"), "hello from the pool\n").unwrap();
    std::fs::write(dir.join("recipe.yaml"), RECIPE).unwrap();

    let (code, text, _) = run(
        dir,
        &[
            "run",
            "recipe.yaml",
            "--download",
            "results",
            "--timeout",
            "5m",
        ],
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("1 to upload"), "{text}");
    let seen = std::fs::read_to_string(dir.join("results/greet/read/seen.txt"))
        .unwrap_or_else(|e| panic!("the task left no copy ({e}):\n{text}"));
    assert_eq!(seen, "hello from the pool\n");

    let (code, text, _) = run(dir, &["plan", "recipe.yaml"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("0 to upload (0 B), 1 already in storage"),
        "{text}"
    );
    assert!(text.contains("No changes"), "{text}");

    std::fs::write(dir.join("tools/greeting.txt"), "a new greeting\n").unwrap();
    let (code, text, stdout) = run(dir, &["plan", "recipe.yaml", "--output", "json"]);
    let _ = run(dir, &["local", "stop", "--state-dir", ".batchyard"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        !stdout.contains("sig="),
        "the plan holds a SAS signature:\n{stdout}"
    );
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["data"]["upload_files"], 1, "{json:#}");
    let actions = json["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 1, "{json:#}");
    assert_eq!(actions[0]["change"], "patch_pool", "{json:#}");
    assert!(
        actions[0].to_string().contains("startTask")
            || actions[0].to_string().contains("start_task"),
        "{json:#}"
    );
}
