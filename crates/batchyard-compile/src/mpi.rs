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
}

/// The InfiniBand device of SR-IOV sizes as the Azure HPC images name it (their udev rules
/// rename the IB HCA to `mlx5_ib0`, keeping it apart from the accelerated-networking NIC).
const IB_DEVICE: &str = "mlx5_ib0:1";

/// The full command line of the primary subtask.
pub fn launch_command(l: &Launch<'_>) -> String {
    let np = u64::from(l.instances) * u64::from(l.processes_per_node);
    let ppn = l.processes_per_node;
    let user = l.options.map(str::trim).filter(|o| !o.is_empty());
    let mut args: Vec<String> = Vec::new();
    match l.runtime {
        MpiRuntime::Openmpi => {
            // `--host a,b` gives one slot per host; oversubscribe lets ppr place P per node.
            args.push("mpirun".into());
            args.extend(user.map(String::from));
            args.push(format!(
                "--oversubscribe --host $AZ_BATCH_HOST_LIST -np {np} --map-by ppr:{ppn}:node"
            ));
            match l.rdma {
                Rdma::SriovInfiniband { .. } => args.push(format!(
                    "--mca pml ucx --mca btl ^vader,tcp,openib -x UCX_NET_DEVICES={IB_DEVICE}"
                )),
                // Open MPI has no NetworkDirect transport: stay on TCP over the front NIC.
                Rdma::NetworkDirect { .. } | Rdma::None => {
                    args.push("--mca btl_tcp_if_include eth0".into())
                }
            }
        }
        MpiRuntime::Intelmpi => {
            args.push("mpirun".into());
            args.extend(user.map(String::from));
            args.push(format!("-hosts $AZ_BATCH_HOST_LIST -np {np} -ppn {ppn}"));
            match l.rdma {
                // Intel MPI 2019 and later: libfabric with the mlx provider (UCX underneath).
                Rdma::SriovInfiniband { .. } => {
                    args.push("-genv I_MPI_FABRICS shm:ofi -genv FI_PROVIDER mlx".into())
                }
                // The legacy NetworkDirect sizes: DAPL over the ofa-v2-ib0 provider.
                Rdma::NetworkDirect { .. } => args.push(
                    "-genv I_MPI_FABRICS shm:dapl -genv I_MPI_DAPL_PROVIDER ofa-v2-ib0 -genv I_MPI_DYNAMIC_CONNECTION 0 -genv I_MPI_FALLBACK 0"
                        .into(),
                ),
                Rdma::None => {}
            }
        }
        MpiRuntime::Mpich => {
            args.push("mpirun".into());
            args.extend(user.map(String::from));
            args.push(format!("-hosts $AZ_BATCH_HOST_LIST -np {np} -ppn {ppn}"));
            // MPICH's ch4:ucx device picks its transport from UCX.
            if let Rdma::SriovInfiniband { .. } = l.rdma {
                args.push(format!("-genv UCX_NET_DEVICES {IB_DEVICE}"));
            }
        }
        MpiRuntime::Mvapich => {
            // MVAPICH talks verbs directly and finds the HCA itself; its Hydra launcher takes
            // the same host arguments as MPICH.
            args.push("mpirun".into());
            args.extend(user.map(String::from));
            args.push(format!("-hosts $AZ_BATCH_HOST_LIST -np {np} -ppn {ppn}"));
        }
        MpiRuntime::Msmpi => {
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
    }
    args.push(l.command.to_string());
    format!("/bin/bash -c {}", shell_quote(&args.join(" ")))
}

/// The coordination command Batch runs on every node before the primary starts, when the
/// recipe gives none (the spec requires one). MS-MPI needs its SMPD daemon on each node
/// (Batch's documented command); the Linux launchers start their processes themselves, so
/// there the command only marks the node ready.
pub fn default_coordination_command(runtime: MpiRuntime) -> String {
    match runtime {
        MpiRuntime::Msmpi => r#"cmd /c start cmd /c ""%MSMPI_BIN%\smpd.exe"" -d"#.into(),
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
            assert!(c.starts_with("/bin/bash -c '"), "{c}");
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
        assert!(default_coordination_command(MpiRuntime::Msmpi).contains("smpd.exe"));
        assert_eq!(
            default_coordination_command(MpiRuntime::Openmpi),
            "/bin/bash -c true"
        );
        assert!(launch(MpiRuntime::Msmpi, ND).starts_with("cmd /c mpiexec -c 4"));
    }
}
