//! What a client sends on create and what a GET gives back: server-managed fields
//! are not the client's to set, and secrets are write-only.

use serde_json::{Value, json};

use crate::services::{KINDS, Options, pool_body, start};

/// The reported attack: a task created with a crafted `nodeInfo` made the files API
/// read and delete outside the service's folders. Every server-managed field is now
/// refused on create, alone or in a collection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_managed_fields_cannot_be_set_on_create() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "keep me").unwrap();
        let service = start(kind, &dir.path().join("state.db"), &Options::default())
            .await
            .unwrap();
        service.pool_and_job("p", "j").await;
        let escape = "../".repeat(12) + dir.path().to_str().unwrap().trim_start_matches('/');
        let crafted = [
            ("nodeInfo", json!({"poolId": "p", "nodeId": escape})),
            ("state", json!("completed")),
            (
                "executionInfo",
                json!({"exitCode": 0, "retryCount": 0, "requeueCount": 0}),
            ),
            ("_emulator", json!({"attempt": 7})),
            ("creationTime", json!("2020-01-01T00:00:00Z")),
        ];
        for (field, value) in &crafted {
            let mut task = json!({"id": format!("t-{}", field.trim_start_matches('_')), "commandLine": "/bin/true"});
            task[*field] = value.clone();
            let (status, answer) = service.post("/jobs/j/tasks", task.clone()).await;
            assert_eq!(
                (status, answer["code"].as_str()),
                (400, Some("UnsupportedProperty")),
                "{kind:?}: a task with {field}: {answer}"
            );
            let (status, answer) = service
                .post("/jobs/j/addtaskcollection", json!({"value": [task]}))
                .await;
            assert_eq!(status, 200, "{answer}");
            assert_eq!(
                answer["value"][0]["status"], "clienterror",
                "{kind:?}: {field} in a collection: {answer}"
            );
            let mut pool = pool_body(&format!("p-{}", field.trim_start_matches('_')));
            pool[*field] = value.clone();
            let (status, _) = service.post("/pools", pool).await;
            assert_eq!(status, 400, "{kind:?}: a pool with {field}");
            let mut job = json!({"id": format!("j-{}", field.trim_start_matches('_')), "poolInfo": {"poolId": "p"}});
            job[*field] = value.clone();
            let (status, _) = service.post("/jobs", job).await;
            assert_eq!(status, 400, "{kind:?}: a job with {field}");
        }
        // Nothing was created, so the files API has nothing to read or delete there.
        let (status, _) = service
            .send(
                reqwest::Method::DELETE,
                "/jobs/j/tasks/t-nodeInfo/files/victim.txt",
                &Value::Null,
            )
            .await;
        assert_eq!(status, 404);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
        let (_, tasks) = service.get("/jobs/j/tasks").await;
        assert_eq!(tasks["value"].as_array().map(Vec::len), Some(0), "{tasks}");
        service.stop().await;
    }
}

const SECRETS: [&str; 6] = [
    "registry-password-91c2",
    "blob-account-key-4d7e",
    "blob-sas-key-0a5f",
    "share-account-key-6b3c",
    "user-password-2e8d",
    "ssh-private-key-7f1a",
];

/// Registry passwords, storage keys, SAS keys, user passwords and SSH keys are
/// write-only (the spec marks them `x-ms-secret`): no GET, list or `$select`
/// returns them, for pools and for tasks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_never_returned() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let service = start(kind, &dir.path().join("state.db"), &Options::default())
            .await
            .unwrap();
        let mut pool = pool_body("secret");
        pool["targetDedicatedNodes"] = json!(0);
        pool["virtualMachineConfiguration"]["containerConfiguration"] = json!({
            "type": "dockerCompatible",
            "containerRegistries": [{"registryServer": "example.azurecr.io", "username": "robot", "password": SECRETS[0]}]
        });
        pool["mountConfiguration"] = json!([
            {"azureBlobFileSystemConfiguration": {"accountName": "a", "containerName": "c", "accountKey": SECRETS[1], "relativeMountPath": "b"}},
            {"azureBlobFileSystemConfiguration": {"accountName": "a", "containerName": "d", "sasKey": SECRETS[2], "relativeMountPath": "s"}},
            {"azureFileShareConfiguration": {"accountName": "a", "azureFileUrl": "https://a.file.core.windows.net/s", "accountKey": SECRETS[3], "relativeMountPath": "f"}}
        ]);
        pool["userAccounts"] = json!([
            {"name": "u", "password": SECRETS[4], "linuxUserConfiguration": {"sshPrivateKey": SECRETS[5]}}
        ]);
        let (status, answer) = service.post("/pools", pool).await;
        assert_eq!(status, 201, "{kind:?}: {answer}");
        let (status, answer) = service
            .post(
                "/jobs",
                json!({"id": "j", "poolInfo": {"poolId": "secret"}}),
            )
            .await;
        assert_eq!(status, 201, "{answer}");
        let (status, answer) = service
            .post(
                "/jobs/j/tasks",
                json!({"id": "t", "commandLine": "/bin/true", "containerSettings": {
                    "imageName": "example.azurecr.io/app:1",
                    "registry": {"registryServer": "example.azurecr.io", "username": "robot", "password": SECRETS[0]}
                }}),
            )
            .await;
        assert_eq!(status, 201, "{answer}");
        for path in [
            "/pools/secret",
            "/pools",
            "/pools?$select=id,virtualMachineConfiguration,mountConfiguration,userAccounts",
            "/pools?$filter=id%20eq%20%27secret%27",
            "/jobs/j/tasks/t",
            "/jobs/j/tasks",
            "/jobs/j/tasks?$select=containerSettings",
        ] {
            let (status, answer) = service.get(path).await;
            assert_eq!(status, 200, "{kind:?} {path}: {answer}");
            let text = answer.to_string();
            for secret in SECRETS {
                assert!(
                    !text.contains(secret),
                    "{kind:?} {path} returned {secret}: {text}"
                );
            }
            // What is not secret still reads back.
            assert!(
                text.contains("example.azurecr.io") || text.contains("\"id\""),
                "{text}"
            );
        }
        let (_, pool) = service.get("/pools/secret").await;
        assert_eq!(
            pool["virtualMachineConfiguration"]["containerConfiguration"]["containerRegistries"][0]
                ["username"],
            "robot"
        );
        service.stop().await;
    }
}
