//! `POST /api/v1/orgs/{org_id}/imports/eln`: a `.eln` from another ELN becomes a new project
//! (see [`crate::eln_import`]); `?dry_run=true` answers what each entity would become and
//! writes nothing.

use super::{CommonErrors, InputErrors};
use crate::eln_import;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiQuery, OrgAccess};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// `true`: list every entity of the crate and what it would become; write nothing.
    dry_run: Option<bool>,
}

/// One entity of the crate and what the import makes of it.
#[derive(Serialize, ToSchema)]
pub struct EntityView {
    /// The entity's `@id` (`field:<key>` for a custom field the import defines).
    id: String,
    /// Its `@type`.
    #[serde(rename = "type")]
    kind: String,
    /// `sample`, `file`, `custom_field`, `custom_field_value`, `provenance`, `evidence_file` or
    /// `skipped`.
    becomes: String,
    /// Why (always given for `skipped`).
    reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DryRunView {
    entities: Vec<EntityView>,
    /// SHA-256 of the archive (lowercase hex).
    source_sha256: String,
}

#[derive(Serialize, ToSchema)]
pub struct ImportedView {
    #[schema(value_type = String, format = Uuid)]
    project_id: String,
    /// Samples registered.
    samples: usize,
    /// Files stored (the original `ro-crate-metadata.json` among them).
    files: usize,
}

/// Import a `.eln` (RO-Crate zip from eLabFTW, SampleDB, Kadi4Mat, PASTA, LabLedger, …) as a new
/// project: a sample per Dataset that describes a thing, its properties as custom fields (types
/// and units kept), its provenance as data; every file into the evidence vault (its SHA-256
/// checked), the original metadata kept as a file. All or nothing, one `import.eln` audit
/// event. The body is the archive (`application/vnd.eln+zip`, `application/zip` or raw bytes),
/// streamed to a temporary file: at most 256 MiB, expanding to at most 1 GiB (100× per
/// entry), 10,000 entries. A hostile or broken archive answers 400 (not a zip, paths outside
/// the root folder, symlinks, unnamed entries), 413 (limits) or 422 (no or invalid metadata, a
/// SHA-256 mismatch, an entry the metadata does not describe), and nothing is written.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/imports/eln", tag = "exports",
    params(("org_id" = String, Path, description = "Organization id"), ImportQuery),
    // Also as octet-stream: generic clients and scanners have no serializer for the zip type.
    request_body(description = "The .eln archive", content(
        (Vec<u8> = "application/vnd.eln+zip"),
        (Vec<u8> = "application/octet-stream"),
    )),
    responses(
        (status = 200, description = "Dry run: what each entity would become", body = DryRunView),
        (status = 201, description = "Imported", body = ImportedView),
        CommonErrors, InputErrors,
    ),
    security(("session" = ["samples:write", "files:write"]))
)]
pub async fn import_eln(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    ApiQuery(q): ApiQuery<ImportQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    eln_import::require(&scope)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .trim()
        .to_ascii_lowercase();
    if ![
        "application/vnd.eln+zip",
        "application/zip",
        "application/octet-stream",
    ]
    .iter()
    .any(|t| content_type.starts_with(t))
    {
        return Err(ApiError::UnsupportedMediaType(
            "Send the .eln archive itself as the body (application/vnd.eln+zip).".into(),
        ));
    }
    let upload = eln_import::receive(body).await?;
    let prepared = eln_import::prepare(&state, &scope, upload).await?;
    if q.dry_run.unwrap_or(false) {
        let view = DryRunView {
            source_sha256: prepared.source_sha256.clone(),
            entities: eln_import::entities(&prepared)
                .into_iter()
                .map(|e| EntityView {
                    id: e.id,
                    kind: e.kind,
                    becomes: e.becomes,
                    reason: e.reason,
                })
                .collect(),
        };
        return Ok((StatusCode::OK, Json(view)).into_response());
    }
    let done = eln_import::import(&state, &scope, prepared).await?;
    Ok((
        StatusCode::CREATED,
        Json(ImportedView {
            project_id: done.project_id.to_string(),
            samples: done.samples,
            files: done.files,
        }),
    )
        .into_response())
}
