//! Every key of Shipyard's task, job and pool schemas, one row each: what the key becomes in
//! the recipe, and which findings it raises. A row is compared with the same config set
//! without the key, so a row whose key stops having an effect fails. The coverage tests read
//! the key lists from the schemas the importer checks against, so a schema key without a row
//! fails too.
//!
//! `KEYS_DUMP=1 cargo test -p batchyard-shipyard --test keys -- --nocapture` prints what each
//! row produces, for writing a new row.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use batchyard_shipyard::{Finding, Severity, import_from_texts};
use serde_json::Value;

/// What a row expects, relative to the task, job or pool its key belongs to.
enum Expect {
    /// The recipe value at this JSON pointer (relative to the task, job or pool), given as
    /// JSON text; without the key it is something else.
    At(&'static str, &'static str),
    /// The string at this JSON pointer contains the text; without the key it does not.
    Has(&'static str, &'static str),
    /// A warning whose message contains the text.
    Warn(&'static str),
    /// An error whose message contains the text.
    Error(&'static str),
    /// The key changes nothing and raises nothing, for the reason given.
    Ignored(&'static str),
}

use Expect::{At, Error, Has, Ignored, Warn};

struct Row {
    key: &'static str,
    /// YAML lines of the task, job or pool (block style, at indent 0). They replace the keys
    /// of the base spec that they set; `key: ~` removes a base key.
    yaml: &'static str,
    /// Lines merged into the base pool for a task or job row that needs another pool.
    pool: &'static str,
    expect: &'static [Expect],
}

const fn row(key: &'static str, yaml: &'static str, expect: &'static [Expect]) -> Row {
    Row {
        key,
        yaml,
        pool: "",
        expect,
    }
}

const CREDENTIALS: &str = "credentials:\n  storage:\n    sa:\n      account: acct\n      account_key: secret-key-value\n      endpoint: core.windows.net\n";
const CONFIG: &str = "batch_shipyard:\n  storage_account_settings: sa\nglobal_resources:\n  volumes:\n    data_volumes:\n      dv:\n        host_path: /mnt/host\n        container_path: /in\n        bind_options: ro\n    shared_data_volumes:\n      share:\n        volume_driver: azurefile\n        storage_account_settings: sa\n        azure_file_share_name: data\n        container_path: /data\n        mount_options: [file_mode=0777]\n";
const BASE_POOL: &str = "id: p\nvm_size: STANDARD_D2_V2\nvm_configuration:\n  platform_image: {publisher: Canonical, offer: UbuntuServer, sku: 16.04-LTS}\nvm_count: {dedicated: 2}\n";
const BASE_JOB: &str = "id: j\n";
const BASE_TASK: &str = "docker_image: busybox\ncommand: echo hi\n";

/// `base` with the top-level keys of `row` replaced by `row`'s lines.
fn merged(base: &str, row: &str) -> String {
    let top = |l: &str| -> Option<String> {
        (!l.starts_with(' ') && !l.starts_with('-'))
            .then(|| l.split(':').next().unwrap().to_owned())
    };
    let replaced: BTreeSet<String> = row.lines().filter_map(top).collect();
    let mut out = String::new();
    let mut skipping = false;
    for l in base.lines() {
        if let Some(k) = top(l) {
            skipping = replaced.contains(&k);
        }
        if !skipping {
            out.push_str(l);
            out.push('\n');
        }
    }
    for l in row.lines().filter(|l| !l.ends_with(": ~")) {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// `yaml` without its top-level `key` (and the lines nested under it).
fn without(yaml: &str, key: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for l in yaml.lines() {
        if !l.starts_with(' ') && !l.starts_with('-') {
            skipping = l.split(':').next() == Some(key);
        }
        if !skipping {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

fn indent(text: &str, first: &str, rest: &str) -> String {
    text.lines()
        .enumerate()
        .map(|(i, l)| format!("{}{l}\n", if i == 0 { first } else { rest }))
        .collect()
}

#[derive(Clone, Copy, PartialEq)]
enum Level {
    Task,
    Job,
    Pool,
}

impl Level {
    fn pointer(self) -> &'static str {
        match self {
            Level::Task => "/jobs/0/tasks/0",
            Level::Job => "/jobs/0",
            Level::Pool => "/pools/0",
        }
    }

    fn key_path(self, key: &str) -> String {
        match self {
            Level::Task => format!("job_specifications[0].tasks[0].{key}"),
            Level::Job => format!("job_specifications[0].{key}"),
            Level::Pool => format!("pool_specification.{key}"),
        }
    }
}

struct Outcome {
    recipe: Value,
    findings: Vec<Finding>,
}

fn import(level: Level, yaml: &str, pool_lines: &str) -> Outcome {
    let base_pool = merged(BASE_POOL, pool_lines);
    let (pool, job, task) = match level {
        Level::Task => (base_pool, BASE_JOB.into(), merged(BASE_TASK, yaml)),
        Level::Job => (base_pool, merged(BASE_JOB, yaml), BASE_TASK.into()),
        Level::Pool => (merged(&base_pool, yaml), BASE_JOB.into(), BASE_TASK.into()),
    };
    let pool = format!("pool_specification:\n{}", indent(&pool, "  ", "  "));
    let mut jobs = format!("job_specifications:\n{}", indent(&job, "- ", "  "));
    if !job.lines().any(|l| l.starts_with("tasks:")) {
        jobs.push_str(&format!("  tasks:\n{}", indent(&task, "  - ", "    ")));
    }
    let out = import_from_texts(&[
        ("credentials.yaml", CREDENTIALS),
        ("config.yaml", CONFIG),
        ("pool.yaml", &pool),
        ("jobs.yaml", &jobs),
    ])
    .unwrap_or_else(|e| panic!("{e:?}\n{pool}\n{jobs}"));
    let node = batchyard_recipe::source::parse(&out.recipe).unwrap();
    Outcome {
        recipe: node.to_value(),
        findings: out.findings,
    }
}

fn describe(f: &Finding) -> String {
    format!("{:?} {}: {}", f.severity, f.key, f.message)
}

/// Findings of `row` that the base config set does not have.
fn new_findings<'a>(row: &'a Outcome, base: &Outcome) -> Vec<&'a Finding> {
    row.findings
        .iter()
        .filter(|f| {
            !base
                .findings
                .iter()
                .any(|b| b.key == f.key && b.message == f.message)
        })
        .collect()
}

/// Leaf pointers where `a` and `b` differ (for the dump).
fn diff(a: &Value, b: &Value, at: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let n = Value::Null;
                diff(
                    x.get(k).unwrap_or(&n),
                    y.get(k).unwrap_or(&n),
                    &format!("{at}/{k}"),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                diff(p, q, &format!("{at}/{i}"), out);
            }
        }
        _ if a != b => out.push(format!("{at} = {b}")),
        _ => {}
    }
}

fn check(level: Level, rows: &[Row]) {
    let dump = std::env::var_os("KEYS_DUMP").is_some();
    let mut failures = Vec::new();
    for row in rows {
        let out = import(level, row.yaml, row.pool);
        let base = import(level, &without(row.yaml, row.key), row.pool);
        let fresh = new_findings(&out, &base);
        if dump {
            let mut d = Vec::new();
            diff(&base.recipe, &out.recipe, "", &mut d);
            println!("== {}\n  {}", row.key, d.join("\n  "));
            for f in &fresh {
                println!("  finding {}", describe(f));
            }
        }
        let problems = problems(level, row, &out, &base, &fresh);
        if !problems.is_empty() {
            failures.push(format!("{}: {}", row.key, problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// How `out` (the row) and `base` (the row without its key) differ from what the row expects.
fn problems(
    level: Level,
    row: &Row,
    out: &Outcome,
    base: &Outcome,
    fresh: &[&Finding],
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut matched = vec![false; fresh.len()];
    for e in row.expect {
        match e {
            At(pointer, json) => {
                let want: Value = serde_json::from_str(json).unwrap();
                let full = format!("{}{pointer}", level.pointer());
                let got = out.recipe.pointer(&full);
                if got != Some(&want) {
                    problems.push(format!("{full}: expected {want}, got {got:?}"));
                }
                if base.recipe.pointer(&full) == Some(&want) {
                    problems.push(format!("{full} is {want} without the key too"));
                }
            }
            Has(pointer, text) => {
                let full = format!("{}{pointer}", level.pointer());
                let has = |o: &Outcome| {
                    o.recipe
                        .pointer(&full)
                        .and_then(Value::as_str)
                        .is_some_and(|s| s.contains(text))
                };
                if !has(out) {
                    problems.push(format!(
                        "{full} does not contain `{text}`: {:?}",
                        out.recipe.pointer(&full)
                    ));
                }
                if has(base) {
                    problems.push(format!("{full} contains `{text}` without the key too"));
                }
            }
            Warn(text) | Error(text) => {
                let severity = if matches!(e, Warn(_)) {
                    Severity::Warning
                } else {
                    Severity::Error
                };
                match fresh
                    .iter()
                    .position(|f| f.severity == severity && f.message.contains(text))
                {
                    Some(i) => matched[i] = true,
                    None => problems.push(format!("no {severity:?} containing `{text}`")),
                }
            }
            Ignored(why) => {
                if out.recipe != base.recipe {
                    problems.push(format!("the key changed the recipe, though {why}"));
                }
            }
        }
    }
    for (f, m) in fresh.iter().zip(&matched) {
        if !m {
            problems.push(format!("unexpected finding: {}", describe(f)));
        }
    }
    let changes = row.expect.iter().any(|e| matches!(e, At(..) | Has(..)));
    let ignored = row.expect.iter().any(|e| matches!(e, Ignored(_)));
    if !changes
        && !ignored
        && !fresh
            .iter()
            .any(|f| f.key.starts_with(&level.key_path(row.key)))
    {
        problems.push("the key neither changes the recipe nor raises a finding at itself".into());
    }
    problems
}

/// The keys a schema mapping declares, from the schema the importer validates with.
fn schema_keys(file: &str, path: &[&str]) -> BTreeSet<String> {
    let text =
        std::fs::read_to_string(format!("{}/schemas/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let mut v = batchyard_recipe::source::parse(&text).unwrap().to_value();
    for step in path {
        v = match *step {
            "[]" => v["sequence"][0].clone(),
            key => v["mapping"][key].clone(),
        };
    }
    v["mapping"]
        .as_object()
        .unwrap_or_else(|| panic!("no mapping at {path:?}"))
        .keys()
        .cloned()
        .collect()
}

fn assert_covers(rows: &[Row], keys: &BTreeSet<String>) {
    let have: BTreeSet<String> = rows.iter().map(|r| r.key.to_owned()).collect();
    let missing: Vec<_> = keys.difference(&have).collect();
    let extra: Vec<_> = have.difference(keys).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "schema keys without a row: {missing:?}; rows for keys the schema lacks: {extra:?}"
    );
}

const TASK: &[Row] = &[
    row(
        "task_factory",
        "task_factory:\n  repeat: 3\n",
        &[
            At("/factory", "{\"repeat\": 3}"),
            At("/id", "\"task-{{ ((index + 100000) | str)[1:] }}\""),
        ],
    ),
    row("id", "id: my-task\n", &[At("/id", "\"my-task\"")]),
    row(
        "docker_image",
        "docker_image: alpine:3\n",
        &[At("/image", "\"alpine:3\"")],
    ),
    row(
        "singularity_image",
        "docker_image: ~\nsingularity_image: docker://alpine:3\n",
        &[
            At("/image", "\"alpine:3\""),
            Warn("runs as the Docker image `alpine:3`"),
        ],
    ),
    row(
        "singularity_execution",
        "docker_image: ~\nsingularity_image: docker://alpine:3\nsingularity_execution: {cmd: run}\n",
        &[Warn(
            "Singularity options do not apply to Docker containers",
        )],
    ),
    row(
        "additional_singularity_options",
        "docker_image: ~\nsingularity_image: docker://alpine:3\nadditional_singularity_options: [--cleanenv]\n",
        &[Warn(
            "Singularity options do not apply to Docker containers",
        )],
    ),
    row(
        "name",
        "name: c1\n",
        &[Warn("the container name is not kept")],
    ),
    row(
        "labels",
        "labels: [a=b]\n",
        &[At("/container_options", "\"--label a=b\"")],
    ),
    row(
        "environment_variables",
        "environment_variables: {A: one}\n",
        &[At("/env", "{\"A\": \"one\"}")],
    ),
    row(
        "environment_variables_keyvault_secret_id",
        "environment_variables_keyvault_secret_id: https://kv/secrets/x\n",
        &[Warn("from Key Vault are not carried over")],
    ),
    row(
        "ports",
        "ports: ['8080:80']\n",
        &[At("/container_options", "\"-p 8080:80\"")],
    ),
    row(
        "data_volumes",
        "data_volumes: [dv]\n",
        &[At("/container_options", "\"-v /mnt/host:/in:ro\"")],
    ),
    row(
        "shared_data_volumes",
        "shared_data_volumes: [share]\n",
        &[At(
            "/container_options",
            "\"-v $AZ_BATCH_NODE_MOUNTS_DIR/share:/data\"",
        )],
    ),
    row(
        "resource_files",
        "resource_files:\n- {blob_source: 'https://a.blob.core.windows.net/c/f', file_path: f, file_mode: '0755'}\n",
        &[At(
            "/resource_files",
            "[{\"url\": \"https://a.blob.core.windows.net/c/f\", \"path\": \"f\", \"mode\": \"0755\"}]",
        )],
    ),
    row(
        "input_data",
        "input_data:\n  azure_storage:\n  - {storage_account_settings: sa, remote_path: c/in}\n",
        &[At("/inputs", "[{\"blob\": \"in/\"}]")],
    ),
    row(
        "output_data",
        "output_data:\n  azure_storage:\n  - {storage_account_settings: sa, remote_path: c/out, condition: tasksuccess}\n",
        &[
            At(
                "/outputs",
                "[{\"pattern\": \"**/*\", \"when\": \"success\"}]",
            ),
            Warn("results go to `outputs/JOB/TASK/` in the container `c` instead of `c/out`"),
        ],
    ),
    row(
        "default_working_dir",
        "default_working_dir: container\n",
        &[At(
            "/batch/containerSettings/workingDirectory",
            "\"containerImageDefault\"",
        )],
    ),
    row(
        "remove_container_after_exit",
        "remove_container_after_exit: false\n",
        &[Warn("they cannot be kept")],
    ),
    row(
        "shm_size",
        "shm_size: 256m\n",
        &[At("/container_options", "\"--shm-size=256m\"")],
    ),
    row(
        "additional_docker_run_options",
        "additional_docker_run_options: [--privileged]\n",
        &[At("/container_options", "\"--privileged\"")],
    ),
    Row {
        key: "infiniband",
        yaml: "infiniband: false\n",
        pool: "vm_size: STANDARD_H16R\ninter_node_communication_enabled: true\n",
        expect: &[Warn("cannot be turned off per task")],
    },
    row("gpus", "gpus: disable\n", &[At("/gpu", "false")]),
    row(
        "depends_on",
        "depends_on: [other]\n",
        &[At("/depends_on", "[\"other\"]")],
    ),
    row(
        "depends_on_range",
        "depends_on_range: [1, 5]\n",
        &[At("/depends_on", "[{\"range\": [1, 5]}]")],
    ),
    row(
        "max_task_retries",
        "max_task_retries: 3\n",
        &[At("/constraints/max_retries", "3")],
    ),
    row(
        "max_wall_time",
        "max_wall_time: '02:00:00'\n",
        &[At("/constraints/max_wall_time", "\"02:00:00\"")],
    ),
    row(
        "retention_time",
        "retention_time: 1.00:00:00\n",
        &[At("/constraints/retention", "\"1.00:00:00\"")],
    ),
    row(
        "exit_conditions",
        "exit_conditions:\n  default:\n    exit_options: {job_action: terminate, dependency_action: satisfy}\n",
        &[At(
            "/exit_conditions",
            "{\"default\": {\"job\": \"terminate\", \"dependents\": \"satisfy\"}}",
        )],
    ),
    row(
        "multi_instance",
        "multi_instance:\n  num_instances: pool_specification_vm_count_dedicated\n  mpi: {runtime: openmpi, processes_per_node: 4}\n",
        &[At(
            "/mpi",
            "{\"runtime\": \"openmpi\", \"instances\": 2, \"processes_per_node\": 4}",
        )],
    ),
    row(
        "entrypoint",
        "entrypoint: /bin/sh\n",
        &[At("/container_options", "\"--entrypoint /bin/sh\"")],
    ),
    row(
        "command",
        "command: echo other\n",
        &[At("/command", "\"echo other\"")],
    ),
];
const JOB: &[Row] = &[
    row(
        "id",
        "id: 'my job'\n",
        &[At("/id", "\"my-job\""), Warn("is not a valid Batch job id")],
    ),
    row(
        "auto_complete",
        "auto_complete: true\n",
        &[At("/on_all_tasks_complete", "\"terminate_job\"")],
    ),
    row(
        "environment_variables",
        "environment_variables: {A: one}\n",
        &[At("/env", "{\"A\": \"one\"}")],
    ),
    row(
        "environment_variables_keyvault_secret_id",
        "environment_variables_keyvault_secret_id: https://kv/secrets/x\n",
        &[Warn("from Key Vault are not carried over")],
    ),
    row(
        "max_task_retries",
        "max_task_retries: 2\n",
        &[At("/constraints/max_task_retries", "2")],
    ),
    row(
        "max_wall_time",
        "max_wall_time: '10:00:00'\n",
        &[At("/constraints/max_wall_time", "\"10:00:00\"")],
    ),
    row(
        "retention_time",
        "retention_time: 2.00:00:00\n",
        &[At("/tasks/0/constraints/retention", "\"2.00:00:00\"")],
    ),
    row("priority", "priority: 100\n", &[At("/priority", "100")]),
    row(
        "user_identity",
        "user_identity: {default_pool_admin: true}\n",
        &[At("/tasks/0/elevated", "true")],
    ),
    row(
        "auto_pool",
        "auto_pool: {pool_lifetime: job, keep_alive: false}\n",
        &[Warn("auto pools are not created")],
    ),
    row(
        "recurrence",
        "recurrence:\n  schedule: {recurrence_interval: '01:00:00'}\n",
        &[Warn("job schedules are not carried over")],
    ),
    row(
        "allow_run_on_missing_image",
        "allow_run_on_missing_image: true\n",
        &[Ignored(
            "Shipyard refused a task whose image was not in global_resources.docker_images unless this was set; Batch pulls a container task's image when the task starts",
        )],
    ),
    row(
        "remove_container_after_exit",
        "remove_container_after_exit: false\n",
        &[Warn("they cannot be kept")],
    ),
    row(
        "shm_size",
        "shm_size: 1g\n",
        &[At("/tasks/0/container_options", "\"--shm-size=1g\"")],
    ),
    row(
        "infiniband",
        "infiniband: true\n",
        &[Warn("Shipyard ignored the job-level infiniband flag")],
    ),
    row("gpus", "gpus: disable\n", &[At("/tasks/0/gpu", "false")]),
    row(
        "exit_conditions",
        "exit_conditions:\n  default:\n    exit_options: {job_action: disable}\n",
        &[
            At("/on_task_failure", "\"perform_exit_options_job_action\""),
            At(
                "/tasks/0/exit_conditions",
                "{\"default\": {\"job\": \"disable\"}}",
            ),
        ],
    ),
    row(
        "data_volumes",
        "data_volumes: [dv]\n",
        &[At("/tasks/0/container_options", "\"-v /mnt/host:/in:ro\"")],
    ),
    row(
        "shared_data_volumes",
        "shared_data_volumes: [share]\n",
        &[At(
            "/tasks/0/container_options",
            "\"-v $AZ_BATCH_NODE_MOUNTS_DIR/share:/data\"",
        )],
    ),
    row(
        "auto_scratch",
        "auto_scratch: {setup: block, num_instances: 2}\n",
        &[
            At(
                "/tasks/0/container_options",
                "\"-v $AZ_BATCH_NODE_MOUNTS_DIR/auto_scratch/j:$AZ_BATCH_TASK_DIR/auto_scratch\"",
            ),
            Warn("auto_scratch was a BeeOND file system"),
        ],
    ),
    row(
        "job_preparation",
        "job_preparation: {command: setup.sh}\n",
        &[At("/preparation", "{\"command\": \"setup.sh\"}")],
    ),
    row(
        "job_release",
        "job_release: {command: cleanup.sh}\n",
        &[At("/release", "{\"command\": \"cleanup.sh\"}")],
    ),
    row(
        "input_data",
        "input_data:\n  azure_storage:\n  - {storage_account_settings: sa, remote_path: c/in}\n  azure_batch:\n  - {job_id: j0, task_id: t0}\n",
        &[
            At("/inputs", "[{\"blob\": \"in/\"}]"),
            Warn("once per node (job preparation)"),
            Error("(azure_batch) is copied from that task's node"),
        ],
    ),
    row(
        "default_working_dir",
        "default_working_dir: container\n",
        &[At(
            "/tasks/0/batch/containerSettings/workingDirectory",
            "\"containerImageDefault\"",
        )],
    ),
    row(
        "restrict_default_bind_mounts",
        "restrict_default_bind_mounts: true\ntasks:\n- singularity_image: library://x/y:1\n  command: run\n",
        &[Has(
            "/tasks/0/command",
            "-B $AZ_BATCH_TASK_DIR:$AZ_BATCH_TASK_DIR",
        )],
    ),
    row(
        "force_enable_task_dependencies",
        "force_enable_task_dependencies: true\n",
        &[At("/batch/usesTaskDependencies", "true")],
    ),
    row(
        "autogenerated_task_id",
        "autogenerated_task_id: {prefix: t-, zfill_width: 3}\n",
        &[At("/tasks/0/id", "\"t-000\"")],
    ),
    row(
        "federation_constraints",
        "federation_constraints:\n  pool: {native: true}\n",
        &[Warn("federations cannot come across")],
    ),
    row(
        "tasks",
        "tasks:\n- docker_image: alpine\n  command: echo a\n- docker_image: alpine\n  command: echo b\n",
        &[At(
            "/tasks/1",
            "{\"id\": \"task-00001\", \"image\": \"alpine\", \"command\": \"echo b\"}",
        )],
    ),
    row(
        "merge_task",
        "merge_task: {docker_image: busybox, command: echo merge}\n",
        &[At(
            "/tasks/1",
            "{\"id\": \"merge-task-00000\", \"image\": \"busybox\", \"command\": \"echo merge\", \"depends_on\": \"all\"}",
        )],
    ),
];
const POOL: &[Row] = &[
    row(
        "id",
        "id: 'pool one'\n",
        &[At("/id", "\"pool-one\""), Warn("is not a valid Batch id")],
    ),
    row(
        "vm_configuration",
        "vm_configuration:\n  custom_image: {arm_image_id: /subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/images/img, node_agent: batch.node.ubuntu 20.04}\n",
        &[
            At(
                "/image/custom",
                "\"/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/images/img\"",
            ),
            At("/image/node_agent", "\"batch.node.ubuntu 20.04\""),
        ],
    ),
    row(
        "vm_size",
        "vm_size: STANDARD_D4_V3\n",
        &[At("/vm_size", "\"Standard_D4_v3\"")],
    ),
    row(
        "vm_count",
        "vm_count: {dedicated: 3, low_priority: 4}\n",
        &[At("/nodes/dedicated", "3"), At("/nodes/spot", "4")],
    ),
    row(
        "max_tasks_per_node",
        "max_tasks_per_node: 4\n",
        &[At("/task_slots_per_node", "4")],
    ),
    row(
        "resize_timeout",
        "resize_timeout: '00:20:00'\n",
        &[At("/nodes/resize_timeout", "\"00:20:00\"")],
    ),
    row(
        "node_fill_type",
        "node_fill_type: pack\n",
        &[At("/scheduling", "\"pack\"")],
    ),
    row(
        "autoscale",
        "autoscale:\n  scenario: {name: pending_tasks, maximum_vm_count: {dedicated: 10}}\n",
        &[At(
            "/autoscale",
            "{\"scenario\": \"pending_tasks\", \"max_dedicated\": 10, \"min_dedicated\": 2}",
        )],
    ),
    row(
        "inter_node_communication_enabled",
        "inter_node_communication_enabled: true\n",
        &[At("/inter_node_communication", "true")],
    ),
    row(
        "per_job_auto_scratch",
        "per_job_auto_scratch: true\n",
        &[Warn("per-job auto scratch")],
    ),
    row(
        "reboot_on_start_task_failed",
        "reboot_on_start_task_failed: true\n",
        &[Warn(
            "node recovery and diagnostics options are not carried over",
        )],
    ),
    row(
        "attempt_recovery_on_unusable",
        "attempt_recovery_on_unusable: true\n",
        &[Warn(
            "node recovery and diagnostics options are not carried over",
        )],
    ),
    row(
        "upload_diagnostics_logs_on_unusable",
        "upload_diagnostics_logs_on_unusable: false\n",
        &[Warn(
            "node recovery and diagnostics options are not carried over",
        )],
    ),
    row(
        "block_until_all_global_resources_loaded",
        "block_until_all_global_resources_loaded: false\n",
        &[Warn(
            "node recovery and diagnostics options are not carried over",
        )],
    ),
    row(
        "transfer_files_on_pool_creation",
        "transfer_files_on_pool_creation: true\n",
        &[Warn("data ingress on pool creation is not carried over")],
    ),
    row(
        "input_data",
        "input_data:\n  azure_storage:\n  - {storage_account_settings: sa, remote_path: c/in, local_path: /mnt/in}\n",
        &[
            Warn("pool's input data once per node as it started"),
            Warn(
                "to `/mnt/in`; Batch puts a task's inputs in its working directory, at `mnt/in` there",
            ),
        ],
    ),
    row(
        "resource_files",
        "resource_files:\n- {blob_source: 'https://a.blob.core.windows.net/c/f', file_path: f}\n",
        &[At(
            "/start_task/resource_files",
            "[{\"url\": \"https://a.blob.core.windows.net/c/f\", \"path\": \"f\"}]",
        )],
    ),
    row(
        "ssh",
        "ssh: {username: shipyard}\n",
        &[Warn("SSH users are not created")],
    ),
    row(
        "rdp",
        "rdp: {username: admin}\n",
        &[Warn("RDP users are not created")],
    ),
    row(
        "remote_access_control",
        "remote_access_control: {starting_port: 50000, allow: [1.2.3.4]}\n",
        &[Warn("inbound NAT rules are not carried over")],
    ),
    row(
        "virtual_network",
        "virtual_network: {arm_subnet_id: /subscriptions/s/resourceGroups/r/providers/Microsoft.Network/virtualNetworks/v/subnets/n}\n",
        &[At(
            "/network/subnet_id",
            "\"/subscriptions/s/resourceGroups/r/providers/Microsoft.Network/virtualNetworks/v/subnets/n\"",
        )],
    ),
    row(
        "public_ips",
        "public_ips: [/subscriptions/s/resourceGroups/r/providers/Microsoft.Network/publicIPAddresses/ip]\n",
        &[Warn("public_ips need a subnet")],
    ),
    row(
        "certificates",
        "certificates:\n  0123456789abcdef0123456789abcdef01234567: {visibility: [task]}\n",
        &[Warn("Batch certificates are retired")],
    ),
    row(
        "gpu",
        "gpu: {nvidia_driver: {source: 'https://example.org/driver.run'}}\n",
        &[Warn("batchyard installs no driver from a URL")],
    ),
    row(
        "additional_node_prep",
        "additional_node_prep:\n  commands: {pre: [echo pre], post: [echo post]}\n",
        &[At(
            "/start_task/command",
            "\"/bin/bash -c 'echo pre && echo post'\"",
        )],
    ),
    row(
        "batch_insights_enabled",
        "batch_insights_enabled: true\n",
        &[Warn("Batch Insights is not installed")],
    ),
    row(
        "prometheus",
        "prometheus: {node_exporter: {enabled: true}}\n",
        &[Warn("Prometheus exporters are not installed")],
    ),
    row(
        "container_runtimes",
        "container_runtimes: {install: [kata_containers], default: kata_containers}\n",
        &[Warn("Kata containers cannot come across")],
    ),
];

#[test]
fn every_task_key() {
    check(Level::Task, TASK);
}

#[test]
fn every_job_key() {
    check(Level::Job, JOB);
}

#[test]
fn every_pool_key() {
    check(Level::Pool, POOL);
}

#[test]
fn the_rows_cover_every_schema_key() {
    let job = ["job_specifications", "[]"];
    assert_covers(
        TASK,
        &schema_keys("jobs.yaml", &[&job[..], &["tasks", "[]"]].concat()),
    );
    assert_covers(JOB, &schema_keys("jobs.yaml", &job));
    assert_covers(POOL, &schema_keys("pool.yaml", &["pool_specification"]));
}
