//! MPI launch commands for Batch multi-instance tasks.
//!
//! Batch starts the primary subtask's command once; it must launch the processes on every
//! node itself. Batch lists the nodes in `$AZ_BATCH_HOST_LIST` (comma separated) on Linux and
//! in `%CCP_NODES%` for MS-MPI on Windows. Batch runs commands without a shell, so Linux
//! launch commands are wrapped in `/bin/bash -c` for the variable to expand.

use batchyard_recipe::model::MpiRuntime;

use crate::catalogue::Rdma;

/// What a launch command is generated from.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch<'a> {
    pub runtime: MpiRuntime,
    /// Nodes (Batch `numberOfInstances`).
    pub instances: u32,
    pub processes_per_node: u32,
    /// Extra launcher options, written by the user.
    pub options: Option<&'a str>,
    /// The program and its arguments.
    pub command: &'a str,
    /// The pool's RDMA network, when the task uses it.
    pub rdma: Rdma,
    /// InfiniBand HCAs per node: every one of them is given to UCX.
    pub ib_devices: u32,
    /// The environment module that puts the launcher on PATH (`None`: already on PATH).
    pub module: Option<&'a str>,
    /// The user's set-up commands, run just before the launcher in the same shell.
    pub pre_execution: Option<&'a str>,
    /// The task runs in a container: the launcher runs in the primary's container and
    /// reaches the other nodes' containers over SSH on [`CONTAINER_SSH_PORT`].
    pub container: bool,
}

/// The port of the SSH daemon the default coordination command starts inside each node's
/// container (the host's own sshd keeps port 22). Batch Shipyard used the same port for
/// its native container MPI tasks (`/usr/sbin/sshd -p 23`).
pub const CONTAINER_SSH_PORT: u16 = 23;

/// The InfiniBand devices as the Azure HPC images name them: their udev rule and
/// `azure_persistent_rdma_naming` service rename the IB HCAs to `mlx5_ib0`, `mlx5_ib1`, ...,
/// keeping them apart from the accelerated-networking NIC (`mlx5_an0`).
pub fn ucx_net_devices(ib_devices: u32) -> String {
    (0..ib_devices.max(1))
        .map(|i| format!("mlx5_ib{i}:1"))
        .collect::<Vec<_>>()
        .join(",")
}

/// How the shell gets `module`: Batch runs commands in a non-login shell, where the
/// environment-modules function is not defined until its profile script is read.
const MODULE_INIT: &str = "command -v module >/dev/null 2>&1 || . /etc/profile.d/modules.sh";

/// The full command line of the primary subtask.
pub fn launch_command(l: &Launch<'_>) -> String {
    let np = u64::from(l.instances) * u64::from(l.processes_per_node);
    let ppn = l.processes_per_node;
    let user = l.options.map(str::trim).filter(|o| !o.is_empty());
    if l.runtime == MpiRuntime::Msmpi {
        // Windows: MS-MPI's mpiexec reads the node list from CCP_NODES, which Batch sets;
        // the shared directory is where every subtask can see the program.
        let mut line = format!("cmd /c mpiexec -c {ppn} -wdir %AZ_BATCH_TASK_SHARED_DIR%");
        if let Some(o) = user {
            line.push(' ');
            line.push_str(o);
        }
        line.push(' ');
        line.push_str(l.command);
        return line;
    }
    let ucx = ucx_net_devices(l.ib_devices);
    let sriov = matches!(l.rdma, Rdma::SriovInfiniband { .. });
    let mut args: Vec<String> = vec!["mpirun".into()];
    args.extend(user.map(String::from));
    // Environment set before the launcher (Hydra reads these itself).
    let mut exports: Vec<String> = Vec::new();
    match l.runtime {
        MpiRuntime::Openmpi => {
            // `--host a,b` gives one slot per host; oversubscribe lets ppr place P per node.
            args.push(format!(
                "--oversubscribe --host $AZ_BATCH_HOST_LIST -np {np} --map-by ppr:{ppn}:node"
            ));
            if sriov {
                args.push(format!(
                    "--mca pml ucx --mca btl ^vader,tcp,openib -x UCX_NET_DEVICES={ucx}"
                ));
            } else {
                // Open MPI has no NetworkDirect transport: stay on TCP over the front NIC.
                args.push("--mca btl_tcp_if_include eth0".into());
            }
            if l.container {
                // Batch runs container tasks as root, which mpirun refuses by default.
                args.push(format!(
                    "--allow-run-as-root --mca plm_rsh_args \"-p {CONTAINER_SSH_PORT}\""
                ));
            }
        }
        MpiRuntime::Intelmpi => {
            args.push(format!("-hosts $AZ_BATCH_HOST_LIST -np {np} -ppn {ppn}"));
            match l.rdma {
                // Intel MPI 2019 and later: libfabric with the mlx provider (UCX underneath).
                Rdma::SriovInfiniband { .. } => args.push(format!(
                    "-genv I_MPI_FABRICS shm:ofi -genv FI_PROVIDER mlx -genv UCX_NET_DEVICES {ucx}"
                )),
                // The legacy NetworkDirect sizes: DAPL over the ofa-v2-ib0 provider.
                Rdma::NetworkDirect { .. } => args.push(
                    "-genv I_MPI_FABRICS shm:dapl -genv I_MPI_DAPL_PROVIDER ofa-v2-ib0 -genv I_MPI_DYNAMIC_CONNECTION 0 -genv I_MPI_FALLBACK 0"
                        .into(),
                ),
                Rdma::None => {}
            }
            if l.container {
                args.push(format!(
                    "-bootstrap ssh -bootstrap-exec-args \"-p {CONTAINER_SSH_PORT}\""
                ));
            }
        }
        MpiRuntime::Mpich | MpiRuntime::Mvapich => {
            // Both use the Hydra launcher. MPICH's ch4:ucx device and the MVAPICH the HPC
            // images build (--with-ucx) take their InfiniBand devices from UCX.
            args.push(format!("-hosts $AZ_BATCH_HOST_LIST -np {np} -ppn {ppn}"));
            if sriov {
                args.push(format!("-genv UCX_NET_DEVICES {ucx}"));
            }
            if l.container {
                exports.push(format!(
                    "export HYDRA_LAUNCHER=ssh HYDRA_LAUNCHER_EXTRA_ARGS=\"-p {CONTAINER_SSH_PORT}\""
                ));
            }
        }
        MpiRuntime::Msmpi => {}
    }
    args.push(l.command.to_string());

    let mut steps: Vec<String> = Vec::new();
    if let Some(m) = l.module {
        steps.push(MODULE_INIT.into());
        steps.push(format!("module load {m}"));
    }
    steps.extend(exports);
    if let Some(pre) = l.pre_execution.map(str::trim).filter(|p| !p.is_empty()) {
        steps.push(pre.to_string());
    }
    if !steps.is_empty() {
        // Stop at the first failing step, so a missing module is reported as such.
        steps.insert(0, "set -e".into());
    }
    steps.push(format!("exec {}", args.join(" ")));
    format!("/bin/bash -c {}", shell_quote(&steps.join("; ")))
}

/// The coordination command Batch runs on every node before the primary starts, when the
/// recipe gives none (the spec requires one). MS-MPI needs its SMPD daemon on each node
/// (Batch's documented command). In containers, each node's container runs an SSH daemon
/// for the launcher in the primary's container. Elsewhere the Linux launchers start their
/// processes over the hosts' SSH, so the command only marks the node ready.
pub fn default_coordination_command(runtime: MpiRuntime, container: bool) -> String {
    match runtime {
        MpiRuntime::Msmpi => r#"cmd /c start cmd /c ""%MSMPI_BIN%\smpd.exe"" -d"#.into(),
        _ if container => {
            format!("/bin/bash -c 'mkdir -p /run/sshd && /usr/sbin/sshd -p {CONTAINER_SSH_PORT}'")
        }
        _ => "/bin/bash -c true".into(),
    }
}

/// Quotes a string for a POSIX shell as one word.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(runtime: MpiRuntime, rdma: Rdma) -> String {
        launch_command(&Launch {
            runtime,
            instances: 2,
            processes_per_node: 4,
            options: None,
            command: "./hello --n 'x y'",
            rdma,
            ib_devices: 1,
            module: None,
            pre_execution: None,
            container: false,
        })
    }

    const SRIOV: Rdma = Rdma::SriovInfiniband { gbps: 200 };
    const ND: Rdma = Rdma::NetworkDirect { gbps: 56 };

    #[test]
    fn golden_launch_commands() {
        let mut out = String::new();
        for runtime in [
            MpiRuntime::Openmpi,
            MpiRuntime::Intelmpi,
            MpiRuntime::Mpich,
            MpiRuntime::Mvapich,
            MpiRuntime::Msmpi,
        ] {
            for (name, rdma) in [
                ("none", Rdma::None),
                ("sriov", SRIOV),
                ("network_direct", ND),
            ] {
                out.push_str(&format!(
                    "{runtime:?} / {name}:\n  {}\n",
                    launch(runtime, rdma)
                ));
            }
        }
        insta::assert_snapshot!(out);
    }

    #[test]
    fn process_counts_and_hosts() {
        for rt in [
            MpiRuntime::Openmpi,
            MpiRuntime::Intelmpi,
            MpiRuntime::Mpich,
            MpiRuntime::Mvapich,
        ] {
            let c = launch(rt, Rdma::None);
            assert!(c.starts_with("/bin/bash -c 'exec mpirun"), "{c}");
            assert!(c.contains("-np 8"), "{c}");
            assert!(c.contains("$AZ_BATCH_HOST_LIST"), "{c}");
        }
        assert!(launch(MpiRuntime::Openmpi, Rdma::None).contains("ppr:4:node"));
        assert!(launch(MpiRuntime::Intelmpi, Rdma::None).contains("-ppn 4"));
    }

    #[test]
    fn fabric_settings_follow_the_rdma_kind() {
        assert!(launch(MpiRuntime::Openmpi, SRIOV).contains("--mca pml ucx"));
        assert!(!launch(MpiRuntime::Openmpi, Rdma::None).contains("ucx"));
        assert!(launch(MpiRuntime::Intelmpi, SRIOV).contains("I_MPI_FABRICS shm:ofi"));
        assert!(launch(MpiRuntime::Intelmpi, ND).contains("I_MPI_FABRICS shm:dapl"));
        assert!(!launch(MpiRuntime::Intelmpi, Rdma::None).contains("I_MPI_FABRICS"));
    }

    #[test]
    fn eight_hca_sizes_get_every_device_and_the_module_loads_first() {
        let c = launch_command(&Launch {
            runtime: MpiRuntime::Openmpi,
            instances: 2,
            processes_per_node: 8,
            options: None,
            command: "./allreduce",
            rdma: SRIOV,
            ib_devices: 8,
            module: Some("mpi/hpcx"),
            pre_execution: Some("export NCCL_DEBUG=INFO"),
            container: false,
        });
        assert!(c.contains("UCX_NET_DEVICES=mlx5_ib0:1,mlx5_ib1:1,mlx5_ib2:1,mlx5_ib3:1,mlx5_ib4:1,mlx5_ib5:1,mlx5_ib6:1,mlx5_ib7:1"), "{c}");
        let load = c.find("module load mpi/hpcx").unwrap();
        let pre = c.find("export NCCL_DEBUG=INFO").unwrap();
        let run = c.find("exec mpirun").unwrap();
        assert!(load < pre && pre < run, "{c}");
    }

    #[test]
    fn user_command_survives_quoting() {
        // The command's own single quotes are escaped inside the bash -c word.
        let c = launch(MpiRuntime::Mpich, Rdma::None);
        assert!(c.ends_with(r#"./hello --n '\''x y'\'''"#), "{c}");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("plain"), "plain");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn msmpi_uses_smpd_coordination() {
        assert!(default_coordination_command(MpiRuntime::Msmpi, false).contains("smpd.exe"));
        assert_eq!(
            default_coordination_command(MpiRuntime::Openmpi, false),
            "/bin/bash -c true"
        );
        assert!(default_coordination_command(MpiRuntime::Openmpi, true).contains("sshd -p 23"));
        assert!(launch(MpiRuntime::Msmpi, ND).starts_with("cmd /c mpiexec -c 4"));
    }
}
