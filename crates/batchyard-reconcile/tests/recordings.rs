//! The reconciler against the real service's recorded answers
//! (`crates/batchyard-batch/spec/recordings/`), not against the emulator:
//!
//! - no perpetual diff: every recorded create followed by a GET of the same resource (with
//!   no change in between) plans no change when the create body is what the recipe wants
//!   and the recorded GET is what is live;
//! - plan on each recorded live state: the live state read back as the recipe, then one
//!   field changed, gives the change Batch's rules call for (patch, resize, empty-pool
//!   change, replace, or none).
//!
//! The recordings are of API 2023-05-01.17.0. Fields the API has removed since
//! (`batchyard_batch::recordings::REMOVED`) are dropped from both sides, as today's service refuses them; any other
//! field outside today's models fails the test instead of being dropped silently.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use batchyard_batch::models::{
    BatchJob, BatchJobCreateOptions, BatchPool, BatchPoolCreateOptions, BatchTask,
    BatchTaskCreateOptions,
};
use batchyard_batch::recordings::{self, Entry, without_removed};
use batchyard_compile::{CompileOptions, DesiredPool, METADATA_RECIPE};
use batchyard_reconcile::{
    Change, Intent, JobIntent, LiveTask, LiveTasks, Mode, Observed, ObservedJob, ObservedPool,
    Plan, diff, observe::task_key,
};
use serde_json::{Value, json};

const RECIPE: &str = "recorded";

/// JSON pointers present in `before` and missing from `after`.
fn lost(before: &Value, after: &Value, at: &str, out: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            for (k, v) in b {
                let here = format!("{at}/{k}");
                match a.get(k) {
                    Some(w) => lost(v, w, &here, out),
                    None if v.is_null() => {}
                    None => out.push(here),
                }
            }
        }
        (Value::Array(b), Value::Array(a)) => {
            for (i, (v, w)) in b.iter().zip(a).enumerate() {
                lost(v, w, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// `body` as today's model `T`, failing on any field the model would drop.
fn typed<T: serde::de::DeserializeOwned + serde::Serialize>(body: &Value, what: &str) -> T {
    let value: T = serde_json::from_value(body.clone())
        .unwrap_or_else(|e| panic!("{what} does not read as today's model: {e}\n{body}"));
    let mut dropped = Vec::new();
    lost(
        body,
        &serde_json::to_value(&value).unwrap(),
        "",
        &mut dropped,
    );
    dropped.retain(|p| !p.starts_with("/odata."));
    assert!(
        dropped.is_empty(),
        "{what}: fields outside today's model: {dropped:?}"
    );
    value
}

/// The metadata batchyard writes, added to a recorded body as if batchyard had sent it.
fn owned(mut body: Value) -> Value {
    let item = json!({"name": METADATA_RECIPE, "value": RECIPE});
    match body.get_mut("metadata").and_then(Value::as_array_mut) {
        Some(items) => items.push(item),
        None => body["metadata"] = json!([item]),
    }
    body
}

/// A compiled pool, for the parts of `DesiredPool` the recordings do not have.
fn template_pool() -> DesiredPool {
    let text = "recipe: recorded\npools:\n  - id: p\n    vm_size: Standard_D2s_v5\n    os: ubuntu-22.04\n    nodes: { dedicated: 0 }\n";
    let loaded = batchyard_recipe::load("recipe.yaml", text, &Default::default());
    let recipe = loaded
        .recipe
        .clone()
        .unwrap_or_else(|| panic!("{:?}", loaded.diagnostics));
    let desired = batchyard_compile::compile(&recipe, &CompileOptions::default()).unwrap();
    desired.pools[0].clone()
}

fn pool_plan(want: &Value, live: &Value) -> Plan {
    let want = owned(without_removed(want));
    let live = owned(without_removed(live));
    let payload: BatchPoolCreateOptions = typed(&want, "pool create");
    let pool: BatchPool = typed(&live, "pool GET");
    let mut desired = template_pool();
    desired.id = payload.id.clone();
    desired.payload = payload;
    desired.secrets.clear();
    let intent = Intent {
        recipe: RECIPE.into(),
        pools: vec![desired],
        jobs: vec![],
    };
    let mut observed = Observed::default();
    observed.pools.insert(
        pool.id.clone().unwrap().to_ascii_lowercase(),
        ObservedPool {
            pool,
            nodes: Default::default(),
        },
    );
    diff(&intent, &observed, Mode::Apply)
}

fn job_plan(
    want: &Value,
    live: &Value,
    tasks: Vec<BatchTaskCreateOptions>,
    live_tasks: LiveTasks,
) -> Plan {
    let want = owned(without_removed(want));
    let live = owned(without_removed(live));
    let payload: BatchJobCreateOptions = typed(&want, "job create");
    let job: BatchJob = typed(&live, "job GET");
    let on_all = live["onAllTasksComplete"]
        .as_str()
        .unwrap_or("noaction")
        .to_owned();
    let intent = Intent {
        recipe: RECIPE.into(),
        pools: vec![],
        jobs: vec![JobIntent {
            id: payload.id.clone(),
            payload,
            spec_hash: String::new(),
            on_all_tasks_complete: on_all,
            tasks,
        }],
    };
    let mut observed = Observed::default();
    observed.jobs.insert(
        job.id.clone().unwrap().to_ascii_lowercase(),
        ObservedJob {
            job,
            tasks: live_tasks,
        },
    );
    diff(&intent, &observed, Mode::Apply)
}

fn changes(plan: &Plan) -> Vec<&Change> {
    plan.actions.iter().map(|a| &a.change).collect()
}

/// Requests that change a resource after its create (so a later GET is not the create's).
fn changes_resource(entry: &Entry, path: &str) -> bool {
    entry.method != "GET" && entry.method != "HEAD" && entry.path.starts_with(path)
}

/// Each recorded create followed by a GET of the resource, with nothing changing it in
/// between: (recording, create body, GET body).
fn create_then_get(collection: &str) -> Vec<(String, Value, Value)> {
    let mut pairs = Vec::new();
    for (name, entries) in recordings::load() {
        for (i, create) in entries.iter().enumerate() {
            if create.method != "POST" || create.path != collection || create.status != 201 {
                continue;
            }
            let id = create.request["id"].as_str().unwrap();
            let path = format!("{collection}/{id}");
            for later in &entries[i + 1..] {
                if changes_resource(later, &path) {
                    break;
                }
                if later.method == "GET"
                    && later.path == path
                    && later.status == 200
                    && !later.query.contains("$select")
                {
                    pairs.push((name.clone(), create.request.clone(), later.response.clone()));
                    break;
                }
            }
        }
    }
    pairs
}

#[test]
fn a_recorded_pool_create_and_its_get_plan_no_change() {
    let pairs = create_then_get("/pools");
    assert!(
        pairs.len() >= 3,
        "expected the create_pools pairs, found {}",
        pairs.len()
    );
    for (name, create, get) in &pairs {
        let plan = pool_plan(create, get);
        assert!(
            !plan.has_changes(),
            "{name}: pool {} would be changed on every plan: {:#?}",
            create["id"],
            plan.actions
        );
    }
    println!(
        "pool create/GET pairs without a perpetual diff: {}",
        pairs.len()
    );
}

#[test]
fn a_recorded_job_create_and_its_get_plan_no_change() {
    let pairs = create_then_get("/jobs");
    assert!(!pairs.is_empty());
    for (name, create, get) in &pairs {
        let plan = job_plan(create, get, vec![], LiveTasks::default());
        assert!(
            !plan.has_changes(),
            "{name}: job {} would be changed on every plan: {:#?}",
            create["id"],
            plan.actions
        );
    }
    println!(
        "job create/GET pairs without a perpetual diff: {}",
        pairs.len()
    );
}

#[test]
fn a_recorded_task_create_and_its_get_plan_no_change() {
    let mut pairs = 0;
    for (name, entries) in recordings::load() {
        for (i, create) in entries.iter().enumerate() {
            let Some(job) = create
                .path
                .strip_prefix("/jobs/")
                .and_then(|p| p.strip_suffix("/tasks"))
            else {
                continue;
            };
            if create.method != "POST" || create.status != 201 {
                continue;
            }
            let id = create.request["id"].as_str().unwrap();
            let path = format!("/jobs/{job}/tasks/{id}");
            let Some(get) = entries[i + 1..]
                .iter()
                .find(|e| e.method == "GET" && e.path == path && e.status == 200)
            else {
                continue;
            };
            let want: BatchTaskCreateOptions = typed(&create.request, "task create");
            let live: BatchTask = typed(&get.response, "task GET");
            let live = LiveTask::from_task(live).unwrap();
            let mut live_tasks = LiveTasks::default();
            live_tasks.insert(task_key(&live.id).into_owned(), live);
            // The job itself is not in these recordings: it is the same on both sides.
            let job_body = json!({"id": job, "poolInfo": {"poolId": "pool"}});
            let mut live_job = job_body.clone();
            for (field, value) in batchyard_batch::rules::defaults(batchyard_batch::rules::JOB) {
                live_job[field] = value;
            }
            live_job["state"] = json!("active");
            let plan = job_plan(&job_body, &live_job, vec![want], live_tasks);
            assert!(
                !plan.has_changes(),
                "{name}: task {id} would be recreated on every plan: {:#?}",
                plan.actions
            );
            pairs += 1;
        }
    }
    assert!(
        pairs >= 2,
        "expected the applications and files task pairs, found {pairs}"
    );
}

/// The fields of a live pool a recipe could have asked for: the GET read as a create.
fn as_create<T: serde::de::DeserializeOwned + serde::Serialize>(live: &Value) -> Value {
    let value: T = serde_json::from_value(without_removed(live)).unwrap();
    let mut value = serde_json::to_value(value).unwrap();
    if let Value::Object(map) = &mut value {
        map.retain(|_, v| !v.is_null());
    }
    value
}

/// Every recorded full GET of a pool or job: (recording, body).
fn live_states(collection: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (name, entries) in recordings::load() {
        for e in &entries {
            let one = e
                .path
                .strip_prefix(collection)
                .and_then(|p| p.strip_prefix('/'))
                .is_some_and(|id| !id.contains('/'));
            if e.method == "GET" && e.status == 200 && one && !e.query.contains("$select") {
                out.push((name.clone(), e.response.clone()));
            }
        }
    }
    out
}

fn only_change(plan: &Plan, what: &str) -> Change {
    let all = changes(plan);
    assert_eq!(all.len(), 1, "{what}: expected one action, got {all:#?}");
    all[0].clone()
}

fn field_names(fields: &[batchyard_reconcile::FieldChange]) -> BTreeSet<&str> {
    fields.iter().map(|f| f.wire.as_str()).collect()
}

#[test]
fn plan_on_each_recorded_pool_state_gives_the_change_batch_allows() {
    let states = live_states("/pools");
    assert!(states.len() >= 6, "found {} pool states", states.len());
    for (name, live) in &states {
        let want = as_create::<BatchPoolCreateOptions>(live);
        let what = format!("{name} pool {}", live["id"]);

        let plan = pool_plan(&want, live);
        assert!(
            !plan.has_changes(),
            "{what}, unchanged: {:#?}",
            plan.actions
        );

        let mut changed = want.clone();
        changed["resizeTimeout"] = json!("PT42M");
        assert!(
            !pool_plan(&changed, live).has_changes(),
            "{what}: resizeTimeout is create-only and not compared"
        );

        let mut changed = want.clone();
        changed["startTask"] = json!({"commandLine": "/bin/sh -c 'echo changed'"});
        match only_change(&pool_plan(&changed, live), &what) {
            Change::PatchPool { fields } => assert_eq!(
                field_names(&fields),
                BTreeSet::from(["startTask"]),
                "{what}"
            ),
            other => panic!("{what}: a start task is patched, got {other:?}"),
        }

        let mut changed = want.clone();
        changed["metadata"] = json!([{"name": "team", "value": "x"}]);
        match only_change(&pool_plan(&changed, live), &what) {
            Change::PatchPool { fields } => {
                assert!(field_names(&fields).contains("metadata"), "{what}")
            }
            other => panic!("{what}: metadata is patched, got {other:?}"),
        }

        let mut changed = want.clone();
        changed["vmSize"] = json!("standard_e64s_v5");
        match only_change(&pool_plan(&changed, live), &what) {
            Change::EmptyPoolChange { fields, .. } => {
                assert!(field_names(&fields).contains("vmSize"), "{what}")
            }
            other => panic!("{what}: vmSize changes only on an empty pool, got {other:?}"),
        }

        let mut changed = want.clone();
        changed["taskSchedulingPolicy"] = json!({"nodeFillType": "pack"});
        let fill = live
            .pointer("/taskSchedulingPolicy/nodeFillType")
            .and_then(Value::as_str)
            .unwrap_or("spread");
        let plan = pool_plan(&changed, live);
        if fill.eq_ignore_ascii_case("pack") {
            assert!(!plan.has_changes(), "{what}");
        } else {
            assert!(
                matches!(only_change(&plan, &what), Change::EmptyPoolChange { .. }),
                "{what}"
            );
        }

        let mut changed = want.clone();
        if live["enableAutoScale"] == json!(true) {
            changed["autoScaleFormula"] = json!("$TargetDedicatedNodes = 7;");
            assert!(
                matches!(
                    only_change(&pool_plan(&changed, live), &what),
                    Change::EnableAutoScale { .. }
                ),
                "{what}: a new formula is enabled"
            );
        } else {
            let dedicated = live["targetDedicatedNodes"].as_i64().unwrap();
            changed["targetDedicatedNodes"] = json!(dedicated + 2);
            match only_change(&pool_plan(&changed, live), &what) {
                Change::ResizePool { to_dedicated, .. } => {
                    assert_eq!(to_dedicated, dedicated + 2, "{what}")
                }
                other => panic!("{what}: a size is a resize, got {other:?}"),
            }
        }
    }
}

#[test]
fn plan_on_each_recorded_job_state_gives_the_change_batch_allows() {
    let states = live_states("/jobs");
    assert!(states.len() >= 2, "found {} job states", states.len());
    for (name, live) in &states {
        let want = as_create::<BatchJobCreateOptions>(live);
        let what = format!("{name} job {}", live["id"]);
        let plan = job_plan(&want, live, vec![], LiveTasks::default());
        assert!(
            !plan.has_changes(),
            "{what}, unchanged: {:#?}",
            plan.actions
        );

        let mut changed = want.clone();
        changed["priority"] = json!(live["priority"].as_i64().unwrap() + 1);
        changed["constraints"]["maxTaskRetryCount"] = json!(5);
        match only_change(
            &job_plan(&changed, live, vec![], LiveTasks::default()),
            &what,
        ) {
            Change::PatchJob { fields } => {
                assert_eq!(
                    field_names(&fields),
                    BTreeSet::from(["priority", "constraints"]),
                    "{what}"
                );
            }
            other => panic!("{what}: priority and constraints are patched, got {other:?}"),
        }

        let mut changed = want.clone();
        let flipped = if live["onTaskFailure"] == json!("noaction") {
            "performexitoptionsjobaction"
        } else {
            "noaction"
        };
        changed["onTaskFailure"] = json!(flipped);
        match only_change(
            &job_plan(&changed, live, vec![], LiveTasks::default()),
            &what,
        ) {
            Change::ReplaceJob { fields, .. } => {
                assert!(field_names(&fields).contains("onTaskFailure"), "{what}")
            }
            other => panic!("{what}: onTaskFailure is create-only, got {other:?}"),
        }

        if live.get("jobPreparationTask").is_some() {
            let mut changed = want.clone();
            changed["jobPreparationTask"]["commandLine"] = json!("/bin/sh -c 'echo other'");
            assert!(
                matches!(
                    only_change(
                        &job_plan(&changed, live, vec![], LiveTasks::default()),
                        &what
                    ),
                    Change::ReplaceJob { .. }
                ),
                "{what}: the preparation task is create-only"
            );
        }
    }
}
