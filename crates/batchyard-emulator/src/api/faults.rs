//! Seeded fault injection: the same seed and request order give the same faults. Also the
//! add log that fault tests read to check that a client added each task once.

use std::io::Write as _;
use std::sync::Mutex;

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::error::ApiError;
use crate::config::FaultConfig;

/// Names a file to which every task add that reaches the store is appended, as one
/// `job/task` line per task, whether it inserted the task or was answered `TaskExists`.
/// The store's primary key makes a duplicate task impossible to store, so only the adds
/// show a client that sent a task twice. A test hook: unset, nothing is written.
pub const ADD_LOG_ENV: &str = "BATCHYARD_EMULATOR_ADD_LOG";

/// Fault generator.
pub struct Faults {
    config: FaultConfig,
    rng: Mutex<StdRng>,
    add_log: Option<Mutex<std::fs::File>>,
}

/// A fault chosen for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 429 with Retry-After.
    Throttle,
    /// 503 ServerBusy.
    ServerBusy,
    /// 500 OperationTimedOut.
    Timeout,
    /// Connection dropped mid-answer.
    Drop,
}

impl Faults {
    /// A generator for `config`.
    pub fn new(config: FaultConfig) -> Self {
        let rng = Mutex::new(StdRng::seed_from_u64(config.seed));
        let add_log = std::env::var_os(ADD_LOG_ENV).and_then(|path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .ok()
                .map(Mutex::new)
        });
        Self {
            config,
            rng,
            add_log,
        }
    }

    /// Appends the adds of `tasks` to `job` to the add log, when there is one. A failed
    /// write leaves lines out, which the test reading the log reports as missing adds.
    pub fn note_adds<'a>(&self, job: &str, tasks: impl IntoIterator<Item = &'a str>) {
        let Some(log) = &self.add_log else { return };
        let lines: String = tasks
            .into_iter()
            .map(|task| format!("{job}/{task}\n"))
            .collect();
        if let Ok(mut file) = log.lock() {
            let _ = file.write_all(lines.as_bytes());
        }
    }

    fn draw(&self) -> f64 {
        match self.rng.lock() {
            Ok(mut rng) => rng.random::<f64>(),
            Err(_) => 1.0,
        }
    }

    /// Latency to add before answering.
    pub fn latency(&self) -> std::time::Duration {
        self.config.latency
    }

    /// The fault for the next request, if any.
    pub fn next_request(&self) -> Option<Fault> {
        let c = &self.config;
        if c.throttle + c.server_busy + c.timeout + c.drop_connection <= 0.0 {
            return None;
        }
        let x = self.draw();
        let mut edge = c.throttle;
        if x < edge {
            return Some(Fault::Throttle);
        }
        edge += c.server_busy;
        if x < edge {
            return Some(Fault::ServerBusy);
        }
        edge += c.timeout;
        if x < edge {
            return Some(Fault::Timeout);
        }
        edge += c.drop_connection;
        (x < edge).then_some(Fault::Drop)
    }

    /// Whether the next task of a collection gets a `servererror` result.
    pub fn task_server_error(&self) -> bool {
        self.config.task_server_error > 0.0 && self.draw() < self.config.task_server_error
    }
}

/// The answer for a fault.
pub fn respond(fault: Fault) -> Response {
    match fault {
        Fault::Throttle => {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "The request rate is too high; retry after the interval in Retry-After.",
            );
            e.headers.push(("retry-after", "1".into()));
            e.into_response()
        }
        Fault::ServerBusy => {
            let mut e = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServerBusy",
                "The server is currently unable to receive requests. Please retry your request.",
            );
            e.headers.push(("retry-after", "1".into()));
            e.into_response()
        }
        Fault::Timeout => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "OperationTimedOut",
            "The operation could not be completed within the permitted time.",
        )
        .into_response(),
        Fault::Drop => {
            // A body that fails makes the server abort the connection mid-answer.
            let stream = futures::stream::once(async {
                Err::<bytes::Bytes, std::io::Error>(std::io::Error::other(
                    "connection dropped by fault injection",
                ))
            });
            let mut response = Response::new(Body::from_stream(stream));
            response.headers_mut().insert(
                axum::http::header::CONTENT_LENGTH,
                axum::http::HeaderValue::from_static("100"),
            );
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_faults() {
        let config = FaultConfig {
            seed: 7,
            throttle: 0.2,
            server_busy: 0.2,
            timeout: 0.1,
            ..FaultConfig::default()
        };
        let a: Vec<_> = (0..50)
            .map({
                let f = Faults::new(config.clone());
                move |_| f.next_request()
            })
            .collect();
        let b: Vec<_> = (0..50)
            .map({
                let f = Faults::new(config.clone());
                move |_| f.next_request()
            })
            .collect();
        assert_eq!(a, b);
        assert!(a.contains(&Some(Fault::Throttle)));
        assert!(a.iter().any(Option::is_none));
        assert!(Faults::new(FaultConfig::default()).next_request().is_none());
    }
}
