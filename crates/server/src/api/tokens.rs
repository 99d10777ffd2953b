//! API tokens for instruments and scripts: created by a logged-in user with a subset of their
//! permissions, shown once, sent as `Authorization: Bearer llat_…`.

use super::{CommonErrors, InputErrors};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, OrgAccess, RecordId};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use labledger_domain::validate::TokenName;
use labledger_domain::{ApiTokenId, FieldError, FieldErrors, Permission, PermissionSet, Timestamp};
use labledger_store::{ApiToken, NewApiToken};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct ApiTokenView {
    #[schema(value_type = String, format = Uuid)]
    id: String,
    name: String,
    /// The first characters of the token, to recognize it (never the whole token).
    prefix: String,
    permissions: Vec<String>,
    /// The user who created it; the token never does more than they can do now.
    #[schema(value_type = String, format = Uuid)]
    user_id: String,
    user_email: String,
    /// `active`, `expired` or `revoked`.
    status: String,
    created_at: String,
    expires_at: String,
    last_used_at: Option<String>,
    revoked_at: Option<String>,
}

impl From<ApiToken> for ApiTokenView {
    fn from(t: ApiToken) -> Self {
        Self {
            status: t.status(Timestamp::now()).to_owned(),
            id: t.id.to_string(),
            name: t.name,
            prefix: t.prefix,
            permissions: t.permissions.iter().map(|p| p.to_string()).collect(),
            user_id: t.user_id.to_string(),
            user_email: t.user_email,
            created_at: t.created_at.to_rfc3339(),
            expires_at: t.expires_at.to_rfc3339(),
            last_used_at: t.last_used_at.map(Timestamp::to_rfc3339),
            revoked_at: t.revoked_at.map(Timestamp::to_rfc3339),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ApiTokenList {
    items: Vec<ApiTokenView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiTokenRequest {
    #[schema(example = "plate reader 3")]
    name: String,
    /// A subset of the creator's own permissions, e.g. `["samples:read"]`.
    permissions: Vec<String>,
    /// 1 to 365.
    #[schema(minimum = 1, maximum = 365)]
    expires_in_days: i64,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedApiToken {
    #[schema(value_type = String, format = Uuid)]
    id: String,
    name: String,
    /// The token, shown this once: send it as `Authorization: Bearer <token>`.
    token: String,
    prefix: String,
    permissions: Vec<String>,
    expires_at: String,
}

/// Parses a create request into the store's form (without the secret).
pub fn parse_create(
    name: &str,
    permissions: &[String],
    expires_in_days: i64,
) -> Result<(TokenName, PermissionSet, i64), ApiError> {
    let mut errors = FieldErrors::default();
    let name = errors.check(TokenName::parse("name", name));
    let mut set = PermissionSet::EMPTY;
    if permissions.is_empty() {
        errors.push(FieldError::new(
            "permissions",
            "name at least one permission",
        ));
    }
    if permissions.len() > Permission::ALL.len() {
        errors.push(FieldError::new("permissions", "too many entries"));
    }
    for (i, p) in permissions.iter().enumerate() {
        match p.trim().parse::<Permission>() {
            Ok(p) => set.insert(p),
            Err(_) => errors.push(FieldError::new(
                format!("permissions[{i}]"),
                "must be a permission such as `samples:read`",
            )),
        }
    }
    if !(1..=365).contains(&expires_in_days) {
        errors.push(FieldError::new("expires_in_days", "must be 1 to 365"));
    }
    errors.into_result()?;
    let name = name.ok_or_else(|| ApiError::Internal("validated name missing".into()))?;
    Ok((name, set, expires_in_days))
}

/// Create an API token (a logged-in user only, not a token). Its permissions must be a subset of
/// the creator's; its secret is answered this once and stored only as a hash.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/api-tokens", tag = "api-tokens",
    params(("org_id" = String, Path, description = "Organization id")),
    request_body = CreateApiTokenRequest,
    responses((status = 201, body = CreatedApiToken), CommonErrors, InputErrors),
    security(("session" = []))
)]
pub async fn create_api_token(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    caller: crate::extract::AuthUser,
    ApiJson(req): ApiJson<CreateApiTokenRequest>,
) -> ApiResult<(StatusCode, Json<CreatedApiToken>)> {
    scope.require_user()?;
    caller.require_fresh(&state)?;
    let (name, permissions, expires_in_days) =
        parse_create(&req.name, &req.permissions, req.expires_in_days)?;
    let (token, token_hash, prefix) = labledger_auth::new_api_token();
    let created = state
        .store()
        .org(&scope)
        .create_api_token(NewApiToken {
            name,
            permissions,
            expires_in_days,
            token_hash,
            prefix,
        })
        .await?;
    let view = ApiTokenView::from(created);
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiToken {
            id: view.id,
            name: view.name,
            token,
            prefix: view.prefix,
            permissions: view.permissions,
            expires_at: view.expires_at,
        }),
    ))
}

/// The caller's own tokens; with `members:write`, every token of the organization.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/api-tokens", tag = "api-tokens",
    params(("org_id" = String, Path, description = "Organization id")),
    responses((status = 200, body = ApiTokenList), CommonErrors),
    security(("session" = []))
)]
pub async fn list_api_tokens(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
) -> ApiResult<Json<ApiTokenList>> {
    let tokens = state.store().org(&scope).api_tokens().await?;
    Ok(Json(ApiTokenList {
        items: tokens.into_iter().map(Into::into).collect(),
    }))
}

/// Revoke a token: one's own, or any with `members:write`. It is refused at once.
#[utoipa::path(
    delete, path = "/api/v1/orgs/{org_id}/api-tokens/{token_id}", tag = "api-tokens",
    params(("org_id" = String, Path, description = "Organization id"), ("token_id" = String, Path, description = "Token id")),
    responses((status = 204, description = "Revoked"), CommonErrors),
    security(("session" = ["members:write"]))
)]
pub async fn revoke_api_token(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<ApiTokenId>,
) -> ApiResult<StatusCode> {
    state.store().org(&scope).revoke_api_token(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
