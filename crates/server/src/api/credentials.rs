//! Passwords: the strength rule applied wherever one is set, changing one's own password, and
//! password reset by email. Invitation acceptance lives here too: like a reset, it is reached
//! with a mailed token and no session.

use super::{CommonErrors, InputErrors};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, AuthUser, ClientInfo};
use crate::security::{security_event, SecurityEvent};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use labledger_domain::validate::{Email, NewPassword, PersonName};
use labledger_domain::{FieldError, FieldErrors};
use labledger_store::{InvitationAccount, ThrottleKey, ThrottleScope};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Invitations stay valid this long.
pub const INVITATION_TTL_SECS: i64 = 7 * 24 * 3600;
/// Password-reset links stay valid this long.
pub const RESET_TTL_SECS: i64 = 3600;

/// A new password: 12 to 256 characters (NIST SP 800-63B, no composition rules) that zxcvbn
/// scores 3 or more given the person's context (email, name, org name). The error names `field`
/// and carries zxcvbn's feedback.
pub fn strong_password(
    field: &str,
    raw: &str,
    context: &[&str],
) -> Result<NewPassword, FieldError> {
    let password = NewPassword::parse(field, raw)?;
    labledger_auth::check_password_strength(password.expose(), context)
        .map_err(|weak| FieldError::new(field, weak.message))?;
    Ok(password)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    current_password: String,
    /// 12 to 256 characters, not easy to guess (zxcvbn score 3 or more).
    new_password: String,
}

/// Change one's own password. Ends every other session of the user (this one stays).
#[utoipa::path(
    post, path = "/api/v1/me/password", tag = "auth",
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed; the user's other sessions have ended"),
        (status = 429, description = "Too many failed attempts", body = Problem, content_type = "application/problem+json"),
        CommonErrors, InputErrors
    ),
    security(("session" = []))
)]
pub async fn change_password(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientInfo,
    ApiJson(req): ApiJson<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    change_password_with(
        &state,
        &user,
        &client,
        req.current_password,
        &req.new_password,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes the caller's password (API and UI): checks the new one, throttles and checks the
/// current one, then stores the new one and ends the user's other sessions (their count).
pub async fn change_password_with(
    state: &AppState,
    user: &AuthUser,
    client: &ClientInfo,
    current_password: String,
    new_password: &str,
) -> ApiResult<u64> {
    let mut errors = FieldErrors::default();
    if current_password.is_empty() || current_password.chars().count() > 1024 {
        errors.push(FieldError::new(
            "current_password",
            "must be 1 to 1024 characters",
        ));
    }
    let orgs: Vec<String> = state
        .store()
        .memberships(user.user_id)
        .await?
        .into_iter()
        .map(|m| m.org_name)
        .collect();
    let mut context: Vec<&str> = vec![&user.email, &user.name];
    context.extend(orgs.iter().map(String::as_str));
    let new = errors.check(strong_password("new_password", new_password, &context));
    errors.into_result()?;
    let Some(new) = new else {
        return Err(ApiError::Internal("validated password missing".into()));
    };
    let keys = super::auth::login_keys(&user.email, client);
    super::auth::check_throttle(state, &keys, &user.email).await?;
    let stored = state
        .store()
        .user(user.user_id)
        .await?
        .map(|u| u.password_hash);
    if !state.hasher().verify(current_password, stored).await? {
        security_event(
            SecurityEvent::PasswordChangeFailed,
            &format!("user={}", user.user_id),
        );
        super::auth::count_failure(state, keys).await?;
        return Err(ApiError::Invalid(vec![FieldError::new(
            "current_password",
            "is not your current password",
        )]));
    }
    let hash = state.hasher().hash(new.expose().to_owned()).await?;
    let ended = state
        .store()
        .set_password(user.user_id, hash, Some(user.token_hash.clone()))
        .await?;
    security_event(
        SecurityEvent::PasswordChanged,
        &format!("user={} other_sessions_ended={ended}", user.user_id),
    );
    Ok(ended)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    #[schema(example = "ada@lab.example")]
    email: String,
}

/// Ask for a password-reset link by email. Always 202, whether or not the email has an account.
#[utoipa::path(
    post, path = "/api/v1/auth/password-reset", tag = "auth",
    request_body = ResetRequest,
    responses(
        (status = 202, description = "If the email has an account, a reset link is on its way"),
        (status = 429, description = "Too many requests", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No SMTP server configured", body = Problem, content_type = "application/problem+json"),
        InputErrors
    )
)]
pub async fn request_reset(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<ResetRequest>,
) -> ApiResult<StatusCode> {
    let email = Email::parse("email", &req.email)?;
    request_reset_for(&state, &client, &email).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Every request counts against the email and the source address (so nobody can flood a
/// mailbox); the mail goes out in the background, so the answer takes the same time either way.
pub async fn request_reset_for(
    state: &AppState,
    client: &ClientInfo,
    email: &Email,
) -> ApiResult<()> {
    let Some(mailer) = state.mailer().cloned() else {
        return Err(ApiError::SmtpNotConfigured);
    };
    // The mailbox under the strict (per-pair) policy, so nobody floods it from many addresses.
    let mut keys = vec![ThrottleKey {
        scope: ThrottleScope::Pair,
        ..ThrottleKey::account("reset", email.as_str())
    }];
    if let Some(ip) = &client.meta.source_ip {
        keys.push(ThrottleKey::address("reset", ip));
    }
    let decision = state
        .store()
        .throttle_decision(&keys, &state.config().throttle)
        .await?;
    if let Some(secs) = decision.retry_after_secs() {
        security_event(
            SecurityEvent::LoginThrottled,
            &format!("password reset for {email}"),
        );
        return Err(ApiError::Throttled(secs));
    }
    // Not a lockable failure: reset requests only back off.
    let keys: Vec<ThrottleKey> = keys
        .into_iter()
        .map(|k| ThrottleKey {
            lockable: false,
            ..k
        })
        .collect();
    state
        .store()
        .throttle_failure(keys, state.config().throttle)
        .await?;
    let Some(user) = state.store().user_by_email(email).await? else {
        return Ok(());
    };
    let token = labledger_auth::random_token(32);
    state
        .store()
        .create_password_reset(user.id, labledger_auth::token_hash(&token), RESET_TTL_SECS)
        .await?;
    let link = format!("{}/reset/confirm?token={token}", state.config().public_url);
    let body = format!(
        "Hello {},\n\nSomeone (hopefully you) asked to reset your LabLedger password. Open this link within one hour to choose a new one:\n\n{link}\n\nIf you did not ask for this, ignore this message: your password stays as it is.\n",
        user.name
    );
    let to = user.email.clone();
    tokio::spawn(async move {
        if let Err(e) = mailer
            .send(&to, "Reset your LabLedger password", body)
            .await
        {
            tracing::error!(error = %e, "sending a password-reset mail failed");
        }
    });
    Ok(())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirm {
    /// The token from the reset link.
    token: String,
    new_password: String,
}

/// Set a new password with a reset token (single use, valid one hour). Ends every session of
/// the user.
#[utoipa::path(
    post, path = "/api/v1/auth/password-reset/confirm", tag = "auth",
    request_body = ResetConfirm,
    responses((status = 204, description = "Password set; all sessions ended"), InputErrors)
)]
pub async fn confirm_reset(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ResetConfirm>,
) -> ApiResult<StatusCode> {
    confirm_reset_with(&state, &req.token, &req.new_password, "new_password").await?;
    Ok(StatusCode::NO_CONTENT)
}

fn token_shape(token: &str) -> Result<(), FieldError> {
    if token.is_empty() || token.len() > 200 {
        return Err(FieldError::new("token", "is not a valid token"));
    }
    Ok(())
}

pub async fn confirm_reset_with(
    state: &AppState,
    token: &str,
    new_password: &str,
    field: &str,
) -> ApiResult<()> {
    let mut errors = FieldErrors::default();
    errors.check(token_shape(token));
    errors.check(NewPassword::parse(field, new_password));
    errors.into_result()?;
    let hash = labledger_auth::token_hash(token);
    let Some(user) = state.store().password_reset_user(&hash).await? else {
        security_event(SecurityEvent::TokenRejected, "password reset");
        return Err(FieldError::new("token", "is invalid, used or expired").into());
    };
    let orgs: Vec<String> = state
        .store()
        .memberships(user.id)
        .await?
        .into_iter()
        .map(|m| m.org_name)
        .collect();
    let mut context: Vec<&str> = vec![&user.email, &user.name];
    context.extend(orgs.iter().map(String::as_str));
    let new = strong_password(field, new_password, &context)?;
    let password_hash = state.hasher().hash(new.expose().to_owned()).await?;
    match state
        .store()
        .consume_password_reset(hash, password_hash)
        .await?
    {
        Some(id) => {
            security_event(
                SecurityEvent::PasswordChanged,
                &format!("user={id} via=reset"),
            );
            Ok(())
        }
        None => Err(FieldError::new("token", "is invalid, used or expired").into()),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    /// The token from the invitation mail.
    token: String,
    /// Your name (for a new account; ignored when the email already has one).
    #[serde(default)]
    name: Option<String>,
    /// A new password for a new account, or the current password of the existing account.
    password: String,
}

#[derive(Serialize, ToSchema)]
pub struct AcceptedView {
    #[schema(value_type = String, format = Uuid)]
    org_id: String,
    #[schema(value_type = String, format = Uuid)]
    user_id: String,
    account_created: bool,
}

/// Accept an invitation: creates the account (or, when the invited email already has one,
/// checks that account's password) and the membership with the invited roles.
#[utoipa::path(
    post, path = "/api/v1/invitations/accept", tag = "members",
    request_body = AcceptInvitation,
    responses(
        (status = 201, body = AcceptedView),
        (status = 429, description = "Too many failed attempts", body = Problem, content_type = "application/problem+json"),
        InputErrors
    )
)]
pub async fn accept_invitation(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<AcceptInvitation>,
) -> ApiResult<(StatusCode, Json<AcceptedView>)> {
    let accepted = accept_with(
        &state,
        &client,
        &req.token,
        req.name.as_deref(),
        &req.password,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(AcceptedView {
            org_id: accepted.org_id.to_string(),
            user_id: accepted.user_id.to_string(),
            account_created: accepted.account_created,
        }),
    ))
}

pub async fn accept_with(
    state: &AppState,
    client: &ClientInfo,
    token: &str,
    name: Option<&str>,
    password: &str,
) -> ApiResult<labledger_store::AcceptedInvitation> {
    let mut errors = FieldErrors::default();
    errors.check(token_shape(token));
    errors.check(NewPassword::parse("password", password));
    if let Some(n) = name {
        errors.check(PersonName::parse("name", n));
    }
    errors.into_result()?;
    let hash = labledger_auth::token_hash(token);
    let Some(invitation) = state.store().pending_invitation(&hash).await? else {
        security_event(SecurityEvent::TokenRejected, "invitation");
        return Err(FieldError::new("token", "is invalid, used, revoked or expired").into());
    };
    let account = match invitation.existing_user {
        Some(user) => {
            // The invited email has an account: its owner proves it with its password.
            let keys = super::auth::login_keys(&invitation.email, client);
            super::auth::check_throttle(state, &keys, &invitation.email).await?;
            let stored = state.store().user(user).await?.map(|u| u.password_hash);
            if !state.hasher().verify(password.to_owned(), stored).await? {
                super::auth::count_failure(state, keys).await?;
                return Err(FieldError::new(
                    "password",
                    "an account with this email exists: enter its current password",
                )
                .into());
            }
            InvitationAccount::Existing(user)
        }
        None => {
            let mut errors = FieldErrors::default();
            let name = errors.check(PersonName::parse("name", name.unwrap_or("")));
            let context = [
                invitation.email.as_str(),
                name.as_ref().map(|n| n.as_str()).unwrap_or(""),
                invitation.org_name.as_str(),
            ];
            let password = errors.check(strong_password("password", password, &context));
            errors.into_result()?;
            let (Some(name), Some(password)) = (name, password) else {
                return Err(ApiError::Internal("validated fields missing".into()));
            };
            InvitationAccount::New {
                name,
                password_hash: state.hasher().hash(password.expose().to_owned()).await?,
            }
        }
    };
    let accepted = state
        .store()
        .accept_invitation(&invitation, account, client.meta.clone())
        .await
        .map_err(|e| match e {
            labledger_store::StoreError::NotFound => ApiError::Invalid(vec![FieldError::new(
                "token",
                "is invalid, used, revoked or expired",
            )]),
            other => other.into(),
        })?;
    Ok(accepted)
}
