//! The access review: the customer's regular duties (idle members, members without MFA,
//! privileged role holders, API tokens near expiry or unused, live just-in-time grants).

use super::CommonErrors;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiQuery, OrgAccess};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use labledger_domain::{FieldError, Timestamp};
use labledger_store::AccessReview;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReviewQuery {
    /// Members not logged in for this many days count as idle (1 to 3650, default 90).
    #[param(minimum = 1, maximum = 3650)]
    pub idle_days: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct ReviewView {
    idle_days: i64,
    members: Vec<ReviewedMemberView>,
    tokens: Vec<ReviewedTokenView>,
    grants: Vec<GrantView>,
}

#[derive(Serialize, ToSchema)]
pub struct ReviewedMemberView {
    user_id: String,
    email: String,
    name: String,
    roles: Vec<String>,
    last_login_at: Option<String>,
    mfa: bool,
    privileged: bool,
    idle: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ReviewedTokenView {
    id: String,
    name: String,
    prefix: String,
    owner_email: String,
    expires_at: String,
    last_used_at: Option<String>,
    expiring_soon: bool,
    never_used: bool,
}

#[derive(Serialize, ToSchema)]
pub struct GrantView {
    request_id: String,
    email: String,
    role: String,
    kind: String,
    expires_at: Option<String>,
}

impl From<AccessReview> for ReviewView {
    fn from(r: AccessReview) -> Self {
        let t = |t: Option<Timestamp>| t.map(Timestamp::to_rfc3339);
        Self {
            idle_days: r.idle_days,
            members: r
                .members
                .into_iter()
                .map(|m| ReviewedMemberView {
                    user_id: m.user_id.to_string(),
                    email: m.email,
                    name: m.name,
                    roles: m.roles,
                    last_login_at: t(m.last_login_at),
                    mfa: m.mfa,
                    privileged: m.privileged,
                    idle: m.idle,
                })
                .collect(),
            tokens: r
                .tokens
                .into_iter()
                .map(|k| ReviewedTokenView {
                    id: k.id,
                    name: k.name,
                    prefix: k.prefix,
                    owner_email: k.owner_email,
                    expires_at: k.expires_at.to_rfc3339(),
                    last_used_at: t(k.last_used_at),
                    expiring_soon: k.expiring_soon,
                    never_used: k.never_used,
                })
                .collect(),
            grants: r
                .grants
                .into_iter()
                .map(|g| GrantView {
                    request_id: g.request_id,
                    email: g.email,
                    role: g.role,
                    kind: g.kind,
                    expires_at: t(g.expires_at),
                })
                .collect(),
        }
    }
}

/// Validates the idle window (days).
pub fn idle_days(raw: Option<i64>) -> Result<i64, ApiError> {
    match raw {
        None => Ok(90),
        Some(d) if (1..=3650).contains(&d) => Ok(d),
        Some(_) => Err(ApiError::BadRequest(
            "A query parameter is invalid.".into(),
            vec![FieldError::new("idle_days", "must be between 1 and 3650")],
        )),
    }
}

/// The access review of the organization.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/access-review", tag = "members",
    params(("org_id" = String, Path, description = "Organization id"), ReviewQuery),
    responses(
        (status = 200, body = ReviewView),
        (status = 400, description = "A query parameter is invalid", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("session" = ["members:read"]))
)]
pub async fn access_review(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    ApiQuery(q): ApiQuery<ReviewQuery>,
) -> ApiResult<Json<ReviewView>> {
    scope.require(labledger_domain::Permission::MEMBERS_READ)?;
    let days = idle_days(q.idle_days)?;
    Ok(Json(
        state.store().org(&scope).access_review(days).await?.into(),
    ))
}
