//! Importing another system's `.eln` in one transaction: a new project, the custom fields the
//! crate's properties need, its samples (with their aliquot links), its files (already in the
//! vault) filed under the project and attached to their samples. Every row has its usual audit
//! event (`project.create`, `sample_field.create`, `sample.import`, `file.upload`, …) and the
//! whole is named by one `import.eln` event carrying the source's SHA-256. All or nothing.

use crate::attachments::AttachTo;
use crate::error::Result;
use crate::files::NewFile;
use crate::org::Org;
use crate::samples::NewSample;
use labledger_domain::audit::Changes;
use labledger_domain::custom_field::FieldDef;
use labledger_domain::{Permission, ProjectId, Timestamp};

/// A sample of the crate, with what it links to.
#[derive(Clone, Debug)]
pub struct ImportedSample {
    pub sample: NewSample,
    /// Index (in [`ElnImport::samples`]) of the sample it is an aliquot of.
    pub parent: Option<usize>,
    /// Indexes (in [`ElnImport::files`]) of the files attached to it.
    pub files: Vec<usize>,
}

/// Everything one import writes.
#[derive(Clone, Debug)]
pub struct ElnImport {
    pub project_name: String,
    pub project_description: Option<String>,
    /// Lowercase hex SHA-256 of the uploaded archive.
    pub source_sha256: String,
    /// The system that wrote the crate.
    pub publisher: String,
    pub new_fields: Vec<FieldDef>,
    pub samples: Vec<ImportedSample>,
    /// Files whose objects the vault holds already (the original metadata file among them).
    pub files: Vec<NewFile>,
}

/// What an import made.
#[derive(Clone, Debug)]
pub struct ElnImported {
    pub project_id: ProjectId,
    pub samples: usize,
    pub files: usize,
    /// Objects written for content the org already held: the caller deletes them.
    pub duplicate_paths: Vec<String>,
}

impl Org<'_> {
    /// Writes an import (see the module text). Needs `samples:write` and `files:write`.
    pub async fn import_eln(&self, import: ElnImport) -> Result<ElnImported> {
        self.scope().require(Permission::SAMPLES_WRITE)?;
        self.scope().require(Permission::FILES_WRITE)?;
        let actor = self.scope().actor().clone();
        let user = self.scope().user_id();
        let holder = user.to_string();
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let ElnImport {
                    project_name,
                    project_description,
                    source_sha256,
                    publisher,
                    new_fields,
                    samples,
                    files,
                } = import;
                let project =
                    crate::projects::insert_project(tx, project_name, project_description, user)
                        .await?;
                for def in &new_fields {
                    crate::sample_fields::insert_field(tx, def).await?;
                }
                let links: Vec<(Option<usize>, Vec<usize>)> = samples
                    .iter()
                    .map(|s| (s.parent, s.files.clone()))
                    .collect();
                let rows: Vec<NewSample> = samples
                    .into_iter()
                    .map(|s| NewSample {
                        project_id: Some(project),
                        ..s.sample
                    })
                    .collect();
                let ids = crate::samples::insert_samples(tx, rows, "sample.import", &actor, &holder)
                    .await?;
                let org = tx.org().to_owned();
                let now = Timestamp::now().micros();
                for (child, (parent, _)) in ids.iter().zip(&links) {
                    let Some(parent) = parent.and_then(|p| ids.get(p)) else {
                        continue;
                    };
                    tx.execute(
                        sqlx::query(
                            "INSERT INTO sample_lineage (org_id, child_id, parent_id, kind, quantity_taken, created_at) \
                             VALUES ($1, $2, $3, $4, $5, $6)",
                        )
                        .bind(org.clone())
                        .bind(child.to_string())
                        .bind(parent.to_string())
                        .bind("aliquot")
                        .bind(None::<String>)
                        .bind(now),
                    )
                    .await?;
                }
                let mut file_ids = Vec::with_capacity(files.len());
                let mut duplicate_paths = Vec::new();
                let file_count = files.len();
                for f in files {
                    let created = crate::files::insert_file(tx, f, actor.id.clone()).await?;
                    duplicate_paths.extend(created.duplicate_path);
                    let id = created.file.id;
                    crate::attachments::insert(tx, AttachTo::Project(project), id, actor.id.clone())
                        .await?;
                    file_ids.push(id);
                }
                for (sample, (_, attached)) in ids.iter().zip(&links) {
                    for f in attached.iter().filter_map(|i| file_ids.get(*i)) {
                        crate::attachments::insert(tx, AttachTo::Sample(*sample), *f, actor.id.clone())
                            .await?;
                    }
                }
                tx.record(
                    "import.eln",
                    "project",
                    Some(project.to_string()),
                    Changes::new()
                        .created("source_sha256", &source_sha256)
                        .created("publisher", &publisher)
                        .created("samples", ids.len())
                        .created("files", file_count)
                        .created("fields", new_fields.iter().map(|d| d.key.clone()).collect::<Vec<_>>()),
                );
                Ok(ElnImported {
                    project_id: project,
                    samples: ids.len(),
                    files: file_count,
                    duplicate_paths,
                })
            })
        }))
        .await
    }
}
