//! What a pool's hardware and image offer, resolved from the catalogue and the recipe, with
//! the GPU, RDMA and generation rules checked.

use batchyard_recipe::model::{Pool, Preinstalled as RecipePreinstalled, Toggle};
use batchyard_recipe::{Code, Diagnostic};

use crate::catalogue::{self, ContainerRuntime, Generation, GpuKind, MpiModules, OsType, Rdma};
use crate::lifecycle;

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
    /// `docker run --gpus` works on the image (the NVIDIA container toolkit).
    pub gpu_container_toolkit: bool,
    pub containers: bool,
    pub task_slots_per_node: u32,
    /// GPUs per node (0 without GPUs or for a size the catalogue does not know).
    pub gpu_count: u32,
    /// InfiniBand HCAs per node in use (0 when RDMA is off).
    pub ib_devices: u32,
    /// The image's MPI environment modules (none for explicit images).
    pub mpi_modules: MpiModules,
}

/// Resolves and checks a pool's hardware. Problems go to `out`. End-of-life dates are
/// compared with today's date.
pub fn resolve(pool: &Pool, at: &str, out: &mut Vec<Diagnostic>) -> PoolFacts {
    resolve_on(pool, at, out, &lifecycle::today())
}

/// [`resolve`] as of `today` (`YYYY-MM-DD`).
pub fn resolve_on(pool: &Pool, at: &str, out: &mut Vec<Diagnostic>, today: &str) -> PoolFacts {
    let size = catalogue::vm_size(&pool.vm_size);
    let vm_path = format!("{at}/vm_size");
    match size {
        None => {
            let mut d = Diagnostic::warning(
                Code::UnknownVmSize,
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
                            Code::AutoNeedsCatalogue,
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
                let when = if date == "unknown" {
                    String::new()
                } else {
                    format!(" on {date}")
                };
                out.push(
                    Diagnostic::warning(
                        Code::RetiredSeries,
                        &vm_path,
                        format!("Azure retired the {} series{when}", s.series),
                    )
                    .with_help(
                        "pick a current size; see the catalogue's source for the series' successor",
                    ),
                );
            }
        }
    }

    // The image: an alias from the catalogue, or an explicit reference.
    let mut image = ImageFacts::default();
    match (&pool.os, &pool.image) {
        (Some(alias), _) => match catalogue::image(alias) {
            Some(img) => {
                if img.deprecated {
                    let mut d = Diagnostic::warning(
                        Code::DeprecatedOs,
                        format!("{at}/os"),
                        format!("`{alias}` is deprecated"),
                    );
                    if let Some(r) = &img.replacement {
                        d = d.with_help(format!("use `{r}` instead"));
                    }
                    out.push(d);
                } else if let Some(d) = lifecycle::end_of_life_warning(img, at, today) {
                    out.push(d);
                }
                image = ImageFacts {
                    os_type: img.os_type,
                    gpu_driver: img.preinstalled.gpu_driver,
                    ib_driver: img.preinstalled.ib_driver,
                    runtime: img.preinstalled.container_runtime == ContainerRuntime::Docker,
                    toolkit: img.preinstalled.nvidia_container_toolkit,
                    gen2: Some(img.gen2),
                    mpi_modules: img.mpi_modules.clone(),
                    catalogued: true,
                };
            }
            None => {
                let mut d = Diagnostic::error(
                    Code::UnknownOs,
                    format!("{at}/os"),
                    format!("unknown OS image alias `{alias}`"),
                );
                d = d.with_help(match catalogue::suggest_image(alias).first() {
                    Some(n) => format!("did you mean `{n}`?"),
                    None => {
                        "use a catalogue alias such as `ubuntu-hpc-24.04`, or an explicit `image:`"
                            .into()
                    }
                });
                out.push(d);
            }
        },
        (None, Some(img)) => {
            let windows = img.node_agent.to_ascii_lowercase().contains("windows");
            let has = |p| img.preinstalled.contains(&p);
            image = ImageFacts {
                os_type: if windows {
                    OsType::Windows
                } else {
                    OsType::Linux
                },
                gpu_driver: has(RecipePreinstalled::GpuDriver),
                ib_driver: has(RecipePreinstalled::InfinibandDriver),
                runtime: has(RecipePreinstalled::ContainerRuntime),
                toolkit: has(RecipePreinstalled::NvidiaContainerToolkit),
                ..ImageFacts::default()
            };
        }
        (None, None) => {}
    }
    let ImageFacts {
        os_type,
        gpu_driver,
        ib_driver,
        runtime,
        gen2,
        ..
    } = image;

    // GPU
    let size_gpu = size.and_then(|s| s.gpu.as_ref());
    let gpu = pool.gpu.resolve(size_gpu.is_some());
    if pool.gpu == Toggle::On && size.is_some() && size_gpu.is_none() {
        out.push(
            Diagnostic::error(
                Code::NoGpu,
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
                Code::NoRdma,
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
                    Code::RdmaSetup,
                    format!("{at}/inter_node_communication"),
                    "an RDMA pool needs inter-node communication",
                )
                .with_help("remove `inter_node_communication: false`, or set `rdma: false`"),
            );
        }
        if pool.task_slots_per_node != 1 {
            out.push(
                Diagnostic::error(
                    Code::RdmaSetup,
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
                Code::GenerationMismatch,
                format!("{at}/os"),
                format!(
                    "`{}` boots only Generation 2 images and this image is Generation 1",
                    s.name
                ),
            )
            .with_help("pick a Gen2 image such as `ubuntu-hpc-24.04`"),
        );
    }

    let containers = pool.containers.is_some();
    if containers {
        check_container_image(pool, &image, gpu, at, out);
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
        gpu_container_toolkit: image.toolkit,
        containers,
        task_slots_per_node: pool.task_slots_per_node,
        gpu_count: if gpu {
            size_gpu.map(|g| g.count).unwrap_or(0)
        } else {
            0
        },
        ib_devices: match rdma {
            Rdma::SriovInfiniband { .. } => size.map(|s| s.ib_devices).unwrap_or(1).max(1),
            _ => 0,
        },
        mpi_modules: image.mpi_modules,
    }
}

/// What the pool's image brings, from the catalogue or the recipe's `preinstalled`.
#[derive(Debug, Clone)]
struct ImageFacts {
    os_type: OsType,
    gpu_driver: bool,
    ib_driver: bool,
    runtime: bool,
    toolkit: bool,
    gen2: Option<bool>,
    mpi_modules: MpiModules,
    /// The facts come from the catalogue (not from the recipe's own `preinstalled`).
    catalogued: bool,
}

impl Default for ImageFacts {
    fn default() -> Self {
        Self {
            os_type: OsType::Linux,
            gpu_driver: false,
            ib_driver: false,
            runtime: false,
            toolkit: false,
            gen2: None,
            mpi_modules: MpiModules::default(),
            catalogued: false,
        }
    }
}

/// The image must run containers, and GPU containers need the NVIDIA container toolkit.
/// For a catalogued image the facts are known; for an explicit image they are what the
/// recipe declares in `preinstalled`.
fn check_container_image(
    pool: &Pool,
    image: &ImageFacts,
    gpu: bool,
    at: &str,
    out: &mut Vec<Diagnostic>,
) {
    let (path, what) = match &pool.os {
        Some(alias) => (format!("{at}/os"), format!("`{alias}`")),
        None => (format!("{at}/image"), "this image".to_string()),
    };
    let fix_linux = if gpu {
        "use `os: ubuntu-hpc-24.04`, which carries Docker (Moby) and the NVIDIA container toolkit"
    } else {
        "use `os: ubuntu-hpc-24.04`, which carries Docker (Moby)"
    };
    let declared = |item: &str, fix: &str| {
        format!("if the image has it, list `{item}` in the image's `preinstalled`; otherwise {fix}")
    };
    if !image.runtime {
        let message =
            format!("{what} has no container runtime, and the pool asks for `containers`");
        let help = match (image.os_type, image.catalogued) {
            (OsType::Windows, _) => {
                "use `os: windows-2022`, which Batch supports for containers".to_string()
            }
            (OsType::Linux, true) => fix_linux.to_string(),
            (OsType::Linux, false) => declared("container_runtime", fix_linux),
        };
        out.push(Diagnostic::error(Code::NoContainerRuntime, path, message).with_help(help));
        return;
    }
    if gpu && !image.toolkit {
        if image.os_type == OsType::Windows {
            out.push(
                Diagnostic::error(Code::NoGpuContainers, path, "Batch runs no GPU containers on Windows pools").with_help(
                    "use a Linux pool with `os: ubuntu-hpc-24.04`, or run the tasks without containers",
                ),
            );
            return;
        }
        let message = format!(
            "{what} has no NVIDIA container toolkit, so GPU containers (`docker run --gpus`) cannot start"
        );
        let help = if image.catalogued {
            fix_linux.to_string()
        } else {
            declared("nvidia_container_toolkit", fix_linux)
        };
        out.push(Diagnostic::error(Code::NoGpuContainers, path, message).with_help(help));
    }
}
