//! Samples: registration (single and bulk CSV), listing, and lifecycle transitions.

use super::{CommonErrors, InputErrors};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, OrgAccess, RecordId};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use labledger_domain::sample::{parse_sample_type, SampleStatus};
use labledger_domain::{FieldError, FieldErrors, Permission, ProjectId, SampleId, Timestamp};
use labledger_store::{NewSample, Sample, SampleFilter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, ToSchema)]
pub struct SampleView {
    #[schema(value_type = String, format = Uuid)]
    id: String,
    /// Per-org human code, `S-000123`.
    code: String,
    sample_type: String,
    /// registered, received, in_process, stored, consumed or disposed.
    status: String,
    source_ref: Option<String>,
    collected_at: Option<String>,
    received_at: Option<String>,
    quantity: Option<f64>,
    unit: Option<String>,
    notes: Option<String>,
    /// The project it is filed under.
    project_id: Option<String>,
    created_at: String,
    updated_at: String,
}

impl From<Sample> for SampleView {
    fn from(s: Sample) -> Self {
        Self {
            id: s.id.to_string(),
            code: s.code,
            sample_type: s.sample_type,
            status: s.status.as_str().to_owned(),
            source_ref: s.source_ref,
            collected_at: s.collected_at.map(Timestamp::to_rfc3339),
            received_at: s.received_at.map(Timestamp::to_rfc3339),
            quantity: s.quantity,
            unit: s.unit,
            notes: s.notes,
            project_id: s.project_id.map(|p| p.to_string()),
            created_at: s.created_at.to_rfc3339(),
            updated_at: s.updated_at.to_rfc3339(),
        }
    }
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct NewSampleRequest {
    /// e.g. `blood`, `serum`, `tissue biopsy`.
    pub sample_type: String,
    /// The source or subject reference (e.g. a study subject id).
    pub source_ref: Option<String>,
    /// RFC 3339 UTC.
    pub collected_at: Option<String>,
    /// RFC 3339 UTC.
    pub received_at: Option<String>,
    pub quantity: Option<f64>,
    pub unit: Option<String>,
    pub notes: Option<String>,
    /// The project to file it under (its id).
    pub project_id: Option<String>,
}

/// An optional project id; one that does not parse is named like one that does not exist.
pub(crate) fn optional_project(
    errors: &mut FieldErrors,
    field: &str,
    v: Option<String>,
) -> Option<ProjectId> {
    let v = v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())?;
    match v.parse() {
        Ok(p) => Some(p),
        Err(_) => {
            errors.push(FieldError::new(
                field,
                "no such project in this organization",
            ));
            None
        }
    }
}

pub(crate) fn optional_text(
    errors: &mut FieldErrors,
    field: &str,
    v: Option<String>,
    max: usize,
) -> Option<String> {
    let v = v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())?;
    if v.chars().count() > max {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
        return None;
    }
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        errors.push(FieldError::new(
            field,
            "must not contain control characters",
        ));
        return None;
    }
    Some(v)
}

fn optional_time(errors: &mut FieldErrors, field: &str, v: Option<String>) -> Option<Timestamp> {
    let v = v.filter(|s| !s.trim().is_empty())?;
    let t = Timestamp::parse_rfc3339(v.trim());
    if t.is_none() {
        errors.push(FieldError::new(
            field,
            "must be an RFC 3339 UTC time such as 2026-01-31T12:00:00Z, or a date",
        ));
    }
    t
}

/// Validates one sample; `prefix` names where it came from (`` or `rows[3].`).
pub(crate) fn validate(
    req: NewSampleRequest,
    prefix: &str,
    errors: &mut FieldErrors,
) -> Option<NewSample> {
    let name = |f: &str| format!("{prefix}{f}");
    let sample_type = errors.check(parse_sample_type(&name("sample_type"), &req.sample_type));
    let quantity = match req.quantity {
        Some(q) if !q.is_finite() || q < 0.0 => {
            errors.push(FieldError::new(
                name("quantity"),
                "must be a finite number ≥ 0",
            ));
            None
        }
        q => q,
    };
    let sample = NewSample {
        sample_type: sample_type?,
        source_ref: optional_text(errors, &name("source_ref"), req.source_ref, 200),
        collected_at: optional_time(errors, &name("collected_at"), req.collected_at),
        received_at: optional_time(errors, &name("received_at"), req.received_at),
        quantity,
        unit: optional_text(errors, &name("unit"), req.unit, 32),
        notes: optional_text(errors, &name("notes"), req.notes, 2000),
        project_id: optional_project(errors, &name("project_id"), req.project_id),
    };
    Some(sample)
}

/// Register a sample: it gets the org's next code and the status `registered`.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/samples", tag = "samples",
    params(("org_id" = String, Path, description = "Organization id")),
    request_body = NewSampleRequest,
    responses((status = 201, body = SampleView), CommonErrors, InputErrors),
    security(("session" = ["samples:write"]))
)]
pub async fn create_sample(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    ApiJson(req): ApiJson<NewSampleRequest>,
) -> ApiResult<(StatusCode, Json<SampleView>)> {
    scope.require(Permission::SAMPLES_WRITE)?;
    let mut errors = FieldErrors::default();
    let sample = validate(req, "", &mut errors);
    errors.into_result()?;
    let sample = sample.ok_or_else(|| ApiError::Internal("validated sample missing".into()))?;
    let created = state
        .store()
        .org(&scope)
        .register_samples(vec![sample], "sample.create")
        .await?;
    let one = created
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::Internal("registered sample missing".into()))?;
    Ok((StatusCode::CREATED, Json(one.into())))
}

/// The most rows one import may carry.
pub const MAX_IMPORT_ROWS: usize = 10_000;
const MAX_IMPORT_BYTES: usize = 16 * 1024 * 1024;

#[derive(Serialize, ToSchema)]
pub struct ImportResult {
    /// How many samples were registered.
    imported: usize,
}

/// Register many samples from CSV (`text/csv`, a header row naming the fields, `sample_type`
/// among them; up to 10,000 rows): all of them or, naming every bad row and field, none.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/samples/import", tag = "samples",
    params(("org_id" = String, Path, description = "Organization id")),
    request_body(content = String, content_type = "text/csv", description = "CSV with a header row"),
    responses((status = 201, body = ImportResult), CommonErrors, InputErrors),
    security(("session" = ["samples:write"]))
)]
pub async fn import_samples(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<ImportResult>)> {
    scope.require(Permission::SAMPLES_WRITE)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("text/csv")
    {
        return Err(ApiError::UnsupportedMediaType(
            "Send the rows as text/csv with a header row.".into(),
        ));
    }
    let bytes = axum::body::to_bytes(body, MAX_IMPORT_BYTES)
        .await
        .map_err(|_| ApiError::PayloadTooLarge)?;
    let samples = parse_csv(&bytes)?;
    let imported = samples.len();
    state
        .store()
        .org(&scope)
        .register_samples(samples, "sample.import")
        .await?;
    Ok((StatusCode::CREATED, Json(ImportResult { imported })))
}

const CSV_FIELDS: [&str; 8] = [
    "sample_type",
    "source_ref",
    "collected_at",
    "received_at",
    "quantity",
    "unit",
    "notes",
    "project_id",
];

/// Parses and validates every row, collecting every error (`rows[N].field`, N counting data
/// rows from 1).
pub(crate) fn parse_csv(bytes: &[u8]) -> Result<Vec<NewSample>, ApiError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| {
            ApiError::BadRequest(
                format!("The CSV header row cannot be read: {e}."),
                Vec::new(),
            )
        })?
        .clone();
    let mut errors = FieldErrors::default();
    for (i, h) in headers.iter().enumerate() {
        if !CSV_FIELDS.contains(&h) {
            errors.push(FieldError::new(
                format!("header[{i}]"),
                format!("unknown column `{h}`; known: {}", CSV_FIELDS.join(", ")),
            ));
        }
    }
    if !headers.iter().any(|h| h == "sample_type") {
        errors.push(FieldError::new(
            "header",
            "a `sample_type` column is required",
        ));
    }
    errors.clone().into_result()?;
    let mut samples = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let row = i + 1;
        if row > MAX_IMPORT_ROWS {
            return Err(FieldError::new(
                "rows",
                format!("at most {MAX_IMPORT_ROWS} rows per import"),
            )
            .into());
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                errors.push(FieldError::new(
                    format!("rows[{row}]"),
                    format!("unreadable row: {e}"),
                ));
                continue;
            }
        };
        let get = |name: &str| {
            headers
                .iter()
                .position(|h| h == name)
                .and_then(|p| record.get(p))
                .map(str::to_owned)
        };
        let prefix = format!("rows[{row}].");
        let quantity = match get("quantity").filter(|q| !q.is_empty()) {
            None => None,
            Some(q) => match q.parse::<f64>() {
                Ok(v) => Some(v),
                Err(_) => {
                    errors.push(FieldError::new(
                        format!("{prefix}quantity"),
                        "must be a number",
                    ));
                    None
                }
            },
        };
        let req = NewSampleRequest {
            sample_type: get("sample_type").unwrap_or_default(),
            source_ref: get("source_ref"),
            collected_at: get("collected_at"),
            received_at: get("received_at"),
            quantity,
            unit: get("unit"),
            notes: get("notes"),
            project_id: get("project_id"),
        };
        if let Some(s) = validate(req, &prefix, &mut errors) {
            samples.push(s);
        }
    }
    if samples.is_empty() && errors.0.is_empty() {
        errors.push(FieldError::new("rows", "the CSV has no data rows"));
    }
    errors.into_result()?;
    Ok(samples)
}

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SampleQuery {
    /// Page size, 1 to 500 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    status: Option<String>,
    sample_type: Option<String>,
    /// Only the samples of one project.
    project_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SamplePage {
    items: Vec<SampleView>,
    next_cursor: Option<String>,
}

/// List samples, newest first, with keyset pagination and filters.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/samples", tag = "samples",
    params(("org_id" = String, Path, description = "Organization id"), SampleQuery),
    responses(
        (status = 200, body = SamplePage),
        (status = 400, description = "A query parameter is invalid", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("session" = ["samples:read"]))
)]
pub async fn list_samples(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    ApiQuery(q): ApiQuery<SampleQuery>,
) -> ApiResult<Json<SamplePage>> {
    scope.require(Permission::SAMPLES_READ)?;
    let bad = |e: FieldError| ApiError::BadRequest("A query parameter is invalid.".into(), vec![e]);
    let (limit, before_seq) = crate::extract::page_params(q.limit, q.cursor)?;
    let status = q
        .status
        .filter(|s| !s.is_empty())
        .map(|s| SampleStatus::parse("status", &s))
        .transpose()
        .map_err(bad)?;
    let sample_type = q
        .sample_type
        .filter(|s| !s.is_empty())
        .map(|s| parse_sample_type("sample_type", &s))
        .transpose()
        .map_err(bad)?;
    let project_id = match q.project_id.filter(|p| !p.is_empty()) {
        None => None,
        Some(p) => Some(
            p.parse::<ProjectId>()
                .map_err(|_| bad(FieldError::new("project_id", "is not a project id")))?,
        ),
    };
    let (items, next) = state
        .store()
        .org(&scope)
        .samples_page(
            SampleFilter {
                status,
                sample_type,
                project_id,
                before_seq,
            },
            limit,
        )
        .await?;
    Ok(Json(SamplePage {
        items: items.into_iter().map(Into::into).collect(),
        next_cursor: next.map(|n| n.to_string()),
    }))
}

/// One sample.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/samples/{sample_id}", tag = "samples",
    params(("org_id" = String, Path, description = "Organization id"), ("sample_id" = String, Path, description = "Sample id")),
    responses((status = 200, body = SampleView), CommonErrors),
    security(("session" = ["samples:read"]))
)]
pub async fn get_sample(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<SampleId>,
) -> ApiResult<Json<SampleView>> {
    Ok(Json(state.store().org(&scope).sample(id).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    /// The status to move to.
    to: String,
    /// Why (kept in the audit trail).
    reason: Option<String>,
}

/// Move a sample along its lifecycle; an illegal move answers 409 and changes nothing.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/samples/{sample_id}/transitions", tag = "samples",
    params(("org_id" = String, Path, description = "Organization id"), ("sample_id" = String, Path, description = "Sample id")),
    request_body = TransitionRequest,
    responses((status = 200, body = SampleView), CommonErrors, InputErrors),
    security(("session" = ["samples:write"]))
)]
pub async fn transition_sample(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<SampleId>,
    ApiJson(req): ApiJson<TransitionRequest>,
) -> ApiResult<Json<SampleView>> {
    scope.require(Permission::SAMPLES_WRITE)?;
    let mut errors = FieldErrors::default();
    let to = errors.check(SampleStatus::parse("to", req.to.trim()));
    let reason = optional_text(&mut errors, "reason", req.reason, 2000);
    errors.into_result()?;
    let to = to.ok_or_else(|| ApiError::Internal("validated status missing".into()))?;
    Ok(Json(
        state
            .store()
            .org(&scope)
            .transition_sample(id, to, reason)
            .await?
            .into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_errors_name_every_bad_row_and_field() {
        let csv =
            "sample_type,quantity,collected_at\nblood,1.5,2026-01-02\n,2,\nserum,x,yesterday\n";
        let Err(ApiError::Invalid(errors)) = parse_csv(csv.as_bytes()) else {
            panic!("must fail")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "rows[2].sample_type",
                "rows[3].quantity",
                "rows[3].collected_at"
            ]
        );
    }

    #[test]
    fn csv_needs_known_columns_and_sample_type() {
        let Err(ApiError::Invalid(errors)) = parse_csv(b"colour\nred\n") else {
            panic!("must fail")
        };
        assert_eq!(errors.len(), 2);
        assert_eq!(parse_csv(b"sample_type,unit\nblood,mL\n").unwrap().len(), 1);
    }
}
