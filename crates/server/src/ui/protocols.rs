//! Protocols in the UI: the list (and a create form), a protocol with its versions, a version
//! with its steps, signatures (with validity), edit and approve (password + code) forms, and the
//! diff between two versions.

use super::error::UiError;
use super::extract::{CsrfForm, FormData, UiOrg};
use super::flash::Flash;
use super::layout::{self, csrf_field, Nav};
use crate::api::protocols::{diff_versions, validate_content, NewProtocolRequest};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use labledger_domain::protocol::{DiffLine, DiffOp, Step};
use labledger_domain::signature::manifestation;
use labledger_domain::{Permission, ProtocolId, ProtocolVersionId};
use labledger_store::{CheckedSignature, VersionPatch};
use maud::{html, Markup};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct ProtocolPath {
    #[allow(dead_code)]
    org_id: String,
    protocol_id: String,
}

#[derive(Deserialize)]
pub struct VersionPath {
    #[allow(dead_code)]
    org_id: String,
    protocol_id: String,
    version_id: String,
}

/// The signatures of a record, each marked valid or visibly INVALID with the reason.
pub(crate) fn signature_list(sigs: &[CheckedSignature]) -> Markup {
    html! {
        section.card #signatures {
            h2 { "Signatures" }
            @if sigs.is_empty() {
                p.empty { "Not signed." }
            } @else {
                ul.signatures {
                    @for s in sigs {
                        @let sig = &s.signature;
                        @if s.validity.valid {
                            li.signature-valid {
                                strong { (manifestation(sig.meaning, &sig.signer_name, &sig.signed_at.to_rfc3339())) }
                                " " span.badge { "valid" }
                                br; small { "SHA-256 " code { (hex::encode(&sig.content_hash)) } }
                            }
                        } @else {
                            li.signature-invalid {
                                strong { (manifestation(sig.meaning, &sig.signer_name, &sig.signed_at.to_rfc3339())) }
                                " " span.badge.badge-danger { "INVALID" }
                                br; small { (s.validity.reason.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The password (+ code) fields of a signing form.
pub(crate) fn signing_fields(mfa: bool) -> Markup {
    html! {
        div.form-grid {
            div.field {
                label for="sign-password" { "Your password" }
                input #sign-password type="password" name="password" required autocomplete="current-password";
            }
            div.field {
                label for="sign-code" { @if mfa { "Authenticator code" } @else { "Authenticator code (if you use MFA)" } }
                input #sign-code type="text" name="totp_code" inputmode="numeric" autocomplete="one-time-code" maxlength="64" required[mfa];
            }
        }
        p.hint { "Signing is your electronic signature: it records your name, the time, its meaning and the SHA-256 of the content you sign." }
    }
}

fn parse_steps(form: &FormData) -> Result<Vec<Step>, ApiError> {
    let raw = form.text("steps");
    if raw.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(&raw).map_err(|e| {
        ApiError::Invalid(vec![labledger_domain::FieldError::new(
            "steps",
            format!("must be a JSON list of steps: {e}"),
        )])
    })
}

fn fail(org: &UiOrg, e: ApiError) -> Result<Response, UiError> {
    super::error::log_api_error(&e);
    if matches!(e, ApiError::NotFound) {
        return Err(org.not_found());
    }
    let status = e.status();
    let mut message = super::error::describe(&e);
    if let ApiError::Invalid(errors) = &e {
        for f in errors {
            message.push_str(&format!(" {}: {}.", f.field, f.message));
        }
    }
    let body = html! { p { a href=(format!("{}/protocols", org.base())) { "← Protocols" } } };
    Ok((
        status,
        layout::page(
            &org.chrome(Nav::Protocols),
            "Protocols",
            Some(&Flash::error(message)),
            body,
        ),
    )
        .into_response())
}

fn steps_json(steps: &[Step]) -> String {
    serde_json::to_string_pretty(steps).unwrap_or_default()
}

/// `GET /orgs/{org_id}/protocols`.
pub async fn list(State(state): State<AppState>, org: UiOrg) -> Result<Response, UiError> {
    org.require(Permission::PROTOCOLS_READ, Nav::Protocols)?;
    let items = state
        .store()
        .org(&org.scope)
        .protocols(500)
        .await
        .map_err(|e| org.error(ApiError::from(e), Nav::Protocols))?;
    let base = format!("{}/protocols", org.base());
    let body = html! {
        div.page-head { h1 { "Protocols" } p.subtitle { "Versioned SOPs; a version takes effect when approved by e-signature." } }
        section.card {
            @if items.is_empty() { p.empty { "No protocols yet." } } @else {
                table.table {
                    thead { tr { th { "Title" } th { "Effective version" } th { "Latest version" } th { "Updated" } } }
                    tbody { @for p in &items { tr {
                        td { a href=(format!("{base}/{}", p.id)) { (p.title) } }
                        td { (p.effective_version.map(|v| format!("v{v}")).unwrap_or_else(|| "—".into())) }
                        td { "v" (p.latest_version) }
                        td { (p.updated_at.to_rfc3339()) }
                    } } }
                }
            }
        }
        @if org.scope.can(Permission::PROTOCOLS_WRITE) {
            section.card {
                h2 { "New protocol" }
                form #new-protocol method="post" action=(base) {
                    (csrf_field(org.csrf()))
                    (content_fields("", "", "[]", ""))
                    button.btn.btn-primary type="submit" { "Create draft" }
                }
            }
        }
    };
    Ok(layout::page(&org.chrome(Nav::Protocols), "Protocols", None, body).into_response())
}

fn content_fields(title: &str, body: &str, steps: &str, note: &str) -> Markup {
    html! {
        div.field { label for="title" { "Title" } input #title type="text" name="title" value=(title) required maxlength="200"; }
        div.field { label for="body" { "Body (markdown)" } textarea #body name="body" rows="8" { (body) } }
        div.field {
            label for="steps" { "Steps (JSON)" }
            textarea #steps name="steps" rows="8" spellcheck="false" { (steps) }
            p.hint { r#"[{"title": "Thaw", "instructions": "On ice", "critical": true, "inputs": [{"name": "temp", "type": "number", "unit": "°C", "min": -5, "max": 4}]}] — types: text, number, choice (with "options"), bool."# }
        }
        div.field { label for="change_note" { "Change note" } input #change_note type="text" name="change_note" value=(note) maxlength="2000"; }
    }
}

fn request_of(form: &FormData) -> Result<NewProtocolRequest, ApiError> {
    Ok(NewProtocolRequest {
        title: form.text("title"),
        body: form.text("body"),
        steps: parse_steps(form)?,
        change_note: Some(form.text("change_note")),
    })
}

/// `POST /orgs/{org_id}/protocols`.
pub async fn create(
    State(state): State<AppState>,
    org: UiOrg,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::PROTOCOLS_WRITE, Nav::Protocols)?;
    let result = match request_of(&form).and_then(validate_content) {
        Ok(c) => state
            .store()
            .org(&org.scope)
            .create_protocol(c)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok((p, _)) => {
            Ok(Redirect::to(&format!("{}/protocols/{}", org.base(), p.id)).into_response())
        }
        Err(e) => fail(&org, e),
    }
}

/// `GET /orgs/{org_id}/protocols/{protocol_id}`.
pub async fn show(
    State(state): State<AppState>,
    org: UiOrg,
    Path(path): Path<ProtocolPath>,
) -> Result<Response, UiError> {
    org.require(Permission::PROTOCOLS_READ, Nav::Protocols)?;
    let id: ProtocolId = path.protocol_id.parse().map_err(|_| org.not_found())?;
    let store = state.store();
    let o = store.org(&org.scope);
    let p = match o.protocol(id).await {
        Ok(p) => p,
        Err(e) => return fail(&org, e.into()),
    };
    let versions = o
        .protocol_versions(id)
        .await
        .map_err(|e| org.error(ApiError::from(e), Nav::Protocols))?;
    let base = format!("{}/protocols/{}", org.base(), p.id);
    let has_draft = versions.iter().any(|v| v.state.editable());
    let latest = versions.first();
    let body = html! {
        div.page-head { h1 { (p.title) } p.subtitle { "Effective: " (p.effective_version.map(|v| format!("v{v}")).unwrap_or_else(|| "none".into())) } }
        section.card {
            h2 { "Versions" }
            table.table {
                thead { tr { th { "Version" } th { "State" } th { "Title" } th { "Author" } th { "Effective since" } th { "" } } }
                tbody { @for v in &versions { tr {
                    td { a href=(format!("{base}/versions/{}", v.id)) { "v" (v.version) } }
                    td { span.badge { (v.state.as_str()) } }
                    td { (v.title) }
                    td { (v.author_name) }
                    td { (v.effective_at.map(|t| t.to_rfc3339()).unwrap_or_else(|| "—".into())) }
                    td { @if v.version > 1 { a href=(format!("{base}/diff?from={}&to={}", v.version - 1, v.version)) { "diff" } } }
                } } }
            }
        }
        @if org.scope.can(Permission::PROTOCOLS_WRITE) && !has_draft {
            @if let Some(l) = latest {
                section.card {
                    h2 { "New version" }
                    form #new-version method="post" action=(format!("{base}/versions")) {
                        (csrf_field(org.csrf()))
                        (content_fields(&l.title, &l.body, &steps_json(&l.steps), ""))
                        button.btn.btn-primary type="submit" { "Create draft v" (l.version + 1) }
                    }
                }
            }
        }
        p { a href=(format!("{}/protocols", org.base())) { "← Protocols" } }
    };
    Ok(layout::page(&org.chrome(Nav::Protocols), &p.title, None, body).into_response())
}

/// `POST /orgs/{org_id}/protocols/{protocol_id}/versions`.
pub async fn create_version(
    State(state): State<AppState>,
    org: UiOrg,
    Path(path): Path<ProtocolPath>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::PROTOCOLS_WRITE, Nav::Protocols)?;
    let id: ProtocolId = path.protocol_id.parse().map_err(|_| org.not_found())?;
    let result = match request_of(&form).and_then(validate_content) {
        Ok(c) => state
            .store()
            .org(&org.scope)
            .create_protocol_version(id, c)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(v) => Ok(
            Redirect::to(&format!("{}/protocols/{id}/versions/{}", org.base(), v.id))
                .into_response(),
        ),
        Err(e) => fail(&org, e),
    }
}

fn ids(org: &UiOrg, path: &VersionPath) -> Result<(ProtocolId, ProtocolVersionId), UiError> {
    Ok((
        path.protocol_id.parse().map_err(|_| org.not_found())?,
        path.version_id.parse().map_err(|_| org.not_found())?,
    ))
}

/// `GET /orgs/{org_id}/protocols/{protocol_id}/versions/{version_id}`.
pub async fn show_version(
    State(state): State<AppState>,
    org: UiOrg,
    Path(path): Path<VersionPath>,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    org.require(Permission::PROTOCOLS_READ, Nav::Protocols)?;
    let (pid, vid) = ids(&org, &path)?;
    let flash = super::flash::from_query(query.as_deref());
    render_version(&state, &org, pid, vid, StatusCode::OK, flash).await
}

async fn render_version(
    state: &AppState,
    org: &UiOrg,
    pid: ProtocolId,
    vid: ProtocolVersionId,
    status: StatusCode,
    flash: Option<Flash>,
) -> Result<Response, UiError> {
    let store = state.store();
    let o = store.org(&org.scope);
    let v = match o.protocol_version(pid, vid).await {
        Ok(v) => v,
        Err(e) => return fail(org, e.into()),
    };
    let sigs = o
        .protocol_version_signatures(&v)
        .await
        .map_err(|e| org.error(ApiError::from(e), Nav::Protocols))?;
    let base = format!("{}/protocols/{pid}/versions/{vid}", org.base());
    let draft = v.state.editable();
    let body = html! {
        div.page-head {
            h1 { (v.title) " v" (v.version) }
            p.subtitle { span.badge { (v.state.as_str()) } " · by " (v.author_name) }
        }
        section.card {
            h2 { "Body" }
            pre.protocol-body { (v.body) }
            @if let Some(n) = &v.change_note { p { "Change note: " (n) } }
        }
        section.card {
            h2 { "Steps" }
            @if v.steps.is_empty() { p.empty { "No structured steps." } }
            ol.steps { @for s in &v.steps { li {
                strong { (s.title) } @if s.critical { " " span.badge.badge-danger { "critical" } }
                @if !s.instructions.is_empty() { p { (s.instructions) } }
                @if !s.inputs.is_empty() { ul { @for i in &s.inputs { li {
                    code { (i.name) } " — " (format!("{:?}", i.kind).to_lowercase())
                    @if let Some(u) = &i.unit { " in " (u) }
                    @if let Some(m) = i.min { " ≥ " (m) }
                    @if let Some(m) = i.max { " ≤ " (m) }
                    @if !i.options.is_empty() { " (" (i.options.join(" | ")) ")" }
                } } } }
            } } }
        }
        (signature_list(&sigs))
        @if draft && org.scope.can(Permission::PROTOCOLS_WRITE) {
            section.card {
                h2 { "Edit draft" }
                form #edit-version method="post" action=(base) {
                    (csrf_field(org.csrf()))
                    (content_fields(&v.title, &v.body, &steps_json(&v.steps), v.change_note.as_deref().unwrap_or("")))
                    button.btn type="submit" { "Save draft" }
                }
            }
        }
        @if draft && org.scope.can(Permission::PROTOCOLS_APPROVE) {
            section.card {
                h2 { "Approve and sign" }
                p { "Approving makes this version effective and supersedes the current one. The author and last editor cannot approve." }
                form #approve-version method="post" action=(format!("{base}/approve")) {
                    (csrf_field(org.csrf()))
                    (signing_fields(org.user.mfa_active))
                    button.btn.btn-primary type="submit" { "Approve (sign)" }
                }
            }
        }
        p { a href=(format!("{}/protocols/{pid}", org.base())) { "← All versions" } }
    };
    let title = format!("{} v{}", v.title, v.version);
    Ok((
        status,
        layout::page(&org.chrome(Nav::Protocols), &title, flash.as_ref(), body),
    )
        .into_response())
}

/// `POST /orgs/{org_id}/protocols/{protocol_id}/versions/{version_id}`: save a draft.
pub async fn update_version(
    State(state): State<AppState>,
    org: UiOrg,
    Path(path): Path<VersionPath>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::PROTOCOLS_WRITE, Nav::Protocols)?;
    let (pid, vid) = ids(&org, &path)?;
    let result = match request_of(&form).and_then(validate_content) {
        Ok(c) => state
            .store()
            .org(&org.scope)
            .update_protocol_version(
                pid,
                vid,
                VersionPatch {
                    title: Some(c.title),
                    body: Some(c.body),
                    steps: Some(c.steps),
                    change_note: Some(c.change_note),
                },
            )
            .await
            .map(|_| ())
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(
            Redirect::to(&format!("{}/protocols/{pid}/versions/{vid}", org.base())).into_response(),
        ),
        Err(e) => {
            let flash = Flash::error(super::error::describe(&e));
            render_version(&state, &org, pid, vid, e.status(), Some(flash)).await
        }
    }
}

/// `POST /orgs/{org_id}/protocols/{protocol_id}/versions/{version_id}/approve`.
pub async fn approve(
    State(state): State<AppState>,
    org: UiOrg,
    client: crate::extract::ClientInfo,
    Path(path): Path<VersionPath>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, UiError> {
    org.require(Permission::PROTOCOLS_APPROVE, Nav::Protocols)?;
    let (pid, vid) = ids(&org, &path)?;
    let signer = crate::api::signatures::confirm_signer(
        &state,
        &org.user,
        &client,
        form.text("password"),
        Some(form.text("totp_code")),
        None,
    )
    .await;
    let result = match signer {
        Ok(signer) => state
            .store()
            .org(&org.scope)
            .approve_protocol_version(pid, vid, signer)
            .await
            .map(|_| ())
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(
            Redirect::to(&format!("{}/protocols/{pid}/versions/{vid}", org.base())).into_response(),
        ),
        Err(e) => {
            super::error::log_api_error(&e);
            let flash = Flash::error(match e {
                ApiError::InvalidCredentials => {
                    "The password is wrong; nothing was signed.".to_owned()
                }
                ApiError::MfaRequired => {
                    "The authenticator code is missing or wrong; nothing was signed.".to_owned()
                }
                ref other => super::error::describe(other),
            });
            render_version(&state, &org, pid, vid, e.status(), Some(flash)).await
        }
    }
}

fn diff_block(lines: &[DiffLine]) -> Markup {
    html! {
        pre.diff { @for l in lines {
            @match l.op {
                DiffOp::Same => span.diff-same { "  " (l.text) "\n" },
                DiffOp::Added => span.diff-added { "+ " (l.text) "\n" },
                DiffOp::Removed => span.diff-removed { "- " (l.text) "\n" },
            }
        } }
    }
}

/// `GET /orgs/{org_id}/protocols/{protocol_id}/diff?from=N&to=M`.
pub async fn diff(
    State(state): State<AppState>,
    org: UiOrg,
    Path(path): Path<ProtocolPath>,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    org.require(Permission::PROTOCOLS_READ, Nav::Protocols)?;
    let id: ProtocolId = path.protocol_id.parse().map_err(|_| org.not_found())?;
    let num = |name: &str| -> Option<i64> {
        form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.parse().ok())
    };
    let versions = match state.store().org(&org.scope).protocol_versions(id).await {
        Ok(v) if !v.is_empty() => v,
        Ok(_) => return Err(org.not_found()),
        Err(e) => return fail(&org, e.into()),
    };
    let d = match diff_versions(&versions, num("from"), num("to")) {
        Ok(d) => d,
        Err(e) => return fail(&org, e),
    };
    let body = html! {
        div.page-head { h1 { "Diff " (d.from.map(|f| format!("v{f}")).unwrap_or_else(|| "∅".into())) " → v" (d.to) } }
        section.card { h2 { "Title" } (diff_block(&d.title)) }
        section.card { h2 { "Body" } (diff_block(&d.body)) }
        section.card { h2 { "Steps" } (diff_block(&d.steps)) }
        p { a href=(format!("{}/protocols/{id}", org.base())) { "← All versions" } }
    };
    Ok(layout::page(&org.chrome(Nav::Protocols), "Protocol diff", None, body).into_response())
}
