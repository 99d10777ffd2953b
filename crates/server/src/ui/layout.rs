//! The page frame: head with the embedded assets, a sidebar with the org switcher and the
//! navigation of the current org, a top bar with the user and the logout form, flash messages.

use super::assets;
use super::flash::Flash;
use labledger_domain::{OrgId, Permission};
use labledger_store::{Membership, OrgScope};
use maud::{html, Markup, DOCTYPE};

/// The sections of an org's pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nav {
    None,
    Dashboard,
    Members,
    Roles,
    Samples,
    Batches,
    Audit,
    Tokens,
    Access,
    Review,
    Protocols,
    Compliance,
    Storage,
    Files,
    Workflows,
    Retention,
    Exports,
}

impl Nav {
    /// The path segment after `/orgs/{id}` (the org switcher keeps the section).
    pub fn segment(self) -> &'static str {
        match self {
            Nav::None | Nav::Dashboard => "",
            Nav::Members => "/members",
            Nav::Roles => "/roles",
            Nav::Samples => "/samples",
            Nav::Batches => "/batches",
            Nav::Audit => "/audit",
            Nav::Tokens => "/api-tokens",
            Nav::Access => "/access-requests",
            Nav::Review => "/access-review",
            Nav::Protocols => "/protocols",
            Nav::Compliance => "/compliance",
            Nav::Storage => "/storage",
            Nav::Files => "/files",
            Nav::Workflows => "/workflow-runs",
            Nav::Retention => "/retention",
            Nav::Exports => "/exports",
        }
    }

    pub fn from_key(key: &str) -> Nav {
        match key {
            "members" => Nav::Members,
            "roles" => Nav::Roles,
            "samples" => Nav::Samples,
            "batches" => Nav::Batches,
            "audit" => Nav::Audit,
            "api-tokens" => Nav::Tokens,
            "access-requests" => Nav::Access,
            "access-review" => Nav::Review,
            "protocols" => Nav::Protocols,
            "compliance" => Nav::Compliance,
            "storage" => Nav::Storage,
            "files" => Nav::Files,
            "workflow-runs" => Nav::Workflows,
            "retention" => Nav::Retention,
            "exports" => Nav::Exports,
            _ => Nav::Dashboard,
        }
    }

    fn key(self) -> &'static str {
        match self {
            Nav::None | Nav::Dashboard => "dashboard",
            Nav::Members => "members",
            Nav::Roles => "roles",
            Nav::Samples => "samples",
            Nav::Batches => "batches",
            Nav::Audit => "audit",
            Nav::Tokens => "api-tokens",
            Nav::Access => "access-requests",
            Nav::Review => "access-review",
            Nav::Protocols => "protocols",
            Nav::Compliance => "compliance",
            Nav::Storage => "storage",
            Nav::Files => "files",
            Nav::Workflows => "workflow-runs",
            Nav::Retention => "retention",
            Nav::Exports => "exports",
        }
    }
}

/// The org being looked at, as far as the navigation needs it.
#[derive(Clone, Debug)]
pub struct CurrentOrg {
    pub id: OrgId,
    pub name: String,
    pub members_read: bool,
    pub samples_read: bool,
    pub batches_read: bool,
    pub audit_read: bool,
    pub protocols_read: bool,
    pub compliance_read: bool,
    pub files_read: bool,
    pub workflows_read: bool,
}

impl CurrentOrg {
    pub fn of(scope: &OrgScope) -> Self {
        Self {
            id: scope.org_id(),
            name: scope.org_name().to_owned(),
            members_read: scope.can(Permission::MEMBERS_READ),
            samples_read: scope.can(Permission::SAMPLES_READ),
            batches_read: scope.can(Permission::BATCHES_READ),
            audit_read: scope.can(Permission::AUDIT_READ),
            protocols_read: scope.can(Permission::PROTOCOLS_READ),
            compliance_read: scope.can(Permission::COMPLIANCE_READ),
            files_read: scope.can(Permission::FILES_READ),
            workflows_read: scope.can(Permission::WORKFLOWS_READ),
        }
    }
}

/// Everything the frame shows around a page of a logged-in user.
#[derive(Clone, Debug)]
pub struct Chrome {
    pub user_name: String,
    pub user_email: String,
    pub csrf: String,
    pub orgs: Vec<(OrgId, String)>,
    pub current: Option<CurrentOrg>,
    pub active: Nav,
}

impl Chrome {
    pub fn new(
        user: &crate::extract::AuthUser,
        memberships: &[Membership],
        current: Option<CurrentOrg>,
        active: Nav,
    ) -> Self {
        Self {
            user_name: user.name.clone(),
            user_email: user.email.clone(),
            csrf: user.csrf_token.clone(),
            orgs: memberships
                .iter()
                .map(|m| (m.org_id, m.org_name.clone()))
                .collect(),
            current,
            active,
        }
    }
}

/// The hidden CSRF field every POST form of a logged-in user carries.
pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · LabLedger" }
            link rel="icon" type="image/svg+xml" href="/assets/favicon.svg";
            link rel="stylesheet" href=(assets::css_href());
            script src=(assets::js_src()) defer {}
        }
    }
}

fn brand() -> Markup {
    html! {
        a.brand href="/" {
            span.brand-mark aria-hidden="true" { "L" }
            span.brand-name { "LabLedger" }
        }
    }
}

pub fn flash_box(flash: &Flash) -> Markup {
    let role = if flash.is_error() { "alert" } else { "status" };
    html! {
        div class={ "flash flash-" (flash.kind_class()) } role=(role) {
            p.flash-text { (flash.message) }
            button.flash-close type="button" data-dismiss="flash" aria-label="Dismiss message" { "×" }
        }
    }
}

/// A page of a logged-in user.
pub fn page(chrome: &Chrome, title: &str, flash: Option<&Flash>, body: Markup) -> Markup {
    let current = chrome.current.as_ref();
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body.app {
                a.skip-link href="#main" { "Skip to content" }
                div.shell {
                    aside.sidebar {
                        (brand())
                        @if !chrome.orgs.is_empty() {
                            form.org-switcher method="get" action="/switch" {
                                label for="org-switch" { "Organization" }
                                select #org-switch name="org" data-autosubmit {
                                    @if current.is_none() {
                                        option value="" selected { "Choose…" }
                                    }
                                    @for (id, name) in &chrome.orgs {
                                        option value=(id) selected[current.is_some_and(|c| c.id == *id)] { (name) }
                                    }
                                }
                                input type="hidden" name="to" value=(chrome.active.key());
                                button.btn.btn-small.js-hide type="submit" { "Switch" }
                            }
                        }
                        @if let Some(org) = current {
                            nav.side-nav aria-label="Organization" {
                                ul {
                                    (nav_link(org, Nav::Dashboard, "Dashboard", chrome.active))
                                    @if org.samples_read {
                                        (nav_link(org, Nav::Samples, "Samples", chrome.active))
                                        (nav_link(org, Nav::Storage, "Storage", chrome.active))
                                    }
                                    @if org.batches_read {
                                        (nav_link(org, Nav::Batches, "Batches", chrome.active))
                                    }
                                    @if org.protocols_read {
                                        (nav_link(org, Nav::Protocols, "Protocols", chrome.active))
                                    }
                                    @if org.workflows_read {
                                        (nav_link(org, Nav::Workflows, "Workflow runs", chrome.active))
                                    }
                                    @if org.compliance_read {
                                        (nav_link(org, Nav::Compliance, "Deviations & CAPA", chrome.active))
                                    }
                                    @if org.files_read {
                                        (nav_link(org, Nav::Files, "Files", chrome.active))
                                        (nav_link(org, Nav::Retention, "Retention", chrome.active))
                                        (nav_link(org, Nav::Exports, "Exports", chrome.active))
                                    }
                                    @if org.members_read {
                                        (nav_link(org, Nav::Members, "Members", chrome.active))
                                        (nav_link(org, Nav::Roles, "Roles", chrome.active))
                                        (nav_link(org, Nav::Review, "Access review", chrome.active))
                                    }
                                    @if org.audit_read {
                                        (nav_link(org, Nav::Audit, "Audit trail", chrome.active))
                                    }
                                    // Every member may hold tokens and ask for access.
                                    (nav_link(org, Nav::Tokens, "API tokens", chrome.active))
                                    (nav_link(org, Nav::Access, "Access requests", chrome.active))
                                }
                            }
                        }
                    }
                    div.main-col {
                        header.topbar {
                            div.topbar-title {
                                @if let Some(org) = current { span.topbar-org { (org.name) } }
                            }
                            div.topbar-user {
                                span.user-badge aria-hidden="true" { (initial(&chrome.user_name)) }
                                span.user-text {
                                    span.user-name { (chrome.user_name) }
                                    span.user-email { (chrome.user_email) }
                                }
                                a.btn.btn-ghost.btn-small #nav-security href="/security" { "Security" }
                                form.logout-form method="post" action="/logout" {
                                    (csrf_field(&chrome.csrf))
                                    button.btn.btn-ghost.btn-small type="submit" { "Log out" }
                                }
                            }
                        }
                        main #main tabindex="-1" {
                            @if let Some(f) = flash { (flash_box(f)) }
                            (body)
                        }
                    }
                }
            }
        }
    }
}

fn initial(name: &str) -> String {
    name.chars()
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_else(|| "?".to_owned())
}

fn nav_link(org: &CurrentOrg, nav: Nav, label: &str, active: Nav) -> Markup {
    let href = format!("/orgs/{}{}", org.id, nav.segment());
    html! {
        li {
            a.nav-link.active[nav == active] href=(href) aria-current=[(nav == active).then_some("page")] { (label) }
        }
    }
}

/// A page without navigation: the login form, and errors before anyone is known.
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body.bare {
                main #main.bare-main {
                    div.bare-brand { (brand()) }
                    div.card.bare-card { (body) }
                }
            }
        }
    }
}
