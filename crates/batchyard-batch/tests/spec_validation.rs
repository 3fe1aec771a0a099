//! `validate_against_spec` accepts the official examples and what the models produce, and
//! rejects payloads that break the spec.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is the failure report

use batchyard_batch::models::*;
use batchyard_batch::{SpecErrorKind, validate_against_spec};
use serde_json::{Value, json};

fn valid_task() -> Value {
    json!({
        "id": "t1",
        "commandLine": "/bin/sh -c 'echo hi'",
        "containerSettings": {"imageName": "ubuntu:22.04", "workingDirectory": "taskWorkingDirectory"},
        "constraints": {"maxTaskRetryCount": 2},
        "environmentSettings": [{"name": "A", "value": "1"}]
    })
}

fn kinds(definition: &str, json: &Value) -> Vec<(String, SpecErrorKind)> {
    validate_against_spec(definition, json)
        .unwrap_err()
        .into_iter()
        .map(|e| (e.path, e.kind))
        .collect()
}

#[test]
fn a_valid_task_passes() {
    assert_eq!(
        validate_against_spec("BatchTaskCreateOptions", &valid_task()),
        Ok(())
    );
}

#[test]
fn wrong_type_is_rejected_with_its_path() {
    let mut task = valid_task();
    task["constraints"]["maxTaskRetryCount"] = json!("two");
    assert_eq!(
        kinds("BatchTaskCreateOptions", &task),
        vec![(
            "/constraints/maxTaskRetryCount".to_owned(),
            SpecErrorKind::WrongType
        )]
    );
}

#[test]
fn unknown_enum_value_is_rejected() {
    let mut task = valid_task();
    task["containerSettings"]["workingDirectory"] = json!("somewhereElse");
    assert_eq!(
        kinds("BatchTaskCreateOptions", &task),
        vec![(
            "/containerSettings/workingDirectory".to_owned(),
            SpecErrorKind::UnknownEnumValue
        )]
    );
}

#[test]
fn missing_required_field_is_rejected() {
    let mut task = valid_task();
    task.as_object_mut().unwrap().remove("commandLine");
    assert_eq!(
        kinds("BatchTaskCreateOptions", &task),
        vec![(String::new(), SpecErrorKind::MissingRequired)]
    );
    // ... also deep inside, through $refs.
    let mut task = valid_task();
    task["environmentSettings"][0]
        .as_object_mut()
        .unwrap()
        .remove("name");
    assert_eq!(
        kinds("BatchTaskCreateOptions", &task),
        vec![(
            "/environmentSettings/0".to_owned(),
            SpecErrorKind::MissingRequired
        )]
    );
}

#[test]
fn misspelled_property_is_rejected_but_odata_annotations_are_not() {
    let pool = json!({
        "id": "p", "vmSize": "standard_d2s_v3",
        "virtualMachineConfiguration": {
            "imageReference": {"publisher": "p", "offer": "o", "sku": "s"},
            "nodeAgentSkuId": "batch.node.ubuntu 22.04"
        }
    });
    let found = kinds("BatchPoolCreateOptions", &pool);
    assert!(found.contains(&(
        "/virtualMachineConfiguration".to_owned(),
        SpecErrorKind::UnknownProperty
    )));
    assert!(found.contains(&(
        "/virtualMachineConfiguration".to_owned(),
        SpecErrorKind::MissingRequired
    )));
    let error = json!({
        "odata.metadata": "https://a/$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element",
        "code": "PoolExists",
        "message": {"lang": "en-US", "value": "The specified pool already exists."}
    });
    assert_eq!(validate_against_spec("BatchError", &error), Ok(()));
}

#[test]
fn int_formats_are_enforced() {
    let mut task = valid_task();
    task["constraints"]["maxTaskRetryCount"] = json!(1u64 << 40);
    assert_eq!(
        kinds("BatchTaskCreateOptions", &task),
        vec![(
            "/constraints/maxTaskRetryCount".to_owned(),
            SpecErrorKind::OutOfRange
        )]
    );
    let props = json!({"lastModified": "2024-01-01T00:00:00Z", "contentLength": "12x"});
    assert_eq!(
        kinds("FileProperties", &props),
        vec![("/contentLength".to_owned(), SpecErrorKind::WrongFormat)]
    );
}

#[test]
fn payloads_built_from_the_models_validate() {
    let pool = BatchPoolCreateOptions {
        id: "gpu".into(),
        vm_size: "Standard_NC24rs_v3".into(),
        virtual_machine_configuration: Some(VirtualMachineConfiguration {
            image_reference: BatchVmImageReference {
                publisher: Some("microsoft-dsvm".into()),
                offer: Some("ubuntu-hpc".into()),
                sku: Some("2204".into()),
                version: Some("latest".into()),
                ..Default::default()
            },
            node_agent_sku_id: "batch.node.ubuntu 22.04".into(),
            container_configuration: Some(BatchContainerConfiguration {
                r#type: ContainerType::DockerCompatible,
                container_image_names: Some(vec!["myacr.azurecr.io/mnist:1.4".into()]),
                container_registries: None,
            }),
            ..Default::default()
        }),
        target_dedicated_nodes: Some(2),
        task_slots_per_node: Some(1),
        enable_inter_node_communication: Some(true),
        metadata: Some(vec![BatchMetadataItem {
            name: "batchyard.recipe".into(),
            value: "mnist".into(),
        }]),
        ..Default::default()
    };
    let json = serde_json::to_value(&pool).unwrap();
    assert_eq!(
        validate_against_spec("BatchPoolCreateOptions", &json),
        Ok(())
    );
}
