//! "Evidence files" sections of the sample, batch and workflow-run pages: the files attached to
//! the record, and an upload (the files page's script: raw bytes to the API with a progress
//! bar) that attaches the new file to the record in the upload's transaction. Shown with
//! `files:read`; the upload with `files:write` while the record takes evidence (a finished
//! run does not). The file page lists what a file is attached to (`attached_to`).

use super::error::UiError;
use super::evidence::when;
use super::extract::UiOrg;
use super::files::human_size;
use super::layout::Nav;
use crate::error::ApiError;
use crate::state::AppState;
use labledger_domain::attachment::AttachmentTarget;
use labledger_domain::Permission;
use labledger_store::{AttachTo, FileAttachment};
use maud::{html, Markup};

/// The section for `to` (empty without `files:read`). `accepts` says whether the record still
/// takes evidence; `why_not` is shown when it does not.
pub(super) async fn section(
    state: &AppState,
    org: &UiOrg,
    to: AttachTo,
    accepts: bool,
    why_not: &str,
    nav: Nav,
) -> Result<Markup, UiError> {
    if !org.scope.can(Permission::FILES_READ) {
        return Ok(html! {});
    }
    let files = state
        .store()
        .org(&org.scope)
        .attached_files(to)
        .await
        .map_err(|e| org.error(ApiError::from(e), nav))?;
    let (param, id) = match to {
        AttachTo::Sample(id) => ("sample_id", id.to_string()),
        AttachTo::Batch(id) => ("batch_id", id.to_string()),
        AttachTo::Run(id) => ("run_id", id.to_string()),
        AttachTo::Project(id) => ("project_id", id.to_string()),
    };
    let api = format!("/api/v1/orgs/{}/files", org.scope.org_id());
    let files_base = format!("{}/files", org.base());
    let can_upload = accepts && org.scope.can(Permission::FILES_WRITE);
    let max = state.config().max_file_size;
    Ok(html! {
        section.card #evidence-files {
            h2 { "Evidence files" }
            @if files.is_empty() {
                p.empty #evidence-empty { "No files attached." }
            } @else {
                div.table-wrap {
                    table.table #evidence-table {
                        thead { tr { th { "Name" } th { "Version" } th { "Size" } th { "SHA-256" } th { "Attached" } th { "" } } }
                        tbody {
                            @for a in &files {
                                @let f = &a.file;
                                @let sha = hex::encode(&f.sha256);
                                tr {
                                    td { a.file-link href=(format!("{files_base}/{}", f.id)) { (f.name) } @if f.deleted_at.is_some() { " " span.badge { "deleted" } } }
                                    td { "v" (f.version) }
                                    td { (human_size(f.size)) }
                                    td { code title=(sha) { (sha.chars().take(16).collect::<String>()) "…" } }
                                    td { (when(a.added_at)) }
                                    td { @if f.deleted_at.is_none() { a.btn.btn-small href=(format!("{api}/{}/content", f.id)) download=(f.name) { "Download" } } }
                                }
                            }
                        }
                    }
                }
            }
            @if can_upload {
                form.js-upload #evidence-upload data-upload-url=(api) data-attach=(format!("{param}={id}")) data-csrf=(org.csrf()) data-max-bytes=(max) {
                    div.field {
                        label for="evidence-input" { "Upload and attach a file" }
                        input #evidence-input type="file" name="file" required;
                    }
                    p.hint { "Up to " (human_size(i64::try_from(max).unwrap_or(i64::MAX))) ". The file is stored encrypted and attached to this record in one step." }
                    progress.js-upload-progress #evidence-progress max="100" value="0" hidden {}
                    p.js-upload-status #evidence-status role="status" aria-live="polite" {}
                    noscript { p.field-error { "Uploading from this page needs JavaScript; or use the API: POST " (api) "?name=NAME&" (param) "=" (id) " with the bytes as the body." } }
                    button.btn.btn-primary type="submit" { "Upload" }
                }
            } @else if !accepts && org.scope.can(Permission::FILES_WRITE) {
                p.hint #evidence-closed { (why_not) }
            }
        }
    })
}

/// The file page's "Attached to" value: links to the records the caller may see.
pub(super) fn attached_to(org: &UiOrg, attachments: &[FileAttachment]) -> Markup {
    html! {
        @if attachments.is_empty() { "Nothing" }
        @for (i, a) in attachments.iter().enumerate() {
            @if i > 0 { ", " }
            @let (what, path) = match a.target_type {
                AttachmentTarget::Sample => ("sample", "samples"),
                AttachmentTarget::Batch => ("batch", "batches"),
                AttachmentTarget::WorkflowRun => ("workflow", "workflow-runs"),
            };
            (what) " "
            a.attachment-link href=(format!("{}/{path}/{}", org.base(), a.target_id)) { (a.label) }
        }
    }
}
