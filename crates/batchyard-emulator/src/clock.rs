//! Timestamps and entity tags in the service's formats.

use std::sync::atomic::{AtomicU64, Ordering};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Current UTC time as RFC 3339, the format of every Batch timestamp.
pub fn now() -> String {
    format_time(OffsetDateTime::now_utc())
}

/// Formats a time as RFC 3339.
pub fn format_time(t: OffsetDateTime) -> String {
    // Formatting a UTC OffsetDateTime with RFC 3339 only fails for years outside
    // 0..=9999, which the system clock does not produce.
    t.format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

/// Parses an RFC 3339 timestamp.
pub fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// A new entity tag, in the service's `0x8D...` hexadecimal style, unique and
/// increasing within this process even when the clock does not move.
pub fn new_etag() -> String {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    let candidate = u64::try_from(nanos / 100).unwrap_or(0);
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = candidate.max(prev + 1);
        match LAST.compare_exchange(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return format!("0x8D{:014X}", next & 0x00FF_FFFF_FFFF_FFFF),
            Err(seen) => prev = seen,
        }
    }
}

/// Parses an ISO 8601 duration as Batch writes them (`PT1H30M`, `P1DT2H`, `PT0.5S`).
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let rest = text.strip_prefix('P')?;
    let (date_part, time_part) = match rest.split_once('T') {
        Some((d, t)) => (d, t),
        None => (rest, ""),
    };
    let mut seconds = 0f64;
    let mut number = String::new();
    for c in date_part.chars() {
        match c {
            '0'..='9' | '.' => number.push(c),
            'D' => seconds += number.parse::<f64>().ok()? * 86_400.0,
            'W' => seconds += number.parse::<f64>().ok()? * 604_800.0,
            _ => return None,
        }
        if !c.is_ascii_digit() && c != '.' {
            number.clear();
        }
    }
    for c in time_part.chars() {
        match c {
            '0'..='9' | '.' => number.push(c),
            'H' => seconds += number.parse::<f64>().ok()? * 3600.0,
            'M' => seconds += number.parse::<f64>().ok()? * 60.0,
            'S' => seconds += number.parse::<f64>().ok()?,
            _ => return None,
        }
        if !c.is_ascii_digit() && c != '.' {
            number.clear();
        }
    }
    if !number.is_empty() || !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    // Batch's "infinite" default (P10675199DT2H48M5.4775807S) exceeds what a timer
    // needs; cap at 100 years.
    Some(std::time::Duration::from_secs_f64(seconds.min(3.2e9)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_parse_like_batch() {
        assert_eq!(parse_duration("PT1H30M"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("P1DT1S"), Some(Duration::from_secs(86_401)));
        assert_eq!(parse_duration("PT0.5S"), Some(Duration::from_millis(500)));
        assert!(
            parse_duration("P10675199DT2H48M5.4775807S").unwrap() > Duration::from_secs(1 << 30)
        );
        assert_eq!(parse_duration("1h"), None);
        assert_eq!(parse_duration("PT5"), None);
    }

    #[test]
    fn etags_are_unique_and_increasing() {
        let a = new_etag();
        let b = new_etag();
        assert_ne!(a, b);
        assert!(a.starts_with("0x8D"));
    }
}
