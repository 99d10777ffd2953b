//! Analysis outputs and their provenance: an output (a file of the org, or a JSON result kept
//! here) derived from inputs (files, samples, workflow runs of the same org) by a method or
//! software with parameters. Registering one is the audit event `analysis.create`.

use crate::error::{Result, StoreError};
use crate::instance::parse_id;
use crate::org::Org;
use crate::visibility::{Kind, Viewer};
use labledger_domain::audit::Changes;
use labledger_domain::file::InputType;
use labledger_domain::{AnalysisId, FieldError, FieldErrors, FileId, Permission, Timestamp};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

#[derive(Clone, Debug, Serialize)]
pub struct AnalysisInput {
    #[serde(rename = "type")]
    pub input_type: String,
    pub id: String,
}

#[derive(Clone, Debug)]
pub struct Analysis {
    pub id: AnalysisId,
    pub output_file_id: Option<String>,
    /// The structured result (JSON text) when the output is not a file.
    pub result: Option<String>,
    pub method: String,
    pub software: Option<String>,
    pub software_version: Option<String>,
    /// JSON text.
    pub parameters: String,
    pub inputs: Vec<AnalysisInput>,
    pub created_at: Timestamp,
    pub created_by: Option<String>,
}

#[derive(Clone, Debug)]
pub struct NewAnalysis {
    pub output_file_id: Option<FileId>,
    pub result: Option<String>,
    pub method: String,
    pub software: Option<String>,
    pub software_version: Option<String>,
    pub parameters: String,
    pub inputs: Vec<(InputType, String)>,
}

/// Both directions of the provenance graph around one record.
#[derive(Clone, Debug, Default)]
pub struct Provenance {
    /// The analyses that produced this record (with their inputs).
    pub derived_from: Vec<Analysis>,
    /// The analyses that used this record as an input (with their outputs).
    pub derived_into: Vec<Analysis>,
}

const COLUMNS: &str = "id, output_file_id, result, method, software, software_version, \
                       parameters, created_at, created_by";

fn decode(r: &AnyRow) -> Result<Analysis> {
    Ok(Analysis {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        output_file_id: r.try_get("output_file_id")?,
        result: r.try_get("result")?,
        method: r.try_get("method")?,
        software: r.try_get("software")?,
        software_version: r.try_get("software_version")?,
        parameters: r.try_get("parameters")?,
        inputs: Vec::new(),
        created_at: Timestamp::from_micros(r.try_get("created_at")?),
        created_by: r.try_get("created_by")?,
    })
}

fn table_of(t: InputType) -> &'static str {
    match t {
        InputType::File => "files",
        InputType::Sample => "samples",
        InputType::WorkflowRun => "workflow_runs",
    }
}

fn kind_of(t: InputType) -> Kind {
    match t {
        InputType::File => Kind::File,
        InputType::Sample => Kind::Sample,
        InputType::WorkflowRun => Kind::Run,
    }
}

/// One record of type `t` by id (`$1` org, `$2` id, `$3` the viewer), if the viewer sees it.
fn select_record(viewer: &Viewer, t: InputType) -> String {
    let table = table_of(t);
    format!(
        "SELECT id FROM {table} WHERE org_id = $1 AND id = $2{}",
        viewer.filter(kind_of(t), table, 3)
    )
}

impl Org<'_> {
    pub async fn create_analysis(&self, new: NewAnalysis) -> Result<Analysis> {
        self.scope().require(Permission::FILES_WRITE)?;
        let created_by = self.scope().actor().id.clone();
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let org = tx.org().to_owned();
                let viewer = tx.viewer().clone();
                // Every named record must be this org's and visible to the caller: another org's
                // id, or another project's, is as unknown as a random one, and the answer names
                // only the field.
                let mut errors = FieldErrors::default();
                if let Some(out) = new.output_file_id {
                    let sql = format!(
                        "SELECT id FROM files WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL{}",
                        viewer.filter(Kind::File, "files", 3)
                    );
                    let found = tx
                        .fetch_optional(
                            viewer.bind(sqlx::query(&sql).bind(org.clone()).bind(out.to_string())),
                        )
                        .await?;
                    if found.is_none() {
                        errors.push(FieldError::new("output_file_id", "no such file"));
                    }
                }
                for (i, (t, id)) in new.inputs.iter().enumerate() {
                    let sql = select_record(&viewer, *t);
                    let found = tx
                        .fetch_optional(
                            viewer.bind(sqlx::query(&sql).bind(org.clone()).bind(id.clone())),
                        )
                        .await?;
                    if found.is_none() {
                        errors.push(FieldError::new(
                            format!("inputs[{i}].id"),
                            format!("no such {}", t.as_str()),
                        ));
                    }
                }
                if !errors.0.is_empty() {
                    return Err(StoreError::Invalid(errors));
                }
                let seq = {
                    let row = tx
                        .fetch_optional(
                            // unscoped: numbering counts every analysis of the org
                            sqlx::query("SELECT MAX(seq) FROM analyses WHERE org_id = $1")
                                .bind(org.clone()),
                        )
                        .await?
                        .ok_or_else(|| StoreError::Corrupt("MAX returned nothing".into()))?;
                    row.try_get::<Option<i64>, _>(0)?.unwrap_or(0) + 1
                };
                let id = AnalysisId::new();
                let now = Timestamp::now().micros();
                tx.execute(
                    sqlx::query(
                        "INSERT INTO analyses (org_id, id, seq, output_file_id, result, method, \
                         software, software_version, parameters, created_at, created_by) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    )
                    .bind(org.clone())
                    .bind(id.to_string())
                    .bind(seq)
                    .bind(new.output_file_id.map(|f| f.to_string()))
                    .bind(new.result.clone())
                    .bind(new.method.clone())
                    .bind(new.software.clone())
                    .bind(new.software_version.clone())
                    .bind(new.parameters.clone())
                    .bind(now)
                    .bind(created_by.clone()),
                )
                .await?;
                let mut inputs = Vec::new();
                for (t, input) in &new.inputs {
                    if inputs
                        .iter()
                        .any(|i: &AnalysisInput| i.input_type == t.as_str() && &i.id == input)
                    {
                        continue;
                    }
                    tx.execute(
                        sqlx::query(
                            "INSERT INTO analysis_inputs (org_id, analysis_id, input_type, input_id) \
                             VALUES ($1, $2, $3, $4)",
                        )
                        .bind(org.clone())
                        .bind(id.to_string())
                        .bind(t.as_str())
                        .bind(input.clone()),
                    )
                    .await?;
                    inputs.push(AnalysisInput {
                        input_type: t.as_str().to_owned(),
                        id: input.clone(),
                    });
                }
                let listed: Vec<String> = inputs
                    .iter()
                    .map(|i| format!("{}:{}", i.input_type, i.id))
                    .collect();
                tx.record(
                    "analysis.create",
                    "analysis",
                    Some(id.to_string()),
                    Changes::new()
                        .created("method", &new.method)
                        .created("software", &new.software)
                        .created("software_version", &new.software_version)
                        .created("output_file_id", new.output_file_id.map(|f| f.to_string()))
                        .created("inputs", listed),
                );
                Ok(Analysis {
                    id,
                    output_file_id: new.output_file_id.map(|f| f.to_string()),
                    result: new.result,
                    method: new.method,
                    software: new.software,
                    software_version: new.software_version,
                    parameters: new.parameters,
                    inputs,
                    created_at: Timestamp::from_micros(now),
                    created_by,
                })
            })
        }))
        .await
    }

    /// The analysis with the inputs the caller may see; its output only if they may see it.
    async fn with_inputs(&self, mut a: Analysis) -> Result<Analysis> {
        let viewer = self.viewer();
        let seen = |t: InputType| {
            format!(
                "(i.input_type = '{}' AND {})",
                t.as_str(),
                viewer.sees(table_of(t), kind_of(t), "i", "i.input_id", 3)
            )
        };
        let sql = format!(
            "SELECT input_type, input_id FROM analysis_inputs i WHERE i.org_id = $1 AND i.analysis_id = $2 \
             AND ({} OR {} OR {}) ORDER BY input_type, input_id",
            seen(InputType::File),
            seen(InputType::Sample),
            seen(InputType::WorkflowRun)
        );
        let rows = viewer
            .bind(
                sqlx::query(&sql)
                    .bind(self.org_text())
                    .bind(a.id.to_string()),
            )
            .fetch_all(self.reader())
            .await?;
        if let (true, Some(out)) = (viewer.is_limited(), a.output_file_id.clone()) {
            let found = viewer
                .bind(
                    sqlx::query(&select_record(&viewer, InputType::File))
                        .bind(self.org_text())
                        .bind(out),
                )
                .fetch_optional(self.reader())
                .await?;
            if found.is_none() {
                a.output_file_id = None;
            }
        }
        a.inputs = rows
            .iter()
            .map(|r| {
                Ok(AnalysisInput {
                    input_type: r.try_get("input_type")?,
                    id: r.try_get("input_id")?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(a)
    }

    pub async fn analysis(&self, id: AnalysisId) -> Result<Analysis> {
        self.scope().require(Permission::FILES_READ)?;
        let viewer = self.viewer();
        let sql = format!(
            "SELECT {COLUMNS} FROM analyses WHERE org_id = $1 AND id = $2{}",
            viewer.filter(Kind::Analysis, "analyses", 3)
        );
        let row = viewer
            .bind(sqlx::query(&sql).bind(self.org_text()).bind(id.to_string()))
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound)?;
        self.with_inputs(decode(&row)?).await
    }

    /// What produced a record and what was derived from it. The record must exist in the org.
    pub async fn provenance(&self, t: InputType, id: String) -> Result<Provenance> {
        self.scope().require(Permission::FILES_READ)?;
        let viewer = self.viewer();
        let exists = select_record(&viewer, t);
        viewer
            .bind(sqlx::query(&exists).bind(self.org_text()).bind(id.clone()))
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut out = Provenance::default();
        if t == InputType::File {
            let sql = format!(
                "SELECT {COLUMNS} FROM analyses WHERE org_id = $1 AND output_file_id = $2{} \
                 ORDER BY seq",
                viewer.filter(Kind::Analysis, "analyses", 3)
            );
            let rows = viewer
                .bind(sqlx::query(&sql).bind(self.org_text()).bind(id.clone()))
                .fetch_all(self.reader())
                .await?;
            for r in &rows {
                out.derived_from.push(self.with_inputs(decode(r)?).await?);
            }
        }
        let sql = format!(
            "SELECT a.id, a.output_file_id, a.result, a.method, a.software, \
             a.software_version, a.parameters, a.created_at, a.created_by \
             FROM analyses a JOIN analysis_inputs i \
             ON i.org_id = a.org_id AND i.analysis_id = a.id \
             WHERE a.org_id = $1 AND i.input_type = $2 AND i.input_id = $3{} ORDER BY a.seq",
            viewer.filter(Kind::Analysis, "a", 4)
        );
        let rows = viewer
            .bind(
                sqlx::query(&sql)
                    .bind(self.org_text())
                    .bind(t.as_str())
                    .bind(id),
            )
            .fetch_all(self.reader())
            .await?;
        for r in &rows {
            out.derived_into.push(self.with_inputs(decode(r)?).await?);
        }
        Ok(out)
    }
}
