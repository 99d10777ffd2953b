//! Time is UTC, stored as integer microseconds since the Unix epoch in both engines.

use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn now() -> Self {
        let micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Self(micros)
    }
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }
    pub const fn micros(self) -> i64 {
        self.0
    }
    pub fn plus_secs(self, secs: i64) -> Self {
        Self(self.0.saturating_add(secs.saturating_mul(1_000_000)))
    }

    /// RFC 3339 in UTC with microseconds, e.g. `2026-11-25T12:00:00.000123Z`.
    pub fn to_rfc3339(self) -> String {
        let secs = self.0.div_euclid(1_000_000);
        let micros = self.0.rem_euclid(1_000_000);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
            sod / 3600,
            (sod % 3600) / 60,
            sod % 60
        )
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` (UTC only) or a bare date `YYYY-MM-DD` (midnight UTC).
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            let part = s.get(r)?;
            if !part.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            part.parse().ok()
        };
        let y = num(0..4)?;
        let m = num(5..7)?;
        let d = num(8..10)?;
        if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || !(1..=12).contains(&m) {
            return None;
        }
        if !(1..=days_in_month(y, m)).contains(&d) {
            return None;
        }
        let days = days_from_civil(y, m, d);
        if s.len() == 10 {
            return Some(Self(days * 86_400 * 1_000_000));
        }
        if !matches!(b.get(10), Some(b'T') | Some(b't'))
            || b.get(13) != Some(&b':')
            || b.get(16) != Some(&b':')
        {
            return None;
        }
        let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if hh > 23 || mm > 59 || ss > 59 {
            return None;
        }
        let rest = s.get(19..)?;
        let (frac, zone) = match rest.strip_prefix('.') {
            Some(r) => {
                let digits = r.bytes().take_while(u8::is_ascii_digit).count();
                if digits == 0 || digits > 9 {
                    return None;
                }
                let f = r.get(..digits)?;
                let padded = format!("{:0<6}", f.get(..digits.min(6))?);
                (padded.parse::<i64>().ok()?, r.get(digits..)?)
            }
            None => (0, rest),
        };
        if zone != "Z" && zone != "z" {
            return None;
        }
        let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
        Some(Self(secs * 1_000_000 + frac))
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's civil-date algorithms (public domain), proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_epoch_and_known_instant() {
        assert_eq!(
            Timestamp::from_micros(0).to_rfc3339(),
            "1970-01-01T00:00:00.000000Z"
        );
        // 2024-02-29T12:34:56.789Z
        let t = Timestamp::from_micros(1_709_210_096_789_000);
        assert_eq!(t.to_rfc3339(), "2024-02-29T12:34:56.789000Z");
    }

    #[test]
    fn parse_round_trips() {
        let t = Timestamp::from_micros(1_709_210_096_789_123);
        assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Some(t));
        assert_eq!(
            Timestamp::parse_rfc3339("2024-02-29T12:34:56Z"),
            Some(Timestamp::from_micros(1_709_210_096_000_000))
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2024-02-29"),
            Some(Timestamp::from_micros(1_709_164_800_000_000))
        );
    }

    #[test]
    fn parse_refuses_nonsense() {
        for bad in [
            "",
            "2023-02-29",
            "2024-13-01",
            "2024-01-01T25:00:00Z",
            "2024-01-01T10:00:00+02:00",
            "2024-01-01T10:00:00",
            "yesterday",
            "2024-01-01T10:00:00.Z",
        ] {
            assert_eq!(Timestamp::parse_rfc3339(bad), None, "{bad}");
        }
    }
}
