//! Invitations to join an org by email: created and revoked by members who may add members
//! (under the same grant rules), accepted by the invitee with a single-use, expiring token of
//! which only the SHA-256 is stored.

use crate::error::{Result, StoreError};
use crate::instance::parse_id;
use crate::members::{insert_membership, member_in_tx, names, pick_roles, Grantor};
use crate::org::Org;
use crate::roles::all_in_tx;
use crate::scope::{OrgScope, RequestMeta};
use crate::{tx, Store};
use labledger_domain::audit::Changes;
use labledger_domain::validate::{Email, PersonName};
use labledger_domain::{InvitationId, OrgId, Permission, PermissionSet, Timestamp, UserId};
use serde::Serialize;
use sqlx::Row;

#[derive(Clone, Debug, Serialize)]
pub struct Invitation {
    pub id: InvitationId,
    pub email: String,
    pub roles: Vec<String>,
    pub invited_by: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// `pending`, `accepted`, `revoked` or `expired`.
    pub status: &'static str,
}

/// What the accept page shows about a live invitation.
#[derive(Clone, Debug)]
pub struct PendingInvitation {
    pub org_id: OrgId,
    pub org_name: String,
    pub id: InvitationId,
    pub email: String,
    pub roles: Vec<String>,
    pub expires_at: Timestamp,
    /// The account that already has the invited email, if any.
    pub existing_user: Option<UserId>,
}

/// Who accepts: a new account, or the existing account of the invited email (its password
/// checked by the caller).
#[derive(Clone, Debug)]
pub enum InvitationAccount {
    New {
        name: PersonName,
        password_hash: String,
    },
    Existing(UserId),
}

#[derive(Clone, Debug)]
pub struct AcceptedInvitation {
    pub org_id: OrgId,
    pub user_id: UserId,
    pub account_created: bool,
}

const COLUMNS: &str =
    "id, email, roles, invited_by, created_at, expires_at, accepted_at, revoked_at";

fn decode(r: &sqlx::any::AnyRow, now: Timestamp) -> Result<Invitation> {
    let roles: Vec<String> = serde_json::from_str(&r.try_get::<String, _>("roles")?)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let expires_at = Timestamp::from_micros(r.try_get("expires_at")?);
    let status = if r.try_get::<Option<i64>, _>("accepted_at")?.is_some() {
        "accepted"
    } else if r.try_get::<Option<i64>, _>("revoked_at")?.is_some() {
        "revoked"
    } else if now >= expires_at {
        "expired"
    } else {
        "pending"
    };
    Ok(Invitation {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        email: r.try_get("email")?,
        roles,
        invited_by: r.try_get("invited_by")?,
        created_at: Timestamp::from_micros(r.try_get("created_at")?),
        expires_at,
        status,
    })
}

impl Org<'_> {
    /// Invites `email` with `roles` (the same grant rules as adding a member). The caller mails
    /// the token; only its hash is stored.
    pub async fn create_invitation(
        &self,
        email: Email,
        roles: Vec<String>,
        token_hash: Vec<u8>,
        ttl_secs: i64,
    ) -> Result<Invitation> {
        let scope = self.scope();
        scope.require(Permission::MEMBERS_WRITE)?;
        let grantor = Grantor {
            permissions: scope.permissions(),
            is_owner: scope.is_owner(),
        };
        let inviter = scope.user_id().to_string();
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let all = all_in_tx(tx).await?;
                let picked = pick_roles(&all, &roles)?;
                grantor.may_assign(&picked)?;
                let org = tx.org().to_owned();
                let member = tx
                    .fetch_optional(
                        sqlx::query(
                            "SELECT u.id FROM members m JOIN users u ON u.id = m.user_id \
                             WHERE m.org_id = $1 AND u.email = $2",
                        )
                        .bind(org.clone())
                        .bind(email.as_str().to_owned()),
                    )
                    .await?;
                if member.is_some() {
                    return Err(StoreError::Conflict(format!("{email} is already a member")));
                }
                let id = InvitationId::new();
                let now = Timestamp::now();
                let role_names = names(&picked);
                let roles_json = serde_json::to_string(&role_names)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                tx.execute(
                    sqlx::query(
                        "INSERT INTO invitations (org_id, id, email, roles, token_hash, invited_by, created_at, expires_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(org)
                    .bind(id.to_string())
                    .bind(email.as_str().to_owned())
                    .bind(roles_json)
                    .bind(token_hash)
                    .bind(inviter.clone())
                    .bind(now.micros())
                    .bind(now.plus_secs(ttl_secs).micros()),
                )
                .await?;
                tx.record(
                    "invitation.create",
                    "invitation",
                    Some(id.to_string()),
                    Changes::new()
                        .created("email", email.as_str())
                        .created("roles", role_names.clone())
                        .created("expires_at", now.plus_secs(ttl_secs).to_rfc3339()),
                );
                Ok(Invitation {
                    id,
                    email: email.as_str().to_owned(),
                    roles: role_names,
                    invited_by: inviter,
                    created_at: now,
                    expires_at: now.plus_secs(ttl_secs),
                    status: "pending",
                })
            })
        }))
        .await
    }

    /// The org's invitations, newest first.
    pub async fn invitations(&self) -> Result<Vec<Invitation>> {
        self.scope().require(Permission::MEMBERS_READ)?;
        let sql = format!(
            "SELECT {COLUMNS} FROM invitations WHERE org_id = $1 ORDER BY created_at DESC, id DESC"
        );
        let rows = sqlx::query(&sql)
            .bind(self.org_text())
            .fetch_all(self.reader())
            .await?;
        let now = Timestamp::now();
        rows.iter().map(|r| decode(r, now)).collect()
    }

    /// Revokes a pending invitation (its token stops working).
    pub async fn revoke_invitation(&self, id: InvitationId) -> Result<()> {
        self.scope().require(Permission::MEMBERS_WRITE)?;
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let org = tx.org().to_owned();
                let sql =
                    format!("SELECT {COLUMNS} FROM invitations WHERE org_id = $1 AND id = $2");
                let row = tx
                    .fetch_optional(sqlx::query(&sql).bind(org.clone()).bind(id.to_string()))
                    .await?
                    .ok_or(StoreError::NotFound)?;
                let inv = decode(&row, Timestamp::now())?;
                if inv.status != "pending" {
                    return Err(StoreError::Refused(format!(
                        "the invitation is {} and cannot be revoked",
                        inv.status
                    )));
                }
                tx.execute(
                    sqlx::query(
                        "UPDATE invitations SET revoked_at = $3 WHERE org_id = $1 AND id = $2",
                    )
                    .bind(org)
                    .bind(id.to_string())
                    .bind(Timestamp::now().micros()),
                )
                .await?;
                tx.record(
                    "invitation.revoke",
                    "invitation",
                    Some(id.to_string()),
                    Changes::new().field("status", "pending", "revoked"),
                );
                Ok(())
            })
        }))
        .await
    }
}

impl Store {
    /// The live invitation a token names: none when unknown, used, revoked, expired, or its org
    /// is disabled.
    pub async fn pending_invitation(&self, token_hash: &[u8]) -> Result<Option<PendingInvitation>> {
        let row = sqlx::query(
            "SELECT i.org_id, o.name AS org_name, i.id, i.email, i.roles, i.expires_at, u.id AS user_id \
             FROM invitations i JOIN orgs o ON o.id = i.org_id LEFT JOIN users u ON u.email = i.email \
             WHERE i.token_hash = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL \
             AND i.expires_at > $2 AND o.status = 'active'",
        )
        .bind(token_hash.to_vec())
        .bind(Timestamp::now().micros())
        .fetch_optional(self.reader())
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(PendingInvitation {
            org_id: parse_id(&r.try_get::<String, _>("org_id")?)?,
            org_name: r.try_get("org_name")?,
            id: parse_id(&r.try_get::<String, _>("id")?)?,
            email: r.try_get("email")?,
            roles: serde_json::from_str(&r.try_get::<String, _>("roles")?)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            expires_at: Timestamp::from_micros(r.try_get("expires_at")?),
            existing_user: r
                .try_get::<Option<String>, _>("user_id")?
                .map(|s| parse_id(&s))
                .transpose()?,
        }))
    }

    /// Accepts a live invitation once: makes the account (or takes the existing one), the
    /// membership with the invited roles, and records `member.add` (`via: invitation`) with the
    /// invitee as actor. `NotFound` when the invitation is no longer live.
    pub async fn accept_invitation(
        &self,
        invitation: &PendingInvitation,
        account: InvitationAccount,
        meta: RequestMeta,
    ) -> Result<AcceptedInvitation> {
        let (user, created, new_account) = match account {
            InvitationAccount::Existing(u) => (u, false, None),
            InvitationAccount::New {
                name,
                password_hash,
            } => (UserId::new(), true, Some((name, password_hash))),
        };
        // The invitee acts in the org only to join it: an empty permission set.
        let scope = OrgScope::new(
            invitation.org_id,
            invitation.org_name.clone(),
            user,
            PermissionSet::EMPTY,
            false,
            meta,
        );
        let id = invitation.id;
        let email = Email::parse("email", &invitation.email)?;
        tx::write_scoped(
            self,
            &scope,
            Box::new(move |tx| {
                Box::pin(async move {
                    let org = tx.org().to_owned();
                    let now = Timestamp::now().micros();
                    let claimed = tx
                        .execute(
                            sqlx::query(
                                "UPDATE invitations SET accepted_at = $3, accepted_by = $4 \
                                 WHERE org_id = $1 AND id = $2 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $3",
                            )
                            .bind(org.clone())
                            .bind(id.to_string())
                            .bind(now)
                            .bind(user.to_string()),
                        )
                        .await?;
                    if claimed.rows_affected() != 1 {
                        return Err(StoreError::NotFound);
                    }
                    let row = tx
                        .fetch_optional(
                            sqlx::query("SELECT roles FROM invitations WHERE org_id = $1 AND id = $2")
                                .bind(org.clone())
                                .bind(id.to_string()),
                        )
                        .await?
                        .ok_or(StoreError::NotFound)?;
                    let role_names: Vec<String> =
                        serde_json::from_str(&row.try_get::<String, _>("roles")?)
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    let all = all_in_tx(tx).await?;
                    let roles = pick_roles(&all, &role_names)?;
                    if let Some((name, hash)) = &new_account {
                        let taken = tx
                            .fetch_optional(
                                sqlx::query("SELECT id FROM users WHERE email = $1")
                                    .bind(email.as_str().to_owned()),
                            )
                            .await?;
                        if taken.is_some() {
                            return Err(StoreError::Conflict(
                                "an account with this email exists: accept with its password".into(),
                            ));
                        }
                        tx.execute_unscoped_user_insert(user, &email, name, hash, now)
                            .await?;
                    }
                    insert_membership(tx, user, email.as_str(), &roles, now).await?;
                    tx.record(
                        "member.add",
                        "member",
                        Some(user.to_string()),
                        Changes::new()
                            .created("email", email.as_str())
                            .created("roles", names(&roles))
                            .created("account_created", created)
                            .created("via", "invitation")
                            .created("invitation_id", id.to_string()),
                    );
                    member_in_tx(tx, user).await?;
                    Ok(AcceptedInvitation {
                        org_id: invitation_org(&org)?,
                        user_id: user,
                        account_created: created,
                    })
                })
            }),
        )
        .await
    }
}

fn invitation_org(org: &str) -> Result<OrgId> {
    parse_id(org)
}
