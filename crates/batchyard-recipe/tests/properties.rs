//! Property tests: generated valid recipes round-trip through YAML, and no input, however
//! broken, makes the loader or the template layer panic.
#![allow(clippy::unwrap_used)]

use batchyard_recipe::model::{
    Duration, Factory, Job, JobConstraints, NodeCounts, Pool, Recipe, StartTask, Task,
    TaskConstraints, TaskFactory, TaskSpec, Toggle,
};
use proptest::prelude::*;

fn id() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_-]{0,20}"
}

fn words() -> impl Strategy<Value = String> {
    // Command-like text without template syntax or YAML-significant leading characters.
    "[a-z][a-z0-9 ./=-]{0,30}[a-z0-9]"
}

fn duration() -> impl Strategy<Value = Duration> {
    (1u64..1_000_000).prop_map(|s| Duration(std::time::Duration::from_secs(s)))
}

fn toggle() -> impl Strategy<Value = Toggle> {
    prop_oneof![Just(Toggle::Auto), Just(Toggle::On), Just(Toggle::Off)]
}

fn pool(pool_id: String) -> impl Strategy<Value = Pool> {
    (
        id(),
        0u32..50,
        0u32..50,
        1u32..8,
        toggle(),
        proptest::option::of(words()),
        any::<bool>(),
    )
        .prop_map(
            move |(size, dedicated, spot, slots, gpu, start, elevated)| Pool {
                id: pool_id.clone(),
                vm_size: format!("Standard_{size}"),
                os: Some("ubuntu-22.04".into()),
                image: None,
                nodes: Some(NodeCounts {
                    dedicated,
                    spot,
                    resize_timeout: None,
                }),
                autoscale: None,
                gpu,
                rdma: Toggle::Off,
                inter_node_communication: None,
                task_slots_per_node: slots,
                scheduling: None,
                containers: None,
                start_task: start.map(|command| StartTask {
                    command,
                    elevated,
                    wait_for_success: true,
                    max_retries: None,
                    env: Default::default(),
                    resource_files: vec![],
                    image: None,
                }),
                inputs: vec![],
                network: None,
                mounts: vec![],
                application_packages: vec![],
                metadata: Default::default(),
                batch: None,
            },
        )
}

fn task(index: usize) -> impl Strategy<Value = TaskSpec> {
    (
        words(),
        proptest::option::of(duration()),
        proptest::option::of(0i32..5),
        any::<bool>(),
        1u64..100,
    )
        .prop_map(move |(command, wall, retries, factory, repeat)| {
            if factory {
                let mut template = serde_json::Map::new();
                template.insert("id".into(), format!("t{index}-{{{{ index }}}}").into());
                template.insert("command".into(), command.into());
                TaskSpec::Factory(TaskFactory {
                    factory: Factory::Repeat(repeat),
                    template,
                })
            } else {
                TaskSpec::Single(Box::new(Task {
                    id: format!("t{index}"),
                    command,
                    image: None,
                    container_options: None,
                    env: [("A".to_owned(), "1".to_owned())].into_iter().collect(),
                    gpu: None,
                    mpi: None,
                    depends_on: None,
                    required_slots: None,
                    elevated: false,
                    inputs: vec![],
                    outputs: vec![],
                    resource_files: vec![],
                    output_files: vec![],
                    constraints: Some(TaskConstraints {
                        max_wall_time: wall,
                        max_retries: retries,
                        retention: None,
                    }),
                    exit_conditions: None,
                    batch: None,
                }))
            }
        })
}

fn recipe() -> impl Strategy<Value = Recipe> {
    (id(), 1usize..3, 0usize..4, proptest::option::of(duration())).prop_flat_map(
        |(name, pools, tasks, wall)| {
            let pool_list: Vec<_> = (0..pools).map(|i| pool(format!("p{i}"))).collect();
            let task_list: Vec<_> = (0..tasks).map(task).collect();
            (pool_list, task_list).prop_map(move |(pools, tasks)| Recipe {
                recipe: name.clone(),
                variables: Default::default(),
                registries: vec![],
                storage: None,
                jobs: vec![Job {
                    id: "job".into(),
                    pool: pools[0].id.clone(),
                    image: None,
                    env: Default::default(),
                    priority: None,
                    max_parallel_tasks: None,
                    inputs: vec![],
                    constraints: wall.map(|w| JobConstraints {
                        max_wall_time: Some(w),
                        max_task_retries: None,
                    }),
                    preparation: None,
                    release: None,
                    on_all_tasks_complete: Default::default(),
                    on_task_failure: Default::default(),
                    metadata: Default::default(),
                    batch: None,
                    tasks,
                }],
                pools,
            })
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn valid_recipes_round_trip(recipe in recipe()) {
        let yaml = serde_saphyr::to_string(&recipe).unwrap();
        let loaded = batchyard_recipe::load("generated.yaml", &yaml, &Default::default());
        prop_assert!(loaded.diagnostics.is_empty(), "{}\n{}", yaml, loaded.render(Default::default()));
        prop_assert_eq!(loaded.recipe.as_ref(), Some(&recipe), "{}", yaml);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = batchyard_recipe::load("fuzz.yaml", &text, &Default::default());
    }

    #[test]
    fn arbitrary_yaml_never_panics(value in yaml_value()) {
        let text = serde_saphyr::to_string(&value).unwrap_or_default();
        let loaded = batchyard_recipe::load("fuzz.yaml", &text, &Default::default());
        // Every diagnostic must point inside the file.
        for d in &loaded.diagnostics {
            let span = loaded.span_of(d);
            prop_assert!(span.end <= text.len());
        }
        let _ = loaded.render(Default::default());
    }

    #[test]
    fn arbitrary_templates_never_panic(text in template_text()) {
        let engine = batchyard_recipe::template::Engine::new();
        let ctx = batchyard_recipe::render::context("r", &[("n".to_owned(), serde_json::json!(2))].into_iter().collect());
        if let Err(err) = engine.render(&text, &ctx)
            && let Some(range) = err.range
        {
            prop_assert!(range.start <= range.end);
        }
        let _ = engine.compile(&text);
    }
}

const KEYS: &[&str] = &[
    "recipe",
    "variables",
    "pools",
    "jobs",
    "id",
    "vm_size",
    "os",
    "nodes",
    "dedicated",
    "tasks",
    "command",
    "factory",
    "product",
    "depends_on",
    "pool",
    "gpu",
    "mpi",
    "instances",
    "constraints",
    "max_wall_time",
    "registries",
];

fn yaml_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[a-z{}% ]{0,12}".prop_map(serde_json::Value::from),
        Just(serde_json::Value::from("{{ n }}")),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::vec((proptest::sample::select(KEYS), inner), 0..5).prop_map(
                |entries| {
                    serde_json::Value::Object(
                        entries
                            .into_iter()
                            .map(|(k, v)| (k.to_owned(), v))
                            .collect(),
                    )
                }
            ),
        ]
    })
}

fn template_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("{{".to_owned()),
            Just("}}".to_owned()),
            Just("{%".to_owned()),
            Just("%}".to_owned()),
            Just("{#".to_owned()),
            Just(" n ".to_owned()),
            Just("| shell_quote".to_owned()),
            Just("if".to_owned()),
            Just("for x in".to_owned()),
            "[a-z0-9 .+*()-]{0,6}",
        ],
        0..10,
    )
    .prop_map(|parts| parts.concat())
}
