//! Secrets never leak: with unique markers as the registry password and the Shared Key, every
//! everyday command run with `-vv` against a served emulator that verifies signatures prints
//! neither marker, and no file the CLI writes holds one. The emulator's state lives in the
//! recipe's folder, inside what is checked: its database keeps the registry password only
//! sealed (with a key outside the folder), and it and its folder are owner-only (0600 /
//! 0700).
#![allow(clippy::unwrap_used)]

mod key_vault_server;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const REGISTRY_MARKER: &str = "regpw-marker-7f3a9c1e5d";
/// base64 of "shared-key-marker-4b8e2d6a" (the decoded text is checked too).
const KEY_MARKER: &str = "c2hhcmVkLWtleS1tYXJrZXItNGI4ZTJkNmE=";
const KEY_DECODED: &str = "shared-key-marker-4b8e2d6a";

struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn recipe() -> String {
    "recipe: secrets\n\
     registries:\n  - server: example.azurecr.io\n    username: robot\n    password: { env: BY_TEST_REGISTRY_PASSWORD }\n\
     pools:\n  - id: cpu\n    vm_size: Standard_D2s_v5\n    os: ubuntu-hpc-24.04\n    nodes: { dedicated: 1 }\n    \
     containers: { images: [example.azurecr.io/app:1] }\n\
     jobs:\n  - id: work\n    pool: cpu\n    tasks:\n      - id: hello\n        command: /bin/sh -c 'echo hello'\n"
        .to_owned()
}

fn leaks(text: &str) -> Option<&'static str> {
    [REGISTRY_MARKER, KEY_MARKER, KEY_DECODED]
        .into_iter()
        .find(|m| text.contains(m))
}

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn no_command_prints_or_stores_a_secret() {
    let binary = assert_cmd::cargo::cargo_bin("batchyard");
    let work = tempfile::tempdir().unwrap();
    let state_dir = work.path().join(".batchyard");
    let mut served = Command::new(&binary)
        .args([
            "emulator",
            "serve",
            "--boot-delay-ms",
            "20",
            "--account",
            "acct",
        ])
        .arg("--state")
        .arg(state_dir.join("emulator.db"))
        .env("BATCHYARD_EMULATOR_KEY", KEY_MARKER)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(served.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let served = Served(served);
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http"))
        .unwrap()
        .to_owned();

    let file = work.path().join("recipe.yaml");
    std::fs::write(&file, recipe()).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(&binary)
            .arg("-vv")
            .args(args)
            .env("NO_COLOR", "1")
            .env("AZURE_BATCH_ENDPOINT", &url)
            .env("AZURE_BATCH_ACCOUNT", "acct")
            .env("AZURE_BATCH_ACCESS_KEY", KEY_MARKER)
            .env("BY_TEST_REGISTRY_PASSWORD", REGISTRY_MARKER)
            .env("RUST_LOG", "trace")
            .current_dir(work.path())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    };
    let recipe_arg = file.to_str().unwrap();
    let mut transcript = String::new();
    for args in [
        vec!["validate", recipe_arg],
        vec!["render", recipe_arg],
        vec!["render", recipe_arg, "--output", "json"],
        vec!["plan", recipe_arg],
        vec!["plan", recipe_arg, "--output", "json"],
        vec!["apply", recipe_arg, "--yes"],
        vec!["run", recipe_arg],
        vec!["status", recipe_arg],
        vec!["logs", "work", "hello", "--recipe", recipe_arg],
    ] {
        let (code, text) = run(&args);
        if let Some(marker) = leaks(&text) {
            panic!(
                "`batchyard -vv {}` printed the secret {marker}:\n{text}",
                args.join(" ")
            );
        }
        transcript.push_str(&format!("$ batchyard {} -> {code:?}\n", args.join(" ")));
        if args[0] == "run" {
            assert_eq!(code, Some(0), "run failed:\n{text}");
            assert!(text.contains("succeeded"), "{text}");
        }
    }
    // The run above really signed requests with the key: a wrong key is refused.
    let bad = Command::new(&binary)
        .args(["plan", recipe_arg])
        .env("AZURE_BATCH_ENDPOINT", &url)
        .env("AZURE_BATCH_ACCOUNT", "acct")
        .env("AZURE_BATCH_ACCESS_KEY", "d3Jvbmcta2V5")
        .env("BY_TEST_REGISTRY_PASSWORD", REGISTRY_MARKER)
        .output()
        .unwrap();
    assert_ne!(bad.status.code(), Some(0), "a wrong key was accepted");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&bad.stdout),
        String::from_utf8_lossy(&bad.stderr)
    );
    assert!(leaks(&text).is_none(), "{text}");

    let mut files = Vec::new();
    files_under(work.path(), &mut files);
    let mode = |path: &Path| {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode(&state_dir), 0o700, "the state folder is owner-only");
    for path in files {
        let database = path.parent() == Some(state_dir.as_path())
            && path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("emulator.db") && !n.ends_with(".lock"));
        if database {
            assert_eq!(mode(&path), 0o600, "{} is owner-only", path.display());
        }
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(leaks(&text).is_none(), "{} holds a secret", path.display());
    }
    drop(served);
    eprintln!("{transcript}");
}

const MOUNT_KEY_MARKER: &str = "bW91bnQta2V5LW1hcmtlci05YzFk";
const SAS_MARKER: &str = "sv=2024-05-04&sig=sas-marker-3e7b1f";
const ROTATED_MARKER: &str = "regpw-rotated-marker-5a0c2e";
/// A storage account key kept in Key Vault (base64 of "key-vault-marker-6e1f").
const KEY_VAULT_MARKER: &str = "a2V5LXZhdWx0LW1hcmtlci02ZTFm";

/// A pool with every kind of secret a recipe carries: a storage account key (Azure Files),
/// a SAS (blobfuse), a registry password, and a blobfuse account key from Key Vault.
fn recipe_with_mounts() -> String {
    "recipe: mounts\n\
     registries:\n  - server: example.azurecr.io\n    username: robot\n    password: { env: BY_TEST_REGISTRY_PASSWORD }\n\
     pools:\n  - id: cpu\n    vm_size: Standard_D2s_v5\n    os: ubuntu-hpc-24.04\n    nodes: { dedicated: 1 }\n    \
     containers: { images: [example.azurecr.io/app:1] }\n    \
     mounts:\n      - azure_files: { account: acct, url: \"https://acct.file.core.windows.net/share\", path: share, key: { env: BY_TEST_MOUNT_KEY } }\n      \
     - azure_blob: { account: acct, container: data, path: data, sas: { env: BY_TEST_SAS } }\n      \
     - azure_blob: { account: acct, container: more, path: more, key: { keyvault: \"https://byvault.vault.azure.net/secrets/mount-key\" } }\n\
     jobs:\n  - id: work\n    pool: cpu\n    tasks:\n      - id: hello\n        command: /bin/sh -c 'echo hello'\n"
        .to_owned()
}

fn leaks_any(text: &str) -> Option<&'static str> {
    [
        REGISTRY_MARKER,
        MOUNT_KEY_MARKER,
        "sas-marker-3e7b1f",
        ROTATED_MARKER,
        KEY_VAULT_MARKER,
        "key-vault-marker-6e1f",
    ]
    .into_iter()
    .find(|m| text.contains(m))
}

/// On the local target: plan JSON and status JSON hold none of a mount key, a SAS, a
/// registry password or a Key Vault secret, and a rotated value (same name, new value) plans no change.
#[test]
fn mount_keys_sas_and_passwords_stay_out_of_plans_and_status() {
    exercise_local_secrets(false);
}

/// The same, and no file of the state folder holds one either: the local service seals
/// the secret fields of its database with a key kept outside the folder, where its own
/// Shared Key is kept too.
#[test]
fn the_state_folder_holds_no_secret() {
    exercise_local_secrets(true);
}

fn exercise_local_secrets(check_state_folder: bool) {
    let vault = key_vault_server::KeyVaultServer::start(&[("mount-key", KEY_VAULT_MARKER)], &[]);
    let binary = assert_cmd::cargo::cargo_bin("batchyard");
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("recipe.yaml");
    std::fs::write(&file, recipe_with_mounts()).unwrap();
    let recipe_arg = file.to_str().unwrap();
    let run = |args: &[&str], password: &str| {
        let out = Command::new(&binary)
            .args(args)
            .envs(vault.env())
            .env("NO_COLOR", "1")
            .env("BATCHYARD_LOCAL_IDLE_TIMEOUT", "5s")
            .env_remove("AZURE_BATCH_ENDPOINT")
            .env_remove("AZURE_BATCH_ACCOUNT")
            .env_remove("AZURE_BATCH_ACCESS_KEY")
            .env("BY_TEST_REGISTRY_PASSWORD", password)
            .env("BY_TEST_MOUNT_KEY", MOUNT_KEY_MARKER)
            .env("BY_TEST_SAS", SAS_MARKER)
            .current_dir(work.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let text = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
        if let Some(marker) = leaks_any(&text) {
            panic!(
                "`batchyard {}` printed the secret {marker}:\n{text}",
                args.join(" ")
            );
        }
        (out.status.code(), stdout)
    };
    let (code, stdout) = run(&["plan", recipe_arg, "--output", "json"], REGISTRY_MARKER);
    assert_eq!(code, Some(0), "{stdout}");
    let (code, stdout) = run(&["apply", recipe_arg, "--output", "json"], REGISTRY_MARKER);
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(
        vault.reads("mount-key"),
        2,
        "plan and apply each read the Key Vault secret once"
    );
    let (code, stdout) = run(&["status", recipe_arg, "--output", "json"], REGISTRY_MARKER);
    assert_eq!(code, Some(0), "{stdout}");
    let (code, stdout) = run(
        &[
            "plan",
            recipe_arg,
            "--output",
            "json",
            "--detailed-exitcode",
        ],
        REGISTRY_MARKER,
    );
    assert_eq!(
        code,
        Some(0),
        "a plan right after apply is not clean:\n{stdout}"
    );
    // The password rotated: same name, new value. No change is planned.
    let (code, stdout) = run(
        &[
            "plan",
            recipe_arg,
            "--output",
            "json",
            "--detailed-exitcode",
        ],
        ROTATED_MARKER,
    );
    assert_eq!(
        code,
        Some(0),
        "a rotated secret shows as a change:\n{stdout}"
    );
    // A change elsewhere in the pool's container settings shows the live registry entry:
    // its password is redacted whatever the target returned.
    std::fs::write(
        &file,
        recipe_with_mounts().replace("username: robot", "username: robot2"),
    )
    .unwrap();
    let (code, stdout) = run(
        &[
            "plan",
            recipe_arg,
            "--output",
            "json",
            "--detailed-exitcode",
        ],
        REGISTRY_MARKER,
    );
    assert_eq!(code, Some(2), "{stdout}");
    assert!(stdout.contains("robot2"), "{stdout}");

    let _ = run(
        &["local", "stop", "--state-dir", ".batchyard"],
        REGISTRY_MARKER,
    );
    if !check_state_folder {
        return;
    }
    let state = work.path().join(".batchyard");
    // The local service's own Shared Key, from the private folder it is kept in.
    let private = batchyard_emulator::private_dir::for_state(&state.join("emulator.db")).unwrap();
    let service_key = std::fs::read_to_string(private.join("service.key")).unwrap();
    let service_key = service_key.trim();
    assert!(service_key.len() >= 16);
    let mut files = Vec::new();
    files_under(&state, &mut files);
    assert!(!files.is_empty());
    let mut sealed = false;
    for path in files {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        // The pool's secrets are in the database (or its log), sealed.
        sealed |= path.to_string_lossy().contains("emulator.db") && text.contains("sealed:v1:");
        assert!(
            leaks_any(&text).is_none(),
            "{} holds a secret ({:?})",
            path.display(),
            leaks_any(&text)
        );
        assert!(
            !text.contains(service_key),
            "{} holds the service key",
            path.display()
        );
    }
    assert!(sealed, "the database keeps the pool's secrets sealed");
}

/// A secret that cannot be read fails plan, apply and run before anything is touched,
/// as an error at the secret's place in the recipe (text and `--output json`), and a green
/// plan means apply reads the same values: an unset variable and an empty one both fail.
#[test]
fn an_unset_or_empty_env_secret_fails_plan_apply_and_run_at_its_place() {
    let vault = key_vault_server::KeyVaultServer::start(&[("mount-key", KEY_VAULT_MARKER)], &[]);
    let binary = assert_cmd::cargo::cargo_bin("batchyard");
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("recipe.yaml");
    std::fs::write(&file, recipe_with_mounts()).unwrap();
    let recipe_arg = file.to_str().unwrap();
    let run = |args: &[&str], sas: Option<&str>| {
        let mut command = Command::new(&binary);
        command
            .args(args)
            .envs(vault.env())
            .env("NO_COLOR", "1")
            .env_remove("AZURE_BATCH_ENDPOINT")
            .env("BY_TEST_REGISTRY_PASSWORD", REGISTRY_MARKER)
            .env("BY_TEST_MOUNT_KEY", MOUNT_KEY_MARKER)
            .current_dir(work.path());
        match sas {
            Some(v) => command.env("BY_TEST_SAS", v),
            None => command.env_remove("BY_TEST_SAS"),
        };
        let out = command.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            leaks_any(&format!("{stdout}{stderr}")).is_none(),
            "`batchyard {}` printed a secret:\n{stdout}{stderr}",
            args.join(" ")
        );
        (out.status.code(), stdout, stderr)
    };
    for (sas, words) in [(None, "is not set"), (Some(""), "is empty")] {
        for command in ["plan", "apply", "run"] {
            let (code, _, stderr) = run(&[command, recipe_arg], sas);
            assert_eq!(code, Some(1), "{command}: {stderr}");
            assert!(
                stderr.contains(&format!("the environment variable BY_TEST_SAS {words}")),
                "{command}: {stderr}"
            );
            assert!(
                stderr.contains("recipe.yaml:"),
                "{command} names the place: {stderr}"
            );
            assert!(
                stderr.contains("set BY_TEST_SAS"),
                "{command} says what to do: {stderr}"
            );
        }
        let (code, stdout, stderr) = run(&["plan", recipe_arg, "--output", "json"], sas);
        assert_eq!(code, Some(1), "{stderr}");
        let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(doc["valid"], false, "{doc:#}");
        let diagnostics = doc["diagnostics"].as_array().unwrap();
        assert_eq!(diagnostics.len(), 1, "only the unreadable secret: {doc:#}");
        let d = &diagnostics[0];
        assert_eq!(d["severity"], "error");
        assert_eq!(d["path"], "/pools/0/mounts/1/azure_blob/sas");
        assert_eq!(d["line"], 14, "{d}");
        assert!(d["message"].as_str().unwrap().contains(words), "{d}");
    }
    // Nothing was touched: no local service was started, no state folder made.
    assert!(!work.path().join(".batchyard").exists());
    // With every secret set, the same plan is green.
    let (code, _, stderr) = run(&["plan", recipe_arg], Some(SAS_MARKER));
    assert_eq!(code, Some(0), "{stderr}");
}
