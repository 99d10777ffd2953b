//! The start page, the login form and logout.
//!
//! The login form is protected against login CSRF by a double-submit token: `GET /login` sets a
//! short-lived, `SameSite=Strict` cookie and puts the same random value in a hidden field; the
//! POST must bring both, equal, from this origin.

use super::error::UiError;
use super::extract::{check_same_origin, read_form, CsrfForm, UiUser};
use super::flash::{self, Flash, Notice};
use super::layout::{self, Chrome, Nav};
use crate::api::auth::{expired_cookie, open_session, session_cookie};
use crate::error::ApiError;
use crate::extract::{authenticate, ClientInfo};
use crate::state::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, SameSite};
use axum_extra::extract::CookieJar;
use maud::html;

const LOGIN_COOKIE: &str = "labledger_login";

/// `/`: the first org's dashboard, or a page saying there is none.
pub async fn index(
    State(state): State<AppState>,
    UiUser(user): UiUser,
) -> Result<Response, UiError> {
    let memberships = state
        .store()
        .memberships(user.user_id)
        .await
        .map_err(ApiError::from)?;
    if let Some(first) = memberships.first() {
        return Ok(Redirect::to(&format!("/orgs/{}", first.org_id)).into_response());
    }
    let chrome = Chrome::new(&user, &memberships, None, Nav::None);
    let body = html! {
        section.panel {
            h1 { "No organizations" }
            p { "You are not a member of any active organization. Ask an owner of your lab to add you." }
        }
    };
    Ok(layout::page(&chrome, "No organizations", None, body).into_response())
}

fn login_cookie(state: &AppState, token: String) -> Cookie<'static> {
    Cookie::build((LOGIN_COOKIE, token))
        .path("/login")
        .http_only(true)
        .secure(state.config().https)
        .same_site(SameSite::Strict)
        .build()
}

fn expired_login_cookie() -> Cookie<'static> {
    let mut c = Cookie::build((LOGIN_COOKIE, ""))
        .path("/login")
        .http_only(true)
        .build();
    c.make_removal();
    c
}

struct LoginView<'a> {
    email: &'a str,
    error: Option<&'a str>,
    flash: Option<Flash>,
}

/// The form with a fresh login token (cookie + hidden field).
fn login_page(state: &AppState, status: StatusCode, view: LoginView<'_>) -> Response {
    let token = labledger_auth::random_token(32);
    let cookie = login_cookie(state, token.clone());
    let body = html! {
        h1.bare-title { "Log in" }
        @if let Some(f) = &view.flash { (layout::flash_box(f)) }
        @if let Some(error) = view.error {
            div.flash.flash-error role="alert" { p.flash-text { (error) } }
        }
        form.stack method="post" action="/login" {
            input type="hidden" name="csrf" value=(token);
            div.field {
                label for="login-email" { "Email" }
                input #login-email type="email" name="email" value=(view.email) autocomplete="username" required autofocus[view.email.is_empty()];
            }
            div.field {
                label for="login-password" { "Password" }
                input #login-password type="password" name="password" autocomplete="current-password" required autofocus[!view.email.is_empty()];
            }
            div.field {
                label for="login-totp" { "Authentication code " span.muted { "(if you use an authenticator app)" } }
                input #login-totp type="text" name="totp_code" inputmode="numeric" autocomplete="one-time-code" maxlength="64";
            }
            button.btn.btn-primary.btn-block type="submit" { "Log in" }
        }
        p { a href="/reset" { "Forgot your password?" } }
    };
    (
        status,
        [(header::SET_COOKIE, cookie.to_string())],
        layout::bare("Log in", body),
    )
        .into_response()
}

/// `GET /login`; a logged-in user goes on to `/`.
pub async fn login_form(State(state): State<AppState>, req: Request) -> Response {
    let (parts, _body) = req.into_parts();
    if let Ok(Some(_)) = authenticate(&parts, &state).await {
        return Redirect::to("/").into_response();
    }
    let flash = flash::from_query(parts.uri.query());
    login_page(
        &state,
        StatusCode::OK,
        LoginView {
            email: "",
            error: None,
            flash,
        },
    )
}

/// `POST /login` with `email` and `password`: on success the session cookie and a redirect to
/// `/`; otherwise the form again, with the email kept.
pub async fn login(State(state): State<AppState>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    if let Err(e) = check_same_origin(&parts) {
        return e.into_response();
    }
    let client = match ClientInfo::from_request_parts(&mut parts, &state).await {
        Ok(c) => c,
        Err(never) => match never {},
    };
    let previous = authenticate(&parts, &state).await.ok().flatten();
    let jar = CookieJar::from_headers(&parts.headers);
    let expected = jar
        .get(LOGIN_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    let form = match read_form(Request::from_parts(parts, body), &state).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let email = form.text("email");
    let sent = form.get("csrf").unwrap_or_default();
    if expected.is_empty() || !labledger_auth::secrets_equal(sent, &expected) {
        crate::security::security_event(
            crate::security::SecurityEvent::CsrfRejected,
            "login form without its login token",
        );
        let error = "The login form expired. Please log in again.";
        return login_page(
            &state,
            StatusCode::FORBIDDEN,
            LoginView {
                email: &email,
                error: Some(error),
                flash: None,
            },
        );
    }
    let password = form.text("password");
    // One field takes either: six digits are a TOTP code, anything else a recovery code.
    let code = form.text("totp_code").trim().to_owned();
    let is_totp = code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit());
    let factor = if is_totp {
        crate::api::auth::SecondFactor::new(Some(code), None)
    } else {
        crate::api::auth::SecondFactor::new(None, Some(code))
    };
    match open_session(&state, client, &email, password, &factor).await {
        Ok((_me, token, _csrf)) => {
            if let Some(old) = previous {
                // Replace, not pile up: the session this browser had before ends now.
                let _ = state.store().delete_session(old.token_hash).await;
            }
            let session = session_cookie(&state, token);
            (
                axum::response::AppendHeaders([
                    (header::SET_COOKIE, session.to_string()),
                    (header::SET_COOKIE, expired_login_cookie().to_string()),
                ]),
                Redirect::to("/"),
            )
                .into_response()
        }
        Err(ApiError::MfaRequired) => login_page(
            &state,
            StatusCode::UNAUTHORIZED,
            LoginView {
                email: &email,
                error: Some(
                    "This account uses multi-factor authentication: enter the current code of your \
                     authenticator app (or a recovery code) with your password.",
                ),
                flash: None,
            },
        ),
        Err(ApiError::InvalidCredentials) => login_page(
            &state,
            StatusCode::UNAUTHORIZED,
            LoginView {
                email: &email,
                error: Some("Wrong email or password."),
                flash: None,
            },
        ),
        Err(e) => {
            super::error::log_api_error(&e);
            let message = super::error::describe(&e);
            login_page(
                &state,
                e.status(),
                LoginView {
                    email: &email,
                    error: Some(&message),
                    flash: None,
                },
            )
        }
    }
}

/// `POST /logout`: ends the session on the server and clears its cookie.
pub async fn logout(
    State(state): State<AppState>,
    UiUser(user): UiUser,
    CsrfForm(_form): CsrfForm,
) -> Result<Response, UiError> {
    state
        .store()
        .delete_session(user.token_hash)
        .await
        .map_err(ApiError::from)?;
    Ok((
        [(header::SET_COOKIE, expired_cookie(&state).to_string())],
        Notice::LoggedOut.redirect("/login"),
    )
        .into_response())
}
