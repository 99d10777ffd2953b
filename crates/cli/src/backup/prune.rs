//! `backup prune`: retention of the archives in a directory, named by their creation time
//! (`labledger-YYYYMMDDTHHMMSSZ.llbk`). `--keep 7d,4w,12m` keeps the newest archive of each
//! day of the last 7 days, of each ISO week of the last 4 weeks and of each month of the last
//! 12 months (counting the current one); the newest archive is always kept. Pure rules here,
//! unit-tested; the command only lists and removes.

use anyhow::{bail, Context};
use std::collections::BTreeSet;

const PREFIX: &str = "labledger-";
const SUFFIX: &str = ".llbk";

/// How many days, ISO weeks and months keep their newest archive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Keep {
    pub days: i64,
    pub weeks: i64,
    pub months: i64,
}

impl std::str::FromStr for Keep {
    type Err = anyhow::Error;
    fn from_str(spec: &str) -> anyhow::Result<Self> {
        let mut keep = Keep::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (n, unit) = part.split_at(part.len() - 1);
            let n: i64 = n
                .parse()
                .ok()
                .filter(|n| *n >= 0)
                .with_context(|| format!("`{part}`: expected a number then d, w or m"))?;
            match unit {
                "d" => keep.days = n,
                "w" => keep.weeks = n,
                "m" => keep.months = n,
                _ => bail!("`{part}`: the unit is d (days), w (ISO weeks) or m (months)"),
            }
        }
        Ok(keep)
    }
}

/// The file name of an archive made at `secs` (Unix time, UTC).
pub fn archive_name(secs: i64) -> String {
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{PREFIX}{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z{SUFFIX}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// The creation time (Unix seconds) an archive's name tells, if it is one of ours.
pub fn parse_archive_name(name: &str) -> Option<i64> {
    let stamp = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let b = stamp.as_bytes();
    if b.len() != 16 || b.get(8) != Some(&b'T') || b.get(15) != Some(&b'Z') {
        return None;
    }
    let num = |a: usize, z: usize| -> Option<i64> { stamp.get(a..z)?.parse().ok() };
    let (y, m, d) = (num(0, 4)?, num(4, 6)?, num(6, 8)?);
    let (hh, mm, ss) = (num(9, 11)?, num(11, 13)?, num(13, 15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Which of `archives` (creation times, Unix seconds) to keep at `now`: indexes into it.
pub fn to_keep(archives: &[i64], now: i64, keep: Keep) -> BTreeSet<usize> {
    let mut order: Vec<usize> = (0..archives.len()).collect();
    // Newest first, so the first seen of each period is its newest.
    order.sort_by_key(|&i| std::cmp::Reverse(archives.get(i).copied().unwrap_or(0)));
    let mut kept = BTreeSet::new();
    if let Some(&newest) = order.first() {
        kept.insert(newest);
    }
    let today = now.div_euclid(86_400);
    /// How many periods keep an archive, and the period a day falls in.
    type Rule = (i64, fn(i64) -> i64);
    let periods: [Rule; 3] = [
        (keep.days, |day| day),
        (keep.weeks, |day| week_index(day)),
        (keep.months, |day| month_index(day)),
    ];
    for (count, period_of) in periods {
        let current = period_of(today);
        let mut seen = BTreeSet::new();
        for &i in &order {
            let Some(&t) = archives.get(i) else { continue };
            let p = period_of(t.div_euclid(86_400));
            if current - p < count && p <= current && seen.insert(p) {
                kept.insert(i);
            }
        }
    }
    kept
}

/// The ISO week (Monday to Sunday) a day falls in, as a running number.
fn week_index(day: i64) -> i64 {
    // 1970-01-01 was a Thursday; the week of 1969-12-29 (a Monday) is week 0.
    (day + 3).div_euclid(7)
}

fn month_index(day: i64) -> i64 {
    let (y, m, _) = civil_from_days(day);
    y * 12 + m - 1
}

/// Days since 1970-01-01 to (year, month, day) of the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Applies the retention to the archives of `dir` (removing nothing on a dry run); answers each
/// archive's name and whether it is kept, oldest first. Other files are never touched. Also for
/// `serve`'s scheduled backups (`--backup-keep`).
pub fn apply_retention(
    dir: &std::path::Path,
    keep: Keep,
    dry_run: bool,
) -> anyhow::Result<Vec<(String, bool)>> {
    let mut archives: Vec<(String, i64)> = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(t) = parse_archive_name(&name) {
            archives.push((name, t));
        }
    }
    archives.sort();
    let now = labledger_domain::Timestamp::now()
        .micros()
        .div_euclid(1_000_000);
    let times: Vec<i64> = archives.iter().map(|(_, t)| *t).collect();
    let kept = to_keep(&times, now, keep);
    let mut out = Vec::with_capacity(archives.len());
    for (i, (name, _)) in archives.into_iter().enumerate() {
        let keep_it = kept.contains(&i);
        if !keep_it && !dry_run {
            std::fs::remove_file(dir.join(&name)).with_context(|| format!("removing {name}"))?;
        }
        out.push((name, keep_it));
    }
    Ok(out)
}

/// `backup prune`: applies the retention and prints what is kept and removed (or would be).
pub fn prune(dir: &std::path::Path, keep: Keep, dry_run: bool) -> anyhow::Result<()> {
    let outcome = apply_retention(dir, keep, dry_run)?;
    let verb = if dry_run { "would remove" } else { "removed" };
    for (name, kept) in &outcome {
        println!("{} {name}", if *kept { "keep" } else { verb });
    }
    let kept = outcome.iter().filter(|(_, k)| *k).count();
    println!(
        "{kept} kept, {} {verb} ({} archives in {})",
        outcome.len() - kept,
        outcome.len(),
        dir.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn at(y: i64, m: i64, d: i64, h: i64) -> i64 {
        days_from_civil(y, m, d) * DAY + h * 3600
    }

    #[test]
    fn names_round_trip() {
        let t = at(2026, 12, 7, 20) + 61;
        assert_eq!(archive_name(t), "labledger-20261207T200101Z.llbk");
        assert_eq!(parse_archive_name(&archive_name(t)), Some(t));
        assert_eq!(
            parse_archive_name("labledger-20261207T200101Z.llbk.partial"),
            None
        );
        assert_eq!(parse_archive_name("notes.txt"), None);
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
    }

    #[test]
    fn spec_parses() {
        let k: Keep = "7d,4w,12m".parse().unwrap();
        assert_eq!(
            k,
            Keep {
                days: 7,
                weeks: 4,
                months: 12
            }
        );
        assert!("7x".parse::<Keep>().is_err());
        assert!("d".parse::<Keep>().is_err());
    }

    #[test]
    fn keeps_the_newest_of_each_day_week_and_month() {
        // Two archives a day for 400 days up to now (2026-12-07, a Monday, 20:00).
        let now = at(2026, 12, 7, 20);
        let times: Vec<i64> = (0..800).map(|k| now - k * DAY / 2).collect();
        let kept = to_keep(&times, now, "7d,4w,12m".parse().unwrap());
        let kept_times: BTreeSet<i64> = kept.iter().map(|&i| times[i]).collect();
        // Days: the newest of each of the last 7 days.
        for d in 0..7 {
            let day = now.div_euclid(DAY) - d;
            let newest = times
                .iter()
                .filter(|t| t.div_euclid(DAY) == day)
                .max()
                .unwrap();
            assert!(kept_times.contains(newest), "day {d}");
            let older = times
                .iter()
                .filter(|t| t.div_euclid(DAY) == day)
                .min()
                .unwrap();
            assert!(!kept_times.contains(older) || older == newest);
        }
        // Weeks: the Sunday ending each of the last 3 ISO weeks (this week's newest is today's).
        assert!(kept_times.contains(&(at(2026, 12, 6, 20))));
        assert!(kept_times.contains(&(at(2026, 11, 29, 20))));
        assert!(kept_times.contains(&(at(2026, 11, 22, 20))));
        assert!(
            !kept_times.contains(&(at(2026, 11, 15, 20))),
            "4 weeks back is out"
        );
        // Months: the last of each month back to January 2026; none of December 2025.
        assert!(kept_times.contains(&(at(2026, 1, 31, 20))));
        assert!(kept_times.contains(&(at(2026, 6, 30, 20))));
        assert!(!kept_times.iter().any(|&t| t < at(2026, 1, 1, 0)));
        // Nothing kept but these: 7 days, 2 more weeks (two are days already), 11 more months
        // (December's newest is today's).
        assert_eq!(kept.len(), 7 + 2 + 11);
    }

    #[test]
    fn the_newest_is_always_kept() {
        let now = at(2026, 12, 7, 20);
        let old = [at(2020, 1, 1, 0), at(2019, 1, 1, 0)];
        let kept = to_keep(&old, now, Keep::default());
        assert_eq!(kept.into_iter().collect::<Vec<_>>(), vec![0]);
        assert!(to_keep(&[], now, Keep::default()).is_empty());
    }
}
