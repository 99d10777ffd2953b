//! Login, logout and the current user.

use super::CommonErrors;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, AuthUser, ClientInfo};
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
use labledger_store::{Membership, ThrottleKey, ThrottleScope};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "owner@lab.example")]
    email: String,
    password: String,
    /// The current code of the account's authenticator app, when it uses MFA.
    #[serde(default)]
    #[schema(example = "123456")]
    totp_code: Option<String>,
    /// An unused recovery code, instead of `totp_code` (each works once).
    #[serde(default)]
    recovery_code: Option<String>,
}

/// The second factor a login or step-up brings (either may be absent).
#[derive(Clone, Debug, Default)]
pub struct SecondFactor {
    pub totp_code: Option<String>,
    pub recovery_code: Option<String>,
}

const MAX_CODE_CHARS: usize = 64;

impl SecondFactor {
    /// Empty strings (an empty form field) count as absent.
    pub fn new(totp_code: Option<String>, recovery_code: Option<String>) -> Self {
        let keep = |s: Option<String>| s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        Self {
            totp_code: keep(totp_code),
            recovery_code: keep(recovery_code),
        }
    }

    fn validate(&self, errors: &mut FieldErrors) {
        for (field, value) in [
            ("totp_code", &self.totp_code),
            ("recovery_code", &self.recovery_code),
        ] {
            if value
                .as_ref()
                .is_some_and(|v| v.chars().count() > MAX_CODE_CHARS)
            {
                errors.push(FieldError::new(
                    field,
                    format!("must be at most {MAX_CODE_CHARS} characters"),
                ));
            }
        }
    }
}

/// Checks the second factor of a user whose password was just verified: passes when the user
/// has no active MFA (`false`: no second factor verified), or brings a current TOTP code of a
/// step not used before (accepted atomically, so it cannot be replayed) or an unused recovery
/// code (spent) (`true`). Otherwise `MfaRequired`, as a security event.
pub async fn check_second_factor(
    state: &AppState,
    user: UserId,
    factor: &SecondFactor,
) -> ApiResult<bool> {
    let Some(totp) = state.store().totp(user).await?.filter(|t| t.active) else {
        return Ok(false);
    };
    if let Some(code) = &factor.totp_code {
        if totp_code_accepted(state, user, &totp, code).await? {
            return Ok(true);
        }
    } else if let Some(code) = &factor.recovery_code {
        let hash = labledger_auth::totp::recovery_code_hash(code);
        if state.store().use_recovery_code(user, hash).await? {
            tracing::info!(target: "security", event = "recovery_code_used", %user);
            return Ok(true);
        }
    }
    metrics::counter!("labledger_logins_total", "outcome" => "mfa_required").increment(1);
    security_event(
        SecurityEvent::MfaFailed,
        &format!(
            "user={user} second factor {}",
            if factor.totp_code.is_some() || factor.recovery_code.is_some() {
                "wrong or replayed"
            } else {
                "missing"
            }
        ),
    );
    Err(ApiError::MfaRequired)
}

/// Verifies a TOTP code against the user's sealed secret and records its step.
pub async fn totp_code_accepted(
    state: &AppState,
    user: UserId,
    totp: &labledger_store::TotpRecord,
    code: &str,
) -> ApiResult<bool> {
    let secret = state
        .config()
        .secret_box
        .open(user.to_string().as_bytes(), &totp.secret_enc)?;
    let last = u64::try_from(totp.last_step).unwrap_or(0);
    let Some(step) = labledger_auth::totp::verify(&secret, code, unix_secs(), last) else {
        return Ok(false);
    };
    let step = i64::try_from(step).map_err(|_| ApiError::Internal("time step overflow".into()))?;
    Ok(state.store().accept_totp_step(user, step).await?)
}

pub fn unix_secs() -> u64 {
    u64::try_from(labledger_domain::Timestamp::now().micros() / 1_000_000).unwrap_or(0)
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
    Cookie::build((state.config().session_cookie(), token))
        .path("/")
        .http_only(true)
        .secure(state.config().https)
        .same_site(SameSite::Lax)
        .build()
}

pub fn expired_cookie(state: &AppState) -> Cookie<'static> {
    let mut c = Cookie::build((state.config().session_cookie(), ""))
        .path("/")
        .http_only(true)
        .secure(state.config().https)
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
    factor: &SecondFactor,
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
    // Only a correct password learns that a second factor is needed; a wrong one counts as a
    // failed attempt like a wrong password.
    let mfa_verified = match check_second_factor(state, user.id, factor).await {
        Ok(verified) => verified,
        Err(e) => {
            count_failure(state, keys).await?;
            return Err(e);
        }
    };
    clear_pair(state, keys).await?;
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
            mfa_verified,
        )
        .await?;
    metrics::counter!("labledger_logins_total", "outcome" => "success").increment(1);
    security_event(SecurityEvent::LoginSucceeded, &format!("user={}", user.id));
    let me = me_of(state, user.id, user.email, user.name).await?;
    Ok((me, token, csrf))
}

/// The throttle keys of a password attempt: the account from this address (locks quickly),
/// the account from everywhere (a higher, slower limit) and the address over every account
/// (backs off, never locks).
pub fn login_keys(email: &str, client: &ClientInfo) -> Vec<ThrottleKey> {
    let ip = client.meta.source_ip.as_deref().unwrap_or("unknown");
    let mut keys = vec![
        ThrottleKey::pair("login", email, ip),
        ThrottleKey::account("login", email),
    ];
    if client.meta.source_ip.is_some() {
        keys.push(ThrottleKey::address("login", ip));
    }
    keys
}

/// Refuses the attempt (429, before any password is checked) while a key is backing off or
/// locked. Such a refusal counts nothing: only checked attempts move the counters, so requests
/// ignoring `Retry-After` cannot push an account into a lock.
pub async fn check_throttle(state: &AppState, keys: &[ThrottleKey], who: &str) -> ApiResult<()> {
    let policies = state.config().throttle;
    let decision = state.store().throttle_decision(keys, &policies).await?;
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
    Err(ApiError::Throttled(secs))
}

/// Counts a failed (checked) attempt against the keys; a lock it causes is a security event.
pub async fn count_failure(state: &AppState, keys: Vec<ThrottleKey>) -> ApiResult<()> {
    let policies = state.config().throttle;
    for key in state.store().throttle_failure(keys, policies).await? {
        security_event(
            SecurityEvent::AccountLocked,
            &format!("key={key} locked for {} s", policies.pair.lockout_secs),
        );
    }
    Ok(())
}

/// After a correct password (and code): forgets the failures of the account from this
/// address. The account-wide counter stays: a success here says nothing about guesses from
/// elsewhere.
pub async fn clear_pair(state: &AppState, keys: Vec<ThrottleKey>) -> ApiResult<()> {
    if let Some(pair) = keys.into_iter().find(|k| k.scope == ThrottleScope::Pair) {
        state.store().throttle_clear(pair).await?;
    }
    Ok(())
}

/// Log in with email and password.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; the session cookie is set", body = LoginResponse),
        (status = 401, description = "Wrong email or password (the same answer for both, `/problems/invalid-credentials`); \
            or, after a correct password, a missing, wrong or replayed second factor (`/problems/mfa-required`). No session either way.", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts: back off for `Retry-After` seconds (whatever the password)", body = Problem, content_type = "application/problem+json"),
        super::InputErrors,
    )
)]
pub async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let factor = SecondFactor::new(req.totp_code, req.recovery_code);
    let mut errors = match validate_login(&req.email, &req.password) {
        Ok(()) => FieldErrors::default(),
        Err(e) => e,
    };
    factor.validate(&mut errors);
    errors.into_result()?;
    let (me, token, csrf) = open_session(&state, client, &req.email, req.password, &factor).await?;
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepUpRequest {
    password: String,
    /// Required when the account uses MFA.
    #[serde(default)]
    totp_code: Option<String>,
    /// Instead of `totp_code`: an unused recovery code.
    #[serde(default)]
    recovery_code: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct StepUpResponse {
    /// The session's CSRF token (unchanged).
    csrf_token: String,
    /// Sensitive actions are allowed until this time (RFC 3339, UTC).
    fresh_until: String,
}

/// Re-authenticates a logged-in user (password, and code when MFA is on): the session moves to
/// a new token (the old one is dead at once) and counts as fresh for the step-up window.
/// Throttled and counted like a login, so a stolen session cannot guess the password.
/// Returns the new session token.
pub async fn step_up_session(
    state: &AppState,
    user: &AuthUser,
    client: &ClientInfo,
    password: String,
    factor: &SecondFactor,
) -> ApiResult<String> {
    let mfa_verified = throttled_reauth(state, user, client, password, factor).await?;
    let (token, token_hash) = labledger_auth::new_session_token();
    if !state
        .store()
        .rotate_session(user.token_hash.clone(), token_hash, mfa_verified)
        .await?
    {
        return Err(ApiError::Unauthorized);
    }
    security_event(
        SecurityEvent::StepUpSucceeded,
        &format!("user={}", user.user_id),
    );
    Ok(token)
}

/// [`verify_reauth`] behind the login throttle of the user's account from this address: refused
/// (429) while it backs off or is locked; a wrong password or code counts as a failure.
pub async fn throttled_reauth(
    state: &AppState,
    user: &AuthUser,
    client: &ClientInfo,
    password: String,
    factor: &SecondFactor,
) -> ApiResult<bool> {
    let keys = login_keys(&user.email, client);
    check_throttle(state, &keys, &user.email).await?;
    match verify_reauth(state, user, password, factor).await {
        Ok(mfa_verified) => {
            clear_pair(state, keys).await?;
            Ok(mfa_verified)
        }
        Err(e @ (ApiError::InvalidCredentials | ApiError::MfaRequired)) => {
            count_failure(state, keys).await?;
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// The one re-authentication check (step-up and e-signatures): the password entered now, and
/// the second factor when the user has MFA (`true` when one was verified). Wrong password:
/// `InvalidCredentials`; wrong or missing code: `MfaRequired`; both as security events.
pub async fn verify_reauth(
    state: &AppState,
    user: &AuthUser,
    password: String,
    factor: &SecondFactor,
) -> ApiResult<bool> {
    let mut errors = FieldErrors::default();
    if password.is_empty() || password.chars().count() > MAX_LOGIN_PASSWORD_CHARS {
        errors.push(FieldError::new(
            "password",
            format!("must be 1 to {MAX_LOGIN_PASSWORD_CHARS} characters"),
        ));
    }
    factor.validate(&mut errors);
    errors.into_result()?;
    let stored = state.store().user(user.user_id).await?;
    let ok = state
        .hasher()
        .verify(password, stored.map(|u| u.password_hash))
        .await?;
    if !ok {
        security_event(
            SecurityEvent::LoginFailed,
            &format!("step-up user={}", user.user_id),
        );
        return Err(ApiError::InvalidCredentials);
    }
    check_second_factor(state, user.user_id, factor).await
}

/// Confirm the password (and code, when MFA is on) again before sensitive actions. The session
/// cookie is replaced by a new one (the old token stops working); the CSRF token stays.
#[utoipa::path(
    post, path = "/api/v1/auth/step-up", tag = "auth",
    request_body = StepUpRequest,
    responses(
        (status = 200, description = "Re-authenticated; a new session cookie is set", body = StepUpResponse),
        (status = 401, description = "Wrong password (`invalid-credentials`) or second factor (`mfa-required`), or no live session (`unauthorized`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts for this account: back off for `Retry-After` seconds (whatever the password)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing CSRF token", body = Problem, content_type = "application/problem+json"),
        super::InputErrors,
    ),
    security(("session" = []))
)]
pub async fn step_up(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientInfo,
    ApiJson(req): ApiJson<StepUpRequest>,
) -> ApiResult<Response> {
    let factor = SecondFactor::new(req.totp_code, req.recovery_code);
    let token = step_up_session(&state, &user, &client, req.password, &factor).await?;
    let cookie = session_cookie(&state, token);
    let fresh_until = labledger_domain::Timestamp::now()
        .plus_secs(state.config().step_up_window_secs)
        .to_rfc3339();
    Ok((
        [(header::SET_COOKIE, cookie.to_string())],
        Json(StepUpResponse {
            csrf_token: user.csrf_token,
            fresh_until,
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
        [(header::SET_COOKIE, expired_cookie(&state).to_string())],
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
