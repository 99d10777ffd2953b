//! Roles of one org: the built-in ones, seeded with the org, and custom named permission sets.

use crate::error::{Result, StoreError};
use crate::instance::parse_id;
use crate::org::Org;
use crate::tx::OrgTx;
use labledger_domain::audit::Changes;
use labledger_domain::validate::{Description, RoleName};
use labledger_domain::{
    BuiltinRole, FieldError, OrgId, Permission, PermissionSet, RoleId, Timestamp,
};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

#[derive(Clone, Debug, Serialize)]
pub struct Role {
    pub id: RoleId,
    pub name: String,
    pub description: String,
    pub permissions: PermissionSet,
    pub builtin: bool,
    pub members: i64,
}

impl Role {
    pub fn is_owner_role(&self) -> bool {
        self.builtin && self.name == BuiltinRole::Owner.name()
    }
}

/// A change to a custom role; `None` leaves the field as it is.
#[derive(Clone, Debug, Default)]
pub struct RoleChange {
    pub name: Option<RoleName>,
    pub description: Option<Description>,
    pub permissions: Option<PermissionSet>,
}

const ROLE_COLUMNS: &str = "r.id, r.name, r.description, r.permissions, r.builtin, \
    (SELECT COUNT(*) FROM member_roles mr WHERE mr.org_id = r.org_id AND mr.role_id = r.id) AS members";

pub(crate) fn decode_role(r: &AnyRow) -> Result<Role> {
    Ok(Role {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        permissions: PermissionSet::parse_text(&r.try_get::<String, _>("permissions")?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        builtin: r.try_get::<i64, _>("builtin")? == 1,
        members: r.try_get("members")?,
    })
}

pub(crate) async fn seed_builtin(
    conn: &mut crate::write_conn::WriteConn,
    org: OrgId,
    now: i64,
) -> Result<Vec<(BuiltinRole, String)>> {
    let mut ids = Vec::new();
    for role in BuiltinRole::ALL {
        let id = RoleId::new().to_string();
        sqlx::query(
            "INSERT INTO roles (org_id, id, name, description, permissions, builtin, created_at) \
             VALUES ($1, $2, $3, $4, $5, 1, $6)",
        )
        .bind(org.to_string())
        .bind(&id)
        .bind(role.name())
        .bind(role.description())
        .bind(role.permissions().to_text())
        .bind(now)
        .execute(&mut *conn)
        .await?;
        ids.push((role, id));
    }
    Ok(ids)
}

/// All roles of the tx's org, read inside the transaction.
pub(crate) async fn all_in_tx(tx: &mut OrgTx<'_>) -> Result<Vec<Role>> {
    let org = tx.org().to_owned();
    let sql = format!("SELECT {ROLE_COLUMNS} FROM roles r WHERE r.org_id = $1 ORDER BY r.builtin DESC, r.created_at, r.name");
    tx.fetch_all(sqlx::query(&sql).bind(org))
        .await?
        .iter()
        .map(decode_role)
        .collect()
}

/// The rule for handing out permissions: only what the actor holds.
pub(crate) fn check_grantable(actor: PermissionSet, granted: PermissionSet) -> Result<()> {
    let missing = granted.difference(actor);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(StoreError::NotAllowed(format!(
            "you cannot grant permissions you do not hold: {}",
            missing.to_text()
        )))
    }
}

fn reserved(name: &RoleName) -> Result<()> {
    if BuiltinRole::from_name(name.as_str()).is_some() {
        return Err(FieldError::new("name", "is the name of a built-in role").into());
    }
    Ok(())
}

impl Org<'_> {
    pub async fn roles(&self) -> Result<Vec<Role>> {
        self.scope().require(Permission::MEMBERS_READ)?;
        let sql = format!("SELECT {ROLE_COLUMNS} FROM roles r WHERE r.org_id = $1 ORDER BY r.builtin DESC, r.created_at, r.name");
        let rows = sqlx::query(&sql)
            .bind(self.org_text())
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(decode_role).collect()
    }

    pub async fn role(&self, id: RoleId) -> Result<Role> {
        self.scope().require(Permission::MEMBERS_READ)?;
        let sql = format!("SELECT {ROLE_COLUMNS} FROM roles r WHERE r.org_id = $1 AND r.id = $2");
        let row = sqlx::query(&sql)
            .bind(self.org_text())
            .bind(id.to_string())
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound)?;
        decode_role(&row)
    }

    pub async fn create_role(
        &self,
        name: RoleName,
        description: Option<Description>,
        permissions: PermissionSet,
    ) -> Result<RoleId> {
        let scope = self.scope();
        scope.require(Permission::MEMBERS_WRITE)?;
        reserved(&name)?;
        check_grantable(scope.permissions(), permissions)?;
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let org = tx.org().to_owned();
                let taken = tx
                    .fetch_optional(sqlx::query("SELECT id FROM roles WHERE org_id = $1 AND name = $2").bind(org.clone()).bind(name.as_str().to_owned()))
                    .await?;
                if taken.is_some() {
                    return Err(StoreError::Conflict(format!("a role named `{name}` already exists")));
                }
                let id = RoleId::new();
                let description = description.map(Description::into_string).unwrap_or_default();
                tx.execute(
                    sqlx::query(
                        "INSERT INTO roles (org_id, id, name, description, permissions, builtin, created_at) \
                         VALUES ($1, $2, $3, $4, $5, 0, $6)",
                    )
                    .bind(org)
                    .bind(id.to_string())
                    .bind(name.as_str().to_owned())
                    .bind(description.clone())
                    .bind(permissions.to_text())
                    .bind(Timestamp::now().micros()),
                )
                .await?;
                tx.record(
                    "role.create",
                    "role",
                    Some(id.to_string()),
                    Changes::new()
                        .created("name", name.as_str())
                        .created("description", &description)
                        .created("permissions", permissions),
                );
                Ok(id)
            })
        }))
        .await
    }

    pub async fn update_role(&self, id: RoleId, change: RoleChange) -> Result<()> {
        let scope = self.scope();
        scope.require(Permission::MEMBERS_WRITE)?;
        if let Some(name) = &change.name {
            reserved(name)?;
        }
        let actor = scope.permissions();
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let roles = all_in_tx(tx).await?;
                let role = roles.iter().find(|r| r.id == id).ok_or(StoreError::NotFound)?;
                if role.builtin {
                    return Err(StoreError::Refused("built-in roles cannot be changed".into()));
                }
                // Editing a role hands its permissions to everyone holding it: the actor must
                // hold both what the role has and what it will have.
                check_grantable(actor, role.permissions)?;
                let name = change.name.map(RoleName::into_string).unwrap_or_else(|| role.name.clone());
                let description =
                    change.description.map(Description::into_string).unwrap_or_else(|| role.description.clone());
                let permissions = change.permissions.unwrap_or(role.permissions);
                check_grantable(actor, permissions)?;
                if roles.iter().any(|r| r.id != id && r.name == name) {
                    return Err(StoreError::Conflict(format!("a role named `{name}` already exists")));
                }
                let changes = Changes::new()
                    .field("name", &role.name, &name)
                    .field("description", &role.description, &description)
                    .field("permissions", role.permissions, permissions);
                if changes.is_empty() {
                    return Ok(());
                }
                let org = tx.org().to_owned();
                tx.execute(
                    sqlx::query("UPDATE roles SET name = $3, description = $4, permissions = $5 WHERE org_id = $1 AND id = $2")
                        .bind(org)
                        .bind(id.to_string())
                        .bind(name)
                        .bind(description)
                        .bind(permissions.to_text()),
                )
                .await?;
                tx.record("role.update", "role", Some(id.to_string()), changes);
                Ok(())
            })
        }))
        .await
    }

    pub async fn delete_role(&self, id: RoleId) -> Result<()> {
        let scope = self.scope();
        scope.require(Permission::MEMBERS_WRITE)?;
        let actor = scope.permissions();
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let roles = all_in_tx(tx).await?;
                let role = roles
                    .iter()
                    .find(|r| r.id == id)
                    .ok_or(StoreError::NotFound)?;
                if role.builtin {
                    return Err(StoreError::Refused(
                        "built-in roles cannot be deleted".into(),
                    ));
                }
                check_grantable(actor, role.permissions)?;
                if role.members > 0 {
                    return Err(StoreError::Conflict(format!(
                        "the role `{}` is held by {} member(s): take it from them first",
                        role.name, role.members
                    )));
                }
                let org = tx.org().to_owned();
                tx.execute(
                    sqlx::query("DELETE FROM roles WHERE org_id = $1 AND id = $2")
                        .bind(org)
                        .bind(id.to_string()),
                )
                .await?;
                tx.record(
                    "role.delete",
                    "role",
                    Some(id.to_string()),
                    Changes::new()
                        .removed("name", &role.name)
                        .removed("description", &role.description)
                        .removed("permissions", role.permissions),
                );
                Ok(())
            })
        }))
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cannot_grant_what_you_lack() {
        let mine: PermissionSet = [Permission::MEMBERS_READ, Permission::MEMBERS_WRITE]
            .into_iter()
            .collect();
        assert!(check_grantable(mine, [Permission::MEMBERS_READ].into_iter().collect()).is_ok());
        let err =
            check_grantable(mine, [Permission::AUDIT_READ].into_iter().collect()).unwrap_err();
        assert!(err.to_string().contains("audit:read"));
    }
}
