//! Instance-level records: organizations, users and memberships. These are not one org's data;
//! operators create and disable orgs, and login resolves a user's memberships here. Every change
//! that touches an org still lands in that org's audit chain.

use crate::chain;
use crate::error::{Result, StoreError};
use crate::operator::{run_in_chain, OperatorTx, OperatorWriteFn};
use crate::scope::{Actor, OrgScope, RequestMeta};
use crate::{roles, Store};
use labledger_domain::audit::Changes;
use labledger_domain::validate::{Email, OrgName, PersonName, RegionName};
use labledger_domain::{BuiltinRole, OrgId, PermissionSet, Timestamp, UserId};
use serde::Serialize;
use sqlx::Row;

/// The first owner of a new org. An existing user with that email becomes the owner as is.
#[derive(Clone, Debug)]
pub struct NewOwner {
    pub email: Email,
    pub name: PersonName,
    pub password_hash: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct OrgSummary {
    pub id: OrgId,
    pub name: String,
    pub status: String,
    pub created_at: Timestamp,
    pub members: i64,
    /// Where its data lives ('' = not pinned), and a move asked for ('' = none) and its phase.
    pub region: String,
    pub region_move_to: String,
    pub region_move_phase: MovePhase,
}

/// How far an org's region move has come (`orgs.region_move_phase`, migration 0028).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MovePhase {
    /// No move.
    None,
    /// An operator asked; an Owner has not approved yet.
    Requested,
    /// An Owner approved; the operator has not started it (`admin org move --complete`).
    Approved,
    /// Its objects are being copied to the new region's store; its writes are paused.
    Copying,
}

impl MovePhase {
    pub(crate) fn parse(raw: &str) -> Result<Self> {
        Ok(match raw {
            "" => Self::None,
            "requested" => Self::Requested,
            "approved" => Self::Approved,
            "copying" => Self::Copying,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "unknown region move phase `{other}`"
                )))
            }
        })
    }

    /// The phase as the API and the CLI name it (`None` for no move).
    pub fn name(self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::Requested => Some("requested"),
            Self::Approved => Some("approved"),
            Self::Copying => Some("copying"),
        }
    }
}

/// Where an org's data lives ('' = not pinned) and the move asked for ('' = none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgRegion {
    pub region: String,
    pub move_to: String,
    pub phase: MovePhase,
}

pub(crate) fn region_of(row: &sqlx::any::AnyRow) -> Result<OrgRegion> {
    Ok(OrgRegion {
        region: row.try_get("region")?,
        move_to: row.try_get("region_move_to")?,
        phase: MovePhase::parse(&row.try_get::<String, _>("region_move_phase")?)?,
    })
}

async fn read_region(tx: &mut OperatorTx<'_>) -> Result<OrgRegion> {
    let row = tx
        .fetch_optional(
            sqlx::query("SELECT region, region_move_to, region_move_phase FROM orgs WHERE id = $1")
                .bind(tx.org_text()),
        )
        .await?
        .ok_or(StoreError::NotFound)?;
    region_of(&row)
}

#[derive(Clone, Debug)]
pub struct UserRecord {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub password_hash: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Membership {
    pub org_id: OrgId,
    pub org_name: String,
    pub roles: Vec<String>,
}

pub(crate) fn parse_id<T: std::str::FromStr>(s: &str) -> Result<T> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("bad id `{s}`")))
}

impl Store {
    /// True when no organization exists yet (first start).
    pub async fn is_empty(&self) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orgs")
            .fetch_one(self.reader())
            .await?;
        Ok(n == 0)
    }

    /// Creates an organization, its built-in roles and its first Owner, audited in the new
    /// org's chain. Returns the org, the owner, and whether the owner's user was newly created.
    pub async fn create_org(
        &self,
        name: OrgName,
        owner: NewOwner,
        actor: Actor,
    ) -> Result<(OrgId, UserId, bool)> {
        let engine = self.engine();
        let key = self.head_seal()?.clone();
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                let org = OrgId::new();
                let now = Timestamp::now().micros();
                sqlx::query(
                    "INSERT INTO orgs (id, name, status, created_at) VALUES ($1, $2, 'active', $3)",
                )
                .bind(org.to_string())
                .bind(name.as_str())
                .bind(now)
                .execute(&mut *conn)
                .await?;
                chain::init_head(conn, &key, org).await?;
                // The rest is org data: through the operator door, in the same transaction.
                let fill: OperatorWriteFn<(UserId, bool)> = Box::new(move |tx| {
                    Box::pin(async move { fill_new_org(tx, name, owner, now).await })
                });
                let (user, created) = run_in_chain(conn, engine, &key, org, &actor, fill).await?;
                Ok((org, user, created))
            })
        }))
        .await
    }

    pub async fn list_orgs(&self) -> Result<Vec<OrgSummary>> {
        let rows = sqlx::query(
            "SELECT o.id, o.name, o.status, o.created_at, o.region, o.region_move_to, \
             o.region_move_phase, \
             (SELECT COUNT(*) FROM members m WHERE m.org_id = o.id) AS members \
             FROM orgs o ORDER BY o.created_at, o.id",
        )
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OrgSummary {
                    id: parse_id(&r.try_get::<String, _>("id")?)?,
                    name: r.try_get("name")?,
                    status: r.try_get("status")?,
                    created_at: Timestamp::from_micros(r.try_get("created_at")?),
                    members: r.try_get("members")?,
                    region: r.try_get("region")?,
                    region_move_to: r.try_get("region_move_to")?,
                    region_move_phase: MovePhase::parse(
                        &r.try_get::<String, _>("region_move_phase")?,
                    )?,
                })
            })
            .collect()
    }

    /// An operator asks to move an org's data to `region`; nothing moves until an Owner of the
    /// org approves it in the org's settings. Audited as `org.region_move_request`. Asking
    /// again (another region) replaces a request not yet under way, and needs a new approval.
    pub async fn request_region_move(
        &self,
        org: OrgId,
        region: RegionName,
        actor: Actor,
    ) -> Result<()> {
        self.operator_write(
            org,
            actor,
            Box::new(move |tx| {
                Box::pin(async move {
                    let now = read_region(tx).await?;
                    if now.phase == MovePhase::Copying {
                        return Err(StoreError::Refused(format!(
                            "the organization's objects are being moved to region `{}`: finish \
                             that move first (`labledger admin org move --org {} --complete`)",
                            now.move_to,
                            tx.org()
                        )));
                    }
                    if now.region == region.as_str() {
                        return Err(StoreError::Refused(format!(
                            "the organization's data already lives in region `{region}`"
                        )));
                    }
                    tx.execute(
                        sqlx::query(
                            "UPDATE orgs SET region_move_to = $2, region_move_phase = 'requested' \
                             WHERE id = $1",
                        )
                        .bind(tx.org_text())
                        .bind(region.as_str().to_owned()),
                    )
                    .await?;
                    tx.record(
                        "org.region_move_request",
                        "org",
                        Some(tx.org_text()),
                        Changes::new()
                            .field("region_move_to", now.move_to, region.as_str().to_owned())
                            .field("region", now.region.clone(), now.region),
                    );
                    Ok(())
                })
            }),
        )
        .await
    }

    /// Where an org's data lives and the state of its move; `None` for no such org.
    pub async fn org_region(&self, org: OrgId) -> Result<Option<OrgRegion>> {
        let row =
            sqlx::query("SELECT region, region_move_to, region_move_phase FROM orgs WHERE id = $1")
                .bind(org.to_string())
                .fetch_optional(self.reader())
                .await?;
        row.as_ref().map(region_of).transpose()
    }

    /// The paths of every object an org's records refer to (for moving them to another
    /// region's object store; the paths are random and say nothing about the content).
    pub async fn org_object_paths(&self, org: OrgId) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT path FROM file_objects WHERE org_id = $1 ORDER BY path")
                .bind(org.to_string())
                .fetch_all(self.reader())
                .await?,
        )
    }

    /// The operator starts the move an Owner approved: from this commit on the org's writes
    /// are paused (the API answers 409 `region-move-in-progress`; [`crate::Org::create_file`]
    /// refuses under the org's chain lock, so no object is recorded after its objects were
    /// listed). Audited as `org.region_move_start`; already started: nothing changes.
    pub async fn start_region_move(&self, org: OrgId, actor: Actor) -> Result<OrgRegion> {
        self.operator_write(
            org,
            actor,
            Box::new(move |tx| {
                Box::pin(async move {
                    let mut now = read_region(tx).await?;
                    match now.phase {
                        MovePhase::Copying => return Ok(now),
                        MovePhase::Approved => {}
                        MovePhase::Requested => {
                            return Err(StoreError::Refused(format!(
                                "the move to region `{}` waits for an Owner's approval (the \
                                 organization's settings)",
                                now.move_to
                            )))
                        }
                        MovePhase::None => {
                            return Err(StoreError::Refused(
                                "no region move is pending for this organization".into(),
                            ))
                        }
                    }
                    tx.execute(
                        sqlx::query("UPDATE orgs SET region_move_phase = 'copying' WHERE id = $1")
                            .bind(tx.org_text()),
                    )
                    .await?;
                    tx.record(
                        "org.region_move_start",
                        "org",
                        Some(tx.org_text()),
                        Changes::new()
                            .field("region_move_phase", "approved", "copying")
                            .created("region_move_to", now.move_to.clone()),
                    );
                    now.phase = MovePhase::Copying;
                    Ok(now)
                })
            }),
        )
        .await
    }

    /// The operator finishes a move whose objects are all in the new region's store: the org
    /// is pinned to the new region and its writes resume (there). Audited as
    /// `org.region_change` with the number of objects moved.
    pub async fn finish_region_move(&self, org: OrgId, objects: u64, actor: Actor) -> Result<()> {
        self.operator_write(
            org,
            actor,
            Box::new(move |tx| {
                Box::pin(async move {
                    let now = read_region(tx).await?;
                    if now.phase != MovePhase::Copying {
                        return Err(StoreError::Refused(
                            "no region move is under way for this organization".into(),
                        ));
                    }
                    tx.execute(
                        sqlx::query(
                            "UPDATE orgs SET region = region_move_to, region_move_to = '', \
                             region_move_phase = '' WHERE id = $1",
                        )
                        .bind(tx.org_text()),
                    )
                    .await?;
                    tx.record(
                        "org.region_change",
                        "org",
                        Some(tx.org_text()),
                        Changes::new()
                            .field("region", now.region, now.move_to)
                            .created("objects_moved", objects),
                    );
                    Ok(())
                })
            }),
        )
        .await
    }

    /// Disables or re-enables an org (an operator action, audited in the org's chain).
    pub async fn set_org_disabled(&self, org: OrgId, disabled: bool, actor: Actor) -> Result<()> {
        self.operator_write(
            org,
            actor,
            Box::new(move |tx| {
                Box::pin(async move {
                    let row = tx
                        .fetch_optional(
                            sqlx::query("SELECT status FROM orgs WHERE id = $1")
                                .bind(tx.org_text()),
                        )
                        .await?
                        .ok_or(StoreError::NotFound)?;
                    let before: String = row.try_get("status")?;
                    let after = if disabled { "disabled" } else { "active" };
                    if before == after {
                        return Ok(());
                    }
                    tx.execute(
                        sqlx::query("UPDATE orgs SET status = $2 WHERE id = $1")
                            .bind(tx.org_text())
                            .bind(after),
                    )
                    .await?;
                    tx.record(
                        if disabled {
                            "org.disable"
                        } else {
                            "org.enable"
                        },
                        "org",
                        Some(tx.org_text()),
                        Changes::new().field("status", before, after),
                    );
                    Ok(())
                })
            }),
        )
        .await
    }

    pub async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>> {
        let row = sqlx::query("SELECT id, email, name, password_hash FROM users WHERE email = $1")
            .bind(email.as_str())
            .fetch_optional(self.reader())
            .await?;
        row.map(|r| decode_user(&r)).transpose()
    }

    pub async fn user(&self, id: UserId) -> Result<Option<UserRecord>> {
        let row = sqlx::query("SELECT id, email, name, password_hash FROM users WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(self.reader())
            .await?;
        row.map(|r| decode_user(&r)).transpose()
    }

    /// The active orgs a user belongs to, with their role names there.
    pub async fn memberships(&self, user: UserId) -> Result<Vec<Membership>> {
        let rows = sqlx::query(
            "SELECT o.id, o.name, r.name AS role FROM members m \
             JOIN orgs o ON o.id = m.org_id \
             LEFT JOIN member_roles mr ON mr.org_id = m.org_id AND mr.user_id = m.user_id \
             LEFT JOIN roles r ON r.org_id = mr.org_id AND r.id = mr.role_id \
             WHERE m.user_id = $1 AND o.status = 'active' AND m.status = 'active' ORDER BY o.name, o.id, r.name",
        )
        .bind(user.to_string())
        .fetch_all(self.reader())
        .await?;
        let mut out: Vec<Membership> = Vec::new();
        for r in rows {
            let org_id: OrgId = parse_id(&r.try_get::<String, _>("id")?)?;
            let role: Option<String> = r.try_get("role")?;
            match out.last_mut() {
                Some(m) if m.org_id == org_id => m.roles.extend(role),
                _ => out.push(Membership {
                    org_id,
                    org_name: r.try_get("name")?,
                    roles: role.into_iter().collect(),
                }),
            }
        }
        Ok(out)
    }

    /// The scope a user acts in within an org: `None` when they are not a member (or the org
    /// does not exist: the same answer), `OrgDisabled` when an operator disabled the org.
    ///
    /// Approved just-in-time grants add their role's permissions while `now` lies inside their
    /// window (compared in SQL, so expiry needs no action). A support grant makes a user who is
    /// not a member a temporary one; a member's grant counts only while they are a member.
    pub async fn resolve_scope(
        &self,
        user: UserId,
        org: OrgId,
        meta: RequestMeta,
    ) -> Result<Option<OrgScope>> {
        let standing = self
            .inner
            .standings
            .get_or_read(
                &self.inner.recall,
                (user, org),
                // A just-in-time grant ends at its end, not when the memory of it does.
                |s| !s.has_lapsed(Timestamp::now()),
                || self.read_standing(user, org),
            )
            .await?;
        Ok(match standing {
            Standing::Outside => None,
            Standing::Disabled => return Err(StoreError::OrgDisabled),
            Standing::Member {
                org_name,
                permissions,
                is_owner,
                project_limited,
                ..
            } => Some(
                OrgScope::new(org, org_name, user, permissions, is_owner, meta)
                    .with_project_limit(project_limited),
            ),
        })
    }

    /// What a user may do in an org, read from the database.
    async fn read_standing(&self, user: UserId, org: OrgId) -> Result<Standing> {
        let rows = sqlx::query(
            "SELECT o.name, o.status, m.project_limited, r.permissions, r.builtin, r.name AS role FROM members m \
             JOIN orgs o ON o.id = m.org_id \
             LEFT JOIN member_roles mr ON mr.org_id = m.org_id AND mr.user_id = m.user_id \
             LEFT JOIN roles r ON r.org_id = mr.org_id AND r.id = mr.role_id \
             WHERE m.org_id = $1 AND m.user_id = $2 AND m.status = 'active'",
        )
        .bind(org.to_string())
        .bind(user.to_string())
        .fetch_all(self.reader())
        .await?;
        let grants = crate::access::active_grants(self.reader(), org, user).await?;
        let is_member = !rows.is_empty();
        let grants: Vec<_> = grants
            .into_iter()
            .filter(|g| is_member || g.kind == "support")
            .collect();
        let (org_name, status) = match (rows.first(), grants.first()) {
            (Some(r), _) => (
                r.try_get::<String, _>("name")?,
                r.try_get::<String, _>("status")?,
            ),
            (None, Some(g)) => (g.org_name.clone(), g.org_status.clone()),
            (None, None) => return Ok(Standing::Outside),
        };
        if status != "active" {
            return Ok(Standing::Disabled);
        }
        let mut permissions = PermissionSet::EMPTY;
        let mut is_owner = false;
        for r in &rows {
            if let Some(text) = r.try_get::<Option<String>, _>("permissions")? {
                permissions = permissions.union(
                    PermissionSet::parse_text(&text)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                );
            }
            let builtin: Option<i64> = r.try_get("builtin")?;
            let role: Option<String> = r.try_get("role")?;
            is_owner |= builtin == Some(1) && role.as_deref() == Some(BuiltinRole::Owner.name());
        }
        for g in &grants {
            permissions = permissions.union(g.permissions);
        }
        let project_limited = match rows.first() {
            Some(r) => r.try_get::<i64, _>("project_limited")? != 0,
            None => false,
        };
        Ok(Standing::Member {
            org_name,
            permissions,
            is_owner,
            project_limited,
            grants_end: grants.iter().map(|g| g.expires_at).min(),
        })
    }
}

/// A new org's built-in roles and first Owner (an existing user with that email as is).
async fn fill_new_org(
    tx: &mut OperatorTx<'_>,
    name: OrgName,
    owner: NewOwner,
    now: i64,
) -> Result<(UserId, bool)> {
    let org = tx.org();
    let role_ids = roles::seed_builtin(tx.conn_mut(), org, now).await?;
    let existing = tx
        .fetch_optional(
            sqlx::query("SELECT id FROM users WHERE email = $1")
                .bind(owner.email.as_str().to_owned()),
        )
        .await?;
    let (user, created) = match existing {
        Some(row) => (parse_id::<UserId>(&row.try_get::<String, _>("id")?)?, false),
        None => {
            let user = UserId::new();
            insert_user(
                tx.conn_mut(),
                user,
                &owner.email,
                &owner.name,
                &owner.password_hash,
                now,
            )
            .await?;
            (user, true)
        }
    };
    let owner_role = role_ids
        .iter()
        .find(|(r, _)| *r == BuiltinRole::Owner)
        .map(|(_, id)| id.clone())
        .ok_or_else(|| StoreError::Corrupt("no Owner role seeded".into()))?;
    tx.execute(
        sqlx::query("INSERT INTO members (org_id, user_id, created_at) VALUES ($1, $2, $3)")
            .bind(tx.org_text())
            .bind(user.to_string())
            .bind(now),
    )
    .await?;
    tx.execute(
        sqlx::query("INSERT INTO member_roles (org_id, user_id, role_id) VALUES ($1, $2, $3)")
            .bind(tx.org_text())
            .bind(user.to_string())
            .bind(owner_role),
    )
    .await?;
    tx.record(
        "org.create",
        "org",
        Some(tx.org_text()),
        Changes::new()
            .created("name", name.as_str())
            .created("roles", BuiltinRole::ALL.map(|r| r.name())),
    );
    tx.record(
        "member.add",
        "member",
        Some(user.to_string()),
        Changes::new()
            .created("email", owner.email.as_str())
            .created("roles", ["Owner"]),
    );
    Ok((user, created))
}

pub(crate) async fn insert_user(
    conn: &mut crate::write_conn::WriteConn,
    user: UserId,
    email: &Email,
    name: &PersonName,
    password_hash: &str,
    now: i64,
) -> Result<()> {
    sqlx::query("INSERT INTO users (id, email, name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(user.to_string())
        .bind(email.as_str())
        .bind(name.as_str())
        .bind(password_hash)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

fn decode_user(r: &sqlx::any::AnyRow) -> Result<UserRecord> {
    Ok(UserRecord {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        email: r.try_get("email")?,
        name: r.try_get("name")?,
        password_hash: r.try_get("password_hash")?,
    })
}

/// A user's standing in an org: what [`Store::resolve_scope`] builds a scope from.
#[derive(Clone, Debug)]
pub(crate) enum Standing {
    /// Neither a member nor holding a support grant.
    Outside,
    Disabled,
    Member {
        org_name: String,
        permissions: PermissionSet,
        is_owner: bool,
        project_limited: bool,
        /// When the first of the just-in-time grants it counts ends.
        grants_end: Option<Timestamp>,
    },
}

impl Standing {
    /// A grant it counts has ended since it was read.
    fn has_lapsed(&self, now: Timestamp) -> bool {
        matches!(self, Standing::Member { grants_end: Some(end), .. } if now >= *end)
    }
}
