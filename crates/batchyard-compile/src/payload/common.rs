//! Pieces shared by pool, job and task payloads, in Batch REST shape.

use batchyard_recipe::model::{
    DependencyAction, EnvMap, ExitAction, ExitConditions, JobExitAction, Metadata, OutputFile,
    OutputUpload, ResourceFile,
};
use serde_json::{Map, Value, json};

/// `environmentSettings`.
pub fn env(vars: &EnvMap) -> Value {
    Value::Array(
        vars.iter()
            .map(|(k, v)| json!({"name": k, "value": v}))
            .collect(),
    )
}

/// `metadata`: the recipe's own items, then the ownership tags.
pub fn metadata(own: &Metadata, recipe: &str) -> Vec<Value> {
    let mut items: Vec<Value> = own
        .iter()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect();
    items.push(json!({"name": crate::METADATA_RECIPE, "value": recipe}));
    items
}

/// `resourceFiles`.
pub fn resource_files(files: &[ResourceFile]) -> Value {
    Value::Array(files.iter().map(resource_file).collect())
}

fn resource_file(f: &ResourceFile) -> Value {
    let mut m = Map::new();
    put(&mut m, "httpUrl", &f.url);
    put(&mut m, "storageContainerUrl", &f.container_url);
    put(
        &mut m,
        "autoStorageContainerName",
        &f.auto_storage_container,
    );
    put(&mut m, "blobPrefix", &f.prefix);
    put(&mut m, "filePath", &f.path);
    put(&mut m, "fileMode", &f.mode);
    Value::Object(m)
}

/// `outputFiles`.
pub fn output_files(files: &[OutputFile]) -> Value {
    Value::Array(
        files
            .iter()
            .map(|f| {
                let mut container = Map::new();
                container.insert(
                    "containerUrl".into(),
                    Value::String(f.container_url.clone()),
                );
                put(&mut container, "path", &f.path);
                let condition = match f.upload {
                    OutputUpload::Success => "taskSuccess",
                    OutputUpload::Failure => "taskFailure",
                    OutputUpload::Completion => "taskCompletion",
                };
                json!({
                    "filePattern": f.pattern,
                    "destination": {"container": container},
                    "uploadOptions": {"uploadCondition": condition},
                })
            })
            .collect(),
    )
}

/// `exitConditions`.
pub fn exit_conditions(e: &ExitConditions) -> Value {
    let mut m = Map::new();
    if !e.codes.is_empty() {
        let codes = e
            .codes
            .iter()
            .map(|c| json!({"code": c.code, "exitOptions": exit_options(&c.action)}));
        m.insert("exitCodes".into(), Value::Array(codes.collect()));
    }
    if !e.ranges.is_empty() {
        let ranges = e.ranges.iter().map(
            |r| json!({"start": r.start, "end": r.end, "exitOptions": exit_options(&r.action)}),
        );
        m.insert("exitCodeRanges".into(), Value::Array(ranges.collect()));
    }
    for (key, action) in [
        ("preProcessingError", &e.pre_processing_error),
        ("fileUploadError", &e.file_upload_error),
        ("default", &e.default),
    ] {
        if let Some(a) = action {
            m.insert(key.into(), exit_options(a));
        }
    }
    Value::Object(m)
}

fn exit_options(a: &ExitAction) -> Value {
    let mut m = Map::new();
    if let Some(job) = a.job {
        let v = match job {
            JobExitAction::None => "none",
            JobExitAction::Disable => "disable",
            JobExitAction::Terminate => "terminate",
        };
        m.insert("jobAction".into(), v.into());
    }
    if let Some(dep) = a.dependents {
        let v = match dep {
            DependencyAction::Satisfy => "satisfy",
            DependencyAction::Block => "block",
        };
        m.insert("dependencyAction".into(), v.into());
    }
    Value::Object(m)
}

/// `userIdentity` for the pool's admin auto-user; `None` leaves Batch's default
/// (non-admin auto-user).
pub fn admin_identity(elevated: bool) -> Option<Value> {
    elevated.then(|| json!({"autoUser": {"scope": "pool", "elevationLevel": "admin"}}))
}

/// Inserts `key` when the value is set.
pub fn put(m: &mut Map<String, Value>, key: &str, value: &Option<String>) {
    if let Some(v) = value {
        m.insert(key.into(), Value::String(v.clone()));
    }
}

/// Inserts `key` when the JSON value is a non-empty array or object, or a scalar.
pub fn put_value(m: &mut Map<String, Value>, key: &str, value: Value) {
    let empty = match &value {
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Null => true,
        _ => false,
    };
    if !empty {
        m.insert(key.into(), value);
    }
}

/// Merges `raw` into `base`: objects merge key by key, anything else replaces.
pub fn merge(base: &mut Value, raw: &Map<String, Value>) {
    let Value::Object(b) = base else {
        *base = Value::Object(raw.clone());
        return;
    };
    for (k, v) in raw {
        match (b.get_mut(k), v) {
            (Some(existing @ Value::Object(_)), Value::Object(inner)) => merge(existing, inner),
            _ => {
                b.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_is_deep_for_objects_and_replaces_otherwise() {
        let mut base = json!({"a": {"x": 1, "y": 2}, "b": [1], "c": 3});
        let raw = json!({"a": {"y": 20, "z": 30}, "b": [2], "d": 4});
        merge(&mut base, raw.as_object().unwrap());
        assert_eq!(
            base,
            json!({"a": {"x": 1, "y": 20, "z": 30}, "b": [2], "c": 3, "d": 4})
        );
    }

    #[test]
    fn output_files_in_batch_shape() {
        let f: OutputFile = serde_json::from_value(json!({"pattern": "out/*.csv", "container_url": "https://s/c?sas", "upload": "success"})).unwrap();
        assert_eq!(
            output_files(&[f]),
            json!([{"filePattern": "out/*.csv", "destination": {"container": {"containerUrl": "https://s/c?sas"}}, "uploadOptions": {"uploadCondition": "taskSuccess"}}])
        );
    }
}
