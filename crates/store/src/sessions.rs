//! Login sessions: opaque tokens, stored only as their SHA-256, with idle and absolute expiry.

use crate::error::Result;
use crate::instance::parse_id;
use crate::Store;
use labledger_domain::{Timestamp, UserId};
use sqlx::Row;

#[derive(Clone, Debug)]
pub struct Session {
    /// Public id, for listing and revoking (never the token or its hash).
    pub id: String,
    pub user_id: UserId,
    pub csrf_token: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
    /// When the password was last entered for this session (login or step-up).
    pub reauth_at: Timestamp,
    /// That entry came with a verified second factor (TOTP or recovery code).
    pub reauth_mfa: bool,
}

/// A session as its owner sees it in "where am I logged in".
#[derive(Clone, Debug, serde::Serialize)]
pub struct SessionInfo {
    pub id: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Clone, Debug)]
pub struct SessionUser {
    pub session: Session,
    pub email: String,
    pub name: String,
    /// The user has an active TOTP authenticator.
    pub mfa_active: bool,
    /// An operator reset their password: it serves only to choose a new one.
    pub must_change_password: bool,
}

impl Store {
    /// Opens a session; `mfa_verified` when the login brought a verified second factor.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_session(
        &self,
        token_hash: Vec<u8>,
        user: UserId,
        csrf_token: String,
        lifetime_secs: i64,
        source_ip: Option<String>,
        user_agent: Option<String>,
        mfa_verified: bool,
    ) -> Result<()> {
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                let now = Timestamp::now();
                sqlx::query(
                    "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, last_seen_at, expires_at, source_ip, user_agent, reauth_at, id, reauth_mfa) \
                     VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $4, $8, $9)",
                )
                .bind(token_hash)
                .bind(user.to_string())
                .bind(csrf_token)
                .bind(now.micros())
                .bind(now.plus_secs(lifetime_secs).micros())
                .bind(source_ip)
                .bind(user_agent)
                .bind(uuid::Uuid::now_v7().to_string())
                .bind(i64::from(mfa_verified))
                .execute(conn)
                .await?;
                Ok(())
            })
        }))
        .await
    }

    /// The live session for a token hash: none when unknown, past its absolute expiry, or idle
    /// for longer than `idle_secs`.
    pub async fn session(&self, token_hash: &[u8], idle_secs: i64) -> Result<Option<SessionUser>> {
        // An unknown token is read again each time (it may be one just made on another node).
        let found = self
            .inner
            .sessions
            .get_or_read(
                &self.inner.recall,
                token_hash.to_vec(),
                Option::is_some,
                || self.read_session(token_hash),
            )
            .await?;
        let Some(found) = found else {
            return Ok(None);
        };
        let now = Timestamp::now();
        let session = &found.session;
        if now >= session.expires_at || now >= session.last_seen_at.plus_secs(idle_secs) {
            return Ok(None);
        }
        Ok(Some(found))
    }

    async fn read_session(&self, token_hash: &[u8]) -> Result<Option<SessionUser>> {
        let row = sqlx::query(
            "SELECT s.id, s.user_id, s.csrf_token, s.created_at, s.last_seen_at, s.expires_at, s.reauth_at, s.reauth_mfa, u.email, u.name, u.must_change_password, \
             COALESCE(t.active, 0) AS mfa_active \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             LEFT JOIN user_totp t ON t.user_id = s.user_id WHERE s.token_hash = $1",
        )
        .bind(token_hash.to_vec())
        .fetch_optional(self.reader())
        .await?;
        let Some(r) = row else { return Ok(None) };
        let session = Session {
            id: r.try_get("id")?,
            user_id: parse_id(&r.try_get::<String, _>("user_id")?)?,
            csrf_token: r.try_get("csrf_token")?,
            created_at: Timestamp::from_micros(r.try_get("created_at")?),
            last_seen_at: Timestamp::from_micros(r.try_get("last_seen_at")?),
            expires_at: Timestamp::from_micros(r.try_get("expires_at")?),
            reauth_at: Timestamp::from_micros(r.try_get("reauth_at")?),
            reauth_mfa: r.try_get::<i64, _>("reauth_mfa")? == 1,
        };
        Ok(Some(SessionUser {
            session,
            email: r.try_get("email")?,
            name: r.try_get("name")?,
            mfa_active: r.try_get::<i64, _>("mfa_active")? == 1,
            must_change_password: r.try_get::<i64, _>("must_change_password")? == 1,
        }))
    }

    /// Marks a session as used now (callers do it at most about once a minute).
    pub async fn touch_session(&self, token_hash: Vec<u8>) -> Result<()> {
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE token_hash = $1")
                    .bind(token_hash)
                    .bind(Timestamp::now().micros())
                    .execute(conn)
                    .await?;
                Ok(())
            })
        }))
        .await
    }

    /// Step-up: the session moves to a new token (the old one is dead from now on) and its
    /// re-authentication time is now (`mfa_verified`: with a second factor). False when the old
    /// session no longer exists.
    pub async fn rotate_session(
        &self,
        old_hash: Vec<u8>,
        new_hash: Vec<u8>,
        mfa_verified: bool,
    ) -> Result<bool> {
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                let now = Timestamp::now().micros();
                let r = sqlx::query(
                    "UPDATE sessions SET token_hash = $2, reauth_at = $3, last_seen_at = $3, \
                     reauth_mfa = $4 WHERE token_hash = $1",
                )
                .bind(old_hash)
                .bind(new_hash)
                .bind(now)
                .bind(i64::from(mfa_verified))
                .execute(conn)
                .await?;
                Ok(r.rows_affected() == 1)
            })
        }))
        .await
    }

    pub async fn delete_session(&self, token_hash: Vec<u8>) -> Result<()> {
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                    .bind(token_hash)
                    .execute(conn)
                    .await?;
                Ok(())
            })
        }))
        .await
    }

    /// Drops sessions past their absolute expiry.
    pub async fn purge_expired_sessions(&self) -> Result<u64> {
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                let r = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                    .bind(Timestamp::now().micros())
                    .execute(conn)
                    .await?;
                Ok(r.rows_affected())
            })
        }))
        .await
    }

    /// The user's live sessions, newest first.
    pub async fn sessions_of(&self, user: UserId) -> Result<Vec<SessionInfo>> {
        let rows = sqlx::query(
            "SELECT id, created_at, last_seen_at, expires_at, source_ip, user_agent FROM sessions \
             WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at DESC",
        )
        .bind(user.to_string())
        .bind(Timestamp::now().micros())
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SessionInfo {
                    id: r.try_get("id")?,
                    created_at: Timestamp::from_micros(r.try_get("created_at")?),
                    last_seen_at: Timestamp::from_micros(r.try_get("last_seen_at")?),
                    expires_at: Timestamp::from_micros(r.try_get("expires_at")?),
                    source_ip: r.try_get("source_ip")?,
                    user_agent: r.try_get("user_agent")?,
                })
            })
            .collect()
    }

    /// Ends one of the user's sessions by its public id; false when they have no such session.
    pub async fn revoke_session(&self, user: UserId, id: String) -> Result<bool> {
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                let r = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id = $2")
                    .bind(user.to_string())
                    .bind(id)
                    .execute(conn)
                    .await?;
                Ok(r.rows_affected() > 0)
            })
        }))
        .await
    }

    /// Ends every session of the user but the one whose token hash is `keep`.
    pub async fn revoke_other_sessions(&self, user: UserId, keep: Vec<u8>) -> Result<u64> {
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                let r = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
                    .bind(user.to_string())
                    .bind(keep)
                    .execute(conn)
                    .await?;
                Ok(r.rows_affected())
            })
        }))
        .await
    }
}
