//! One evidence file's page: its facts (hash, size, category, uploader), the other versions of
//! its name, the projects it is filed under, its provenance both ways, the download link, the
//! legal hold (`org_settings:write`, like the API) and deletion (`files:write`) — refused with
//! the store's own sentence while retention or a hold applies. A deleted file shows its
//! tombstone.

use super::analyses::provenance_sections;
use super::error::UiError;
use super::extract::{CsrfForm, UiOrg, UiRecord};
use super::files::human_size;
use super::flash::{self, Flash, Notice};
use super::invalid_box;
use super::layout::{self, csrf_field, Nav};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use labledger_domain::file::{check_deletion, parse_hold_reason, DeletionRefused, InputType};
use labledger_domain::{FieldError, FileId, Permission, Timestamp};
use labledger_store::{FileRecord, StoreError};
use maud::{html, Markup};

/// A time as `2026-11-25 18:03 UTC`.
pub(super) fn when(t: Timestamp) -> String {
    let text = t.to_rfc3339();
    let minute: String = text.chars().take(16).collect();
    format!("{} UTC", minute.replace('T', " "))
}

/// `GET /orgs/{org_id}/files/{file_id}` (`files:read`, like `GET /api/v1/…/files/{file_id}`).
pub async fn show(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(id): UiRecord<FileId>,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    org.require(Permission::FILES_READ, Nav::Files)?;
    let id = id.ok_or_else(|| org.not_found())?;
    render(
        &state,
        &org,
        id,
        StatusCode::OK,
        flash::from_query(query.as_deref()),
        Vec::new(),
    )
    .await
}

async fn render(
    state: &AppState,
    org: &UiOrg,
    id: FileId,
    status: StatusCode,
    flash: Option<Flash>,
    errors: Vec<FieldError>,
) -> Result<Response, UiError> {
    let store = state.store().org(&org.scope);
    let fail = |e: StoreError| match e {
        StoreError::NotFound => org.not_found(),
        e => org.error(ApiError::from(e), Nav::Files),
    };
    let file = store.file(id).await.map_err(fail)?;
    let (versions, _) = store
        .files_page(Some(file.name.clone()), None, 100)
        .await
        .map_err(fail)?;
    let projects = store.file_projects(id).await.map_err(fail)?;
    let attachments = store.file_attachments(id).await.map_err(fail)?;
    let provenance = store
        .provenance(InputType::File, id.to_string())
        .await
        .map_err(fail)?;
    let days = store
        .retention_policies()
        .await
        .map_err(fail)?
        .into_iter()
        .find(|(c, _)| *c == file.category)
        .map(|(_, d)| d);
    let provenance = provenance_sections(state, org, &provenance, true).await?;
    let body = page_body(
        org,
        &file,
        &versions,
        &projects,
        &attachments,
        days,
        provenance,
        &errors,
    );
    let title = format!("File {}", file.name);
    let page = layout::page(&org.chrome(Nav::Files), &title, flash.as_ref(), body);
    Ok((status, page).into_response())
}

/// Whether the file may be deleted now, as a sentence for its page.
fn deletion_state(file: &FileRecord, days: Option<i64>) -> (bool, String) {
    match check_deletion(
        file.created_at.micros(),
        days,
        file.hold_reason.as_deref(),
        file.deleted_at.is_some(),
        Timestamp::now().micros(),
    ) {
        Ok(()) => (
            true,
            match days {
                Some(d) => format!("Its retention period ({d} days) has ended."),
                None => format!("No retention period is set for {} files.", file.category),
            },
        ),
        Err(DeletionRefused::AlreadyDeleted) => (false, "Deleted.".into()),
        Err(DeletionRefused::LegalHold(r)) => (false, format!("On legal hold: {r}")),
        Err(DeletionRefused::Retained(until)) => (
            false,
            format!(
                "Retained until {} ({} days for {} files).",
                when(Timestamp::from_micros(until)),
                days.unwrap_or(0),
                file.category
            ),
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn page_body(
    org: &UiOrg,
    file: &FileRecord,
    versions: &[FileRecord],
    projects: &[labledger_store::Project],
    attachments: &[labledger_store::FileAttachment],
    days: Option<i64>,
    provenance: Markup,
    errors: &[FieldError],
) -> Markup {
    let base = format!("{}/files/{}", org.base(), file.id);
    let content = format!(
        "/api/v1/orgs/{}/files/{}/content",
        org.scope.org_id(),
        file.id
    );
    let sha = hex::encode(&file.sha256);
    let live = file.deleted_at.is_none();
    let can_hold = live && org.scope.can(Permission::ORG_SETTINGS_WRITE);
    let can_delete = live && org.scope.can(Permission::FILES_WRITE);
    let (deletable, retention_text) = deletion_state(file, days);
    html! {
        div.page-head {
            h1 { "File " code { (file.name) } }
            p.subtitle {
                "Version " (file.version) " · " span.badge #file-category { (file.category) }
                @if file.hold_reason.is_some() { " " span.badge.badge-strong #file-hold-badge { "legal hold" } }
                @if !live { " " span.badge.badge-danger { "deleted" } }
            }
        }
        @if !errors.is_empty() { (invalid_box(errors)) }
        @if let (Some(at), false) = (file.deleted_at, live) {
            section.card #file-tombstone {
                h2 { "Deleted" }
                p {
                    "This file was deleted on " (when(at))
                    @if let Some(by) = &file.deleted_by { " by " code { (by) } }
                    ". Only this record remains (name, hash, size); its content is destroyed and can no longer be downloaded."
                }
            }
        }
        section.card {
            dl.facts #file-facts {
                dt { "Name" } dd { (file.name) }
                dt { "Version" } dd { "v" (file.version) }
                dt { "Category" } dd { (file.category) }
                dt { "Size" } dd { (human_size(file.size)) " (" (file.size) " bytes)" }
                dt { "SHA-256" } dd { code #file-sha256 { (sha) } }
                dt { "Media type" } dd { (file.media_type) }
                dt { "Uploaded by" } dd { code { (file.created_by.as_deref().unwrap_or("—")) } }
                dt { "Uploaded" } dd { (when(file.created_at)) }
                dt { "Retention" } dd #file-retention { (retention_text) }
                dt { "Legal hold" } dd #file-hold { (file.hold_reason.as_deref().unwrap_or("None")) }
                dt { "Filed under" }
                dd #file-projects {
                    @if projects.is_empty() { "No project" }
                    @for (i, p) in projects.iter().enumerate() { @if i > 0 { ", " } "project " strong { (p.name) } }
                }
                dt { "Attached to" }
                dd #file-attachments { (super::attachments::attached_to(org, attachments)) }
            }
            @if live {
                p { a.btn.btn-primary #file-download href=(content) download=(file.name) { "Download" } }
            }
            @if org.scope.can(Permission::AUDIT_READ) {
                p { a href=(format!("{}/audit?target_type=file&target_id={}", org.base(), file.id)) { "History in the audit trail" } }
            }
        }
        section.card #file-versions {
            h2 { "Versions of this name" }
            ul {
                @for v in versions {
                    li {
                        @if v.id == file.id { strong { "v" (v.version) " (this one)" } }
                        @else { a.version-link href=(format!("{}/files/{}", org.base(), v.id)) { "v" (v.version) } }
                        " · " (when(v.created_at)) " · " (human_size(v.size))
                        @if v.deleted_at.is_some() { " · deleted" }
                    }
                }
            }
        }
        (provenance)
        @if live && org.scope.can(Permission::FILES_WRITE) {
            p { a.btn #file-new-analysis href=(format!("{}/analyses/new?input_file={}", org.base(), file.id)) { "Register an analysis from this file" } }
        }
        @if can_hold {
            section.card #file-hold-form {
                h2 { "Legal hold" }
                @if file.hold_reason.is_some() {
                    p.hint { "While the hold is in force the file cannot be deleted, whatever its retention period." }
                    form method="post" action=(format!("{base}/legal-hold/release")) {
                        (csrf_field(org.csrf()))
                        button.btn #hold-release type="submit" { "Release the hold" }
                    }
                } @else {
                    form method="post" action=(format!("{base}/legal-hold")) {
                        (csrf_field(org.csrf()))
                        div.field {
                            label for="hold-reason" { "Reason (the litigation, inspection or request)" }
                            input #hold-reason type="text" name="reason" maxlength="500" required;
                        }
                        button.btn.btn-primary #hold-place type="submit" { "Place a legal hold" }
                    }
                }
            }
        }
        @if can_delete {
            section.card #file-delete {
                h2 { "Delete" }
                p.hint {
                    @if deletable { "This file may be deleted now. " } @else { "Deletion will be refused: " (retention_text) " " }
                    "A deleted file leaves a tombstone (its name, hash and size) and an audit event."
                }
                form method="post" action=(format!("{base}/delete")) data-confirm="Delete this file? Its content is destroyed; only its record remains." {
                    (csrf_field(org.csrf()))
                    button.btn.btn-danger #file-delete-button type="submit" { "Delete this file" }
                }
            }
        }
        p { a href=(format!("{}/files", org.base())) { "← All files" } }
    }
}

/// After a POST: back to the page with a notice, or the page again with the refusal.
async fn after(
    state: &AppState,
    org: &UiOrg,
    id: FileId,
    result: Result<Notice, ApiError>,
) -> Result<Response, UiError> {
    match result {
        Ok(notice) => Ok(notice
            .redirect(&format!("{}/files/{id}", org.base()))
            .into_response()),
        Err(ApiError::NotFound) => Err(org.not_found()),
        Err(e) => {
            super::error::log_api_error(&e);
            let status = e.status();
            match e {
                ApiError::Invalid(errors) => render(state, org, id, status, None, errors).await,
                other => {
                    let flash = Flash::error(super::error::describe(&other));
                    render(state, org, id, status, Some(flash), Vec::new()).await
                }
            }
        }
    }
}

/// `POST /orgs/{org_id}/files/{file_id}/legal-hold` (`org_settings:write`, like the API).
pub async fn place_hold(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(id): UiRecord<FileId>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::ORG_SETTINGS_WRITE, Nav::Files)?;
    let id = id.ok_or_else(|| org.not_found())?;
    let result = match parse_hold_reason("reason", &form.text("reason")) {
        Ok(reason) => state
            .store()
            .org(&org.scope)
            .set_legal_hold(id, Some(reason))
            .await
            .map(|()| Notice::HoldPlaced)
            .map_err(ApiError::from),
        Err(e) => Err(ApiError::Invalid(vec![e])),
    };
    after(&state, &org, id, result).await
}

/// `POST /orgs/{org_id}/files/{file_id}/legal-hold/release`.
pub async fn release_hold(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(id): UiRecord<FileId>,
    CsrfForm(_form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::ORG_SETTINGS_WRITE, Nav::Files)?;
    let id = id.ok_or_else(|| org.not_found())?;
    let result = state
        .store()
        .org(&org.scope)
        .set_legal_hold(id, None)
        .await
        .map(|()| Notice::HoldReleased)
        .map_err(ApiError::from);
    after(&state, &org, id, result).await
}

/// `POST /orgs/{org_id}/files/{file_id}/delete` (`files:write`, like `DELETE …/files/{id}`).
pub async fn delete(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(id): UiRecord<FileId>,
    CsrfForm(_form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::FILES_WRITE, Nav::Files)?;
    let id = id.ok_or_else(|| org.not_found())?;
    let result = match state.store().org(&org.scope).delete_file(id).await {
        Ok(deleted) => {
            if let Some(path) = deleted.destroy_path {
                // As in the API: the key row went with the transaction, so the bytes are
                // unreadable even if removing them fails.
                if let Err(e) = state.config().vault.delete(&path).await {
                    tracing::warn!(error = %e, %path, "removing a deleted file's object failed");
                }
            }
            Ok(Notice::FileDeleted)
        }
        Err(e) => Err(ApiError::from(e)),
    };
    after(&state, &org, id, result).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn file(created: i64, hold: Option<&str>) -> FileRecord {
        FileRecord {
            id: FileId::new(),
            seq: 1,
            name: "a.csv".into(),
            version: 1,
            sha256: vec![0; 32],
            size: 1,
            media_type: "text/csv".into(),
            created_at: Timestamp::from_micros(created),
            created_by: None,
            category: "raw".into(),
            hold_reason: hold.map(str::to_owned),
            deleted_at: None,
            deleted_by: None,
        }
    }

    #[test]
    fn the_page_says_why_deletion_waits() {
        let now = Timestamp::now().micros();
        let (ok, text) = deletion_state(&file(now, None), Some(30));
        assert!(!ok);
        assert!(text.starts_with("Retained until "), "{text}");
        let (ok, text) = deletion_state(&file(now, Some("inspection")), None);
        assert!(!ok);
        assert_eq!(text, "On legal hold: inspection");
        let (ok, text) = deletion_state(&file(now, None), None);
        assert!(ok, "{text}");
    }
}
