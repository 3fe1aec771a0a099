//! The hardware catalogue: facts about VM sizes and OS images, embedded at build time from
//! the YAML files in `data/`, so that adding a size is a data change, not a code change.

mod images;
mod vm_sizes;

pub use images::{
    ContainerRuntime, Image, ImageReference, MpiModules, OsType, Preinstalled, image, images,
};
pub use vm_sizes::{Generation, Gpu, GpuKind, Rdma, VmSize, vm_size, vm_sizes};

/// Names in `candidates` close to `wanted`, best first, for "did you mean" help.
pub(crate) fn closest<'a>(wanted: &str, candidates: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let wanted = wanted.to_ascii_lowercase();
    let mut scored: Vec<(f64, &str)> = candidates
        .map(|c| (strsim::jaro_winkler(&wanted, &c.to_ascii_lowercase()), c))
        .filter(|(score, _)| *score > 0.85)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().take(3).map(|(_, c)| c).collect()
}

/// Suggestions for an unknown VM size name.
pub fn suggest_vm_size(wanted: &str) -> Vec<&'static str> {
    closest(wanted, vm_sizes().iter().map(|s| s.name.as_str()))
}

/// Suggestions for an unknown image alias.
pub fn suggest_image(wanted: &str) -> Vec<&'static str> {
    closest(wanted, images().iter().map(|i| i.alias.as_str()))
}
