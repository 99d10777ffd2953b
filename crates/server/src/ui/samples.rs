//! Samples: the list with filters and paging, registering one, importing many from pasted CSV,
//! and a sample's page with its lifecycle moves. Write forms only for `samples:write`.

use super::error::UiError;
use super::extract::{CsrfForm, UiOrg, UiRecord};
use super::flash::{self, Flash, Notice};
use super::layout::{self, csrf_field, Nav};
use super::{field_error, invalid_box};
use crate::api::samples::{parse_csv, parse_search, validate, NewSampleRequest};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use labledger_domain::custom_field::{parse_def, FieldDef, FieldKind, RawDef};
use labledger_domain::sample::SampleStatus;
use labledger_domain::{FieldError, FieldErrors, Permission, SampleId, Timestamp};
use labledger_store::{Sample, SampleFilter};
use maud::{html, Markup};

/// What the register and import forms held, with their errors.
#[derive(Default)]
struct Forms {
    sample_type: String,
    source_ref: String,
    quantity: String,
    unit: String,
    csv: String,
    custom: Vec<(String, String)>,
    errors: Vec<FieldError>,
}

fn field_label(d: &FieldDef) -> String {
    match &d.kind {
        FieldKind::Number { unit: Some(u), .. } => format!("{} ({u})", d.label),
        _ => d.label.clone(),
    }
}

fn describe_kind(k: &FieldKind) -> String {
    match k {
        FieldKind::Text => "text".into(),
        FieldKind::Date => "date".into(),
        FieldKind::Number { unit, min, max } => {
            let mut s = String::from("number");
            if let Some(u) = unit {
                s.push_str(&format!(" in {u}"));
            }
            if let Some(lo) = min {
                s.push_str(&format!(", ≥ {lo}"));
            }
            if let Some(hi) = max {
                s.push_str(&format!(", ≤ {hi}"));
            }
            s
        }
        FieldKind::Choice { options } => format!("choice: {}", options.join(", ")),
    }
}

/// `POST /orgs/{org_id}/samples/fields`: define a custom field.
pub async fn define_field(
    State(state): State<AppState>,
    org: UiOrg,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::ORG_SETTINGS_WRITE, Nav::Samples)?;
    let mut errors = Vec::new();
    let mut number = |name: &str| match form.text(name).trim() {
        "" => None,
        v => v
            .parse::<f64>()
            .map_err(|_| errors.push(FieldError::new(name, "must be a number")))
            .ok(),
    };
    let (min, max) = (number("min"), number("max"));
    let field_type = form.text("type");
    let opt = |name: &str| Some(form.text(name)).filter(|v| !v.trim().is_empty());
    let raw = RawDef {
        key: form.text("key"),
        label: form.text("label"),
        unit: opt("unit"),
        min,
        max,
        options: opt("options").map(|o| o.split(',').map(|s| s.trim().to_owned()).collect()),
        required: form.text("required") == "true",
        sensitive: form.text("sensitive") == "true",
        field_type,
    };
    let result = match (parse_def(raw), errors.is_empty()) {
        (Ok(def), true) => state
            .store()
            .org(&org.scope)
            .create_sample_field(def)
            .await
            .map(|_| ())
            .map_err(ApiError::from),
        (Ok(_), false) => Err(ApiError::Invalid(errors)),
        (Err(mut es), _) => {
            es.extend(errors);
            Err(ApiError::Invalid(es))
        }
    };
    match result {
        Ok(()) => Ok(axum::response::Redirect::to(&format!(
            "{}/samples#sample-fields",
            org.base()
        ))
        .into_response()),
        Err(e) => form_failure(&state, &org, e, Forms::default()).await,
    }
}

/// The `custom.<key>` inputs of a submitted register form.
fn form_custom(form: &super::extract::FormData) -> Vec<(String, String)> {
    form.pairs()
        .filter_map(|(k, v)| {
            k.strip_prefix("custom.")
                .map(|k| (k.to_owned(), v.to_owned()))
        })
        .collect()
}

fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

/// `GET /orgs/{org_id}/samples`.
pub async fn list(
    State(state): State<AppState>,
    org: UiOrg,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    org.require(Permission::SAMPLES_READ, Nav::Samples)?;
    // A scanned (or typed) code: an exact match opens the sample.
    if let Some(code) = query_value(query.as_deref(), "code") {
        let found = state
            .store()
            .org(&org.scope)
            .sample_by_code(&code)
            .await
            .map_err(|e| org.error(ApiError::from(e), Nav::Samples))?;
        if let Some(id) = found {
            return Ok(
                axum::response::Redirect::to(&format!("{}/samples/{id}", org.base()))
                    .into_response(),
            );
        }
        return render_list(
            &state,
            &org,
            None,
            StatusCode::NOT_FOUND,
            Some(Flash::error(format!(
                "No sample has the code {}.",
                code.trim()
            ))),
            Forms::default(),
        )
        .await;
    }
    render_list(
        &state,
        &org,
        query.as_deref(),
        StatusCode::OK,
        flash::from_query(query.as_deref()),
        Forms::default(),
    )
    .await
}

async fn render_list(
    state: &AppState,
    org: &UiOrg,
    query: Option<&str>,
    status: StatusCode,
    flash: Option<Flash>,
    forms: Forms,
) -> Result<Response, UiError> {
    let defs = state
        .store()
        .org(&org.scope)
        .sample_fields()
        .await
        .map_err(|e| org.error(ApiError::from(e), Nav::Samples))?;
    // The list's filters are the API's (dates, location, `custom.<key>`); a bad one is shown
    // and the unfiltered list answers.
    let given: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .filter(|(k, v)| {
            // `ok` is the notice of a post/redirect/get (flash.rs), not a filter.
            !v.is_empty() && !matches!(k.as_str(), "ok" | "code" | "notice" | "error" | "limit")
        })
        .collect();
    let filter_query = {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &given {
            q.append_pair(k, v);
        }
        q.finish()
    };
    let (filter, flash) = match parse_search(&filter_query, &defs) {
        Ok(search) => (search.filter, flash),
        Err(e) => (
            SampleFilter::default(),
            Some(Flash::error(super::error::describe(&e))),
        ),
    };
    let value = |name: &str| {
        given
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let status_filter = filter.status;
    let type_filter = filter.sample_type.clone();
    let (samples, next) = state
        .store()
        .org(&org.scope)
        .samples_page(filter, 50)
        .await
        .map_err(|e| org.error(ApiError::from(e), Nav::Samples))?;
    let base = format!("{}/samples", org.base());
    let without_cursor = {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in given.iter().filter(|(k, _)| k != "cursor") {
            q.append_pair(k, v);
        }
        q.finish()
    };
    let older = next.map(|n| {
        let mut q = form_urlencoded::Serializer::new(without_cursor.clone());
        q.append_pair("cursor", &n.to_string());
        format!("{base}?{}", q.finish())
    });
    let export_href = format!(
        "/api/v1/orgs/{}/samples/export.csv?{without_cursor}",
        org.scope.org_id()
    );
    let can_export =
        org.scope.can(Permission::SAMPLES_READ) && org.scope.can(Permission::EXPORTS_CREATE);
    let can_define = org.scope.can(Permission::ORG_SETTINGS_WRITE);
    let can_write = org.scope.can(Permission::SAMPLES_WRITE);
    let body = html! {
        div.page-head {
            h1 { "Samples" }
            p.subtitle { "Registered samples of " (org.scope.org_name()) ", newest first." }
        }
        @if !forms.errors.is_empty() { (invalid_box(&forms.errors)) }
        section.card {
            form.filters #scan method="get" action=(base) {
                label { "Scan or type a code "
                    input #scan-code type="search" name="code" placeholder="S-000123" maxlength="32" autocomplete="off";
                }
                button.btn.btn-small type="submit" { "Open" }
            }
            form.filters method="get" action=(base) {
                label { "Status "
                    select name="status" {
                        option value="" { "Any" }
                        @for s in SampleStatus::ALL {
                            option value=(s.as_str()) selected[status_filter == Some(s)] { (s.as_str()) }
                        }
                    }
                }
                label { "Type " input type="text" name="sample_type" value=[type_filter.as_deref()] maxlength="64"; }
                @for (name, label) in [("collected_from", "Collected from"), ("collected_to", "to"), ("received_from", "Received from"), ("received_to", "to"), ("registered_from", "Registered from"), ("registered_to", "to")] {
                    label { (label) " " input type="date" name=(name) value=(value(name)); }
                }
                label { "Location " input type="text" name="location_id" value=(value("location_id")) placeholder="location id" maxlength="40"; }
                // Sensitive fields are stored encrypted: they cannot be searched.
                @for d in defs.iter().filter(|d| !d.sensitive) {
                    @let name = format!("custom.{}", d.key);
                    label { (d.label) " " input type="text" name=(name) value=(value(&name)) maxlength="500"; }
                }
                button.btn.btn-small type="submit" { "Filter" }
            }
            @if can_export {
                p { a.btn.btn-small #download-csv href=(export_href) download="samples.csv" { "Download CSV" } }
            }
            @if samples.is_empty() {
                p.empty { "No samples match." }
            } @else {
                table.table {
                    thead { tr { th { "Code" } th { "Type" } th { "Status" } th { "Source" } th { "Quantity" } th { "Registered" } } }
                    tbody {
                        @for s in &samples {
                            tr {
                                td { a href=(format!("{base}/{}", s.id)) { code { (s.code) } } }
                                td { (s.sample_type) }
                                td { span.badge { (s.status.as_str()) } }
                                td { (s.source_ref.as_deref().unwrap_or("—")) }
                                td { (quantity(s)) }
                                td { (day(s.created_at)) }
                            }
                        }
                    }
                }
            }
            @if let Some(href) = older { p.pager { a.btn.btn-small href=(href) { "Older →" } } }
        }
        @if can_write {
            section.card {
                h2 { "Register a sample" }
                form #register-sample method="post" action=(base) {
                    (csrf_field(org.csrf()))
                    div.form-grid {
                        (text_input("sample_type", "Type", &forms.sample_type, &forms.errors, true))
                        (text_input("source_ref", "Source or subject", &forms.source_ref, &forms.errors, false))
                        (text_input("quantity", "Quantity", &forms.quantity, &forms.errors, false))
                        (text_input("unit", "Unit", &forms.unit, &forms.errors, false))
                        @for d in &defs {
                            @let name = format!("custom.{}", d.key);
                            @let typed = forms.custom.iter().find(|(k, _)| *k == d.key).map(|(_, v)| v.as_str()).unwrap_or("");
                            (text_input(&name, &field_label(d), typed, &forms.errors, d.required))
                        }
                    }
                    button.btn.btn-primary type="submit" { "Register" }
                }
            }
            section.card {
                h2 { "Import from CSV" }
                p.hint { "A header row naming the columns (sample_type required; source_ref, collected_at, received_at, quantity, unit, notes optional; custom fields as custom.<key> or the bare key), then up to 10,000 rows. All rows are registered, or none." }
                form #import-samples method="post" action=(format!("{base}/import")) {
                    (csrf_field(org.csrf()))
                    label for="csv" { "CSV" }
                    textarea #csv name="csv" rows="6" spellcheck="false" { (forms.csv) }
                    button.btn type="submit" { "Import" }
                }
            }
        }
    };
    let body = html! {
        (body)
        section.card #sample-fields {
            h2 { "Custom fields" }
            @if defs.is_empty() {
                p.empty { "No custom fields are defined." }
            } @else {
                table.table {
                    thead { tr { th { "Key" } th { "Label" } th { "Type" } th { "Required" } th { "Sensitive" } } }
                    tbody {
                        @for d in &defs {
                            tr { td { code { (d.key) } } td { (d.label) } td { (describe_kind(&d.kind)) } td { @if d.required { "yes" } @else { "no" } } td { @if d.sensitive { "yes (encrypted, not searchable)" } @else { "no" } } }
                        }
                    }
                }
            }
            @if can_define {
                form #define-field method="post" action=(format!("{base}/fields")) {
                    (csrf_field(org.csrf()))
                    div.form-grid {
                        (text_input("key", "Key (snake_case)", "", &forms.errors, true))
                        (text_input("label", "Label", "", &forms.errors, true))
                        div.field {
                            label for="type" { "Type" }
                            select #type name="type" {
                                @for t in ["text", "number", "date", "choice"] { option value=(t) { (t) } }
                            }
                        }
                        (text_input("unit", "Unit (number)", "", &[], false))
                        (text_input("min", "Min (number)", "", &forms.errors, false))
                        (text_input("max", "Max (number)", "", &forms.errors, false))
                        (text_input("options", "Options (choice, comma-separated)", "", &forms.errors, false))
                        div.field { label { input type="checkbox" name="required" value="true"; " Required" } }
                        div.field { label { input type="checkbox" name="sensitive" value="true"; " Sensitive (stored encrypted, not searchable)" } }
                    }
                    button.btn type="submit" { "Define field" }
                }
            }
        }
    };
    let page = layout::page(&org.chrome(Nav::Samples), "Samples", flash.as_ref(), body);
    Ok((status, page).into_response())
}

fn text_input(
    name: &str,
    label: &str,
    value: &str,
    errors: &[FieldError],
    required: bool,
) -> Markup {
    let error = field_error(errors, name);
    html! {
        div.field {
            label for=(name) { (label) }
            input #(name) type="text" name=(name) value=(value) required[required] aria-invalid=[error.map(|_| "true")];
            @if let Some(e) = error { p.field-error { (e) } }
        }
    }
}

fn quantity(s: &Sample) -> String {
    match (s.quantity, s.unit.as_deref()) {
        (Some(q), Some(u)) => format!("{q} {u}"),
        (Some(q), None) => q.to_string(),
        _ => "—".into(),
    }
}

fn day(t: Timestamp) -> String {
    t.to_rfc3339().chars().take(10).collect()
}

/// `POST /orgs/{org_id}/samples`: register one sample.
pub async fn register(
    State(state): State<AppState>,
    org: UiOrg,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::SAMPLES_WRITE, Nav::Samples)?;
    let typed = Forms {
        sample_type: form.text("sample_type"),
        source_ref: form.text("source_ref"),
        quantity: form.text("quantity"),
        unit: form.text("unit"),
        custom: form_custom(&form),
        ..Forms::default()
    };
    let mut errors = FieldErrors::default();
    let quantity = match typed.quantity.trim() {
        "" => None,
        q => q
            .parse::<f64>()
            .map_err(|_| errors.push(FieldError::new("quantity", "must be a number")))
            .ok(),
    };
    let request = NewSampleRequest {
        sample_type: typed.sample_type.clone(),
        source_ref: Some(typed.source_ref.clone()),
        quantity,
        unit: Some(typed.unit.clone()),
        custom: Some(
            typed
                .custom
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
        ),
        ..NewSampleRequest::default()
    };
    let defs = state
        .store()
        .org(&org.scope)
        .sample_fields()
        .await
        .map_err(|e| org.error(ApiError::from(e), Nav::Samples))?;
    let sample = validate(request, "", &mut errors, &defs);
    let result = match (sample, errors.0.is_empty()) {
        (Some(s), true) => {
            let mut rows = vec![s];
            match crate::sensitive::seal_new_samples(&state, &org.scope, &defs, &mut rows).await {
                Ok(()) => state
                    .store()
                    .org(&org.scope)
                    .register_samples(rows, "sample.create")
                    .await
                    .map_err(ApiError::from),
                Err(e) => Err(e),
            }
        }
        _ => Err(ApiError::Invalid(errors.0)),
    };
    match result {
        Ok(created) => {
            let target = match created.first() {
                Some(s) => format!("{}/samples/{}", org.base(), s.id),
                None => format!("{}/samples", org.base()),
            };
            Ok(Notice::SampleRegistered.redirect(&target).into_response())
        }
        Err(e) => form_failure(&state, &org, e, typed).await,
    }
}

async fn form_failure(
    state: &AppState,
    org: &UiOrg,
    e: ApiError,
    typed: Forms,
) -> Result<Response, UiError> {
    super::error::log_api_error(&e);
    let status = e.status();
    let (errors, flash) = match e {
        ApiError::Invalid(errors) => (errors, None),
        other => (
            Vec::new(),
            Some(Flash::error(super::error::describe(&other))),
        ),
    };
    render_list(state, org, None, status, flash, Forms { errors, ..typed }).await
}

/// `POST /orgs/{org_id}/samples/import`: register every row of pasted CSV, or none.
pub async fn import(
    State(state): State<AppState>,
    org: UiOrg,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::SAMPLES_WRITE, Nav::Samples)?;
    let csv = form.text("csv");
    let defs = state
        .store()
        .org(&org.scope)
        .sample_fields()
        .await
        .map_err(|e| org.error(ApiError::from(e), Nav::Samples))?;
    let result = match parse_csv(csv.as_bytes(), &defs) {
        Ok(mut rows) => {
            match crate::sensitive::seal_new_samples(&state, &org.scope, &defs, &mut rows).await {
                Ok(()) => state
                    .store()
                    .org(&org.scope)
                    .register_samples(rows, "sample.import")
                    .await
                    .map_err(ApiError::from),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(Notice::SamplesImported
            .redirect(&format!("{}/samples", org.base()))
            .into_response()),
        Err(e) => {
            form_failure(
                &state,
                &org,
                e,
                Forms {
                    csv,
                    ..Forms::default()
                },
            )
            .await
        }
    }
}

/// `GET /orgs/{org_id}/samples/{sample_id}`.
pub async fn show(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(id): UiRecord<SampleId>,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    org.require(Permission::SAMPLES_READ, Nav::Samples)?;
    let id = id.ok_or_else(|| org.not_found())?;
    render_sample(
        &state,
        &org,
        id,
        StatusCode::OK,
        flash::from_query(query.as_deref()),
    )
    .await
}

pub(super) async fn render_sample(
    state: &AppState,
    org: &UiOrg,
    id: SampleId,
    status: StatusCode,
    flash: Option<Flash>,
) -> Result<Response, UiError> {
    let sample = match state.store().org(&org.scope).sample(id).await {
        Ok(s) => s,
        Err(labledger_store::StoreError::NotFound) => return Err(org.not_found()),
        Err(e) => return Err(org.error(ApiError::from(e), Nav::Samples)),
    };
    let storage_sections = super::storage::sample_sections(state, org, &sample).await?;
    let provenance = super::analyses::sample_section(state, org, sample.id).await?;
    let evidence = super::attachments::section(
        state,
        org,
        labledger_store::AttachTo::Sample(sample.id),
        true,
        "",
        Nav::Samples,
    )
    .await?;
    let base = format!("{}/samples/{}", org.base(), sample.id);
    let can_write = org.scope.can(Permission::SAMPLES_WRITE) && !sample.status.is_final();
    let time = |t: Option<Timestamp>| t.map(Timestamp::to_rfc3339).unwrap_or_else(|| "—".into());
    let body = html! {
        div.page-head {
            h1 { "Sample " code { (sample.code) } }
            p.subtitle { (sample.sample_type) " · " span.badge { (sample.status.as_str()) } }
            @if org.scope.can(Permission::WORKFLOWS_READ) {
                p { a #sample-runs href=(format!("{}/workflow-runs?sample_id={}", org.base(), sample.id)) { "Workflow runs on this sample" } }
            }
        }
        section.card {
            dl.facts {
                dt { "Code" } dd { code { (sample.code) } }
                dt { "Type" } dd { (sample.sample_type) }
                dt { "Status" } dd { (sample.status.as_str()) }
                dt { "Source or subject" } dd { (sample.source_ref.as_deref().unwrap_or("—")) }
                dt { "Quantity" } dd { (quantity(&sample)) }
                dt { "Collected" } dd { (time(sample.collected_at)) }
                dt { "Received" } dd { (time(sample.received_at)) }
                dt { "Registered" } dd { (sample.created_at.to_rfc3339()) }
                dt { "Notes" } dd { (sample.notes.as_deref().unwrap_or("—")) }
            }
            @if org.scope.can(Permission::AUDIT_READ) {
                p { a href=(format!("{}/audit?target_type=sample&target_id={}", org.base(), sample.id)) { "History in the audit trail" } }
            }
        }
        @if can_write {
            section.card {
                h2 { "Move" }
                form method="post" action=(format!("{base}/transitions")) {
                    (csrf_field(org.csrf()))
                    div.form-grid {
                        div.field {
                            label for="to" { "To" }
                            select #to name="to" { @for s in sample.status.next() { option value=(s.as_str()) { (s.as_str()) } } }
                        }
                        div.field {
                            label for="reason" { "Reason (optional)" }
                            input #reason type="text" name="reason" maxlength="2000";
                        }
                    }
                    button.btn.btn-primary type="submit" { "Move" }
                }
            }
        }
        (storage_sections)
        (provenance)
        (evidence)
        p { a href=(format!("{}/samples", org.base())) { "← All samples" } }
    };
    let title = format!("Sample {}", sample.code);
    Ok((
        status,
        layout::page(&org.chrome(Nav::Samples), &title, flash.as_ref(), body),
    )
        .into_response())
}

/// `POST /orgs/{org_id}/samples/{sample_id}/transitions`.
pub async fn transition(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(id): UiRecord<SampleId>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::SAMPLES_WRITE, Nav::Samples)?;
    let id = id.ok_or_else(|| org.not_found())?;
    let mut errors = FieldErrors::default();
    let to = errors.check(SampleStatus::parse("to", form.text("to").trim()));
    let reason =
        crate::api::samples::optional_text(&mut errors, "reason", Some(form.text("reason")), 2000);
    let result = match (to, errors.0.is_empty()) {
        (Some(to), true) => state
            .store()
            .org(&org.scope)
            .transition_sample(id, to, reason)
            .await
            .map(|_| ())
            .map_err(ApiError::from),
        _ => Err(ApiError::Invalid(errors.0)),
    };
    match result {
        Ok(()) => Ok(Notice::SampleMoved
            .redirect(&format!("{}/samples/{id}", org.base()))
            .into_response()),
        Err(ApiError::NotFound) => Err(org.not_found()),
        Err(e) => {
            super::error::log_api_error(&e);
            let status = e.status();
            render_sample(
                &state,
                &org,
                id,
                status,
                Some(Flash::error(super::error::describe(&e))),
            )
            .await
        }
    }
}
