//! Leases of background jobs: with N nodes on one database, a scheduled job runs on one node
//! at a time and once per period. A node claims a job only when it is due (last finished a
//! period ago) and its lease is free (released, or expired because its node died mid-run).

use crate::{Result, Store};
use labledger_domain::time::Timestamp;
use sqlx::Row;

/// What the instance knows of a job's last run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRecord {
    pub job: String,
    pub last_run_at: Option<Timestamp>,
    pub last_outcome: String,
    pub runs: i64,
}

impl Store {
    /// Claims `job` for `holder` if it is due (`every_secs` since it last finished) and nobody
    /// holds it; the claim lasts `lease_secs` unless finished sooner. True when claimed.
    pub async fn claim_due_job(
        &self,
        job: &str,
        holder: &str,
        every_secs: i64,
        lease_secs: i64,
    ) -> Result<bool> {
        let (job, holder) = (job.to_owned(), holder.to_owned());
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                let now = Timestamp::now();
                let claimed = sqlx::query(
                    "INSERT INTO job_leases (job, holder, expires_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, \
                     expires_at = excluded.expires_at \
                     WHERE job_leases.expires_at < $4 AND job_leases.last_run_at <= $5",
                )
                .bind(job)
                .bind(holder)
                .bind(now.plus_secs(lease_secs).micros())
                .bind(now.micros())
                .bind(now.plus_secs(-every_secs).micros())
                .execute(conn)
                .await?;
                Ok(claimed.rows_affected() == 1)
            })
        }))
        .await
    }

    /// Marks `job` finished by `holder` now (`outcome`: `ok` or the error) and frees its lease.
    /// A holder whose lease was taken over (it ran past it) changes nothing.
    pub async fn finish_job(&self, job: &str, holder: &str, outcome: &str) -> Result<bool> {
        let (job, holder, outcome) = (job.to_owned(), holder.to_owned(), outcome.to_owned());
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                let done = sqlx::query(
                    "UPDATE job_leases SET holder = '', expires_at = 0, last_run_at = $3, \
                     last_outcome = $4, runs = runs + 1 WHERE job = $1 AND holder = $2",
                )
                .bind(job)
                .bind(holder)
                .bind(Timestamp::now().micros())
                .bind(outcome)
                .execute(conn)
                .await?;
                Ok(done.rows_affected() == 1)
            })
        }))
        .await
    }

    /// The last run of `job`, if it ever ran or was claimed.
    pub async fn job_record(&self, job: &str) -> Result<Option<JobRecord>> {
        let row = sqlx::query(
            "SELECT job, last_run_at, last_outcome, runs FROM job_leases WHERE job = $1",
        )
        .bind(job)
        .fetch_optional(self.reader())
        .await?;
        Ok(row.as_ref().map(record_of))
    }

    /// The last runs of every job that ever ran or was claimed (for monitoring).
    pub async fn job_records(&self) -> Result<Vec<JobRecord>> {
        let rows =
            sqlx::query("SELECT job, last_run_at, last_outcome, runs FROM job_leases ORDER BY job")
                .fetch_all(self.reader())
                .await?;
        Ok(rows.iter().map(record_of).collect())
    }
}

fn record_of(r: &sqlx::any::AnyRow) -> JobRecord {
    let last: i64 = r.get("last_run_at");
    JobRecord {
        job: r.get("job"),
        last_run_at: (last > 0).then(|| Timestamp::from_micros(last)),
        last_outcome: r.get("last_outcome"),
        runs: r.get("runs"),
    }
}

impl JobRecord {
    /// Whether the last run failed (`finish_job` records failures as `failed: <reason>`).
    pub fn last_run_failed(&self) -> bool {
        self.last_outcome.starts_with("failed")
    }
}
