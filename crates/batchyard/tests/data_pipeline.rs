//! The data-pipeline example on the local Batch service: inputs uploaded by apply, one
//! task per file, a merge task reading the others' outputs, results downloaded by
//! `run --download`; a second plan uploads nothing, and touching one input uploads that
//! file only and changes only the task that reads it.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_name() == ".batchyard" || e.file_name() == "results" {
            continue;
        }
        if e.path().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn the_example_runs_uploads_incrementally_and_brings_results_back() {
    let binary = assert_cmd::cargo::cargo_bin("batchyard");
    let work = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../recipes/data-pipeline");
    copy_dir(&example, work.path());
    let run = |args: &[&str]| {
        let out = Command::new(&binary)
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("AZURE_BATCH_ENDPOINT")
            .current_dir(work.path())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (
            out.status.code(),
            text,
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, text, _) = run(&[
        "run",
        "recipe.yaml",
        "--download",
        "results",
        "--timeout",
        "5m",
    ]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("3 to upload"), "{text}");
    let merged = std::fs::read_to_string(work.path().join("results/wordcount/merge/merged.txt"))
        .unwrap_or_else(|e| panic!("no merged result ({e}):\n{text}"));
    assert_eq!(
        merged, "fox.txt 9\nhamlet.txt 6\nhello.txt 2\ntotal 17\n",
        "{text}"
    );
    assert!(
        !text.contains("sig="),
        "a SAS signature was printed:\n{text}"
    );

    let (code, text, _) = run(&["plan", "recipe.yaml"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("0 to upload (0 B), 3 already in storage"),
        "{text}"
    );
    assert!(text.contains("No changes"), "{text}");

    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(work.path().join("data/hello.txt"))
        .unwrap();
    std::io::Write::write_all(&mut f, b"and more words\n").unwrap();
    drop(f);
    let (_, text, stdout) = run(&["plan", "recipe.yaml", "--output", "json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|_| {
        panic!("plan --output json is not one JSON document:\n{text}");
    });
    assert!(
        !stdout.contains("sig="),
        "the plan holds a SAS signature:\n{stdout}"
    );
    assert_eq!(json["data"]["upload_files"], 1, "{json:#}");
    assert_eq!(json["data"]["present_files"], 2, "{json:#}");
    let actions = json["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 1, "{json:#}");
    assert_eq!(actions[0]["change"], "recreate_tasks", "{json:#}");
    assert_eq!(
        actions[0]["sample"],
        serde_json::json!(["count-hello"]),
        "{json:#}"
    );
    let _ = run(&["local", "stop", "--state-dir", ".batchyard"]);
    // No SAS signature in the results or in anything else written beside the recipe (the
    // local service's own state folder aside: it holds the task payloads as Batch does).
    let mut files = Vec::new();
    let mut dirs = vec![work.path().to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() && e.file_name() != ".batchyard" {
                dirs.push(p);
            } else if p.is_file() {
                files.push(p);
            }
        }
    }
    files.push(work.path().join(".batchyard/input-hashes.json"));
    for f in files {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        assert!(
            !text.contains("sig="),
            "{} holds a SAS signature",
            f.display()
        );
    }
}

/// A task whose input blob does not exist fails with Batch's failure info before its
/// command runs, and `run` names the missing file in its summary.
#[test]
fn a_missing_input_fails_the_task_unrun_and_run_names_it() {
    let binary = assert_cmd::cargo::cargo_bin("batchyard");
    let work = tempfile::tempdir().unwrap();
    let marker = work.path().join("the-command-ran");
    let recipe = format!(
        r#"recipe: missing-input
storage: {{}}
pools:
  - id: cpu
    vm_size: Standard_D2s_v5
    os: ubuntu-22.04
    nodes: {{ dedicated: 1 }}
jobs:
  - id: align
    pool: cpu
    tasks:
      - id: align-0
        inputs:
          - local: reads.txt
          - blob: reference/genome-hg38.fa
            to: ref
        command: /bin/sh -c 'touch {marker}'
"#,
        marker = marker.display()
    );
    std::fs::write(work.path().join("recipe.yaml"), recipe).unwrap();
    // A local input, so the recipe's container exists and only the named blob is missing.
    std::fs::write(work.path().join("reads.txt"), "ACGT\n").unwrap();
    let out = Command::new(&binary)
        .args(["run", "recipe.yaml", "--timeout", "2m"])
        .env("NO_COLOR", "1")
        .env_remove("AZURE_BATCH_ENDPOINT")
        .current_dir(work.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let text = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let _ = Command::new(&binary)
        .args(["local", "stop", "--state-dir", ".batchyard"])
        .current_dir(work.path())
        .output();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(stdout.contains("✗ task align-0"), "{text}");
    assert!(
        stdout.contains("genome-hg38.fa") && stdout.contains("BlobNotFound"),
        "the summary does not name the missing input and Batch's code:\n{text}"
    );
    assert!(
        !marker.exists(),
        "the task's command ran without its input:\n{text}"
    );
}
