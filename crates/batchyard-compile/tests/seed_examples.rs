//! The seed article's four worked pools ("Use RDMA or GPU instances in Batch pools"), as
//! recipes: each rendered payload carries every setting of the article's table. Where Azure
//! retired what the article used, the recipe uses today's equivalent and the test says so.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::path::Path;

use batchyard_batch::validate_against_spec;
use batchyard_compile::{CompileOptions, compile};
use batchyard_recipe::load;
use batchyard_recipe::render::Variables;
use serde_json::{Value, json};

fn pool(file: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../recipes/seed-examples")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let loaded = load(file, &text, &Variables::new());
    assert!(!loaded.has_errors(), "{:#?}", loaded.diagnostics);
    let desired = compile(loaded.recipe.as_ref().unwrap(), &CompileOptions::default()).unwrap();
    let v = serde_json::to_value(&desired.pools[0].payload).unwrap();
    validate_against_spec("BatchPoolCreateOptions", &v).unwrap();
    v
}

#[test]
fn example_1_windows_nc_with_driver_from_application_package() {
    let p = pool("1-windows-nc-app-package.yaml");
    let vm = &p["virtualMachineConfiguration"];
    assert_eq!(
        vm["imageReference"],
        json!({"publisher": "MicrosoftWindowsServer", "offer": "WindowsServer", "sku": "2022-datacenter", "version": "latest"})
    );
    assert_eq!(vm["nodeAgentSKUId"], "batch.node.windows amd64");
    // Article: Standard_NC6, retired with the NC series on 2023-09-06.
    assert_eq!(p["vmSize"], "Standard_NC4as_T4_v3");
    assert_eq!(
        p["applicationPackageReferences"],
        json!([{"applicationId": "GPUDriver", "version": "411.82"}])
    );
    assert_eq!(
        p["startTask"]["commandLine"],
        // One backslash: the article's doubled one was C# escaping.
        r#"cmd /c "%AZ_BATCH_APP_PACKAGE_GPUDriver#411.82%\GPUDriverSetup.exe /s""#
    );
    assert_eq!(
        p["startTask"]["userIdentity"],
        json!({"autoUser": {"scope": "pool", "elevationLevel": "admin"}})
    );
    assert_eq!(p["startTask"]["waitForSuccess"], true);
    // The driver comes from the package, so no driver extension is added.
    assert!(vm.get("extensions").is_none());
}

#[test]
fn example_2_linux_nc_from_custom_image() {
    let p = pool("2-linux-nc-custom-image.yaml");
    let vm = &p["virtualMachineConfiguration"];
    assert!(
        vm["imageReference"]["virtualMachineImageId"]
            .as_str()
            .unwrap()
            .contains("/galleries/")
    );
    // Article: batch.node.ubuntu 16.04, a node agent Batch no longer offers; 22.04 ends
    // on 2027-06-30 (Azure/Batch#200).
    assert_eq!(vm["nodeAgentSKUId"], "batch.node.ubuntu 24.04");
    // Article: Standard_NC6 (retired 2023-09-06).
    assert_eq!(p["vmSize"], "Standard_NC4as_T4_v3");
    assert!(vm.get("extensions").is_none());
}

#[test]
fn example_3_windows_rdma_with_msmpi() {
    let p = pool("3-windows-h16r-msmpi.yaml");
    let vm = &p["virtualMachineConfiguration"];
    assert!(vm["imageReference"]["virtualMachineImageId"].is_string());
    assert_eq!(vm["nodeAgentSKUId"], "batch.node.windows amd64");
    // Article: Standard_H16r; the H series is retired.
    assert_eq!(p["vmSize"], "Standard_HB120rs_v3");
    assert_eq!(p["enableInterNodeCommunication"], true);
    assert_eq!(p["taskSlotsPerNode"], 1);
}

/// The MPI commands of the seed examples, as they would run on their images today.
fn task_line(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../recipes/seed-examples")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let loaded = load(file, &text, &Variables::new());
    let desired = compile(loaded.recipe.as_ref().unwrap(), &CompileOptions::default()).unwrap();
    let t = batchyard_compile::tasks(&loaded, &desired, &desired.jobs[0])
        .next()
        .unwrap()
        .unwrap();
    serde_json::to_value(&t).unwrap()["commandLine"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn the_mpi_examples_load_their_mpi_before_launching() {
    // AlmaLinux HPC: Intel MPI 2021 is the module mpi/impi-2021 (azhpc-images
    // components/install_mpis.sh), not on PATH in Batch's non-login shell.
    let intel = task_line("4-linux-h16r-intelmpi.yaml");
    assert!(
        intel.contains(
            "module load mpi/impi-2021; exec mpirun -hosts $AZ_BATCH_HOST_LIST -np 240 -ppn 120"
        ),
        "{intel}"
    );
    assert!(intel.contains("I_MPI_FABRICS shm:ofi"), "{intel}");
    // Windows: MS-MPI's mpiexec with the node list Batch gives it.
    assert_eq!(
        task_line("3-windows-h16r-msmpi.yaml"),
        "cmd /c mpiexec -c 1 -wdir %AZ_BATCH_TASK_SHARED_DIR% MPIHelloWorld.exe"
    );
}

#[test]
fn example_4_linux_rdma_with_intel_mpi() {
    let p = pool("4-linux-h16r-intelmpi.yaml");
    let vm = &p["virtualMachineConfiguration"];
    // Article: OpenLogic CentOS-HPC 7.4 (CentOS 7 reached end of life on 2024-06-30).
    assert_eq!(vm["imageReference"]["publisher"], "almalinux");
    assert_eq!(vm["imageReference"]["offer"], "almalinux-hpc");
    assert_eq!(vm["nodeAgentSKUId"], "batch.node.el 8");
    // Article: Standard_H16r; the H series is retired.
    assert_eq!(p["vmSize"], "Standard_HB120rs_v3");
    assert_eq!(p["enableInterNodeCommunication"], true);
    assert_eq!(p["taskSlotsPerNode"], 1);
}
