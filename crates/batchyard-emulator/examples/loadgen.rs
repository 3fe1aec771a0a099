//! The emulator's ceiling for task submission (P3 of `scripts/bench`): the same work as
//! `bench/python/loadgen.py`, without a client's costs. Every add-task-collection request
//! (100 tasks, the service's limit) of the product sweep of `bench/recipes/sweep.yaml` is
//! built as raw HTTP/1.1 bytes before the clock starts; CONNECTIONS threads then write them
//! over keep-alive connections and read each answer, checking that every task in it was
//! added.
//!
//! Usage: `loadgen ENDPOINT A B [CONNECTIONS]` (ENDPOINT `http://127.0.0.1:PORT`).
//! Prints `{"tasks": N, "requests": R, "send_seconds": S}`; exits 1 when a request or a
//! task fails.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

const API: &str = "api-version=2025-06-01.21.0";
const PER_REQUEST: usize = 100;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || "usage: loadgen ENDPOINT A B [CONNECTIONS]".to_string();
    let endpoint = args.first().ok_or_else(usage)?;
    let a: usize = args.get(1).and_then(|s| s.parse().ok()).ok_or_else(usage)?;
    let b: usize = args.get(2).and_then(|s| s.parse().ok()).ok_or_else(usage)?;
    let connections: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(8).max(1);
    let host = endpoint
        .strip_prefix("http://")
        .ok_or("the endpoint must be http://HOST:PORT")?
        .trim_end_matches('/')
        .to_string();

    let mut setup = Connection::open(&host)?;
    setup.send(&request(
        &host,
        "/pools",
        r#"{"id":"cpu","vmSize":"Standard_D4s_v5","virtualMachineConfiguration":{"imageReference":{"publisher":"canonical","offer":"ubuntu-24_04-lts","sku":"server","version":"latest"},"nodeAgentSKUId":"batch.node.ubuntu 24.04"},"targetDedicatedNodes":0}"#,
    ))?;
    setup.send(&request(
        &host,
        "/jobs",
        r#"{"id":"sweep","poolInfo":{"poolId":"cpu"}}"#,
    ))?;
    drop(setup);

    let tasks: Vec<(usize, usize)> = (0..a).flat_map(|x| (0..b).map(move |y| (x, y))).collect();
    let requests: Vec<Vec<u8>> = tasks
        .chunks(PER_REQUEST)
        .map(|chunk| {
            let items: Vec<String> = chunk
                .iter()
                .map(|(x, y)| {
                    format!(
                        r#"{{"id":"s-{x}-{y}","commandLine":"python train.py --a {x} --b {y}"}}"#
                    )
                })
                .collect();
            let body = format!(r#"{{"value":[{}]}}"#, items.join(","));
            request(&host, "/jobs/sweep/addtaskcollection", &body)
        })
        .collect();

    let queue = Mutex::new(requests.iter().enumerate().rev().collect::<Vec<_>>());
    let failed = AtomicBool::new(false);
    let first_error = Mutex::new(None::<String>);
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..connections {
            scope.spawn(|| {
                let result = (|| -> Result<(), String> {
                    let mut conn = Connection::open(&host)?;
                    loop {
                        if failed.load(Ordering::Relaxed) {
                            return Ok(());
                        }
                        let next = queue.lock().map_err(|_| "poisoned")?.pop();
                        let Some((i, bytes)) = next else {
                            return Ok(());
                        };
                        let answer = conn.send(bytes)?;
                        let want = tasks.len().saturating_sub(i * PER_REQUEST).min(PER_REQUEST);
                        let added = count(&answer, br#""status":"success""#);
                        if added != want {
                            return Err(format!(
                                "request {i}: {added} of {want} tasks added: {}",
                                String::from_utf8_lossy(&answer[..answer.len().min(300)])
                            ));
                        }
                    }
                })();
                if let Err(e) = result {
                    failed.store(true, Ordering::Relaxed);
                    if let Ok(mut first) = first_error.lock() {
                        first.get_or_insert(e);
                    }
                }
            });
        }
    });
    let elapsed = start.elapsed().as_secs_f64();
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e);
    }
    println!(
        "{{\"tasks\": {}, \"requests\": {}, \"send_seconds\": {elapsed}}}",
        tasks.len(),
        requests.len()
    );
    Ok(())
}

fn request(host: &str, path: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path}?{API} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json; odata=minimalmetadata\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

/// One keep-alive connection: writes a request, reads one answer (`Content-Length`
/// framed, as the emulator answers).
struct Connection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Connection {
    fn open(host: &str) -> Result<Self, String> {
        let stream = TcpStream::connect(host).map_err(|e| format!("connect {host}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let writer = stream.try_clone().map_err(|e| e.to_string())?;
        Ok(Self {
            reader: BufReader::with_capacity(64 * 1024, stream),
            writer,
        })
    }

    fn send(&mut self, bytes: &[u8]) -> Result<Vec<u8>, String> {
        self.writer.write_all(bytes).map_err(|e| e.to_string())?;
        let mut line = String::new();
        self.reader
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("not an HTTP answer: {line:?}"))?;
        let mut length = None;
        loop {
            line.clear();
            self.reader
                .read_line(&mut line)
                .map_err(|e| e.to_string())?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse::<usize>().ok();
            }
        }
        let length = length.ok_or("an answer without Content-Length")?;
        let mut body = vec![0; length];
        self.reader
            .read_exact(&mut body)
            .map_err(|e| e.to_string())?;
        if status >= 300 {
            return Err(format!(
                "status {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            ));
        }
        Ok(body)
    }
}
