//! Errors of UI pages, rendered as HTML: a redirect to the login form, or an error page with the
//! status the API would answer.

use super::layout::{self, Chrome};
use crate::error::ApiError;
use crate::security::{security_event, SecurityEvent};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

#[derive(Debug)]
pub enum UiError {
    /// Not logged in (or the session ended): go to the login form.
    Login,
    NotFound,
    /// The org requires MFA and the user has none: go to the enrolment page.
    MfaEnrolment,
    /// A sensitive action needs the password again: go to the confirmation page.
    StepUp,
    /// The password was reset by an operator: go to the page that changes it.
    PasswordChange,
    /// An error page, inside the navigation of the caller when it is known.
    Page {
        status: StatusCode,
        title: &'static str,
        message: String,
        chrome: Option<Box<Chrome>>,
    },
}

impl UiError {
    pub fn forbidden(chrome: Chrome, message: impl Into<String>) -> Self {
        UiError::Page {
            status: StatusCode::FORBIDDEN,
            title: "Access denied",
            message: message.into(),
            chrome: Some(Box::new(chrome)),
        }
    }

    pub fn csrf() -> Self {
        security_event(
            SecurityEvent::CsrfRejected,
            "UI form without a valid CSRF token or from another origin",
        );
        UiError::Page {
            status: StatusCode::FORBIDDEN,
            title: "Form expired",
            message: "This form was not accepted: it is from an old page or from another site. \
                Go back, reload the page and try again."
                .into(),
            chrome: None,
        }
    }

    /// Attaches the caller's navigation to an error page that has none yet.
    pub fn with_chrome(self, chrome: &Chrome) -> Self {
        match self {
            UiError::NotFound => UiError::Page {
                status: StatusCode::NOT_FOUND,
                title: "Not found",
                message: not_found_message().into(),
                chrome: Some(Box::new(chrome.clone())),
            },
            UiError::Page {
                status,
                title,
                message,
                chrome: None,
            } => UiError::Page {
                status,
                title,
                message,
                chrome: Some(Box::new(chrome.clone())),
            },
            other => other,
        }
    }
}

fn not_found_message() -> &'static str {
    "There is nothing here, or it is not yours to see."
}

/// A human sentence for what the API error says; the detail only where it is safe to show
/// (the API shows the same text).
pub fn describe(e: &ApiError) -> String {
    match e {
        ApiError::Forbidden(d)
        | ApiError::Conflict(d)
        | ApiError::Refused(d)
        | ApiError::Gone(d)
        | ApiError::TooLarge(d)
        | ApiError::BadRequest(d, _) => d.clone(),
        ApiError::Invalid(errors) => {
            let fields: Vec<String> = errors.iter().map(ToString::to_string).collect();
            format!("Some fields are invalid: {}.", fields.join("; "))
        }
        ApiError::Csrf => "The form expired; reload the page and try again.".into(),
        ApiError::OrgDisabled => "An operator has disabled this organization.".into(),
        ApiError::MfaRequired => "Enter the current code of your authenticator app.".into(),
        ApiError::MfaEnrolmentRequired => {
            "This organization requires multi-factor authentication. Set up an authenticator app first."
                .into()
        }
        ApiError::StepUpRequired => {
            "This action needs you to confirm your password (and code) again.".into()
        }
        ApiError::PasswordChangeRequired => {
            "Your password was reset by an administrator: choose a new one first.".into()
        }
        ApiError::NotFound => not_found_message().into(),
        ApiError::Unavailable(_) => with_request_id("The service is not ready; try again shortly."),
        ApiError::Internal(_) => with_request_id("Something went wrong on our side; it has been logged."),
        ApiError::PayloadTooLarge => "The form is too large.".into(),
        ApiError::UnsupportedMediaType(d) => d.clone(),
        ApiError::Unauthorized | ApiError::InvalidToken | ApiError::InvalidCredentials => {
            "Please log in.".into()
        }
        ApiError::Throttled(secs) => {
            format!("Too many failed attempts: try again in {secs} seconds.")
        }
        ApiError::SmtpNotConfigured => {
            "This server cannot send mail: no SMTP server is configured.".into()
        }
        ApiError::Integrity(_) => with_request_id(
            "The stored file failed its integrity check, so none of it is served. This has been logged.",
        ),
        ApiError::RangeNotSatisfiable(size) => {
            format!("The requested range is not inside the file's {size} bytes.")
        }
        ApiError::WrongRegion(region) => format!(
            "This organization's data lives in region {region}, which this server does not serve. \
             Sign in at your organization's {region} address."
        ),
        ApiError::RegionMoving(region) => format!(
            "This organization's files are being moved to region {region}. You can still read \
             its data; changes are paused until the move is done. Please try again later."
        ),
    }
}

/// A server-side failure's sentence, naming the request so support can find its log lines.
fn with_request_id(sentence: &str) -> String {
    match crate::middleware::current_request_id() {
        Some(id) => format!("{sentence} Request id: {id}."),
        None => sentence.to_owned(),
    }
}

/// Logs what the API's error response would log (internal details, refused permissions).
pub fn log_api_error(e: &ApiError) {
    match e {
        ApiError::Internal(detail) | ApiError::Unavailable(detail) => {
            tracing::error!(error = %detail, "UI request failed")
        }
        ApiError::Forbidden(detail) => security_event(SecurityEvent::PermissionDenied, detail),
        ApiError::Integrity(detail) => security_event(SecurityEvent::IntegrityFailure, detail),
        _ => {}
    }
}

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> Self {
        log_api_error(&e);
        let title = match &e {
            ApiError::Unauthorized | ApiError::InvalidToken | ApiError::InvalidCredentials => {
                return UiError::Login
            }
            ApiError::NotFound => return UiError::NotFound,
            ApiError::Forbidden(_) => "Access denied",
            ApiError::Csrf => "Form expired",
            ApiError::OrgDisabled => "Organization disabled",
            ApiError::MfaEnrolmentRequired => return UiError::MfaEnrolment,
            ApiError::StepUpRequired => return UiError::StepUp,
            ApiError::PasswordChangeRequired => return UiError::PasswordChange,
            ApiError::MfaRequired => "Authentication code required",
            ApiError::Conflict(_) | ApiError::Refused(_) => "Not possible",
            ApiError::BadRequest(..) | ApiError::Invalid(_) => "Invalid input",
            ApiError::PayloadTooLarge | ApiError::TooLarge(_) => "Too large",
            ApiError::UnsupportedMediaType(_) => "Unsupported form",
            ApiError::Unavailable(_) => "Unavailable",
            ApiError::Internal(_) => "Something went wrong",
            ApiError::Throttled(_) => "Too many attempts",
            ApiError::SmtpNotConfigured => "Mail is not configured",
            ApiError::Integrity(_) => "Integrity check failed",
            ApiError::RangeNotSatisfiable(_) => "Range not satisfiable",
            ApiError::Gone(_) => "Deleted",
            ApiError::WrongRegion(_) => "Another region",
            ApiError::RegionMoving(_) => "Moving to another region",
        };
        UiError::Page {
            status: e.status(),
            title,
            message: describe(&e),
            chrome: None,
        }
    }
}

impl From<labledger_store::StoreError> for UiError {
    fn from(e: labledger_store::StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let (status, title, message, chrome) = match self {
            UiError::Login => return Redirect::to("/login").into_response(),
            UiError::MfaEnrolment => return Redirect::to("/security?required=1").into_response(),
            UiError::StepUp => return Redirect::to("/security/step-up").into_response(),
            UiError::PasswordChange => {
                return Redirect::to("/security/password?required=1").into_response()
            }
            UiError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                not_found_message().to_owned(),
                None,
            ),
            UiError::Page {
                status,
                title,
                message,
                chrome,
            } => (status, title, message, chrome),
        };
        let body = html! {
            section.error-page {
                h1 { (title) }
                p { (message) }
                p { a href="/" { "Go to the start page" } }
            }
        };
        let page = match chrome {
            Some(chrome) => layout::page(&chrome, title, None, body),
            None => layout::bare(title, body),
        };
        (status, page).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn server_failures_name_the_request_on_the_page() {
        let e = ApiError::Internal("driver text".into());
        let shown = crate::middleware::in_request("req-123".into(), async { describe(&e) }).await;
        assert!(shown.contains("Request id: req-123."), "{shown}");
        assert!(!shown.contains("driver text"));
        // A refusal is the caller's business, not the log's: no request id.
        let refused = crate::middleware::in_request("req-123".into(), async {
            describe(&ApiError::Conflict("taken".into()))
        })
        .await;
        assert_eq!(refused, "taken");
    }
}
