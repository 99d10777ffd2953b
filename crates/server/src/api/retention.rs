//! Retention periods per file category, legal holds, and deleting files into tombstones.

use super::files::FileView;
use super::{CommonErrors, InputErrors};
use crate::error::ApiResult;
use crate::extract::{ApiJson, OrgAccess, RecordId};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use labledger_domain::file::{parse_hold_reason, parse_retention_days, FileCategory};
use labledger_domain::{FileId, Permission};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct RetentionView {
    /// Days a file of each category is kept before it may be deleted (`null`: no period).
    #[schema(value_type = Object)]
    retention_days: BTreeMap<String, Option<i64>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionRequest {
    /// `raw`, `analysis`, `report` or `other`.
    category: String,
    /// 0 to 36525 days; `null` removes the period.
    days: Option<i64>,
}

async fn view(state: &AppState, scope: &labledger_store::OrgScope) -> ApiResult<RetentionView> {
    let set = state.store().org(scope).retention_policies().await?;
    let mut retention_days: BTreeMap<String, Option<i64>> = FileCategory::ALL
        .iter()
        .map(|c| (c.as_str().to_owned(), None))
        .collect();
    for (c, d) in set {
        retention_days.insert(c, Some(d));
    }
    Ok(RetentionView { retention_days })
}

/// The org's retention period per file category.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/retention", tag = "files",
    params(("org_id" = String, Path, description = "Organization id")),
    responses((status = 200, body = RetentionView), CommonErrors),
    security(("session" = ["files:read"]))
)]
pub async fn get_retention(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
) -> ApiResult<Json<RetentionView>> {
    Ok(Json(view(&state, &scope).await?))
}

/// Set (or remove) the retention period of one file category.
#[utoipa::path(
    put, path = "/api/v1/orgs/{org_id}/retention", tag = "files",
    params(("org_id" = String, Path, description = "Organization id")),
    request_body = RetentionRequest,
    responses((status = 200, body = RetentionView), CommonErrors, InputErrors),
    security(("session" = ["files:read", "org_settings:write"]))
)]
pub async fn set_retention(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    ApiJson(req): ApiJson<RetentionRequest>,
) -> ApiResult<Json<RetentionView>> {
    scope.require(Permission::ORG_SETTINGS_WRITE)?;
    scope.require(Permission::FILES_READ)?;
    let category = FileCategory::parse("category", &req.category)?;
    let days = req
        .days
        .map(|d| parse_retention_days("days", d))
        .transpose()?;
    state
        .store()
        .org(&scope)
        .set_retention(category, days)
        .await?;
    Ok(Json(view(&state, &scope).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    /// Why the file must be kept (e.g. the litigation or inspection), 1–500 characters.
    reason: String,
}

/// Place a legal hold on a file: it cannot be deleted until the hold is released, whatever
/// its retention period.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/files/{file_id}/legal-hold", tag = "files",
    params(("org_id" = String, Path, description = "Organization id"), ("file_id" = String, Path, description = "File id")),
    request_body = HoldRequest,
    responses((status = 200, body = FileView), CommonErrors, InputErrors),
    security(("session" = ["files:read", "org_settings:write"]))
)]
pub async fn place_legal_hold(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<FileId>,
    ApiJson(req): ApiJson<HoldRequest>,
) -> ApiResult<Json<FileView>> {
    scope.require(Permission::ORG_SETTINGS_WRITE)?;
    scope.require(Permission::FILES_READ)?;
    let reason = parse_hold_reason("reason", &req.reason)?;
    let org = state.store().org(&scope);
    org.set_legal_hold(id, Some(reason)).await?;
    Ok(Json(org.file(id).await?.into()))
}

/// Release a file's legal hold.
#[utoipa::path(
    delete, path = "/api/v1/orgs/{org_id}/files/{file_id}/legal-hold", tag = "files",
    params(("org_id" = String, Path, description = "Organization id"), ("file_id" = String, Path, description = "File id")),
    responses(
        (status = 200, body = FileView),
        (status = 409, description = "The file is not on legal hold", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("session" = ["files:read", "org_settings:write"]))
)]
pub async fn release_legal_hold(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<FileId>,
) -> ApiResult<Json<FileView>> {
    scope.require(Permission::ORG_SETTINGS_WRITE)?;
    scope.require(Permission::FILES_READ)?;
    let org = state.store().org(&scope);
    org.set_legal_hold(id, None).await?;
    Ok(Json(org.file(id).await?.into()))
}

/// Delete a file after its retention period and while not on hold (409 otherwise). Its record
/// stays as a tombstone (name, hash, size, who deleted it and when); its content answers 410.
/// The encrypted bytes are destroyed once no other version of the org has the same content.
#[utoipa::path(
    delete, path = "/api/v1/orgs/{org_id}/files/{file_id}", tag = "files",
    params(("org_id" = String, Path, description = "Organization id"), ("file_id" = String, Path, description = "File id")),
    responses(
        (status = 200, body = FileView),
        (status = 409, description = "On legal hold, or within its retention period", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 410, description = "Already deleted", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("session" = ["files:read", "files:write"]))
)]
pub async fn delete_file(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<FileId>,
) -> ApiResult<Json<FileView>> {
    scope.require(Permission::FILES_WRITE)?;
    scope.require(Permission::FILES_READ)?;
    let org = state.store().org(&scope);
    let deleted = org.delete_file(id).await?;
    if let Some(path) = deleted.destroy_path {
        // The object's key row is gone with the transaction: even if removing the bytes fails,
        // they can no longer be decrypted.
        if let Err(e) = state.config().vault.delete(&path).await {
            tracing::warn!(error = %e, %path, "removing a deleted file's object failed");
        }
    }
    Ok(Json(org.file(id).await?.into()))
}
