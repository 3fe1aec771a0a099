//! batchyard's storage calls against the emulator's blob endpoint over real HTTP: the block
//! path of large uploads (with a small single-put threshold, so the test data stays small)
//! and listings that take many pages (with a small page size).
#![allow(clippy::unwrap_used)] // A failed step is the test failing.

use std::path::Path;

use base64::Engine as _;
use batchyard_data::sas::ContainerSas;
use batchyard_data::upload::{self, Upload};
use batchyard_data::{BlobStore, Credential, FileStamp, Limits};
use batchyard_emulator::{Emulator, EmulatorConfig, RunningEmulator, SupervisorCommand};
use sha2::Digest as _;

struct Env {
    emulator: RunningEmulator,
    key: Vec<u8>,
    _dir: tempfile::TempDir,
}

/// Not a test: the harness owns this binary's main, so the emulator's task supervisor is
/// this binary run again with only this entry selected (`SupervisorCommand::test_entry`).
/// Run as a test, it returns at once.
#[test]
fn task_supervisor() {
    batchyard_emulator::supervisor::test_entry();
}

async fn emulator() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EmulatorConfig::new(dir.path().join("state.db"));
    config.supervisor = SupervisorCommand::test_entry("task_supervisor");
    let emulator = Emulator::start(config).await.unwrap();
    let key = base64::engine::general_purpose::STANDARD
        .decode(emulator.storage_key())
        .unwrap();
    Env {
        emulator,
        key,
        _dir: dir,
    }
}

impl Env {
    fn store(&self, container: &str, limits: Limits) -> BlobStore {
        BlobStore::new(
            &self.emulator.blob_url(),
            container,
            Credential::AccountKey {
                account: self.emulator.storage_account().to_owned(),
                key: self.key.clone(),
            },
        )
        .unwrap()
        .with_limits(limits)
    }

    /// A read-and-list SAS of `container`, for requests the store does not make itself.
    fn sas(&self, container: &str) -> String {
        ContainerSas {
            account: self.emulator.storage_account(),
            container,
            permissions: "rl",
            expiry: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        }
        .sign(&self.key)
    }
}

/// Bytes that differ from block to block, so a block sent twice or out of order shows.
fn content(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from((i * 31 + i / 997) % 251).unwrap())
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn write(path: &Path, bytes: &[u8]) -> Upload {
    std::fs::write(path, bytes).unwrap();
    let hash = sha256(bytes);
    Upload {
        path: path.to_owned(),
        blob: format!("inputs/sha256/{hash}"),
        size: bytes.len() as u64,
        sha256: Some(hash),
        settled: None,
    }
}

const SMALL_BLOCKS: Limits = Limits {
    single_put: 64 * 1024,
    block_size: 16 * 1024,
    page_size: None,
};

async fn committed_blocks(env: &Env, store: &BlobStore, container: &str, blob: &str) -> usize {
    let url = format!(
        "{}/{blob}?comp=blocklist&blocklisttype=committed&{}",
        store.container_url(),
        env.sas(container)
    );
    let resp = reqwest::get(&url).await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let xml = resp.text().await.unwrap();
    xml.matches("<Block>").count()
}

#[tokio::test]
async fn a_file_above_the_single_put_limit_goes_up_in_blocks_and_comes_back_whole() {
    let env = emulator().await;
    let store = env.store("data", SMALL_BLOCKS);
    let dir = tempfile::tempdir().unwrap();
    // 10 full blocks and a short one.
    let bytes = content(10 * 16 * 1024 + 1234);
    let big = write(&dir.path().join("big.bin"), &bytes);
    let small = write(&dir.path().join("small.bin"), &content(1000));

    let plan = upload::plan(&store, "inputs/", &[big.clone(), small.clone()])
        .await
        .unwrap();
    assert_eq!(plan.missing.len(), 2);
    let sent = upload::execute(&store, &plan, 4, &|_| {}).await.unwrap();
    assert_eq!(sent, bytes.len() as u64 + 1000);

    // The service holds the large blob as 11 committed blocks; the small one went up in a
    // single request and has none.
    assert_eq!(committed_blocks(&env, &store, "data", &big.blob).await, 11);
    assert_eq!(committed_blocks(&env, &store, "data", &small.blob).await, 0);

    let back = dir.path().join("back.bin");
    let got = store.download(&big.blob, &back).await.unwrap();
    assert_eq!(got, bytes.len() as u64);
    assert_eq!(std::fs::read(&back).unwrap(), bytes);

    // A second plan of the same files sends nothing.
    let again = upload::plan(&store, "inputs/", &[big, small])
        .await
        .unwrap();
    assert!(again.missing.is_empty());
    assert_eq!(again.present, 2);
    env.emulator.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_large_file_that_changed_since_it_was_hashed_leaves_no_blob() {
    let env = emulator().await;
    let store = env.store("data", SMALL_BLOCKS);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("moving.bin");
    let mut stale = write(&path, &content(5 * 16 * 1024));
    // The file changes after it was hashed: its content no longer has the planned name.
    std::fs::write(&path, content(5 * 16 * 1024 + 7)).unwrap();
    stale.size = 5 * 16 * 1024 + 7;
    refused_as_changed(&store, &stale).await;
    // The staged blocks were never committed: no blob under the content name.
    let listed = store.list("inputs/").await.unwrap();
    assert!(listed.is_empty(), "{listed:?}");
    env.emulator.shutdown().await.unwrap();
}

/// Plans `changed` (a file changed since it was hashed) and checks that sending it is
/// refused.
async fn refused_as_changed(store: &BlobStore, changed: &Upload) {
    let plan = upload::plan(store, "inputs/", std::slice::from_ref(changed))
        .await
        .unwrap();
    assert_eq!(plan.missing.len(), 1);
    let err = upload::execute(store, &plan, 1, &|_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("changed while it was being applied"), "{err}");
}

/// Sets the file's modification time an hour back (long before any hash of it) and
/// returns its stamp.
fn last_changed_an_hour_ago(path: &Path) -> FileStamp {
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(an_hour_ago)
        .unwrap();
    FileStamp::of(&std::fs::metadata(path).unwrap())
}

/// A file whose size and modification time vouch for its hash is not hashed again as it
/// is sent; a change after the hash (same size, new modification time) is still refused.
#[tokio::test]
async fn a_settled_file_is_checked_by_its_stamp() {
    let env = emulator().await;
    let store = env.store("data", Limits::default());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reads.txt");
    let mut settled = write(&path, b"ACGT ACGT");
    settled.settled = Some(last_changed_an_hour_ago(&path));
    let plan = upload::plan(&store, "inputs/", std::slice::from_ref(&settled))
        .await
        .unwrap();
    assert_eq!(upload::execute(&store, &plan, 1, &|_| {}).await.unwrap(), 9);

    // The same size, other content, a new modification time: refused, nothing stored.
    let path = dir.path().join("moved.txt");
    let mut moved = write(&path, b"ACGT ACGT");
    moved.settled = Some(last_changed_an_hour_ago(&path));
    moved.blob = "inputs/sha256/moved".to_owned();
    std::fs::write(&path, b"TTTT TTTT").unwrap();
    refused_as_changed(&store, &moved).await;
    let listed = store.list("inputs/").await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    env.emulator.shutdown().await.unwrap();
}

#[tokio::test]
async fn listings_follow_every_page_of_the_service() {
    let env = emulator().await;
    let writer = env.store("raw", Limits::default());
    writer.ensure_container().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut wanted = Vec::new();
    for i in 0..23 {
        let path = dir.path().join(format!("f{i}"));
        std::fs::write(&path, format!("file {i}")).unwrap();
        let name = format!("frames/{i:03}.txt");
        writer.upload_file(&path, &name, None, None).await.unwrap();
        wanted.push(name);
    }
    // Outside the prefix: never listed.
    let path = dir.path().join("other");
    std::fs::write(&path, "other").unwrap();
    writer
        .upload_file(&path, "other/x.txt", None, None)
        .await
        .unwrap();

    let paged = env.store(
        "raw",
        Limits {
            page_size: Some(5),
            ..Limits::default()
        },
    );
    let listed = paged.list("frames/").await.unwrap();
    let names: Vec<_> = listed.iter().map(|b| b.name.clone()).collect();
    assert_eq!(names, wanted);
    assert_eq!(listed[7].size, "file 7".len() as u64);

    // The emulator really pages at that size: a first page of 5 with a continuation marker.
    let url = format!(
        "{}?restype=container&comp=list&prefix=frames/&maxresults=5&{}",
        paged.container_url(),
        env.sas("raw")
    );
    let xml = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert_eq!(xml.matches("<Blob>").count(), 5, "{xml}");
    let marker = xml
        .split("<NextMarker>")
        .nth(1)
        .and_then(|rest| rest.split("</NextMarker>").next())
        .unwrap_or_default();
    assert!(!marker.is_empty(), "{xml}");
    env.emulator.shutdown().await.unwrap();
}
