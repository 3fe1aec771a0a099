//! Slow and idle connections: headers sent a byte at a time (or never finished) and
//! connections left open hold a descriptor each; the service bounds how many it
//! holds and for how long.

use std::time::Duration;

use batchyard_emulator::listen::Limits;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::services::{KINDS, Kind, Options, start};

const MAX: usize = 8;
const SLOW: usize = 40;

/// Waits (bounded) for the server to close `stream`; false if it is still open.
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    let outcome = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    outcome.is_ok()
}

fn socket_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| {
                    std::fs::read_link(e.path())
                        .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"))
                })
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_bounded_and_closed() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let options = Options {
            limits: Some(Limits {
                max_connections: MAX,
                header_read_timeout: Duration::from_millis(500),
                idle_timeout: Duration::from_secs(1),
            }),
            ..Options::default()
        };
        let service = start(kind, &dir.path().join("state.db"), &options)
            .await
            .unwrap();
        let addr = service.url.trim_start_matches("http://").to_string();
        let before = socket_count(service.pid());
        // Forty clients that start a request and never finish its headers.
        let mut slow = Vec::new();
        for _ in 0..SLOW {
            let mut stream = TcpStream::connect(&addr).await.unwrap();
            stream
                .write_all(
                    b"GET /pools?api-version=2025-06-01.21.0 HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                )
                .await
                .unwrap();
            slow.push(stream);
        }
        if kind == Kind::Served {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let held = socket_count(service.pid()).saturating_sub(before);
            assert!(
                held <= MAX,
                "the service holds {held} connections, more than its limit of {MAX}"
            );
        }
        // Every one of them is closed by the service, those accepted late too.
        for (i, stream) in slow.iter_mut().enumerate() {
            assert!(
                closed_by_server(stream).await,
                "{kind:?}: slow connection {i} was never closed"
            );
        }
        // A connection that made one request and then stays silent is closed too.
        let mut idle = TcpStream::connect(&addr).await.unwrap();
        idle.write_all(
            b"GET /pools?api-version=2025-06-01.21.0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        )
        .await
        .unwrap();
        assert!(
            closed_by_server(&mut idle).await,
            "{kind:?}: an idle connection stayed open"
        );
        // And the service still answers.
        assert_eq!(service.get("/pools").await.0, 200, "{kind:?}");
        service.stop().await;
    }
}
