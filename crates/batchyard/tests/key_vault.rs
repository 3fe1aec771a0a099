//! `{keyvault: URL}` secrets are read for real: Microsoft's Key Vault client, over TLS,
//! with a token from the credential chain (a managed identity endpoint), against a local
//! server that speaks the Key Vault secrets protocol. Plan proves each secret resolves and
//! apply sends the value read then; a missing secret and a 403 fail plan at the secret's
//! place with what to do.
#![allow(clippy::unwrap_used)]

mod key_vault_server;

use std::process::Command;

use key_vault_server::KeyVaultServer;

const VALUE: &str = "kv-registry-password-marker-81d2";

fn recipe(url: &str) -> String {
    format!(
        "recipe: vaulted\n\
         registries:\n  - server: example.azurecr.io\n    username: robot\n    password: {{ keyvault: \"{url}\" }}\n\
         pools:\n  - id: cpu\n    vm_size: Standard_D2s_v5\n    os: ubuntu-hpc-24.04\n    nodes: {{ dedicated: 1 }}\n    \
         containers: {{ images: [example.azurecr.io/app:1] }}\n\
         jobs:\n  - id: work\n    pool: cpu\n    tasks:\n      - id: hello\n        command: /bin/sh -c 'echo hello'\n"
    )
}

fn batchyard(
    vault: &KeyVaultServer,
    dir: &std::path::Path,
    args: &[&str],
) -> (i32, String, String) {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("batchyard"));
    command
        .args(args)
        .env("NO_COLOR", "1")
        .env("BATCHYARD_LOCAL_IDLE_TIMEOUT", "5s")
        .env_remove("AZURE_BATCH_ENDPOINT")
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("AZURE_FEDERATED_TOKEN_FILE")
        .current_dir(dir);
    for (k, v) in vault.env() {
        command.env(k, v);
    }
    let out = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stdout.contains(VALUE) && !stderr.contains(VALUE),
        "`batchyard {}` printed the Key Vault value:\n{stdout}{stderr}",
        args.join(" ")
    );
    (out.status.code().unwrap(), stdout, stderr)
}

#[test]
fn a_key_vault_secret_that_exists_passes_plan_and_apply_sends_it() {
    let vault = KeyVaultServer::start(&[("registry-password", VALUE)], &[]);
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("recipe.yaml");
    std::fs::write(&file, recipe(&vault.url("registry-password"))).unwrap();
    let file = file.to_str().unwrap();

    let (code, _, stderr) = batchyard(&vault, work.path(), &["plan", file]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        vault.reads("registry-password"),
        1,
        "plan reads the secret once"
    );

    let (code, stdout, stderr) =
        batchyard(&vault, work.path(), &["apply", file, "--output", "json"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        vault.reads("registry-password"),
        2,
        "apply reads the secret once more, before it creates the pool"
    );
    let (code, stdout, stderr) =
        batchyard(&vault, work.path(), &["status", file, "--output", "json"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("cpu"), "{stdout}");
    let _ = batchyard(
        &vault,
        work.path(),
        &["local", "stop", "--state-dir", ".batchyard"],
    );
    // No file of the state folder holds the value.
    let mut stack = vec![work.path().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                assert!(
                    !String::from_utf8_lossy(&bytes).contains(VALUE),
                    "{} holds the Key Vault value",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn a_missing_secret_and_a_forbidden_one_fail_plan_saying_what_to_do() {
    let vault = KeyVaultServer::start(&[("locked", VALUE)], &["locked"]);
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("recipe.yaml");
    let file_arg = file.to_str().unwrap();

    std::fs::write(&file, recipe(&vault.url("no-such-secret"))).unwrap();
    let (code, _, stderr) = batchyard(&vault, work.path(), &["plan", file_arg]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("has no secret no-such-secret"), "{stderr}");
    assert!(stderr.contains("az keyvault secret set"), "{stderr}");
    assert!(
        stderr.contains("recipe.yaml:5"),
        "at the secret's place: {stderr}"
    );

    std::fs::write(&file, recipe(&vault.url("locked"))).unwrap();
    let (code, stdout, stderr) =
        batchyard(&vault, work.path(), &["plan", file_arg, "--output", "json"]);
    assert_eq!(code, 1, "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let d = &doc["diagnostics"][0];
    assert_eq!(d["path"], "/registries/0/password", "{doc:#}");
    assert_eq!(d["severity"], "error");
    assert!(
        d["message"].as_str().unwrap().contains("403 Forbidden"),
        "{d}"
    );
    assert!(
        d["help"]
            .as_str()
            .unwrap()
            .contains("Key Vault Secrets User"),
        "{d}"
    );
    assert!(d["help"].as_str().unwrap().contains("`get`"), "{d}");
    // apply and run stop the same way, before anything is created.
    for command in ["apply", "run"] {
        let (code, _, stderr) = batchyard(&vault, work.path(), &[command, file_arg]);
        assert_eq!(code, 1, "{command}: {stderr}");
        assert!(
            stderr.contains("Key Vault Secrets User"),
            "{command}: {stderr}"
        );
    }
    assert!(!work.path().join(".batchyard").exists());
}

#[test]
fn a_malformed_key_vault_url_is_a_validate_error_at_its_place() {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("recipe.yaml");
    std::fs::write(
        &file,
        recipe("https://byvault.vault.azure.net/keys/registry-password"),
    )
    .unwrap();
    let out = Command::new(assert_cmd::cargo::cargo_bin("batchyard"))
        .args(["validate", file.to_str().unwrap(), "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &doc["diagnostics"][0];
    assert_eq!(d["path"], "/registries/0/password/keyvault", "{doc:#}");
    assert_eq!(d["line"], 5, "{d}");
    assert!(
        d["message"].as_str().unwrap().contains("no /secrets/"),
        "{d}"
    );
}
