//! Roles of an org: the list, creating, editing and deleting custom roles. Built-in roles are
//! shown read-only.

use super::error::UiError;
use super::extract::{CsrfForm, FormData, UiOrg, UiRecord};
use super::flash::{self, Flash, Notice};
use super::layout::{self, csrf_field, Nav};
use super::{field_error, field_errors_of, invalid_box, permission_groups, resource_label};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use labledger_domain::validate::{Description, RoleName};
use labledger_domain::{FieldError, FieldErrors, Permission, PermissionSet, RoleId};
use labledger_store::{Role, RoleChange};
use maud::{html, Markup};

/// A role form as typed, with its errors.
#[derive(Default)]
struct RoleForm {
    name: String,
    description: String,
    permissions: Vec<String>,
    errors: Vec<FieldError>,
}

impl RoleForm {
    fn typed(form: &FormData) -> Self {
        RoleForm {
            name: form.text("name").trim().to_owned(),
            description: form.text("description").trim().to_owned(),
            permissions: form.all("permissions"),
            errors: Vec::new(),
        }
    }

    fn of(role: &Role) -> Self {
        RoleForm {
            name: role.name.clone(),
            description: role.description.clone(),
            permissions: role.permissions.iter().map(|p| p.to_string()).collect(),
            errors: Vec::new(),
        }
    }

    /// Validated name, description (None when empty) and permissions, or the field errors.
    fn parse(&self) -> Result<(RoleName, Option<Description>, PermissionSet), Vec<FieldError>> {
        let mut errors = FieldErrors::default();
        let name = errors.check(RoleName::parse("name", &self.name));
        let description = if self.description.is_empty() {
            None
        } else {
            errors.check(Description::parse("description", &self.description))
        };
        let mut permissions = PermissionSet::EMPTY;
        if self.permissions.len() > Permission::ALL.len() * 2 {
            errors.push(FieldError::new("permissions", "too many entries"));
        }
        for raw in &self.permissions {
            match raw.parse::<Permission>() {
                Ok(p) => permissions.insert(p),
                Err(e) => errors.push(FieldError::new("permissions", e.to_string())),
            }
        }
        match (name, errors.0.is_empty()) {
            (Some(name), true) => Ok((name, description, permissions)),
            _ => Err(errors.0),
        }
    }
}

/// An error of the store for a form: field errors go beside the fields, the rest on top.
fn split_error(e: ApiError) -> (StatusCode, Vec<FieldError>, Option<Flash>) {
    super::error::log_api_error(&e);
    let status = e.status();
    match e {
        ApiError::Invalid(errors) => (status, errors, None),
        other => (
            status,
            Vec::new(),
            Some(Flash::error(super::error::describe(&other))),
        ),
    }
}

/// `GET /orgs/{org_id}/roles`.
pub async fn list(
    State(state): State<AppState>,
    org: UiOrg,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    org.require(Permission::MEMBERS_READ, Nav::Roles)?;
    render_list(
        &state,
        &org,
        StatusCode::OK,
        flash::from_query(query.as_deref()),
        RoleForm::default(),
    )
    .await
}

/// `POST /orgs/{org_id}/roles`: create a custom role.
pub async fn create(
    State(state): State<AppState>,
    org: UiOrg,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::MEMBERS_WRITE, Nav::Roles)?;
    org.user.require_fresh(&state)?;
    let typed = RoleForm::typed(&form);
    let (name, description, permissions) = match typed.parse() {
        Ok(v) => v,
        Err(errors) => {
            let form = RoleForm { errors, ..typed };
            return render_list(&state, &org, StatusCode::UNPROCESSABLE_ENTITY, None, form).await;
        }
    };
    match state
        .store()
        .org(&org.scope)
        .create_role(name, description, permissions)
        .await
    {
        Ok(_) => Ok(Notice::RoleCreated
            .redirect(&format!("{}/roles", org.base()))
            .into_response()),
        Err(e) => {
            let (status, errors, flash) = split_error(e.into());
            render_list(&state, &org, status, flash, RoleForm { errors, ..typed }).await
        }
    }
}

/// `GET /orgs/{org_id}/roles/{role_id}`: a custom role's edit form, or a built-in role's details.
pub async fn edit_form(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(id): UiRecord<RoleId>,
) -> Result<Response, UiError> {
    org.require(Permission::MEMBERS_READ, Nav::Roles)?;
    let id = id.ok_or_else(|| org.not_found())?;
    let role = load_role(&state, &org, id).await?;
    let form = RoleForm::of(&role);
    Ok(render_edit(&org, &role, StatusCode::OK, None, &form).into_response())
}

/// `POST /orgs/{org_id}/roles/{role_id}`: change a custom role.
pub async fn update(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(id): UiRecord<RoleId>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::MEMBERS_WRITE, Nav::Roles)?;
    org.user.require_fresh(&state)?;
    let id = id.ok_or_else(|| org.not_found())?;
    let role = load_role(&state, &org, id).await?;
    let typed = RoleForm::typed(&form);
    let (name, description, permissions) = match typed.parse() {
        Ok(v) => v,
        Err(errors) => {
            let form = RoleForm { errors, ..typed };
            return Ok(
                render_edit(&org, &role, StatusCode::UNPROCESSABLE_ENTITY, None, &form)
                    .into_response(),
            );
        }
    };
    // An emptied description keeps the old one: the store has no way to clear it yet.
    let change = RoleChange {
        name: Some(name),
        description,
        permissions: Some(permissions),
    };
    match state.store().org(&org.scope).update_role(id, change).await {
        Ok(()) => Ok(Notice::RoleUpdated
            .redirect(&format!("{}/roles", org.base()))
            .into_response()),
        Err(labledger_store::StoreError::NotFound) => Err(org.not_found()),
        Err(e) => {
            let (status, errors, flash) = split_error(e.into());
            Ok(
                render_edit(&org, &role, status, flash, &RoleForm { errors, ..typed })
                    .into_response(),
            )
        }
    }
}

/// `POST /orgs/{org_id}/roles/{role_id}/delete`: delete a custom role nobody holds.
pub async fn delete(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(id): UiRecord<RoleId>,
    CsrfForm(_form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::MEMBERS_WRITE, Nav::Roles)?;
    org.user.require_fresh(&state)?;
    let id = id.ok_or_else(|| org.not_found())?;
    match state.store().org(&org.scope).delete_role(id).await {
        Ok(()) => Ok(Notice::RoleDeleted
            .redirect(&format!("{}/roles", org.base()))
            .into_response()),
        Err(labledger_store::StoreError::NotFound) => Err(org.not_found()),
        Err(e) => {
            let (status, _, flash) = split_error(e.into());
            render_list(&state, &org, status, flash, RoleForm::default()).await
        }
    }
}

async fn load_role(state: &AppState, org: &UiOrg, id: RoleId) -> Result<Role, UiError> {
    match state.store().org(&org.scope).role(id).await {
        Ok(role) => Ok(role),
        Err(labledger_store::StoreError::NotFound) => Err(org.not_found()),
        Err(e) => Err(org.error(ApiError::from(e), Nav::Roles)),
    }
}

fn permission_chips(set: PermissionSet) -> Markup {
    let count = set.iter().count();
    html! {
        @if count == Permission::ALL.len() {
            span.badge.badge-strong { "all " (count) " permissions" }
        } @else if count == 0 {
            span.muted { "none" }
        } @else {
            @for p in set.iter() { code.chip { (p) } " " }
        }
    }
}

/// The fields of a role form (name, description, a permission grid).
fn role_fields(form: &RoleForm, id_prefix: &str, held: PermissionSet) -> Markup {
    let name_id = format!("{id_prefix}-name");
    let description_id = format!("{id_prefix}-description");
    let checked = |p: Permission| {
        form.permissions
            .iter()
            .any(|raw| raw.parse::<Permission>().is_ok_and(|q| q == p))
    };
    html! {
        @if !form.errors.is_empty() { (invalid_box(&form.errors)) }
        div.field {
            label for=(name_id) { "Name" }
            input id=(name_id) type="text" name="name" value=(form.name) required maxlength="64"
                aria-invalid=[field_error(&form.errors, "name").map(|_| "true")];
            @if let Some(e) = field_error(&form.errors, "name") { p.field-error { (e) } }
        }
        div.field {
            label for=(description_id) { "Description " span.muted { "(optional)" } }
            input id=(description_id) type="text" name="description" value=(form.description) maxlength="2000"
                aria-invalid=[field_error(&form.errors, "description").map(|_| "true")];
            @if let Some(e) = field_error(&form.errors, "description") { p.field-error { (e) } }
        }
        fieldset.field.field-wide {
            legend { "Permissions" }
            p.hint { "You can grant only permissions you hold yourself." }
            div.perm-grid {
                @for (resource, perms) in permission_groups() {
                    fieldset.perm-group {
                        legend { (resource_label(resource)) }
                        @for p in perms {
                            label.check title=[(!held.contains(p)).then_some("You do not hold this permission")] {
                                input type="checkbox" name="permissions" value=(p) checked[checked(p)] disabled[!held.contains(p)];
                                " " (p.action.as_str())
                            }
                        }
                    }
                }
            }
            @for e in field_errors_of(&form.errors, "permissions") { p.field-error { (e) } }
        }
    }
}

async fn render_list(
    state: &AppState,
    org: &UiOrg,
    status: StatusCode,
    flash: Option<Flash>,
    form: RoleForm,
) -> Result<Response, UiError> {
    let mut roles = state
        .store()
        .org(&org.scope)
        .roles()
        .await
        .map_err(|e| org.error(ApiError::from(e), Nav::Roles))?;
    super::sort_roles(&mut roles);
    let can_write = org.scope.can(Permission::MEMBERS_WRITE);
    let base = org.base();
    let csrf = org.csrf();
    let body = html! {
        div.page-head {
            h1 { "Roles" }
            p.muted { "A member's permissions are the union of their roles' permissions." }
        }
        section.panel {
            h2.sr-only { "Role list" }
            div.table-wrap {
                table.table #roles-table {
                    thead {
                        tr {
                            th scope="col" { "Role" }
                            th scope="col" { "Permissions" }
                            th.num scope="col" { "Members" }
                            @if can_write { th scope="col" { span.sr-only { "Actions" } } }
                        }
                    }
                    tbody {
                        @for role in &roles {
                            tr {
                                td.role-cell {
                                    a.strong href={ (base) "/roles/" (role.id) } { (role.name) }
                                    @if role.builtin { " " span.badge.badge-muted { "built-in" } }
                                    @if !role.description.is_empty() { p.muted.small { (role.description) } }
                                }
                                td { (permission_chips(role.permissions)) }
                                td.num { (role.members) }
                                @if can_write {
                                    td.actions {
                                        @if !role.builtin {
                                            a.btn.btn-small href={ (base) "/roles/" (role.id) } aria-label={ "Edit role " (role.name) } { "Edit" }
                                            form.inline-form method="post" action={ (base) "/roles/" (role.id) "/delete" }
                                                data-confirm={ "Delete the role " (role.name) "?" } {
                                                (csrf_field(csrf))
                                                button.btn.btn-danger.btn-small type="submit" aria-label={ "Delete role " (role.name) } { "Delete" }
                                            }
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
            section.panel #create-role {
                h2 { "Create a custom role" }
                form.form-grid method="post" action={ (base) "/roles" } novalidate {
                    (csrf_field(csrf))
                    (role_fields(&form, "new-role", org.scope.permissions()))
                    div.form-actions.field-wide { button.btn.btn-primary type="submit" { "Create role" } }
                }
            }
        }
    };
    Ok((
        status,
        layout::page(&org.chrome(Nav::Roles), "Roles", flash.as_ref(), body),
    )
        .into_response())
}

fn render_edit(
    org: &UiOrg,
    role: &Role,
    status: StatusCode,
    flash: Option<Flash>,
    form: &RoleForm,
) -> Response {
    let base = org.base();
    let editable = !role.builtin && org.scope.can(Permission::MEMBERS_WRITE);
    let body = html! {
        p.back { a href={ (base) "/roles" } { "← All roles" } }
        div.page-head {
            h1 { (role.name) @if role.builtin { " " span.badge.badge-muted { "built-in" } } }
            p.muted { "Held by " (role.members) " member" @if role.members != 1 { "s" } "." }
        }
        @if editable {
            section.panel {
                h2 { "Edit role" }
                form.form-grid method="post" action={ (base) "/roles/" (role.id) } novalidate {
                    (csrf_field(org.csrf()))
                    (role_fields(form, "edit-role", org.scope.permissions()))
                    div.form-actions.field-wide {
                        button.btn.btn-primary type="submit" { "Save role" }
                        a.btn.btn-ghost href={ (base) "/roles" } { "Cancel" }
                    }
                }
            }
        } @else {
            section.panel {
                @if !role.description.is_empty() { p { (role.description) } }
                h2 { "Permissions" }
                p { (permission_chips(role.permissions)) }
                @if role.builtin { p.muted { "Built-in roles cannot be changed." } }
            }
        }
    };
    (
        status,
        layout::page(&org.chrome(Nav::Roles), &role.name, flash.as_ref(), body),
    )
        .into_response()
}
