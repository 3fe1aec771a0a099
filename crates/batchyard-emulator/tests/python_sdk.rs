//! Microsoft's Python SDKs from PyPI against the emulator: azure-batch 15.x with a
//! Shared Key credential on the Batch endpoint, and azure-storage-blob 12.x on the blob
//! endpoint. The venv is made by tests/python/setup-venv.sh.
//!
//! Without Python or PyPI the tests are skipped, unless BATCHYARD_REQUIRE_PYTHON_SDK=1
//! (CI), which makes that a failure.
#![allow(clippy::unwrap_used)] // Test helpers panic on purpose: a failure is the test failing.

mod common;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use base64::Engine as _;
use batchyard_emulator::AccountKey;
use common::Harness;

fn required() -> bool {
    std::env::var("BATCHYARD_REQUIRE_PYTHON_SDK").is_ok_and(|v| v == "1")
}

/// The venv, made once per test binary (both tests share it; pip must not run twice
/// into one directory at the same time). `None` means skip.
fn venv() -> Option<PathBuf> {
    static SETUP: Mutex<Option<Result<PathBuf, String>>> = Mutex::new(None);
    let mut done = SETUP
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let result = done.get_or_insert_with(|| {
        let here = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python");
        let venv = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("azure-batch-venv");
        let setup = Command::new("sh")
            .arg(format!("{here}/setup-venv.sh"))
            .arg(&venv)
            .output();
        match setup {
            Ok(o) if o.status.success() => Ok(venv),
            Ok(o) => Err(String::from_utf8_lossy(&o.stderr).to_string()),
            Err(e) => Err(e.to_string()),
        }
    });
    match result {
        Ok(venv) => Some(venv.clone()),
        Err(why) => {
            assert!(
                !required(),
                "BATCHYARD_REQUIRE_PYTHON_SDK=1 but the SDK venv could not be made: {why}"
            );
            // Straight to the process's stderr: the test harness captures eprintln!, and
            // a skip nobody sees reads as a pass.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED python_sdk: cannot set up the Python SDKs (set BATCHYARD_REQUIRE_PYTHON_SDK=1 to make this a failure): {why}"
            );
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_round_trip() {
    let here = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python");
    let Some(venv) = tokio::task::spawn_blocking(venv).await.unwrap() else {
        return;
    };
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_blob_sdk_round_trip() {
    let here = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python");
    let Some(venv) = tokio::task::spawn_blocking(venv).await.unwrap() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::start_with(dir, |_| {}).await;
    let emulator = h.emulator.as_ref().unwrap();
    let (url, account, key) = (
        emulator.blob_url(),
        emulator.storage_account().to_string(),
        emulator.storage_key().to_string(),
    );
    let script = format!("{here}/blob_round_trip.py");
    let python = venv.join("bin/python");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .args([url.as_str(), account.as_str(), key.as_str()])
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        output.status.success(),
        "blob SDK script failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for line in [
        "single: 11 bytes, metadata input, text/plain",
        "blocks: 11 blocks, 10247 bytes round-tripped",
        "range: 500 bytes at 1000, tail 7 bytes",
        "properties: metadata ['n', 'stage'], application/x-test",
        "list: 25 blobs in 3 pages",
        "walk: dir/,page/,single.txt",
        "sas read: download ok, upload and list refused",
        "sas write: upload and overwrite ok, download and delete refused",
        "sas create: new blob ok, overwrite refused",
        "sas list: list ok, download refused",
        "sas delete: delete ok, download refused",
        "sas blob: its blob ok, another blob refused",
        "sas expired: refused",
        "wrong key: shared key and sas refused",
        "deleted: blob and container",
    ] {
        assert!(stdout.contains(line), "missing `{line}` in:\n{stdout}");
    }
    h.shutdown().await;
}
