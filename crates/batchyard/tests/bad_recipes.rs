//! Recipes that only a later stage used to reject (the hardware catalogue, OS images,
//! factories, dependencies): `validate` reports each problem with its span (the reports are
//! snapshot-tested), and `plan` rejects the same recipe with the same reports before it
//! changes anything. Every file is checked with `--deny-warnings`, so the recipes whose only
//! problem is a warning are rejected too.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn batchyard(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("batchyard").unwrap();
    cmd.env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .env_remove("AZURE_BATCH_ENDPOINT")
        .current_dir(dir);
    cmd
}

fn corpus() -> (PathBuf, Vec<String>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_recipes");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 12, "the corpus shrank to {}", names.len());
    (dir, names)
}

/// The reports in a rendered diagnostic text, one per blank-line-separated block.
fn reports(text: &str) -> Vec<&str> {
    text.split("\n\n")
        .map(str::trim_end)
        .filter(|b| !b.trim().is_empty())
        .collect()
}

#[test]
fn validate_reports_every_problem_and_plan_rejects_with_the_same_reports() {
    let (dir, names) = corpus();
    for name in names {
        let out = batchyard(&dir)
            .args(["validate", "--deny-warnings", &name])
            .output()
            .unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(out.status.code(), Some(1), "{name}: {stdout}{stderr}");
        let stem = name.trim_end_matches(".yaml");
        insta::with_settings!({ snapshot_path => "snapshots/bad_recipes", prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(stem, format!("{stderr}{stdout}"));
        });

        let state = tempfile::tempdir().unwrap();
        let plan = batchyard(&dir)
            .args(["plan", "--deny-warnings", &name, "--state-dir"])
            .arg(state.path())
            .output()
            .unwrap();
        let plan_err = String::from_utf8(plan.stderr).unwrap();
        assert_eq!(plan.status.code(), Some(1), "{name}: plan said {plan_err}");
        for report in reports(&stderr) {
            assert!(
                plan_err.contains(report),
                "{name}: plan does not show\n{report}\nplan said:\n{plan_err}"
            );
        }
        assert!(
            !plan_err.contains("batchyard validate"),
            "{name}: plan sends the user to validate instead of saying what is wrong"
        );
    }
}

#[test]
fn warnings_pass_without_deny_warnings_and_are_shown_by_render() {
    let (dir, _) = corpus();
    let out = batchyard(&dir)
        .args(["validate", "retired-vm-size.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "retired-vm-size.yaml: valid, 1 warning\n"
    );
    let render = batchyard(&dir)
        .args(["render", "retired-vm-size.yaml"])
        .output()
        .unwrap();
    assert_eq!(render.status.code(), Some(0));
    let stderr = String::from_utf8(render.stderr).unwrap();
    assert!(stderr.contains("Azure retired the NC series"), "{stderr}");
    assert!(
        String::from_utf8(render.stdout)
            .unwrap()
            .contains("Standard_NC6"),
        "render still prints the payloads"
    );
    let denied = batchyard(&dir)
        .args(["render", "--deny-warnings", "retired-vm-size.yaml"])
        .output()
        .unwrap();
    assert_eq!(denied.status.code(), Some(1));
}

#[test]
fn json_output_carries_warnings_and_compile_errors() {
    let (dir, _) = corpus();
    let out = batchyard(&dir)
        .args([
            "validate",
            "--output",
            "json",
            "unknown-size-and-os-alias.yaml",
            "depends-on-missing-factory-id.yaml",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["format_version"], 1);
    let found: Vec<(String, String, String)> = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["file"].as_str().unwrap().to_owned(),
                d["path"].as_str().unwrap().to_owned(),
                d["severity"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        (
            "unknown-size-and-os-alias.yaml",
            "/pools/0/vm_size",
            "warning",
        ),
        ("unknown-size-and-os-alias.yaml", "/pools/0/os", "error"),
        (
            "depends-on-missing-factory-id.yaml",
            "/jobs/0/tasks/1/depends_on/1",
            "error",
        ),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
        .collect();
    assert_eq!(found, expected);
}
