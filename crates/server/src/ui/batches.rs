//! Batches: the list with a create form (codes pasted, or every sample of a type/status), and a
//! batch's page with its samples, add and remove while open, and closing. Write forms only for
//! `batches:write`.

use super::error::UiError;
use super::extract::{CsrfForm, UiOrg, UiRecord};
use super::flash::{self, Flash, Notice};
use super::invalid_box;
use super::layout::{self, csrf_field, Nav};
use crate::api::batches::{sample_selection, SelectionFields};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use labledger_domain::sample::SampleStatus;
use labledger_domain::validate::RecordName;
use labledger_domain::{BatchId, FieldError, FieldErrors, Permission, SampleId};
use labledger_store::{SampleSelection, StoreError};
use maud::html;

/// Codes pasted one per line, or separated by commas or spaces.
fn split_codes(raw: &str) -> Vec<String> {
    raw.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

const FORM_FIELDS: SelectionFields = SelectionFields {
    codes: "codes",
    status: "search_status",
    sample_type: "search_type",
};

/// The selection a form describes: pasted codes and/or every sample of a type and status.
fn selection(form: &super::extract::FormData, errors: &mut FieldErrors) -> SampleSelection {
    let status = form.text("search_status");
    let sample_type = form.text("search_type");
    let searching = !status.trim().is_empty() || !sample_type.trim().is_empty();
    sample_selection(
        errors,
        &FORM_FIELDS,
        &split_codes(&form.text("codes")),
        searching.then_some((Some(status.as_str()), Some(sample_type.as_str()))),
    )
}

fn selection_fields() -> maud::Markup {
    html! {
        div.field {
            label for="codes" { "Sample codes (one per line, or comma-separated)" }
            textarea #codes name="codes" rows="4" spellcheck="false" {}
        }
        div.form-grid {
            div.field {
                label for="search_type" { "…and/or every sample of type" }
                input #search_type type="text" name="search_type" maxlength="64";
            }
            div.field {
                label for="search_status" { "with status" }
                select #search_status name="search_status" {
                    option value="" { "Any" }
                    @for s in SampleStatus::ALL { option value=(s.as_str()) { (s.as_str()) } }
                }
            }
        }
    }
}

/// `GET /orgs/{org_id}/batches`.
pub async fn list(
    State(state): State<AppState>,
    org: UiOrg,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    org.require(Permission::BATCHES_READ, Nav::Batches)?;
    render_list(
        &state,
        &org,
        query.as_deref(),
        StatusCode::OK,
        flash::from_query(query.as_deref()),
        Vec::new(),
    )
    .await
}

async fn render_list(
    state: &AppState,
    org: &UiOrg,
    query: Option<&str>,
    status: StatusCode,
    flash: Option<Flash>,
    errors: Vec<FieldError>,
) -> Result<Response, UiError> {
    let before = query
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "cursor"))
        .and_then(|(_, v)| v.parse::<i64>().ok())
        .filter(|n| *n > 0);
    let (batches, next) = state
        .store()
        .org(&org.scope)
        .batches_page(None, before, 50)
        .await
        .map_err(|e| org.error(ApiError::from(e), Nav::Batches))?;
    let base = format!("{}/batches", org.base());
    let body = html! {
        div.page-head {
            h1 { "Batches" }
            p.subtitle { "Groups of samples processed together, newest first." }
        }
        @if !errors.is_empty() { (invalid_box(&errors)) }
        section.card {
            @if batches.is_empty() {
                p.empty { "No batches yet." }
            } @else {
                table.table {
                    thead { tr { th { "Code" } th { "Name" } th { "Status" } th { "Samples" } th { "Created" } } }
                    tbody {
                        @for b in &batches {
                            tr {
                                td { a href=(format!("{base}/{}", b.id)) { code { (b.code) } } }
                                td { (b.name) }
                                td { span.badge { (b.status.as_str()) } }
                                td { (b.sample_count) }
                                td { (b.created_at.to_rfc3339().chars().take(10).collect::<String>()) }
                            }
                        }
                    }
                }
            }
            @if let Some(n) = next { p.pager { a.btn.btn-small href=(format!("{base}?cursor={n}")) { "Older →" } } }
        }
        @if org.scope.can(Permission::BATCHES_WRITE) {
            section.card {
                h2 { "New batch" }
                form #create-batch method="post" action=(base) {
                    (csrf_field(org.csrf()))
                    div.field {
                        label for="name" { "Name" }
                        input #name type="text" name="name" required maxlength="200";
                    }
                    (selection_fields())
                    button.btn.btn-primary type="submit" { "Create batch" }
                }
            }
        }
    };
    Ok((
        status,
        layout::page(&org.chrome(Nav::Batches), "Batches", flash.as_ref(), body),
    )
        .into_response())
}

/// `POST /orgs/{org_id}/batches`.
pub async fn create(
    State(state): State<AppState>,
    org: UiOrg,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::BATCHES_WRITE, Nav::Batches)?;
    let mut errors = FieldErrors::default();
    let name = errors.check(RecordName::parse("name", &form.text("name")));
    let selection = selection(&form, &mut errors);
    let result = match (name, errors.0.is_empty()) {
        (Some(name), true) => state
            .store()
            .org(&org.scope)
            .create_batch(name.into_string(), None, selection)
            .await
            .map_err(ApiError::from),
        _ => Err(ApiError::Invalid(errors.0)),
    };
    match result {
        Ok(b) => Ok(Notice::BatchChanged
            .redirect(&format!("{}/batches/{}", org.base(), b.id))
            .into_response()),
        Err(e) => {
            super::error::log_api_error(&e);
            let status = e.status();
            match e {
                ApiError::Invalid(errors) => {
                    render_list(&state, &org, None, status, None, errors).await
                }
                other => {
                    render_list(
                        &state,
                        &org,
                        None,
                        status,
                        Some(Flash::error(super::error::describe(&other))),
                        Vec::new(),
                    )
                    .await
                }
            }
        }
    }
}

/// `GET /orgs/{org_id}/batches/{batch_id}`.
pub async fn show(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(id): UiRecord<BatchId>,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    org.require(Permission::BATCHES_READ, Nav::Batches)?;
    let id = id.ok_or_else(|| org.not_found())?;
    render_batch(
        &state,
        &org,
        id,
        StatusCode::OK,
        flash::from_query(query.as_deref()),
        Vec::new(),
    )
    .await
}

async fn render_batch(
    state: &AppState,
    org: &UiOrg,
    id: BatchId,
    status: StatusCode,
    flash: Option<Flash>,
    errors: Vec<FieldError>,
) -> Result<Response, UiError> {
    let store = state.store().org(&org.scope);
    let (batch, samples) = match (store.batch(id).await, store.batch_samples(id).await) {
        (Ok(b), Ok(s)) => (b, s),
        (Err(StoreError::NotFound), _) | (_, Err(StoreError::NotFound)) => {
            return Err(org.not_found())
        }
        (Err(e), _) | (_, Err(e)) => return Err(org.error(ApiError::from(e), Nav::Batches)),
    };
    let base = format!("{}/batches/{}", org.base(), batch.id);
    // A closed batch takes evidence too: it is processed once closed.
    let evidence = super::attachments::section(
        state,
        org,
        labledger_store::AttachTo::Batch(batch.id),
        true,
        "",
        Nav::Batches,
    )
    .await?;
    let can_change =
        org.scope.can(Permission::BATCHES_WRITE) && batch.status.accepts_changes().is_ok();
    let body = html! {
        div.page-head {
            h1 { "Batch " code { (batch.code) } }
            p.subtitle { (batch.name) " · " span.badge #batch-status { (batch.status.as_str()) } " · " (batch.sample_count) " samples" }
            @if org.scope.can(Permission::WORKFLOWS_READ) {
                p { a #batch-runs href=(format!("{}/workflow-runs?batch_id={}", org.base(), batch.id)) { "Workflow runs on this batch" } }
            }
        }
        @if !errors.is_empty() { (invalid_box(&errors)) }
        section.card {
            @if samples.is_empty() {
                p.empty { "No samples in this batch." }
            } @else {
                table.table #batch-samples {
                    thead { tr { th { "Code" } th { "Type" } th { "Status" } th { "Added" } @if can_change { th { "" } } } }
                    tbody {
                        @for s in &samples {
                            tr {
                                td { a href=(format!("{}/samples/{}", org.base(), s.id)) { code { (s.code) } } }
                                td { (s.sample_type) }
                                td { span.badge { (s.status) } }
                                td { (s.added_at.to_rfc3339()) }
                                @if can_change {
                                    td {
                                        form method="post" action=(format!("{base}/samples/{}/remove", s.id)) {
                                            (csrf_field(org.csrf()))
                                            button.btn.btn-small type="submit" { "Remove" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        (evidence)
        @if can_change {
            section.card {
                h2 { "Add samples" }
                form #add-samples method="post" action=(format!("{base}/samples")) {
                    (csrf_field(org.csrf()))
                    (selection_fields())
                    button.btn type="submit" { "Add" }
                }
            }
            section.card {
                h2 { "Close" }
                p.hint { "A closed batch keeps its samples for good." }
                form #close-batch method="post" action=(format!("{base}/close")) {
                    (csrf_field(org.csrf()))
                    button.btn.btn-primary type="submit" { "Close batch" }
                }
            }
        }
        @if org.scope.can(Permission::AUDIT_READ) {
            p { a href=(format!("{}/audit?target_type=batch&target_id={}", org.base(), batch.id)) { "History in the audit trail" } }
        }
        p { a href=(format!("{}/batches", org.base())) { "← All batches" } }
    };
    let title = format!("Batch {}", batch.code);
    Ok((
        status,
        layout::page(&org.chrome(Nav::Batches), &title, flash.as_ref(), body),
    )
        .into_response())
}

/// After a change: back to the batch page, or the page again with the error.
async fn after(
    state: &AppState,
    org: &UiOrg,
    id: BatchId,
    result: Result<(), ApiError>,
) -> Result<Response, UiError> {
    match result {
        Ok(()) => Ok(Notice::BatchChanged
            .redirect(&format!("{}/batches/{id}", org.base()))
            .into_response()),
        Err(ApiError::NotFound) => Err(org.not_found()),
        Err(e) => {
            super::error::log_api_error(&e);
            let status = e.status();
            match e {
                ApiError::Invalid(errors) => {
                    render_batch(state, org, id, status, None, errors).await
                }
                other => {
                    render_batch(
                        state,
                        org,
                        id,
                        status,
                        Some(Flash::error(super::error::describe(&other))),
                        Vec::new(),
                    )
                    .await
                }
            }
        }
    }
}

/// `POST /orgs/{org_id}/batches/{batch_id}/samples`.
pub async fn add(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(id): UiRecord<BatchId>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::BATCHES_WRITE, Nav::Batches)?;
    let id = id.ok_or_else(|| org.not_found())?;
    let mut errors = FieldErrors::default();
    let selection = selection(&form, &mut errors);
    if selection.codes.is_empty() && selection.search.is_none() && errors.0.is_empty() {
        errors.push(FieldError::new(
            "codes",
            "name at least one sample code, or a type or status",
        ));
    }
    let result = if errors.0.is_empty() {
        state
            .store()
            .org(&org.scope)
            .add_batch_samples(id, selection)
            .await
            .map(|_| ())
            .map_err(ApiError::from)
    } else {
        Err(ApiError::Invalid(errors.0))
    };
    after(&state, &org, id, result).await
}

/// `POST /orgs/{org_id}/batches/{batch_id}/samples/{sample_id}/remove`.
pub async fn remove(
    State(state): State<AppState>,
    org: UiOrg,
    ids: Path<(String, String, String)>,
    CsrfForm(_form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::BATCHES_WRITE, Nav::Batches)?;
    let Path((_, batch, sample)) = ids;
    let (Ok(batch), Ok(sample)) = (batch.parse::<BatchId>(), sample.parse::<SampleId>()) else {
        return Err(org.not_found());
    };
    let result = state
        .store()
        .org(&org.scope)
        .remove_batch_sample(batch, sample)
        .await
        .map(|_| ())
        .map_err(ApiError::from);
    after(&state, &org, batch, result).await
}

/// `POST /orgs/{org_id}/batches/{batch_id}/close`.
pub async fn close(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(id): UiRecord<BatchId>,
    CsrfForm(_form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::BATCHES_WRITE, Nav::Batches)?;
    let id = id.ok_or_else(|| org.not_found())?;
    let result = state
        .store()
        .org(&org.scope)
        .close_batch(id)
        .await
        .map(|_| ())
        .map_err(ApiError::from);
    after(&state, &org, id, result).await
}
