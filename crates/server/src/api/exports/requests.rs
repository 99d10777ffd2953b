//! The export routes: a project exported at once or, over the approval threshold, as a request;
//! whole-org export requests; a second admin's decision; the requester's download.

use super::archive::*;
use crate::api::CommonErrors;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AuthUser, OrgAccess, RecordId};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use labledger_domain::export::{self, Decision, ExportKind};
use labledger_domain::{ExportRequestId, Permission, ProjectId, Timestamp};
use labledger_store::{ExportRecord, ExportRequest, OrgScope};
use serde::Serialize;
use utoipa::ToSchema;

/// Export a project as a signed `.eln` archive (a zip following the ELN Consortium format:
/// one top folder holding `ro-crate-metadata.json`, RO-Crate 1.1). It holds the project, its
/// samples with their custody and its files' metadata as JSON and CSV, the project's files
/// (decrypted and re-verified against their SHA-256), the audit events about all of them, and
/// `manifest.json` listing every entry's SHA-256, signed with the org's Ed25519 export key
/// (`manifest.sig`, raw 64 bytes; `manifest.pub`, the public key in hex). The zip is canonical
/// (one byte layout per content), so `labledger export verify` covers every byte. Needs a
/// person who entered their password recently (step-up). An `export.create` audit event names
/// the manifest's SHA-256. A project whose files add up to more than the server's
/// `--export-approval-bytes` is not exported at once: the answer is 202 with an export request
/// that another Owner/Admin approves (see `/export-requests`).
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/projects/{project_id}/export", tag = "exports",
    params(("org_id" = String, Path, description = "Organization id"), ("project_id" = String, Path, description = "Project id")),
    responses(
        (status = 200, description = "The .eln archive", content_type = "application/vnd.eln+zip", body = String),
        (status = 202, description = "Over the size threshold: an export request waits for a second admin", body = ExportRequestView),
        CommonErrors,
        (status = 409, description = "The organization has no keys yet (a first upload by a member with `files:write` makes them)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 500, description = "A stored file failed its integrity check", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("session" = ["exports:create", "files:read", "projects:read"]))
)]
pub async fn export_project(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    caller: AuthUser,
    RecordId(id): RecordId<ProjectId>,
) -> ApiResult<Response> {
    scope.require(Permission::EXPORTS_CREATE)?;
    scope.require(Permission::FILES_READ)?;
    caller.require_fresh(&state)?;
    Ok(match project_export(&state, &scope, id).await? {
        ProjectExport::Ready(res) => res,
        ProjectExport::Waiting(request) => {
            (StatusCode::ACCEPTED, Json(ExportRequestView::from(request))).into_response()
        }
    })
}

/// What asking to export a project gives: the archive at once, or a request to approve.
pub(crate) enum ProjectExport {
    Ready(Response),
    Waiting(ExportRequest),
}

/// Exports a project now, or files a request when it is over the approval threshold (the
/// caller checked step-up).
pub(crate) async fn project_export(
    state: &AppState,
    scope: &OrgScope,
    id: ProjectId,
) -> ApiResult<ProjectExport> {
    scope.require(Permission::EXPORTS_CREATE)?;
    scope.require(Permission::FILES_READ)?;
    let org = state.store().org(scope);
    org.project(id).await?;
    let estimate = org.project_files_bytes(id).await?;
    if export::needs_approval(
        ExportKind::Project,
        estimate,
        state.config().export_approval_bytes,
    ) {
        let request = org
            .request_export(ExportKind::Project, Some(id), estimate)
            .await?;
        return Ok(ProjectExport::Waiting(request));
    }
    let (built, d) = build_project(state, scope, id, None).await?;
    org.record_export(ExportRecord {
        project_id: d.project.id,
        manifest_sha256: built.manifest_sha256,
        entries: built.entries,
        bytes: built.bytes,
        files: d.files.len(),
        samples: d.samples.len(),
    })
    .await?;
    Ok(ProjectExport::Ready(built.response()))
}

/// Files a whole-org export request (the caller checked step-up).
pub(crate) async fn request_org_export(
    state: &AppState,
    scope: &OrgScope,
) -> ApiResult<ExportRequest> {
    let org = state.store().org(scope);
    org.require_export_of(ExportKind::Org)?;
    let estimate = org.org_files_bytes().await?;
    Ok(org.request_export(ExportKind::Org, None, estimate).await?)
}

/// Builds the export of an approved request for its requester and records the download (the
/// caller checked step-up).
pub(crate) async fn download_export(
    state: &AppState,
    scope: &OrgScope,
    id: ExportRequestId,
) -> ApiResult<Response> {
    scope.require(Permission::EXPORTS_CREATE)?;
    scope.require(Permission::FILES_READ)?;
    let org = state.store().org(scope);
    let request = org.export_request_for_download(id).await?;
    let built = match (request.kind, request.project_id) {
        (ExportKind::Project, Some(p)) => build_project(state, scope, p, Some(id)).await?.0,
        (ExportKind::Project, None) => {
            return Err(ApiError::Internal(
                "a project export request without a project".into(),
            ))
        }
        (ExportKind::Org, _) => build_org(state, scope, id).await?,
    };
    org.record_export_download(id, built.manifest_sha256, built.entries, built.bytes)
        .await?;
    Ok(built.response())
}

#[derive(Serialize, ToSchema)]
pub struct ExportRequestView {
    #[schema(value_type = String, format = Uuid)]
    id: String,
    /// `project` or `org`.
    kind: String,
    #[schema(value_type = Option<String>, format = Uuid)]
    project_id: Option<String>,
    project_name: Option<String>,
    /// The files' bytes at the time of the request.
    estimated_bytes: u64,
    /// `pending`, `approved`, `rejected` or `expired`.
    state: String,
    #[schema(value_type = String, format = Uuid)]
    requested_by: String,
    requested_by_email: String,
    requested_at: String,
    #[schema(value_type = Option<String>, format = Uuid)]
    decided_by: Option<String>,
    decided_at: Option<String>,
    /// A pending request lapses 24 hours after it was made; an approval 24 hours after it.
    expires_at: String,
    /// How often the requester downloaded it (`POST …/export-requests/{id}/download`).
    downloads: u64,
}

impl From<ExportRequest> for ExportRequestView {
    fn from(r: ExportRequest) -> Self {
        Self {
            id: r.id.to_string(),
            kind: r.kind.as_str().to_owned(),
            project_id: r.project_id.map(|p| p.to_string()),
            project_name: r.project_name,
            estimated_bytes: r.estimated_bytes,
            state: r.state.as_str().to_owned(),
            requested_by: r.requested_by.to_string(),
            requested_by_email: r.requested_by_email,
            requested_at: r.requested_at.to_rfc3339(),
            decided_by: r.decided_by.map(|u| u.to_string()),
            decided_at: r.decided_at.map(Timestamp::to_rfc3339),
            expires_at: r.expires_at.to_rfc3339(),
            downloads: r.downloads,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ExportRequestList {
    items: Vec<ExportRequestView>,
}

/// Ask for an export of the whole organization: every project, sample, file and audit event
/// as one signed `.eln`. Always waits for a second Owner/Admin: the answer is 202 with the
/// pending request (`export.request`). Needs step-up.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/export", tag = "exports",
    params(("org_id" = String, Path, description = "Organization id")),
    responses(
        (status = 202, body = ExportRequestView),
        (status = 409, description = "The organization has no keys yet (a first upload by a member with `files:write` makes them)", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("session" = ["exports:create", "audit:read", "files:read", "projects:read"]))
)]
pub async fn export_org(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    caller: AuthUser,
) -> ApiResult<(StatusCode, Json<ExportRequestView>)> {
    state
        .store()
        .org(&scope)
        .require_export_of(ExportKind::Org)?;
    caller.require_fresh(&state)?;
    let request = request_org_export(&state, &scope).await?;
    Ok((StatusCode::ACCEPTED, Json(request.into())))
}

/// Export requests, newest first: all with `exports:read`, else the caller's own.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/export-requests", tag = "exports",
    params(("org_id" = String, Path, description = "Organization id")),
    responses((status = 200, body = ExportRequestList), CommonErrors),
    security(("session" = ["exports:read"]))
)]
pub async fn list_export_requests(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
) -> ApiResult<Json<ExportRequestList>> {
    let items = state.store().org(&scope).export_requests().await?;
    Ok(Json(ExportRequestList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// One export request: one's own, or any with `exports:read`.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/export-requests/{export_request_id}", tag = "exports",
    params(("org_id" = String, Path, description = "Organization id"), ("export_request_id" = String, Path, description = "Export request id")),
    responses((status = 200, body = ExportRequestView), CommonErrors),
    security(("session" = ["exports:read"]))
)]
pub async fn get_export_request(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<ExportRequestId>,
) -> ApiResult<Json<ExportRequestView>> {
    Ok(Json(
        state.store().org(&scope).export_request(id).await?.into(),
    ))
}

/// Approve a pending export request (`export.approve`): the requester may then download it for
/// 24 hours. Only an Owner/Admin other than the requester, with step-up.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/export-requests/{export_request_id}/approve", tag = "exports",
    params(("org_id" = String, Path, description = "Organization id"), ("export_request_id" = String, Path, description = "Export request id")),
    responses((status = 200, body = ExportRequestView), CommonErrors, (status = 409, description = "Not pending", body = crate::error::Problem, content_type = "application/problem+json")),
    security(("session" = ["members:write", "exports:create"]))
)]
pub async fn approve_export_request(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    caller: AuthUser,
    RecordId(id): RecordId<ExportRequestId>,
) -> ApiResult<Json<ExportRequestView>> {
    decide(&state, &scope, &caller, id, Decision::Approve).await
}

/// Reject a pending export request (`export.reject`); same rules as approving.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/export-requests/{export_request_id}/reject", tag = "exports",
    params(("org_id" = String, Path, description = "Organization id"), ("export_request_id" = String, Path, description = "Export request id")),
    responses((status = 200, body = ExportRequestView), CommonErrors, (status = 409, description = "Not pending", body = crate::error::Problem, content_type = "application/problem+json")),
    security(("session" = ["members:write", "exports:create"]))
)]
pub async fn reject_export_request(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    caller: AuthUser,
    RecordId(id): RecordId<ExportRequestId>,
) -> ApiResult<Json<ExportRequestView>> {
    decide(&state, &scope, &caller, id, Decision::Reject).await
}

/// Approving and rejecting: exports:create and a fresh login here; the store checks the rest
/// (Owner/Admin, not the requester, still pending).
pub(super) async fn decide(
    state: &AppState,
    scope: &OrgScope,
    caller: &AuthUser,
    id: ExportRequestId,
    decision: Decision,
) -> ApiResult<Json<ExportRequestView>> {
    scope.require(Permission::EXPORTS_CREATE)?;
    caller.require_fresh(state)?;
    let r = state
        .store()
        .org(scope)
        .decide_export(id, decision, None)
        .await?;
    Ok(Json(r.into()))
}

/// Download the export of an approved request: only its requester, until the approval
/// expires (24 h), with step-up. The archive is built now, from the data as it is now, and
/// every download is an `export.download` audit event naming the manifest's SHA-256.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/export-requests/{export_request_id}/download", tag = "exports",
    params(("org_id" = String, Path, description = "Organization id"), ("export_request_id" = String, Path, description = "Export request id")),
    responses(
        (status = 200, description = "The .eln archive", content_type = "application/vnd.eln+zip", body = String),
        CommonErrors,
        (status = 409, description = "Not approved (pending, rejected or expired)", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("session" = ["exports:create", "files:read"]))
)]
pub async fn download_export_request(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    caller: AuthUser,
    RecordId(id): RecordId<ExportRequestId>,
) -> ApiResult<Response> {
    scope.require(Permission::EXPORTS_CREATE)?;
    scope.require(Permission::FILES_READ)?;
    caller.require_fresh(&state)?;
    download_export(&state, &scope, id).await
}
