//! End-to-end: recipe text → load → compile → payloads, every payload validated against the
//! official Batch spec.

use std::path::Path;

use batchyard_batch::validate_against_spec;
use batchyard_compile::{CompileOptions, Desired, compile, tasks};
use batchyard_recipe::render::Variables;
use batchyard_recipe::{Diagnostic, Loaded, load};
use serde_json::{Value, json};

struct Rendered {
    pools: Vec<Value>,
    jobs: Vec<Value>,
    tasks: Vec<Value>,
}

fn load_ok(name: &str, text: &str) -> Loaded {
    let loaded = load(name, text, &Variables::new());
    assert!(!loaded.has_errors(), "{name}: {:#?}", loaded.diagnostics);
    loaded
}

fn compile_ok(loaded: &Loaded) -> Desired {
    let recipe = loaded.recipe.as_ref().unwrap();
    compile(recipe, &CompileOptions { base_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/recipes") })
        .unwrap_or_else(|d| panic!("{:#?}", d))
}

fn validated(definition: &str, v: Value) -> Value {
    if let Err(e) = validate_against_spec(definition, &v) {
        panic!("{definition} invalid: {e:#?}\n{v:#}");
    }
    v
}

fn render(text: &str) -> Rendered {
    let loaded = load_ok("test.yaml", text);
    let desired = compile_ok(&loaded);
    let pools = desired.pools.iter().map(|p| validated("BatchPoolCreateOptions", serde_json::to_value(&p.payload).unwrap())).collect();
    let jobs = desired.jobs.iter().map(|j| validated("BatchJobCreateOptions", serde_json::to_value(&j.payload).unwrap())).collect();
    let mut all = Vec::new();
    for job in &desired.jobs {
        for t in tasks(&loaded, &desired, job) {
            let t = t.unwrap_or_else(|d| panic!("{d:#?}"));
            all.push(validated("BatchTaskCreateOptions", serde_json::to_value(&t).unwrap()));
        }
    }
    Rendered { pools, jobs, tasks: all }
}

fn errors(text: &str) -> Vec<Diagnostic> {
    let loaded = load_ok("test.yaml", text);
    let recipe = loaded.recipe.as_ref().unwrap();
    let mut out = match compile(recipe, &CompileOptions::default()) {
        Ok(desired) => {
            let mut d = desired.warnings.clone();
            for job in &desired.jobs {
                d.extend(tasks(&loaded, &desired, job).filter_map(Result::err));
            }
            d
        }
        Err(d) => d,
    };
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn has(diags: &[Diagnostic], path: &str, text: &str) -> bool {
    diags.iter().any(|d| d.path == path && d.message.contains(text))
}

/// Ownership hashes change with every payload edit; keep snapshots stable and readable.
fn redact_hash(mut v: Value) -> Value {
    if let Some(items) = v.get_mut("metadata").and_then(Value::as_array_mut) {
        for m in items {
            if m["name"] == "batchyard.spec" {
                assert_eq!(m["value"].as_str().unwrap().len(), 64);
                m["value"] = json!("[sha256]");
            }
        }
    }
    v
}

#[test]
fn gpu_pool() {
    let r = render(include_str!("recipes/gpu.yaml"));
    insta::assert_json_snapshot!("gpu_pool", redact_hash(r.pools[0].clone()));
    insta::assert_json_snapshot!("gpu_job", redact_hash(r.jobs[0].clone()));
    let pool = &r.pools[0];
    assert_eq!(pool["virtualMachineConfiguration"]["extensions"][0]["type"], "NvidiaGpuDriverLinux");
    assert_eq!(pool["virtualMachineConfiguration"]["extensions"][0]["publisher"], "Microsoft.HpcCompute");
    let reg = &pool["virtualMachineConfiguration"]["containerConfiguration"]["containerRegistries"][0];
    assert_eq!(reg["password"], "(secret from env ACR_PASSWORD)");
    assert_eq!(pool["targetDedicatedNodes"], 2);
    assert_eq!(r.tasks[0]["containerSettings"]["containerRunOptions"], "--gpus all");
    assert_eq!(r.tasks[0]["containerSettings"]["imageName"], "myacr.azurecr.io/mnist:1.4-gpu");
}
