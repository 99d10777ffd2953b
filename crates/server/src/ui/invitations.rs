//! The invitations section of the members page: invite by email, list, revoke.

use super::error::UiError;
use super::extract::{CsrfForm, UiOrg, UiRecord};
use super::layout::{csrf_field, Nav};
use crate::api::invitations::invite;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use labledger_domain::{InvitationId, Permission};
use maud::{html, Markup};

/// The section (empty for members who may not read members).
pub async fn section(state: &AppState, org: &UiOrg) -> Markup {
    if !org.scope.can(Permission::MEMBERS_READ) {
        return html! {};
    }
    let invitations = state
        .store()
        .org(&org.scope)
        .invitations()
        .await
        .unwrap_or_default();
    let can_write = org.scope.can(Permission::MEMBERS_WRITE);
    let mail = state.mailer().is_some();
    let base = org.base();
    let csrf = org.csrf();
    html! {
        section.panel #invitations {
            h2 { "Invitations" }
            @if !mail {
                p.muted #smtp-missing { "This server has no SMTP server configured, so it cannot send invitations. Add members with an initial password instead." }
            }
            @if !invitations.is_empty() {
                div.table-wrap {
                    table.table #invitations-table {
                        thead { tr { th { "Email" } th { "Roles" } th { "Status" } th { "Expires" } th { span.sr-only { "Actions" } } } }
                        tbody {
                            @for i in &invitations {
                                tr {
                                    td { (i.email) }
                                    td { (i.roles.join(", ")) }
                                    td { (i.status) }
                                    td { (i.expires_at.to_rfc3339().get(..16).unwrap_or_default().replace('T', " ")) }
                                    td {
                                        @if can_write && i.status == "pending" {
                                            form.inline-form method="post" action={ (base) "/invitations/" (i.id) "/revoke" } {
                                                (csrf_field(csrf))
                                                button.btn.btn-danger.btn-small type="submit" aria-label={ "Revoke the invitation of " (i.email) } { "Revoke" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if can_write && mail {
                form.form-grid method="post" action={ (base) "/invitations" } {
                    (csrf_field(csrf))
                    div.field {
                        label for="invite-email" { "Email" }
                        input #invite-email type="email" name="email" required autocomplete="off";
                    }
                    div.field {
                        label for="invite-roles" { "Roles " span.muted { "(comma-separated names)" } }
                        input #invite-roles type="text" name="roles" value="Viewer" autocomplete="off";
                    }
                    div.form-actions.field-wide {
                        button.btn.btn-primary type="submit" { "Send invitation" }
                    }
                }
            }
        }
    }
}

/// `POST /orgs/{org_id}/invitations`: invite by email, then back to the members page.
pub async fn create(
    State(state): State<AppState>,
    org: UiOrg,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::MEMBERS_WRITE, Nav::Members)?;
    let roles: Vec<String> = form
        .text("roles")
        .split(',')
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .collect();
    invite(&state, &org.scope, &form.text("email"), roles)
        .await
        .map_err(|e| org.error(e, Nav::Members))?;
    Ok(Redirect::to(&format!("{}/members#invitations", org.base())).into_response())
}

/// `POST /orgs/{org_id}/invitations/{invitation_id}/revoke`.
pub async fn revoke(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(id): UiRecord<InvitationId>,
    CsrfForm(_form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::MEMBERS_WRITE, Nav::Members)?;
    let id = id.ok_or_else(|| org.not_found())?;
    state
        .store()
        .org(&org.scope)
        .revoke_invitation(id)
        .await
        .map_err(|e| org.error(ApiError::from(e), Nav::Members))?;
    Ok(Redirect::to(&format!("{}/members#invitations", org.base())).into_response())
}
