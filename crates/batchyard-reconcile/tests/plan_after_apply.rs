//! Property: for generated recipes, a plan made right after a successful apply is empty
//! (no perpetual diffs), against a real emulator over HTTP.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

#[derive(Debug, Clone)]
struct PoolGen {
    nodes: u8,
    slots: u8,
    scheduling: Option<&'static str>,
    start_task_env: Option<(String, String)>,
    metadata: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
struct JobGen {
    tasks: u8,
    priority: Option<i16>,
    retries: Option<u8>,
    env: Vec<(String, String)>,
    no_action: bool,
    merge: bool,
}

fn name() -> impl Strategy<Value = String> {
    "[A-Z][A-Z0-9_]{0,6}"
}

fn value() -> impl Strategy<Value = String> {
    "[a-z0-9 ]{0,8}"
}

fn pool() -> impl Strategy<Value = PoolGen> {
    (
        0u8..3,
        1u8..4,
        prop::option::of(prop::sample::select(vec!["pack", "spread"])),
        prop::option::of((name(), value())),
        prop::collection::btree_map("[a-z]{1,6}", value(), 0..3),
    )
        .prop_map(
            |(nodes, slots, scheduling, start_task_env, metadata)| PoolGen {
                nodes,
                slots,
                scheduling,
                start_task_env,
                metadata: metadata.into_iter().collect(),
            },
        )
}

fn job() -> impl Strategy<Value = JobGen> {
    (
        0u8..6,
        prop::option::of(-100i16..100),
        prop::option::of(0u8..4),
        prop::collection::btree_map(name(), value(), 0..3),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(tasks, priority, retries, env, no_action, merge)| JobGen {
            tasks,
            priority,
            retries,
            env: env.into_iter().collect(),
            no_action,
            merge,
        })
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

fn recipe(case: usize, pools: &[PoolGen], jobs: &[JobGen]) -> String {
    let mut y = format!("recipe: gen{case}\npools:\n");
    for (i, p) in pools.iter().enumerate() {
        y += &format!(
            "  - id: c{case}p{i}\n    vm_size: Standard_D2s_v5\n    os: ubuntu-22.04\n    nodes: {{ dedicated: {} }}\n    task_slots_per_node: {}\n",
            p.nodes, p.slots
        );
        if let Some(s) = p.scheduling {
            y += &format!("    scheduling: {s}\n");
        }
        if let Some((k, v)) = &p.start_task_env {
            y += &format!(
                "    start_task:\n      command: /bin/sh -c 'true'\n      env: {{ {k}: {} }}\n",
                quote(v)
            );
        }
        if !p.metadata.is_empty() {
            y += "    metadata:\n";
            for (k, v) in &p.metadata {
                y += &format!("      {k}: {}\n", quote(v));
            }
        }
    }
    y += "jobs:\n";
    for (i, j) in jobs.iter().enumerate() {
        y += &format!(
            "  - id: c{case}j{i}\n    pool: c{case}p{}\n",
            i % pools.len()
        );
        if let Some(p) = j.priority {
            y += &format!("    priority: {p}\n");
        }
        if let Some(r) = j.retries {
            y += &format!("    constraints: {{ max_task_retries: {r} }}\n");
        }
        if j.no_action {
            y += "    on_all_tasks_complete: no_action\n";
        }
        if !j.env.is_empty() {
            y += "    env:\n";
            for (k, v) in &j.env {
                y += &format!("      {k}: {}\n", quote(v));
            }
        }
        y += "    tasks:\n";
        if j.tasks > 0 {
            y += &format!(
                "      - id: \"t-{{{{ index }}}}\"\n        command: /bin/sh -c 'echo {{{{ index }}}}'\n        factory: {{ repeat: {} }}\n",
                j.tasks
            );
        }
        if j.merge || j.tasks == 0 {
            y += "      - id: merge\n        command: /bin/sh -c 'echo done'\n";
            if j.merge && j.tasks > 0 {
                y += "        depends_on: all\n";
            }
        }
    }
    y
}

#[test]
fn a_plan_right_after_a_successful_apply_is_empty() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let env = runtime.block_on(common::emulator());
    let cases = AtomicUsize::new(0);
    let mut runner = TestRunner::new(Config {
        cases: 12,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        prop::collection::vec(pool(), 1..3),
        prop::collection::vec(job(), 1..3),
    );
    runner
        .run(&strategy, |(pools, jobs)| {
            let case = cases.fetch_add(1, Ordering::SeqCst);
            let text = recipe(case, &pools, &jobs);
            let intent = common::intent(&text);
            runtime.block_on(async {
                let first = common::plan(&env.client, &intent).await;
                prop_assert!(first.has_changes());
                batchyard_reconcile::apply(
                    &env.client,
                    &intent,
                    &first,
                    &common::options(),
                    &common::quiet,
                )
                .await
                .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
                let second = common::plan(&env.client, &intent).await;
                prop_assert!(
                    second.actions.is_empty(),
                    "perpetual diff for\n{text}\n{:#?}",
                    second.actions
                );
                Ok(())
            })
        })
        .unwrap();
    runtime.block_on(env.emulator.shutdown()).unwrap();
}

proptest! {
    /// Any JSON value matches itself: the comparison never invents a difference.
    #[test]
    fn every_value_matches_itself(value in json_value()) {
        prop_assert!(batchyard_reconcile::compare_for_tests::matches("x", &value, &value));
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i32>().prop_map(serde_json::Value::from),
        "[a-zA-Z ]{0,5}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}
