//! Sensitive database fields: platform data keys (wrapped by the master key) that seal users'
//! TOTP secrets, and each org's key for sensitive custom field values (wrapped by the org key).
//! The store never sees a key: callers pass wrapped keys and sealed values.

use crate::error::{Result, StoreError};
use crate::org::Org;
use crate::Store;
use labledger_domain::audit::Changes;
use labledger_domain::{Permission, Timestamp};
use sqlx::Row;

/// A stored platform key: wrapped by the master key named by `master_key_id`.
#[derive(Clone, Debug)]
pub struct PlatformKeyRow {
    pub wrapped_key: Vec<u8>,
    pub master_key_id: String,
}

/// A TOTP secret still sealed by the master key itself (from before platform keys).
#[derive(Clone, Debug)]
pub struct LegacySecret {
    pub user_id: String,
    pub secret_enc: Vec<u8>,
}

/// Wraps an org's new field key under the org key in force (given wrapped by the master key);
/// runs inside the transaction that stores it.
pub type FieldKeyMaker = Box<dyn FnOnce(&[u8]) -> std::result::Result<Vec<u8>, String> + Send>;

/// What opening an org's field key needs: the org key and the field key, both wrapped.
#[derive(Clone, Debug)]
pub struct FieldKeyMaterial {
    /// The org key, wrapped by the master key.
    pub wrapped_org_key: Vec<u8>,
    /// The field key, wrapped by the org key.
    pub wrapped_field_key: Vec<u8>,
}

impl Store {
    pub async fn platform_key(&self, purpose: &str) -> Result<Option<PlatformKeyRow>> {
        let row =
            sqlx::query("SELECT wrapped_key, master_key_id FROM platform_keys WHERE purpose = $1")
                .bind(purpose.to_owned())
                .fetch_optional(self.reader())
                .await?;
        row.map(|r| {
            Ok(PlatformKeyRow {
                wrapped_key: r.try_get("wrapped_key")?,
                master_key_id: r.try_get("master_key_id")?,
            })
        })
        .transpose()
    }

    /// Stores a platform key unless one exists (another node stored it first); returns the one
    /// in force.
    pub async fn ensure_platform_key(
        &self,
        purpose: &str,
        wrapped: Vec<u8>,
        master_key_id: String,
    ) -> Result<PlatformKeyRow> {
        let purpose = purpose.to_owned();
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO platform_keys (purpose, wrapped_key, master_key_id, created_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (purpose) DO NOTHING",
                )
                .bind(purpose.clone())
                .bind(wrapped)
                .bind(master_key_id)
                .bind(Timestamp::now().micros())
                .execute(&mut *conn)
                .await?;
                let r = sqlx::query(
                    "SELECT wrapped_key, master_key_id FROM platform_keys WHERE purpose = $1",
                )
                .bind(purpose)
                .fetch_one(&mut *conn)
                .await?;
                Ok(PlatformKeyRow {
                    wrapped_key: r.try_get("wrapped_key")?,
                    master_key_id: r.try_get("master_key_id")?,
                })
            })
        }))
        .await
    }

    /// Replaces a platform key with its form wrapped by another master key, if the row is still
    /// what the caller read (a master rotation).
    pub async fn rewrap_platform_key(
        &self,
        purpose: &str,
        before: PlatformKeyRow,
        wrapped: Vec<u8>,
        master_key_id: String,
    ) -> Result<()> {
        let purpose = purpose.to_owned();
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                let done = sqlx::query(
                    "UPDATE platform_keys SET wrapped_key = $2, master_key_id = $3 \
                     WHERE purpose = $1 AND wrapped_key = $4",
                )
                .bind(purpose.clone())
                .bind(wrapped)
                .bind(master_key_id)
                .bind(before.wrapped_key)
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::Conflict(format!(
                        "the platform key `{purpose}` changed during the rotation; run it again"
                    )));
                }
                Ok(())
            })
        }))
        .await
    }

    /// TOTP secrets still sealed by the master key itself.
    pub async fn legacy_totp_secrets(&self) -> Result<Vec<LegacySecret>> {
        let rows = sqlx::query(
            "SELECT user_id, secret_enc FROM user_totp WHERE key_version = 0 ORDER BY user_id",
        )
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(LegacySecret {
                    user_id: r.try_get("user_id")?,
                    secret_enc: r.try_get("secret_enc")?,
                })
            })
            .collect()
    }

    /// Stores one TOTP secret re-sealed by the platform key (its own transaction), if it is
    /// still the legacy one the caller read.
    pub async fn reseal_totp_secret(&self, before: LegacySecret, sealed: Vec<u8>) -> Result<()> {
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "UPDATE user_totp SET secret_enc = $2, key_version = 1 \
                     WHERE user_id = $1 AND key_version = 0 AND secret_enc = $3",
                )
                .bind(before.user_id)
                .bind(sealed)
                .bind(before.secret_enc)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        }))
        .await
    }

    /// The org's field key as stored (wrapped by the org key), if it has one (key rotation).
    pub async fn wrapped_field_key(&self, org: labledger_domain::OrgId) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT wrapped_key FROM org_field_keys WHERE org_id = $1")
            .bind(org.to_string())
            .fetch_optional(self.reader())
            .await?;
        Ok(row.map(|r| r.try_get("wrapped_key")).transpose()?)
    }
}

impl Org<'_> {
    fn require_samples(&self) -> Result<()> {
        if !self.scope().can(Permission::SAMPLES_WRITE) {
            self.scope().require(Permission::SAMPLES_READ)?;
        }
        Ok(())
    }

    /// The org key and field key (both wrapped, read together so a rotation between them
    /// cannot mismatch), if the org has a field key. For readers and writers of samples.
    pub async fn field_key_material(&self) -> Result<Option<FieldKeyMaterial>> {
        self.require_samples()?;
        let row = sqlx::query(
            "SELECT k.wrapped_key AS org_key, f.wrapped_key AS field_key \
             FROM org_field_keys f JOIN org_keys k ON k.org_id = f.org_id WHERE f.org_id = $1",
        )
        .bind(self.org_text())
        .fetch_optional(self.reader())
        .await?;
        row.map(|r| {
            Ok(FieldKeyMaterial {
                wrapped_org_key: r.try_get("org_key")?,
                wrapped_field_key: r.try_get("field_key")?,
            })
        })
        .transpose()
    }

    /// Makes the org's field key (and its org key, `new_org_key` wrapped by the master key, if
    /// the org has none yet) unless they exist; `make` wraps a fresh field key under the org
    /// key in force, in the same transaction. Audited `vault.org_key_create` /
    /// `vault.field_key_create`. For writers of samples.
    pub async fn ensure_field_key(
        &self,
        new_org_key: Vec<u8>,
        make: FieldKeyMaker,
    ) -> Result<FieldKeyMaterial> {
        self.scope().require(Permission::SAMPLES_WRITE)?;
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let org = tx.org().to_owned();
                let org_key: Vec<u8> = match tx
                    .fetch_optional(
                        sqlx::query("SELECT wrapped_key FROM org_keys WHERE org_id = $1")
                            .bind(org.clone()),
                    )
                    .await?
                {
                    Some(r) => r.try_get("wrapped_key")?,
                    None => {
                        tx.execute(
                            sqlx::query(
                                "INSERT INTO org_keys (org_id, wrapped_key, created_at) VALUES ($1, $2, $3)",
                            )
                            .bind(org.clone())
                            .bind(new_org_key.clone())
                            .bind(Timestamp::now().micros()),
                        )
                        .await?;
                        tx.record(
                            "vault.org_key_create",
                            "org",
                            Some(org.clone()),
                            Changes::new().created("algorithm", "AES-256-GCM"),
                        );
                        new_org_key
                    }
                };
                if let Some(r) = tx
                    .fetch_optional(
                        sqlx::query("SELECT wrapped_key FROM org_field_keys WHERE org_id = $1")
                            .bind(org.clone()),
                    )
                    .await?
                {
                    return Ok(FieldKeyMaterial {
                        wrapped_org_key: org_key,
                        wrapped_field_key: r.try_get("wrapped_key")?,
                    });
                }
                let field_key = make(&org_key).map_err(StoreError::Corrupt)?;
                tx.execute(
                    sqlx::query(
                        "INSERT INTO org_field_keys (org_id, wrapped_key, created_at) VALUES ($1, $2, $3)",
                    )
                    .bind(org.clone())
                    .bind(field_key.clone())
                    .bind(Timestamp::now().micros()),
                )
                .await?;
                tx.record(
                    "vault.field_key_create",
                    "org",
                    Some(org),
                    Changes::new().created("algorithm", "AES-256-GCM"),
                );
                Ok(FieldKeyMaterial {
                    wrapped_org_key: org_key,
                    wrapped_field_key: field_key,
                })
            })
        }))
        .await
    }
}
