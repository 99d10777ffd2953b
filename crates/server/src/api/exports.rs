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
use labledger_domain::eln_zip;
use labledger_domain::export::{self, Decision, ExportKind};
use labledger_domain::{
    ExportRequestId, FieldError, FileId, Permission, ProjectId, SampleId, Timestamp,
};
use labledger_store::{
    CustodyRecord, ExportKey, ExportRecord, ExportRequest, FileObject, FileRecord, OrgScope,
    Project, Sample, SampleFilter,
};
use labledger_vault::ObjectRef;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
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

/// Writes the canonical zip (see [`labledger_domain::eln_zip`]) and remembers each entry's
/// SHA-256 and size for the manifest.
struct Archive {
    zip: eln_zip::Writer<std::fs::File>,
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

fn zip_error(e: eln_zip::ZipError) -> ApiError {
    match e {
        eln_zip::ZipError::Io(e) => io_error(e),
        eln_zip::ZipError::Format(m) => ApiError::Internal(format!("zip: {m}")),
    }
}

fn io_error(e: std::io::Error) -> ApiError {
    ApiError::Unavailable(format!("writing the export: {e}"))
}

impl Archive {
    fn new(root: String) -> ApiResult<Self> {
        let tmp = tempfile::tempfile().map_err(io_error)?;
        Ok(Self {
            zip: eln_zip::Writer::new(tmp),
            root,
            entries: Vec::new(),
            bytes: 0,
        })
    }

    fn add_raw(&mut self, path: &str, data: &[u8]) -> ApiResult<()> {
        self.zip
            .add(&format!("{}/{path}", self.root), data)
            .map_err(zip_error)
    }

    fn add(&mut self, path: &str, media_type: &str, data: &[u8]) -> ApiResult<()> {
        self.add_raw(path, data)?;
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

    /// An evidence file, decrypted from the vault and re-verified against its SHA-256.
    async fn add_file(
        &mut self,
        state: &AppState,
        key: &labledger_vault::OrgKey,
        f: &FileRecord,
        object: &FileObject,
    ) -> ApiResult<String> {
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
        self.zip
            .start(&format!("{}/{path}", self.root), size)
            .map_err(zip_error)?;
        let mut stream = state
            .config()
            .vault
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
            if written > size {
                break;
            }
            self.zip.write(&chunk).map_err(zip_error)?;
        }
        let got = hasher.finalize();
        if got.as_slice() != f.sha256.as_slice() || written != size {
            return Err(ApiError::Integrity(format!(
                "file {}: its content does not match its SHA-256",
                f.id
            )));
        }
        self.zip.finish_entry().map_err(zip_error)?;
        self.bytes += written;
        self.entries.push(Entry {
            path: path.clone(),
            sha256: hex::encode(got),
            size: written,
            media_type: f.media_type.clone(),
        });
        Ok(path)
    }

    /// Adds `ro-crate-metadata.json`, then the signed manifest (`manifest.json`,
    /// `manifest.sig`, `manifest.pub`) and ends the zip.
    fn seal(
        mut self,
        info: &CrateInfo,
        files: &[(String, FileRecord)],
        signing: &SigningKey,
        public: &[u8],
        manifest_head: Value,
    ) -> ApiResult<Built> {
        let crate_json = ro_crate(info, &self.entries, files);
        self.add_json("ro-crate-metadata.json", &crate_json)?;
        let mut manifest = manifest_head;
        if let Some(m) = manifest.as_object_mut() {
            m.insert("format".into(), json!("labledger-export-manifest/1"));
            m.insert("root".into(), json!(self.root));
            m.insert(
                "signature".into(),
                json!({
                    "algorithm": "Ed25519",
                    "public_key": hex::encode(public),
                    "file": "manifest.sig",
                }),
            );
            m.insert(
                "entries".into(),
                Value::Array(
                    self.entries
                        .iter()
                        .map(|e| json!({"path": e.path, "sha256": e.sha256, "size": e.size}))
                        .collect(),
                ),
            );
        }
        let manifest_bytes = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| ApiError::Internal(format!("json: {e}")))?;
        let manifest_sha256: [u8; 32] = Sha256::digest(&manifest_bytes).into();
        let signature = signing.sign(&manifest_bytes).to_bytes();
        self.add_raw("manifest.json", &manifest_bytes)?;
        self.add_raw("manifest.sig", &signature)?;
        self.add_raw("manifest.pub", hex::encode(public).as_bytes())?;
        let entries = self.entries.len();
        let (mut file, total) = self.zip.finish().map_err(zip_error)?;
        std::io::Seek::rewind(&mut file).map_err(io_error)?;
        Ok(Built {
            file,
            total,
            root: self.root,
            manifest_sha256,
            entries,
            bytes: self.bytes,
        })
    }
}

/// A finished export: the zip (a temporary file, rewound) and what its audit event names.
struct Built {
    file: std::fs::File,
    total: u64,
    root: String,
    manifest_sha256: [u8; 32],
    entries: usize,
    bytes: u64,
}

impl Built {
    fn response(self) -> Response {
        let body = Body::from_stream(tokio_util::io::ReaderStream::new(
            tokio::fs::File::from_std(self.file),
        ));
        let mut res = Response::new(body);
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/vnd.eln+zip"),
        );
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(self.total));
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}.eln\"", self.root))
        {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
        if let Ok(v) = HeaderValue::from_str(&hex::encode(self.manifest_sha256)) {
            h.insert("x-manifest-sha256", v);
        }
        res
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

fn day(now: Timestamp) -> String {
    now.to_rfc3339().get(0..10).unwrap_or("export").to_owned()
}

fn project_csv(projects: &[&Project]) -> ApiResult<Vec<u8>> {
    csv_bytes(
        &[
            "id",
            "name",
            "description",
            "status",
            "created_by",
            "created_at",
        ],
        projects
            .iter()
            .map(|p| {
                vec![
                    p.id.to_string(),
                    p.name.clone(),
                    opt(&p.description),
                    p.status.as_str().to_owned(),
                    p.created_by.clone(),
                    p.created_at.to_rfc3339(),
                ]
            })
            .collect(),
    )
}

/// Builds a project's export (the caller checked the permissions and step-up).
async fn build_project(
    state: &AppState,
    scope: &OrgScope,
    id: ProjectId,
    request: Option<ExportRequestId>,
) -> ApiResult<(Built, ProjectData)> {
    let d = project_data(state, scope, id).await?;
    let (signing, public) = signing_key(state, scope).await?;
    let now = Timestamp::now();
    let mut ar = Archive::new(format!("labledger-project-{}-{}", d.project.id, day(now)))?;
    // Records.
    ar.add_json("records/project.json", &json_of(&d.project)?)?;
    ar.add(
        "records/project.csv",
        "text/csv",
        &project_csv(&[&d.project])?,
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
    let mut file_entries = Vec::new();
    if !d.files.is_empty() {
        let key = org_key(state, scope, false)
            .await?
            .ok_or_else(|| ApiError::Integrity("the org has no key".into()))?;
        for (f, object) in &d.files {
            let path = ar.add_file(state, &key, f, object).await?;
            file_entries.push((path, f.clone()));
        }
    }
    // Audit events about the project, its samples and its files.
    let mut targets: Vec<(&str, String)> = vec![("project", d.project.id.to_string())];
    targets.extend(d.samples.iter().map(|s| ("sample", s.id.to_string())));
    targets.extend(d.files.iter().map(|(f, _)| ("file", f.id.to_string())));
    let events = state.store().org(scope).events_about(&targets).await?;
    let events: Vec<Value> = events
        .into_iter()
        .map(|e| json_of(&super::audit::AuditEventView::from(e)))
        .collect::<ApiResult<_>>()?;
    ar.add_json("audit/events.json", &Value::Array(events))?;
    let info = CrateInfo {
        name: d.project.name.clone(),
        description: d.project.description.clone().unwrap_or_default(),
        identifier: d.project.id.to_string(),
        created_at: d.project.created_at,
        keywords: d
            .samples
            .iter()
            .map(|s| s.code.clone())
            .collect::<Vec<_>>()
            .join(", "),
        org_name: scope.org_name().to_owned(),
        now,
    };
    let mut head = json!({
        "kind": "project",
        "org_id": scope.org_id().to_string(),
        "project_id": d.project.id.to_string(),
        "created_at": now.to_rfc3339(),
    });
    if let (Some(r), Some(m)) = (request, head.as_object_mut()) {
        m.insert("export_request_id".into(), json!(r.to_string()));
    }
    let built = ar.seal(&info, &file_entries, &signing, &public, head)?;
    Ok((built, d))
}

/// Builds a whole org's export: every project, sample (with custody), file and audit event.
async fn build_org(
    state: &AppState,
    scope: &OrgScope,
    request: ExportRequestId,
) -> ApiResult<Built> {
    let org = state.store().org(scope);
    org.require_export_of(ExportKind::Org)?;
    let (signing, public) = signing_key(state, scope).await?;
    let now = Timestamp::now();
    let mut ar = Archive::new(format!("labledger-org-{}-{}", scope.org_id(), day(now)))?;
    ar.add_json(
        "records/org.json",
        &json!({"id": scope.org_id().to_string(), "name": scope.org_name()}),
    )?;
    let projects = org.projects().await?;
    ar.add_json("records/projects.json", &json_of(&projects)?)?;
    ar.add(
        "records/projects.csv",
        "text/csv",
        &project_csv(&projects.iter().collect::<Vec<_>>())?,
    )?;
    let mut samples = Vec::new();
    let mut before = None;
    loop {
        let filter = SampleFilter {
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
    crate::sensitive::reveal_custody(state, scope, &mut custody).await?;
    ar.add_json("records/samples.json", &json_of(&custody)?)?;
    ar.add("records/samples.csv", "text/csv", &samples_csv(&samples)?)?;
    ar.add(
        "records/custody.csv",
        "text/csv",
        &crate::api::storage::report_csv(&custody)?,
    )?;
    let mut files = Vec::new();
    for id in org.all_file_ids().await? {
        files.push(org.file_with_object(id).await?);
    }
    let file_meta: Vec<Value> = files
        .iter()
        .map(|(f, _)| json_of(f))
        .collect::<ApiResult<_>>()?;
    ar.add_json("records/files.json", &Value::Array(file_meta))?;
    ar.add("records/files.csv", "text/csv", &files_csv(&files)?)?;
    let mut links = Vec::new();
    for p in &projects {
        for (f, _) in org.project_files(p.id).await? {
            links.push(vec![p.id.to_string(), f.id.to_string()]);
        }
    }
    ar.add(
        "records/project_files.csv",
        "text/csv",
        &csv_bytes(&["project_id", "file_id"], links)?,
    )?;
    let mut attached = Vec::new();
    for (f, _) in &files {
        for a in org.file_attachments(f.id).await? {
            attached.push(vec![
                f.id.to_string(),
                a.target_type.as_str().to_owned(),
                a.target_id,
                a.label,
                a.added_at.to_rfc3339(),
            ]);
        }
    }
    ar.add(
        "records/file_attachments.csv",
        "text/csv",
        &csv_bytes(
            &[
                "file_id",
                "target_type",
                "target_id",
                "target",
                "attached_at",
            ],
            attached,
        )?,
    )?;
    let mut file_entries = Vec::new();
    if !files.is_empty() {
        let key = org_key(state, scope, false)
            .await?
            .ok_or_else(|| ApiError::Integrity("the org has no key".into()))?;
        for (f, object) in &files {
            let path = ar.add_file(state, &key, f, object).await?;
            file_entries.push((path, f.clone()));
        }
    }
    let events: Vec<Value> = org
        .all_events()
        .await?
        .into_iter()
        .map(|e| json_of(&super::audit::AuditEventView::from(e)))
        .collect::<ApiResult<_>>()?;
    ar.add_json("audit/events.json", &Value::Array(events))?;
    let info = CrateInfo {
        name: format!("{} (whole organization)", scope.org_name()),
        description: format!(
            "Every project, sample, file and audit event of {}",
            scope.org_name()
        ),
        identifier: scope.org_id().to_string(),
        created_at: now,
        keywords: projects
            .iter()
            .map(|p| p.name.clone())
            .collect::<Vec<_>>()
            .join(", "),
        org_name: scope.org_name().to_owned(),
        now,
    };
    let head = json!({
        "kind": "org",
        "org_id": scope.org_id().to_string(),
        "export_request_id": request.to_string(),
        "created_at": now.to_rfc3339(),
    });
    ar.seal(&info, &file_entries, &signing, &public, head)
}

/// Export a project as a signed `.eln` archive (a zip following the ELN Consortium format:
/// one top folder holding `ro-crate-metadata.json`, RO-Crate 1.1). It holds the project, its
/// samples with their custody and its files' metadata as JSON and CSV, the project's files
/// (decrypted and re-verified against their SHA-256), the audit events about all of them, and
/// `manifest.json` listing every entry's SHA-256, signed with the org's Ed25519 export key
/// (`manifest.sig`, raw 64 bytes; `manifest.pub`, the public key in hex). The zip is canonical
/// (one byte layout per content), so `labledger export verify` covers every byte. Needs a
/// person who entered their password recently (step-up). An `export.create` audit event names
/// the manifest's SHA-256. A project whose files add up to more than the server's
/// `--export-approval-bytes` is not exported at once: the answer is 202 with an export request
/// that another Owner/Admin approves (see `/export-requests`).
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/projects/{project_id}/export", tag = "exports",
    params(("org_id" = String, Path, description = "Organization id"), ("project_id" = String, Path, description = "Project id")),
    responses(
        (status = 200, description = "The .eln archive", content_type = "application/vnd.eln+zip", body = String),
        (status = 202, description = "Over the size threshold: an export request waits for a second admin", body = ExportRequestView),
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
    Ok(match project_export(&state, &scope, id).await? {
        ProjectExport::Ready(res) => res,
        ProjectExport::Waiting(request) => {
            (StatusCode::ACCEPTED, Json(ExportRequestView::from(request))).into_response()
        }
    })
}

/// What asking to export a project gives: the archive at once, or a request to approve.
pub(crate) enum ProjectExport {
    Ready(Response),
    Waiting(ExportRequest),
}

/// Exports a project now, or files a request when it is over the approval threshold (the
/// caller checked step-up).
pub(crate) async fn project_export(
    state: &AppState,
    scope: &OrgScope,
    id: ProjectId,
) -> ApiResult<ProjectExport> {
    scope.require(Permission::EXPORTS_CREATE)?;
    scope.require(Permission::FILES_READ)?;
    let org = state.store().org(scope);
    org.project(id).await?;
    let estimate = org.project_files_bytes(id).await?;
    if export::needs_approval(
        ExportKind::Project,
        estimate,
        state.config().export_approval_bytes,
    ) {
        let request = org
            .request_export(ExportKind::Project, Some(id), estimate)
            .await?;
        return Ok(ProjectExport::Waiting(request));
    }
    let (built, d) = build_project(state, scope, id, None).await?;
    org.record_export(ExportRecord {
        project_id: d.project.id,
        manifest_sha256: built.manifest_sha256,
        entries: built.entries,
        bytes: built.bytes,
        files: d.files.len(),
        samples: d.samples.len(),
    })
    .await?;
    Ok(ProjectExport::Ready(built.response()))
}

/// Files a whole-org export request (the caller checked step-up).
pub(crate) async fn request_org_export(
    state: &AppState,
    scope: &OrgScope,
) -> ApiResult<ExportRequest> {
    let org = state.store().org(scope);
    org.require_export_of(ExportKind::Org)?;
    let estimate = org.org_files_bytes().await?;
    Ok(org.request_export(ExportKind::Org, None, estimate).await?)
}

/// Builds the export of an approved request for its requester and records the download (the
/// caller checked step-up).
pub(crate) async fn download_export(
    state: &AppState,
    scope: &OrgScope,
    id: ExportRequestId,
) -> ApiResult<Response> {
    scope.require(Permission::EXPORTS_CREATE)?;
    scope.require(Permission::FILES_READ)?;
    let org = state.store().org(scope);
    let request = org.export_request_for_download(id).await?;
    let built = match (request.kind, request.project_id) {
        (ExportKind::Project, Some(p)) => build_project(state, scope, p, Some(id)).await?.0,
        (ExportKind::Project, None) => {
            return Err(ApiError::Internal(
                "a project export request without a project".into(),
            ))
        }
        (ExportKind::Org, _) => build_org(state, scope, id).await?,
    };
    org.record_export_download(id, built.manifest_sha256, built.entries, built.bytes)
        .await?;
    Ok(built.response())
}

#[derive(Serialize, ToSchema)]
pub struct ExportRequestView {
    #[schema(value_type = String, format = Uuid)]
    id: String,
    /// `project` or `org`.
    kind: String,
    #[schema(value_type = Option<String>, format = Uuid)]
    project_id: Option<String>,
    project_name: Option<String>,
    /// The files' bytes at the time of the request.
    estimated_bytes: u64,
    /// `pending`, `approved`, `rejected` or `expired`.
    state: String,
    #[schema(value_type = String, format = Uuid)]
    requested_by: String,
    requested_by_email: String,
    requested_at: String,
    #[schema(value_type = Option<String>, format = Uuid)]
    decided_by: Option<String>,
    decided_at: Option<String>,
    /// A pending request lapses 24 hours after it was made; an approval 24 hours after it.
    expires_at: String,
    /// How often the requester downloaded it (`POST …/export-requests/{id}/download`).
    downloads: u64,
}

impl From<ExportRequest> for ExportRequestView {
    fn from(r: ExportRequest) -> Self {
        Self {
            id: r.id.to_string(),
            kind: r.kind.as_str().to_owned(),
            project_id: r.project_id.map(|p| p.to_string()),
            project_name: r.project_name,
            estimated_bytes: r.estimated_bytes,
            state: r.state.as_str().to_owned(),
            requested_by: r.requested_by.to_string(),
            requested_by_email: r.requested_by_email,
            requested_at: r.requested_at.to_rfc3339(),
            decided_by: r.decided_by.map(|u| u.to_string()),
            decided_at: r.decided_at.map(Timestamp::to_rfc3339),
            expires_at: r.expires_at.to_rfc3339(),
            downloads: r.downloads,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ExportRequestList {
    items: Vec<ExportRequestView>,
}

/// Ask for an export of the whole organization: every project, sample, file and audit event
/// as one signed `.eln`. Always waits for a second Owner/Admin: the answer is 202 with the
/// pending request (`export.request`). Needs step-up.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/export", tag = "exports",
    params(("org_id" = String, Path, description = "Organization id")),
    responses((status = 202, body = ExportRequestView), CommonErrors),
    security(("session" = ["exports:create", "audit:read"]))
)]
pub async fn export_org(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    caller: AuthUser,
) -> ApiResult<(StatusCode, Json<ExportRequestView>)> {
    state
        .store()
        .org(&scope)
        .require_export_of(ExportKind::Org)?;
    caller.require_fresh(&state)?;
    let request = request_org_export(&state, &scope).await?;
    Ok((StatusCode::ACCEPTED, Json(request.into())))
}

/// Export requests, newest first: all with `exports:read`, else the caller's own.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/export-requests", tag = "exports",
    params(("org_id" = String, Path, description = "Organization id")),
    responses((status = 200, body = ExportRequestList), CommonErrors),
    security(("session" = ["exports:read"]))
)]
pub async fn list_export_requests(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
) -> ApiResult<Json<ExportRequestList>> {
    let items = state.store().org(&scope).export_requests().await?;
    Ok(Json(ExportRequestList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// One export request: one's own, or any with `exports:read`.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/export-requests/{export_request_id}", tag = "exports",
    params(("org_id" = String, Path, description = "Organization id"), ("export_request_id" = String, Path, description = "Export request id")),
    responses((status = 200, body = ExportRequestView), CommonErrors),
    security(("session" = ["exports:read"]))
)]
pub async fn get_export_request(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<ExportRequestId>,
) -> ApiResult<Json<ExportRequestView>> {
    Ok(Json(
        state.store().org(&scope).export_request(id).await?.into(),
    ))
}

/// Approve a pending export request (`export.approve`): the requester may then download it for
/// 24 hours. Only an Owner/Admin other than the requester, with step-up.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/export-requests/{export_request_id}/approve", tag = "exports",
    params(("org_id" = String, Path, description = "Organization id"), ("export_request_id" = String, Path, description = "Export request id")),
    responses((status = 200, body = ExportRequestView), CommonErrors, (status = 409, description = "Not pending", body = crate::error::Problem, content_type = "application/problem+json")),
    security(("session" = ["members:write", "exports:create"]))
)]
pub async fn approve_export_request(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    caller: AuthUser,
    RecordId(id): RecordId<ExportRequestId>,
) -> ApiResult<Json<ExportRequestView>> {
    scope.require(Permission::EXPORTS_CREATE)?;
    caller.require_fresh(&state)?;
    let r = state
        .store()
        .org(&scope)
        .decide_export(id, Decision::Approve, None)
        .await?;
    Ok(Json(r.into()))
}

/// Reject a pending export request (`export.reject`); same rules as approving.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/export-requests/{export_request_id}/reject", tag = "exports",
    params(("org_id" = String, Path, description = "Organization id"), ("export_request_id" = String, Path, description = "Export request id")),
    responses((status = 200, body = ExportRequestView), CommonErrors, (status = 409, description = "Not pending", body = crate::error::Problem, content_type = "application/problem+json")),
    security(("session" = ["members:write", "exports:create"]))
)]
pub async fn reject_export_request(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    caller: AuthUser,
    RecordId(id): RecordId<ExportRequestId>,
) -> ApiResult<Json<ExportRequestView>> {
    scope.require(Permission::EXPORTS_CREATE)?;
    caller.require_fresh(&state)?;
    let r = state
        .store()
        .org(&scope)
        .decide_export(id, Decision::Reject, None)
        .await?;
    Ok(Json(r.into()))
}

/// Download the export of an approved request: only its requester, until the approval
/// expires (24 h), with step-up. The archive is built now, from the data as it is now, and
/// every download is an `export.download` audit event naming the manifest's SHA-256.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/export-requests/{export_request_id}/download", tag = "exports",
    params(("org_id" = String, Path, description = "Organization id"), ("export_request_id" = String, Path, description = "Export request id")),
    responses(
        (status = 200, description = "The .eln archive", content_type = "application/vnd.eln+zip", body = String),
        CommonErrors,
        (status = 409, description = "Not approved (pending, rejected or expired)", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("session" = ["exports:create", "files:read"]))
)]
pub async fn download_export_request(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    caller: AuthUser,
    RecordId(id): RecordId<ExportRequestId>,
) -> ApiResult<Response> {
    scope.require(Permission::EXPORTS_CREATE)?;
    scope.require(Permission::FILES_READ)?;
    caller.require_fresh(&state)?;
    download_export(&state, &scope, id).await
}

/// What the RO-Crate's root Dataset says.
struct CrateInfo {
    name: String,
    description: String,
    identifier: String,
    created_at: Timestamp,
    keywords: String,
    org_name: String,
    now: Timestamp,
}

/// `ro-crate-metadata.json`: RO-Crate 1.1 with the root Dataset listing every entry.
fn ro_crate(info: &CrateInfo, entries: &[Entry], files: &[(String, FileRecord)]) -> Value {
    let now = info.now;
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
            "name": info.org_name,
        }),
    ];
    let has_part: Vec<Value> = entries
        .iter()
        .map(|e| json!({"@id": format!("./{}", e.path)}))
        .collect();
    graph.push(json!({
        "@id": "./",
        "@type": "Dataset",
        "name": info.name,
        "description": info.description,
        "identifier": info.identifier,
        "dateCreated": info.created_at.to_rfc3339(),
        "datePublished": now.to_rfc3339(),
        "publisher": {"@id": "#org"},
        "keywords": info.keywords,
        "hasPart": has_part,
    }));
    let by_path: std::collections::HashMap<&str, &FileRecord> =
        files.iter().map(|(p, f)| (p.as_str(), f)).collect();
    for e in entries {
        let name = by_path
            .get(e.path.as_str())
            .map(|f| f.name.clone())
            .unwrap_or_else(|| e.path.rsplit('/').next().unwrap_or(&e.path).to_owned());
        let mut entity = json!({
            "@id": format!("./{}", e.path),
            "@type": "File",
            "name": name,
            "encodingFormat": e.media_type,
            "contentSize": e.size.to_string(),
            "sha256": e.sha256,
        });
        if let Some(f) = by_path.get(e.path.as_str()) {
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
