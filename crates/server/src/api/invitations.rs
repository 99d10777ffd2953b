//! Invitations to join an organization, sent by email.

use super::{CommonErrors, InputErrors};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, OrgAccess, RecordId};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use labledger_domain::validate::Email;
use labledger_domain::{FieldErrors, InvitationId, Permission};
use labledger_store::{Invitation, OrgScope};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct InvitationView {
    #[schema(value_type = String, format = Uuid)]
    id: String,
    email: String,
    roles: Vec<String>,
    #[schema(value_type = String, format = Uuid)]
    invited_by: String,
    /// RFC 3339, UTC.
    created_at: String,
    /// RFC 3339, UTC.
    expires_at: String,
    /// `pending`, `accepted`, `revoked` or `expired`.
    status: String,
}

impl From<Invitation> for InvitationView {
    fn from(i: Invitation) -> Self {
        Self {
            id: i.id.to_string(),
            email: i.email,
            roles: i.roles,
            invited_by: i.invited_by,
            created_at: i.created_at.to_rfc3339(),
            expires_at: i.expires_at.to_rfc3339(),
            status: i.status.to_owned(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct InvitationList {
    items: Vec<InvitationView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitation {
    #[schema(example = "ada@lab.example")]
    email: String,
    /// Role names, e.g. `["Scientist"]`.
    #[serde(default)]
    roles: Vec<String>,
}

/// Invites a person and mails them the link; shared by the API and the UI.
pub async fn invite(
    state: &AppState,
    scope: &OrgScope,
    email: &str,
    roles: Vec<String>,
) -> ApiResult<Invitation> {
    scope.require(Permission::MEMBERS_WRITE)?;
    let mut errors = FieldErrors::default();
    let email = errors.check(Email::parse("email", email));
    errors.check(super::members::role_names(&roles));
    errors.into_result()?;
    let Some(email) = email else {
        return Err(ApiError::Internal("validated email missing".into()));
    };
    let Some(mailer) = state.mailer() else {
        return Err(ApiError::SmtpNotConfigured);
    };
    let token = labledger_auth::random_token(32);
    let invitation = state
        .store()
        .org(scope)
        .create_invitation(
            email.clone(),
            roles,
            labledger_auth::token_hash(&token),
            super::credentials::INVITATION_TTL_SECS,
        )
        .await?;
    let link = format!("{}/invite?token={token}", state.config().public_url);
    let body = format!(
        "Hello,\n\nYou have been invited to join {} on LabLedger (roles: {}). Open this link within 7 days to accept:\n\n{link}\n\nIf you did not expect this, ignore this message.\n",
        scope.org_name(),
        if invitation.roles.is_empty() { "none".to_owned() } else { invitation.roles.join(", ") },
    );
    // The invitation exists (and is audited) even if the mail fails; the inviter can revoke it
    // and invite again. Failure is logged and reported.
    mailer
        .send(
            email.as_str(),
            &format!("Invitation to {} on LabLedger", scope.org_name()),
            body,
        )
        .await
        .map_err(|e| ApiError::Unavailable(format!("sending the invitation mail failed: {e}")))?;
    Ok(invitation)
}

/// Invite a person by email with roles (the grant rules of adding a member apply). The mail
/// holds a single-use link valid for 7 days.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/invitations", tag = "members",
    params(("org_id" = String, Path, description = "Organization id")),
    request_body = CreateInvitation,
    responses(
        (status = 201, body = InvitationView),
        (status = 503, description = "No SMTP server configured", body = Problem, content_type = "application/problem+json"),
        CommonErrors, InputErrors
    ),
    security(("session" = ["members:write"]))
)]
pub async fn create_invitation(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    ApiJson(req): ApiJson<CreateInvitation>,
) -> ApiResult<(StatusCode, Json<InvitationView>)> {
    let invitation = invite(&state, &scope, &req.email, req.roles).await?;
    Ok((StatusCode::CREATED, Json(invitation.into())))
}

/// The organization's invitations, newest first.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/invitations", tag = "members",
    params(("org_id" = String, Path, description = "Organization id")),
    responses((status = 200, body = InvitationList), CommonErrors),
    security(("session" = ["members:read"]))
)]
pub async fn list_invitations(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
) -> ApiResult<Json<InvitationList>> {
    let items = state.store().org(&scope).invitations().await?;
    Ok(Json(InvitationList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// Revoke a pending invitation: its link stops working.
#[utoipa::path(
    delete, path = "/api/v1/orgs/{org_id}/invitations/{invitation_id}", tag = "members",
    params(("org_id" = String, Path, description = "Organization id"), ("invitation_id" = String, Path, description = "Invitation id")),
    responses((status = 204, description = "Revoked"), CommonErrors, InputErrors),
    security(("session" = ["members:write"]))
)]
pub async fn revoke_invitation(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<InvitationId>,
) -> ApiResult<StatusCode> {
    state.store().org(&scope).revoke_invitation(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
