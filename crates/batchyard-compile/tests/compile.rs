//! End-to-end: recipe text → load → compile → payloads, every payload validated against the
//! official Batch spec.

#![allow(clippy::unwrap_used)] // tests may unwrap

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
    compile(
        recipe,
        &CompileOptions {
            base_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/recipes"),
            ..CompileOptions::default()
        },
    )
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
    let pools = desired
        .pools
        .iter()
        .map(|p| {
            validated(
                "BatchPoolCreateOptions",
                serde_json::to_value(&p.payload).unwrap(),
            )
        })
        .collect();
    let jobs = desired
        .jobs
        .iter()
        .map(|j| {
            validated(
                "BatchJobCreateOptions",
                serde_json::to_value(&j.payload).unwrap(),
            )
        })
        .collect();
    let mut all = Vec::new();
    for job in &desired.jobs {
        for t in tasks(&loaded, &desired, job) {
            let t = t.unwrap_or_else(|d| panic!("{d:#?}"));
            all.push(validated(
                "BatchTaskCreateOptions",
                serde_json::to_value(&t).unwrap(),
            ));
        }
    }
    Rendered {
        pools,
        jobs,
        tasks: all,
    }
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
    diags
        .iter()
        .any(|d| d.path == path && d.message.contains(text))
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
    // ubuntu-hpc-24.04 carries the NVIDIA driver and container toolkit: no extension.
    assert!(
        pool["virtualMachineConfiguration"]
            .get("extensions")
            .is_none(),
        "{pool}"
    );
    let reg =
        &pool["virtualMachineConfiguration"]["containerConfiguration"]["containerRegistries"][0];
    assert_eq!(reg["password"], "(secret from env ACR_PASSWORD)");
    assert_eq!(pool["targetDedicatedNodes"], 2);
    assert_eq!(
        r.tasks[0]["containerSettings"]["containerRunOptions"],
        "--gpus all --ipc=host --ulimit memlock=-1 --ulimit stack=67108864"
    );
    assert_eq!(
        r.tasks[0]["containerSettings"]["imageName"],
        "myacr.azurecr.io/mnist:1.4-gpu"
    );
}

#[test]
fn rdma_pools_with_each_mpi_runtime() {
    let r = render(include_str!("recipes/rdma-mpi.yaml"));
    let hb = &r.pools[0];
    assert_eq!(hb["enableInterNodeCommunication"], true);
    assert_eq!(hb["taskSlotsPerNode"], 1);
    // The HPC image carries the InfiniBand driver: no extension.
    assert!(
        hb["virtualMachineConfiguration"]
            .get("extensions")
            .is_none()
    );
    let h16r = &r.pools[1];
    assert_eq!(
        h16r["virtualMachineConfiguration"]["extensions"][0]["type"],
        "InfiniBandDriverLinux"
    );
    insta::assert_json_snapshot!("rdma_pool", redact_hash(hb.clone()));
    for t in &r.tasks {
        let id = t["id"].as_str().unwrap().to_string();
        insta::assert_json_snapshot!(format!("mpi_task_{id}"), t);
        assert!(
            t["multiInstanceSettings"]["numberOfInstances"]
                .as_u64()
                .unwrap()
                >= 2
        );
    }
    // MPICH without processes_per_node: one per vCPU of the size.
    let mpich = r.tasks.iter().find(|t| t["id"] == "mpich").unwrap();
    assert!(
        mpich["commandLine"]
            .as_str()
            .unwrap()
            .contains("-np 240 -ppn 120")
    );
    let nd = r.tasks.iter().find(|t| t["id"] == "intelmpi-nd").unwrap();
    assert!(
        nd["commandLine"]
            .as_str()
            .unwrap()
            .contains("I_MPI_FABRICS shm:dapl")
    );
}

#[test]
fn sweep_and_merge_task() {
    let r = render(include_str!("recipes/sweep.yaml"));
    let ids: Vec<&str> = r.tasks.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "prepare",
            "sweep-0_1-16",
            "sweep-0_1-32",
            "sweep-0_1-48",
            "sweep-0_01-16",
            "sweep-0_01-32",
            "sweep-0_01-48",
            "0",
            "1",
            "2",
            "3",
            "4",
            "report"
        ]
    );
    assert_eq!(r.jobs[0]["usesTaskDependencies"], true);
    assert_eq!(r.tasks[1]["dependsOn"], json!({"taskIds": ["prepare"]}));
    let merge = r.tasks.last().unwrap();
    // The numeric ids fold into one range; the others are listed.
    assert_eq!(
        merge["dependsOn"]["taskIdRanges"],
        json!([{"start": 0, "end": 4}])
    );
    assert_eq!(merge["dependsOn"]["taskIds"].as_array().unwrap().len(), 7);
    insta::assert_json_snapshot!("sweep_tasks", r.tasks);
}

#[test]
fn windows_pools() {
    let r = render(include_str!("recipes/windows.yaml"));
    let win = &r.pools[0];
    assert_eq!(
        win["applicationPackageReferences"],
        json!([{"applicationId": "GPUDriver", "version": "411.82"}])
    );
    assert_eq!(
        win["virtualMachineConfiguration"]["extensions"][0]["type"],
        "NvidiaGpuDriverWindows"
    );
    assert_eq!(
        win["startTask"]["userIdentity"]["autoUser"]["elevationLevel"],
        "admin"
    );
    insta::assert_json_snapshot!("windows_pool", redact_hash(win.clone()));
    let rdma = &r.pools[1];
    assert_eq!(rdma["enableInterNodeCommunication"], true);
    assert!(
        rdma["virtualMachineConfiguration"]
            .get("extensions")
            .is_none()
    );
    let t = &r.tasks[0];
    assert!(
        t["commandLine"]
            .as_str()
            .unwrap()
            .starts_with("cmd /c mpiexec")
    );
    assert!(
        t["multiInstanceSettings"]["coordinationCommandLine"]
            .as_str()
            .unwrap()
            .contains("smpd.exe")
    );
    insta::assert_json_snapshot!("windows_mpi_task", t);
}

#[test]
fn hardware_rules_are_diagnostics_at_the_right_path() {
    let d = errors(
        r#"
recipe: bad
pools:
  - id: a
    vm_size: Standard_D2s_v5
    os: ubuntu-22.04
    gpu: true
    rdma: true
    nodes: { dedicated: 1 }
  - id: b
    vm_size: Standard_HB120rs_v2
    os: ubuntu-hpc-22.04
    inter_node_communication: false
    task_slots_per_node: 4
    nodes: { dedicated: 1 }
  - id: c
    vm_size: Standard_Mystery_v9
    os: ubuntu-22.04
    nodes: { dedicated: 1 }
  - id: d
    vm_size: Standard_ND96isr_H100_v5
    os: windows-2016
    nodes: { dedicated: 1 }
"#,
    );
    assert!(has(&d, "/pools/0/gpu", "has no GPUs"), "{d:#?}");
    assert!(has(&d, "/pools/0/rdma", "has no RDMA"), "{d:#?}");
    assert!(
        has(&d, "/pools/1/inter_node_communication", "needs inter-node"),
        "{d:#?}"
    );
    assert!(
        has(&d, "/pools/1/task_slots_per_node", "one task per node"),
        "{d:#?}"
    );
    assert!(
        has(
            &d,
            "/pools/2/vm_size",
            "not in batchyard's hardware catalogue"
        ),
        "{d:#?}"
    );
    assert!(has(&d, "/pools/2/gpu", "needs a VM size"), "{d:#?}");
    assert!(has(&d, "/pools/3/os", "Generation 2"), "{d:#?}");
    assert!(has(&d, "/pools/3/os", "deprecated"), "{d:#?}");
}

#[test]
fn task_rules() {
    let d = errors(
        r#"
recipe: bad
pools:
  - id: cpu
    vm_size: Standard_D2s_v5
    os: ubuntu-22.04
    nodes: { dedicated: 2 }
jobs:
  - id: j
    pool: cpu
    tasks:
      - id: g
        command: x
        gpu: true
      - id: m
        command: x
        mpi: { runtime: openmpi, instances: 2 }
      - id: c
        command: x
        image: busybox
      - id: "dup-{{ item.x }}"
        command: x
        factory: { zip: { x: [1, 1] } }
      - id: "bad.{{ index }}"
        command: x
        factory: { repeat: 1 }
"#,
    );
    assert!(has(&d, "/jobs/0/tasks/0/gpu", "no GPUs"), "{d:#?}");
    assert!(has(&d, "/jobs/0/tasks/1/mpi", "inter-node"), "{d:#?}");
    assert!(has(&d, "/jobs/0/tasks/2/image", "containers"), "{d:#?}");
    assert!(has(&d, "/jobs/0/tasks/3/id", "used twice"), "{d:#?}");
    assert!(has(&d, "/jobs/0/tasks/4/id", "contains `.`"), "{d:#?}");
}

#[test]
fn raw_batch_is_merged_last_and_checked() {
    let r = render(
        r#"
recipe: raw
pools:
  - id: p
    vm_size: Standard_D2s_v5
    os: ubuntu-22.04
    nodes: { dedicated: 1 }
    batch: { targetNodeCommunicationMode: simplified, metadata: [{ name: team, value: hpc }] }
"#,
    );
    let p = &r.pools[0];
    assert_eq!(p["targetNodeCommunicationMode"], "simplified");
    let names: Vec<&str> = p["metadata"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["team", "batchyard.recipe", "batchyard.spec"]);

    let d = errors(
        r#"
recipe: raw
pools:
  - id: p
    vm_size: Standard_D2s_v5
    os: ubuntu-22.04
    nodes: { dedicated: 1 }
    batch: { taskSlotsPerNode: "many" }
"#,
    );
    assert!(has(&d, "/pools/0/batch", "Batch API schema"), "{d:#?}");
}

#[test]
fn spec_hash_is_stable_and_follows_the_payload() {
    let text = include_str!("recipes/gpu.yaml");
    let a = compile_ok(&load_ok("a", text));
    let b = compile_ok(&load_ok("b", text));
    assert_eq!(a.pools[0].spec_hash, b.pools[0].spec_hash);
    let c = compile_ok(&load_ok("c", &text.replace("nodes: 2", "nodes: 3")));
    assert_ne!(a.pools[0].spec_hash, c.pools[0].spec_hash);
    assert_eq!(a.jobs[0].spec_hash, c.jobs[0].spec_hash);
    assert_eq!(a.jobs[0].on_all_tasks_complete, "noaction");
}

#[test]
fn autoscale_scenario_becomes_a_formula() {
    let r = render(
        r#"
recipe: scale
pools:
  - id: p
    vm_size: Standard_D2s_v5
    os: ubuntu-22.04
    autoscale: { scenario: weekend, max_dedicated: 8, interval: 10m }
"#,
    );
    let p = &r.pools[0];
    assert_eq!(p["enableAutoScale"], true);
    assert_eq!(p["autoScaleEvaluationInterval"], "PT10M");
    assert!(
        p["autoScaleFormula"]
            .as_str()
            .unwrap()
            .contains("$now.weekday < 1 || $now.weekday > 5")
    );
    assert!(p.get("targetDedicatedNodes").is_none());
}
