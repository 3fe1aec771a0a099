//! OS image aliases, from `data/images.yaml`.

use std::sync::OnceLock;

use serde::Deserialize;

/// `data/images.yaml` as JSON, converted by build.rs (JSON reads far faster).
const DATA: &str = include_str!(concat!(env!("OUT_DIR"), "/images.json"));

/// A catalogued OS image and what it brings along.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    pub alias: String,
    /// Where the facts come from, the image's own page first.
    pub sources: Vec<String>,
    pub os_type: OsType,
    #[serde(flatten)]
    pub reference: ImageReference,
    /// Batch node agent SKU id, e.g. `batch.node.ubuntu 22.04`.
    pub node_agent: String,
    pub preinstalled: Preinstalled,
    /// The environment module of each MPI runtime on the image (`mpi/hpcx`, ...).
    #[serde(default)]
    pub mpi_modules: MpiModules,
    /// Versions of what is on the image, for the documentation.
    #[serde(default)]
    pub software: std::collections::BTreeMap<String, String>,
    pub gen2: bool,
    #[serde(default)]
    pub end_of_life: Option<String>,
    #[serde(default)]
    pub deprecated: bool,
    /// The alias to move to when this one is deprecated or nears its end of life.
    #[serde(default)]
    pub replacement: Option<String>,
}

/// A Marketplace image reference, as Batch's `imageReference` names it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ImageReference {
    pub publisher: String,
    pub offer: String,
    pub sku: String,
    pub version: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OsType {
    Linux,
    Windows,
}

/// Software on the image that the compiler would otherwise have to install.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preinstalled {
    pub gpu_driver: bool,
    pub ib_driver: bool,
    pub container_runtime: ContainerRuntime,
    /// The NVIDIA container toolkit is configured as a Docker runtime: `--gpus` works.
    pub nvidia_container_toolkit: bool,
}

/// Environment modules that put an MPI's launcher on PATH, by batchyard MPI runtime.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MpiModules {
    #[serde(default)]
    pub openmpi: Option<String>,
    #[serde(default)]
    pub intelmpi: Option<String>,
    #[serde(default)]
    pub mpich: Option<String>,
    #[serde(default)]
    pub mvapich: Option<String>,
}

impl MpiModules {
    /// The module for `runtime`, if the image has one.
    pub fn for_runtime(&self, runtime: batchyard_recipe::model::MpiRuntime) -> Option<&str> {
        use batchyard_recipe::model::MpiRuntime as R;
        match runtime {
            R::Openmpi => self.openmpi.as_deref(),
            R::Intelmpi => self.intelmpi.as_deref(),
            R::Mpich => self.mpich.as_deref(),
            R::Mvapich => self.mvapich.as_deref(),
            R::Msmpi => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerRuntime {
    None,
    Docker,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    images: Vec<Image>,
}

fn parse(text: &str) -> Result<Vec<Image>, String> {
    let file: File = serde_json::from_str(text).map_err(|e| e.to_string())?;
    Ok(file.images)
}

/// Every catalogued image.
pub fn images() -> &'static [Image] {
    static IMAGES: OnceLock<Vec<Image>> = OnceLock::new();
    // Compiled-in data, checked by the tests: a failure here is a build defect.
    IMAGES.get_or_init(|| parse(DATA).expect("data/images.yaml is valid"))
}

/// Looks an alias up, ignoring case.
pub fn image(alias: &str) -> Option<&'static Image> {
    let alias = alias.trim();
    images()
        .iter()
        .find(|i| i.alias.eq_ignore_ascii_case(alias))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded JSON says exactly what the YAML it was made from says.
    #[test]
    fn json_agrees_with_the_yaml_source() {
        let yaml = include_str!("../../data/images.yaml");
        let from_yaml: File = serde_saphyr::from_str(yaml).unwrap();
        assert_eq!(parse(DATA).unwrap(), from_yaml.images);
    }

    #[test]
    fn required_aliases_resolve() {
        for alias in [
            "ubuntu-22.04",
            "ubuntu-24.04",
            "ubuntu-hpc-22.04",
            "ubuntu-hpc-24.04",
            "almalinux-hpc-8",
            "windows-2022",
        ] {
            let img = image(alias).unwrap_or_else(|| panic!("{alias} missing"));
            assert!(!img.deprecated, "{alias}");
            assert!(img.node_agent.starts_with("batch.node."), "{alias}");
        }
        assert_eq!(
            image("UBUNTU-HPC-22.04").unwrap().reference.offer,
            "ubuntu-hpc"
        );
    }

    #[test]
    fn preinstalled_software() {
        let hpc = image("ubuntu-hpc-22.04").unwrap();
        assert!(hpc.preinstalled.gpu_driver && hpc.preinstalled.ib_driver);
        assert_eq!(hpc.preinstalled.container_runtime, ContainerRuntime::Docker);
        assert!(hpc.preinstalled.nvidia_container_toolkit);
        assert_eq!(
            hpc.mpi_modules
                .for_runtime(batchyard_recipe::model::MpiRuntime::Intelmpi),
            Some("mpi/impi-2021")
        );
        let plain = image("ubuntu-24.04").unwrap();
        assert!(!plain.preinstalled.gpu_driver && !plain.preinstalled.ib_driver);
        assert_eq!(plain.preinstalled.container_runtime, ContainerRuntime::None);
        let win = image("windows-2022").unwrap();
        assert_eq!(win.os_type, OsType::Windows);
        assert_eq!(win.node_agent, "batch.node.windows amd64");
    }

    #[test]
    fn every_image_cites_a_source() {
        for img in images() {
            assert!(!img.sources.is_empty(), "{}", img.alias);
            for s in &img.sources {
                assert!(s.starts_with("https://"), "{}: {s}", img.alias);
            }
            if let Some(d) = &img.end_of_life {
                assert!(
                    d.len() == 10 && d.as_bytes()[4] == b'-',
                    "{}: {d}",
                    img.alias
                );
            }
            // A GPU container needs the toolkit, which needs a container runtime.
            assert!(
                !img.preinstalled.nvidia_container_toolkit
                    || img.preinstalled.container_runtime == ContainerRuntime::Docker,
                "{}",
                img.alias
            );
        }
    }

    #[test]
    fn deprecated_aliases_name_a_live_replacement() {
        for img in images() {
            if img.deprecated {
                let r = img.replacement.as_deref().unwrap();
                assert!(!image(r).unwrap().deprecated, "{} -> {r}", img.alias);
            }
        }
    }
}
