//! An org's dashboard: counts and what waits for the caller, each part only for a caller who
//! may read it (a part they may not read is `None`, never an error).

use crate::error::Result;
use crate::org::Org;
use crate::visibility::Kind;
use labledger_domain::{Permission, Timestamp};
use serde::Serialize;
use sqlx::Row;

/// A record the dashboard links to.
#[derive(Clone, Debug, Serialize)]
pub struct DashboardItem {
    pub id: String,
    /// The parent record for nested ones (a protocol version's protocol), else empty.
    pub parent_id: String,
    pub code: String,
    pub title: String,
    pub due_at: Option<Timestamp>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Dashboard {
    /// Samples per status (project-limited callers: their projects' samples).
    pub samples_by_status: Option<Vec<(String, i64)>>,
    pub open_batches: Option<i64>,
    pub runs_in_progress: Option<i64>,
    pub open_compliance_records: Option<i64>,
    /// Deviations and CAPA past their due date, oldest due first.
    pub overdue: Option<Vec<DashboardItem>>,
    /// Protocol drafts the caller may approve (not their own).
    pub drafts_to_approve: Option<Vec<DashboardItem>>,
    /// Compliance records under investigation the caller may close.
    pub records_to_close: Option<Vec<DashboardItem>>,
    /// Privileged-access requests waiting for a decision (not the caller's own).
    pub access_requests_pending: Option<i64>,
}

/// A compliance record row (`id, code, title, due_at`) as a dashboard item.
fn compliance_item(r: &sqlx::any::AnyRow) -> Result<DashboardItem> {
    Ok(DashboardItem {
        id: r.try_get("id")?,
        parent_id: String::new(),
        code: r.try_get("code")?,
        title: r.try_get("title")?,
        due_at: r
            .try_get::<Option<i64>, _>("due_at")?
            .map(Timestamp::from_micros),
    })
}

/// How many rows each list shows.
const LIST: i64 = 20;

impl Org<'_> {
    pub async fn dashboard(&self) -> Result<Dashboard> {
        let scope = self.scope();
        let org = self.org_text();
        let me = scope.user_id().to_string();
        let now = Timestamp::now().micros();
        let count = |sql: &'static str, extra: Option<String>| {
            let org = org.clone();
            async move {
                let mut q = sqlx::query(sql).bind(org);
                if let Some(e) = extra {
                    q = q.bind(e);
                }
                let row = q.fetch_one(self.reader()).await?;
                Ok::<i64, crate::error::StoreError>(row.try_get::<i64, _>("n")?)
            }
        };
        // Counts of what the caller may see (`$2` the viewer).
        let viewer = self.viewer();
        let visible_count = |table: &'static str, kind: Kind, condition: &'static str| {
            let sql = format!(
                "SELECT COUNT(*) AS n FROM {table} WHERE org_id = $1 AND {condition}{}",
                viewer.filter(kind, table, 2)
            );
            let (org, viewer) = (org.clone(), viewer.clone());
            async move {
                let row = viewer
                    .bind(sqlx::query(&sql).bind(org))
                    .fetch_one(self.reader())
                    .await?;
                Ok::<i64, crate::error::StoreError>(row.try_get::<i64, _>("n")?)
            }
        };
        let mut d = Dashboard::default();
        if scope.can(Permission::SAMPLES_READ) {
            let sql = format!(
                "SELECT status, COUNT(*) AS n FROM samples WHERE org_id = $1{} GROUP BY status ORDER BY status",
                viewer.filter(Kind::Sample, "samples", 2)
            );
            let q = viewer.bind(sqlx::query(&sql).bind(org.clone()));
            let rows = q.fetch_all(self.reader()).await?;
            d.samples_by_status = Some(
                rows.iter()
                    .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
                    .collect::<Result<_>>()?,
            );
        }
        if scope.can(Permission::BATCHES_READ) {
            d.open_batches = Some(visible_count("batches", Kind::Batch, "status = 'open'").await?);
        }
        if scope.can(Permission::WORKFLOWS_READ) {
            d.runs_in_progress =
                Some(visible_count("workflow_runs", Kind::Run, "status = 'in_progress'").await?);
        }
        if scope.can(Permission::COMPLIANCE_READ) {
            d.open_compliance_records = Some(
                count(
                    "SELECT COUNT(*) AS n FROM compliance_records WHERE org_id = $1 AND state <> 'closed'",
                    None,
                )
                .await?,
            );
            let rows = sqlx::query(
                "SELECT id, code, title, due_at FROM compliance_records WHERE org_id = $1 \
                 AND state <> 'closed' AND due_at IS NOT NULL AND due_at < $2 ORDER BY due_at LIMIT $3",
            )
            .bind(org.clone())
            .bind(now)
            .bind(LIST)
            .fetch_all(self.reader())
            .await?;
            d.overdue = Some(rows.iter().map(compliance_item).collect::<Result<_>>()?);
        }
        if scope.can(Permission::COMPLIANCE_APPROVE) {
            let rows = sqlx::query(
                "SELECT id, code, title, due_at FROM compliance_records WHERE org_id = $1 \
                 AND state = 'investigating' ORDER BY updated_at LIMIT $2",
            )
            .bind(org.clone())
            .bind(LIST)
            .fetch_all(self.reader())
            .await?;
            d.records_to_close = Some(rows.iter().map(compliance_item).collect::<Result<_>>()?);
        }
        if scope.can(Permission::PROTOCOLS_APPROVE) {
            let rows = sqlx::query(
                "SELECT id, protocol_id, version, title FROM protocol_versions WHERE org_id = $1 \
                 AND state = 'draft' AND author_id <> $2 AND last_editor_id <> $2 ORDER BY updated_at LIMIT $3",
            )
            .bind(org.clone())
            .bind(me.clone())
            .bind(LIST)
            .fetch_all(self.reader())
            .await?;
            d.drafts_to_approve = Some(
                rows.iter()
                    .map(|r| {
                        Ok(DashboardItem {
                            id: r.try_get("id")?,
                            parent_id: r.try_get("protocol_id")?,
                            code: format!("v{}", r.try_get::<i64, _>("version")?),
                            title: r.try_get("title")?,
                            due_at: None,
                        })
                    })
                    .collect::<Result<_>>()?,
            );
        }
        if scope.can(Permission::MEMBERS_WRITE) {
            d.access_requests_pending = Some(
                count(
                    "SELECT COUNT(*) AS n FROM access_requests WHERE org_id = $1 AND status = 'pending' \
                     AND requested_by <> $2",
                    Some(me.clone()),
                )
                .await?,
            );
        }
        Ok(d)
    }
}
