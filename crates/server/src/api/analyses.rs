//! Analysis outputs and provenance: register what was derived from what, and walk the graph
//! both ways from a file or a sample.

use super::{CommonErrors, InputErrors};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, OrgAccess, RecordId};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use labledger_domain::file::InputType;
use labledger_domain::{AnalysisId, FieldError, FileId, Permission, SampleId};
use labledger_store::{Analysis, NewAnalysis, Provenance};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The largest structured result or parameter set, in bytes of JSON.
const MAX_JSON: usize = 256 * 1024;
const MAX_INPUTS: usize = 1000;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InputRef {
    /// `file`, `sample` or `workflow_run`.
    #[serde(rename = "type")]
    pub(crate) input_type: String,
    /// The input's id (in this organization).
    pub(crate) id: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAnalysisRequest {
    /// The output when it is a file of this organization.
    pub(crate) output_file_id: Option<String>,
    /// The output when it is a structured result (a JSON object); give this or
    /// `output_file_id`, not both.
    #[schema(value_type = Option<Object>)]
    pub(crate) result: Option<serde_json::Value>,
    /// The method, e.g. `HPLC purity`.
    pub(crate) method: String,
    /// The software used, e.g. `ChemStation`.
    pub(crate) software: Option<String>,
    pub(crate) software_version: Option<String>,
    /// The parameters (a JSON object).
    #[schema(value_type = Option<Object>)]
    pub(crate) parameters: Option<serde_json::Value>,
    /// One or more inputs.
    pub(crate) inputs: Vec<InputRef>,
}

#[derive(Serialize, ToSchema)]
pub struct InputView {
    #[serde(rename = "type")]
    input_type: String,
    id: String,
}

#[derive(Serialize, ToSchema)]
pub struct AnalysisView {
    id: String,
    output_file_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    result: Option<serde_json::Value>,
    method: String,
    software: Option<String>,
    software_version: Option<String>,
    #[schema(value_type = Object)]
    parameters: serde_json::Value,
    inputs: Vec<InputView>,
    created_at: String,
    created_by: Option<String>,
}

impl From<Analysis> for AnalysisView {
    fn from(a: Analysis) -> Self {
        Self {
            id: a.id.to_string(),
            output_file_id: a.output_file_id,
            result: a.result.and_then(|r| serde_json::from_str(&r).ok()),
            method: a.method,
            software: a.software,
            software_version: a.software_version,
            parameters: serde_json::from_str(&a.parameters).unwrap_or(serde_json::Value::Null),
            inputs: a
                .inputs
                .into_iter()
                .map(|i| InputView {
                    input_type: i.input_type,
                    id: i.id,
                })
                .collect(),
            created_at: a.created_at.to_rfc3339(),
            created_by: a.created_by,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ProvenanceView {
    /// The analyses that produced this record, with their inputs.
    derived_from: Vec<AnalysisView>,
    /// The analyses that used this record as an input, with their outputs.
    derived_into: Vec<AnalysisView>,
}

impl From<Provenance> for ProvenanceView {
    fn from(p: Provenance) -> Self {
        Self {
            derived_from: p.derived_from.into_iter().map(Into::into).collect(),
            derived_into: p.derived_into.into_iter().map(Into::into).collect(),
        }
    }
}

fn short_text(field: &str, raw: &str, required: bool) -> Result<Option<String>, FieldError> {
    let t = raw.trim();
    if t.is_empty() {
        return if required {
            Err(FieldError::new(field, "must not be empty"))
        } else {
            Ok(None)
        };
    }
    if t.chars().count() > 200 || t.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must be at most 200 characters without control characters",
        ));
    }
    Ok(Some(t.to_owned()))
}

/// The API's validation of a registration (the UI's form goes through it too).
pub(crate) fn parse_request(req: NewAnalysisRequest) -> Result<NewAnalysis, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut ok = |r: Result<Option<String>, FieldError>| match r {
        Ok(v) => v,
        Err(e) => {
            errors.push(e);
            None
        }
    };
    let method = ok(short_text("method", &req.method, true));
    let software = ok(req
        .software
        .as_deref()
        .map_or(Ok(None), |s| short_text("software", s, false)));
    let software_version = ok(req
        .software_version
        .as_deref()
        .map_or(Ok(None), |s| short_text("software_version", s, false)));
    let output_file_id = match req.output_file_id.as_deref() {
        None => None,
        Some(raw) => match raw.parse::<FileId>() {
            Ok(id) => Some(id),
            Err(_) => {
                errors.push(FieldError::new("output_file_id", "is not a file id"));
                None
            }
        },
    };
    let result = match req.result {
        None | Some(serde_json::Value::Null) => None,
        Some(v) if !v.is_object() => {
            errors.push(FieldError::new("result", "must be a JSON object"));
            Some(String::new())
        }
        Some(v) => {
            let text = v.to_string();
            if text.len() > MAX_JSON {
                errors.push(FieldError::new("result", "is larger than 256 KiB"));
            }
            Some(text)
        }
    };
    if req.output_file_id.is_some() == result.is_some() {
        errors.push(FieldError::new(
            "output_file_id",
            "give exactly one output: `output_file_id` or `result`",
        ));
    }
    let parameters = match req.parameters {
        None | Some(serde_json::Value::Null) => "{}".to_owned(),
        Some(v @ serde_json::Value::Object(_)) => {
            let text = v.to_string();
            if text.len() > MAX_JSON {
                errors.push(FieldError::new("parameters", "is larger than 256 KiB"));
            }
            text
        }
        Some(_) => {
            errors.push(FieldError::new("parameters", "must be a JSON object"));
            String::new()
        }
    };
    if req.inputs.is_empty() {
        errors.push(FieldError::new("inputs", "name at least one input"));
    }
    if req.inputs.len() > MAX_INPUTS {
        errors.push(FieldError::new("inputs", "at most 1000 inputs"));
    }
    let mut inputs = Vec::new();
    for (i, input) in req.inputs.iter().enumerate() {
        match InputType::parse(&format!("inputs[{i}].type"), &input.input_type) {
            Ok(t) => {
                let id = input.id.trim();
                if id.parse::<uuid::Uuid>().is_err() {
                    errors.push(FieldError::new(format!("inputs[{i}].id"), "is not an id"));
                } else if Some(id) == req.output_file_id.as_deref() && t == InputType::File {
                    errors.push(FieldError::new(
                        format!("inputs[{i}].id"),
                        "an output cannot be its own input",
                    ));
                } else {
                    inputs.push((t, id.to_ascii_lowercase()));
                }
            }
            Err(e) => errors.push(e),
        }
    }
    match (errors.is_empty(), method) {
        (true, Some(method)) => Ok(NewAnalysis {
            output_file_id,
            result,
            method,
            software,
            software_version,
            parameters,
            inputs,
        }),
        _ => Err(errors),
    }
}

/// Register an analysis: an output (a file, or a structured JSON result) derived from inputs
/// (files, samples, workflow runs of this organization) by a method with parameters.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/analyses", tag = "files",
    params(("org_id" = String, Path, description = "Organization id")),
    request_body = NewAnalysisRequest,
    responses((status = 201, body = AnalysisView), CommonErrors, InputErrors),
    security(("session" = ["files:write"]))
)]
pub async fn create_analysis(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    ApiJson(req): ApiJson<NewAnalysisRequest>,
) -> ApiResult<(StatusCode, Json<AnalysisView>)> {
    scope.require(Permission::FILES_WRITE)?;
    let new = parse_request(req).map_err(ApiError::Invalid)?;
    let created = state.store().org(&scope).create_analysis(new).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// One analysis with its inputs and output.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/analyses/{analysis_id}", tag = "files",
    params(("org_id" = String, Path, description = "Organization id"), ("analysis_id" = String, Path, description = "Analysis id")),
    responses((status = 200, body = AnalysisView), CommonErrors),
    security(("session" = ["files:read"]))
)]
pub async fn get_analysis(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<AnalysisId>,
) -> ApiResult<Json<AnalysisView>> {
    Ok(Json(state.store().org(&scope).analysis(id).await?.into()))
}

/// A file's provenance: the analyses it was derived from and those derived from it.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/files/{file_id}/provenance", tag = "files",
    params(("org_id" = String, Path, description = "Organization id"), ("file_id" = String, Path, description = "File id")),
    responses((status = 200, body = ProvenanceView), CommonErrors),
    security(("session" = ["files:read"]))
)]
pub async fn file_provenance(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<FileId>,
) -> ApiResult<Json<ProvenanceView>> {
    let p = state
        .store()
        .org(&scope)
        .provenance(InputType::File, id.to_string())
        .await?;
    Ok(Json(p.into()))
}

/// A sample's provenance: the analyses that used it as an input.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/samples/{sample_id}/provenance", tag = "files",
    params(("org_id" = String, Path, description = "Organization id"), ("sample_id" = String, Path, description = "Sample id")),
    responses((status = 200, body = ProvenanceView), CommonErrors),
    security(("session" = ["files:read"]))
)]
pub async fn sample_provenance(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<SampleId>,
) -> ApiResult<Json<ProvenanceView>> {
    let p = state
        .store()
        .org(&scope)
        .provenance(InputType::Sample, id.to_string())
        .await?;
    Ok(Json(p.into()))
}
