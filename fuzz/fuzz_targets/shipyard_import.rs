//! Arbitrary bytes as a Shipyard config set: the importer reports, never panics, and
//! whatever recipe it writes loads without panicking.
//!
//! The input is split at NUL bytes into up to four files, in this order: pool.yaml,
//! config.yaml, jobs.yaml, credentials.yaml (a missing part is a missing file).
#![no_main]

const FILES: [&str; 4] = ["pool.yaml", "config.yaml", "jobs.yaml", "credentials.yaml"];

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let files: Vec<(&str, &str)> = FILES.iter().copied().zip(text.split('\0')).collect();
    if let Ok(imported) = batchyard_shipyard::import_from_texts(&files) {
        let loaded = batchyard_recipe::load("imported.yaml", &imported.recipe, &Default::default());
        for d in &loaded.diagnostics {
            assert!(loaded.span_of(d).end <= imported.recipe.len());
        }
    }
});
