//! The JSON API under `/api/v1`, described by the OpenAPI document it is built with: each
//! route is registered together with its documentation, so the two cannot drift apart.

pub mod audit;
pub mod auth;
pub mod credentials;
pub mod invitations;
pub mod members;
mod orgs;
mod roles;

use crate::error::Problem;
use crate::state::AppState;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::{IntoResponses, Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "LabLedger API",
        description = "Laboratory operations and regulated data. Org data lives under `/api/v1/orgs/{org_id}`; \
            a record of another organization answers 404 exactly as one that does not exist. Errors are RFC 9457 \
            problem+json. Each operation's `security` scopes name the permission it needs.",
        license(name = "AGPL-3.0-or-later")
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "auth", description = "Login and the current user"),
        (name = "orgs", description = "Organizations"),
        (name = "members", description = "Members and their roles"),
        (name = "roles", description = "Built-in and custom roles"),
        (name = "audit", description = "The tamper-evident audit trail"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::extract::SESSION_COOKIE,
                "Session cookie from POST /api/v1/auth/login; unsafe methods also need the X-CSRF-Token header.",
            ))),
        );
    }
}

/// Errors any authenticated route can answer.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum CommonErrors {
    /// Not logged in.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(#[to_schema] Problem),
    /// Missing permission, or (unsafe methods) a missing CSRF token.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// No such record in this organization (or no such organization for the caller).
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
}

/// Errors of routes that take a body.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum InputErrors {
    /// Malformed JSON.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// A rule refused the change, or it clashes with existing data.
    #[response(status = 409, content_type = "application/problem+json")]
    Conflict(Problem),
    /// Body over the size limit.
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(Problem),
    /// Not `application/json`.
    #[response(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Problem),
    /// A field is missing, unknown, mistyped or invalid; `errors` names it.
    #[response(status = 422, content_type = "application/problem+json")]
    Invalid(Problem),
}

/// The API routes and their OpenAPI document.
pub fn router() -> (axum::Router<AppState>, OpenApiDoc) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(auth::permissions))
        .routes(routes!(orgs::get_org))
        .routes(routes!(members::list_members, members::add_member))
        .routes(routes!(
            members::get_member,
            members::update_member,
            members::remove_member
        ))
        .routes(routes!(roles::list_roles, roles::create_role))
        .routes(routes!(
            roles::get_role,
            roles::update_role,
            roles::delete_role
        ))
        .routes(routes!(audit::list_audit))
        .routes(routes!(audit::verify_audit))
        .routes(routes!(credentials::change_password))
        .routes(routes!(credentials::request_reset))
        .routes(routes!(credentials::confirm_reset))
        .routes(routes!(credentials::accept_invitation))
        .routes(routes!(
            invitations::list_invitations,
            invitations::create_invitation
        ))
        .routes(routes!(invitations::revoke_invitation))
        .split_for_parts()
}
