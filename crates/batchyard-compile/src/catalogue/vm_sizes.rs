//! VM sizes: vCPUs, memory, GPUs and RDMA, from `data/vm_sizes.yaml`.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

/// `data/vm_sizes.yaml` as JSON, converted by build.rs (JSON reads far faster).
const DATA: &str = include_str!(concat!(env!("OUT_DIR"), "/vm_sizes.json"));

/// One Azure VM size and the hardware facts the compiler's rules need.
#[derive(Debug, Clone, PartialEq)]
pub struct VmSize {
    /// Canonical spelling, e.g. `Standard_NC24rs_v3`.
    pub name: String,
    /// Series name as Microsoft documents it, e.g. `NCv3`.
    pub series: String,
    pub vcpus: u32,
    pub memory_gib: f64,
    pub gpu: Option<Gpu>,
    pub rdma: Rdma,
    /// InfiniBand HCAs (0 without SR-IOV InfiniBand).
    pub ib_devices: u32,
    pub generation: Generation,
    /// `Some("2023-09-06")`, `Some("unknown")` when retired at an unrecorded date, or `None`.
    pub retired: Option<String>,
    /// Where the facts come from.
    pub source: String,
    /// The VM family a Batch account's `dedicatedCoreQuotaPerVMFamily` counts this size's
    /// cores against, e.g. `standardDSv5Family`; `None` where no public source was found.
    pub quota_family: Option<String>,
}

impl VmSize {
    pub fn has_gpu(&self) -> bool {
        self.gpu.is_some()
    }
    pub fn has_rdma(&self) -> bool {
        !matches!(self.rdma, Rdma::None)
    }
}

/// The GPUs of a size.
#[derive(Debug, Clone, PartialEq)]
pub struct Gpu {
    pub count: u32,
    pub model: String,
    pub kind: GpuKind,
    /// For partitioned GPUs, the share of one GPU, e.g. `1/6`.
    pub share: Option<String>,
}

/// What driver a GPU needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GpuKind {
    /// Tesla/datacenter GPUs: the CUDA driver.
    Compute,
    /// GRID/virtual workstation GPUs: the GRID driver.
    Visualization,
}

/// The RDMA network of a size.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Rdma {
    /// No RDMA network.
    None,
    /// The older NetworkDirect interface (A8/A9, H16r, NC24r...): Intel MPI over DAPL, or MS-MPI.
    NetworkDirect { gbps: u32 },
    /// SR-IOV InfiniBand (HB, HC, HX, NDv2 and later): OFED drivers, UCX, any MPI.
    SriovInfiniband { gbps: u32 },
}

/// Which VM generations a size supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Generation {
    Gen1AndGen2,
    /// Only Generation 2 images boot on this size.
    Gen2Only,
    /// Not recorded; no generation check is made.
    Unknown,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    series: Vec<SeriesEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeriesEntry {
    series: String,
    source: String,
    #[serde(default)]
    gpu: Option<SeriesGpu>,
    generation: Generation,
    #[serde(default)]
    retired: Option<String>,
    #[serde(default)]
    quota_family: Option<String>,
    sizes: Vec<SizeEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeriesGpu {
    model: String,
    kind: GpuKind,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SizeEntry {
    name: String,
    vcpus: u32,
    memory_gib: f64,
    #[serde(default)]
    gpus: u32,
    #[serde(default)]
    gpu_share: Option<String>,
    #[serde(default)]
    rdma: Option<Rdma>,
    #[serde(default)]
    ib_devices: Option<u32>,
    #[serde(default)]
    quota_family: Option<String>,
}

struct Table {
    sizes: Vec<VmSize>,
    by_name: HashMap<String, usize>,
}

fn parse(text: &str) -> Result<Vec<VmSize>, String> {
    let file: File = serde_json::from_str(text).map_err(|e| e.to_string())?;
    flatten(file)
}

/// One [`VmSize`] per size, with the facts of its series.
fn flatten(file: File) -> Result<Vec<VmSize>, String> {
    let mut out = Vec::new();
    for series in file.series {
        for size in series.sizes {
            let gpu = match (&series.gpu, size.gpus) {
                (Some(g), n) if n > 0 => Some(Gpu {
                    count: n,
                    model: g.model.clone(),
                    kind: g.kind,
                    share: size.gpu_share.clone(),
                }),
                (None, 0) => None,
                (Some(_), _) => {
                    return Err(format!("{}: GPU series without a gpus count", size.name));
                }
                (None, _) => return Err(format!("{}: gpus without a series gpu model", size.name)),
            };
            let rdma = size.rdma.unwrap_or(Rdma::None);
            let ib_devices = match (rdma, size.ib_devices) {
                (Rdma::SriovInfiniband { .. }, n) => n.unwrap_or(1),
                (_, None) => 0,
                (_, Some(_)) => {
                    return Err(format!(
                        "{}: ib_devices without SR-IOV InfiniBand",
                        size.name
                    ));
                }
            };
            out.push(VmSize {
                name: size.name,
                series: series.series.clone(),
                vcpus: size.vcpus,
                memory_gib: size.memory_gib,
                gpu,
                rdma,
                ib_devices,
                generation: series.generation,
                retired: series.retired.clone(),
                source: series.source.clone(),
                quota_family: size.quota_family.or_else(|| series.quota_family.clone()),
            });
        }
    }
    Ok(out)
}

fn key(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    match lower.strip_prefix("standard_") {
        Some(rest) => rest.to_string(),
        None => lower,
    }
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        // The data is compiled in and checked by the tests below; a parse failure is a
        // build defect, never a user error.
        let sizes = parse(DATA).expect("data/vm_sizes.yaml is valid");
        let by_name = sizes
            .iter()
            .enumerate()
            .map(|(i, s)| (key(&s.name), i))
            .collect();
        Table { sizes, by_name }
    })
}

/// Every size in the catalogue.
pub fn vm_sizes() -> &'static [VmSize] {
    &table().sizes
}

/// Looks a size up by name, ignoring case and an optional `Standard_` prefix.
pub fn vm_size(name: &str) -> Option<&'static VmSize> {
    let t = table();
    t.by_name.get(&key(name)).map(|&i| &t.sizes[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_parses_and_names_are_unique() {
        let sizes = parse(DATA).unwrap();
        let mut names: Vec<_> = sizes.iter().map(|s| key(&s.name)).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(n, names.len(), "duplicate size names");
        assert!(n > 80, "only {n} sizes");
        for s in &sizes {
            assert!(s.name.starts_with("Standard_"), "{}", s.name);
            assert!(s.vcpus > 0 && s.memory_gib > 0.0, "{}", s.name);
            assert!(s.source.starts_with("https://"), "{}", s.name);
        }
    }

    /// The embedded JSON says exactly what the YAML it was made from says.
    #[test]
    fn json_agrees_with_the_yaml_source() {
        let yaml = include_str!("../../data/vm_sizes.yaml");
        let from_yaml = flatten(serde_saphyr::from_str(yaml).unwrap()).unwrap();
        assert_eq!(parse(DATA).unwrap(), from_yaml);
    }

    #[test]
    fn every_size_the_issue_names_is_known() {
        let names = [
            // the seed article
            "Standard_H16r",
            "Standard_H16mr",
            "Standard_A8",
            "Standard_A9",
            "Standard_NC24r",
            "Standard_NC24rs_v2",
            "Standard_NC24rs_v3",
            "Standard_ND24rs",
            "Standard_NC6",
            "Standard_NC6s_v2",
            "Standard_NC6s_v3",
            "Standard_ND6s",
            "Standard_ND40rs_v2",
            "Standard_NV6",
            "Standard_NV6s_v2",
            // today
            "Standard_NC4as_T4_v3",
            "Standard_NV36ads_A10_v5",
            "Standard_NC24ads_A100_v4",
            "Standard_ND96asr_v4",
            "Standard_NC40ads_H100_v5",
            "Standard_ND96isr_H100_v5",
            "Standard_HB60rs",
            "Standard_HB120rs_v2",
            "Standard_HB120rs_v3",
            "Standard_HB176rs_v4",
            "Standard_HC44rs",
            "Standard_HX176rs",
            "Standard_HB368rs_v5",
            "Standard_ND96isr_H200_v5",
            "Standard_NC80adis_H100_v5",
            // Shipyard recipes (spelled as they are there)
            "STANDARD_D1_V2",
            "STANDARD_D2_V2",
            "STANDARD_D3_V2",
            "STANDARD_D4_V2",
            "STANDARD_D4_V3",
            "STANDARD_F1",
            "STANDARD_F16S",
            "STANDARD_NC24",
            "STANDARD_HC44rs",
            "STANDARD_HB60rs",
            "STANDARD_H16R",
        ];
        for n in names {
            assert!(vm_size(n).is_some(), "{n} missing");
        }
    }

    #[test]
    fn lookup_ignores_case_and_prefix() {
        let a = vm_size("standard_nc24RS_V3").unwrap();
        assert_eq!(a.name, "Standard_NC24rs_v3");
        assert_eq!(vm_size("nc24rs_v3"), Some(a));
        assert!(vm_size("Standard_Nope").is_none());
    }

    #[test]
    fn quota_families_come_from_the_series_or_the_size() {
        let family = |n: &str| vm_size(n).unwrap().quota_family.as_deref();
        // The sizes the shipped recipes use.
        assert_eq!(family("Standard_D2s_v5"), Some("standardDSv5Family"));
        assert_eq!(family("Standard_HB120rs_v3"), Some("standardHBv3Family"));
        assert_eq!(
            family("Standard_NC4as_T4_v3"),
            Some("Standard NCASv3_T4 Family")
        );
        // Dv3 mixes families: the `s` sizes count against DSv3, the others are not recorded.
        assert_eq!(family("Standard_D2s_v3"), Some("standardDSv3Family"));
        assert_eq!(family("Standard_D2_v3"), None);
    }

    #[test]
    fn gpu_and_rdma_facts() {
        let t4 = vm_size("Standard_NC64as_T4_v3").unwrap();
        let gpu = t4.gpu.as_ref().unwrap();
        assert_eq!(
            (gpu.count, gpu.model.as_str(), gpu.kind),
            (4, "Tesla T4", GpuKind::Compute)
        );
        assert_eq!(t4.rdma, Rdma::None);

        let a10 = vm_size("Standard_NV6ads_A10_v5").unwrap();
        assert_eq!(a10.gpu.as_ref().unwrap().kind, GpuKind::Visualization);
        assert_eq!(a10.gpu.as_ref().unwrap().share.as_deref(), Some("1/6"));

        assert_eq!(
            vm_size("Standard_H16r").unwrap().rdma,
            Rdma::NetworkDirect { gbps: 56 }
        );
        assert_eq!(vm_size("Standard_H16").unwrap().rdma, Rdma::None);
        assert_eq!(
            vm_size("Standard_ND96isr_H100_v5").unwrap().rdma,
            Rdma::SriovInfiniband { gbps: 3200 }
        );
        // Shipyard misfiled ND40rs_v2 as NetworkDirect; it is SR-IOV.
        assert!(matches!(
            vm_size("Standard_ND40rs_v2").unwrap().rdma,
            Rdma::SriovInfiniband { .. }
        ));
        assert!(!vm_size("Standard_HB120rs_v3").unwrap().has_gpu());
        assert_eq!(
            vm_size("Standard_NC24ads_A100_v4").unwrap().generation,
            Generation::Gen2Only
        );
        assert_eq!(
            vm_size("Standard_NC6").unwrap().retired.as_deref(),
            Some("2023-09-06")
        );
        // Eight HCAs on the 8-GPU ND sizes, one on the HB/HC/HX sizes.
        for n in [
            "Standard_ND96asr_v4",
            "Standard_ND96isr_H100_v5",
            "Standard_ND96isr_H200_v5",
        ] {
            assert_eq!(vm_size(n).unwrap().ib_devices, 8, "{n}");
        }
        assert_eq!(vm_size("Standard_HB120rs_v3").unwrap().ib_devices, 1);
        assert_eq!(vm_size("Standard_NC4as_T4_v3").unwrap().ib_devices, 0);
    }
}
