//! The org's dashboard: counts, overdue records, and what waits for the caller.

use super::CommonErrors;
use crate::error::ApiResult;
use crate::extract::OrgAccess;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use labledger_domain::Timestamp;
use labledger_store::{Dashboard, DashboardItem};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct DashboardItemView {
    id: String,
    /// The parent record of a nested one (a protocol version's protocol).
    parent_id: Option<String>,
    code: String,
    title: String,
    due_at: Option<String>,
}

impl From<DashboardItem> for DashboardItemView {
    fn from(i: DashboardItem) -> Self {
        Self {
            id: i.id,
            parent_id: Some(i.parent_id).filter(|p| !p.is_empty()),
            code: i.code,
            title: i.title,
            due_at: i.due_at.map(Timestamp::to_rfc3339),
        }
    }
}

/// Each part is present only when the caller may read it.
#[derive(Serialize, ToSchema)]
pub struct DashboardView {
    /// Samples per status.
    samples_by_status: Option<BTreeMap<String, i64>>,
    open_batches: Option<i64>,
    runs_in_progress: Option<i64>,
    open_compliance_records: Option<i64>,
    overdue_compliance_records: Option<Vec<DashboardItemView>>,
    /// Protocol drafts waiting for the caller's approval.
    protocol_drafts_to_approve: Option<Vec<DashboardItemView>>,
    /// Deviations and CAPA under investigation the caller may close.
    compliance_records_to_close: Option<Vec<DashboardItemView>>,
    access_requests_pending: Option<i64>,
}

fn items(v: Option<Vec<DashboardItem>>) -> Option<Vec<DashboardItemView>> {
    v.map(|v| v.into_iter().map(Into::into).collect())
}

impl From<Dashboard> for DashboardView {
    fn from(d: Dashboard) -> Self {
        Self {
            samples_by_status: d.samples_by_status.map(|v| v.into_iter().collect()),
            open_batches: d.open_batches,
            runs_in_progress: d.runs_in_progress,
            open_compliance_records: d.open_compliance_records,
            overdue_compliance_records: items(d.overdue),
            protocol_drafts_to_approve: items(d.drafts_to_approve),
            compliance_records_to_close: items(d.records_to_close),
            access_requests_pending: d.access_requests_pending,
        }
    }
}

/// The dashboard: counts, samples awaiting action, overdue deviations and CAPA, approvals
/// waiting for the caller. Any member; each part only with the permission to read it.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/dashboard", tag = "orgs",
    params(("org_id" = String, Path, description = "Organization id")),
    responses((status = 200, body = DashboardView), CommonErrors),
    security(("session" = []))
)]
pub async fn get_dashboard(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
) -> ApiResult<Json<DashboardView>> {
    Ok(Json(state.store().org(&scope).dashboard().await?.into()))
}
