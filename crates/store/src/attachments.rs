//! Evidence files attached to samples, batches and workflow runs (`file_attachments`), and an
//! upload filed under a project in its own transaction (`project_files`, kept as it is).
//!
//! Attaching needs `files:write` and read access to the target (a project needs
//! `projects:write`, as filing under it changes the project's report and exports); a target of
//! another org, one the caller may not see, or none at all is `NotFound` alike. A finished
//! workflow run takes no new evidence (409; a trigger refuses it too); see
//! `labledger_domain::attachment` for the rules. Audited as `file.attach` on the target
//! (`project.file_add` for a project).

use crate::error::{Result, StoreError};
use crate::files::{AfterUpload, CreatedFile, FileRecord, NewFile};
use crate::instance::parse_id;
use crate::org::Org;
use crate::tx::OrgTx;
use crate::visibility::Kind;
use labledger_domain::attachment::{run_accepts_evidence, AttachmentTarget};
use labledger_domain::audit::Changes;
use labledger_domain::project::ProjectStatus;
use labledger_domain::workflow::RunStatus;
use labledger_domain::{
    BatchId, FileId, Permission, ProjectId, SampleId, Timestamp, WorkflowRunId,
};
use sqlx::Row;

/// What a file is attached to (or, for an upload, filed under).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachTo {
    Sample(SampleId),
    Batch(BatchId),
    Run(WorkflowRunId),
    /// Filed under a project (`project_files`): only on upload here; filing an existing file
    /// is `add_project_file`.
    Project(ProjectId),
}

impl AttachTo {
    fn target(self) -> Option<(AttachmentTarget, String)> {
        match self {
            AttachTo::Sample(id) => Some((AttachmentTarget::Sample, id.to_string())),
            AttachTo::Batch(id) => Some((AttachmentTarget::Batch, id.to_string())),
            AttachTo::Run(id) => Some((AttachmentTarget::WorkflowRun, id.to_string())),
            AttachTo::Project(_) => None,
        }
    }
}

/// A file attached to a record, with who attached it when.
#[derive(Clone, Debug)]
pub struct AttachedFile {
    pub file: FileRecord,
    pub added_at: Timestamp,
    pub added_by: Option<String>,
}

/// One record a file is attached to, as the caller may see it.
#[derive(Clone, Debug)]
pub struct FileAttachment {
    pub target_type: AttachmentTarget,
    pub target_id: String,
    /// The sample's or batch's code, or the run's protocol title, number and target.
    pub label: String,
    pub added_at: Timestamp,
    pub added_by: Option<String>,
}

fn conflict(e: impl std::fmt::Display) -> StoreError {
    StoreError::Conflict(e.to_string())
}

/// Inside the transaction: the target is one the caller may see, the run is still in progress,
/// the project still active.
async fn recheck(tx: &mut OrgTx<'_>, to: AttachTo) -> Result<()> {
    let org = tx.org().to_owned();
    let viewer = tx.viewer().clone();
    match to {
        AttachTo::Run(id) => {
            let sql = format!(
                "SELECT status FROM workflow_runs WHERE org_id = $1 AND id = $2{}",
                viewer.filter(Kind::Run, "workflow_runs", 3)
            );
            let row = tx
                .fetch_optional(viewer.bind(sqlx::query(&sql).bind(org).bind(id.to_string())))
                .await?
                .ok_or(StoreError::NotFound)?;
            let status: String = row.try_get("status")?;
            let status = RunStatus::parse("status", &status)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            run_accepts_evidence(status).map_err(conflict)
        }
        AttachTo::Project(id) => {
            let sql = format!(
                "SELECT status FROM projects WHERE org_id = $1 AND id = $2{}",
                viewer.filter(Kind::Project, "projects", 3)
            );
            let row = tx
                .fetch_optional(viewer.bind(sqlx::query(&sql).bind(org).bind(id.to_string())))
                .await?
                .ok_or(StoreError::NotFound)?;
            let status: String = row.try_get("status")?;
            if status == ProjectStatus::Archived.as_str() {
                return Err(archived());
            }
            Ok(())
        }
        AttachTo::Sample(id) => crate::samples::sample_in_tx(tx, id).await.map(|_| ()),
        AttachTo::Batch(id) => crate::batches::batch_in_tx(tx, id).await.map(|_| ()),
    }
}

fn archived() -> StoreError {
    StoreError::Conflict("The project is archived: nothing new can be filed under it.".into())
}

/// Writes one attachment (idempotent: an existing one is left as it is, unrecorded).
pub(crate) async fn insert(
    tx: &mut OrgTx<'_>,
    to: AttachTo,
    file: FileId,
    actor: Option<String>,
) -> Result<()> {
    recheck(tx, to).await?;
    let org = tx.org().to_owned();
    let now = Timestamp::now().micros();
    let Some((kind, target_id)) = to.target() else {
        let AttachTo::Project(project) = to else {
            return Err(StoreError::Corrupt("an attachment without a target".into()));
        };
        let exists = tx
            .fetch_optional(
                sqlx::query(
                    // unscoped: the project was loaded through its rule (`recheck`)
                    "SELECT file_id FROM project_files WHERE org_id = $1 AND project_id = $2 \
                     AND file_id = $3",
                )
                .bind(org.clone())
                .bind(project.to_string())
                .bind(file.to_string()),
            )
            .await?;
        if exists.is_none() {
            tx.execute(
                sqlx::query(
                    "INSERT INTO project_files (org_id, project_id, file_id, added_at, added_by) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(org)
                .bind(project.to_string())
                .bind(file.to_string())
                .bind(now)
                .bind(actor),
            )
            .await?;
            tx.record(
                "project.file_add",
                "project",
                Some(project.to_string()),
                Changes::new().created("file_id", file.to_string()),
            );
        }
        return Ok(());
    };
    let exists = tx
        .fetch_optional(
            sqlx::query(
                // unscoped: the target was loaded through its rule (`recheck`)
                "SELECT file_id FROM file_attachments WHERE org_id = $1 AND target_type = $2 \
                 AND target_id = $3 AND file_id = $4",
            )
            .bind(org.clone())
            .bind(kind.as_str())
            .bind(target_id.clone())
            .bind(file.to_string()),
        )
        .await?;
    if exists.is_some() {
        return Ok(());
    }
    let column = |k: AttachmentTarget| (kind == k).then(|| target_id.clone());
    tx.execute(
        sqlx::query(
            "INSERT INTO file_attachments (org_id, file_id, target_type, target_id, sample_id, \
             batch_id, run_id, added_at, added_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(org)
        .bind(file.to_string())
        .bind(kind.as_str())
        .bind(target_id.clone())
        .bind(column(AttachmentTarget::Sample))
        .bind(column(AttachmentTarget::Batch))
        .bind(column(AttachmentTarget::WorkflowRun))
        .bind(now)
        .bind(actor),
    )
    .await?;
    tx.record(
        "file.attach",
        kind.as_str(),
        Some(target_id),
        Changes::new().created("file_id", file.to_string()),
    );
    Ok(())
}

impl Org<'_> {
    /// Checks that the caller may attach a file to `to` now (before an upload is streamed):
    /// `files:write`, the target visible (else `NotFound`) and still taking evidence (else
    /// `Conflict`).
    pub async fn check_attach_target(&self, to: AttachTo) -> Result<()> {
        self.scope().require(Permission::FILES_WRITE)?;
        match to {
            AttachTo::Sample(id) => {
                self.sample(id).await?;
            }
            AttachTo::Batch(id) => {
                self.batch(id).await?;
            }
            AttachTo::Run(id) => {
                let detail = self.workflow_run(id).await?;
                run_accepts_evidence(detail.run.status).map_err(conflict)?;
            }
            AttachTo::Project(id) => {
                self.scope().require(Permission::PROJECTS_WRITE)?;
                if self.project(id).await?.status == ProjectStatus::Archived {
                    return Err(archived());
                }
            }
        }
        Ok(())
    }

    /// Records an upload and attaches it to every target in the same transaction (checked
    /// first; a run finished meanwhile fails the whole upload).
    pub async fn create_file_attached(
        &self,
        new: NewFile,
        targets: Vec<AttachTo>,
    ) -> Result<CreatedFile> {
        for t in &targets {
            self.check_attach_target(*t).await?;
        }
        if targets.is_empty() {
            return self.create_file(new).await;
        }
        let actor = self.scope().actor().id.clone();
        let then: AfterUpload = Box::new(move |tx, file| {
            Box::pin(async move {
                for t in targets {
                    insert(tx, t, file, actor.clone()).await?;
                }
                Ok(())
            })
        });
        self.create_file_then(new, Some(then)).await
    }

    /// Attaches an existing file of the org to a sample, batch or run (idempotent). A deleted
    /// file (a tombstone) is `Gone`.
    pub async fn attach_file(&self, to: AttachTo, file: FileId) -> Result<FileRecord> {
        if let AttachTo::Project(p) = to {
            return self.add_project_file(p, file).await;
        }
        self.check_attach_target(to).await?;
        let record = self.file(file).await?;
        if record.deleted_at.is_some() {
            return Err(StoreError::Gone(format!(
                "File {file} was deleted; only its record remains."
            )));
        }
        let actor = self.scope().actor().id.clone();
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                insert(tx, to, file, actor).await?;
                Ok(record)
            })
        }))
        .await
    }

    /// The files attached to a sample, batch or run, oldest attachment first. The target must
    /// be visible to the caller (`NotFound` otherwise).
    pub async fn attached_files(&self, to: AttachTo) -> Result<Vec<AttachedFile>> {
        self.scope().require(Permission::FILES_READ)?;
        match to {
            AttachTo::Sample(id) => {
                self.sample(id).await?;
            }
            AttachTo::Batch(id) => {
                self.batch(id).await?;
            }
            AttachTo::Run(id) => {
                self.workflow_run(id).await?;
            }
            AttachTo::Project(_) => {
                return Err(StoreError::Corrupt("project files are listed apart".into()))
            }
        }
        let Some((kind, target_id)) = to.target() else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(
            // unscoped: the target was loaded through its rule above; each file is loaded through `file`
            "SELECT file_id, added_at, added_by FROM file_attachments WHERE org_id = $1 \
             AND target_type = $2 AND target_id = $3 ORDER BY added_at, file_id",
        )
        .bind(self.org_text())
        .bind(kind.as_str())
        .bind(target_id)
        .fetch_all(self.reader())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id: FileId = parse_id(&r.try_get::<String, _>("file_id")?)?;
            out.push(AttachedFile {
                file: self.file(id).await?,
                added_at: Timestamp::from_micros(r.try_get("added_at")?),
                added_by: r.try_get("added_by")?,
            });
        }
        Ok(out)
    }

    /// The samples, batches and runs a file is attached to that the caller may see.
    pub async fn file_attachments(&self, file: FileId) -> Result<Vec<FileAttachment>> {
        self.scope().require(Permission::FILES_READ)?;
        self.file(file).await?;
        let rows = sqlx::query(
            // unscoped: the file was loaded through its rule; each target through its own (`attachment_label`)
            "SELECT target_type, target_id, added_at, added_by FROM file_attachments \
             WHERE org_id = $1 AND file_id = $2 ORDER BY added_at, target_type, target_id",
        )
        .bind(self.org_text())
        .bind(file.to_string())
        .fetch_all(self.reader())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let kind =
                AttachmentTarget::parse("target_type", &r.try_get::<String, _>("target_type")?)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let target_id: String = r.try_get("target_id")?;
            let label = match self.attachment_label(kind, &target_id).await {
                Ok(Some(l)) => l,
                Ok(None) | Err(StoreError::NotFound) => continue,
                Err(e) => return Err(e),
            };
            out.push(FileAttachment {
                target_type: kind,
                target_id,
                label,
                added_at: Timestamp::from_micros(r.try_get("added_at")?),
                added_by: r.try_get("added_by")?,
            });
        }
        Ok(out)
    }

    /// The label of a target the caller may read (`None` without the read permission).
    async fn attachment_label(&self, kind: AttachmentTarget, id: &str) -> Result<Option<String>> {
        Ok(match kind {
            AttachmentTarget::Sample if self.scope().can(Permission::SAMPLES_READ) => {
                Some(self.sample(parse_id(id)?).await?.code)
            }
            AttachmentTarget::Batch if self.scope().can(Permission::BATCHES_READ) => {
                let b = self.batch(parse_id(id)?).await?;
                Some(format!("{} {}", b.code, b.name))
            }
            AttachmentTarget::WorkflowRun if self.scope().can(Permission::WORKFLOWS_READ) => {
                let r = self.workflow_run(parse_id(id)?).await?.run;
                Some(format!(
                    "run {} ({} on {})",
                    r.seq, r.protocol_title, r.target_code
                ))
            }
            _ => None,
        })
    }
}
