//! `serve --backup-every 24h --backup-dir DIR --backup-keep 7d,4w,12m`: backups on a schedule,
//! taken by one node at a time (the `backup` job lease), then the retention applied.

use super::{apply_retention, Keep};
use anyhow::{bail, Context};
use labledger_store::Store;
use labledger_vault::Vault;
use std::path::PathBuf;
use std::time::Duration;

/// A period such as `24h`, `30m`, `7d` or `90s`.
pub fn parse_period(raw: &str) -> anyhow::Result<Duration> {
    let raw = raw.trim();
    let unit_at = raw
        .find(|c: char| !c.is_ascii_digit())
        .with_context(|| format!("`{raw}`: add a unit: s, m, h or d"))?;
    let (n, unit) = raw.split_at(unit_at);
    let n: u64 = n
        .parse()
        .with_context(|| format!("`{raw}`: expected a number then s, m, h or d"))?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => bail!("`{raw}`: the unit is s, m, h or d"),
    };
    if secs == 0 {
        bail!("`{raw}`: the period must be longer than nothing");
    }
    Ok(Duration::from_secs(secs))
}

/// Makes the archive directory (private to the operator) or says why it cannot be.
pub fn prepare_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("--backup-dir {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("--backup-dir {}", dir.display()))?;
    }
    Ok(())
}

/// What `serve` needs to take backups on its own.
pub struct BackupSchedule {
    pub every: Duration,
    pub dir: PathBuf,
    pub keep: Keep,
    pub key: [u8; 32],
}

/// Starts the schedule: every `every`, on whichever node wins the lease, one archive in `dir`
/// named by its time, then `keep` applied to `dir`.
pub fn spawn(store: Store, vault: Vault, schedule: BackupSchedule) {
    let job = labledger_server::jobs::Schedule {
        job: labledger_server::health::BACKUP_JOB,
        every: schedule.every,
        lease: Duration::from_secs(6 * 3600),
    };
    let backing_up = store.clone();
    labledger_server::jobs::spawn_scheduled(store, job, move || {
        let (store, vault) = (backing_up.clone(), vault.clone());
        let (dir, keep, key) = (schedule.dir.clone(), schedule.keep, schedule.key);
        async move {
            // Holding the lease, no other scheduled backup is writing here: a `.partial` is
            // what a node killed mid-backup left.
            remove_partials(&dir).map_err(|e| format!("{e:#}"))?;
            let name = super::archive_name(labledger_domain::Timestamp::now());
            let summary = super::create_backup(&store, &vault, &key, &dir.join(name))
                .await
                .map_err(|e| format!("{e:#}"))?;
            let archives = tokio::task::spawn_blocking(move || apply_retention(&dir, keep, false))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("applying the retention: {e:#}"))?;
            let kept = archives.iter().filter(|(_, kept)| *kept).count();
            Ok(format!(
                "{summary}; retention kept {kept}, removed {}",
                archives.len() - kept
            ))
        }
    });
}

/// Removes unfinished scheduled archives (`labledger-….llbk.partial`) from `dir`.
fn remove_partials(dir: &std::path::Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(archive) = name.strip_suffix(".partial") {
            if super::prune::parse_archive_name(archive).is_some() {
                std::fs::remove_file(dir.join(&name))
                    .with_context(|| format!("removing the unfinished {name}"))?;
                tracing::warn!(
                    file = name,
                    "removed an unfinished backup left by an interrupted run"
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_with_their_unit() {
        assert_eq!(parse_period("24h").ok(), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_period("30m").ok(), Some(Duration::from_secs(1800)));
        assert_eq!(
            parse_period("7d").ok(),
            Some(Duration::from_secs(7 * 86_400))
        );
        assert_eq!(parse_period("2s").ok(), Some(Duration::from_secs(2)));
        for bad in ["", "24", "h", "0h", "3w", "-1h", "1.5h"] {
            assert!(parse_period(bad).is_err(), "{bad}");
        }
    }
}
