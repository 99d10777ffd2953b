//! Exports and reports: the org's Ed25519 export key, a project exported as a signed `.eln`
//! archive (RO-Crate 1.1 inside a zip, with a manifest of SHA-256 hashes signed by that key),
//! files filed under a project, and the project report as PDF or CSV.

use super::files::{object_error, org_key};
use super::{CommonErrors, InputErrors};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, AuthUser, OrgAccess, RecordId};
use crate::reports::{text_pdf, Line};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use futures::StreamExt;
use labledger_domain::{FieldError, FileId, Permission, ProjectId, SampleId, Timestamp};
use labledger_store::{
    CustodyRecord, ExportKey, ExportRecord, FileObject, FileRecord, OrgScope, Project, Sample,
    SampleFilter,
};
use labledger_vault::ObjectRef;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::Write;
use utoipa::{IntoParams, ToSchema};

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
    security(("session" = ["projects:write"]))
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

/// Everything a report or an export says about a project.
struct ProjectData {
    project: Project,
    samples: Vec<Sample>,
    custody: Vec<CustodyRecord>,
    files: Vec<(FileRecord, FileObject)>,
    /// (record, what, signer, meaning, signed at, valid, reason)
    signatures: Vec<SignatureRow>,
}

struct SignatureRow {
    record: String,
    signer: String,
    meaning: String,
    at: String,
    valid: bool,
    reason: Option<String>,
}

async fn project_data(state: &AppState, scope: &OrgScope, id: ProjectId) -> ApiResult<ProjectData> {
    let org = state.store().org(scope);
    let project = org.project(id).await?;
    let mut samples = Vec::new();
    let mut before = None;
    loop {
        let filter = SampleFilter {
            project_id: Some(id),
            before_seq: before,
            ..SampleFilter::default()
        };
        let (page, next) = org.samples_page(filter, 1000).await?;
        samples.extend(page);
        match next {
            Some(n) => before = Some(n),
            None => break,
        }
    }
    samples.sort_by_key(|s| s.seq);
    let ids: Vec<SampleId> = samples.iter().map(|s| s.id).collect();
    let mut custody = org.custody_report(&ids).await?;
    // Sensitive custom values leave decrypted (the export is the reader's copy).
    crate::sensitive::reveal_custody(state, scope, &mut custody).await?;
    let files = if scope.can(Permission::FILES_READ) {
        org.project_files(id).await?
    } else {
        Vec::new()
    };
    let mut signatures = Vec::new();
    if scope.can(Permission::WORKFLOWS_READ) {
        for run_id in org.project_run_ids(id).await? {
            let Ok(run_id) = run_id.parse() else { continue };
            let detail = org.workflow_run(run_id).await?;
            let sigs = org.workflow_run_signatures(&detail).await?;
            let label = format!(
                "workflow run {} ({} on {})",
                detail.run.seq, detail.run.protocol_title, detail.run.target_code
            );
            let mut push = |what: String, c: &labledger_store::CheckedSignature| {
                signatures.push(SignatureRow {
                    record: what,
                    signer: c.signature.signer_name.clone(),
                    meaning: c.signature.meaning.as_str().to_owned(),
                    at: c.signature.signed_at.to_rfc3339(),
                    valid: c.validity.valid,
                    reason: c.validity.reason.clone(),
                })
            };
            for (index, list) in &sigs.steps {
                for c in list {
                    push(format!("{label} step {index}"), c);
                }
            }
            for c in &sigs.run {
                push(label.clone(), c);
            }
        }
    }
    Ok(ProjectData {
        project,
        samples,
        custody,
        files,
        signatures,
    })
}

/// Spreadsheet cells that cannot run as formulas (CSV injection).
fn cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

fn csv_bytes(header: &[&str], rows: Vec<Vec<String>>) -> ApiResult<Vec<u8>> {
    let internal = |e: csv::Error| ApiError::Internal(format!("csv: {e}"));
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).map_err(internal)?;
    for r in rows {
        w.write_record(r.iter().map(|c| cell(c)))
            .map_err(internal)?;
    }
    w.into_inner()
        .map_err(|e| ApiError::Internal(format!("csv: {e}")))
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

fn samples_csv(samples: &[Sample]) -> ApiResult<Vec<u8>> {
    csv_bytes(
        &[
            "id",
            "code",
            "sample_type",
            "status",
            "source_ref",
            "collected_at",
            "received_at",
            "quantity",
            "unit",
            "notes",
            "created_at",
        ],
        samples
            .iter()
            .map(|s| {
                vec![
                    s.id.to_string(),
                    s.code.clone(),
                    s.sample_type.clone(),
                    s.status.as_str().to_owned(),
                    opt(&s.source_ref),
                    s.collected_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                    s.received_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                    opt(&s.quantity),
                    opt(&s.unit),
                    opt(&s.notes),
                    s.created_at.to_rfc3339(),
                ]
            })
            .collect(),
    )
}

fn files_csv(files: &[(FileRecord, FileObject)]) -> ApiResult<Vec<u8>> {
    csv_bytes(
        &[
            "id",
            "name",
            "version",
            "sha256",
            "size",
            "media_type",
            "created_at",
            "created_by",
        ],
        files
            .iter()
            .map(|(f, _)| {
                vec![
                    f.id.to_string(),
                    f.name.clone(),
                    f.version.to_string(),
                    hex::encode(&f.sha256),
                    f.size.to_string(),
                    f.media_type.clone(),
                    f.created_at.to_rfc3339(),
                    opt(&f.created_by),
                ]
            })
            .collect(),
    )
}

fn signatures_csv(rows: &[SignatureRow]) -> ApiResult<Vec<u8>> {
    csv_bytes(
        &[
            "record",
            "signer",
            "meaning",
            "signed_at",
            "valid",
            "reason",
        ],
        rows.iter()
            .map(|s| {
                vec![
                    s.record.clone(),
                    s.signer.clone(),
                    s.meaning.clone(),
                    s.at.clone(),
                    s.valid.to_string(),
                    opt(&s.reason),
                ]
            })
            .collect(),
    )
}

fn project_report_lines(org_name: &str, d: &ProjectData) -> Vec<Line> {
    let mut l = vec![
        Line::Title(format!("Project report: {}", d.project.name)),
        Line::Text(format!(
            "{org_name} - project {} - status {} - generated {}",
            d.project.id,
            d.project.status.as_str(),
            Timestamp::now().to_rfc3339()
        )),
    ];
    if let Some(desc) = &d.project.description {
        l.push(Line::Text(desc.clone()));
    }
    l.push(Line::Blank);
    l.push(Line::Heading(format!("Samples ({})", d.samples.len())));
    let mut by_status: std::collections::BTreeMap<&str, Vec<&Sample>> = Default::default();
    for s in &d.samples {
        by_status.entry(s.status.as_str()).or_default().push(s);
    }
    for (status, list) in &by_status {
        l.push(Line::Text(format!("{status}: {}", list.len())));
        for s in list {
            let place = d
                .custody
                .iter()
                .find(|c| c.sample.id == s.id)
                .and_then(|c| c.placement.as_ref())
                .map(|p| format!(" - in {} / {}", p.path, p.position))
                .unwrap_or_default();
            l.push(Line::Text(format!(
                "    {}  {}{place}",
                s.code, s.sample_type
            )));
        }
    }
    l.push(Line::Blank);
    l.push(Line::Heading(format!("Files ({})", d.files.len())));
    for (f, _) in &d.files {
        l.push(Line::Text(format!(
            "{} v{} - {} bytes - sha256 {}",
            f.name,
            f.version,
            f.size,
            hex::encode(&f.sha256)
        )));
    }
    l.push(Line::Blank);
    l.push(Line::Heading(format!(
        "Signatures ({})",
        d.signatures.len()
    )));
    for s in &d.signatures {
        l.push(Line::Text(format!(
            "{} - signed by {} ({}) at {} - {}",
            s.record,
            s.signer,
            s.meaning,
            s.at,
            if s.valid { "valid" } else { "INVALID" }
        )));
        if let Some(r) = &s.reason {
            l.push(Line::Text(format!("    {r}")));
        }
    }
    l
}

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProjectReportQuery {
    /// For the CSV report: `samples` (default), `files` or `signatures`.
    part: Option<String>,
}

/// A project's report as PDF: samples by status (with their place), files with their SHA-256,
/// and the signatures of the project's workflow runs with signer, meaning, time and validity.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/projects/{project_id}/report.pdf", tag = "exports",
    params(("org_id" = String, Path, description = "Organization id"), ("project_id" = String, Path, description = "Project id")),
    responses((status = 200, description = "PDF", content_type = "application/pdf", body = String), CommonErrors),
    security(("session" = ["reports:read"]))
)]
pub async fn project_report_pdf(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<ProjectId>,
) -> ApiResult<Response> {
    scope.require(Permission::REPORTS_READ)?;
    let d = project_data(&state, &scope, id).await?;
    let pdf = text_pdf(
        &project_report_lines(scope.org_name(), &d),
        &format!("LabLedger project report {}", d.project.id),
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"project-report.pdf\"",
            ),
        ],
        pdf,
    )
        .into_response())
}

/// A project's report as CSV: one of its samples, files or signatures.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/projects/{project_id}/report.csv", tag = "exports",
    params(("org_id" = String, Path, description = "Organization id"), ("project_id" = String, Path, description = "Project id"), ProjectReportQuery),
    responses((status = 200, description = "CSV", content_type = "text/csv", body = String),
        (status = 400, description = "A query parameter is invalid", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors),
    security(("session" = ["reports:read"]))
)]
pub async fn project_report_csv(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<ProjectId>,
    ApiQuery(q): ApiQuery<ProjectReportQuery>,
) -> ApiResult<Response> {
    scope.require(Permission::REPORTS_READ)?;
    let part = q.part.unwrap_or_else(|| "samples".into());
    if !["samples", "files", "signatures"].contains(&part.as_str()) {
        return Err(ApiError::BadRequest(
            "A query parameter is invalid.".into(),
            vec![FieldError::new(
                "part",
                "must be samples, files or signatures",
            )],
        ));
    }
    let d = project_data(&state, &scope, id).await?;
    let body = match part.as_str() {
        "files" => files_csv(&d.files)?,
        "signatures" => signatures_csv(&d.signatures)?,
        _ => samples_csv(&d.samples)?,
    };
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response())
}

/// The custody report as PDF (used by `GET …/custody/report?format=pdf`).
pub(crate) fn custody_pdf(org_name: &str, records: &[CustodyRecord]) -> Vec<u8> {
    let mut l = vec![
        Line::Title("Chain of custody".into()),
        Line::Text(format!(
            "{org_name} - generated {} - {} sample(s)",
            Timestamp::now().to_rfc3339(),
            records.len()
        )),
    ];
    for r in records {
        l.push(Line::Blank);
        l.push(Line::Heading(format!("Sample {}", r.sample.code)));
        l.push(Line::Text(format!(
            "{} - status {} - {}",
            r.sample.sample_type,
            r.sample.status.as_str(),
            match &r.placement {
                Some(p) => format!("in {} / {}", p.path, p.position),
                None => "in no box".into(),
            }
        )));
        for e in &r.events {
            l.push(Line::Text(format!(
                "#{} {} {} by {} - from {} to {}{}",
                e.seq,
                e.at.to_rfc3339(),
                e.kind.as_str(),
                e.actor_name,
                e.from.as_deref().unwrap_or("-"),
                e.to.as_deref().unwrap_or("-"),
                e.reason
                    .as_deref()
                    .map(|r| format!(" - {r}"))
                    .unwrap_or_default()
            )));
        }
    }
    text_pdf(&l, "LabLedger chain of custody")
}

/// Writes zip entries (stored, fixed time) and remembers each one's SHA-256 and size.
struct Archive {
    zip: zip::ZipWriter<std::fs::File>,
    root: String,
    entries: Vec<Entry>,
    bytes: u64,
}

struct Entry {
    /// Relative to the crate root (the archive's top folder).
    path: String,
    sha256: String,
    size: u64,
    media_type: String,
}

fn zip_error(e: zip::result::ZipError) -> ApiError {
    ApiError::Internal(format!("zip: {e}"))
}

fn io_error(e: std::io::Error) -> ApiError {
    ApiError::Unavailable(format!("writing the export: {e}"))
}

impl Archive {
    fn options() -> zip::write::SimpleFileOptions {
        zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(true)
            .unix_permissions(0o644)
    }

    fn start(&mut self, path: &str) -> ApiResult<()> {
        self.zip
            .start_file(format!("{}/{path}", self.root), Self::options())
            .map_err(zip_error)
    }

    fn add(&mut self, path: &str, media_type: &str, data: &[u8]) -> ApiResult<()> {
        self.start(path)?;
        self.zip.write_all(data).map_err(io_error)?;
        self.entries.push(Entry {
            path: path.to_owned(),
            sha256: hex::encode(Sha256::digest(data)),
            size: data.len() as u64,
            media_type: media_type.to_owned(),
        });
        self.bytes += data.len() as u64;
        Ok(())
    }

    fn add_json(&mut self, path: &str, value: &Value) -> ApiResult<()> {
        let data = serde_json::to_vec_pretty(value)
            .map_err(|e| ApiError::Internal(format!("json: {e}")))?;
        self.add(path, "application/json", &data)
    }
}

fn json_of<T: Serialize>(v: &T) -> ApiResult<Value> {
    serde_json::to_value(v).map_err(|e| ApiError::Internal(format!("json: {e}")))
}

/// A file name safe inside the archive: no separators, no control characters.
fn safe_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() || c == ':' {
                '_'
            } else {
                c
            }
        })
        .collect();
    if cleaned == "." || cleaned == ".." || cleaned.is_empty() {
        "_".into()
    } else {
        cleaned
    }
}

/// Export a project as a signed `.eln` archive (a zip following the ELN Consortium format:
/// one top folder holding `ro-crate-metadata.json`, RO-Crate 1.1). It holds the project, its
/// samples with their custody and its files' metadata as JSON and CSV, the project's files
/// (decrypted and re-verified against their SHA-256), the audit events about all of them, and
/// `manifest.json` listing every entry's SHA-256, signed with the org's Ed25519 export key
/// (`manifest.sig`, raw 64 bytes; `manifest.pub`, the public key in hex). Needs a person who
/// entered their password recently (step-up). An `export.create` audit event names the
/// manifest's SHA-256.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/projects/{project_id}/export", tag = "exports",
    params(("org_id" = String, Path, description = "Organization id"), ("project_id" = String, Path, description = "Project id")),
    responses(
        (status = 200, description = "The .eln archive", content_type = "application/vnd.eln+zip", body = String),
        CommonErrors,
        (status = 500, description = "A stored file failed its integrity check", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("session" = ["exports:create"]))
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
    let d = project_data(&state, &scope, id).await?;
    let (signing, public) = signing_key(&state, &scope).await?;
    let now = Timestamp::now();
    let root = format!(
        "labledger-project-{}-{}",
        d.project.id,
        now.to_rfc3339().get(0..10).unwrap_or("export")
    );
    let tmp = tempfile::tempfile().map_err(io_error)?;
    let mut ar = Archive {
        zip: zip::ZipWriter::new(tmp),
        root: root.clone(),
        entries: Vec::new(),
        bytes: 0,
    };
    // Records.
    let project_json = json_of(&d.project)?;
    ar.add_json("records/project.json", &project_json)?;
    ar.add(
        "records/project.csv",
        "text/csv",
        &csv_bytes(
            &[
                "id",
                "name",
                "description",
                "status",
                "created_by",
                "created_at",
            ],
            vec![vec![
                d.project.id.to_string(),
                d.project.name.clone(),
                opt(&d.project.description),
                d.project.status.as_str().to_owned(),
                d.project.created_by.clone(),
                d.project.created_at.to_rfc3339(),
            ]],
        )?,
    )?;
    ar.add_json("records/samples.json", &json_of(&d.custody)?)?;
    ar.add("records/samples.csv", "text/csv", &samples_csv(&d.samples)?)?;
    ar.add(
        "records/custody.csv",
        "text/csv",
        &crate::api::storage::report_csv(&d.custody)?,
    )?;
    let file_meta: Vec<Value> = d
        .files
        .iter()
        .map(|(f, _)| json_of(f))
        .collect::<ApiResult<_>>()?;
    ar.add_json("records/files.json", &Value::Array(file_meta))?;
    ar.add("records/files.csv", "text/csv", &files_csv(&d.files)?)?;
    ar.add(
        "records/signatures.csv",
        "text/csv",
        &signatures_csv(&d.signatures)?,
    )?;
    // The files, decrypted and verified.
    let vault = &state.config().vault;
    let org_key = if d.files.is_empty() {
        None
    } else {
        org_key(&state, &scope, false).await?
    };
    let mut file_entries = Vec::new();
    for (f, object) in &d.files {
        let key = org_key
            .as_ref()
            .ok_or_else(|| ApiError::Integrity("the org has no key".into()))?;
        let sha256: [u8; 32] = object
            .sha256
            .as_slice()
            .try_into()
            .map_err(|_| ApiError::Internal("stored sha256 has the wrong length".into()))?;
        let size = u64::try_from(f.size).map_err(|_| ApiError::Internal("bad size".into()))?;
        let reference = ObjectRef {
            path: object.path.clone(),
            wrapped_key: object.wrapped_key.clone(),
            segment_size: usize::try_from(object.segment_size)
                .map_err(|_| ApiError::Internal("bad segment size".into()))?,
            sha256,
            size,
        };
        let path = format!("files/{}/{}", f.id, safe_name(&f.name));
        ar.start(&path)?;
        let mut stream = vault
            .open(key, &reference, None)
            .await
            .map_err(object_error)?;
        let mut hasher = Sha256::new();
        let mut written = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| match e {
                labledger_vault::ObjectError::Integrity(m) => {
                    ApiError::Integrity(format!("file {}: {m}", f.id))
                }
                e => object_error(e),
            })?;
            hasher.update(&chunk);
            written += chunk.len() as u64;
            ar.zip.write_all(&chunk).map_err(io_error)?;
        }
        let got = hasher.finalize();
        if got.as_slice() != f.sha256.as_slice() || written != size {
            return Err(ApiError::Integrity(format!(
                "file {}: its content does not match its SHA-256",
                f.id
            )));
        }
        ar.bytes += written;
        ar.entries.push(Entry {
            path: path.clone(),
            sha256: hex::encode(got),
            size: written,
            media_type: f.media_type.clone(),
        });
        file_entries.push((path, f.clone()));
    }
    // Audit events about the project, its samples and its files.
    let mut targets: Vec<(&str, String)> = vec![("project", d.project.id.to_string())];
    targets.extend(d.samples.iter().map(|s| ("sample", s.id.to_string())));
    targets.extend(d.files.iter().map(|(f, _)| ("file", f.id.to_string())));
    let events = state.store().org(&scope).events_about(&targets).await?;
    let events: Vec<Value> = events
        .into_iter()
        .map(|e| json_of(&super::audit::AuditEventView::from(e)))
        .collect::<ApiResult<_>>()?;
    ar.add_json("audit/events.json", &Value::Array(events))?;
    // The RO-Crate description of every entry so far.
    let crate_json = ro_crate(&d, &ar.entries, &file_entries, scope.org_name(), now);
    ar.add_json("ro-crate-metadata.json", &crate_json)?;
    // The signed manifest.
    let manifest = json!({
        "format": "labledger-export-manifest/1",
        "org_id": scope.org_id().to_string(),
        "project_id": d.project.id.to_string(),
        "created_at": now.to_rfc3339(),
        "root": root,
        "signature": {
            "algorithm": "Ed25519",
            "public_key": hex::encode(&public),
            "file": "manifest.sig",
        },
        "entries": ar.entries.iter().map(|e| json!({
            "path": e.path, "sha256": e.sha256, "size": e.size,
        })).collect::<Vec<_>>(),
    });
    let manifest_bytes = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| ApiError::Internal(format!("json: {e}")))?;
    let manifest_sha256: [u8; 32] = Sha256::digest(&manifest_bytes).into();
    let signature = signing.sign(&manifest_bytes).to_bytes();
    let entries = ar.entries.len();
    let bytes = ar.bytes;
    for (path, data) in [
        ("manifest.json", manifest_bytes.clone()),
        ("manifest.sig", signature.to_vec()),
        ("manifest.pub", hex::encode(&public).into_bytes()),
    ] {
        ar.start(path)?;
        ar.zip.write_all(&data).map_err(io_error)?;
    }
    let mut file = ar.zip.finish().map_err(zip_error)?;
    let total = std::io::Seek::stream_position(&mut file).map_err(io_error)?;
    std::io::Seek::rewind(&mut file).map_err(io_error)?;
    state
        .store()
        .org(&scope)
        .record_export(ExportRecord {
            project_id: d.project.id,
            manifest_sha256,
            entries,
            bytes,
            files: d.files.len(),
            samples: d.samples.len(),
        })
        .await?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(
        tokio::fs::File::from_std(file),
    ));
    let mut res = Response::new(body);
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.eln+zip"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(total));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{root}.eln\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&hex::encode(manifest_sha256)) {
        h.insert("x-manifest-sha256", v);
    }
    Ok(res)
}

/// `ro-crate-metadata.json`: RO-Crate 1.1 with the root Dataset listing every entry.
fn ro_crate(
    d: &ProjectData,
    entries: &[Entry],
    files: &[(String, FileRecord)],
    org_name: &str,
    now: Timestamp,
) -> Value {
    let mut graph = vec![
        json!({
            "@id": "ro-crate-metadata.json",
            "@type": "CreativeWork",
            "about": {"@id": "./"},
            "conformsTo": {"@id": "https://w3id.org/ro/crate/1.1"},
            "dateCreated": now.to_rfc3339(),
            "sdPublisher": {"@id": "#publisher"},
            "version": "1.0",
        }),
        json!({
            "@id": "#publisher",
            "@type": "Organization",
            "name": "LabLedger",
        }),
        json!({
            "@id": "#org",
            "@type": "Organization",
            "name": org_name,
        }),
    ];
    let has_part: Vec<Value> = entries
        .iter()
        .map(|e| json!({"@id": format!("./{}", e.path)}))
        .collect();
    graph.push(json!({
        "@id": "./",
        "@type": "Dataset",
        "name": d.project.name,
        "description": d.project.description.clone().unwrap_or_default(),
        "identifier": d.project.id.to_string(),
        "dateCreated": d.project.created_at.to_rfc3339(),
        "datePublished": now.to_rfc3339(),
        "publisher": {"@id": "#org"},
        "keywords": d.samples.iter().map(|s| s.code.clone()).collect::<Vec<_>>().join(", "),
        "hasPart": has_part,
    }));
    for e in entries {
        let name = files
            .iter()
            .find(|(p, _)| *p == e.path)
            .map(|(_, f)| f.name.clone())
            .unwrap_or_else(|| e.path.rsplit('/').next().unwrap_or(&e.path).to_owned());
        let mut entity = json!({
            "@id": format!("./{}", e.path),
            "@type": "File",
            "name": name,
            "encodingFormat": e.media_type,
            "contentSize": e.size.to_string(),
            "sha256": e.sha256,
        });
        if let Some((_, f)) = files.iter().find(|(p, _)| *p == e.path) {
            if let Some(obj) = entity.as_object_mut() {
                obj.insert("identifier".into(), json!(f.id.to_string()));
                obj.insert("version".into(), json!(f.version));
                obj.insert("dateCreated".into(), json!(f.created_at.to_rfc3339()));
            }
        }
        graph.push(entity);
    }
    json!({
        "@context": "https://w3id.org/ro/crate/1.1/context",
        "@graph": graph,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_is_spki_of_the_raw_key() {
        let pem = public_pem(&[7u8; 32]);
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA"));
        assert_eq!(safe_name("../a/b"), ".._a_b");
        assert_eq!(safe_name(".."), "_");
    }
}
