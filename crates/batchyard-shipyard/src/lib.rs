//! Import of Batch Shipyard config sets into batchyard recipes.
//!
//! [`import`] reads a config set directory (credentials, config, pool and jobs files),
//! checks every file against Shipyard's own schemas, and writes a v1 recipe as commented
//! YAML. Every Shipyard key that cannot come across as it was is a [`Finding`] with its file,
//! key path and line; secrets become `{env: NAME}` references listed in [`Imported::env`].
//! [`import_from_texts`] does the same from file contents (for fuzzing and tests).

mod apptainer;
mod ctx;
mod data;
mod doc;
mod emit;
mod factory;
mod finding;
mod ids;
mod jobs;
mod pool;
mod schema;
mod task;
mod volumes;

use std::path::{Path, PathBuf};

pub use finding::{EnvVar, Finding, Severity};

use crate::ctx::Ctx;
use crate::doc::Doc;
use crate::emit::{Map, Y, item, s};
use crate::ids::AutoId;

/// The outcome of an import.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The recipe as commented YAML, ready to write to a file.
    pub recipe: String,
    /// One entry per Shipyard key that did not come across as it was (warnings and errors),
    /// in file order.
    pub findings: Vec<Finding>,
    /// Environment variables to set before applying the recipe (secret values are never
    /// written into it).
    pub env: Vec<EnvVar>,
}

impl Imported {
    /// Whether part of the workload cannot run as Shipyard ran it.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(Finding::is_error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| !f.is_error())
    }

    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.is_error())
    }
}

/// Why nothing could be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("{dir} holds no Shipyard pool file (pool.yaml, pool.yml or pool.json)")]
    NoPool { dir: String },
    #[error("{file}:{line}: invalid YAML: {message}")]
    Syntax {
        file: String,
        line: usize,
        message: String,
    },
    #[error("the config set does not pass Shipyard's own schema ({} problems):\n{}", .0.len(), list(.0))]
    Invalid(Vec<Finding>),
}

fn list(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| format!("  {f}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Settings of an import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The recipe name; default: derived from the directory's name.
    pub name: Option<String>,
    /// Jobs files to read instead of the default (every `jobs*.yaml` / `.yml` / `.json` in the
    /// directory, `jobs.yaml` first). Jobs with the same id across files are merged, as
    /// repeated `shipyard jobs add` runs would add tasks to the same job.
    pub jobs_files: Vec<PathBuf>,
}

const KINDS: [&str; 8] = [
    "credentials",
    "config",
    "pool",
    "jobs",
    "fs",
    "monitor",
    "federation",
    "slurm",
];

/// Reads and imports the config set in `dir`.
pub fn import(dir: &Path, options: &ImportOptions) -> Result<Imported, ImportError> {
    let mut files: Vec<(String, String)> = Vec::new();
    let mut names: Vec<String> = fs_err::read_dir(dir)?
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .collect();
    names.sort();
    for kind in KINDS {
        if kind == "jobs" {
            continue;
        }
        // Shipyard tries .yaml, then .yml, then .json.
        if let Some(name) = ["yaml", "yml", "json"]
            .iter()
            .map(|ext| format!("{kind}.{ext}"))
            .find(|n| names.contains(n))
        {
            files.push((name.clone(), fs_err::read_to_string(dir.join(&name))?));
        }
    }
    if options.jobs_files.is_empty() {
        let mut jobs: Vec<&String> = names
            .iter()
            .filter(|n| {
                n.starts_with("jobs") && [".yaml", ".yml", ".json"].iter().any(|e| n.ends_with(e))
            })
            .collect();
        jobs.sort_by_key(|n| (!n.starts_with("jobs."), n.as_str()));
        for name in jobs {
            files.push((name.clone(), fs_err::read_to_string(dir.join(name))?));
        }
    } else {
        for path in &options.jobs_files {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("jobs.yaml")
                .to_owned();
            files.push((name, fs_err::read_to_string(path)?));
        }
    }
    let name = options.name.clone().unwrap_or_else(|| {
        // `recipes/TensorFlow-GPU/config/docker` → `TensorFlow-GPU-docker`: the meaningful
        // parts of the usual Shipyard layout.
        let parts: Vec<String> = dir
            .components()
            .filter_map(|c| c.as_os_str().to_str().map(str::to_owned))
            .filter(|c| c != "config" && c != "." && c != "/")
            .collect();
        let tail: Vec<&str> = if dir.ends_with("config") {
            parts.iter().rev().take(1).map(String::as_str).collect()
        } else if parts.len() >= 2 && dir.parent().is_some_and(|p| p.ends_with("config")) {
            parts
                .iter()
                .rev()
                .take(2)
                .map(String::as_str)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect()
        } else {
            parts.iter().rev().take(1).map(String::as_str).collect()
        };
        tail.join("-")
    });
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    convert(&name, &refs).and_then(|i| {
        if i.recipe.is_empty() {
            Err(ImportError::NoPool {
                dir: dir.display().to_string(),
            })
        } else {
            Ok(i)
        }
    })
}

/// Imports a config set given as `(file name, contents)` pairs, such as
/// `("pool.yaml", "...")`. The kind of each file comes from its name (`jobs-tb.yaml` is a
/// jobs file). Never panics on any input.
pub fn import_from_texts(files: &[(&str, &str)]) -> Result<Imported, ImportError> {
    convert("imported", files)
}

fn kind_of(name: &str) -> Option<&'static str> {
    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
    KINDS
        .iter()
        .copied()
        .find(|k| stem == *k || (*k == "jobs" && stem.starts_with("jobs")))
}

fn convert(name: &str, files: &[(&str, &str)]) -> Result<Imported, ImportError> {
    let mut docs: Vec<(&'static str, Doc)> = Vec::new();
    let mut schema_problems = Vec::new();
    let mut ctx = Ctx::default();
    for (file, text) in files {
        let Some(kind) = kind_of(file) else { continue };
        let doc = Doc::parse(file, text)?;
        for f in schema::check(kind, &doc) {
            // The pre-3.9.1 `auto_scratch: true` is still common in old config sets; it is
            // reported, and the auto_scratch finding below says what it means.
            if f.key.ends_with(".auto_scratch") && f.message.contains("not of type 'map'") {
                ctx.findings.push(Finding {
                    severity: Severity::Warning,
                    message: format!("{} (the pre-3.9.1 form `auto_scratch: true`)", f.message),
                    ..f
                });
            } else {
                schema_problems.push(f);
            }
        }
        docs.push((kind, doc));
    }
    if !schema_problems.is_empty() {
        return Err(ImportError::Invalid(schema_problems));
    }
    let find = |k: &str| docs.iter().find(|(kind, _)| *kind == k).map(|(_, d)| d);
    let Some(pool_doc) = find("pool") else {
        return Ok(Imported {
            recipe: String::new(),
            findings: ctx.findings,
            env: ctx.env,
        });
    };
    let root_of = |k: &str, top: &str| find(k).and_then(|d| d.cursor().get(top));
    let config = root_of("config", "batch_shipyard");
    let global = root_of("config", "global_resources");
    let Some(spec) = pool_doc.cursor().get("pool_specification") else {
        return Ok(Imported {
            recipe: String::new(),
            findings: ctx.findings,
            env: ctx.env,
        });
    };

    let mut recipe = Map::new();
    let recipe_name = ids::sanitize_id(name);
    recipe.set("recipe", s(&recipe_name));
    let mut header = vec![
        format!("Imported from the Batch Shipyard config set `{name}` by `batchyard import shipyard`."),
        "Comments say where each setting came from; the import's findings list what did not come across.".into(),
    ];

    // Registries: credentials.docker_registry plus config's additional registries.
    let registries = registries(
        &mut ctx,
        root_of("credentials", "credentials"),
        global.as_ref(),
    );
    if !registries.is_empty() {
        recipe.set("registries", Y::Seq(registries));
    }
    let runtimes = runtimes(&docs);
    let (mut pool_map, info) = pool::convert(&mut ctx, &spec, global.as_ref(), runtimes);
    // A placeholder keeps `pools` ahead of `jobs`; the pool is final once the jobs say which
    // mounts they need.
    recipe.set("pools", Y::Seq(Vec::new()));
    let shared = volumes::convert(
        &mut ctx,
        global.as_ref(),
        root_of("credentials", "credentials").as_ref(),
    );

    let data = data::Data::read(
        &mut ctx,
        global.as_ref(),
        root_of("credentials", "credentials"),
    );
    // Shipyard downloaded the pool's input data to every node as it started; batchyard
    // gives it to every job, whose tasks each download it.
    let pool_inputs = spec
        .get("input_data")
        .map(|v| data.inputs(&mut ctx, &v, data::Level::Pool))
        .unwrap_or_default();
    let jc = jobs::JobsCtx {
        data: &data,
        pool_inputs,
        pool: &info,
        auto_id: auto_id_of(config.as_ref()),
        volumes: global.as_ref().and_then(|g| g.get("volumes")),
        shared: &shared,
    };
    let mut jobs: Vec<(Map, u64)> = Vec::new();
    for (_, d) in docs.iter().filter(|(k, _)| *k == "jobs") {
        for job in d
            .cursor()
            .get("job_specifications")
            .map(|j| j.items())
            .unwrap_or_default()
        {
            jobs::convert(&mut ctx, &jc, &job, &mut jobs);
        }
    }
    let mut mounts = shared.mounts.clone();
    if ctx.scratch_used {
        mounts.push(volumes::scratch_mount());
        ctx.var(
            volumes::SCRATCH_VAR,
            "the NFS export that holds the jobs' auto_scratch directories, such as ACCOUNT.file.core.windows.net:/ACCOUNT/SHARE (an Azure Files NFS share; the pool's network.subnet_id must reach it)",
        );
        let mut vars = Map::new();
        vars.set(volumes::SCRATCH_VAR, s("<set with --var>"));
        recipe.set("variables", Y::Map(vars)).comment(format!(
            "Shipyard's auto_scratch: give the NFS export with --var {}=...",
            volumes::SCRATCH_VAR
        ));
        // Variables read best right under the recipe's name.
        if let Some(at) = recipe.0.iter().position(|e| e.key == "variables") {
            let entry = recipe.0.remove(at);
            recipe.0.insert(1, entry);
        }
    }
    if !mounts.is_empty() {
        pool_map.set("mounts", Y::Seq(mounts));
    }
    if let Some(storage) = data.storage(&mut ctx) {
        // `storage` reads best before the pools, as in the recipe reference.
        recipe.set("storage", Y::Map(storage));
        if let (Some(st), Some(pools)) = (
            recipe.0.iter().position(|e| e.key == "storage"),
            recipe.0.iter().position(|e| e.key == "pools"),
        ) && st > pools
        {
            let entry = recipe.0.remove(st);
            recipe.0.insert(pools, entry);
        }
    }
    recipe.set("pools", Y::Seq(vec![item(Y::Map(pool_map))]));
    if !jobs.is_empty() {
        recipe.set(
            "jobs",
            Y::Seq(jobs.into_iter().map(|(m, _)| item(Y::Map(m))).collect()),
        );
    }
    config_leftovers(&mut ctx, config.as_ref(), global.as_ref(), find("config"));
    for (kind, what) in [
        (
            "fs",
            "remote file systems (storage clusters) are not created",
        ),
        (
            "monitor",
            "the monitoring VM (Prometheus, Grafana) is not created",
        ),
        ("federation", "federations cannot come across"),
        ("slurm", "Slurm on Batch cannot come across"),
    ] {
        if let Some(d) = find(kind) {
            let c = d.cursor();
            if let Some((_, top)) = c.entries().into_iter().next() {
                ctx.warn(
                    &top,
                    what,
                    Some("batchyard works with one Batch account's pools and jobs"),
                );
            }
        }
    }
    if let Some(c) = root_of("credentials", "credentials") {
        header.push(String::new());
        header.push("Credentials are not copied. batchyard reads the Batch account from AZURE_BATCH_ENDPOINT with".into());
        header.push(
            "AZURE_BATCH_ACCOUNT and AZURE_BATCH_ACCESS_KEY, or signs in with Microsoft Entra ID."
                .into(),
        );
        if c.get("batch").is_some() {
            ctx.env(
                "AZURE_BATCH_ENDPOINT",
                "the Batch account URL (Shipyard: credentials.batch.account_service_url)",
            );
            if c.get("batch").and_then(|b| b.get("account_key")).is_some() {
                ctx.env("AZURE_BATCH_ACCOUNT", "the Batch account name");
                ctx.env(
                    "AZURE_BATCH_ACCESS_KEY",
                    "the Batch account key (Shipyard: credentials.batch.account_key)",
                );
            }
        }
    }
    if !ctx.env.is_empty() {
        header.push(String::new());
        header.push("Set before applying:".into());
        for e in &ctx.env {
            header.push(format!("  {e}"));
        }
    }
    if !ctx.vars.is_empty() {
        header.push(String::new());
        header.push("Give with --var NAME=VALUE:".into());
        for e in &ctx.vars {
            header.push(format!("  {e}"));
        }
    }
    let text = emit::document(&header, &recipe);
    let mut findings = ctx.findings;
    findings.sort_by(|a, b| (a.file.as_str(), a.line).cmp(&(b.file.as_str(), b.line)));
    Ok(Imported {
        recipe: text,
        findings,
        env: ctx.env,
    })
}

/// Which runtimes the tasks of every jobs file use.
fn runtimes(docs: &[(&'static str, Doc)]) -> pool::Runtimes {
    let mut r = pool::Runtimes::default();
    for (_, d) in docs.iter().filter(|(k, _)| *k == "jobs") {
        for job in d
            .cursor()
            .get("job_specifications")
            .map(|j| j.items())
            .unwrap_or_default()
        {
            let mut tasks = job.get("tasks").map(|t| t.items()).unwrap_or_default();
            tasks.extend(job.get("merge_task"));
            for t in tasks {
                if t.get("docker_image").is_some() {
                    r.docker = true;
                }
                match t.get("singularity_image").and_then(|v| v.text()) {
                    Some(img) if img.starts_with("docker://") => r.docker = true,
                    Some(img) => {
                        r.singularity = true;
                        r.library |= img.starts_with("library://");
                    }
                    None => {}
                }
            }
        }
    }
    r
}

fn auto_id_of(config: Option<&doc::V<'_>>) -> AutoId {
    let base = AutoId::default();
    let Some(a) = config.and_then(|c| c.get("autogenerated_task_id")) else {
        return base;
    };
    AutoId {
        prefix: a
            .get("prefix")
            .and_then(|p| p.str().map(str::to_owned))
            .unwrap_or(base.prefix),
        width: a
            .get("zfill_width")
            .and_then(|w| w.i64())
            .map_or(base.width, |w| usize::try_from(w).unwrap_or(0)),
    }
}

fn env_name(server: &str) -> String {
    let up: String = server
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("REGISTRY_PASSWORD_{up}")
}

fn registries(
    ctx: &mut Ctx,
    creds: Option<doc::V<'_>>,
    global: Option<&doc::V<'_>>,
) -> Vec<emit::Item> {
    let mut out: Vec<emit::Item> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    if let Some(c) = &creds {
        for (server, r) in c
            .get("docker_registry")
            .map(|d| d.entries())
            .unwrap_or_default()
        {
            let mut m = Map::new();
            // Shipyard's `hub` entry means Docker Hub.
            let host = if server == "hub" {
                "docker.io".to_owned()
            } else {
                server.clone()
            };
            m.set("server", s(&host));
            if let Some(u) = r.get("username").and_then(|v| v.text()) {
                m.set("username", s(u));
            }
            if let Some(kv) = r.get("password_keyvault_secret_id").and_then(|v| v.text()) {
                let mut sec = Map::new();
                sec.set("keyvault", s(kv));
                m.set("password", Y::Map(sec));
            } else if r.get("password").is_some() {
                let var = env_name(&host);
                let mut sec = Map::new();
                sec.set("env", s(&var));
                m.set("password", Y::Map(sec))
                    .comment("The password itself is not copied: set the variable.");
                ctx.env(&var, format!("password of registry {host} (Shipyard: credentials.docker_registry.{server}.password)"));
            }
            seen.push(host);
            out.push(item(Y::Map(m)));
        }
        if let Some(v) = c.get("singularity_registry") {
            ctx.warn(
                &v,
                "Singularity registries cannot come across",
                Some("registries for Docker/OCI images"),
            );
        }
    }
    for v in global
        .and_then(|g| g.get("additional_registries"))
        .and_then(|a| a.get("docker"))
        .map(|d| d.items())
        .unwrap_or_default()
    {
        if let Some(server) = v.text()
            && !seen.contains(&server)
        {
            let mut m = Map::new();
            m.set("server", s(&server));
            seen.push(server);
            out.push(item(Y::Map(m)));
        }
    }
    out
}

fn config_leftovers(
    ctx: &mut Ctx,
    config: Option<&doc::V<'_>>,
    global: Option<&doc::V<'_>>,
    doc: Option<&Doc>,
) {
    if let Some(c) = config {
        if let Some(v) = c.get("encryption")
            && v.get("enabled").and_then(|e| e.bool()) == Some(true)
        {
            ctx.warn(
                &v,
                "credential encryption is not needed: the recipe holds no secrets",
                None,
            );
        }
        if let Some(v) = c.get("fallback_registry") {
            ctx.warn(
                &v,
                "there is no fallback registry: batchyard pulls no Shipyard system images",
                None,
            );
        }
    }
    if let Some(g) = global {
        ctx.leftovers(
            g,
            &[
                "docker_images",
                "singularity_images",
                "additional_registries",
                "volumes",
                "files",
            ],
        );
    }
    if let Some(d) = doc {
        ctx.leftovers(
            &d.cursor(),
            &["batch_shipyard", "global_resources", "data_replication"],
        );
    }
}
