//! Just-in-time privileged access: ask for a built-in role for up to 8 hours; another
//! Owner/Admin approves or denies; the grant ends by itself or when revoked.

use super::{CommonErrors, InputErrors};
use crate::error::ApiResult;
use crate::extract::{ApiJson, OrgAccess, RecordId};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use labledger_domain::validate::Reason;
use labledger_domain::{AccessRequestId, FieldErrors, Timestamp};
use labledger_store::{check_duration, requestable_role, AccessRequest, NewAccessRequest};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct AccessRequestView {
    #[schema(value_type = String, format = Uuid)]
    id: String,
    /// `member` (asked by a member) or `support` (filed by an instance operator for a support user).
    kind: String,
    #[schema(value_type = String, format = Uuid)]
    user_id: String,
    user_email: String,
    role: String,
    reason: String,
    duration_minutes: i64,
    /// `pending`, `active`, `expired`, `denied` or `revoked`.
    status: String,
    requested_by: String,
    created_at: String,
    decided_by: Option<String>,
    decided_at: Option<String>,
    starts_at: Option<String>,
    expires_at: Option<String>,
    revoked_by: Option<String>,
    revoked_at: Option<String>,
}

impl From<AccessRequest> for AccessRequestView {
    fn from(a: AccessRequest) -> Self {
        let t = |x: Option<Timestamp>| x.map(Timestamp::to_rfc3339);
        Self {
            id: a.id.to_string(),
            kind: a.kind,
            user_id: a.user_id.to_string(),
            user_email: a.user_email,
            role: a.role,
            reason: a.reason,
            duration_minutes: a.duration_minutes,
            status: a.status,
            requested_by: a.requested_by,
            created_at: a.created_at.to_rfc3339(),
            decided_by: a.decided_by,
            decided_at: t(a.decided_at),
            starts_at: t(a.starts_at),
            expires_at: t(a.expires_at),
            revoked_by: a.revoked_by,
            revoked_at: t(a.revoked_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AccessRequestList {
    items: Vec<AccessRequestView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccessRequest {
    /// A built-in role other than Owner, e.g. `Admin`.
    #[schema(example = "Admin")]
    role: String,
    /// Why the access is needed (recorded in the audit trail).
    reason: String,
    /// 1 to 480 (8 hours); the window starts at approval.
    #[schema(minimum = 1, maximum = 480)]
    duration_minutes: i64,
}

/// Validates a request's fields (shared with the UI).
pub fn parse_request(
    role: &str,
    reason: &str,
    duration_minutes: i64,
) -> Result<NewAccessRequest, FieldErrors> {
    let mut errors = FieldErrors::default();
    let role = errors.check(requestable_role("role", role));
    let reason = errors.check(Reason::parse("reason", reason));
    let duration = errors.check(check_duration("duration_minutes", duration_minutes));
    errors.into_result()?;
    match (role, reason, duration) {
        (Some(role), Some(reason), Some(duration_minutes)) => Ok(NewAccessRequest {
            role,
            reason,
            duration_minutes,
        }),
        _ => Err(FieldErrors::default()),
    }
}

/// Ask for an elevated role for a while. Any member may ask (a logged-in user, not a token).
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/access-requests", tag = "access-requests",
    params(("org_id" = String, Path, description = "Organization id")),
    request_body = CreateAccessRequest,
    responses((status = 201, body = AccessRequestView), CommonErrors, InputErrors),
    security(("session" = []))
)]
pub async fn create_access_request(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    ApiJson(req): ApiJson<CreateAccessRequest>,
) -> ApiResult<(StatusCode, Json<AccessRequestView>)> {
    scope.require_user()?;
    let new = parse_request(&req.role, &req.reason, req.duration_minutes)?;
    let created = state.store().org(&scope).request_access(new).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// Access requests: all of them with `members:read`, otherwise the caller's own.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/access-requests", tag = "access-requests",
    params(("org_id" = String, Path, description = "Organization id")),
    responses((status = 200, body = AccessRequestList), CommonErrors),
    security(("session" = []))
)]
pub async fn list_access_requests(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
) -> ApiResult<Json<AccessRequestList>> {
    let items = state.store().org(&scope).access_requests().await?;
    Ok(Json(AccessRequestList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// One access request: one's own, or any with `members:read`.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/access-requests/{request_id}", tag = "access-requests",
    params(("org_id" = String, Path, description = "Organization id"), ("request_id" = String, Path, description = "Access request id")),
    responses((status = 200, body = AccessRequestView), CommonErrors),
    security(("session" = ["members:read"]))
)]
pub async fn get_access_request(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<AccessRequestId>,
) -> ApiResult<Json<AccessRequestView>> {
    Ok(Json(
        state.store().org(&scope).access_request(id).await?.into(),
    ))
}

/// Approve a pending request: the grant starts now and ends after its duration. Needs
/// `members:write` and the requested role's permissions; nobody approves their own request.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/access-requests/{request_id}/approve", tag = "access-requests",
    params(("org_id" = String, Path, description = "Organization id"), ("request_id" = String, Path, description = "Access request id")),
    responses((status = 200, body = AccessRequestView), CommonErrors, (status = 409, description = "Not pending", body = crate::error::Problem, content_type = "application/problem+json")),
    security(("session" = ["members:write"]))
)]
pub async fn approve_access_request(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    caller: crate::extract::AuthUser,
    RecordId(id): RecordId<AccessRequestId>,
) -> ApiResult<Json<AccessRequestView>> {
    caller.require_fresh(&state)?;
    Ok(Json(
        state.store().org(&scope).approve_access(id).await?.into(),
    ))
}

/// Deny a pending request (same rules as approving).
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/access-requests/{request_id}/deny", tag = "access-requests",
    params(("org_id" = String, Path, description = "Organization id"), ("request_id" = String, Path, description = "Access request id")),
    responses((status = 200, body = AccessRequestView), CommonErrors, (status = 409, description = "Not pending", body = crate::error::Problem, content_type = "application/problem+json")),
    security(("session" = ["members:write"]))
)]
pub async fn deny_access_request(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    caller: crate::extract::AuthUser,
    RecordId(id): RecordId<AccessRequestId>,
) -> ApiResult<Json<AccessRequestView>> {
    caller.require_fresh(&state)?;
    Ok(Json(
        state.store().org(&scope).deny_access(id).await?.into(),
    ))
}

/// End a pending request or an active grant early: one's own, or any with `members:write`.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/access-requests/{request_id}/revoke", tag = "access-requests",
    params(("org_id" = String, Path, description = "Organization id"), ("request_id" = String, Path, description = "Access request id")),
    responses((status = 200, body = AccessRequestView), CommonErrors, (status = 409, description = "Already ended", body = crate::error::Problem, content_type = "application/problem+json")),
    security(("session" = ["members:write"]))
)]
pub async fn revoke_access_request(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<AccessRequestId>,
) -> ApiResult<Json<AccessRequestView>> {
    Ok(Json(
        state.store().org(&scope).revoke_access(id).await?.into(),
    ))
}
