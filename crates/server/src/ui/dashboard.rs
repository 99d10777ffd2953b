//! An org's start page, and the org switcher's target.

use super::error::UiError;
use super::extract::{UiOrg, UiUser};
use super::layout::{self, Nav};
use super::permission_groups;
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::response::Redirect;
use labledger_domain::{OrgId, Permission};
use labledger_store::{Dashboard, DashboardItem};
use maud::{html, Markup};

/// `GET /switch?org=…&to=…` (the switcher's form): to the same section of the chosen org.
/// Membership is checked by the page it leads to.
pub async fn switch_org(_user: UiUser, RawQuery(query): RawQuery) -> Result<Redirect, UiError> {
    let query = query.unwrap_or_default();
    let mut org: Option<OrgId> = None;
    let mut to = Nav::Dashboard;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "org" => org = v.parse().ok(),
            "to" => to = Nav::from_key(&v),
            _ => {}
        }
    }
    let org = org.ok_or(UiError::NotFound)?;
    Ok(Redirect::to(&format!("/orgs/{org}{}", to.segment())))
}

/// `GET /orgs/{org_id}`: what waits (counts, overdue records, approvals for the caller), the
/// caller's roles and permissions, and where to go.
pub async fn dashboard(State(state): State<AppState>, org: UiOrg) -> Result<Markup, UiError> {
    let board = state
        .store()
        .org(&org.scope)
        .dashboard()
        .await
        .map_err(|e| org.error(crate::error::ApiError::from(e), Nav::Dashboard))?;
    let scope = &org.scope;
    let roles: Vec<String> = org
        .memberships
        .iter()
        .find(|m| m.org_id == scope.org_id())
        .map(|m| m.roles.clone())
        .unwrap_or_default();
    let permissions = scope.permissions();
    let base = org.base();
    // Export requests another person filed that this Owner/Admin may approve.
    let exports_waiting = state
        .store()
        .org(&org.scope)
        .export_requests_to_decide()
        .await
        .unwrap_or_default();
    let body = html! {
        div.page-head {
            h1 { (scope.org_name()) }
            p.muted { "Signed in as " (org.user.email) }
        }
        (overview(&board, &base))
        @if !exports_waiting.is_empty() {
            div.cards {
                a.card.card-link #exports-waiting href={ (base) "/exports" } {
                    h2 { "Export requests" }
                    p { (exports_waiting.len()) " waiting for your approval" }
                }
            }
        }
        div.cards {
            @if scope.can(Permission::MEMBERS_READ) {
                a.card.card-link href={ (base) "/members" } {
                    h2 { "Members" }
                    p { "Who belongs to this organization and which roles they hold." }
                }
                a.card.card-link href={ (base) "/roles" } {
                    h2 { "Roles" }
                    p { "Built-in roles and custom permission sets." }
                }
            }
            @if scope.can(Permission::AUDIT_READ) {
                a.card.card-link href={ (base) "/audit" } {
                    h2 { "Audit trail" }
                    p { "Every change, hash-chained; filter it and verify the chain." }
                }
            }
        }
        section.panel {
            h2 { "Your access" }
            dl.facts {
                dt { "Roles" }
                dd {
                    @if roles.is_empty() { span.muted { "none" } }
                    @for r in &roles { span.badge { (r) } " " }
                }
            }
            @if permissions.is_empty() {
                p.muted { "You hold no permissions in this organization." }
            } @else {
                table.table.table-compact {
                    caption.sr-only { "Your permissions by resource" }
                    thead { tr { th scope="col" { "Resource" } th scope="col" { "Permissions" } } }
                    tbody {
                        @for (resource, perms) in permission_groups() {
                            @let held: Vec<Permission> = perms.iter().copied().filter(|p| permissions.contains(*p)).collect();
                            @if !held.is_empty() {
                                tr {
                                    th scope="row" { (super::resource_label(resource)) }
                                    td { @for p in &held { code.chip { (p) } " " } }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        &org.chrome(Nav::Dashboard),
        scope.org_name(),
        None,
        body,
    ))
}

fn item_list(
    title: &str,
    id: &str,
    items: &[DashboardItem],
    href: impl Fn(&DashboardItem) -> String,
) -> Markup {
    html! {
        section.card #(id) {
            h2 { (title) }
            @if items.is_empty() {
                p.empty { "Nothing waiting." }
            } @else {
                ul {
                    @for i in items {
                        li {
                            a href=(href(i)) { code { (i.code) } " " (i.title) }
                            @if let Some(due) = i.due_at { " · due " (due.to_rfc3339().chars().take(10).collect::<String>()) }
                        }
                    }
                }
            }
        }
    }
}

/// The parts of the dashboard the caller may read.
fn overview(d: &Dashboard, base: &str) -> Markup {
    let count = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
    html! {
        div.cards #dashboard-counts {
            @if let Some(by_status) = &d.samples_by_status {
                a.card.card-link href={ (base) "/samples" } {
                    h2 { "Samples" }
                    p { (by_status.iter().map(|(_, n)| n).sum::<i64>()) " in all" }
                    @let waiting: i64 = by_status.iter().filter(|(s, _)| s == "registered" || s == "received").map(|(_, n)| n).sum();
                    p #samples-awaiting { (waiting) " awaiting receipt or processing" }
                }
            }
            @if d.open_batches.is_some() {
                a.card.card-link href={ (base) "/batches" } { h2 { "Batches" } p { (count(d.open_batches)) " open" } }
            }
            @if d.runs_in_progress.is_some() {
                a.card.card-link href={ (base) "/workflow-runs" } { h2 { "Workflow runs" } p { (count(d.runs_in_progress)) " in progress" } }
            }
            @if d.open_compliance_records.is_some() {
                a.card.card-link href={ (base) "/compliance" } { h2 { "Deviations & CAPA" } p #open-records { (count(d.open_compliance_records)) " open" } }
            }
            @if let Some(n) = d.access_requests_pending {
                a.card.card-link href={ (base) "/access-requests" } { h2 { "Access requests" } p { (n) " waiting for a decision" } }
            }
        }
        @if let Some(items) = &d.overdue {
            (item_list("Overdue deviations and CAPA", "overdue", items, |i| format!("{base}/compliance/{}", i.id)))
        }
        @if let Some(items) = &d.drafts_to_approve {
            (item_list("Protocol drafts to approve", "drafts-to-approve", items, |i| format!("{base}/protocols/{}/versions/{}", i.parent_id, i.id)))
        }
        @if let Some(items) = &d.records_to_close {
            (item_list("Investigations to close", "records-to-close", items, |i| format!("{base}/compliance/{}", i.id)))
        }
    }
}
