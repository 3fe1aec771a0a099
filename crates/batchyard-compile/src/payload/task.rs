//! Task payloads (`BatchTaskCreateOptions`), one per task or factory item.

use batchyard_recipe::Diagnostic;
use batchyard_recipe::model::{Dependency, DependsOn, Task};
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
                format!("{path}/gpu"),
                format!("pool `{}` has no GPUs", pool.id),
            )
            .with_help("run the task on a GPU pool, or remove `gpu: true`"));
        }
        Some(g) => g,
        None => pool.gpu,
    };

    // The command: an MPI launch line for multi-instance tasks.
    let mut command = task.command.clone();
    if let Some(m) = &task.mpi {
        if !pool.inter_node {
            return Err(Diagnostic::error(
                format!("{path}/mpi"),
                format!("pool `{}` has no inter-node communication", pool.id),
            )
            .with_help(
                "set `inter_node_communication: true` on the pool (RDMA pools have it by default)",
            ));
        }
        let ppn = m.processes_per_node.unwrap_or_else(|| default_ppn(pool));
        command = mpi::launch_command(&Launch {
            runtime: m.runtime,
            instances: m.instances,
            processes_per_node: ppn,
            options: m.options.as_deref(),
            command: &task.command,
            rdma: pool.rdma,
        });
        let mut mi = Map::new();
        mi.insert("numberOfInstances".into(), json!(m.instances));
        let coordination = m
            .coordination_command
            .clone()
            .unwrap_or_else(|| mpi::default_coordination_command(m.runtime));
        mi.insert("coordinationCommandLine".into(), json!(coordination));
        put_value(
            &mut mi,
            "commonResourceFiles",
            resource_files(&m.common_resource_files),
        );
        t.insert("multiInstanceSettings".into(), Value::Object(mi));
    }
    t.insert("commandLine".into(), json!(command));

    if let Some(image) = task.image.as_ref().or(ctx.job_image.as_ref()) {
        if !pool.containers {
            return Err(Diagnostic::error(
                format!("{path}/image"),
                format!("pool `{}` is not set up for containers", pool.id),
            )
            .with_help("add `containers:` to the pool (its images are prefetched on every node)"));
        }
        let mut c = Map::new();
        c.insert("imageName".into(), json!(image));
        let opts = container_options(pool, gpu, task.container_options.as_deref());
        if !opts.is_empty() {
            c.insert("containerRunOptions".into(), json!(opts));
        }
        t.insert("containerSettings".into(), Value::Object(c));
    }

    put_value(&mut t, "environmentSettings", env(&task.env));
    put_value(
        &mut t,
        "resourceFiles",
        resource_files(&task.resource_files),
    );
    put_value(&mut t, "outputFiles", output_files(&task.output_files));
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
    check_explicit(&d.task_ids)
        .map_err(|e| Diagnostic::error(format!("{path}/depends_on"), e.to_string()))?;
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

/// `containerRunOptions` for the pool's hardware, then the user's own options.
fn container_options(pool: &PoolFacts, gpu: bool, user: Option<&str>) -> String {
    let mut opts: Vec<&str> = Vec::new();
    if pool.os_type == OsType::Linux {
        if gpu {
            opts.push("--gpus all");
        }
        match pool.rdma {
            // The IB devices (all HCAs), host networking for the fabric's addressing, and
            // unlimited locked memory for RDMA buffers.
            Rdma::SriovInfiniband { .. } => {
                opts.push("--net=host --ulimit memlock=-1 --device=/dev/infiniband");
            }
            // NetworkDirect sizes also need the host's DAPL config and Intel MPI runtime.
            Rdma::NetworkDirect { .. } => opts.push(
                "--net=host --ulimit memlock=-1 --device=/dev/infiniband -v /etc/rdma:/etc/rdma:ro -v /etc/dat.conf:/etc/dat.conf:ro -v /opt/intel:/opt/intel:ro",
            ),
            Rdma::None => {}
        }
    }
    if let Some(u) = user.map(str::trim).filter(|u| !u.is_empty()) {
        opts.push(u);
    }
    opts.join(" ")
}
