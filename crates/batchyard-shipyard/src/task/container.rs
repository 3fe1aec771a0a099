//! What the task runs in: `docker_image` or `singularity_image`, the `docker run` options
//! Shipyard built (entrypoint, shm, labels, ports, volumes, extra options), the working
//! directory, and the Apptainer command line a Singularity task becomes.

use super::{Launch, Task};
use crate::apptainer;
use crate::ctx::Ctx;
use crate::emit::{Map, Y, s};
use crate::jobs::shared_volume_names;
use crate::volumes;

/// A task that runs a Singularity image on the host with Apptainer.
pub(super) struct Sing {
    image: String,
    /// `exec` or `run`.
    cmd: String,
    elevated: bool,
}

/// The container options Shipyard passed to `docker run`, and the shared storage binds
/// (host directory, path seen in the container) that a Singularity task gets as `-B`.
pub(super) struct Mounts {
    options: Vec<String>,
    binds: Vec<(String, String)>,
}

impl Task<'_> {
    /// `docker_image` or `singularity_image`; a Singularity image that is not a Docker
    /// image runs on the host with Apptainer, which the returned [`Sing`] describes.
    pub(super) fn image(&self, ctx: &mut Ctx, m: &mut Map) -> Option<Sing> {
        let t = self.spec;
        match (
            t.get("docker_image").and_then(|v| v.text()),
            t.get("singularity_image"),
        ) {
            (Some(img), None) => {
                m.set("image", s(img));
                None
            }
            (Some(_), Some(v)) => {
                ctx.error(&v, "a task has either a docker_image or a singularity_image, not both (Shipyard rejects it)", None);
                None
            }
            (None, Some(v)) => self.singularity_image(ctx, m, &v),
            (None, None) => {
                ctx.warn(t, "the task names no image and runs on the host", None);
                None
            }
        }
    }

    fn singularity_image(&self, ctx: &mut Ctx, m: &mut Map, v: &crate::doc::V<'_>) -> Option<Sing> {
        let t = self.spec;
        let image = v.text().unwrap_or_default();
        if let Some(docker) = image.strip_prefix("docker://") {
            ctx.warn(
                v,
                format!(
                    "the Singularity image `{image}` runs as the Docker image `{docker}` it was built from"
                ),
                Some("image"),
            );
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
            return None;
        }
        if self.jobs.pool.containers {
            ctx.error(v, format!("Singularity image `{image}` would run on the host with Apptainer, but this pool also runs Docker tasks, and Batch runs every task of a container pool in a container"), Some("a second pool, without containers, for the Singularity tasks"));
            return None;
        }
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
        if self.jobs.pool.gpu_size && !self.gpus_disabled() {
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
        ctx.warn(v, note, None);
        Some(Sing {
            image,
            cmd,
            elevated,
        })
    }

    /// The `docker run` options: `entrypoint`, `shm_size`, `labels`, `ports`, the data and
    /// shared data volumes (the job's, then the task's), auto scratch, and
    /// `additional_docker_run_options`. A Singularity task gets none of them as options; its
    /// command binds the volumes instead.
    pub(super) fn container_options(
        &self,
        ctx: &mut Ctx,
        m: &mut Map,
        singularity: bool,
    ) -> Mounts {
        let t = self.spec;
        let mut options: Vec<String> = Vec::new();
        if let Some(e) = t.get("entrypoint").and_then(|v| v.text()) {
            options.push(format!("--entrypoint {e}"));
        }
        if let Some(shm) = t
            .get("shm_size")
            .and_then(|v| v.text())
            .or_else(|| self.job.shm_size.clone())
        {
            options.push(format!("--shm-size={shm}"));
        }
        for v in t.get("labels").map(|x| x.items()).unwrap_or_default() {
            options.extend(v.text().map(|l| format!("--label {l}")));
        }
        for v in t.get("ports").map(|x| x.items()).unwrap_or_default() {
            options.extend(v.text().map(|p| format!("-p {p}")));
        }
        self.data_volumes(ctx, &mut options);
        let binds = self.shared_binds(ctx);
        if !singularity {
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
        if !options.is_empty() && !singularity {
            let e = m.set("container_options", s(options.join(" ")));
            if !binds.is_empty() {
                e.comment("Shared storage is bound where Shipyard showed it to the container.");
            }
        }
        Mounts { options, binds }
    }

    /// `data_volumes` (the job's, then the task's) as `-v` options, from their definitions
    /// in `global_resources.volumes.data_volumes`.
    fn data_volumes(&self, ctx: &mut Ctx, options: &mut Vec<String>) {
        let t = self.spec;
        let mut names = self.job.data_volumes.clone();
        names.extend(
            t.get("data_volumes")
                .map(|x| x.items())
                .unwrap_or_default()
                .iter()
                .filter_map(|v| v.text()),
        );
        for name in names {
            let def = self
                .jobs
                .volumes
                .as_ref()
                .and_then(|v| v.get("data_volumes"))
                .and_then(|dv| dv.get(&name));
            let Some(def) = def else {
                ctx.error(
                    t,
                    format!(
                        "data volume `{name}` is not defined in global_resources.volumes.data_volumes"
                    ),
                    None,
                );
                continue;
            };
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
    }

    /// The job's auto scratch and the mounted `shared_data_volumes` (the job's, then the
    /// task's), as (directory on the node, path in the container).
    fn shared_binds(&self, ctx: &mut Ctx) -> Vec<(String, String)> {
        let mut shared = self.job.shared_volumes.clone();
        if let Some(v) = self.spec.get("shared_data_volumes") {
            shared.extend(shared_volume_names(ctx, self.jobs, &v));
        }
        let mut binds: Vec<(String, String)> = Vec::new();
        if let Some(job) = &self.job.scratch {
            binds.push(volumes::scratch_bind(job));
        }
        for name in &shared {
            if let Some(mv) = self.jobs.shared.mounted.get(name) {
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
        binds
    }

    /// `default_working_dir: container` (the job's or the task's) for a container task.
    pub(super) fn working_dir(&self, m: &mut Map, singularity: bool) {
        let task_says_container = self
            .spec
            .get("default_working_dir")
            .and_then(|v| v.text())
            .as_deref()
            == Some("container");
        if singularity
            || !(self.job.default_working_dir.as_deref() == Some("container")
                || task_says_container)
        {
            return;
        }
        let mut b = Map::new();
        let mut cs = Map::new();
        cs.set("workingDirectory", s("containerImageDefault"));
        b.set("containerSettings", Y::Map(cs));
        m.set("batch", Y::Map(b))
            .comment("Shipyard: default_working_dir: container.");
    }

    /// Rewrites the task's command into an Apptainer invocation with the options Shipyard's
    /// `task_settings` gave `singularity exec|run`, in the same order.
    pub(super) fn singularity_command(
        &self,
        ctx: &mut Ctx,
        m: &mut Map,
        sg: &Sing,
        mounts: &Mounts,
        launch: &Launch<'_>,
    ) {
        let t = self.spec;
        let user: Vec<String> = t
            .get("additional_singularity_options")
            .map(|x| x.items())
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v.text())
            .collect();
        let mut opts = user.clone();
        opts.push(if self.job.restrict_bind {
            "-B $AZ_BATCH_TASK_DIR:$AZ_BATCH_TASK_DIR".into()
        } else {
            "-B $AZ_BATCH_NODE_ROOT_DIR:$AZ_BATCH_NODE_ROOT_DIR".into()
        });
        if !self.container_working_dir() && !user.iter().any(|o| o.starts_with("--pwd ")) {
            opts.push("--pwd $AZ_BATCH_TASK_WORKING_DIR".into());
        }
        // Data volumes were written Docker-style with the container options.
        opts.extend(
            mounts
                .options
                .iter()
                .filter_map(|o| o.strip_prefix("-v "))
                .map(|b| format!("-B {b}")),
        );
        for (host, seen) in &mounts.binds {
            opts.push(format!("-B {host}:{seen}"));
        }
        let pool = self.jobs.pool;
        if pool.gpu_size && !self.gpus_disabled() {
            opts.push("--nv".into());
        }
        if launch.multi_instance.is_some() || pool.rdma_in_use {
            apptainer::drop_isolation(&mut opts);
        }
        if pool.rdma_in_use {
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
        let line = if launch.has_mpi {
            invocation
        } else {
            match &launch.pre {
                Some(p) => apptainer::host_command(&format!("{p}; {invocation}")),
                None => apptainer::host_command(&invocation),
            }
        };
        let e = m.set(
            "command",
            if template { Y::Template(line) } else { s(line) },
        );
        e.comment(if launch.has_mpi {
            "Shipyard ran mpirun on the host around `singularity exec`; batchyard's launcher does the same with Apptainer."
        } else {
            "Runs the Singularity image with Apptainer on the host, as Shipyard's task runner ran it with Singularity."
        });
    }
}
