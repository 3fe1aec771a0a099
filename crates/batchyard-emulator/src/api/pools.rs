//! Pool and node operations.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Shared;
use super::error::{ApiError, ApiResult};
use super::odata::{self, Params};
use batchyard_batch::rules::{self, Update};

use crate::clock;
use crate::engine::autoscale::{self, Formula};
use crate::engine::docs_util::{int, private, set_state, text, touch};
use crate::store::StoreError;
use crate::store::docs::{self, Table};

fn pool_not_found() -> ApiError {
    ApiError::not_found("PoolNotFound", "pool")
}

pub(super) fn load(state: &Shared, pool: &str) -> ApiResult<Value> {
    state
        .store
        .read(|c| docs::get(c, Table::Pools, "", pool))?
        .map(|d| d.value)
        .ok_or_else(pool_not_found)
}

/// Checks a pool's autoscale settings before they are stored: the formula must parse
/// (a 400 `AutoScalingFormulaSyntaxError` as the service answers) and the interval be
/// in the service's bounds. Fills in the default interval.
fn check_autoscale(doc: &mut Value) -> ApiResult<Formula> {
    let text = doc
        .get("autoScaleFormula")
        .ok_or_else(|| ApiError::missing_property("autoScaleFormula"))?
        .as_str()
        .ok_or_else(|| ApiError::invalid_property("autoScaleFormula", "must be a string"))?;
    let formula = Formula::parse(text).map_err(syntax_error)?;
    autoscale::evaluation_interval(doc)
        .map_err(|reason| ApiError::invalid_property("autoScaleEvaluationInterval", reason))?;
    if doc
        .get("autoScaleEvaluationInterval")
        .is_none_or(Value::is_null)
    {
        doc["autoScaleEvaluationInterval"] = json!("PT15M");
    }
    Ok(formula)
}

fn syntax_error(e: autoscale::SyntaxError) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "AutoScalingFormulaSyntaxError",
        "The specified autoscale formula has a syntax error.",
    )
    .with("Message", e.to_string())
}

pub async fn create(State(state): State<Shared>, body: Bytes) -> ApiResult<Response> {
    let mut doc = odata::body_object(&body)?;
    super::create_fields::only(&doc, super::create_fields::POOL)?;
    let id = odata::required_id(&doc, "id")?.to_string();
    odata::required_str(&doc, "vmSize")?;
    odata::check_model::<batchyard_batch::models::BatchPoolCreateOptions>(&doc)?;
    odata::check_metadata(&doc)?;
    let autoscale = doc["enableAutoScale"].as_bool().unwrap_or(false);
    if autoscale {
        let formula = check_autoscale(&mut doc)?;
        state
            .autoscale
            .ensure_sampled(&state.store, &id, Some(&formula))?;
    }
    let now = clock::now();
    let defaults = json!({
        "url": format!("/pools/{id}"),
        "creationTime": now,
        "state": "active",
        "stateTransitionTime": now,
        "allocationStateTransitionTime": now,
        "currentDedicatedNodes": 0,
        "currentLowPriorityNodes": 0,
    });
    if let (Some(map), Some(defaults)) = (doc.as_object_mut(), defaults.as_object()) {
        for (k, v) in defaults {
            map.entry(k.clone()).or_insert(v.clone());
        }
        for (k, v) in rules::defaults(rules::POOL) {
            map.entry(k).or_insert(v);
        }
    }
    if let Some(image) = doc.pointer_mut("/virtualMachineConfiguration/imageReference")
        && image.get("virtualMachineImageId").is_none()
    {
        rules::fill_defaults(image, rules::IMAGE_REFERENCE_DEFAULTS);
    }
    if let Some(disks) = doc
        .pointer_mut("/virtualMachineConfiguration/dataDisks")
        .and_then(Value::as_array_mut)
    {
        for disk in disks {
            rules::fill_defaults(disk, rules::DATA_DISK_DEFAULTS);
        }
    }
    let slots = int(&doc, "taskSlotsPerNode", 1);
    if !(1..=256).contains(&slots) {
        return Err(ApiError::invalid_property(
            "taskSlotsPerNode",
            "must be between 1 and 256",
        ));
    }
    touch(&mut doc, &now);
    doc["vmSize"] = json!(text(&doc, "vmSize").to_ascii_lowercase());
    if autoscale {
        state.autoscale.apply(&mut doc);
    }
    let wants_nodes =
        int(&doc, "targetDedicatedNodes", 0) + int(&doc, "targetLowPriorityNodes", 0) > 0;
    doc["allocationState"] = json!(if wants_nodes { "resizing" } else { "steady" });
    let inserted = state
        .store
        .write(|tx| docs::insert(tx, Table::Pools, "", &id, &doc))?;
    if !inserted {
        return Err(ApiError::conflict(
            "PoolExists",
            "The specified pool already exists.",
        ));
    }
    state.engine.wake();
    Ok(odata::written(StatusCode::CREATED, &doc))
}

pub async fn list(
    State(state): State<Shared>,
    Query(params): Query<Params>,
) -> ApiResult<Response> {
    odata::list(
        &state.store,
        Table::Pools,
        None,
        &params,
        &format!("{}/pools", state.base_url),
    )
}

pub async fn get_one(
    State(state): State<Shared>,
    Path(pool): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let doc = load(&state, &pool)?;
    if let Some(not_modified) = odata::preconditions(&headers, &doc, false)? {
        return Ok(not_modified);
    }
    Ok(odata::doc_response(&doc, &params))
}

/// Changes a pool in one transaction after checking preconditions and state.
fn change_pool(
    state: &Shared,
    id: &str,
    headers: &HeaderMap,
    change: impl FnOnce(&mut Value) -> ApiResult<()>,
) -> ApiResult<Value> {
    super::change::change_doc(
        state,
        Table::Pools,
        id,
        headers,
        pool_not_found,
        || {
            ApiError::conflict(
                "PoolBeingDeleted",
                "The specified pool has been marked for deletion and is being reclaimed.",
            )
        },
        change,
    )
}

pub async fn delete(
    State(state): State<Shared>,
    Path(pool): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    change_pool(&state, &pool, &headers, |doc| {
        set_state(doc, "deleting");
        Ok(())
    })?;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub async fn patch(
    State(state): State<Shared>,
    Path(pool): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let patch = odata::body_object(&body)?;
    odata::check_metadata(&patch)?;
    let doc = change_pool(&state, &pool, &headers, |doc| {
        let empty =
            int(doc, "currentDedicatedNodes", 0) + int(doc, "currentLowPriorityNodes", 0) == 0;
        for (key, value) in patch.as_object().into_iter().flatten() {
            match rules::pool_update(key) {
                Update::Anytime => {}
                Update::EmptyPoolOnly if empty => {}
                Update::EmptyPoolOnly => {
                    return Err(ApiError::conflict(
                        "PoolNotEmpty",
                        format!(
                            "The property {key} can be updated only when the pool has no nodes."
                        ),
                    ));
                }
                Update::Scale | Update::WhileDisabled | Update::CreateOnly => {
                    return Err(ApiError::invalid_property(
                        key,
                        "this property cannot be updated",
                    ));
                }
            }
            doc[key] = value.clone();
        }
        Ok(())
    })?;
    Ok(odata::written(StatusCode::OK, &doc))
}

/// `Pools_ReplacePoolProperties` (`POST /pools/{id}/updateproperties`): every property of
/// `BatchPoolReplaceOptions` is replaced, and one left out is removed (a start task left
/// out is gone afterwards; recording: test_batch_update_pools).
pub async fn replace_properties(
    State(state): State<Shared>,
    Path(pool): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let replace = odata::body_object(&body)?;
    odata::check_model::<batchyard_batch::models::BatchPoolReplaceOptions>(&replace)?;
    odata::check_metadata(&replace)?;
    for required in [
        "certificateReferences",
        "applicationPackageReferences",
        "metadata",
    ] {
        if replace.get(required).is_none() {
            return Err(ApiError::missing_property(required));
        }
    }
    change_pool(&state, &pool, &headers, |doc| {
        for field in [
            "startTask",
            "certificateReferences",
            "applicationPackageReferences",
            "metadata",
            "targetNodeCommunicationMode",
        ] {
            match replace.get(field) {
                Some(value) => doc[field] = value.clone(),
                None => {
                    if let Some(map) = doc.as_object_mut() {
                        map.remove(field);
                    }
                }
            }
        }
        Ok(())
    })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn resize(
    State(state): State<Shared>,
    Path(pool): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let request = odata::body_object(&body)?;
    change_pool(&state, &pool, &headers, |doc| {
        if doc["enableAutoScale"].as_bool() == Some(true) {
            return Err(ApiError::conflict(
                "PoolAutoScaleEnabled",
                "The pool has automatic scaling enabled; it cannot be resized manually.",
            ));
        }
        if text(doc, "allocationState") != "steady" {
            return Err(ApiError::conflict(
                "PoolNotSteady",
                "The pool is not in a steady allocation state; retry when the current resize ends.",
            ));
        }
        for field in ["targetDedicatedNodes", "targetLowPriorityNodes"] {
            if let Some(v) = request.get(field) {
                let n = v.as_i64().filter(|n| *n >= 0).ok_or_else(|| {
                    ApiError::invalid_property(field, "must be a non-negative integer")
                })?;
                doc[field] = json!(n);
            }
        }
        let option = match text(&request, "nodeDeallocationOption") {
            "" => "requeue",
            other => other,
        };
        private(doc)["deallocation"] = json!(option);
        // resizeErrors are those of the last resize.
        if let Some(map) = doc.as_object_mut() {
            map.remove("resizeErrors");
        }
        doc["allocationState"] = json!("resizing");
        doc["allocationStateTransitionTime"] = json!(clock::now());
        Ok(())
    })?;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub async fn stop_resize(
    State(state): State<Shared>,
    Path(pool): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    change_pool(&state, &pool, &headers, |doc| {
        if text(doc, "allocationState") == "resizing" {
            // As the service answers (recording: test_batch_scale_pools): the nodes
            // already allocated stay, the targets stay as they were asked for, and the
            // shortfall is reported as a `ResizeStopped` resize error per kind of node.
            doc["allocationState"] = json!("steady");
            doc["allocationStateTransitionTime"] = json!(clock::now());
            let mut errors = Vec::new();
            for (current, target, kind) in [
                ("currentDedicatedNodes", "targetDedicatedNodes", "dedicated"),
                (
                    "currentLowPriorityNodes",
                    "targetLowPriorityNodes",
                    "low priority",
                ),
            ] {
                if int(doc, current, 0) < int(doc, target, 0) {
                    errors.push(json!({
                        "code": "ResizeStopped",
                        "message": format!("Desired number of {kind} nodes could not be allocated due to a stop resize operation"),
                    }));
                }
            }
            if !errors.is_empty() {
                doc["resizeErrors"] = json!(errors);
            }
        }
        Ok(())
    })?;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub async fn remove_nodes(
    State(state): State<Shared>,
    Path(pool): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let request = odata::body_object(&body)?;
    let ids: Vec<String> = request
        .get("nodeList")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::missing_property("nodeList"))?
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    if ids.is_empty() || ids.len() > 100 {
        return Err(ApiError::invalid_property(
            "nodeList",
            "must name between 1 and 100 nodes",
        ));
    }
    let option = match text(&request, "nodeDeallocationOption") {
        "" => "requeue".to_string(),
        other => other.to_string(),
    };
    let mut fields = Vec::new();
    for id in &ids {
        let node = state
            .store
            .read(|c| docs::get(c, Table::Nodes, &pool, id))?
            .ok_or_else(|| ApiError::not_found("NodeNotFound", "node"))?;
        fields.push(if node.value["isDedicated"].as_bool().unwrap_or(true) {
            "targetDedicatedNodes"
        } else {
            "targetLowPriorityNodes"
        });
    }
    change_pool(&state, &pool, &headers, move |doc| {
        if text(doc, "allocationState") != "steady" {
            return Err(ApiError::conflict(
                "PoolNotSteady",
                "The pool is not in a steady allocation state; retry when the current resize ends.",
            ));
        }
        for field in fields {
            doc[field] = json!((int(doc, field, 0) - 1).max(0));
        }
        private(doc)["deallocation"] = json!(option);
        private(doc)["removeNodes"] = json!(ids);
        doc["allocationState"] = json!("resizing");
        Ok(())
    })
    .and_then(|doc| mark_removed(&state, &pool, &doc))?;
    Ok(StatusCode::ACCEPTED.into_response())
}

fn mark_removed(state: &Shared, pool: &str, doc: &Value) -> ApiResult<()> {
    let ids: Vec<String> = doc
        .pointer("/_emulator/removeNodes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    let option = doc
        .pointer("/_emulator/deallocation")
        .cloned()
        .unwrap_or(json!("requeue"));
    state.store.write(|tx| -> Result<(), StoreError> {
        for id in &ids {
            if let Some(mut node) = docs::get(tx, Table::Nodes, pool, id)? {
                private(&mut node.value)["remove"] = option.clone();
                docs::put(tx, Table::Nodes, pool, id, &node.value)?;
            }
        }
        Ok(())
    })?;
    state.engine.wake();
    Ok(())
}

pub async fn enable_autoscale(
    State(state): State<Shared>,
    Path(pool): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let request = odata::body_object(&body)?;
    let formula = match request.get("autoScaleFormula") {
        Some(f) => Some(Formula::parse(f.as_str().unwrap_or_default()).map_err(syntax_error)?),
        None => None,
    };
    state
        .autoscale
        .ensure_sampled(&state.store, &pool, formula.as_ref())?;
    let doc = change_pool(&state, &pool, &headers, |doc| {
        if text(doc, "allocationState") != "steady" {
            return Err(ApiError::conflict(
                "PoolNotSteady",
                "The pool is being resized; enable autoscale when it is steady.",
            ));
        }
        if let Some(f) = request.get("autoScaleFormula") {
            doc["autoScaleFormula"] = f.clone();
        }
        if let Some(i) = request.get("autoScaleEvaluationInterval") {
            doc["autoScaleEvaluationInterval"] = i.clone();
        }
        check_autoscale(doc)?;
        doc["enableAutoScale"] = json!(true);
        state.autoscale.apply(doc);
        Ok(())
    })?;
    Ok(odata::written(StatusCode::OK, &doc))
}

/// `Pools_EvaluatePoolAutoScale`: the `AutoScaleRun` a formula would give now, with the
/// pool's live metrics; the pool is left as it is.
pub async fn evaluate_autoscale(
    State(state): State<Shared>,
    Path(pool): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let request = odata::body_object(&body)?;
    let text_in = request
        .get("autoScaleFormula")
        .ok_or_else(|| ApiError::missing_property("autoScaleFormula"))?
        .as_str()
        .ok_or_else(|| ApiError::invalid_property("autoScaleFormula", "must be a string"))?;
    let formula = Formula::parse(text_in).map_err(syntax_error)?;
    let doc = load(&state, &pool)?;
    if doc["enableAutoScale"].as_bool() != Some(true) {
        return Err(ApiError::conflict(
            "OperationInvalidForCurrentState",
            "The pool does not have automatic scaling enabled; enable it before evaluating a formula.",
        ));
    }
    state
        .autoscale
        .ensure_sampled(&state.store, &pool, Some(&formula))?;
    let result = state.autoscale.evaluate(&doc, &formula);
    let mut run = autoscale::run_json(&result, &clock::now());
    run["odata.metadata"] = json!(odata::context(
        "Microsoft.Azure.Batch.Protocol.Entities.AutoScaleRun"
    ));
    Ok(axum::Json(run).into_response())
}

pub async fn disable_autoscale(
    State(state): State<Shared>,
    Path(pool): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let doc = change_pool(&state, &pool, &headers, |doc| {
        doc["enableAutoScale"] = json!(false);
        Ok(())
    })?;
    state.autoscale.forget(&pool);
    Ok(odata::written(StatusCode::OK, &doc))
}

pub async fn list_nodes(
    State(state): State<Shared>,
    Path(pool): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult<Response> {
    load(&state, &pool)?;
    odata::list(
        &state.store,
        Table::Nodes,
        Some(&pool),
        &params,
        &format!("{}/pools/{pool}/nodes", state.base_url),
    )
}

pub async fn get_node(
    State(state): State<Shared>,
    Path((pool, node)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> ApiResult<Response> {
    load(&state, &pool)?;
    let doc = state
        .store
        .read(|c| docs::get(c, Table::Nodes, &pool, &node))?
        .ok_or_else(|| ApiError::not_found("NodeNotFound", "node"))?;
    Ok(odata::doc_response(&doc.value, &params))
}

const NODE_COUNT_KEYS: &[(&str, &str)] = &[
    ("creating", "creating"),
    ("idle", "idle"),
    ("offline", "offline"),
    ("preempted", "preempted"),
    ("rebooting", "rebooting"),
    ("reimaging", "reimaging"),
    ("running", "running"),
    ("starting", "starting"),
    ("starttaskfailed", "startTaskFailed"),
    ("leavingpool", "leavingPool"),
    ("unknown", "unknown"),
    ("unusable", "unusable"),
    ("waitingforstarttask", "waitingForStartTask"),
    ("deallocated", "deallocated"),
    ("deallocating", "deallocating"),
    ("upgradingos", "upgradingOS"),
];

pub async fn node_counts(State(state): State<Shared>) -> ApiResult<Response> {
    let pools = state
        .store
        .read(|c| docs::list(c, Table::Pools, None, 0, None, usize::MAX))?;
    let mut out = Vec::new();
    for pool in pools {
        let id = text(&pool.value, "id").to_string();
        let nodes = state
            .store
            .read(|c| docs::list(c, Table::Nodes, Some(&id), 0, None, usize::MAX))?;
        let mut counts = [json!({}), json!({})];
        for (i, dedicated) in [true, false].into_iter().enumerate() {
            let mine: Vec<&Value> = nodes
                .iter()
                .map(|n| &n.value)
                .filter(|n| n["isDedicated"].as_bool() == Some(dedicated))
                .collect();
            for (state_name, key) in NODE_COUNT_KEYS {
                counts[i][*key] = json!(
                    mine.iter()
                        .filter(|n| text(n, "state") == *state_name)
                        .count()
                );
            }
            counts[i]["total"] = json!(mine.len());
        }
        let [dedicated, low] = counts;
        out.push(json!({"poolId": id, "dedicated": dedicated, "lowPriority": low}));
    }
    Ok(
        axum::Json(json!({"odata.metadata": odata::context("poolnodecounts"), "value": out}))
            .into_response(),
    )
}

/// The images `GET /supportedimages` lists, from `data/supported_images.json`: entries
/// copied from a recorded answer of the real service, with `batchSupportEndOfLife` as the
/// service or Microsoft's announcement dates it (each entry names its source).
const SUPPORTED_IMAGES: &str = include_str!("../../data/supported_images.json");

pub async fn supported_images() -> Response {
    let data: Value = serde_json::from_str(SUPPORTED_IMAGES).unwrap_or(Value::Null);
    let value: Vec<Value> = data["value"]
        .as_array()
        .map(|images| {
            images
                .iter()
                .map(|image| {
                    let mut image = image.clone();
                    if let Some(map) = image.as_object_mut() {
                        // Where the entry comes from is for readers of the file, not a
                        // field of the service's answer.
                        map.remove("source");
                    }
                    image
                })
                .collect()
        })
        .unwrap_or_default();
    axum::Json(json!({"odata.metadata": odata::context("supportedimages"), "value": value}))
        .into_response()
}
