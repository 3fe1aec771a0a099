//! Plan and apply against an emulator in this process, over real HTTP.
#![allow(clippy::unwrap_used)]

mod common;

use batchyard_reconcile::{Change, Mode};
use common::*;

fn kinds(plan: &batchyard_reconcile::Plan) -> Vec<&'static str> {
    plan.actions
        .iter()
        .map(|a| match a.change {
            Change::CreatePool { .. } => "create_pool",
            Change::CreateJob { .. } => "create_job",
            Change::AddTasks { .. } => "add_tasks",
            Change::ResizePool { .. } => "resize_pool",
            Change::EmptyPoolChange { .. } => "empty_pool_change",
            Change::ReplacePool { .. } => "replace_pool",
            Change::PatchPool { .. } => "patch_pool",
            Change::Conflict { .. } => "conflict",
            Change::DeletePool { .. } => "delete_pool",
            Change::DeleteJob => "delete_job",
            Change::SetOnAllTasksComplete { .. } => "set_end",
            _ => "other",
        })
        .collect()
}

#[tokio::test]
async fn apply_then_plan_is_empty_and_changes_plan_exactly() {
    let env = emulator().await;
    let first = intent(&recipe(2, "Standard_D2s_v5", 3));
    let plan = plan_and_apply(&env.client, &first, &options()).await;
    assert_eq!(kinds(&plan), ["create_pool", "create_job", "add_tasks",]);
    let again = plan_of(&env, &first).await;
    assert!(again.actions.is_empty(), "{again:#?}");

    // Node count: only a resize.
    let resized = intent(&recipe(3, "Standard_D2s_v5", 3));
    let plan = plan_and_apply(&env.client, &resized, &options()).await;
    assert_eq!(kinds(&plan), ["resize_pool"]);
    assert!(plan_of(&env, &resized).await.actions.is_empty());

    // More tasks: only those.
    let more = intent(&recipe(3, "Standard_D2s_v5", 5));
    let plan = plan_and_apply(&env.client, &more, &options()).await;
    assert_eq!(kinds(&plan), ["add_tasks"]);
    match &plan.actions[0].change {
        Change::AddTasks { count, sample, .. } => {
            assert_eq!(*count, 2);
            assert_eq!(sample, &["t-3", "t-4"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(plan_of(&env, &more).await.actions.is_empty());

    // VM size: an empty-pool change naming vm_size, refused without the flag.
    let bigger = intent(&recipe(3, "Standard_D4s_v5", 5));
    let plan = plan_of(&env, &bigger).await;
    assert_eq!(kinds(&plan), ["empty_pool_change"]);
    assert!(
        plan.actions[0].summary().contains("vm_size"),
        "{}",
        plan.actions[0].summary()
    );
    let refused = batchyard_reconcile::apply(&env.client, &bigger, &plan, &options(), &quiet).await;
    assert!(matches!(
        refused,
        Err(batchyard_reconcile::ApplyError::ReplaceNotAllowed(1))
    ));
    let mut allow = options();
    allow.allow_replace = true;
    batchyard_reconcile::apply(&env.client, &bigger, &plan, &allow, &quiet)
        .await
        .unwrap();
    let after = plan_of(&env, &bigger).await;
    assert!(after.actions.is_empty(), "{after:#?}");
    let pool = env.client.get_pool("cpu").await.unwrap();
    assert_eq!(
        pool.vm_size.unwrap().to_ascii_lowercase(),
        "standard_d4s_v5"
    );
    assert_eq!(pool.target_dedicated_nodes, Some(3));

    // Destroy: deletes what the recipe owns.
    let observed = batchyard_reconcile::observe(&env.client, &bigger)
        .await
        .unwrap();
    let destroy = batchyard_reconcile::diff(&bigger, &observed, Mode::Destroy);
    assert_eq!(kinds(&destroy), ["delete_job", "delete_pool"]);
    batchyard_reconcile::apply(&env.client, &bigger, &destroy, &options(), &quiet)
        .await
        .unwrap();
    assert!(env.client.get_pool("cpu").await.unwrap_err().is_not_found());
    env.emulator.shutdown().await.unwrap();
}

async fn plan_of(env: &Env, intent: &batchyard_reconcile::Intent) -> batchyard_reconcile::Plan {
    plan(&env.client, intent).await
}

#[tokio::test]
async fn a_pool_made_outside_batchyard_is_a_conflict() {
    let env = emulator().await;
    let foreign = batchyard_batch::models::BatchPoolCreateOptions {
        id: "cpu".into(),
        vm_size: "Standard_D2s_v5".into(),
        ..Default::default()
    };
    env.client.create_pool(&foreign).await.unwrap();
    let wanted = intent(&recipe(1, "Standard_D2s_v5", 1));
    let plan = plan(&env.client, &wanted).await;
    assert_eq!(kinds(&plan)[0], "conflict");
    let refused = batchyard_reconcile::apply(&env.client, &wanted, &plan, &options(), &quiet).await;
    assert!(matches!(
        refused,
        Err(batchyard_reconcile::ApplyError::Blocked(1))
    ));
    let pool = env.client.get_pool("cpu").await.unwrap();
    assert!(pool.metadata.unwrap_or_default().is_empty());
    assert!(env.client.get_job("work").await.unwrap_err().is_not_found());
    env.emulator.shutdown().await.unwrap();
}

#[tokio::test]
async fn drifted_tasks_are_named_by_field_and_extra_live_tasks_are_noted() {
    let env = emulator().await;
    let first = intent(&recipe(0, "Standard_D2s_v5", 3));
    plan_and_apply(&env.client, &first, &options()).await;
    // A task the recipe does not have, with an id in another case than the recipe's.
    let extra = batchyard_batch::models::BatchTaskCreateOptions {
        id: "Extra-1".into(),
        command_line: "/bin/true".into(),
        ..Default::default()
    };
    env.client.create_task("work", &extra).await.unwrap();

    // Same ids, another command: every task drifted, by its command only.
    let changed = intent(
        &recipe(0, "Standard_D2s_v5", 3).replace("'echo {{ index }}'", "'echo again {{ index }}'"),
    );
    let plan = plan_of(&env, &changed).await;
    assert_eq!(kinds(&plan), ["other"]);
    match &plan.actions[0].change {
        Change::RecreateTasks {
            count,
            sample,
            fields,
            ..
        } => {
            assert_eq!(*count, 3);
            assert_eq!(sample, &["t-0", "t-1", "t-2"]);
            assert_eq!(fields, &["command"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        plan.notes,
        ["job work has 1 live task(s) that the recipe does not have; left alone"]
    );
    let mut allow = options();
    allow.allow_replace = true;
    batchyard_reconcile::apply(&env.client, &changed, &plan, &allow, &quiet)
        .await
        .unwrap();
    let after = plan_of(&env, &changed).await;
    assert!(after.actions.is_empty(), "{after:#?}");
    let task = env.client.get_task("work", "t-1").await.unwrap();
    assert_eq!(
        task.command_line.as_deref(),
        Some("/bin/sh -c 'echo again 1'")
    );

    // Only the task environment changes: drifted by env, not by command.
    let with_env = intent(&recipe(0, "Standard_D2s_v5", 3).replace(
        "'echo {{ index }}'",
        "'echo again {{ index }}'\n        env: { SEED: \"{{ index }}\" }",
    ));
    let plan = plan_of(&env, &with_env).await;
    match &plan.actions[0].change {
        Change::RecreateTasks { count, fields, .. } => {
            assert_eq!(*count, 3);
            assert_eq!(fields, &["env"]);
        }
        other => panic!("{other:?}"),
    }
    env.emulator.shutdown().await.unwrap();
}
