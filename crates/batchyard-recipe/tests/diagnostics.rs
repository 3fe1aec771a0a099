//! The diagnostic code registry (crates/batchyard-recipe/src/code.rs): docs/diagnostics.md
//! is generated from it and must be current, and every code in it must be reported by some
//! code path, so the list users read holds no dead entries.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use batchyard_recipe::Code;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn diagnostics_doc_is_current() {
    let path = workspace().join("docs/diagnostics.md");
    let fresh = batchyard_recipe::code::markdown();
    if std::env::var_os("BATCHYARD_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "docs/diagnostics.md is out of date with crates/batchyard-recipe/src/code.rs; \
         regenerate it with BATCHYARD_BLESS=1 cargo test -p batchyard-recipe --test diagnostics"
    );
}

/// The non-test source of every crate's `src/` folder: the text before its `#[cfg(test)]`
/// test module (a `#[cfg(test)]` on a single item elsewhere does not end the product code).
fn product_sources(dir: &Path, out: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            product_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs")
            && !path.ends_with("batchyard-recipe/src/code.rs")
        {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push_str(before_test_module(&text));
            out.push('\n');
        }
    }
}

fn before_test_module(text: &str) -> &str {
    let mut from = 0;
    while let Some(at) = text[from..].find("#[cfg(test)]") {
        let start = from + at;
        let mut rest = text[start + "#[cfg(test)]".len()..].trim_start();
        // Further attributes of the same item (`#[allow(...)]`) come before its `mod`.
        while rest.starts_with("#[") {
            rest = rest
                .find(']')
                .map_or("", |end| rest[end + 1..].trim_start());
        }
        if rest.starts_with("mod ") {
            return &text[..start];
        }
        from = start + 1;
    }
    text
}

#[test]
fn every_code_is_reported_somewhere() {
    let mut sources = String::new();
    for krate in std::fs::read_dir(workspace().join("crates")).unwrap() {
        let src = krate.unwrap().path().join("src");
        if src.is_dir() {
            product_sources(&src, &mut sources);
        }
    }
    let unused: Vec<&str> = Code::ALL
        .iter()
        .filter(|code| {
            let name = code.variant_name();
            !sources.contains(&format!("Code::{name},"))
                && !sources.contains(&format!("Code::{name})"))
        })
        .map(|code| code.as_str())
        .collect();
    assert!(
        unused.is_empty(),
        "codes no product code reports (remove them or report them): {unused:?}"
    );
}
