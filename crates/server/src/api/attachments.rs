//! Evidence files attached to samples, batches and workflow runs: attach an existing file, and
//! list a record's files. (Attaching on upload is a query parameter of the upload route; the
//! file's own view lists what it is attached to.) Attaching needs `files:write` and read access
//! to the record; a record of another org answers 404 exactly as a missing one; a finished
//! workflow run answers 409.

use super::files::FileView;
use super::{CommonErrors, InputErrors};
use crate::error::ApiResult;
use crate::extract::{ApiJson, OrgAccess, RecordId};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use labledger_domain::{BatchId, FieldError, FileId, Permission, SampleId, WorkflowRunId};
use labledger_store::{AttachTo, AttachedFile, FileAttachment, OrgScope};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachFileRequest {
    /// The file (version) to attach.
    #[schema(value_type = String, format = Uuid)]
    file_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct AttachedFileView {
    file: FileView,
    /// When it was attached to this record.
    added_at: String,
    /// The user or API token that attached it.
    added_by: Option<String>,
}

impl From<AttachedFile> for AttachedFileView {
    fn from(a: AttachedFile) -> Self {
        Self {
            file: a.file.into(),
            added_at: a.added_at.to_rfc3339(),
            added_by: a.added_by,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AttachedFileList {
    /// Oldest attachment first.
    items: Vec<AttachedFileView>,
}

/// One record a file is attached to.
#[derive(Serialize, ToSchema)]
pub struct AttachmentView {
    /// `sample`, `batch` or `workflow_run`.
    target_type: String,
    #[schema(value_type = String, format = Uuid)]
    target_id: String,
    /// The sample's or batch's code, or the run's number, protocol and target.
    label: String,
    added_at: String,
    added_by: Option<String>,
}

impl From<FileAttachment> for AttachmentView {
    fn from(a: FileAttachment) -> Self {
        Self {
            target_type: a.target_type.as_str().to_owned(),
            target_id: a.target_id,
            label: a.label,
            added_at: a.added_at.to_rfc3339(),
            added_by: a.added_by,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AttachResult {
    /// `sample`, `batch` or `workflow_run`.
    target_type: String,
    #[schema(value_type = String, format = Uuid)]
    target_id: String,
    file: FileView,
}

async fn attach(
    state: &AppState,
    scope: &OrgScope,
    to: AttachTo,
    req: AttachFileRequest,
) -> ApiResult<(StatusCode, Json<AttachResult>)> {
    scope.require(Permission::FILES_WRITE)?;
    let file: FileId = req
        .file_id
        .trim()
        .parse()
        .map_err(|_| FieldError::new("file_id", "is not a file id"))?;
    let record = state.store().org(scope).attach_file(to, file).await?;
    let (target_type, target_id) = match to {
        AttachTo::Sample(id) => ("sample", id.to_string()),
        AttachTo::Batch(id) => ("batch", id.to_string()),
        AttachTo::Run(id) => ("workflow_run", id.to_string()),
        AttachTo::Project(id) => ("project", id.to_string()),
    };
    Ok((
        StatusCode::CREATED,
        Json(AttachResult {
            target_type: target_type.to_owned(),
            target_id,
            file: record.into(),
        }),
    ))
}

async fn list(
    state: &AppState,
    scope: &OrgScope,
    to: AttachTo,
) -> ApiResult<Json<AttachedFileList>> {
    scope.require(Permission::FILES_READ)?;
    let items = state.store().org(scope).attached_files(to).await?;
    Ok(Json(AttachedFileList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// The records a file is attached to that the caller may see (for the file's view).
pub(crate) async fn attachments_of(
    state: &AppState,
    scope: &OrgScope,
    file: FileId,
) -> ApiResult<Vec<AttachmentView>> {
    Ok(state
        .store()
        .org(scope)
        .file_attachments(file)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// Attach an existing evidence file to a sample (idempotent).
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/samples/{sample_id}/files", tag = "files",
    params(("org_id" = String, Path, description = "Organization id"), ("sample_id" = String, Path, description = "Sample id")),
    request_body = AttachFileRequest,
    responses((status = 201, body = AttachResult), CommonErrors, InputErrors),
    security(("session" = ["files:read", "files:write", "samples:read"]))
)]
pub async fn attach_sample_file(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<SampleId>,
    ApiJson(req): ApiJson<AttachFileRequest>,
) -> ApiResult<(StatusCode, Json<AttachResult>)> {
    attach(&state, &scope, AttachTo::Sample(id), req).await
}

/// The evidence files attached to a sample, oldest attachment first.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/samples/{sample_id}/files", tag = "files",
    params(("org_id" = String, Path, description = "Organization id"), ("sample_id" = String, Path, description = "Sample id")),
    responses((status = 200, body = AttachedFileList), CommonErrors),
    security(("session" = ["files:read", "samples:read"]))
)]
pub async fn list_sample_files(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<SampleId>,
) -> ApiResult<Json<AttachedFileList>> {
    list(&state, &scope, AttachTo::Sample(id)).await
}

/// Attach an existing evidence file to a batch, open or closed (idempotent).
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/batches/{batch_id}/files", tag = "files",
    params(("org_id" = String, Path, description = "Organization id"), ("batch_id" = String, Path, description = "Batch id")),
    request_body = AttachFileRequest,
    responses((status = 201, body = AttachResult), CommonErrors, InputErrors),
    security(("session" = ["files:read", "files:write", "batches:read"]))
)]
pub async fn attach_batch_file(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<BatchId>,
    ApiJson(req): ApiJson<AttachFileRequest>,
) -> ApiResult<(StatusCode, Json<AttachResult>)> {
    attach(&state, &scope, AttachTo::Batch(id), req).await
}

/// The evidence files attached to a batch, oldest attachment first.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/batches/{batch_id}/files", tag = "files",
    params(("org_id" = String, Path, description = "Organization id"), ("batch_id" = String, Path, description = "Batch id")),
    responses((status = 200, body = AttachedFileList), CommonErrors),
    security(("session" = ["files:read", "batches:read"]))
)]
pub async fn list_batch_files(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<BatchId>,
) -> ApiResult<Json<AttachedFileList>> {
    list(&state, &scope, AttachTo::Batch(id)).await
}

/// Attach an existing evidence file to a workflow run in progress (idempotent). A completed or
/// aborted run is a final, signed record: 409.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/workflow-runs/{run_id}/files", tag = "files",
    params(("org_id" = String, Path, description = "Organization id"), ("run_id" = String, Path, description = "Workflow run id")),
    request_body = AttachFileRequest,
    responses((status = 201, body = AttachResult), CommonErrors, InputErrors),
    security(("session" = ["files:read", "files:write", "workflows:read"]))
)]
pub async fn attach_run_file(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<WorkflowRunId>,
    ApiJson(req): ApiJson<AttachFileRequest>,
) -> ApiResult<(StatusCode, Json<AttachResult>)> {
    attach(&state, &scope, AttachTo::Run(id), req).await
}

/// The evidence files attached to a workflow run, oldest attachment first.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/workflow-runs/{run_id}/files", tag = "files",
    params(("org_id" = String, Path, description = "Organization id"), ("run_id" = String, Path, description = "Workflow run id")),
    responses((status = 200, body = AttachedFileList), CommonErrors),
    security(("session" = ["files:read", "workflows:read"]))
)]
pub async fn list_run_files(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<WorkflowRunId>,
) -> ApiResult<Json<AttachedFileList>> {
    list(&state, &scope, AttachTo::Run(id)).await
}
