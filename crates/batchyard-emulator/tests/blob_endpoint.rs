//! The emulator's blob endpoint over real HTTP: operations, paging, ranges, Shared Key
//! and SAS checks, and state that survives a restart. Requests are signed here by the
//! rules of the Storage REST reference ("Authorize with Shared Key"), written out again
//! rather than taken from the emulator; the Python SDK test (python_sdk.rs) checks the
//! same endpoint with Microsoft's own client.
#![allow(clippy::unwrap_used)] // Test helpers panic on purpose: a failure is the test failing.

mod common;

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use batchyard_emulator::blob::sas::service_sas;
use common::Harness;
use hmac::{KeyInit, Mac};
use reqwest::{Method, StatusCode};

struct Blob {
    http: reqwest::Client,
    url: String,
    account: String,
    key: String,
}

impl Blob {
    fn of(h: &Harness) -> Self {
        let e = h.emulator.as_ref().unwrap();
        Self {
            http: reqwest::Client::new(),
            url: e.blob_url(),
            account: e.storage_account().to_string(),
            key: e.storage_key().to_string(),
        }
    }

    /// A request signed with Shared Key: VERB, eleven standard headers (Content-Length
    /// empty when 0), sorted `x-ms-*` headers, then `/account/path` and sorted query
    /// parameters.
    async fn signed(
        &self,
        method: Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> reqwest::Response {
        let url = url::Url::parse(&format!("{}{path_and_query}", self.url)).unwrap();
        let date = httpdate::fmt_http_date(SystemTime::now());
        let mut ms: Vec<(String, String)> = vec![
            ("x-ms-date".into(), date.clone()),
            ("x-ms-version".into(), "2025-11-05".into()),
        ];
        let std_header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map_or(String::new(), |(_, v)| v.to_string())
        };
        for (n, v) in headers {
            if n.starts_with("x-ms-") {
                ms.push((n.to_string(), v.to_string()));
            }
        }
        ms.sort();
        let length = if body.is_empty() {
            String::new()
        } else {
            body.len().to_string()
        };
        let mut text = format!(
            "{method}\n\n\n{length}\n\n{}\n\n\n{}\n{}\n\n{}\n",
            std_header("content-type"),
            std_header("if-match"),
            std_header("if-none-match"),
            std_header("range"),
        );
        for (n, v) in &ms {
            text.push_str(&format!("{n}:{v}\n"));
        }
        text.push_str(&format!("/{}{}", self.account, url.path()));
        let mut params: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (k.to_lowercase(), v.into_owned()))
            .collect();
        params.sort();
        for (k, v) in params {
            text.push_str(&format!("\n{k}:{v}"));
        }
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(&STANDARD.decode(&self.key).unwrap())
                .unwrap();
        mac.update(text.as_bytes());
        let sig = STANDARD.encode(mac.finalize().into_bytes());
        let mut request = self
            .http
            .request(method, url)
            .header("authorization", format!("SharedKey {}:{sig}", self.account));
        for (n, v) in ms.iter().map(|(n, v)| (n.as_str(), v.as_str())).chain(
            headers
                .iter()
                .filter(|(n, _)| !n.starts_with("x-ms-"))
                .copied(),
        ) {
            request = request.header(n, v);
        }
        request.body(body).send().await.unwrap()
    }

    fn sas(
        &self,
        container: &str,
        blob: Option<&str>,
        permissions: &str,
        expiry: SystemTime,
    ) -> String {
        service_sas(
            &self.account,
            &self.key,
            container,
            blob,
            permissions,
            expiry,
        )
    }

    async fn with_sas(
        &self,
        method: Method,
        path: &str,
        sas: &str,
        body: Vec<u8>,
    ) -> reqwest::Response {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}{sep}{sas}", self.url));
        if method == Method::PUT {
            request = request.header("x-ms-blob-type", "BlockBlob");
        }
        request.body(body).send().await.unwrap()
    }
}

fn code(r: &reqwest::Response) -> String {
    r.headers()
        .get("x-ms-error-code")
        .map_or(String::new(), |v| v.to_str().unwrap().to_string())
}

fn hour() -> SystemTime {
    SystemTime::now() + Duration::from_secs(3600)
}

/// Text of every `<tag>` element in a document, in order.
fn all(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open)
        .skip(1)
        .filter_map(|s| s.split(&close).next().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn containers_blobs_blocks_ranges_and_listing() {
    let mut h = Harness::start().await;
    let b = Blob::of(&h);
    assert!(b.url.starts_with("http://127.0.0.1:"));
    assert!(b.url.ends_with(&format!("/{}", b.account)));

    let r = b
        .signed(
            Method::PUT,
            "/data?restype=container",
            &[("x-ms-meta-team", "ml")],
            vec![],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = b
        .signed(Method::PUT, "/data?restype=container", &[], vec![])
        .await;
    assert_eq!(
        (r.status(), code(&r)),
        (StatusCode::CONFLICT, "ContainerAlreadyExists".into())
    );
    let r = b
        .signed(Method::GET, "?comp=list&include=metadata", &[], vec![])
        .await;
    let text = r.text().await.unwrap();
    assert_eq!(all(&text, "Name"), vec!["data"]);
    assert!(text.contains("<team>ml</team>"), "{text}");

    // Put Blob with properties and metadata.
    let r = b
        .signed(
            Method::PUT,
            "/data/in/a.txt",
            &[
                ("x-ms-blob-type", "BlockBlob"),
                ("x-ms-blob-content-type", "text/plain"),
                ("x-ms-meta-source", "test"),
            ],
            b"0123456789".to_vec(),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let r = b.signed(Method::HEAD, "/data/in/a.txt", &[], vec![]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-length"], "10");
    assert_eq!(r.headers()["content-type"], "text/plain");
    assert_eq!(r.headers()["x-ms-meta-source"], "test");
    assert_eq!(r.headers()["etag"].to_str().unwrap(), etag);

    // Ranges, with either header.
    let r = b
        .signed(
            Method::GET,
            "/data/in/a.txt",
            &[("x-ms-range", "bytes=2-5")],
            vec![],
        )
        .await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.headers()["content-range"], "bytes 2-5/10");
    assert_eq!(r.text().await.unwrap(), "2345");
    let r = b
        .signed(
            Method::GET,
            "/data/in/a.txt",
            &[("range", "bytes=7-")],
            vec![],
        )
        .await;
    assert_eq!(r.text().await.unwrap(), "789");
    let r = b
        .signed(
            Method::GET,
            "/data/in/a.txt",
            &[("x-ms-range", "bytes=10-20")],
            vec![],
        )
        .await;
    assert_eq!(
        (r.status(), code(&r)),
        (StatusCode::RANGE_NOT_SATISFIABLE, "InvalidRange".into())
    );

    // Conditional writes.
    let r = b
        .signed(
            Method::PUT,
            "/data/in/a.txt",
            &[("x-ms-blob-type", "BlockBlob"), ("if-none-match", "*")],
            b"x".to_vec(),
        )
        .await;
    assert_eq!(
        (r.status(), code(&r)),
        (StatusCode::CONFLICT, "BlobAlreadyExists".into())
    );
    let r = b
        .signed(
            Method::GET,
            "/data/in/a.txt",
            &[("if-match", "\"0xnope\"")],
            vec![],
        )
        .await;
    assert_eq!(
        (r.status(), code(&r)),
        (StatusCode::PRECONDITION_FAILED, "ConditionNotMet".into())
    );

    // Blocks: only the committed list becomes content, in the listed order.
    for (id, data) in [("YQ==", "first-"), ("Yg==", "second-"), ("Yw==", "unused")] {
        let r = b
            .signed(
                Method::PUT,
                &format!("/data/big.bin?comp=block&blockid={}", urlencode(id)),
                &[],
                data.as_bytes().to_vec(),
            )
            .await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
    }
    let r = b.signed(Method::GET, "/data/big.bin", &[], vec![]).await;
    assert_eq!(
        code(&r),
        "BlobNotFound",
        "uncommitted blocks are not a blob"
    );
    let list = "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList><Latest>Yg==</Latest><Uncommitted>YQ==</Uncommitted></BlockList>";
    let r = b
        .signed(
            Method::PUT,
            "/data/big.bin?comp=blocklist",
            &[("x-ms-meta-k", "v")],
            list.into(),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = b.signed(Method::GET, "/data/big.bin", &[], vec![]).await;
    assert_eq!(r.headers()["x-ms-meta-k"], "v");
    assert_eq!(r.text().await.unwrap(), "second-first-");
    let r = b
        .signed(
            Method::GET,
            "/data/big.bin?comp=blocklist&blocklisttype=all",
            &[],
            vec![],
        )
        .await;
    let text = r.text().await.unwrap();
    assert_eq!(all(&text, "Name"), vec!["Yg==", "YQ=="], "{text}");
    // Re-committing a committed block keeps its bytes.
    let list = "<BlockList><Committed>YQ==</Committed></BlockList>";
    let r = b
        .signed(
            Method::PUT,
            "/data/big.bin?comp=blocklist",
            &[],
            list.into(),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = b.signed(Method::GET, "/data/big.bin", &[], vec![]).await;
    assert_eq!(r.text().await.unwrap(), "first-");
    let list = "<BlockList><Uncommitted>Yw==</Uncommitted></BlockList>";
    let r = b
        .signed(
            Method::PUT,
            "/data/big.bin?comp=blocklist",
            &[],
            list.into(),
        )
        .await;
    assert_eq!(
        code(&r),
        "InvalidBlockList",
        "uncommitted blocks are dropped at commit"
    );

    // Listing: prefix, delimiter, marker paging.
    for i in 0..7 {
        let r = b
            .signed(
                Method::PUT,
                &format!("/data/out/t{i}/r.txt"),
                &[("x-ms-blob-type", "BlockBlob")],
                vec![b'x'],
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let r = b
        .signed(
            Method::GET,
            "/data?restype=container&comp=list&delimiter=/",
            &[],
            vec![],
        )
        .await;
    let text = r.text().await.unwrap();
    assert_eq!(all(&text, "Name"), vec!["big.bin", "in/", "out/"], "{text}");
    assert!(
        text.contains("<BlobPrefix><Name>in/</Name></BlobPrefix>"),
        "{text}"
    );
    let mut names = Vec::new();
    let mut marker = String::new();
    let mut pages = 0;
    loop {
        let r = b
            .signed(
                Method::GET,
                &format!(
                    "/data?restype=container&comp=list&prefix=out/&maxresults=3&marker={}",
                    urlencode(&marker)
                ),
                &[],
                vec![],
            )
            .await;
        let text = r.text().await.unwrap();
        pages += 1;
        names.extend(all(&text, "Name"));
        marker = all(&text, "NextMarker").pop().unwrap_or_default();
        if marker.is_empty() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        names,
        (0..7)
            .map(|i| format!("out/t{i}/r.txt"))
            .collect::<Vec<_>>()
    );
    let r = b
        .signed(
            Method::GET,
            "/data?restype=container&comp=list&prefix=out/&delimiter=/&maxresults=4",
            &[],
            vec![],
        )
        .await;
    let text = r.text().await.unwrap();
    assert_eq!(
        all(&text, "Name"),
        vec!["out/t0/", "out/t1/", "out/t2/", "out/t3/"]
    );
    assert_eq!(all(&text, "NextMarker"), vec!["out/t4/"]);

    // Metadata update, delete.
    let r = b
        .signed(
            Method::PUT,
            "/data/in/a.txt?comp=metadata",
            &[("x-ms-meta-stage", "2")],
            vec![],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = b.signed(Method::HEAD, "/data/in/a.txt", &[], vec![]).await;
    assert_eq!(r.headers()["x-ms-meta-stage"], "2");
    assert!(r.headers().get("x-ms-meta-source").is_none());
    let r = b
        .signed(Method::DELETE, "/data/in/a.txt", &[], vec![])
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = b.signed(Method::GET, "/data/in/a.txt", &[], vec![]).await;
    assert_eq!(
        (r.status(), code(&r)),
        (StatusCode::NOT_FOUND, "BlobNotFound".into())
    );
    let r = b
        .signed(Method::DELETE, "/data?restype=container", &[], vec![])
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = b.signed(Method::GET, "/data/big.bin", &[], vec![]).await;
    assert_eq!(code(&r), "ContainerNotFound");
    h.shutdown().await;
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn signatures_and_permissions_are_enforced() {
    let mut h = Harness::start().await;
    let b = Blob::of(&h);
    let r = b
        .signed(Method::PUT, "/box?restype=container", &[], vec![])
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = b
        .signed(
            Method::PUT,
            "/box/seed.txt",
            &[("x-ms-blob-type", "BlockBlob")],
            b"seed".to_vec(),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);

    // No credentials, a wrong key, a tampered request.
    let r = b
        .http
        .get(format!("{}/box/seed.txt", b.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status(), code(&r)),
        (
            StatusCode::UNAUTHORIZED,
            "NoAuthenticationInformation".into()
        )
    );
    let wrong = Blob {
        key: STANDARD.encode(b"not the key"),
        ..Blob::of(&h)
    };
    let r = wrong
        .signed(Method::GET, "/box/seed.txt", &[], vec![])
        .await;
    assert_eq!(
        (r.status(), code(&r)),
        (StatusCode::FORBIDDEN, "AuthenticationFailed".into())
    );
    let forged = wrong.sas("box", None, "rwdlc", hour());
    let r = b
        .with_sas(Method::GET, "/box/seed.txt", &forged, vec![])
        .await;
    assert_eq!(
        (r.status(), code(&r)),
        (StatusCode::FORBIDDEN, "AuthenticationFailed".into())
    );
    let widened = b.sas("box", None, "r", hour()).replace("sp=r", "sp=rw");
    let r = b
        .with_sas(Method::PUT, "/box/x.txt", &widened, b"x".to_vec())
        .await;
    assert_eq!(
        (r.status(), code(&r)),
        (StatusCode::FORBIDDEN, "AuthenticationFailed".into())
    );

    // Each permission allows its operations and nothing else.
    let expect = |r: &reqwest::Response, ok: bool, what: &str| {
        if ok {
            assert!(r.status().is_success(), "{what}: {}", r.status());
        } else {
            assert_eq!(
                (r.status(), code(r)),
                (
                    StatusCode::FORBIDDEN,
                    "AuthorizationPermissionMismatch".into()
                ),
                "{what}"
            );
        }
    };
    for perm in ["r", "w", "c", "d", "l"] {
        let sas = b.sas("box", None, perm, hour());
        let r = b.with_sas(Method::GET, "/box/seed.txt", &sas, vec![]).await;
        expect(&r, perm == "r", &format!("{perm}: read"));
        let r = b
            .with_sas(Method::HEAD, "/box/seed.txt", &sas, vec![])
            .await;
        assert_eq!(r.status().is_success(), perm == "r", "{perm}: properties");
        let r = b
            .with_sas(
                Method::GET,
                "/box?restype=container&comp=list",
                &sas,
                vec![],
            )
            .await;
        expect(&r, perm == "l", &format!("{perm}: list"));
        let name = format!("/box/new-{perm}.txt");
        let r = b.with_sas(Method::PUT, &name, &sas, b"n".to_vec()).await;
        expect(&r, perm == "w" || perm == "c", &format!("{perm}: create"));
        let r = b
            .with_sas(Method::PUT, "/box/seed.txt", &sas, b"over".to_vec())
            .await;
        expect(&r, perm == "w", &format!("{perm}: overwrite"));
        if perm == "d" {
            let r = b
                .with_sas(Method::DELETE, "/box/new-w.txt", &sas, vec![])
                .await;
            expect(&r, true, "d: delete");
        } else {
            let r = b
                .with_sas(Method::DELETE, "/box/seed.txt", &sas, vec![])
                .await;
            expect(&r, false, &format!("{perm}: delete"));
        }
    }
    // A service SAS never creates containers, and a blob SAS covers its blob only.
    let sas = b.sas("box", None, "rwdlc", hour());
    let r = b
        .with_sas(Method::PUT, "/other?restype=container", &sas, vec![])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let sas = b.sas("box", Some("seed.txt"), "r", hour());
    let r = b.with_sas(Method::GET, "/box/seed.txt", &sas, vec![]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = b
        .with_sas(Method::GET, "/box/new-c.txt", &sas, vec![])
        .await;
    assert_eq!(
        (r.status(), code(&r)),
        (StatusCode::FORBIDDEN, "AuthenticationFailed".into())
    );
    // Expired.
    let sas = b.sas(
        "box",
        None,
        "r",
        SystemTime::now() - Duration::from_secs(60),
    );
    let r = b.with_sas(Method::GET, "/box/seed.txt", &sas, vec![]).await;
    assert_eq!(
        (r.status(), code(&r)),
        (StatusCode::FORBIDDEN, "AuthenticationFailed".into())
    );
    h.shutdown().await;
}

#[tokio::test]
async fn blobs_survive_a_restart_and_an_interrupted_upload_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::start_with(dir, |_| {}).await;
    let b = Blob::of(&h);
    let r = b
        .signed(Method::PUT, "/keep?restype=container", &[], vec![])
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = b
        .signed(
            Method::PUT,
            "/keep/a.txt",
            &[("x-ms-blob-type", "BlockBlob")],
            b"persisted".to_vec(),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);

    // A body that breaks off half-way: the blob must not appear.
    let sas = b.sas("keep", None, "rw", hour());
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(vec![b'p'; 64 * 1024]),
        Err(std::io::Error::other("client went away")),
    ];
    let sent = b
        .http
        .put(format!("{}/keep/partial.bin?{sas}", b.url))
        .header("x-ms-blob-type", "BlockBlob")
        .header("content-length", (1024 * 1024).to_string())
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await;
    assert!(sent.is_err() || !sent.unwrap().status().is_success());
    let r = b
        .signed(Method::GET, "/keep/partial.bin", &[], vec![])
        .await;
    assert_eq!(code(&r), "BlobNotFound");

    let dir = std::mem::replace(&mut h.dir, tempfile::tempdir().unwrap());
    h.shutdown().await;
    let mut h = Harness::start_with(dir, |_| {}).await;
    let b = Blob::of(&h);
    let r = b.signed(Method::GET, "/keep/a.txt", &[], vec![]).await;
    assert_eq!(r.text().await.unwrap(), "persisted");
    let r = b
        .signed(Method::GET, "/keep/partial.bin", &[], vec![])
        .await;
    assert_eq!(code(&r), "BlobNotFound");
    let tmp = h.dir.path().join("state.db.blobs/tmp");
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "temporary files are swept at start"
    );
    h.shutdown().await;
}
