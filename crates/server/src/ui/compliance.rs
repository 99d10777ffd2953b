//! Deviations and CAPA in the UI: the list (overdue first) with an open form, and a record's page
//! with its links, signatures (with validity), edit, investigate, link, sign and close forms.

use super::error::UiError;
use super::extract::{CsrfForm, UiOrg, UiRecord};
use super::flash::Flash;
use super::layout::{self, csrf_field, Nav};
use super::protocols::{signature_list, signing_fields};
use crate::api::compliance::{validate_patch, CompliancePatchRequest};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use labledger_domain::compliance::{ComplianceState, LinkTarget, RecordKind};
use labledger_domain::signature::SignatureMeaning;
use labledger_domain::{ComplianceRecordId, FieldError, Permission, Timestamp};
use labledger_store::{ComplianceFilter, ComplianceRecord, NewComplianceRecord};
use maud::html;

fn rows(base: &str, items: &[ComplianceRecord]) -> maud::Markup {
    let now = Timestamp::now();
    html! {
        table.table {
            thead { tr { th { "Code" } th { "Kind" } th { "State" } th { "Title" } th { "Owner" } th { "Due" } } }
            tbody { @for r in items { tr {
                td { a href=(format!("{base}/{}", r.id)) { code { (r.code) } } }
                td { (r.kind.as_str()) }
                td { span.badge { (r.state.as_str()) } }
                td { (r.title) }
                td { (r.owner_name.as_deref().unwrap_or("—")) }
                td { (r.due_at.map(|t| t.to_rfc3339()).unwrap_or_else(|| "—".into()))
                     @if r.is_overdue(now) { " " span.badge.badge-danger { "overdue" } } }
            } } }
        }
    }
}

/// `GET /orgs/{org_id}/compliance`.
pub async fn list(State(state): State<AppState>, org: UiOrg) -> Result<Response, UiError> {
    org.require(Permission::COMPLIANCE_READ, Nav::Compliance)?;
    render_list(&state, &org, StatusCode::OK, None).await
}

async fn render_list(
    state: &AppState,
    org: &UiOrg,
    status: StatusCode,
    flash: Option<Flash>,
) -> Result<Response, UiError> {
    let o = state.store().org(&org.scope);
    let err = |e: labledger_store::StoreError| org.error(ApiError::from(e), Nav::Compliance);
    let overdue = o
        .compliance_records(
            ComplianceFilter {
                overdue: true,
                ..Default::default()
            },
            100,
        )
        .await
        .map_err(err)?;
    let all = o
        .compliance_records(ComplianceFilter::default(), 200)
        .await
        .map_err(err)?;
    let base = format!("{}/compliance", org.base());
    let body = html! {
        div.page-head { h1 { "Deviations and CAPA" } p.subtitle { "Closed with an e-signature of a QA member." } }
        @if !overdue.is_empty() { section.card #overdue { h2 { "Overdue" } (rows(&base, &overdue)) } }
        section.card { h2 { "All records" } @if all.is_empty() { p.empty { "None yet." } } @else { (rows(&base, &all)) } }
        @if org.scope.can(Permission::COMPLIANCE_WRITE) {
            section.card {
                h2 { "Open a record" }
                form #open-record method="post" action=(base) {
                    (csrf_field(org.csrf()))
                    div.form-grid {
                        div.field { label for="kind" { "Kind" } select #kind name="kind" { option value="deviation" { "Deviation" } option value="capa" { "CAPA" } } }
                        div.field { label for="title" { "Title" } input #title type="text" name="title" required maxlength="200"; }
                        div.field { label for="due_at" { "Due (date)" } input #due_at type="date" name="due_at"; }
                    }
                    div.field { label for="description" { "Description" } textarea #description name="description" rows="4" {} }
                    button.btn.btn-primary type="submit" { "Open" }
                }
            }
        }
    };
    Ok((
        status,
        layout::page(
            &org.chrome(Nav::Compliance),
            "Deviations and CAPA",
            flash.as_ref(),
            body,
        ),
    )
        .into_response())
}

/// `POST /orgs/{org_id}/compliance`.
pub async fn open(
    State(state): State<AppState>,
    org: UiOrg,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::COMPLIANCE_WRITE, Nav::Compliance)?;
    let kind = RecordKind::parse("kind", &form.text("kind"));
    let title = form.text("title").trim().to_owned();
    let due = form.text("due_at");
    let due_at = if due.trim().is_empty() {
        Ok(None)
    } else {
        Timestamp::parse_rfc3339(due.trim())
            .map(Some)
            .ok_or_else(|| FieldError::new("due_at", "must be a date"))
    };
    let result = match (kind, due_at) {
        (Ok(kind), Ok(due_at)) if !title.is_empty() && title.chars().count() <= 200 => state
            .store()
            .org(&org.scope)
            .open_compliance_record(NewComplianceRecord {
                kind,
                title,
                description: form
                    .text("description")
                    .trim()
                    .chars()
                    .take(10_000)
                    .collect(),
                owner_id: None,
                due_at,
            })
            .await
            .map_err(ApiError::from),
        (Err(e), _) | (_, Err(e)) => Err(ApiError::from(e)),
        _ => Err(ApiError::from(FieldError::new(
            "title",
            "must be 1 to 200 characters",
        ))),
    };
    match result {
        Ok(r) => Ok(Redirect::to(&format!("{}/compliance/{}", org.base(), r.id)).into_response()),
        Err(e) => {
            let flash = Flash::error(describe(&e));
            render_list(&state, &org, e.status(), Some(flash)).await
        }
    }
}

fn describe(e: &ApiError) -> String {
    super::error::log_api_error(e);
    match e {
        ApiError::InvalidCredentials => "The password is wrong; nothing was signed.".to_owned(),
        ApiError::MfaRequired => {
            "The authenticator code is missing or wrong; nothing was signed.".to_owned()
        }
        ApiError::Invalid(errors) => errors
            .iter()
            .map(|f| format!("{}: {}.", f.field, f.message))
            .collect::<Vec<_>>()
            .join(" "),
        other => super::error::describe(other),
    }
}

/// `GET /orgs/{org_id}/compliance/{record_id}`.
pub async fn show(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(id): UiRecord<ComplianceRecordId>,
) -> Result<Response, UiError> {
    org.require(Permission::COMPLIANCE_READ, Nav::Compliance)?;
    let id = id.ok_or_else(|| org.not_found())?;
    render(&state, &org, id, StatusCode::OK, None).await
}

async fn render(
    state: &AppState,
    org: &UiOrg,
    id: ComplianceRecordId,
    status: StatusCode,
    flash: Option<Flash>,
) -> Result<Response, UiError> {
    let o = state.store().org(&org.scope);
    let r = match o.compliance_record(id).await {
        Ok(r) => r,
        Err(labledger_store::StoreError::NotFound) => return Err(org.not_found()),
        Err(e) => return Err(org.error(ApiError::from(e), Nav::Compliance)),
    };
    let sigs = o
        .compliance_signatures(&r)
        .await
        .map_err(|e| org.error(ApiError::from(e), Nav::Compliance))?;
    let base = format!("{}/compliance/{}", org.base(), r.id);
    let open = r.state.editable();
    let write = open && org.scope.can(Permission::COMPLIANCE_WRITE);
    let text = |s: &Option<String>| s.clone().unwrap_or_else(|| "—".into());
    let body = html! {
        div.page-head {
            h1 { code { (r.code) } " " (r.title) }
            p.subtitle { (r.kind.as_str()) " · " span.badge { (r.state.as_str()) }
                @if r.is_overdue(Timestamp::now()) { " " span.badge.badge-danger { "overdue" } } }
        }
        section.card {
            dl.facts {
                dt { "Description" } dd { (r.description) }
                dt { "Owner" } dd { (text(&r.owner_name)) }
                dt { "Due" } dd { (r.due_at.map(|t| t.to_rfc3339()).unwrap_or_else(|| "—".into())) }
                dt { "Root cause" } dd { (text(&r.root_cause)) }
                dt { "Actions" } dd { (text(&r.actions)) }
                dt { "Opened" } dd { (r.created_at.to_rfc3339()) }
                dt { "Closed" } dd { (r.closed_at.map(|t| t.to_rfc3339()).unwrap_or_else(|| "—".into())) }
            }
            h2 { "Links" }
            @if r.links.is_empty() { p.empty { "No links." } }
            ul { @for l in &r.links { li { (l.to_type) ": "
                @if l.to_type == "sample" { a href=(format!("{}/samples/{}", org.base(), l.to_id)) { (l.label.as_deref().unwrap_or(&l.to_id)) } }
                @else { (l.label.as_deref().unwrap_or(&l.to_id)) } } } }
        }
        (signature_list(&sigs))
        @if write {
            section.card {
                h2 { "Edit" }
                form #edit-record method="post" action=(base) {
                    (csrf_field(org.csrf()))
                    div.field { label for="title" { "Title" } input #title type="text" name="title" value=(r.title) maxlength="200"; }
                    div.field { label for="description" { "Description" } textarea #description name="description" rows="3" { (r.description) } }
                    div.field { label for="root_cause" { "Root cause" } textarea #root_cause name="root_cause" rows="3" { (r.root_cause.as_deref().unwrap_or("")) } }
                    div.field { label for="actions" { "Actions" } textarea #actions name="actions" rows="3" { (r.actions.as_deref().unwrap_or("")) } }
                    div.field { label for="due_at" { "Due (date)" } input #due_at type="text" name="due_at" value=(r.due_at.map(|t| t.to_rfc3339()).unwrap_or_default()); }
                    button.btn type="submit" { "Save" }
                }
                @if r.state == ComplianceState::Open {
                    form #investigate method="post" action=(format!("{base}/transitions")) {
                        (csrf_field(org.csrf()))
                        input type="hidden" name="to" value="investigating";
                        button.btn type="submit" { "Start investigation" }
                    }
                }
                h2 { "Link a sample" }
                form #link-sample method="post" action=(format!("{base}/links")) {
                    (csrf_field(org.csrf()))
                    input type="hidden" name="record_type" value="sample";
                    div.field { label for="link-id" { "Sample id" } input #link-id type="text" name="record_id" required; }
                    button.btn type="submit" { "Link" }
                }
            }
            section.card {
                h2 { "Sign (reviewed)" }
                form #sign-record method="post" action=(format!("{base}/signatures")) {
                    (csrf_field(org.csrf()))
                    input type="hidden" name="meaning" value="reviewed";
                    (signing_fields(org.user.mfa_active))
                    button.btn type="submit" { "Sign as reviewed" }
                }
            }
        }
        @if r.state == ComplianceState::Investigating && org.scope.can(Permission::COMPLIANCE_APPROVE) {
            section.card {
                h2 { "Close and sign" }
                form #close-record method="post" action=(format!("{base}/close")) {
                    (csrf_field(org.csrf()))
                    (signing_fields(org.user.mfa_active))
                    button.btn.btn-primary type="submit" { "Close (sign)" }
                }
            }
        }
        p { a href=(format!("{}/compliance", org.base())) { "← All records" } }
    };
    Ok((
        status,
        layout::page(&org.chrome(Nav::Compliance), &r.code, flash.as_ref(), body),
    )
        .into_response())
}

async fn after(
    state: &AppState,
    org: &UiOrg,
    id: ComplianceRecordId,
    result: Result<(), ApiError>,
) -> Result<Response, UiError> {
    match result {
        Ok(()) => Ok(Redirect::to(&format!("{}/compliance/{id}", org.base())).into_response()),
        Err(ApiError::NotFound) => Err(org.not_found()),
        Err(e) => {
            let flash = Flash::error(describe(&e));
            render(state, org, id, e.status(), Some(flash)).await
        }
    }
}

/// `POST /orgs/{org_id}/compliance/{record_id}`: edit.
pub async fn update(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(id): UiRecord<ComplianceRecordId>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::COMPLIANCE_WRITE, Nav::Compliance)?;
    let id = id.ok_or_else(|| org.not_found())?;
    let req = CompliancePatchRequest {
        title: Some(form.text("title")),
        description: Some(form.text("description")),
        root_cause: Some(form.text("root_cause")),
        actions: Some(form.text("actions")),
        due_at: Some(form.text("due_at")),
        ..Default::default()
    };
    let result = match validate_patch(req) {
        Ok(p) => state
            .store()
            .org(&org.scope)
            .update_compliance_record(id, p)
            .await
            .map(|_| ())
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    after(&state, &org, id, result).await
}

/// `POST /orgs/{org_id}/compliance/{record_id}/transitions`.
pub async fn transition(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(id): UiRecord<ComplianceRecordId>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::COMPLIANCE_WRITE, Nav::Compliance)?;
    let id = id.ok_or_else(|| org.not_found())?;
    let result = match ComplianceState::parse("to", &form.text("to")) {
        Ok(to) => state
            .store()
            .org(&org.scope)
            .transition_compliance_record(id, to)
            .await
            .map(|_| ())
            .map_err(ApiError::from),
        Err(e) => Err(e.into()),
    };
    after(&state, &org, id, result).await
}

/// `POST /orgs/{org_id}/compliance/{record_id}/links`.
pub async fn link(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(id): UiRecord<ComplianceRecordId>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::COMPLIANCE_WRITE, Nav::Compliance)?;
    let id = id.ok_or_else(|| org.not_found())?;
    let target_id = form.text("record_id").trim().to_owned();
    let result = match LinkTarget::parse("record_type", &form.text("record_type")) {
        Ok(_) if target_id.parse::<uuid::Uuid>().is_err() => {
            Err(FieldError::new("record_id", "must be a record id").into())
        }
        Ok(t) => state
            .store()
            .org(&org.scope)
            .link_compliance_record(id, t, target_id)
            .await
            .map(|_| ())
            .map_err(ApiError::from),
        Err(e) => Err(e.into()),
    };
    after(&state, &org, id, result).await
}

/// `POST /orgs/{org_id}/compliance/{record_id}/signatures`.
pub async fn sign(
    State(state): State<AppState>,
    org: UiOrg,
    client: crate::extract::ClientInfo,
    UiRecord(id): UiRecord<ComplianceRecordId>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::COMPLIANCE_WRITE, Nav::Compliance)?;
    let id = id.ok_or_else(|| org.not_found())?;
    let result = match SignatureMeaning::parse("meaning", &form.text("meaning")) {
        Ok(meaning) => match crate::api::signatures::confirm_signer(
            &state,
            &org.user,
            &client,
            form.text("password"),
            Some(form.text("totp_code")),
            None,
        )
        .await
        {
            Ok(signer) => state
                .store()
                .org(&org.scope)
                .sign_compliance_record(id, meaning, signer)
                .await
                .map(|_| ())
                .map_err(ApiError::from),
            Err(e) => Err(e),
        },
        Err(e) => Err(e.into()),
    };
    after(&state, &org, id, result).await
}

/// `POST /orgs/{org_id}/compliance/{record_id}/close`.
pub async fn close(
    State(state): State<AppState>,
    org: UiOrg,
    client: crate::extract::ClientInfo,
    UiRecord(id): UiRecord<ComplianceRecordId>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::COMPLIANCE_APPROVE, Nav::Compliance)?;
    let id = id.ok_or_else(|| org.not_found())?;
    let result = match crate::api::signatures::confirm_signer(
        &state,
        &org.user,
        &client,
        form.text("password"),
        Some(form.text("totp_code")),
        None,
    )
    .await
    {
        Ok(signer) => state
            .store()
            .org(&org.scope)
            .close_compliance_record(id, signer)
            .await
            .map(|_| ())
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    after(&state, &org, id, result).await
}
