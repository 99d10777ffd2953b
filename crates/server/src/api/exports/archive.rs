//! Building an export: the canonical `.eln` zip written entry by entry, its RO-Crate metadata
//! and signed manifest, for a project or the whole organization.

use super::graph::{ro_crate, sample_dir, CrateInfo, SampleNode};
use super::reports::*;
use super::signing_key;
use crate::api::files::{object_error, org_key};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::body::Body;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use ed25519_dalek::{Signer as _, SigningKey};
use futures::StreamExt;
use labledger_domain::attachment::AttachmentTarget;
use labledger_domain::custom_field::FieldDef;
use labledger_domain::eln_zip;
use labledger_domain::export::ExportKind;
use labledger_domain::{ExportRequestId, ProjectId, SampleId, Timestamp};
use labledger_store::{CustodyRecord, FileObject, FileRecord, OrgScope, Project, SampleFilter};
use labledger_vault::ObjectRef;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Writes the canonical zip (see [`labledger_domain::eln_zip`]) and remembers each entry's
/// SHA-256 and size for the manifest.
pub(super) struct Archive {
    pub(super) zip: eln_zip::Writer<std::fs::File>,
    pub(super) root: String,
    pub(super) entries: Vec<Entry>,
    pub(super) bytes: u64,
}

pub(super) struct Entry {
    /// Relative to the crate root (the archive's top folder).
    pub(super) path: String,
    pub(super) sha256: String,
    pub(super) size: u64,
    pub(super) media_type: String,
}

pub(super) fn zip_error(e: eln_zip::ZipError) -> ApiError {
    match e {
        eln_zip::ZipError::Io(e) => io_error(e),
        eln_zip::ZipError::Format(m) => ApiError::Internal(format!("zip: {m}")),
    }
}

pub(super) fn io_error(e: std::io::Error) -> ApiError {
    ApiError::Unavailable(format!("writing the export: {e}"))
}

impl Archive {
    pub(super) fn new(root: String) -> ApiResult<Self> {
        let tmp = tempfile::tempfile().map_err(io_error)?;
        Ok(Self {
            zip: eln_zip::Writer::new(tmp),
            root,
            entries: Vec::new(),
            bytes: 0,
        })
    }

    pub(super) fn add_raw(&mut self, path: &str, data: &[u8]) -> ApiResult<()> {
        self.zip
            .add(&format!("{}/{path}", self.root), data)
            .map_err(zip_error)
    }

    pub(super) fn add(&mut self, path: &str, media_type: &str, data: &[u8]) -> ApiResult<()> {
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

    pub(super) fn add_json(&mut self, path: &str, value: &Value) -> ApiResult<()> {
        let data = serde_json::to_vec_pretty(value)
            .map_err(|e| ApiError::Internal(format!("json: {e}")))?;
        self.add(path, "application/json", &data)
    }

    /// An evidence file, decrypted from the vault and re-verified against its SHA-256.
    pub(super) async fn add_file(
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
        described: &Described<'_>,
        signing: &SigningKey,
        public: &[u8],
        manifest_head: Value,
    ) -> ApiResult<Built> {
        let crate_json = ro_crate(
            described.info,
            &self.entries,
            described.files,
            described.samples,
            described.defs,
        );
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
pub(super) struct Built {
    pub(super) file: std::fs::File,
    pub(super) total: u64,
    pub(super) root: String,
    pub(super) manifest_sha256: [u8; 32],
    pub(super) entries: usize,
    pub(super) bytes: u64,
}

impl Built {
    pub(super) fn response(self) -> Response {
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

pub(super) fn json_of<T: Serialize>(v: &T) -> ApiResult<Value> {
    serde_json::to_value(v).map_err(|e| ApiError::Internal(format!("json: {e}")))
}

/// A file name safe inside the archive: no separators, no control characters.
pub(super) fn safe_name(name: &str) -> String {
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

pub(super) fn day(now: Timestamp) -> String {
    now.to_rfc3339().get(0..10).unwrap_or("export").to_owned()
}

pub(super) fn project_csv(projects: &[&Project]) -> ApiResult<Vec<u8>> {
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

/// What the crate's metadata describes besides the entries.
pub(super) struct Described<'a> {
    pub(super) info: &'a CrateInfo,
    pub(super) files: &'a [(String, FileRecord)],
    pub(super) samples: &'a [SampleNode],
    pub(super) defs: &'a [FieldDef],
}

/// Adds each sample's record (`samples/<code>/sample.json`) and answers the samples as the
/// crate describes them: parent, attached files (those exported, by archive path).
async fn describe_samples(
    state: &AppState,
    scope: &OrgScope,
    ar: &mut Archive,
    custody: &[CustodyRecord],
    files: &[(String, FileRecord)],
) -> ApiResult<Vec<SampleNode>> {
    let org = state.store().org(scope);
    let mut attached: std::collections::HashMap<String, Vec<String>> = Default::default();
    for (path, f) in files {
        for a in org.file_attachments(f.id).await? {
            if a.target_type == AttachmentTarget::Sample {
                attached.entry(a.target_id).or_default().push(path.clone());
            }
        }
    }
    let mut nodes = Vec::with_capacity(custody.len());
    for record in custody {
        let id = record.sample.id;
        let parent = org
            .lineage(id)
            .await?
            .ancestors
            .first()
            .map(|p| p.id.to_string());
        let record_path = format!("{}/sample.json", sample_dir(&record.sample.code));
        ar.add_json(&record_path, &json_of(record)?)?;
        nodes.push(SampleNode {
            record: record.clone(),
            parent,
            files: attached.remove(&id.to_string()).unwrap_or_default(),
            record_path,
        });
    }
    Ok(nodes)
}

/// Builds a project's export (the caller checked the permissions and step-up).
pub(super) async fn build_project(
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
        .map(|e| json_of(&super::super::audit::AuditEventView::from(e)))
        .collect::<ApiResult<_>>()?;
    ar.add_json("audit/events.json", &Value::Array(events))?;
    let samples = describe_samples(state, scope, &mut ar, &d.custody, &file_entries).await?;
    let defs = state.store().org(scope).sample_fields().await?;
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
    let described = Described {
        info: &info,
        files: &file_entries,
        samples: &samples,
        defs: &defs,
    };
    let built = ar.seal(&described, &signing, &public, head)?;
    Ok((built, d))
}

/// Builds a whole org's export: every project, sample (with custody), file and audit event.
pub(super) async fn build_org(
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
        .map(|e| json_of(&super::super::audit::AuditEventView::from(e)))
        .collect::<ApiResult<_>>()?;
    ar.add_json("audit/events.json", &Value::Array(events))?;
    let samples = describe_samples(state, scope, &mut ar, &custody, &file_entries).await?;
    let defs = org.sample_fields().await?;
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
    let described = Described {
        info: &info,
        files: &file_entries,
        samples: &samples,
        defs: &defs,
    };
    ar.seal(&described, &signing, &public, head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_names_cannot_climb_or_nest() {
        assert_eq!(safe_name("../a/b"), ".._a_b");
        assert_eq!(safe_name(".."), "_");
    }
}
