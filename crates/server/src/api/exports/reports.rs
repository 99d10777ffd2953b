//! What a project's report and export say about it (samples, custody, files, signatures), as
//! CSV and PDF; the chain-of-custody PDF.

use crate::api::CommonErrors;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiQuery, OrgAccess, RecordId};
use crate::reports::{text_pdf, Line};
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use labledger_domain::{FieldError, Permission, ProjectId, SampleId, Timestamp};
use labledger_store::{
    CustodyRecord, FileObject, FileRecord, OrgScope, Project, Sample, SampleFilter,
};
use serde::Deserialize;
use utoipa::IntoParams;

/// Everything a report or an export says about a project.
pub(super) struct ProjectData {
    pub(super) project: Project,
    pub(super) samples: Vec<Sample>,
    pub(super) custody: Vec<CustodyRecord>,
    pub(super) files: Vec<(FileRecord, FileObject)>,
    /// (record, what, signer, meaning, signed at, valid, reason)
    pub(super) signatures: Vec<SignatureRow>,
}

pub(super) struct SignatureRow {
    pub(super) record: String,
    pub(super) signer: String,
    pub(super) meaning: String,
    pub(super) at: String,
    pub(super) valid: bool,
    pub(super) reason: Option<String>,
}

pub(super) async fn project_data(
    state: &AppState,
    scope: &OrgScope,
    id: ProjectId,
) -> ApiResult<ProjectData> {
    let org = state.store().org(scope);
    let project = org.project(id).await?;
    let mut samples = Vec::new();
    let mut before = None;
    loop {
        let filter = SampleFilter {
            project_id: Some(id),
            before_seq: before,
            ..SampleFilter::default()
        };
        let (page, next) = org.samples_page(filter, 1000).await?;
        samples.extend(page);
        match next {
            Some(n) => before = Some(n),
            None => break,
        }
    }
    samples.sort_by_key(|s| s.seq);
    let ids: Vec<SampleId> = samples.iter().map(|s| s.id).collect();
    let mut custody = org.custody_report(&ids).await?;
    // Sensitive custom values leave decrypted (the export is the reader's copy).
    crate::sensitive::reveal_custody(state, scope, &mut custody).await?;
    let files = if scope.can(Permission::FILES_READ) {
        org.project_files(id).await?
    } else {
        Vec::new()
    };
    let mut signatures = Vec::new();
    if scope.can(Permission::WORKFLOWS_READ) {
        for run_id in org.project_run_ids(id).await? {
            let Ok(run_id) = run_id.parse() else { continue };
            let detail = org.workflow_run(run_id).await?;
            let sigs = org.workflow_run_signatures(&detail).await?;
            let label = format!(
                "workflow run {} ({} on {})",
                detail.run.seq, detail.run.protocol_title, detail.run.target_code
            );
            let mut push = |what: String, c: &labledger_store::CheckedSignature| {
                signatures.push(SignatureRow {
                    record: what,
                    signer: c.signature.signer_name.clone(),
                    meaning: c.signature.meaning.as_str().to_owned(),
                    at: c.signature.signed_at.to_rfc3339(),
                    valid: c.validity.valid,
                    reason: c.validity.reason.clone(),
                })
            };
            for (index, list) in &sigs.steps {
                for c in list {
                    push(format!("{label} step {index}"), c);
                }
            }
            for c in &sigs.run {
                push(label.clone(), c);
            }
        }
    }
    Ok(ProjectData {
        project,
        samples,
        custody,
        files,
        signatures,
    })
}

/// Spreadsheet cells that cannot run as formulas (CSV injection).
pub(super) fn cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

pub(super) fn csv_bytes(header: &[&str], rows: Vec<Vec<String>>) -> ApiResult<Vec<u8>> {
    let internal = |e: csv::Error| ApiError::Internal(format!("csv: {e}"));
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).map_err(internal)?;
    for r in rows {
        w.write_record(r.iter().map(|c| cell(c)))
            .map_err(internal)?;
    }
    w.into_inner()
        .map_err(|e| ApiError::Internal(format!("csv: {e}")))
}

pub(super) fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

pub(super) fn samples_csv(samples: &[Sample]) -> ApiResult<Vec<u8>> {
    csv_bytes(
        &[
            "id",
            "code",
            "sample_type",
            "status",
            "source_ref",
            "collected_at",
            "received_at",
            "quantity",
            "unit",
            "notes",
            "created_at",
        ],
        samples
            .iter()
            .map(|s| {
                vec![
                    s.id.to_string(),
                    s.code.clone(),
                    s.sample_type.clone(),
                    s.status.as_str().to_owned(),
                    opt(&s.source_ref),
                    s.collected_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                    s.received_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                    opt(&s.quantity),
                    opt(&s.unit),
                    opt(&s.notes),
                    s.created_at.to_rfc3339(),
                ]
            })
            .collect(),
    )
}

pub(super) fn files_csv(files: &[(FileRecord, FileObject)]) -> ApiResult<Vec<u8>> {
    csv_bytes(
        &[
            "id",
            "name",
            "version",
            "sha256",
            "size",
            "media_type",
            "created_at",
            "created_by",
        ],
        files
            .iter()
            .map(|(f, _)| {
                vec![
                    f.id.to_string(),
                    f.name.clone(),
                    f.version.to_string(),
                    hex::encode(&f.sha256),
                    f.size.to_string(),
                    f.media_type.clone(),
                    f.created_at.to_rfc3339(),
                    opt(&f.created_by),
                ]
            })
            .collect(),
    )
}

pub(super) fn signatures_csv(rows: &[SignatureRow]) -> ApiResult<Vec<u8>> {
    csv_bytes(
        &[
            "record",
            "signer",
            "meaning",
            "signed_at",
            "valid",
            "reason",
        ],
        rows.iter()
            .map(|s| {
                vec![
                    s.record.clone(),
                    s.signer.clone(),
                    s.meaning.clone(),
                    s.at.clone(),
                    s.valid.to_string(),
                    opt(&s.reason),
                ]
            })
            .collect(),
    )
}

pub(super) fn project_report_lines(org_name: &str, d: &ProjectData) -> Vec<Line> {
    let mut l = vec![
        Line::Title(format!("Project report: {}", d.project.name)),
        Line::Text(format!(
            "{org_name} - project {} - status {} - generated {}",
            d.project.id,
            d.project.status.as_str(),
            Timestamp::now().to_rfc3339()
        )),
    ];
    if let Some(desc) = &d.project.description {
        l.push(Line::Text(desc.clone()));
    }
    l.push(Line::Blank);
    l.push(Line::Heading(format!("Samples ({})", d.samples.len())));
    let mut by_status: std::collections::BTreeMap<&str, Vec<&Sample>> = Default::default();
    for s in &d.samples {
        by_status.entry(s.status.as_str()).or_default().push(s);
    }
    for (status, list) in &by_status {
        l.push(Line::Text(format!("{status}: {}", list.len())));
        for s in list {
            let place = d
                .custody
                .iter()
                .find(|c| c.sample.id == s.id)
                .and_then(|c| c.placement.as_ref())
                .map(|p| format!(" - in {} / {}", p.path, p.position))
                .unwrap_or_default();
            l.push(Line::Text(format!(
                "    {}  {}{place}",
                s.code, s.sample_type
            )));
        }
    }
    l.push(Line::Blank);
    l.push(Line::Heading(format!("Files ({})", d.files.len())));
    for (f, _) in &d.files {
        l.push(Line::Text(format!(
            "{} v{} - {} bytes - sha256 {}",
            f.name,
            f.version,
            f.size,
            hex::encode(&f.sha256)
        )));
    }
    l.push(Line::Blank);
    l.push(Line::Heading(format!(
        "Signatures ({})",
        d.signatures.len()
    )));
    for s in &d.signatures {
        l.push(Line::Text(format!(
            "{} - signed by {} ({}) at {} - {}",
            s.record,
            s.signer,
            s.meaning,
            s.at,
            if s.valid { "valid" } else { "INVALID" }
        )));
        if let Some(r) = &s.reason {
            l.push(Line::Text(format!("    {r}")));
        }
    }
    l
}

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProjectReportQuery {
    /// For the CSV report: `samples` (default), `files` or `signatures`.
    part: Option<String>,
}

/// A project's report as PDF: samples by status (with their place), files with their SHA-256,
/// and the signatures of the project's workflow runs with signer, meaning, time and validity.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/projects/{project_id}/report.pdf", tag = "exports",
    params(("org_id" = String, Path, description = "Organization id"), ("project_id" = String, Path, description = "Project id")),
    responses((status = 200, description = "PDF", content_type = "application/pdf", body = String), CommonErrors),
    security(("session" = ["projects:read", "reports:read", "samples:read"]))
)]
pub async fn project_report_pdf(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<ProjectId>,
) -> ApiResult<Response> {
    scope.require(Permission::REPORTS_READ)?;
    let d = project_data(&state, &scope, id).await?;
    let pdf = text_pdf(
        &project_report_lines(scope.org_name(), &d),
        &format!("LabLedger project report {}", d.project.id),
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"project-report.pdf\"",
            ),
        ],
        pdf,
    )
        .into_response())
}

/// A project's report as CSV: one of its samples, files or signatures.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/projects/{project_id}/report.csv", tag = "exports",
    params(("org_id" = String, Path, description = "Organization id"), ("project_id" = String, Path, description = "Project id"), ProjectReportQuery),
    responses((status = 200, description = "CSV", content_type = "text/csv", body = String),
        (status = 400, description = "A query parameter is invalid", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors),
    security(("session" = ["projects:read", "reports:read", "samples:read"]))
)]
pub async fn project_report_csv(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    RecordId(id): RecordId<ProjectId>,
    ApiQuery(q): ApiQuery<ProjectReportQuery>,
) -> ApiResult<Response> {
    scope.require(Permission::REPORTS_READ)?;
    let part = q.part.unwrap_or_else(|| "samples".into());
    if !["samples", "files", "signatures"].contains(&part.as_str()) {
        return Err(ApiError::BadRequest(
            "A query parameter is invalid.".into(),
            vec![FieldError::new(
                "part",
                "must be samples, files or signatures",
            )],
        ));
    }
    let d = project_data(&state, &scope, id).await?;
    let body = match part.as_str() {
        "files" => files_csv(&d.files)?,
        "signatures" => signatures_csv(&d.signatures)?,
        _ => samples_csv(&d.samples)?,
    };
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response())
}

/// The custody report as PDF (used by `GET …/custody/report?format=pdf`).
pub(crate) fn custody_pdf(org_name: &str, records: &[CustodyRecord]) -> Vec<u8> {
    let mut l = vec![
        Line::Title("Chain of custody".into()),
        Line::Text(format!(
            "{org_name} - generated {} - {} sample(s)",
            Timestamp::now().to_rfc3339(),
            records.len()
        )),
    ];
    for r in records {
        l.push(Line::Blank);
        l.push(Line::Heading(format!("Sample {}", r.sample.code)));
        l.push(Line::Text(format!(
            "{} - status {} - {}",
            r.sample.sample_type,
            r.sample.status.as_str(),
            match &r.placement {
                Some(p) => format!("in {} / {}", p.path, p.position),
                None => "in no box".into(),
            }
        )));
        for e in &r.events {
            l.push(Line::Text(format!(
                "#{} {} {} by {} - from {} to {}{}",
                e.seq,
                e.at.to_rfc3339(),
                e.kind.as_str(),
                e.actor_name,
                e.from.as_deref().unwrap_or("-"),
                e.to.as_deref().unwrap_or("-"),
                e.reason
                    .as_deref()
                    .map(|r| format!(" - {r}"))
                    .unwrap_or_default()
            )));
        }
    }
    text_pdf(&l, "LabLedger chain of custody")
}
