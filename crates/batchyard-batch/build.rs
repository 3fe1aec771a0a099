//! Finds where each definition of `spec/BatchService.json` lies in the file, so that a
//! process parses only the definitions it checks against instead of the whole spec (883 kB,
//! most of it operations and descriptions) on every run.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::value::RawValue;

const SPEC: &str = "spec/BatchService.json";

#[derive(serde::Deserialize)]
struct Spec<'a> {
    #[serde(borrow)]
    definitions: BTreeMap<String, &'a RawValue>,
}

fn main() {
    println!("cargo::rerun-if-changed={SPEC}");
    println!("cargo::rerun-if-changed=build.rs");
    let text = std::fs::read_to_string(SPEC).expect("spec/BatchService.json is readable");
    let spec: Spec<'_> = serde_json::from_str(&text).expect("spec/BatchService.json parses");
    let base = text.as_ptr() as usize;
    // Byte ranges into the same text that `include_str!` embeds, in the spec's order.
    let mut ranges: Vec<(String, usize, usize)> = spec
        .definitions
        .into_iter()
        .map(|(name, raw)| {
            let start = raw.get().as_ptr() as usize - base;
            (name, start, start + raw.get().len())
        })
        .collect();
    ranges.sort_by_key(|(_, start, _)| *start);
    let mut out = String::from("&[\n");
    for (name, start, end) in &ranges {
        writeln!(out, "    ({name:?}, {start}, {end}),").expect("writing to a String");
    }
    out.push_str("]\n");
    let path = std::path::Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("definition_ranges.rs");
    std::fs::write(path, out).expect("OUT_DIR is writable");
}
