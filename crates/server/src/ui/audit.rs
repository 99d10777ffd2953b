//! The audit trail: filters (GET query parameters), newest first, paged with a cursor; and a
//! button that verifies the whole hash chain.

use super::error::UiError;
use super::extract::{CsrfForm, FormData, UiOrg};
use super::flash::Flash;
use super::layout::{self, csrf_field, Nav};
use super::{field_error, invalid_box};
use crate::api::audit::AuditQuery;
use crate::error::ApiError;
use crate::security::{security_event, SecurityEvent};
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use labledger_domain::{FieldError, Permission};
use labledger_store::{AuditPage, Verification};
use maud::{html, Markup};
use std::collections::HashMap;

const PAGE_SIZE: u32 = 50;

/// The filter fields, as typed.
#[derive(Default)]
struct Filters {
    actor: String,
    action: String,
    target_type: String,
    target_id: String,
    from: String,
    to: String,
    cursor: String,
}

impl Filters {
    fn from_query(query: Option<&str>) -> Self {
        let form = FormData::parse(query.unwrap_or_default().as_bytes());
        let get = |k: &str| form.text(k).trim().to_owned();
        Filters {
            actor: get("actor"),
            action: get("action"),
            target_type: get("target_type"),
            target_id: get("target_id"),
            from: get("from"),
            to: get("to"),
            cursor: get("cursor"),
        }
    }

    fn query(&self) -> AuditQuery {
        let opt = |s: &String| (!s.is_empty()).then(|| s.clone());
        AuditQuery {
            actor: opt(&self.actor),
            action: opt(&self.action),
            target_type: opt(&self.target_type),
            target_id: opt(&self.target_id),
            from: opt(&self.from),
            to: opt(&self.to),
            limit: Some(PAGE_SIZE),
            cursor: opt(&self.cursor),
        }
    }

    fn is_filtered(&self) -> bool {
        [
            &self.actor,
            &self.action,
            &self.target_type,
            &self.target_id,
            &self.from,
            &self.to,
        ]
        .iter()
        .any(|s| !s.is_empty())
    }

    /// The query string of these filters with another cursor (or none).
    fn href(&self, base: &str, cursor: Option<&str>) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("actor", &self.actor),
            ("action", &self.action),
            ("target_type", &self.target_type),
            ("target_id", &self.target_id),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        if let Some(c) = cursor {
            q.append_pair("cursor", c);
        }
        let q = q.finish();
        if q.is_empty() {
            format!("{base}/audit")
        } else {
            format!("{base}/audit?{q}")
        }
    }

    /// A link that filters by one more field (from a cell of the table).
    fn with(&self, base: &str, field: &str, value: &str) -> String {
        let mut f = Filters {
            actor: self.actor.clone(),
            action: self.action.clone(),
            target_type: self.target_type.clone(),
            target_id: self.target_id.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            cursor: String::new(),
        };
        match field {
            "actor" => f.actor = value.to_owned(),
            "action" => f.action = value.to_owned(),
            "target_type" => f.target_type = value.to_owned(),
            "target_id" => f.target_id = value.to_owned(),
            _ => {}
        }
        f.href(base, None)
    }
}

/// `GET /orgs/{org_id}/audit`.
pub async fn list(
    State(state): State<AppState>,
    org: UiOrg,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    org.require(Permission::AUDIT_READ, Nav::Audit)?;
    let filters = Filters::from_query(query.as_deref());
    render(&state, &org, filters, None).await
}

/// `POST /orgs/{org_id}/audit/verify`: recompute the chain; the verdict on top of the newest page.
pub async fn verify(
    State(state): State<AppState>,
    org: UiOrg,
    CsrfForm(_form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::AUDIT_READ, Nav::Audit)?;
    let verdict = state
        .store()
        .org(&org.scope)
        .verify_audit()
        .await
        .map_err(|e| org.error(ApiError::from(e), Nav::Audit))?;
    if let Verification::Broken(b) = &verdict {
        security_event(
            SecurityEvent::AuditChainBroken,
            &format!("org={} {b}", org.scope.org_id()),
        );
    }
    render(&state, &org, Filters::default(), Some(verdict)).await
}

async fn render(
    state: &AppState,
    org: &UiOrg,
    filters: Filters,
    verdict: Option<Verification>,
) -> Result<Response, UiError> {
    let (page, errors, status) = match filters.query().into_filter() {
        Ok((filter, limit)) => {
            let page = state
                .store()
                .org(&org.scope)
                .audit_page(filter, limit)
                .await
                .map_err(|e| org.error(ApiError::from(e), Nav::Audit))?;
            (Some(page), Vec::new(), StatusCode::OK)
        }
        Err(ApiError::BadRequest(_, errors)) => (None, errors, StatusCode::BAD_REQUEST),
        Err(e) => return Err(org.error(e, Nav::Audit)),
    };
    // Actors are shown by email where the viewer may see the member list.
    let people: HashMap<String, String> = if org.scope.can(Permission::MEMBERS_READ) {
        match state.store().org(&org.scope).members().await {
            Ok(members) => members
                .into_iter()
                .map(|m| (m.user_id.to_string(), m.email))
                .collect(),
            Err(_) => HashMap::new(),
        }
    } else {
        HashMap::new()
    };
    let base = org.base();
    let body = html! {
        div.page-head.page-head-row {
            div {
                h1 { "Audit trail" }
                p.muted { "Every change in " (org.scope.org_name()) ", newest first. Each event's hash covers the one before it." }
            }
            form.verify-form method="post" action={ (base) "/audit/verify" } {
                (csrf_field(org.csrf()))
                button.btn.btn-primary type="submit" { "Verify chain" }
            }
        }
        @if let Some(v) = &verdict { (verdict_box(v)) }
        section.panel {
            h2.sr-only { "Filters" }
            (filter_form(&filters, &base, &errors, &people))
        }
        @if let Some(page) = &page { (events_table(page, &filters, &base, &people)) }
    };
    let flash: Option<Flash> = None;
    Ok((
        status,
        layout::page(&org.chrome(Nav::Audit), "Audit trail", flash.as_ref(), body),
    )
        .into_response())
}

fn verdict_box(v: &Verification) -> Markup {
    match v {
        Verification::Intact { events, head_hash } => html! {
            div.verdict.verdict-ok role="status" #verdict {
                p.verdict-title { "Chain intact" }
                p { (events) " event" @if *events != 1 { "s" } " verified; every hash recomputes and the trail ends at the chain head." }
                p.small { "Head hash " code.hash { (hex::encode(head_hash)) } }
            }
        },
        Verification::Broken(b) => html! {
            div.verdict.verdict-broken role="alert" #verdict {
                p.verdict-title { "Chain broken at sequence " (b.seq()) }
                p { (b.to_string()) }
                p.small { "Events before sequence " (b.seq()) " verified. Report this to your security officer." }
            }
        },
    }
}

fn text_filter(
    id: &str,
    name: &str,
    label: &str,
    value: &str,
    placeholder: &str,
    errors: &[FieldError],
) -> Markup {
    let error = field_error(errors, name);
    html! {
        div.field {
            label for=(id) { (label) }
            input id=(id) type="text" name=(name) value=(value) placeholder=(placeholder)
                aria-invalid=[error.map(|_| "true")];
            @if let Some(e) = error { p.field-error { (e) } }
        }
    }
}

fn filter_form(
    filters: &Filters,
    base: &str,
    errors: &[FieldError],
    people: &HashMap<String, String>,
) -> Markup {
    let mut known: Vec<(&String, &String)> = people.iter().collect();
    known.sort_by(|a, b| a.1.cmp(b.1));
    let actor_known = filters.actor.is_empty() || people.contains_key(&filters.actor);
    html! {
        @if !errors.is_empty() { (invalid_box(errors)) }
        form.filter-grid method="get" action={ (base) "/audit" } {
            @if people.is_empty() {
                (text_filter("f-actor", "actor", "Actor (user id)", &filters.actor, "", errors))
            } @else {
                div.field {
                    label for="f-actor" { "Actor" }
                    select #f-actor name="actor" {
                        option value="" { "Anyone" }
                        @for (id, email) in &known {
                            option value=(id) selected[**id == filters.actor] { (email) }
                        }
                        @if !actor_known { option value=(filters.actor) selected { (filters.actor) } }
                    }
                }
            }
            (text_filter("f-action", "action", "Action", &filters.action, "member.add or member.", errors))
            (text_filter("f-target-type", "target_type", "Target type", &filters.target_type, "member", errors))
            (text_filter("f-target-id", "target_id", "Target id", &filters.target_id, "", errors))
            (text_filter("f-from", "from", "From (UTC)", &filters.from, "2026-01-31T12:00:00Z", errors))
            (text_filter("f-to", "to", "To (UTC, exclusive)", &filters.to, "2026-02-01", errors))
            div.form-actions {
                button.btn.btn-primary type="submit" { "Filter" }
                @if filters.is_filtered() { a.btn.btn-ghost href={ (base) "/audit" } { "Clear" } }
            }
        }
    }
}

fn events_table(
    page: &AuditPage,
    filters: &Filters,
    base: &str,
    people: &HashMap<String, String>,
) -> Markup {
    html! {
        section.panel {
            h2.sr-only { "Events" }
            @if page.items.is_empty() {
                p.empty { "No events match." }
            } @else {
                div.table-wrap {
                    table.table.table-audit #audit-table {
                        thead {
                            tr {
                                th scope="col" { "Seq" }
                                th scope="col" { "Time (UTC)" }
                                th scope="col" { "Actor" }
                                th scope="col" { "Action" }
                                th scope="col" { "Target" }
                                th scope="col" { "Changes" }
                            }
                        }
                        tbody {
                            @for stored in &page.items {
                                @let e = &stored.event;
                                @let at = e.at.to_rfc3339();
                                tr data-action=(e.action) {
                                    td.num { (e.seq) }
                                    td.nowrap { time datetime=(at) { (display_time(&at)) } }
                                    td {
                                        span.muted.small { (e.actor_kind.as_str()) } " "
                                        @if let Some(id) = &e.actor_id {
                                            a href=(filters.with(base, "actor", id)) title=(id) {
                                                (people.get(id).map_or(id.as_str(), String::as_str))
                                            }
                                        }
                                    }
                                    td { a href=(filters.with(base, "action", &e.action)) { code { (e.action) } } }
                                    td {
                                        a href=(filters.with(base, "target_type", &e.target_type)) { (e.target_type) }
                                        @if let Some(id) = &e.target_id {
                                            " " a.small.mono href=(filters.with(base, "target_id", id)) title=(id) {
                                                (people.get(id).map_or(id.as_str(), String::as_str))
                                            }
                                        }
                                    }
                                    td.changes { @for line in change_lines(&e.changes) { code { (line) } } }
                                }
                            }
                        }
                    }
                }
            }
            nav.pager aria-label="Pages" {
                @if !filters.cursor.is_empty() { a.btn.btn-small href=(filters.href(base, None)) { "Newest" } }
                @if let Some(next) = page.next_cursor {
                    a.btn.btn-small href=(filters.href(base, Some(&next.to_string()))) rel="next" { "Older →" }
                }
            }
        }
    }
}

/// `2026-11-25T12:00:00.000123Z` → `2026-11-25 12:00:00`.
fn display_time(rfc3339: &str) -> String {
    rfc3339
        .get(..19)
        .map(|s| s.replacen('T', " ", 1))
        .unwrap_or_else(|| rfc3339.to_owned())
}

/// The changes as compact JSON, one line per changed field (`"roles":{"before":…,"after":…}`).
fn change_lines(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::Object(m) if m.is_empty() => vec!["—".to_owned()],
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}:{}",
                    serde_json::Value::String(k.clone()),
                    serde_json::to_string(v).unwrap_or_default()
                )
            })
            .collect(),
        other => vec![serde_json::to_string(other).unwrap_or_default()],
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn filter_links_keep_filters_and_drop_the_cursor() {
        let f = Filters::from_query(Some(
            "action=member.add&cursor=40&from=2026-01-01&junk=%3Cx%3E",
        ));
        assert_eq!(
            f.href("/orgs/x", Some("12")),
            "/orgs/x/audit?action=member.add&from=2026-01-01&cursor=12"
        );
        assert_eq!(
            f.with("/orgs/x", "target_type", "role"),
            "/orgs/x/audit?action=member.add&target_type=role&from=2026-01-01"
        );
        assert_eq!(Filters::default().href("/orgs/x", None), "/orgs/x/audit");
    }

    #[test]
    fn times_and_changes_display_compactly() {
        assert_eq!(
            display_time("2026-11-25T12:00:00.000123Z"),
            "2026-11-25 12:00:00"
        );
        assert_eq!(change_lines(&serde_json::json!({})), vec!["—"]);
        assert_eq!(
            change_lines(&serde_json::json!({"a": {"after": 1}, "b\"": 2})),
            vec![r#""a":{"after":1}"#, r#""b\"":2"#]
        );
    }
}
