//! Shipyard's data movement → the recipe's `storage`, `inputs` and `outputs`.
//!
//! - `input_data.azure_storage` (blobxfer downloads on the node) → `inputs: [{blob: PREFIX}]`
//!   from the recipe's storage container;
//! - `output_data.azure_storage` → `outputs` (Batch output files, as Shipyard's native
//!   pools had them: `convoy/data.py:_process_storage_output_data` makes an `OutputFile`
//!   with `LOCAL_PATH/INCLUDE`, `**/*` when there is no include);
//! - `global_resources.files` to Azure Storage (`shipyard data ingress`) → local inputs:
//!   a task input that reads what the ingress uploaded becomes `{local: ...}`, uploaded by
//!   `apply` itself;
//! - the `file` task factory → a `blobs` factory (or a `files` factory over the ingressed
//!   folder), in [`crate::factory`].
//!
//! A recipe has one storage container; the first one Shipyard's data names becomes it.

use crate::ctx::Ctx;
use crate::doc::V;
use crate::emit::{Item, Map, Y, item, s};

/// The storage account and container the recipe's `storage` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageUse {
    /// `credentials.storage.<link>`.
    pub link: String,
    pub container: String,
}

/// A `global_resources.files` entry bound for Azure Storage.
#[derive(Debug, Clone)]
struct Ingress {
    link: String,
    container: String,
    /// The folder in the container, without slashes at either end.
    dir: String,
    /// The local path as the recipe writes it (relative to the recipe).
    local: String,
    include: Vec<String>,
}

/// What the data converters read: the credentials (for account names) and the ingress.
#[derive(Default)]
pub struct Data<'a> {
    creds: Option<V<'a>>,
    ingress: Vec<Ingress>,
}

/// The recipe level a data key is on, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Pool,
    Job,
    Task,
}

impl<'a> Data<'a> {
    /// Reads `global_resources.files`; entries that copy to a shared data volume over SSH
    /// cannot come across and are reported.
    pub fn read(ctx: &mut Ctx, global: Option<&V<'a>>, creds: Option<V<'a>>) -> Self {
        let mut out = Data {
            creds,
            ingress: Vec::new(),
        };
        let Some(files) = global.and_then(|g| g.get("files")) else {
            return out;
        };
        for f in files.items() {
            let Some(dest) = f.get("destination") else {
                continue;
            };
            let source = f.get("source");
            let path = source
                .as_ref()
                .and_then(|x| x.get("path"))
                .and_then(|v| v.text())
                .unwrap_or_default();
            if let Some(vol) = dest.get("shared_data_volume").and_then(|v| v.text()) {
                ctx.error(
                    &f,
                    format!("data ingress of `{path}` to the shared data volume `{vol}` copies over SSH to the nodes (scp/rsync) and cannot come across"),
                    Some("inputs: [{local: ...}] on the job, uploaded by apply and downloaded by each task"),
                );
                continue;
            }
            let Some(link) = dest.get("storage_account_settings").and_then(|v| v.text()) else {
                ctx.error(
                    &dest,
                    "data ingress without a storage destination cannot come across",
                    None,
                );
                continue;
            };
            let xfer = dest.get("data_transfer");
            let remote = xfer
                .as_ref()
                .and_then(|x| x.get("remote_path"))
                .and_then(|v| v.text())
                .unwrap_or_default();
            if xfer
                .as_ref()
                .and_then(|x| x.get("is_file_share"))
                .and_then(|v| v.bool())
                == Some(true)
            {
                ctx.error(
                    &dest,
                    format!("data ingress of `{path}` to the Azure Files share `{remote}` cannot come across: batchyard uploads local inputs to blob storage"),
                    Some("inputs: [{local: ...}] (blob storage), or mount the share with the pool's `mounts: [{azure_files: ...}]`"),
                );
                continue;
            }
            if let Some(eo) = xfer
                .as_ref()
                .and_then(|x| x.get("blobxfer_extra_options"))
                .filter(|v| v.text().is_some_and(|t| !t.trim().is_empty()))
            {
                ctx.warn(&eo, "blobxfer options are not carried over", None);
            }
            let (container, dir) = split_remote(&remote);
            let local = local_name(&path);
            let include: Vec<String> = source
                .as_ref()
                .and_then(|x| x.get("include"))
                .map(|v| v.items().iter().filter_map(V::text).collect())
                .unwrap_or_default();
            if let Some(ex) = source.as_ref().and_then(|x| x.get("exclude")) {
                ctx.warn(&ex, "exclude filters of data ingress are not carried over: every file of the folder (or of its include patterns) is uploaded", Some("keep only the wanted files in the folder, or an include glob"));
            }
            let shown = if local == path {
                format!("`{local}`")
            } else {
                format!(
                    "`{path}` (now `{local}`, relative to the recipe: put or link that folder beside it)"
                )
            };
            ctx.warn(
                &f,
                format!("data ingress of {shown} is not a separate step: the tasks that read `{remote}` get it as a local input that `apply` uploads (once per content)"),
                Some("inputs: [{local: ...}]"),
            );
            out.ingress.push(Ingress {
                link,
                container,
                dir,
                local,
                include,
            });
        }
        out
    }

    /// The ingress entry that uploaded `container/dir` of `link`.
    fn ingressed(&self, link: &str, container: &str, dir: &str) -> Option<&Ingress> {
        self.ingress
            .iter()
            .find(|i| i.link == link && i.container == container && i.dir == dir)
    }

    /// `input_data` of a pool, job or task → recipe inputs.
    pub fn inputs(&self, ctx: &mut Ctx, input_data: &V<'_>, level: Level) -> Vec<Item> {
        let mut out = Vec::new();
        if let Some(ab) = input_data.get("azure_batch") {
            ctx.error(
                &ab,
                "input data from another job's task (azure_batch) is copied from that task's node, which Batch cannot do",
                Some("have that task upload its files with `outputs` and read them here with `inputs: [{blob: outputs/JOB/TASK/}]`"),
            );
        }
        for x in input_data
            .get("azure_storage")
            .map(|v| v.items())
            .unwrap_or_default()
        {
            if let Some(i) = self.input(ctx, &x, level) {
                out.push(i);
            }
        }
        out
    }

    fn input(&self, ctx: &mut Ctx, x: &V<'_>, level: Level) -> Option<Item> {
        let StorageLocation {
            link,
            remote,
            file_share,
        } = StorageLocation::read(x);
        if file_share {
            ctx.error(
                x,
                format!("input data from the Azure Files share `{remote}` cannot come across: Batch resource files come from blob storage or URLs"),
                Some("mount the share with the pool's `mounts: [{azure_files: ...}]`"),
            );
            return None;
        }
        let (container, dir) = split_remote(&remote);
        let mut m = Map::new();
        let from = if let Some(ing) = self.ingressed(&link, &container, &dir) {
            claim_for_uploads(ctx, ing);
            let local = ingress_glob(ing);
            m.set("local", s(&local)).comment(format!(
                "Shipyard: data ingress to {remote}, then input_data from it."
            ));
            format!("the local `{local}`")
        } else {
            if !self.claim(ctx, x, &link, &container) {
                return None;
            }
            let prefix = if dir.is_empty() {
                String::new()
            } else {
                format!("{dir}/")
            };
            m.set("blob", s(&prefix))
                .comment(format!("Shipyard: input_data from {remote}."));
            format!("the blobs under `{remote}`")
        };
        let local_path = x.get("local_path").and_then(|v| v.text());
        if let Some(lp) = &local_path {
            let (to, moved) = node_relative(lp);
            if !to.is_empty() {
                m.set("to", s(format!("{to}/")));
            }
            if moved && let Some(v) = x.get("local_path") {
                ctx.warn(&v, format!("Shipyard downloaded {from} to `{lp}`; Batch puts a task's inputs in its working directory, at `{}` there", if to.is_empty() { "." } else { &to }), Some("read the files relative to the task's working directory"));
            }
        }
        if m.get("blob").is_some() {
            let include = patterns(x.get("include"));
            match (pure_prefix(&include), x.get("include")) {
                // `name*` is the blob prefix `DIR/name`, which Batch filters by itself.
                (Some(more), _) => {
                    let narrowed = match m.get("blob") {
                        Some(Y::Str(p)) => format!("{p}{more}"),
                        _ => more,
                    };
                    m.set("blob", s(narrowed));
                }
                (None, Some(v)) if !include.is_empty() => {
                    ctx.warn(&v, format!("include filters of input data are not applied: every blob under `{remote}` is downloaded (a Batch resource file takes one blob prefix, no pattern)"), Some("a prefix that holds only the wanted blobs, or an include of the form `name*`"));
                }
                _ => {}
            }
            if let Some(v) = x.get("exclude") {
                ctx.warn(&v, format!("exclude filters of input data are not applied: every blob under `{remote}` is downloaded (a Batch resource file takes one blob prefix, no pattern)"), Some("a prefix that holds only the wanted blobs"));
            }
        }
        if let Some(v) = x
            .get("blobxfer_extra_options")
            .filter(|v| v.text().is_some_and(|t| !t.trim().is_empty()))
        {
            ctx.warn(&v, "blobxfer options are not carried over", None);
        }
        match level {
            Level::Job => ctx.warn(
                x,
                "Shipyard downloaded the job's input data once per node (job preparation); batchyard gives it to each task of the job",
                None,
            ),
            Level::Pool => ctx.warn(
                x,
                "Shipyard downloaded the pool's input data once per node as it started; batchyard gives it to every job, so each task downloads it",
                None,
            ),
            Level::Task => {}
        }
        Some(item(Y::Map(m)))
    }

    /// `output_data` of a task → recipe outputs. Outputs go to `outputs/JOB/TASK/` in the
    /// recipe's container, where `batchyard outputs` finds them.
    pub fn outputs(&self, ctx: &mut Ctx, output_data: &V<'_>) -> Vec<Item> {
        let mut out = Vec::new();
        for x in output_data
            .get("azure_storage")
            .map(|v| v.items())
            .unwrap_or_default()
        {
            let StorageLocation {
                link,
                remote,
                file_share,
            } = StorageLocation::read(&x);
            if file_share {
                ctx.error(
                    &x,
                    format!("output data to the Azure Files share `{remote}` cannot come across: Batch output files go to blob storage"),
                    Some("outputs: [...] (blob storage)"),
                );
                continue;
            }
            let (container, _) = split_remote(&remote);
            if !self.claim(ctx, &x, &link, &container) {
                continue;
            }
            let base = x
                .get("local_path")
                .and_then(|v| v.text())
                .map(|lp| node_relative(&lp).0)
                .unwrap_or_default();
            let includes: Vec<String> = x
                .get("include")
                .map(|v| v.items().iter().filter_map(V::text).collect())
                .unwrap_or_default();
            let patterns = if includes.is_empty() {
                vec!["**/*".to_owned()]
            } else {
                includes
            };
            let when = match x.get("condition").and_then(|v| v.text()).as_deref() {
                Some("tasksuccess") => Some("success"),
                Some("taskfailure") => Some("failure"),
                _ => None,
            };
            for p in patterns {
                let mut m = Map::new();
                let pattern = if base.is_empty() {
                    p.clone()
                } else {
                    format!("{base}/{p}")
                };
                m.set("pattern", s(&pattern))
                    .comment(format!("Shipyard: output_data to {remote}."));
                if let Some(w) = when {
                    m.set("when", s(w));
                }
                out.push(item(Y::Map(m)));
            }
            ctx.warn(
                &x,
                format!("results go to `outputs/JOB/TASK/` in the container `{container}` instead of `{remote}`; `batchyard outputs JOB` downloads them"),
                None,
            );
            if let Some(v) = x.get("exclude") {
                ctx.warn(
                    &v,
                    "exclude filters of output data are not carried over (Batch output files have none; Shipyard's native pools refused them too)",
                    Some("include patterns that match only the wanted files"),
                );
            }
            if let Some(v) = x
                .get("blobxfer_extra_options")
                .filter(|v| v.text().is_some_and(|t| !t.trim().is_empty()))
            {
                ctx.warn(&v, "blobxfer options are not carried over", None);
            }
        }
        out
    }

    /// The `file` task factory over `azure_storage` → the factory mapping, the input that
    /// gives each task its file, and what Shipyard's command placeholders become.
    pub fn file_factory(&self, ctx: &mut Ctx, file: &V<'_>) -> Option<FileFactory> {
        let Some(az) = file.get("azure_storage") else {
            ctx.error(file, "the `file` task factory has no azure_storage", None);
            return None;
        };
        let StorageLocation {
            link,
            remote,
            file_share,
        } = StorageLocation::read(&az);
        if file_share {
            ctx.error(
                &az,
                format!("the `file` task factory over the Azure Files share `{remote}` cannot come across: batchyard lists blob containers"),
                Some("factory: {blobs: {prefix: ...}} over a blob container"),
            );
            return None;
        }
        let (container, dir) = split_remote(&remote);
        let filepath = file
            .get("task_filepath")
            .and_then(|v| v.text())
            .unwrap_or_else(|| "file_path".into());
        let mut f = Map::new();
        let (path, name, stem, full) = if let Some(ing) = self.ingressed(&link, &container, &dir) {
            // The ingressed folder is local: one task per local file, uploaded by apply.
            claim_for_uploads(ctx, ing);
            let mut g = Map::new();
            g.set("glob", s(factory_glob(ing)));
            f.set("files", Y::Map(g)).comment(format!(
                "Shipyard: a `file` factory over {remote}, which data ingress filled from this folder."
            ));
            ("item.path", "item.name", "item.stem", "item.path")
        } else {
            if !self.claim(ctx, &az, &link, &container) {
                return None;
            }
            let mut b = Map::new();
            b.set(
                "prefix",
                s(if dir.is_empty() {
                    String::new()
                } else {
                    format!("{dir}/")
                }),
            );
            f.set("blobs", Y::Map(b))
                .comment(format!("Shipyard: a `file` factory over {remote}."));
            ("item.blob", "item.name", "item.stem", "item.blob")
        };
        if f.get("blobs").is_some() {
            // The blob factory takes both filters, matched as blobxfer does (fnmatch on the
            // name below the prefix), when the plan lists the container.
            if let Some(Y::Map(b)) = f.get_mut("blobs") {
                for key in ["include", "exclude"] {
                    let patterns = patterns(az.get(key));
                    if !patterns.is_empty() {
                        b.set(
                            key,
                            Y::Seq(patterns.into_iter().map(|p| item(s(p))).collect()),
                        );
                    }
                }
            }
        } else {
            // The local folder's factory is one glob: an include narrows it (above); an
            // exclude has no place in a glob.
            if let Some(v) = az.get("exclude") {
                ctx.warn(&v, format!("exclude filters of the `file` factory over an ingressed folder are not applied: one task per file under `{remote}`"), Some("an include glob, or a folder that holds only the wanted files"));
            }
            if let Some(v) = az.get("include")
                && v.items().len() > 1
            {
                ctx.warn(&v, "only one include filter of the `file` factory over an ingressed folder can be its glob: every file of the folder is a task", Some("one include glob"));
            }
        }
        let expr = |e: &str| format!("{{{{ {e} }}}}");
        let with_container = format!("{container}/{}", expr(full));
        let node = match filepath.as_str() {
            "file_name" => expr(name),
            "file_name_no_extension" => expr(stem),
            "file_path_with_container" => with_container.clone(),
            _ => expr(path),
        };
        let mut input = Map::new();
        if f.get("files").is_some() {
            input.set("local", Y::Template(expr("item.path")));
        } else {
            input.set("blob", Y::Template(expr("item.blob")));
        }
        input
            .set("to", Y::Template(node.clone()))
            .comment(format!("Shipyard: task_filepath {filepath}."));
        let named = vec![
            ("url", node),
            ("file_path", expr(path)),
            ("file_path_with_container", with_container),
            ("file_name", expr(name)),
            ("file_name_no_extension", expr(stem)),
        ];
        Some(FileFactory {
            factory: f,
            input: item(Y::Map(input)),
            named,
        })
    }

    /// Makes `link`/`container` the recipe's storage, unless another container already is.
    fn claim(&self, ctx: &mut Ctx, v: &V<'_>, link: &str, container: &str) -> bool {
        let wanted = StorageUse {
            link: link.to_owned(),
            container: container.to_owned(),
        };
        match &ctx.storage {
            None => {
                ctx.storage = Some(wanted);
                true
            }
            Some(have) if *have == wanted => true,
            Some(have) => {
                ctx.error(
                    v,
                    format!("data in a second storage container (`{container}` of `{link}`) cannot come across: a recipe has one storage container, here `{}` of `{}`", have.container, have.link),
                    Some("copy the data into the recipe's container and read it with inputs: [{blob: ...}]"),
                );
                false
            }
        }
    }

    /// The recipe's `storage` section for what the data converters claimed.
    pub fn storage(&self, ctx: &mut Ctx) -> Option<Map> {
        let used = ctx.storage.clone()?;
        let st = self
            .creds
            .as_ref()
            .and_then(|c| c.get("storage"))
            .and_then(|st| st.get(&used.link));
        let text = |k: &str| st.as_ref().and_then(|x| x.get(k)).and_then(|v| v.text());
        let account = text("account").unwrap_or_else(|| used.link.clone());
        let endpoint = text("endpoint").unwrap_or_else(|| "core.windows.net".into());
        let mut m = Map::new();
        m.set(
            "account_url",
            s(format!("https://{account}.blob.{endpoint}")),
        )
        .comment(format!(
            "Shipyard: credentials.storage.{} (the account its input_data, output_data and data ingress used).",
            used.link
        ));
        m.set("container", s(&used.container));
        let (key, _) = crate::volumes::account_key(ctx, st.as_ref(), &used.link);
        m.set("key", key)
            .comment("The key itself is not copied: set the variable.");
        Some(m)
    }
}

/// Local inputs need the recipe's storage, whichever container it is: the ingress's own
/// account and container when no other is claimed yet.
fn claim_for_uploads(ctx: &mut Ctx, ing: &Ingress) {
    if ctx.storage.is_none() {
        ctx.storage = Some(StorageUse {
            link: ing.link.clone(),
            container: ing.container.clone(),
        });
    }
}

/// What a `file` factory became.
pub struct FileFactory {
    pub factory: Map,
    pub input: Item,
    /// Shipyard's command placeholders and their templates.
    pub named: Vec<(&'static str, String)>,
}

/// `container/dir/sub` → (`container`, `dir/sub`).
fn split_remote(remote: &str) -> (String, String) {
    let r = remote.trim_matches('/');
    match r.split_once('/') {
        Some((c, d)) => (c.to_owned(), d.trim_matches('/').to_owned()),
        None => (r.to_owned(), String::new()),
    }
}

/// A local path as a recipe may name it: relative paths stay, an absolute path becomes its
/// last component (the folder to put beside the recipe).
fn local_name(path: &str) -> String {
    let p = path.trim_end_matches('/');
    if p.starts_with('/') || p.contains(":\\") || p.starts_with('~') || p.contains("..") {
        p.rsplit(['/', '\\'])
            .find(|c| !c.is_empty() && *c != "..")
            .unwrap_or("data")
            .to_owned()
    } else {
        p.trim_start_matches("./").to_owned()
    }
}

/// The patterns of a Shipyard `include` or `exclude` (a list, or one string).
fn patterns(v: Option<V<'_>>) -> Vec<String> {
    let Some(v) = v else {
        return Vec::new();
    };
    let items = v.items();
    if items.is_empty() {
        v.text().into_iter().collect()
    } else {
        items.iter().filter_map(V::text).collect()
    }
}

/// The blob prefix one include filter stands for: `name*` (no other wildcard) matches
/// exactly the blobs whose name starts with `name`.
fn pure_prefix(include: &[String]) -> Option<String> {
    let [one] = include else {
        return None;
    };
    let head = one.strip_suffix('*')?;
    (!head.is_empty() && !head.contains(['*', '?', '[', ']'])).then(|| head.to_owned())
}

/// The local input of an ingress: its folder, narrowed to its one include pattern.
fn ingress_glob(ing: &Ingress) -> String {
    match ing.include.as_slice() {
        [one] => format!("{}/{one}", ing.local),
        _ => ing.local.clone(),
    }
}

/// The files of an ingress, one factory item each (Shipyard listed the folder recursively).
fn factory_glob(ing: &Ingress) -> String {
    match ing.include.as_slice() {
        [one] => format!("{}/{one}", ing.local),
        _ => format!("{}/**/*", ing.local),
    }
}

/// A node path (`$AZ_BATCH_TASK_WORKING_DIR/x`, `/mnt/x`) relative to the task's working
/// directory, and whether that moved it (it was not under the working directory).
fn node_relative(path: &str) -> (String, bool) {
    for root in [
        "$AZ_BATCH_TASK_WORKING_DIR",
        "${AZ_BATCH_TASK_WORKING_DIR}",
        "%AZ_BATCH_TASK_WORKING_DIR%",
    ] {
        if let Some(rest) = path.strip_prefix(root) {
            return (rest.trim_matches(['/', '\\']).to_owned(), false);
        }
    }
    let mut parts: Vec<&str> = path
        .split(['/', '\\'])
        .filter(|c| !c.is_empty() && *c != "." && *c != "..")
        .collect();
    let moved = path.starts_with(['/', '\\', '$', '%']);
    if parts
        .first()
        .is_some_and(|c| c.starts_with('$') || c.starts_with('%'))
    {
        parts.remove(0);
    }
    (parts.join("/"), moved)
}

/// Where one Shipyard `azure_storage` entry points: the storage account settings it names,
/// its container path, and whether that path is an Azure Files share.
struct StorageLocation {
    link: String,
    remote: String,
    file_share: bool,
}

impl StorageLocation {
    fn read(entry: &V<'_>) -> Self {
        let text = |key: &str| entry.get(key).and_then(|v| v.text()).unwrap_or_default();
        StorageLocation {
            link: text("storage_account_settings"),
            remote: text("remote_path"),
            file_share: entry.get("is_file_share").and_then(|v| v.bool()) == Some(true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_paths_split_into_container_and_folder() {
        assert_eq!(split_remote("c/dir/sub/"), ("c".into(), "dir/sub".into()));
        assert_eq!(split_remote("c"), ("c".into(), String::new()));
    }

    #[test]
    fn node_paths_become_relative_to_the_working_directory() {
        assert_eq!(
            node_relative("$AZ_BATCH_TASK_WORKING_DIR/taskdata"),
            ("taskdata".into(), false)
        );
        assert_eq!(
            node_relative("$AZ_BATCH_NODE_SHARED_DIR/jobdata"),
            ("jobdata".into(), true)
        );
        assert_eq!(node_relative("/mnt/in"), ("mnt/in".into(), true));
        assert_eq!(node_relative("in"), ("in".into(), false));
    }

    #[test]
    fn absolute_local_paths_become_a_folder_beside_the_recipe() {
        assert_eq!(local_name("/some/local/path/dir/"), "dir");
        assert_eq!(local_name("./data"), "data");
        assert_eq!(local_name("../x/y"), "y");
    }
}
