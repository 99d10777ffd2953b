//! Storage pages: the location tree with a form to add locations, a location's page (a box shows
//! its grid with who sits where), and on a sample's page its placement, hand-over, custody
//! timeline and labels. Write forms only for `samples:write`.

use super::error::UiError;
use super::extract::{CsrfForm, UiOrg, UiRecord};
use super::flash::{self, Flash, Notice};
use super::layout::{self, csrf_field, Nav};
use crate::api::storage::{location_request, validate_handover, validate_location};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use labledger_domain::storage::{Grid, LocationKind};
use labledger_domain::{LocationId, Permission, SampleId};
use labledger_store::{Location, Sample};
use maud::{html, Markup, DOCTYPE};
use std::collections::HashMap;

fn message(e: &ApiError) -> String {
    match e {
        ApiError::Invalid(errors) => errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; "),
        other => super::error::describe(other),
    }
}

/// `Site › Room › …` for each location, from the flat list.
fn paths(all: &[Location]) -> HashMap<LocationId, String> {
    let by_id: HashMap<LocationId, &Location> = all.iter().map(|l| (l.id, l)).collect();
    all.iter()
        .map(|l| {
            let mut names = vec![l.name.clone()];
            let mut up = l.parent_id;
            for _ in 0..8 {
                let Some(p) = up.and_then(|p| by_id.get(&p)) else {
                    break;
                };
                names.push(p.name.clone());
                up = p.parent_id;
            }
            names.reverse();
            (l.id, names.join(" › "))
        })
        .collect()
}

fn tree(org: &UiOrg, all: &[Location], parent: Option<LocationId>, depth: usize) -> Markup {
    let children: Vec<&Location> = all.iter().filter(|l| l.parent_id == parent).collect();
    html! {
        @if !children.is_empty() && depth < 8 {
            ul.location-tree {
                @for l in children {
                    li {
                        span.badge.badge-muted { (l.kind.as_str()) } " "
                        a href=(format!("{}/storage/{}", org.base(), l.id)) { (l.name) }
                        @if let Some(g) = l.grid {
                            " " span.hint { (l.occupied) " / " (g.size()) " occupied" }
                        }
                        (tree(org, all, Some(l.id), depth + 1))
                    }
                }
            }
        }
    }
}

/// `GET /orgs/{org_id}/storage`.
pub async fn list(
    State(state): State<AppState>,
    org: UiOrg,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    org.require(Permission::SAMPLES_READ, Nav::Storage)?;
    render_list(
        &state,
        &org,
        StatusCode::OK,
        flash::from_query(query.as_deref()),
    )
    .await
}

async fn render_list(
    state: &AppState,
    org: &UiOrg,
    status: StatusCode,
    flash: Option<Flash>,
) -> Result<Response, UiError> {
    let all = state
        .store()
        .org(&org.scope)
        .locations()
        .await
        .map_err(|e| org.error(ApiError::from(e), Nav::Storage))?;
    let names = paths(&all);
    let mut parents: Vec<(&Location, &String)> = all
        .iter()
        .filter(|l| !l.kind.has_grid())
        .filter_map(|l| names.get(&l.id).map(|n| (l, n)))
        .collect();
    parents.sort_by(|a, b| a.1.cmp(b.1));
    let base = format!("{}/storage", org.base());
    let body = html! {
        div.page-head {
            h1 { "Storage" }
            p.subtitle { "Sites, rooms, freezers, racks and boxes of " (org.scope.org_name()) "." }
        }
        section.card #location-tree {
            @if all.is_empty() { p.empty { "No locations yet." } } @else { (tree(org, &all, None, 0)) }
        }
        @if org.scope.can(Permission::SAMPLES_WRITE) {
            section.card {
                h2 { "Add a location" }
                p.hint { "A site is the top; a room goes in a site, a freezer in a room, a rack in a freezer, a box in a rack or a freezer. A box has a grid: rows lettered from A, columns numbered from 1." }
                form #add-location method="post" action=(base) {
                    (csrf_field(org.csrf()))
                    div.form-grid {
                        div.field {
                            label for="kind" { "Kind" }
                            select #kind name="kind" { @for k in LocationKind::ALL { option value=(k.as_str()) { (k.as_str()) } } }
                        }
                        div.field {
                            label for="name" { "Name" }
                            input #name type="text" name="name" required maxlength="100";
                        }
                        div.field {
                            label for="parent_id" { "Inside" }
                            select #parent_id name="parent_id" {
                                option value="" { "— (top: a site)" }
                                @for (l, path) in &parents {
                                    option value=(l.id) { (path) " (" (l.kind.as_str()) ")" }
                                }
                            }
                        }
                        div.field {
                            label for="rows" { "Rows (box)" }
                            input #rows type="number" name="rows" min="1" max="26";
                        }
                        div.field {
                            label for="columns" { "Columns (box)" }
                            input #columns type="number" name="columns" min="1" max="32";
                        }
                    }
                    button.btn.btn-primary type="submit" { "Add" }
                }
            }
        }
    };
    Ok((
        status,
        layout::page(&org.chrome(Nav::Storage), "Storage", flash.as_ref(), body),
    )
        .into_response())
}

/// `POST /orgs/{org_id}/storage`.
pub async fn create(
    State(state): State<AppState>,
    org: UiOrg,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::SAMPLES_WRITE, Nav::Storage)?;
    let result = match location_request(
        form.text("kind"),
        form.text("name"),
        form.text("parent_id"),
        &form.text("rows"),
        &form.text("columns"),
    )
    .and_then(validate_location)
    {
        Ok(new) => state
            .store()
            .org(&org.scope)
            .create_location(new)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(loc) => Ok(Notice::LocationCreated
            .redirect(&format!("{}/storage/{}", org.base(), loc.id))
            .into_response()),
        Err(e) => {
            super::error::log_api_error(&e);
            render_list(&state, &org, e.status(), Some(Flash::error(message(&e)))).await
        }
    }
}

/// Positions and who sits there: a sample the viewer may see, or `None` for one outside their projects.
type Occupancy = HashMap<String, Option<(SampleId, String)>>;

fn grid_table(org: &UiOrg, grid: Grid, occupants: &Occupancy) -> Markup {
    html! {
        table.box-grid #box-grid {
            thead { tr { th {} @for c in 1..=grid.columns { th scope="col" { (c) } } } }
            tbody {
                @for r in 0..grid.rows {
                    tr {
                        @let letter = char::from_u32(u32::from('A') + r).unwrap_or('?');
                        th scope="row" { (letter) }
                        @for c in 1..=grid.columns {
                            @let pos = format!("{letter}{c}");
                            @match occupants.get(&pos) {
                                Some(Some((id, code))) => {
                                    td.occupied data-position=(pos) {
                                        a href=(format!("{}/samples/{id}", org.base())) title=(pos) { (code) }
                                    }
                                }
                                Some(None) => {
                                    td.occupied data-position=(pos) title=(format!("{pos}: occupied")) { "occupied" }
                                }
                                None => { td.free data-position=(pos) title=(pos) {} }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /orgs/{org_id}/storage/{location_id}`: a location; a box shows its grid.
pub async fn show(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(id): UiRecord<LocationId>,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    org.require(Permission::SAMPLES_READ, Nav::Storage)?;
    let id = id.ok_or_else(|| org.not_found())?;
    let d = match state.store().org(&org.scope).location(id).await {
        Ok(d) => d,
        Err(labledger_store::StoreError::NotFound) => return Err(org.not_found()),
        Err(e) => return Err(org.error(ApiError::from(e), Nav::Storage)),
    };
    let occupants: Occupancy = d
        .occupants
        .iter()
        .map(|o| {
            let sample = o.sample.as_ref().map(|s| (s.id, s.code.clone()));
            (o.position.clone(), sample)
        })
        .collect();
    let base = format!("{}/storage", org.base());
    let body = html! {
        div.page-head {
            h1 { (d.location.name) }
            p.subtitle {
                span.badge { (d.location.kind.as_str()) } " "
                a href=(base) { "Storage" }
                @for p in &d.path { " › " a href=(format!("{base}/{}", p.id)) { (p.name) } }
            }
        }
        @if let Some(g) = d.location.grid {
            section.card {
                h2 { "Occupancy" }
                p { (d.occupants.len()) " of " (g.size()) " positions occupied." }
                (grid_table(&org, g, &occupants))
            }
        }
        @if !d.children.is_empty() {
            section.card {
                h2 { "Inside" }
                ul {
                    @for c in &d.children {
                        li { span.badge.badge-muted { (c.kind.as_str()) } " " a href=(format!("{base}/{}", c.id)) { (c.name) } }
                    }
                }
            }
        }
    };
    Ok((
        StatusCode::OK,
        layout::page(
            &org.chrome(Nav::Storage),
            &d.location.name,
            flash::from_query(query.as_deref()).as_ref(),
            body,
        ),
    )
        .into_response())
}

/// The storage, custody and label sections of a sample's page.
pub async fn sample_sections(
    state: &AppState,
    org: &UiOrg,
    sample: &Sample,
) -> Result<Markup, UiError> {
    let store = state.store();
    let o = store.org(&org.scope);
    let fail = |e: labledger_store::StoreError| org.error(ApiError::from(e), Nav::Samples);
    let placement = o.placement(sample.id).await.map_err(fail)?;
    let events = o.custody(sample.id).await.map_err(fail)?;
    let lineage = o.lineage(sample.id).await.map_err(fail)?;
    let can_write = org.scope.can(Permission::SAMPLES_WRITE) && !sample.status.is_final();
    let (boxes, members) = if can_write {
        let all = o.locations().await.map_err(fail)?;
        let names = paths(&all);
        let mut boxes: Vec<(LocationId, String)> = all
            .iter()
            .filter(|l| l.kind.has_grid())
            .map(|l| (l.id, names.get(&l.id).cloned().unwrap_or_default()))
            .collect();
        boxes.sort_by(|a, b| a.1.cmp(&b.1));
        (boxes, o.handover_candidates().await.map_err(fail)?)
    } else {
        (Vec::new(), Vec::new())
    };
    let base = format!("{}/samples/{}", org.base(), sample.id);
    let api = format!("/api/v1/orgs/{}/samples/{}", org.scope.org_id(), sample.id);
    Ok(html! {
        section.card #storage {
            h2 { "Storage" }
            @match &placement {
                Some(p) => {
                    p #placement { "In " a href=(format!("{}/storage/{}", org.base(), p.location_id)) { (p.path) } " at " strong { (p.position) } "." }
                }
                None => { p #placement { "In no box." } }
            }
            @if can_write {
                @if boxes.is_empty() {
                    p.hint { "Add a box under " a href=(format!("{}/storage", org.base())) { "Storage" } " to store samples." }
                } @else {
                    form #place-sample method="post" action=(format!("{base}/placement")) {
                        (csrf_field(org.csrf()))
                        div.form-grid {
                            div.field {
                                label for="location_id" { "Box" }
                                select #location_id name="location_id" {
                                    @for (id, path) in &boxes {
                                        option value=(id) selected[placement.as_ref().is_some_and(|p| p.location_id == *id)] { (path) }
                                    }
                                }
                            }
                            div.field {
                                label for="position" { "Position" }
                                input #position type="text" name="position" required maxlength="3" placeholder="A1";
                            }
                            div.field {
                                label for="place-reason" { "Reason (optional)" }
                                input #place-reason type="text" name="reason" maxlength="2000";
                            }
                        }
                        button.btn.btn-primary type="submit" { @if placement.is_some() { "Move" } @else { "Place" } }
                    }
                }
                @if placement.is_some() {
                    form #remove-sample method="post" action=(format!("{base}/placement/remove")) {
                        (csrf_field(org.csrf()))
                        input type="hidden" name="reason" value="";
                        button.btn.btn-small type="submit" { "Take out of the box" }
                    }
                }
            }
        }
        @if can_write && !members.is_empty() {
            section.card {
                h2 { "Hand over" }
                form #handover method="post" action=(format!("{base}/handover")) {
                    (csrf_field(org.csrf()))
                    div.form-grid {
                        div.field {
                            label for="to_member" { "To" }
                            select #to_member name="to_member" {
                                @for (id, label) in &members { option value=(id) { (label) } }
                            }
                        }
                        div.field {
                            label for="handover-reason" { "Reason" }
                            input #handover-reason type="text" name="reason" required maxlength="2000";
                        }
                    }
                    button.btn type="submit" { "Hand over" }
                }
            }
        }
        section.card #lineage {
            h2 { "Lineage" }
            @if lineage.ancestors.is_empty() && lineage.children.is_empty() {
                p.empty { "No parent and no aliquots or derivatives." }
            }
            @if !lineage.ancestors.is_empty() {
                p #ancestors { "Made from: "
                    @for (i, a) in lineage.ancestors.iter().enumerate() {
                        @if i > 0 { " ← " }
                        a href=(format!("{}/samples/{}", org.base(), a.id)) { code { (a.code) } } " (" (a.kind) ")"
                    }
                }
            }
            @if !lineage.children.is_empty() {
                table.table #children {
                    thead { tr { th { "Code" } th { "How" } th { "Type" } th { "Status" } th { "Taken" } } }
                    tbody {
                        @for c in &lineage.children {
                            tr {
                                td { a href=(format!("{}/samples/{}", org.base(), c.id)) { code { (c.code) } } }
                                td { (c.kind) } td { (c.sample_type) } td { (c.status) }
                                td { (c.quantity_taken.as_deref().unwrap_or("—")) }
                            }
                        }
                    }
                }
            }
            @if can_write {
                form #derive method="post" action=(format!("{base}/aliquots")) {
                    (csrf_field(org.csrf()))
                    div.form-grid {
                        div.field {
                            label for="derive-kind" { "Make" }
                            select #derive-kind name="kind" { option value="aliquot" { "aliquots" } option value="derivative" { "derivatives" } }
                        }
                        div.field {
                            label for="derive-count" { "How many" }
                            input #derive-count type="number" name="count" min="1" max="100" value="1";
                        }
                        div.field {
                            label for="derive-quantity" { "Quantity each (optional)" }
                            input #derive-quantity type="text" name="quantity";
                        }
                        div.field {
                            label for="derive-type" { "Type (derivatives)" }
                            input #derive-type type="text" name="sample_type" maxlength="64";
                        }
                    }
                    button.btn type="submit" { "Make" }
                }
            }
        }
        section.card #custody {
            h2 { "Chain of custody" }
            table.table #custody-timeline {
                thead { tr { th { "#" } th { "When (UTC)" } th { "What" } th { "Who" } th { "From" } th { "To" } th { "Why" } } }
                tbody {
                    @for e in &events {
                        tr data-kind=(e.kind.as_str()) {
                            td { (e.seq) }
                            td { (e.at.to_rfc3339()) }
                            td { (e.kind.as_str()) }
                            td { (e.actor_name) }
                            td { (e.from.as_deref().unwrap_or("—")) }
                            td { (e.to.as_deref().unwrap_or("—")) }
                            td { (e.reason.as_deref().unwrap_or("—")) }
                        }
                    }
                }
            }
            p {
                a href=(format!("/api/v1/orgs/{}/custody/report?samples={}&format=html", org.scope.org_id(), sample.id)) { "Printable custody report" }
                " · "
                a href=(format!("/api/v1/orgs/{}/custody/report?samples={}&format=csv", org.scope.org_id(), sample.id)) { "CSV" }
            }
        }
        section.card #labels {
            h2 { "Label" }
            p {
                a #print-label href=(format!("{base}/label")) { "Printable label" } " · "
                a href=(format!("{api}/label.svg?kind=qr")) { "QR (SVG)" } " · "
                a href=(format!("{api}/label.png?kind=qr")) { "QR (PNG)" } " · "
                a href=(format!("{api}/label.svg?kind=code128")) { "Code 128 (SVG)" } " · "
                a href=(format!("{api}/label.png?kind=code128")) { "Code 128 (PNG)" } " · "
                a href=(format!("{api}/label.zpl")) { "ZPL" } " · "
                a href=(format!("/api/v1/orgs/{}/labels.pdf?samples={}", org.scope.org_id(), sample.id)) { "PDF sheet" }
            }
        }
    })
}

/// `GET /orgs/{org_id}/samples/{sample_id}/label`: a page holding just the label, to print.
pub async fn label_page(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(id): UiRecord<SampleId>,
) -> Result<Response, UiError> {
    org.require(Permission::SAMPLES_READ, Nav::Samples)?;
    let id = id.ok_or_else(|| org.not_found())?;
    let sample = match state.store().org(&org.scope).sample(id).await {
        Ok(s) => s,
        Err(labledger_store::StoreError::NotFound) => return Err(org.not_found()),
        Err(e) => return Err(org.error(ApiError::from(e), Nav::Samples)),
    };
    let api = format!("/api/v1/orgs/{}/samples/{}", org.scope.org_id(), sample.id);
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "Label " (sample.code) }
                link rel="stylesheet" href="/assets/app.css";
                script src="/assets/app.js" defer {}
            }
            body.print-page {
                div.label #label {
                    img.label-qr src=(format!("{api}/label.svg?kind=qr")) alt=(format!("QR code of {}", sample.code)) width="120" height="120";
                    div.label-text {
                        p.label-code { (sample.code) }
                        p { (sample.sample_type) }
                    }
                    img.label-bars src=(format!("{api}/label.svg?kind=code128")) alt=(format!("Code 128 barcode of {}", sample.code));
                }
                p.no-print {
                    button.btn.js-print type="button" { "Print" } " "
                    a href=(format!("{}/samples/{}", org.base(), sample.id)) { "← Back to the sample" }
                }
            }
        }
    };
    Ok((StatusCode::OK, page).into_response())
}

async fn after_sample_post(
    state: &AppState,
    org: &UiOrg,
    id: SampleId,
    result: Result<(), ApiError>,
    notice: Notice,
) -> Result<Response, UiError> {
    match result {
        Ok(()) => Ok(notice
            .redirect(&format!("{}/samples/{id}", org.base()))
            .into_response()),
        Err(ApiError::NotFound) => Err(org.not_found()),
        Err(e) => {
            super::error::log_api_error(&e);
            super::samples::render_sample(
                state,
                org,
                id,
                e.status(),
                Some(Flash::error(message(&e))),
            )
            .await
        }
    }
}

/// `POST /orgs/{org_id}/samples/{sample_id}/placement`: place or move.
pub async fn place(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(id): UiRecord<SampleId>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::SAMPLES_WRITE, Nav::Samples)?;
    let id = id.ok_or_else(|| org.not_found())?;
    let mut errors = labledger_domain::FieldErrors::default();
    let location = errors.check(
        form.text("location_id")
            .trim()
            .parse::<LocationId>()
            .map_err(|_| labledger_domain::FieldError::new("location_id", "choose a box")),
    );
    let reason =
        crate::api::samples::optional_text(&mut errors, "reason", Some(form.text("reason")), 2000);
    let result = match (location, errors.0.is_empty()) {
        (Some(loc), true) => state
            .store()
            .org(&org.scope)
            .place_sample(id, loc, form.text("position"), reason)
            .await
            .map(|_| ())
            .map_err(ApiError::from),
        _ => Err(ApiError::Invalid(errors.0)),
    };
    after_sample_post(&state, &org, id, result, Notice::SamplePlaced).await
}

/// `POST /orgs/{org_id}/samples/{sample_id}/placement/remove`.
pub async fn remove(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(id): UiRecord<SampleId>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::SAMPLES_WRITE, Nav::Samples)?;
    let id = id.ok_or_else(|| org.not_found())?;
    let mut errors = labledger_domain::FieldErrors::default();
    let reason =
        crate::api::samples::optional_text(&mut errors, "reason", Some(form.text("reason")), 2000);
    let result = if errors.0.is_empty() {
        state
            .store()
            .org(&org.scope)
            .remove_sample(id, reason)
            .await
            .map_err(ApiError::from)
    } else {
        Err(ApiError::Invalid(errors.0))
    };
    after_sample_post(&state, &org, id, result, Notice::SampleRemoved).await
}

/// `POST /orgs/{org_id}/samples/{sample_id}/handover`.
pub async fn handover(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(id): UiRecord<SampleId>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::SAMPLES_WRITE, Nav::Samples)?;
    let id = id.ok_or_else(|| org.not_found())?;
    let result = match validate_handover(form.text("to_member"), form.text("reason")) {
        Ok((to, reason)) => state
            .store()
            .org(&org.scope)
            .hand_over(id, to, reason)
            .await
            .map(|_| ())
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    after_sample_post(&state, &org, id, result, Notice::SampleHandedOver).await
}

/// `POST /orgs/{org_id}/samples/{sample_id}/aliquots`.
pub async fn derive(
    State(state): State<AppState>,
    org: UiOrg,
    UiRecord(id): UiRecord<SampleId>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::SAMPLES_WRITE, Nav::Samples)?;
    let id = id.ok_or_else(|| org.not_found())?;
    let mut errors = labledger_domain::FieldErrors::default();
    let number = |field: &str| -> Option<String> {
        let v = form.text(field);
        let v = v.trim();
        (!v.is_empty()).then(|| v.to_owned())
    };
    let count = number("count").and_then(|c| {
        errors.check(
            c.parse::<i64>()
                .map_err(|_| labledger_domain::FieldError::new("count", "must be a whole number")),
        )
    });
    let quantity = number("quantity").and_then(|q| {
        errors.check(
            q.parse::<f64>()
                .map_err(|_| labledger_domain::FieldError::new("quantity", "must be a number")),
        )
    });
    let req = crate::api::storage::DeriveRequest {
        kind: Some(form.text("kind")),
        count,
        quantity,
        sample_type: Some(form.text("sample_type")),
    };
    let result = if errors.0.is_empty() {
        match crate::api::storage::validate_derive(req) {
            Ok(new) => state
                .store()
                .org(&org.scope)
                .derive_samples(id, new)
                .await
                .map(|_| ())
                .map_err(ApiError::from),
            Err(e) => Err(e),
        }
    } else {
        Err(ApiError::Invalid(errors.0))
    };
    after_sample_post(&state, &org, id, result, Notice::SamplesDerived).await
}
