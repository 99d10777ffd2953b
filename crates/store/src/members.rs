//! Members of one org and the roles they hold.

use crate::error::{Result, StoreError};
use crate::instance::{insert_user, parse_id};
use crate::org::Org;
use crate::roles::{all_in_tx, check_grantable, Role};
use crate::tx::OrgTx;
use labledger_domain::audit::Changes;
use labledger_domain::validate::{Email, PersonName};
use labledger_domain::{FieldError, FieldErrors, Permission, PermissionSet, Timestamp, UserId};
use serde::Serialize;
use sqlx::Row;

#[derive(Clone, Debug, Serialize)]
pub struct Member {
    pub user_id: UserId,
    pub email: String,
    pub name: String,
    pub roles: Vec<String>,
    pub joined_at: Timestamp,
    /// A deactivated member keeps their history but reaches nothing in the org.
    pub active: bool,
}

/// A member to add. A person without an account gets one, with the given password hash.
#[derive(Clone, Debug)]
pub struct NewMember {
    pub email: Email,
    pub name: PersonName,
    pub password_hash: String,
    pub roles: Vec<String>,
}

const MEMBER_SQL: &str =
    "SELECT u.id, u.email, u.name, m.created_at, m.status, r.name AS role FROM members m \
    JOIN users u ON u.id = m.user_id \
    LEFT JOIN member_roles mr ON mr.org_id = m.org_id AND mr.user_id = m.user_id \
    LEFT JOIN roles r ON r.org_id = mr.org_id AND r.id = mr.role_id \
    WHERE m.org_id = $1";

fn group_members(rows: &[sqlx::any::AnyRow]) -> Result<Vec<Member>> {
    let mut out: Vec<Member> = Vec::new();
    for r in rows {
        let user_id: UserId = parse_id(&r.try_get::<String, _>("id")?)?;
        let role: Option<String> = r.try_get("role")?;
        match out.last_mut() {
            Some(m) if m.user_id == user_id => m.roles.extend(role),
            _ => out.push(Member {
                user_id,
                email: r.try_get("email")?,
                name: r.try_get("name")?,
                roles: role.into_iter().collect(),
                joined_at: Timestamp::from_micros(r.try_get("created_at")?),
                active: r.try_get::<String, _>("status")? == "active",
            }),
        }
    }
    Ok(out)
}

/// Resolves role names (case-insensitively) to the org's roles; names each unknown one.
pub(crate) fn pick_roles<'r>(all: &'r [Role], names: &[String]) -> Result<Vec<&'r Role>> {
    let mut errors = FieldErrors::default();
    let mut picked: Vec<&Role> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        match all
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(name.trim()))
        {
            Some(role) if !picked.iter().any(|p| p.id == role.id) => picked.push(role),
            Some(_) => {}
            None => errors.push(FieldError::new(
                format!("roles[{i}]"),
                format!("no role named `{name}` in this organization"),
            )),
        }
    }
    errors.into_result().map_err(StoreError::Invalid)?;
    Ok(picked)
}

fn union(roles: &[&Role]) -> PermissionSet {
    roles
        .iter()
        .fold(PermissionSet::EMPTY, |acc, r| acc.union(r.permissions))
}

pub(crate) fn names(roles: &[&Role]) -> Vec<String> {
    let mut v: Vec<String> = roles.iter().map(|r| r.name.clone()).collect();
    v.sort();
    v
}

/// What the actor may do to a member: hand out only permissions they hold, and leave Owners to
/// Owners.
pub(crate) struct Grantor {
    pub(crate) permissions: PermissionSet,
    pub(crate) is_owner: bool,
}

impl Grantor {
    pub(crate) fn may_assign(&self, roles: &[&Role]) -> Result<()> {
        if roles.iter().any(|r| r.is_owner_role()) && !self.is_owner {
            return Err(StoreError::NotAllowed(
                "only an Owner can grant or take the Owner role".into(),
            ));
        }
        check_grantable(self.permissions, union(roles))
    }
}

pub(crate) async fn member_in_tx(tx: &mut OrgTx<'_>, user: UserId) -> Result<Member> {
    let org = tx.org().to_owned();
    let sql = format!("{MEMBER_SQL} AND m.user_id = $2 ORDER BY r.name");
    let rows = tx
        .fetch_all(sqlx::query(&sql).bind(org).bind(user.to_string()))
        .await?;
    group_members(&rows)?
        .into_iter()
        .next()
        .ok_or(StoreError::NotFound)
}

/// Makes `user` a member of the tx's org holding `roles`; a clash if they already are one.
pub(crate) async fn insert_membership(
    tx: &mut OrgTx<'_>,
    user: UserId,
    email: &str,
    roles: &[&Role],
    now: i64,
) -> Result<()> {
    let org = tx.org().to_owned();
    let already = tx
        .fetch_optional(
            sqlx::query("SELECT user_id FROM members WHERE org_id = $1 AND user_id = $2")
                .bind(org.clone())
                .bind(user.to_string()),
        )
        .await?;
    if already.is_some() {
        return Err(StoreError::Conflict(format!("{email} is already a member")));
    }
    tx.execute(
        sqlx::query("INSERT INTO members (org_id, user_id, created_at) VALUES ($1, $2, $3)")
            .bind(org.clone())
            .bind(user.to_string())
            .bind(now),
    )
    .await?;
    for role in roles {
        tx.execute(
            sqlx::query("INSERT INTO member_roles (org_id, user_id, role_id) VALUES ($1, $2, $3)")
                .bind(org.clone())
                .bind(user.to_string())
                .bind(role.id.to_string()),
        )
        .await?;
    }
    Ok(())
}

async fn owner_count(tx: &mut OrgTx<'_>) -> Result<i64> {
    let org = tx.org().to_owned();
    let row = tx
        .fetch_optional(
            sqlx::query(
                "SELECT COUNT(*) AS n FROM member_roles mr JOIN roles r ON r.org_id = mr.org_id AND r.id = mr.role_id \
                 JOIN members m ON m.org_id = mr.org_id AND m.user_id = mr.user_id \
                 WHERE mr.org_id = $1 AND r.builtin = 1 AND r.name = $2 AND m.status = 'active'",
            )
            .bind(org)
            .bind(labledger_domain::BuiltinRole::Owner.name()),
        )
        .await?;
    Ok(match row {
        Some(r) => r.try_get("n")?,
        None => 0,
    })
}

impl Org<'_> {
    pub async fn members(&self) -> Result<Vec<Member>> {
        self.scope().require(Permission::MEMBERS_READ)?;
        let sql = format!("{MEMBER_SQL} ORDER BY u.email, u.id, r.name");
        let rows = sqlx::query(&sql)
            .bind(self.org_text())
            .fetch_all(self.reader())
            .await?;
        group_members(&rows)
    }

    pub async fn member(&self, user: UserId) -> Result<Member> {
        self.scope().require(Permission::MEMBERS_READ)?;
        let sql = format!("{MEMBER_SQL} AND m.user_id = $2 ORDER BY r.name");
        let rows = sqlx::query(&sql)
            .bind(self.org_text())
            .bind(user.to_string())
            .fetch_all(self.reader())
            .await?;
        group_members(&rows)?
            .into_iter()
            .next()
            .ok_or(StoreError::NotFound)
    }

    /// Adds a person as a member with the given roles. Returns the member and whether a new
    /// account was made for them.
    pub async fn add_member(&self, new: NewMember) -> Result<(Member, bool)> {
        let scope = self.scope();
        scope.require(Permission::MEMBERS_WRITE)?;
        let grantor = Grantor {
            permissions: scope.permissions(),
            is_owner: scope.is_owner(),
        };
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let all = all_in_tx(tx).await?;
                let roles = pick_roles(&all, &new.roles)?;
                grantor.may_assign(&roles)?;
                let existing = tx
                    .fetch_optional(
                        sqlx::query("SELECT id FROM users WHERE email = $1")
                            .bind(new.email.as_str().to_owned()),
                    )
                    .await?;
                let now = Timestamp::now().micros();
                let (user, created) = match existing {
                    Some(row) => (parse_id::<UserId>(&row.try_get::<String, _>("id")?)?, false),
                    None => (UserId::new(), true),
                };
                if created {
                    tx.execute_unscoped_user_insert(
                        user,
                        &new.email,
                        &new.name,
                        &new.password_hash,
                        now,
                    )
                    .await?;
                }
                insert_membership(tx, user, new.email.as_str(), &roles, now).await?;
                tx.record(
                    "member.add",
                    "member",
                    Some(user.to_string()),
                    Changes::new()
                        .created("email", new.email.as_str())
                        .created("roles", names(&roles))
                        .created("account_created", created),
                );
                Ok((member_in_tx(tx, user).await?, created))
            })
        }))
        .await
    }

    /// Replaces a member's roles.
    pub async fn set_member_roles(&self, user: UserId, role_names: Vec<String>) -> Result<Member> {
        let scope = self.scope();
        scope.require(Permission::MEMBERS_WRITE)?;
        let grantor = Grantor {
            permissions: scope.permissions(),
            is_owner: scope.is_owner(),
        };
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let current = member_in_tx(tx, user).await?;
                let all = all_in_tx(tx).await?;
                let before = pick_roles(&all, &current.roles)?;
                let after = pick_roles(&all, &role_names)?;
                // Managing a member means holding at least what they hold, before and after.
                grantor.may_assign(&before)?;
                grantor.may_assign(&after)?;
                let (before_names, after_names) = (names(&before), names(&after));
                if before_names == after_names {
                    return Ok(current);
                }
                let org = tx.org().to_owned();
                tx.execute(
                    sqlx::query("DELETE FROM member_roles WHERE org_id = $1 AND user_id = $2")
                        .bind(org.clone())
                        .bind(user.to_string()),
                )
                .await?;
                for role in &after {
                    tx.execute(
                        sqlx::query("INSERT INTO member_roles (org_id, user_id, role_id) VALUES ($1, $2, $3)")
                            .bind(org.clone())
                            .bind(user.to_string())
                            .bind(role.id.to_string()),
                    )
                    .await?;
                }
                if owner_count(tx).await? == 0 {
                    return Err(StoreError::Refused("the last Owner of an organization cannot give up the Owner role".into()));
                }
                tx.record(
                    "member.roles_change",
                    "member",
                    Some(user.to_string()),
                    Changes::new().field("roles", before_names, after_names),
                );
                member_in_tx(tx, user).await
            })
        }))
        .await
    }

    pub async fn remove_member(&self, user: UserId) -> Result<()> {
        let scope = self.scope();
        scope.require(Permission::MEMBERS_WRITE)?;
        let grantor = Grantor {
            permissions: scope.permissions(),
            is_owner: scope.is_owner(),
        };
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let current = member_in_tx(tx, user).await?;
                let all = all_in_tx(tx).await?;
                let roles = pick_roles(&all, &current.roles)?;
                grantor.may_assign(&roles)?;
                let org = tx.org().to_owned();
                tx.execute(
                    sqlx::query("DELETE FROM member_roles WHERE org_id = $1 AND user_id = $2")
                        .bind(org.clone())
                        .bind(user.to_string()),
                )
                .await?;
                tx.execute(
                    sqlx::query("DELETE FROM members WHERE org_id = $1 AND user_id = $2")
                        .bind(org)
                        .bind(user.to_string()),
                )
                .await?;
                if owner_count(tx).await? == 0 {
                    return Err(StoreError::Refused(
                        "the last Owner of an organization cannot be removed".into(),
                    ));
                }
                tx.record(
                    "member.remove",
                    "member",
                    Some(user.to_string()),
                    Changes::new()
                        .removed("email", &current.email)
                        .removed("roles", names(&roles)),
                );
                Ok(())
            })
        }))
        .await
    }

    /// Deactivates (or reactivates) a member. Deactivation ends all their sessions at once; the
    /// last active Owner cannot be deactivated.
    pub async fn set_member_active(&self, user: UserId, active: bool) -> Result<Member> {
        let scope = self.scope();
        scope.require(Permission::MEMBERS_WRITE)?;
        if !active && user == scope.user_id() {
            return Err(StoreError::Refused("you cannot deactivate yourself".into()));
        }
        let grantor = Grantor {
            permissions: scope.permissions(),
            is_owner: scope.is_owner(),
        };
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let current = member_in_tx(tx, user).await?;
                let all = all_in_tx(tx).await?;
                grantor.may_assign(&pick_roles(&all, &current.roles)?)?;
                if current.active == active {
                    return Ok(current);
                }
                let org = tx.org().to_owned();
                let status = if active { "active" } else { "deactivated" };
                tx.execute(
                    sqlx::query(
                        "UPDATE members SET status = $3 WHERE org_id = $1 AND user_id = $2",
                    )
                    .bind(org)
                    .bind(user.to_string())
                    .bind(status),
                )
                .await?;
                let mut changes = Changes::new().field("active", current.active, active);
                if !active {
                    if owner_count(tx).await? == 0 {
                        return Err(StoreError::Refused(
                            "the last Owner of an organization cannot be deactivated".into(),
                        ));
                    }
                    let ended = end_sessions(tx, user).await?;
                    changes = changes.field("sessions_ended", 0, ended);
                }
                let action = if active {
                    "member.reactivate"
                } else {
                    "member.deactivate"
                };
                tx.record(action, "member", Some(user.to_string()), changes);
                member_in_tx(tx, user).await
            })
        }))
        .await
    }

    /// Ends every session of a member (e.g. a lost laptop), audited in the org.
    pub async fn revoke_member_sessions(&self, user: UserId) -> Result<u64> {
        let scope = self.scope();
        scope.require(Permission::MEMBERS_WRITE)?;
        let grantor = Grantor {
            permissions: scope.permissions(),
            is_owner: scope.is_owner(),
        };
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let current = member_in_tx(tx, user).await?;
                let all = all_in_tx(tx).await?;
                grantor.may_assign(&pick_roles(&all, &current.roles)?)?;
                let ended = end_sessions(tx, user).await?;
                tx.record(
                    "member.sessions_revoke",
                    "member",
                    Some(user.to_string()),
                    Changes::new().field("sessions_ended", 0, ended),
                );
                Ok(ended)
            })
        }))
        .await
    }
}

/// Sessions are instance records; ending them from an org write is recorded in that org's event.
async fn end_sessions(tx: &mut OrgTx<'_>, user: UserId) -> Result<u64> {
    let r = tx
        .execute(sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user.to_string()))
        .await?;
    Ok(r.rows_affected())
}

impl OrgTx<'_> {
    /// Creating an account for a new member is the one write of instance data an org write may
    /// make; it is recorded in the org's `member.add` event.
    pub(crate) async fn execute_unscoped_user_insert(
        &mut self,
        user: UserId,
        email: &Email,
        name: &PersonName,
        password_hash: &str,
        now: i64,
    ) -> Result<()> {
        insert_user(self.conn_mut(), user, email, name, password_hash, now).await
    }
}
