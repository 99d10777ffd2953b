//! Just-in-time privileged access: a member (or, for support, an operator on behalf of a user
//! account that is not a member) asks for a built-in role for a bounded time; another
//! Owner/Admin approves or denies; an approved request is a grant from approval until
//! `expires_at`, unioned into the user's scope by `Store::resolve_scope` while it lasts.

use crate::error::{Result, StoreError};
use crate::instance::parse_id;
use crate::org::Org;
use crate::read_conn::Reader;
use crate::roles::check_grantable;
use crate::scope::Actor;
use crate::Store;
use labledger_domain::audit::Changes;
use labledger_domain::validate::{Email, Reason};
use labledger_domain::{
    AccessRequestId, BuiltinRole, FieldError, OrgId, Permission, PermissionSet, Timestamp, UserId,
};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

/// The longest grant: 8 hours.
pub const MAX_GRANT_MINUTES: i64 = 480;

#[derive(Clone, Debug, Serialize)]
pub struct AccessRequest {
    pub id: AccessRequestId,
    /// `member` or `support`.
    pub kind: String,
    pub user_id: UserId,
    pub user_email: String,
    pub role: String,
    pub reason: String,
    pub duration_minutes: i64,
    /// `pending`, `active`, `expired`, `denied` or `revoked`.
    pub status: String,
    pub requested_by: String,
    pub created_at: Timestamp,
    pub decided_by: Option<String>,
    pub decided_at: Option<Timestamp>,
    pub starts_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    pub revoked_by: Option<String>,
    pub revoked_at: Option<Timestamp>,
}

/// A request to file, validated.
#[derive(Clone, Debug)]
pub struct NewAccessRequest {
    pub role: BuiltinRole,
    pub reason: Reason,
    pub duration_minutes: i64,
}

/// The built-in role a request may name: any but Owner (Owners are made by Owners, for good).
pub fn requestable_role(field: &str, name: &str) -> std::result::Result<BuiltinRole, FieldError> {
    match BuiltinRole::from_name(name.trim()) {
        Some(BuiltinRole::Owner) => Err(FieldError::new(
            field,
            "the Owner role cannot be requested; ask for Admin",
        )),
        Some(role) => Ok(role),
        None => Err(FieldError::new(
            field,
            "must be a built-in role other than Owner (Admin, QA, Scientist, Technician, Auditor, Viewer)",
        )),
    }
}

pub fn check_duration(field: &str, minutes: i64) -> std::result::Result<i64, FieldError> {
    if (1..=MAX_GRANT_MINUTES).contains(&minutes) {
        Ok(minutes)
    } else {
        Err(FieldError::new(
            field,
            format!("must be 1 to {MAX_GRANT_MINUTES} minutes (8 hours)"),
        ))
    }
}

pub(crate) struct ActiveGrant {
    pub kind: String,
    pub permissions: PermissionSet,
    pub org_name: String,
    pub org_status: String,
    /// When the grant's window closes.
    pub expires_at: Timestamp,
}

/// The user's grants in the org that are live now (the time comparison is in SQL).
pub(crate) async fn active_grants(
    pool: &Reader,
    org: OrgId,
    user: UserId,
) -> Result<Vec<ActiveGrant>> {
    let rows = sqlx::query(
        "SELECT a.kind, a.role_name, a.expires_at, o.name, o.status FROM access_requests a \
         JOIN orgs o ON o.id = a.org_id \
         WHERE a.org_id = $1 AND a.user_id = $2 AND a.status = 'approved' \
         AND a.starts_at <= $3 AND a.expires_at > $3",
    )
    .bind(org.to_string())
    .bind(user.to_string())
    .bind(Timestamp::now().micros())
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let role: String = r.try_get("role_name")?;
            let permissions = BuiltinRole::from_name(&role)
                .filter(|r| *r != BuiltinRole::Owner)
                .map(BuiltinRole::permissions)
                .unwrap_or(PermissionSet::EMPTY);
            Ok(ActiveGrant {
                kind: r.try_get("kind")?,
                permissions,
                org_name: r.try_get("name")?,
                org_status: r.try_get("status")?,
                expires_at: Timestamp::from_micros(r.try_get("expires_at")?),
            })
        })
        .collect()
}

const REQUEST_SQL: &str = "SELECT a.id, a.kind, a.user_id, u.email, a.role_name, a.reason, \
    a.duration_minutes, a.status, a.requested_by, a.created_at, a.decided_by, a.decided_at, \
    a.starts_at, a.expires_at, a.revoked_by, a.revoked_at \
    FROM access_requests a JOIN users u ON u.id = a.user_id WHERE a.org_id = $1";

fn opt_time(r: &AnyRow, col: &str) -> Result<Option<Timestamp>> {
    Ok(r.try_get::<Option<i64>, _>(col)?
        .map(Timestamp::from_micros))
}

fn decode(r: &AnyRow, now: Timestamp) -> Result<AccessRequest> {
    let stored: String = r.try_get("status")?;
    let expires_at = opt_time(r, "expires_at")?;
    let status = match (stored.as_str(), expires_at) {
        ("approved", Some(e)) if now >= e => "expired".to_owned(),
        ("approved", _) => "active".to_owned(),
        (other, _) => other.to_owned(),
    };
    Ok(AccessRequest {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        kind: r.try_get("kind")?,
        user_id: parse_id(&r.try_get::<String, _>("user_id")?)?,
        user_email: r.try_get("email")?,
        role: r.try_get("role_name")?,
        reason: r.try_get("reason")?,
        duration_minutes: r.try_get("duration_minutes")?,
        status,
        requested_by: r.try_get("requested_by")?,
        created_at: Timestamp::from_micros(r.try_get("created_at")?),
        decided_by: r.try_get("decided_by")?,
        decided_at: opt_time(r, "decided_at")?,
        starts_at: opt_time(r, "starts_at")?,
        expires_at,
        revoked_by: r.try_get("revoked_by")?,
        revoked_at: opt_time(r, "revoked_at")?,
    })
}

fn actor_text(actor: &Actor) -> String {
    format!(
        "{}:{}",
        actor.kind.as_str(),
        actor.id.as_deref().unwrap_or("-")
    )
}

#[derive(Clone, Copy)]
enum Decision {
    Approve,
    Deny,
}

async fn insert_request(
    conn: &mut crate::write_conn::WriteConn,
    org: &str,
    id: AccessRequestId,
    kind: &str,
    user: UserId,
    new: &NewAccessRequest,
    requested_by: String,
) -> Result<()> {
    let now = Timestamp::now().micros();
    sqlx::query(
        "INSERT INTO access_requests (org_id, id, kind, user_id, role_name, reason, \
         duration_minutes, status, requested_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9)",
    )
    .bind(org.to_owned())
    .bind(id.to_string())
    .bind(kind.to_owned())
    .bind(user.to_string())
    .bind(new.role.name())
    .bind(new.reason.as_str().to_owned())
    .bind(new.duration_minutes)
    .bind(requested_by)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

fn created_changes(kind: &str, user: UserId, new: &NewAccessRequest) -> Changes {
    Changes::new()
        .created("kind", kind)
        .created("user_id", user.to_string())
        .created("role", new.role.name())
        .created("reason", new.reason.as_str())
        .created("duration_minutes", new.duration_minutes)
        .created("status", "pending")
}

impl Org<'_> {
    /// A member asks for a role for a while. Any member may ask; a token may not.
    pub async fn request_access(&self, new: NewAccessRequest) -> Result<AccessRequest> {
        let scope = self.scope();
        scope.require_user()?;
        let user = scope.user_id();
        let requested_by = actor_text(scope.actor());
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let id = AccessRequestId::new();
                let now = Timestamp::now();
                let org = tx.org().to_owned();
                insert_request(tx.conn_mut(), &org, id, "member", user, &new, requested_by).await?;
                tx.record(
                    "access_request.create",
                    "access_request",
                    Some(id.to_string()),
                    created_changes("member", user, &new),
                );
                let sql = format!("{REQUEST_SQL} AND a.id = $2");
                let row = tx
                    .fetch_optional(sqlx::query(&sql).bind(org).bind(id.to_string()))
                    .await?
                    .ok_or(StoreError::NotFound)?;
                decode(&row, now)
            })
        }))
        .await
    }

    /// All requests with `members:read`; otherwise the caller's own.
    pub async fn access_requests(&self) -> Result<Vec<AccessRequest>> {
        let scope = self.scope();
        let now = Timestamp::now();
        let rows = if scope.can(Permission::MEMBERS_READ) {
            sqlx::query(&format!("{REQUEST_SQL} ORDER BY a.created_at DESC, a.id"))
                .bind(self.org_text())
                .fetch_all(self.reader())
                .await?
        } else {
            sqlx::query(&format!(
                "{REQUEST_SQL} AND a.user_id = $2 ORDER BY a.created_at DESC, a.id"
            ))
            .bind(self.org_text())
            .bind(scope.user_id().to_string())
            .fetch_all(self.reader())
            .await?
        };
        rows.iter().map(|r| decode(r, now)).collect()
    }

    /// One request: one's own, or any with `members:read`.
    pub async fn access_request(&self, id: AccessRequestId) -> Result<AccessRequest> {
        let sql = format!("{REQUEST_SQL} AND a.id = $2");
        let row = sqlx::query(&sql)
            .bind(self.org_text())
            .bind(id.to_string())
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound)?;
        let request = decode(&row, Timestamp::now())?;
        if request.user_id != self.scope().user_id() {
            self.scope().require(Permission::MEMBERS_READ)?;
        }
        Ok(request)
    }

    /// Approves a pending request: the window starts now.
    pub async fn approve_access(&self, id: AccessRequestId) -> Result<AccessRequest> {
        self.decide(id, Decision::Approve).await
    }

    pub async fn deny_access(&self, id: AccessRequestId) -> Result<AccessRequest> {
        self.decide(id, Decision::Deny).await
    }

    /// Decided by a person with `members:write` who holds the role's permissions and is not
    /// the requester.
    async fn decide(&self, id: AccessRequestId, decision: Decision) -> Result<AccessRequest> {
        let scope = self.scope();
        scope.require(Permission::MEMBERS_WRITE)?;
        scope.require_user()?;
        let caller = scope.user_id();
        let held = scope.permissions();
        let by = actor_text(scope.actor());
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let org = tx.org().to_owned();
                let sql = format!("{REQUEST_SQL} AND a.id = $2");
                let now = Timestamp::now();
                let row = tx
                    .fetch_optional(sqlx::query(&sql).bind(org.clone()).bind(id.to_string()))
                    .await?
                    .ok_or(StoreError::NotFound)?;
                let request = decode(&row, now)?;
                if request.user_id == caller {
                    return Err(StoreError::NotAllowed(
                        "nobody approves or denies their own access request".into(),
                    ));
                }
                if request.status != "pending" {
                    return Err(StoreError::Conflict(format!(
                        "the request is {}, not pending",
                        request.status
                    )));
                }
                let role = BuiltinRole::from_name(&request.role)
                    .ok_or_else(|| StoreError::Corrupt(format!("role `{}`", request.role)))?;
                check_grantable(held, role.permissions())?;
                let (action, changes) = match decision {
                    Decision::Approve => {
                        let expires = now.plus_secs(request.duration_minutes * 60);
                        tx.execute(
                            sqlx::query(
                                "UPDATE access_requests SET status = 'approved', decided_by = $3, \
                                 decided_at = $4, starts_at = $4, expires_at = $5 \
                                 WHERE org_id = $1 AND id = $2",
                            )
                            .bind(org.clone())
                            .bind(id.to_string())
                            .bind(by.clone())
                            .bind(now.micros())
                            .bind(expires.micros()),
                        )
                        .await?;
                        (
                            "access_request.approve",
                            Changes::new()
                                .field("status", "pending", "approved")
                                .created("starts_at", now.to_rfc3339())
                                .created("expires_at", expires.to_rfc3339()),
                        )
                    }
                    Decision::Deny => {
                        tx.execute(
                            sqlx::query(
                                "UPDATE access_requests SET status = 'denied', decided_by = $3, \
                                 decided_at = $4 WHERE org_id = $1 AND id = $2",
                            )
                            .bind(org.clone())
                            .bind(id.to_string())
                            .bind(by.clone())
                            .bind(now.micros()),
                        )
                        .await?;
                        (
                            "access_request.deny",
                            Changes::new().field("status", "pending", "denied"),
                        )
                    }
                };
                tx.record(
                    action,
                    "access_request",
                    Some(id.to_string()),
                    changes
                        .created("user_id", request.user_id.to_string())
                        .created("role", &request.role),
                );
                let row = tx
                    .fetch_optional(sqlx::query(&sql).bind(org).bind(id.to_string()))
                    .await?
                    .ok_or(StoreError::NotFound)?;
                decode(&row, now)
            })
        }))
        .await
    }

    /// Ends a pending or active request early: the requester's own, or any with `members:write`.
    pub async fn revoke_access(&self, id: AccessRequestId) -> Result<AccessRequest> {
        let scope = self.scope();
        scope.require_user()?;
        let caller = scope.user_id();
        let may_manage = scope.can(Permission::MEMBERS_WRITE);
        let by = actor_text(scope.actor());
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let org = tx.org().to_owned();
                let sql = format!("{REQUEST_SQL} AND a.id = $2");
                let now = Timestamp::now();
                let row = tx
                    .fetch_optional(sqlx::query(&sql).bind(org.clone()).bind(id.to_string()))
                    .await?
                    .ok_or(StoreError::NotFound)?;
                let request = decode(&row, now)?;
                if request.user_id != caller && !may_manage {
                    return Err(StoreError::Forbidden(Permission::MEMBERS_WRITE));
                }
                if request.status != "pending" && request.status != "active" {
                    return Err(StoreError::Conflict(format!(
                        "the request is {}; only pending requests and active grants can be revoked",
                        request.status
                    )));
                }
                tx.execute(
                    sqlx::query(
                        "UPDATE access_requests SET status = 'revoked', revoked_by = $3, \
                         revoked_at = $4 WHERE org_id = $1 AND id = $2",
                    )
                    .bind(org.clone())
                    .bind(id.to_string())
                    .bind(by)
                    .bind(now.micros()),
                )
                .await?;
                tx.record(
                    "access_request.revoke",
                    "access_request",
                    Some(id.to_string()),
                    Changes::new()
                        .field("status", &request.status, "revoked")
                        .created("user_id", request.user_id.to_string())
                        .created("role", &request.role),
                );
                let row = tx
                    .fetch_optional(sqlx::query(&sql).bind(org).bind(id.to_string()))
                    .await?
                    .ok_or(StoreError::NotFound)?;
                decode(&row, now)
            })
        }))
        .await
    }
}

impl Store {
    /// An operator files a support request for an existing user account that is not a member of
    /// the org; an Owner/Admin of the org approves it like any other. Audited in the org's chain
    /// with the operator as actor.
    pub async fn request_support_access(
        &self,
        org: OrgId,
        email: Email,
        new: NewAccessRequest,
        actor: Actor,
    ) -> Result<AccessRequestId> {
        let requested_by = actor_text(&actor);
        self.operator_write(
            org,
            actor,
            Box::new(move |tx| {
                Box::pin(async move {
                    tx.fetch_optional(
                        sqlx::query("SELECT status FROM orgs WHERE id = $1").bind(tx.org_text()),
                    )
                    .await?
                    .ok_or(StoreError::NotFound)?;
                    let user = tx
                        .fetch_optional(
                            sqlx::query("SELECT id FROM users WHERE email = $1")
                                .bind(email.as_str().to_owned()),
                        )
                        .await?
                        .ok_or_else(|| {
                            StoreError::Refused(format!("no user account with the email {email}"))
                        })?;
                    let user: UserId = parse_id(&user.try_get::<String, _>("id")?)?;
                    let member = tx
                        .fetch_optional(
                            sqlx::query(
                                "SELECT user_id FROM members WHERE org_id = $1 AND user_id = $2",
                            )
                            .bind(tx.org_text())
                            .bind(user.to_string()),
                        )
                        .await?;
                    if member.is_some() {
                        return Err(StoreError::Refused(format!(
                            "{email} is a member of this organization; members ask for access themselves"
                        )));
                    }
                    let id = AccessRequestId::new();
                    let org_text = tx.org_text();
                    insert_request(
                        tx.conn_mut(),
                        &org_text,
                        id,
                        "support",
                        user,
                        &new,
                        requested_by,
                    )
                    .await?;
                    tx.record(
                        "access_request.create",
                        "access_request",
                        Some(id.to_string()),
                        created_changes("support", user, &new).created("email", email.as_str()),
                    );
                    Ok(id)
                })
            }),
        )
        .await
    }
}
