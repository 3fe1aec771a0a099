//! The Shipyard corpus: every config set with a Batch pool is imported, the recipe loads
//! without errors, compiles, and every pool, job and task payload validates against the
//! official Batch spec. Each recipe is snapshotted, and docs/shipyard-migration.md is the table
//! of results (regenerate with `BATCHYARD_BLESS=1 cargo test -p batchyard-shipyard --test corpus`).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use batchyard_batch::validate_against_spec;
use batchyard_compile::{CompileOptions, compile, tasks};
use batchyard_recipe::load;
use batchyard_shipyard::{ImportError, ImportOptions, import};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn sets(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    if entries
        .iter()
        .any(|p| p.file_name().is_some_and(|n| n == "pool.yaml"))
    {
        out.push(dir.to_owned());
    }
    for p in entries.into_iter().filter(|p| p.is_dir()) {
        sets(&p, out);
    }
}

struct Row {
    set: String,
    outcome: String,
    warnings: usize,
    errors: Vec<String>,
    tasks: usize,
}

fn check_payloads(name: &str, recipe: &str) -> usize {
    let loaded = load(&format!("{name}.yaml"), recipe, &Default::default());
    let errors: Vec<_> = loaded.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert!(
        errors.is_empty(),
        "{name}: the recipe does not load: {errors:#?}\n{recipe}"
    );
    let desired = compile(loaded.recipe.as_ref().unwrap(), &CompileOptions::default())
        .unwrap_or_else(|d| panic!("{name}: compile failed: {d:#?}\n{recipe}"));
    for p in &desired.pools {
        let v = serde_json::to_value(&p.payload).unwrap();
        validate_against_spec("BatchPoolCreateOptions", &v)
            .unwrap_or_else(|e| panic!("{name}: pool {e:#?}\n{v:#}"));
    }
    let mut count = 0;
    for j in &desired.jobs {
        let v = serde_json::to_value(&j.payload).unwrap();
        validate_against_spec("BatchJobCreateOptions", &v)
            .unwrap_or_else(|e| panic!("{name}: job {e:#?}\n{v:#}"));
        for t in tasks(&loaded, &desired, j) {
            let t = t.unwrap_or_else(|d| panic!("{name}: task {d:#?}"));
            let v = serde_json::to_value(&t).unwrap();
            validate_against_spec("BatchTaskCreateOptions", &v)
                .unwrap_or_else(|e| panic!("{name}: task {e:#?}\n{v:#}"));
            count += 1;
        }
    }
    count
}

#[test]
fn every_corpus_set_imports_loads_compiles_and_validates() {
    let root = corpus();
    let mut dirs = Vec::new();
    sets(&root, &mut dirs);
    assert!(
        dirs.len() >= 30,
        "corpus not found under {}",
        root.display()
    );
    let mut rows = Vec::new();
    for dir in &dirs {
        let rel = dir
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let name = rel.replace("/config", "").replace('/', "-");
        let snap = name.replace('+', "_");
        match import(
            dir,
            &ImportOptions {
                name: Some(name.clone()),
                ..Default::default()
            },
        ) {
            Ok(imported) => {
                let tasks = check_payloads(&name, &imported.recipe);
                let findings: Vec<String> =
                    imported.findings.iter().map(ToString::to_string).collect();
                insta::assert_snapshot!(
                    snap.clone(),
                    format!(
                        "{}\n# --- findings\n# {}\n# --- env\n# {}",
                        imported.recipe,
                        findings.join("\n# "),
                        imported
                            .env
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("\n# ")
                    )
                );
                let errors: Vec<String> = imported
                    .errors()
                    .map(|f| format!("`{}`: {}", f.key, f.message))
                    .collect();
                rows.push(Row {
                    set: rel,
                    outcome: if errors.is_empty() {
                        "yes".into()
                    } else {
                        "with errors".into()
                    },
                    warnings: imported.warnings().count(),
                    errors,
                    tasks,
                });
            }
            Err(ImportError::Invalid(problems)) => rows.push(Row {
                set: rel,
                outcome: "rejected (fails Shipyard's schema)".into(),
                warnings: 0,
                errors: problems
                    .iter()
                    .map(|f| format!("`{}`: {}", f.key, f.message))
                    .collect(),
                tasks: 0,
            }),
            Err(e) => panic!("{name}: {e}"),
        }
    }
    let clean = rows.iter().filter(|r| r.outcome == "yes").count();
    let mut doc = String::from(
        "# Shipyard import: corpus results\n\n\
         Generated by `cargo test -p batchyard-shipyard --test corpus` from the Batch Shipyard\n\
         config sets in `crates/batchyard-shipyard/tests/corpus` (regenerate with\n\
         `BATCHYARD_BLESS=1`). Each set is imported with `batchyard import shipyard DIR`; its\n\
         recipe loads, compiles, and every pool, job and task payload validates against the\n\
         Azure Batch REST specification. Errors name the Shipyard feature that cannot come\n\
         across.\n\n",
    );
    // Sets that Shipyard's own schema rejects never ran under Shipyard either.
    let rejected = rows
        .iter()
        .filter(|r| r.outcome.starts_with("rejected"))
        .count();
    let valid = rows.len() - rejected;
    println!(
        "shipyard corpus: {clean} of {valid} config sets with a pool import without errors ({:.1}%); {rejected} rejected by Shipyard's own schema",
        clean as f64 * 100.0 / valid.max(1) as f64
    );
    for r in rows.iter().filter(|r| r.outcome == "with errors") {
        assert!(
            !r.errors.is_empty(),
            "{}: imported with errors but none is named",
            r.set
        );
        println!("  {}: {}", r.set, r.errors.join("; "));
    }
    assert!(
        clean * 100 >= valid * 95,
        "only {clean} of {valid} valid sets import without errors (95% required)"
    );
    doc.push_str(&format!(
        "{clean} of the {valid} sets with a Batch pool that pass Shipyard's own schema import \
         without errors. Rejected by Shipyard's own schema (Shipyard refuses them too): \
         {rejected}.\n\n"
    ));
    doc.push_str("| config set | imported | tasks | warnings | errors |\n|---|---|---|---|---|\n");
    for r in &rows {
        let errs = if r.errors.is_empty() {
            "".into()
        } else {
            r.errors.join("<br>").replace('|', "\\|")
        };
        doc.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            r.set, r.outcome, r.tasks, r.warnings, errs
        ));
    }
    doc.push_str(MIGRATION);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/shipyard-migration.md");
    if std::env::var_os("BATCHYARD_BLESS").is_some() {
        std::fs::write(&path, &doc).unwrap();
    } else {
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            current == doc,
            "docs/shipyard-migration.md is out of date: run BATCHYARD_BLESS=1 cargo test -p batchyard-shipyard --test corpus"
        );
    }
}

const MIGRATION: &str = "
## From Shipyard commands to batchyard

| Shipyard | batchyard |
|---|---|
| `shipyard pool add` | `batchyard apply recipe.yaml` (creates the pool; a later apply resizes or updates it) |
| `shipyard jobs add` | `batchyard apply recipe.yaml` (adds the jobs and exactly the missing tasks), or `batchyard run recipe.yaml` to follow them to completion |
| `shipyard jobs tasks list` | `batchyard status recipe.yaml` |
| `shipyard data files stream` | `batchyard logs JOB TASK --recipe recipe.yaml` (add `--stderr`, `--follow`) |
| `shipyard pool del`, `shipyard jobs del` | `batchyard destroy recipe.yaml` |
| `shipyard pool resize` | change `nodes:` in the recipe, then `batchyard plan` and `batchyard apply` |
| `--configdir DIR` | `batchyard import shipyard DIR -o recipe.yaml`, once |
| `shipyard data ingress` | nothing to run: `apply` uploads the recipe's local `inputs` (once per content) |
| `shipyard data files list/get` of task outputs | `batchyard outputs JOB --recipe recipe.yaml -o DIR`, or `batchyard run recipe.yaml --download DIR` |

## Data

The recipe has one storage container (`storage:`, docs/data.md); the first container that
the set's data keys name becomes it, with the account from `credentials.storage` and its
key as an `{env: STORAGE_KEY_<LINK>}` reference. Data in a second container is an error
that names it.

| Shipyard | batchyard |
|---|---|
| `input_data.azure_storage` (task, job, pool) | `inputs: [{blob: DIR/, to: LOCAL_PATH/}]` on the task or job; the pool's go to every job. Shipyard downloaded job and pool data once per node; each task downloads it now (warned). Paths outside the task's working directory land inside it (warned). One `include` of the form `name*` narrows the blob prefix to `DIR/name`; other `include`/`exclude` filters are not applied (warned: a Batch resource file takes one blob prefix, no pattern). |
| `input_data.azure_batch` (another task's files) | error: Batch cannot copy from another task's node; have that task write `outputs` and read them as `inputs: [{blob: outputs/JOB/TASK/}]` |
| `output_data.azure_storage` | `outputs: [{pattern: LOCAL_PATH/INCLUDE, when: success/failure}]` (`**/*` without includes, as Shipyard's native pools did); results go to `outputs/JOB/TASK/` in the container instead of `remote_path` (warned) |
| `global_resources.files` to Azure Storage (data ingress) | the inputs that read the ingressed `remote_path` become `{local: FOLDER[/INCLUDE]}`, uploaded by `apply` to the recipe's storage (the ingress's own account and container when no other is named); an absolute source path becomes its last folder, to put (or link) beside the recipe (warned) |
| `global_resources.files` to a shared data volume (scp/rsync) | error: copies over SSH to the nodes cannot come across |
| `task_factory.file` | `factory: {blobs: {prefix: DIR/}}` with `inputs: [{blob: \"{{ item.blob }}\", to: ...}]` per `task_filepath`, and the factory's `include`/`exclude` filters as the blob factory's (fnmatch on the name below the prefix, applied when the plan lists the container); over an ingressed folder (one include glob; an `exclude` is warned), `factory: {files: {glob: FOLDER/**/*}}` with a local input. `{file_path}` → `item.blob` (`item.path`), `{file_name}` → `item.name`, `{file_name_no_extension}` → `item.stem`, `{url}` → the file's path on the node |
| Azure Files shares (`is_file_share: true`) in any of these | error: Batch resource and output files use blob storage |
";
