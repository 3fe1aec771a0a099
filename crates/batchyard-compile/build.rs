//! Turns the hardware catalogue's YAML (`data/*.yaml`, the source of truth, written and
//! reviewed by hand) into compact JSON in `OUT_DIR`, which the crate embeds. A YAML parse of
//! the catalogue was the largest single cost of `batchyard validate`; JSON reads in a small
//! fraction of that time into the same types. The conversion is generic (any field, any
//! nesting), and a test holds the JSON reading to the YAML one.

const CATALOGUES: [&str; 2] = ["vm_sizes", "images"];

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    for name in CATALOGUES {
        let source = format!("data/{name}.yaml");
        println!("cargo::rerun-if-changed={source}");
        let text = std::fs::read_to_string(&source)
            .unwrap_or_else(|e| panic!("{source} is readable: {e}"));
        let value: serde_json::Value =
            serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{source} is valid YAML: {e}"));
        let json = serde_json::to_string(&value).expect("a JSON value serializes");
        let target = std::path::Path::new(&out_dir).join(format!("{name}.json"));
        std::fs::write(&target, json).expect("OUT_DIR is writable");
    }
}
