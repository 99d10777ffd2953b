//! What operators may do with user accounts on instances without mail: list them and give one a
//! one-time password. No org data is read; each org the user belongs to records the reset in its
//! audit chain, with the operator as actor.

use crate::error::{Result, StoreError};
use crate::instance::parse_id;
use crate::operator::run_in_chain;
use crate::scope::Actor;
use crate::Store;
use labledger_domain::audit::Changes;
use labledger_domain::{OrgId, Timestamp, UserId};
use sqlx::Row;

/// A user account as an operator sees it.
#[derive(Clone, Debug)]
pub struct UserListing {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub created_at: Timestamp,
    pub mfa: bool,
    /// Organizations they are an active member of.
    pub orgs: i64,
    /// Their password was reset by an operator and not yet changed.
    pub must_change_password: bool,
}

/// What a password reset by an operator did.
#[derive(Clone, Debug)]
pub struct OperatorReset {
    pub user: UserId,
    pub sessions_ended: u64,
    /// The orgs whose chains record the reset.
    pub orgs: usize,
}

impl Store {
    /// Every user account, by email.
    pub async fn list_users(&self) -> Result<Vec<UserListing>> {
        let rows = sqlx::query(
            "SELECT u.id, u.email, u.name, u.created_at, u.must_change_password, \
             COALESCE(t.active, 0) AS mfa, \
             (SELECT COUNT(*) FROM members m WHERE m.user_id = u.id AND m.status = 'active') AS orgs \
             FROM users u LEFT JOIN user_totp t ON t.user_id = u.id ORDER BY u.email",
        )
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(UserListing {
                    id: parse_id(&r.try_get::<String, _>("id")?)?,
                    email: r.try_get("email")?,
                    name: r.try_get("name")?,
                    created_at: Timestamp::from_micros(r.try_get("created_at")?),
                    mfa: r.try_get::<i64, _>("mfa")? == 1,
                    orgs: r.try_get("orgs")?,
                    must_change_password: r.try_get::<i64, _>("must_change_password")? == 1,
                })
            })
            .collect()
    }

    /// Gives the user of `email` a new password (its hash) that works only for choosing another
    /// one, and ends every session of theirs, in one transaction that also appends
    /// `member.password_reset` to the chain of each org they belong to.
    pub async fn reset_password_by_operator(
        &self,
        email: String,
        password_hash: String,
        actor: Actor,
    ) -> Result<OperatorReset> {
        let engine = self.engine();
        let key = self.head_seal()?.clone();
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                let user: UserId = match sqlx::query("SELECT id FROM users WHERE email = $1")
                    .bind(&email)
                    .fetch_optional(&mut *conn)
                    .await?
                {
                    Some(row) => parse_id(&row.try_get::<String, _>("id")?)?,
                    None => {
                        return Err(StoreError::Refused(format!(
                            "no user with the email {email}"
                        )))
                    }
                };
                sqlx::query(
                    "UPDATE users SET password_hash = $2, must_change_password = 1 WHERE id = $1",
                )
                .bind(user.to_string())
                .bind(password_hash)
                .execute(&mut *conn)
                .await?;
                let sessions_ended = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(user.to_string())
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                let orgs: Vec<OrgId> =
                    sqlx::query("SELECT org_id FROM members WHERE user_id = $1 ORDER BY org_id")
                        .bind(user.to_string())
                        .fetch_all(&mut *conn)
                        .await?
                        .iter()
                        .map(|r| parse_id(&r.try_get::<String, _>("org_id")?))
                        .collect::<Result<_>>()?;
                for org in &orgs {
                    run_in_chain(
                        conn,
                        engine,
                        &key,
                        *org,
                        &actor,
                        Box::new(move |tx| {
                            Box::pin(async move {
                                tx.record(
                                    "member.password_reset",
                                    "member",
                                    Some(user.to_string()),
                                    Changes::new()
                                        .field("must_change_password", false, true)
                                        .created("sessions_ended", sessions_ended),
                                );
                                Ok(())
                            })
                        }),
                    )
                    .await?;
                }
                Ok(OperatorReset {
                    user,
                    sessions_ended,
                    orgs: orgs.len(),
                })
            })
        }))
        .await
    }
}
