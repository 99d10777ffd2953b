//! Compliance records (deviations, CAPA): open, investigate, link, assign, record root cause and
//! actions, sign (reviewed/verified) and close with an e-signature of a QA member.

use super::samples::optional_text;
use super::signatures::{confirm_signer, SignRequest, SignatureView};
use super::{CommonErrors, InputErrors, SigningErrors};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, AuthUser, ClientInfo, OrgAccess, RecordId};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use labledger_domain::compliance::{ComplianceState, LinkTarget, RecordKind};
use labledger_domain::signature::SignatureMeaning;
use labledger_domain::{ComplianceRecordId, FieldError, FieldErrors, Permission, Timestamp};
use labledger_store::{
    ComplianceFilter, CompliancePatch, ComplianceRecord, NewComplianceRecord, OrgScope,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, ToSchema)]
pub struct LinkView {
    /// sample, protocol_version, batch or workflow_run.
    pub record_type: String,
    pub record_id: String,
    /// A sample or batch code, `protocol title vN` or `Run N`, when known.
    pub label: Option<String>,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct ComplianceView {
    #[schema(value_type = String, format = Uuid)]
    pub id: String,
    /// deviation or capa.
    pub kind: String,
    /// `DEV-000001`, `CAPA-000001`.
    pub code: String,
    /// open, investigating or closed.
    pub state: String,
    pub title: String,
    pub description: String,
    pub owner_id: Option<String>,
    pub owner_name: Option<String>,
    pub due_at: Option<String>,
    /// Not closed and past its due date.
    pub overdue: bool,
    pub root_cause: Option<String>,
    pub actions: Option<String>,
    pub opened_by: String,
    pub created_at: String,
    pub updated_at: String,
    pub closed_at: Option<String>,
    pub links: Vec<LinkView>,
    /// SHA-256 (hex) of the record's RFC 8785 canonical content now.
    pub content_sha256: String,
    /// Present on single-record answers: its signatures, each checked against its content now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signatures: Option<Vec<SignatureView>>,
}

impl From<ComplianceRecord> for ComplianceView {
    fn from(r: ComplianceRecord) -> Self {
        let hash = labledger_domain::signature::content_hash(&r.canonical_content());
        let overdue = r.is_overdue(Timestamp::now());
        Self {
            id: r.id.to_string(),
            kind: r.kind.as_str().to_owned(),
            code: r.code,
            state: r.state.as_str().to_owned(),
            title: r.title,
            description: r.description,
            owner_id: r.owner_id.map(|u| u.to_string()),
            owner_name: r.owner_name,
            due_at: r.due_at.map(Timestamp::to_rfc3339),
            overdue,
            root_cause: r.root_cause,
            actions: r.actions,
            opened_by: r.opened_by.to_string(),
            created_at: r.created_at.to_rfc3339(),
            updated_at: r.updated_at.to_rfc3339(),
            closed_at: r.closed_at.map(Timestamp::to_rfc3339),
            links: r
                .links
                .into_iter()
                .map(|l| LinkView {
                    record_type: l.to_type,
                    record_id: l.to_id,
                    label: l.label,
                    created_at: l.created_at.to_rfc3339(),
                })
                .collect(),
            content_sha256: hex::encode(hash),
            signatures: None,
        }
    }
}

pub(crate) async fn record_with_signatures(
    state: &AppState,
    scope: &OrgScope,
    id: ComplianceRecordId,
) -> ApiResult<ComplianceView> {
    let org = state.store().org(scope);
    let rec = org.compliance_record(id).await?;
    let sigs = org.compliance_signatures(&rec).await?;
    let mut view = ComplianceView::from(rec);
    view.signatures = Some(sigs.into_iter().map(Into::into).collect());
    Ok(view)
}

fn required_text(errors: &mut FieldErrors, field: &str, v: &str, max: usize) -> Option<String> {
    let t = v.trim();
    if t.is_empty() {
        errors.push(FieldError::new(field, "must not be empty"));
        return None;
    }
    if t.contains('\n') && field == "title" {
        errors.push(FieldError::new(field, "must be one line"));
        return None;
    }
    optional_text(errors, field, Some(t.to_owned()), max)
}

fn due_date(errors: &mut FieldErrors, v: Option<String>) -> Option<Option<Timestamp>> {
    let v = v?;
    if v.trim().is_empty() {
        return Some(None);
    }
    match Timestamp::parse_rfc3339(v.trim()) {
        Some(t) => Some(Some(t)),
        None => {
            errors.push(FieldError::new(
                "due_at",
                "must be an RFC 3339 UTC time such as 2026-01-31T12:00:00Z, or a date",
            ));
            None
        }
    }
}

fn owner(errors: &mut FieldErrors, v: Option<String>) -> Option<Option<labledger_domain::UserId>> {
    let v = v?;
    if v.trim().is_empty() {
        return Some(None);
    }
    match v.trim().parse() {
        Ok(u) => Some(Some(u)),
        Err(_) => {
            errors.push(FieldError::new("owner_id", "must be a member's user id"));
            None
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComplianceRequest {
    /// deviation or capa.
    pub kind: String,
    /// 1 to 200 characters.
    pub title: String,
    /// What happened (at most 10,000 characters).
    #[serde(default)]
    #[schema(max_length = 10000)]
    pub description: Option<String>,
    /// The member responsible (user id).
    #[serde(default)]
    pub owner_id: Option<String>,
    /// RFC 3339 UTC, or a date.
    #[serde(default)]
    pub due_at: Option<String>,
}

/// Open a deviation or CAPA record (state `open`, code `DEV-…`/`CAPA-…`).
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/compliance-records", tag = "compliance",
    params(("org_id" = String, Path, description = "Organization id")),
    request_body = NewComplianceRequest,
    responses((status = 201, body = ComplianceView), CommonErrors, InputErrors),
    security(("session" = ["compliance_records:write"]))
)]
pub async fn open_compliance_record(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    ApiJson(req): ApiJson<NewComplianceRequest>,
) -> ApiResult<(StatusCode, Json<ComplianceView>)> {
    scope.require(Permission::COMPLIANCE_WRITE)?;
    let mut errors = FieldErrors::default();
    let kind = errors.check(RecordKind::parse("kind", req.kind.trim()));
    let title = required_text(&mut errors, "title", &req.title, 200);
    let description = optional_text(&mut errors, "description", req.description, 10_000);
    let owner_id = owner(&mut errors, req.owner_id).flatten();
    let due_at = due_date(&mut errors, req.due_at).flatten();
    errors.into_result()?;
    let (Some(kind), Some(title)) = (kind, title) else {
        return Err(ApiError::Internal("validated record missing".into()));
    };
    let rec = state
        .store()
        .org(&scope)
        .open_compliance_record(NewComplianceRecord {
            kind,
            title,
            description: description.unwrap_or_default(),
            owner_id,
            due_at,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(rec.into())))
}

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ComplianceQuery {
    /// deviation or capa.
    pub kind: Option<String>,
    /// open, investigating or closed.
    pub state: Option<String>,
    /// Page size, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct ComplianceList {
    pub items: Vec<ComplianceView>,
}

/// List deviations and CAPA records, newest first.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/compliance-records", tag = "compliance",
    params(("org_id" = String, Path, description = "Organization id"), ComplianceQuery),
    responses(
        (status = 200, body = ComplianceList),
        (status = 400, description = "A query parameter is invalid", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("session" = ["compliance_records:read"]))
)]
pub async fn list_compliance_records(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    ApiQuery(q): ApiQuery<ComplianceQuery>,
) -> ApiResult<Json<ComplianceList>> {
    let bad = |e: FieldError| ApiError::BadRequest("A query parameter is invalid.".into(), vec![e]);
    let kind = q
        .kind
        .filter(|s| !s.is_empty())
        .map(|s| RecordKind::parse("kind", &s))
        .transpose()
        .map_err(bad)?;
    let st = q
        .state
        .filter(|s| !s.is_empty())
        .map(|s| ComplianceState::parse("state", &s))
        .transpose()
        .map_err(bad)?;
    let (limit, _) = crate::extract::page_params(q.limit.or(Some(100)), None)?;
    let items = state
        .store()
        .org(&scope)
        .compliance_records(
            ComplianceFilter {
                kind,
                state: st,
                overdue: false,
            },
            limit,
        )
        .await?;
    Ok(Json(ComplianceList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// Records not closed whose due date has passed, soonest due first (the dashboard's list).
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/compliance-records/overdue", tag = "compliance",
    params(("org_id" = String, Path, description = "Organization id")),
    responses((status = 200, body = ComplianceList), CommonErrors),
    security(("session" = ["compliance_records:read"]))
)]
pub async fn overdue_compliance_records(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
) -> ApiResult<Json<ComplianceList>> {
    let items = state
        .store()
        .org(&scope)
        .compliance_records(
            ComplianceFilter {
                overdue: true,
                ..Default::default()
            },
            500,
        )
        .await?;
    Ok(Json(ComplianceList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// One record with its links and signatures (each checked against its content now).
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/compliance-records/{record_id}", tag = "compliance",
    params(("org_id" = String, Path, description = "Organization id"), ("record_id" = String, Path, description = "Record id")),
    responses((status = 200, body = ComplianceView), CommonErrors),
    security(("session" = ["compliance_records:read"]))
)]
pub async fn get_compliance_record(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<ComplianceRecordId>,
) -> ApiResult<Json<ComplianceView>> {
    Ok(Json(record_with_signatures(&state, &scope, id).await?))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CompliancePatchRequest {
    pub title: Option<String>,
    #[schema(max_length = 10000)]
    pub description: Option<String>,
    /// A member's user id; empty clears it.
    pub owner_id: Option<String>,
    /// RFC 3339 UTC or a date; empty clears it.
    pub due_at: Option<String>,
    /// Empty clears it.
    #[schema(max_length = 10000)]
    pub root_cause: Option<String>,
    /// Empty clears it.
    #[schema(max_length = 10000)]
    pub actions: Option<String>,
}

pub(crate) fn validate_patch(req: CompliancePatchRequest) -> Result<CompliancePatch, ApiError> {
    let mut errors = FieldErrors::default();
    let title = req
        .title
        .as_deref()
        .and_then(|t| required_text(&mut errors, "title", t, 200));
    let description = req
        .description
        .map(|d| optional_text(&mut errors, "description", Some(d), 10_000).unwrap_or_default());
    let owner_id = owner(&mut errors, req.owner_id);
    let due_at = due_date(&mut errors, req.due_at);
    let root_cause = req
        .root_cause
        .map(|v| optional_text(&mut errors, "root_cause", Some(v), 10_000));
    let actions = req
        .actions
        .map(|v| optional_text(&mut errors, "actions", Some(v), 10_000));
    errors.into_result()?;
    Ok(CompliancePatch {
        title,
        description,
        owner_id,
        due_at,
        root_cause,
        actions,
    })
}

/// Change an open or investigating record: title, description, owner, due date, root cause,
/// actions (a closed record answers 409).
#[utoipa::path(
    patch, path = "/api/v1/orgs/{org_id}/compliance-records/{record_id}", tag = "compliance",
    params(("org_id" = String, Path, description = "Organization id"), ("record_id" = String, Path, description = "Record id")),
    request_body = CompliancePatchRequest,
    responses((status = 200, body = ComplianceView), CommonErrors, InputErrors),
    security(("session" = ["compliance_records:read", "compliance_records:write"]))
)]
pub async fn update_compliance_record(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<ComplianceRecordId>,
    ApiJson(req): ApiJson<CompliancePatchRequest>,
) -> ApiResult<Json<ComplianceView>> {
    scope.require(Permission::COMPLIANCE_WRITE)?;
    scope.require(Permission::COMPLIANCE_READ)?;
    let patch = validate_patch(req)?;
    state
        .store()
        .org(&scope)
        .update_compliance_record(id, patch)
        .await?;
    Ok(Json(record_with_signatures(&state, &scope, id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplianceTransitionRequest {
    /// `investigating` (closing is the close action, with a signature).
    pub to: String,
}

/// Move a record along its lifecycle (open → investigating); an illegal move is 409.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/compliance-records/{record_id}/transitions", tag = "compliance",
    params(("org_id" = String, Path, description = "Organization id"), ("record_id" = String, Path, description = "Record id")),
    request_body = ComplianceTransitionRequest,
    responses((status = 200, body = ComplianceView), CommonErrors, InputErrors),
    security(("session" = ["compliance_records:read", "compliance_records:write"]))
)]
pub async fn transition_compliance_record(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<ComplianceRecordId>,
    ApiJson(req): ApiJson<ComplianceTransitionRequest>,
) -> ApiResult<Json<ComplianceView>> {
    scope.require(Permission::COMPLIANCE_WRITE)?;
    scope.require(Permission::COMPLIANCE_READ)?;
    let to = ComplianceState::parse("to", req.to.trim()).map_err(ApiError::from)?;
    state
        .store()
        .org(&scope)
        .transition_compliance_record(id, to)
        .await?;
    Ok(Json(record_with_signatures(&state, &scope, id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// sample, protocol_version, batch or workflow_run.
    pub record_type: String,
    #[schema(value_type = String, format = Uuid)]
    pub record_id: String,
}

/// Link the record to a sample or a protocol version of the organization.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/compliance-records/{record_id}/links", tag = "compliance",
    params(("org_id" = String, Path, description = "Organization id"), ("record_id" = String, Path, description = "Record id")),
    request_body = LinkRequest,
    responses((status = 200, body = ComplianceView), CommonErrors, InputErrors),
    security(("session" = ["compliance_records:read", "compliance_records:write"]))
)]
pub async fn link_compliance_record(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<ComplianceRecordId>,
    ApiJson(req): ApiJson<LinkRequest>,
) -> ApiResult<Json<ComplianceView>> {
    scope.require(Permission::COMPLIANCE_WRITE)?;
    scope.require(Permission::COMPLIANCE_READ)?;
    let mut errors = FieldErrors::default();
    let target = errors.check(LinkTarget::parse("record_type", req.record_type.trim()));
    let target_id = req.record_id.trim().to_owned();
    if target_id.parse::<uuid::Uuid>().is_err() {
        errors.push(FieldError::new("record_id", "must be a record id"));
    }
    errors.into_result()?;
    let target = target.ok_or_else(|| ApiError::Internal("validated link missing".into()))?;
    state
        .store()
        .org(&scope)
        .link_compliance_record(id, target, target_id)
        .await?;
    Ok(Json(record_with_signatures(&state, &scope, id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplianceSignRequest {
    /// reviewed, verified or authored (closing is the close action).
    pub meaning: String,
    /// The signer's password, entered now.
    pub password: String,
    /// The authenticator's current code; required when the signer uses MFA.
    #[serde(default)]
    pub totp_code: Option<String>,
    /// Instead of `totp_code`: an unused recovery code.
    #[serde(default)]
    pub recovery_code: Option<String>,
}

/// Sign the record as it is now (reviewed, verified or authored), re-entering the password (and
/// code, with MFA). A later change of the record shows the signature as invalid.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/compliance-records/{record_id}/signatures", tag = "compliance",
    params(("org_id" = String, Path, description = "Organization id"), ("record_id" = String, Path, description = "Record id")),
    request_body = ComplianceSignRequest,
    responses(
        (status = 201, body = SignatureView),
        CommonErrors, InputErrors, SigningErrors
    ),
    security(("session" = ["compliance_records:read", "compliance_records:write"]))
)]
pub async fn sign_compliance_record(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    user: AuthUser,
    client: ClientInfo,
    RecordId(id): RecordId<ComplianceRecordId>,
    ApiJson(req): ApiJson<ComplianceSignRequest>,
) -> ApiResult<(StatusCode, Json<SignatureView>)> {
    scope.require(Permission::COMPLIANCE_WRITE)?;
    scope.require(Permission::COMPLIANCE_READ)?;
    scope.require_user()?;
    let meaning = SignatureMeaning::parse("meaning", req.meaning.trim()).map_err(ApiError::from)?;
    if matches!(
        meaning,
        SignatureMeaning::Closed | SignatureMeaning::Approved
    ) {
        return Err(ApiError::from(FieldError::new(
            "meaning",
            "closing is its own action; use reviewed, verified or authored",
        )));
    }
    state.store().org(&scope).compliance_record(id).await?;
    let signer = confirm_signer(
        &state,
        &user,
        &client,
        req.password,
        req.totp_code,
        req.recovery_code,
    )
    .await?;
    let sig = state
        .store()
        .org(&scope)
        .sign_compliance_record(id, meaning, signer)
        .await?;
    Ok((StatusCode::CREATED, Json(sig.into())))
}

/// Close an investigated record (root cause and actions recorded) with an e-signature (meaning
/// `closed`) of a member holding compliance_records:approve; the record is final afterwards.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/compliance-records/{record_id}/close", tag = "compliance",
    params(("org_id" = String, Path, description = "Organization id"), ("record_id" = String, Path, description = "Record id")),
    request_body = SignRequest,
    responses(
        (status = 200, body = ComplianceView),
        CommonErrors, InputErrors, SigningErrors
    ),
    security(("session" = ["compliance_records:read", "compliance_records:approve"]))
)]
pub async fn close_compliance_record(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    user: AuthUser,
    client: ClientInfo,
    RecordId(id): RecordId<ComplianceRecordId>,
    ApiJson(req): ApiJson<SignRequest>,
) -> ApiResult<Json<ComplianceView>> {
    scope.require(Permission::COMPLIANCE_APPROVE)?;
    scope.require(Permission::COMPLIANCE_READ)?;
    scope.require_user()?;
    state.store().org(&scope).compliance_record(id).await?;
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
        .close_compliance_record(id, signer)
        .await?;
    Ok(Json(record_with_signatures(&state, &scope, id).await?))
}
