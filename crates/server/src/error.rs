//! One error type for the API, rendered as RFC 9457 problem+json with a stable `type`.
//!
//! The public body says only what the caller may know; details for operators go to the log.
//! A 404 body is the same bytes whatever was missing, so "not yours" and "not there" cannot be
//! told apart.

use crate::security::{security_event, SecurityEvent};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use labledger_domain::{FieldError, FieldErrors};
use labledger_store::StoreError;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("authentication required")]
    Unauthorized,
    /// An `Authorization` header that is malformed, or a bearer token that is unknown, expired,
    /// revoked or dead (its creator or org is gone): 401 like no credential at all.
    #[error("invalid bearer token")]
    InvalidToken,
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("CSRF token missing or wrong")]
    Csrf,
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("refused: {0}")]
    Refused(String),
    #[error("bad request: {0}")]
    BadRequest(String, Vec<FieldError>),
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    #[error("payload too large")]
    PayloadTooLarge,
    /// Over a limit that has a reason to give (an archive's expanded size, entry count, …): 413.
    #[error("too large: {0}")]
    TooLarge(String),
    #[error("unsupported media type")]
    UnsupportedMediaType(String),
    #[error("organization disabled")]
    OrgDisabled,
    /// The password was right; a valid second factor is missing.
    #[error("MFA code required")]
    MfaRequired,
    /// The org requires MFA and the caller has none yet.
    #[error("MFA enrolment required")]
    MfaEnrolmentRequired,
    /// A sensitive action needs the password entered within the last few minutes.
    #[error("step-up re-authentication required")]
    StepUpRequired,
    /// An operator reset the password: it serves only to choose a new one.
    #[error("password change required")]
    PasswordChangeRequired,
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// Too many failed attempts: back off (or the account is locked) for this many seconds.
    #[error("throttled for {0} s")]
    Throttled(i64),
    /// Invitations and password resets need mail, and no SMTP server is configured.
    #[error("no SMTP server configured")]
    SmtpNotConfigured,
    /// Stored evidence failed its integrity check (altered, truncated, reordered): never served.
    #[error("integrity check failed: {0}")]
    Integrity(String),
    /// A `Range` the file of this many bytes cannot serve.
    #[error("range not satisfiable")]
    RangeNotSatisfiable(u64),
    /// The record remains but its content was destroyed (a deleted file).
    #[error("gone: {0}")]
    Gone(String),
    /// The org's data lives in another region than this node's: ask a node of that region.
    #[error("the organization lives in region {0}")]
    WrongRegion(String),
    /// The org's files are being moved to the named region: writes wait until that is done.
    #[error("the organization's data is moving to region {0}")]
    RegionMoving(String),
}

/// The RFC 9457 body.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Stable identifier of the kind of problem, e.g. `/problems/not-found`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Each rejected input field and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<FieldErrorDoc>)]
    pub errors: Vec<FieldError>,
    /// On server faults (5xx): the request's id (also the `x-request-id` header), under which
    /// the detail is logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// On 421 `wrong-region`: the region whose nodes serve the organization; on 409
    /// `region-move-in-progress`: the region its data is moving to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// One rejected input field.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct FieldErrorDoc {
    field: String,
    message: String,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized
            | ApiError::InvalidToken
            | ApiError::InvalidCredentials
            | ApiError::MfaRequired => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_)
            | ApiError::Csrf
            | ApiError::OrgDisabled
            | ApiError::MfaEnrolmentRequired
            | ApiError::StepUpRequired
            | ApiError::PasswordChangeRequired => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) | ApiError::Refused(_) | ApiError::RegionMoving(_) => {
                StatusCode::CONFLICT
            }
            ApiError::BadRequest(..) => StatusCode::BAD_REQUEST,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PayloadTooLarge | ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::SmtpNotConfigured => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Integrity(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::WrongRegion(_) => StatusCode::MISDIRECTED_REQUEST,
        }
    }

    pub fn slug(&self) -> &'static str {
        match self {
            ApiError::Unauthorized | ApiError::InvalidToken => "unauthorized",
            ApiError::InvalidCredentials => "invalid-credentials",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::Csrf => "csrf",
            ApiError::NotFound => "not-found",
            ApiError::Conflict(_) => "conflict",
            ApiError::Refused(_) => "refused",
            ApiError::BadRequest(..) => "bad-request",
            ApiError::Invalid(_) => "invalid-input",
            ApiError::PayloadTooLarge | ApiError::TooLarge(_) => "payload-too-large",
            ApiError::UnsupportedMediaType(_) => "unsupported-media-type",
            ApiError::OrgDisabled => "org-disabled",
            ApiError::MfaRequired => "mfa-required",
            ApiError::MfaEnrolmentRequired => "mfa-enrolment-required",
            ApiError::WrongRegion(_) => "wrong-region",
            ApiError::RegionMoving(_) => "region-move-in-progress",
            ApiError::StepUpRequired => "step-up-required",
            ApiError::PasswordChangeRequired => "password-change-required",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
            ApiError::Throttled(_) => "throttled",
            ApiError::SmtpNotConfigured => "smtp-not-configured",
            ApiError::Integrity(_) => "integrity",
            ApiError::RangeNotSatisfiable(_) => "range-not-satisfiable",
            ApiError::Gone(_) => "gone",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::Unauthorized | ApiError::InvalidToken => "Authentication required",
            ApiError::InvalidCredentials => "Invalid email or password",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::Csrf => "CSRF token missing or invalid",
            ApiError::NotFound => "Not found",
            ApiError::Conflict(_) => "Conflict",
            ApiError::Refused(_) => "Refused by a rule",
            ApiError::BadRequest(..) => "Bad request",
            ApiError::Invalid(_) => "Invalid input",
            ApiError::PayloadTooLarge | ApiError::TooLarge(_) => "Payload too large",
            ApiError::UnsupportedMediaType(_) => "Unsupported media type",
            ApiError::OrgDisabled => "Organization disabled",
            ApiError::MfaRequired => "Authentication code required",
            ApiError::MfaEnrolmentRequired => "MFA enrolment required",
            ApiError::WrongRegion(_) => "The organization lives in another region",
            ApiError::RegionMoving(_) => "The organization's data is moving to another region",
            ApiError::StepUpRequired => "Re-authentication required",
            ApiError::PasswordChangeRequired => "Password change required",
            ApiError::Unavailable(_) => "Service unavailable",
            ApiError::Internal(_) => "Internal server error",
            ApiError::Throttled(_) => "Too many attempts",
            ApiError::SmtpNotConfigured => "Mail is not configured",
            ApiError::Integrity(_) => "Stored data failed its integrity check",
            ApiError::RangeNotSatisfiable(_) => "Range not satisfiable",
            ApiError::Gone(_) => "Gone",
        }
    }

    pub fn problem(&self) -> Problem {
        let detail = match self {
            ApiError::Unauthorized => {
                Some("Log in, or send a valid session cookie or bearer token.".to_owned())
            }
            ApiError::InvalidToken => Some(
                "The Authorization header is not a valid bearer token: unknown, expired or revoked, or malformed (send `Authorization: Bearer llat_…`).".to_owned(),
            ),
            ApiError::InvalidCredentials => Some("The email or the password is wrong.".to_owned()),
            ApiError::NotFound => Some("The requested resource does not exist.".to_owned()),
            ApiError::Csrf => {
                Some("Send the session's CSRF token in the X-CSRF-Token header.".to_owned())
            }
            ApiError::OrgDisabled => Some("An operator has disabled this organization.".to_owned()),
            ApiError::MfaRequired => Some(
                "This account uses MFA: send a current `totp_code` (or an unused `recovery_code`)."
                    .to_owned(),
            ),
            ApiError::MfaEnrolmentRequired => Some(
                "This organization requires MFA. Enrol an authenticator (POST /api/v1/me/mfa/totp) first."
                    .to_owned(),
            ),
            ApiError::StepUpRequired => Some(
                "This action needs a recent password entry: POST /api/v1/auth/step-up, then retry."
                    .to_owned(),
            ),
            ApiError::PasswordChangeRequired => Some(
                "An operator reset this account's password: choose a new one (POST /api/v1/me/password \
                 with the one-time password as current_password) before anything else."
                    .to_owned(),
            ),
            ApiError::PayloadTooLarge => {
                Some("The request body exceeds the size limit.".to_owned())
            }
            ApiError::Forbidden(d)
            | ApiError::Conflict(d)
            | ApiError::Refused(d)
            | ApiError::Gone(d)
            | ApiError::BadRequest(d, _)
            | ApiError::TooLarge(d)
            | ApiError::UnsupportedMediaType(d) => Some(d.clone()),
            ApiError::Invalid(_) => {
                Some("One or more fields are invalid; see `errors`.".to_owned())
            }
            // Never leak internals: the log has the detail.
            ApiError::Unavailable(_) => {
                Some("The service is not ready; try again shortly.".to_owned())
            }
            ApiError::Internal(_) => {
                Some("Something went wrong on our side; it has been logged.".to_owned())
            }
            ApiError::Throttled(secs) => Some(format!(
                "Too many failed attempts: try again in {secs} seconds."
            )),
            ApiError::Integrity(_) => Some(
                "The stored file does not verify (altered, truncated or reordered), so none of it is served. This has been logged.".to_owned(),
            ),
            ApiError::RangeNotSatisfiable(size) => Some(format!(
                "Ask for one byte range inside the file's {size} bytes, e.g. `Range: bytes=0-1023`."
            )),
            ApiError::WrongRegion(region) => Some(format!(
                "This organization's data lives in region `{region}`, which this node does not serve: use a node of region `{region}`."
            )),
            ApiError::RegionMoving(region) => Some(format!(
                "This organization's files are being moved to region `{region}`: its data can be read, but changes are paused until the move is done. Try again later."
            )),
            ApiError::SmtpNotConfigured => Some(
                "This server has no SMTP server configured (--smtp-url), so it cannot send invitations or password resets.".to_owned(),
            ),
        };
        let errors = match self {
            ApiError::BadRequest(_, e) | ApiError::Invalid(e) => e.clone(),
            _ => Vec::new(),
        };
        let status = self.status();
        Problem {
            kind: format!("/problems/{}", self.slug()),
            title: self.title(),
            status: status.as_u16(),
            detail,
            errors,
            request_id: status
                .is_server_error()
                .then(crate::middleware::current_request_id)
                .flatten(),
            region: match self {
                ApiError::WrongRegion(r) | ApiError::RegionMoving(r) => Some(r.clone()),
                _ => None,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(detail) | ApiError::Unavailable(detail) => {
                tracing::error!(error = %detail, "request failed")
            }
            ApiError::Integrity(detail) => {
                security_event(SecurityEvent::IntegrityFailure, detail);
                tracing::error!(error = %detail, "stored evidence failed its integrity check")
            }
            ApiError::Forbidden(detail) => security_event(SecurityEvent::PermissionDenied, detail),
            ApiError::Csrf => security_event(
                SecurityEvent::CsrfRejected,
                "unsafe request without a valid CSRF token",
            ),
            _ => {}
        }
        metrics::counter!("labledger_errors_total", "type" => self.slug()).increment(1);
        let status = self.status();
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut res = (status, body).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let ApiError::RangeNotSatisfiable(size) = self {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                res.headers_mut().insert(header::CONTENT_RANGE, v);
            }
        }
        if status == StatusCode::UNAUTHORIZED {
            // RFC 9110 §11.6.1: a 401 names the scheme to use; RFC 6750 §3.1 the token's fault.
            let challenge = match self {
                ApiError::InvalidToken => "Bearer realm=\"LabLedger\", error=\"invalid_token\"",
                _ => "Bearer realm=\"LabLedger\"",
            };
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        if let ApiError::Throttled(secs) = self {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        res
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Forbidden(p) => {
                ApiError::Forbidden(format!("This needs the permission `{p}`."))
            }
            StoreError::NotAllowed(d) => ApiError::Forbidden(d),
            StoreError::Refused(d) => ApiError::Refused(d),
            StoreError::Conflict(d) => ApiError::Conflict(d),
            StoreError::Gone(d) => ApiError::Gone(d),
            StoreError::Invalid(errors) => ApiError::Invalid(errors.0),
            StoreError::OrgDisabled => ApiError::OrgDisabled,
            // A uniqueness rule of the schema caught what a check did not: a clash, not a fault.
            // Our own sentence: the driver's text names tables and constraints.
            e if e.is_unique_violation() => {
                ApiError::Conflict("This clashes with an existing record.".into())
            }
            // Out of reach for now (pool exhausted or closed): 503, worth a retry.
            e if e.is_unavailable() => ApiError::Unavailable(e.to_string()),
            // Every other database failure (a failed commit too) is a fault: 500, detail logged.
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<FieldErrors> for ApiError {
    fn from(e: FieldErrors) -> Self {
        ApiError::Invalid(e.0)
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::Invalid(vec![e])
    }
}

impl From<labledger_auth::AuthError> for ApiError {
    fn from(e: labledger_auth::AuthError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use std::borrow::Cow;

    /// A driver error as sqlx reports it, with text that must never reach a client.
    #[derive(Debug)]
    struct DriverError(sqlx::error::ErrorKind);

    impl std::fmt::Display for DriverError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(sqlx::error::DatabaseError::message(self))
        }
    }

    impl std::error::Error for DriverError {}

    impl sqlx::error::DatabaseError for DriverError {
        fn message(&self) -> &str {
            "duplicate key value violates unique constraint \"secret_table_pkey\""
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed("23505"))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            match self.0 {
                sqlx::error::ErrorKind::UniqueViolation => sqlx::error::ErrorKind::UniqueViolation,
                _ => sqlx::error::ErrorKind::Other,
            }
        }
    }

    fn driver(kind: sqlx::error::ErrorKind) -> StoreError {
        StoreError::Database(sqlx::Error::Database(Box::new(DriverError(kind))))
    }

    /// The response of a store error inside request `req-1`: status and body.
    async fn answer(e: StoreError) -> (StatusCode, serde_json::Value) {
        crate::middleware::in_request("req-1".into(), async move {
            let res = ApiError::from(e).into_response();
            let status = res.status();
            let bytes = axum::body::to_bytes(res.into_body(), 1 << 16)
                .await
                .unwrap();
            (status, serde_json::from_slice(&bytes).unwrap())
        })
        .await
    }

    #[tokio::test]
    async fn database_faults_are_500_or_503_with_the_request_id_and_no_driver_text() {
        for (e, status, kind) in [
            (
                StoreError::CommitFailed("database is locked: secret_table".into()),
                StatusCode::INTERNAL_SERVER_ERROR,
                "/problems/internal",
            ),
            (
                driver(sqlx::error::ErrorKind::ForeignKeyViolation),
                StatusCode::INTERNAL_SERVER_ERROR,
                "/problems/internal",
            ),
            (
                StoreError::Database(sqlx::Error::PoolTimedOut),
                StatusCode::SERVICE_UNAVAILABLE,
                "/problems/unavailable",
            ),
            (
                StoreError::WriterGone,
                StatusCode::SERVICE_UNAVAILABLE,
                "/problems/unavailable",
            ),
        ] {
            let shown = e.to_string();
            let (got, body) = answer(e).await;
            assert_eq!(got, status, "{shown}");
            assert_eq!(body["type"], kind, "{shown}");
            assert_eq!(body["request_id"], "req-1", "{shown}");
            let text = body.to_string();
            assert!(!text.contains("secret_table"), "{text}");
            assert!(!text.contains("locked") && !text.contains("pool"), "{text}");
        }
    }

    #[tokio::test]
    async fn a_uniqueness_clash_is_409_in_our_own_words() {
        let (status, body) = answer(driver(sqlx::error::ErrorKind::UniqueViolation)).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(body["type"], "/problems/conflict");
        assert_eq!(body["detail"], "This clashes with an existing record.");
        assert!(body.get("request_id").is_none(), "not a fault: {body}");
        assert!(!body.to_string().contains("secret_table"));
    }

    #[test]
    fn invalid_credentials_carry_a_bearer_challenge() {
        let res = ApiError::InvalidToken.into_response();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            res.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"LabLedger\", error=\"invalid_token\""
        );
        let res = ApiError::Unauthorized.into_response();
        assert_eq!(
            res.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"LabLedger\""
        );
    }
}
