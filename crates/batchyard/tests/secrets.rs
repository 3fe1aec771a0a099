//! Secrets never leak: with unique markers as the registry password and the Shared Key, every
//! everyday command run with `-vv` against a served emulator that verifies signatures prints
//! neither marker, and no file the CLI writes holds one.
#![allow(clippy::unwrap_used)]

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
    let server_dir = tempfile::tempdir().unwrap();
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
        .arg(server_dir.path().join("emulator.db"))
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
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(leaks(&text).is_none(), "{} holds a secret", path.display());
    }
    drop(served);
    eprintln!("{transcript}");
}
