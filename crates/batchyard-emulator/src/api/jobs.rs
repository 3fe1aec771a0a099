//! Job operations.

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
use crate::engine::docs_util::{set_state, text, touch};
use crate::engine::{Command, StopReason};
use crate::store::docs::{self, Table};

fn job_not_found() -> ApiError {
    ApiError::not_found("JobNotFound", "job")
}

/// Reads a job or answers 404 JobNotFound.
pub fn load(state: &Shared, job: &str) -> ApiResult<Value> {
    state
        .store
        .read(|c| docs::get(c, Table::Jobs, "", job))?
        .map(|d| d.value)
        .ok_or_else(job_not_found)
}

pub async fn create(State(state): State<Shared>, body: Bytes) -> ApiResult<Response> {
    let mut doc = odata::body_object(&body)?;
    super::create_fields::only(&doc, super::create_fields::JOB)?;
    let id = odata::required_id(&doc, "id")?.to_string();
    let pool_info = doc
        .get("poolInfo")
        .ok_or_else(|| ApiError::missing_property("poolInfo"))?;
    if pool_info.get("poolId").and_then(Value::as_str).is_none() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "UnsupportedProperty",
            "The emulator runs jobs only on an existing pool: poolInfo.poolId is required (auto pools are not supported).",
        )
        .with("PropertyName", "poolInfo"));
    }
    odata::check_model::<batchyard_batch::models::BatchJobCreateOptions>(&doc)?;
    odata::check_metadata(&doc)?;
    if doc.get("jobReleaseTask").is_some() && doc.get("jobPreparationTask").is_none() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "JobPreparationTaskNotSpecified",
            "A job release task needs a job preparation task.",
        ));
    }
    for field in ["jobPreparationTask", "jobReleaseTask"] {
        if let Some(task) = doc.get(field) {
            odata::required_str(task, "commandLine")
                .map_err(|_| ApiError::missing_property(&format!("{field}.commandLine")))?;
        }
    }
    let now = clock::now();
    let defaults = json!({
        "url": format!("/jobs/{id}"),
        "creationTime": now,
        "state": "active",
        "stateTransitionTime": now,
        "executionInfo": {"startTime": now, "poolId": pool_info["poolId"]},
    });
    if let (Some(map), Some(defaults)) = (doc.as_object_mut(), defaults.as_object()) {
        for (k, v) in defaults {
            map.entry(k.clone()).or_insert(v.clone());
        }
        for (k, v) in rules::defaults(rules::JOB) {
            map.entry(k).or_insert(v);
        }
        if let Some(task) = map.get_mut("jobPreparationTask") {
            rules::fill_defaults(task, rules::JOB_PREPARATION_DEFAULTS);
        }
        if let Some(task) = map.get_mut("jobReleaseTask") {
            rules::fill_defaults(task, rules::JOB_RELEASE_DEFAULTS);
        }
    }
    touch(&mut doc, &now);
    let inserted = state
        .store
        .write(|tx| docs::insert(tx, Table::Jobs, "", &id, &doc))?;
    if !inserted {
        return Err(ApiError::conflict(
            "JobExists",
            "The specified job already exists.",
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
        Table::Jobs,
        None,
        &params,
        &format!("{}/jobs", state.base_url),
    )
}

pub async fn get_one(
    State(state): State<Shared>,
    Path(job): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let doc = load(&state, &job)?;
    if let Some(not_modified) = odata::preconditions(&headers, &doc, false)? {
        return Ok(not_modified);
    }
    Ok(odata::doc_response(&doc, &params))
}

fn change_job(
    state: &Shared,
    id: &str,
    headers: &HeaderMap,
    change: impl FnOnce(&mut Value) -> ApiResult<()>,
) -> ApiResult<Value> {
    super::change::change_doc(
        state,
        Table::Jobs,
        id,
        headers,
        job_not_found,
        || {
            ApiError::conflict(
                "JobBeingDeleted",
                "The specified job has been marked for deletion and is being garbage collected.",
            )
        },
        change,
    )
}

pub async fn patch(
    State(state): State<Shared>,
    Path(job): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let patch = odata::body_object(&body)?;
    odata::check_metadata(&patch)?;
    let doc = change_job(&state, &job, &headers, |doc| {
        for (key, value) in patch.as_object().into_iter().flatten() {
            match rules::job_update(key) {
                Update::Anytime => {
                    // BatchJobUpdateOptions.onAllTasksComplete: "You may not change the
                    // value from terminatejob to noaction".
                    if key == "onAllTasksComplete"
                        && value.as_str() == Some("noaction")
                        && text(doc, "onAllTasksComplete") == "terminatejob"
                    {
                        return Err(ApiError::invalid_property(
                            key,
                            "onAllTasksComplete cannot be changed back to noaction",
                        ));
                    }
                }
                Update::WhileDisabled => {
                    if text(doc, "state") != "disabled" {
                        return Err(ApiError::conflict(
                            "JobNotDisabled",
                            "The pool of a job can be changed only while the job is disabled.",
                        ));
                    }
                }
                Update::EmptyPoolOnly | Update::Scale | Update::CreateOnly => {
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

fn must_be_active(doc: &Value) -> ApiResult<()> {
    match text(doc, "state") {
        "completed" => Err(ApiError::conflict(
            "JobCompleted",
            "The specified job is already in a completed state.",
        )),
        "terminating" => Err(ApiError::conflict(
            "JobBeingTerminated",
            "The specified job is being terminated.",
        )),
        _ => Ok(()),
    }
}

pub async fn delete(
    State(state): State<Shared>,
    Path(job): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    change_job(&state, &job, &headers, |doc| {
        set_state(doc, "deleting");
        Ok(())
    })?;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub async fn terminate(
    State(state): State<Shared>,
    Path(job): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let reason = if body.is_empty() {
        "UserTerminate".to_string()
    } else {
        let request = odata::body_object(&body)?;
        match text(&request, "terminateReason") {
            "" => "UserTerminate".to_string(),
            other => other.to_string(),
        }
    };
    change_job(&state, &job, &headers, |doc| {
        must_be_active(doc)?;
        set_state(doc, "terminating");
        doc["executionInfo"]["terminateReason"] = json!(reason);
        Ok(())
    })?;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub async fn disable(
    State(state): State<Shared>,
    Path(job): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let request = odata::body_object(&body)?;
    let option = odata::required_str(&request, "disableTasks")?.to_string();
    let reason = match option.as_str() {
        "requeue" => Some(StopReason::Requeue),
        "terminate" => Some(StopReason::Terminate),
        "wait" => None,
        _ => {
            return Err(ApiError::invalid_property(
                "disableTasks",
                "must be requeue, terminate or wait",
            ));
        }
    };
    change_job(&state, &job, &headers, |doc| {
        must_be_active(doc)?;
        set_state(doc, "disabled");
        Ok(())
    })?;
    if let Some(reason) = reason {
        let running = state.store.read(|c| {
            docs::list(
                c,
                Table::Tasks,
                Some(&job),
                0,
                Some(&["running"]),
                usize::MAX,
            )
        })?;
        for task in running {
            state.engine.send(Command::StopTask {
                job: job.clone(),
                task: text(&task.value, "id").to_string(),
                reason,
            });
        }
    }
    Ok(StatusCode::ACCEPTED.into_response())
}

pub async fn enable(
    State(state): State<Shared>,
    Path(job): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    change_job(&state, &job, &headers, |doc| {
        must_be_active(doc)?;
        set_state(doc, "active");
        Ok(())
    })?;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub async fn task_counts(
    State(state): State<Shared>,
    Path(job): Path<String>,
) -> ApiResult<Response> {
    load(&state, &job)?;
    let (counts, slots) = state
        .store
        .read(|c| crate::store::attempts::task_counts(c, &job))?;
    let body = json!({
        "taskCounts": counts,
        "taskSlotCounts": slots,
    });
    Ok(axum::Json(body).into_response())
}

pub async fn prep_and_release_status(
    State(state): State<Shared>,
    Path(job): Path<String>,
) -> ApiResult<Response> {
    let doc = load(&state, &job)?;
    let pool_id = doc
        .pointer("/poolInfo/poolId")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let nodes = state
        .store
        .read(|c| docs::list(c, Table::Nodes, Some(&pool_id), 0, None, usize::MAX))?;
    let key = job.to_ascii_lowercase();
    let mut out = Vec::new();
    for node in nodes {
        let Some(record) = node.value.pointer(&format!("/_emulator/jobPrep/{key}")) else {
            continue;
        };
        let node_id = text(&node.value, "id");
        let mut item = json!({
            "poolId": pool_id,
            "nodeId": node_id,
            "nodeUrl": format!("/pools/{pool_id}/nodes/{node_id}"),
        });
        if let Some(prep) = record.get("prep") {
            item["jobPreparationTaskExecutionInfo"] = prep.clone();
        }
        if let Some(release) = record.get("release") {
            item["jobReleaseTaskExecutionInfo"] = release.clone();
        }
        out.push(item);
    }
    let mut body = json!({
        "odata.metadata": odata::context("jobpreparationandreleasetaskstatuslist"),
        "value": out,
    });
    odata::absolute_urls(&mut body);
    Ok(axum::Json(body).into_response())
}
