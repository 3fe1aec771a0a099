//! The formula language's values and how the service prints them in `results`.

use time::OffsetDateTime;
use time::macros::format_description;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Num(f64),
    Vec(Vec<f64>),
    /// A time interval, in seconds.
    Interval(f64),
    Time(OffsetDateTime),
    Str(String),
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Num(_) => "double",
            Value::Vec(_) => "doubleVec",
            Value::Interval(_) => "timeinterval",
            Value::Time(_) => "timestamp",
            Value::Str(_) => "string",
        }
    }

    /// The value as `results` shows it: `10`, `2.5`, `[1,2]`, `00:10:00`,
    /// `2016-10-13T19:18:47.805Z`, `taskcompletion`.
    pub fn display(&self) -> String {
        match self {
            Value::Num(n) => number(*n),
            Value::Vec(v) => {
                let items: Vec<String> = v.iter().map(|n| number(*n)).collect();
                format!("[{}]", items.join(","))
            }
            Value::Interval(secs) => interval(*secs),
            Value::Time(t) => {
                let fmt = format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
                );
                t.format(&fmt).unwrap_or_default()
            }
            Value::Str(s) => s.clone(),
        }
    }
}

pub fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{n:.0}")
    } else {
        format!("{n}")
    }
}

/// .NET's `TimeSpan` form, `[-][d.]hh:mm:ss[.fffffff]`, as the service is written in it.
fn interval(secs: f64) -> String {
    if !secs.is_finite() {
        return number(secs);
    }
    let sign = if secs < 0.0 { "-" } else { "" };
    // Whole 100 ns ticks, as a TimeSpan holds.
    let ticks = (secs.abs() * 1e7).round() as u128;
    let (whole, frac) = (ticks / 10_000_000, ticks % 10_000_000);
    let (days, rest) = (whole / 86_400, whole % 86_400);
    let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
    let mut out = String::from(sign);
    if days > 0 {
        out.push_str(&format!("{days}."));
    }
    out.push_str(&format!("{h:02}:{m:02}:{s:02}"));
    if frac > 0 {
        out.push_str(&format!(".{frac:07}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_like_the_service() {
        assert_eq!(Value::Num(10.0).display(), "10");
        assert_eq!(Value::Num(2.5).display(), "2.5");
        assert_eq!(Value::Vec(vec![1.0, 0.5]).display(), "[1,0.5]");
        assert_eq!(Value::Interval(600.0).display(), "00:10:00");
        assert_eq!(Value::Interval(90_061.5).display(), "1.01:01:01.5000000");
        assert_eq!(Value::Interval(-30.0).display(), "-00:00:30");
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_476_386_327_805_000_000).unwrap();
        assert_eq!(Value::Time(t).display(), "2016-10-13T19:18:47.805Z");
    }
}
