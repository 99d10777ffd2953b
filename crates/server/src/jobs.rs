//! Scheduled background jobs that run once across nodes: each node looks every little while
//! whether a job is due, and runs it only if it wins the job's lease in the database
//! (`Store::claim_due_job`). A node that dies mid-run leaves a lease that expires.

use labledger_store::Store;
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

/// This process's name in job leases.
pub fn node_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        format!("{}/{}", host.trim(), uuid::Uuid::now_v7())
    })
}

/// A job, how often it runs and how long one run may hold its lease.
pub struct Schedule {
    pub job: &'static str,
    pub every: Duration,
    pub lease: Duration,
}

impl Schedule {
    /// How often a node asks whether the job is due: a fraction of its period, 1 s to 1 min.
    fn poll(&self) -> Duration {
        (self.every / 4).clamp(Duration::from_secs(1), Duration::from_secs(60))
    }
}

/// Runs `run` whenever `schedule.job` is due and this node holds its lease. `run` answers
/// `Ok(summary)` or `Err(reason)`; both are recorded as the job's last outcome.
pub fn spawn_scheduled<F, Fut>(store: Store, schedule: Schedule, run: F)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = Result<String, String>> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(schedule.poll());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let every = i64::try_from(schedule.every.as_secs()).unwrap_or(i64::MAX);
        let lease = i64::try_from(schedule.lease.as_secs()).unwrap_or(i64::MAX);
        loop {
            tick.tick().await;
            let claimed = store
                .claim_due_job(schedule.job, node_id(), every, lease)
                .await;
            match claimed {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(job = schedule.job, error = %e, "cannot claim the job's lease");
                    continue;
                }
            }
            let outcome = run().await;
            let recorded = match &outcome {
                Ok(summary) => {
                    tracing::info!(job = schedule.job, summary, "scheduled job done");
                    "ok".to_owned()
                }
                Err(reason) => {
                    tracing::error!(job = schedule.job, reason, "scheduled job failed");
                    format!("failed: {reason}")
                }
            };
            let result = if outcome.is_ok() { "ok" } else { "failed" };
            metrics::counter!("labledger_job_runs_total", "job" => schedule.job, "outcome" => result)
                .increment(1);
            if let Err(e) = store.finish_job(schedule.job, node_id(), &recorded).await {
                tracing::warn!(job = schedule.job, error = %e, "cannot release the job's lease");
            }
        }
    });
}
