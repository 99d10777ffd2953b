//! Samples: registration (single and bulk CSV), listing, and lifecycle transitions.

use super::{CommonErrors, InputErrors};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, OrgAccess, RecordId};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::RawQuery;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use labledger_domain::custom_field::{
    check_values, csv_cell, parse_def, value_text, FieldDef, FieldKind, RawDef,
};
use labledger_domain::sample::{code_prefix_range, parse_sample_type, SampleStatus};
use labledger_domain::LocationId;
use labledger_domain::{FieldError, FieldErrors, Permission, ProjectId, SampleId, Timestamp};
use labledger_store::{NewSample, Sample, SampleFilter};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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
    /// Custom field values by key (canonical: trimmed text, number, `YYYY-MM-DD`, option).
    #[schema(value_type = Object)]
    custom: BTreeMap<String, serde_json::Value>,
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
            custom: s.custom,
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
    /// Custom field values by key, each checked against the org's definition (unknown keys
    /// refused, required ones enforced; errors named `custom.<key>`).
    #[schema(value_type = Option<Object>)]
    pub custom: Option<BTreeMap<String, serde_json::Value>>,
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
    defs: &[FieldDef],
) -> Option<NewSample> {
    let custom = match check_values(defs, &req.custom.unwrap_or_default(), prefix) {
        Ok(c) => c,
        Err(es) => {
            es.into_iter().for_each(|e| errors.push(e));
            BTreeMap::new()
        }
    };
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
        custom,
        id: None,
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
    let defs = state.store().org(&scope).sample_fields().await?;
    let mut errors = FieldErrors::default();
    let sample = validate(req, "", &mut errors, &defs);
    errors.into_result()?;
    let sample = sample.ok_or_else(|| ApiError::Internal("validated sample missing".into()))?;
    let mut samples = vec![sample];
    crate::sensitive::seal_new_samples(&state, &scope, &defs, &mut samples).await?;
    let created = state
        .store()
        .org(&scope)
        .register_samples(samples, "sample.create")
        .await?;
    let one = created
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::Internal("registered sample missing".into()))?;
    let one = crate::sensitive::reveal_one(&state, &scope, one).await?;
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
    request_body(
        content((String = "text/csv"), (Vec<u8> = "application/octet-stream")),
        description = "CSV with a header row (UTF-8), sent as `text/csv` or as raw bytes"
    ),
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
    let content_type = content_type.trim_start().to_ascii_lowercase();
    // Raw bytes too: what generated clients send for a binary body.
    if !content_type.starts_with("text/csv")
        && !content_type.starts_with("application/octet-stream")
    {
        return Err(ApiError::UnsupportedMediaType(
            "Send the rows as text/csv (or application/octet-stream) with a header row.".into(),
        ));
    }
    let bytes = axum::body::to_bytes(body, MAX_IMPORT_BYTES)
        .await
        .map_err(|_| ApiError::PayloadTooLarge)?;
    let defs = state.store().org(&scope).sample_fields().await?;
    let mut samples = parse_csv(&bytes, &defs)?;
    crate::sensitive::seal_new_samples(&state, &scope, &defs, &mut samples).await?;
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
///
/// Custom fields are extra columns headed `custom.<key>` or the bare key.
pub(crate) fn parse_csv(bytes: &[u8], defs: &[FieldDef]) -> Result<Vec<NewSample>, ApiError> {
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
    // Which columns carry which custom field.
    let mut custom_cols: Vec<(usize, String)> = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        let key = h.strip_prefix("custom.").unwrap_or(h);
        if let Some(def) = defs.iter().find(|d| d.key == key) {
            if custom_cols.iter().any(|(_, k)| *k == def.key) {
                errors.push(FieldError::new(
                    format!("header[{i}]"),
                    format!("column `{h}` repeats custom field `{key}`"),
                ));
            }
            custom_cols.push((i, def.key.clone()));
            continue;
        }
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
            custom: Some(
                custom_cols
                    .iter()
                    .map(|(i, k)| {
                        let v = record.get(*i).unwrap_or_default();
                        (k.clone(), serde_json::Value::String(v.to_owned()))
                    })
                    .collect(),
            ),
        };
        if let Some(s) = validate(req, &prefix, &mut errors, defs) {
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
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    status: Option<String>,
    sample_type: Option<String>,
    /// Only the samples of one project.
    project_id: Option<String>,
    /// Only the samples whose code starts with this, such as `S-0001` (case-insensitive).
    code_prefix: Option<String>,
    /// Collected at or after (RFC 3339 UTC or `YYYY-MM-DD`).
    collected_from: Option<String>,
    /// Collected at or before (a bare date includes that whole day).
    collected_to: Option<String>,
    /// Received at or after.
    received_from: Option<String>,
    /// Received at or before.
    received_to: Option<String>,
    /// Registered at or after.
    registered_from: Option<String>,
    /// Registered at or before.
    registered_to: Option<String>,
    /// Only samples placed in this storage location or anywhere under it. Custom fields
    /// filter by equality as further parameters `custom.<key>=value`.
    location_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SamplePage {
    items: Vec<SampleView>,
    next_cursor: Option<String>,
}

/// A parsed search: the page size, the filter, and the filter as given (for the audit trail).
pub(crate) struct Search {
    pub limit: u32,
    pub filter: SampleFilter,
    pub described: serde_json::Value,
}

fn range_end(field: &str, v: Option<String>, end: bool) -> Result<Option<Timestamp>, FieldError> {
    let Some(v) = v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let t = Timestamp::parse_rfc3339(&v).ok_or_else(|| {
        FieldError::new(
            field,
            "must be an RFC 3339 UTC time such as 2026-01-31T12:00:00Z, or a date YYYY-MM-DD",
        )
    })?;
    // Bounds are [from, to): an inclusive `to` date covers its whole day, a time itself.
    Ok(Some(match (end, v.len() == 10) {
        (false, _) => t,
        (true, true) => Timestamp::from_micros(t.micros().saturating_add(86_400_000_000)),
        (true, false) => Timestamp::from_micros(t.micros().saturating_add(1)),
    }))
}

/// Parses the search parameters of the list and the CSV export: the named ones strictly, and
/// `custom.<key>=value` checked against the org's definitions (a bad one: 400 naming it).
pub(crate) fn parse_search(raw: &str, defs: &[FieldDef]) -> Result<Search, ApiError> {
    let bad = |e: FieldError| ApiError::BadRequest("A query parameter is invalid.".into(), vec![e]);
    let mut rest = form_urlencoded::Serializer::new(String::new());
    let mut custom = Vec::new();
    let mut described = serde_json::Map::new();
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        if let Some(key) = k.strip_prefix("custom.") {
            let name = format!("custom.{key}");
            let def = defs.iter().find(|d| d.key == key).ok_or_else(|| {
                bad(FieldError::new(
                    &name,
                    "no such custom field in this organization",
                ))
            })?;
            if def.sensitive {
                return Err(bad(FieldError::new(
                    &name,
                    "is a sensitive field: its values are stored encrypted and cannot be searched",
                )));
            }
            if let Some(value) = def
                .check(&name, &serde_json::Value::String(v.to_string()))
                .map_err(bad)?
            {
                custom.push((def.key.clone(), value_text(&value)));
            }
        } else {
            rest.append_pair(&k, &v);
        }
        if k != "cursor" && k != "limit" && !v.is_empty() {
            described.insert(k.to_string(), serde_json::Value::String(v.to_string()));
        }
    }
    let q: SampleQuery = crate::extract::parse_query(&rest.finish())?;
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
    let location_id = match q.location_id.filter(|p| !p.is_empty()) {
        None => None,
        Some(p) => Some(
            p.parse::<LocationId>()
                .map_err(|_| bad(FieldError::new("location_id", "is not a location id")))?,
        ),
    };
    let code_range = q
        .code_prefix
        .filter(|p| !p.is_empty())
        .map(|p| code_prefix_range("code_prefix", &p))
        .transpose()
        .map_err(bad)?;
    let range = |from: (&str, Option<String>), to: (&str, Option<String>)| {
        Ok::<_, ApiError>((
            range_end(from.0, from.1, false).map_err(bad)?,
            range_end(to.0, to.1, true).map_err(bad)?,
        ))
    };
    Ok(Search {
        limit,
        filter: SampleFilter {
            status,
            sample_type,
            project_id,
            collected: range(
                ("collected_from", q.collected_from),
                ("collected_to", q.collected_to),
            )?,
            received: range(
                ("received_from", q.received_from),
                ("received_to", q.received_to),
            )?,
            registered: range(
                ("registered_from", q.registered_from),
                ("registered_to", q.registered_to),
            )?,
            location_id,
            custom,
            code_range,
            before_seq,
        },
        described: serde_json::Value::Object(described),
    })
}

/// List samples, newest first, with keyset pagination and filters (status, type, project, code
/// prefix, collected/received/registered date ranges, storage location, `custom.<key>=value`).
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
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<SamplePage>> {
    scope.require(Permission::SAMPLES_READ)?;
    let defs = state.store().org(&scope).sample_fields().await?;
    let search = parse_search(raw.as_deref().unwrap_or(""), &defs)?;
    let (mut items, next) = state
        .store()
        .org(&scope)
        .samples_page(search.filter, search.limit)
        .await?;
    crate::sensitive::reveal(&state, &scope, &mut items).await?;
    Ok(Json(SamplePage {
        items: items.into_iter().map(Into::into).collect(),
        next_cursor: next.map(|n| n.to_string()),
    }))
}

/// The most rows one CSV export carries.
pub const MAX_EXPORT_ROWS: usize = 100_000;

/// Download the samples a search finds as CSV (the list's filters; `limit` and `cursor` are
/// ignored), up to 100,000 rows, newest first, one column per custom field. Cells that a
/// spreadsheet would run as a formula get a leading `'`. Audited as `sample.export`.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/samples/export.csv", tag = "samples",
    params(("org_id" = String, Path, description = "Organization id"), SampleQuery),
    responses(
        (status = 200, description = "The rows as CSV", content_type = "text/csv", body = String),
        (status = 400, description = "A query parameter is invalid", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("session" = ["samples:read", "exports:create"]))
)]
pub async fn export_samples(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RawQuery(raw): RawQuery,
) -> ApiResult<(HeaderMap, Vec<u8>)> {
    scope.require(Permission::SAMPLES_READ)?;
    scope.require(Permission::EXPORTS_CREATE)?;
    let org = state.store().org(&scope);
    let defs = org.sample_fields().await?;
    let search = parse_search(raw.as_deref().unwrap_or(""), &defs)?;
    let internal = |e: csv::Error| ApiError::Internal(format!("csv: {e}"));
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = [
        "code",
        "id",
        "sample_type",
        "status",
        "source_ref",
        "collected_at",
        "received_at",
        "quantity",
        "unit",
        "notes",
        "project_id",
        "registered_at",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    header.extend(defs.iter().map(|d| format!("custom.{}", d.key)));
    w.write_record(&header).map_err(internal)?;
    let mut filter = search.filter;
    filter.before_seq = None;
    let mut rows = 0usize;
    let mut truncated = false;
    loop {
        let (mut items, next) = org.samples_page(filter.clone(), 1000).await?;
        crate::sensitive::reveal(&state, &scope, &mut items).await?;
        for s in items {
            if rows >= MAX_EXPORT_ROWS {
                truncated = true;
                break;
            }
            let opt = |v: Option<String>| v.unwrap_or_default();
            let mut record = vec![
                s.code.clone(),
                s.id.to_string(),
                s.sample_type.clone(),
                s.status.as_str().to_owned(),
                opt(s.source_ref.clone()),
                opt(s.collected_at.map(Timestamp::to_rfc3339)),
                opt(s.received_at.map(Timestamp::to_rfc3339)),
                opt(s.quantity.map(|q| q.to_string())),
                opt(s.unit.clone()),
                opt(s.notes.clone()),
                opt(s.project_id.map(|p| p.to_string())),
                s.created_at.to_rfc3339(),
            ];
            record.extend(
                defs.iter()
                    .map(|d| s.custom.get(&d.key).map(value_text).unwrap_or_default()),
            );
            w.write_record(record.iter().map(|c| csv_cell(c)))
                .map_err(internal)?;
            rows += 1;
        }
        match next {
            Some(n) if !truncated => filter.before_seq = Some(n),
            _ => break,
        }
    }
    let body = w
        .into_inner()
        .map_err(|e| ApiError::Internal(format!("csv: {e}")))?;
    // Recorded before a byte leaves: the export is an audit event.
    org.record_sample_export(search.described, rows, truncated)
        .await?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"samples.csv\""),
    );
    if truncated {
        headers.insert("x-labledger-truncated", HeaderValue::from_static("true"));
    }
    Ok((headers, body))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFieldRequest {
    /// snake_case, unique in the org (e.g. `storage_temp`).
    key: String,
    label: String,
    /// text, number, date or choice.
    #[serde(rename = "type")]
    field_type: String,
    /// A number's unit (e.g. `°C`).
    unit: Option<String>,
    /// A number's least allowed value.
    min: Option<f64>,
    /// A number's greatest allowed value.
    max: Option<f64>,
    /// A choice's options.
    options: Option<Vec<String>>,
    /// Every new sample must carry a value.
    #[serde(default)]
    required: bool,
    /// Values are stored encrypted under the org's key (shown to readers of samples) and cannot
    /// be searched.
    #[serde(default)]
    sensitive: bool,
}

#[derive(Serialize, ToSchema)]
pub struct FieldView {
    key: String,
    label: String,
    /// text, number, date or choice.
    #[serde(rename = "type")]
    field_type: String,
    unit: Option<String>,
    min: Option<f64>,
    max: Option<f64>,
    options: Option<Vec<String>>,
    required: bool,
    /// Values are stored encrypted and cannot be searched.
    sensitive: bool,
}

impl From<FieldDef> for FieldView {
    fn from(d: FieldDef) -> Self {
        let field_type = d.kind.type_name().to_owned();
        let (unit, min, max, options) = match d.kind {
            FieldKind::Number { unit, min, max } => (unit, min, max, None),
            FieldKind::Choice { options } => (None, None, None, Some(options)),
            FieldKind::Text | FieldKind::Date => (None, None, None, None),
        };
        Self {
            key: d.key,
            label: d.label,
            field_type,
            unit,
            min,
            max,
            options,
            required: d.required,
            sensitive: d.sensitive,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct FieldList {
    items: Vec<FieldView>,
}

/// The org's custom sample fields.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/sample-fields", tag = "samples",
    params(("org_id" = String, Path, description = "Organization id")),
    responses((status = 200, body = FieldList), CommonErrors),
    security(("session" = ["samples:read"]))
)]
pub async fn list_sample_fields(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
) -> ApiResult<Json<FieldList>> {
    scope.require(Permission::SAMPLES_READ)?;
    let defs = state.store().org(&scope).sample_fields().await?;
    Ok(Json(FieldList {
        items: defs.into_iter().map(Into::into).collect(),
    }))
}

/// Define a custom sample field (audited `sample_field.create`); a key already used: 409.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/sample-fields", tag = "samples",
    params(("org_id" = String, Path, description = "Organization id")),
    request_body = NewFieldRequest,
    responses((status = 201, body = FieldView), CommonErrors, InputErrors),
    security(("session" = ["org_settings:write"]))
)]
pub async fn create_sample_field(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    ApiJson(req): ApiJson<NewFieldRequest>,
) -> ApiResult<(StatusCode, Json<FieldView>)> {
    scope.require(Permission::ORG_SETTINGS_WRITE)?;
    let def = parse_def(RawDef {
        key: req.key,
        label: req.label,
        field_type: req.field_type,
        unit: req.unit,
        min: req.min,
        max: req.max,
        options: req.options,
        required: req.required,
        sensitive: req.sensitive,
    })
    .map_err(ApiError::Invalid)?;
    let def = state.store().org(&scope).create_sample_field(def).await?;
    Ok((StatusCode::CREATED, Json(def.into())))
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
    let sample = state.store().org(&scope).sample(id).await?;
    Ok(Json(
        crate::sensitive::reveal_one(&state, &scope, sample)
            .await?
            .into(),
    ))
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
    let sample = state
        .store()
        .org(&scope)
        .transition_sample(id, to, reason)
        .await?;
    Ok(Json(
        crate::sensitive::reveal_one(&state, &scope, sample)
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
        let Err(ApiError::Invalid(errors)) = parse_csv(csv.as_bytes(), &[]) else {
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
        let Err(ApiError::Invalid(errors)) = parse_csv(b"colour\nred\n", &[]) else {
            panic!("must fail")
        };
        assert_eq!(errors.len(), 2);
        assert_eq!(
            parse_csv(b"sample_type,unit\nblood,mL\n", &[])
                .unwrap()
                .len(),
            1
        );
    }
}
