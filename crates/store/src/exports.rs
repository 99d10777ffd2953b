//! Exports and reports: the org's Ed25519 export signing key (its secret wrapped by the org
//! key; created as `export.key_create`), files filed under a project (`project.file_add`),
//! what an export of a project reads, and the export itself as an `export.create` event.

use crate::chain::{decode_event, StoredEvent, EVENT_COLUMNS};
use crate::error::{Result, StoreError};
use crate::files::{FileObject, FileRecord};
use crate::org::Org;
use crate::visibility::Kind;
use labledger_domain::audit::Changes;
use labledger_domain::{FileId, Permission, ProjectId, Timestamp};
use sqlx::Row;

/// The org's export signing key as stored.
#[derive(Clone, Debug)]
pub struct ExportKey {
    /// The raw 32-byte Ed25519 public key.
    pub public_key: Vec<u8>,
    /// The 32-byte secret seed, wrapped by the org key.
    pub wrapped_secret: Vec<u8>,
    pub created_at: Timestamp,
}

/// What an export recorded.
#[derive(Clone, Debug)]
pub struct ExportRecord {
    pub project_id: ProjectId,
    pub manifest_sha256: [u8; 32],
    pub entries: usize,
    pub bytes: u64,
    pub files: usize,
    pub samples: usize,
}

impl Org<'_> {
    fn require_exports(&self) -> Result<()> {
        let scope = self.scope();
        if !scope.can(Permission::EXPORTS_CREATE) {
            scope.require(Permission::EXPORTS_READ)?;
        }
        Ok(())
    }

    /// The org's export key, if it has one yet.
    pub async fn export_key(&self) -> Result<Option<ExportKey>> {
        self.require_exports()?;
        let row = sqlx::query(
            "SELECT public_key, wrapped_secret, created_at FROM export_keys WHERE org_id = $1",
        )
        .bind(self.org_text())
        .fetch_optional(self.reader())
        .await?;
        Ok(match row {
            Some(r) => Some(ExportKey {
                public_key: r.try_get("public_key")?,
                wrapped_secret: r.try_get("wrapped_secret")?,
                created_at: Timestamp::from_micros(r.try_get("created_at")?),
            }),
            None => None,
        })
    }

    /// Stores the org's first export key unless another request stored one first; returns the
    /// key in force. Audited as `export.key_create` (with the public key).
    pub async fn ensure_export_key(
        &self,
        public_key: Vec<u8>,
        wrapped_secret: Vec<u8>,
    ) -> Result<ExportKey> {
        self.require_exports()?;
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let org = tx.org().to_owned();
                let existing = tx
                    .fetch_optional(
                        sqlx::query(
                            "SELECT public_key, wrapped_secret, created_at FROM export_keys \
                             WHERE org_id = $1",
                        )
                        .bind(org.clone()),
                    )
                    .await?;
                if let Some(r) = existing {
                    return Ok(ExportKey {
                        public_key: r.try_get("public_key")?,
                        wrapped_secret: r.try_get("wrapped_secret")?,
                        created_at: Timestamp::from_micros(r.try_get("created_at")?),
                    });
                }
                let now = Timestamp::now();
                tx.execute(
                    sqlx::query(
                        "INSERT INTO export_keys (org_id, public_key, wrapped_secret, created_at) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(org.clone())
                    .bind(public_key.clone())
                    .bind(wrapped_secret.clone())
                    .bind(now.micros()),
                )
                .await?;
                tx.record(
                    "export.key_create",
                    "org",
                    Some(org),
                    Changes::new()
                        .created("algorithm", "Ed25519")
                        .created("public_key", hex::encode(&public_key)),
                );
                Ok(ExportKey {
                    public_key,
                    wrapped_secret,
                    created_at: now,
                })
            })
        }))
        .await
    }

    /// Files a file of the org under a project (idempotent). Audited as `project.file_add`.
    pub async fn add_project_file(&self, project: ProjectId, file: FileId) -> Result<FileRecord> {
        self.scope().require(Permission::PROJECTS_WRITE)?;
        // Both must exist in this org (404 otherwise); a project-limited caller sees only theirs.
        let p = self.project(project).await?;
        if p.status == labledger_domain::project::ProjectStatus::Archived {
            return Err(StoreError::Conflict(
                "The project is archived: nothing new can be filed under it.".into(),
            ));
        }
        let record = self.file(file).await?;
        let actor = self.scope().actor().id.clone();
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let org = tx.org().to_owned();
                let exists = tx
                    .fetch_optional(
                        sqlx::query(
                            // unscoped: project and file were loaded through their rules before the write
                            "SELECT file_id FROM project_files WHERE org_id = $1 \
                             AND project_id = $2 AND file_id = $3",
                        )
                        .bind(org.clone())
                        .bind(project.to_string())
                        .bind(file.to_string()),
                    )
                    .await?;
                if exists.is_none() {
                    tx.execute(
                        sqlx::query(
                            "INSERT INTO project_files (org_id, project_id, file_id, added_at, \
                             added_by) VALUES ($1, $2, $3, $4, $5)",
                        )
                        .bind(org)
                        .bind(project.to_string())
                        .bind(file.to_string())
                        .bind(Timestamp::now().micros())
                        .bind(actor),
                    )
                    .await?;
                }
                tx.record(
                    "project.file_add",
                    "project",
                    Some(project.to_string()),
                    Changes::new().created("file_id", file.to_string()),
                );
                Ok(record)
            })
        }))
        .await
    }

    /// The live files filed under a project, oldest first, with their stored objects (a
    /// deleted file, of which only a tombstone remains, is left out).
    pub async fn project_files(&self, project: ProjectId) -> Result<Vec<(FileRecord, FileObject)>> {
        self.project(project).await?;
        let rows = sqlx::query(
            // unscoped: the project was loaded through its rule; each file is loaded through `file_with_object`
            "SELECT pf.file_id FROM project_files pf JOIN files f \
             ON f.org_id = pf.org_id AND f.id = pf.file_id \
             WHERE pf.org_id = $1 AND pf.project_id = $2 AND f.deleted_at IS NULL \
             ORDER BY pf.added_at, pf.file_id",
        )
        .bind(self.org_text())
        .bind(project.to_string())
        .fetch_all(self.reader())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id: String = r.try_get("file_id")?;
            let id: FileId = crate::instance::parse_id(&id)?;
            out.push(self.file_with_object(id).await?);
        }
        Ok(out)
    }

    /// The ids of the workflow runs that touched a project's samples, oldest first.
    pub async fn project_run_ids(&self, project: ProjectId) -> Result<Vec<String>> {
        self.project(project).await?;
        let rows = sqlx::query(
            // unscoped: the project was loaded through its rule: its samples are the caller's
            "SELECT DISTINCT rs.run_id FROM workflow_run_samples rs \
             JOIN samples s ON s.org_id = rs.org_id AND s.id = rs.sample_id \
             WHERE rs.org_id = $1 AND s.project_id = $2 ORDER BY rs.run_id",
        )
        .bind(self.org_text())
        .bind(project.to_string())
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>("run_id")?))
            .collect()
    }

    /// The audit events about the given records (`(target_type, target_id)`), in chain order.
    /// Only for exports (exports:create).
    pub async fn events_about(&self, targets: &[(&str, String)]) -> Result<Vec<StoredEvent>> {
        self.scope().require(Permission::EXPORTS_CREATE)?;
        let viewer = self.viewer();
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM audit_events WHERE org_id = $1 AND target_type = $2 \
             AND target_id = $3{} ORDER BY seq",
            viewer.filter(Kind::Event, "audit_events", 4)
        );
        let mut events = Vec::new();
        for (kind, id) in targets {
            let rows = viewer
                .bind(
                    sqlx::query(&sql)
                        .bind(self.org_text())
                        .bind((*kind).to_owned())
                        .bind(id.clone()),
                )
                .fetch_all(self.reader())
                .await?;
            for r in &rows {
                events.push(decode_event(r)?);
            }
        }
        events.sort_by_key(|e| e.event.seq);
        events.dedup_by_key(|e| e.event.seq);
        Ok(events)
    }

    /// Records a finished export as `export.create` with its manifest's SHA-256.
    pub async fn record_export(&self, export: ExportRecord) -> Result<()> {
        self.scope().require(Permission::EXPORTS_CREATE)?;
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                tx.record(
                    "export.create",
                    "project",
                    Some(export.project_id.to_string()),
                    Changes::new()
                        .created("format", "eln")
                        .created("manifest_sha256", hex::encode(export.manifest_sha256))
                        .created("entries", export.entries as i64)
                        .created("bytes", export.bytes as i64)
                        .created("files", export.files as i64)
                        .created("samples", export.samples as i64),
                );
                Ok(())
            })
        }))
        .await
    }
}
