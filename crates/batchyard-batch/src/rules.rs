//! What Azure Batch lets a client change on a pool or job after creating it, which
//! fields it never returns, and what it fills in for fields a create left out.
//!
//! This is the one table of these facts: the reconciler reads it to decide what a plan
//! must do (patch, resize, or replace), and the local emulator reads it to decide what a
//! PATCH may change and what a GET shows. Neither keeps a copy.
//!
//! Every row names its source:
//! - `spec`: `spec/BatchService.json` (api-version 2025-06-01.21.0). `BatchPoolUpdateOptions`
//!   and `BatchJobUpdateOptions` list what `PATCH` takes; their descriptions say "This field
//!   can be updated only when the pool is empty" where that holds; `x-ms-secret` marks the
//!   write-only properties.
//! - `recording`: `spec/recordings/`, sessions of Microsoft's Python SDK tests against the
//!   real service: the value a real `GET` returned for a field the create left out.
//!
//! The tests below check the update kinds and the write-only list against the spec, and
//! the reconciler's and emulator's tests check the defaults against the recordings.

use serde_json::Value;

/// How a field of an existing resource can be changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update {
    /// `PATCH` at any time.
    Anytime,
    /// `PATCH`, only while the pool has no nodes.
    EmptyPoolOnly,
    /// `PATCH`, only while the job is disabled.
    WhileDisabled,
    /// Not by `PATCH`: by resize, enable-autoscale or disable-autoscale.
    Scale,
    /// Never: only a new resource can have another value.
    CreateOnly,
}

/// One field of a pool or job.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Wire name.
    pub field: &'static str,
    /// How it can change after the create.
    pub update: Update,
    /// JSON a `GET` shows when the create left the field out; `None` when it is absent.
    pub default: Option<&'static str>,
    /// JSON a `PATCH` sends to remove the field (an empty collection); `None` when a
    /// `PATCH` cannot remove it.
    pub clear: Option<&'static str>,
    /// Where the row comes from.
    pub source: &'static str,
}

const POOL_UPDATE: &str = "spec: BatchPoolUpdateOptions";
const POOL_UPDATE_EMPTY: &str =
    "spec: BatchPoolUpdateOptions, \"can be updated only when the pool is empty\"";
const POOL_GET: &str =
    "recording: test_batch_create_pools, GET /pools/{id} after a create without it";

const fn rule(field: &'static str, update: Update, source: &'static str) -> Rule {
    Rule {
        field,
        update,
        default: None,
        clear: None,
        source,
    }
}

const fn with_default(mut rule: Rule, default: &'static str) -> Rule {
    rule.default = Some(default);
    rule
}

const fn clearable(mut rule: Rule) -> Rule {
    rule.clear = Some("[]");
    rule
}

/// Pool fields (`BatchPoolCreateOptions`). A field not listed is [`Update::CreateOnly`]
/// with no default.
pub const POOL: &[Rule] = &[
    with_default(
        rule(
            "targetDedicatedNodes",
            Update::Scale,
            "spec: BatchPoolResizeOptions; recording: test_batch_create_pools GET shows 0",
        ),
        "0",
    ),
    with_default(
        rule(
            "targetLowPriorityNodes",
            Update::Scale,
            "spec: BatchPoolResizeOptions; recording: test_batch_create_pools GET shows 0",
        ),
        "0",
    ),
    with_default(
        rule(
            "enableAutoScale",
            Update::Scale,
            "spec: Pools_EnablePoolAutoScale / DisablePoolAutoScale; recording: test_batch_create_pools GET shows false",
        ),
        "false",
    ),
    rule(
        "autoScaleFormula",
        Update::Scale,
        "spec: BatchPoolEnableAutoScaleOptions",
    ),
    rule(
        "autoScaleEvaluationInterval",
        Update::Scale,
        "spec: BatchPoolEnableAutoScaleOptions (default 15 minutes once autoscale is on)",
    ),
    rule("startTask", Update::Anytime, POOL_UPDATE),
    clearable(rule("metadata", Update::Anytime, POOL_UPDATE)),
    clearable(rule(
        "applicationPackageReferences",
        Update::Anytime,
        POOL_UPDATE,
    )),
    clearable(rule("certificateReferences", Update::Anytime, POOL_UPDATE)),
    Rule {
        clear: Some(r#""default""#),
        ..rule(
            "targetNodeCommunicationMode",
            Update::Anytime,
            "spec: BatchPoolUpdateOptions; BatchNodeCommunicationMode `default` lets the service choose",
        )
    },
    rule("displayName", Update::EmptyPoolOnly, POOL_UPDATE_EMPTY),
    rule("vmSize", Update::EmptyPoolOnly, POOL_UPDATE_EMPTY),
    with_default(
        rule(
            "enableInterNodeCommunication",
            Update::EmptyPoolOnly,
            "spec: BatchPoolUpdateOptions, \"can be updated only when the pool is empty\"; recording: test_batch_create_pools GET shows false",
        ),
        "false",
    ),
    rule(
        "virtualMachineConfiguration",
        Update::EmptyPoolOnly,
        POOL_UPDATE_EMPTY,
    ),
    with_default(
        rule(
            "taskSlotsPerNode",
            Update::EmptyPoolOnly,
            "spec: BatchPoolUpdateOptions, \"can be updated only when the pool is empty\"; recording: test_batch_create_pools GET shows 1",
        ),
        "1",
    ),
    with_default(
        rule(
            "taskSchedulingPolicy",
            Update::EmptyPoolOnly,
            "spec: BatchPoolUpdateOptions, \"can be updated only when the pool is empty\"; recording: test_batch_create_pools GET shows {\"nodeFillType\": \"Spread\"}",
        ),
        r#"{"nodeFillType": "Spread"}"#,
    ),
    rule(
        "networkConfiguration",
        Update::EmptyPoolOnly,
        POOL_UPDATE_EMPTY,
    ),
    rule("resourceTags", Update::EmptyPoolOnly, POOL_UPDATE_EMPTY),
    clearable(rule(
        "userAccounts",
        Update::EmptyPoolOnly,
        POOL_UPDATE_EMPTY,
    )),
    rule(
        "mountConfiguration",
        Update::EmptyPoolOnly,
        POOL_UPDATE_EMPTY,
    ),
    rule("upgradePolicy", Update::EmptyPoolOnly, POOL_UPDATE_EMPTY),
    with_default(
        rule("resizeTimeout", Update::CreateOnly, POOL_GET),
        r#""PT15M""#,
    ),
];

const JOB_UPDATE: &str = "spec: BatchJobUpdateOptions";
const JOB_GET: &str = "recording: test_batch_jobs, GET /jobs/{id} after a create without it";

/// Job fields (`BatchJobCreateOptions`). A field not listed is [`Update::CreateOnly`]
/// with no default.
pub const JOB: &[Rule] = &[
    with_default(rule("priority", Update::Anytime, JOB_UPDATE), "0"),
    with_default(rule("maxParallelTasks", Update::Anytime, JOB_UPDATE), "-1"),
    with_default(
        rule("allowTaskPreemption", Update::Anytime, JOB_UPDATE),
        "false",
    ),
    with_default(
        rule("constraints", Update::Anytime, JOB_UPDATE),
        r#"{"maxWallClockTime": "P10675199DT2H48M5.4775807S", "maxTaskRetryCount": 0}"#,
    ),
    clearable(rule("metadata", Update::Anytime, JOB_UPDATE)),
    with_default(
        rule("onAllTasksComplete", Update::Anytime, JOB_UPDATE),
        r#""noaction""#,
    ),
    rule("networkConfiguration", Update::Anytime, JOB_UPDATE),
    rule("poolInfo", Update::WhileDisabled, JOB_UPDATE),
    with_default(
        rule("usesTaskDependencies", Update::CreateOnly, JOB_GET),
        "false",
    ),
    with_default(
        rule("onTaskFailure", Update::CreateOnly, JOB_GET),
        r#""noaction""#,
    ),
];

/// What the service fills into a job preparation task the create left partly out
/// (recording: test_batch_jobs, GET /jobs/{id}).
pub const JOB_PREPARATION_DEFAULTS: &str = r#"{
    "id": "jobpreparation",
    "constraints": {"maxWallClockTime": "P10675199DT2H48M5.4775807S", "retentionTime": "P7D", "maxTaskRetryCount": 0},
    "userIdentity": {"autoUser": {"scope": "pool", "elevationLevel": "nonadmin"}},
    "waitForSuccess": true,
    "rerunOnNodeRebootAfterSuccess": true
}"#;

/// What the service fills into a job release task the create left partly out
/// (recording: test_batch_jobs, GET /jobs/{id}).
pub const JOB_RELEASE_DEFAULTS: &str = r#"{
    "id": "jobrelease",
    "maxWallClockTime": "PT15M",
    "retentionTime": "P7D",
    "userIdentity": {"autoUser": {"scope": "pool", "elevationLevel": "nonadmin"}}
}"#;

/// What the service fills into a pool's image reference (recording: test_batch_create_pools,
/// GET /pools/{id}: `"version": "latest"`).
pub const IMAGE_REFERENCE_DEFAULTS: &str = r#"{"version": "latest"}"#;

/// What the service fills into each data disk of a pool (recording: test_batch_create_pools,
/// GET /pools/{id}).
pub const DATA_DISK_DEFAULTS: &str = r#"{"caching": "none", "storageAccountType": "standard_lrs"}"#;

/// Properties the service accepts but never returns (`x-ms-secret` in the spec): a
/// `GET` leaves them out, so they can be neither read back nor compared.
pub const WRITE_ONLY: &[&str] = &["password", "accountKey", "sasKey", "sshPrivateKey"];

fn find(table: &'static [Rule], field: &str) -> Option<&'static Rule> {
    table.iter().find(|r| r.field == field)
}

fn parse(json: Option<&str>) -> Option<Value> {
    json.and_then(|text| serde_json::from_str(text).ok())
}

/// How a pool field can change.
pub fn pool_update(field: &str) -> Update {
    find(POOL, field).map_or(Update::CreateOnly, |r| r.update)
}

/// What a `GET` shows for a pool field the create left out.
pub fn pool_default(field: &str) -> Option<Value> {
    parse(find(POOL, field)?.default)
}

/// What a pool `PATCH` sends to remove a field.
pub fn pool_clear(field: &str) -> Option<Value> {
    parse(find(POOL, field)?.clear)
}

/// How a job field can change.
pub fn job_update(field: &str) -> Update {
    find(JOB, field).map_or(Update::CreateOnly, |r| r.update)
}

/// What a `GET` shows for a job field the create left out.
pub fn job_default(field: &str) -> Option<Value> {
    parse(find(JOB, field)?.default)
}

/// What a job `PATCH` sends to remove a field.
pub fn job_clear(field: &str) -> Option<Value> {
    parse(find(JOB, field)?.clear)
}

/// Every default of `table` for a resource created without them.
pub fn defaults(table: &'static [Rule]) -> impl Iterator<Item = (&'static str, Value)> {
    table
        .iter()
        .filter_map(|r| parse(r.default).map(|v| (r.field, v)))
}

/// Fills the service's values into a job preparation or release task: what the create
/// gave stays, what it left out gets the default.
pub fn fill_defaults(value: &mut Value, defaults: &str) {
    let Ok(Value::Object(defaults)) = serde_json::from_str::<Value>(defaults) else {
        return;
    };
    if let Value::Object(map) = value {
        for (key, default) in defaults {
            match map.get_mut(&key) {
                Some(present @ Value::Object(_)) => {
                    fill_defaults(present, &default.to_string());
                }
                Some(_) => {}
                None => {
                    map.insert(key, default);
                }
            }
        }
    }
}

/// Sets every write-only property in `value` to `null`, at any depth.
pub fn blank_write_only(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if WRITE_ONLY.contains(&key.as_str()) {
                    *v = Value::Null;
                } else {
                    blank_write_only(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(blank_write_only),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> Value {
        serde_json::from_str(include_str!("../spec/BatchService.json")).unwrap()
    }

    fn properties<'a>(spec: &'a Value, definition: &str) -> &'a serde_json::Map<String, Value> {
        spec["definitions"][definition]["properties"]
            .as_object()
            .unwrap()
    }

    #[test]
    fn pool_update_kinds_are_the_specs() {
        let spec = spec();
        let update = properties(&spec, "BatchPoolUpdateOptions");
        for (field, property) in update {
            let empty_only = property["description"]
                .as_str()
                .unwrap_or_default()
                .contains("can be updated only when the pool is empty");
            let want = if empty_only {
                Update::EmptyPoolOnly
            } else {
                Update::Anytime
            };
            assert_eq!(pool_update(field), want, "{field}");
        }
        for rule in POOL {
            assert!(
                properties(&spec, "BatchPoolCreateOptions").contains_key(rule.field),
                "{} is not a create field",
                rule.field
            );
            if matches!(rule.update, Update::Anytime | Update::EmptyPoolOnly) {
                assert!(update.contains_key(rule.field), "{}", rule.field);
            }
        }
        for field in ["targetDedicatedNodes", "targetLowPriorityNodes"] {
            assert!(properties(&spec, "BatchPoolResizeOptions").contains_key(field));
        }
        for field in ["autoScaleFormula", "autoScaleEvaluationInterval"] {
            assert!(properties(&spec, "BatchPoolEnableAutoScaleOptions").contains_key(field));
        }
    }

    #[test]
    fn job_update_kinds_are_the_specs() {
        let spec = spec();
        let update = properties(&spec, "BatchJobUpdateOptions");
        for field in update.keys() {
            assert_ne!(job_update(field), Update::CreateOnly, "{field}");
        }
        for rule in JOB {
            assert!(
                properties(&spec, "BatchJobCreateOptions").contains_key(rule.field),
                "{}",
                rule.field
            );
            assert_eq!(
                rule.update != Update::CreateOnly,
                update.contains_key(rule.field),
                "{}",
                rule.field
            );
        }
        assert!(
            update["poolInfo"]["description"]
                .as_str()
                .unwrap()
                .contains("only when the Job is disabled")
        );
    }

    #[test]
    fn write_only_are_the_specs_secrets() {
        let spec = spec();
        let mut secrets = Vec::new();
        let mut plain = Vec::new();
        for (definition_name, definition) in spec["definitions"].as_object().unwrap() {
            // The certificate's password is not marked, but no GET returns it either
            // (recording: test_batch_certificates).
            if definition_name == "BatchCertificate" {
                continue;
            }
            for (name, property) in definition["properties"].as_object().into_iter().flatten() {
                if property["x-ms-secret"] == json!(true) {
                    secrets.push(name.as_str());
                } else {
                    plain.push(name.as_str());
                }
            }
        }
        for name in &secrets {
            assert!(WRITE_ONLY.contains(name), "{name} is x-ms-secret");
        }
        for name in WRITE_ONLY {
            assert!(secrets.contains(name), "{name}");
            assert!(!plain.contains(name), "{name} is not secret somewhere");
        }
    }

    #[test]
    fn defaults_parse_and_fill_only_what_is_missing() {
        for rule in POOL.iter().chain(JOB) {
            for json in [rule.default, rule.clear].into_iter().flatten() {
                assert!(
                    serde_json::from_str::<Value>(json).is_ok(),
                    "{}",
                    rule.field
                );
            }
        }
        let mut prep = json!({"commandLine": "x", "constraints": {"maxTaskRetryCount": 2}});
        fill_defaults(&mut prep, JOB_PREPARATION_DEFAULTS);
        assert_eq!(prep["id"], "jobpreparation");
        assert_eq!(prep["constraints"]["maxTaskRetryCount"], 2);
        assert_eq!(prep["constraints"]["retentionTime"], "P7D");
        assert_eq!(prep["waitForSuccess"], true);
        let mut with_secret = json!({"userAccounts": [{"name": "a", "password": "p"}]});
        blank_write_only(&mut with_secret);
        assert_eq!(with_secret["userAccounts"][0]["password"], Value::Null);
    }
}
