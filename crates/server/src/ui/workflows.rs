//! Workflow runs in the UI: the list with a start form (reached from a sample's or a batch's
//! page with the target filled in), and a run's page: its steps with input forms generated from
//! each step's expected inputs, sign (password + code) and verify forms, complete and abort
//! forms. A completed or aborted run is shown read-only.

use super::error::UiError;
use super::extract::{CsrfForm, FormData, UiOrg};
use super::flash::Flash;
use super::invalid_box;
use super::layout::{self, csrf_field, Nav};
use super::protocols::{signature_list, signing_fields};
use crate::api::workflows::{parse_start, precheck_step};
use crate::error::ApiError;
use crate::extract::ClientInfo;
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use labledger_domain::protocol::{ExpectedInput, InputType, VersionState};
use labledger_domain::validate::Reason;
use labledger_domain::workflow::{values_from_form, RunStatus};
use labledger_domain::{FieldError, Permission, WorkflowRunId};
use labledger_store::{RunDetail, RunFilter, Signer};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
pub struct RunPath {
    #[allow(dead_code)]
    org_id: String,
    run_id: String,
}

#[derive(Deserialize)]
pub struct StepPath {
    #[allow(dead_code)]
    org_id: String,
    run_id: String,
    step_index: String,
}

fn query_value(query: Option<&str>, key: &str) -> Option<String> {
    query
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == key))
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.trim().is_empty())
}

fn run_id(org: &UiOrg, raw: &str) -> Result<WorkflowRunId, UiError> {
    raw.parse().map_err(|_| org.not_found())
}

/// `GET /orgs/{org_id}/workflow-runs[?sample_id=…|batch_id=…]`.
pub async fn list(
    State(state): State<AppState>,
    org: UiOrg,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    org.require(Permission::WORKFLOWS_READ, Nav::Workflows)?;
    let flash = super::flash::from_query(query.as_deref());
    render_list(
        &state,
        &org,
        query.as_deref(),
        StatusCode::OK,
        flash,
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
    let sample_id = query_value(query, "sample_id");
    let batch_id = query_value(query, "batch_id");
    let filter = RunFilter {
        status: query_value(query, "status").and_then(|s| RunStatus::parse("status", &s).ok()),
        sample_id: sample_id.as_deref().and_then(|s| s.parse().ok()),
        batch_id: batch_id.as_deref().and_then(|s| s.parse().ok()),
        before_seq: query_value(query, "cursor")
            .and_then(|c| c.parse::<i64>().ok())
            .filter(|n| *n > 0),
    };
    let o = state.store().org(&org.scope);
    let (runs, next) = o
        .workflow_runs_page(filter, 50)
        .await
        .map_err(|e| org.error(ApiError::from(e), Nav::Workflows))?;
    // Effective versions to start from (when the caller may start runs and read protocols).
    let mut effective = Vec::new();
    if org.scope.can(Permission::WORKFLOWS_WRITE) && org.scope.can(Permission::PROTOCOLS_READ) {
        let protocols = o
            .protocols(100)
            .await
            .map_err(|e| org.error(ApiError::from(e), Nav::Workflows))?;
        for p in protocols.iter().filter(|p| p.effective_version.is_some()) {
            let versions = o
                .protocol_versions(p.id)
                .await
                .map_err(|e| org.error(ApiError::from(e), Nav::Workflows))?;
            if let Some(v) = versions
                .into_iter()
                .find(|v| v.state == VersionState::Effective)
            {
                effective.push(v);
            }
        }
    }
    let base = format!("{}/workflow-runs", org.base());
    let body = html! {
        div.page-head {
            h1 { "Workflow runs" }
            p.subtitle { "Runs of effective protocol versions on samples and batches, newest first." }
        }
        @if !errors.is_empty() { (invalid_box(&errors)) }
        @if org.scope.can(Permission::WORKFLOWS_WRITE) {
            section.card {
                h2 { "Start a run" }
                @if effective.is_empty() {
                    p.empty { "No protocol has an effective version yet." }
                } @else {
                    form #start-run method="post" action=(base) {
                        (csrf_field(org.csrf()))
                        div.form-grid {
                            div.field {
                                label for="protocol_version_id" { "Protocol" }
                                select #protocol_version_id name="protocol_version_id" required {
                                    @for v in &effective {
                                        option value=(v.id.to_string()) { (v.title) " v" (v.version) }
                                    }
                                }
                            }
                            div.field {
                                label for="sample_id" { "Sample id" }
                                input #sample_id type="text" name="sample_id" maxlength="64" value=(sample_id.clone().unwrap_or_default());
                            }
                            div.field {
                                label for="batch_id" { "or closed batch id" }
                                input #batch_id type="text" name="batch_id" maxlength="64" value=(batch_id.clone().unwrap_or_default());
                            }
                        }
                        p.hint { "A run on a batch covers all of its samples; the batch must be closed." }
                        button.btn.btn-primary type="submit" { "Start run" }
                    }
                }
            }
        }
        section.card {
            @if runs.is_empty() {
                p.empty { "No runs." }
            } @else {
                table.table {
                    thead { tr { th { "Run" } th { "Protocol" } th { "On" } th { "Status" } th { "Steps" } th { "Started" } } }
                    tbody {
                        @for r in &runs {
                            tr {
                                td { a href=(format!("{base}/{}", r.id)) { "Run " (r.seq) } }
                                td { (r.protocol_title) " v" (r.version) }
                                td { (r.target_type.as_str()) " " code { (r.target_code) } }
                                td { span.badge { (r.status.as_str()) } }
                                td { (r.recorded_count) " / " (r.step_count) }
                                td { (r.started_at.to_rfc3339()) }
                            }
                        }
                    }
                }
                @if let Some(n) = next {
                    p { a href=(format!("{base}?cursor={n}")) { "Older runs →" } }
                }
            }
        }
    };
    Ok((
        status,
        layout::page(
            &org.chrome(Nav::Workflows),
            "Workflow runs",
            flash.as_ref(),
            body,
        ),
    )
        .into_response())
}

/// `POST /orgs/{org_id}/workflow-runs`: start a run.
pub async fn start(
    State(state): State<AppState>,
    org: UiOrg,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::WORKFLOWS_WRITE, Nav::Workflows)?;
    let sample = form.text("sample_id");
    let batch = form.text("batch_id");
    let result = match parse_start(
        &form.text("protocol_version_id"),
        Some(sample.as_str()),
        Some(batch.as_str()),
    ) {
        Ok((v, t)) => state
            .store()
            .org(&org.scope)
            .start_workflow_run(v, t)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(d) => {
            Ok(Redirect::to(&format!("{}/workflow-runs/{}", org.base(), d.run.id)).into_response())
        }
        Err(ApiError::Invalid(errors)) => {
            render_list(
                &state,
                &org,
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                errors,
            )
            .await
        }
        Err(e) => {
            super::error::log_api_error(&e);
            let flash = Flash::error(super::error::describe(&e));
            render_list(&state, &org, None, e.status(), Some(flash), Vec::new()).await
        }
    }
}

/// One input of a step's form, generated from its expected input.
fn input_field(step: usize, input: &ExpectedInput) -> Markup {
    let name = format!("values.{}", input.name);
    let id = format!("step{step}-{}", input.name);
    html! {
        div.field {
            @match input.kind {
                InputType::Bool => {
                    label for=(id) {
                        input #(id) type="checkbox" name=(name) value="true";
                        " " (input.name)
                    }
                }
                InputType::Choice => {
                    label for=(id) { (input.name) }
                    select #(id) name=(name) required {
                        option value="" { "Choose…" }
                        @for o in &input.options { option value=(o) { (o) } }
                    }
                }
                InputType::Number => {
                    label for=(id) {
                        (input.name)
                        @if let Some(u) = &input.unit { " (" (u) ")" }
                    }
                    input #(id) type="number" step="any" name=(name) required
                        min=[input.min.map(|m| m.to_string())] max=[input.max.map(|m| m.to_string())];
                }
                InputType::Text => {
                    label for=(id) { (input.name) }
                    textarea #(id) name=(name) rows="2" maxlength="2000" required {}
                }
            }
        }
    }
}

fn show_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => "no".into(),
        other => other.to_string(),
    }
}

async fn render_run(
    state: &AppState,
    org: &UiOrg,
    id: WorkflowRunId,
    status: StatusCode,
    flash: Option<Flash>,
) -> Result<Response, UiError> {
    let o = state.store().org(&org.scope);
    let d: RunDetail = match o.workflow_run(id).await {
        Ok(d) => d,
        Err(labledger_store::StoreError::NotFound) => return Err(org.not_found()),
        Err(e) => return Err(org.error(ApiError::from(e), Nav::Workflows)),
    };
    let sigs = o
        .workflow_run_signatures(&d)
        .await
        .map_err(|e| org.error(ApiError::from(e), Nav::Workflows))?;
    let base = format!("{}/workflow-runs/{id}", org.base());
    let open = d.run.status == RunStatus::InProgress;
    let evidence = super::attachments::section(
        state,
        org,
        labledger_store::AttachTo::Run(id),
        open,
        "This run is finished and takes no new evidence; attach files to its samples instead.",
        Nav::Workflows,
    )
    .await?;
    let can_write = open && org.scope.can(Permission::WORKFLOWS_WRITE) && !org.scope.is_token();
    let recorded = d.recorded_steps();
    let next = recorded.len();
    let waiting = d
        .recorded
        .iter()
        .find(|r| d.steps.get(r.index).is_some_and(|s| s.critical) && r.verified_by.is_none())
        .map(|r| r.index);
    let mfa = org.user.mfa_active;
    let me = org.user.user_id;
    let body = html! {
        div.page-head {
            h1 { "Run " (d.run.seq) ": " (d.run.protocol_title) " v" (d.run.version) }
            p.subtitle {
                span.badge #run-status { (d.run.status.as_str()) }
                " · on " (d.run.target_type.as_str()) " " code { (d.run.target_code) }
                " · " (d.run.recorded_count) " of " (d.run.step_count) " steps recorded"
            }
            @if let Some(r) = &d.run.abort_reason { p { "Aborted: " (r) } }
            @if !open { p.hint { "This run is " (d.run.status.as_str()) " and never changes." } }
        }
        section.card {
            h2 { "Samples" }
            ul { @for (s, code) in &d.samples {
                li { a href=(format!("{}/samples/{s}", org.base())) { code { (code) } } }
            } }
        }
        (evidence)
        @for (i, step) in d.steps.iter().enumerate() {
            @let rec = d.recorded.iter().find(|r| r.index == i);
            section.card.run-step id=(format!("step-{i}")) {
                h2 {
                    (i + 1) ". " (step.title)
                    @if step.critical { " " span.badge.badge-danger { "critical" } }
                }
                @if !step.instructions.is_empty() { p { (step.instructions) } }
                @if let Some(r) = rec {
                    @if !r.values.is_empty() {
                        table.table { tbody { @for (k, v) in &r.values {
                            tr {
                                th { (k) }
                                td {
                                    (show_value(v))
                                    @if let Some(u) = step.inputs.iter().find(|x| &x.name == k).and_then(|x| x.unit.as_deref()) { " " (u) }
                                }
                            }
                        } } }
                    }
                    p { "Performed by " (r.performer_name) " at " (r.performed_at.to_rfc3339())
                        @if let Some(v) = &r.verifier_name { " · verified by " (v) } }
                    @if let Some((_, s)) = sigs.steps.iter().find(|(j, _)| *j == i) { (signature_list(s)) }
                    @if can_write && waiting == Some(i) {
                        @if r.performed_by == me {
                            p.hint { "A second person must verify this critical step before the run goes on." }
                        } @else {
                            form.verify-step method="post" action=(format!("{base}/steps/{i}/verify")) {
                                (csrf_field(org.csrf()))
                                (signing_fields(mfa))
                                button.btn.btn-primary type="submit" { "Verify (sign)" }
                            }
                        }
                    }
                } @else if can_write && i == next && waiting.is_none() {
                    form.record-step method="post" action=(format!("{base}/steps")) {
                        (csrf_field(org.csrf()))
                        input type="hidden" name="step_index" value=(i);
                        @for input in &step.inputs { (input_field(i, input)) }
                        (signing_fields(mfa))
                        button.btn.btn-primary type="submit" { "Record and sign" }
                    }
                } @else {
                    p.empty { "Not recorded." }
                }
            }
        }
        @if !sigs.run.is_empty() { (signature_list(&sigs.run)) }
        @if can_write && next == d.steps.len() && waiting.is_none() {
            section.card {
                h2 { "Complete and sign" }
                form #complete-run method="post" action=(format!("{base}/complete")) {
                    (csrf_field(org.csrf()))
                    (signing_fields(mfa))
                    button.btn.btn-primary type="submit" { "Complete (sign)" }
                }
            }
        }
        @if can_write {
            section.card {
                h2 { "Abort" }
                form #abort-run method="post" action=(format!("{base}/abort")) {
                    (csrf_field(org.csrf()))
                    div.field {
                        label for="abort-reason" { "Reason" }
                        input #abort-reason type="text" name="reason" required maxlength="1000";
                    }
                    button.btn.btn-danger type="submit" { "Abort run" }
                }
            }
        }
        p { a href=(format!("{}/workflow-runs", org.base())) { "← Workflow runs" } }
    };
    let title = format!("Run {}", d.run.seq);
    Ok((
        status,
        layout::page(&org.chrome(Nav::Workflows), &title, flash.as_ref(), body),
    )
        .into_response())
}

/// `GET /orgs/{org_id}/workflow-runs/{run_id}`.
pub async fn show(
    State(state): State<AppState>,
    org: UiOrg,
    Path(path): Path<RunPath>,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    org.require(Permission::WORKFLOWS_READ, Nav::Workflows)?;
    let id = run_id(&org, &path.run_id)?;
    let flash = super::flash::from_query(query.as_deref());
    render_run(&state, &org, id, StatusCode::OK, flash).await
}

async fn signer_of(
    state: &AppState,
    org: &UiOrg,
    client: &ClientInfo,
    form: &FormData,
) -> Result<Signer, ApiError> {
    crate::api::signatures::confirm_signer(
        state,
        &org.user,
        client,
        form.text("password"),
        Some(form.text("totp_code")),
        None,
    )
    .await
}

async fn after(
    state: &AppState,
    org: &UiOrg,
    id: WorkflowRunId,
    result: Result<(), ApiError>,
) -> Result<Response, UiError> {
    match result {
        Ok(()) => Ok(Redirect::to(&format!("{}/workflow-runs/{id}", org.base())).into_response()),
        Err(ApiError::NotFound) => Err(org.not_found()),
        Err(e) => {
            super::error::log_api_error(&e);
            let mut message = match e {
                ApiError::InvalidCredentials => {
                    "The password is wrong; nothing was signed.".to_owned()
                }
                ApiError::MfaRequired => {
                    "The authenticator code is missing or wrong; nothing was signed.".to_owned()
                }
                ref other => super::error::describe(other),
            };
            if let ApiError::Invalid(errors) = &e {
                for f in errors {
                    message.push_str(&format!(" {}: {}.", f.field, f.message));
                }
            }
            render_run(state, org, id, e.status(), Some(Flash::error(message))).await
        }
    }
}

/// `POST /orgs/{org_id}/workflow-runs/{run_id}/steps`: record and sign the next step.
pub async fn record(
    State(state): State<AppState>,
    org: UiOrg,
    client: ClientInfo,
    Path(path): Path<RunPath>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::WORKFLOWS_WRITE, Nav::Workflows)?;
    let id = run_id(&org, &path.run_id)?;
    let result = async {
        org.scope.require_user()?;
        let o = state.store().org(&org.scope);
        let d = o.workflow_run(id).await?;
        let index: i64 = form.text("step_index").trim().parse().map_err(|_| {
            ApiError::Invalid(vec![FieldError::new("step_index", "must be a step number")])
        })?;
        let inputs = usize::try_from(index)
            .ok()
            .and_then(|i| d.steps.get(i))
            .map(|s| s.inputs.clone())
            .unwrap_or_default();
        let pairs: Vec<(String, String)> = inputs
            .iter()
            .filter_map(|i| {
                let k = format!("values.{}", i.name);
                form.get(&k).map(|v| (k, v.to_owned()))
            })
            .collect();
        let values = values_from_form(&inputs, &pairs);
        precheck_step(&d, index, &values)?;
        let signer = signer_of(&state, &org, &client, &form).await?;
        o.record_workflow_step(id, index, values, signer).await?;
        Ok::<(), ApiError>(())
    }
    .await;
    after(&state, &org, id, result).await
}

/// `POST /orgs/{org_id}/workflow-runs/{run_id}/steps/{step_index}/verify`.
pub async fn verify(
    State(state): State<AppState>,
    org: UiOrg,
    client: ClientInfo,
    Path(path): Path<StepPath>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::WORKFLOWS_WRITE, Nav::Workflows)?;
    let id = run_id(&org, &path.run_id)?;
    let index: usize = path.step_index.parse().map_err(|_| org.not_found())?;
    let result = async {
        org.scope.require_user()?;
        let signer = signer_of(&state, &org, &client, &form).await?;
        state
            .store()
            .org(&org.scope)
            .verify_workflow_step(id, index, signer)
            .await?;
        Ok::<(), ApiError>(())
    }
    .await;
    after(&state, &org, id, result).await
}

/// `POST /orgs/{org_id}/workflow-runs/{run_id}/complete`.
pub async fn complete(
    State(state): State<AppState>,
    org: UiOrg,
    client: ClientInfo,
    Path(path): Path<RunPath>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::WORKFLOWS_WRITE, Nav::Workflows)?;
    let id = run_id(&org, &path.run_id)?;
    let result = async {
        org.scope.require_user()?;
        let signer = signer_of(&state, &org, &client, &form).await?;
        state
            .store()
            .org(&org.scope)
            .complete_workflow_run(id, signer)
            .await?;
        Ok::<(), ApiError>(())
    }
    .await;
    after(&state, &org, id, result).await
}

/// `POST /orgs/{org_id}/workflow-runs/{run_id}/abort`.
pub async fn abort(
    State(state): State<AppState>,
    org: UiOrg,
    Path(path): Path<RunPath>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::WORKFLOWS_WRITE, Nav::Workflows)?;
    let id = run_id(&org, &path.run_id)?;
    let result = async {
        let reason = Reason::parse("reason", &form.text("reason"))?;
        state
            .store()
            .org(&org.scope)
            .abort_workflow_run(id, reason.into_string())
            .await?;
        Ok::<(), ApiError>(())
    }
    .await;
    after(&state, &org, id, result).await
}
