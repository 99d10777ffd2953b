//! Exports and reports: the org's Ed25519 export key, a project exported as a signed `.eln`
//! archive (RO-Crate 1.1 inside a zip, with a manifest of SHA-256 hashes signed by that key),
//! files filed under a project, and the project report as PDF or CSV.
//!
//! Here: the export key and the routes around it. `reports`: what a project's report and export
//! say (CSV, PDF). `archive`: writing and signing the `.eln` zip. `requests`: the export routes,
//! with the second-admin approval of large and whole-org exports.

use super::files::org_key;
use super::{CommonErrors, InputErrors};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, OrgAccess, RecordId};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use base64::Engine as _;
use ed25519_dalek::SigningKey;
use labledger_domain::{FieldError, FileId, Permission, ProjectId};
use labledger_store::{ExportKey, OrgScope};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The wrapping purpose of the export key's secret (AES-256-GCM under the org key).
const KEY_PURPOSE: &str = labledger_vault::EXPORT_KEY_PURPOSE;
/// SubjectPublicKeyInfo DER prefix of an Ed25519 public key (RFC 8410).
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

fn public_pem(public: &[u8]) -> String {
    let der = [SPKI_PREFIX.as_slice(), public].concat();
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n")
}

/// The org's export key, made on first use (its secret wrapped by the org key).
async fn export_key(state: &AppState, scope: &OrgScope) -> ApiResult<ExportKey> {
    let org = state.store().org(scope);
    if let Some(k) = org.export_key().await? {
        return Ok(k);
    }
    let key = org_key(state, scope, scope.can(Permission::FILES_WRITE))
        .await?
        .ok_or_else(|| {
            ApiError::Conflict(
                "The organization has no keys yet; an export (or a file upload) creates them."
                    .into(),
            )
        })?;
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let public = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
    let wrapped = key
        .wrap_secret(KEY_PURPOSE, seed)
        .map_err(|e| ApiError::Internal(format!("wrapping the export key: {e}")))?;
    Ok(org.ensure_export_key(public.to_vec(), wrapped).await?)
}

async fn signing_key(state: &AppState, scope: &OrgScope) -> ApiResult<(SigningKey, Vec<u8>)> {
    let stored = export_key(state, scope).await?;
    let key = org_key(state, scope, false)
        .await?
        .ok_or_else(|| ApiError::Integrity("the export key's org key is missing".into()))?;
    let seed = key
        .unwrap_secret(KEY_PURPOSE, &stored.wrapped_secret)
        .map_err(|e| ApiError::Integrity(format!("the export key does not unwrap: {e}")))?;
    let signing = SigningKey::from_bytes(&seed);
    if signing.verifying_key().to_bytes().as_slice() != stored.public_key.as_slice() {
        return Err(ApiError::Integrity(
            "the export key does not match its public key".into(),
        ));
    }
    Ok((signing, stored.public_key))
}

#[derive(Serialize, ToSchema)]
pub struct PublicKeyView {
    /// Always `Ed25519`.
    algorithm: String,
    /// The raw 32-byte public key, lowercase hex (what `labledger export verify --public-key`
    /// takes).
    public_key_hex: String,
    /// The raw 32-byte public key, base64.
    public_key_base64: String,
    /// SubjectPublicKeyInfo PEM (`openssl pkey -pubin` reads it).
    public_key_pem: String,
    created_at: String,
}

/// The org's export signing key (public part), made on first use. Exports are signed with it.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/exports/public-key", tag = "exports",
    params(("org_id" = String, Path, description = "Organization id")),
    responses((status = 200, body = PublicKeyView), CommonErrors,
        (status = 409, description = "The org has no keys yet and the caller may not create them", body = crate::error::Problem, content_type = "application/problem+json")),
    security(("session" = ["exports:read"]))
)]
pub async fn export_public_key(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
) -> ApiResult<Json<PublicKeyView>> {
    scope.require(Permission::EXPORTS_READ)?;
    let k = export_key(&state, &scope).await?;
    Ok(Json(PublicKeyView {
        algorithm: "Ed25519".into(),
        public_key_hex: hex::encode(&k.public_key),
        public_key_base64: base64::engine::general_purpose::STANDARD.encode(&k.public_key),
        public_key_pem: public_pem(&k.public_key),
        created_at: k.created_at.to_rfc3339(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddProjectFileRequest {
    /// The file (version) to file under the project.
    #[schema(value_type = String, format = Uuid)]
    file_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct ProjectFileView {
    #[schema(value_type = String, format = Uuid)]
    project_id: String,
    file: super::files::FileView,
}

/// File an evidence file under a project (it is then part of the project's report and exports).
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/projects/{project_id}/files", tag = "exports",
    params(("org_id" = String, Path, description = "Organization id"), ("project_id" = String, Path, description = "Project id")),
    request_body = AddProjectFileRequest,
    responses((status = 201, body = ProjectFileView), CommonErrors, InputErrors),
    security(("session" = ["files:read", "projects:read", "projects:write"]))
)]
pub async fn add_project_file(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(project): RecordId<ProjectId>,
    ApiJson(req): ApiJson<AddProjectFileRequest>,
) -> ApiResult<(StatusCode, Json<ProjectFileView>)> {
    scope.require(Permission::PROJECTS_WRITE)?;
    let file: FileId = req
        .file_id
        .trim()
        .parse()
        .map_err(|_| FieldError::new("file_id", "is not a file id"))?;
    let record = state
        .store()
        .org(&scope)
        .add_project_file(project, file)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ProjectFileView {
            project_id: project.to_string(),
            file: record.into(),
        }),
    ))
}

mod archive;
mod graph;
pub mod reports;
pub mod requests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_is_spki_of_the_raw_key() {
        let pem = public_pem(&[7u8; 32]);
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA"));
    }
}
