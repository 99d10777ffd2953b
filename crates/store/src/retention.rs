//! Retention periods per file category, legal holds, and deletion of files into tombstones.
//! Setting a period is `retention.set`, a hold `file.hold` / `file.release`, a deletion
//! `file.delete`; the content's encrypted object is dropped when no live file uses it.

use crate::error::{Result, StoreError};
use crate::org::Org;
use crate::visibility::Kind;
use labledger_domain::audit::Changes;
use labledger_domain::file::{check_deletion, DeletionRefused, FileCategory};
use labledger_domain::{FileId, Permission, Timestamp};
use sqlx::Row;

/// What a deletion did: the object path whose bytes are to be destroyed, if the deleted file
/// was the last live file of its content.
#[derive(Clone, Debug)]
pub struct DeletedFile {
    pub destroy_path: Option<String>,
}

impl Org<'_> {
    /// The org's retention period (days) per category; a category without one has none.
    pub async fn retention_policies(&self) -> Result<Vec<(String, i64)>> {
        self.scope().require(Permission::FILES_READ)?;
        let rows = sqlx::query(
            "SELECT category, days FROM retention_policies WHERE org_id = $1 ORDER BY category",
        )
        .bind(self.org_text())
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("category")?, r.try_get("days")?)))
            .collect()
    }

    /// Sets (or with `None` removes) a category's retention period.
    pub async fn set_retention(&self, category: FileCategory, days: Option<i64>) -> Result<()> {
        self.scope().require(Permission::ORG_SETTINGS_WRITE)?;
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let org = tx.org().to_owned();
                let before: Option<i64> = match tx
                    .fetch_optional(
                        sqlx::query(
                            "SELECT days FROM retention_policies WHERE org_id = $1 AND category = $2",
                        )
                        .bind(org.clone())
                        .bind(category.as_str()),
                    )
                    .await?
                {
                    Some(r) => Some(r.try_get("days")?),
                    None => None,
                };
                tx.execute(
                    sqlx::query("DELETE FROM retention_policies WHERE org_id = $1 AND category = $2")
                        .bind(org.clone())
                        .bind(category.as_str()),
                )
                .await?;
                if let Some(d) = days {
                    tx.execute(
                        sqlx::query(
                            "INSERT INTO retention_policies (org_id, category, days, updated_at) \
                             VALUES ($1, $2, $3, $4)",
                        )
                        .bind(org.clone())
                        .bind(category.as_str())
                        .bind(d)
                        .bind(Timestamp::now().micros()),
                    )
                    .await?;
                }
                tx.record(
                    "retention.set",
                    "org",
                    Some(org),
                    Changes::new().field(&format!("retention_days.{}", category.as_str()), before, days),
                );
                Ok(())
            })
        }))
        .await
    }

    /// Places (`Some(reason)`) or releases (`None`) a legal hold on a file.
    pub async fn set_legal_hold(&self, id: FileId, reason: Option<String>) -> Result<()> {
        self.scope().require(Permission::ORG_SETTINGS_WRITE)?;
        let actor = self.scope().actor().id.clone();
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let org = tx.org().to_owned();
                let viewer = tx.viewer().clone();
                let sql = format!(
                    "SELECT hold_reason, deleted_at FROM files WHERE org_id = $1 AND id = $2{}",
                    viewer.filter(Kind::File, "files", 3)
                );
                let row = tx
                    .fetch_optional(
                        viewer.bind(sqlx::query(&sql).bind(org.clone()).bind(id.to_string())),
                    )
                    .await?
                    .ok_or(StoreError::NotFound)?;
                let before: Option<String> = row.try_get("hold_reason")?;
                let deleted: Option<i64> = row.try_get("deleted_at")?;
                if deleted.is_some() {
                    return Err(StoreError::Gone(format!("File {id} was deleted.")));
                }
                if before.is_none() && reason.is_none() {
                    return Err(StoreError::Refused(format!(
                        "File {id} is not on legal hold."
                    )));
                }
                let now = Timestamp::now().micros();
                tx.execute(
                    sqlx::query(
                        "UPDATE files SET hold_reason = $3, hold_at = $4, hold_by = $5 \
                         WHERE org_id = $1 AND id = $2",
                    )
                    .bind(org)
                    .bind(id.to_string())
                    .bind(reason.clone())
                    .bind(reason.as_ref().map(|_| now))
                    .bind(reason.as_ref().map(|_| actor.clone())),
                )
                .await?;
                let action = if reason.is_some() {
                    "file.hold"
                } else {
                    "file.release"
                };
                tx.record(
                    action,
                    "file",
                    Some(id.to_string()),
                    Changes::new().field("legal_hold", before, reason),
                );
                Ok(())
            })
        }))
        .await
    }

    /// Deletes a file whose retention has ended and that is not on hold: the row becomes a
    /// tombstone; the object is dropped when no other live file of the org has its content.
    pub async fn delete_file(&self, id: FileId) -> Result<DeletedFile> {
        self.scope().require(Permission::FILES_WRITE)?;
        let actor = self.scope().actor().id.clone();
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let org = tx.org().to_owned();
                let viewer = tx.viewer().clone();
                let sql = format!(
                    "SELECT f.name, f.version, f.sha256, f.size, f.category, f.created_at, \
                     f.hold_reason, f.deleted_at, f.content_key, r.days \
                     FROM files f LEFT JOIN retention_policies r \
                     ON r.org_id = f.org_id AND r.category = f.category \
                     WHERE f.org_id = $1 AND f.id = $2{}",
                    viewer.filter(Kind::File, "f", 3)
                );
                let row = tx
                    .fetch_optional(
                        viewer.bind(sqlx::query(&sql).bind(org.clone()).bind(id.to_string())),
                    )
                    .await?
                    .ok_or(StoreError::NotFound)?;
                let category: String = row.try_get("category")?;
                let hold: Option<String> = row.try_get("hold_reason")?;
                let deleted: Option<i64> = row.try_get("deleted_at")?;
                let now = Timestamp::now().micros();
                check_deletion(
                    row.try_get("created_at")?,
                    row.try_get("days")?,
                    hold.as_deref(),
                    deleted.is_some(),
                    now,
                )
                .map_err(|e| match e {
                    DeletionRefused::AlreadyDeleted => {
                        StoreError::Gone(format!("File {id} was already deleted."))
                    }
                    DeletionRefused::LegalHold(r) => StoreError::Refused(format!(
                        "File {id} is on legal hold ({r}); release the hold before deleting it."
                    )),
                    DeletionRefused::Retained(until) => StoreError::Refused(format!(
                        "File {id} ({category}) is retained until {}; it cannot be deleted before.",
                        Timestamp::from_micros(until).to_rfc3339()
                    )),
                })?;
                let content_key: String = row.try_get("content_key")?;
                tx.execute(
                    sqlx::query(
                        "UPDATE files SET deleted_at = $3, deleted_by = $4 \
                         WHERE org_id = $1 AND id = $2",
                    )
                    .bind(org.clone())
                    .bind(id.to_string())
                    .bind(now)
                    .bind(actor.clone()),
                )
                .await?;
                let live = tx
                    .fetch_optional(
                        sqlx::query(
                            // unscoped: whether other live files share the object (nothing is shown)
                            "SELECT COUNT(*) FROM files WHERE org_id = $1 AND content_key = $2 \
                             AND deleted_at IS NULL",
                        )
                        .bind(org.clone())
                        .bind(content_key.clone()),
                    )
                    .await?
                    .ok_or_else(|| StoreError::Corrupt("COUNT returned nothing".into()))?;
                let live: i64 = live.try_get(0)?;
                let mut destroy_path = None;
                if live == 0 {
                    if let Some(obj) = tx
                        .fetch_optional(
                            sqlx::query(
                                "SELECT path FROM file_objects WHERE org_id = $1 AND content_key = $2",
                            )
                            .bind(org.clone())
                            .bind(content_key.clone()),
                        )
                        .await?
                    {
                        destroy_path = Some(obj.try_get::<String, _>("path")?);
                        tx.execute(
                            sqlx::query(
                                "DELETE FROM file_objects WHERE org_id = $1 AND content_key = $2",
                            )
                            .bind(org.clone())
                            .bind(content_key),
                        )
                        .await?;
                    }
                }
                let name: String = row.try_get("name")?;
                let sha: Vec<u8> = row.try_get("sha256")?;
                tx.record(
                    "file.delete",
                    "file",
                    Some(id.to_string()),
                    Changes::new()
                        .field("deleted", false, true)
                        .created("name", name)
                        .created("version", row.try_get::<i64, _>("version")?)
                        .created("sha256", hex::encode(sha))
                        .created("size", row.try_get::<i64, _>("size")?)
                        .created("content_destroyed", destroy_path.is_some()),
                );
                Ok(DeletedFile { destroy_path })
            })
        }))
        .await
    }
}
