//! Evidence files: the list (every version, newest first) with download links, and an upload
//! form whose bytes go straight to the API (`POST /api/v1/orgs/{org}/files`) from the embedded
//! script, with a progress bar. The upload form is shown only for `files:write`.

use super::error::UiError;
use super::extract::UiOrg;
use super::flash;
use super::layout::{self, Nav};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use labledger_domain::Permission;
use maud::html;

/// Bytes as B, KiB, MiB or GiB.
pub fn human_size(n: i64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    let unit = units.get(i).copied().unwrap_or("B");
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {unit}")
    }
}

/// `GET /orgs/{org_id}/files`.
pub async fn list(
    State(state): State<AppState>,
    org: UiOrg,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    org.require(Permission::FILES_READ, Nav::Files)?;
    let before = query
        .as_deref()
        .and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "cursor")
                .map(|(_, v)| v.into_owned())
        })
        .and_then(|c| c.parse::<i64>().ok())
        .filter(|n| *n > 0);
    let (files, next) = state
        .store()
        .org(&org.scope)
        .files_page(None, before, 50)
        .await
        .map_err(|e| org.error(ApiError::from(e), Nav::Files))?;
    let base = format!("{}/files", org.base());
    let api = format!("/api/v1/orgs/{}/files", org.scope.org_id());
    let can_write = org.scope.can(Permission::FILES_WRITE);
    let max = state.config().max_file_size;
    let body = html! {
        div.page-head {
            h1 { "Files" }
            p.subtitle { "Raw evidence of " (org.scope.org_name()) ": encrypted at rest, immutable, checked against its SHA-256 on every download." }
            p.actions {
                a #files-retention href=(format!("{}/retention", org.base())) { "Retention periods" }
                @if can_write { " · " a #files-new-analysis href=(format!("{}/analyses/new", org.base())) { "Register an analysis" } }
            }
        }
        @if can_write {
            section.card {
                h2 { "Upload a file" }
                form #upload-file data-upload-url=(api) data-csrf=(org.csrf()) data-max-bytes=(max) {
                    div.field {
                        label for="upload-input" { "File" }
                        input #upload-input type="file" name="file" required;
                    }
                    p.hint { "Up to " (human_size(i64::try_from(max).unwrap_or(i64::MAX))) ". Uploading a name again adds a new version; nothing is overwritten." }
                    progress #upload-progress max="100" value="0" hidden {}
                    p #upload-status role="status" aria-live="polite" {}
                    noscript { p.field-error { "Uploading from this page needs JavaScript; or use the API: POST " (api) "?name=NAME with the bytes as the body." } }
                    button.btn.btn-primary type="submit" { "Upload" }
                }
            }
        }
        section.card {
            @if files.is_empty() {
                p.empty { "No files yet." }
            } @else {
                div.table-wrap {
                    table.table #files-table {
                        thead { tr { th { "Name" } th { "Version" } th { "Size" } th { "SHA-256" } th { "Uploaded" } th { "" } } }
                        tbody {
                            @for f in &files {
                                tr {
                                    td { a.file-link href=(format!("{base}/{}", f.id)) { (f.name) } @if f.deleted_at.is_some() { " " span.badge { "deleted" } } }
                                    td { "v" (f.version) }
                                    td { (human_size(f.size)) }
                                    td { code title=(hex::encode(&f.sha256)) { (hex::encode(&f.sha256).chars().take(16).collect::<String>()) "…" } }
                                    td { (f.created_at.to_rfc3339().chars().take(16).collect::<String>().replace('T', " ")) }
                                    td { @if f.deleted_at.is_none() { a.btn.btn-small href=(format!("{api}/{}/content", f.id)) download=(f.name) { "Download" } } }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(n) = next { p.pager { a.btn.btn-small href=(format!("{base}?cursor={n}")) { "Older →" } } }
        }
    };
    let flash = flash::from_query(query.as_deref());
    let page = layout::page(&org.chrome(Nav::Files), "Files", flash.as_ref(), body);
    Ok(page.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(10 << 30), "10.0 GiB");
    }
}
