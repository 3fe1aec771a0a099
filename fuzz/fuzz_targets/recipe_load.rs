//! Arbitrary bytes into the recipe loader: it must report, never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let loaded = batchyard_recipe::load("fuzz.yaml", &text, &Default::default());
    for d in &loaded.diagnostics {
        assert!(loaded.span_of(d).end <= text.len());
    }
    let _ = loaded.render(Default::default());
});
