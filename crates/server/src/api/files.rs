//! Evidence files: streamed, encrypted upload (a new version per upload, content stored once per
//! org), listing, metadata, and verified download with byte ranges.

use super::CommonErrors;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiQuery, OrgAccess, RecordId};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Json;
use futures::{StreamExt, TryStreamExt};
use labledger_domain::file::{parse_file_name, parse_range, FileCategory, RangeRequest};
use labledger_domain::{FieldError, FileId, Permission};
use labledger_store::{AttachTo, FileObject, FileRecord, NewFile, OrgScope};
use labledger_vault::{ObjectError, ObjectRef, OrgKey};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, ToSchema)]
pub struct FileView {
    #[schema(value_type = String, format = Uuid)]
    id: String,
    name: String,
    /// 1 for the first upload under a name, then 2, 3 …
    version: i64,
    /// SHA-256 of the content, lowercase hex.
    sha256: String,
    /// Bytes.
    size: i64,
    /// The media type the uploader declared (downloads are always served as octet-stream).
    media_type: String,
    created_at: String,
    /// The user or API token that uploaded it.
    created_by: Option<String>,
    /// `raw`, `analysis`, `report` or `other`: decides its retention period.
    category: String,
    /// The reason of the legal hold in force (deletion is refused while set).
    legal_hold: Option<String>,
    /// Set when the file was deleted: this is a tombstone, the content answers 410.
    deleted_at: Option<String>,
    deleted_by: Option<String>,
}

impl From<FileRecord> for FileView {
    fn from(f: FileRecord) -> Self {
        Self {
            id: f.id.to_string(),
            name: f.name,
            version: f.version,
            sha256: hex::encode(&f.sha256),
            size: f.size,
            media_type: f.media_type,
            created_at: f.created_at.to_rfc3339(),
            created_by: f.created_by,
            category: f.category,
            legal_hold: f.hold_reason,
            deleted_at: f.deleted_at.map(|t| t.to_rfc3339()),
            deleted_by: f.deleted_by,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The file's name (1–255 characters, no `/`); uploading under an existing name adds a
    /// version.
    name: Option<String>,
    /// `raw` (default), `analysis`, `report` or `other`: decides the retention period.
    category: Option<String>,
    /// Attach the new file to this sample (needs read access to it).
    sample_id: Option<String>,
    /// Attach the new file to this batch (open or closed).
    batch_id: Option<String>,
    /// Attach the new file to this workflow run (only while in progress; 409 once finished).
    run_id: Option<String>,
    /// File the new file under this project (needs `projects:write`; 409 when archived).
    project_id: Option<String>,
}

impl UploadQuery {
    /// The records to attach the upload to, each id checked for its form (422 naming it).
    fn targets(&self) -> ApiResult<Vec<AttachTo>> {
        fn id<T: std::str::FromStr>(field: &str, v: &Option<String>) -> ApiResult<Option<T>> {
            match v {
                None => Ok(None),
                Some(s) => s
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| FieldError::new(field, "is not a record id").into()),
            }
        }
        let mut out = Vec::new();
        out.extend(id("sample_id", &self.sample_id)?.map(AttachTo::Sample));
        out.extend(id("batch_id", &self.batch_id)?.map(AttachTo::Batch));
        out.extend(id("run_id", &self.run_id)?.map(AttachTo::Run));
        out.extend(id("project_id", &self.project_id)?.map(AttachTo::Project));
        Ok(out)
    }
}

/// The org's key: unwrapped from the database, or (`create`) made on first use.
pub(crate) async fn org_key(
    state: &AppState,
    scope: &OrgScope,
    create: bool,
) -> ApiResult<Option<OrgKey>> {
    let vault = &state.config().vault;
    let org = scope.org_id().to_string();
    let org_db = state.store().org(scope);
    let wrapped = match org_db.wrapped_org_key().await? {
        Some(w) => w,
        None if create => {
            let (_, wrapped) = vault.new_org_key(&org).map_err(object_error)?;
            org_db.ensure_org_key(wrapped).await?
        }
        None => return Ok(None),
    };
    vault
        .org_key(&org, &wrapped)
        .map(Some)
        .map_err(|e| ApiError::Internal(format!("the org key does not unwrap: {e}")))
}

pub(crate) fn object_error(e: ObjectError) -> ApiError {
    match e {
        ObjectError::Integrity(m) => ApiError::Integrity(m.to_owned()),
        ObjectError::TooLarge => ApiError::PayloadTooLarge,
        ObjectError::Body(m) => {
            ApiError::BadRequest(format!("The upload did not arrive whole: {m}"), Vec::new())
        }
        e @ (ObjectError::Encrypt | ObjectError::Storage(_)) => {
            ApiError::Unavailable(e.to_string())
        }
    }
}

/// Streams an upload into the vault and records it, attached to `targets` in the same
/// transaction. The targets are checked before a byte is streamed (a bad one stores nothing)
/// and again when the file is recorded. Shared by the API and the UI.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn store_upload(
    state: &AppState,
    scope: &OrgScope,
    name: String,
    category: FileCategory,
    media_type: String,
    declared_len: Option<u64>,
    body: Body,
    targets: Vec<AttachTo>,
) -> ApiResult<FileRecord> {
    let max = state.config().max_file_size;
    if declared_len.is_some_and(|n| n > max) {
        return Err(ApiError::PayloadTooLarge);
    }
    for t in &targets {
        state.store().org(scope).check_attach_target(*t).await?;
    }
    let key = org_key(state, scope, true)
        .await?
        .ok_or_else(|| ApiError::Internal("org key missing after creation".into()))?;
    let vault = &state.config().vault;
    let stored = vault
        .put(&key, body.into_data_stream(), max)
        .await
        .map_err(object_error)?;
    let path = stored.path.clone();
    let new = NewFile {
        name,
        category: category.as_str().to_owned(),
        media_type,
        object: FileObject {
            content_key: stored.content_key,
            path: stored.path,
            wrapped_key: stored.wrapped_key,
            segment_size: stored.segment_size as i64,
            sha256: stored.sha256.to_vec(),
            size: i64::try_from(stored.size).map_err(|_| ApiError::PayloadTooLarge)?,
            key_version: 0,
        },
    };
    match state
        .store()
        .org(scope)
        .create_file_attached(new, targets)
        .await
    {
        Ok(created) => {
            if let Some(dup) = created.duplicate_path {
                if let Err(e) = vault.delete(&dup).await {
                    tracing::warn!(error = %e, path = %dup, "removing a duplicate object failed");
                }
            }
            Ok(created.file)
        }
        Err(e) => {
            if let Err(d) = vault.delete(&path).await {
                tracing::warn!(error = %d, %path, "removing an unrecorded object failed");
            }
            Err(e.into())
        }
    }
}

fn media_type_of(headers: &HeaderMap) -> ApiResult<String> {
    let raw = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    if raw.starts_with("multipart/") {
        return Err(ApiError::UnsupportedMediaType(
            "Send the file's bytes as the request body (application/octet-stream), not a form."
                .into(),
        ));
    }
    if raw.len() > 200 || raw.chars().any(|c| c.is_control()) {
        return Err(FieldError::new("content-type", "is not a media type").into());
    }
    Ok(raw)
}

/// Upload a file: the raw bytes are the body (streamed, hashed and encrypted on the way, up to
/// the server's size limit). Uploading under an existing name adds a new version; identical
/// content is stored once per organization. `sample_id`, `batch_id`, `run_id` and `project_id`
/// attach the new file in the same transaction; they are checked before the body is read (an
/// unknown or other org's id answers 404, a finished run 409, and nothing is stored).
#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/files", tag = "files",
    params(("org_id" = String, Path, description = "Organization id"), UploadQuery),
    request_body(content = String, content_type = "application/octet-stream", description = "The file's bytes"),
    responses(
        (status = 201, body = FileView),
        CommonErrors,
        (status = 409, description = "The run is finished or the project archived", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than the server's limit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "A form instead of raw bytes", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad `name` or record id", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("session" = ["files:write"]))
)]
pub async fn upload_file(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    ApiQuery(q): ApiQuery<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<FileView>)> {
    scope.require(Permission::FILES_WRITE)?;
    let name = match q.name.as_deref() {
        Some(n) => parse_file_name("name", n)?,
        None => return Err(FieldError::new("name", "is required (`?name=…`)").into()),
    };
    let category = match q.category.as_deref() {
        None => FileCategory::Raw,
        Some(c) => FileCategory::parse("category", c)?,
    };
    let media_type = media_type_of(&headers)?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let targets = q.targets()?;
    let file = store_upload(
        &state, &scope, name, category, media_type, declared, body, targets,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(file.into())))
}

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FileQuery {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Only the versions of this name.
    name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct FilePage {
    items: Vec<FileView>,
    next_cursor: Option<String>,
}

/// List files (every version), newest first, with keyset pagination.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/files", tag = "files",
    params(("org_id" = String, Path, description = "Organization id"), FileQuery),
    responses(
        (status = 200, body = FilePage),
        (status = 400, description = "A query parameter is invalid", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("session" = ["files:read"]))
)]
pub async fn list_files(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    ApiQuery(q): ApiQuery<FileQuery>,
) -> ApiResult<Json<FilePage>> {
    scope.require(Permission::FILES_READ)?;
    let (limit, before) = crate::extract::page_params(q.limit, q.cursor)?;
    let name = q
        .name
        .filter(|n| !n.trim().is_empty())
        .map(|n| n.trim().to_owned());
    let (items, next) = state
        .store()
        .org(&scope)
        .files_page(name, before, limit)
        .await?;
    Ok(Json(FilePage {
        items: items.into_iter().map(Into::into).collect(),
        next_cursor: next.map(|n| n.to_string()),
    }))
}

/// A file's metadata with what it is attached to.
#[derive(Serialize, ToSchema)]
pub struct FileDetail {
    #[serde(flatten)]
    file: FileView,
    /// The samples, batches and workflow runs it is attached to (those the caller may read).
    attachments: Vec<super::attachments::AttachmentView>,
    /// The projects it is filed under (those the caller may read).
    projects: Vec<FileProjectView>,
}

#[derive(Serialize, ToSchema)]
pub struct FileProjectView {
    #[schema(value_type = String, format = Uuid)]
    id: String,
    name: String,
}

/// One file's metadata, with the records it is attached to and the projects it is filed under.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/files/{file_id}", tag = "files",
    params(("org_id" = String, Path, description = "Organization id"), ("file_id" = String, Path, description = "File id")),
    responses((status = 200, body = FileDetail), CommonErrors),
    security(("session" = ["files:read"]))
)]
pub async fn get_file(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<FileId>,
) -> ApiResult<Json<FileDetail>> {
    let org = state.store().org(&scope);
    let file = org.file(id).await?;
    let attachments = super::attachments::attachments_of(&state, &scope, id).await?;
    let projects = org
        .file_projects(id)
        .await?
        .into_iter()
        .map(|p| FileProjectView {
            id: p.id.to_string(),
            name: p.name,
        })
        .collect();
    Ok(Json(FileDetail {
        file: file.into(),
        attachments,
        projects,
    }))
}

/// Download a file's content, decrypted and verified segment by segment; a whole download is
/// also checked against the recorded SHA-256 at the end. One `Range` is honoured (206). Damage
/// found before the first byte answers 500 `/problems/integrity`; damage found later aborts
/// the response (the connection is reset), so altered bytes never complete a download.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/files/{file_id}/content", tag = "files",
    params(
        ("org_id" = String, Path, description = "Organization id"),
        ("file_id" = String, Path, description = "File id"),
        ("Range" = Option<String>, Header, pattern = r"^bytes=(\d+-\d*|-\d+)$",
            description = "One byte range, e.g. `bytes=0-1023`, `bytes=1024-` or `bytes=-100` (the last 100 bytes)"),
    ),
    responses(
        (status = 200, description = "The file's bytes", content_type = "application/octet-stream"),
        (status = 206, description = "The requested range", content_type = "application/octet-stream"),
        (status = 416, description = "The range is not inside the file", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 500, description = "The stored file failed its integrity check", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("session" = ["files:read"]))
)]
pub async fn download_file(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<FileId>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let range = headers.get(header::RANGE).map(|v| v.to_str().unwrap_or(""));
    content_response(&state, &scope, id, range).await
}

/// The verified content of a file as a response (API and UI).
pub(crate) async fn content_response(
    state: &AppState,
    scope: &OrgScope,
    id: FileId,
    range: Option<&str>,
) -> ApiResult<Response> {
    let org = state.store().org(scope);
    let (file, object) = org.file_with_object(id).await?;
    let size = u64::try_from(file.size).map_err(|_| ApiError::Internal("negative size".into()))?;
    let range = match parse_range(range, size) {
        RangeRequest::Full => None,
        RangeRequest::Bytes(a, b) => Some((a, b)),
        RangeRequest::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable(size)),
    };
    let wrapped = org
        .wrapped_org_key_for(object.key_version)
        .await?
        .ok_or_else(|| ApiError::Integrity(format!("file {id}: the org has no key")))?;
    let key = state
        .config()
        .vault
        .org_key(&scope.org_id().to_string(), &wrapped)
        .map_err(|e| ApiError::Internal(format!("the org key does not unwrap: {e}")))?;
    let sha256: [u8; 32] = object
        .sha256
        .as_slice()
        .try_into()
        .map_err(|_| ApiError::Internal("stored sha256 has the wrong length".into()))?;
    let reference = ObjectRef {
        path: object.path.clone(),
        wrapped_key: object.wrapped_key.clone(),
        segment_size: usize::try_from(object.segment_size)
            .map_err(|_| ApiError::Internal("bad segment size".into()))?,
        sha256,
        size,
    };
    let with_context = |e: ObjectError| match e {
        ObjectError::Integrity(m) => ApiError::Integrity(format!("file {id}: {m}")),
        e => object_error(e),
    };
    let mut stream = state
        .config()
        .vault
        .open(&key, &reference, range)
        .await
        .map_err(with_context)?;
    // The first segment is verified before the answer starts: early damage is a clean 500.
    let first = match stream.next().await {
        Some(Ok(b)) => Some(b),
        Some(Err(e)) => return Err(with_context(e)),
        None => None,
    };
    org.record_download(&file, range).await?;
    let file_id = id;
    let rest = stream.map_err(move |e| {
        crate::security::security_event(
            crate::security::SecurityEvent::IntegrityFailure,
            &format!("file {file_id}: {e}"),
        );
        tracing::error!(error = %e, file = %file_id, "a download was aborted mid-stream");
        e
    });
    let body = Body::from_stream(futures::stream::iter(first.map(Ok)).chain(rest));
    let (status, length) = match range {
        None => (StatusCode::OK, size),
        Some((a, b)) => (StatusCode::PARTIAL_CONTENT, b - a + 1),
    };
    let mut res = Response::new(body);
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some((a, b)) = range {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {a}-{b}/{size}")) {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", hex::encode(&file.sha256))) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&content_disposition(&file.name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

/// `attachment` with an ASCII fallback name and the exact name percent-encoded (RFC 6266).
fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._- ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_names_are_quoted_safely() {
        assert_eq!(
            content_disposition("run \"7\".csv"),
            "attachment; filename=\"run _7_.csv\"; filename*=UTF-8''run%20%227%22.csv"
        );
        assert!(content_disposition("é\r\n").is_ascii());
    }
}
