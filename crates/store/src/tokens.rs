//! API tokens: created by a user for one org with a subset of their permissions and an expiry,
//! stored only as their SHA-256. A token acts with `token.permissions ∩ the creator's current
//! permissions in its org`, so it never outlives a permission its creator lost.

use crate::error::{Result, StoreError};
use crate::instance::parse_id;
use crate::org::Org;
use crate::roles::check_grantable;
use crate::scope::{OrgScope, RequestMeta};
use crate::Store;
use labledger_domain::audit::Changes;
use labledger_domain::validate::TokenName;
use labledger_domain::{ApiTokenId, OrgId, Permission, PermissionSet, Timestamp, UserId};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

#[derive(Clone, Debug, Serialize)]
pub struct ApiToken {
    pub id: ApiTokenId,
    pub user_id: UserId,
    pub user_email: String,
    pub name: String,
    pub prefix: String,
    pub permissions: PermissionSet,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl ApiToken {
    /// `active`, `expired` or `revoked`.
    pub fn status(&self, now: Timestamp) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if now >= self.expires_at {
            "expired"
        } else {
            "active"
        }
    }
}

/// A token to store: the caller made the secret and hands over only its hash and display prefix.
#[derive(Clone, Debug)]
pub struct NewApiToken {
    pub name: TokenName,
    pub permissions: PermissionSet,
    pub expires_in_days: i64,
    pub token_hash: Vec<u8>,
    pub prefix: String,
}

/// What a bearer token resolves to for one org.
#[derive(Debug)]
pub enum TokenResolution {
    /// Unknown, expired or revoked, or its creator is no longer an active member of its org,
    /// or that org is disabled: 401.
    Invalid,
    /// A live token of another org: answered like an org that does not exist.
    OtherOrg,
    /// The org requires MFA and the token's creator has none: the token waits (403) until they
    /// enrol or the org drops the rule, as their sessions do.
    MfaEnrolmentRequired {
        creator: UserId,
    },
    Scope(OrgScope),
}

/// A token that may act: known, unexpired, unrevoked, its creator an active member of its
/// active org.
struct LiveToken {
    org: OrgId,
    id: ApiTokenId,
    creator: UserId,
    permissions: PermissionSet,
    last_used_at: Option<i64>,
    creator_has_mfa: bool,
    org_requires_mfa: bool,
}

const TOKEN_SQL: &str = "SELECT t.id, t.user_id, u.email, t.name, t.prefix, t.permissions, \
    t.created_at, t.expires_at, tu.last_used_at, t.revoked_at \
    FROM api_tokens t JOIN users u ON u.id = t.user_id \
    LEFT JOIN token_usage tu ON tu.token_id = t.id WHERE t.org_id = $1";

fn decode(r: &AnyRow) -> Result<ApiToken> {
    Ok(ApiToken {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        user_id: parse_id(&r.try_get::<String, _>("user_id")?)?,
        user_email: r.try_get("email")?,
        name: r.try_get("name")?,
        prefix: r.try_get("prefix")?,
        permissions: PermissionSet::parse_text(&r.try_get::<String, _>("permissions")?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        created_at: Timestamp::from_micros(r.try_get("created_at")?),
        expires_at: Timestamp::from_micros(r.try_get("expires_at")?),
        last_used_at: r
            .try_get::<Option<i64>, _>("last_used_at")?
            .map(Timestamp::from_micros),
        revoked_at: r
            .try_get::<Option<i64>, _>("revoked_at")?
            .map(Timestamp::from_micros),
    })
}

impl Org<'_> {
    /// Creates a token for the calling user (not a token) with a subset of their permissions.
    pub async fn create_api_token(&self, new: NewApiToken) -> Result<ApiToken> {
        let scope = self.scope();
        scope.require_user()?;
        if new.permissions.is_empty() {
            return Err(
                labledger_domain::FieldError::new("permissions", "name at least one").into(),
            );
        }
        check_grantable(scope.permissions(), new.permissions)?;
        let user = scope.user_id();
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let id = ApiTokenId::new();
                let now = Timestamp::now();
                let expires = now.plus_secs(new.expires_in_days * 86_400);
                let org = tx.org().to_owned();
                tx.execute(
                    sqlx::query(
                        "INSERT INTO api_tokens (org_id, id, user_id, name, prefix, token_hash, \
                         permissions, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(org.clone())
                    .bind(id.to_string())
                    .bind(user.to_string())
                    .bind(new.name.as_str().to_owned())
                    .bind(new.prefix.clone())
                    .bind(new.token_hash)
                    .bind(new.permissions.to_text())
                    .bind(now.micros())
                    .bind(expires.micros()),
                )
                .await?;
                tx.record(
                    "api_token.create",
                    "api_token",
                    Some(id.to_string()),
                    Changes::new()
                        .created("name", new.name.as_str())
                        .created("prefix", &new.prefix)
                        .created("user_id", user.to_string())
                        .created(
                            "permissions",
                            new.permissions
                                .iter()
                                .map(|p| p.to_string())
                                .collect::<Vec<_>>(),
                        )
                        .created("expires_at", expires.to_rfc3339()),
                );
                let sql = format!("{TOKEN_SQL} AND t.id = $2");
                let row = tx
                    .fetch_optional(sqlx::query(&sql).bind(org).bind(id.to_string()))
                    .await?
                    .ok_or(StoreError::NotFound)?;
                decode(&row)
            })
        }))
        .await
    }

    /// The caller's own tokens; with `members:write`, every token of the org.
    pub async fn api_tokens(&self) -> Result<Vec<ApiToken>> {
        let scope = self.scope();
        let rows = if scope.can(Permission::MEMBERS_WRITE) {
            sqlx::query(&format!("{TOKEN_SQL} ORDER BY t.created_at DESC, t.id"))
                .bind(self.org_text())
                .fetch_all(self.reader())
                .await?
        } else {
            sqlx::query(&format!(
                "{TOKEN_SQL} AND t.user_id = $2 ORDER BY t.created_at DESC, t.id"
            ))
            .bind(self.org_text())
            .bind(scope.user_id().to_string())
            .fetch_all(self.reader())
            .await?
        };
        rows.iter().map(decode).collect()
    }

    /// Revokes a live token: one's own, or any with `members:write`.
    pub async fn revoke_api_token(&self, id: ApiTokenId) -> Result<()> {
        let scope = self.scope();
        let caller = scope.user_id();
        let may_manage = scope.can(Permission::MEMBERS_WRITE);
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let org = tx.org().to_owned();
                let sql = format!("{TOKEN_SQL} AND t.id = $2 AND t.revoked_at IS NULL");
                let row = tx
                    .fetch_optional(sqlx::query(&sql).bind(org.clone()).bind(id.to_string()))
                    .await?
                    .ok_or(StoreError::NotFound)?;
                let token = decode(&row)?;
                if token.user_id != caller && !may_manage {
                    return Err(StoreError::Forbidden(Permission::MEMBERS_WRITE));
                }
                let now = Timestamp::now();
                tx.execute(
                    sqlx::query(
                        "UPDATE api_tokens SET revoked_at = $3 WHERE org_id = $1 AND id = $2",
                    )
                    .bind(org)
                    .bind(id.to_string())
                    .bind(now.micros()),
                )
                .await?;
                tx.record(
                    "api_token.revoke",
                    "api_token",
                    Some(id.to_string()),
                    Changes::new()
                        .field("status", "active", "revoked")
                        .removed("name", &token.name),
                );
                Ok(())
            })
        }))
        .await
    }
}

impl Store {
    /// The token behind a hash if it may act at all (whatever org it is used on).
    async fn live_token(&self, token_hash: &[u8]) -> Result<Option<LiveToken>> {
        let row = sqlx::query(
            "SELECT t.org_id, t.id, t.user_id, t.permissions, t.expires_at, tu.last_used_at, \
             t.revoked_at, o.status AS org_status, o.require_mfa, m.status AS member_status, \
             COALESCE(u.active, 0) AS mfa_active \
             FROM api_tokens t JOIN orgs o ON o.id = t.org_id \
             LEFT JOIN token_usage tu ON tu.token_id = t.id \
             LEFT JOIN members m ON m.org_id = t.org_id AND m.user_id = t.user_id \
             LEFT JOIN user_totp u ON u.user_id = t.user_id \
             WHERE t.token_hash = $1",
        )
        .bind(token_hash.to_vec())
        .fetch_optional(self.reader())
        .await?;
        let Some(r) = row else {
            return Ok(None);
        };
        let revoked: Option<i64> = r.try_get("revoked_at")?;
        let expires = Timestamp::from_micros(r.try_get("expires_at")?);
        let org_status: String = r.try_get("org_status")?;
        let member_status: Option<String> = r.try_get("member_status")?;
        // A deactivated or departed creator, or a disabled org, kills the token (a JIT or
        // support grant of the creator does not revive it).
        if revoked.is_some()
            || Timestamp::now() >= expires
            || org_status != "active"
            || member_status.as_deref() != Some("active")
        {
            return Ok(None);
        }
        Ok(Some(LiveToken {
            org: parse_id(&r.try_get::<String, _>("org_id")?)?,
            id: parse_id(&r.try_get::<String, _>("id")?)?,
            creator: parse_id(&r.try_get::<String, _>("user_id")?)?,
            permissions: PermissionSet::parse_text(&r.try_get::<String, _>("permissions")?)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            last_used_at: r.try_get("last_used_at")?,
            creator_has_mfa: r.try_get::<i64, _>("mfa_active")? == 1,
            org_requires_mfa: r.try_get::<i64, _>("require_mfa")? == 1,
        }))
    }

    /// Whether a bearer token may act at all (for routes that refuse tokens: 403 for a live
    /// one, 401 for any other).
    pub async fn api_token_is_live(&self, token_hash: &[u8]) -> Result<bool> {
        Ok(self.live_token(token_hash).await?.is_some())
    }

    /// The scope a bearer token acts in within `org`: its permissions ∩ its creator's current
    /// ones, under the creator's project limit. Marks the token used (at most about once a
    /// minute) in `token_usage`, instance-level bookkeeping outside the org's audited tables.
    pub async fn resolve_token_scope(
        &self,
        token_hash: &[u8],
        org: OrgId,
        meta: RequestMeta,
    ) -> Result<TokenResolution> {
        let Some(token) = self.live_token(token_hash).await? else {
            return Ok(TokenResolution::Invalid);
        };
        let now = Timestamp::now();
        let (token_org, id, creator, permissions) =
            (token.org, token.id, token.creator, token.permissions);
        let scope = match self.resolve_scope(creator, token_org, meta).await {
            Ok(Some(scope)) => scope,
            // The creator left the org, or it was disabled meanwhile: the token is dead.
            Ok(None) | Err(StoreError::OrgDisabled) => return Ok(TokenResolution::Invalid),
            Err(e) => return Err(e),
        };
        if token_org != org {
            return Ok(TokenResolution::OtherOrg);
        }
        if token.org_requires_mfa && !token.creator_has_mfa {
            return Ok(TokenResolution::MfaEnrolmentRequired { creator });
        }
        let last_used = token.last_used_at;
        if last_used.is_none_or(|t| now >= Timestamp::from_micros(t).plus_secs(60)) {
            self.write(Box::new(move |conn| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO token_usage (token_id, last_used_at) VALUES ($1, $2) \
                         ON CONFLICT (token_id) DO UPDATE SET last_used_at = excluded.last_used_at",
                    )
                    .bind(id.to_string())
                    .bind(now.micros())
                    .execute(conn)
                    .await?;
                    Ok(())
                })
            }))
            .await?;
        }
        Ok(TokenResolution::Scope(
            scope.narrowed_to_token(id, permissions),
        ))
    }
}
