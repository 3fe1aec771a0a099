//! `compile`: a checked recipe to the desired pools and jobs.

use std::path::PathBuf;
use std::sync::Arc;

use batchyard_batch::models::{BatchJobCreateOptions, BatchPoolCreateOptions};
use batchyard_batch::validate_against_spec;
use batchyard_recipe::model::{RawBatch, Recipe};
use batchyard_recipe::{Code, Diagnostic, Severity};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::hardware::{self, PoolFacts};
use crate::payload::pool::SecretSlot;
use crate::payload::task::TaskContext;
use crate::payload::{common, job, pool};

/// Metadata name tagging every pool and job with the recipe that owns it.
pub const METADATA_RECIPE: &str = "batchyard.recipe";
/// Metadata name carrying the hash of the desired payload, for drift detection.
pub const METADATA_SPEC: &str = "batchyard.spec";

/// Settings of a compilation that do not come from the recipe.
#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    /// The recipe's directory: `table` and `files` factories read files relative to it.
    pub base_dir: PathBuf,
    /// The storage container tasks read and write, when known before compiling (a recipe
    /// `storage.account_url`); [`Desired::set_storage`] sets it later for a target's own.
    pub storage: Option<crate::data::StorageLocation>,
    /// Local inputs referenced by the tasks, and the hashes known from earlier runs.
    pub content: Arc<crate::data::ContentIndex>,
    /// The blobs under each prefix a `blobs` factory names, listed by the caller.
    pub blob_listings: Arc<crate::factory::BlobListings>,
}

/// Everything a recipe asks for, in Batch REST shape. Tasks are not in here: they stream
/// from [`crate::tasks`], so a million-task job is never held in memory.
#[derive(Debug, Clone)]
pub struct Desired {
    pub recipe: String,
    pub pools: Vec<DesiredPool>,
    pub jobs: Vec<DesiredJob>,
    /// Warnings found while compiling (errors make `compile` fail instead).
    pub warnings: Vec<Diagnostic>,
    pub(crate) options: CompileOptions,
}

/// One pool to create or keep.
#[derive(Debug, Clone)]
pub struct DesiredPool {
    pub id: String,
    /// JSON pointer of the pool in the recipe (`/pools/0`).
    pub path: String,
    /// The create payload, ownership metadata included.
    pub payload: BatchPoolCreateOptions,
    /// The `batchyard.spec` hash in the payload's metadata.
    pub spec_hash: String,
    /// Secrets to fill into the payload at apply time (the payload shows them redacted).
    pub secrets: Vec<SecretSlot>,
    /// The resolved hardware facts.
    pub facts: PoolFacts,
    /// Where the pool's `inputs` point (`None` without inputs): the start task's resource
    /// files from `first` on, made for `storage`.
    pub(crate) inputs: Option<PoolInputFiles>,
}

/// The part of a pool's start task that its `inputs` make.
#[derive(Debug, Clone)]
pub(crate) struct PoolInputFiles {
    pub(crate) storage: crate::data::StorageLocation,
    pub(crate) first: usize,
}

/// One job to create or keep.
#[derive(Debug, Clone)]
pub struct DesiredJob {
    pub id: String,
    /// JSON pointer of the job in the recipe (`/jobs/0`).
    pub path: String,
    /// Index of the job in the recipe.
    pub index: usize,
    /// The create payload, without `onAllTasksComplete` (see below).
    pub payload: BatchJobCreateOptions,
    pub spec_hash: String,
    /// Batch's `onAllTasksComplete` value, to set once every task is added.
    pub on_all_tasks_complete: &'static str,
    pub(crate) context: TaskContext,
}

impl Desired {
    /// The recipe's directory, which `table` and `files` factories read relative to.
    pub fn base_dir(&self) -> &std::path::Path {
        &self.options.base_dir
    }
}

/// Compiles a checked recipe. On failure, every diagnostic found (warnings too) is returned.
pub fn compile(recipe: &Recipe, options: &CompileOptions) -> Result<Desired, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut pools = Vec::new();
    for (i, p) in recipe.pools.iter().enumerate() {
        let at = format!("/pools/{i}");
        let errors_before = error_count(&diags);
        let facts = hardware::resolve(p, &at, &mut diags);
        let (input_files, inputs) = pool_inputs(recipe, p, &at, options, &mut diags);
        let (value, secrets) = pool::build(recipe, p, &facts, input_files, &at, &mut diags);
        // A pool already in error (an unknown OS alias leaves the payload without an image)
        // would only add schema complaints that follow from that error.
        if error_count(&diags) > errors_before {
            continue;
        }
        let Some((value, hash)) = finalize(
            value,
            p.batch.as_ref(),
            &recipe.recipe,
            "BatchPoolCreateOptions",
            &at,
            &mut diags,
        ) else {
            continue;
        };
        match serde_json::from_value::<BatchPoolCreateOptions>(value) {
            Ok(payload) => pools.push(DesiredPool {
                id: p.id.clone(),
                path: at,
                payload,
                spec_hash: hash,
                secrets,
                facts,
                inputs,
            }),
            Err(e) => diags.push(Diagnostic::error(
                Code::PayloadModel,
                at,
                format!("the pool payload does not fit Batch's model: {e}"),
            )),
        }
    }
    let mut jobs = Vec::new();
    for (i, j) in recipe.jobs.iter().enumerate() {
        let at = format!("/jobs/{i}");
        let Some(pool_facts) = pools
            .iter()
            .find(|p| p.id == j.pool)
            .map(|p| p.facts.clone())
        else {
            if !recipe.pools.iter().any(|p| p.id == j.pool) {
                diags.push(Diagnostic::error(
                    Code::UnknownPool,
                    format!("{at}/pool"),
                    format!("no pool `{}` in this recipe", j.pool),
                ));
            }
            continue;
        };
        let value = job::build(recipe, j);
        let Some((value, hash)) = finalize(
            value,
            j.batch.as_ref(),
            &recipe.recipe,
            "BatchJobCreateOptions",
            &at,
            &mut diags,
        ) else {
            continue;
        };
        match serde_json::from_value::<BatchJobCreateOptions>(value) {
            Ok(payload) => jobs.push(DesiredJob {
                id: j.id.clone(),
                path: at.clone(),
                index: i,
                payload,
                spec_hash: hash,
                on_all_tasks_complete: job::on_all_tasks_complete(j),
                context: TaskContext {
                    pool: pool_facts,
                    job_image: j.image.clone(),
                    data: crate::data::TaskData {
                        job_id: j.id.clone(),
                        job_inputs: j.inputs.clone(),
                        job_path: at.clone(),
                        base_dir: options.base_dir.clone(),
                        storage: storage_of(recipe, options),
                        has_storage: recipe.storage.is_some(),
                        index: options.content.clone(),
                        blob_listings: options.blob_listings.clone(),
                    },
                },
            }),
            Err(e) => diags.push(Diagnostic::error(
                Code::PayloadModel,
                at,
                format!("the job payload does not fit Batch's model: {e}"),
            )),
        }
    }
    if diags.iter().any(|d| d.severity == Severity::Error) {
        return Err(diags);
    }
    Ok(Desired {
        recipe: recipe.recipe.clone(),
        pools,
        jobs,
        warnings: diags,
        options: options.clone(),
    })
}

/// The container the recipe's data goes to as far as known at compile time: the one in the
/// options, or a stand-in for the recipe's `storage` until the target's is known.
fn storage_of(recipe: &Recipe, options: &CompileOptions) -> Option<crate::data::StorageLocation> {
    options.storage.clone().or_else(|| {
        recipe
            .storage
            .as_ref()
            .map(|s| crate::data::StorageLocation::local_placeholder(&s.container))
    })
}

/// The resource files of a pool's `inputs` and where they start in its start task.
fn pool_inputs(
    recipe: &Recipe,
    pool: &batchyard_recipe::model::Pool,
    at: &str,
    options: &CompileOptions,
    diags: &mut Vec<Diagnostic>,
) -> (Vec<Value>, Option<PoolInputFiles>) {
    if pool.inputs.is_empty() {
        return (Vec::new(), None);
    }
    let Some(storage) = storage_of(recipe, options) else {
        diags.push(
            Diagnostic::error(batchyard_recipe::Code::NoStorage, format!("{at}/inputs"), "inputs need a `storage` section")
                .with_help("add `storage: {}` to use the target's own storage (the local service has one), or `storage: {account_url: https://NAME.blob.core.windows.net}`"),
        );
        return (Vec::new(), None);
    };
    match crate::data::pool_resource_files(
        &pool.inputs,
        at,
        &options.base_dir,
        &options.content,
        &storage,
    ) {
        Ok(files) => {
            let first = pool
                .start_task
                .as_ref()
                .map_or(0, |st| st.resource_files.len());
            (files, Some(PoolInputFiles { storage, first }))
        }
        Err(d) => {
            diags.push(d);
            (Vec::new(), None)
        }
    }
}

fn error_count(diags: &[Diagnostic]) -> usize {
    diags.iter().filter(|d| d.is_error()).count()
}

impl Desired {
    /// Points the tasks' inputs and outputs at this container (the target's own storage,
    /// known once it is connected). Call it before the tasks are expanded.
    pub fn set_storage(&mut self, storage: crate::data::StorageLocation) {
        self.options.storage = Some(storage.clone());
        for job in &mut self.jobs {
            job.context.data.storage = Some(storage.clone());
        }
        for pool in &mut self.pools {
            pool.relocate_inputs(&storage);
        }
    }

    /// Gives `blobs` factories the blobs they iterate over (listed by the caller).
    pub fn set_blob_listings(&mut self, listings: crate::factory::BlobListings) {
        let listings = Arc::new(listings);
        self.options.blob_listings = listings.clone();
        for job in &mut self.jobs {
            job.context.data.blob_listings = listings.clone();
        }
    }

    /// The options the recipe was compiled with.
    pub fn options(&self) -> &CompileOptions {
        &self.options
    }
}

impl DesiredPool {
    /// Points the start task's copies of the pool's `inputs` at `storage`, and hashes the
    /// payload again.
    fn relocate_inputs(&mut self, storage: &crate::data::StorageLocation) {
        let Some(inputs) = &mut self.inputs else {
            return;
        };
        if inputs.storage == *storage {
            return;
        }
        let Ok(mut value) = serde_json::to_value(&self.payload) else {
            return;
        };
        if let Some(files) = value
            .pointer_mut("/startTask/resourceFiles")
            .and_then(Value::as_array_mut)
            && let Some(ours) = files.get_mut(inputs.first..)
        {
            crate::data::relocate_resource_files(ours, &inputs.storage, storage);
        }
        let hash = add_spec_hash(&mut value);
        // The payload came from this type and only URLs changed: it reads back.
        if let Ok(payload) = serde_json::from_value(value) {
            self.payload = payload;
            self.spec_hash = hash;
            inputs.storage = storage.clone();
        }
    }
}

/// Merges the raw `batch:` object, restores the ownership tags, hashes the payload, adds the
/// hash, and checks the result against the Batch spec.
fn finalize(
    mut value: Value,
    raw: Option<&RawBatch>,
    recipe: &str,
    definition: &str,
    at: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<(Value, String)> {
    if let Some(raw) = raw {
        common::merge(&mut value, raw);
    }
    let obj = value.as_object_mut()?;
    let meta = obj.entry("metadata").or_insert_with(|| json!([]));
    if !meta.is_array() {
        *meta = json!([]);
    }
    if let Some(items) = meta.as_array_mut() {
        // A raw `metadata` replaces the list: the ownership tag must survive it.
        items.retain(|m| m.get("name").and_then(Value::as_str) != Some(METADATA_SPEC));
        if !items
            .iter()
            .any(|m| m.get("name").and_then(Value::as_str) == Some(METADATA_RECIPE))
        {
            items.push(json!({"name": METADATA_RECIPE, "value": recipe}));
        }
    }
    let hash = add_spec_hash(&mut value);
    if let Err(errors) = validate_against_spec(definition, &value) {
        let where_ = if raw.is_some() {
            format!("{at}/batch")
        } else {
            at.to_string()
        };
        for e in errors {
            diags.push(
                Diagnostic::error(
                    Code::PayloadSchema,
                    &where_,
                    format!(
                        "the payload breaks the Batch API schema at `{}`: {}",
                        e.path, e.message
                    ),
                )
                .with_help(
                    "check the field names and types against the Batch REST API (2025-06-01.21.0)",
                ),
            );
        }
        return None;
    }
    Some((value, hash))
}

/// Hashes a payload without its `batchyard.spec` tag and tags it with the hash.
fn add_spec_hash(value: &mut Value) -> String {
    if let Some(items) = value.get_mut("metadata").and_then(Value::as_array_mut) {
        items.retain(|m| m.get("name").and_then(Value::as_str) != Some(METADATA_SPEC));
    }
    let hash = spec_hash(value);
    if let Some(items) = value.get_mut("metadata").and_then(Value::as_array_mut) {
        items.push(json!({"name": METADATA_SPEC, "value": hash}));
    }
    hash
}

/// A stable hash of a payload: SHA-256 of its JSON text (keys in the order the compiler
/// writes them, which is deterministic), as lowercase hex.
pub fn spec_hash(value: &Value) -> String {
    let text = value.to_string();
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
