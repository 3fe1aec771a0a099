//! The payloads batchyard renders for every MPI runtime × catalogue image × size class it
//! supports, on the host and in a container, as snapshots. Each snapshot's description
//! names the sources its facts were reviewed against (the image's and the size's entries
//! in `data/`, listed again in docs/hardware.md). Also: what validate rejects, and the GPU
//! slot claim run for real with sh and flock.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::process::{Command, Stdio};

use batchyard_batch::validate_against_spec;
use batchyard_compile::catalogue::{self, ContainerRuntime, OsType};
use batchyard_compile::{CompileOptions, compile, tasks};
use batchyard_recipe::load;
use batchyard_recipe::render::Variables;
use serde_json::{Value, json};

/// Size classes: one representative size each.
const SIZES: &[(&str, &str)] = &[
    ("cpu", "Standard_D4s_v5"),
    ("hpc-ib", "Standard_HB120rs_v3"),
    ("hpc-ib-4hca", "Standard_HB368rs_v5"),
    ("gpu", "Standard_NC64as_T4_v3"),
    ("gpu-ib-8hca", "Standard_ND96isr_H100_v5"),
];

const LINUX_RUNTIMES: &[&str] = &["openmpi", "intelmpi", "mpich", "mvapich"];

const APP_IMAGE: &str = "example.azurecr.io/app:1";

fn recipe(image: &str, size: &str, containers: bool, windows: bool) -> String {
    let mut r = format!(
        "recipe: matrix\npools:\n  - id: p\n    vm_size: {size}\n    os: {image}\n    nodes: {{ dedicated: 2 }}\n    inter_node_communication: true\n"
    );
    if containers {
        r.push_str(&format!("    containers: {{ images: [{APP_IMAGE}] }}\n"));
    }
    r.push_str("jobs:\n");
    let runtimes: &[&str] = if windows { &["msmpi"] } else { LINUX_RUNTIMES };
    let mut job = |id: &str, image: Option<&str>| {
        r.push_str(&format!("  - id: {id}\n    pool: p\n"));
        if let Some(i) = image {
            r.push_str(&format!("    image: {i}\n"));
        }
        r.push_str("    tasks:\n");
        for rt in runtimes {
            r.push_str(&format!(
                "      - id: {rt}\n        command: ./app --in case.dat\n        mpi: {{ runtime: {rt}, instances: 2 }}\n"
            ));
        }
        r.push_str("      - id: single\n        command: ./app --single\n");
    };
    job("host", None);
    if containers {
        job("container", Some(APP_IMAGE));
    }
    r
}

/// The pool payload and every task of the recipe, each checked against Batch's spec.
fn render(text: &str) -> Value {
    let loaded = load("matrix.yaml", text, &Variables::new());
    assert!(!loaded.has_errors(), "{:#?}", loaded.diagnostics);
    let desired = compile(loaded.recipe.as_ref().unwrap(), &CompileOptions::default())
        .unwrap_or_else(|d| panic!("{text}\n{d:#?}"));
    let mut pool = serde_json::to_value(&desired.pools[0].payload).unwrap();
    validate_against_spec("BatchPoolCreateOptions", &pool).unwrap();
    pool["metadata"] = json!("[ownership metadata]");
    let mut out = json!({ "pool": pool, "tasks": {} });
    for job in &desired.jobs {
        for t in tasks(&loaded, &desired, job) {
            let t = serde_json::to_value(t.unwrap()).unwrap();
            validate_against_spec("BatchTaskCreateOptions", &t).unwrap();
            let key = format!("{}/{}", job.id, t["id"].as_str().unwrap());
            out["tasks"][key] = t;
        }
    }
    out
}

fn snapshot_image(alias: &str) {
    let img = catalogue::image(alias).unwrap();
    let windows = img.os_type == OsType::Windows;
    let containers = !windows && img.preinstalled.container_runtime == ContainerRuntime::Docker;
    for (class, size) in SIZES {
        let s = catalogue::vm_size(size).unwrap();
        if s.generation == catalogue::Generation::Gen2Only && !img.gen2 {
            // Not a supported combination: validate rejects it (see the compile tests).
            continue;
        }
        let mut sources = img.sources.clone();
        sources.push(s.source.clone());
        let rendered = render(&recipe(alias, size, containers, windows));
        insta::with_settings!({
            description => format!("{alias} on {size} ({class}); reviewed against: {}", sources.join(" ")),
            omit_expression => true,
        }, {
            insta::assert_json_snapshot!(format!("{alias}__{class}"), rendered);
        });
    }
}

/// Sources: Azure/Batch#200, azhpc-images README and components/install_mpis.sh.
#[test]
fn ubuntu_hpc_24_04() {
    snapshot_image("ubuntu-hpc-24.04");
}

/// Sources: azhpc-images README and components/install_mpis.sh, Azure/Batch#200.
#[test]
fn ubuntu_hpc_22_04() {
    snapshot_image("ubuntu-hpc-22.04");
}

/// Sources: azhpc-images README and components/install_mpis.sh.
#[test]
fn almalinux_hpc_8() {
    snapshot_image("almalinux-hpc-8");
}

/// Sources: learn.microsoft.com/azure/batch/batch-linux-nodes (drivers come as extensions).
#[test]
fn ubuntu_24_04() {
    snapshot_image("ubuntu-24.04");
}

/// Sources: learn.microsoft.com/azure/batch/batch-docker-container-workloads (MS-MPI).
#[test]
fn windows_2022() {
    snapshot_image("windows-2022");
}

fn errors(text: &str) -> Vec<batchyard_recipe::Diagnostic> {
    let loaded = load("bad.yaml", text, &Variables::new());
    assert!(!loaded.has_errors(), "{:#?}", loaded.diagnostics);
    match compile(loaded.recipe.as_ref().unwrap(), &CompileOptions::default()) {
        Ok(_) => Vec::new(),
        Err(d) => d,
    }
}

fn one_error<'d>(
    diags: &'d [batchyard_recipe::Diagnostic],
    path: &str,
) -> &'d batchyard_recipe::Diagnostic {
    diags
        .iter()
        .find(|d| d.severity == batchyard_recipe::Severity::Error && d.path == path)
        .unwrap_or_else(|| panic!("no error at {path}: {diags:#?}"))
}

#[test]
fn containers_on_an_image_without_a_runtime_are_rejected_with_the_fix() {
    let d = errors(
        "recipe: r\npools:\n  - id: p\n    vm_size: Standard_D4s_v5\n    os: ubuntu-24.04\n    nodes: { dedicated: 1 }\n    containers: { images: [busybox] }\n",
    );
    let e = one_error(&d, "/pools/0/os");
    assert!(e.message.contains("no container runtime"), "{}", e.message);
    assert!(e.help.as_deref().unwrap().contains("ubuntu-hpc-24.04"));

    // An explicit image must declare its runtime.
    let d = errors(
        "recipe: r\npools:\n  - id: p\n    vm_size: Standard_D4s_v5\n    image: { publisher: canonical, offer: ubuntu-24_04-lts, sku: server, node_agent: batch.node.ubuntu 24.04 }\n    nodes: { dedicated: 1 }\n    containers: { images: [busybox] }\n",
    );
    let e = one_error(&d, "/pools/0/image");
    assert!(
        e.help.as_deref().unwrap().contains("container_runtime"),
        "{e:?}"
    );
}

#[test]
fn gpu_containers_without_the_toolkit_are_rejected_with_the_fix() {
    let d = errors(
        "recipe: r\npools:\n  - id: p\n    vm_size: Standard_NC4as_T4_v3\n    image: { custom: /subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/images/i, node_agent: batch.node.ubuntu 24.04, preinstalled: [gpu_driver, container_runtime] }\n    nodes: { dedicated: 1 }\n    containers: { images: [busybox] }\n",
    );
    let e = one_error(&d, "/pools/0/image");
    assert!(
        e.message.contains("NVIDIA container toolkit"),
        "{}",
        e.message
    );
    let help = e.help.as_deref().unwrap();
    assert!(
        help.contains("nvidia_container_toolkit") && help.contains("ubuntu-hpc-24.04"),
        "{help}"
    );
    // Declared: accepted.
    assert!(
        errors("recipe: r\npools:\n  - id: p\n    vm_size: Standard_NC4as_T4_v3\n    image: { custom: /subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/images/i, node_agent: batch.node.ubuntu 24.04, preinstalled: [gpu_driver, container_runtime, nvidia_container_toolkit] }\n    nodes: { dedicated: 1 }\n    containers: { images: [busybox] }\n")
            .is_empty()
    );
    // Windows has no GPU containers in Batch.
    let d = errors(
        "recipe: r\npools:\n  - id: p\n    vm_size: Standard_NC4as_T4_v3\n    os: windows-2022\n    nodes: { dedicated: 1 }\n    containers: { images: [busybox] }\n",
    );
    assert!(
        one_error(&d, "/pools/0/os")
            .message
            .contains("no GPU containers on Windows")
    );
}

#[test]
fn end_of_life_images_warn_with_the_date() {
    let loaded = load(
        "r.yaml",
        "recipe: r\npools:\n  - id: p\n    vm_size: Standard_D4s_v5\n    os: ubuntu-22.04\n    nodes: { dedicated: 1 }\n",
        &Variables::new(),
    );
    let mut out = Vec::new();
    let pool = &loaded.recipe.as_ref().unwrap().pools[0];
    batchyard_compile::hardware::resolve_on(pool, "/pools/0", &mut out, "2026-12-03");
    let w = out
        .iter()
        .find(|d| d.path == "/pools/0/os")
        .unwrap_or_else(|| panic!("{out:#?}"));
    assert_eq!(w.severity, batchyard_recipe::Severity::Warning);
    assert!(w.message.contains("2027-06-30"), "{}", w.message);
    assert!(w.help.as_deref().unwrap().contains("ubuntu-24.04"));
}

/// Two tasks sharing a 4-GPU node with two slots claim different GPU pairs; a third finds
/// no free slot. The generated command runs under the real sh and flock.
#[test]
fn tasks_sharing_a_gpu_node_claim_their_own_gpus() {
    if Command::new("flock").arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").is_err(),
            "flock (util-linux) is needed for this test"
        );
        eprintln!("skipping: no flock on this machine");
        return;
    }
    let text = "recipe: r\npools:\n  - id: p\n    vm_size: Standard_NC64as_T4_v3\n    os: ubuntu-24.04\n    nodes: { dedicated: 1 }\n    task_slots_per_node: 2\njobs:\n  - id: j\n    pool: p\n    tasks:\n      - id: t\n        command: /bin/sh -c 'echo $CUDA_VISIBLE_DEVICES > \"$OUT\"; while [ ! -e \"$GO\" ]; do sleep 0.05; done'\n";
    let loaded = load("r.yaml", text, &Variables::new());
    let desired = compile(loaded.recipe.as_ref().unwrap(), &CompileOptions::default()).unwrap();
    let task = tasks(&loaded, &desired, &desired.jobs[0])
        .next()
        .unwrap()
        .unwrap();
    let line = serde_json::to_value(&task).unwrap()["commandLine"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(line.starts_with("/bin/sh -c "), "{line}");

    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let run = |n: usize| {
        Command::new("sh")
            .arg("-c")
            .arg(&line)
            .env("AZ_BATCH_NODE_SHARED_DIR", dir.path())
            .env("OUT", dir.path().join(format!("out{n}")))
            .env("GO", &go)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let first = run(1);
    let second = run(2);
    // Both hold their slot once they have written their GPUs.
    let wait_for = |p: std::path::PathBuf| {
        while !p.exists() || std::fs::read_to_string(&p).unwrap().is_empty() {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::fs::read_to_string(&p).unwrap().trim().to_string()
    };
    let mut got = [
        wait_for(dir.path().join("out1")),
        wait_for(dir.path().join("out2")),
    ];
    let third = run(3).wait_with_output().unwrap();
    assert!(!third.status.success());
    assert!(String::from_utf8_lossy(&third.stderr).contains("no free GPU slot"));
    std::fs::write(&go, "").unwrap();
    assert!(first.wait_with_output().unwrap().status.success());
    assert!(second.wait_with_output().unwrap().status.success());
    got.sort();
    assert_eq!(got, ["0,1".to_string(), "2,3".to_string()]);
}
