//! The caller's own second factor: TOTP enrolment (QR code rendered here), confirmation with
//! recovery codes, and disabling. These are instance-level records of the user, not org data:
//! changes are security events, not org audit events.

use super::auth::{totp_code_accepted, unix_secs};
use super::{CommonErrors, InputErrors};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, AuthUser};
use crate::security::{security_event, SecurityEvent};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use labledger_auth::totp;
use labledger_domain::{FieldError, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct MfaStatus {
    /// An authenticator is confirmed and required at login.
    totp_active: bool,
    /// An enrolment was started but not confirmed yet.
    totp_pending: bool,
    recovery_codes_left: i64,
}

pub async fn status_of(state: &AppState, user: UserId) -> ApiResult<(bool, bool, i64)> {
    let totp = state.store().totp(user).await?;
    let active = totp.as_ref().is_some_and(|t| t.active);
    let pending = totp.as_ref().is_some_and(|t| !t.active);
    let left = if active {
        state.store().recovery_codes_left(user).await?
    } else {
        0
    };
    Ok((active, pending, left))
}

/// The caller's MFA status.
#[utoipa::path(
    get, path = "/api/v1/me/mfa", tag = "mfa",
    responses((status = 200, body = MfaStatus), CommonErrors),
    security(("session" = []))
)]
pub async fn mfa_status(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<MfaStatus>> {
    let (totp_active, totp_pending, recovery_codes_left) = status_of(&state, user.user_id).await?;
    Ok(Json(MfaStatus {
        totp_active,
        totp_pending,
        recovery_codes_left,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct TotpEnrolment {
    /// The shared secret, base32 (RFC 4648, no padding), for typing into an authenticator app.
    secret: String,
    /// `otpauth://totp/LabLedger:<email>?secret=…&issuer=LabLedger…`, what the QR code holds.
    otpauth_uri: String,
    /// The QR code of `otpauth_uri` as an SVG document.
    qr_svg: String,
}

/// The enrolment data of a new secret (shown to the user once).
pub struct Enrolment {
    pub secret: String,
    pub otpauth_uri: String,
    pub qr_svg: String,
}

/// Starts an enrolment: a new 160-bit secret, sealed with the master key, pending until
/// confirmed. Replaces a pending one; refused (409) while MFA is active.
pub async fn begin_enrolment(state: &AppState, user: &AuthUser) -> ApiResult<Enrolment> {
    let secret = totp::new_secret();
    let sealed = state
        .config()
        .secret_box
        .seal(user.user_id.to_string().as_bytes(), &secret)?;
    state.store().begin_totp(user.user_id, sealed).await?;
    let otpauth_uri = totp::otpauth_uri(&secret, &user.email);
    let qr_svg = qr_svg(&otpauth_uri)?;
    Ok(Enrolment {
        secret: totp::secret_base32(&secret),
        otpauth_uri,
        qr_svg,
    })
}

pub fn qr_svg(data: &str) -> ApiResult<String> {
    let code = qrcode::QrCode::new(data.as_bytes())
        .map_err(|e| ApiError::Internal(format!("QR code: {e}")))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}

/// Start TOTP enrolment: a new secret (not active until confirmed).
#[utoipa::path(
    post, path = "/api/v1/me/mfa/totp", tag = "mfa",
    responses(
        (status = 200, body = TotpEnrolment),
        (status = 409, description = "MFA is already active", body = Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("session" = []))
)]
pub async fn enrol_totp(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<TotpEnrolment>> {
    let e = begin_enrolment(&state, &user).await?;
    Ok(Json(TotpEnrolment {
        secret: e.secret,
        otpauth_uri: e.otpauth_uri,
        qr_svg: e.qr_svg,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmTotpRequest {
    /// The current 6-digit code of the authenticator app.
    #[schema(example = "123456")]
    code: String,
}

#[derive(Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Ten single-use codes, shown this once; each replaces a TOTP code at login once.
    recovery_codes: Vec<String>,
}

/// Confirms the pending enrolment with a first code; returns the recovery codes.
pub async fn confirm_enrolment(
    state: &AppState,
    user: &AuthUser,
    code: &str,
) -> ApiResult<Vec<String>> {
    let pending = state
        .store()
        .totp(user.user_id)
        .await?
        .filter(|t| !t.active)
        .ok_or_else(|| {
            ApiError::Refused(
                "There is no pending enrolment: start one with POST /api/v1/me/mfa/totp.".into(),
            )
        })?;
    let secret = state
        .config()
        .secret_box
        .open(user.user_id.to_string().as_bytes(), &pending.secret_enc)?;
    let Some(step) = totp::verify(&secret, code, unix_secs(), 0) else {
        security_event(
            SecurityEvent::MfaFailed,
            &format!("user={} wrong enrolment code", user.user_id),
        );
        return Err(FieldError::new("code", "is not the current code of the authenticator").into());
    };
    let step = i64::try_from(step).map_err(|_| ApiError::Internal("time step overflow".into()))?;
    let codes = totp::new_recovery_codes();
    let hashes = codes.iter().map(|c| totp::recovery_code_hash(c)).collect();
    if !state
        .store()
        .activate_totp(user.user_id, step, hashes)
        .await?
    {
        return Err(ApiError::Refused(
            "The enrolment changed meanwhile; start again.".into(),
        ));
    }
    security_event(SecurityEvent::MfaEnabled, &format!("user={}", user.user_id));
    Ok(codes)
}

/// Confirm the enrolment with the authenticator's current code: MFA is active from now on.
#[utoipa::path(
    post, path = "/api/v1/me/mfa/totp/confirm", tag = "mfa",
    request_body = ConfirmTotpRequest,
    responses((status = 200, body = RecoveryCodes), CommonErrors, InputErrors),
    security(("session" = []))
)]
pub async fn confirm_totp(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(req): ApiJson<ConfirmTotpRequest>,
) -> ApiResult<Json<RecoveryCodes>> {
    if req.code.chars().count() > 64 {
        return Err(FieldError::new("code", "must be at most 64 characters").into());
    }
    let recovery_codes = confirm_enrolment(&state, &user, &req.code).await?;
    Ok(Json(RecoveryCodes { recovery_codes }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisableTotpRequest {
    /// The account's password, entered now.
    password: String,
    /// The authenticator's current code (or an unused recovery code).
    code: String,
}

/// Disables MFA after a fresh password and code (the request itself is the step-up).
pub async fn disable(
    state: &AppState,
    user: &AuthUser,
    password: String,
    code: &str,
) -> ApiResult<()> {
    let mut errors = labledger_domain::FieldErrors::default();
    if password.is_empty() || password.chars().count() > 1024 {
        errors.push(FieldError::new("password", "must be 1 to 1024 characters"));
    }
    if code.trim().is_empty() || code.chars().count() > 64 {
        errors.push(FieldError::new("code", "must be 1 to 64 characters"));
    }
    errors.into_result()?;
    let totp = state
        .store()
        .totp(user.user_id)
        .await?
        .filter(|t| t.active)
        .ok_or_else(|| ApiError::Refused("MFA is not active.".into()))?;
    let stored = state.store().user(user.user_id).await?;
    if !state
        .hasher()
        .verify(password, stored.map(|u| u.password_hash))
        .await?
    {
        security_event(
            SecurityEvent::LoginFailed,
            &format!("MFA disable user={}", user.user_id),
        );
        return Err(ApiError::InvalidCredentials);
    }
    let is_totp = code.trim().len() == totp::DIGITS;
    let ok = if is_totp {
        totp_code_accepted(state, user.user_id, &totp, code).await?
    } else {
        state
            .store()
            .use_recovery_code(user.user_id, totp::recovery_code_hash(code))
            .await?
    };
    if !ok {
        security_event(
            SecurityEvent::MfaFailed,
            &format!("user={} MFA disable with a wrong code", user.user_id),
        );
        return Err(ApiError::MfaRequired);
    }
    state.store().disable_totp(user.user_id).await?;
    security_event(
        SecurityEvent::MfaDisabled,
        &format!("user={}", user.user_id),
    );
    Ok(())
}

/// Disable MFA: needs the password and a current code in the request.
#[utoipa::path(
    delete, path = "/api/v1/me/mfa/totp", tag = "mfa",
    request_body = DisableTotpRequest,
    responses(
        (status = 204, description = "MFA disabled"),
        (status = 401, description = "Wrong password (`invalid-credentials`) or code (`mfa-required`)", body = Problem, content_type = "application/problem+json"),
        CommonErrors, InputErrors
    ),
    security(("session" = []))
)]
pub async fn disable_totp(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(req): ApiJson<DisableTotpRequest>,
) -> ApiResult<StatusCode> {
    disable(&state, &user, req.password, &req.code).await?;
    Ok(StatusCode::NO_CONTENT)
}
