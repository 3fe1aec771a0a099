//! `import_from_texts`: focused mappings, and a bounded property test that no input panics.

#![allow(clippy::unwrap_used)]

use batchyard_recipe::load;
use batchyard_shipyard::{ImportError, import_from_texts};
use proptest::prelude::*;

const POOL: &str = "pool_specification:\n  id: p\n  vm_size: STANDARD_D2_V2\n  vm_configuration:\n    platform_image: {publisher: Canonical, offer: UbuntuServer, sku: 16.04-LTS}\n  vm_count: {dedicated: 2, low_priority: 3}\n";

fn recipe_value(text: &str) -> serde_json::Value {
    let loaded = load("r.yaml", text, &Default::default());
    assert!(!loaded.has_errors(), "{:#?}\n{text}", loaded.diagnostics);
    serde_json::to_value(loaded.recipe.unwrap()).unwrap()
}

#[test]
fn registry_passwords_become_env_references_and_are_never_written() {
    let creds = "credentials:\n  docker_registry:\n    myacr.azurecr.io:\n      username: me\n      password: s3cret-value\n";
    let out = import_from_texts(&[("credentials.yaml", creds), ("pool.yaml", POOL)]).unwrap();
    assert!(!out.recipe.contains("s3cret-value"));
    let r = recipe_value(&out.recipe);
    assert_eq!(
        r["registries"][0]["password"]["env"],
        "REGISTRY_PASSWORD_MYACR_AZURECR_IO"
    );
    assert!(
        out.env
            .iter()
            .any(|e| e.name == "REGISTRY_PASSWORD_MYACR_AZURECR_IO")
    );
    assert_eq!(r["pools"][0]["nodes"]["spot"], 3);
    assert_eq!(r["pools"][0]["os"], "ubuntu-hpc-24.04");
}

#[test]
fn ids_factories_dependencies_and_merge_task() {
    let jobs = "job_specifications:\n- id: j\n  auto_complete: true\n  retention_time: 1.00:00:00\n  tasks:\n  - docker_image: busybox\n    command: echo first {{literal}}\n  - docker_image: busybox\n    task_factory:\n      parametric_sweep:\n        product:\n        - {start: 0, stop: 3, step: 1}\n        - {start: 10, stop: 12, step: 1}\n    command: echo {0} {1}\n  - id: after\n    docker_image: busybox\n    depends_on_range: [1, 6]\n    command: echo done\n  merge_task:\n    docker_image: busybox\n    command: echo merge\n";
    let out = import_from_texts(&[("pool.yaml", POOL), ("jobs.yaml", jobs)]).unwrap();
    assert!(!out.has_errors(), "{:#?}", out.findings);
    let r = recipe_value(&out.recipe);
    let tasks = &r["jobs"][0]["tasks"];
    assert_eq!(tasks[0]["id"], "task-00000");
    assert_eq!(r["jobs"][0]["on_all_tasks_complete"], "terminate_job");
    assert_eq!(tasks[0]["constraints"]["retention"], "1d");
    assert_eq!(
        tasks[1]["factory"]["product"]["p1"]["range"],
        serde_json::json!([10, 12, 1])
    );
    assert_eq!(
        tasks[2]["depends_on"],
        serde_json::json!([{"range": [1, 6]}])
    );
    assert_eq!(tasks[3]["id"], "merge-task-00000");
    assert_eq!(tasks[3]["depends_on"], "all");

    // The factory's generated ids continue Shipyard's numbering: task-00001 .. task-00006.
    let loaded = load("r.yaml", &out.recipe, &Default::default());
    let desired =
        batchyard_compile::compile(loaded.recipe.as_ref().unwrap(), &Default::default()).unwrap();
    let ids: Vec<String> = batchyard_compile::tasks(&loaded, &desired, &desired.jobs[0])
        .map(|t| serde_json::to_value(t.unwrap()).unwrap())
        .map(|v| {
            format!(
                "{} {}",
                v["id"].as_str().unwrap(),
                v["commandLine"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(ids[0], "task-00000 echo first {{literal}}");
    assert_eq!(ids[1], "task-00001 echo 0 10");
    assert_eq!(ids[6], "task-00006 echo 2 11");
    assert_eq!(ids.len(), 9);
}

#[test]
fn autoscale_scenario_and_unsupported_features_are_reported() {
    let pool = "pool_specification:\n  id: p\n  vm_size: STANDARD_NC6\n  vm_configuration:\n    platform_image: {publisher: Canonical, offer: UbuntuServer, sku: 16.04-LTS}\n  vm_count: {dedicated: 1}\n  autoscale:\n    evaluation_interval: 00:10:00\n    scenario:\n      name: active_tasks\n      maximum_vm_count: {dedicated: 8, low_priority: -1}\n      bias_node_type: dedicated\n  container_runtimes: {install: [kata_containers], default: kata_containers}\n";
    let jobs = "job_specifications:\n- id: j\n  recurrence: {schedule: {recurrence_interval: '00:05:00'}}\n  tasks:\n  - singularity_image: library://x/y:1\n    command: run\n    gpus: disable\n";
    let out = import_from_texts(&[("pool.yaml", pool), ("jobs.yaml", jobs)]).unwrap();
    let r = recipe_value(&out.recipe);
    let a = &r["pools"][0]["autoscale"];
    assert_eq!(a["scenario"], "active_tasks");
    assert_eq!(a["max_dedicated"], 8);
    assert_eq!(a["min_dedicated"], 1);
    assert_eq!(r["jobs"][0]["tasks"][0]["gpu"], false);
    let keys: Vec<(String, bool)> = out
        .findings
        .iter()
        .map(|f| (f.key.clone(), f.is_error()))
        .collect();
    // A library:// image runs on the host with Apptainer: a warning, not an error.
    assert!(
        keys.contains(&(
            "job_specifications[0].tasks[0].singularity_image".into(),
            false
        )),
        "{keys:?}"
    );
    let task = &r["jobs"][0]["tasks"][0];
    assert!(task.get("image").is_none());
    assert!(
        task["command"]
            .as_str()
            .unwrap()
            .contains("apptainer exec -B $AZ_BATCH_NODE_ROOT_DIR:$AZ_BATCH_NODE_ROOT_DIR --pwd $AZ_BATCH_TASK_WORKING_DIR library://x/y:1 run"),
        "{task}"
    );
    assert!(r["pools"][0].get("containers").is_none());
    assert!(
        r["pools"][0]["start_task"]["command"]
            .as_str()
            .unwrap()
            .contains("ppa:apptainer/ppa")
    );
    assert!(
        keys.contains(&("job_specifications[0].recurrence".into(), false)),
        "{keys:?}"
    );
    assert!(
        keys.contains(&("pool_specification.container_runtimes".into(), false)),
        "{keys:?}"
    );
    assert!(
        keys.contains(&(
            "pool_specification.autoscale.scenario.bias_node_type".into(),
            false
        )),
        "{keys:?}"
    );
    let line = out
        .findings
        .iter()
        .find(|f| f.key.ends_with("singularity_image"))
        .unwrap()
        .line;
    assert_eq!(line, Some(5));
}

#[test]
fn schema_violations_are_reported_in_shipyard_terms() {
    let bad = "pool_specification:\n  id: p\n  vm_size: STANDARD_D2_V2\n  vm_count: {dedicated: 1}\n  vm_configuration: {platform_image: {publisher: a, offer: b, sku: c}}\n  gpus: all\n";
    match import_from_texts(&[("pool.yaml", bad)]) {
        Err(ImportError::Invalid(f)) => {
            assert_eq!(f.len(), 1);
            assert_eq!(f[0].file, "pool.yaml");
            assert_eq!(f[0].line, Some(6));
            assert!(
                f[0].message.starts_with("Key 'gpus' was not defined"),
                "{}",
                f[0]
            );
        }
        other => panic!("{other:?}"),
    }
}

fn yaml_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        any::<i32>().prop_map(|i| i.to_string()),
        "[a-z{}:_ /-]{0,12}".prop_map(|s| format!("{s:?}")),
        Just("pool_current_dedicated".to_owned()),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "id",
                        "tasks",
                        "command",
                        "docker_image",
                        "task_factory",
                        "parametric_sweep",
                        "product",
                        "start",
                        "stop",
                        "multi_instance",
                        "num_instances",
                        "mpi",
                        "runtime",
                        "depends_on_range",
                        "vm_count",
                        "autoscale",
                        "scenario",
                        "x"
                    ]),
                    inner
                ),
                0..4,
            )
            .prop_map(|v| format!(
                "{{{}}}",
                v.iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_yaml_never_panics(pool in yaml_value(), jobs in yaml_value(), raw in ".{0,64}") {
        let pool_text = format!("pool_specification: {pool}\n");
        let jobs_text = format!("job_specifications: [{jobs}]\n");
        let _ = import_from_texts(&[("pool.yaml", &pool_text), ("jobs.yaml", &jobs_text), ("config.yaml", &raw)]);
        let _ = import_from_texts(&[("pool.yaml", POOL), ("jobs.yaml", &jobs_text)]);
    }
}

#[test]
fn singularity_next_to_docker_tasks_is_an_error() {
    let pool = "pool_specification:\n  id: p\n  vm_size: STANDARD_D2_V2\n  vm_configuration:\n    platform_image: {publisher: Canonical, offer: UbuntuServer, sku: 16.04-LTS}\n  vm_count: {dedicated: 1}\n";
    let jobs = "job_specifications:\n- id: j\n  tasks:\n  - docker_image: busybox\n    command: 'true'\n  - singularity_image: library://x/y:1\n    command: run\n";
    let out = import_from_texts(&[("pool.yaml", pool), ("jobs.yaml", jobs)]).unwrap();
    let errors: Vec<String> = out.errors().map(|f| f.key.clone()).collect();
    assert_eq!(errors, ["job_specifications[0].tasks[1].singularity_image"]);
}

#[test]
fn azure_file_volumes_become_pool_mounts_bound_into_tasks() {
    let creds = "credentials:\n  storage:\n    sa:\n      account: acct\n      account_key: secret-key-value\n      endpoint: core.windows.net\n";
    let config = "batch_shipyard:\n  storage_account_settings: sa\nglobal_resources:\n  docker_images: [busybox]\n  volumes:\n    shared_data_volumes:\n      share:\n        volume_driver: azurefile\n        storage_account_settings: sa\n        azure_file_share_name: data\n        container_path: /data\n        mount_options: [file_mode=0777, dir_mode=0777]\n        bind_options: ro\n";
    let pool = "pool_specification:\n  id: p\n  vm_size: STANDARD_D2_V2\n  vm_configuration:\n    platform_image: {publisher: Canonical, offer: UbuntuServer, sku: 16.04-LTS}\n  vm_count: {dedicated: 1}\n";
    let jobs = "job_specifications:\n- id: j\n  shared_data_volumes: [share]\n  tasks:\n  - docker_image: busybox\n    command: ls /data\n";
    let out = import_from_texts(&[
        ("credentials.yaml", creds),
        ("config.yaml", config),
        ("pool.yaml", pool),
        ("jobs.yaml", jobs),
    ])
    .unwrap();
    assert!(!out.has_errors(), "{:?}", out.findings);
    assert!(!out.recipe.contains("secret-key-value"));
    let r = recipe_value(&out.recipe);
    let m = &r["pools"][0]["mounts"][0]["azure_files"];
    assert_eq!(m["url"], "https://acct.file.core.windows.net/data");
    assert_eq!(m["key"]["env"], "STORAGE_KEY_SA");
    assert_eq!(m["options"], "-o file_mode=0777,dir_mode=0777");
    assert_eq!(
        r["jobs"][0]["tasks"][0]["container_options"],
        "-v $AZ_BATCH_NODE_MOUNTS_DIR/share:/data:ro"
    );
    assert!(out.env.iter().any(|e| e.name == "STORAGE_KEY_SA"));
}
