//! Members of an organization and their roles.

use super::{CommonErrors, InputErrors};
use crate::error::ApiResult;
use crate::extract::{ApiJson, AuthUser, OrgAccess, RecordId};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use labledger_domain::validate::{Email, PersonName};
use labledger_domain::{FieldError, FieldErrors, UserId};
use labledger_store::{Member, NewMember};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct MemberView {
    #[schema(value_type = String, format = Uuid)]
    user_id: String,
    email: String,
    name: String,
    roles: Vec<String>,
    /// RFC 3339, UTC.
    joined_at: String,
    active: bool,
}

impl From<Member> for MemberView {
    fn from(m: Member) -> Self {
        Self {
            user_id: m.user_id.to_string(),
            email: m.email,
            name: m.name,
            roles: m.roles,
            joined_at: m.joined_at.to_rfc3339(),
            active: m.active,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MemberList {
    items: Vec<MemberView>,
}

/// List the members.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/members", tag = "members",
    params(("org_id" = String, Path, description = "Organization id")),
    responses((status = 200, body = MemberList), CommonErrors),
    security(("session" = ["members:read"]))
)]
pub async fn list_members(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
) -> ApiResult<Json<MemberList>> {
    let members = state.store().org(&scope).members().await?;
    Ok(Json(MemberList {
        items: members.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    #[schema(example = "ada@lab.example")]
    email: String,
    /// Display name, used when the person has no account yet.
    name: String,
    /// Role names, e.g. `["Scientist"]`.
    #[serde(default)]
    roles: Vec<String>,
    /// Initial password for a new account (12 to 256 characters); generated when absent.
    #[serde(default)]
    password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AddedMember {
    member: MemberView,
    /// Whether a new account was made for this person.
    account_created: bool,
    /// The generated initial password of a new account, shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    initial_password: Option<String>,
}

const MAX_ROLES: usize = 32;

pub(crate) fn role_names(roles: &[String]) -> Result<(), FieldError> {
    if roles.len() > MAX_ROLES {
        return Err(FieldError::new(
            "roles",
            format!("at most {MAX_ROLES} roles"),
        ));
    }
    for (i, r) in roles.iter().enumerate() {
        if r.trim().is_empty() || r.chars().count() > 64 {
            return Err(FieldError::new(
                format!("roles[{i}]"),
                "must be a role name of 1 to 64 characters",
            ));
        }
    }
    Ok(())
}

/// Add a person as a member, with roles. Nobody can grant a permission they do not hold, and
/// only an Owner can grant the Owner role.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/members", tag = "members",
    params(("org_id" = String, Path, description = "Organization id")),
    request_body = AddMemberRequest,
    responses((status = 201, body = AddedMember), CommonErrors, InputErrors),
    security(("session" = ["members:write"]))
)]
pub async fn add_member(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    ApiJson(req): ApiJson<AddMemberRequest>,
) -> ApiResult<(StatusCode, Json<AddedMember>)> {
    // Permission first: a caller without it learns nothing from validation.
    scope.require(labledger_domain::Permission::MEMBERS_WRITE)?;
    let mut errors = FieldErrors::default();
    let email = errors.check(Email::parse("email", &req.email));
    let name = errors.check(PersonName::parse("name", &req.name));
    errors.check(role_names(&req.roles));
    let (password, generated) = match req.password {
        Some(p) => (
            errors
                .check(super::credentials::strong_password(
                    "password",
                    &p,
                    &[&req.email, &req.name, scope.org_name()],
                ))
                .map(|p| p.expose().to_owned()),
            false,
        ),
        None => (Some(labledger_auth::generate_password()), true),
    };
    errors.into_result()?;
    let (Some(email), Some(name), Some(password)) = (email, name, password) else {
        return Err(crate::error::ApiError::Internal(
            "validated fields missing".into(),
        ));
    };
    let password_hash = state.hasher().hash(password.clone()).await?;
    let (member, created) = state
        .store()
        .org(&scope)
        .add_member(NewMember {
            email,
            name,
            password_hash,
            roles: req.roles,
        })
        .await?;
    let initial_password = (created && generated).then_some(password);
    Ok((
        StatusCode::CREATED,
        Json(AddedMember {
            member: member.into(),
            account_created: created,
            initial_password,
        }),
    ))
}

/// One member.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/members/{user_id}", tag = "members",
    params(("org_id" = String, Path, description = "Organization id"), ("user_id" = String, Path, description = "User id")),
    responses((status = 200, body = MemberView), CommonErrors),
    security(("session" = ["members:read"]))
)]
pub async fn get_member(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(user): RecordId<UserId>,
) -> ApiResult<Json<MemberView>> {
    Ok(Json(state.store().org(&scope).member(user).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMemberRequest {
    /// The member's roles from now on (replaces the current ones).
    roles: Vec<String>,
}

/// Replace a member's roles. The last Owner keeps the Owner role.
#[utoipa::path(
    patch, path = "/api/v1/orgs/{org_id}/members/{user_id}", tag = "members",
    params(("org_id" = String, Path, description = "Organization id"), ("user_id" = String, Path, description = "User id")),
    request_body = UpdateMemberRequest,
    responses((status = 200, body = MemberView), CommonErrors, InputErrors),
    security(("session" = ["members:write"]))
)]
pub async fn update_member(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    caller: AuthUser,
    RecordId(user): RecordId<UserId>,
    ApiJson(req): ApiJson<UpdateMemberRequest>,
) -> ApiResult<Json<MemberView>> {
    scope.require(labledger_domain::Permission::MEMBERS_WRITE)?;
    caller.require_fresh(&state)?;
    role_names(&req.roles)?;
    Ok(Json(
        state
            .store()
            .org(&scope)
            .set_member_roles(user, req.roles)
            .await?
            .into(),
    ))
}

/// Remove a member from the organization. The last Owner cannot be removed.
#[utoipa::path(
    delete, path = "/api/v1/orgs/{org_id}/members/{user_id}", tag = "members",
    params(("org_id" = String, Path, description = "Organization id"), ("user_id" = String, Path, description = "User id")),
    responses((status = 204, description = "Removed"), CommonErrors, InputErrors),
    security(("session" = ["members:write"]))
)]
pub async fn remove_member(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(user): RecordId<UserId>,
) -> ApiResult<StatusCode> {
    state.store().org(&scope).remove_member(user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deactivate a member: they keep their history but reach nothing, and their sessions end at once.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/members/{user_id}/deactivate", tag = "members",
    params(("org_id" = String, Path, description = "Organization id"), ("user_id" = String, Path, description = "User id")),
    responses((status = 200, body = MemberView), CommonErrors, InputErrors),
    security(("session" = ["members:write"]))
)]
pub async fn deactivate_member(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(user): RecordId<UserId>,
) -> ApiResult<Json<MemberView>> {
    Ok(Json(
        state
            .store()
            .org(&scope)
            .set_member_active(user, false)
            .await?
            .into(),
    ))
}

/// Reactivate a deactivated member.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/members/{user_id}/reactivate", tag = "members",
    params(("org_id" = String, Path, description = "Organization id"), ("user_id" = String, Path, description = "User id")),
    responses((status = 200, body = MemberView), CommonErrors, InputErrors),
    security(("session" = ["members:write"]))
)]
pub async fn reactivate_member(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(user): RecordId<UserId>,
) -> ApiResult<Json<MemberView>> {
    Ok(Json(
        state
            .store()
            .org(&scope)
            .set_member_active(user, true)
            .await?
            .into(),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct SessionsEnded {
    revoked: u64,
}

/// End every session of a member (a lost laptop, a leaked cookie).
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/members/{user_id}/revoke-sessions", tag = "members",
    params(("org_id" = String, Path, description = "Organization id"), ("user_id" = String, Path, description = "User id")),
    responses((status = 200, body = SessionsEnded), CommonErrors, InputErrors),
    security(("session" = ["members:write"]))
)]
pub async fn revoke_member_sessions(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(user): RecordId<UserId>,
) -> ApiResult<Json<SessionsEnded>> {
    let revoked = state
        .store()
        .org(&scope)
        .revoke_member_sessions(user)
        .await?;
    Ok(Json(SessionsEnded { revoked }))
}
