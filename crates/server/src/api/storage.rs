//! Storage locations, sample placement, chain of custody and labels.

use super::samples::optional_text;
use super::{CommonErrors, InputErrors};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, OrgAccess, RecordId};
use crate::labels::{self, SheetLabel, Symbol};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use labledger_domain::label::{zpl, LabelText};
use labledger_domain::storage::{parse_location_name, Grid, LocationKind};
use labledger_domain::{
    FieldError, FieldErrors, LocationId, Permission, SampleId, Timestamp, UserId,
};
use labledger_store::{
    CustodyEvent, CustodyRecord, Location, LocationDetail, NewLocation, Placement,
};
use maud::{html, DOCTYPE};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, ToSchema)]
pub struct LocationView {
    #[schema(value_type = String, format = Uuid)]
    id: String,
    parent_id: Option<String>,
    /// site, room, freezer, rack or box.
    kind: String,
    name: String,
    /// Boxes only.
    rows: Option<u32>,
    columns: Option<u32>,
    /// Samples in this box.
    occupied: i64,
    created_at: String,
}

impl From<Location> for LocationView {
    fn from(l: Location) -> Self {
        Self {
            id: l.id.to_string(),
            parent_id: l.parent_id.map(|p| p.to_string()),
            kind: l.kind.as_str().to_owned(),
            name: l.name,
            rows: l.grid.map(|g| g.rows),
            columns: l.grid.map(|g| g.columns),
            occupied: l.occupied,
            created_at: l.created_at.to_rfc3339(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLocationRequest {
    /// site, room, freezer, rack or box. A site is the top; a room goes in a site, a freezer in
    /// a room, a rack in a freezer, a box in a rack or a freezer.
    kind: String,
    name: String,
    /// The enclosing location (none for a site).
    parent_id: Option<String>,
    /// Box grid rows (1–26, lettered A…).
    rows: Option<i64>,
    /// Box grid columns (1–32).
    columns: Option<i64>,
}

fn parse_location_id(errors: &mut FieldErrors, field: &str, raw: &str) -> Option<LocationId> {
    errors.check(
        raw.trim()
            .parse::<LocationId>()
            .map_err(|_| FieldError::new(field, "must be a location id")),
    )
}

/// Create a storage location (a box takes `rows` and `columns`).
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/locations", tag = "storage",
    params(("org_id" = String, Path, description = "Organization id")),
    request_body = NewLocationRequest,
    responses((status = 201, body = LocationView), CommonErrors, InputErrors),
    security(("session" = ["samples:write"]))
)]
pub async fn create_location(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    ApiJson(req): ApiJson<NewLocationRequest>,
) -> ApiResult<(StatusCode, Json<LocationView>)> {
    scope.require(Permission::SAMPLES_WRITE)?;
    let new = validate_location(req)?;
    let loc = state.store().org(&scope).create_location(new).await?;
    Ok((StatusCode::CREATED, Json(loc.into())))
}

pub(crate) fn validate_location(req: NewLocationRequest) -> Result<NewLocation, ApiError> {
    let mut errors = FieldErrors::default();
    let kind = errors.check(LocationKind::parse("kind", req.kind.trim()));
    let name = errors.check(parse_location_name("name", &req.name));
    let parent_id = req
        .parent_id
        .filter(|p| !p.trim().is_empty())
        .and_then(|p| parse_location_id(&mut errors, "parent_id", &p).map(Some))
        .flatten();
    let grid = match (req.rows, req.columns) {
        (None, None) => None,
        (Some(r), Some(c)) => errors.check(Grid::new(r, c)),
        (Some(_), None) => {
            errors.push(FieldError::new("columns", "a grid needs rows and columns"));
            None
        }
        (None, Some(_)) => {
            errors.push(FieldError::new("rows", "a grid needs rows and columns"));
            None
        }
    };
    errors.into_result()?;
    match (kind, name) {
        (Some(kind), Some(name)) => Ok(NewLocation {
            parent_id,
            kind,
            name,
            grid,
        }),
        _ => Err(ApiError::Internal("validated location missing".into())),
    }
}

/// Create-location fields as a form gives them (the UI).
pub(crate) fn location_request(
    kind: String,
    name: String,
    parent_id: String,
    rows: &str,
    columns: &str,
) -> Result<NewLocationRequest, ApiError> {
    let mut errors = FieldErrors::default();
    let mut num = |field: &str, v: &str| match v.trim() {
        "" => None,
        v => errors.check(
            v.parse::<i64>()
                .map_err(|_| FieldError::new(field, "must be a whole number")),
        ),
    };
    let rows = num("rows", rows);
    let columns = num("columns", columns);
    errors.into_result()?;
    Ok(NewLocationRequest {
        kind,
        name,
        parent_id: Some(parent_id),
        rows,
        columns,
    })
}

#[derive(Serialize, ToSchema)]
pub struct LocationList {
    /// Every location of the org; `parent_id` links them into the tree.
    items: Vec<LocationView>,
}

/// Every storage location of the organization (the tree, flattened).
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/locations", tag = "storage",
    params(("org_id" = String, Path, description = "Organization id")),
    responses((status = 200, body = LocationList), CommonErrors),
    security(("session" = ["samples:read"]))
)]
pub async fn list_locations(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
) -> ApiResult<Json<LocationList>> {
    let items = state.store().org(&scope).locations().await?;
    Ok(Json(LocationList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct OccupantView {
    /// `A1` …
    position: String,
    /// The sample there; null (with `code`, `status`, `sample_type`) when it is a sample outside
    /// the caller's projects: the position shows only as occupied.
    sample_id: Option<String>,
    code: Option<String>,
    status: Option<String>,
    sample_type: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct LocationDetailView {
    location: LocationView,
    /// Enclosing locations, top first.
    path: Vec<LocationView>,
    children: Vec<LocationView>,
    /// For a box: who sits where.
    occupants: Vec<OccupantView>,
}

impl From<LocationDetail> for LocationDetailView {
    fn from(d: LocationDetail) -> Self {
        Self {
            location: d.location.into(),
            path: d.path.into_iter().map(Into::into).collect(),
            children: d.children.into_iter().map(Into::into).collect(),
            occupants: d
                .occupants
                .into_iter()
                .map(|o| OccupantView {
                    position: o.position,
                    sample_id: o.sample.as_ref().map(|s| s.id.to_string()),
                    code: o.sample.as_ref().map(|s| s.code.clone()),
                    status: o.sample.as_ref().map(|s| s.status.as_str().to_owned()),
                    sample_type: o.sample.map(|s| s.sample_type),
                })
                .collect(),
        }
    }
}

/// One location: its path, children and, for a box, its occupancy.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/locations/{location_id}", tag = "storage",
    params(("org_id" = String, Path, description = "Organization id"), ("location_id" = String, Path, description = "Location id")),
    responses((status = 200, body = LocationDetailView), CommonErrors),
    security(("session" = ["samples:read"]))
)]
pub async fn get_location(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<LocationId>,
) -> ApiResult<Json<LocationDetailView>> {
    Ok(Json(state.store().org(&scope).location(id).await?.into()))
}

#[derive(Serialize, ToSchema)]
pub struct PlacementView {
    location_id: String,
    /// `A1` …
    position: String,
    /// `Site › Room › Freezer › Rack › Box`.
    path: String,
    placed_at: String,
}

impl From<Placement> for PlacementView {
    fn from(p: Placement) -> Self {
        Self {
            location_id: p.location_id.to_string(),
            position: p.position,
            path: p.path,
            placed_at: p.placed_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PlacementState {
    /// Where the sample sits; null when it is in no box.
    placement: Option<PlacementView>,
}

/// Where a sample sits.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/samples/{sample_id}/placement", tag = "storage",
    params(("org_id" = String, Path, description = "Organization id"), ("sample_id" = String, Path, description = "Sample id")),
    responses((status = 200, body = PlacementState), CommonErrors),
    security(("session" = ["samples:read"]))
)]
pub async fn get_placement(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<SampleId>,
) -> ApiResult<Json<PlacementState>> {
    let org = state.store().org(&scope);
    org.sample(id).await?;
    Ok(Json(PlacementState {
        placement: org.placement(id).await?.map(Into::into),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceRequest {
    /// The box.
    location_id: String,
    /// A position of its grid, `A1` …
    position: String,
    /// Why (kept in the custody trail).
    reason: Option<String>,
}

/// Put a sample into a box position, or move it there. One sample per position: a taken
/// position answers 409 naming its occupant.
#[utoipa::path(
    put, path = "/api/v1/orgs/{org_id}/samples/{sample_id}/placement", tag = "storage",
    params(("org_id" = String, Path, description = "Organization id"), ("sample_id" = String, Path, description = "Sample id")),
    request_body = PlaceRequest,
    responses((status = 200, body = PlacementState), CommonErrors, InputErrors),
    security(("session" = ["samples:write"]))
)]
pub async fn place_sample(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<SampleId>,
    ApiJson(req): ApiJson<PlaceRequest>,
) -> ApiResult<Json<PlacementState>> {
    scope.require(Permission::SAMPLES_WRITE)?;
    let mut errors = FieldErrors::default();
    let location = parse_location_id(&mut errors, "location_id", &req.location_id);
    if req.position.chars().count() > 8 {
        errors.push(FieldError::new(
            "position",
            "must be a row letter and a column number, such as A1 or H12",
        ));
    }
    let reason = optional_text(&mut errors, "reason", req.reason, 2000);
    errors.into_result()?;
    let location =
        location.ok_or_else(|| ApiError::Internal("validated location missing".into()))?;
    let placed = state
        .store()
        .org(&scope)
        .place_sample(id, location, req.position, reason)
        .await?;
    Ok(Json(PlacementState {
        placement: Some(placed.into()),
    }))
}

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RemoveQuery {
    /// Why (kept in the custody trail).
    reason: Option<String>,
}

/// Take a sample out of its box.
#[utoipa::path(
    delete, path = "/api/v1/orgs/{org_id}/samples/{sample_id}/placement", tag = "storage",
    params(("org_id" = String, Path, description = "Organization id"), ("sample_id" = String, Path, description = "Sample id"), RemoveQuery),
    responses((status = 200, body = PlacementState), (status = 409, description = "The sample is in no box", body = crate::error::Problem, content_type = "application/problem+json"), CommonErrors),
    security(("session" = ["samples:write"]))
)]
pub async fn remove_sample(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<SampleId>,
    ApiQuery(q): ApiQuery<RemoveQuery>,
) -> ApiResult<Json<PlacementState>> {
    scope.require(Permission::SAMPLES_WRITE)?;
    let mut errors = FieldErrors::default();
    let reason = optional_text(&mut errors, "reason", q.reason, 2000);
    errors
        .into_result()
        .map_err(|e| ApiError::BadRequest("A query parameter is invalid.".into(), e.0))?;
    state.store().org(&scope).remove_sample(id, reason).await?;
    Ok(Json(PlacementState { placement: None }))
}

#[derive(Serialize, ToSchema)]
pub struct CustodyEventView {
    /// 1, 2, … per sample, in order.
    seq: i64,
    /// registered, handover, placed, moved, removed or status.
    kind: String,
    at: String,
    /// user, token, system or operator.
    actor_type: String,
    actor_id: Option<String>,
    /// Who acted, as named at the time.
    actor: String,
    /// Who holds the sample after this event.
    custodian_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    reason: Option<String>,
}

impl From<CustodyEvent> for CustodyEventView {
    fn from(e: CustodyEvent) -> Self {
        Self {
            seq: e.seq,
            kind: e.kind.as_str().to_owned(),
            at: e.at.to_rfc3339(),
            actor_type: e.actor_type,
            actor_id: e.actor_id,
            actor: e.actor_name,
            custodian_id: e.custodian_id.map(|u| u.to_string()),
            from: e.from,
            to: e.to,
            reason: e.reason,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CustodyTimeline {
    /// Oldest first.
    items: Vec<CustodyEventView>,
}

/// A sample's chain of custody, oldest first: registration, hand-overs, placements and moves,
/// status changes.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/samples/{sample_id}/custody", tag = "storage",
    params(("org_id" = String, Path, description = "Organization id"), ("sample_id" = String, Path, description = "Sample id")),
    responses((status = 200, body = CustodyTimeline), CommonErrors),
    security(("session" = ["samples:read"]))
)]
pub async fn custody(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<SampleId>,
) -> ApiResult<Json<CustodyTimeline>> {
    let items = state.store().org(&scope).custody(id).await?;
    Ok(Json(CustodyTimeline {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoverRequest {
    /// The user id of the active member who takes the sample.
    to_member: String,
    /// Why.
    reason: String,
}

/// Hand a sample over to another member (recorded in its chain of custody).
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/samples/{sample_id}/handovers", tag = "storage",
    params(("org_id" = String, Path, description = "Organization id"), ("sample_id" = String, Path, description = "Sample id")),
    request_body = HandoverRequest,
    responses((status = 201, body = CustodyEventView), CommonErrors, InputErrors),
    security(("session" = ["samples:write"]))
)]
pub async fn hand_over(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<SampleId>,
    ApiJson(req): ApiJson<HandoverRequest>,
) -> ApiResult<(StatusCode, Json<CustodyEventView>)> {
    scope.require(Permission::SAMPLES_WRITE)?;
    let (to, reason) = validate_handover(req.to_member, req.reason)?;
    let event = state.store().org(&scope).hand_over(id, to, reason).await?;
    Ok((StatusCode::CREATED, Json(event.into())))
}

pub(crate) fn validate_handover(to: String, reason: String) -> Result<(UserId, String), ApiError> {
    let mut errors = FieldErrors::default();
    let to = errors.check(
        to.trim()
            .parse::<UserId>()
            .map_err(|_| FieldError::new("to_member", "must be a member's user id")),
    );
    let reason = optional_text(&mut errors, "reason", Some(reason), 2000);
    if reason.is_none() && errors.0.iter().all(|e| e.field != "reason") {
        errors.push(FieldError::new(
            "reason",
            "say why the sample changes hands",
        ));
    }
    errors.into_result()?;
    match (to, reason) {
        (Some(to), Some(reason)) => Ok((to, reason)),
        _ => Err(ApiError::Internal("validated hand-over missing".into())),
    }
}

/// The most samples one report or label sheet covers.
pub const MAX_REPORT_SAMPLES: usize = 500;

fn sample_list(raw: Option<String>) -> Result<Vec<SampleId>, ApiError> {
    let bad = |m: &str| {
        ApiError::BadRequest(
            "A query parameter is invalid.".into(),
            vec![FieldError::new("samples", m)],
        )
    };
    let raw = raw.unwrap_or_default();
    let ids = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<SampleId>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| bad("must be sample ids separated by commas"))?;
    if ids.is_empty() {
        return Err(bad("name at least one sample id"));
    }
    if ids.len() > MAX_REPORT_SAMPLES {
        return Err(bad(&format!("at most {MAX_REPORT_SAMPLES} samples")));
    }
    Ok(ids)
}

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Sample ids, separated by commas (up to 500).
    #[param(required = true, min_length = 1)]
    samples: Option<String>,
    /// `csv` (default), `html` (printable) or `pdf`.
    format: Option<String>,
}

/// A spreadsheet cell that cannot run as a formula when opened (CSV injection).
fn cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

pub(crate) fn report_csv(records: &[CustodyRecord]) -> Result<Vec<u8>, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let internal = |e: csv::Error| ApiError::Internal(format!("csv: {e}"));
    w.write_record([
        "sample_code",
        "sample_id",
        "seq",
        "at",
        "kind",
        "actor",
        "from",
        "to",
        "custodian_id",
        "reason",
    ])
    .map_err(internal)?;
    for r in records {
        for e in &r.events {
            w.write_record([
                r.sample.code.clone(),
                r.sample.id.to_string(),
                e.seq.to_string(),
                e.at.to_rfc3339(),
                e.kind.as_str().to_owned(),
                cell(&e.actor_name),
                cell(e.from.as_deref().unwrap_or("")),
                cell(e.to.as_deref().unwrap_or("")),
                e.custodian_id.map(|u| u.to_string()).unwrap_or_default(),
                cell(e.reason.as_deref().unwrap_or("")),
            ])
            .map_err(internal)?;
        }
    }
    w.into_inner()
        .map_err(|e| ApiError::Internal(format!("csv: {e}")))
}

pub(crate) fn report_html(org_name: &str, records: &[CustodyRecord]) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "Chain of custody — " (org_name) }
                link rel="stylesheet" href="/assets/app.css";
            }
            body.print-page {
                h1 { "Chain of custody" }
                p { (org_name) " · generated " (Timestamp::now().to_rfc3339()) " · " (records.len()) " sample(s)" }
                @for r in records {
                    section.custody-report {
                        h2 { "Sample " code { (r.sample.code) } }
                        p {
                            (r.sample.sample_type) " · status " (r.sample.status.as_str())
                            " · " @match &r.placement {
                                Some(p) => { "in " (p.path) " / " (p.position) }
                                None => { "in no box" }
                            }
                        }
                        table.table {
                            thead { tr { th { "#" } th { "When (UTC)" } th { "What" } th { "Who" } th { "From" } th { "To" } th { "Why" } } }
                            tbody {
                                @for e in &r.events {
                                    tr {
                                        td { (e.seq) }
                                        td { (e.at.to_rfc3339()) }
                                        td { (e.kind.as_str()) }
                                        td { (e.actor_name) }
                                        td { (e.from.as_deref().unwrap_or("—")) }
                                        td { (e.to.as_deref().unwrap_or("—")) }
                                        td { (e.reason.as_deref().unwrap_or("—")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    .into_string()
}

/// The chain of custody of one or many samples, as CSV or printable HTML.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/custody/report", tag = "storage",
    params(("org_id" = String, Path, description = "Organization id"), ReportQuery),
    responses(
        (status = 200, description = "CSV (one row per custody event, the default), printable HTML or PDF, as `format` asks",
            content((String = "text/csv"), (String = "text/html"), (Vec<u8> = "application/pdf"))),
        (status = 400, description = "A query parameter is invalid", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("session" = ["samples:read"]))
)]
pub async fn custody_report(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> ApiResult<Response> {
    scope.require(Permission::SAMPLES_READ)?;
    let ids = sample_list(q.samples)?;
    let format = q.format.unwrap_or_else(|| "csv".into());
    if !["csv", "html", "pdf"].contains(&format.as_str()) {
        return Err(ApiError::BadRequest(
            "A query parameter is invalid.".into(),
            vec![FieldError::new("format", "must be csv, html or pdf")],
        ));
    }
    let records = state.store().org(&scope).custody_report(&ids).await?;
    if format == "pdf" {
        let pdf = crate::api::exports::reports::custody_pdf(scope.org_name(), &records);
        return Ok(([(header::CONTENT_TYPE, "application/pdf")], pdf).into_response());
    }
    if format == "html" {
        let page = report_html(scope.org_name(), &records);
        return Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response());
    }
    let body = report_csv(&records)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"custody-report.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LabelQuery {
    /// `qr` (default) or `code128`.
    kind: Option<String>,
}

fn symbol(kind: Option<String>) -> Result<Symbol, ApiError> {
    Symbol::parse(kind.as_deref()).ok_or_else(|| {
        ApiError::BadRequest(
            "A query parameter is invalid.".into(),
            vec![FieldError::new("kind", "must be qr or code128")],
        )
    })
}

fn label_error(e: labels::LabelError) -> ApiError {
    ApiError::Internal(format!("label: {e}"))
}

/// A sample's code as a QR code or Code 128 barcode, SVG.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/samples/{sample_id}/label.svg", tag = "storage",
    params(("org_id" = String, Path, description = "Organization id"), ("sample_id" = String, Path, description = "Sample id"), LabelQuery),
    responses((status = 200, description = "SVG", content_type = "image/svg+xml", body = String), CommonErrors),
    security(("session" = ["samples:read"]))
)]
pub async fn label_svg(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<SampleId>,
    ApiQuery(q): ApiQuery<LabelQuery>,
) -> ApiResult<Response> {
    let sym = symbol(q.kind)?;
    let sample = state.store().org(&scope).sample(id).await?;
    let svg = labels::svg(&sample.code, sym).map_err(label_error)?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

/// A sample's code as a QR code or Code 128 barcode, PNG.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/samples/{sample_id}/label.png", tag = "storage",
    params(("org_id" = String, Path, description = "Organization id"), ("sample_id" = String, Path, description = "Sample id"), LabelQuery),
    responses((status = 200, description = "PNG", content_type = "image/png", body = Vec<u8>), CommonErrors),
    security(("session" = ["samples:read"]))
)]
pub async fn label_png(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<SampleId>,
    ApiQuery(q): ApiQuery<LabelQuery>,
) -> ApiResult<Response> {
    let sym = symbol(q.kind)?;
    let sample = state.store().org(&scope).sample(id).await?;
    let png = labels::png(&sample.code, sym).map_err(label_error)?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

/// A sample's label as ZPL II for Zebra-compatible printers (Code 128, QR, code and type).
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/samples/{sample_id}/label.zpl", tag = "storage",
    params(("org_id" = String, Path, description = "Organization id"), ("sample_id" = String, Path, description = "Sample id")),
    responses((status = 200, description = "ZPL", content_type = "application/zpl", body = String), CommonErrors),
    security(("session" = ["samples:read"]))
)]
pub async fn label_zpl(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<SampleId>,
) -> ApiResult<Response> {
    let sample = state.store().org(&scope).sample(id).await?;
    let text = zpl(&LabelText {
        code: sample.code,
        line2: sample.sample_type,
    });
    Ok((
        [(header::CONTENT_TYPE, "application/zpl; charset=us-ascii")],
        text,
    )
        .into_response())
}

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SheetQuery {
    /// Sample ids, separated by commas (up to 500).
    #[param(required = true, min_length = 1)]
    samples: Option<String>,
}

/// A printable A4 sheet of labels (3 × 8 a page) for many samples, PDF.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/labels.pdf", tag = "storage",
    params(("org_id" = String, Path, description = "Organization id"), SheetQuery),
    responses(
        (status = 200, description = "PDF", content_type = "application/pdf", body = Vec<u8>),
        (status = 400, description = "A query parameter is invalid", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("session" = ["samples:read"]))
)]
pub async fn label_sheet(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    ApiQuery(q): ApiQuery<SheetQuery>,
) -> ApiResult<Response> {
    scope.require(Permission::SAMPLES_READ)?;
    let ids = sample_list(q.samples)?;
    let org = state.store().org(&scope);
    let mut labels = Vec::with_capacity(ids.len());
    for id in ids {
        let s = org.sample(id).await?;
        labels.push(SheetLabel {
            code: s.code,
            line2: s.sample_type,
        });
    }
    let pdf = labels::sheet_pdf(&labels).map_err(label_error)?;
    Ok(([(header::CONTENT_TYPE, "application/pdf")], pdf).into_response())
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct DeriveRequest {
    /// `aliquot` (default: a portion of the same material) or `derivative` (new material).
    pub kind: Option<String>,
    /// How many children (1–100, default 1).
    pub count: Option<i64>,
    /// Taken from the parent for each child, in the parent's unit; the parent's quantity goes
    /// down by count × quantity.
    pub quantity: Option<f64>,
    /// The children's type (an aliquot keeps the parent's; a derivative must name one).
    pub sample_type: Option<String>,
}

pub(crate) fn validate_derive(
    req: DeriveRequest,
) -> Result<labledger_store::NewChildren, ApiError> {
    use labledger_domain::sample::{parse_sample_type, DerivationKind, MAX_CHILDREN};
    let mut errors = FieldErrors::default();
    let kind = match req.kind.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
        None => Some(DerivationKind::Aliquot),
        Some(k) => errors.check(DerivationKind::parse("kind", k)),
    };
    let count = req.count.unwrap_or(1);
    if !(1..=i64::from(MAX_CHILDREN)).contains(&count) {
        errors.push(FieldError::new(
            "count",
            format!("must be 1 to {MAX_CHILDREN}"),
        ));
    }
    let quantity = match req.quantity {
        Some(q) if !q.is_finite() || q <= 0.0 => {
            errors.push(FieldError::new("quantity", "must be a finite number > 0"));
            None
        }
        q => q,
    };
    let sample_type = req
        .sample_type
        .filter(|t| !t.trim().is_empty())
        .and_then(|t| errors.check(parse_sample_type("sample_type", &t)));
    errors.into_result()?;
    let kind = kind.ok_or_else(|| ApiError::Internal("validated kind missing".into()))?;
    Ok(labledger_store::NewChildren {
        kind,
        count: count as u32,
        quantity_each: quantity,
        sample_type,
    })
}

#[derive(Serialize, ToSchema)]
pub struct DerivedSamples {
    /// The new child samples.
    items: Vec<super::samples::SampleView>,
}

/// Make aliquots or derivatives of a sample: child samples linked to it; its quantity goes down
/// by what they took (more than it holds: 409).
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/samples/{sample_id}/aliquots", tag = "storage",
    params(("org_id" = String, Path, description = "Organization id"), ("sample_id" = String, Path, description = "Parent sample id")),
    request_body = DeriveRequest,
    responses((status = 201, body = DerivedSamples), CommonErrors, InputErrors),
    security(("session" = ["samples:write"]))
)]
pub async fn derive_samples(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<SampleId>,
    ApiJson(req): ApiJson<DeriveRequest>,
) -> ApiResult<(StatusCode, Json<DerivedSamples>)> {
    scope.require(Permission::SAMPLES_WRITE)?;
    let new = validate_derive(req)?;
    let mut children = state.store().org(&scope).derive_samples(id, new).await?;
    crate::sensitive::reveal(&state, &scope, &mut children).await?;
    Ok((
        StatusCode::CREATED,
        Json(DerivedSamples {
            items: children.into_iter().map(Into::into).collect(),
        }),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct RelativeView {
    id: String,
    code: String,
    sample_type: String,
    status: String,
    /// aliquot or derivative.
    kind: String,
    /// What was taken from the parent for this link.
    quantity_taken: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct LineageView {
    /// Parent, grandparent, … (nearest first).
    ancestors: Vec<RelativeView>,
    /// Samples made from this one.
    children: Vec<RelativeView>,
}

fn relative(r: labledger_store::Relative) -> RelativeView {
    RelativeView {
        id: r.id.to_string(),
        code: r.code,
        sample_type: r.sample_type,
        status: r.status,
        kind: r.kind,
        quantity_taken: r.quantity_taken,
    }
}

/// A sample's lineage both ways: where it came from and what was made from it.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/samples/{sample_id}/lineage", tag = "storage",
    params(("org_id" = String, Path, description = "Organization id"), ("sample_id" = String, Path, description = "Sample id")),
    responses((status = 200, body = LineageView), CommonErrors),
    security(("session" = ["samples:read"]))
)]
pub async fn lineage(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<SampleId>,
) -> ApiResult<Json<LineageView>> {
    let l = state.store().org(&scope).lineage(id).await?;
    Ok(Json(LineageView {
        ancestors: l.ancestors.into_iter().map(relative).collect(),
        children: l.children.into_iter().map(relative).collect(),
    }))
}
