//! One service per state, and a service touches only the processes it started.

use crate::services::{KINDS, Kind, Options, StartFailure, start};

/// A second service on a state in use fails fast, names the holder, and the first
/// one's running task is left alone (it completes with its own exit code).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_service_on_one_state_is_refused_and_kills_nothing() {
    for first in KINDS {
        for second in KINDS {
            let dir = tempfile::tempdir().unwrap();
            let state = dir.path().join("state.db");
            let holder = start(first, &state, &Options::default()).await.unwrap();
            holder.pool_and_job("p", "j").await;
            holder.running_task("j", "t", "/bin/sleep 2").await;
            let refused = start(second, &state, &Options::default()).await;
            let Err(failure) = refused else {
                panic!("{first:?} then {second:?}: a second service started on one state");
            };
            let text = failure.text();
            assert!(text.contains("in use"), "{text}");
            assert!(
                text.contains(&holder.pid().to_string()),
                "the holder's pid is named: {text}"
            );
            if let StartFailure::Embedded(err) = &failure {
                assert!(
                    matches!(
                        err,
                        batchyard_emulator::EmulatorError::Lock(
                            batchyard_emulator::StateLockError::InUse { pid: Some(_), .. }
                        )
                    ),
                    "{err:?}"
                );
            }
            let task = holder.completed("j", "t").await;
            assert_eq!(
                (
                    &task["executionInfo"]["result"],
                    &task["executionInfo"]["exitCode"]
                ),
                (&serde_json::json!("success"), &serde_json::json!(0)),
                "{first:?} then {second:?}: the holder's task ran to its end: {task}"
            );
            holder.stop().await;
            // Once the holder is gone, the state is free again.
            start(second, &state, &Options::default())
                .await
                .unwrap()
                .stop()
                .await;
        }
    }
}

/// Two services on two states run a task with the same job, task and attempt; one
/// is stopped and started again, and its recovery leaves the other's process alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_touches_only_its_own_processes() {
    for (bystander_kind, restarted_kind) in [
        (Kind::Embedded, Kind::Served),
        (Kind::Served, Kind::Embedded),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let bystander = start(
            bystander_kind,
            &dir.path().join("a.db"),
            &Options::default(),
        )
        .await
        .unwrap();
        let restarted_state = dir.path().join("b.db");
        let restarted = start(restarted_kind, &restarted_state, &Options::default())
            .await
            .unwrap();
        for service in [&bystander, &restarted] {
            service.pool_and_job("p", "j").await;
            service.running_task("j", "t", "/bin/sleep 3").await;
        }
        restarted.stop().await;
        let again = start(restarted_kind, &restarted_state, &Options::default())
            .await
            .unwrap();
        // The restarted service recovered its own task (requeued and run again).
        let own = again.completed("j", "t").await;
        assert_eq!(own["executionInfo"]["exitCode"], 0, "{own}");
        let other = bystander.completed("j", "t").await;
        assert_eq!(
            (
                &other["executionInfo"]["exitCode"],
                &other["executionInfo"]["retryCount"]
            ),
            (&serde_json::json!(0), &serde_json::json!(0)),
            "{bystander_kind:?} beside a restarted {restarted_kind:?}: the bystander's run was not touched: {other}"
        );
        again.stop().await;
        bystander.stop().await;
    }
}
