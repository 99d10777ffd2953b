//! A user's second factor (TOTP and recovery codes) and the org setting that requires one.
//! The TOTP record is instance-level (a user has one authenticator, whatever their orgs); the
//! setting is org data, changed through the org door and audited in the org's chain.

use crate::error::{Result, StoreError};
use crate::org::Org;
use crate::tx::OrgTx;
use crate::Store;
use labledger_domain::audit::Changes;
use labledger_domain::validate::RegionName;
use labledger_domain::{OrgId, Permission, Timestamp, UserId};
use sqlx::Row;

/// A user's TOTP authenticator (its secret still sealed).
#[derive(Clone, Debug)]
pub struct TotpRecord {
    pub secret_enc: Vec<u8>,
    pub active: bool,
    pub last_step: i64,
}

/// Settings of one org.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgSettings {
    pub require_mfa: bool,
    /// The region the org's data lives in (empty: not pinned).
    pub region: String,
    /// A region move an operator asked for, waiting for an Owner's approval.
    pub region_move_to: Option<String>,
    /// How far that move has come (`requested`, `approved`, `copying`).
    pub region_move_phase: Option<&'static str>,
}

impl Store {
    pub async fn totp(&self, user: UserId) -> Result<Option<TotpRecord>> {
        let row =
            sqlx::query("SELECT secret_enc, active, last_step FROM user_totp WHERE user_id = $1")
                .bind(user.to_string())
                .fetch_optional(self.reader())
                .await?;
        row.map(|r| {
            Ok(TotpRecord {
                secret_enc: r.try_get("secret_enc")?,
                active: r.try_get::<i64, _>("active")? == 1,
                last_step: r.try_get("last_step")?,
            })
        })
        .transpose()
    }

    /// Stores a new pending (unconfirmed) secret, replacing a pending one; refused while an
    /// active one exists.
    pub async fn begin_totp(&self, user: UserId, secret_enc: Vec<u8>) -> Result<()> {
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                let active: Option<i64> =
                    sqlx::query_scalar("SELECT active FROM user_totp WHERE user_id = $1")
                        .bind(user.to_string())
                        .fetch_optional(&mut *conn)
                        .await?;
                if active == Some(1) {
                    return Err(StoreError::Conflict(
                        "MFA is already active; disable it first to enrol a new authenticator."
                            .into(),
                    ));
                }
                sqlx::query("DELETE FROM user_totp WHERE user_id = $1")
                    .bind(user.to_string())
                    .execute(&mut *conn)
                    .await?;
                sqlx::query(
                    "INSERT INTO user_totp (user_id, secret_enc, active, last_step, created_at) \
                     VALUES ($1, $2, 0, 0, $3)",
                )
                .bind(user.to_string())
                .bind(secret_enc)
                .bind(Timestamp::now().micros())
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        }))
        .await
    }

    /// Activates the pending secret (its first code was of `step`) and replaces the recovery
    /// codes. False when there was no pending secret (already active or none).
    pub async fn activate_totp(
        &self,
        user: UserId,
        step: i64,
        recovery_hashes: Vec<Vec<u8>>,
    ) -> Result<bool> {
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                let now = Timestamp::now().micros();
                let r = sqlx::query(
                    "UPDATE user_totp SET active = 1, last_step = $2, confirmed_at = $3 \
                     WHERE user_id = $1 AND active = 0",
                )
                .bind(user.to_string())
                .bind(step)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                if r.rows_affected() != 1 {
                    return Ok(false);
                }
                sqlx::query("DELETE FROM user_recovery_codes WHERE user_id = $1")
                    .bind(user.to_string())
                    .execute(&mut *conn)
                    .await?;
                for hash in recovery_hashes {
                    sqlx::query(
                        "INSERT INTO user_recovery_codes (user_id, code_hash) VALUES ($1, $2)",
                    )
                    .bind(user.to_string())
                    .bind(hash)
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(true)
            })
        }))
        .await
    }

    /// Records `step` as the last accepted one, atomically: false when a code of this step or a
    /// later one was already accepted (a replay, or a race with another login).
    pub async fn accept_totp_step(&self, user: UserId, step: i64) -> Result<bool> {
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                let r = sqlx::query(
                    "UPDATE user_totp SET last_step = $2 \
                     WHERE user_id = $1 AND active = 1 AND last_step < $2",
                )
                .bind(user.to_string())
                .bind(step)
                .execute(conn)
                .await?;
                Ok(r.rows_affected() == 1)
            })
        }))
        .await
    }

    /// Spends a recovery code: true exactly once per code.
    pub async fn use_recovery_code(&self, user: UserId, code_hash: Vec<u8>) -> Result<bool> {
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                let r = sqlx::query(
                    "UPDATE user_recovery_codes SET used_at = $3 \
                     WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
                )
                .bind(user.to_string())
                .bind(code_hash)
                .bind(Timestamp::now().micros())
                .execute(conn)
                .await?;
                Ok(r.rows_affected() == 1)
            })
        }))
        .await
    }

    pub async fn recovery_codes_left(&self, user: UserId) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM user_recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user.to_string())
        .fetch_one(self.reader())
        .await?)
    }

    /// Removes the authenticator and the recovery codes.
    pub async fn disable_totp(&self, user: UserId) -> Result<()> {
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                sqlx::query("DELETE FROM user_recovery_codes WHERE user_id = $1")
                    .bind(user.to_string())
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("DELETE FROM user_totp WHERE user_id = $1")
                    .bind(user.to_string())
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        }))
        .await
    }

    /// Whether the org requires its members to use MFA (for the enforcement check of every
    /// org-scoped request of a member without MFA).
    pub async fn org_requires_mfa(&self, org: OrgId) -> Result<bool> {
        let read = || async {
            let v: Option<i64> = sqlx::query_scalar("SELECT require_mfa FROM orgs WHERE id = $1")
                .bind(org.to_string())
                .fetch_optional(self.reader())
                .await?;
            Ok(v == Some(1))
        };
        let recall = &self.inner.recall;
        self.inner
            .org_mfa
            .get_or_read(recall, org, |_| true, read)
            .await
    }
}

impl Org<'_> {
    pub async fn settings(&self) -> Result<OrgSettings> {
        self.scope().require(Permission::ORG_SETTINGS_READ)?;
        let row = sqlx::query(
            "SELECT require_mfa, region, region_move_to, region_move_phase FROM orgs WHERE id = $1",
        )
        .bind(self.org_text())
        .fetch_one(self.reader())
        .await?;
        settings_of(&row)
    }

    /// Changes the settings; audited as `org.settings_change` with before and after. A
    /// `region` approves the move an operator asked for (Owners only; `org.region_change`).
    pub async fn update_settings(
        &self,
        require_mfa: Option<bool>,
        region: Option<RegionName>,
    ) -> Result<OrgSettings> {
        self.scope().require(Permission::ORG_SETTINGS_WRITE)?;
        if region.is_some() && !self.scope().is_owner() {
            return Err(StoreError::NotAllowed(
                "Only an Owner of the organization approves moving its data to another region."
                    .into(),
            ));
        }
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let org = tx.org().to_owned();
                let row = tx
                    .fetch_optional(
                        sqlx::query(
                            "SELECT require_mfa, region, region_move_to, region_move_phase FROM orgs WHERE id = $1",
                        )
                        .bind(org.clone()),
                    )
                    .await?
                    .ok_or(StoreError::NotFound)?;
                let mut settings = settings_of(&row)?;
                if let Some(region) = region {
                    approve_region_move(tx, &mut settings, region).await?;
                }
                let before = settings.require_mfa;
                let after = require_mfa.unwrap_or(before);
                if before != after {
                    tx.execute(
                        sqlx::query("UPDATE orgs SET require_mfa = $2 WHERE id = $1")
                            .bind(org.clone())
                            .bind(i64::from(after)),
                    )
                    .await?;
                }
                // Saving the settings is recorded even when it changed nothing (an
                // administrator's confirmed choice); `changes` then is empty.
                tx.record(
                    "org.settings_change",
                    "org",
                    Some(org),
                    Changes::new().field("require_mfa", before, after),
                );
                settings.require_mfa = after;
                Ok(settings)
            })
        }))
        .await
    }
}

fn settings_of(row: &sqlx::any::AnyRow) -> Result<OrgSettings> {
    let region = crate::instance::region_of(row)?;
    Ok(OrgSettings {
        require_mfa: row.try_get::<i64, _>("require_mfa")? == 1,
        region: region.region,
        region_move_to: (!region.move_to.is_empty()).then_some(region.move_to),
        region_move_phase: region.phase.name(),
    })
}

/// An Owner approves the region move an operator asked for: only that region is accepted.
/// Nothing moves yet: the operator then copies the org's objects to the new region's store and
/// switches it (`admin org move --complete`).
async fn approve_region_move(
    tx: &mut OrgTx<'_>,
    settings: &mut OrgSettings,
    region: RegionName,
) -> Result<()> {
    if settings.region_move_to.as_deref() != Some(region.as_str()) {
        return Err(StoreError::Refused(match &settings.region_move_to {
            Some(pending) => format!(
                "The pending move is to region `{pending}`, not `{region}`: approve that one, or ask the operator."
            ),
            None => "No region move is pending: an operator asks for one first (`labledger admin org move`)."
                .into(),
        }));
    }
    if settings.region_move_phase != Some("requested") {
        // Approved already (or under way): nothing more to approve.
        return Ok(());
    }
    let org = tx.org().to_owned();
    tx.execute(
        sqlx::query("UPDATE orgs SET region_move_phase = 'approved' WHERE id = $1")
            .bind(org.clone()),
    )
    .await?;
    tx.record(
        "org.region_move_approve",
        "org",
        Some(org),
        Changes::new()
            .field("region_move_phase", "requested", "approved")
            .created("region_move_to", region.as_str().to_owned()),
    );
    settings.region_move_phase = Some("approved");
    Ok(())
}
