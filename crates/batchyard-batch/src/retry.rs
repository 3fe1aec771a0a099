//! When and how long to wait before trying a request again.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Bounded exponential backoff with full jitter.
///
/// Retried: HTTP 429, 500, 502, 503 and 504, connection errors (refused, reset, dropped
/// mid-response) and per-request timeouts. Not retried: every other status; those are
/// the caller's to handle. A 401 on a bearer token is retried once with a fresh token
/// (that retry does not count against `max_attempts`).
///
/// The wait before attempt *n + 1* is a uniformly random duration in
/// `[0, min(max_delay, base_delay * 2^(n-1))]`; when the answer carries `Retry-After`
/// (seconds or an HTTP date) that wait is used instead, capped at `max_retry_after`.
///
/// Retrying is safe for every operation of this client: creates use caller-chosen ids
/// (a repeat answers `PoolExists`/`JobExists`/`TaskExists`, which the client reports as
/// "already exists"), and the other writes set a state rather than change it by a delta.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Total attempts per call, the first included. Default 6.
    pub max_attempts: u32,
    /// Backoff base. Default 500 ms.
    pub base_delay: Duration,
    /// Longest backoff wait. Default 30 s.
    pub max_delay: Duration,
    /// Longest wait a `Retry-After` header is obeyed for. Default 60 s.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Whether an answer with this status is worth another attempt.
    pub fn is_retryable_status(status: StatusCode) -> bool {
        matches!(status.as_u16(), 429 | 500 | 502 | 503 | 504)
    }

    /// How long to wait after failed attempt number `attempt` (1-based).
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(self.max_retry_after);
        }
        let exponent = attempt.saturating_sub(1).min(31);
        let cap = self
            .base_delay
            .saturating_mul(1u32 << exponent)
            .min(self.max_delay);
        let cap_ms = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::random_range(0..=cap_ms))
    }
}

/// Parses `Retry-After`: delta seconds or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn backoff_is_bounded_and_jittered() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            ..RetryPolicy::default()
        };
        for attempt in 1..40 {
            let cap = (100u64 << (attempt - 1).min(20)).min(1000);
            let d = policy.delay(attempt, None);
            assert!(
                d <= Duration::from_millis(cap),
                "attempt {attempt}: {d:?} > {cap}"
            );
        }
        let samples: std::collections::HashSet<_> =
            (0..50).map(|_| policy.delay(5, None)).collect();
        assert!(samples.len() > 5, "no jitter: {samples:?}");
    }

    #[test]
    fn retry_after_wins_but_is_capped() {
        let policy = RetryPolicy {
            max_retry_after: Duration::from_secs(10),
            ..Default::default()
        };
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(99))),
            Duration::from_secs(10)
        );
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn only_throttling_and_server_errors_are_retryable() {
        for code in [429, 500, 502, 503, 504] {
            assert!(RetryPolicy::is_retryable_status(
                StatusCode::from_u16(code).unwrap()
            ));
        }
        for code in [200, 400, 401, 403, 404, 409, 412, 413, 501] {
            assert!(!RetryPolicy::is_retryable_status(
                StatusCode::from_u16(code).unwrap()
            ));
        }
    }
}
