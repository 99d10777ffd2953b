//! Importing a `.eln` from another ELN (eLabFTW, SampleDB, Kadi4Mat, PASTA, … or LabLedger):
//! the one service the API, the UI and the CLI call.
//!
//! 1. [`receive`]: the body streams into an anonymous temporary file (hashed on the way, at most
//!    [`Limits::max_archive`] bytes): never held in memory.
//! 2. [`prepare`] (blocking thread): the zip's layout is checked ([`archive::open`]), the
//!    crate's metadata read into a plan ([`labledger_domain::eln_crate::plan`]), every file the
//!    graph names decompressed into a temporary file within the limits and its SHA-256 checked
//!    against the crate's; an entry the graph does not name refuses the import. Nothing is
//!    written anywhere yet: a dry run stops here and answers the plan's entities.
//! 3. [`import`]: the files go into the evidence vault (encrypted, deduplicated), then one
//!    transaction writes the project, fields, samples, links and files
//!    ([`labledger_store::Org::import_eln`]); if it fails, the objects just written are deleted.

pub mod archive;

use crate::api::files::{object_error, org_key};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use archive::{ArchiveError, Limits};
use axum::body::Body;
use futures::StreamExt;
use labledger_domain::custom_field::{check_values, FieldDef};
use labledger_domain::eln_crate::{self, is_sidecar, provenance, EntityPlan, Plan};
use labledger_domain::file::parse_file_name;
use labledger_domain::{FieldError, Permission, ProjectId};
use labledger_store::{ElnImport, FileObject, ImportedSample, NewFile, NewSample, OrgScope};
use sha2::{Digest, Sha256};
use std::io::Write;

/// The uploaded archive, in a temporary file.
pub struct Upload {
    file: std::fs::File,
    pub sha256: String,
    pub size: u64,
}

/// A prepared import: the plan and every file extracted and verified.
pub struct Prepared {
    pub plan: Plan,
    pub source_sha256: String,
    metadata: archive::Extracted,
    files: Vec<archive::Extracted>,
}

/// What an import made.
pub struct Imported {
    pub project_id: ProjectId,
    pub samples: usize,
    pub files: usize,
}

fn archive_error(e: ArchiveError) -> ApiError {
    match e {
        ArchiveError::Malformed(m) => ApiError::BadRequest(m, Vec::new()),
        ArchiveError::TooLarge(m) => ApiError::TooLarge(m),
        ArchiveError::Invalid(m) => invalid(m),
        ArchiveError::Io(e) => ApiError::Unavailable(format!("reading the upload: {e}")),
    }
}

fn invalid(m: String) -> ApiError {
    ApiError::Invalid(vec![FieldError::new("archive", m)])
}

/// Checks the caller may import at all (before a byte is read).
pub fn require(scope: &OrgScope) -> ApiResult<()> {
    scope.require(Permission::SAMPLES_WRITE)?;
    scope.require(Permission::FILES_WRITE)?;
    Ok(())
}

/// Streams a request body into a temporary file, within the archive limit.
pub async fn receive(body: Body) -> ApiResult<Upload> {
    let limits = Limits::default();
    let tmp = tempfile::tempfile().map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let mut out = std::io::BufWriter::new(tmp);
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::BadRequest(format!("The upload did not arrive whole: {e}"), Vec::new())
        })?;
        size += chunk.len() as u64;
        if size > limits.max_archive {
            return Err(ApiError::TooLarge(format!(
                "an .eln import takes at most {} MiB",
                limits.max_archive >> 20
            )));
        }
        hasher.update(&chunk);
        out.write_all(&chunk)
            .map_err(|e| ApiError::Unavailable(format!("buffering the upload: {e}")))?;
    }
    let file = out
        .into_inner()
        .map_err(|e| ApiError::Unavailable(format!("buffering the upload: {e}")))?;
    Ok(Upload {
        file,
        sha256: hex::encode(hasher.finalize()),
        size,
    })
}

/// A file from disk (the CLI's), as an upload.
pub fn upload_from_file(mut file: std::fs::File) -> ApiResult<Upload> {
    use std::io::{Read, Seek};
    let limits = Limits::default();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| ApiError::BadRequest(format!("reading the file: {e}"), Vec::new()))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(buf.get(..n).unwrap_or_default());
    }
    if size > limits.max_archive {
        return Err(ApiError::TooLarge(format!(
            "an .eln import takes at most {} MiB",
            limits.max_archive >> 20
        )));
    }
    file.rewind()
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(Upload {
        file,
        sha256: hex::encode(hasher.finalize()),
        size,
    })
}

/// Reads, checks and extracts the upload against the org's current fields (blocking work on a
/// blocking thread). Writes nothing but temporary files.
pub async fn prepare(state: &AppState, scope: &OrgScope, upload: Upload) -> ApiResult<Prepared> {
    require(scope)?;
    let existing = state.store().org(scope).sample_fields().await?;
    let max_file = state.config().max_file_size;
    tokio::task::spawn_blocking(move || prepare_blocking(upload, &existing, max_file))
        .await
        .map_err(|e| ApiError::Internal(format!("import task: {e}")))?
}

fn prepare_blocking(upload: Upload, existing: &[FieldDef], max_file: u64) -> ApiResult<Prepared> {
    let limits = Limits::default();
    let mut opened = archive::open(upload.file, limits).map_err(archive_error)?;
    let (_, metadata) = opened.metadata().map_err(archive_error)?;
    let plan = eln_crate::plan(&metadata, existing).map_err(|e| invalid(e.0))?;
    // Every entry is named by the graph (or is a sidecar RO-Crate allows).
    let named: std::collections::HashSet<&str> =
        plan.files.iter().map(|f| f.path.as_str()).collect();
    let mut unnamed: Vec<&String> = opened
        .files
        .keys()
        .filter(|p| !named.contains(p.as_str()) && !is_sidecar(p))
        .collect();
    unnamed.sort();
    if let Some(p) = unnamed.first() {
        return Err(invalid(format!(
            "the archive holds {p:?}, which ro-crate-metadata.json does not describe"
        )));
    }
    let mut files = Vec::with_capacity(plan.files.len());
    for f in &plan.files {
        if !opened.files.contains_key(&f.path) {
            return Err(invalid(format!(
                "ro-crate-metadata.json names the file {:?}, which the archive does not hold",
                f.node_id
            )));
        }
        let x = opened.extract(&f.path, max_file).map_err(archive_error)?;
        if let Some(want) = &f.sha256 {
            if *want != hex::encode(x.sha256) {
                return Err(invalid(format!(
                    "the file {:?} does not match its sha256 in ro-crate-metadata.json",
                    f.node_id
                )));
            }
        }
        files.push(x);
    }
    let metadata_file = opened
        .extract("ro-crate-metadata.json", limits.max_metadata)
        .map_err(archive_error)?;
    Ok(Prepared {
        plan,
        source_sha256: upload.sha256,
        metadata: metadata_file,
        files,
    })
}

/// The dry run's answer: every entity and what it becomes.
pub fn entities(p: &Prepared) -> Vec<EntityPlan> {
    p.plan.entities.clone()
}

/// Stores one extracted file in the vault; answers the object to record.
async fn store_object(
    state: &AppState,
    key: &labledger_vault::OrgKey,
    x: archive::Extracted,
) -> ApiResult<FileObject> {
    let file = tokio::fs::File::from_std(x.file);
    let stream = tokio_util::io::ReaderStream::new(file);
    let stored = state
        .config()
        .vault
        .put(key, stream, x.size.max(1))
        .await
        .map_err(object_error)?;
    if stored.sha256 != x.sha256 {
        return Err(ApiError::Integrity(
            "an imported file changed between its check and its storage".into(),
        ));
    }
    Ok(FileObject {
        content_key: stored.content_key,
        path: stored.path,
        wrapped_key: stored.wrapped_key,
        segment_size: stored.segment_size as i64,
        sha256: stored.sha256.to_vec(),
        size: i64::try_from(stored.size).map_err(|_| ApiError::PayloadTooLarge)?,
        key_version: 0,
    })
}

fn file_name(raw: &str, fallback: &str) -> String {
    parse_file_name("name", raw)
        .or_else(|_| parse_file_name("name", &raw.replace(['/', '\\'], "_")))
        .unwrap_or_else(|_| fallback.to_owned())
}

/// Writes a prepared import: files into the vault, then everything else in one transaction.
pub async fn import(state: &AppState, scope: &OrgScope, p: Prepared) -> ApiResult<Imported> {
    require(scope)?;
    let Prepared {
        plan,
        source_sha256,
        metadata,
        files,
    } = p;
    // The samples' values must satisfy the org's fields (required ones included) as they will be.
    let mut defs = state.store().org(scope).sample_fields().await?;
    defs.extend(plan.new_fields.iter().cloned());
    let mut samples = Vec::with_capacity(plan.samples.len());
    for (i, s) in plan.samples.iter().enumerate() {
        let custom = check_values(&defs, &s.values, &format!("samples[{}].", i + 1))
            .map_err(ApiError::Invalid)?;
        samples.push(ImportedSample {
            sample: NewSample {
                sample_type: s.sample_type.clone(),
                source_ref: Some(s.identifier.clone()),
                quantity: s.quantity.as_ref().map(|q| q.0),
                unit: s.quantity.as_ref().and_then(|q| q.1.clone()),
                notes: Some(provenance(s, &plan.publisher)),
                custom,
                ..NewSample::default()
            },
            parent: s.parent,
            files: s.files.clone(),
        });
    }
    let key = org_key(state, scope, true)
        .await?
        .ok_or_else(|| ApiError::Internal("org key missing after creation".into()))?;
    let mut written: Vec<String> = Vec::new();
    let result = async {
        let mut new_files = Vec::with_capacity(files.len() + 1);
        for (f, x) in plan.files.iter().zip(files) {
            let object = store_object(state, &key, x).await?;
            written.push(object.path.clone());
            new_files.push(NewFile {
                name: file_name(&f.name, "imported-file"),
                category: "raw".into(),
                media_type: f.media_type.clone(),
                object,
            });
        }
        let object = store_object(state, &key, metadata).await?;
        written.push(object.path.clone());
        new_files.push(NewFile {
            name: "ro-crate-metadata.json".into(),
            category: "other".into(),
            media_type: "application/ld+json".into(),
            object,
        });
        let import = ElnImport {
            project_name: plan.name.clone(),
            project_description: Some(format!(
                "Imported from {} (.eln, SHA-256 {source_sha256})",
                plan.publisher
            )),
            source_sha256: source_sha256.clone(),
            publisher: plan.publisher.clone(),
            new_fields: plan.new_fields.clone(),
            samples,
            files: new_files,
        };
        Ok::<_, ApiError>(state.store().org(scope).import_eln(import).await?)
    }
    .await;
    let vault = &state.config().vault;
    let done = match result {
        Ok(done) => done,
        Err(e) => {
            for path in &written {
                if let Err(d) = vault.delete(path).await {
                    tracing::warn!(error = %d, %path, "removing an unrecorded import object failed");
                }
            }
            return Err(e);
        }
    };
    for dup in &done.duplicate_paths {
        if let Err(e) = vault.delete(dup).await {
            tracing::warn!(error = %e, path = %dup, "removing a duplicate object failed");
        }
    }
    Ok(Imported {
        project_id: done.project_id,
        samples: done.samples,
        files: done.files,
    })
}
