//! The access review: what an org's admin checks regularly (members idle for long, members
//! without MFA, who holds privileged roles, API tokens near expiry or never used, live
//! just-in-time grants), in one read.

use crate::error::Result;
use crate::instance::parse_id;
use crate::org::Org;
use labledger_domain::{Permission, PermissionSet, Timestamp, UserId};
use serde::Serialize;
use sqlx::Row;

#[derive(Clone, Debug, Serialize)]
pub struct ReviewedMember {
    pub user_id: UserId,
    pub email: String,
    pub name: String,
    pub roles: Vec<String>,
    pub last_login_at: Option<Timestamp>,
    pub mfa: bool,
    /// Holds a role that manages members, roles or org settings.
    pub privileged: bool,
    /// Never logged in, or not within the review's idle window.
    pub idle: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct ReviewedToken {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub owner_email: String,
    pub expires_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub expiring_soon: bool,
    pub never_used: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct ActiveGrant {
    pub request_id: String,
    pub email: String,
    pub role: String,
    pub kind: String,
    pub expires_at: Option<Timestamp>,
}

#[derive(Clone, Debug, Serialize)]
pub struct AccessReview {
    pub idle_days: i64,
    pub members: Vec<ReviewedMember>,
    pub tokens: Vec<ReviewedToken>,
    pub grants: Vec<ActiveGrant>,
}

/// Tokens expiring within this many days are flagged.
const EXPIRY_WARNING_DAYS: i64 = 14;

fn privileged(perms: PermissionSet) -> bool {
    perms.contains(Permission::MEMBERS_WRITE) || perms.contains(Permission::ORG_SETTINGS_WRITE)
}

impl Org<'_> {
    pub async fn access_review(&self, idle_days: i64) -> Result<AccessReview> {
        self.scope().require(Permission::MEMBERS_READ)?;
        let now = Timestamp::now();
        let idle_since = now.plus_secs(-idle_days * 86_400);
        let rows = sqlx::query(
            "SELECT u.id, u.email, u.name, u.last_login_at, COALESCE(t.active, 0) AS mfa, r.name AS role, r.permissions \
             FROM members m JOIN users u ON u.id = m.user_id \
             LEFT JOIN user_totp t ON t.user_id = m.user_id \
             LEFT JOIN member_roles mr ON mr.org_id = m.org_id AND mr.user_id = m.user_id \
             LEFT JOIN roles r ON r.org_id = mr.org_id AND r.id = mr.role_id \
             WHERE m.org_id = $1 AND m.status = 'active' ORDER BY u.email, u.id, r.name",
        )
        .bind(self.org_text())
        .fetch_all(self.reader())
        .await?;
        let mut members: Vec<(ReviewedMember, PermissionSet)> = Vec::new();
        for r in &rows {
            let user_id: UserId = parse_id(&r.try_get::<String, _>("id")?)?;
            let perms = match r.try_get::<Option<String>, _>("permissions")? {
                Some(t) => PermissionSet::parse_text(&t).unwrap_or_default(),
                None => PermissionSet::EMPTY,
            };
            let role: Option<String> = r.try_get("role")?;
            match members.last_mut() {
                Some((m, p)) if m.user_id == user_id => {
                    m.roles.extend(role);
                    *p = p.union(perms);
                }
                _ => {
                    let last_login_at = r
                        .try_get::<Option<i64>, _>("last_login_at")?
                        .map(Timestamp::from_micros);
                    members.push((
                        ReviewedMember {
                            user_id,
                            email: r.try_get("email")?,
                            name: r.try_get("name")?,
                            roles: role.into_iter().collect(),
                            idle: last_login_at.is_none_or(|t| t < idle_since),
                            last_login_at,
                            mfa: r.try_get::<i64, _>("mfa")? == 1,
                            privileged: false,
                        },
                        perms,
                    ))
                }
            }
        }
        let members = members
            .into_iter()
            .map(|(mut m, p)| {
                m.privileged = privileged(p);
                m
            })
            .collect();

        let rows = sqlx::query(
            "SELECT t.id, t.name, t.prefix, u.email, t.expires_at, tu.last_used_at FROM api_tokens t \
             JOIN users u ON u.id = t.user_id LEFT JOIN token_usage tu ON tu.token_id = t.id \
             WHERE t.org_id = $1 AND t.revoked_at IS NULL AND t.expires_at > $2 ORDER BY t.expires_at",
        )
        .bind(self.org_text())
        .bind(now.micros())
        .fetch_all(self.reader())
        .await?;
        let soon = now.plus_secs(EXPIRY_WARNING_DAYS * 86_400);
        let tokens = rows
            .iter()
            .map(|r| {
                let expires_at = Timestamp::from_micros(r.try_get("expires_at")?);
                let last_used_at = r
                    .try_get::<Option<i64>, _>("last_used_at")?
                    .map(Timestamp::from_micros);
                Ok(ReviewedToken {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    prefix: r.try_get("prefix")?,
                    owner_email: r.try_get("email")?,
                    expiring_soon: expires_at < soon,
                    never_used: last_used_at.is_none(),
                    expires_at,
                    last_used_at,
                })
            })
            .collect::<Result<Vec<_>>>()?;

        let rows = sqlx::query(
            "SELECT a.id, u.email, a.role_name, a.kind, a.expires_at FROM access_requests a \
             JOIN users u ON u.id = a.user_id \
             WHERE a.org_id = $1 AND a.status = 'approved' AND a.starts_at <= $2 AND a.expires_at > $2 \
             ORDER BY a.expires_at",
        )
        .bind(self.org_text())
        .bind(now.micros())
        .fetch_all(self.reader())
        .await?;
        let grants = rows
            .iter()
            .map(|r| {
                Ok(ActiveGrant {
                    request_id: r.try_get("id")?,
                    email: r.try_get("email")?,
                    role: r.try_get("role_name")?,
                    kind: r.try_get("kind")?,
                    expires_at: r
                        .try_get::<Option<i64>, _>("expires_at")?
                        .map(Timestamp::from_micros),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(AccessReview {
            idle_days,
            members,
            tokens,
            grants,
        })
    }
}
