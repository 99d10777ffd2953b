//! The JSON API under `/api/v1`, described by the OpenAPI document it is built with: each
//! route is registered together with its documentation, so the two cannot drift apart.

pub mod access;
pub mod analyses;
pub mod attachments;
pub mod audit;
pub mod auth;
pub mod batches;
pub mod compliance;
pub mod credentials;
pub mod dashboard;
mod doc_rules;
pub mod exports;
pub mod files;
pub mod imports;
pub mod invitations;
pub mod members;
pub mod mfa;
mod orgs;
pub mod projects;
pub mod protocols;
pub mod retention;
mod review;
mod roles;
pub mod samples;
mod sessions;
pub mod signatures;
pub mod storage;
pub mod tokens;
pub mod workflows;

use crate::error::Problem;
use crate::state::AppState;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
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
        (name = "mfa", description = "The caller's second factor (TOTP, recovery codes)"),
        (name = "orgs", description = "Organizations"),
        (name = "members", description = "Members and their roles"),
        (name = "roles", description = "Built-in and custom roles"),
        (name = "samples", description = "Samples and their lifecycle"),
        (name = "batches", description = "Batches of samples"),
        (name = "projects", description = "Projects and their members"),
        (name = "audit", description = "The tamper-evident audit trail"),
        (name = "api-tokens", description = "API tokens for instruments and scripts"),
        (name = "access-requests", description = "Just-in-time privileged access"),
        (name = "protocols", description = "Protocols (SOPs), versions, approval by e-signature"),
        (name = "compliance", description = "Deviations and CAPA, closed by e-signature"),
        (name = "storage", description = "Storage locations, placement, chain of custody and labels"),
        (name = "files", description = "Evidence files: encrypted, immutable, versioned"),
        (name = "workflows", description = "Workflow runs of effective protocol versions, steps signed and verified"),
        (name = "exports", description = "Signed project exports (.eln), the export key, project reports"),
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
                "Session cookie from POST /api/v1/auth/login (named `__Host-labledger_session` when served over \
                 HTTPS); unsafe methods also need the X-CSRF-Token header.",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("llat_…")
                    .description(Some(
                        "An API token (`llat_…`) of the organization of the path; its permissions are its own \
                         intersected with its creator's current ones. No CSRF token is needed.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Org routes that need a person: an API token is refused (403) there.
const USER_ONLY: &[&str] = &[
    "create_api_token",
    "create_access_request",
    "approve_access_request",
    "deny_access_request",
    "revoke_access_request",
    // Protocol text is authored by a person.
    "create_protocol",
    "create_protocol_version",
    "update_protocol_version",
    // E-signatures are a person's (password re-entered at signing).
    "approve_protocol_version",
    "sign_compliance_record",
    "close_compliance_record",
    "record_workflow_step",
    "verify_workflow_step",
    "complete_workflow_run",
    // Exports need a person who re-entered their password recently (step-up), and so do
    // their decisions and the download.
    "export_project",
    "export_org",
    "approve_export_request",
    "reject_export_request",
    "download_export_request",
    // Changes of power over the org are a person's, with a recent password entry.
    "update_member",
    "update_settings",
    "create_role",
    "update_role",
    "delete_role",
];

/// Every org route also accepts an API token, with the same scopes as the session (listed
/// second: the session requirement stays first).
fn add_bearer(doc: &mut OpenApiDoc) {
    for (path, item) in doc.paths.paths.iter_mut() {
        if !path.starts_with("/api/v1/orgs/{org_id}") {
            continue;
        }
        for op in doc_rules::operations_mut(item) {
            if op
                .operation_id
                .as_deref()
                .is_some_and(|id| USER_ONLY.contains(&id))
            {
                continue;
            }
            let Some(reqs) = op.security.as_mut() else {
                continue;
            };
            let scopes: Option<Vec<String>> = reqs
                .first()
                .and_then(|r| serde_json::to_value(r).ok())
                .and_then(|v| {
                    serde_json::from_value::<std::collections::BTreeMap<String, Vec<String>>>(v)
                        .ok()
                })
                .and_then(|m| m.get("session").cloned());
            if let Some(scopes) = scopes {
                reqs.push(SecurityRequirement::new("bearer", scopes));
            }
        }
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
    /// The organization's data lives in another region than this node serves (`region` names
    /// it): ask a node of that region.
    #[response(status = 421, content_type = "application/problem+json")]
    WrongRegion(Problem),
}

/// The 401 of routes that take an e-signature: besides "not logged in", the password (or the
/// second-factor code) re-entered to sign was wrong. Listed after [`CommonErrors`] so it wins.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum SigningErrors {
    /// Not logged in, or a wrong password (`invalid-credentials`) or code (`mfa-required`) was
    /// entered to sign; nothing is signed or recorded.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(#[to_schema] Problem),
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
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(auth::permissions))
        .routes(routes!(
            sessions::list_sessions,
            sessions::revoke_other_sessions
        ))
        .routes(routes!(sessions::revoke_session))
        .routes(routes!(auth::step_up))
        .routes(routes!(mfa::mfa_status))
        .routes(routes!(mfa::enrol_totp, mfa::disable_totp))
        .routes(routes!(mfa::confirm_totp))
        .routes(routes!(orgs::get_settings, orgs::update_settings))
        .routes(routes!(orgs::get_org))
        .routes(routes!(dashboard::get_dashboard))
        .routes(routes!(members::list_members, members::add_member))
        .routes(routes!(
            members::get_member,
            members::update_member,
            members::remove_member
        ))
        .routes(routes!(members::deactivate_member))
        .routes(routes!(members::reactivate_member))
        .routes(routes!(members::revoke_member_sessions))
        .routes(routes!(review::access_review))
        .routes(routes!(roles::list_roles, roles::create_role))
        .routes(routes!(
            roles::get_role,
            roles::update_role,
            roles::delete_role
        ))
        .routes(routes!(samples::list_samples, samples::create_sample))
        .routes(routes!(samples::import_samples))
        .routes(routes!(samples::get_sample))
        .routes(routes!(samples::transition_sample))
        .routes(routes!(samples::export_samples))
        .routes(routes!(
            samples::list_sample_fields,
            samples::create_sample_field
        ))
        .routes(routes!(batches::list_batches, batches::create_batch))
        .routes(routes!(batches::get_batch))
        .routes(routes!(batches::add_batch_samples))
        .routes(routes!(batches::remove_batch_sample))
        .routes(routes!(batches::close_batch))
        .routes(routes!(projects::list_projects, projects::create_project))
        .routes(routes!(projects::get_project, projects::update_project))
        .routes(routes!(projects::add_project_member))
        .routes(routes!(projects::remove_project_member))
        .routes(routes!(projects::set_project_access))
        .routes(routes!(audit::list_audit))
        .routes(routes!(audit::verify_audit))
        .routes(routes!(tokens::list_api_tokens, tokens::create_api_token))
        .routes(routes!(tokens::revoke_api_token))
        .routes(routes!(
            access::list_access_requests,
            access::create_access_request
        ))
        .routes(routes!(access::get_access_request))
        .routes(routes!(access::approve_access_request))
        .routes(routes!(access::deny_access_request))
        .routes(routes!(access::revoke_access_request))
        .routes(routes!(credentials::change_password))
        .routes(routes!(credentials::request_reset))
        .routes(routes!(credentials::confirm_reset))
        .routes(routes!(credentials::accept_invitation))
        .routes(routes!(
            invitations::list_invitations,
            invitations::create_invitation
        ))
        .routes(routes!(invitations::revoke_invitation))
        .routes(routes!(
            protocols::list_protocols,
            protocols::create_protocol
        ))
        .routes(routes!(protocols::get_protocol))
        .routes(routes!(protocols::create_protocol_version))
        .routes(routes!(
            protocols::get_protocol_version,
            protocols::update_protocol_version
        ))
        .routes(routes!(protocols::approve_protocol_version))
        .routes(routes!(protocols::diff_protocol_versions))
        .routes(routes!(
            compliance::list_compliance_records,
            compliance::open_compliance_record
        ))
        .routes(routes!(compliance::overdue_compliance_records))
        .routes(routes!(
            compliance::get_compliance_record,
            compliance::update_compliance_record
        ))
        .routes(routes!(compliance::transition_compliance_record))
        .routes(routes!(compliance::link_compliance_record))
        .routes(routes!(compliance::sign_compliance_record))
        .routes(routes!(compliance::close_compliance_record))
        .routes(routes!(storage::list_locations, storage::create_location))
        .routes(routes!(storage::get_location))
        .routes(routes!(
            storage::get_placement,
            storage::place_sample,
            storage::remove_sample
        ))
        .routes(routes!(storage::custody))
        .routes(routes!(storage::hand_over))
        .routes(routes!(storage::custody_report))
        .routes(routes!(storage::label_svg))
        .routes(routes!(storage::label_png))
        .routes(routes!(storage::label_zpl))
        .routes(routes!(storage::label_sheet))
        .routes(routes!(storage::derive_samples))
        .routes(routes!(storage::lineage))
        .routes(routes!(files::list_files, files::upload_file))
        .routes(routes!(files::get_file, retention::delete_file))
        .routes(routes!(files::download_file))
        .routes(routes!(analyses::create_analysis))
        .routes(routes!(analyses::get_analysis))
        .routes(routes!(analyses::file_provenance))
        .routes(routes!(analyses::sample_provenance))
        .routes(routes!(retention::get_retention, retention::set_retention))
        .routes(routes!(
            retention::place_legal_hold,
            retention::release_legal_hold
        ))
        .routes(routes!(
            workflows::list_workflow_runs,
            workflows::start_workflow_run
        ))
        .routes(routes!(workflows::get_workflow_run))
        .routes(routes!(workflows::record_workflow_step))
        .routes(routes!(workflows::verify_workflow_step))
        .routes(routes!(workflows::complete_workflow_run))
        .routes(routes!(workflows::abort_workflow_run))
        .routes(routes!(exports::export_public_key))
        .routes(routes!(exports::add_project_file))
        .routes(routes!(exports::requests::export_project))
        .routes(routes!(exports::reports::project_report_pdf))
        .routes(routes!(exports::reports::project_report_csv))
        .routes(routes!(exports::requests::export_org))
        .routes(routes!(imports::import_eln))
        .routes(routes!(exports::requests::list_export_requests))
        .routes(routes!(exports::requests::get_export_request))
        .routes(routes!(exports::requests::approve_export_request))
        .routes(routes!(exports::requests::reject_export_request))
        .routes(routes!(exports::requests::download_export_request))
        .routes(routes!(
            attachments::list_sample_files,
            attachments::attach_sample_file
        ))
        .routes(routes!(
            attachments::list_batch_files,
            attachments::attach_batch_file
        ))
        .routes(routes!(
            attachments::list_run_files,
            attachments::attach_run_file
        ))
        .split_for_parts();
    add_bearer(&mut doc);
    doc_rules::apply(&mut doc);
    let router = router.layer(axum::middleware::from_fn(
        doc_rules::octet_stream_on_request,
    ));
    (router, doc)
}
