//! Analyses and provenance in the UI: an analysis's page (method, software, parameters, inputs,
//! output, each linked), the provenance sections of the file and sample pages (both directions),
//! and the form that registers an analysis. The form is turned into the API's own request and
//! checked by the API's own rules ([`crate::api::analyses::parse_request`]) and the store's
//! (every input must be this org's); with JavaScript, an output file chosen in the form is first
//! uploaded through the files API (category `analysis`).

use super::error::UiError;
use super::evidence::when;
use super::extract::{CsrfForm, FormData, UiOrg, UiRecord};
use super::flash::{self, Flash, Notice};
use super::invalid_box;
use super::layout::{self, csrf_field, Nav};
use crate::api::analyses::{parse_request, InputRef, NewAnalysisRequest};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use labledger_domain::file::InputType;
use labledger_domain::{AnalysisId, FieldError, FileId, Permission, SampleId, WorkflowRunId};
use labledger_store::{Analysis, AnalysisInput, Provenance, RunFilter, StoreError};
use maud::{html, Markup};

/// How an input or output reads on a page: a label and, when the caller may open it, a link.
async fn label(state: &AppState, org: &UiOrg, t: &str, id: &str) -> (String, Option<String>) {
    let store = state.store().org(&org.scope);
    let base = org.base();
    match t {
        "file" => {
            if let Ok(fid) = id.parse::<FileId>() {
                if let Ok(f) = store.file(fid).await {
                    let gone = if f.deleted_at.is_some() {
                        " (deleted)"
                    } else {
                        ""
                    };
                    return (
                        format!("file {} v{}{gone}", f.name, f.version),
                        Some(format!("{base}/files/{id}")),
                    );
                }
            }
            (format!("file {id}"), None)
        }
        "sample" if org.scope.can(Permission::SAMPLES_READ) => {
            if let Ok(sid) = id.parse::<SampleId>() {
                if let Ok(s) = store.sample(sid).await {
                    return (
                        format!("sample {}", s.code),
                        Some(format!("{base}/samples/{id}")),
                    );
                }
            }
            (format!("sample {id}"), None)
        }
        "workflow_run" if org.scope.can(Permission::WORKFLOWS_READ) => {
            if let Ok(rid) = id.parse::<WorkflowRunId>() {
                if let Ok(r) = store.workflow_run(rid).await {
                    return (
                        format!(
                            "workflow run {} on {}",
                            r.run.protocol_title, r.run.target_code
                        ),
                        Some(format!("{base}/workflow-runs/{id}")),
                    );
                }
            }
            (format!("workflow run {id}"), None)
        }
        other => (format!("{} {id}", other.replace('_', " ")), None),
    }
}

fn linked((text, href): &(String, Option<String>), class: &str) -> Markup {
    html! {
        @match href {
            Some(h) => a class=(class) href=(h) { (text) },
            None => span { (text) },
        }
    }
}

async fn input_labels(
    state: &AppState,
    org: &UiOrg,
    inputs: &[AnalysisInput],
) -> Vec<(String, Option<String>)> {
    let mut out = Vec::with_capacity(inputs.len());
    for i in inputs {
        out.push(label(state, org, &i.input_type, &i.id).await);
    }
    out
}

async fn output_label(state: &AppState, org: &UiOrg, a: &Analysis) -> (String, Option<String>) {
    match &a.output_file_id {
        Some(f) => label(state, org, "file", f).await,
        None => ("a structured result".to_owned(), None),
    }
}

fn analysis_title(a: &Analysis) -> String {
    let mut t = a.method.clone();
    if let Some(s) = &a.software {
        t.push_str(" · ");
        t.push_str(s);
        if let Some(v) = &a.software_version {
            t.push(' ');
            t.push_str(v);
        }
    }
    t
}

/// The two provenance sections of a file's page (`of_file`) or a sample's page.
pub(super) async fn provenance_sections(
    state: &AppState,
    org: &UiOrg,
    p: &Provenance,
    of_file: bool,
) -> Result<Markup, UiError> {
    let base = org.base();
    let mut from = Vec::new();
    for a in &p.derived_from {
        from.push((a, input_labels(state, org, &a.inputs).await));
    }
    let mut into = Vec::new();
    for a in &p.derived_into {
        into.push((a, output_label(state, org, a).await));
    }
    Ok(html! {
        @if of_file {
            section.card #provenance-from {
                h2 { "Derived from" }
                @if from.is_empty() {
                    p.empty { "Not registered as the output of an analysis." }
                } @else {
                    ul {
                        @for (a, inputs) in &from {
                            li {
                                a.analysis-link href=(format!("{base}/analyses/{}", a.id)) { (analysis_title(a)) }
                                " from "
                                @for (i, l) in inputs.iter().enumerate() { @if i > 0 { ", " } (linked(l, "input-link")) }
                            }
                        }
                    }
                }
            }
        }
        section.card #provenance-into {
            h2 { @if of_file { "Used as input to" } @else { "Provenance: derived from this sample" } }
            @if into.is_empty() {
                p.empty { "No analysis has used it as an input yet." }
            } @else {
                ul {
                    @for (a, output) in &into {
                        li {
                            a.analysis-link href=(format!("{base}/analyses/{}", a.id)) { (analysis_title(a)) }
                            " → " (linked(output, "output-link"))
                        }
                    }
                }
            }
        }
    })
}

/// The sample page's provenance section (`files:read`; nothing without it).
pub(super) async fn sample_section(
    state: &AppState,
    org: &UiOrg,
    id: SampleId,
) -> Result<Markup, UiError> {
    if !org.scope.can(Permission::FILES_READ) {
        return Ok(html! {});
    }
    let p = state
        .store()
        .org(&org.scope)
        .provenance(InputType::Sample, id.to_string())
        .await
        .map_err(|e| org.error(ApiError::from(e), Nav::Samples))?;
    let sections = provenance_sections(state, org, &p, false).await?;
    Ok(html! {
        (sections)
        @if org.scope.can(Permission::FILES_WRITE) {
            p { a.btn #sample-new-analysis href=(format!("{}/analyses/new?input_sample={id}", org.base())) { "Register an analysis of this sample" } }
        }
    })
}

fn pretty(json_text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(json_text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| json_text.to_owned())
}

/// `GET /orgs/{org_id}/analyses/{analysis_id}` (`files:read`, like the API).
pub async fn show(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(id): UiRecord<AnalysisId>,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    org.require(Permission::FILES_READ, Nav::Files)?;
    let id = id.ok_or_else(|| org.not_found())?;
    let a = match state.store().org(&org.scope).analysis(id).await {
        Ok(a) => a,
        Err(StoreError::NotFound) => return Err(org.not_found()),
        Err(e) => return Err(org.error(ApiError::from(e), Nav::Files)),
    };
    let inputs = input_labels(&state, &org, &a.inputs).await;
    let output = output_label(&state, &org, &a).await;
    let body = html! {
        div.page-head {
            h1 { "Analysis: " (a.method) }
            p.subtitle { "Registered " (when(a.created_at)) @if let Some(by) = &a.created_by { " by " code { (by) } } }
        }
        section.card {
            dl.facts #analysis-facts {
                dt { "Method" } dd { (a.method) }
                dt { "Software" } dd { (a.software.as_deref().unwrap_or("—")) }
                dt { "Version" } dd { (a.software_version.as_deref().unwrap_or("—")) }
                dt { "Parameters" } dd { pre.protocol-body #analysis-parameters { (pretty(&a.parameters)) } }
            }
        }
        section.card #analysis-inputs {
            h2 { "Inputs" }
            ul { @for l in &inputs { li { (linked(l, "input-link")) } } }
        }
        section.card #analysis-output {
            h2 { "Output" }
            p { (linked(&output, "output-link")) }
            @if let Some(r) = &a.result { pre.protocol-body #analysis-result { (pretty(r)) } }
        }
        @if org.scope.can(Permission::AUDIT_READ) {
            p { a href=(format!("{}/audit?target_type=analysis&target_id={}", org.base(), a.id)) { "History in the audit trail" } }
        }
        p { a href=(format!("{}/files", org.base())) { "← All files" } }
    };
    let flash = flash::from_query(query.as_deref());
    let title = format!("Analysis {}", a.method);
    let page = layout::page(&org.chrome(Nav::Files), &title, flash.as_ref(), body);
    Ok(page.into_response())
}

/// What the registration form holds (to show it again with its errors).
#[derive(Default)]
struct Draft {
    files: Vec<String>,
    sample_codes: String,
    run: String,
    method: String,
    software: String,
    software_version: String,
    parameters: String,
    output_file_id: String,
    result: String,
}

impl Draft {
    fn of(form: &FormData) -> Self {
        Self {
            files: form.all("input_file"),
            sample_codes: form.text("sample_codes"),
            run: form.text("input_run"),
            method: form.text("method"),
            software: form.text("software"),
            software_version: form.text("software_version"),
            parameters: form.text("parameters"),
            output_file_id: form.text("output_file_id"),
            result: form.text("result"),
        }
    }
}

/// A JSON object typed into a text area (empty: none).
fn json_field(field: &str, raw: &str, errors: &mut Vec<FieldError>) -> Option<serde_json::Value> {
    if raw.trim().is_empty() {
        return None;
    }
    match serde_json::from_str::<serde_json::Value>(raw) {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(FieldError::new(field, format!("is not valid JSON ({e})")));
            None
        }
    }
}

fn optional(raw: &str) -> Option<String> {
    Some(raw.to_owned()).filter(|s| !s.trim().is_empty())
}

/// The API request the form describes; sample codes are looked up in the org.
async fn request_of(
    state: &AppState,
    org: &UiOrg,
    d: &Draft,
) -> Result<NewAnalysisRequest, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut inputs: Vec<InputRef> = d
        .files
        .iter()
        .filter(|f| !f.trim().is_empty())
        .map(|f| InputRef {
            input_type: "file".into(),
            id: f.trim().to_owned(),
        })
        .collect();
    let codes: Vec<&str> = d
        .sample_codes
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .collect();
    if !codes.is_empty() {
        let store = state.store().org(&org.scope);
        for code in codes {
            match store.sample_by_code(code).await {
                Ok(Some(id)) => inputs.push(InputRef {
                    input_type: "sample".into(),
                    id: id.to_string(),
                }),
                Ok(None) => {
                    errors.push(FieldError::new("sample_codes", format!("no sample {code}")))
                }
                Err(_) => errors.push(FieldError::new(
                    "sample_codes",
                    "your roles do not let you read samples",
                )),
            }
        }
    }
    if !d.run.trim().is_empty() {
        inputs.push(InputRef {
            input_type: "workflow_run".into(),
            id: d.run.trim().to_owned(),
        });
    }
    let parameters = json_field("parameters", &d.parameters, &mut errors);
    let result = json_field("result", &d.result, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(NewAnalysisRequest {
        output_file_id: optional(&d.output_file_id).map(|s| s.trim().to_owned()),
        result,
        method: d.method.clone(),
        software: optional(&d.software),
        software_version: optional(&d.software_version),
        parameters,
        inputs,
    })
}

/// `GET /orgs/{org_id}/analyses/new` (`files:write`, like `POST /api/v1/…/analyses`); the
/// query's `input_file` / `input_sample` come ticked.
pub async fn new_form(
    State(state): State<AppState>,
    org: UiOrg,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    org.require(Permission::FILES_WRITE, Nav::Files)?;
    let params: Vec<(String, String)> = query
        .as_deref()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let mut draft = Draft {
        parameters: "{}".into(),
        ..Draft::default()
    };
    for (k, v) in params {
        match k.as_str() {
            "input_file" if v.parse::<FileId>().is_ok() => draft.files.push(v),
            "input_sample" if org.scope.can(Permission::SAMPLES_READ) => {
                if let Ok(id) = v.parse::<SampleId>() {
                    if let Ok(s) = state.store().org(&org.scope).sample(id).await {
                        draft.sample_codes = s.code;
                    }
                }
            }
            _ => {}
        }
    }
    render_form(&state, &org, &draft, StatusCode::OK, Vec::new()).await
}

async fn render_form(
    state: &AppState,
    org: &UiOrg,
    d: &Draft,
    status: StatusCode,
    errors: Vec<FieldError>,
) -> Result<Response, UiError> {
    let store = state.store().org(&org.scope);
    let fail = |e: StoreError| org.error(ApiError::from(e), Nav::Files);
    let (mut files, _) = store.files_page(None, None, 100).await.map_err(fail)?;
    files.retain(|f| f.deleted_at.is_none());
    // A ticked file older than the recent ones is still offered.
    for id in &d.files {
        if let Ok(fid) = id.parse::<FileId>() {
            if !files.iter().any(|f| f.id == fid) {
                if let Ok(f) = store.file(fid).await {
                    files.push(f);
                }
            }
        }
    }
    let runs = if org.scope.can(Permission::WORKFLOWS_READ) {
        store
            .workflow_runs_page(RunFilter::default(), 100)
            .await
            .map_err(fail)?
            .0
    } else {
        Vec::new()
    };
    let upload_url = format!("/api/v1/orgs/{}/files", org.scope.org_id());
    let err = |f: &str| super::field_errors_of(&errors, f);
    let body = html! {
        div.page-head {
            h1 { "Register an analysis" }
            p.subtitle { "An output (a file, or a structured JSON result) derived from inputs by a method, with its software and parameters." }
        }
        @if !errors.is_empty() { (invalid_box(&errors)) }
        section.card {
            form #analysis-form method="post" action=(format!("{}/analyses", org.base())) data-upload-url=(upload_url) data-csrf=(org.csrf()) {
                (csrf_field(org.csrf()))
                fieldset {
                    legend { "Inputs" }
                    fieldset.field {
                        legend { "Files" }
                        @if files.is_empty() { p.hint { "No files yet." } }
                        div.checks #analysis-input-files {
                            @for f in &files {
                                label.check {
                                    input type="checkbox" name="input_file" value=(f.id) checked[d.files.iter().any(|x| x == &f.id.to_string())];
                                    (f.name) " v" (f.version)
                                }
                            }
                        }
                        @for e in err("inputs") { p.field-error { (e) } }
                    }
                    @if org.scope.can(Permission::SAMPLES_READ) {
                        div.field {
                            label for="sample_codes" { "Sample codes (one per line, or comma-separated)" }
                            textarea #sample_codes name="sample_codes" rows="2" spellcheck="false" { (d.sample_codes) }
                            @for e in err("sample_codes") { p.field-error { (e) } }
                        }
                    }
                    @if !runs.is_empty() {
                        div.field {
                            label for="input_run" { "Workflow run" }
                            select #input_run name="input_run" {
                                option value="" { "None" }
                                @for r in &runs {
                                    option value=(r.id) selected[d.run == r.id.to_string()] { (r.protocol_title) " v" (r.version) " on " (r.target_code) " (" (r.status.as_str()) ")" }
                                }
                            }
                        }
                    }
                }
                fieldset {
                    legend { "Method" }
                    div.form-grid {
                        div.field {
                            label for="method" { "Method" }
                            input #method type="text" name="method" maxlength="200" required value=(d.method);
                            @for e in err("method") { p.field-error { (e) } }
                        }
                        div.field {
                            label for="software" { "Software (optional)" }
                            input #software type="text" name="software" maxlength="200" value=(d.software);
                            @for e in err("software") { p.field-error { (e) } }
                        }
                        div.field {
                            label for="software_version" { "Software version (optional)" }
                            input #software_version type="text" name="software_version" maxlength="200" value=(d.software_version);
                            @for e in err("software_version") { p.field-error { (e) } }
                        }
                    }
                    div.field {
                        label for="parameters" { "Parameters (a JSON object)" }
                        textarea #parameters name="parameters" rows="4" spellcheck="false" { (d.parameters) }
                        @for e in err("parameters") { p.field-error { (e) } }
                    }
                }
                fieldset {
                    legend { "Output: a file or a structured result" }
                    div.field {
                        label for="output_file_id" { "Output file" }
                        select #output_file_id name="output_file_id" {
                            option value="" { "None (a structured result below)" }
                            @for f in &files {
                                option value=(f.id) selected[d.output_file_id == f.id.to_string()] { (f.name) " v" (f.version) }
                            }
                        }
                        @for e in err("output_file_id") { p.field-error { (e) } }
                    }
                    div.field.js-only {
                        label for="analysis-output-upload" { "…or upload the output file now" }
                        input #analysis-output-upload type="file";
                        progress #analysis-upload-progress max="100" value="0" hidden {}
                        p #analysis-upload-status role="status" aria-live="polite" {}
                    }
                    div.field {
                        label for="result" { "Structured result (a JSON object)" }
                        textarea #result name="result" rows="4" spellcheck="false" { (d.result) }
                        @for e in err("result") { p.field-error { (e) } }
                    }
                }
                button.btn.btn-primary type="submit" { "Register the analysis" }
            }
        }
        p { a href=(format!("{}/files", org.base())) { "← All files" } }
    };
    let page = layout::page(
        &org.chrome(Nav::Files),
        "Register an analysis",
        None::<&Flash>,
        body,
    );
    Ok((status, page).into_response())
}

/// `POST /orgs/{org_id}/analyses` (`files:write`).
pub async fn create(
    State(state): State<AppState>,
    org: UiOrg,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::FILES_WRITE, Nav::Files)?;
    let draft = Draft::of(&form);
    let new = match request_of(&state, &org, &draft).await {
        Ok(req) => parse_request(req),
        Err(errors) => Err(errors),
    };
    let new = match new {
        Ok(n) => n,
        Err(errors) => {
            return render_form(
                &state,
                &org,
                &draft,
                StatusCode::UNPROCESSABLE_ENTITY,
                errors,
            )
            .await
        }
    };
    match state.store().org(&org.scope).create_analysis(new).await {
        Ok(a) => Ok(Notice::AnalysisRegistered
            .redirect(&format!("{}/analyses/{}", org.base(), a.id))
            .into_response()),
        Err(e) => match ApiError::from(e) {
            ApiError::Invalid(errors) => {
                render_form(
                    &state,
                    &org,
                    &draft,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    errors,
                )
                .await
            }
            other => Err(org.error(other, Nav::Files)),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn json_fields_name_their_field() {
        let mut errors = Vec::new();
        assert!(json_field("parameters", "  ", &mut errors).is_none());
        assert!(errors.is_empty());
        assert!(json_field("parameters", "{\"a\": 1}", &mut errors).is_some());
        assert!(json_field("result", "{nope", &mut errors).is_none());
        assert_eq!(errors[0].field, "result");
    }

    #[test]
    fn parameters_read_pretty() {
        assert_eq!(pretty("{\"a\":1}"), "{\n  \"a\": 1\n}");
        assert_eq!(pretty("not json"), "not json");
    }
}
