//! Every error that ends a command carries a stable code (docs/diagnostics.md): the source
//! builds none without one, and the built binary shows it to people and to programs.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use assert_cmd::Command;

fn batchyard() -> Command {
    let mut cmd = Command::cargo_bin("batchyard").unwrap();
    cmd.env("NO_COLOR", "1").env("COLUMNS", "100");
    cmd
}

/// `(file, line, text)` of every place in the command's product source that makes an
/// error without a code: a `miette!` without `code =`, or `into_diagnostic()`, which keeps
/// the library error's missing code (use `fail::OrCode::or_code` instead).
fn uncoded(dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            uncoded(&path, out);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // The product code ends at the test module; a `#[cfg(test)]` on a single item does
        // not end it, and a test module written otherwise is checked too (stricter, never
        // quieter).
        let product = text
            .find("#[cfg(test)]\nmod tests")
            .map_or(text.as_str(), |end| &text[..end]);
        for (at, _) in product.match_indices("miette!(") {
            let args: String = product[at..].chars().take(120).collect();
            let args: String = args.split_whitespace().collect::<Vec<_>>().join(" ");
            if !args.starts_with("miette!( code =") && !args.starts_with("miette!(code =") {
                let line = product[..at].lines().count();
                out.push(format!("{}:{line}: {args}", path.display()));
            }
        }
        for (at, _) in product.match_indices("into_diagnostic()") {
            let line = product[..at].lines().count();
            out.push(format!("{}:{line}: into_diagnostic()", path.display()));
        }
    }
}

#[test]
fn every_error_the_command_makes_has_a_code() {
    let mut found = Vec::new();
    uncoded(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut found,
    );
    assert!(
        found.is_empty(),
        "errors without a code (add `code = Code::...` or use `.or_code(Code::...)`):\n{}",
        found.join("\n")
    );
}

#[test]
fn an_unreadable_recipe_is_coded_for_people_and_programs() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.yaml");
    let out = batchyard()
        .args(["validate", "--output", "json"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc["files"][0]["error_code"], "batchyard::recipe::unreadable",
        "{doc}"
    );
    let out = batchyard().arg("validate").arg(&missing).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("batchyard::recipe::unreadable"), "{stderr}");
}

#[test]
fn a_command_error_shows_its_code() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recipe.yaml");
    std::fs::write(&path, "recipe: x\n").unwrap();
    let out = batchyard().arg("init").arg(&path).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("batchyard::input::file_exists"), "{stderr}");
}
