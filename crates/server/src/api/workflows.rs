//! Workflow runs: an effective protocol version run on a sample or a closed batch, its steps
//! recorded in order and signed (password re-entered), critical steps verified by a second
//! person, completion signed, abort with a reason; a completed or aborted run never changes.

use super::signatures::{confirm_signer, SignatureView};
use super::{CommonErrors, InputErrors, SigningErrors};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, AuthUser, ClientInfo, OrgAccess, RecordId};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use labledger_domain::protocol::Step;
use labledger_domain::validate::Reason;
use labledger_domain::workflow::{
    check_record, check_step_index, check_values, RunRefusal, RunStatus,
};
use labledger_domain::{
    BatchId, FieldError, FieldErrors, Permission, ProtocolVersionId, SampleId, Timestamp,
    WorkflowRunId,
};
use labledger_store::{OrgScope, RunDetail, RunFilter, RunTarget, WorkflowRun};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, ToSchema)]
pub struct RunView {
    #[schema(value_type = String, format = Uuid)]
    pub id: String,
    /// The run's number in the org (newest highest).
    pub seq: i64,
    #[schema(value_type = String, format = Uuid)]
    pub protocol_version_id: String,
    #[schema(value_type = String, format = Uuid)]
    pub protocol_id: String,
    pub protocol_title: String,
    pub version: i64,
    /// sample or batch.
    pub target_type: String,
    pub sample_id: Option<String>,
    pub batch_id: Option<String>,
    /// The sample's or batch's code.
    pub target_code: String,
    /// in_progress, completed or aborted.
    pub status: String,
    pub abort_reason: Option<String>,
    pub started_by: String,
    pub started_at: String,
    pub updated_at: String,
    pub ended_by: Option<String>,
    pub ended_at: Option<String>,
    pub step_count: usize,
    pub recorded_count: i64,
}

impl From<WorkflowRun> for RunView {
    fn from(r: WorkflowRun) -> Self {
        Self {
            id: r.id.to_string(),
            seq: r.seq,
            protocol_version_id: r.protocol_version_id.to_string(),
            protocol_id: r.protocol_id.to_string(),
            protocol_title: r.protocol_title,
            version: r.version,
            target_type: r.target_type.as_str().to_owned(),
            sample_id: r.sample_id.map(|s| s.to_string()),
            batch_id: r.batch_id.map(|b| b.to_string()),
            target_code: r.target_code,
            status: r.status.as_str().to_owned(),
            abort_reason: r.abort_reason,
            started_by: r.started_by.to_string(),
            started_at: r.started_at.to_rfc3339(),
            updated_at: r.updated_at.to_rfc3339(),
            ended_by: r.ended_by.map(|u| u.to_string()),
            ended_at: r.ended_at.map(Timestamp::to_rfc3339),
            step_count: r.step_count,
            recorded_count: r.recorded_count,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RunStepView {
    pub index: usize,
    pub title: String,
    pub instructions: String,
    pub critical: bool,
    /// The step's expected inputs (`name`, `type`, `unit`, `min`, `max`, `options`).
    #[schema(value_type = Vec<Object>)]
    pub inputs: Vec<labledger_domain::protocol::ExpectedInput>,
    /// Whether the step is recorded.
    pub recorded: bool,
    #[schema(value_type = Option<Object>)]
    pub values: Option<Map<String, Value>>,
    pub performed_by: Option<String>,
    pub performer_name: Option<String>,
    pub performed_at: Option<String>,
    pub verified_by: Option<String>,
    pub verifier_name: Option<String>,
    pub verified_at: Option<String>,
    /// The performer's (`performed`) and verifier's (`verified`) signatures, checked.
    pub signatures: Vec<SignatureView>,
}

#[derive(Serialize, ToSchema)]
pub struct RunDetailView {
    #[serde(flatten)]
    pub run: RunView,
    pub steps: Vec<RunStepView>,
    /// The samples the run covers (one, or the batch's).
    pub samples: Vec<RunSampleView>,
    /// The completion signature (`closed`), checked against the run's content now.
    pub signatures: Vec<SignatureView>,
}

#[derive(Serialize, ToSchema)]
pub struct RunSampleView {
    #[schema(value_type = String, format = Uuid)]
    pub id: String,
    pub code: String,
}

pub(crate) fn step_views(d: &RunDetail, sigs: &labledger_store::RunSignatures) -> Vec<RunStepView> {
    d.steps
        .iter()
        .enumerate()
        .map(|(i, s): (usize, &Step)| {
            let rec = d.recorded.iter().find(|r| r.index == i);
            RunStepView {
                index: i,
                title: s.title.clone(),
                instructions: s.instructions.clone(),
                critical: s.critical,
                inputs: s.inputs.clone(),
                recorded: rec.is_some(),
                values: rec.map(|r| r.values.clone()),
                performed_by: rec.map(|r| r.performed_by.to_string()),
                performer_name: rec.map(|r| r.performer_name.clone()),
                performed_at: rec.map(|r| r.performed_at.to_rfc3339()),
                verified_by: rec.and_then(|r| r.verified_by.map(|u| u.to_string())),
                verifier_name: rec.and_then(|r| r.verifier_name.clone()),
                verified_at: rec.and_then(|r| r.verified_at.map(Timestamp::to_rfc3339)),
                signatures: sigs
                    .steps
                    .iter()
                    .find(|(j, _)| *j == i)
                    .map(|(_, v)| v.iter().cloned().map(Into::into).collect())
                    .unwrap_or_default(),
            }
        })
        .collect()
}

pub(crate) async fn detail_view(
    state: &AppState,
    scope: &OrgScope,
    id: WorkflowRunId,
) -> ApiResult<RunDetailView> {
    let org = state.store().org(scope);
    let d = org.workflow_run(id).await?;
    let sigs = org.workflow_run_signatures(&d).await?;
    Ok(RunDetailView {
        steps: step_views(&d, &sigs),
        samples: d
            .samples
            .iter()
            .map(|(s, c)| RunSampleView {
                id: s.to_string(),
                code: c.clone(),
            })
            .collect(),
        signatures: sigs.run.into_iter().map(Into::into).collect(),
        run: d.run.into(),
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRunRequest {
    /// An effective protocol version (a draft or superseded one: 409).
    #[schema(value_type = String, format = Uuid)]
    pub protocol_version_id: String,
    /// Run on this sample…
    #[schema(value_type = Option<String>, format = Uuid)]
    pub sample_id: Option<String>,
    /// …or on every sample of this closed batch at once.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub batch_id: Option<String>,
}

fn parse_uuid<T: std::str::FromStr>(errors: &mut FieldErrors, field: &str, raw: &str) -> Option<T> {
    let r = raw.trim().parse::<T>().ok();
    if r.is_none() {
        errors.push(FieldError::new(field, "must be an id (UUID)"));
    }
    r
}

pub(crate) fn parse_start(
    version: &str,
    sample: Option<&str>,
    batch: Option<&str>,
) -> Result<(ProtocolVersionId, RunTarget), ApiError> {
    let mut errors = FieldErrors::default();
    let v = parse_uuid::<ProtocolVersionId>(&mut errors, "protocol_version_id", version);
    let sample = sample.filter(|s| !s.trim().is_empty());
    let batch = batch.filter(|s| !s.trim().is_empty());
    let target = match (sample, batch) {
        (Some(s), None) => {
            parse_uuid::<SampleId>(&mut errors, "sample_id", s).map(RunTarget::Sample)
        }
        (None, Some(b)) => parse_uuid::<BatchId>(&mut errors, "batch_id", b).map(RunTarget::Batch),
        (Some(_), Some(_)) => {
            errors.push(FieldError::new(
                "batch_id",
                "name a sample or a batch, not both",
            ));
            None
        }
        (None, None) => {
            errors.push(FieldError::new(
                "sample_id",
                "name a sample_id or a batch_id",
            ));
            None
        }
    };
    errors.into_result()?;
    match (v, target) {
        (Some(v), Some(t)) => Ok((v, t)),
        _ => Err(ApiError::Internal("validated run target missing".into())),
    }
}

/// Start a run of an effective protocol version on a sample or on every sample of a closed
/// batch (an open batch: 409).
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/workflow-runs", tag = "workflows",
    params(("org_id" = String, Path, description = "Organization id")),
    request_body = StartRunRequest,
    responses((status = 201, body = RunDetailView), CommonErrors, InputErrors),
    security(("session" = ["workflows:read", "workflows:write"]))
)]
pub async fn start_workflow_run(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    ApiJson(req): ApiJson<StartRunRequest>,
) -> ApiResult<(StatusCode, Json<RunDetailView>)> {
    scope.require(Permission::WORKFLOWS_WRITE)?;
    scope.require(Permission::WORKFLOWS_READ)?;
    let (version, target) = parse_start(
        &req.protocol_version_id,
        req.sample_id.as_deref(),
        req.batch_id.as_deref(),
    )?;
    let d = state
        .store()
        .org(&scope)
        .start_workflow_run(version, target)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(detail_view(&state, &scope, d.run.id).await?),
    ))
}

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunQuery {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// in_progress, completed or aborted.
    pub status: Option<String>,
    /// Runs covering this sample (directly or through a batch).
    pub sample_id: Option<String>,
    /// Runs on this batch.
    pub batch_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RunPage {
    pub items: Vec<RunView>,
    pub next_cursor: Option<String>,
}

pub(crate) fn run_filter(q: RunQuery) -> ApiResult<(RunFilter, u32)> {
    let (limit, before) = crate::extract::page_params(q.limit, q.cursor)?;
    let bad = |e: FieldError| ApiError::BadRequest("A query parameter is invalid.".into(), vec![e]);
    let status = q
        .status
        .filter(|s| !s.is_empty())
        .map(|s| RunStatus::parse("status", &s))
        .transpose()
        .map_err(bad)?;
    let sample_id = q
        .sample_id
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<SampleId>()
                .map_err(|_| bad(FieldError::new("sample_id", "must be an id (UUID)")))
        })
        .transpose()?;
    let batch_id = q
        .batch_id
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<BatchId>()
                .map_err(|_| bad(FieldError::new("batch_id", "must be an id (UUID)")))
        })
        .transpose()?;
    Ok((
        RunFilter {
            status,
            sample_id,
            batch_id,
            before_seq: before,
        },
        limit,
    ))
}

/// List runs, newest first, with keyset pagination; filter by status, sample or batch.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/workflow-runs", tag = "workflows",
    params(("org_id" = String, Path, description = "Organization id"), RunQuery),
    responses(
        (status = 200, body = RunPage),
        (status = 400, description = "A query parameter is invalid", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("session" = ["workflows:read"]))
)]
pub async fn list_workflow_runs(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    ApiQuery(q): ApiQuery<RunQuery>,
) -> ApiResult<Json<RunPage>> {
    scope.require(Permission::WORKFLOWS_READ)?;
    let (filter, limit) = run_filter(q)?;
    let (items, next) = state
        .store()
        .org(&scope)
        .workflow_runs_page(filter, limit)
        .await?;
    Ok(Json(RunPage {
        items: items.into_iter().map(Into::into).collect(),
        next_cursor: next.map(|n| n.to_string()),
    }))
}

/// One run with its steps, values, performers, verifiers and signatures (each checked).
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/workflow-runs/{run_id}", tag = "workflows",
    params(("org_id" = String, Path, description = "Organization id"), ("run_id" = String, Path, description = "Run id")),
    responses((status = 200, body = RunDetailView), CommonErrors),
    security(("session" = ["workflows:read"]))
)]
pub async fn get_workflow_run(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<WorkflowRunId>,
) -> ApiResult<Json<RunDetailView>> {
    Ok(Json(detail_view(&state, &scope, id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordStepRequest {
    /// The step to record (0-based): the next one in order.
    pub step_index: i64,
    /// One value per expected input of the step, by input name: a number (or
    /// `{"value", "unit"}` in the input's unit), a choice, true/false, or text.
    #[schema(value_type = Object)]
    pub values: Map<String, Value>,
    /// The performer's password, entered now (the step's sign-off).
    pub password: String,
    /// The authenticator's current code; required when the signer uses MFA.
    #[serde(default)]
    pub totp_code: Option<String>,
    /// Instead of `totp_code`: an unused recovery code.
    #[serde(default)]
    pub recovery_code: Option<String>,
}

/// The signer's credentials, entered at signing.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunSignRequest {
    pub password: String,
    #[serde(default)]
    pub totp_code: Option<String>,
    #[serde(default)]
    pub recovery_code: Option<String>,
}

/// Checks a step before the password is asked for (the store checks again in its transaction),
/// so a typo in a value costs no signing attempt.
pub(crate) fn precheck_step(
    d: &RunDetail,
    index: i64,
    values: &Map<String, Value>,
) -> ApiResult<()> {
    let index = check_step_index("step_index", &d.steps, index)?;
    check_record(d.run.status, &d.steps, &d.recorded_steps(), index)
        .map_err(|e: RunRefusal| ApiError::Refused(e.to_string()))?;
    let step = d
        .steps
        .get(index)
        .ok_or_else(|| ApiError::Internal("checked step missing".into()))?;
    check_values(&step.inputs, values).map_err(ApiError::from)?;
    Ok(())
}

/// Record the next step with its values and sign it (meaning `performed`; password and code
/// re-entered). Bad values: 422 naming `values.<input>`; out of order, recorded already, awaiting
/// a critical step's verification, or a final run: 409. Nothing is recorded then.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/workflow-runs/{run_id}/steps", tag = "workflows",
    params(("org_id" = String, Path, description = "Organization id"), ("run_id" = String, Path, description = "Run id")),
    request_body = RecordStepRequest,
    responses(
        (status = 200, body = RunDetailView),
        CommonErrors, InputErrors, SigningErrors
    ),
    security(("session" = ["workflows:read", "workflows:write"]))
)]
pub async fn record_workflow_step(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    user: AuthUser,
    client: ClientInfo,
    RecordId(id): RecordId<WorkflowRunId>,
    ApiJson(req): ApiJson<RecordStepRequest>,
) -> ApiResult<Json<RunDetailView>> {
    scope.require(Permission::WORKFLOWS_WRITE)?;
    scope.require_user()?;
    let d = state.store().org(&scope).workflow_run(id).await?;
    precheck_step(&d, req.step_index, &req.values)?;
    let signer = confirm_signer(
        &state,
        &user,
        &client,
        req.password,
        req.totp_code,
        req.recovery_code,
    )
    .await?;
    state
        .store()
        .org(&scope)
        .record_workflow_step(id, req.step_index, req.values, signer)
        .await?;
    Ok(Json(detail_view(&state, &scope, id).await?))
}

#[derive(Deserialize)]
pub struct StepPath {
    #[allow(dead_code)]
    org_id: String,
    run_id: String,
    step_index: String,
}

/// Verify a recorded critical step (meaning `verified`; password and code re-entered) as a
/// second person: its performer is refused (403); a step not critical, not recorded, verified
/// already, or a final run: 409.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/workflow-runs/{run_id}/steps/{step_index}/verify", tag = "workflows",
    params(
        ("org_id" = String, Path, description = "Organization id"),
        ("run_id" = String, Path, description = "Run id"),
        ("step_index" = String, Path, description = "The step's index (0-based)")
    ),
    request_body = RunSignRequest,
    responses(
        (status = 200, body = RunDetailView),
        CommonErrors, InputErrors, SigningErrors
    ),
    security(("session" = ["workflows:read", "workflows:write"]))
)]
pub async fn verify_workflow_step(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    user: AuthUser,
    client: ClientInfo,
    Path(path): Path<StepPath>,
    ApiJson(req): ApiJson<RunSignRequest>,
) -> ApiResult<Json<RunDetailView>> {
    scope.require(Permission::WORKFLOWS_WRITE)?;
    scope.require_user()?;
    let id: WorkflowRunId = path.run_id.parse().map_err(|_| ApiError::NotFound)?;
    let d = state.store().org(&scope).workflow_run(id).await?;
    let index: usize = path
        .step_index
        .parse()
        .ok()
        .filter(|i| *i < d.steps.len())
        .ok_or(ApiError::NotFound)?;
    labledger_domain::workflow::check_verify(
        d.run.status,
        &d.steps,
        &d.recorded_steps(),
        index,
        &user.user_id.to_string(),
    )
    .map_err(|e| match e {
        RunRefusal::SelfVerification(_) => {
            ApiError::from(labledger_store::StoreError::NotAllowed(e.to_string()))
        }
        other => ApiError::Refused(other.to_string()),
    })?;
    let signer = confirm_signer(
        &state,
        &user,
        &client,
        req.password,
        req.totp_code,
        req.recovery_code,
    )
    .await?;
    state
        .store()
        .org(&scope)
        .verify_workflow_step(id, index, signer)
        .await?;
    Ok(Json(detail_view(&state, &scope, id).await?))
}

/// Complete a run whose steps are all recorded and critical ones verified, with an e-signature
/// (meaning `closed`). From then on the run never changes.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/workflow-runs/{run_id}/complete", tag = "workflows",
    params(("org_id" = String, Path, description = "Organization id"), ("run_id" = String, Path, description = "Run id")),
    request_body = RunSignRequest,
    responses(
        (status = 200, body = RunDetailView),
        CommonErrors, InputErrors, SigningErrors
    ),
    security(("session" = ["workflows:read", "workflows:write"]))
)]
pub async fn complete_workflow_run(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    user: AuthUser,
    client: ClientInfo,
    RecordId(id): RecordId<WorkflowRunId>,
    ApiJson(req): ApiJson<RunSignRequest>,
) -> ApiResult<Json<RunDetailView>> {
    scope.require(Permission::WORKFLOWS_WRITE)?;
    scope.require_user()?;
    let d = state.store().org(&scope).workflow_run(id).await?;
    labledger_domain::workflow::check_complete(d.run.status, &d.steps, &d.recorded_steps())
        .map_err(|e| ApiError::Refused(e.to_string()))?;
    let signer = confirm_signer(
        &state,
        &user,
        &client,
        req.password,
        req.totp_code,
        req.recovery_code,
    )
    .await?;
    state
        .store()
        .org(&scope)
        .complete_workflow_run(id, signer)
        .await?;
    Ok(Json(detail_view(&state, &scope, id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AbortRunRequest {
    /// Why the run is aborted (1 to 1,000 characters).
    pub reason: String,
}

/// Abort an in-progress run with a reason; final (a completed or aborted run: 409).
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/workflow-runs/{run_id}/abort", tag = "workflows",
    params(("org_id" = String, Path, description = "Organization id"), ("run_id" = String, Path, description = "Run id")),
    request_body = AbortRunRequest,
    responses((status = 200, body = RunDetailView), CommonErrors, InputErrors),
    security(("session" = ["workflows:read", "workflows:write"]))
)]
pub async fn abort_workflow_run(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<WorkflowRunId>,
    ApiJson(req): ApiJson<AbortRunRequest>,
) -> ApiResult<Json<RunDetailView>> {
    scope.require(Permission::WORKFLOWS_WRITE)?;
    scope.require(Permission::WORKFLOWS_READ)?;
    let reason = Reason::parse("reason", &req.reason).map_err(ApiError::from)?;
    state
        .store()
        .org(&scope)
        .abort_workflow_run(id, reason.into_string())
        .await?;
    Ok(Json(detail_view(&state, &scope, id).await?))
}
