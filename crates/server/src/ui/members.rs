//! Members of an org: the list, adding a member, changing a member's roles, removing one.
//! Write forms are shown only to a scope with `members:write`; the store enforces it anyway.

use super::error::UiError;
use super::extract::{CsrfForm, UiOrg, UiRecord};
use super::flash::{self, Flash, Notice};
use super::layout::{self, csrf_field, Nav};
use super::{field_error, field_errors_of, invalid_box};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use labledger_domain::validate::{Email, PersonName};
use labledger_domain::{FieldError, FieldErrors, Permission, UserId};
use labledger_store::{NewMember, Role};
use maud::{html, Markup};

/// The add form as typed (never the password), with its errors.
#[derive(Default)]
struct AddForm {
    email: String,
    name: String,
    roles: Vec<String>,
    errors: Vec<FieldError>,
}

/// A role change that failed: the row stays open with what was chosen.
struct RowEdit {
    user: UserId,
    roles: Vec<String>,
}

#[derive(Default)]
struct View {
    flash: Option<Flash>,
    add: AddForm,
    edit: Option<RowEdit>,
    /// (email, password) of a new account, shown this once.
    initial_password: Option<(String, String)>,
}

const MAX_ROLES: usize = 32;

fn check_role_names(roles: &[String]) -> Result<(), FieldError> {
    if roles.len() > MAX_ROLES {
        return Err(FieldError::new(
            "roles",
            format!("at most {MAX_ROLES} roles"),
        ));
    }
    if roles
        .iter()
        .any(|r| r.trim().is_empty() || r.chars().count() > 64)
    {
        return Err(FieldError::new(
            "roles",
            "must be role names of 1 to 64 characters",
        ));
    }
    Ok(())
}

/// `GET /orgs/{org_id}/members`.
pub async fn list(
    State(state): State<AppState>,
    org: UiOrg,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    org.require(Permission::MEMBERS_READ, Nav::Members)?;
    let view = View {
        flash: flash::from_query(query.as_deref()),
        ..View::default()
    };
    render(&state, &org, StatusCode::OK, view).await
}

/// `POST /orgs/{org_id}/members`: add a member. A generated initial password is shown on the
/// page this POST answers (it is kept nowhere to show it later); otherwise post/redirect/get.
pub async fn add(
    State(state): State<AppState>,
    org: UiOrg,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::MEMBERS_WRITE, Nav::Members)?;
    let typed = AddForm {
        email: form.text("email").trim().to_owned(),
        name: form.text("name").trim().to_owned(),
        roles: form.all("roles"),
        errors: Vec::new(),
    };
    let mut errors = FieldErrors::default();
    let email = errors.check(Email::parse("email", &typed.email));
    let name = errors.check(PersonName::parse("name", &typed.name));
    errors.check(check_role_names(&typed.roles));
    let raw_password = form.text("password");
    let (password, generated) = if raw_password.is_empty() {
        (Some(labledger_auth::generate_password()), true)
    } else {
        (
            errors
                .check(crate::api::credentials::strong_password(
                    "password",
                    &raw_password,
                    &[&typed.email, &typed.name, org.scope.org_name()],
                ))
                .map(|p| p.expose().to_owned()),
            false,
        )
    };
    let (Some(email), Some(name), Some(password), true) =
        (email, name, password, errors.0.is_empty())
    else {
        let view = View {
            add: AddForm {
                errors: errors.0,
                ..typed
            },
            ..View::default()
        };
        return render(&state, &org, StatusCode::UNPROCESSABLE_ENTITY, view).await;
    };
    let password_hash = state
        .hasher()
        .hash(password.clone())
        .await
        .map_err(|e| org.error(ApiError::from(e), Nav::Members))?;
    let added = state
        .store()
        .org(&org.scope)
        .add_member(NewMember {
            email,
            name,
            password_hash,
            roles: typed.roles.clone(),
        })
        .await;
    match added {
        Ok((member, created)) if created && generated => {
            let view = View {
                flash: Some(Flash::success("Member added.")),
                initial_password: Some((member.email, password)),
                ..View::default()
            };
            render(&state, &org, StatusCode::OK, view).await
        }
        Ok((_, created)) => {
            let notice = if created {
                Notice::MemberAdded
            } else {
                Notice::ExistingMemberAdded
            };
            Ok(notice
                .redirect(&format!("{}/members", org.base()))
                .into_response())
        }
        Err(e) => {
            let e = ApiError::from(e);
            super::error::log_api_error(&e);
            let status = e.status();
            let (errors, flash) = match e {
                ApiError::Invalid(errors) => (errors, None),
                other => (
                    Vec::new(),
                    Some(Flash::error(super::error::describe(&other))),
                ),
            };
            let view = View {
                flash,
                add: AddForm { errors, ..typed },
                ..View::default()
            };
            render(&state, &org, status, view).await
        }
    }
}

/// `POST /orgs/{org_id}/members/{user_id}/roles`: replace a member's roles.
pub async fn set_roles(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(user): UiRecord<UserId>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::MEMBERS_WRITE, Nav::Members)?;
    org.user.require_fresh(&state)?;
    let user = user.ok_or_else(|| org.not_found())?;
    let roles = form.all("roles");
    let result = match check_role_names(&roles) {
        Ok(()) => state
            .store()
            .org(&org.scope)
            .set_member_roles(user, roles.clone())
            .await
            .map_err(ApiError::from),
        Err(e) => Err(ApiError::from(e)),
    };
    match result {
        Ok(_) => Ok(Notice::RolesChanged
            .redirect(&format!("{}/members", org.base()))
            .into_response()),
        Err(ApiError::NotFound) => Err(org.not_found()),
        Err(e) => {
            super::error::log_api_error(&e);
            let view = View {
                flash: Some(Flash::error(super::error::describe(&e))),
                edit: Some(RowEdit { user, roles }),
                ..View::default()
            };
            render(&state, &org, e.status(), view).await
        }
    }
}

/// `POST /orgs/{org_id}/members/{user_id}/remove`.
pub async fn remove(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(user): UiRecord<UserId>,
    CsrfForm(_form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::MEMBERS_WRITE, Nav::Members)?;
    let user = user.ok_or_else(|| org.not_found())?;
    match state
        .store()
        .org(&org.scope)
        .remove_member(user)
        .await
        .map_err(ApiError::from)
    {
        // Whoever removes themselves can no longer see this org.
        Ok(()) if user == org.user.user_id => Ok(axum::response::Redirect::to("/").into_response()),
        Ok(()) => Ok(Notice::MemberRemoved
            .redirect(&format!("{}/members", org.base()))
            .into_response()),
        Err(ApiError::NotFound) => Err(org.not_found()),
        Err(e) => {
            super::error::log_api_error(&e);
            let view = View {
                flash: Some(Flash::error(super::error::describe(&e))),
                ..View::default()
            };
            render(&state, &org, e.status(), view).await
        }
    }
}

fn role_checkboxes(roles: &[Role], checked: &[String]) -> Markup {
    html! {
        div.checks {
            @for role in roles {
                label.check title=(role.description) {
                    input type="checkbox" name="roles" value=(role.name)
                        checked[checked.iter().any(|c| c.eq_ignore_ascii_case(&role.name))];
                    " " (role.name)
                }
            }
        }
    }
}

async fn render(
    state: &AppState,
    org: &UiOrg,
    status: StatusCode,
    view: View,
) -> Result<Response, UiError> {
    let data = state.store().org(&org.scope);
    let members = data
        .members()
        .await
        .map_err(|e| org.error(ApiError::from(e), Nav::Members))?;
    let mut roles = data
        .roles()
        .await
        .map_err(|e| org.error(ApiError::from(e), Nav::Members))?;
    super::sort_roles(&mut roles);
    let can_write = org.scope.can(Permission::MEMBERS_WRITE);
    let base = org.base();
    let csrf = org.csrf();
    let add = &view.add;
    let invitations = super::invitations::section(state, org).await;
    let body = html! {
        div.page-head {
            h1 { "Members" }
            p.muted { (members.len()) " member" @if members.len() != 1 { "s" } " of " (org.scope.org_name()) }
        }
        @if let Some((email, password)) = &view.initial_password {
            section.panel.panel-secret aria-labelledby="initial-password-title" {
                h2 #initial-password-title { "Initial password for " (email) }
                p { "Give it to them over a safe channel. It is shown only this once and cannot be shown again." }
                div.secret-row {
                    code #initial-password.secret { (password) }
                    button.btn.btn-small.js-only type="button" data-copy="#initial-password" { "Copy" }
                }
            }
        }
        section.panel {
            h2.sr-only { "Member list" }
            div.table-wrap {
                table.table #members-table {
                    thead {
                        tr {
                            th scope="col" { "Email" }
                            th scope="col" { "Name" }
                            th scope="col" { "Roles" }
                            th scope="col" { "Joined" }
                            @if can_write { th scope="col" { span.sr-only { "Actions" } } }
                        }
                    }
                    tbody {
                        @for m in &members {
                            @let editing = view.edit.as_ref().filter(|e| e.user == m.user_id);
                            tr data-member=(m.email) {
                                td { (m.email) @if m.user_id == org.user.user_id { " " span.badge.badge-muted { "you" } } }
                                td { (m.name) }
                                td.roles-cell {
                                    @if m.roles.is_empty() { span.muted { "no roles" } }
                                    @for r in &m.roles { span.badge { (r) } " " }
                                }
                                td.nowrap { time datetime=(m.joined_at.to_rfc3339()) { (m.joined_at.to_rfc3339().get(..10).unwrap_or_default()) } }
                                @if can_write {
                                    td.actions {
                                        details.inline-edit open[editing.is_some()] {
                                            summary.btn.btn-small { "Edit roles" }
                                            form.inline-form method="post" action={ (base) "/members/" (m.user_id) "/roles" } {
                                                (csrf_field(csrf))
                                                fieldset {
                                                    legend { "Roles of " (m.email) }
                                                    (role_checkboxes(&roles, editing.map_or(&m.roles, |e| &e.roles)))
                                                }
                                                button.btn.btn-primary.btn-small type="submit" { "Save roles" }
                                            }
                                        }
                                        form.inline-form method="post" action={ (base) "/members/" (m.user_id) "/remove" }
                                            data-confirm={ "Remove " (m.email) " from " (org.scope.org_name()) "?" } {
                                            (csrf_field(csrf))
                                            button.btn.btn-danger.btn-small type="submit" aria-label={ "Remove " (m.email) } { "Remove" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if can_write {
            section.panel #add-member {
                h2 { "Add a member" }
                @if !add.errors.is_empty() { (invalid_box(&add.errors)) }
                form.form-grid method="post" action={ (base) "/members" } novalidate {
                    (csrf_field(csrf))
                    div.field {
                        label for="add-email" { "Email" }
                        input #add-email type="email" name="email" value=(add.email) required autocomplete="off"
                            aria-invalid=[field_error(&add.errors, "email").map(|_| "true")]
                            aria-describedby=[field_error(&add.errors, "email").map(|_| "add-email-error")];
                        @if let Some(e) = field_error(&add.errors, "email") { p.field-error #add-email-error { (e) } }
                    }
                    div.field {
                        label for="add-name" { "Name" }
                        input #add-name type="text" name="name" value=(add.name) required autocomplete="off"
                            aria-invalid=[field_error(&add.errors, "name").map(|_| "true")]
                            aria-describedby=[field_error(&add.errors, "name").map(|_| "add-name-error")];
                        @if let Some(e) = field_error(&add.errors, "name") { p.field-error #add-name-error { (e) } }
                    }
                    fieldset.field.field-wide {
                        legend { "Roles" }
                        (role_checkboxes(&roles, &add.roles))
                        @for e in field_errors_of(&add.errors, "roles") { p.field-error { (e) } }
                    }
                    div.field {
                        label for="add-password" { "Initial password " span.muted { "(optional)" } }
                        input #add-password type="password" name="password" autocomplete="new-password" minlength="12"
                            aria-describedby="add-password-hint"
                            aria-invalid=[field_error(&add.errors, "password").map(|_| "true")];
                        p.hint #add-password-hint { "At least 12 characters. Leave empty to generate one, shown once. \
                            A person who already has an account keeps their password." }
                        @if let Some(e) = field_error(&add.errors, "password") { p.field-error { (e) } }
                    }
                    div.form-actions.field-wide {
                        button.btn.btn-primary type="submit" { "Add member" }
                    }
                }
            }
        }
        (invitations)
    };
    let page = layout::page(
        &org.chrome(Nav::Members),
        "Members",
        view.flash.as_ref(),
        body,
    );
    Ok((status, page).into_response())
}
