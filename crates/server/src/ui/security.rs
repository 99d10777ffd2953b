//! The user's own security page: MFA status, enrolment (QR code and the secret as text),
//! confirmation (recovery codes shown once), disabling; and the step-up form that sensitive
//! actions send the user to.

use super::error::{describe, UiError};
use super::extract::{CsrfForm, UiUser};
use super::flash::Flash;
use super::layout::{self, csrf_field, Chrome, Nav};
use crate::api::auth::{session_cookie, step_up_session, SecondFactor};
use crate::api::mfa::{begin_enrolment, confirm_enrolment, disable, status_of, Enrolment};
use crate::error::ApiError;
use crate::extract::AuthUser;
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use maud::{html, Markup};

/// The navigation of the user's own pages (no org selected).
pub(super) async fn chrome(state: &AppState, user: &AuthUser) -> Result<Chrome, UiError> {
    let memberships = state
        .store()
        .memberships(user.user_id)
        .await
        .map_err(ApiError::from)?;
    Ok(Chrome::new(user, &memberships, None, Nav::None))
}

pub(super) fn query_has(query: Option<&str>, key: &str, value: &str) -> bool {
    query.is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == key && v == value))
}

/// What the page shows below the status.
enum Step {
    Status,
    Enrol(Enrolment, Option<String>),
    Codes(Vec<String>),
}

async fn render(
    state: &AppState,
    user: &AuthUser,
    status: StatusCode,
    step: Step,
    flash: Option<Flash>,
    required: bool,
    disable_error: Option<String>,
) -> Result<Response, UiError> {
    let chrome = chrome(state, user).await?;
    let (active, pending, left) = status_of(state, user.user_id).await?;
    let csrf = &user.csrf_token;
    let body = html! {
        div.page-head { h1 { "Security" } p.muted { "Multi-factor authentication for " (user.email) } }
        @if required && !active {
            section.panel.panel-secret #mfa-required role="alert" {
                h2 { "Your organization requires MFA" }
                p { "An organization you belong to requires multi-factor authentication. Set up an authenticator app below to continue to its pages." }
            }
        }
        section.panel #mfa-status {
            h2 { "Authenticator app (TOTP)" }
            @if active {
                p #mfa-state { "Status: " strong { "on" } ". " (left) " unused recovery code" @if left != 1 { "s" } " left." }
            } @else {
                p #mfa-state { "Status: " strong { "off" } @if pending { " (an enrolment was started but not confirmed)" } "." }
            }
        }
        @match &step {
            Step::Enrol(e, error) => { (enrol_panel(e, error.as_deref(), csrf)) }
            Step::Codes(codes) => { (codes_panel(codes)) }
            Step::Status => {
                @if !active {
                    section.panel {
                        h2 { "Set up" }
                        p { "Use an authenticator app (such as FreeOTP, Aegis or Google Authenticator) to scan a QR code." }
                        form method="post" action="/security/totp" {
                            (csrf_field(csrf))
                            button.btn.btn-primary #mfa-enrol type="submit" { "Set up an authenticator app" }
                        }
                    }
                }
            }
        }
        @if active {
            section.panel {
                h2 { "Turn off" }
                p { "Enter your password and a current code to turn multi-factor authentication off." }
                @if let Some(e) = &disable_error { div.flash.flash-error role="alert" { p.flash-text { (e) } } }
                form.stack method="post" action="/security/totp/disable" {
                    (csrf_field(csrf))
                    div.field {
                        label for="disable-password" { "Password" }
                        input #disable-password type="password" name="password" autocomplete="current-password" required;
                    }
                    div.field {
                        label for="disable-code" { "Authentication code" }
                        input #disable-code type="text" name="code" inputmode="numeric" autocomplete="one-time-code" required;
                    }
                    button.btn.btn-danger type="submit" { "Turn off MFA" }
                }
            }
        }
    };
    Ok((
        status,
        layout::page(&chrome, "Security", flash.as_ref(), body),
    )
        .into_response())
}

fn enrol_panel(e: &Enrolment, error: Option<&str>, csrf: &str) -> Markup {
    let img = format!(
        "data:image/svg+xml;base64,{}",
        STANDARD.encode(e.qr_svg.as_bytes())
    );
    html! {
        section.panel.panel-secret #mfa-enrolment {
            h2 { "Scan this QR code" }
            p { img #totp-qr src=(img) alt="QR code of the authenticator secret" width="200" height="200"; }
            p { "Or type this key into the app:" }
            div.secret-row {
                code #totp-secret.secret { (e.secret) }
                button.btn.btn-small.js-only type="button" data-copy="#totp-secret" { "Copy" }
            }
            @if let Some(msg) = error { div.flash.flash-error role="alert" { p.flash-text { (msg) } } }
            form.stack method="post" action="/security/totp/confirm" {
                (csrf_field(csrf))
                div.field {
                    label for="totp-code" { "Code shown by the app" }
                    input #totp-code type="text" name="code" inputmode="numeric" autocomplete="one-time-code" required autofocus;
                }
                button.btn.btn-primary #mfa-confirm type="submit" { "Confirm and turn on" }
            }
        }
    }
}

fn codes_panel(codes: &[String]) -> Markup {
    html! {
        section.panel.panel-secret #recovery-codes-panel {
            h2 { "Recovery codes" }
            p { "Multi-factor authentication is on. Keep these codes somewhere safe: each logs you in once if you lose your phone. They are shown only this once." }
            ul #recovery-codes.mono { @for c in codes { li { code { (c) } } } }
        }
    }
}

/// `GET /security`.
pub async fn page(
    State(state): State<AppState>,
    UiUser(user): UiUser,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    let q = query.as_deref();
    let flash = if query_has(q, "done", "disabled") {
        Some(Flash::success("Multi-factor authentication is off."))
    } else if query_has(q, "done", "stepped-up") {
        Some(Flash::success(
            "Confirmed. You can go back and repeat the action now.",
        ))
    } else {
        None
    };
    render(
        &state,
        &user,
        StatusCode::OK,
        Step::Status,
        flash,
        query_has(q, "required", "1"),
        None,
    )
    .await
}

/// `POST /security/totp`: a new pending secret, shown with its QR code.
pub async fn enrol(
    State(state): State<AppState>,
    UiUser(user): UiUser,
    CsrfForm(_form): CsrfForm,
) -> Result<Response, UiError> {
    match begin_enrolment(&state, &user).await {
        Ok(e) => {
            render(
                &state,
                &user,
                StatusCode::OK,
                Step::Enrol(e, None),
                None,
                false,
                None,
            )
            .await
        }
        Err(e @ ApiError::Refused(_)) | Err(e @ ApiError::Conflict(_)) => {
            let flash = Flash::error(describe(&e));
            render(
                &state,
                &user,
                StatusCode::CONFLICT,
                Step::Status,
                Some(flash),
                false,
                None,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /security/totp/confirm` with `code`: on success the recovery codes, once.
pub async fn confirm(
    State(state): State<AppState>,
    UiUser(user): UiUser,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    let code = form.text("code");
    match confirm_enrolment(&state, &user, &code).await {
        Ok(codes) => {
            render(
                &state,
                &user,
                StatusCode::OK,
                Step::Codes(codes),
                None,
                false,
                None,
            )
            .await
        }
        Err(ApiError::Invalid(_)) => {
            // Show the same secret again: it is still the pending one.
            let pending = state
                .store()
                .totp(user.user_id)
                .await
                .map_err(ApiError::from)?
                .filter(|t| !t.active);
            let Some(pending) = pending else {
                return Ok(Redirect::to("/security").into_response());
            };
            let secret = state
                .config()
                .secret_box
                .open(user.user_id.to_string().as_bytes(), &pending.secret_enc)
                .map_err(ApiError::from)?;
            let uri = labledger_auth::totp::otpauth_uri(&secret, &user.email);
            let e = Enrolment {
                secret: labledger_auth::totp::secret_base32(&secret),
                qr_svg: crate::api::mfa::qr_svg(&uri)?,
                otpauth_uri: uri,
            };
            render(
                &state,
                &user,
                StatusCode::UNPROCESSABLE_ENTITY,
                Step::Enrol(
                    e,
                    Some("That code is not right; enter the code the app shows now.".into()),
                ),
                None,
                false,
                None,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /security/totp/disable` with `password` and `code`.
pub async fn disable_form(
    State(state): State<AppState>,
    UiUser(user): UiUser,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    match disable(&state, &user, form.text("password"), &form.text("code")).await {
        Ok(()) => Ok(Redirect::to("/security?done=disabled").into_response()),
        Err(e @ (ApiError::InvalidCredentials | ApiError::MfaRequired | ApiError::Invalid(_))) => {
            let msg = match e {
                ApiError::InvalidCredentials => "The password is wrong.".to_owned(),
                ApiError::MfaRequired => "The code is wrong or was already used.".to_owned(),
                other => describe(&other),
            };
            render(
                &state,
                &user,
                StatusCode::UNPROCESSABLE_ENTITY,
                Step::Status,
                None,
                false,
                Some(msg),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

fn step_up_page(chrome: &Chrome, mfa: bool, error: Option<&str>, status: StatusCode) -> Response {
    let body = html! {
        section.panel #step-up {
            h1 { "Confirm it is you" }
            p { "This action changes security-relevant settings. Enter your password" @if mfa { " and a current code" } " again." }
            @if let Some(e) = error { div.flash.flash-error role="alert" { p.flash-text { (e) } } }
            form.stack method="post" action="/security/step-up" {
                (csrf_field(&chrome.csrf))
                div.field {
                    label for="step-up-password" { "Password" }
                    input #step-up-password type="password" name="password" autocomplete="current-password" required autofocus;
                }
                @if mfa {
                    div.field {
                        label for="step-up-code" { "Authentication code" }
                        input #step-up-code type="text" name="totp_code" inputmode="numeric" autocomplete="one-time-code" required;
                    }
                }
                button.btn.btn-primary type="submit" { "Confirm" }
            }
        }
    };
    (
        status,
        layout::page(chrome, "Confirm it is you", None, body),
    )
        .into_response()
}

/// `GET /security/step-up`.
pub async fn step_up_form(
    State(state): State<AppState>,
    UiUser(user): UiUser,
) -> Result<Response, UiError> {
    let chrome = chrome(&state, &user).await?;
    Ok(step_up_page(&chrome, user.mfa_active, None, StatusCode::OK))
}

/// `POST /security/step-up` with `password` (and `totp_code`): a new session cookie.
pub async fn step_up(
    State(state): State<AppState>,
    UiUser(user): UiUser,
    client: crate::extract::ClientInfo,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    let factor = SecondFactor::new(form.get("totp_code").map(str::to_owned), None);
    match step_up_session(&state, &user, &client, form.text("password"), &factor).await {
        Ok(token) => Ok((
            [(
                header::SET_COOKIE,
                session_cookie(&state, token).to_string(),
            )],
            Redirect::to("/security?done=stepped-up"),
        )
            .into_response()),
        Err(e @ (ApiError::InvalidCredentials | ApiError::MfaRequired | ApiError::Invalid(_))) => {
            let msg = match e {
                ApiError::InvalidCredentials => "The password is wrong.".to_owned(),
                ApiError::MfaRequired => "The code is wrong or was already used.".to_owned(),
                other => describe(&other),
            };
            let chrome = chrome(&state, &user).await?;
            Ok(step_up_page(
                &chrome,
                user.mfa_active,
                Some(&msg),
                StatusCode::UNAUTHORIZED,
            ))
        }
        Err(e) => Err(e.into()),
    }
}
