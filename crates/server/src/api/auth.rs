//! Login, logout and the current user.

use super::CommonErrors;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, AuthUser, ClientInfo, SESSION_COOKIE};
use crate::security::{security_event, SecurityEvent};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use axum_extra::extract::cookie::{Cookie, SameSite};
use labledger_domain::throttle::Decision;
use labledger_domain::validate::Email;
use labledger_domain::{FieldError, FieldErrors, Permission, UserId};
use labledger_store::{Membership, ThrottleKey};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "owner@lab.example")]
    email: String,
    password: String,
}

#[derive(Serialize, ToSchema)]
pub struct MembershipView {
    #[schema(value_type = String, format = Uuid)]
    org_id: String,
    org_name: String,
    roles: Vec<String>,
}

impl From<Membership> for MembershipView {
    fn from(m: Membership) -> Self {
        Self {
            org_id: m.org_id.to_string(),
            org_name: m.org_name,
            roles: m.roles,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    #[schema(value_type = String, format = Uuid)]
    id: String,
    email: String,
    name: String,
    memberships: Vec<MembershipView>,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    #[serde(flatten)]
    user: Me,
    /// Send this as `X-CSRF-Token` on unsafe requests authenticated by the session cookie.
    csrf_token: String,
}

async fn me_of(state: &AppState, id: UserId, email: String, name: String) -> ApiResult<Me> {
    let memberships = state.store().memberships(id).await?;
    Ok(Me {
        id: id.to_string(),
        email,
        name,
        memberships: memberships.into_iter().map(Into::into).collect(),
    })
}

pub fn session_cookie(state: &AppState, token: String) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, token))
        .path("/")
        .http_only(true)
        .secure(state.config().secure_cookies)
        .same_site(SameSite::Lax)
        .build()
}

pub fn expired_cookie() -> Cookie<'static> {
    let mut c = Cookie::build((SESSION_COOKIE, ""))
        .path("/")
        .http_only(true)
        .build();
    c.make_removal();
    c
}

/// The shape of a login: a well-formed email and a password of sane length. (Says nothing about
/// whether an account exists.)
pub fn validate_login(email: &str, password: &str) -> Result<(), FieldErrors> {
    let mut errors = FieldErrors::default();
    errors.check(Email::parse("email", email));
    if password.is_empty() || password.chars().count() > MAX_LOGIN_PASSWORD_CHARS {
        errors.push(FieldError::new(
            "password",
            format!("must be 1 to {MAX_LOGIN_PASSWORD_CHARS} characters"),
        ));
    }
    errors.into_result()
}

const MAX_LOGIN_PASSWORD_CHARS: usize = 1024;

/// Checks email and password and opens a session; the same failure for an unknown email and a
/// wrong password, in the same time. Returns the user and the new session's CSRF token.
pub async fn open_session(
    state: &AppState,
    client: ClientInfo,
    email: &str,
    password: String,
) -> ApiResult<(Me, String, String)> {
    let keys = login_keys(email, &client);
    check_throttle(state, &keys, email).await?;
    let email = Email::parse("email", email).ok();
    let user = match &email {
        Some(e) => state.store().user_by_email(e).await?,
        None => None,
    };
    let ok = state
        .hasher()
        .verify(password, user.as_ref().map(|u| u.password_hash.clone()))
        .await?;
    let Some(user) = user.filter(|_| ok) else {
        metrics::counter!("labledger_logins_total", "outcome" => "failure").increment(1);
        security_event(
            SecurityEvent::LoginFailed,
            &format!("ip={:?}", client.meta.source_ip),
        );
        count_failure(state, keys).await?;
        return Err(ApiError::InvalidCredentials);
    };
    if let Some(account) = keys.into_iter().find(|k| k.lockable) {
        state.store().throttle_clear(account).await?;
    }
    state.store().record_login(user.id).await?;
    let (token, token_hash) = labledger_auth::new_session_token();
    let csrf = labledger_auth::random_token(32);
    state
        .store()
        .create_session(
            token_hash,
            user.id,
            csrf.clone(),
            state.config().session_lifetime_secs,
            client.meta.source_ip.clone(),
            client.user_agent,
        )
        .await?;
    metrics::counter!("labledger_logins_total", "outcome" => "success").increment(1);
    security_event(SecurityEvent::LoginSucceeded, &format!("user={}", user.id));
    let me = me_of(state, user.id, user.email, user.name).await?;
    Ok((me, token, csrf))
}

/// The throttle keys of a password attempt: the account (by email as typed) and the source
/// address.
pub fn login_keys(email: &str, client: &ClientInfo) -> Vec<ThrottleKey> {
    let mut keys = vec![ThrottleKey::account("login", email)];
    if let Some(ip) = &client.meta.source_ip {
        keys.push(ThrottleKey::address("login", ip));
    }
    keys
}

/// Refuses the attempt (429, before any password is checked) while a key is backing off or
/// locked; such a refusal counts as a failure too.
pub async fn check_throttle(state: &AppState, keys: &[ThrottleKey], who: &str) -> ApiResult<()> {
    let policy = state.config().throttle;
    let decision = state.store().throttle_decision(keys, policy).await?;
    let Some(secs) = decision.retry_after_secs() else {
        return Ok(());
    };
    let kind = match decision {
        Decision::Locked { .. } => SecurityEvent::AccountLocked,
        _ => SecurityEvent::LoginThrottled,
    };
    security_event(
        kind,
        &format!(
            "key={} retry_after={secs}",
            keys.first().map(|k| k.key.as_str()).unwrap_or(who)
        ),
    );
    count_failure(state, keys.to_vec()).await?;
    Err(ApiError::Throttled(secs))
}

/// Counts a failed attempt against the keys; a lock it causes is a security event.
pub async fn count_failure(state: &AppState, keys: Vec<ThrottleKey>) -> ApiResult<()> {
    let policy = state.config().throttle;
    for key in state.store().throttle_failure(keys, policy).await? {
        security_event(
            SecurityEvent::AccountLocked,
            &format!("key={key} locked for {} s", policy.lockout_secs),
        );
    }
    Ok(())
}

/// Log in with email and password.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; the session cookie is set", body = LoginResponse),
        (status = 401, description = "Wrong email or password (the same answer for both)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts: back off for `Retry-After` seconds (whatever the password)", body = Problem, content_type = "application/problem+json"),
        super::InputErrors,
    )
)]
pub async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    validate_login(&req.email, &req.password)?;
    let (me, token, csrf) = open_session(&state, client, &req.email, req.password).await?;
    let cookie = session_cookie(&state, token);
    Ok((
        [(header::SET_COOKIE, cookie.to_string())],
        Json(LoginResponse {
            user: me,
            csrf_token: csrf,
        }),
    )
        .into_response())
}

/// End the session on the server and clear its cookie.
#[utoipa::path(
    post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "Logged out"), CommonErrors),
    security(("session" = []))
)]
pub async fn logout(State(state): State<AppState>, user: AuthUser) -> ApiResult<Response> {
    state.store().delete_session(user.token_hash).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, expired_cookie().to_string())],
    )
        .into_response())
}

/// The logged-in user and the organizations they belong to.
#[utoipa::path(
    get, path = "/api/v1/me", tag = "auth",
    responses((status = 200, body = Me), CommonErrors),
    security(("session" = []))
)]
pub async fn me(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<Me>> {
    Ok(Json(
        me_of(&state, user.user_id, user.email, user.name).await?,
    ))
}

#[derive(Serialize, ToSchema)]
pub struct PermissionList {
    /// Every permission there is, as `resource:action`.
    items: Vec<String>,
}

/// Every permission a role can hold.
#[utoipa::path(
    get, path = "/api/v1/permissions", tag = "roles",
    responses((status = 200, body = PermissionList), CommonErrors),
    security(("session" = []))
)]
pub async fn permissions(_user: AuthUser) -> Json<PermissionList> {
    Json(PermissionList {
        items: Permission::ALL.iter().map(ToString::to_string).collect(),
    })
}
