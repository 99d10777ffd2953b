//! The org's retention periods per file category: shown to `files:read` (like
//! `GET /api/v1/…/retention`), set by `org_settings:write` (like `PUT`), with the API's own
//! parsers for the category and the number of days.

use super::error::UiError;
use super::extract::{CsrfForm, UiOrg};
use super::flash::{self, Flash, Notice};
use super::invalid_box;
use super::layout::{self, csrf_field, Nav};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use labledger_domain::file::{parse_retention_days, FileCategory, MAX_RETENTION_DAYS};
use labledger_domain::{FieldError, Permission};
use maud::html;

/// `GET /orgs/{org_id}/retention`.
pub async fn page(
    State(state): State<AppState>,
    org: UiOrg,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    org.require(Permission::FILES_READ, Nav::Retention)?;
    render(
        &state,
        &org,
        StatusCode::OK,
        flash::from_query(query.as_deref()),
        Vec::new(),
        ("", ""),
    )
    .await
}

async fn render(
    state: &AppState,
    org: &UiOrg,
    status: StatusCode,
    flash: Option<Flash>,
    errors: Vec<FieldError>,
    (category, days): (&str, &str),
) -> Result<Response, UiError> {
    let set = state
        .store()
        .org(&org.scope)
        .retention_policies()
        .await
        .map_err(|e| org.error(ApiError::from(e), Nav::Retention))?;
    let can_write = org.scope.can(Permission::ORG_SETTINGS_WRITE);
    let err = |f: &str| super::field_error(&errors, f);
    let body = html! {
        div.page-head {
            h1 { "Retention" }
            p.subtitle { "How long a file of each category is kept before it may be deleted. A legal hold blocks deletion regardless; a deleted file leaves a tombstone." }
        }
        @if !errors.is_empty() { (invalid_box(&errors)) }
        section.card {
            div.table-wrap {
                table.table #retention-table {
                    thead { tr { th { "Category" } th { "Retention period" } } }
                    tbody {
                        @for c in FileCategory::ALL {
                            tr data-category=(c.as_str()) {
                                td { (c.as_str()) }
                                td {
                                    @match set.iter().find(|(k, _)| k == c.as_str()) {
                                        Some((_, d)) => { (d) " days" },
                                        None => span.hint { "none (may be deleted at any time)" },
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if can_write {
            section.card {
                h2 { "Set a period" }
                form #retention-form method="post" action=(format!("{}/retention", org.base())) {
                    (csrf_field(org.csrf()))
                    div.form-grid {
                        div.field {
                            label for="retention-category" { "Category" }
                            select #retention-category name="category" {
                                @for c in FileCategory::ALL { option value=(c.as_str()) selected[category == c.as_str()] { (c.as_str()) } }
                            }
                            @if let Some(e) = err("category") { p.field-error { (e) } }
                        }
                        div.field {
                            label for="retention-days" { "Days (empty: no period)" }
                            input #retention-days type="text" inputmode="numeric" name="days" value=(days);
                            @if let Some(e) = err("days") { p.field-error { (e) } }
                        }
                    }
                    p.hint { "0 to " (MAX_RETENTION_DAYS) " days. Changing a period applies to files already stored." }
                    button.btn.btn-primary type="submit" { "Save" }
                }
            }
        }
        p { a href=(format!("{}/files", org.base())) { "← Files" } }
    };
    let page = layout::page(
        &org.chrome(Nav::Retention),
        "Retention",
        flash.as_ref(),
        body,
    );
    Ok((status, page).into_response())
}

/// The days typed into the form: empty removes the period.
fn parse_days(raw: &str) -> Result<Option<i64>, FieldError> {
    let t = raw.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let n = t
        .parse::<i64>()
        .map_err(|_| FieldError::new("days", "must be a whole number of days"))?;
    parse_retention_days("days", n).map(Some)
}

/// `POST /orgs/{org_id}/retention` (`org_settings:write`).
pub async fn set(
    State(state): State<AppState>,
    org: UiOrg,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::ORG_SETTINGS_WRITE, Nav::Retention)?;
    let category_raw = form.text("category");
    let days_raw = form.text("days");
    let mut errors = Vec::new();
    let category = FileCategory::parse("category", &category_raw)
        .map_err(|e| errors.push(e))
        .ok();
    let days = parse_days(&days_raw).map_err(|e| errors.push(e)).ok();
    let (Some(category), Some(days), true) = (category, days, errors.is_empty()) else {
        return render(
            &state,
            &org,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            errors,
            (&category_raw, &days_raw),
        )
        .await;
    };
    match state
        .store()
        .org(&org.scope)
        .set_retention(category, days)
        .await
    {
        Ok(()) => Ok(Notice::RetentionSet
            .redirect(&format!("{}/retention", org.base()))
            .into_response()),
        Err(e) => Err(org.error(ApiError::from(e), Nav::Retention)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn days_are_whole_and_bounded() {
        assert_eq!(parse_days(" ").unwrap(), None);
        assert_eq!(parse_days("30").unwrap(), Some(30));
        assert_eq!(parse_days("0").unwrap(), Some(0));
        assert_eq!(parse_days("1.5").unwrap_err().field, "days");
        assert!(parse_days("-1")
            .unwrap_err()
            .message
            .contains("between 0 and"));
        assert!(parse_days("99999999").is_err());
    }
}
