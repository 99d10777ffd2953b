//! The organization itself, as its members see it.

use super::{CommonErrors, InputErrors};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, AuthUser, OrgAccess};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use labledger_domain::Permission;
use labledger_store::OrgSettings;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct OrgView {
    #[schema(value_type = String, format = Uuid)]
    id: String,
    name: String,
    /// The caller's permissions in this organization.
    permissions: Vec<String>,
}

/// The organization and the caller's permissions in it.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}", tag = "orgs",
    params(("org_id" = String, Path, description = "Organization id")),
    responses((status = 200, body = OrgView), CommonErrors),
    security(("session" = []))
)]
pub async fn get_org(OrgAccess(scope): OrgAccess) -> Json<OrgView> {
    Json(OrgView {
        id: scope.org_id().to_string(),
        name: scope.org_name().to_owned(),
        permissions: scope.permissions().iter().map(|p| p.to_string()).collect(),
    })
}

#[derive(Serialize, ToSchema)]
pub struct OrgSettingsView {
    /// Members without MFA can reach nothing of the org until they enrol.
    require_mfa: bool,
    /// The region the org's data lives in; empty when not pinned (every node serves it).
    region: String,
    /// A move of the org's data to this region, asked for by an operator, waiting for an
    /// Owner's approval (`PATCH …/settings` with `region`).
    region_move_to: Option<String>,
    /// How far that move has come: `requested` (waiting for an Owner), `approved` (waiting for
    /// the operator to run it), `copying` (the org's files are being copied to the new
    /// region's store: writes answer 409 `region-move-in-progress` until it is done).
    region_move_phase: Option<String>,
}

impl From<OrgSettings> for OrgSettingsView {
    fn from(s: OrgSettings) -> Self {
        Self {
            require_mfa: s.require_mfa,
            region: s.region,
            region_move_to: s.region_move_to,
            region_move_phase: s.region_move_phase.map(str::to_owned),
        }
    }
}

/// The organization's settings.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/settings", tag = "orgs",
    params(("org_id" = String, Path, description = "Organization id")),
    responses((status = 200, body = OrgSettingsView), CommonErrors),
    security(("session" = ["org_settings:read"]))
)]
pub async fn get_settings(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
) -> ApiResult<Json<OrgSettingsView>> {
    Ok(Json(state.store().org(&scope).settings().await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrgSettingsRequest {
    require_mfa: Option<bool>,
    /// Approves the pending region move (Owners only): must name the region an operator asked
    /// for. The operator then moves the org's files to that region's object store, after
    /// which only that region's nodes serve the org.
    region: Option<String>,
}

/// Change the organization's settings (a sensitive action: needs a recent step-up). Audited as
/// `org.settings_change`.
#[utoipa::path(
    patch, path = "/api/v1/orgs/{org_id}/settings", tag = "orgs",
    params(("org_id" = String, Path, description = "Organization id")),
    request_body = UpdateOrgSettingsRequest,
    responses((status = 200, body = OrgSettingsView), CommonErrors, InputErrors),
    security(("session" = ["org_settings:write"]))
)]
pub async fn update_settings(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    user: AuthUser,
    ApiJson(req): ApiJson<UpdateOrgSettingsRequest>,
) -> ApiResult<Json<OrgSettingsView>> {
    scope.require(Permission::ORG_SETTINGS_WRITE)?;
    user.require_fresh(&state)?;
    if req.require_mfa == Some(true) && !user.mfa_active {
        // Otherwise the change would lock its own author out of the org at once.
        return Err(ApiError::Refused(
            "Enrol MFA for your own account before requiring it of the organization.".into(),
        ));
    }
    let region = req
        .region
        .as_deref()
        .map(|r| labledger_domain::validate::RegionName::parse("region", r))
        .transpose()
        .map_err(|e| ApiError::Invalid(vec![e]))?;
    Ok(Json(
        state
            .store()
            .org(&scope)
            .update_settings(req.require_mfa, region)
            .await?
            .into(),
    ))
}
