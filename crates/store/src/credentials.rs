//! Instance-level credential state: throttle counters of password guesses, the last login,
//! password changes (which end sessions) and password-reset tokens (stored as SHA-256 only).

use crate::engine::Engine;
use crate::error::Result;
use crate::instance::{parse_id, UserRecord};
use crate::Store;
use labledger_domain::throttle::{Counter, Decision, ThrottlePolicies, ThrottlePolicy};
use labledger_domain::{Timestamp, UserId};
use sqlx::Row;

/// Which counter a throttle key is, and so which policy judges it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThrottleScope {
    /// One account from one address.
    Pair,
    /// One account from every address.
    Account,
    /// One address against every account.
    Address,
}

/// One throttle key, its counter's scope, and whether it can be locked.
#[derive(Clone, Debug)]
pub struct ThrottleKey {
    pub key: String,
    pub scope: ThrottleScope,
    pub lockable: bool,
}

fn normalized_email(email: &str) -> String {
    email.trim().to_lowercase()
}

impl ThrottleKey {
    /// The account as seen from one address: locks quickly, and only there.
    pub fn pair(kind: &str, email: &str, ip: &str) -> Self {
        Self {
            key: format!("{kind}:pair:{}|{ip}", normalized_email(email)),
            scope: ThrottleScope::Pair,
            lockable: true,
        }
    }
    /// The account over every address: a higher, slower limit.
    pub fn account(kind: &str, email: &str) -> Self {
        Self {
            key: format!("{kind}:acct:{}", normalized_email(email)),
            scope: ThrottleScope::Account,
            lockable: true,
        }
    }
    pub fn address(kind: &str, ip: &str) -> Self {
        Self {
            key: format!("{kind}:ip:{ip}"),
            scope: ThrottleScope::Address,
            lockable: false,
        }
    }

    fn policy(&self, policies: &ThrottlePolicies) -> ThrottlePolicy {
        match self.scope {
            ThrottleScope::Pair => policies.pair,
            ThrottleScope::Account => policies.account,
            ThrottleScope::Address => policies.address,
        }
    }
}

fn decode_counter(r: &sqlx::any::AnyRow) -> Result<Counter> {
    let failures: i64 = r.try_get("failures")?;
    Ok(Counter {
        failures: u32::try_from(failures.max(0)).unwrap_or(u32::MAX),
        last_failure_at: Timestamp::from_micros(r.try_get("last_failure_at")?),
        locked_until: r
            .try_get::<Option<i64>, _>("locked_until")?
            .map(Timestamp::from_micros),
    })
}

impl Store {
    /// The strictest decision of the keys' counters for an attempt now. Reads only: an attempt
    /// refused here counts nothing.
    pub async fn throttle_decision(
        &self,
        keys: &[ThrottleKey],
        policies: &ThrottlePolicies,
    ) -> Result<Decision> {
        let now = Timestamp::now();
        let mut decision = Decision::Allow;
        for k in keys {
            let row = sqlx::query(
                "SELECT failures, last_failure_at, locked_until FROM auth_throttle WHERE key = $1",
            )
            .bind(k.key.clone())
            .fetch_optional(self.reader())
            .await?;
            if let Some(r) = row {
                decision = decision.max(k.policy(policies).decide(decode_counter(&r)?, now));
            }
        }
        Ok(decision)
    }

    /// Counts a checked attempt's failure against each key; returns the keys this failure
    /// locked.
    pub async fn throttle_failure(
        &self,
        keys: Vec<ThrottleKey>,
        policies: ThrottlePolicies,
    ) -> Result<Vec<String>> {
        let for_update = if self.engine() == Engine::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                let now = Timestamp::now();
                let mut locked = Vec::new();
                for k in keys {
                    sqlx::query(
                        "INSERT INTO auth_throttle (key, failures, last_failure_at, locked_until) \
                         VALUES ($1, 0, 0, NULL) ON CONFLICT (key) DO NOTHING",
                    )
                    .bind(k.key.clone())
                    .execute(&mut *conn)
                    .await?;
                    let sql = format!(
                        "SELECT failures, last_failure_at, locked_until FROM auth_throttle WHERE key = $1{for_update}"
                    );
                    let row = sqlx::query(&sql)
                        .bind(k.key.clone())
                        .fetch_one(&mut *conn)
                        .await?;
                    let (next, now_locked) = k.policy(&policies).after_failure(
                        decode_counter(&row)?,
                        now,
                        k.lockable,
                    );
                    sqlx::query(
                        "UPDATE auth_throttle SET failures = $2, last_failure_at = $3, locked_until = $4 WHERE key = $1",
                    )
                    .bind(k.key.clone())
                    .bind(i64::from(next.failures))
                    .bind(next.last_failure_at.micros())
                    .bind(next.locked_until.map(Timestamp::micros))
                    .execute(&mut *conn)
                    .await?;
                    if now_locked {
                        locked.push(k.key);
                    }
                }
                Ok(locked)
            })
        }))
        .await
    }

    /// Forgets a key's failures (after a successful login).
    pub async fn throttle_clear(&self, key: ThrottleKey) -> Result<()> {
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                sqlx::query("DELETE FROM auth_throttle WHERE key = $1")
                    .bind(key.key)
                    .execute(conn)
                    .await?;
                Ok(())
            })
        }))
        .await
    }

    /// Records a successful login (read by access reviews).
    pub async fn record_login(&self, user: UserId) -> Result<()> {
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                sqlx::query("UPDATE users SET last_login_at = $2 WHERE id = $1")
                    .bind(user.to_string())
                    .bind(Timestamp::now().micros())
                    .execute(conn)
                    .await?;
                Ok(())
            })
        }))
        .await
    }

    /// Sets a user's password hash and ends their sessions, except `keep` (the session that made
    /// the change). Returns how many sessions ended.
    pub async fn set_password(
        &self,
        user: UserId,
        password_hash: String,
        keep: Option<Vec<u8>>,
    ) -> Result<u64> {
        self.write(Box::new(move |conn| {
            Box::pin(async move { set_password_in(conn, user, &password_hash, keep).await })
        }))
        .await
    }

    /// Stores a password-reset token's hash for a user, valid for `ttl_secs`.
    pub async fn create_password_reset(
        &self,
        user: UserId,
        token_hash: Vec<u8>,
        ttl_secs: i64,
    ) -> Result<()> {
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                let now = Timestamp::now();
                sqlx::query(
                    "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at, used_at) \
                     VALUES ($1, $2, $3, $4, NULL)",
                )
                .bind(token_hash)
                .bind(user.to_string())
                .bind(now.micros())
                .bind(now.plus_secs(ttl_secs).micros())
                .execute(conn)
                .await?;
                Ok(())
            })
        }))
        .await
    }

    /// The user a live (unused, unexpired) reset token belongs to.
    pub async fn password_reset_user(&self, token_hash: &[u8]) -> Result<Option<UserRecord>> {
        let row = sqlx::query(
            "SELECT user_id FROM password_resets WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash.to_vec())
        .bind(Timestamp::now().micros())
        .fetch_optional(self.reader())
        .await?;
        match row {
            Some(r) => {
                self.user(parse_id(&r.try_get::<String, _>("user_id")?)?)
                    .await
            }
            None => Ok(None),
        }
    }

    /// Uses a reset token once: sets the password and ends every session of the user. Returns
    /// the user, or `None` when the token is unknown, used or expired.
    pub async fn consume_password_reset(
        &self,
        token_hash: Vec<u8>,
        password_hash: String,
    ) -> Result<Option<UserId>> {
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                let now = Timestamp::now().micros();
                let row = sqlx::query(
                    "UPDATE password_resets SET used_at = $2 \
                     WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id",
                )
                .bind(token_hash)
                .bind(now)
                .fetch_optional(&mut *conn)
                .await?;
                let Some(r) = row else { return Ok(None) };
                let user: UserId = parse_id(&r.try_get::<String, _>("user_id")?)?;
                set_password_in(conn, user, &password_hash, None).await?;
                // Every other outstanding reset of this user dies with this one.
                sqlx::query("UPDATE password_resets SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL")
                    .bind(user.to_string())
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                Ok(Some(user))
            })
        }))
        .await
    }
}

async fn set_password_in(
    conn: &mut crate::write_conn::WriteConn,
    user: UserId,
    password_hash: &str,
    keep: Option<Vec<u8>>,
) -> Result<u64> {
    sqlx::query("UPDATE users SET password_hash = $2, must_change_password = 0 WHERE id = $1")
        .bind(user.to_string())
        .bind(password_hash.to_owned())
        .execute(&mut *conn)
        .await?;
    let ended = match keep {
        Some(keep) => {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
                .bind(user.to_string())
                .bind(keep)
                .execute(&mut *conn)
                .await?
        }
        None => {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user.to_string())
                .execute(&mut *conn)
                .await?
        }
    };
    Ok(ended.rows_affected())
}
