//! Task operations, including the bulk add-collection.

use crate::store::docs::at;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Shared;
use super::error::{ApiError, ApiResult};
use super::jobs;
use super::odata::{self, Params};
use crate::clock;
use crate::engine::docs_util::{set_state, text, touch};
use crate::engine::{Command, StopReason};
use crate::store::StoreError;
use crate::store::docs::{self, Table};

/// Most tasks one add-collection may carry.
pub const MAX_TASKS_PER_COLLECTION: usize = 100;

fn task_not_found() -> ApiError {
    ApiError::not_found("TaskNotFound", "task")
}

fn job_accepts_tasks(job: &Value) -> ApiResult<()> {
    match text(job, "state") {
        "completed" => Err(ApiError::conflict(
            "JobCompleted",
            "The specified job is already in a completed state.",
        )),
        "terminating" => Err(ApiError::conflict(
            "JobBeingTerminated",
            "The specified job is being terminated.",
        )),
        "deleting" => Err(ApiError::conflict(
            "JobBeingDeleted",
            "The specified job has been marked for deletion and is being garbage collected.",
        )),
        _ => Ok(()),
    }
}

/// Checks a task body and fills in the service's defaults.
fn new_task(job: &Value, mut doc: Value, now: &str) -> ApiResult<(String, Value)> {
    if !doc.is_object() {
        return Err(ApiError::invalid_body("each task must be a JSON object"));
    }
    super::create_fields::only(&doc, super::create_fields::TASK)?;
    let id = odata::required_id(&doc, "id")?.to_string();
    odata::required_str(&doc, "commandLine")?;
    odata::check_model::<batchyard_batch::models::BatchTaskCreateOptions>(&doc)?;
    if doc.get("dependsOn").is_some() && job["usesTaskDependencies"].as_bool() != Some(true) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "TaskDependenciesNotSpecifiedOnJob",
            "The task has dependencies but the job does not set usesTaskDependencies.",
        ));
    }
    if let Some(ids) = at(&doc, "/dependsOn/taskIds").and_then(Value::as_array) {
        let total: usize = ids.iter().filter_map(Value::as_str).map(str::len).sum();
        if total > 64_000 {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "TaskDependencyListTooLong",
                "The dependency list is longer than 64000 characters; use taskIdRanges.",
            ));
        }
    }
    let slots = doc
        .get("requiredSlots")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    if slots < 1 {
        return Err(ApiError::invalid_property(
            "requiredSlots",
            "must be at least 1",
        ));
    }
    if let Some(multi) = doc.get("multiInstanceSettings") {
        if !multi
            .get("coordinationCommandLine")
            .is_some_and(Value::is_string)
        {
            return Err(ApiError::missing_property(
                "multiInstanceSettings.coordinationCommandLine",
            ));
        }
        if multi
            .get("numberOfInstances")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            < 1
        {
            return Err(ApiError::invalid_property(
                "multiInstanceSettings.numberOfInstances",
                "must be at least 1",
            ));
        }
        if slots != 1 {
            return Err(ApiError::invalid_property(
                "requiredSlots",
                "a multi-instance task must require exactly one slot",
            ));
        }
    }
    let job_id = text(job, "id");
    let job_retries = at(job, "/constraints/maxTaskRetryCount")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    // Thousands of tasks a second come through here: defaults are inserted one by one
    // instead of building a map of them to copy from.
    // Taken in place, so the field keeps its position in the stored document.
    let constraints = doc
        .get_mut("constraints")
        .map(Value::take)
        .unwrap_or(json!({}));
    if let Some(map) = doc.as_object_mut() {
        map.entry("url")
            .or_insert_with(|| json!(format!("/jobs/{job_id}/tasks/{id}")));
        map.entry("creationTime").or_insert_with(|| json!(now));
        map.entry("state").or_insert_with(|| json!("active"));
        map.entry("stateTransitionTime")
            .or_insert_with(|| json!(now));
        map.entry("requiredSlots").or_insert_with(|| json!(1));
        map.entry("userIdentity").or_insert_with(
            || json!({"autoUser": {"scope": "pool", "elevationLevel": "nonadmin"}}),
        );
        map.entry("executionInfo")
            .or_insert_with(|| json!({"retryCount": 0, "requeueCount": 0}));
    }
    let given = |name: &str, default: Value| constraints.get(name).cloned().unwrap_or(default);
    doc["constraints"] = json!({
        "maxWallClockTime": given("maxWallClockTime", json!("P10675199DT2H48M5.4775807S")),
        "retentionTime": given("retentionTime", json!("P7D")),
        "maxTaskRetryCount": given("maxTaskRetryCount", json!(job_retries)),
    });
    touch(&mut doc, now);
    Ok((id, doc))
}

pub async fn create(
    State(state): State<Shared>,
    Path(job): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let job_doc = jobs::load(&state, &job)?;
    job_accepts_tasks(&job_doc)?;
    let (id, doc) = new_task(&job_doc, odata::body_object(&body)?, &clock::now())?;
    let inserted = state
        .store
        .write(|tx| docs::insert(tx, Table::Tasks, &job, &id, &doc))?;
    state.faults.note_adds(&job, [id.as_str()]);
    if !inserted {
        return Err(ApiError::conflict(
            "TaskExists",
            "The specified task already exists.",
        ));
    }
    state.engine.tasks_changed();
    Ok(odata::written(StatusCode::CREATED, &doc))
}

pub async fn add_collection(
    State(state): State<Shared>,
    Path(job): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let job_doc = jobs::load(&state, &job)?;
    job_accepts_tasks(&job_doc)?;
    let mut request = odata::body_object(&body)?;
    let Some(Value::Array(tasks)) = request.get_mut("value").map(Value::take) else {
        return Err(ApiError::missing_property("value"));
    };
    if tasks.len() > MAX_TASKS_PER_COLLECTION {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "TooManyTasksInCollection",
            "A task collection may hold at most 100 tasks; split it into several requests.",
        )
        .with("MaxLimit", MAX_TASKS_PER_COLLECTION.to_string()));
    }
    let mut results = Vec::with_capacity(tasks.len());
    let mut accepted = Vec::new();
    // One creation time for the whole collection, as it is one request.
    let now = clock::now();
    for task in tasks {
        let task_id = text(&task, "id").to_string();
        if state.faults.task_server_error() {
            let err = ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServerBusy",
                "The server is busy; retry this task.",
            );
            results.push(json!({"status": "servererror", "taskId": task_id, "error": err.body()}));
            continue;
        }
        match new_task(&job_doc, task, &now) {
            Ok((id, doc)) => accepted.push((id, doc)),
            Err(err) => results
                .push(json!({"status": "clienterror", "taskId": task_id, "error": err.body()})),
        }
    }
    // All accepted tasks go in one transaction: a kill leaves all or none of them.
    let inserted = state.store.write(|tx| -> Result<Vec<bool>, StoreError> {
        accepted
            .iter()
            .map(|(id, doc)| docs::insert(tx, Table::Tasks, &job, id, doc))
            .collect()
    })?;
    state
        .faults
        .note_adds(&job, accepted.iter().map(|(id, _)| id.as_str()));
    for ((id, doc), ok) in accepted.iter().zip(inserted) {
        if ok {
            let mut location = json!({ "url": doc["url"] });
            odata::absolute_urls(&mut location);
            results.push(json!({
                "status": "success",
                "taskId": id,
                "eTag": doc["eTag"],
                "lastModified": doc["lastModified"],
                "location": location["url"],
            }));
        } else {
            let err = ApiError::conflict("TaskExists", "The specified task already exists.");
            results.push(json!({"status": "clienterror", "taskId": id, "error": err.body()}));
        }
    }
    state.engine.tasks_changed();
    Ok(axum::Json(json!({ "value": results })).into_response())
}

pub async fn list(
    State(state): State<Shared>,
    Path(job): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult<Response> {
    jobs::load(&state, &job)?;
    odata::list(
        &state.store,
        Table::Tasks,
        Some(&job),
        &params,
        &format!("{}/jobs/{job}/tasks", state.base_url),
    )
}

/// Reads a task or answers 404 (JobNotFound first, as the service does).
pub fn load(state: &Shared, job: &str, task: &str) -> ApiResult<Value> {
    jobs::load(state, job)?;
    state
        .store
        .read(|c| docs::get(c, Table::Tasks, job, task))?
        .map(|d| d.value)
        .ok_or_else(task_not_found)
}

pub async fn get_one(
    State(state): State<Shared>,
    Path((job, task)): Path<(String, String)>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let doc = load(&state, &job, &task)?;
    if let Some(not_modified) = odata::preconditions(&headers, &doc, false)? {
        return Ok(not_modified);
    }
    Ok(odata::doc_response(&doc, &params))
}

fn change_task(
    state: &Shared,
    job: &str,
    task: &str,
    headers: &HeaderMap,
    change: impl FnOnce(&mut Value) -> ApiResult<()>,
) -> ApiResult<Value> {
    jobs::load(state, job)?;
    let doc = state.store.write(|tx| -> ApiResult<Value> {
        let mut doc = docs::get(tx, Table::Tasks, job, task)?
            .ok_or_else(task_not_found)?
            .value;
        odata::preconditions(headers, &doc, true)?;
        change(&mut doc)?;
        touch(&mut doc, &clock::now());
        docs::put(tx, Table::Tasks, job, task, &doc).map_err(ApiError::from)?;
        Ok(doc)
    })?;
    state.engine.tasks_changed();
    Ok(doc)
}

pub async fn replace(
    State(state): State<Shared>,
    Path((job, task)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let request = odata::body_object(&body)?;
    let doc = change_task(&state, &job, &task, &headers, |doc| {
        if let Some(constraints) = request.get("constraints").and_then(Value::as_object) {
            for (k, v) in constraints {
                doc["constraints"][k] = v.clone();
            }
        }
        Ok(())
    })?;
    Ok(odata::written(StatusCode::OK, &doc))
}

pub async fn delete(
    State(state): State<Shared>,
    Path((job, task)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let doc = load(&state, &job, &task)?;
    odata::preconditions(&headers, &doc, true)?;
    if text(&doc, "state") == "running" {
        state.engine.send(Command::StopTask {
            job: job.clone(),
            task: task.clone(),
            reason: StopReason::Discard,
        });
    }
    state
        .store
        .write(|tx| docs::delete(tx, Table::Tasks, &job, &task))?;
    Ok(StatusCode::OK.into_response())
}

pub async fn terminate(
    State(state): State<Shared>,
    Path((job, task)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let mut running = false;
    change_task(&state, &job, &task, &headers, |doc| {
        match text(doc, "state") {
            "completed" => {}
            "running" | "preparing" => running = true,
            _ => {
                set_state(doc, "completed");
                doc["executionInfo"]["result"] = json!("failure");
                doc["executionInfo"]["endTime"] = json!(clock::now());
                doc["executionInfo"]["failureInfo"] = json!({"category": "usererror", "code": "TaskEnded", "message": "The task was terminated."});
            }
        }
        Ok(())
    })?;
    if running {
        state.engine.send(Command::StopTask {
            job,
            task,
            reason: StopReason::Terminate,
        });
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn reactivate(
    State(state): State<Shared>,
    Path((job, task)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    change_task(&state, &job, &task, &headers, |doc| {
        if text(doc, "state") != "completed"
            || at(doc, "/executionInfo/result").and_then(Value::as_str) != Some("failure")
        {
            return Err(ApiError::conflict(
                "TaskNotFailed",
                "Only a completed task that failed can be reactivated.",
            ));
        }
        set_state(doc, "active");
        let requeues = at(doc, "/executionInfo/requeueCount")
            .cloned()
            .unwrap_or(json!(0));
        doc["executionInfo"] = json!({"retryCount": 0, "requeueCount": requeues});
        Ok(())
    })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn subtasks(
    State(state): State<Shared>,
    Path((job, task)): Path<(String, String)>,
) -> ApiResult<Response> {
    let doc = load(&state, &job, &task)?;
    let mut subtasks = at(&doc, "/_emulator/subtasks")
        .cloned()
        .unwrap_or(json!([]));
    odata::absolute_urls(&mut subtasks);
    Ok(axum::Json(json!({ "value": subtasks })).into_response())
}
