use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A length of time, written as `90s`, `15m`, `2h`, `1d` (or combined: `1h30m`), as
/// ISO 8601 (`PT2H`, `P1DT12H`), or in Batch Shipyard's `HH:MM:SS` and `D.HH:MM:SS` forms.
/// A bare integer counts seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub std::time::Duration);

/// Why a duration did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a duration: {reason}")]
pub struct DurationError {
    input: String,
    reason: &'static str,
}

const HELP: &str = "write it as 90s, 15m, 2h, 1d, 1h30m, PT2H, HH:MM:SS or D.HH:MM:SS";

impl DurationError {
    fn new(input: &str, reason: &'static str) -> Self {
        Self {
            input: input.to_owned(),
            reason,
        }
    }

    /// The line that tells the user which forms are accepted.
    pub fn help() -> &'static str {
        HELP
    }
}

impl Duration {
    /// Whole seconds.
    pub fn as_secs(&self) -> u64 {
        self.0.as_secs()
    }

    /// ISO 8601 form, as the Batch REST API wants it (`PT1H30M`, `P2DT0S`).
    pub fn to_iso8601(&self) -> String {
        let total = self.0.as_secs();
        let (days, rest) = (total / 86_400, total % 86_400);
        let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
        let mut out = String::from("P");
        if days > 0 {
            out.push_str(&format!("{days}D"));
        }
        if rest > 0 || days == 0 {
            out.push('T');
            if h > 0 {
                out.push_str(&format!("{h}H"));
            }
            if m > 0 {
                out.push_str(&format!("{m}M"));
            }
            if s > 0 || (h == 0 && m == 0) {
                out.push_str(&format!("{s}S"));
            }
        }
        out
    }

    /// Parses every accepted form.
    pub fn parse(input: &str) -> Result<Self, DurationError> {
        let text = input.trim();
        if text.is_empty() {
            return Err(DurationError::new(input, "it is empty"));
        }
        let secs = if text.starts_with('P') || text.starts_with('p') {
            parse_iso8601(text)
                .ok_or_else(|| DurationError::new(input, "it is not valid ISO 8601"))?
        } else if text.contains(':') {
            parse_clock(text).ok_or_else(|| {
                DurationError::new(input, "clock form must be HH:MM:SS or D.HH:MM:SS")
            })?
        } else if text.bytes().all(|b| b.is_ascii_digit()) {
            text.parse::<u64>()
                .map_err(|_| DurationError::new(input, "the number is too large"))?
        } else {
            parse_units(text)
                .ok_or_else(|| DurationError::new(input, "units are s, m, h and d (like 1h30m)"))?
        };
        Ok(Self(std::time::Duration::from_secs(secs)))
    }
}

fn unit_secs(unit: char) -> Option<u64> {
    match unit {
        's' => Some(1),
        'm' => Some(60),
        'h' => Some(3600),
        'd' => Some(86_400),
        'w' => Some(7 * 86_400),
        _ => None,
    }
}

/// `1h30m`, `90s`, `2d`.
fn parse_units(text: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for c in text.chars() {
        if let Some(d) = c.to_digit(10) {
            number = Some(
                number
                    .unwrap_or(0)
                    .checked_mul(10)?
                    .checked_add(u64::from(d))?,
            );
        } else {
            let n = number.take()?;
            total = total.checked_add(n.checked_mul(unit_secs(c.to_ascii_lowercase())?)?)?;
        }
    }
    // A trailing number without a unit is ambiguous (`1h30`): refuse it.
    if number.is_some() { None } else { Some(total) }
}

/// `HH:MM:SS` or `D.HH:MM:SS`, as Batch Shipyard wrote wall times.
fn parse_clock(text: &str) -> Option<u64> {
    let (days, clock) = match text.split_once('.') {
        Some((d, rest)) => (d.parse::<u64>().ok()?, rest),
        None => (0, text),
    };
    let parts: Vec<&str> = clock.split(':').collect();
    let [h, m, s] = parts.as_slice() else {
        return None;
    };
    let (h, m, s) = (
        h.parse::<u64>().ok()?,
        m.parse::<u64>().ok()?,
        s.parse::<u64>().ok()?,
    );
    if m >= 60 || s >= 60 {
        return None;
    }
    days.checked_mul(86_400)?
        .checked_add(h.checked_mul(3600)?)?
        .checked_add(m * 60 + s)
}

/// `P[nD][T[nH][nM][nS]]` (weeks too); fractional seconds are not accepted.
fn parse_iso8601(text: &str) -> Option<u64> {
    let upper = text.to_ascii_uppercase();
    let body = upper.strip_prefix('P')?;
    let (date, time) = match body.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (body, None),
    };
    if date.is_empty() && time.is_none_or(str::is_empty) {
        return None;
    }
    let mut total = 0u64;
    let mut add = |part: &str, units: &[(char, u64)]| -> Option<()> {
        let mut number: Option<u64> = None;
        for c in part.chars() {
            if let Some(d) = c.to_digit(10) {
                number = Some(
                    number
                        .unwrap_or(0)
                        .checked_mul(10)?
                        .checked_add(u64::from(d))?,
                );
            } else {
                let (_, secs) = units.iter().find(|(u, _)| *u == c)?;
                total = total.checked_add(number.take()?.checked_mul(*secs)?)?;
            }
        }
        if number.is_some() { None } else { Some(()) }
    };
    add(date, &[('W', 7 * 86_400), ('D', 86_400)])?;
    if let Some(time) = time {
        if time.is_empty() {
            return None;
        }
        add(time, &[('H', 3600), ('M', 60), ('S', 1)])?;
    }
    Some(total)
}

impl fmt::Display for Duration {
    /// The short unit form (`1h30m`), which parses back to the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0.as_secs();
        if rest == 0 {
            return f.write_str("0s");
        }
        for (unit, secs) in [('d', 86_400), ('h', 3600), ('m', 60), ('s', 1)] {
            if rest >= secs {
                write!(f, "{}{unit}", rest / secs)?;
                rest %= secs;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(HELP)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
                Ok(Duration(std::time::Duration::from_secs(v)))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
                u64::try_from(v)
                    .map(|v| Duration(std::time::Duration::from_secs(v)))
                    .map_err(|_| E::custom("a duration cannot be negative"))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                Duration::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// The pattern the schema checks, so editors flag a bad duration as it is typed.
pub(crate) const DURATION_PATTERN: &str =
    r"^(\d+|(\d+[smhdwSMHDW])+|[Pp](\d+[WwDd])*([Tt](\d+[HhMmSs])+)?|(\d+\.)?\d+:\d{2}:\d{2})$";

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration: 90s, 15m, 2h, 1d, 1h30m, ISO 8601 (PT2H), HH:MM:SS or D.HH:MM:SS; a bare integer counts seconds.",
            "anyOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "pattern": DURATION_PATTERN }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: &str) -> u64 {
        Duration::parse(s).unwrap().as_secs()
    }

    #[test]
    fn every_form_parses() {
        assert_eq!(secs("90s"), 90);
        assert_eq!(secs("15m"), 900);
        assert_eq!(secs("2h"), 7200);
        assert_eq!(secs("1d"), 86_400);
        assert_eq!(secs("1h30m"), 5400);
        assert_eq!(secs("PT2H"), 7200);
        assert_eq!(secs("P1DT12H"), 129_600);
        assert_eq!(secs("PT1M30S"), 90);
        assert_eq!(secs("01:30:00"), 5400);
        assert_eq!(secs("2.00:00:10"), 172_810);
        assert_eq!(secs("600"), 600);
    }

    #[test]
    fn bad_forms_are_refused() {
        for bad in [
            "",
            "1h30",
            "10x",
            "P",
            "PT",
            "1:2",
            "00:61:00",
            "P1.5D",
            "h",
            "99999999999999999999s",
        ] {
            assert!(Duration::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn display_and_iso_round_trip() {
        for s in ["90s", "1h30m", "2d", "1d2h3m4s", "0s"] {
            let d = Duration::parse(s).unwrap();
            assert_eq!(Duration::parse(&d.to_string()).unwrap(), d);
            assert_eq!(
                Duration::parse(&d.to_iso8601()).unwrap(),
                d,
                "{}",
                d.to_iso8601()
            );
        }
        assert_eq!(Duration::parse("1h30m").unwrap().to_iso8601(), "PT1H30M");
        assert_eq!(Duration::parse("2d").unwrap().to_iso8601(), "P2D");
    }
}
