//! The access review page: idle members, members without MFA, privileged role holders, API
//! tokens near expiry or never used, live grants; one click deactivates a member.

use super::error::UiError;
use super::extract::{CsrfForm, UiOrg, UiRecord};
use super::flash::{self, Flash, Notice};
use super::layout::{self, csrf_field, Nav};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use labledger_domain::{Permission, Timestamp, UserId};
use maud::html;

fn day(t: Option<Timestamp>) -> String {
    t.map(|t| t.to_rfc3339().chars().take(10).collect())
        .unwrap_or_else(|| "never".into())
}

/// `GET /orgs/{org_id}/access-review`.
pub async fn page(
    State(state): State<AppState>,
    org: UiOrg,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    org.require(Permission::MEMBERS_READ, Nav::Review)?;
    render(
        &state,
        &org,
        StatusCode::OK,
        flash::from_query(query.as_deref()),
    )
    .await
}

async fn render(
    state: &AppState,
    org: &UiOrg,
    status: StatusCode,
    flash: Option<Flash>,
) -> Result<Response, UiError> {
    let review = state
        .store()
        .org(&org.scope)
        .access_review(90)
        .await
        .map_err(|e| org.error(ApiError::from(e), Nav::Review))?;
    let can_write = org.scope.can(Permission::MEMBERS_WRITE);
    let base = org.base();
    let idle: Vec<_> = review.members.iter().filter(|m| m.idle).collect();
    let no_mfa: Vec<_> = review.members.iter().filter(|m| !m.mfa).collect();
    let privileged: Vec<_> = review.members.iter().filter(|m| m.privileged).collect();
    let tokens: Vec<_> = review
        .tokens
        .iter()
        .filter(|t| t.expiring_soon || t.never_used)
        .collect();
    let deactivate = |user: UserId| {
        html! {
            @if can_write && user != org.user.user_id {
                form.inline method="post" action=(format!("{base}/members/{user}/deactivate")) data-confirm="Deactivate this member? Their sessions end at once." {
                    (csrf_field(org.csrf()))
                    button.btn.btn-small.btn-danger type="submit" { "Deactivate" }
                }
            }
        }
    };
    let body = html! {
        div.page-head {
            h1 { "Access review" }
            p.subtitle { "What to check regularly: who has not logged in for " (review.idle_days) " days, who has no second factor, who holds privileged roles, which API tokens expire soon or were never used, and which temporary grants are live." }
        }
        section.card #review-idle {
            h2 { "Idle members (" (idle.len()) ")" }
            @if idle.is_empty() { p.empty { "Everyone has logged in recently." } } @else {
                table.table { thead { tr { th { "Email" } th { "Roles" } th { "Last login" } th {} } }
                    tbody { @for m in &idle { tr { td { (m.email) } td { (m.roles.join(", ")) } td { (day(m.last_login_at)) } td { (deactivate(m.user_id)) } } } } }
            }
        }
        section.card #review-mfa {
            h2 { "Members without MFA (" (no_mfa.len()) ")" }
            @if no_mfa.is_empty() { p.empty { "Every member has a second factor." } } @else {
                table.table { thead { tr { th { "Email" } th { "Roles" } th {} } }
                    tbody { @for m in &no_mfa { tr { td { (m.email) } td { (m.roles.join(", ")) } td { (deactivate(m.user_id)) } } } } }
            }
        }
        section.card #review-privileged {
            h2 { "Privileged role holders (" (privileged.len()) ")" }
            table.table { thead { tr { th { "Email" } th { "Roles" } th { "MFA" } th {} } }
                tbody { @for m in &privileged { tr { td { (m.email) } td { (m.roles.join(", ")) } td { (if m.mfa { "yes" } else { "no" }) } td { (deactivate(m.user_id)) } } } } }
        }
        section.card #review-tokens {
            h2 { "API tokens to look at (" (tokens.len()) ")" }
            @if tokens.is_empty() { p.empty { "No token expires within two weeks, and every token has been used." } } @else {
                table.table { thead { tr { th { "Name" } th { "Prefix" } th { "Owner" } th { "Expires" } th { "Last used" } } }
                    tbody { @for t in &tokens { tr { td { (t.name) } td { code { (t.prefix) } } td { (t.owner_email) } td { (day(Some(t.expires_at))) } td { (day(t.last_used_at)) } } } } }
            }
        }
        section.card #review-grants {
            h2 { "Live temporary grants (" (review.grants.len()) ")" }
            @if review.grants.is_empty() { p.empty { "No just-in-time grant is active." } } @else {
                table.table { thead { tr { th { "Who" } th { "Role" } th { "Kind" } th { "Until" } } }
                    tbody { @for g in &review.grants { tr { td { (g.email) } td { (g.role) } td { (g.kind) } td { (g.expires_at.map(Timestamp::to_rfc3339).unwrap_or_default()) } } } } }
            }
        }
    };
    Ok((
        status,
        layout::page(
            &org.chrome(Nav::Review),
            "Access review",
            flash.as_ref(),
            body,
        ),
    )
        .into_response())
}

/// `POST /orgs/{org_id}/members/{user_id}/deactivate`: one click from the review.
pub async fn deactivate(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(user): UiRecord<UserId>,
    CsrfForm(_form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::MEMBERS_WRITE, Nav::Review)?;
    let user = user.ok_or_else(|| org.not_found())?;
    match state
        .store()
        .org(&org.scope)
        .set_member_active(user, false)
        .await
        .map_err(ApiError::from)
    {
        Ok(_) => Ok(Notice::MemberDeactivated
            .redirect(&format!("{}/access-review", org.base()))
            .into_response()),
        Err(ApiError::NotFound) => Err(org.not_found()),
        Err(e) => {
            super::error::log_api_error(&e);
            let status = e.status();
            render(
                &state,
                &org,
                status,
                Some(Flash::error(super::error::describe(&e))),
            )
            .await
        }
    }
}
