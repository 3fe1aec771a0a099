//! Microsoft's Python SDK (azure-batch 15.x from PyPI) against the emulator, with a
//! Shared Key credential. The venv is made by tests/python/setup-venv.sh.
//!
//! Without Python or PyPI the test is skipped, unless BATCHYARD_REQUIRE_PYTHON_SDK=1
//! (CI), which makes that a failure.
#![allow(clippy::unwrap_used)] // Test helpers panic on purpose: a failure is the test failing.

mod common;

use std::process::Command;

use base64::Engine as _;
use batchyard_emulator::AccountKey;
use common::Harness;

fn required() -> bool {
    std::env::var("BATCHYARD_REQUIRE_PYTHON_SDK").is_ok_and(|v| v == "1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_round_trip() {
    let here = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python");
    let venv = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("azure-batch-venv");
    let setup = Command::new("sh")
        .arg(format!("{here}/setup-venv.sh"))
        .arg(&venv)
        .output();
    let ready = setup.as_ref().is_ok_and(|o| o.status.success());
    if !ready {
        let why = match &setup {
            Ok(o) => String::from_utf8_lossy(&o.stderr).to_string(),
            Err(e) => e.to_string(),
        };
        assert!(
            !required(),
            "BATCHYARD_REQUIRE_PYTHON_SDK=1 but the SDK venv could not be made: {why}"
        );
        eprintln!("skipping: cannot set up azure-batch ({why})");
        return;
    }
    let key = base64::engine::general_purpose::STANDARD.encode(b"python-sdk-test-key-0123456789");
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::start_with(dir, |c| {
        c.account = Some(AccountKey {
            name: "sdkacct".into(),
            key: key.clone(),
        });
    })
    .await;
    let url = h.url.clone();
    let script = format!("{here}/sdk_round_trip.py");
    let python = venv.join("bin/python");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .args([url.as_str(), "sdkacct", key.as_str()])
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        output.status.success(),
        "SDK script failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("pool: 2 idle nodes"), "{stdout}");
    assert!(stdout.contains("tasks: 250 added"), "{stdout}");
    assert!(stdout.contains("list: 250 tasks in 3 pages"), "{stdout}");
    assert!(stdout.contains("counts: 250 succeeded"), "{stdout}");
    assert!(stdout.contains("stdout: hello from t042"), "{stdout}");
    assert!(stdout.contains("range: hello"), "{stdout}");
    h.shutdown().await;
}
