//! Projects of one org and their member lists, and which members are limited to their projects.
//! Every change is an audit event whose action begins with `project.` (or `member.` for a
//! member's project limit).

use crate::error::{Result, StoreError};
use crate::instance::parse_id;
use crate::org::Org;
use crate::tx::OrgTx;
use crate::visibility::{Kind, Viewer};
use labledger_domain::audit::Changes;
use labledger_domain::project::ProjectStatus;
use labledger_domain::{Permission, ProjectId, Timestamp, UserId};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

#[derive(Clone, Debug, Serialize)]
pub struct Project {
    pub id: ProjectId,
    pub name: String,
    pub description: Option<String>,
    pub status: ProjectStatus,
    pub created_by: String,
    pub member_count: i64,
    pub sample_count: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Clone, Debug, Serialize)]
pub struct ProjectMember {
    pub user_id: UserId,
    pub name: String,
    pub email: String,
    pub added_at: Timestamp,
}

/// A change to a project's name, description or status; `None` keeps the value.
#[derive(Clone, Debug, Default)]
pub struct ProjectChange {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub status: Option<ProjectStatus>,
}

const COLUMNS: &str = "p.id, p.name, p.description, p.status, p.created_by, p.created_at, p.updated_at, \
    (SELECT COUNT(*) FROM project_members pm WHERE pm.org_id = p.org_id AND pm.project_id = p.id) AS member_count, \
    (SELECT COUNT(*) FROM samples s WHERE s.org_id = p.org_id AND s.project_id = p.id) AS sample_count";

/// One project by id as `viewer` may see it (`$1` org, `$2` id, `$3` the viewer).
fn select_one(viewer: &Viewer) -> String {
    format!(
        "SELECT {COLUMNS} FROM projects p WHERE p.org_id = $1 AND p.id = $2{}",
        viewer.filter(Kind::Project, "p", 3)
    )
}

fn decode(r: &AnyRow) -> Result<Project> {
    let status: String = r.try_get("status")?;
    Ok(Project {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        status: ProjectStatus::parse("status", &status)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        created_by: r.try_get("created_by")?,
        member_count: r.try_get("member_count")?,
        sample_count: r.try_get("sample_count")?,
        created_at: Timestamp::from_micros(r.try_get("created_at")?),
        updated_at: Timestamp::from_micros(r.try_get("updated_at")?),
    })
}

/// Loads a project the write's caller may see (else `NotFound`).
async fn project_in_tx(tx: &mut OrgTx<'_>, id: ProjectId) -> Result<Project> {
    let org = tx.org().to_owned();
    let viewer = tx.viewer().clone();
    let sql = select_one(&viewer);
    let row = tx
        .fetch_optional(viewer.bind(sqlx::query(&sql).bind(org).bind(id.to_string())))
        .await?
        .ok_or(StoreError::NotFound)?;
    decode(&row)
}

/// Checks, inside a write, that records may be filed under `project` by `user`: it exists, is
/// active, and a project-limited caller belongs to it. Used by every record type that names one.
pub(crate) async fn check_filing(
    tx: &mut OrgTx<'_>,
    project: ProjectId,
    user: UserId,
    limited: bool,
    field: &str,
) -> Result<()> {
    let org = tx.org().to_owned();
    let row = tx
        .fetch_optional(
            sqlx::query(
                // unscoped: the filing rule checks the caller's membership itself (`mine`)
                "SELECT p.status, EXISTS (SELECT 1 FROM project_members pm WHERE pm.org_id = p.org_id \
                 AND pm.project_id = p.id AND pm.user_id = $3) AS mine \
                 FROM projects p WHERE p.org_id = $1 AND p.id = $2",
            )
            .bind(org)
            .bind(project.to_string())
            .bind(user.to_string()),
        )
        .await?;
    let missing =
        || labledger_domain::FieldError::new(field, "no such project in this organization");
    let Some(row) = row else {
        return Err(missing().into());
    };
    // EXISTS is a boolean on PostgreSQL and an integer on SQLite.
    let mine = row
        .try_get::<bool, _>("mine")
        .or_else(|_| row.try_get::<i64, _>("mine").map(|n| n != 0))?;
    if limited && !mine {
        return Err(missing().into());
    }
    let status: String = row.try_get("status")?;
    ProjectStatus::parse("status", &status)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?
        .takes_records()
        .map_err(|e| StoreError::Refused(e.to_string()))
}

/// Refuses a user who is not an active member of the org, as a field error.
async fn require_member(tx: &mut OrgTx<'_>, user: UserId) -> Result<()> {
    let org = tx.org().to_owned();
    let found = tx
        .fetch_optional(
            sqlx::query("SELECT 1 AS one FROM members WHERE org_id = $1 AND user_id = $2 AND status = 'active'")
                .bind(org)
                .bind(user.to_string()),
        )
        .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(labledger_domain::FieldError::new(
            "user_id",
            "is not an active member of this organization",
        )
        .into()),
    }
}

/// Inserts an active project with its creator as first member (`project.create`), inside the
/// caller's transaction; answers its id.
pub(crate) async fn insert_project(
    tx: &mut OrgTx<'_>,
    name: String,
    description: Option<String>,
    creator: labledger_domain::UserId,
) -> Result<ProjectId> {
    let org = tx.org().to_owned();
    let id = ProjectId::new();
    let now = Timestamp::now().micros();
    tx.execute(
        sqlx::query(
            "INSERT INTO projects (org_id, id, name, description, status, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(org.clone())
        .bind(id.to_string())
        .bind(name.clone())
        .bind(description.clone())
        .bind(ProjectStatus::Active.as_str())
        .bind(creator.to_string())
        .bind(now),
    )
    .await?;
    // The creator is a member when they are one of the org (not an operator's grant).
    let is_member = tx
        .fetch_optional(
            sqlx::query("SELECT 1 AS one FROM members WHERE org_id = $1 AND user_id = $2")
                .bind(org.clone())
                .bind(creator.to_string()),
        )
        .await?
        .is_some();
    if is_member {
        tx.execute(
            sqlx::query(
                "INSERT INTO project_members (org_id, project_id, user_id, added_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(org)
            .bind(id.to_string())
            .bind(creator.to_string())
            .bind(now),
        )
        .await?;
    }
    tx.record(
        "project.create",
        "project",
        Some(id.to_string()),
        Changes::new()
            .created("name", &name)
            .created("description", &description)
            .created("status", ProjectStatus::Active.as_str()),
    );
    Ok(id)
}

impl Org<'_> {
    /// Creates an active project; its creator is its first member (`project.create`).
    pub async fn create_project(
        &self,
        name: String,
        description: Option<String>,
    ) -> Result<Project> {
        self.scope().require(Permission::PROJECTS_WRITE)?;
        let creator = self.scope().user_id();
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let id = insert_project(tx, name, description, creator).await?;
                project_in_tx(tx, id).await
            })
        }))
        .await
    }

    /// The org's projects by name; a project-limited caller sees only theirs.
    pub async fn projects(&self) -> Result<Vec<Project>> {
        self.scope().require(Permission::PROJECTS_READ)?;
        let viewer = self.viewer();
        let sql = format!(
            "SELECT {COLUMNS} FROM projects p WHERE p.org_id = $1{} ORDER BY p.name",
            viewer.filter(Kind::Project, "p", 2)
        );
        viewer
            .bind(sqlx::query(&sql).bind(self.org_text()))
            .fetch_all(self.reader())
            .await?
            .iter()
            .map(decode)
            .collect()
    }

    /// One project; a project-limited caller outside it gets `NotFound`.
    pub async fn project(&self, id: ProjectId) -> Result<Project> {
        self.scope().require(Permission::PROJECTS_READ)?;
        let viewer = self.viewer();
        let sql = select_one(&viewer);
        let row = viewer
            .bind(sqlx::query(&sql).bind(self.org_text()).bind(id.to_string()))
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound)?;
        decode(&row)
    }

    pub async fn project_members(&self, id: ProjectId) -> Result<Vec<ProjectMember>> {
        self.project(id).await?;
        let rows = sqlx::query(
            "SELECT pm.user_id, u.name, u.email, pm.added_at FROM project_members pm \
             JOIN users u ON u.id = pm.user_id \
             WHERE pm.org_id = $1 AND pm.project_id = $2 ORDER BY u.name",
        )
        .bind(self.org_text())
        .bind(id.to_string())
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ProjectMember {
                    user_id: parse_id(&r.try_get::<String, _>("user_id")?)?,
                    name: r.try_get("name")?,
                    email: r.try_get("email")?,
                    added_at: Timestamp::from_micros(r.try_get("added_at")?),
                })
            })
            .collect()
    }

    /// Renames, redescribes, archives or reactivates a project (`project.update`).
    pub async fn update_project(&self, id: ProjectId, change: ProjectChange) -> Result<Project> {
        self.scope().require(Permission::PROJECTS_WRITE)?;
        self.project(id).await?;
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let before = project_in_tx(tx, id).await?;
                let name = change.name.unwrap_or_else(|| before.name.clone());
                let description = change.description.unwrap_or_else(|| before.description.clone());
                let status = change.status.unwrap_or(before.status);
                let org = tx.org().to_owned();
                tx.execute(
                    sqlx::query(
                        "UPDATE projects SET name = $3, description = $4, status = $5, updated_at = $6 \
                         WHERE org_id = $1 AND id = $2",
                    )
                    .bind(org)
                    .bind(id.to_string())
                    .bind(name.clone())
                    .bind(description.clone())
                    .bind(status.as_str())
                    .bind(Timestamp::now().micros()),
                )
                .await?;
                let mut changes = Changes::new();
                if name != before.name {
                    changes = changes.field("name", &before.name, &name);
                }
                if description != before.description {
                    changes = changes.field("description", &before.description, &description);
                }
                if status != before.status {
                    changes = changes.field("status", before.status.as_str(), status.as_str());
                }
                tx.record("project.update", "project", Some(id.to_string()), changes);
                project_in_tx(tx, id).await
            })
        }))
        .await
    }

    /// Adds an active org member to a project (`project.add_member`); already in: a conflict.
    pub async fn add_project_member(&self, id: ProjectId, user: UserId) -> Result<Project> {
        self.scope().require(Permission::PROJECTS_WRITE)?;
        self.project(id).await?;
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                project_in_tx(tx, id).await?;
                require_member(tx, user).await?;
                let org = tx.org().to_owned();
                let present = tx
                    .fetch_optional(
                        sqlx::query(
                            "SELECT 1 AS one FROM project_members WHERE org_id = $1 AND project_id = $2 AND user_id = $3",
                        )
                        .bind(org.clone())
                        .bind(id.to_string())
                        .bind(user.to_string()),
                    )
                    .await?
                    .is_some();
                if present {
                    return Err(StoreError::Conflict("already a member of this project".into()));
                }
                tx.execute(
                    sqlx::query(
                        "INSERT INTO project_members (org_id, project_id, user_id, added_at) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(org)
                    .bind(id.to_string())
                    .bind(user.to_string())
                    .bind(Timestamp::now().micros()),
                )
                .await?;
                tx.record(
                    "project.add_member",
                    "project",
                    Some(id.to_string()),
                    Changes::new().created("user_id", user.to_string()),
                );
                project_in_tx(tx, id).await
            })
        }))
        .await
    }

    /// Takes a member off a project (`project.remove_member`).
    pub async fn remove_project_member(&self, id: ProjectId, user: UserId) -> Result<Project> {
        self.scope().require(Permission::PROJECTS_WRITE)?;
        self.project(id).await?;
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let org = tx.org().to_owned();
                let gone = tx
                    .execute(
                        sqlx::query(
                            "DELETE FROM project_members WHERE org_id = $1 AND project_id = $2 AND user_id = $3",
                        )
                        .bind(org)
                        .bind(id.to_string())
                        .bind(user.to_string()),
                    )
                    .await?
                    .rows_affected();
                if gone == 0 {
                    return Err(StoreError::NotFound);
                }
                tx.record(
                    "project.remove_member",
                    "project",
                    Some(id.to_string()),
                    Changes::new().removed("user_id", user.to_string()),
                );
                project_in_tx(tx, id).await
            })
        }))
        .await
    }

    /// Limits a member to the records of their projects, or lifts the limit
    /// (`member.project_access`). Needs members:write.
    pub async fn set_project_limited(&self, user: UserId, limited: bool) -> Result<bool> {
        self.scope().require(Permission::MEMBERS_WRITE)?;
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                // A user who is not a member is a record that does not exist here.
                require_member(tx, user).await.map_err(|_| StoreError::NotFound)?;
                let org = tx.org().to_owned();
                let before: i64 = tx
                    .fetch_optional(
                        sqlx::query("SELECT project_limited FROM members WHERE org_id = $1 AND user_id = $2")
                            .bind(org.clone())
                            .bind(user.to_string()),
                    )
                    .await?
                    .ok_or(StoreError::NotFound)?
                    .try_get("project_limited")?;
                tx.execute(
                    sqlx::query("UPDATE members SET project_limited = $3 WHERE org_id = $1 AND user_id = $2")
                        .bind(org)
                        .bind(user.to_string())
                        .bind(i64::from(limited)),
                )
                .await?;
                tx.record(
                    "member.project_access",
                    "member",
                    Some(user.to_string()),
                    Changes::new().field("project_limited", before != 0, limited),
                );
                Ok(limited)
            })
        }))
        .await
    }
}
