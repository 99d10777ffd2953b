//! The orphan sweep: removes objects of the vault that no record refers to. They are left by a
//! crash between writing an object and committing its record (or between committing a
//! deletion and removing the bytes), and by uploads that stopped halfway.
//!
//! It can never remove an object a committed record refers to: the database is asked about
//! each object right before it is removed, and objects are immutable under fresh random paths,
//! so no record comes to refer to an existing unreferenced object later. It never removes an
//! upload in flight either: only objects last modified before a grace period (default 24 h,
//! longer than any upload takes) are considered; an upload writes its object, then commits
//! its record within moments. Removals are operational events (log target `security`, event
//! `orphan_object_removed`), not org audit events: no org's data changes.

use crate::security::{security_event, SecurityEvent};
use futures::StreamExt;
use labledger_store::Store;
use labledger_vault::{SweepCandidate, Vault};
use std::time::{Duration, SystemTime};

/// The default grace period: objects younger than this are never touched.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(24 * 3600);

/// What one sweep found.
#[derive(Debug, Default)]
pub struct SweepReport {
    /// Removed (or, in a dry run, would be removed).
    pub removed: Vec<SweepCandidate>,
    /// Old enough, but a record refers to them: kept.
    pub referenced: u64,
    /// Removing failed (logged; the next sweep tries again).
    pub failed: u64,
}

/// Sweeps once: every object older than `grace` that no record refers to is removed (unless
/// `dry_run`), and every partial upload older than `grace`.
pub async fn sweep_orphans(
    store: &Store,
    vault: &Vault,
    grace: Duration,
    dry_run: bool,
) -> Result<SweepReport, String> {
    let before = SystemTime::now()
        .checked_sub(grace)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut candidates = vault.sweep_candidates(before);
    let mut report = SweepReport::default();
    while let Some(candidate) = candidates.next().await {
        let candidate = candidate.map_err(|e| format!("listing the object store: {e}"))?;
        if !candidate.partial
            && store
                .object_path_referenced(&candidate.path)
                .await
                .map_err(|e| format!("asking the database about {}: {e}", candidate.path))?
        {
            report.referenced += 1;
            continue;
        }
        if !dry_run {
            if let Err(e) = vault.remove_candidate(&candidate).await {
                tracing::warn!(error = %e, path = %candidate.path, "removing an orphaned object failed");
                report.failed += 1;
                continue;
            }
            let age = SystemTime::now()
                .duration_since(candidate.last_modified)
                .unwrap_or_default();
            security_event(
                SecurityEvent::OrphanObjectRemoved,
                &format!(
                    "{} {} ({} bytes, last modified {} h ago) in {}",
                    if candidate.partial {
                        "partial upload"
                    } else {
                        "unreferenced object"
                    },
                    candidate.path,
                    candidate.size,
                    age.as_secs() / 3600,
                    vault.description()
                ),
            );
        }
        report.removed.push(candidate);
    }
    Ok(report)
}

/// Sweeps every `every` in the background, on one node at a time (a job lease).
pub fn spawn_sweeper(store: Store, vault: Vault, grace: Duration, every: Duration) {
    let schedule = crate::jobs::Schedule {
        job: "orphan_sweep",
        every,
        lease: Duration::from_secs(3600),
    };
    let (jobs, sweeping) = (store.clone(), store);
    crate::jobs::spawn_scheduled(jobs, schedule, move || {
        let (store, vault) = (sweeping.clone(), vault.clone());
        async move {
            let r = sweep_orphans(&store, &vault, grace, false)
                .await
                .map_err(|e| e.to_string())?;
            Ok(format!(
                "removed {}, referenced {}, failed {}",
                r.removed.len(),
                r.referenced,
                r.failed
            ))
        }
    });
}
