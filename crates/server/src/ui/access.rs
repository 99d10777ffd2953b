//! "API tokens" (create, shown once; list; revoke) and "Access requests" (ask; list; approve,
//! deny, revoke). Every member may use both pages; the store enforces who may do what.

use super::error::UiError;
use super::extract::{CsrfForm, UiOrg, UiRecord};
use super::flash::Flash;
use super::invalid_box;
use super::layout::{self, csrf_field, Nav};
use crate::api::access::parse_request;
use crate::api::tokens::parse_create;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use labledger_domain::{AccessRequestId, ApiTokenId, BuiltinRole, FieldError, Permission};
use labledger_store::NewApiToken;
use maud::{html, Markup};

fn outcome(e: ApiError) -> (StatusCode, Option<Flash>, Vec<FieldError>) {
    super::error::log_api_error(&e);
    let status = e.status();
    match e {
        ApiError::Invalid(errors) => (status, None, errors),
        other => (
            status,
            Some(Flash::error(super::error::describe(&other))),
            Vec::new(),
        ),
    }
}

fn date(t: labledger_domain::Timestamp) -> String {
    let s = t.to_rfc3339();
    s.get(..16).unwrap_or(&s).replace('T', " ")
}

// ---- API tokens ----

/// `GET /orgs/{org_id}/api-tokens`.
pub async fn tokens(State(state): State<AppState>, org: UiOrg) -> Result<Response, UiError> {
    render_tokens(&state, &org, StatusCode::OK, None, None, Vec::new()).await
}

/// `POST /orgs/{org_id}/api-tokens`: the new token is shown on this answer only.
pub async fn create_token(
    State(state): State<AppState>,
    org: UiOrg,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.user.require_fresh(&state)?;
    let days = form
        .text("expires_in_days")
        .trim()
        .parse::<i64>()
        .unwrap_or(0);
    let parsed = parse_create(&form.text("name"), &form.all("permissions"), days);
    let result = match parsed {
        Ok((name, permissions, expires_in_days)) => {
            let (token, token_hash, prefix) = labledger_auth::new_api_token();
            state
                .store()
                .org(&org.scope)
                .create_api_token(NewApiToken {
                    name,
                    permissions,
                    expires_in_days,
                    token_hash,
                    prefix,
                })
                .await
                .map(|_| token)
                .map_err(ApiError::from)
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(token) => {
            let flash = Flash::success("API token created.");
            render_tokens(
                &state,
                &org,
                StatusCode::CREATED,
                Some(flash),
                Some(token),
                Vec::new(),
            )
            .await
        }
        Err(e) => {
            let (status, flash, errors) = outcome(e);
            render_tokens(&state, &org, status, flash, None, errors).await
        }
    }
}

/// `POST /orgs/{org_id}/api-tokens/{token_id}/revoke`.
pub async fn revoke_token(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(id): UiRecord<ApiTokenId>,
    CsrfForm(_form): CsrfForm,
) -> Result<Response, UiError> {
    let id = id.ok_or_else(|| org.not_found())?;
    match state.store().org(&org.scope).revoke_api_token(id).await {
        Ok(()) => {
            let flash = Flash::success("API token revoked.");
            render_tokens(&state, &org, StatusCode::OK, Some(flash), None, Vec::new()).await
        }
        Err(e) => match ApiError::from(e) {
            ApiError::NotFound => Err(org.not_found()),
            e => {
                let (status, flash, _) = outcome(e);
                render_tokens(&state, &org, status, flash, None, Vec::new()).await
            }
        },
    }
}

async fn render_tokens(
    state: &AppState,
    org: &UiOrg,
    status: StatusCode,
    flash: Option<Flash>,
    new_token: Option<String>,
    errors: Vec<FieldError>,
) -> Result<Response, UiError> {
    let tokens = state
        .store()
        .org(&org.scope)
        .api_tokens()
        .await
        .map_err(|e| org.error(ApiError::from(e), Nav::Tokens))?;
    let now = labledger_domain::Timestamp::now();
    let base = org.base();
    let csrf = org.csrf();
    let held: Vec<Permission> = org.scope.permissions().iter().collect();
    let body = html! {
        div.page-head {
            h1 { "API tokens" }
            p.muted { "For instruments and scripts: send a token as " code { "Authorization: Bearer <token>" } ". \
                A token can never do more than its creator can do now." }
        }
        @if let Some(token) = &new_token {
            section.panel.panel-secret aria-labelledby="new-token-title" {
                h2 #new-token-title { "Your new token" }
                p { "Copy it now: it is shown only this once and stored only as a hash." }
                div.secret-row {
                    code #new-token.secret { (token) }
                    button.btn.btn-small.js-only type="button" data-copy="#new-token" { "Copy" }
                }
            }
        }
        section.panel {
            h2.sr-only { "Tokens" }
            @if tokens.is_empty() { p.muted { "No tokens yet." } } @else {
                div.table-wrap {
                    table.table #tokens-table {
                        thead { tr {
                            th scope="col" { "Name" } th scope="col" { "Prefix" } th scope="col" { "Owner" }
                            th scope="col" { "Permissions" } th scope="col" { "Created" } th scope="col" { "Expires" }
                            th scope="col" { "Last used" } th scope="col" { "Status" } th scope="col" { span.sr-only { "Actions" } }
                        } }
                        tbody {
                            @for t in &tokens {
                                @let st = t.status(now);
                                tr data-token=(t.name) {
                                    td { (t.name) }
                                    td { code { (t.prefix) "…" } }
                                    td { (t.user_email) }
                                    td.roles-cell { @for p in t.permissions.iter() { span.badge { (p) } " " } }
                                    td.nowrap { (date(t.created_at)) }
                                    td.nowrap { (date(t.expires_at)) }
                                    td.nowrap { @if let Some(u) = t.last_used_at { (date(u)) } @else { span.muted { "never" } } }
                                    td { (st) }
                                    td.actions {
                                        @if st == "active" {
                                            form.inline-form method="post" action={ (base) "/api-tokens/" (t.id) "/revoke" }
                                                data-confirm={ "Revoke the token " (t.name) "?" } {
                                                (csrf_field(csrf))
                                                button.btn.btn-danger.btn-small type="submit" aria-label={ "Revoke " (t.name) } { "Revoke" }
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
        section.panel #create-token {
            h2 { "Create a token" }
            @if !errors.is_empty() { (invalid_box(&errors)) }
            form.form-grid method="post" action={ (base) "/api-tokens" } novalidate {
                (csrf_field(csrf))
                div.field {
                    label for="token-name" { "Name" }
                    input #token-name type="text" name="name" required autocomplete="off";
                }
                div.field {
                    label for="token-days" { "Expires in (days, 1 to 365)" }
                    input #token-days type="number" name="expires_in_days" min="1" max="365" value="90" required;
                }
                fieldset.field.field-wide {
                    legend { "Permissions (only ones you hold)" }
                    div.checks {
                        @for p in &held {
                            label.check { input type="checkbox" name="permissions" value=(p); " " (p) }
                        }
                    }
                }
                div.form-actions.field-wide {
                    button.btn.btn-primary type="submit" { "Create token" }
                }
            }
        }
    };
    let page = layout::page(&org.chrome(Nav::Tokens), "API tokens", flash.as_ref(), body);
    Ok((status, page).into_response())
}

// ---- Access requests ----

/// `GET /orgs/{org_id}/access-requests`.
pub async fn requests(State(state): State<AppState>, org: UiOrg) -> Result<Response, UiError> {
    render_requests(&state, &org, StatusCode::OK, None, Vec::new()).await
}

/// `POST /orgs/{org_id}/access-requests`: ask for a role.
pub async fn ask(
    State(state): State<AppState>,
    org: UiOrg,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    let minutes = form
        .text("duration_minutes")
        .trim()
        .parse::<i64>()
        .unwrap_or(0);
    let result = match parse_request(&form.text("role"), &form.text("reason"), minutes) {
        Ok(new) => state
            .store()
            .org(&org.scope)
            .request_access(new)
            .await
            .map(|_| ())
            .map_err(ApiError::from),
        Err(e) => Err(ApiError::from(e)),
    };
    match result {
        Ok(()) => {
            let flash = Flash::success("Access requested; an Owner or Admin must approve it.");
            render_requests(&state, &org, StatusCode::CREATED, Some(flash), Vec::new()).await
        }
        Err(e) => {
            let (status, flash, errors) = outcome(e);
            render_requests(&state, &org, status, flash, errors).await
        }
    }
}

/// `POST /orgs/{org_id}/access-requests/{request_id}/{approve|deny|revoke}`.
async fn act(
    state: AppState,
    org: UiOrg,
    id: Option<AccessRequestId>,
    action: &str,
) -> Result<Response, UiError> {
    let id = id.ok_or_else(|| org.not_found())?;
    let data = state.store().org(&org.scope);
    if action != "revoke" {
        org.user.require_fresh(&state)?;
    }
    let result = match action {
        "approve" => data.approve_access(id).await,
        "deny" => data.deny_access(id).await,
        _ => data.revoke_access(id).await,
    };
    match result {
        Ok(r) => {
            let flash = Flash::success(format!("Request {}: now {}.", r.role, r.status));
            render_requests(&state, &org, StatusCode::OK, Some(flash), Vec::new()).await
        }
        Err(e) => match ApiError::from(e) {
            ApiError::NotFound => Err(org.not_found()),
            e => {
                let (status, flash, _) = outcome(e);
                render_requests(&state, &org, status, flash, Vec::new()).await
            }
        },
    }
}

pub async fn approve(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(id): UiRecord<AccessRequestId>,
    CsrfForm(_form): CsrfForm,
) -> Result<Response, UiError> {
    act(state, org, id, "approve").await
}

pub async fn deny(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(id): UiRecord<AccessRequestId>,
    CsrfForm(_form): CsrfForm,
) -> Result<Response, UiError> {
    act(state, org, id, "deny").await
}

pub async fn revoke(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(id): UiRecord<AccessRequestId>,
    CsrfForm(_form): CsrfForm,
) -> Result<Response, UiError> {
    act(state, org, id, "revoke").await
}

fn action_button(
    base: &str,
    csrf: &str,
    id: AccessRequestId,
    action: &str,
    label: &str,
    class: &str,
) -> Markup {
    html! {
        form.inline-form method="post" action={ (base) "/access-requests/" (id) "/" (action) } {
            (csrf_field(csrf))
            button class={ "btn btn-small " (class) } type="submit" { (label) }
        }
    }
}

async fn render_requests(
    state: &AppState,
    org: &UiOrg,
    status: StatusCode,
    flash: Option<Flash>,
    errors: Vec<FieldError>,
) -> Result<Response, UiError> {
    let items = state
        .store()
        .org(&org.scope)
        .access_requests()
        .await
        .map_err(|e| org.error(ApiError::from(e), Nav::Access))?;
    let base = org.base();
    let csrf = org.csrf();
    let me = org.user.user_id;
    let can_decide = org.scope.can(Permission::MEMBERS_WRITE);
    let body = html! {
        div.page-head {
            h1 { "Access requests" }
            p.muted { "Ask for an elevated role for up to 8 hours; another Owner or Admin approves it. \
                The grant ends by itself." }
        }
        section.panel {
            h2.sr-only { "Requests" }
            @if items.is_empty() { p.muted { "No access requests." } } @else {
                div.table-wrap {
                    table.table #requests-table {
                        thead { tr {
                            th scope="col" { "Who" } th scope="col" { "Kind" } th scope="col" { "Role" }
                            th scope="col" { "Reason" } th scope="col" { "Duration" } th scope="col" { "Status" }
                            th scope="col" { "Until" } th scope="col" { span.sr-only { "Actions" } }
                        } }
                        tbody {
                            @for r in &items {
                                tr data-request=(r.id) {
                                    td { (r.user_email) }
                                    td { (r.kind) }
                                    td { span.badge { (r.role) } }
                                    td { (r.reason) }
                                    td.nowrap { (r.duration_minutes) " min" }
                                    td { (r.status) }
                                    td.nowrap { @if let Some(e) = r.expires_at { (date(e)) } }
                                    td.actions {
                                        @if r.status == "pending" && can_decide && r.user_id != me {
                                            (action_button(&base, csrf, r.id, "approve", "Approve", "btn-primary"))
                                            (action_button(&base, csrf, r.id, "deny", "Deny", "btn-danger"))
                                        }
                                        @if (r.status == "pending" || r.status == "active") && (can_decide || r.user_id == me) {
                                            (action_button(&base, csrf, r.id, "revoke", "Revoke", "btn-ghost"))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.panel #ask-access {
            h2 { "Ask for access" }
            @if !errors.is_empty() { (invalid_box(&errors)) }
            form.form-grid method="post" action={ (base) "/access-requests" } novalidate {
                (csrf_field(csrf))
                div.field {
                    label for="ask-role" { "Role" }
                    select #ask-role name="role" {
                        @for role in BuiltinRole::ALL.iter().filter(|r| **r != BuiltinRole::Owner) {
                            option value=(role.name()) { (role.name()) }
                        }
                    }
                }
                div.field {
                    label for="ask-minutes" { "Duration (minutes, 1 to 480)" }
                    input #ask-minutes type="number" name="duration_minutes" min="1" max="480" value="60" required;
                }
                div.field.field-wide {
                    label for="ask-reason" { "Reason" }
                    input #ask-reason type="text" name="reason" required autocomplete="off";
                }
                div.form-actions.field-wide {
                    button.btn.btn-primary type="submit" { "Ask" }
                }
            }
        }
    };
    let page = layout::page(
        &org.chrome(Nav::Access),
        "Access requests",
        flash.as_ref(),
        body,
    );
    Ok((status, page).into_response())
}
