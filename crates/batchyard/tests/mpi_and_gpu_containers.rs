//! The MPI and GPU command lines batchyard generates, run for real on the embedded Batch
//! service: each MPI runtime's launch line runs under a fake `mpirun` and `module` that
//! record what they received (on the host, and in a container built from busybox with no
//! registry), and a GPU recipe's container task runs with the generated container options
//! (the service drops `--gpus` on a machine without a GPU and says so).
#![allow(clippy::unwrap_used)]

mod e2e;

use std::path::Path;
use std::process::Command;

use e2e::*;

/// A fake `mpirun`: prints its arguments, one per line, and the environment a launcher
/// depends on. Plain POSIX sh, so the same file serves the host and the busybox image.
const FAKE_MPIRUN: &str = r#"#!/bin/sh
echo "mpirun-args-begin"
for a in "$@"; do echo "arg: $a"; done
echo "mpirun-args-end"
echo "env AZ_BATCH_HOST_LIST=$AZ_BATCH_HOST_LIST"
echo "env SITE_SETUP=$SITE_SETUP"
echo "env HYDRA_LAUNCHER_EXTRA_ARGS=$HYDRA_LAUNCHER_EXTRA_ARGS"
"#;

/// A fake `module`: the real one is a shell function; this one records the call.
const FAKE_MODULE: &str = "#!/bin/sh\necho \"module: $*\"\n";

fn write_exec(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn docker_answers() -> bool {
    Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn docker_required() -> bool {
    std::env::var("BATCHYARD_REQUIRE_DOCKER").is_ok_and(|v| v == "1")
}

/// Whether container tests run here: a missing engine is a visible skip, or a failure
/// with BATCHYARD_REQUIRE_DOCKER=1.
fn docker_or_skip() -> bool {
    if docker_answers() {
        return true;
    }
    assert!(
        !docker_required(),
        "BATCHYARD_REQUIRE_DOCKER=1 but no Docker engine answers `docker info`"
    );
    eprintln!(
        "skipping: no Docker engine answers (BATCHYARD_REQUIRE_DOCKER=1 makes this a failure)"
    );
    false
}

/// Builds `tag` from local files only: a static busybox, `/bin/bash` as a wrapper around
/// busybox's POSIX sh (the generated lines use only POSIX constructs), the fake `mpirun`
/// and a fake `sshd` (the default coordination command of container MPI starts one).
fn build_image(tag: &str) {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("busybox not found: install the Debian package busybox-static (scripts/test does)");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    for d in ["bin", "usr/sbin", "etc", "tmp", "run"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(busybox, root.join("bin/busybox")).unwrap();
    for applet in ["sh", "echo", "cat", "mkdir", "env", "true"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    write_exec(&root.join("bin/bash"), "#!/bin/sh\nexec /bin/sh \"$@\"\n");
    write_exec(&root.join("bin/mpirun"), FAKE_MPIRUN);
    write_exec(&root.join("usr/sbin/sshd"), "#!/bin/sh\necho \"sshd $*\"\n");
    std::fs::write(root.join("etc/marker"), "from-image\n").unwrap();
    let tar = dir.path().join("rootfs.tar");
    let status = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    let out = Command::new("docker")
        .args(["import"])
        .arg(&tar)
        .arg(tag)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One MPI task per Linux runtime, on the 8-HCA ND H100 v5 size with the HPC image.
fn mpi_recipe(image: Option<&str>) -> String {
    let containers = image
        .map(|i| format!("    containers: {{ images: [\"{i}\"] }}\n"))
        .unwrap_or_default();
    let job_image = image
        .map(|i| format!("    image: \"{i}\"\n"))
        .unwrap_or_default();
    let mut r = format!(
        "recipe: mpi-launch\npools:\n  - id: nd\n    vm_size: Standard_ND96isr_H100_v5\n    os: ubuntu-hpc-24.04\n    nodes: {{ dedicated: 2 }}\n{containers}jobs:\n  - id: mpi\n    pool: nd\n{job_image}    tasks:\n"
    );
    for rt in ["openmpi", "intelmpi", "mpich", "mvapich"] {
        r.push_str(&format!(
            "      - id: {rt}\n        command: ./app --case 'a b'\n        mpi:\n          runtime: {rt}\n          instances: 2\n          processes_per_node: 8\n          pre_execution_command: export SITE_SETUP=done\n"
        ));
    }
    r
}

fn logs(recipe: &Path, task: &str) -> String {
    let out = batchyard()
        .args(["logs", "mpi", task, "--recipe"])
        .arg(recipe)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The arguments mpirun received, in order.
fn args(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .skip_while(|l| *l != "mpirun-args-begin")
        .skip(1)
        .take_while(|l| *l != "mpirun-args-end")
        .map(|l| l.strip_prefix("arg: ").unwrap().to_string())
        .collect()
}

fn after<'a>(args: &'a [String], flag: &str) -> &'a str {
    let i = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("{flag} not in {args:?}"));
    &args[i + 1]
}

const ALL_HCAS: &str =
    "mlx5_ib0:1,mlx5_ib1:1,mlx5_ib2:1,mlx5_ib3:1,mlx5_ib4:1,mlx5_ib5:1,mlx5_ib6:1,mlx5_ib7:1";

/// What every runtime's launcher must have received: both nodes, 16 processes, 8 per
/// node, all eight HCAs, the program with its quoted argument intact.
fn check_launch(runtime: &str, stdout: &str, container: bool) {
    let a = args(stdout);
    assert!(!a.is_empty(), "{runtime}: mpirun did not run:\n{stdout}");
    let hosts_line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("env AZ_BATCH_HOST_LIST="))
        .unwrap();
    let hosts: Vec<&str> = hosts_line.split(',').collect();
    assert_eq!(hosts.len(), 2, "{runtime}: {hosts_line}");
    assert_eq!(a[a.len() - 3..], ["./app", "--case", "a b"], "{runtime}");
    assert!(
        stdout.contains("env SITE_SETUP=done"),
        "{runtime}: the pre-execution command ran in the launcher's shell:\n{stdout}"
    );
    match runtime {
        "openmpi" => {
            assert_eq!(after(&a, "--host"), hosts_line, "{runtime}");
            assert_eq!(after(&a, "-np"), "16");
            assert_eq!(after(&a, "--map-by"), "ppr:8:node");
            assert_eq!(after(&a, "-x"), format!("UCX_NET_DEVICES={ALL_HCAS}"));
            assert_eq!(after(&a, "pml"), "ucx");
            if container {
                assert!(a.contains(&"--allow-run-as-root".to_string()));
                assert_eq!(after(&a, "plm_rsh_args"), "-p 23");
            }
        }
        _ => {
            assert_eq!(after(&a, "-hosts"), hosts_line, "{runtime}");
            assert_eq!(after(&a, "-np"), "16", "{runtime}");
            assert_eq!(after(&a, "-ppn"), "8", "{runtime}");
            let genv: Vec<(&str, &str)> = a
                .windows(3)
                .filter(|w| w[0] == "-genv")
                .map(|w| (w[1].as_str(), w[2].as_str()))
                .collect();
            assert!(
                genv.contains(&("UCX_NET_DEVICES", ALL_HCAS)),
                "{runtime}: {genv:?}"
            );
            if runtime == "intelmpi" {
                assert!(genv.contains(&("I_MPI_FABRICS", "shm:ofi")), "{genv:?}");
                assert!(genv.contains(&("FI_PROVIDER", "mlx")), "{genv:?}");
                if container {
                    assert_eq!(after(&a, "-bootstrap-exec-args"), "-p 23");
                }
            } else if container {
                assert!(
                    stdout.contains("env HYDRA_LAUNCHER_EXTRA_ARGS=-p 23"),
                    "{stdout}"
                );
            }
        }
    }
}

#[test]
fn mpi_launch_lines_reach_the_launcher_on_the_host_with_the_images_module() {
    let (dir, recipe) = recipe_dir(&mpi_recipe(None));
    let bin = dir.path().join("fake-bin");
    std::fs::create_dir(&bin).unwrap();
    write_exec(&bin.join("mpirun"), FAKE_MPIRUN);
    write_exec(&bin.join("module"), FAKE_MODULE);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let run = batchyard()
        .args(["run"])
        .arg(&recipe)
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(run.status.success(), "{run:?}");
    for (rt, module) in [
        ("openmpi", Some("mpi/hpcx")),
        ("intelmpi", Some("mpi/impi-2021")),
        // MPICH is not on the HPC images: the launcher on PATH is used as it is.
        ("mpich", None),
        ("mvapich", Some("mpi/mvapich")),
    ] {
        let out = logs(&recipe, rt);
        check_launch(rt, &out, false);
        match module {
            Some(m) => assert!(
                out.starts_with(&format!("module: load {m}\n")),
                "{rt}: the module loads before the launcher:\n{out}"
            ),
            None => assert!(!out.contains("module:"), "{rt}:\n{out}"),
        }
    }
}

#[test]
fn mpi_launch_lines_reach_the_launcher_inside_the_container() {
    if !docker_or_skip() {
        return;
    }
    let tag = "batchyard-test/mpi-busybox:local";
    build_image(tag);
    let (_dir, recipe) = recipe_dir(&mpi_recipe(Some(tag)));
    let run = batchyard().args(["run"]).arg(&recipe).output().unwrap();
    assert!(run.status.success(), "{run:?}");
    for rt in ["openmpi", "intelmpi", "mpich", "mvapich"] {
        let out = logs(&recipe, rt);
        check_launch(rt, &out, true);
        // In the container the image's own MPI is on PATH: no host module.
        assert!(!out.contains("module:"), "{rt}:\n{out}");
    }
}

#[test]
fn a_gpu_recipes_container_task_runs_with_the_generated_options() {
    if !docker_or_skip() {
        return;
    }
    let tag = "batchyard-test/gpu-busybox:local";
    build_image(tag);
    let text = format!(
        "recipe: gpu-container\npools:\n  - id: gpu\n    vm_size: Standard_NC4as_T4_v3\n    os: ubuntu-hpc-24.04\n    nodes: {{ dedicated: 1 }}\n    containers: {{ images: [\"{tag}\"] }}\njobs:\n  - id: mpi\n    pool: gpu\n    image: \"{tag}\"\n    tasks:\n      - id: train\n        gpu: true\n        command: /bin/sh -c 'cat /etc/marker; echo ran'\n"
    );
    let (_dir, recipe) = recipe_dir(&text);
    let rendered = batchyard().args(["render"]).arg(&recipe).output().unwrap();
    let rendered = String::from_utf8(rendered.stdout).unwrap();
    assert!(
        rendered.contains("--gpus all --ipc=host --ulimit memlock=-1 --ulimit stack=67108864"),
        "{rendered}"
    );
    let run = batchyard().args(["run"]).arg(&recipe).output().unwrap();
    assert!(run.status.success(), "{run:?}");
    assert_eq!(logs(&recipe, "train"), "from-image\nran\n");
}
