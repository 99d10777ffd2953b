//! The organization itself, as its members see it.

use super::CommonErrors;
use crate::extract::OrgAccess;
use axum::Json;
use serde::Serialize;
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
