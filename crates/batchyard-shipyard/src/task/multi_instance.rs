//! `multi_instance`: Shipyard's `mpi` block becomes batchyard's MPI launcher; a hand-written
//! multi-instance command keeps Batch's raw multi-instance settings.

use crate::apptainer;
use crate::ctx::Ctx;
use crate::doc::V;
use crate::emit::{Map, Y, item, s};
use crate::jobs::JobsCtx;
use crate::pool::resource_files;

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

pub(super) fn convert(
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
