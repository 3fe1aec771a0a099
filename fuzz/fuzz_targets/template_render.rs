//! Arbitrary template text rendered and compiled: errors, never panics.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let engine = batchyard_recipe::template::Engine::new();
    let vars = [("n".to_owned(), serde_json::json!(2))].into_iter().collect();
    let ctx = batchyard_recipe::render::context("r", &vars);
    let _ = engine.render(&text, &ctx);
    let _ = engine.compile(&text);
});
