//! Projects: named groups of lab records with their own member list; a member can be limited to
//! the records of their projects.

use super::samples::optional_text;
use super::{CommonErrors, InputErrors};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, OrgAccess, RecordId};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use labledger_domain::project::ProjectStatus;
use labledger_domain::validate::RecordName;
use labledger_domain::{FieldError, FieldErrors, Permission, ProjectId, UserId};
use labledger_store::{Project, ProjectChange, ProjectMember};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct ProjectView {
    #[schema(value_type = String, format = Uuid)]
    id: String,
    name: String,
    description: Option<String>,
    /// active or archived.
    status: String,
    created_by: String,
    member_count: i64,
    sample_count: i64,
    created_at: String,
    updated_at: String,
}

impl From<Project> for ProjectView {
    fn from(p: Project) -> Self {
        Self {
            id: p.id.to_string(),
            name: p.name,
            description: p.description,
            status: p.status.as_str().to_owned(),
            created_by: p.created_by,
            member_count: p.member_count,
            sample_count: p.sample_count,
            created_at: p.created_at.to_rfc3339(),
            updated_at: p.updated_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ProjectMemberView {
    #[schema(value_type = String, format = Uuid)]
    user_id: String,
    name: String,
    email: String,
    added_at: String,
}

impl From<ProjectMember> for ProjectMemberView {
    fn from(m: ProjectMember) -> Self {
        Self {
            user_id: m.user_id.to_string(),
            name: m.name,
            email: m.email,
            added_at: m.added_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ProjectDetail {
    #[serde(flatten)]
    project: ProjectView,
    members: Vec<ProjectMemberView>,
}

#[derive(Serialize, ToSchema)]
pub struct ProjectList {
    items: Vec<ProjectView>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct NewProjectRequest {
    name: String,
    description: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ProjectUpdateRequest {
    name: Option<String>,
    /// An empty string clears it.
    description: Option<String>,
    /// active or archived.
    status: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ProjectMemberRequest {
    /// An active member of the org.
    user_id: String,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ProjectAccessRequest {
    /// true: the member sees only the records of the projects they belong to.
    limited: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ProjectAccessView {
    limited: bool,
}

/// Create a project; its creator becomes its first member.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/projects", tag = "projects",
    params(("org_id" = String, Path, description = "Organization id")),
    request_body = NewProjectRequest,
    responses((status = 201, body = ProjectView), CommonErrors, InputErrors),
    security(("session" = ["projects:write"]))
)]
pub async fn create_project(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    ApiJson(req): ApiJson<NewProjectRequest>,
) -> ApiResult<(StatusCode, Json<ProjectView>)> {
    scope.require(Permission::PROJECTS_WRITE)?;
    let mut errors = FieldErrors::default();
    let name = errors.check(RecordName::parse("name", &req.name));
    let description = optional_text(&mut errors, "description", req.description, 2000);
    errors.into_result()?;
    let name = name.ok_or_else(|| ApiError::Internal("validated name missing".into()))?;
    let project = state
        .store()
        .org(&scope)
        .create_project(name.into_string(), description)
        .await?;
    Ok((StatusCode::CREATED, Json(project.into())))
}

/// The org's projects by name (a project-limited member sees only theirs).
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/projects", tag = "projects",
    params(("org_id" = String, Path, description = "Organization id")),
    responses((status = 200, body = ProjectList), CommonErrors),
    security(("session" = ["projects:read"]))
)]
pub async fn list_projects(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
) -> ApiResult<Json<ProjectList>> {
    let items = state.store().org(&scope).projects().await?;
    Ok(Json(ProjectList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// One project with its members.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/projects/{project_id}", tag = "projects",
    params(("org_id" = String, Path, description = "Organization id"), ("project_id" = String, Path, description = "Project id")),
    responses((status = 200, body = ProjectDetail), CommonErrors),
    security(("session" = ["projects:read"]))
)]
pub async fn get_project(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<ProjectId>,
) -> ApiResult<Json<ProjectDetail>> {
    let org = state.store().org(&scope);
    let project = org.project(id).await?;
    let members = org.project_members(id).await?;
    Ok(Json(ProjectDetail {
        project: project.into(),
        members: members.into_iter().map(Into::into).collect(),
    }))
}

/// Rename, redescribe, archive or reactivate a project.
#[utoipa::path(
    patch, path = "/api/v1/orgs/{org_id}/projects/{project_id}", tag = "projects",
    params(("org_id" = String, Path, description = "Organization id"), ("project_id" = String, Path, description = "Project id")),
    request_body = ProjectUpdateRequest,
    responses((status = 200, body = ProjectView), CommonErrors, InputErrors),
    security(("session" = ["projects:read", "projects:write"]))
)]
pub async fn update_project(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<ProjectId>,
    ApiJson(req): ApiJson<ProjectUpdateRequest>,
) -> ApiResult<Json<ProjectView>> {
    scope.require(Permission::PROJECTS_WRITE)?;
    let mut errors = FieldErrors::default();
    let change = ProjectChange {
        name: req
            .name
            .and_then(|n| errors.check(RecordName::parse("name", &n)))
            .map(RecordName::into_string),
        description: req
            .description
            .map(|d| optional_text(&mut errors, "description", Some(d), 2000)),
        status: req
            .status
            .and_then(|s| errors.check(ProjectStatus::parse("status", s.trim()))),
    };
    errors.into_result()?;
    Ok(Json(
        state
            .store()
            .org(&scope)
            .update_project(id, change)
            .await?
            .into(),
    ))
}

/// Add an active org member to a project.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/projects/{project_id}/members", tag = "projects",
    params(("org_id" = String, Path, description = "Organization id"), ("project_id" = String, Path, description = "Project id")),
    request_body = ProjectMemberRequest,
    responses((status = 200, body = ProjectView), CommonErrors, InputErrors),
    security(("session" = ["projects:read", "projects:write"]))
)]
pub async fn add_project_member(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<ProjectId>,
    ApiJson(req): ApiJson<ProjectMemberRequest>,
) -> ApiResult<Json<ProjectView>> {
    scope.require(Permission::PROJECTS_WRITE)?;
    let user: UserId = req.user_id.trim().parse().map_err(|_| {
        ApiError::Invalid(vec![FieldError::new(
            "user_id",
            "is not an active member of this organization",
        )])
    })?;
    Ok(Json(
        state
            .store()
            .org(&scope)
            .add_project_member(id, user)
            .await?
            .into(),
    ))
}

/// Take a member off a project.
#[utoipa::path(
    delete, path = "/api/v1/orgs/{org_id}/projects/{project_id}/members/{user_id}", tag = "projects",
    params(
        ("org_id" = String, Path, description = "Organization id"),
        ("project_id" = String, Path, description = "Project id"),
        ("user_id" = String, Path, description = "User id")
    ),
    responses((status = 200, body = ProjectView), CommonErrors),
    security(("session" = ["projects:read", "projects:write"]))
)]
pub async fn remove_project_member(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    ids: Path<(String, String, String)>,
) -> ApiResult<Json<ProjectView>> {
    scope.require(Permission::PROJECTS_WRITE)?;
    let Path((_, project, user)) = ids;
    let project: ProjectId = project.parse().map_err(|_| ApiError::NotFound)?;
    let user: UserId = user.parse().map_err(|_| ApiError::NotFound)?;
    Ok(Json(
        state
            .store()
            .org(&scope)
            .remove_project_member(project, user)
            .await?
            .into(),
    ))
}

/// Limit a member to the records of their projects, or lift the limit.
#[utoipa::path(
    put, path = "/api/v1/orgs/{org_id}/members/{user_id}/project-access", tag = "projects",
    params(("org_id" = String, Path, description = "Organization id"), ("user_id" = String, Path, description = "User id")),
    request_body = ProjectAccessRequest,
    responses((status = 200, body = ProjectAccessView), CommonErrors, InputErrors),
    security(("session" = ["members:write"]))
)]
pub async fn set_project_access(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(user): RecordId<UserId>,
    ApiJson(req): ApiJson<ProjectAccessRequest>,
) -> ApiResult<Json<ProjectAccessView>> {
    scope.require(Permission::MEMBERS_WRITE)?;
    let limited = state
        .store()
        .org(&scope)
        .set_project_limited(user, req.limited)
        .await?;
    Ok(Json(ProjectAccessView { limited }))
}
