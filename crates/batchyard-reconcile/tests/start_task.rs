//! Nodes that fail their start task: apply's error names each with its exit code and the
//! tail of its start task's stderr, read through the node files API of an emulator in this
//! process, with secret values redacted.
#![allow(clippy::unwrap_used)]

mod common;

use batchyard_reconcile::{ApplyError, Event, NodeFailure};
use common::*;

const FAILING: &str = r#"
recipe: failing-start
pools:
  - id: cpu
    vm_size: Standard_D2s_v5
    os: ubuntu-22.04
    nodes: { dedicated: 2 }
    start_task:
      command: /bin/sh -c 'echo preparing; echo "cannot mount /data (token $BY_START_TASK_TOKEN)" >&2; exit 1'
      env: { BY_START_TASK_TOKEN: "tok-5e7a91c3" }
jobs:
  - id: work
    pool: cpu
    tasks:
      - id: hello
        command: /bin/true
"#;

/// Applies [`FAILING`]; returns the error's failed nodes and those reported as events.
async fn apply_failing(env: &Env) -> (ApplyError, Vec<NodeFailure>) {
    let wanted = intent(FAILING);
    let plan = plan(&env.client, &wanted).await;
    let events = std::sync::Mutex::new(Vec::new());
    let sink = |e| events.lock().unwrap().push(e);
    let error = batchyard_reconcile::apply(&env.client, &wanted, &plan, &options(), &sink)
        .await
        .unwrap_err();
    let reported = events
        .into_inner()
        .unwrap()
        .into_iter()
        .filter_map(|e| match e {
            Event::NodeFailed { failure, .. } => Some(failure),
            _ => None,
        })
        .collect();
    (error, reported)
}

#[tokio::test]
async fn failed_start_tasks_are_reported_once_each_with_their_exit_code() {
    let env = emulator().await;
    let (error, reported) = apply_failing(&env).await;
    let ApplyError::NodesFailed { pool, failures } = &error else {
        panic!("{error}");
    };
    assert_eq!(pool, "cpu");
    assert_eq!(failures.len(), 2, "{failures:#?}");
    for failure in failures {
        assert_eq!(failure.state, "starttaskfailed");
        assert_eq!(failure.exit_code, Some(1));
        // Read (or a note saying why it could not be) for every node in starttaskfailed.
        assert!(failure.start_task_stderr.is_some(), "{failure:#?}");
    }
    assert!(
        error.to_string().contains("start task exit code 1"),
        "{error}"
    );
    assert_eq!(reported.len(), 2);
    env.emulator.shutdown().await.unwrap();
}

#[tokio::test]
async fn failed_start_tasks_show_the_tail_of_their_stderr() {
    let env = emulator().await;
    let (error, reported) = apply_failing(&env).await;
    let ApplyError::NodesFailed { failures, .. } = &error else {
        panic!("{error}");
    };
    for failure in failures.iter().chain(&reported) {
        assert_eq!(
            failure.start_task_stderr.as_deref(),
            Some("cannot mount /data (token tok-5e7a91c3)"),
            "{failure:#?}"
        );
    }
    let text = error.to_string();
    assert!(
        text.contains("  | cannot mount /data (token tok-5e7a91c3)"),
        "{text}"
    );

    // The client reads the whole file, a range of it, or its properties.
    let node = &failures[0].node_id;
    let whole = env
        .client
        .get_node_file("cpu", node, "startup/stderr.txt", None)
        .await
        .unwrap();
    assert_eq!(&whole[..], b"cannot mount /data (token tok-5e7a91c3)\n");
    let part = env
        .client
        .get_node_file("cpu", node, "startup/stderr.txt", Some((7, Some(11))))
        .await
        .unwrap();
    assert_eq!(&part[..], b"mount");
    let props = env
        .client
        .get_node_file_properties("cpu", node, "startup/stderr.txt")
        .await
        .unwrap();
    assert_eq!(props.content_length, Some(40));
    let missing = env
        .client
        .get_node_file("cpu", node, "startup/nothing.txt", None)
        .await
        .unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
    env.emulator.shutdown().await.unwrap();
}

#[test]
fn secret_values_are_redacted_from_start_task_stderr() {
    let mut redactions = batchyard_reconcile::Redactions::default();
    redactions.add("tok-5e7a91c3", "(secret from env BY_TOKEN)");
    assert_eq!(
        redactions.apply("cannot mount /data (token tok-5e7a91c3)"),
        "cannot mount /data (token (secret from env BY_TOKEN))"
    );
}
