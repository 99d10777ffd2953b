//! Export requests: an export of a whole org, or of a project over the configured size, is filed
//! as a request (`export.request`); another Owner/Admin (who holds every permission, and is not
//! the requester) approves (`export.approve`) or rejects it (`export.reject`); the requester then
//! downloads it (`export.download`, with the manifest's SHA-256) until the approval expires.
//! The rules are [`labledger_domain::export`]; this module stores them.

use crate::chain::{decode_event, StoredEvent, EVENT_COLUMNS};
use crate::error::{Result, StoreError};
use crate::instance::parse_id;
use crate::org::Org;
use crate::visibility::{Kind, Viewer};
use labledger_domain::audit::Changes;
use labledger_domain::export::{self, Decision, ExportKind, RequestError, RequestState};
use labledger_domain::{ExportRequestId, Permission, PermissionSet, ProjectId, Timestamp, UserId};
use sqlx::any::AnyRow;
use sqlx::Row;

/// An export request as stored, its state as in force now.
#[derive(Clone, Debug)]
pub struct ExportRequest {
    pub id: ExportRequestId,
    pub kind: ExportKind,
    pub project_id: Option<ProjectId>,
    pub project_name: Option<String>,
    pub estimated_bytes: u64,
    pub state: RequestState,
    pub requested_by: UserId,
    pub requested_by_email: String,
    pub requested_at: Timestamp,
    pub decided_by: Option<UserId>,
    pub decided_at: Option<Timestamp>,
    pub reason: Option<String>,
    pub expires_at: Timestamp,
    pub downloads: u64,
}

const SQL: &str = "SELECT r.id, r.kind, r.project_id, p.name AS project_name, r.estimated_bytes, \
    r.state, r.requested_by, u.email, r.requested_at, r.decided_by, r.decided_at, r.reason, \
    r.expires_at, r.downloads FROM export_requests r JOIN users u ON u.id = r.requested_by \
    LEFT JOIN projects p ON p.org_id = r.org_id AND p.id = r.project_id WHERE r.org_id = $1";

/// The export requests `viewer` may see (`$n` the viewer): a project-limited member sees only
/// requests for their projects, never a whole-org one.
fn select(viewer: &Viewer, n: usize) -> String {
    format!("{SQL}{}", viewer.filter(Kind::Project, "p", n))
}

fn decode(r: &AnyRow, now: Timestamp) -> Result<ExportRequest> {
    let kind: String = r.try_get("kind")?;
    let state: String = r.try_get("state")?;
    let expires_at = Timestamp::from_micros(r.try_get("expires_at")?);
    let project_id: Option<String> = r.try_get("project_id")?;
    let decided_by: Option<String> = r.try_get("decided_by")?;
    let requested_by: String = r.try_get("requested_by")?;
    Ok(ExportRequest {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        kind: ExportKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("export kind `{kind}`")))?,
        project_id: project_id.as_deref().map(parse_id).transpose()?,
        project_name: r.try_get("project_name")?,
        estimated_bytes: u64::try_from(r.try_get::<i64, _>("estimated_bytes")?).unwrap_or(0),
        state: RequestState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("export request state `{state}`")))?
            .at(expires_at, now),
        requested_by: parse_id(&requested_by)?,
        requested_by_email: r.try_get("email")?,
        requested_at: Timestamp::from_micros(r.try_get("requested_at")?),
        decided_by: decided_by.as_deref().map(parse_id).transpose()?,
        decided_at: r
            .try_get::<Option<i64>, _>("decided_at")?
            .map(Timestamp::from_micros),
        reason: r.try_get("reason")?,
        expires_at,
        downloads: u64::try_from(r.try_get::<i64, _>("downloads")?).unwrap_or(0),
    })
}

fn refused(e: RequestError) -> StoreError {
    match e {
        RequestError::OwnRequest | RequestError::NotRequester => {
            StoreError::NotAllowed(e.to_string())
        }
        RequestError::NotPending(_) | RequestError::NotApproved(_) => {
            StoreError::Conflict(e.to_string())
        }
    }
}

fn bytes_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Org<'_> {
    /// What a person needs to ask for an export of this kind: `exports:create` and `files:read`
    /// (and `audit:read` for a whole org, whose audit trail is in it).
    pub fn require_export_of(&self, kind: ExportKind) -> Result<()> {
        let scope = self.scope();
        scope.require(Permission::EXPORTS_CREATE)?;
        scope.require(Permission::FILES_READ)?;
        if kind == ExportKind::Org {
            scope.require(Permission::AUDIT_READ)?;
            scope.require(Permission::PROJECTS_READ)?;
            if scope.is_project_limited() {
                return Err(StoreError::NotAllowed(
                    "a member limited to their projects cannot export the whole organization"
                        .into(),
                ));
            }
        }
        Ok(())
    }

    /// Files an export request (`export.request`).
    pub async fn request_export(
        &self,
        kind: ExportKind,
        project: Option<ProjectId>,
        estimated_bytes: u64,
    ) -> Result<ExportRequest> {
        self.require_export_of(kind)?;
        self.scope().require_user()?;
        if let Some(p) = project {
            self.project(p).await?;
        }
        let user = self.scope().user_id();
        let id = ExportRequestId::new();
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let org = tx.org().to_owned();
                let now = Timestamp::now();
                let expires = now.plus_secs(export::VALID_SECS);
                tx.execute(
                    sqlx::query(
                        "INSERT INTO export_requests (org_id, id, kind, project_id, \
                         estimated_bytes, state, requested_by, requested_at, expires_at, \
                         downloads) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, 0)",
                    )
                    .bind(org.clone())
                    .bind(id.to_string())
                    .bind(kind.as_str())
                    .bind(project.map(|p| p.to_string()))
                    .bind(bytes_i64(estimated_bytes))
                    .bind(user.to_string())
                    .bind(now.micros())
                    .bind(expires.micros()),
                )
                .await?;
                let mut changes = Changes::new()
                    .created("kind", kind.as_str())
                    .created("estimated_bytes", bytes_i64(estimated_bytes))
                    .created("state", "pending")
                    .created("expires_at", expires.to_rfc3339());
                if let Some(p) = project {
                    changes = changes.created("project_id", p.to_string());
                }
                tx.record(
                    "export.request",
                    "export_request",
                    Some(id.to_string()),
                    changes,
                );
                let viewer = tx.viewer().clone();
                let sql = format!("{} AND r.id = $2", select(&viewer, 3));
                let row = tx
                    .fetch_optional(viewer.bind(sqlx::query(&sql).bind(org).bind(id.to_string())))
                    .await?
                    .ok_or(StoreError::NotFound)?;
                decode(&row, now)
            })
        }))
        .await
    }

    /// Export requests, newest first: all of them with `exports:read`, otherwise the caller's.
    pub async fn export_requests(&self) -> Result<Vec<ExportRequest>> {
        let scope = self.scope();
        let all = scope.can(Permission::EXPORTS_READ);
        if !all {
            scope.require(Permission::EXPORTS_CREATE)?;
        }
        // The viewer is `$2` when the rule names one; the requester comes after it.
        let viewer = self.viewer();
        let mine = if viewer.is_limited() { 3 } else { 2 };
        let sql = format!(
            "{}{} ORDER BY r.requested_at DESC, r.id DESC LIMIT 500",
            select(&viewer, 2),
            if all {
                String::new()
            } else {
                format!(" AND r.requested_by = ${mine}")
            }
        );
        let mut q = viewer.bind(sqlx::query(&sql).bind(self.org_text()));
        if !all {
            q = q.bind(scope.user_id().to_string());
        }
        let now = Timestamp::now();
        q.fetch_all(self.reader())
            .await?
            .iter()
            .map(|r| decode(r, now))
            .collect()
    }

    /// One export request: one's own, or any with `exports:read`.
    pub async fn export_request(&self, id: ExportRequestId) -> Result<ExportRequest> {
        let viewer = self.viewer();
        let sql = format!("{} AND r.id = $2", select(&viewer, 3));
        let row = viewer
            .bind(sqlx::query(&sql).bind(self.org_text()).bind(id.to_string()))
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound)?;
        let request = decode(&row, Timestamp::now())?;
        if request.requested_by != self.scope().user_id() {
            self.scope().require(Permission::EXPORTS_READ)?;
        }
        Ok(request)
    }

    /// Pending requests the caller could decide (for the dashboard): none unless they hold
    /// every permission; never their own.
    pub async fn export_requests_to_decide(&self) -> Result<Vec<ExportRequest>> {
        if self.scope().permissions() != PermissionSet::all() || self.scope().is_token() {
            return Ok(Vec::new());
        }
        let me = self.scope().user_id();
        Ok(self
            .export_requests()
            .await?
            .into_iter()
            .filter(|r| r.state == RequestState::Pending && r.requested_by != me)
            .collect())
    }

    /// Approves or rejects a pending request. The decider is a person holding every
    /// permission (an Owner or Admin) other than the requester.
    pub async fn decide_export(
        &self,
        id: ExportRequestId,
        decision: Decision,
        reason: Option<String>,
    ) -> Result<ExportRequest> {
        let scope = self.scope();
        scope.require_user()?;
        scope.require(Permission::MEMBERS_WRITE)?;
        if scope.permissions() != PermissionSet::all() {
            return Err(StoreError::NotAllowed(
                "only an Owner or Admin (holding every permission) decides export requests".into(),
            ));
        }
        let caller = scope.user_id();
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let org = tx.org().to_owned();
                let now = Timestamp::now();
                let viewer = tx.viewer().clone();
                let sql = format!("{} AND r.id = $2", select(&viewer, 3));
                let row = tx
                    .fetch_optional(
                        viewer.bind(sqlx::query(&sql).bind(org.clone()).bind(id.to_string())),
                    )
                    .await?
                    .ok_or(StoreError::NotFound)?;
                let request = decode(&row, now)?;
                let (state, expires) =
                    export::decide(request.state, request.requested_by, caller, decision, now)
                        .map_err(refused)?;
                let expires = expires.unwrap_or(request.expires_at);
                tx.execute(
                    sqlx::query(
                        "UPDATE export_requests SET state = $3, decided_by = $4, \
                         decided_at = $5, reason = $6, expires_at = $7 \
                         WHERE org_id = $1 AND id = $2 AND state = 'pending'",
                    )
                    .bind(org.clone())
                    .bind(id.to_string())
                    .bind(state.as_str())
                    .bind(caller.to_string())
                    .bind(now.micros())
                    .bind(reason.clone())
                    .bind(expires.micros()),
                )
                .await?;
                let action = match decision {
                    Decision::Approve => "export.approve",
                    Decision::Reject => "export.reject",
                };
                let mut changes = Changes::new()
                    .field("state", "pending", state.as_str())
                    .created("kind", request.kind.as_str())
                    .created("requested_by", request.requested_by.to_string());
                if decision == Decision::Approve {
                    changes = changes.created("expires_at", expires.to_rfc3339());
                }
                if let Some(r) = &reason {
                    changes = changes.created("reason", r.as_str());
                }
                tx.record(action, "export_request", Some(id.to_string()), changes);
                let row = tx
                    .fetch_optional(viewer.bind(sqlx::query(&sql).bind(org).bind(id.to_string())))
                    .await?
                    .ok_or(StoreError::NotFound)?;
                decode(&row, now)
            })
        }))
        .await
    }

    /// The request, if the caller may download its export now (the requester, approved, not
    /// expired, still allowed to export).
    pub async fn export_request_for_download(&self, id: ExportRequestId) -> Result<ExportRequest> {
        let request = self.export_request(id).await?;
        export::may_download(request.state, request.requested_by, self.scope().user_id())
            .map_err(refused)?;
        self.require_export_of(request.kind)?;
        Ok(request)
    }

    /// Records a download of an approved export (`export.download`, with the manifest's
    /// SHA-256); refused if the request has expired meanwhile.
    pub async fn record_export_download(
        &self,
        id: ExportRequestId,
        manifest_sha256: [u8; 32],
        entries: usize,
        bytes: u64,
    ) -> Result<()> {
        let user = self.scope().user_id();
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let org = tx.org().to_owned();
                let now = Timestamp::now();
                let viewer = tx.viewer().clone();
                let sql = format!("{} AND r.id = $2", select(&viewer, 3));
                let row = tx
                    .fetch_optional(
                        viewer.bind(sqlx::query(&sql).bind(org.clone()).bind(id.to_string())),
                    )
                    .await?
                    .ok_or(StoreError::NotFound)?;
                let request = decode(&row, now)?;
                export::may_download(request.state, request.requested_by, user).map_err(refused)?;
                tx.execute(
                    sqlx::query(
                        "UPDATE export_requests SET downloads = downloads + 1 \
                         WHERE org_id = $1 AND id = $2",
                    )
                    .bind(org)
                    .bind(id.to_string()),
                )
                .await?;
                let mut changes = Changes::new()
                    .created("kind", request.kind.as_str())
                    .created("format", "eln")
                    .created("manifest_sha256", hex::encode(manifest_sha256))
                    .created("entries", entries as i64)
                    .created("bytes", bytes_i64(bytes));
                if let Some(p) = request.project_id {
                    changes = changes.created("project_id", p.to_string());
                }
                tx.record(
                    "export.download",
                    "export_request",
                    Some(id.to_string()),
                    changes,
                );
                Ok(())
            })
        }))
        .await
    }

    /// Every audit event of the org, in chain order (for a whole-org export).
    pub async fn all_events(&self) -> Result<Vec<StoredEvent>> {
        self.require_export_of(ExportKind::Org)?;
        let sql =
            // unscoped: whole-org exports are refused to project-limited members (`require_export_of`)
            format!("SELECT {EVENT_COLUMNS} FROM audit_events WHERE org_id = $1 ORDER BY seq");
        sqlx::query(&sql)
            .bind(self.org_text())
            .fetch_all(self.reader())
            .await?
            .iter()
            .map(decode_event)
            .collect()
    }

    /// The sum of the sizes of the files filed under a project (an export's estimate).
    pub async fn project_files_bytes(&self, project: ProjectId) -> Result<u64> {
        self.project(project).await?;
        let row = sqlx::query(
            // unscoped: the project was loaded through its rule above
            "SELECT CAST(COALESCE(SUM(f.size), 0) AS BIGINT) AS total FROM project_files pf \
             JOIN files f ON f.org_id = pf.org_id AND f.id = pf.file_id \
             WHERE f.deleted_at IS NULL AND pf.org_id = $1 AND pf.project_id = $2",
        )
        .bind(self.org_text())
        .bind(project.to_string())
        .fetch_one(self.reader())
        .await?;
        Ok(u64::try_from(row.try_get::<i64, _>("total")?).unwrap_or(0))
    }

    /// The sum of the sizes of the org's live files (a whole-org export's estimate).
    pub async fn org_files_bytes(&self) -> Result<u64> {
        let row = sqlx::query(
            // unscoped: whole-org exports are refused to project-limited members (`require_export_of`)
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) AS total FROM files \
             WHERE org_id = $1 AND deleted_at IS NULL",
        )
        .bind(self.org_text())
        .fetch_one(self.reader())
        .await?;
        Ok(u64::try_from(row.try_get::<i64, _>("total")?).unwrap_or(0))
    }

    /// The ids of every live file of the org, oldest first (for a whole-org export).
    pub async fn all_file_ids(&self) -> Result<Vec<labledger_domain::FileId>> {
        self.require_export_of(ExportKind::Org)?;
        let rows = sqlx::query(
            // unscoped: whole-org exports are refused to project-limited members (`require_export_of`)
            "SELECT id FROM files WHERE org_id = $1 AND deleted_at IS NULL ORDER BY seq",
        )
        .bind(self.org_text())
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| parse_id(&r.try_get::<String, _>("id")?))
            .collect()
    }
}
