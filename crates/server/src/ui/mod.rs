//! The server-rendered web UI: maud templates, plain HTML forms, a little hand-written
//! JavaScript and CSS embedded in the binary (no inline code: the CSP forbids it).
//!
//! Every page resolves its caller with [`extract::UiUser`] or [`extract::UiOrg`] (not logged in:
//! a redirect to `/login`), every POST carries the session's CSRF token ([`extract::CsrfForm`]),
//! and every error renders as an HTML page or as a form error, never as JSON.

mod access;
mod analyses;
mod assets;
mod attachments;
mod audit;
mod auth;
mod batches;
mod compliance;
mod credentials;
mod dashboard;
mod error;
mod evidence;
mod exports;
mod extract;
mod files;
mod flash;
mod invitations;
mod layout;
mod members;
mod password;
mod protocols;
mod retention;
mod review;
mod roles;
mod samples;
mod security;
mod storage;
mod workflows;

use crate::state::AppState;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

pub use error::UiError;

/// The UI routes; merged into the application router.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/assets/app.css", get(assets::css))
        .route("/assets/app.js", get(assets::js))
        .route("/assets/favicon.svg", get(assets::icon))
        .route("/", get(auth::index))
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/logout", post(auth::logout))
        .route(
            "/reset",
            get(credentials::reset_form).post(credentials::reset_submit),
        )
        .route(
            "/reset/confirm",
            get(credentials::reset_confirm_form).post(credentials::reset_confirm_submit),
        )
        .route(
            "/invite",
            get(credentials::invite_form).post(credentials::invite_submit),
        )
        .route("/switch", get(dashboard::switch_org))
        .route("/security", get(security::page))
        .route(
            "/security/password",
            get(password::form).post(password::submit),
        )
        .route("/security/totp", post(security::enrol))
        .route("/security/totp/confirm", post(security::confirm))
        .route("/security/totp/disable", post(security::disable_form))
        .route(
            "/security/step-up",
            get(security::step_up_form).post(security::step_up),
        )
        .route("/orgs/{org_id}", get(dashboard::dashboard))
        .route(
            "/orgs/{org_id}/members",
            get(members::list).post(members::add),
        )
        .route("/orgs/{org_id}/invitations", post(invitations::create))
        .route(
            "/orgs/{org_id}/invitations/{invitation_id}/revoke",
            post(invitations::revoke),
        )
        .route(
            "/orgs/{org_id}/members/{user_id}/roles",
            post(members::set_roles),
        )
        .route(
            "/orgs/{org_id}/members/{user_id}/remove",
            post(members::remove),
        )
        .route("/orgs/{org_id}/roles", get(roles::list).post(roles::create))
        .route(
            "/orgs/{org_id}/roles/{role_id}",
            get(roles::edit_form).post(roles::update),
        )
        .route("/orgs/{org_id}/roles/{role_id}/delete", post(roles::delete))
        .route(
            "/orgs/{org_id}/samples",
            get(samples::list).post(samples::register),
        )
        .route("/orgs/{org_id}/samples/import", post(samples::import))
        .route("/orgs/{org_id}/samples/fields", post(samples::define_field))
        .route("/orgs/{org_id}/samples/{sample_id}", get(samples::show))
        .route(
            "/orgs/{org_id}/samples/{sample_id}/transitions",
            post(samples::transition),
        )
        .route(
            "/orgs/{org_id}/batches",
            get(batches::list).post(batches::create),
        )
        .route("/orgs/{org_id}/batches/{batch_id}", get(batches::show))
        .route(
            "/orgs/{org_id}/batches/{batch_id}/samples",
            post(batches::add),
        )
        .route(
            "/orgs/{org_id}/batches/{batch_id}/samples/{sample_id}/remove",
            post(batches::remove),
        )
        .route(
            "/orgs/{org_id}/batches/{batch_id}/close",
            post(batches::close),
        )
        .route(
            "/orgs/{org_id}/storage",
            get(storage::list).post(storage::create),
        )
        .route("/orgs/{org_id}/storage/{location_id}", get(storage::show))
        .route(
            "/orgs/{org_id}/samples/{sample_id}/placement",
            post(storage::place),
        )
        .route(
            "/orgs/{org_id}/samples/{sample_id}/placement/remove",
            post(storage::remove),
        )
        .route(
            "/orgs/{org_id}/samples/{sample_id}/handover",
            post(storage::handover),
        )
        .route(
            "/orgs/{org_id}/samples/{sample_id}/aliquots",
            post(storage::derive),
        )
        .route(
            "/orgs/{org_id}/samples/{sample_id}/label",
            get(storage::label_page),
        )
        .route("/orgs/{org_id}/files", get(files::list))
        .route("/orgs/{org_id}/exports", get(exports::page))
        .route(
            "/orgs/{org_id}/exports/projects/{project_id}",
            post(exports::export_project),
        )
        .route("/orgs/{org_id}/exports/org", post(exports::export_org))
        .route(
            "/orgs/{org_id}/exports/requests/{export_request_id}/approve",
            post(exports::approve),
        )
        .route(
            "/orgs/{org_id}/exports/requests/{export_request_id}/reject",
            post(exports::reject),
        )
        .route(
            "/orgs/{org_id}/exports/requests/{export_request_id}/download",
            post(exports::download),
        )
        .route("/orgs/{org_id}/access-review", get(review::page))
        .route(
            "/orgs/{org_id}/protocols",
            get(protocols::list).post(protocols::create),
        )
        .route(
            "/orgs/{org_id}/protocols/{protocol_id}",
            get(protocols::show),
        )
        .route(
            "/orgs/{org_id}/protocols/{protocol_id}/versions",
            post(protocols::create_version),
        )
        .route(
            "/orgs/{org_id}/protocols/{protocol_id}/versions/{version_id}",
            get(protocols::show_version).post(protocols::update_version),
        )
        .route(
            "/orgs/{org_id}/protocols/{protocol_id}/versions/{version_id}/approve",
            post(protocols::approve),
        )
        .route(
            "/orgs/{org_id}/protocols/{protocol_id}/diff",
            get(protocols::diff),
        )
        .route(
            "/orgs/{org_id}/compliance",
            get(compliance::list).post(compliance::open),
        )
        .route(
            "/orgs/{org_id}/compliance/{record_id}",
            get(compliance::show).post(compliance::update),
        )
        .route(
            "/orgs/{org_id}/compliance/{record_id}/transitions",
            post(compliance::transition),
        )
        .route(
            "/orgs/{org_id}/compliance/{record_id}/links",
            post(compliance::link),
        )
        .route(
            "/orgs/{org_id}/compliance/{record_id}/signatures",
            post(compliance::sign),
        )
        .route(
            "/orgs/{org_id}/compliance/{record_id}/close",
            post(compliance::close),
        )
        .route(
            "/orgs/{org_id}/members/{user_id}/deactivate",
            post(review::deactivate),
        )
        .route(
            "/orgs/{org_id}/workflow-runs",
            get(workflows::list).post(workflows::start),
        )
        .route(
            "/orgs/{org_id}/workflow-runs/{run_id}",
            get(workflows::show),
        )
        .route(
            "/orgs/{org_id}/workflow-runs/{run_id}/steps",
            post(workflows::record),
        )
        .route(
            "/orgs/{org_id}/workflow-runs/{run_id}/steps/{step_index}/verify",
            post(workflows::verify),
        )
        .route(
            "/orgs/{org_id}/workflow-runs/{run_id}/complete",
            post(workflows::complete),
        )
        .route(
            "/orgs/{org_id}/workflow-runs/{run_id}/abort",
            post(workflows::abort),
        )
        .route("/orgs/{org_id}/audit", get(audit::list))
        .route("/orgs/{org_id}/audit/verify", post(audit::verify))
        .route(
            "/orgs/{org_id}/api-tokens",
            get(access::tokens).post(access::create_token),
        )
        .route(
            "/orgs/{org_id}/api-tokens/{token_id}/revoke",
            post(access::revoke_token),
        )
        .route(
            "/orgs/{org_id}/access-requests",
            get(access::requests).post(access::ask),
        )
        .route(
            "/orgs/{org_id}/access-requests/{request_id}/approve",
            post(access::approve),
        )
        .route(
            "/orgs/{org_id}/access-requests/{request_id}/deny",
            post(access::deny),
        )
        .route(
            "/orgs/{org_id}/access-requests/{request_id}/revoke",
            post(access::revoke),
        )
        .route("/orgs/{org_id}/files/{file_id}", get(evidence::show))
        .route(
            "/orgs/{org_id}/files/{file_id}/legal-hold",
            post(evidence::place_hold),
        )
        .route(
            "/orgs/{org_id}/files/{file_id}/legal-hold/release",
            post(evidence::release_hold),
        )
        .route(
            "/orgs/{org_id}/files/{file_id}/delete",
            post(evidence::delete),
        )
        .route("/orgs/{org_id}/analyses", post(analyses::create))
        .route("/orgs/{org_id}/analyses/new", get(analyses::new_form))
        .route("/orgs/{org_id}/analyses/{analysis_id}", get(analyses::show))
        .route(
            "/orgs/{org_id}/retention",
            get(retention::page).post(retention::set),
        )
}

/// The page for any path nothing else answers (outside `/api/`).
pub fn not_found_page() -> impl IntoResponse {
    UiError::NotFound
}

/// `Permission::ALL` grouped by resource, in its fixed order.
fn permission_groups() -> Vec<(
    labledger_domain::Resource,
    Vec<labledger_domain::Permission>,
)> {
    let mut groups: Vec<(
        labledger_domain::Resource,
        Vec<labledger_domain::Permission>,
    )> = Vec::new();
    for p in labledger_domain::Permission::ALL {
        match groups.last_mut() {
            Some((r, perms)) if *r == p.resource => perms.push(p),
            _ => groups.push((p.resource, vec![p])),
        }
    }
    groups
}

/// Built-in roles in their order of power (Owner first), then the custom ones as stored.
fn sort_roles(roles: &mut [labledger_store::Role]) {
    use labledger_domain::BuiltinRole;
    roles.sort_by_key(|r| {
        let rank = BuiltinRole::ALL
            .iter()
            .position(|b| r.builtin && b.name() == r.name);
        rank.unwrap_or(BuiltinRole::ALL.len())
    });
}

/// `compliance_records` → `Compliance records`.
fn resource_label(r: labledger_domain::Resource) -> String {
    let text = r.as_str().replace('_', " ");
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => text,
    }
}

/// The first error of a field.
fn field_error<'a>(errors: &'a [labledger_domain::FieldError], field: &str) -> Option<&'a str> {
    errors
        .iter()
        .find(|e| e.field == field)
        .map(|e| e.message.as_str())
}

/// The errors of a list field and its items (`roles`, `roles[1]`).
fn field_errors_of<'a>(errors: &'a [labledger_domain::FieldError], field: &str) -> Vec<&'a str> {
    errors
        .iter()
        .filter(|e| {
            e.field == field
                || e.field
                    .strip_prefix(field)
                    .is_some_and(|rest| rest.starts_with('['))
        })
        .map(|e| e.message.as_str())
        .collect()
}

/// The summary on top of a form with invalid fields.
fn invalid_box(errors: &[labledger_domain::FieldError]) -> maud::Markup {
    maud::html! {
        div.flash.flash-error role="alert" {
            div {
                p.flash-text { "Please correct " (if errors.len() == 1 { "this field" } else { "these fields" }) ":" }
                ul.error-list { @for e in errors { li { (e.field) ": " (e.message) } } }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn groups_cover_every_permission_once() {
        let groups = permission_groups();
        let n: usize = groups.iter().map(|(_, p)| p.len()).sum();
        assert_eq!(n, labledger_domain::Permission::ALL.len());
        assert_eq!(
            resource_label(labledger_domain::Resource::ComplianceRecords),
            "Compliance records"
        );
    }

    #[test]
    fn list_field_errors() {
        use labledger_domain::FieldError;
        let errors = vec![
            FieldError::new("roles[0]", "no role"),
            FieldError::new("rolesx", "other"),
            FieldError::new("roles", "many"),
        ];
        assert_eq!(field_errors_of(&errors, "roles"), vec!["no role", "many"]);
        assert_eq!(field_error(&errors, "roles"), Some("many"));
    }
}
