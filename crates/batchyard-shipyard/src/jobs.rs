//! `job_specifications` → recipe jobs.

use serde_json::Value;

use crate::apptainer;
use crate::ctx::Ctx;
use crate::doc::V;
use crate::emit::{Item, Map, Y, item, s, seq};
use crate::factory;
use crate::ids::{AutoId, sanitize_id};
use crate::pool::{PoolInfo, duration, resource_files};
use crate::volumes::{self, Volumes};

/// Settings shared by every job of the set.
pub struct JobsCtx<'a> {
    pub pool: &'a PoolInfo,
    pub auto_id: AutoId,
    /// `global_resources.volumes`.
    pub volumes: Option<V<'a>>,
    /// What became of the shared data volumes.
    pub shared: &'a Volumes,
}

fn auto_id(v: Option<V<'_>>, base: &AutoId) -> AutoId {
    let Some(v) = v else { return base.clone() };
    AutoId {
        prefix: v
            .get("prefix")
            .and_then(|p| p.str().map(str::to_owned))
            .unwrap_or_else(|| base.prefix.clone()),
        width: v
            .get("zfill_width")
            .and_then(|w| w.i64())
            .map_or(base.width, |w| usize::try_from(w).unwrap_or(0)),
    }
}

/// Job-level defaults that Shipyard applies to each task.
#[derive(Default)]
struct Defaults {
    gpus: Option<String>,
    shm_size: Option<String>,
    retention: Option<Y>,
    elevated: bool,
    exit: Option<Map>,
    data_volumes: Vec<String>,
    shared_volumes: Vec<String>,
    default_working_dir: Option<String>,
    /// The job's id, when it has auto scratch.
    scratch: Option<String>,
    restrict_bind: bool,
}

/// Converts one job, appending to `jobs` (a job whose id is already there gets its tasks
/// appended, as a second `shipyard jobs add` would add them to the existing job).
pub fn convert(ctx: &mut Ctx, jc: &JobsCtx<'_>, job: &V<'_>, jobs: &mut Vec<(Map, u64)>) {
    let raw_id = job.get("id").and_then(|v| v.text()).unwrap_or_default();
    let id = sanitize_id(&raw_id);
    if id != raw_id
        && let Some(v) = job.get("id")
    {
        ctx.warn(
            &v,
            format!("`{raw_id}` is not a valid Batch job id; it became `{id}`"),
            None,
        );
    }
    let existing = jobs.iter().position(|(m, _)| m.get("id") == Some(&s(&id)));
    let (mut m, mut next) = match existing {
        Some(i) => jobs.remove(i),
        None => (Map::new(), 0),
    };
    if existing.is_none() {
        m.set("id", s(&id));
        m.set("pool", s(&jc.pool.id));
    }
    let mut d = Defaults::default();
    if let Some(e) = job.get("environment_variables") {
        let env = m.map_at("env");
        for (k, v) in e.entries() {
            env.set(&k, s(v.text().unwrap_or_default()));
        }
    }
    if let Some(v) = job.get("priority").and_then(|v| v.i64()) {
        m.set("priority", Y::Int(v));
    }
    let mut constraints = Map::new();
    if let Some(v) = job.get("max_wall_time")
        && let Some(d) = duration(ctx, &v)
    {
        constraints.set("max_wall_time", d);
    }
    if let Some(v) = job.get("max_task_retries").and_then(|v| v.i64()) {
        constraints.set("max_task_retries", Y::Int(v));
    }
    if !constraints.is_empty() {
        m.set("constraints", Y::Map(constraints));
    }
    if let Some(v) = job.get("retention_time") {
        d.retention = duration(ctx, &v);
    }
    for (key, field) in [
        ("job_preparation", "preparation"),
        ("job_release", "release"),
    ] {
        if let Some(c) = job
            .get(key)
            .and_then(|p| p.get("command"))
            .and_then(|c| c.text())
        {
            let mut p = Map::new();
            p.set("command", s(c));
            let e = m.set(field, Y::Map(p));
            // A job repeated in a second jobs file sets the field again: one comment.
            e.comments.clear();
            e.comment(format!("Shipyard: {key}."));
        }
    }
    let auto_complete = job
        .get("auto_complete")
        .and_then(|v| v.bool())
        .unwrap_or(false);
    let e = m.set(
        "on_all_tasks_complete",
        s(if auto_complete {
            "terminate_job"
        } else {
            "no_action"
        }),
    );
    e.comments.clear();
    e.comment(if auto_complete {
        "Shipyard: auto_complete: true."
    } else {
        "Shipyard's default (auto_complete: false): the job stays active after its tasks."
    });
    if let Some(ec) = job.get("exit_conditions") {
        d.exit = exit_conditions(&ec);
        if ec
            .value()
            .pointer("/default/exit_options/job_action")
            .and_then(Value::as_str)
            .is_some_and(|a| a != "none")
        {
            m.set("on_task_failure", s("perform_exit_options_job_action"));
        }
    }
    if let Some(u) = job.get("user_identity") {
        if u.get("default_pool_admin").and_then(|v| v.bool()) == Some(true) {
            d.elevated = true;
        }
        if let Some(v) = u.get("specific_user") {
            ctx.warn(
                &v,
                "tasks cannot run as a specific uid/gid",
                Some("container_options with `-u UID:GID` for container tasks"),
            );
        }
    }
    d.gpus = job.get("gpus").and_then(|v| v.text());
    d.shm_size = job.get("shm_size").and_then(|v| v.text());
    d.default_working_dir = job.get("default_working_dir").and_then(|v| v.text());
    if let Some(v) = job.get("data_volumes") {
        d.data_volumes = v.items().iter().filter_map(|x| x.text()).collect();
    }
    if let Some(v) = job.get("shared_data_volumes") {
        d.shared_volumes = shared_volume_names(ctx, jc, &v);
    }
    d.restrict_bind = job
        .get("restrict_default_bind_mounts")
        .and_then(|v| v.bool())
        .unwrap_or(false);
    if let Some(v) = job.get("auto_scratch")
        && v.bool() != Some(false)
    {
        ctx.scratch_used = true;
        d.scratch = Some(id.clone());
        let (host, seen) = volumes::scratch_bind(&id);
        ctx.warn(&v, format!("auto_scratch was a BeeOND file system over the local disks of the job's nodes, at {seen}; it becomes the directory `{id}` of an NFS export you provide (--var {}=...), mounted by Batch at $AZ_BATCH_NODE_MOUNTS_DIR/{} and bound at the same {seen} in the job's containers ({host}). It is slower than BeeOND, is not emptied between runs and is not removed when the job ends", volumes::SCRATCH_VAR, volumes::SCRATCH_DIR), Some("an Azure Files NFS share reachable from the pool's subnet (network.subnet_id)"));
    }
    if job
        .get("force_enable_task_dependencies")
        .and_then(|v| v.bool())
        == Some(true)
    {
        let mut b = Map::new();
        b.set("usesTaskDependencies", Y::Bool(true));
        m.set("batch", Y::Map(b))
            .comment("Shipyard: force_enable_task_dependencies.");
    }
    job_unsupported(ctx, job);

    let ids = auto_id(job.get("autogenerated_task_id"), &jc.auto_id);
    let mut tasks: Vec<Item> = match m.get_mut("tasks") {
        Some(Y::Seq(items)) => std::mem::take(items),
        _ => Vec::new(),
    };
    for t in job.get("tasks").map(|t| t.items()).unwrap_or_default() {
        tasks.push(convert_task(ctx, jc, &d, &ids, &t, &mut next, false));
    }
    if let Some(mt) = job.get("merge_task") {
        let mut task = convert_task(ctx, jc, &d, &ids, &mt, &mut next, true);
        if let Y::Map(tm) = &mut task.value {
            tm.set("depends_on", s("all"))
                .comment("Shipyard: merge_task, which depends on every other task of the job.");
        }
        tasks.push(task);
    }
    m.set("tasks", Y::Seq(tasks));
    ctx.leftovers(
        job,
        &[
            "id",
            "environment_variables",
            "environment_variables_keyvault_secret_id",
            "priority",
            "max_wall_time",
            "max_task_retries",
            "retention_time",
            "job_preparation",
            "job_release",
            "auto_complete",
            "exit_conditions",
            "user_identity",
            "gpus",
            "shm_size",
            "default_working_dir",
            "data_volumes",
            "shared_data_volumes",
            "force_enable_task_dependencies",
            "tasks",
            "merge_task",
            "autogenerated_task_id",
            "auto_pool",
            "recurrence",
            "allow_run_on_missing_image",
            "remove_container_after_exit",
            "infiniband",
            "auto_scratch",
            "input_data",
            "restrict_default_bind_mounts",
            "federation_constraints",
        ],
    );
    let at = existing.unwrap_or(jobs.len()).min(jobs.len());
    jobs.insert(at, (m, next));
}

/// The volumes a job or task lists; those that cannot be mounted are errors here.
fn shared_volume_names(ctx: &mut Ctx, jc: &JobsCtx<'_>, v: &V<'_>) -> Vec<String> {
    let names: Vec<String> = v.items().iter().filter_map(|x| x.text()).collect();
    for name in &names {
        if jc.shared.mounted.contains_key(name) {
            continue;
        }
        match jc.shared.unsupported.get(name).map(String::as_str) {
            Some("glusterfs_on_compute") => ctx.error(v, format!("shared data volume `{name}` is a glusterfs_on_compute volume, which has no Batch equivalent: the job cannot see it"), Some("an Azure Files NFS share mounted with the pool's `mounts: [{nfs: ...}]`, bound with container_options -v")),
            Some(driver) => ctx.error(v, format!("shared data volume `{name}` ({driver}) is not mounted by batchyard: the job cannot see it"), Some("an NFS export in the pool's `mounts: [{nfs: ...}]`, bound with container_options -v")),
            None => ctx.error(v, format!("shared data volume `{name}` is not defined in global_resources.volumes.shared_data_volumes"), None),
        }
    }
    names
}

fn job_unsupported(ctx: &mut Ctx, job: &V<'_>) {
    let w = |ctx: &mut Ctx, key: &str, msg: &str, instead: Option<&str>| {
        if let Some(v) = job.get(key) {
            ctx.warn(&v, msg, instead);
        }
    };
    w(
        ctx,
        "environment_variables_keyvault_secret_id",
        "environment variables from Key Vault are not carried over",
        Some("env with the values"),
    );
    w(
        ctx,
        "auto_pool",
        "auto pools are not created; the job runs on the recipe's pool",
        Some("the pool in the recipe, removed with `batchyard destroy`"),
    );
    w(
        ctx,
        "recurrence",
        "job schedules are not carried over: the job runs once",
        Some("run `batchyard apply` from a scheduler (cron, CI)"),
    );
    w(
        ctx,
        "federation_constraints",
        "federations cannot come across; the constraints are dropped",
        Some("one recipe per Batch account"),
    );
    if job.get("infiniband").is_some() {
        w(
            ctx,
            "infiniband",
            "Shipyard ignored the job-level infiniband flag; the pool's rdma setting decides",
            None,
        );
    }
    if let Some(v) = job.get("remove_container_after_exit")
        && v.bool() == Some(false)
    {
        ctx.warn(
            &v,
            "Batch removes task containers after they exit; they cannot be kept",
            None,
        );
    }
    if let Some(v) = job.get("input_data") {
        ctx.error(
            &v,
            "blobxfer/Batch input data cannot come across: the data is not copied to the nodes",
            Some("preparation.resource_files with blob URLs"),
        );
    }
}

fn exit_conditions(ec: &V<'_>) -> Option<Map> {
    let opts = ec.get("default")?.get("exit_options")?;
    let mut a = Map::new();
    if let Some(j) = opts.get("job_action").and_then(|v| v.text()) {
        a.set("job", s(j));
    }
    if let Some(dep) = opts.get("dependency_action").and_then(|v| v.text()) {
        a.set("dependents", s(dep));
    }
    let mut m = Map::new();
    m.set("default", Y::Map(a));
    Some(m)
}

#[allow(clippy::too_many_lines)]
fn convert_task(
    ctx: &mut Ctx,
    jc: &JobsCtx<'_>,
    d: &Defaults,
    ids: &AutoId,
    t: &V<'_>,
    next: &mut u64,
    merge: bool,
) -> Item {
    let mut m = Map::new();
    let mut options: Vec<String> = Vec::new();
    let mut sing: Option<Sing> = None;
    // Factory first: it decides how ids and commands are written.
    let factory = match t.get("task_factory") {
        Some(tf) if !merge => {
            let conv = factory::convert(ctx, &tf);
            conv.map(|c| (c, auto_id(tf.get("autogenerated_task_id"), ids)))
        }
        _ => None,
    };
    match (t.get("id").and_then(|v| v.text()), &factory) {
        (Some(id), None) => {
            m.set("id", s(id));
        }
        (Some(id), Some(_)) => {
            // Shipyard ignores the id of a factory task and numbers the generated tasks.
            if let Some(v) = t.get("id") {
                ctx.warn(&v, format!("Shipyard numbered a factory's tasks and ignored its id `{id}`; the same numbering is kept"), None);
            }
        }
        (None, None) => {
            let id = if merge {
                format!("merge-{}", ids.format(0))
            } else {
                let id = ids.format(*next);
                *next += 1;
                id
            };
            m.set("id", s(id))
                .comment("Shipyard's autogenerated id, kept in the same form.");
        }
        (None, Some(_)) => {}
    }
    if let Some((conv, fids)) = &factory {
        let start = *next;
        let count = conv.count.unwrap_or(0);
        if !fids.fits(start, count) {
            ctx.warn(
                t,
                format!(
                    "the factory's {count} tasks outgrow the {}-digit autogenerated ids",
                    fids.width
                ),
                Some("a wider autogenerated_task_id.zfill_width"),
            );
        }
        m.set("id", Y::Template(fids.template(start))).comment("Shipyard's autogenerated ids of the factory's tasks, numbered as Shipyard numbered them.");
        *next = start.saturating_add(count);
    }

    // Image.
    match (
        t.get("docker_image").and_then(|v| v.text()),
        t.get("singularity_image"),
    ) {
        (Some(img), None) => {
            m.set("image", s(img));
        }
        (Some(_), Some(v)) => {
            ctx.error(&v, "a task has either a docker_image or a singularity_image, not both (Shipyard rejects it)", None);
        }
        (None, Some(v)) => {
            let image = v.text().unwrap_or_default();
            match image.strip_prefix("docker://") {
                Some(docker) => {
                    ctx.warn(&v, format!("the Singularity image `{image}` runs as the Docker image `{docker}` it was built from"), Some("image"));
                    m.set("image", s(docker));
                    for key in ["singularity_execution", "additional_singularity_options"] {
                        if let Some(x) = t.get(key)
                            && !x.items().is_empty() | x.is_map()
                        {
                            ctx.warn(
                                &x,
                                "Singularity options do not apply to Docker containers",
                                Some("container_options"),
                            );
                        }
                    }
                }
                None if jc.pool.containers => {
                    ctx.error(&v, format!("Singularity image `{image}` would run on the host with Apptainer, but this pool also runs Docker tasks, and Batch runs every task of a container pool in a container"), Some("a second pool, without containers, for the Singularity tasks"));
                }
                None => {
                    let exec = t.get("singularity_execution");
                    let cmd = exec
                        .as_ref()
                        .and_then(|e| e.get("cmd"))
                        .and_then(|c| c.text())
                        .unwrap_or_else(|| "exec".into());
                    let elevated = exec
                        .as_ref()
                        .and_then(|e| e.get("elevated"))
                        .and_then(|c| c.bool())
                        .unwrap_or(false);
                    let mut note = format!(
                        "the Singularity image runs on the host with `apptainer {cmd}` (Shipyard ran `singularity {cmd}`), with Shipyard's options: the Batch directories bound, the task's working directory"
                    );
                    if jc.pool.gpu_size && !gpus_disabled(t, d) {
                        note.push_str(", --nv for the GPUs");
                    }
                    note.push_str("; Apptainer pulls the image when the task starts (Shipyard prefetched it on every node)");
                    if let Some(rt) = t
                        .get("multi_instance")
                        .and_then(|mi| mi.get("mpi"))
                        .and_then(|mpi| mpi.get("runtime"))
                        .and_then(|r| r.text())
                    {
                        note.push_str(&format!("; mpirun runs on the host and starts the container on every node, as Shipyard did, so the node's image must put an mpirun for {rt} compatible with the image's MPI on the task's PATH"));
                    }
                    ctx.warn(&v, note, None);
                    sing = Some(Sing {
                        image,
                        cmd,
                        elevated,
                    });
                }
            }
        }
        (None, None) => {
            ctx.warn(t, "the task names no image and runs on the host", None);
        }
    }

    // Command.
    let mut command = t.get("command").and_then(|v| v.text());
    let mi = t.get("multi_instance");
    let pre = mi
        .as_ref()
        .and_then(|x| x.get("pre_execution_command"))
        .and_then(|v| v.text());
    let has_mpi = mi.as_ref().and_then(|x| x.get("mpi")).is_some();
    if let (Some(p), Some(c)) = (&pre, &command)
        && !has_mpi
        && sing.is_none()
    {
        // Without an mpi block the command is the user's own; Shipyard ran the prologue
        // first in the same shell, which a bash wrapper reproduces.
        command = Some(format!(
            "/bin/bash -c {}",
            crate::pool::shell_single_quote(&format!("{p}; {c}"))
        ));
    }
    match command {
        Some(c) => {
            let text = match &factory {
                Some((conv, _)) => match factory::command_template(&c, conv.placeholder) {
                    Ok(t) => Y::Template(t),
                    Err(e) => {
                        if let Some(v) = t.get("command") {
                            ctx.error(
                                &v,
                                format!("the factory command cannot be rewritten: {e}"),
                                Some("{{ item.NAME }} templates"),
                            );
                        }
                        s(c)
                    }
                },
                None => s(c),
            };
            m.set("command", text);
        }
        None => {
            ctx.error(t, "the task has no command; batchyard tasks need one (Shipyard ran the image's default command)", Some("command: the image's CMD written out"));
        }
    }

    // Container options.
    if let Some(e) = t.get("entrypoint").and_then(|v| v.text()) {
        options.push(format!("--entrypoint {e}"));
    }
    if let Some(shm) = t
        .get("shm_size")
        .and_then(|v| v.text())
        .or_else(|| d.shm_size.clone())
    {
        options.push(format!("--shm-size={shm}"));
    }
    for v in t.get("labels").map(|x| x.items()).unwrap_or_default() {
        options.extend(v.text().map(|l| format!("--label {l}")));
    }
    for v in t.get("ports").map(|x| x.items()).unwrap_or_default() {
        options.extend(v.text().map(|p| format!("-p {p}")));
    }
    let mut vols = d.data_volumes.clone();
    vols.extend(
        t.get("data_volumes")
            .map(|x| x.items())
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v.text()),
    );
    for name in vols {
        match jc
            .volumes
            .as_ref()
            .and_then(|v| v.get("data_volumes"))
            .and_then(|dv| dv.get(&name))
        {
            Some(def) => {
                let cp = def
                    .get("container_path")
                    .and_then(|v| v.text())
                    .unwrap_or_default();
                let bind = def
                    .get("bind_options")
                    .and_then(|v| v.text())
                    .map(|b| format!(":{b}"))
                    .unwrap_or_default();
                options.push(match def.get("host_path").and_then(|v| v.text()) {
                    Some(hp) => format!("-v {hp}:{cp}{bind}"),
                    None => format!("-v {cp}"),
                });
            }
            None => ctx.error(
                t,
                format!(
                    "data volume `{name}` is not defined in global_resources.volumes.data_volumes"
                ),
                None,
            ),
        }
    }
    let mut shared = d.shared_volumes.clone();
    if let Some(v) = t.get("shared_data_volumes") {
        shared.extend(shared_volume_names(ctx, jc, &v));
    }
    let mut binds: Vec<(String, String)> = Vec::new();
    if let Some(job) = &d.scratch {
        binds.push(volumes::scratch_bind(job));
    }
    for name in &shared {
        if let Some(mv) = jc.shared.mounted.get(name) {
            let bind = mv
                .bind
                .as_ref()
                .map(|b| format!(":{b}"))
                .unwrap_or_default();
            binds.push((
                format!("$AZ_BATCH_NODE_MOUNTS_DIR/{}", mv.dir),
                format!("{}{bind}", mv.container_path),
            ));
        }
    }
    if sing.is_none() {
        for (host, seen) in &binds {
            options.push(format!("-v {host}:{seen}"));
        }
    }
    for v in t
        .get("additional_docker_run_options")
        .map(|x| x.items())
        .unwrap_or_default()
    {
        options.extend(v.text());
    }
    if let Some(v) = t.get("name") {
        ctx.warn(
            &v,
            "Batch names task containers itself; the container name is not kept",
            None,
        );
    }
    if !options.is_empty() && sing.is_none() {
        let e = m.set("container_options", s(options.join(" ")));
        if !binds.is_empty() {
            e.comment("Shared storage is bound where Shipyard showed it to the container.");
        }
    }

    // Environment.
    if let Some(e) = t.get("environment_variables") {
        let env = m.map_at("env");
        for (k, v) in e.entries() {
            env.set(&k, s(v.text().unwrap_or_default()));
        }
    }
    if let Some(v) = t.get("environment_variables_keyvault_secret_id") {
        ctx.warn(
            &v,
            "environment variables from Key Vault are not carried over",
            Some("env with the values"),
        );
    }

    // GPU: Shipyard's `gpus` resolves task → job → "all on a GPU size".
    match t
        .get("gpus")
        .and_then(|v| v.text())
        .or_else(|| d.gpus.clone())
        .as_deref()
    {
        Some("disable") => {
            m.set("gpu", Y::Bool(false));
        }
        Some("all") | None => {}
        Some(other) => {
            m.set("gpu", Y::Bool(true));
            if let Some(v) = t.get("gpus") {
                ctx.warn(&v, format!("`gpus: {other}` selects GPUs; batchyard gives the task all of the node's GPUs"), Some("container_options: --gpus=..."));
            }
        }
    }
    if let Some(v) = t.get("infiniband")
        && v.bool() == Some(false)
        && jc.pool.rdma_in_use
    {
        ctx.warn(&v, "batchyard gives every task of an RDMA pool the InfiniBand devices; it cannot be turned off per task", Some("a pool with rdma: false"));
    }
    if d.elevated {
        m.set("elevated", Y::Bool(true))
            .comment("Shipyard: user_identity.default_pool_admin.");
    }

    if let Some(sg) = &sing {
        singularity_command(
            ctx,
            jc,
            d,
            t,
            sg,
            &options,
            &binds,
            &mut m,
            pre.as_deref(),
            has_mpi,
            mi.is_some(),
        );
    }

    // Multi-instance.
    if let Some(mi) = &mi {
        multi_instance(ctx, jc, mi, &mut m, pre.as_deref(), sing.is_some());
    }

    // Dependencies.
    let mut deps: Vec<Y> = t
        .get("depends_on")
        .map(|x| x.items())
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.text())
        .map(s)
        .collect();
    if let Some(r) = t.get("depends_on_range") {
        let ends: Vec<i64> = r.items().iter().filter_map(|v| v.i64()).collect();
        match ends.as_slice() {
            [a, b] if *a >= 0 && *b >= *a => {
                let mut rm = Map::new();
                rm.set("range", seq([Y::Int(*a), Y::Int(*b)]));
                deps.push(Y::Map(rm));
            }
            _ => {
                ctx.error(&r, "depends_on_range needs exactly two non-negative integers, start ≤ end (Shipyard requires it too)", None);
            }
        }
    }
    if !deps.is_empty() {
        m.set("depends_on", seq(deps));
    }
    if let Some(rf) = t.get("resource_files") {
        m.set("resource_files", Y::Seq(resource_files(Some(rf))));
    }

    let mut c = Map::new();
    if let Some(v) = t.get("max_wall_time")
        && let Some(x) = duration(ctx, &v)
    {
        c.set("max_wall_time", x);
    }
    if let Some(v) = t.get("max_task_retries").and_then(|v| v.i64()) {
        c.set("max_retries", Y::Int(v));
    }
    match t.get("retention_time") {
        Some(v) => {
            if let Some(x) = duration(ctx, &v) {
                c.set("retention", x);
            }
        }
        None => {
            if let Some(x) = &d.retention {
                c.set("retention", x.clone())
                    .comment("Shipyard: the job's retention_time.");
            }
        }
    }
    if !c.is_empty() {
        m.set("constraints", Y::Map(c));
    }
    let exit = t
        .get("exit_conditions")
        .and_then(|e| exit_conditions(&e))
        .or_else(|| d.exit.clone());
    if let Some(e) = exit {
        m.set("exit_conditions", Y::Map(e));
    }
    if sing.is_none()
        && (d.default_working_dir.as_deref() == Some("container")
            || t.get("default_working_dir")
                .and_then(|v| v.text())
                .as_deref()
                == Some("container"))
    {
        let mut b = Map::new();
        let mut cs = Map::new();
        cs.set("workingDirectory", s("containerImageDefault"));
        b.set("containerSettings", Y::Map(cs));
        m.set("batch", Y::Map(b))
            .comment("Shipyard: default_working_dir: container.");
    }
    if let Some(v) = t.get("input_data") {
        ctx.error(
            &v,
            "blobxfer/Batch input data cannot come across: the data is not copied to the node",
            Some("resource_files with blob URLs"),
        );
    }
    if let Some(v) = t.get("output_data") {
        ctx.warn(
            &v,
            "blobxfer output data is not carried over: results stay on the node",
            Some("output_files with a container URL"),
        );
    }
    if let Some(v) = t.get("remove_container_after_exit")
        && v.bool() == Some(false)
    {
        ctx.warn(
            &v,
            "Batch removes task containers after they exit; they cannot be kept",
            None,
        );
    }
    if let Some((conv, _)) = factory {
        m.set("factory", Y::Map(conv.factory))
            .comment("Shipyard: task_factory.");
    }
    ctx.leftovers(
        t,
        &[
            "id",
            "docker_image",
            "singularity_image",
            "singularity_execution",
            "additional_singularity_options",
            "command",
            "multi_instance",
            "entrypoint",
            "shm_size",
            "labels",
            "ports",
            "data_volumes",
            "additional_docker_run_options",
            "name",
            "environment_variables",
            "environment_variables_keyvault_secret_id",
            "gpus",
            "infiniband",
            "depends_on",
            "depends_on_range",
            "resource_files",
            "max_wall_time",
            "max_task_retries",
            "retention_time",
            "exit_conditions",
            "default_working_dir",
            "shared_data_volumes",
            "input_data",
            "output_data",
            "remove_container_after_exit",
            "task_factory",
        ],
    );
    item(Y::Map(m))
}

/// A task that runs a Singularity image on the host with Apptainer.
struct Sing {
    image: String,
    /// `exec` or `run`.
    cmd: String,
    elevated: bool,
}

fn gpus_disabled(t: &V<'_>, d: &Defaults) -> bool {
    t.get("gpus")
        .and_then(|v| v.text())
        .or_else(|| d.gpus.clone())
        .as_deref()
        == Some("disable")
}

fn container_working_dir(t: &V<'_>, d: &Defaults) -> bool {
    t.get("default_working_dir")
        .and_then(|v| v.text())
        .or_else(|| d.default_working_dir.clone())
        .as_deref()
        == Some("container")
}

/// Rewrites the task's command into an Apptainer invocation with the options Shipyard's
/// `task_settings` gave `singularity exec|run`, in the same order.
#[allow(clippy::too_many_arguments)]
fn singularity_command(
    ctx: &mut Ctx,
    jc: &JobsCtx<'_>,
    d: &Defaults,
    t: &V<'_>,
    sg: &Sing,
    docker_style: &[String],
    binds: &[(String, String)],
    m: &mut Map,
    pre: Option<&str>,
    has_mpi: bool,
    multi_instance: bool,
) {
    let user: Vec<String> = t
        .get("additional_singularity_options")
        .map(|x| x.items())
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.text())
        .collect();
    let mut opts = user.clone();
    opts.push(if d.restrict_bind {
        "-B $AZ_BATCH_TASK_DIR:$AZ_BATCH_TASK_DIR".into()
    } else {
        "-B $AZ_BATCH_NODE_ROOT_DIR:$AZ_BATCH_NODE_ROOT_DIR".into()
    });
    if !container_working_dir(t, d) && !user.iter().any(|o| o.starts_with("--pwd ")) {
        opts.push("--pwd $AZ_BATCH_TASK_WORKING_DIR".into());
    }
    // Data volumes were written Docker-style above.
    opts.extend(
        docker_style
            .iter()
            .filter_map(|o| o.strip_prefix("-v "))
            .map(|b| format!("-B {b}")),
    );
    for (host, seen) in binds {
        opts.push(format!("-B {host}:{seen}"));
    }
    if jc.pool.gpu_size && !gpus_disabled(t, d) {
        opts.push("--nv".into());
    }
    if multi_instance || jc.pool.rdma_in_use {
        apptainer::drop_isolation(&mut opts);
    }
    if jc.pool.rdma_in_use {
        ctx.warn(t, "Shipyard also bound the host's /opt/intel and, on CentOS-HPC, /etc/rdma into InfiniBand containers (CentOS-HPC 7's Intel MPI and DAPL setup); today's HPC image lays these out differently, so they are not bound and the container uses its own MPI libraries", Some("additional -B binds in the command if the image needs host files"));
    }
    m.0.retain(|e| e.key != "elevated");
    if sg.elevated {
        m.set("elevated", Y::Bool(true))
            .comment("Shipyard: singularity_execution.elevated.");
    }
    let (text, template) = match m.get("command") {
        Some(Y::Str(c)) => (c.clone(), false),
        Some(Y::Template(c)) => (c.clone(), true),
        _ => return,
    };
    let invocation = apptainer::invocation(&sg.cmd, &opts, &sg.image, &text);
    let line = if has_mpi {
        invocation
    } else {
        match pre {
            Some(p) => apptainer::host_command(&format!("{p}; {invocation}")),
            None => apptainer::host_command(&invocation),
        }
    };
    let e = m.set(
        "command",
        if template { Y::Template(line) } else { s(line) },
    );
    e.comment(if has_mpi {
        "Shipyard ran mpirun on the host around `singularity exec`; batchyard's launcher does the same with Apptainer."
    } else {
        "Runs the Singularity image with Apptainer on the host, as Shipyard's task runner ran it with Singularity."
    });
}

/// Resolves `num_instances` as Shipyard did; the live-pool forms read the pool's counts.
fn instances(ctx: &mut Ctx, jc: &JobsCtx<'_>, v: &V<'_>) -> Option<i64> {
    if let Some(n) = v.i64() {
        return Some(n);
    }
    let p = jc.pool;
    let word = v.text().unwrap_or_default();
    let n = match word.as_str() {
        "pool_specification_vm_count_dedicated" | "pool_specification_vm_count" => p.dedicated,
        "pool_specification_vm_count_low_priority" => p.spot,
        "pool_current_dedicated" => {
            if p.autoscale {
                p.max_dedicated.unwrap_or(p.dedicated)
            } else {
                p.dedicated
            }
        }
        "pool_current_low_priority" => {
            if p.autoscale {
                p.max_spot.unwrap_or(p.spot)
            } else {
                p.spot
            }
        }
        _ => {
            ctx.error(
                v,
                format!("`{word}` is not a number of instances Shipyard knows"),
                None,
            );
            return None;
        }
    };
    if word.starts_with("pool_current") && p.autoscale {
        ctx.warn(v, format!("`{word}` was read from the live pool at submission; the autoscale maximum ({n}) is used"), Some("mpi.instances"));
    }
    if n < 1 {
        ctx.error(
            v,
            format!("`{word}` resolves to {n} nodes, and a multi-instance task needs at least one"),
            Some("mpi.instances"),
        );
        return None;
    }
    Some(n)
}

fn multi_instance(
    ctx: &mut Ctx,
    jc: &JobsCtx<'_>,
    mi: &V<'_>,
    m: &mut Map,
    pre: Option<&str>,
    singularity: bool,
) {
    let n = mi.get("num_instances").and_then(|v| instances(ctx, jc, &v));
    let from = mi
        .get("num_instances")
        .and_then(|v| v.text())
        .unwrap_or_default();
    let coordination = mi.get("coordination_command").and_then(|v| v.text());
    let files = resource_files(mi.get("resource_files"));
    match mi.get("mpi") {
        Some(mpi) => {
            let mut x = Map::new();
            let runtime = mpi
                .get("runtime")
                .and_then(|v| v.text())
                .unwrap_or_default();
            let mapped = match runtime.as_str() {
                "intelmpi-ofa" => {
                    if let Some(v) = mpi.get("runtime") {
                        ctx.warn(&v, "intelmpi-ofa (Intel MPI 2018 over OFA verbs) runs as intelmpi, launched for Intel MPI 2019 and later (libfabric)", Some("an image with Intel MPI 2019+, or mpi.options with your I_MPI_FABRICS"));
                    }
                    "intelmpi"
                }
                other => other,
            };
            x.set("runtime", s(mapped));
            if let Some(n) = n {
                x.set("instances", Y::Int(n))
                    .comment(format!("Shipyard: num_instances: {from}."));
            }
            match mpi.get("processes_per_node") {
                Some(p) if p.i64().is_some() => {
                    x.set("processes_per_node", Y::Int(p.i64().unwrap_or(1)));
                }
                Some(p) => {
                    let text = p.text().unwrap_or_default();
                    if !matches!(text.trim(), "nproc" | "$(nproc)") {
                        ctx.warn(&p, format!("processes_per_node `{text}` is a shell expression; batchyard's default (one per core, one per GPU on GPU sizes) is used"), Some("mpi.processes_per_node as a number"));
                    }
                }
                None => {}
            }
            let opts: Vec<String> = mpi
                .get("options")
                .map(|o| o.items())
                .unwrap_or_default()
                .iter()
                .filter_map(|v| v.text())
                .collect();
            if !opts.is_empty() {
                x.set("options", s(opts.join(" ")));
            }
            if let Some(v) = mpi.get("executable_path") {
                ctx.warn(
                    &v,
                    "batchyard launches `mpirun` from the image's PATH, not a given executable",
                    Some("put the MPI bin directory on PATH in the image or env"),
                );
            }
            if singularity {
                x.set(
                    "coordination_command",
                    s(apptainer::coordination(coordination.as_deref())),
                )
                .comment("Every node checks for Apptainer before mpirun starts the containers.");
            } else if let Some(c) = coordination {
                x.set("coordination_command", s(c));
            }
            if !files.is_empty() {
                x.set("common_resource_files", Y::Seq(files));
            }
            if let (Some(p), Some(v)) = (pre, mi.get("pre_execution_command")) {
                ctx.warn(&v, format!("pre_execution_command `{p}` ran before mpirun in Shipyard; batchyard's launcher does not run it"), Some("set the environment it prepared with env, or in the image"));
            }
            m.set("mpi", Y::Map(x));
        }
        None => {
            // A hand-written MPI command: Batch's multi-instance settings, raw.
            let mut ms = Map::new();
            if let Some(n) = n {
                ms.set("numberOfInstances", Y::Int(n))
                    .comment(format!("Shipyard: num_instances: {from}."));
            }
            let cc = if singularity {
                apptainer::coordination(coordination.as_deref())
            } else {
                coordination.clone().unwrap_or_else(|| "/bin/true".into())
            };
            ms.set("coordinationCommandLine", s(cc));
            if !files.is_empty() {
                let mut list = Vec::new();
                for it in files {
                    if let Y::Map(f) = it.value {
                        let mut r = Map::new();
                        for e in f.0 {
                            let k = match e.key.as_str() {
                                "url" => "httpUrl",
                                "path" => "filePath",
                                _ => "fileMode",
                            };
                            r.set(k, e.value);
                        }
                        list.push(item(Y::Map(r)));
                    }
                }
                ms.set("commonResourceFiles", Y::Seq(list));
            }
            if coordination.is_none() && !singularity {
                ctx.warn(mi, "Shipyard kept a container running on every node for this hand-written multi-instance command; Batch runs the coordination and application commands in separate containers", Some("an mpi: block, which batchyard launches itself"));
            }
            m.map_at("batch").set("multiInstanceSettings", Y::Map(ms));
        }
    }
    ctx.leftovers(
        mi,
        &[
            "num_instances",
            "coordination_command",
            "resource_files",
            "pre_execution_command",
            "mpi",
        ],
    );
}
