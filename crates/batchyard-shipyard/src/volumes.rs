//! Shipyard's shared data volumes and per-job auto scratch → pool `mounts:` and the binds
//! that make them visible to tasks at the paths Shipyard gave them.

use std::collections::BTreeMap;

use crate::ctx::Ctx;
use crate::doc::V;
use crate::emit::{Item, Map, Y, item, s};

/// The template variable that names the NFS export standing in for auto scratch.
pub const SCRATCH_VAR: &str = "auto_scratch_nfs";
/// The mount directory of that export, under `$AZ_BATCH_NODE_MOUNTS_DIR`.
pub const SCRATCH_DIR: &str = "auto_scratch";

/// A shared data volume that Batch mounts on the pool.
#[derive(Debug, Clone)]
pub struct Mounted {
    /// The mount directory, relative to `$AZ_BATCH_NODE_MOUNTS_DIR`.
    pub dir: String,
    /// Where Shipyard made it visible inside containers.
    pub container_path: String,
    /// Shipyard's `bind_options` (`ro`, `rw`).
    pub bind: Option<String>,
}

/// What became of each shared data volume of `global_resources.volumes`.
#[derive(Debug, Default)]
pub struct Volumes {
    pub mounted: BTreeMap<String, Mounted>,
    /// Volumes that cannot come across, with their `volume_driver`.
    pub unsupported: BTreeMap<String, String>,
    /// The pool's `mounts:` entries.
    pub mounts: Vec<Item>,
}

/// Reads `global_resources.volumes.shared_data_volumes`: Azure Blob and Azure Files volumes
/// become Batch mounts (Shipyard mounted them on every node of the pool too); the storage
/// account key becomes an `{env: ...}` reference.
pub fn convert(ctx: &mut Ctx, global: Option<&V<'_>>, creds: Option<&V<'_>>) -> Volumes {
    let mut out = Volumes::default();
    let Some(sdv) = global
        .and_then(|g| g.get("volumes"))
        .and_then(|v| v.get("shared_data_volumes"))
    else {
        return out;
    };
    for (name, def) in sdv.entries() {
        let driver = def
            .get("volume_driver")
            .and_then(|v| v.text())
            .unwrap_or_default();
        let container_path = def
            .get("container_path")
            .and_then(|v| v.text())
            .unwrap_or_default();
        let bind = def.get("bind_options").and_then(|v| v.text());
        let dir = mount_dir(&name);
        let options: Vec<String> = def
            .get("mount_options")
            .map(|o| o.items())
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v.text())
            .collect();
        let mount = match driver.as_str() {
            "azureblob" | "azurefile" => {
                let link = def
                    .get("storage_account_settings")
                    .and_then(|v| v.text())
                    .unwrap_or_default();
                let storage = creds
                    .and_then(|c| c.get("storage"))
                    .and_then(|st| st.get(&link));
                let account = storage
                    .as_ref()
                    .and_then(|st| st.get("account"))
                    .and_then(|v| v.text())
                    .unwrap_or_else(|| link.clone());
                let (key, var) = account_key(ctx, storage.as_ref(), &link);
                let mut m = Map::new();
                m.set("account", s(&account));
                let kind = if driver == "azureblob" {
                    let container = def
                        .get("azure_blob_container_name")
                        .and_then(|v| v.text())
                        .unwrap_or_default();
                    m.set("container", s(container));
                    m.set("path", s(&dir));
                    m.set("key", key)
                        .comment("The key itself is not copied: set the variable.");
                    if !options.is_empty() {
                        m.set("options", s(options.join(" ")))
                            .comment("Shipyard: mount_options (blobfuse options).");
                    }
                    "azure_blob"
                } else {
                    let share = def
                        .get("azure_file_share_name")
                        .and_then(|v| v.text())
                        .unwrap_or_default();
                    let endpoint = storage
                        .as_ref()
                        .and_then(|st| st.get("endpoint"))
                        .and_then(|v| v.text())
                        .unwrap_or_else(|| "core.windows.net".into());
                    m.set(
                        "url",
                        s(format!("https://{account}.file.{endpoint}/{share}")),
                    );
                    m.set("path", s(&dir));
                    m.set("key", key)
                        .comment("The key itself is not copied: set the variable.");
                    if !options.is_empty() {
                        m.set("options", s(format!("-o {}", options.join(","))))
                            .comment("Shipyard: mount_options (cifs options).");
                    }
                    "azure_files"
                };
                let how = if driver == "azureblob" {
                    "blobfuse"
                } else {
                    "SMB"
                };
                ctx.warn(
                    &def,
                    format!(
                        "`{name}` ({driver}) is mounted by Batch ({how}) on every node at $AZ_BATCH_NODE_MOUNTS_DIR/{dir} instead of Shipyard's own mount; tasks that use it see it at `{container_path}` as before. The account key comes from {var} at apply time"
                    ),
                    Some("pools[].mounts"),
                );
                let mut entry = Map::new();
                entry.set(kind, Y::Map(m)).comment(format!(
                    "Shipyard: shared data volume `{name}` ({driver}), bound into tasks at {container_path}."
                ));
                Some(entry)
            }
            "glusterfs_on_compute" => {
                ctx.error(&def, format!("`{name}`: glusterfs_on_compute (a GlusterFS volume built on the pool's own nodes) has no Batch equivalent"), Some("an Azure Files NFS share (or another NFS server) mounted with the pool's `mounts: [{nfs: {source: ..., path: ...}}]`, bound into the tasks with container_options -v"));
                out.unsupported.insert(name.clone(), driver.clone());
                None
            }
            other => {
                ctx.warn(&def, format!("`{name}` ({other}) is not mounted: batchyard mounts Azure Blob, Azure Files and NFS file systems only; jobs that use it are reported as errors"), Some("an NFS export of the file server in the pool's `mounts: [{nfs: ...}]`"));
                out.unsupported.insert(name.clone(), driver.clone());
                None
            }
        };
        if let Some(entry) = mount {
            out.mounts.push(item(Y::Map(entry)));
            out.mounted.insert(
                name,
                Mounted {
                    dir,
                    container_path,
                    bind,
                },
            );
        }
    }
    out
}

/// `{env: STORAGE_KEY_<LINK>}` (or the Key Vault secret Shipyard read), and how to name it.
pub(crate) fn account_key(ctx: &mut Ctx, storage: Option<&V<'_>>, link: &str) -> (Y, String) {
    let mut sec = Map::new();
    if let Some(kv) = storage
        .and_then(|st| st.get("account_key_keyvault_secret_id"))
        .and_then(|v| v.text())
    {
        sec.set("keyvault", s(&kv));
        return (Y::Map(sec), format!("the Key Vault secret {kv}"));
    }
    let var = format!("STORAGE_KEY_{}", upper(link));
    sec.set("env", s(&var));
    ctx.env(
        &var,
        format!(
            "key of storage account `{link}` (Shipyard: credentials.storage.{link}.account_key)"
        ),
    );
    (Y::Map(sec), var)
}

fn upper(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// A mount directory from a volume name: Batch wants a plain relative path.
fn mount_dir(name: &str) -> String {
    let dir: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if dir.is_empty() || dir.starts_with('.') {
        format!("v{dir}")
    } else {
        dir
    }
}

/// The pool mount standing in for auto scratch: an NFS export the user names.
pub fn scratch_mount() -> Item {
    let mut m = Map::new();
    m.set("source", Y::Template(format!("{{{{ {SCRATCH_VAR} }}}}")))
        .comment(format!(
            "Set with --var {SCRATCH_VAR}=ACCOUNT.file.core.windows.net:/ACCOUNT/SHARE (an Azure Files NFS share reachable from the pool's subnet)."
        ));
    m.set("path", s(SCRATCH_DIR));
    m.set("options", s("-o vers=4,minorversion=1,sec=sys"));
    let mut entry = Map::new();
    entry.set("nfs", Y::Map(m)).comment(
        "Stands in for Shipyard's per-job auto scratch (BeeOND): one directory per job on a shared NFS export.",
    );
    item(Y::Map(entry))
}

/// The host directory of a job's scratch and where Shipyard showed it to the job's tasks.
pub fn scratch_bind(job_id: &str) -> (String, String) {
    (
        format!("$AZ_BATCH_NODE_MOUNTS_DIR/{SCRATCH_DIR}/{job_id}"),
        "$AZ_BATCH_TASK_DIR/auto_scratch".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_dirs_are_plain_relative_paths() {
        assert_eq!(mount_dir("azureblob_vol"), "azureblob_vol");
        assert_eq!(mount_dir("my vol/x"), "my_vol_x");
        assert_eq!(mount_dir(".."), "v..");
        assert_eq!(mount_dir(""), "v");
    }
}
