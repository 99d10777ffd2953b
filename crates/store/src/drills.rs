//! Restore drills (`labledger backup verify` against the live instance): the outcome of each,
//! kept append-only for the trust report, `/metrics` and `/readyz`.
//!
//! An instance-level record, not an org change: no org's records move, so it joins no org's
//! chain; the table's triggers refuse UPDATE and DELETE instead, and the command also logs it
//! on the `security` target.

use crate::error::Result;
use crate::Store;
use labledger_domain::Timestamp;
use sqlx::Row;

/// One drill's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupDrill {
    pub at: Timestamp,
    /// The archive's file name.
    pub archive: String,
    pub archive_size: u64,
    pub passed: bool,
    /// The verdict line (what failed, or what was checked).
    pub detail: String,
    pub duration_ms: u64,
}

impl Store {
    /// Records a drill's outcome.
    pub async fn record_backup_drill(&self, drill: BackupDrill) -> Result<()> {
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO backup_drills \
                     (id, at, archive, archive_size, result, detail, duration_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(uuid::Uuid::now_v7().to_string())
                .bind(drill.at.micros())
                .bind(drill.archive)
                .bind(i64::try_from(drill.archive_size).unwrap_or(i64::MAX))
                .bind(if drill.passed { "pass" } else { "fail" })
                .bind(drill.detail)
                .bind(i64::try_from(drill.duration_ms).unwrap_or(i64::MAX))
                .execute(conn)
                .await?;
                Ok(())
            })
        }))
        .await
    }

    /// The most recent drill, if any was recorded.
    pub async fn latest_backup_drill(&self) -> Result<Option<BackupDrill>> {
        let row = sqlx::query(
            "SELECT at, archive, archive_size, result, detail, duration_ms FROM backup_drills \
             ORDER BY at DESC, id DESC LIMIT 1",
        )
        .fetch_optional(self.reader())
        .await?;
        row.map(|r| {
            Ok(BackupDrill {
                at: Timestamp::from_micros(r.try_get("at")?),
                archive: r.try_get("archive")?,
                archive_size: u64::try_from(r.try_get::<i64, _>("archive_size")?).unwrap_or(0),
                passed: r.try_get::<String, _>("result")? == "pass",
                detail: r.try_get("detail")?,
                duration_ms: u64::try_from(r.try_get::<i64, _>("duration_ms")?).unwrap_or(0),
            })
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{sqlite_url_for_data_dir, StoreOptions};

    #[tokio::test]
    async fn the_latest_drill_is_the_newest_and_drills_are_kept_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &sqlite_url_for_data_dir(dir.path()),
            StoreOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(store.latest_backup_drill().await.unwrap(), None);
        let drill = |at: i64, passed: bool| BackupDrill {
            at: Timestamp::from_micros(at),
            archive: format!("a{at}.llbk"),
            archive_size: 10,
            passed,
            detail: "d".into(),
            duration_ms: 5,
        };
        store.record_backup_drill(drill(2, false)).await.unwrap();
        store.record_backup_drill(drill(1, true)).await.unwrap();
        assert_eq!(
            store.latest_backup_drill().await.unwrap(),
            Some(drill(2, false))
        );
        let changed = store
            .write(Box::new(|conn| {
                Box::pin(async move {
                    sqlx::query("UPDATE backup_drills SET result = 'pass'")
                        .execute(conn)
                        .await?;
                    Ok(())
                })
            }))
            .await;
        assert!(changed.is_err(), "a drill's record cannot be changed");
    }
}
