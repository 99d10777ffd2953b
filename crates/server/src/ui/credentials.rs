//! Pages reached from mail, without a session: accepting an invitation (`/invite?token=…`),
//! asking for a password reset (`/reset`) and setting the new password (`/reset/confirm?token=…`).
//! Their forms are same-origin only; the mailed token is the capability.

use super::extract::{check_same_origin, read_form};
use super::layout;
use crate::api::credentials::{accept_with, confirm_reset_with, request_reset_for};
use crate::error::ApiError;
use crate::extract::ClientInfo;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use labledger_domain::validate::Email;
use maud::{html, Markup};

fn token_of(query: Option<&str>) -> String {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn message_box(error: Option<&str>, info: Option<&str>) -> Markup {
    html! {
        @if let Some(e) = error { div.flash.flash-error role="alert" { p.flash-text { (e) } } }
        @if let Some(i) = info { div.flash.flash-success role="status" { p.flash-text { (i) } } }
    }
}

fn describe(e: &ApiError) -> String {
    match e {
        ApiError::Invalid(errors) => errors
            .iter()
            .map(|f| format!("{}: {}", f.field.replace('_', " "), f.message))
            .collect::<Vec<_>>()
            .join(" "),
        ApiError::SmtpNotConfigured => {
            "This server cannot send mail (no SMTP server is configured). Ask your administrator."
                .into()
        }
        other => {
            super::error::log_api_error(other);
            super::error::describe(other)
        }
    }
}

async fn client_and_form(
    state: &AppState,
    req: Request,
) -> Result<(ClientInfo, super::extract::FormData, Option<String>), Response> {
    let (mut parts, body) = req.into_parts();
    check_same_origin(&parts).map_err(IntoResponse::into_response)?;
    let client = match ClientInfo::from_request_parts(&mut parts, state).await {
        Ok(c) => c,
        Err(never) => match never {},
    };
    let query = parts.uri.query().map(str::to_owned);
    let form = read_form(Request::from_parts(parts, body), state)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok((client, form, query))
}

fn reset_request_page(status: StatusCode, error: Option<&str>, info: Option<&str>) -> Response {
    let body = html! {
        h1.bare-title { "Reset your password" }
        (message_box(error, info))
        form.stack method="post" action="/reset" {
            div.field {
                label for="reset-email" { "Email" }
                input #reset-email type="email" name="email" autocomplete="username" required autofocus;
            }
            button.btn.btn-primary.btn-block type="submit" { "Send me a reset link" }
        }
        p { a href="/login" { "Back to log in" } }
    };
    (status, layout::bare("Reset your password", body)).into_response()
}

/// `GET /reset`.
pub async fn reset_form() -> Response {
    reset_request_page(StatusCode::OK, None, None)
}

/// `POST /reset` with `email`: the same answer whether or not the email has an account.
pub async fn reset_submit(State(state): State<AppState>, req: Request) -> Response {
    let (client, form, _) = match client_and_form(&state, req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let email = match Email::parse("email", &form.text("email")) {
        Ok(e) => e,
        Err(e) => {
            return reset_request_page(StatusCode::UNPROCESSABLE_ENTITY, Some(&e.to_string()), None)
        }
    };
    match request_reset_for(&state, &client, &email).await {
        Ok(()) => reset_request_page(
            StatusCode::OK,
            None,
            Some("If this email has an account, a reset link is on its way. It is valid for one hour."),
        ),
        Err(e) => reset_request_page(e.status(), Some(&describe(&e)), None),
    }
}

fn reset_confirm_page(status: StatusCode, token: &str, error: Option<&str>) -> Response {
    let body = html! {
        h1.bare-title { "Choose a new password" }
        (message_box(error, None))
        form.stack method="post" action="/reset/confirm" {
            input type="hidden" name="token" value=(token);
            div.field {
                label for="reset-password" { "New password" }
                input #reset-password type="password" name="new_password" autocomplete="new-password" minlength="12" required autofocus;
                p.hint { "At least 12 characters; a few unrelated words make a strong one." }
            }
            button.btn.btn-primary.btn-block type="submit" { "Set password" }
        }
    };
    (status, layout::bare("Choose a new password", body)).into_response()
}

/// `GET /reset/confirm?token=…`.
pub async fn reset_confirm_form(req: Request) -> Response {
    reset_confirm_page(StatusCode::OK, &token_of(req.uri().query()), None)
}

/// `POST /reset/confirm` with `token` and `new_password`: on success, to the login page.
pub async fn reset_confirm_submit(State(state): State<AppState>, req: Request) -> Response {
    let (_, form, _) = match client_and_form(&state, req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let token = form.text("token");
    match confirm_reset_with(&state, &token, &form.text("new_password"), "new_password").await {
        Ok(()) => Redirect::to("/login").into_response(),
        Err(e) => reset_confirm_page(e.status(), &token, Some(&describe(&e))),
    }
}

fn invite_page(
    status: StatusCode,
    token: &str,
    invitation: Option<&labledger_store::PendingInvitation>,
    error: Option<&str>,
) -> Response {
    let body = html! {
        h1.bare-title { "Accept invitation" }
        (message_box(error, None))
        @if let Some(inv) = invitation {
            p { "You are invited to join " strong { (inv.org_name) } " as " (inv.email)
                @if !inv.roles.is_empty() { " (" (inv.roles.join(", ")) ")" } "." }
            form.stack method="post" action="/invite" {
                input type="hidden" name="token" value=(token);
                @if inv.existing_user.is_some() {
                    p { "This email already has an account: enter its password to join." }
                    div.field {
                        label for="invite-password" { "Your password" }
                        input #invite-password type="password" name="password" autocomplete="current-password" required autofocus;
                    }
                } @else {
                    div.field {
                        label for="invite-name" { "Your name" }
                        input #invite-name type="text" name="name" autocomplete="name" required autofocus;
                    }
                    div.field {
                        label for="invite-password" { "Choose a password" }
                        input #invite-password type="password" name="password" autocomplete="new-password" minlength="12" required;
                        p.hint { "At least 12 characters; a few unrelated words make a strong one." }
                    }
                }
                button.btn.btn-primary.btn-block type="submit" { "Join" }
            }
        } @else {
            p { "This invitation link is invalid, used, revoked or expired. Ask for a new invitation." }
        }
    };
    (status, layout::bare("Accept invitation", body)).into_response()
}

async fn pending(state: &AppState, token: &str) -> Option<labledger_store::PendingInvitation> {
    if token.is_empty() || token.len() > 200 {
        return None;
    }
    state
        .store()
        .pending_invitation(&labledger_auth::token_hash(token))
        .await
        .ok()
        .flatten()
}

/// `GET /invite?token=…`.
pub async fn invite_form(State(state): State<AppState>, req: Request) -> Response {
    let token = token_of(req.uri().query());
    let inv = pending(&state, &token).await;
    let status = if inv.is_some() {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    invite_page(status, &token, inv.as_ref(), None)
}

/// `POST /invite` with `token`, `name`, `password`: on success, to the login page.
pub async fn invite_submit(State(state): State<AppState>, req: Request) -> Response {
    let (client, form, _) = match client_and_form(&state, req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let token = form.text("token");
    let name = form.text("name");
    let name = (!name.trim().is_empty()).then_some(name);
    match accept_with(
        &state,
        &client,
        &token,
        name.as_deref(),
        &form.text("password"),
    )
    .await
    {
        Ok(_) => Redirect::to("/login").into_response(),
        Err(e) => {
            let inv = pending(&state, &token).await;
            invite_page(e.status(), &token, inv.as_ref(), Some(&describe(&e)))
        }
    }
}
