//! Batches: groups of samples made from a code list or a sample search, changed while open,
//! closed for good.

use super::samples::optional_text;
use super::{CommonErrors, InputErrors};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, OrgAccess, RecordId};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use labledger_domain::batch::{parse_sample_codes, BatchStatus};
use labledger_domain::sample::{parse_sample_type, SampleStatus};
use labledger_domain::validate::RecordName;
use labledger_domain::{BatchId, FieldError, FieldErrors, Permission, SampleId, Timestamp};
use labledger_store::{Batch, BatchSample, SampleFilter, SampleSelection};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, ToSchema)]
pub struct BatchView {
    #[schema(value_type = String, format = Uuid)]
    id: String,
    /// Per-org human code, `B-000123`.
    code: String,
    name: String,
    /// open or closed.
    status: String,
    notes: Option<String>,
    /// The user who created the batch.
    created_by: String,
    sample_count: i64,
    created_at: String,
    updated_at: String,
    closed_at: Option<String>,
}

impl From<Batch> for BatchView {
    fn from(b: Batch) -> Self {
        Self {
            id: b.id.to_string(),
            code: b.code,
            name: b.name,
            status: b.status.as_str().to_owned(),
            notes: b.notes,
            created_by: b.created_by,
            sample_count: b.sample_count,
            created_at: b.created_at.to_rfc3339(),
            updated_at: b.updated_at.to_rfc3339(),
            closed_at: b.closed_at.map(Timestamp::to_rfc3339),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct BatchSampleView {
    #[schema(value_type = String, format = Uuid)]
    id: String,
    code: String,
    sample_type: String,
    status: String,
    added_at: String,
}

impl From<BatchSample> for BatchSampleView {
    fn from(s: BatchSample) -> Self {
        Self {
            id: s.id.to_string(),
            code: s.code,
            sample_type: s.sample_type,
            status: s.status,
            added_at: s.added_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct BatchDetail {
    #[serde(flatten)]
    batch: BatchView,
    samples: Vec<BatchSampleView>,
}

/// Every sample a search finds (all filters optional; at most 10,000 samples).
#[derive(Deserialize, ToSchema, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct SampleSearch {
    status: Option<String>,
    sample_type: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct NewBatchRequest {
    name: String,
    notes: Option<String>,
    /// Sample codes (`S-000123`) to put in the batch.
    #[serde(default)]
    codes: Vec<String>,
    /// And/or every sample a search finds.
    search: Option<SampleSearch>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct AddSamplesRequest {
    #[serde(default)]
    codes: Vec<String>,
    search: Option<SampleSearch>,
}

/// How a selection's fields are named where it came from (JSON body or web form), so an
/// error points at the field the user filled in.
pub(crate) struct SelectionFields {
    pub codes: &'static str,
    pub status: &'static str,
    pub sample_type: &'static str,
}

const JSON_FIELDS: SelectionFields = SelectionFields {
    codes: "codes",
    status: "search.status",
    sample_type: "search.sample_type",
};

/// A search term that is not blank, trimmed.
fn present(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|v| !v.is_empty())
}

/// The samples a batch write names: codes, and/or a search by status and type (`None`: no
/// search; blank terms search for every sample). The one parser of both the API and the UI.
pub(crate) fn sample_selection(
    errors: &mut FieldErrors,
    fields: &SelectionFields,
    codes: &[String],
    search: Option<(Option<&str>, Option<&str>)>,
) -> SampleSelection {
    let codes = errors
        .check(parse_sample_codes(fields.codes, codes))
        .unwrap_or_default();
    let search = search.map(|(status, sample_type)| SampleFilter {
        status: present(status).and_then(|v| errors.check(SampleStatus::parse(fields.status, v))),
        sample_type: present(sample_type)
            .and_then(|v| errors.check(parse_sample_type(fields.sample_type, v))),
        project_id: None,
        before_seq: None,
        ..SampleFilter::default()
    });
    SampleSelection { codes, search }
}

fn selection(
    errors: &mut FieldErrors,
    codes: &[String],
    search: Option<SampleSearch>,
) -> SampleSelection {
    let terms = search
        .as_ref()
        .map(|s| (s.status.as_deref(), s.sample_type.as_deref()));
    sample_selection(errors, &JSON_FIELDS, codes, terms)
}

/// Create an open batch from sample codes and/or a sample search; an unknown code is named
/// (`codes[N]`) and nothing is created.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/batches", tag = "batches",
    params(("org_id" = String, Path, description = "Organization id")),
    request_body = NewBatchRequest,
    responses((status = 201, body = BatchView), CommonErrors, InputErrors),
    security(("session" = ["batches:write"]))
)]
pub async fn create_batch(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    ApiJson(req): ApiJson<NewBatchRequest>,
) -> ApiResult<(StatusCode, Json<BatchView>)> {
    scope.require(Permission::BATCHES_WRITE)?;
    let mut errors = FieldErrors::default();
    let name = errors.check(RecordName::parse("name", &req.name));
    let notes = optional_text(&mut errors, "notes", req.notes, 2000);
    let selection = selection(&mut errors, &req.codes, req.search);
    errors.into_result()?;
    let name = name.ok_or_else(|| ApiError::Internal("validated name missing".into()))?;
    let batch = state
        .store()
        .org(&scope)
        .create_batch(name.into_string(), notes, selection)
        .await?;
    Ok((StatusCode::CREATED, Json(batch.into())))
}

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BatchQuery {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// open or closed.
    status: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct BatchPage {
    items: Vec<BatchView>,
    next_cursor: Option<String>,
}

/// List batches, newest first, with keyset pagination.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/batches", tag = "batches",
    params(("org_id" = String, Path, description = "Organization id"), BatchQuery),
    responses(
        (status = 200, body = BatchPage),
        (status = 400, description = "A query parameter is invalid", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("session" = ["batches:read"]))
)]
pub async fn list_batches(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    ApiQuery(q): ApiQuery<BatchQuery>,
) -> ApiResult<Json<BatchPage>> {
    scope.require(Permission::BATCHES_READ)?;
    let (limit, before) = crate::extract::page_params(q.limit, q.cursor)?;
    let status = q
        .status
        .filter(|s| !s.is_empty())
        .map(|s| BatchStatus::parse("status", &s))
        .transpose()
        .map_err(|e| ApiError::BadRequest("A query parameter is invalid.".into(), vec![e]))?;
    let (items, next) = state
        .store()
        .org(&scope)
        .batches_page(status, before, limit)
        .await?;
    Ok(Json(BatchPage {
        items: items.into_iter().map(Into::into).collect(),
        next_cursor: next.map(|n| n.to_string()),
    }))
}

/// One batch with its samples.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/batches/{batch_id}", tag = "batches",
    params(("org_id" = String, Path, description = "Organization id"), ("batch_id" = String, Path, description = "Batch id")),
    responses((status = 200, body = BatchDetail), CommonErrors),
    security(("session" = ["batches:read"]))
)]
pub async fn get_batch(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<BatchId>,
) -> ApiResult<Json<BatchDetail>> {
    let org = state.store().org(&scope);
    let batch = org.batch(id).await?;
    let samples = org.batch_samples(id).await?;
    Ok(Json(BatchDetail {
        batch: batch.into(),
        samples: samples.into_iter().map(Into::into).collect(),
    }))
}

/// Add samples to an open batch (codes and/or a search); samples already in it are skipped.
/// A closed batch answers 409.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/batches/{batch_id}/samples", tag = "batches",
    params(("org_id" = String, Path, description = "Organization id"), ("batch_id" = String, Path, description = "Batch id")),
    request_body = AddSamplesRequest,
    responses((status = 200, body = BatchView), CommonErrors, InputErrors),
    security(("session" = ["batches:write"]))
)]
pub async fn add_batch_samples(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<BatchId>,
    ApiJson(req): ApiJson<AddSamplesRequest>,
) -> ApiResult<Json<BatchView>> {
    scope.require(Permission::BATCHES_WRITE)?;
    let mut errors = FieldErrors::default();
    let selection = selection(&mut errors, &req.codes, req.search);
    if selection.codes.is_empty() && selection.search.is_none() && errors.0.is_empty() {
        errors.push(FieldError::new(
            "codes",
            "name at least one sample code, or a search",
        ));
    }
    errors.into_result()?;
    Ok(Json(
        state
            .store()
            .org(&scope)
            .add_batch_samples(id, selection)
            .await?
            .into(),
    ))
}

/// Take one sample out of an open batch. A closed batch answers 409.
#[utoipa::path(
    delete, path = "/api/v1/orgs/{org_id}/batches/{batch_id}/samples/{sample_id}", tag = "batches",
    params(
        ("org_id" = String, Path, description = "Organization id"),
        ("batch_id" = String, Path, description = "Batch id"),
        ("sample_id" = String, Path, description = "Sample id")
    ),
    responses(
        (status = 200, body = BatchView),
        (status = 409, description = "The batch is closed", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("session" = ["batches:write"]))
)]
pub async fn remove_batch_sample(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    ids: Path<(String, String, String)>,
) -> ApiResult<Json<BatchView>> {
    scope.require(Permission::BATCHES_WRITE)?;
    let Path((_, batch, sample)) = ids;
    let batch: BatchId = batch.parse().map_err(|_| ApiError::NotFound)?;
    let sample: SampleId = sample.parse().map_err(|_| ApiError::NotFound)?;
    Ok(Json(
        state
            .store()
            .org(&scope)
            .remove_batch_sample(batch, sample)
            .await?
            .into(),
    ))
}

/// Close a batch for good: its samples can no longer change. Closing a closed batch answers 409.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/batches/{batch_id}/close", tag = "batches",
    params(("org_id" = String, Path, description = "Organization id"), ("batch_id" = String, Path, description = "Batch id")),
    responses(
        (status = 200, body = BatchView),
        (status = 409, description = "The batch is closed already", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("session" = ["batches:write"]))
)]
pub async fn close_batch(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<BatchId>,
) -> ApiResult<Json<BatchView>> {
    scope.require(Permission::BATCHES_WRITE)?;
    Ok(Json(
        state.store().org(&scope).close_batch(id).await?.into(),
    ))
}
