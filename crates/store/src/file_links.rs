//! What a file is filed under, for its page: the projects (of `project_files`) the caller may
//! see. Read-only.

use crate::error::{Result, StoreError};
use crate::org::Org;
use crate::projects::Project;
use labledger_domain::{FileId, Permission, ProjectId};
use sqlx::Row;

impl Org<'_> {
    /// The projects a file is filed under that the caller may see (none without
    /// `projects:read`; a project-limited caller sees only their projects).
    pub async fn file_projects(&self, file: FileId) -> Result<Vec<Project>> {
        self.scope().require(Permission::FILES_READ)?;
        self.file(file).await?;
        if !self.scope().can(Permission::PROJECTS_READ) {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            // unscoped: the file was loaded through its rule; each project is loaded through `project`
            "SELECT project_id FROM project_files WHERE org_id = $1 AND file_id = $2 \
             ORDER BY added_at, project_id",
        )
        .bind(self.org_text())
        .bind(file.to_string())
        .fetch_all(self.reader())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id: ProjectId = crate::instance::parse_id(&r.try_get::<String, _>("project_id")?)?;
            match self.project(id).await {
                Ok(p) => out.push(p),
                Err(StoreError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}
