//! Protocols (SOPs): versions with a markdown body and structured steps, approval by
//! e-signature, superseding, and a line diff between versions.

use super::signatures::{confirm_signer, SignRequest, SignatureView};
use super::{CommonErrors, InputErrors, SigningErrors};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, AuthUser, ClientInfo, OrgAccess};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use labledger_domain::protocol::{
    body_lines, check_body, check_steps, line_diff, parse_title, steps_as_lines, DiffLine, Step,
};
use labledger_domain::{FieldErrors, Permission, ProtocolId, ProtocolVersionId, Timestamp};
use labledger_store::{Protocol, ProtocolVersion, VersionContent, VersionPatch};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, ToSchema)]
pub struct ProtocolView {
    #[schema(value_type = String, format = Uuid)]
    pub id: String,
    pub title: String,
    /// The number of the effective version, if one is.
    pub effective_version: Option<i64>,
    pub latest_version: i64,
    #[schema(value_type = String, format = Uuid)]
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Protocol> for ProtocolView {
    fn from(p: Protocol) -> Self {
        Self {
            id: p.id.to_string(),
            title: p.title,
            effective_version: p.effective_version,
            latest_version: p.latest_version,
            created_by: p.created_by.to_string(),
            created_at: p.created_at.to_rfc3339(),
            updated_at: p.updated_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct VersionView {
    #[schema(value_type = String, format = Uuid)]
    pub id: String,
    #[schema(value_type = String, format = Uuid)]
    pub protocol_id: String,
    pub version: i64,
    /// draft, effective or superseded.
    pub state: String,
    pub title: String,
    /// Markdown.
    pub body: String,
    #[schema(value_type = Vec<Object>)]
    pub steps: Vec<Step>,
    pub change_note: Option<String>,
    #[schema(value_type = String, format = Uuid)]
    pub author_id: String,
    pub author_name: String,
    #[schema(value_type = String, format = Uuid)]
    pub last_editor_id: String,
    pub created_at: String,
    pub updated_at: String,
    pub effective_at: Option<String>,
    pub superseded_at: Option<String>,
    /// SHA-256 (hex) of the version's RFC 8785 canonical content now.
    pub content_sha256: String,
    /// Present on single-version answers: the version's signatures, each checked against its
    /// content now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signatures: Option<Vec<SignatureView>>,
}

impl From<ProtocolVersion> for VersionView {
    fn from(v: ProtocolVersion) -> Self {
        let hash = labledger_domain::signature::content_hash(&v.canonical_content());
        Self {
            id: v.id.to_string(),
            protocol_id: v.protocol_id.to_string(),
            version: v.version,
            state: v.state.as_str().to_owned(),
            title: v.title,
            body: v.body,
            steps: v.steps,
            change_note: v.change_note,
            author_id: v.author_id.to_string(),
            author_name: v.author_name,
            last_editor_id: v.last_editor_id.to_string(),
            created_at: v.created_at.to_rfc3339(),
            updated_at: v.updated_at.to_rfc3339(),
            effective_at: v.effective_at.map(Timestamp::to_rfc3339),
            superseded_at: v.superseded_at.map(Timestamp::to_rfc3339),
            content_sha256: hex::encode(hash),
            signatures: None,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProtocolRequest {
    /// 1 to 200 characters, one line.
    pub title: String,
    /// Markdown, at most 100,000 characters.
    #[serde(default)]
    #[schema(max_length = 100000)]
    pub body: String,
    /// Steps: `{"title", "instructions", "critical", "inputs": [{"name", "type": "text" |
    /// "number" | "choice" | "bool", "unit", "min", "max", "options"}]}`.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub steps: Vec<Step>,
    /// What changed in this version (at most 2,000 characters).
    #[serde(default)]
    pub change_note: Option<String>,
}

pub(crate) fn validate_content(req: NewProtocolRequest) -> Result<VersionContent, ApiError> {
    let mut errors = FieldErrors::default();
    let title = errors.check(parse_title("title", &req.title));
    check_body(&mut errors, "body", &req.body);
    check_steps(&mut errors, "steps", &req.steps);
    let change_note =
        super::samples::optional_text(&mut errors, "change_note", req.change_note, 2000);
    errors.into_result()?;
    Ok(VersionContent {
        title: title.ok_or_else(|| ApiError::Internal("validated title missing".into()))?,
        body: req.body,
        steps: req.steps,
        change_note,
    })
}

#[derive(Serialize, ToSchema)]
pub struct CreatedProtocol {
    pub protocol: ProtocolView,
    /// Version 1, a draft.
    pub version: VersionView,
}

/// Create a protocol with its first version (a draft).
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/protocols", tag = "protocols",
    params(("org_id" = String, Path, description = "Organization id")),
    request_body = NewProtocolRequest,
    responses((status = 201, body = CreatedProtocol), CommonErrors, InputErrors),
    security(("session" = ["protocols:write"]))
)]
pub async fn create_protocol(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    ApiJson(req): ApiJson<NewProtocolRequest>,
) -> ApiResult<(StatusCode, Json<CreatedProtocol>)> {
    scope.require(Permission::PROTOCOLS_WRITE)?;
    let content = validate_content(req)?;
    let (p, v) = state.store().org(&scope).create_protocol(content).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedProtocol {
            protocol: p.into(),
            version: v.into(),
        }),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct ProtocolList {
    pub items: Vec<ProtocolView>,
}

/// List protocols, newest first.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/protocols", tag = "protocols",
    params(("org_id" = String, Path, description = "Organization id")),
    responses((status = 200, body = ProtocolList), CommonErrors),
    security(("session" = ["protocols:read"]))
)]
pub async fn list_protocols(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
) -> ApiResult<Json<ProtocolList>> {
    let items = state.store().org(&scope).protocols(500).await?;
    Ok(Json(ProtocolList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Deserialize)]
pub struct ProtocolPath {
    #[allow(dead_code)]
    org_id: String,
    protocol_id: String,
}

#[derive(Deserialize)]
pub struct VersionPath {
    #[allow(dead_code)]
    org_id: String,
    protocol_id: String,
    version_id: String,
}

impl ProtocolPath {
    fn id(&self) -> ApiResult<ProtocolId> {
        self.protocol_id.parse().map_err(|_| ApiError::NotFound)
    }
}

impl VersionPath {
    fn ids(&self) -> ApiResult<(ProtocolId, ProtocolVersionId)> {
        Ok((
            self.protocol_id.parse().map_err(|_| ApiError::NotFound)?,
            self.version_id.parse().map_err(|_| ApiError::NotFound)?,
        ))
    }
}

#[derive(Serialize, ToSchema)]
pub struct ProtocolDetail {
    pub protocol: ProtocolView,
    /// Newest first.
    pub versions: Vec<VersionView>,
}

/// One protocol with all its versions.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/protocols/{protocol_id}", tag = "protocols",
    params(("org_id" = String, Path, description = "Organization id"), ("protocol_id" = String, Path, description = "Protocol id")),
    responses((status = 200, body = ProtocolDetail), CommonErrors),
    security(("session" = ["protocols:read"]))
)]
pub async fn get_protocol(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    Path(path): Path<ProtocolPath>,
) -> ApiResult<Json<ProtocolDetail>> {
    let id = path.id()?;
    let org = state.store().org(&scope);
    let protocol = org.protocol(id).await?;
    let versions = org.protocol_versions(id).await?;
    Ok(Json(ProtocolDetail {
        protocol: protocol.into(),
        versions: versions.into_iter().map(Into::into).collect(),
    }))
}

/// Start a new version (a draft; one draft at a time, else 409).
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/protocols/{protocol_id}/versions", tag = "protocols",
    params(("org_id" = String, Path, description = "Organization id"), ("protocol_id" = String, Path, description = "Protocol id")),
    request_body = NewProtocolRequest,
    responses((status = 201, body = VersionView), CommonErrors, InputErrors),
    security(("session" = ["protocols:write"]))
)]
pub async fn create_protocol_version(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    Path(path): Path<ProtocolPath>,
    ApiJson(req): ApiJson<NewProtocolRequest>,
) -> ApiResult<(StatusCode, Json<VersionView>)> {
    scope.require(Permission::PROTOCOLS_WRITE)?;
    let id = path.id()?;
    let content = validate_content(req)?;
    let v = state
        .store()
        .org(&scope)
        .create_protocol_version(id, content)
        .await?;
    Ok((StatusCode::CREATED, Json(v.into())))
}

pub(crate) async fn version_with_signatures(
    state: &AppState,
    scope: &labledger_store::OrgScope,
    protocol: ProtocolId,
    id: ProtocolVersionId,
) -> ApiResult<VersionView> {
    let org = state.store().org(scope);
    let v = org.protocol_version(protocol, id).await?;
    let sigs = org.protocol_version_signatures(&v).await?;
    let mut view = VersionView::from(v);
    view.signatures = Some(sigs.into_iter().map(Into::into).collect());
    Ok(view)
}

/// One version with its signatures, each checked against the version's content now.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/protocols/{protocol_id}/versions/{version_id}", tag = "protocols",
    params(("org_id" = String, Path, description = "Organization id"), ("protocol_id" = String, Path, description = "Protocol id"), ("version_id" = String, Path, description = "Version id")),
    responses((status = 200, body = VersionView), CommonErrors),
    security(("session" = ["protocols:read"]))
)]
pub async fn get_protocol_version(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    Path(path): Path<VersionPath>,
) -> ApiResult<Json<VersionView>> {
    let (p, v) = path.ids()?;
    Ok(Json(version_with_signatures(&state, &scope, p, v).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionPatchRequest {
    pub title: Option<String>,
    #[schema(max_length = 100000)]
    pub body: Option<String>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub steps: Option<Vec<Step>>,
    pub change_note: Option<String>,
}

/// Change a draft version (any other state: 409, nothing changes).
#[utoipa::path(
    patch, path = "/api/v1/orgs/{org_id}/protocols/{protocol_id}/versions/{version_id}", tag = "protocols",
    params(("org_id" = String, Path, description = "Organization id"), ("protocol_id" = String, Path, description = "Protocol id"), ("version_id" = String, Path, description = "Version id")),
    request_body = VersionPatchRequest,
    responses((status = 200, body = VersionView), CommonErrors, InputErrors),
    security(("session" = ["protocols:write"]))
)]
pub async fn update_protocol_version(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    Path(path): Path<VersionPath>,
    ApiJson(req): ApiJson<VersionPatchRequest>,
) -> ApiResult<Json<VersionView>> {
    scope.require(Permission::PROTOCOLS_WRITE)?;
    let (p, v) = path.ids()?;
    let mut errors = FieldErrors::default();
    let title = req
        .title
        .as_deref()
        .and_then(|t| errors.check(parse_title("title", t)));
    if let Some(b) = &req.body {
        check_body(&mut errors, "body", b);
    }
    if let Some(s) = &req.steps {
        check_steps(&mut errors, "steps", s);
    }
    let change_note = req
        .change_note
        .map(|n| super::samples::optional_text(&mut errors, "change_note", Some(n), 2000));
    errors.into_result()?;
    let v = state
        .store()
        .org(&scope)
        .update_protocol_version(
            p,
            v,
            VersionPatch {
                title,
                body: req.body,
                steps: req.steps,
                change_note,
            },
        )
        .await?;
    Ok(Json(v.into()))
}

/// Approve a draft with an e-signature (meaning `approved`): the password (and code, with MFA)
/// is entered in the request. The signer needs protocols:approve and must be neither the
/// version's author nor its last editor (403). The version becomes effective; the previously
/// effective one is superseded (kept, read-only).
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/protocols/{protocol_id}/versions/{version_id}/approve", tag = "protocols",
    params(("org_id" = String, Path, description = "Organization id"), ("protocol_id" = String, Path, description = "Protocol id"), ("version_id" = String, Path, description = "Version id")),
    request_body = SignRequest,
    responses(
        (status = 200, body = VersionView),
        CommonErrors, InputErrors, SigningErrors
    ),
    security(("session" = ["protocols:read", "protocols:approve"]))
)]
pub async fn approve_protocol_version(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    user: AuthUser,
    client: ClientInfo,
    Path(path): Path<VersionPath>,
    ApiJson(req): ApiJson<SignRequest>,
) -> ApiResult<Json<VersionView>> {
    scope.require(Permission::PROTOCOLS_APPROVE)?;
    scope.require_user()?;
    let (p, v) = path.ids()?;
    // The record must exist before a password is checked against it.
    state.store().org(&scope).protocol_version(p, v).await?;
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
        .approve_protocol_version(p, v, signer)
        .await?;
    Ok(Json(version_with_signatures(&state, &scope, p, v).await?))
}

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    /// The older version number (default: the one before `to`).
    pub from: Option<i64>,
    /// The newer version number (default: the latest).
    pub to: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct VersionDiff {
    /// The older version's number (absent when `to` is version 1).
    pub from: Option<i64>,
    pub to: i64,
    #[schema(value_type = Vec<Object>)]
    pub title: Vec<DiffLine>,
    /// Line diff of the markdown bodies: `{"op": "same" | "added" | "removed", "text"}`.
    #[schema(value_type = Vec<Object>)]
    pub body: Vec<DiffLine>,
    /// Line diff of the steps rendered as text.
    #[schema(value_type = Vec<Object>)]
    pub steps: Vec<DiffLine>,
}

pub(crate) fn diff_versions(
    versions: &[ProtocolVersion],
    from: Option<i64>,
    to: Option<i64>,
) -> ApiResult<VersionDiff> {
    let bad = |field: &str, msg: &str| {
        ApiError::BadRequest(
            "A query parameter is invalid.".into(),
            vec![labledger_domain::FieldError::new(field, msg)],
        )
    };
    let latest = versions.iter().map(|v| v.version).max().unwrap_or(0);
    let to = to.unwrap_or(latest);
    let new = versions
        .iter()
        .find(|v| v.version == to)
        .ok_or_else(|| bad("to", "no such version of this protocol"))?;
    let from = match from {
        Some(f) => Some(f),
        None if to > 1 => Some(to - 1),
        None => None,
    };
    let old = match from {
        Some(f) => Some(
            versions
                .iter()
                .find(|v| v.version == f)
                .ok_or_else(|| bad("from", "no such version of this protocol"))?,
        ),
        None => None,
    };
    let empty = Vec::new();
    let (old_title, old_body, old_steps) = match old {
        Some(o) => (
            vec![o.title.clone()],
            body_lines(&o.body),
            steps_as_lines(&o.steps),
        ),
        None => (Vec::new(), Vec::new(), steps_as_lines(&empty)),
    };
    Ok(VersionDiff {
        from,
        to,
        title: line_diff(&old_title, std::slice::from_ref(&new.title)),
        body: line_diff(&old_body, &body_lines(&new.body)),
        steps: line_diff(&old_steps, &steps_as_lines(&new.steps)),
    })
}

/// A line diff between two versions (body and steps).
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/protocols/{protocol_id}/diff", tag = "protocols",
    params(("org_id" = String, Path, description = "Organization id"), ("protocol_id" = String, Path, description = "Protocol id"), DiffQuery),
    responses(
        (status = 200, body = VersionDiff),
        (status = 400, description = "A query parameter is invalid", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("session" = ["protocols:read"]))
)]
pub async fn diff_protocol_versions(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    Path(path): Path<ProtocolPath>,
    ApiQuery(q): ApiQuery<DiffQuery>,
) -> ApiResult<Json<VersionDiff>> {
    let id = path.id()?;
    let versions = state.store().org(&scope).protocol_versions(id).await?;
    if versions.is_empty() {
        return Err(ApiError::NotFound);
    }
    Ok(Json(diff_versions(&versions, q.from, q.to)?))
}
