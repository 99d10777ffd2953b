//! "Exports": export a project (the signed `.eln` at once, or a request when it is over the
//! approval threshold), ask for a whole-org export, and the list of export requests with
//! Approve/Reject for another Owner/Admin and Download for the requester once approved. Every
//! action needs step-up (the password entered in the last minutes), like the API.

use super::error::UiError;
use super::extract::{CsrfForm, UiOrg, UiRecord};
use super::files::human_size;
use super::flash::Flash;
use super::layout::{self, csrf_field, Nav};
use crate::api::exports::requests::{
    download_export, project_export, request_org_export, ProjectExport,
};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use labledger_domain::export::{Decision, ExportKind, RequestState};
use labledger_domain::{ExportRequestId, Permission, PermissionSet, ProjectId, Timestamp};
use maud::{html, Markup};

fn date(t: Timestamp) -> String {
    let s = t.to_rfc3339();
    s.get(..16).unwrap_or(&s).replace('T', " ")
}

fn failed(org: &UiOrg, e: ApiError) -> Result<Flash, UiError> {
    super::error::log_api_error(&e);
    match e {
        ApiError::NotFound => Err(org.not_found()),
        e @ (ApiError::StepUpRequired | ApiError::Unauthorized) => Err(e.into()),
        other => Ok(Flash::error(super::error::describe(&other))),
    }
}

/// `GET /orgs/{org_id}/exports`.
pub async fn page(State(state): State<AppState>, org: UiOrg) -> Result<Response, UiError> {
    org.require(Permission::EXPORTS_READ, Nav::Exports)?;
    render(&state, &org, StatusCode::OK, None).await
}

/// `POST /orgs/{org_id}/exports/projects/{project_id}`: the `.eln` as a download, or the page
/// with the new request.
pub async fn export_project(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(id): UiRecord<ProjectId>,
    CsrfForm(_form): CsrfForm,
) -> Result<Response, UiError> {
    let id = id.ok_or_else(|| org.not_found())?;
    org.user.require_fresh(&state)?;
    match project_export(&state, &org.scope, id).await {
        Ok(ProjectExport::Ready(res)) => Ok(res),
        Ok(ProjectExport::Waiting(_)) => {
            let flash = Flash::success(format!(
                "The project is larger than {}: the export waits for another Owner or Admin to approve it.",
                human_size(i64::try_from(state.config().export_approval_bytes).unwrap_or(i64::MAX))
            ));
            render(&state, &org, StatusCode::ACCEPTED, Some(flash)).await
        }
        Err(e) => {
            let flash = failed(&org, e)?;
            render(&state, &org, StatusCode::CONFLICT, Some(flash)).await
        }
    }
}

/// `POST /orgs/{org_id}/exports/org`: a whole-org export request.
pub async fn export_org(
    State(state): State<AppState>,
    org: UiOrg,
    CsrfForm(_form): CsrfForm,
) -> Result<Response, UiError> {
    org.user.require_fresh(&state)?;
    match request_org_export(&state, &org.scope).await {
        Ok(_) => {
            let flash = Flash::success(
                "Whole-organization export requested: it waits for another Owner or Admin to approve it.",
            );
            render(&state, &org, StatusCode::ACCEPTED, Some(flash)).await
        }
        Err(e) => {
            let flash = failed(&org, e)?;
            render(&state, &org, StatusCode::FORBIDDEN, Some(flash)).await
        }
    }
}

async fn decide(
    state: AppState,
    org: UiOrg,
    id: Option<ExportRequestId>,
    decision: Decision,
) -> Result<Response, UiError> {
    let id = id.ok_or_else(|| org.not_found())?;
    org.user.require_fresh(&state)?;
    let result = if org.scope.can(Permission::EXPORTS_CREATE) {
        state
            .store()
            .org(&org.scope)
            .decide_export(id, decision, None)
            .await
            .map_err(ApiError::from)
    } else {
        Err(ApiError::Forbidden(
            "This needs the permission `exports:create`.".into(),
        ))
    };
    match result {
        Ok(r) => {
            let flash = Flash::success(format!("Export request {}.", r.state.as_str()));
            render(&state, &org, StatusCode::OK, Some(flash)).await
        }
        Err(e) => {
            let status = e.status();
            let flash = failed(&org, e)?;
            render(&state, &org, status, Some(flash)).await
        }
    }
}

/// `POST /orgs/{org_id}/exports/requests/{export_request_id}/approve`.
pub async fn approve(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(id): UiRecord<ExportRequestId>,
    CsrfForm(_form): CsrfForm,
) -> Result<Response, UiError> {
    decide(state, org, id, Decision::Approve).await
}

/// `POST /orgs/{org_id}/exports/requests/{export_request_id}/reject`.
pub async fn reject(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(id): UiRecord<ExportRequestId>,
    CsrfForm(_form): CsrfForm,
) -> Result<Response, UiError> {
    decide(state, org, id, Decision::Reject).await
}

/// `POST /orgs/{org_id}/exports/requests/{export_request_id}/download`: the `.eln`.
pub async fn download(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(id): UiRecord<ExportRequestId>,
    CsrfForm(_form): CsrfForm,
) -> Result<Response, UiError> {
    let id = id.ok_or_else(|| org.not_found())?;
    org.user.require_fresh(&state)?;
    match download_export(&state, &org.scope, id).await {
        Ok(res) => Ok(res),
        Err(e) => {
            let status = e.status();
            let flash = failed(&org, e)?;
            render(&state, &org, status, Some(flash)).await
        }
    }
}

fn button(action: &str, csrf: &str, label: &str, class: &str) -> Markup {
    html! {
        form.inline-form method="post" action=(action) {
            (csrf_field(csrf))
            button class={ "btn btn-small " (class) } type="submit" { (label) }
        }
    }
}

async fn render(
    state: &AppState,
    org: &UiOrg,
    status: StatusCode,
    flash: Option<Flash>,
) -> Result<Response, UiError> {
    let store = state.store().org(&org.scope);
    let can_export =
        org.scope.can(Permission::EXPORTS_CREATE) && org.scope.can(Permission::FILES_READ);
    let projects = if can_export && org.scope.can(Permission::PROJECTS_READ) {
        store
            .projects()
            .await
            .map_err(|e| org.error(ApiError::from(e), Nav::Exports))?
    } else {
        Vec::new()
    };
    let requests = store
        .export_requests()
        .await
        .map_err(|e| org.error(ApiError::from(e), Nav::Exports))?;
    let can_org = can_export
        && org.scope.can(Permission::AUDIT_READ)
        && org.scope.can(Permission::PROJECTS_READ)
        && !org.scope.is_project_limited();
    let can_decide = org.scope.permissions() == PermissionSet::all() && !org.scope.is_token();
    let me = org.user.user_id;
    let base = format!("{}/exports", org.base());
    let csrf = org.csrf();
    let threshold =
        human_size(i64::try_from(state.config().export_approval_bytes).unwrap_or(i64::MAX));
    let body = html! {
        div.page-head {
            h1 { "Exports" }
            p.subtitle { "Signed .eln archives (RO-Crate 1.1) that " code { "labledger export verify" } " checks offline. \
                A project over " (threshold) " and the whole organization wait for a second Owner or Admin." }
        }
        @if can_export {
            section.card #export-projects {
                h2 { "Export a project" }
                @if projects.is_empty() { p.empty { "No projects." } } @else {
                    div.table-wrap {
                        table.table #projects-table {
                            thead { tr { th { "Project" } th { "Status" } th { "Samples" } th { span.sr-only { "Actions" } } } }
                            tbody {
                                @for p in &projects {
                                    tr data-project=(p.id) {
                                        td { (p.name) }
                                        td { (p.status.as_str()) }
                                        td { (p.sample_count) }
                                        td.actions { (button(&format!("{base}/projects/{}", p.id), csrf, "Export", "btn-primary")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if can_org {
            section.card #export-org {
                h2 { "Export the whole organization" }
                p.hint { "Every project, sample, file and audit event. Another Owner or Admin approves it; then you download it within 24 hours." }
                (button(&format!("{base}/org"), csrf, "Request a whole-organization export", "btn-primary"))
            }
        }
        section.card {
            h2 { "Export requests" }
            @if requests.is_empty() { p.empty { "No export requests." } } @else {
                div.table-wrap {
                    table.table #export-requests {
                        thead { tr {
                            th { "What" } th { "Asked by" } th { "Asked" } th { "Size" } th { "State" }
                            th { "Until" } th { span.sr-only { "Actions" } }
                        } }
                        tbody {
                            @for r in &requests {
                                tr data-export-request=(r.id) data-state=(r.state.as_str()) {
                                    td { @match r.kind {
                                        ExportKind::Org => "Whole organization",
                                        ExportKind::Project => { "Project " (r.project_name.clone().unwrap_or_default()) },
                                    } }
                                    td { (r.requested_by_email) }
                                    td.nowrap { (date(r.requested_at)) }
                                    td.nowrap { (human_size(i64::try_from(r.estimated_bytes).unwrap_or(i64::MAX))) }
                                    td { span.badge { (r.state.as_str()) } }
                                    td.nowrap { (date(r.expires_at)) }
                                    td.actions {
                                        @if r.state == RequestState::Pending && can_decide && r.requested_by != me {
                                            (button(&format!("{base}/requests/{}/approve", r.id), csrf, "Approve", "btn-primary"))
                                            (button(&format!("{base}/requests/{}/reject", r.id), csrf, "Reject", "btn-danger"))
                                        }
                                        @if r.state == RequestState::Approved && r.requested_by == me {
                                            (button(&format!("{base}/requests/{}/download", r.id), csrf, "Download", "btn-primary"))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let page = layout::page(&org.chrome(Nav::Exports), "Exports", flash.as_ref(), body);
    Ok((status, page).into_response())
}
