//! `pool_specification` → one recipe pool.

use batchyard_compile::catalogue;
use batchyard_recipe::model::Duration;

use crate::ctx::Ctx;
use crate::doc::V;
use crate::emit::{Map, Y, item, s, seq};
use crate::ids::sanitize_id;

/// What the job conversion needs to know about the pool.
#[derive(Debug, Clone, Default)]
pub struct PoolInfo {
    pub id: String,
    pub dedicated: i64,
    pub spot: i64,
    /// Upper bounds of an autoscale scenario, when there is one.
    pub max_dedicated: Option<i64>,
    pub max_spot: Option<i64>,
    pub autoscale: bool,
    pub windows: bool,
    /// The VM size has RDMA and Shipyard would have used it (inter-node communication on).
    pub rdma_in_use: bool,
    pub rdma_size: bool,
    pub gpu_size: bool,
    /// The pool is a Batch container pool (every task must then run in a container).
    pub containers: bool,
}

/// Which container runtimes the config set's tasks use, read before the pool is written.
#[derive(Debug, Clone, Copy, Default)]
pub struct Runtimes {
    /// Some task names a `docker_image` (or a `docker://` Singularity image).
    pub docker: bool,
    /// Some task runs a Singularity image that is not a Docker image.
    pub singularity: bool,
    /// One of those images comes from a `library://` registry.
    pub library: bool,
}

/// A duration in Shipyard's `HH:MM:SS` / `D.HH:MM:SS` form, checked; `None` (with a
/// finding) when batchyard cannot read it.
pub fn duration(ctx: &mut Ctx, v: &V<'_>) -> Option<Y> {
    let text = v.text()?;
    match Duration::parse(&text) {
        Ok(_) => Some(s(text)),
        Err(e) => {
            ctx.warn(
                v,
                format!("{e}; the value was left out"),
                Some("a duration such as 02:00:00, 90m or PT2H"),
            );
            None
        }
    }
}

pub fn convert(
    ctx: &mut Ctx,
    spec: &V<'_>,
    global: Option<&V<'_>>,
    runtimes: Runtimes,
) -> (Map, PoolInfo) {
    let mut pool = Map::new();
    let mut info = PoolInfo::default();
    let raw_id = spec.get("id").and_then(|v| v.text()).unwrap_or_default();
    info.id = sanitize_id(&raw_id);
    if info.id != raw_id
        && let Some(v) = spec.get("id")
    {
        ctx.warn(
            &v,
            format!(
                "`{raw_id}` is not a valid Batch id; it became `{}`",
                info.id
            ),
            None,
        );
    }
    pool.set("id", s(&info.id));

    let vm_size = spec
        .get("vm_size")
        .and_then(|v| v.text())
        .unwrap_or_default();
    let size = catalogue::vm_size(&vm_size);
    // The catalogue's spelling; Azure compares sizes without case.
    let e = pool.set(
        "vm_size",
        s(size.map_or(vm_size.as_str(), |z| z.name.as_str())),
    );
    if let (Some(z), Some(v)) = (size, spec.get("vm_size"))
        && let Some(date) = &z.retired
    {
        e.comment(format!(
            "Azure retired the {} series ({date}): pick a current size before applying.",
            z.series
        ));
        ctx.warn(
            &v,
            format!(
                "Azure has retired the {} series ({date}); the size is kept as written",
                z.series
            ),
            Some("a current size of the same kind (GPU, InfiniBand or general purpose)"),
        );
    }
    info.rdma_size = size.is_some_and(catalogue::VmSize::has_rdma);
    info.gpu_size = size.is_some_and(catalogue::VmSize::has_gpu);

    let inter_node = spec
        .get("inter_node_communication_enabled")
        .and_then(|v| v.bool())
        .unwrap_or(false);
    image(ctx, spec, &mut pool, &mut info);
    counts(ctx, spec, &mut pool, &mut info, inter_node);

    if let Some(v) = spec.get("max_tasks_per_node").and_then(|v| v.i64())
        && v != 1
    {
        pool.set("task_slots_per_node", Y::Int(v))
            .comment("Shipyard: max_tasks_per_node.");
    }
    if let Some(v) = spec.get("node_fill_type").and_then(|v| v.str()) {
        pool.set("scheduling", s(v));
    }
    // Shipyard used InfiniBand only when inter-node communication was on; batchyard's
    // `rdma: auto` would switch it on for any RDMA size, so say what Shipyard did.
    info.rdma_in_use = info.rdma_size && inter_node && !info.windows;
    if info.rdma_size && !info.rdma_in_use {
        pool.set("rdma", Y::Bool(false))
            .comment("Shipyard used InfiniBand only with inter_node_communication_enabled: true.");
    }
    if spec.get("inter_node_communication_enabled").is_some() {
        pool.set("inter_node_communication", Y::Bool(inter_node));
    }

    info.containers = containers(ctx, global, &mut pool, runtimes);
    if !info.containers
        && let Some(e) = pool
            .0
            .iter_mut()
            .find(|e| e.key == "os" || e.key == "image")
    {
        e.comments
            .retain(|c| !c.starts_with("Shipyard ran containers itself"));
        e.comment("The Singularity tasks run on the host with Apptainer: the pool has no container support, which Batch would require every task to use.");
    }
    start_task(
        ctx,
        spec,
        &mut pool,
        runtimes.singularity.then_some(runtimes.library),
    );
    network(ctx, spec, &mut pool);
    gpu(ctx, spec);
    unsupported(ctx, spec, runtimes);
    ctx.leftovers(
        spec,
        &[
            "id",
            "vm_size",
            "vm_configuration",
            "vm_count",
            "autoscale",
            "resize_timeout",
            "max_tasks_per_node",
            "node_fill_type",
            "inter_node_communication_enabled",
            "additional_node_prep",
            "resource_files",
            "virtual_network",
            "public_ips",
            "gpu",
            "ssh",
            "rdp",
            "remote_access_control",
            "certificates",
            "input_data",
            "transfer_files_on_pool_creation",
            "block_until_all_global_resources_loaded",
            "reboot_on_start_task_failed",
            "attempt_recovery_on_unusable",
            "upload_diagnostics_logs_on_unusable",
            "per_job_auto_scratch",
            "batch_insights_enabled",
            "prometheus",
            "container_runtimes",
        ],
    );
    (pool, info)
}

/// Platform and custom images. Every Shipyard-era Linux image is retired (their Batch node
/// agents are gone), so they map to today's HPC image, which carries Docker, the NVIDIA and
/// InfiniBand drivers Shipyard used to install from its start task.
fn image(ctx: &mut Ctx, spec: &V<'_>, pool: &mut Map, info: &mut PoolInfo) {
    let Some(vmc) = spec.get("vm_configuration") else {
        return;
    };
    let platform = vmc.get("platform_image");
    let custom = vmc.get("custom_image");
    if let (Some(_), Some(c)) = (&platform, &custom) {
        ctx.error(
            c,
            "Shipyard rejects a pool with both platform_image and custom_image",
            Some("keep one of them"),
        );
    }
    if let Some(p) = platform {
        let field = |k: &str| p.get(k).and_then(|v| v.text()).unwrap_or_default();
        let (publisher, offer, sku) = (field("publisher"), field("offer"), field("sku"));
        let (pl, ol, sl) = (
            publisher.to_ascii_lowercase(),
            offer.to_ascii_lowercase(),
            sku.to_ascii_lowercase(),
        );
        let windows = pl == "microsoftwindowsserver";
        info.windows = windows;
        let shown = format!("{publisher}/{offer}/{sku}");
        let retired = match (pl.as_str(), ol.as_str()) {
            ("canonical", "ubuntuserver") => true,
            ("canonical", o) => o.contains("bionic") || o.contains("focal") || o.contains("xenial"),
            ("openlogic", _) | ("credativ", _) | ("microsoft-azure-batch", _) => true,
            ("microsoftwindowsserver", _) => sl.starts_with("2016") || sl.starts_with("2019"),
            _ => false,
        };
        if retired || windows {
            let (alias, what) = if windows {
                (
                    "windows-2022",
                    "Windows Server 2022 with a container runtime",
                )
            } else {
                (
                    "ubuntu-hpc-24.04",
                    "Ubuntu 24.04 HPC image with Docker, the NVIDIA and InfiniBand drivers and MPI",
                )
            };
            pool.set("os", s(alias)).comment(format!(
                "Shipyard: platform_image {shown}. Today's equivalent: {what}."
            ));
            if retired {
                ctx.warn(&p, format!("{shown} is retired (Azure Batch no longer supports its node agent); the pool uses `{alias}` instead"), Some(&format!("os: {alias}")));
            } else {
                ctx.warn(
                    &p,
                    format!("{shown} is not in batchyard's catalogue; the pool uses `{alias}`"),
                    Some(&format!("os: {alias}, or an explicit image:")),
                );
            }
        } else {
            let mut img = Map::new();
            img.set("publisher", s(&publisher));
            img.set("offer", s(&offer));
            img.set("sku", s(&sku));
            if let Some(v) = p.get("version").and_then(|v| v.text()) {
                img.set("version", s(v));
            }
            let agent = guess_node_agent(&ol, &sl);
            img.set("node_agent", s(&agent))
                .comment("Check this node agent against `az batch pool supported-images list`.");
            img.set("preinstalled", seq([s("container_runtime")]));
            ctx.warn(
                &p,
                format!("the node agent of {shown} was guessed as `{agent}`"),
                Some("image.node_agent"),
            );
            pool.set("image", Y::Map(img));
        }
        native_note(pool, &p);
        license(ctx, &p);
        ctx.leftovers(
            &p,
            &[
                "publisher",
                "offer",
                "sku",
                "version",
                "native",
                "license_type",
            ],
        );
    } else if let Some(c) = custom {
        let mut img = Map::new();
        if let Some(id) = c.get("arm_image_id").and_then(|v| v.text()) {
            img.set("custom", s(id));
        }
        let agent = c
            .get("node_agent")
            .and_then(|v| v.text())
            .unwrap_or_default();
        info.windows = agent.to_ascii_lowercase().contains("windows");
        img.set("node_agent", s(agent));
        img.set("preinstalled", seq([s("container_runtime")])).comment(
            "Shipyard required Docker (and GPU drivers on GPU sizes) on custom images; list what yours carries.",
        );
        pool.set("image", Y::Map(img));
        native_note(pool, &c);
        license(ctx, &c);
        ctx.leftovers(
            &c,
            &["arm_image_id", "node_agent", "native", "license_type"],
        );
    }
}

fn native_note(pool: &mut Map, img: &V<'_>) {
    let native = img.get("native").and_then(|v| v.bool()).unwrap_or(false);
    let note = if native {
        "Shipyard native: true: Batch's own container support, as batchyard always uses."
    } else {
        "Shipyard ran containers itself (non-native mode); batchyard uses Batch's container support, which mounts the Batch directories and passes the task environment the same way."
    };
    if let Some(e) = pool
        .0
        .iter_mut()
        .find(|e| e.key == "os" || e.key == "image")
    {
        e.comment(note);
    }
}

fn license(ctx: &mut Ctx, img: &V<'_>) {
    if let Some(v) = img.get("license_type") {
        ctx.warn(
            &v,
            "license_type (Azure Hybrid Benefit) is not carried over",
            Some("batch: {virtualMachineConfiguration: {licenseType: ...}} on the pool"),
        );
    }
}

fn guess_node_agent(offer: &str, sku: &str) -> String {
    if offer.contains("windows") {
        return "batch.node.windows amd64".into();
    }
    if offer.contains("ubuntu") || offer.contains("jammy") || offer.contains("noble") {
        let version = if sku.contains("24") || offer.contains("24") || offer.contains("noble") {
            "24.04"
        } else {
            "22.04"
        };
        return format!("batch.node.ubuntu {version}");
    }
    if offer.contains("alma") || offer.contains("rocky") || offer.contains("rhel") {
        return "batch.node.el 8".into();
    }
    if offer.contains("debian") {
        return "batch.node.debian 12".into();
    }
    "batch.node.ubuntu 22.04".into()
}

fn counts(ctx: &mut Ctx, spec: &V<'_>, pool: &mut Map, info: &mut PoolInfo, inter_node: bool) {
    let count = |k: &str| {
        spec.get("vm_count")
            .and_then(|c| c.get(k))
            .and_then(|v| v.i64())
            .unwrap_or(0)
    };
    info.dedicated = count("dedicated");
    info.spot = count("low_priority");
    if inter_node
        && info.dedicated > 0
        && info.spot > 0
        && let Some(v) = spec.get("vm_count")
    {
        ctx.error(
            &v,
            "Shipyard rejects inter-node communication with both dedicated and low-priority nodes",
            Some("only one kind of node"),
        );
    }
    let resize_timeout = spec.get("resize_timeout");
    match spec.get("autoscale") {
        Some(a) if a.get("formula").is_some() || a.get("scenario").is_some() => {
            info.autoscale = true;
            let mut m = Map::new();
            if let Some(f) = a.get("formula").and_then(|v| v.text()) {
                m.set("formula", s(f))
                    .comment("Shipyard: autoscale.formula (it takes precedence over a scenario).");
                if let Some(sc) = a.get("scenario") {
                    ctx.warn(
                        &sc,
                        "Shipyard ignores the scenario when a formula is given; so does the recipe",
                        None,
                    );
                }
            } else if let Some(sc) = a.get("scenario") {
                scenario(ctx, &sc, &mut m, info);
            }
            if let Some(v) = a.get("evaluation_interval")
                && let Some(d) = duration(ctx, &v)
            {
                m.set("interval", d);
            }
            ctx.leftovers(&a, &["formula", "scenario", "evaluation_interval"]);
            pool.set("autoscale", Y::Map(m));
            if let Some(v) = resize_timeout {
                ctx.warn(
                    &v,
                    "resize_timeout does not apply to autoscale pools (Shipyard ignored it too)",
                    None,
                );
            }
        }
        _ => {
            let mut m = Map::new();
            m.set("dedicated", Y::Int(info.dedicated));
            let e = m.set("spot", Y::Int(info.spot));
            if info.spot > 0 {
                e.comment(
                    "Shipyard: vm_count.low_priority (low-priority nodes are Spot nodes today).",
                );
            }
            if let Some(v) = resize_timeout
                && let Some(d) = duration(ctx, &v)
            {
                m.set("resize_timeout", d);
            }
            pool.set("nodes", Y::Map(m));
        }
    }
}

fn scenario(ctx: &mut Ctx, sc: &V<'_>, m: &mut Map, info: &mut PoolInfo) {
    if let Some(name) = sc.get("name").and_then(|v| v.text()) {
        m.set("scenario", s(name));
    }
    let max = |k: &str| {
        sc.get("maximum_vm_count")
            .and_then(|c| c.get(k))
            .and_then(|v| v.i64())
    };
    // A negative maximum meant unbounded in Shipyard; 16777216 is the bound it used.
    let bound = |v: i64| if v < 0 { 16_777_216 } else { v };
    let (md, ms) = (max("dedicated").map(bound), max("low_priority").map(bound));
    info.max_dedicated = md;
    info.max_spot = ms;
    if let Some(v) = md {
        m.set("max_dedicated", Y::Int(v));
    }
    if let Some(v) = ms {
        m.set("max_spot", Y::Int(v));
    }
    if md.is_none() && ms.is_none() {
        ctx.error(
            sc,
            "an autoscale scenario needs maximum_vm_count (Shipyard requires it too)",
            Some("autoscale.max_dedicated / max_spot"),
        );
    }
    if info.dedicated > 0 {
        m.set("min_dedicated", Y::Int(info.dedicated))
            .comment("Shipyard: vm_count.dedicated is the scenario's minimum.");
    }
    if info.spot > 0 {
        ctx.warn(sc, format!("vm_count.low_priority ({}) was the scenario's minimum of low-priority nodes; batchyard scenarios have no minimum for Spot nodes", info.spot), Some("autoscale.min_dedicated, or a formula"));
    }
    if let Some(v) = sc.get("sample_lookback_interval")
        && let Some(d) = duration(ctx, &v)
    {
        m.set("sample_window", d);
    }
    // Tuning knobs of Shipyard's generated formula: reported only when they differ from
    // Shipyard's defaults, which are the behaviour batchyard's scenarios reproduce.
    let defaults: [(&str, Option<serde_json::Value>); 7] = [
        ("maximum_vm_increment_per_evaluation", None),
        ("node_deallocation_option", Some("taskcompletion".into())),
        ("required_sample_percentage", Some(70.into())),
        ("bias_last_sample", Some(true.into())),
        ("bias_node_type", Some("auto".into())),
        ("rebalance_preemption_percentage", None),
        ("time_ranges", None),
    ];
    for (key, default) in defaults {
        let Some(v) = sc.get(key) else { continue };
        if default.is_some_and(|d| d == v.value()) {
            continue;
        }
        if key == "time_ranges"
            && v.value()
                == serde_json::json!({"weekdays": {"start": 1, "end": 5}, "work_hours": {"start": 8, "end": 17}})
        {
            continue;
        }
        ctx.warn(&v, format!("`{key}` tunes Shipyard's generated formula; batchyard's `{}` scenario uses the default", sc.get("name").and_then(|n| n.text()).unwrap_or_default()), Some("autoscale.formula with the exact formula you need"));
    }
    ctx.leftovers(
        sc,
        &[
            "name",
            "maximum_vm_count",
            "sample_lookback_interval",
            "maximum_vm_increment_per_evaluation",
            "node_deallocation_option",
            "required_sample_percentage",
            "bias_last_sample",
            "bias_node_type",
            "rebalance_preemption_percentage",
            "time_ranges",
        ],
    );
}

/// `containers:` with the prefetched images; none when every task runs a Singularity image
/// on the host (Batch requires every task of a container pool to run in a container).
fn containers(ctx: &mut Ctx, global: Option<&V<'_>>, pool: &mut Map, runtimes: Runtimes) -> bool {
    let mut images = Vec::new();
    if let Some(g) = global {
        if let Some(list) = g.get("docker_images") {
            for v in list.items() {
                if let Some(t) = v.text() {
                    images.push(s(t));
                }
            }
        }
        if let Some(si) = g.get("singularity_images") {
            for kind in ["unsigned", "signed"] {
                for v in si.get(kind).map(|k| k.items()).unwrap_or_default() {
                    let image = v.get("image").and_then(|i| i.text()).unwrap_or_default();
                    match image.strip_prefix("docker://") {
                        Some(docker) => {
                            ctx.warn(&v, format!("Singularity image `{image}` is prefetched as the Docker image `{docker}` it was built from"), Some("containers.images"));
                            images.push(s(docker));
                        }
                        None => {
                            let mut msg = format!(
                                "Singularity image `{image}` is not prefetched: Apptainer pulls it on the node when each task that uses it starts"
                            );
                            if image.starts_with("library://") {
                                msg.push_str(" (from the Sylabs library, which the pool's start task sets up as Apptainer's remote; the image must still be published there)");
                            }
                            if let Some(fp) = v
                                .get("signing_key")
                                .and_then(|k| k.get("fingerprint"))
                                .and_then(|f| f.text())
                            {
                                msg.push_str(&format!("; Shipyard verified its signature with key {fp}, batchyard does not: verify it with `apptainer verify` before trusting it"));
                            }
                            if v.get("encryption").is_some() {
                                msg.push_str(
                                    "; it is encrypted, and the decryption key is not carried over",
                                );
                            }
                            ctx.warn(
                                &v,
                                msg,
                                Some(
                                    "a Docker/OCI image in containers.images, prefetched by Batch",
                                ),
                            );
                        }
                    }
                }
            }
        }
    }
    if images.is_empty() && runtimes.singularity && !runtimes.docker {
        return false;
    }
    let mut m = Map::new();
    m.set("images", Y::Seq(images.into_iter().map(item).collect()))
        .comment("Shipyard: global_resources.docker_images, prefetched on every node.");
    pool.set("containers", Y::Map(m));
    true
}

/// `apptainer` is `Some(library)` when Singularity tasks run on the pool.
fn start_task(ctx: &mut Ctx, spec: &V<'_>, pool: &mut Map, apptainer: Option<bool>) {
    let prep = spec.get("additional_node_prep");
    let mut commands: Vec<String> = Vec::new();
    let mut env = Map::new();
    if let Some(p) = &prep {
        for phase in ["pre", "post"] {
            for v in p
                .get("commands")
                .and_then(|c| c.get(phase))
                .map(|c| c.items())
                .unwrap_or_default()
            {
                commands.extend(v.text());
            }
        }
        if let Some(e) = p.get("environment_variables") {
            for (k, v) in e.entries() {
                env.set(&k, s(v.text().unwrap_or_default()));
            }
        }
        if let Some(v) = p.get("environment_variables_keyvault_secret_id") {
            ctx.warn(
                &v,
                "environment variables from Key Vault are not carried over",
                Some("start_task.env with the values, or fetch them in the command"),
            );
        }
        ctx.leftovers(
            p,
            &[
                "commands",
                "environment_variables",
                "environment_variables_keyvault_secret_id",
            ],
        );
    }
    let files = resource_files(spec.get("resource_files"));
    let prep = !commands.is_empty();
    if let Some(library) = apptainer {
        commands.push(format!("{{ {}; }}", crate::apptainer::setup_step(library)));
    }
    if commands.is_empty() && env.is_empty() && files.is_empty() {
        return;
    }
    let mut st = Map::new();
    let command = if commands.is_empty() {
        "/bin/true".to_owned()
    } else {
        format!(
            "/bin/bash -c {}",
            shell_single_quote(&commands.join(" && "))
        )
    };
    let e = st.set("command", s(command));
    if prep {
        e.comment("Shipyard: additional_node_prep.commands (pre and post), run as root as Shipyard's node prep did.");
    }
    if apptainer.is_some() {
        e.comment("Installs Apptainer for the Singularity tasks when the image lacks it, as Shipyard installed Singularity. It never fails the node: where the install fails, those tasks fail and say so.");
    }
    st.set("elevated", Y::Bool(true));
    if !env.is_empty() {
        st.set("env", Y::Map(env));
    }
    if !files.is_empty() {
        st.set("resource_files", Y::Seq(files))
            .comment("Shipyard: pool_specification.resource_files.");
    }
    pool.set("start_task", Y::Map(st));
}

pub fn shell_single_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Shipyard `resource_files` entries (`blob_source`, `file_path`, `file_mode`).
pub fn resource_files(list: Option<V<'_>>) -> Vec<crate::emit::Item> {
    let mut out = Vec::new();
    for v in list.map(|l| l.items()).unwrap_or_default() {
        let mut m = Map::new();
        if let Some(u) = v.get("blob_source").and_then(|x| x.text()) {
            m.set("url", s(u));
        }
        if let Some(p) = v.get("file_path").and_then(|x| x.text()) {
            m.set("path", s(p));
        }
        if let Some(p) = v.get("file_mode").and_then(|x| x.text()) {
            m.set("mode", s(p));
        }
        out.push(item(Y::Map(m)));
    }
    out
}

fn network(ctx: &mut Ctx, spec: &V<'_>, pool: &mut Map) {
    let Some(vn) = spec.get("virtual_network") else {
        if let Some(v) = spec.get("public_ips") {
            ctx.warn(
                &v,
                "public_ips need a subnet, and the pool has none",
                Some("network.subnet_id with network.public_ips"),
            );
        }
        return;
    };
    match vn.get("arm_subnet_id").and_then(|v| v.text()) {
        Some(id) => {
            let mut m = Map::new();
            m.set("subnet_id", s(id));
            if let Some(ips) = spec.get("public_ips") {
                m.set("public_ip", s("user_managed"));
                m.set("public_ips", Y::Seq(ips.items().iter().filter_map(|v| v.text()).map(|t| item(s(t))).collect()));
            }
            pool.set("network", Y::Map(m));
            for (k, v) in vn.entries() {
                if k != "arm_subnet_id" && v.scalar().is_none_or(|x| !x.is_null()) {
                    ctx.warn(&v, "batchyard places pools in an existing subnet given by its ARM id and does not create virtual networks", Some("network.subnet_id"));
                }
            }
        }
        None => ctx.warn(&vn, "the virtual network is named but not given by subnet id, and batchyard does not create virtual networks; the pool is created without one", Some("network.subnet_id with the subnet's ARM id")),
    }
}

fn gpu(ctx: &mut Ctx, spec: &V<'_>) {
    let Some(g) = spec.get("gpu") else { return };
    if let Some(v) = g.get("nvidia_driver") {
        ctx.warn(
            &v,
            "batchyard installs no driver from a URL: the pool's image carries the NVIDIA driver",
            Some("an image with the driver (os: ubuntu-hpc-24.04)"),
        );
    }
    if let Some(v) = g.get("ignore_warnings") {
        ctx.warn(
            &v,
            "ignore_warnings steered Shipyard's driver checks, which batchyard does not run",
            None,
        );
    }
    ctx.leftovers(&g, &["nvidia_driver", "ignore_warnings"]);
}

fn unsupported(ctx: &mut Ctx, spec: &V<'_>, runtimes: Runtimes) {
    let warn = |ctx: &mut Ctx, key: &str, msg: &str, instead: Option<&str>| {
        if let Some(v) = spec.get(key) {
            ctx.warn(&v, msg, instead);
        }
    };
    warn(
        ctx,
        "ssh",
        "SSH users are not created from the recipe",
        Some("add a node user with `az batch node user create` when you need to log in"),
    );
    warn(
        ctx,
        "rdp",
        "RDP users are not created from the recipe",
        Some("add a node user with `az batch node user create` when you need to log in"),
    );
    warn(
        ctx,
        "remote_access_control",
        "inbound NAT rules are not carried over",
        Some("batch: {networkConfiguration: {endpointConfiguration: ...}} on the pool"),
    );
    warn(
        ctx,
        "certificates",
        "Batch certificates are retired and not carried over",
        Some("Azure Key Vault with a managed identity"),
    );
    warn(
        ctx,
        "transfer_files_on_pool_creation",
        "Shipyard's data ingress on pool creation is not carried over",
        Some("copy the data to blob storage and use resource_files"),
    );
    for key in [
        "block_until_all_global_resources_loaded",
        "reboot_on_start_task_failed",
        "attempt_recovery_on_unusable",
        "upload_diagnostics_logs_on_unusable",
    ] {
        if let Some(v) = spec.get(key)
            && v.bool() == Some(key.starts_with("block") || key.starts_with("upload"))
        {
            continue; // Shipyard's default, which is what batchyard does anyway
        }
        warn(
            ctx,
            key,
            "Shipyard's node recovery and diagnostics options are not carried over; batchyard reports failed nodes with their start task output",
            None,
        );
    }
    if let Some(v) = spec.get("per_job_auto_scratch")
        && v.bool() == Some(true)
    {
        ctx.warn(
            &v,
            "per-job auto scratch (BeeOND over the nodes' local disks) is not available; jobs with auto_scratch get a directory on an NFS export you provide instead (see their findings)",
            Some("pools[].mounts with an nfs export"),
        );
    }
    if let Some(v) = spec.get("batch_insights_enabled")
        && v.bool() == Some(true)
    {
        ctx.warn(
            &v,
            "Batch Insights is not installed",
            Some("a start_task that installs your monitoring agent"),
        );
    }
    if let Some(p) = spec.get("prometheus")
        && p.value().to_string().contains("true")
    {
        ctx.warn(
            &p,
            "Prometheus exporters are not installed",
            Some("a start_task that installs them"),
        );
    }
    if let Some(cr) = spec.get("container_runtimes") {
        let text = cr.value().to_string();
        if text.contains("kata") {
            ctx.warn(&cr, "Kata containers cannot come across: tasks run with the default runtime (runc), without Kata's VM isolation", None);
        }
        if text.contains("singularity") {
            let what = if runtimes.singularity {
                "Shipyard installed SingularityCE on the nodes; the pool's start task installs Apptainer (its successor, same command line) from the Ubuntu PPA or EPEL when the image lacks it"
            } else {
                "Shipyard installed SingularityCE on the nodes; it is not installed, since every task's image runs in Docker"
            };
            ctx.warn(&cr, what, None);
        }
    }
}
