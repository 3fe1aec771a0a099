//! batchyard's Batch client and plain http: credentials never go to another host in
//! clear unless explicitly allowed.

use std::sync::Arc;

use base64::Engine as _;
use batchyard_batch::auth::SharedKeyCredential;
use batchyard_batch::{BatchClient, ClientOptions};

use crate::services::{KINDS, Options, start};

/// An address of this machine that is not loopback, found without sending anything
/// (a UDP "connect" only picks the route).
fn own_network_address() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("10.255.255.255:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_key_is_not_sent_over_plain_http_to_another_host() {
    let key = base64::engine::general_purpose::STANDARD.encode(b"0123456789abcdef0123456789abcdef");
    let credential = || Arc::new(SharedKeyCredential::new("acct", &key).unwrap());
    // Refused before any connection, whatever the host.
    for url in [
        "http://example.com",
        "http://10.1.2.3:8080",
        "http://[2001:db8::1]",
    ] {
        let refused = BatchClient::new(url, credential(), ClientOptions::default());
        let text = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("https"), "{url}: {text:?}");
    }
    let Some(ip) = own_network_address() else {
        eprintln!("skipping the served part: this machine has no address but loopback");
        return;
    };
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let options = Options {
            account: Some(("acct".into(), key.clone())),
            bind: Some("0.0.0.0".parse().unwrap()),
            ..Options::default()
        };
        let service = start(kind, &dir.path().join("state.db"), &options)
            .await
            .unwrap();
        let port = service.url.rsplit(':').next().unwrap().to_string();
        let remote = format!("http://{ip}:{port}");
        let refused = BatchClient::new(&remote, credential(), ClientOptions::default());
        assert!(refused.is_err(), "{kind:?}: {remote} was accepted");
        // Loopback, and the explicit override, still work.
        let local = BatchClient::new(
            &format!("http://127.0.0.1:{port}"),
            credential(),
            ClientOptions::default(),
        )
        .unwrap();
        assert!(!local.pool_exists("none").await.unwrap());
        let allowed = BatchClient::new(
            &remote,
            credential(),
            ClientOptions {
                allow_insecure_http: true,
                ..ClientOptions::default()
            },
        )
        .unwrap();
        assert!(!allowed.pool_exists("none").await.unwrap(), "{kind:?}");
        service.stop().await;
    }
}
