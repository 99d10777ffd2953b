//! `/security/password`: the user changes their own password. After an operator reset it is
//! the only page their session reaches (`extract::authenticate`).

use super::error::{describe, UiError};
use super::extract::{CsrfForm, UiUser};
use super::flash::Flash;
use super::layout::{self, csrf_field, Chrome};
use super::security::{chrome, query_has};
use crate::api::credentials::change_password_with;
use crate::error::ApiError;
use crate::extract::ClientInfo;
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;

fn render(chrome: &Chrome, status: StatusCode, flash: Option<Flash>, required: bool) -> Response {
    let body = html! {
        section.panel #change-password {
            h1 { "Change your password" }
            @if required {
                div.flash.flash-error role="alert" {
                    p.flash-text { "An administrator reset your password. Choose a new one to continue: enter the one-time password you were given as the current password." }
                }
            }
            form.stack method="post" action="/security/password" {
                (csrf_field(&chrome.csrf))
                div.field {
                    label for="password-current" { "Current password" }
                    input #password-current type="password" name="current_password" autocomplete="current-password" required autofocus;
                }
                div.field {
                    label for="password-new" { "New password" }
                    input #password-new type="password" name="new_password" autocomplete="new-password" minlength="12" required;
                    p.hint { "At least 12 characters; a few unrelated words make a strong one." }
                }
                button.btn.btn-primary type="submit" { "Change password" }
            }
        }
    };
    (
        status,
        layout::page(chrome, "Change your password", flash.as_ref(), body),
    )
        .into_response()
}

/// `GET /security/password` (`?required=1` after an operator reset).
pub async fn form(
    State(state): State<AppState>,
    UiUser(user): UiUser,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    let required = query_has(query.as_deref(), "required", "1");
    Ok(render(
        &chrome(&state, &user).await?,
        StatusCode::OK,
        None,
        required,
    ))
}

/// `POST /security/password` with `current_password` and `new_password`.
pub async fn submit(
    State(state): State<AppState>,
    UiUser(user): UiUser,
    client: ClientInfo,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    let chrome = chrome(&state, &user).await?;
    match change_password_with(
        &state,
        &user,
        &client,
        form.text("current_password"),
        &form.text("new_password"),
    )
    .await
    {
        Ok(ended) => {
            let message = match ended {
                0 => "Your password is changed.".to_owned(),
                n => format!("Your password is changed; {n} other session(s) ended."),
            };
            Ok(render(
                &chrome,
                StatusCode::OK,
                Some(Flash::success(message)),
                false,
            ))
        }
        Err(e @ (ApiError::Invalid(_) | ApiError::Throttled(_))) => Ok(render(
            &chrome,
            e.status(),
            Some(Flash::error(describe(&e))),
            false,
        )),
        Err(e) => Err(e.into()),
    }
}
