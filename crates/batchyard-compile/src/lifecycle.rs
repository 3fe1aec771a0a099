//! End-of-life dates: Batch's support for an image's node agent, compared with today.

use std::time::{SystemTime, UNIX_EPOCH};

use batchyard_recipe::{Code, Diagnostic};

use crate::catalogue::Image;

/// How long before an end of life batchyard starts warning: two years, the time a team
/// needs to requalify its workload on a new image.
const WARN_DAYS: i64 = 730;

/// Today's date in UTC, `YYYY-MM-DD`.
pub fn today() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, m, d) = civil_from_days(i64::try_from(secs / 86_400).unwrap_or(0));
    format!("{y:04}-{m:02}-{d:02}")
}

/// The warning for an image whose Batch support ends within `WARN_DAYS` of `today` or
/// has ended; `None` otherwise.
pub fn end_of_life_warning(img: &Image, at: &str, today: &str) -> Option<Diagnostic> {
    let date = img.end_of_life.as_deref()?;
    let left = days(date)? - days(today)?;
    if left > WARN_DAYS {
        return None;
    }
    let message = if left <= 0 {
        format!(
            "Batch support for `{}` ({}) ended on {date}: pool creation and resizing may fail",
            img.alias, img.node_agent
        )
    } else {
        format!(
            "Batch support for `{}` ({}) ends on {date}",
            img.alias, img.node_agent
        )
    };
    let help = match &img.replacement {
        Some(r) => format!("move the pool to `os: {r}` before {date}"),
        None => format!("move the pool to a supported image before {date}"),
    };
    Some(Diagnostic::warning(Code::DeprecatedOs, format!("{at}/os"), message).with_help(help))
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date.
fn days(date: &str) -> Option<i64> {
    let mut parts = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (parts.next()??, parts.next()??, parts.next()??);
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// The date of a day count since 1970-01-01 (Howard Hinnant's civil_from_days).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::image;

    #[test]
    fn dates_round_trip() {
        for date in ["1970-01-01", "2000-02-29", "2026-12-03", "2027-06-30"] {
            let (y, m, d) = civil_from_days(days(date).unwrap());
            assert_eq!(format!("{y:04}-{m:02}-{d:02}"), date);
        }
        assert_eq!(
            days("2027-06-30").unwrap() - days("2026-12-03").unwrap(),
            209
        );
        assert!(days("not-a-date").is_none());
    }

    #[test]
    fn ubuntu_22_04_warns_with_the_date() {
        let img = image("ubuntu-22.04").unwrap();
        let d = end_of_life_warning(img, "/pools/0", "2026-12-03").unwrap();
        assert!(d.message.contains("ends on 2027-06-30"), "{}", d.message);
        assert!(d.help.as_deref().unwrap().contains("ubuntu-24.04"));
        let after = end_of_life_warning(img, "/pools/0", "2027-07-01").unwrap();
        assert!(
            after.message.contains("ended on 2027-06-30"),
            "{}",
            after.message
        );
        // Far from the date: no warning.
        assert!(end_of_life_warning(img, "/pools/0", "2024-01-01").is_none());
        assert!(
            end_of_life_warning(image("ubuntu-24.04").unwrap(), "/pools/0", "2026-12-03").is_none()
        );
    }
}
