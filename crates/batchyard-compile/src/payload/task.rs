//! Task payloads (`BatchTaskCreateOptions`), one per task or factory item.

use batchyard_recipe::model::{Dependency, DependsOn, Mpi, MpiRuntime, Task};
use batchyard_recipe::{Code, Diagnostic};
use serde_json::{Map, Value, json};

use super::common::{
    admin_identity, env, exit_conditions, output_files, put_value, resource_files,
};
use crate::catalogue::{OsType, Rdma};
use crate::dependencies::{IdRange, TaskDependencies, check_explicit};
use crate::hardware::PoolFacts;
use crate::mpi::{self, Launch};

/// What a task's payload depends on besides the task itself.
#[derive(Debug, Clone)]
pub struct TaskContext {
    pub pool: PoolFacts,
    /// The job's default container image.
    pub job_image: Option<String>,
    /// What `inputs` and `outputs` become.
    pub data: crate::data::TaskData,
}

/// Builds one task payload. `path` is the task's JSON pointer in the recipe; `merge_deps`
/// are the dependencies of a `depends_on: all` task.
pub fn build(
    ctx: &TaskContext,
    task: &Task,
    path: &str,
    merge_deps: Option<&TaskDependencies>,
) -> Result<Value, Diagnostic> {
    let pool = &ctx.pool;
    let mut t = Map::new();
    t.insert("id".into(), json!(task.id));

    let gpu = match task.gpu {
        Some(true) if !pool.gpu => {
            return Err(Diagnostic::error(
                Code::PoolMismatch,
                format!("{path}/gpu"),
                format!("pool `{}` has no GPUs", pool.id),
            )
            .with_help("run the task on a GPU pool, or remove `gpu: true`"));
        }
        Some(g) => g,
        None => pool.gpu,
    };

    let image = task.image.as_ref().or(ctx.job_image.as_ref());
    let in_container = image.is_some() && pool.containers;

    // The command: an MPI launch line for multi-instance tasks.
    let mut command = task.command.clone();
    if let Some(m) = &task.mpi {
        if !pool.inter_node {
            return Err(Diagnostic::error(
                Code::PoolMismatch,
                format!("{path}/mpi"),
                format!("pool `{}` has no inter-node communication", pool.id),
            )
            .with_help(
                "set `inter_node_communication: true` on the pool (RDMA pools have it by default)",
            ));
        }
        if in_container && m.runtime == MpiRuntime::Msmpi {
            return Err(Diagnostic::error(
                Code::MsMpiInContainer,
                format!("{path}/mpi/runtime"),
                "MS-MPI tasks run on Windows hosts, not in containers",
            )
            .with_help("remove the task's `image` (and the job's), or use a Linux MPI runtime"));
        }
        let ppn = m.processes_per_node.unwrap_or_else(|| default_ppn(pool));
        let module = mpi_module(pool, m, in_container);
        command = mpi::launch_command(&Launch {
            runtime: m.runtime,
            instances: m.instances,
            processes_per_node: ppn,
            options: m.options.as_deref(),
            command: &task.command,
            rdma: pool.rdma,
            ib_devices: pool.ib_devices,
            module: module.as_deref(),
            pre_execution: m.pre_execution_command.as_deref(),
            container: in_container,
        });
        let mut mi = Map::new();
        mi.insert("numberOfInstances".into(), json!(m.instances));
        let coordination = m
            .coordination_command
            .clone()
            .unwrap_or_else(|| mpi::default_coordination_command(m.runtime, in_container));
        mi.insert("coordinationCommandLine".into(), json!(coordination));
        put_value(
            &mut mi,
            "commonResourceFiles",
            resource_files(&m.common_resource_files),
        );
        t.insert("multiInstanceSettings".into(), Value::Object(mi));
    }
    if task.mpi.is_none()
        && gpu
        && pool.os_type == OsType::Linux
        && let Some(wrapped) = gpu_slot_command(pool, &command, task.required_slots)
    {
        command = wrapped;
    }
    t.insert("commandLine".into(), json!(command));

    if let Some(image) = image {
        if !pool.containers {
            return Err(Diagnostic::error(
                Code::PoolMismatch,
                format!("{path}/image"),
                format!("pool `{}` is not set up for containers", pool.id),
            )
            .with_help("add `containers:` to the pool (its images are prefetched on every node)"));
        }
        let mut c = Map::new();
        c.insert("imageName".into(), json!(image));
        let opts = container_options(
            pool,
            gpu,
            task.mpi.is_some(),
            task.container_options.as_deref(),
        );
        if !opts.is_empty() {
            c.insert("containerRunOptions".into(), json!(opts));
        }
        t.insert("containerSettings".into(), Value::Object(c));
    }

    let data = ctx
        .data
        .parts(&task.id, &task.inputs, &task.outputs, path)?;
    let mut environment = env(&task.env);
    if let (Some(key), Value::Array(items)) = (&data.content_key, &mut environment) {
        items.push(json!({"name": crate::data::CONTENT_KEY_ENV, "value": key}));
    }
    put_value(&mut t, "environmentSettings", environment);
    let mut files = data.resource_files;
    if let Value::Array(own) = resource_files(&task.resource_files) {
        files.extend(own);
    }
    put_value(&mut t, "resourceFiles", Value::Array(files));
    let mut outputs = data.output_files;
    if let Value::Array(own) = output_files(&task.output_files) {
        outputs.extend(own);
    }
    put_value(&mut t, "outputFiles", Value::Array(outputs));
    if let Some(id) = admin_identity(task.elevated) {
        t.insert("userIdentity".into(), id);
    }
    if let Some(c) = &task.constraints {
        let mut m = Map::new();
        if let Some(w) = &c.max_wall_time {
            m.insert("maxWallClockTime".into(), json!(w.to_iso8601()));
        }
        if let Some(r) = &c.retention {
            m.insert("retentionTime".into(), json!(r.to_iso8601()));
        }
        if let Some(r) = c.max_retries {
            m.insert("maxTaskRetryCount".into(), json!(r));
        }
        put_value(&mut t, "constraints", Value::Object(m));
    }
    if let Some(e) = &task.exit_conditions {
        put_value(&mut t, "exitConditions", exit_conditions(e));
    }
    if let Some(s) = task.required_slots {
        t.insert("requiredSlots".into(), json!(s));
    }
    let deps = match (&task.depends_on, merge_deps) {
        (Some(DependsOn::All), Some(d)) => d.clone(),
        (Some(DependsOn::Tasks(list)), _) => explicit(list, path)?,
        _ => TaskDependencies::default(),
    };
    if !deps.is_empty() {
        t.insert(
            "dependsOn".into(),
            serde_json::to_value(&deps).unwrap_or(Value::Null),
        );
    }
    if let Some(raw) = &task.batch {
        let mut v = Value::Object(t);
        super::common::merge(&mut v, raw);
        return Ok(v);
    }
    Ok(Value::Object(t))
}

fn explicit(list: &[Dependency], path: &str) -> Result<TaskDependencies, Diagnostic> {
    let mut d = TaskDependencies::default();
    for dep in list {
        match dep {
            Dependency::Id(id) => d.task_ids.push(id.clone()),
            Dependency::Range {
                range: [start, end],
            } => d.task_id_ranges.push(IdRange {
                start: *start,
                end: *end,
            }),
        }
    }
    check_explicit(&d.task_ids).map_err(|e| {
        Diagnostic::error(
            Code::InvalidDependency,
            format!("{path}/depends_on"),
            e.to_string(),
        )
    })?;
    Ok(d)
}

/// MPI processes per node when the recipe does not say: one per GPU on GPU sizes, else one
/// per vCPU, else 1 for sizes the catalogue does not know.
fn default_ppn(pool: &PoolFacts) -> u32 {
    match pool.size {
        Some(s) => match (&s.gpu, pool.gpu) {
            (Some(g), true) => g.count.max(1),
            _ => s.vcpus.max(1),
        },
        None => 1,
    }
}

/// The module that puts the task's MPI launcher on PATH: the recipe's choice (`none` for
/// none), else the image's module for the runtime on the host. In a container the image's
/// own MPI is on PATH, so no host module is loaded unless the recipe names one.
fn mpi_module(pool: &PoolFacts, m: &Mpi, in_container: bool) -> Option<String> {
    match m.module.as_deref().map(str::trim) {
        Some("none") | Some("") => None,
        Some(name) => Some(name.to_string()),
        None if in_container => None,
        None => pool.mpi_modules.for_runtime(m.runtime).map(String::from),
    }
}

/// `containerRunOptions` for the pool's hardware, then the user's own options.
fn container_options(pool: &PoolFacts, gpu: bool, mpi: bool, user: Option<&str>) -> String {
    let mut opts: Vec<String> = Vec::new();
    if pool.os_type == OsType::Linux {
        let rdma = !matches!(pool.rdma, Rdma::None);
        if gpu {
            // Every GPU of the node; a task sharing the node picks its own with
            // CUDA_VISIBLE_DEVICES (see gpu_slot_command).
            opts.push("--gpus all".into());
        }
        if mpi || rdma {
            // The launcher and the fabric address nodes by their host names and IPs, and
            // the launcher reaches the other containers' sshd on the host network.
            opts.push("--net=host".into());
        }
        if gpu || mpi || rdma {
            // NCCL and PyTorch data loaders share memory between processes through /dev/shm
            // and SysV IPC; Docker's default 64 MB /dev/shm makes them fail. The host's IPC
            // namespace gives them the node's shared memory, and RDMA/NCCL pin buffers, so
            // locked memory is unlimited (NVIDIA's recommended options for its containers).
            opts.push("--ipc=host --ulimit memlock=-1 --ulimit stack=67108864".into());
        }
        match pool.rdma {
            // Every InfiniBand device of the node (all HCAs: eight on the ND sizes).
            Rdma::SriovInfiniband { .. } => opts.push("--device=/dev/infiniband".into()),
            // NetworkDirect sizes also need the host's DAPL config and Intel MPI runtime.
            Rdma::NetworkDirect { .. } => opts.push(
                "--device=/dev/infiniband -v /etc/rdma:/etc/rdma:ro -v /etc/dat.conf:/etc/dat.conf:ro -v /opt/intel:/opt/intel:ro"
                    .into(),
            ),
            Rdma::None => {}
        }
    }
    if let Some(u) = user.map(str::trim).filter(|u| !u.is_empty()) {
        opts.push(u.to_string());
    }
    opts.join(" ")
}

/// When several tasks share a GPU node (`task_slots_per_node` > 1), each task claims one
/// slot's share of the GPUs and sees only those through `CUDA_VISIBLE_DEVICES`. Batch tells
/// a task nothing about its slot, so the slot is claimed on the node: the first of the
/// node's slot lock files (in the node's shared directory, which containers see too) that
/// `flock` can take; the lock is held until the task's process exits. `None` when the node
/// is not shared or has fewer GPUs than slots (tasks then share every GPU).
fn gpu_slot_command(pool: &PoolFacts, command: &str, required: Option<u32>) -> Option<String> {
    let slots = pool.task_slots_per_node;
    let per_task = pool.gpu_count / slots.max(1);
    if slots < 2 || per_task == 0 || required.unwrap_or(1) != 1 {
        return None;
    }
    let cases: Vec<String> = (0..slots)
        .map(|s| {
            let set = (s * per_task..(s + 1) * per_task)
                .map(|g| g.to_string())
                .collect::<Vec<_>>()
                .join(",");
            format!("{s}) g={set};;")
        })
        .collect();
    let all: Vec<String> = (0..slots).map(|s| s.to_string()).collect();
    // POSIX sh and util-linux flock only, so it runs in any image that has them.
    let script = format!(
        "d=\"$AZ_BATCH_NODE_SHARED_DIR/.batchyard-gpu-slots\"; mkdir -p \"$d\"; slot=; \
         for s in {all}; do exec 9>\"$d/$s.lock\"; if flock -n 9; then slot=$s; break; fi; exec 9>&-; done; \
         if [ -z \"$slot\" ]; then echo \"batchyard: no free GPU slot on this node\" >&2; exit 1; fi; \
         case $slot in {cases} esac; export CUDA_VISIBLE_DEVICES=$g; exec {command}",
        all = all.join(" "),
        cases = cases.join(" "),
    );
    Some(format!("/bin/sh -c {}", mpi::shell_quote(&script)))
}
