//! An org's start page, and the org switcher's target.

use super::error::UiError;
use super::extract::{UiOrg, UiUser};
use super::layout::{self, Nav};
use super::permission_groups;
use axum::extract::RawQuery;
use axum::response::Redirect;
use labledger_domain::{OrgId, Permission};
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

/// `GET /orgs/{org_id}`: the org, the caller's roles and permissions, and where to go.
pub async fn dashboard(org: UiOrg) -> Markup {
    let scope = &org.scope;
    let roles: Vec<String> = org
        .memberships
        .iter()
        .find(|m| m.org_id == scope.org_id())
        .map(|m| m.roles.clone())
        .unwrap_or_default();
    let permissions = scope.permissions();
    let base = org.base();
    let body = html! {
        div.page-head {
            h1 { (scope.org_name()) }
            p.muted { "Signed in as " (org.user.email) }
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
    layout::page(&org.chrome(Nav::Dashboard), scope.org_name(), None, body)
}
