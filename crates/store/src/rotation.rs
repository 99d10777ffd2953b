//! Operator key management: master key rotation (re-wrap every org key), org key rotation
//! (re-wrap one org's object keys), and crypto-shredding an org by destroying its key rows.
//! Each step is its own transaction so a crash leaves every org and object readable by the
//! key recorded beside it. Every step that changes an org's rows goes through the operator door
//! ([`crate::operator`]) and is audited in that org's chain.

use crate::error::{Result, StoreError};
use crate::scope::Actor;
use crate::Store;
use labledger_domain::audit::Changes;
use labledger_domain::{OrgId, Timestamp};
use sqlx::Row;

/// An org key row as the rotation sees it.
#[derive(Clone, Debug)]
pub struct OrgKeyRow {
    pub org_id: String,
    pub wrapped_key: Vec<u8>,
    pub master_key_id: String,
    pub key_version: i64,
    /// The next org key while an org rotation runs.
    pub next_wrapped_key: Option<Vec<u8>>,
}

/// An object whose data key an org rotation re-wraps.
#[derive(Clone, Debug)]
pub struct RotationObject {
    pub content_key: String,
    pub path: String,
    pub wrapped_key: Vec<u8>,
}

fn decode_key(r: &sqlx::any::AnyRow) -> Result<OrgKeyRow> {
    Ok(OrgKeyRow {
        org_id: r.try_get("org_id")?,
        wrapped_key: r.try_get("wrapped_key")?,
        master_key_id: r.try_get("master_key_id")?,
        key_version: r.try_get("key_version")?,
        next_wrapped_key: r.try_get("next_wrapped_key")?,
    })
}

impl Store {
    pub async fn org_key_rows(&self) -> Result<Vec<OrgKeyRow>> {
        let rows = sqlx::query(
            "SELECT org_id, wrapped_key, master_key_id, key_version, next_wrapped_key \
             FROM org_keys ORDER BY org_id",
        )
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(decode_key).collect()
    }

    pub async fn org_key_row(&self, org: OrgId) -> Result<Option<OrgKeyRow>> {
        let row = sqlx::query(
            "SELECT org_id, wrapped_key, master_key_id, key_version, next_wrapped_key \
             FROM org_keys WHERE org_id = $1",
        )
        .bind(org.to_string())
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(decode_key).transpose()
    }

    /// Replaces one org's key rows wrapped by the old master key with their re-wrapped forms
    /// (one transaction), if the row is still what the caller read. Audited `vault.master_rotate`.
    pub async fn rewrap_org_key(
        &self,
        before: OrgKeyRow,
        wrapped: Vec<u8>,
        next_wrapped: Option<Vec<u8>>,
        master_key_id: String,
        actor: Actor,
    ) -> Result<()> {
        let org: OrgId = crate::instance::parse_id(&before.org_id)?;
        self.operator_write(
            org,
            actor,
            Box::new(move |tx| {
                Box::pin(async move {
                    let done = tx
                        .execute(
                            sqlx::query(
                                "UPDATE org_keys SET wrapped_key = $2, next_wrapped_key = $3, \
                                 master_key_id = $4 WHERE org_id = $1 AND wrapped_key = $5",
                            )
                            .bind(tx.org_text())
                            .bind(wrapped)
                            .bind(next_wrapped)
                            .bind(master_key_id.clone())
                            .bind(before.wrapped_key.clone()),
                        )
                        .await?;
                    if done.rows_affected() != 1 {
                        return Err(StoreError::Conflict(format!(
                            "the key of org {} changed during the rotation; run it again",
                            before.org_id
                        )));
                    }
                    tx.record(
                        "vault.master_rotate",
                        "org",
                        Some(tx.org_text()),
                        Changes::new().field("master_key_id", before.master_key_id, master_key_id),
                    );
                    Ok(())
                })
            }),
        )
        .await
    }

    /// Starts an org key rotation: records the next org key unless one is recorded already
    /// (a rotation that crashed), and returns the one in force. Audited
    /// `vault.org_key_rotate_begin`.
    pub async fn begin_org_rotation(
        &self,
        org: OrgId,
        next_wrapped: Vec<u8>,
        actor: Actor,
    ) -> Result<Vec<u8>> {
        self.operator_write(
            org,
            actor,
            Box::new(move |tx| {
                Box::pin(async move {
                    let started = tx
                        .execute(
                            sqlx::query(
                                "UPDATE org_keys SET next_wrapped_key = $2 \
                                 WHERE org_id = $1 AND next_wrapped_key IS NULL",
                            )
                            .bind(tx.org_text())
                            .bind(next_wrapped),
                        )
                        .await?;
                    let row = tx
                        .fetch_optional(
                            sqlx::query(
                                "SELECT key_version, next_wrapped_key FROM org_keys WHERE org_id = $1",
                            )
                            .bind(tx.org_text()),
                        )
                        .await?
                        .ok_or(StoreError::NotFound)?;
                    let version: i64 = row.try_get("key_version")?;
                    tx.record(
                        "vault.org_key_rotate_begin",
                        "org",
                        Some(tx.org_text()),
                        Changes::new()
                            .created("key_version", version + 1)
                            .created("resumed", started.rows_affected() == 0),
                    );
                    row.try_get::<Option<Vec<u8>>, _>("next_wrapped_key")?
                        .ok_or_else(|| StoreError::Corrupt("next org key missing".into()))
                })
            }),
        )
        .await
    }

    /// Objects of an org whose data keys are wrapped by org key `version`, a page at a time.
    pub async fn objects_at_key_version(
        &self,
        org: OrgId,
        version: i64,
        limit: i64,
    ) -> Result<Vec<RotationObject>> {
        let rows = sqlx::query(
            "SELECT content_key, path, wrapped_key FROM file_objects \
             WHERE org_id = $1 AND key_version = $2 ORDER BY content_key LIMIT $3",
        )
        .bind(org.to_string())
        .bind(version)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RotationObject {
                    content_key: r.try_get("content_key")?,
                    path: r.try_get("path")?,
                    wrapped_key: r.try_get("wrapped_key")?,
                })
            })
            .collect()
    }

    /// Stores a page of objects' data keys re-wrapped by the next org key (one transaction, one
    /// `vault.object_keys_rewrap` event); returns how many were still at `from_version`.
    pub async fn rewrap_object_keys(
        &self,
        org: OrgId,
        from_version: i64,
        rewrapped: Vec<(String, Vec<u8>)>,
        actor: Actor,
    ) -> Result<u64> {
        self.operator_write(
            org,
            actor,
            Box::new(move |tx| {
                Box::pin(async move {
                    let mut done = 0;
                    for (content_key, wrapped) in rewrapped {
                        done += tx
                            .execute(
                                sqlx::query(
                                    "UPDATE file_objects SET wrapped_key = $3, key_version = $4 \
                                     WHERE org_id = $1 AND content_key = $2 AND key_version = $5",
                                )
                                .bind(tx.org_text())
                                .bind(content_key)
                                .bind(wrapped)
                                .bind(from_version + 1)
                                .bind(from_version),
                            )
                            .await?
                            .rows_affected();
                    }
                    tx.record(
                        "vault.object_keys_rewrap",
                        "org",
                        Some(tx.org_text()),
                        Changes::new()
                            .field("key_version", from_version, from_version + 1)
                            .created("objects", done),
                    );
                    Ok(done)
                })
            }),
        )
        .await
    }

    /// The org's export signing secret as stored (wrapped by the org key), if it has one.
    pub async fn wrapped_export_secret(&self, org: OrgId) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT wrapped_secret FROM export_keys WHERE org_id = $1")
            .bind(org.to_string())
            .fetch_optional(self.reader())
            .await?;
        Ok(row.map(|r| r.try_get("wrapped_secret")).transpose()?)
    }

    /// Finishes an org key rotation once no object uses the old key: the next key becomes the
    /// key (the old one is gone), and the export signing secret, re-wrapped under the next key
    /// by the caller, is stored in the same transaction. Audited `vault.org_key_rotate`.
    pub async fn finish_org_rotation(
        &self,
        org: OrgId,
        actor: Actor,
        export_secret: Option<Vec<u8>>,
        field_key: Option<Vec<u8>>,
    ) -> Result<i64> {
        self.operator_write(
            org,
            actor,
            Box::new(move |tx| {
                Box::pin(async move {
                    let row = tx
                        .fetch_optional(
                            sqlx::query(
                                "SELECT key_version, next_wrapped_key FROM org_keys WHERE org_id = $1",
                            )
                            .bind(tx.org_text()),
                        )
                        .await?
                        .ok_or(StoreError::NotFound)?;
                    let version: i64 = row.try_get("key_version")?;
                    let next: Option<Vec<u8>> = row.try_get("next_wrapped_key")?;
                    let Some(next) = next else {
                        return Ok(version);
                    };
                    let left: i64 = tx
                        .fetch_optional(
                            sqlx::query(
                                "SELECT COUNT(*) AS n FROM file_objects \
                                 WHERE org_id = $1 AND key_version = $2",
                            )
                            .bind(tx.org_text())
                            .bind(version),
                        )
                        .await?
                        .map(|r| r.try_get::<i64, _>("n"))
                        .transpose()?
                        .unwrap_or(0);
                    if left > 0 {
                        return Err(StoreError::Conflict(format!(
                            "{left} objects still use the old key; run the rotation again"
                        )));
                    }
                    tx.execute(
                        sqlx::query(
                            "UPDATE org_keys SET wrapped_key = $2, next_wrapped_key = NULL, \
                             key_version = $3 WHERE org_id = $1",
                        )
                        .bind(tx.org_text())
                        .bind(next)
                        .bind(version + 1),
                    )
                    .await?;
                    if let Some(secret) = export_secret {
                        tx.execute(
                            sqlx::query(
                                "UPDATE export_keys SET wrapped_secret = $2 WHERE org_id = $1",
                            )
                            .bind(tx.org_text())
                            .bind(secret),
                        )
                        .await?;
                    }
                    // So is the key of sensitive custom field values.
                    if let Some(key) = field_key {
                        tx.execute(
                            sqlx::query(
                                "UPDATE org_field_keys SET wrapped_key = $2 WHERE org_id = $1",
                            )
                            .bind(tx.org_text())
                            .bind(key),
                        )
                        .await?;
                    }
                    tx.record(
                        "vault.org_key_rotate",
                        "org",
                        Some(tx.org_text()),
                        Changes::new().field("key_version", version, version + 1),
                    );
                    Ok(version + 1)
                })
            }),
        )
        .await
    }

    /// Deletes an org by destroying its keys (crypto-shredding): the org is disabled and
    /// marked deleted, its key rows are removed, its encrypted objects stay unreadable.
    /// Audited `org.delete`. Refused unless `confirm_name` is the org's name.
    pub async fn delete_org(&self, org: OrgId, confirm_name: String, actor: Actor) -> Result<()> {
        self.operator_write(
            org,
            actor,
            Box::new(move |tx| {
                Box::pin(async move {
                    let row = tx
                        .fetch_optional(
                            sqlx::query("SELECT name FROM orgs WHERE id = $1").bind(tx.org_text()),
                        )
                        .await?
                        .ok_or(StoreError::NotFound)?;
                    let name: String = row.try_get("name")?;
                    if name != confirm_name {
                        return Err(StoreError::Refused(
                            "--confirm must repeat the organization's exact name".into(),
                        ));
                    }
                    tx.execute(
                        sqlx::query(
                            "UPDATE orgs SET status = 'disabled', deleted_at = $2 WHERE id = $1",
                        )
                        .bind(tx.org_text())
                        .bind(Timestamp::now().micros()),
                    )
                    .await?;
                    // The export signing key goes with the org key it was wrapped by.
                    tx.execute(
                        sqlx::query("DELETE FROM export_keys WHERE org_id = $1")
                            .bind(tx.org_text()),
                    )
                    .await?;
                    // And the key of its sensitive custom field values.
                    tx.execute(
                        sqlx::query("DELETE FROM org_field_keys WHERE org_id = $1")
                            .bind(tx.org_text()),
                    )
                    .await?;
                    let keys = tx
                        .execute(
                            sqlx::query("DELETE FROM org_keys WHERE org_id = $1")
                                .bind(tx.org_text()),
                        )
                        .await?;
                    tx.record(
                        "org.delete",
                        "org",
                        Some(tx.org_text()),
                        Changes::new()
                            .field("status", "active", "deleted")
                            .created("keys_destroyed", keys.rows_affected()),
                    );
                    Ok(())
                })
            }),
        )
        .await
    }
}
