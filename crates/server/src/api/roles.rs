//! Roles: the built-in ones and custom named permission sets.

use super::{CommonErrors, InputErrors};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, AuthUser, OrgAccess, RecordId};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use labledger_domain::validate::{Description, RoleName};
use labledger_domain::{FieldError, FieldErrors, Permission, PermissionSet, RoleId};
use labledger_store::{Role, RoleChange};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct RoleView {
    #[schema(value_type = String, format = Uuid)]
    id: String,
    name: String,
    description: String,
    /// `resource:action` permissions.
    permissions: Vec<String>,
    builtin: bool,
    /// How many members hold it.
    members: i64,
}

impl From<Role> for RoleView {
    fn from(r: Role) -> Self {
        Self {
            id: r.id.to_string(),
            name: r.name,
            description: r.description,
            permissions: r.permissions.iter().map(|p| p.to_string()).collect(),
            builtin: r.builtin,
            members: r.members,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RoleList {
    items: Vec<RoleView>,
}

fn parse_permissions(raw: &[String]) -> Result<PermissionSet, FieldError> {
    if raw.len() > Permission::ALL.len() * 2 {
        return Err(FieldError::new("permissions", "too many entries"));
    }
    raw.iter()
        .enumerate()
        .map(|(i, s)| {
            s.parse::<Permission>()
                .map_err(|e| FieldError::new(format!("permissions[{i}]"), e.to_string()))
        })
        .collect()
}

/// List the roles.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/roles", tag = "roles",
    params(("org_id" = String, Path, description = "Organization id")),
    responses((status = 200, body = RoleList), CommonErrors),
    security(("session" = ["members:read"]))
)]
pub async fn list_roles(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
) -> ApiResult<Json<RoleList>> {
    let roles = state.store().org(&scope).roles().await?;
    Ok(Json(RoleList {
        items: roles.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoleRequest {
    name: String,
    #[serde(default)]
    description: String,
    /// `resource:action` permissions; only ones the caller holds.
    permissions: Vec<String>,
}

/// Create a custom role.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/roles", tag = "roles",
    params(("org_id" = String, Path, description = "Organization id")),
    request_body = CreateRoleRequest,
    responses((status = 201, body = RoleView), CommonErrors, InputErrors),
    security(("session" = ["members:read", "members:write"]))
)]
pub async fn create_role(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    caller: AuthUser,
    ApiJson(req): ApiJson<CreateRoleRequest>,
) -> ApiResult<(StatusCode, Json<RoleView>)> {
    scope.require(Permission::MEMBERS_WRITE)?;
    scope.require(Permission::MEMBERS_READ)?;
    caller.require_fresh(&state)?;
    let mut errors = FieldErrors::default();
    let name = errors.check(RoleName::parse("name", &req.name));
    let description = if req.description.trim().is_empty() {
        None
    } else {
        errors.check(Description::parse("description", &req.description))
    };
    let permissions = errors.check(parse_permissions(&req.permissions));
    errors.into_result()?;
    let (Some(name), Some(permissions)) = (name, permissions) else {
        return Err(ApiError::Internal("validated fields missing".into()));
    };
    let org = state.store().org(&scope);
    let id = org.create_role(name, description, permissions).await?;
    Ok((StatusCode::CREATED, Json(org.role(id).await?.into())))
}

/// One role.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/roles/{role_id}", tag = "roles",
    params(("org_id" = String, Path, description = "Organization id"), ("role_id" = String, Path, description = "Role id")),
    responses((status = 200, body = RoleView), CommonErrors),
    security(("session" = ["members:read"]))
)]
pub async fn get_role(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<RoleId>,
) -> ApiResult<Json<RoleView>> {
    Ok(Json(state.store().org(&scope).role(id).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRoleRequest {
    name: Option<String>,
    description: Option<String>,
    permissions: Option<Vec<String>>,
}

/// Change a custom role (built-in roles cannot change).
#[utoipa::path(
    patch, path = "/api/v1/orgs/{org_id}/roles/{role_id}", tag = "roles",
    params(("org_id" = String, Path, description = "Organization id"), ("role_id" = String, Path, description = "Role id")),
    request_body = UpdateRoleRequest,
    responses((status = 200, body = RoleView), CommonErrors, InputErrors),
    security(("session" = ["members:read", "members:write"]))
)]
pub async fn update_role(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    caller: AuthUser,
    RecordId(id): RecordId<RoleId>,
    ApiJson(req): ApiJson<UpdateRoleRequest>,
) -> ApiResult<Json<RoleView>> {
    scope.require(Permission::MEMBERS_WRITE)?;
    scope.require(Permission::MEMBERS_READ)?;
    caller.require_fresh(&state)?;
    let mut errors = FieldErrors::default();
    let change = RoleChange {
        name: req
            .name
            .and_then(|n| errors.check(RoleName::parse("name", &n))),
        description: req
            .description
            .and_then(|d| errors.check(Description::parse("description", &d))),
        permissions: req
            .permissions
            .and_then(|p| errors.check(parse_permissions(&p))),
    };
    errors.into_result()?;
    let org = state.store().org(&scope);
    org.update_role(id, change).await?;
    Ok(Json(org.role(id).await?.into()))
}

/// Delete a custom role nobody holds.
#[utoipa::path(
    delete, path = "/api/v1/orgs/{org_id}/roles/{role_id}", tag = "roles",
    params(("org_id" = String, Path, description = "Organization id"), ("role_id" = String, Path, description = "Role id")),
    responses((status = 204, description = "Deleted"), CommonErrors, InputErrors),
    security(("session" = ["members:write"]))
)]
pub async fn delete_role(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    caller: AuthUser,
    RecordId(id): RecordId<RoleId>,
) -> ApiResult<StatusCode> {
    scope.require(Permission::MEMBERS_WRITE)?;
    caller.require_fresh(&state)?;
    state.store().org(&scope).delete_role(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
