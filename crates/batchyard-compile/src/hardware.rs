//! What a pool's hardware and image offer, resolved from the catalogue and the recipe, with
//! the GPU, RDMA and generation rules checked.

use batchyard_recipe::Diagnostic;
use batchyard_recipe::model::{Pool, Preinstalled as RecipePreinstalled, Toggle};

use crate::catalogue::{self, ContainerRuntime, Generation, GpuKind, OsType, Rdma};

/// The facts the payload builders need about one pool.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolFacts {
    pub id: String,
    /// The size's catalogue entry, `None` for a size the catalogue does not know.
    pub size: Option<&'static catalogue::VmSize>,
    pub os_type: OsType,
    pub gpu: bool,
    pub gpu_kind: Option<GpuKind>,
    /// The RDMA network in use (`Rdma::None` when off).
    pub rdma: Rdma,
    pub inter_node: bool,
    pub gpu_driver_on_image: bool,
    pub ib_driver_on_image: bool,
    pub container_runtime_on_image: bool,
    pub containers: bool,
    pub task_slots_per_node: u32,
}

/// Resolves and checks a pool's hardware. Problems go to `out`; `None` when the pool cannot
/// be compiled at all.
pub fn resolve(pool: &Pool, at: &str, out: &mut Vec<Diagnostic>) -> PoolFacts {
    let size = catalogue::vm_size(&pool.vm_size);
    let vm_path = format!("{at}/vm_size");
    match size {
        None => {
            let mut d = Diagnostic::warning(
                &vm_path,
                format!(
                    "`{}` is not in batchyard's hardware catalogue",
                    pool.vm_size
                ),
            );
            let near = catalogue::suggest_vm_size(&pool.vm_size);
            d = d.with_help(match near.first() {
                Some(n) => {
                    format!("did you mean `{n}`? If not, state `gpu` and `rdma` as true or false")
                }
                None => {
                    "state `gpu` and `rdma` as true or false, since they cannot be looked up".into()
                }
            });
            out.push(d);
            for (key, toggle) in [("gpu", pool.gpu), ("rdma", pool.rdma)] {
                if toggle == Toggle::Auto {
                    out.push(
                        Diagnostic::error(
                            format!("{at}/{key}"),
                            format!("`{key}: auto` needs a VM size the catalogue knows"),
                        )
                        .with_help(format!("write `{key}: true` or `{key}: false`")),
                    );
                }
            }
        }
        Some(s) => {
            if let Some(date) = &s.retired {
                out.push(
                    Diagnostic::warning(
                        &vm_path,
                        format!("Azure has retired the {} series ({date})", s.series),
                    )
                    .with_help(
                        "pick a current size; see the catalogue's source for the series' successor",
                    ),
                );
            }
        }
    }

    // The image: an alias from the catalogue, or an explicit reference.
    let (os_type, gpu_driver, ib_driver, runtime, gen2) = match (&pool.os, &pool.image) {
        (Some(alias), _) => match catalogue::image(alias) {
            Some(img) => {
                if img.deprecated {
                    let mut d =
                        Diagnostic::warning(format!("{at}/os"), format!("`{alias}` is deprecated"));
                    if let Some(r) = &img.replacement {
                        d = d.with_help(format!("use `{r}` instead"));
                    }
                    out.push(d);
                }
                (
                    img.os_type,
                    img.preinstalled.gpu_driver,
                    img.preinstalled.ib_driver,
                    img.preinstalled.container_runtime == ContainerRuntime::Docker,
                    Some(img.gen2),
                )
            }
            None => {
                let mut d = Diagnostic::error(
                    format!("{at}/os"),
                    format!("unknown OS image alias `{alias}`"),
                );
                d = d.with_help(match catalogue::suggest_image(alias).first() {
                    Some(n) => format!("did you mean `{n}`?"),
                    None => "use a catalogue alias such as `ubuntu-22.04`, or an explicit `image:`"
                        .into(),
                });
                out.push(d);
                (OsType::Linux, false, false, false, None)
            }
        },
        (None, Some(img)) => {
            let windows = img.node_agent.to_ascii_lowercase().contains("windows");
            let has = |p| img.preinstalled.contains(&p);
            (
                if windows {
                    OsType::Windows
                } else {
                    OsType::Linux
                },
                has(RecipePreinstalled::GpuDriver),
                has(RecipePreinstalled::InfinibandDriver),
                has(RecipePreinstalled::ContainerRuntime),
                None,
            )
        }
        (None, None) => (OsType::Linux, false, false, false, None),
    };

    // GPU
    let size_gpu = size.and_then(|s| s.gpu.as_ref());
    let gpu = pool.gpu.resolve(size_gpu.is_some());
    if pool.gpu == Toggle::On && size.is_some() && size_gpu.is_none() {
        out.push(
            Diagnostic::error(
                format!("{at}/gpu"),
                format!("`{}` has no GPUs", pool.vm_size),
            )
            .with_help("pick a GPU size (NC, ND or NV series), or remove `gpu: true`"),
        );
    }

    // RDMA
    let size_rdma = size.map(|s| s.rdma).unwrap_or(Rdma::None);
    let rdma_on = pool.rdma.resolve(!matches!(size_rdma, Rdma::None));
    if pool.rdma == Toggle::On && size.is_some() && matches!(size_rdma, Rdma::None) {
        out.push(
            Diagnostic::error(
                format!("{at}/rdma"),
                format!("`{}` has no RDMA network", pool.vm_size),
            )
            .with_help(
                "pick an InfiniBand size (HB, HC, HX, or an `r` GPU size), or remove `rdma: true`",
            ),
        );
    }
    let rdma = match (rdma_on, size_rdma) {
        (false, _) => Rdma::None,
        // Unknown size with `rdma: true`: assume today's kind.
        (true, Rdma::None) => Rdma::SriovInfiniband { gbps: 0 },
        (true, kind) => kind,
    };
    let inter_node = pool.inter_node_communication.unwrap_or(rdma_on);
    if rdma_on {
        if pool.inter_node_communication == Some(false) {
            out.push(
                Diagnostic::error(
                    format!("{at}/inter_node_communication"),
                    "an RDMA pool needs inter-node communication",
                )
                .with_help("remove `inter_node_communication: false`, or set `rdma: false`"),
            );
        }
        if pool.task_slots_per_node != 1 {
            out.push(
                Diagnostic::error(
                    format!("{at}/task_slots_per_node"),
                    "an RDMA pool runs one task per node",
                )
                .with_help("set `task_slots_per_node: 1`, or `rdma: false`"),
            );
        }
    }

    // Generation 2 sizes need Generation 2 images.
    if let (Some(s), Some(false)) = (size, gen2)
        && s.generation == Generation::Gen2Only
    {
        out.push(
            Diagnostic::error(
                format!("{at}/os"),
                format!(
                    "`{}` boots only Generation 2 images and this image is Generation 1",
                    s.name
                ),
            )
            .with_help("pick a Gen2 image such as `ubuntu-hpc-22.04`"),
        );
    }

    let containers = pool.containers.is_some();
    if containers && !runtime && pool.os.is_some() && os_type == OsType::Linux {
        out.push(
            Diagnostic::warning(
                format!("{at}/containers"),
                "this image has no container runtime for Batch container pools",
            )
            .with_help("use `ubuntu-hpc-22.04` or `ubuntu-hpc-24.04`, which carry Docker"),
        );
    }

    PoolFacts {
        id: pool.id.clone(),
        size,
        os_type,
        gpu,
        gpu_kind: size_gpu.map(|g| g.kind).or(gpu.then_some(GpuKind::Compute)),
        rdma,
        inter_node,
        gpu_driver_on_image: gpu_driver,
        ib_driver_on_image: ib_driver,
        container_runtime_on_image: runtime,
        containers,
        task_slots_per_node: pool.task_slots_per_node,
    }
}
