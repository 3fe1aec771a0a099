//! Shipyard's data movement in whole config sets: input and output data, data ingress and
//! the `file` task factory become the recipe's `storage`, `inputs`, `outputs` and factories,
//! and the recipe loads.

#![allow(clippy::unwrap_used)]

use batchyard_shipyard::{Imported, Severity, import_from_texts};
use serde_json::{Value, json};

const CREDENTIALS: &str = "credentials:
  storage:
    sa:
      account: acct
      account_key: secret-key-value
      endpoint: core.windows.net
    other:
      account: acct2
      account_key: other-secret
";
const POOL: &str = "pool_specification:
  id: p
  vm_size: STANDARD_D2_V2
  vm_configuration:
    platform_image: {publisher: Canonical, offer: UbuntuServer, sku: 18.04-LTS}
  vm_count: {dedicated: 1}
";
const CONFIG: &str = "batch_shipyard:
  storage_account_settings: sa
";

fn import(config: &str, pool: &str, jobs: &str) -> (Imported, Value) {
    let out = import_from_texts(&[
        ("credentials.yaml", CREDENTIALS),
        ("config.yaml", config),
        ("pool.yaml", pool),
        ("jobs.yaml", jobs),
    ])
    .unwrap();
    let loaded = batchyard_recipe::load("recipe.yaml", &out.recipe, &Default::default());
    let errors: Vec<_> = loaded.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert!(
        errors.is_empty(),
        "the recipe does not load: {errors:#?}\n{}",
        out.recipe
    );
    let value = batchyard_recipe::source::parse(&out.recipe)
        .unwrap()
        .to_value();
    (out, value)
}

fn errors(i: &Imported) -> Vec<String> {
    i.findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| format!("{}: {}", f.key, f.message))
        .collect()
}

#[test]
fn input_and_output_data_use_one_storage_container_without_copying_the_key() {
    let jobs = "job_specifications:
- id: j
  input_data:
    azure_storage:
    - {storage_account_settings: sa, remote_path: data/shared, local_path: $AZ_BATCH_TASK_WORKING_DIR/shared}
  tasks:
  - docker_image: busybox
    command: wc -l in/x.txt
    input_data:
      azure_storage:
      - {storage_account_settings: sa, remote_path: data/in, local_path: $AZ_BATCH_TASK_WORKING_DIR/in}
    output_data:
      azure_storage:
      - storage_account_settings: sa
        remote_path: data/out
        local_path: $AZ_BATCH_TASK_WORKING_DIR/results
        include: ['*.csv', '*.log']
        condition: taskfailure
";
    let (out, r) = import(CONFIG, POOL, jobs);
    assert!(errors(&out).is_empty(), "{:?}", errors(&out));
    assert_eq!(
        r["storage"],
        json!({
            "account_url": "https://acct.blob.core.windows.net",
            "container": "data",
            "key": {"env": "STORAGE_KEY_SA"}
        })
    );
    assert!(!out.recipe.contains("secret-key-value"), "{}", out.recipe);
    assert!(out.env.iter().any(|e| e.name == "STORAGE_KEY_SA"));
    assert_eq!(
        r["jobs"][0]["inputs"],
        json!([{"blob": "shared/", "to": "shared/"}])
    );
    let task = &r["jobs"][0]["tasks"][0];
    assert_eq!(task["inputs"], json!([{"blob": "in/", "to": "in/"}]));
    assert_eq!(
        task["outputs"],
        json!([
            {"pattern": "results/*.csv", "when": "failure"},
            {"pattern": "results/*.log", "when": "failure"}
        ])
    );
}

#[test]
fn a_second_container_and_task_to_task_copies_name_what_cannot_come_across() {
    let jobs = "job_specifications:
- id: j
  tasks:
  - docker_image: busybox
    command: 'true'
    input_data:
      azure_storage:
      - {storage_account_settings: sa, remote_path: first/in}
      - {storage_account_settings: other, remote_path: second/in}
      azure_batch:
      - {job_id: j0, task_id: t0}
";
    let (out, r) = import(CONFIG, POOL, jobs);
    let errs = errors(&out);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs.iter()
            .any(|e| e.contains("second storage container (`second` of `other`)")),
        "{errs:?}"
    );
    assert!(errs.iter().any(|e| e.contains("azure_batch")), "{errs:?}");
    assert_eq!(r["storage"]["container"], json!("first"));
    assert_eq!(r["jobs"][0]["tasks"][0]["inputs"], json!([{"blob": "in/"}]));
}

#[test]
fn data_ingress_becomes_a_local_input_of_the_tasks_that_read_it() {
    let config = "batch_shipyard:
  storage_account_settings: sa
global_resources:
  files:
  - source:
      path: /home/me/project/inputs
      include: ['*.dat']
    destination:
      storage_account_settings: sa
      data_transfer:
        remote_path: data/inputs
";
    let jobs = "job_specifications:
- id: j
  tasks:
  - docker_image: busybox
    command: ls in
    input_data:
      azure_storage:
      - {storage_account_settings: sa, remote_path: data/inputs, local_path: $AZ_BATCH_TASK_WORKING_DIR/in}
";
    let (out, r) = import(config, POOL, jobs);
    assert!(errors(&out).is_empty(), "{:?}", errors(&out));
    assert_eq!(
        r["jobs"][0]["tasks"][0]["inputs"],
        json!([{"local": "inputs/*.dat", "to": "in/"}])
    );
    // Local inputs need the recipe's storage: the account and container of the ingress.
    assert_eq!(
        r["storage"],
        json!({
            "account_url": "https://acct.blob.core.windows.net",
            "container": "data",
            "key": {"env": "STORAGE_KEY_SA"}
        })
    );
    let ingress = out
        .findings
        .iter()
        .find(|f| f.key.starts_with("global_resources.files"))
        .unwrap();
    assert_eq!(ingress.severity, Severity::Warning);
    assert!(
        ingress
            .message
            .contains("`/home/me/project/inputs` (now `inputs`"),
        "{}",
        ingress.message
    );
}

#[test]
fn ingress_over_ssh_to_a_volume_is_an_error_naming_the_feature() {
    let config = "batch_shipyard:
  storage_account_settings: sa
global_resources:
  files:
  - source: {path: /data}
    destination:
      shared_data_volume: glustervol
      data_transfer: {method: multinode_scp, ssh_private_key: id_rsa}
";
    let jobs =
        "job_specifications:\n- id: j\n  tasks:\n  - {docker_image: busybox, command: 'true'}\n";
    let (out, _) = import(config, POOL, jobs);
    let errs = errors(&out);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].contains("copies over SSH"), "{errs:?}");
}

#[test]
fn the_file_factory_lists_the_container_and_keeps_shipyards_placeholders() {
    let jobs = "job_specifications:
- id: j
  tasks:
  - docker_image: busybox
    command: convert {file_name} {file_name_no_extension}.jpg --from {url}
    task_factory:
      file:
        azure_storage: {storage_account_settings: sa, remote_path: images/raw}
        task_filepath: file_name
";
    let (out, r) = import(CONFIG, POOL, jobs);
    assert!(errors(&out).is_empty(), "{:?}", errors(&out));
    let task = &r["jobs"][0]["tasks"][0];
    assert_eq!(task["factory"], json!({"blobs": {"prefix": "raw/"}}));
    assert_eq!(
        task["inputs"],
        json!([{"blob": "{{ item.blob }}", "to": "{{ item.name }}"}])
    );
    assert_eq!(
        task["command"],
        json!("convert {{ item.name }} {{ item.stem }}.jpg --from {{ item.name }}")
    );
    assert_eq!(r["storage"]["container"], json!("images"));
}

#[test]
fn a_file_factory_over_ingressed_files_expands_the_local_folder() {
    let config = "batch_shipyard:
  storage_account_settings: sa
global_resources:
  files:
  - source: {path: frames}
    destination:
      storage_account_settings: sa
      data_transfer: {remote_path: work/frames}
";
    let jobs = "job_specifications:
- id: j
  tasks:
  - docker_image: busybox
    command: render {file_path}
    task_factory:
      file:
        azure_storage: {storage_account_settings: sa, remote_path: work/frames}
";
    let (out, r) = import(config, POOL, jobs);
    assert!(errors(&out).is_empty(), "{:?}", errors(&out));
    let task = &r["jobs"][0]["tasks"][0];
    assert_eq!(task["factory"], json!({"files": {"glob": "frames/**/*"}}));
    assert_eq!(
        task["inputs"],
        json!([{"local": "{{ item.path }}", "to": "{{ item.path }}"}])
    );
    assert_eq!(task["command"], json!("render {{ item.path }}"));
    assert_eq!(r["storage"]["container"], json!("work"));
}

#[test]
fn pool_input_data_reaches_every_job() {
    let pool = format!(
        "{POOL}  input_data:\n    azure_storage:\n    - {{storage_account_settings: sa, remote_path: ref/genome, local_path: $AZ_BATCH_NODE_SHARED_DIR/genome}}\n"
    );
    let jobs = "job_specifications:
- id: a
  tasks: [{docker_image: busybox, command: 'true'}]
- id: b
  tasks: [{docker_image: busybox, command: 'true'}]
";
    let (out, r) = import(CONFIG, &pool, jobs);
    assert!(errors(&out).is_empty(), "{:?}", errors(&out));
    for j in 0..2 {
        assert_eq!(
            r["jobs"][j]["inputs"],
            json!([{"blob": "genome/", "to": "genome/"}])
        );
    }
}

fn warnings(i: &Imported) -> Vec<String> {
    i.findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .map(|f| format!("{}: {}", f.key, f.message))
        .collect()
}

#[test]
fn file_factory_filters_become_the_blob_factorys_include_and_exclude() {
    let jobs = "job_specifications:
- id: j
  tasks:
  - docker_image: busybox
    command: convert {file_name}
    task_factory:
      file:
        azure_storage:
          storage_account_settings: sa
          remote_path: images/raw
          include: ['*.png', '*.jpg']
          exclude: ['thumb*']
";
    let (out, r) = import(CONFIG, POOL, jobs);
    assert!(errors(&out).is_empty(), "{:?}", errors(&out));
    assert_eq!(
        r["jobs"][0]["tasks"][0]["factory"],
        json!({"blobs": {"prefix": "raw/", "include": ["*.png", "*.jpg"], "exclude": ["thumb*"]}})
    );
    let filters: Vec<String> = warnings(&out)
        .into_iter()
        .filter(|w| w.contains("filters"))
        .collect();
    assert!(filters.is_empty(), "{filters:?}");
}

#[test]
fn an_input_filter_that_is_a_prefix_narrows_the_blob_prefix_and_others_are_warned() {
    let jobs = "job_specifications:
- id: j
  tasks:
  - docker_image: busybox
    command: 'true'
    input_data:
      azure_storage:
      - {storage_account_settings: sa, remote_path: data/in, local_path: $AZ_BATCH_TASK_WORKING_DIR/in, include: ['sample*']}
      - {storage_account_settings: sa, remote_path: data/ref, local_path: $AZ_BATCH_TASK_WORKING_DIR/ref, include: ['*.csv']}
";
    let (out, r) = import(CONFIG, POOL, jobs);
    assert!(errors(&out).is_empty(), "{:?}", errors(&out));
    let inputs = &r["jobs"][0]["tasks"][0]["inputs"];
    assert_eq!(inputs[0]["blob"], json!("in/sample"), "{inputs}");
    assert_eq!(inputs[1]["blob"], json!("ref/"), "{inputs}");
    let filters: Vec<String> = warnings(&out)
        .into_iter()
        .filter(|w| w.contains("filters of input data"))
        .collect();
    assert_eq!(filters.len(), 1, "{filters:?}");
    assert!(filters[0].contains("data/ref"), "{filters:?}");
}
