//! Workflow runs: an effective protocol version run on one sample or on every sample of a closed
//! batch. Steps are recorded in order, each once, with the values entered and the performer's
//! e-signature (`performed`); a critical step needs another person's e-signature (`verified`)
//! before the next step or completion; completion is signed (`closed`). A completed or aborted
//! run never changes (refused here, and by triggers). Audit actions begin with `workflow.`.

use crate::error::{Result, StoreError};
use crate::instance::parse_id;
use crate::org::Org;
use crate::signatures::{self, CheckedSignature, Signature, Signer};
use crate::tx::OrgTx;
use crate::visibility::{Kind, Viewer};
use labledger_domain::audit::Changes;
use labledger_domain::batch::BatchStatus;
use labledger_domain::protocol::{Step, VersionState};
use labledger_domain::signature::SignatureMeaning;
use labledger_domain::workflow::{
    check_abort, check_complete, check_record, check_start, check_step_index, check_values,
    check_verify, RecordedStep, RunRefusal, RunStatus, TargetType,
};
use labledger_domain::{
    jcs, BatchId, Permission, ProtocolId, ProtocolVersionId, SampleId, Timestamp, UserId,
    WorkflowRunId,
};
use serde_json::{json, Map, Value};
use sqlx::any::AnyRow;
use sqlx::Row;

pub const WORKFLOW_RUN: &str = "workflow_run";
pub const WORKFLOW_STEP: &str = "workflow_step";

/// What a run is started on.
#[derive(Clone, Copy, Debug)]
pub enum RunTarget {
    Sample(SampleId),
    Batch(BatchId),
}

#[derive(Clone, Debug)]
pub struct WorkflowRun {
    pub id: WorkflowRunId,
    pub seq: i64,
    pub protocol_version_id: ProtocolVersionId,
    pub protocol_id: ProtocolId,
    pub protocol_title: String,
    pub version: i64,
    pub target_type: TargetType,
    pub sample_id: Option<SampleId>,
    pub batch_id: Option<BatchId>,
    /// The sample's or the batch's code.
    pub target_code: String,
    pub status: RunStatus,
    pub abort_reason: Option<String>,
    pub started_by: UserId,
    pub started_at: Timestamp,
    pub updated_at: Timestamp,
    pub ended_by: Option<UserId>,
    pub ended_at: Option<Timestamp>,
    pub step_count: usize,
    pub recorded_count: i64,
}

/// One recorded step.
#[derive(Clone, Debug)]
pub struct WorkflowStep {
    pub index: usize,
    pub title: String,
    pub values: Map<String, Value>,
    pub performed_by: UserId,
    pub performer_name: String,
    pub performed_at: Timestamp,
    pub verified_by: Option<UserId>,
    pub verifier_name: Option<String>,
    pub verified_at: Option<Timestamp>,
}

impl WorkflowStep {
    /// What the performer's and the verifier's signatures sign.
    pub fn canonical_content(&self, run: &WorkflowRun) -> Value {
        json!({
            "record_type": WORKFLOW_STEP,
            "run_id": run.id.to_string(),
            "protocol_version_id": run.protocol_version_id.to_string(),
            "step_index": self.index,
            "title": self.title,
            "values": self.values,
            "performed_by": self.performed_by.to_string(),
            "performed_at": self.performed_at.micros(),
        })
    }

    pub fn record_id(run: WorkflowRunId, index: usize) -> String {
        format!("{run}/{index}")
    }

    fn as_recorded(&self) -> RecordedStep {
        RecordedStep {
            index: self.index,
            performed_by: self.performed_by.to_string(),
            verified_by: self.verified_by.map(|u| u.to_string()),
        }
    }
}

/// A run with everything shown on its page.
#[derive(Clone, Debug)]
pub struct RunDetail {
    pub run: WorkflowRun,
    /// The protocol version's steps (what is to be recorded).
    pub steps: Vec<Step>,
    pub recorded: Vec<WorkflowStep>,
    /// (id, code) of the samples the run covers that the caller may see.
    pub samples: Vec<(SampleId, String)>,
    /// Every sample the run covers, seen or not: what its completion signature signs.
    covered: Vec<SampleId>,
}

impl RunDetail {
    pub fn recorded_steps(&self) -> Vec<RecordedStep> {
        self.recorded
            .iter()
            .map(WorkflowStep::as_recorded)
            .collect()
    }

    /// What the completion signature signs: the run and every step, not its status.
    pub fn canonical_content(&self) -> Value {
        let mut samples: Vec<String> = self.covered.iter().map(|s| s.to_string()).collect();
        samples.sort();
        json!({
            "record_type": WORKFLOW_RUN,
            "id": self.run.id.to_string(),
            "protocol_version_id": self.run.protocol_version_id.to_string(),
            "target_type": self.run.target_type.as_str(),
            "sample_id": self.run.sample_id.map(|s| s.to_string()),
            "batch_id": self.run.batch_id.map(|b| b.to_string()),
            "samples": samples,
            "started_by": self.run.started_by.to_string(),
            "started_at": self.run.started_at.micros(),
            "steps": self.recorded.iter().map(|s| json!({
                "content": s.canonical_content(&self.run),
                "verified_by": s.verified_by.map(|u| u.to_string()),
            })).collect::<Vec<_>>(),
        })
    }
}

/// A run's signatures: the completion's, and each recorded step's (by index).
#[derive(Clone, Debug, Default)]
pub struct RunSignatures {
    pub run: Vec<CheckedSignature>,
    pub steps: Vec<(usize, Vec<CheckedSignature>)>,
}

/// Which runs to list.
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    pub status: Option<RunStatus>,
    /// Runs covering this sample (on it, or on a batch holding it when the run started).
    pub sample_id: Option<SampleId>,
    pub batch_id: Option<BatchId>,
    pub before_seq: Option<i64>,
}

/// The runs `viewer` may see (`$1` the org, `$n` the viewer), with the target's code only when
/// they may see the target.
fn run_select(viewer: &Viewer, n: usize) -> String {
    format!(
        "SELECT r.id, r.seq, r.protocol_version_id, r.target_type, r.sample_id, \
         r.batch_id, r.status, r.abort_reason, r.started_by, r.started_at, r.updated_at, r.ended_by, \
         r.ended_at, v.protocol_id, v.title AS protocol_title, v.version, v.steps, \
         COALESCE(s.code, b.code) AS target_code, \
         (SELECT COUNT(*) FROM workflow_steps ws WHERE ws.org_id = r.org_id AND ws.run_id = r.id) AS recorded_count \
         FROM workflow_runs r \
         JOIN protocol_versions v ON v.org_id = r.org_id AND v.id = r.protocol_version_id \
         LEFT JOIN samples s ON s.org_id = r.org_id AND s.id = r.sample_id{} \
         LEFT JOIN batches b ON b.org_id = r.org_id AND b.id = r.batch_id{} \
         WHERE r.org_id = $1{}",
        viewer.filter(Kind::Sample, "s", n),
        viewer.filter(Kind::Batch, "b", n),
        viewer.filter(Kind::Run, "r", n),
    )
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn decode_run(r: &AnyRow) -> Result<(WorkflowRun, Vec<Step>)> {
    let status: String = r.try_get("status")?;
    let target: String = r.try_get("target_type")?;
    let steps: String = r.try_get("steps")?;
    let steps: Vec<Step> =
        serde_json::from_str(&steps).map_err(|e| corrupt(format!("protocol steps: {e}")))?;
    let opt_id = |col: &str| -> Result<Option<String>> { Ok(r.try_get::<Option<String>, _>(col)?) };
    let run = WorkflowRun {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        seq: r.try_get("seq")?,
        protocol_version_id: parse_id(&r.try_get::<String, _>("protocol_version_id")?)?,
        protocol_id: parse_id(&r.try_get::<String, _>("protocol_id")?)?,
        protocol_title: r.try_get("protocol_title")?,
        version: r.try_get("version")?,
        target_type: TargetType::parse("target_type", &target).map_err(corrupt)?,
        sample_id: opt_id("sample_id")?.map(|s| parse_id(&s)).transpose()?,
        batch_id: opt_id("batch_id")?.map(|s| parse_id(&s)).transpose()?,
        target_code: r
            .try_get::<Option<String>, _>("target_code")?
            .unwrap_or_default(),
        status: RunStatus::parse("status", &status).map_err(corrupt)?,
        abort_reason: r.try_get("abort_reason")?,
        started_by: parse_id(&r.try_get::<String, _>("started_by")?)?,
        started_at: Timestamp::from_micros(r.try_get("started_at")?),
        updated_at: Timestamp::from_micros(r.try_get("updated_at")?),
        ended_by: opt_id("ended_by")?.map(|s| parse_id(&s)).transpose()?,
        ended_at: r
            .try_get::<Option<i64>, _>("ended_at")?
            .map(Timestamp::from_micros),
        step_count: steps.len(),
        recorded_count: r.try_get("recorded_count")?,
    };
    Ok((run, steps))
}

const STEP_SELECT: &str = "SELECT step_index, step_title, step_values, performed_by, \
    performer_name, performed_at, verified_by, verifier_name, verified_at FROM workflow_steps \
    WHERE org_id = $1 AND run_id = $2 ORDER BY step_index";

fn decode_step(r: &AnyRow) -> Result<WorkflowStep> {
    let index: i64 = r.try_get("step_index")?;
    let values: String = r.try_get("step_values")?;
    Ok(WorkflowStep {
        index: usize::try_from(index).map_err(corrupt)?,
        title: r.try_get("step_title")?,
        values: serde_json::from_str(&values).map_err(|e| corrupt(format!("step values: {e}")))?,
        performed_by: parse_id(&r.try_get::<String, _>("performed_by")?)?,
        performer_name: r.try_get("performer_name")?,
        performed_at: Timestamp::from_micros(r.try_get("performed_at")?),
        verified_by: r
            .try_get::<Option<String>, _>("verified_by")?
            .map(|s| parse_id(&s))
            .transpose()?,
        verifier_name: r.try_get("verifier_name")?,
        verified_at: r
            .try_get::<Option<i64>, _>("verified_at")?
            .map(Timestamp::from_micros),
    })
}

/// The samples a run covers (`$1` org, `$2` run, `$3` the viewer), with `visible` 1 for those
/// the viewer may see.
fn samples_select(viewer: &Viewer) -> String {
    format!(
        "SELECT s.id, s.code, CAST(CASE WHEN {} THEN 1 ELSE 0 END AS BIGINT) AS visible FROM workflow_run_samples rs \
         JOIN samples s ON s.org_id = rs.org_id AND s.id = rs.sample_id \
         WHERE rs.org_id = $1 AND rs.run_id = $2 ORDER BY s.seq",
        viewer.condition(Kind::Sample, "s", 3)
    )
}

fn decode_samples(rows: &[AnyRow]) -> Result<Vec<(SampleId, String)>> {
    rows.iter()
        .map(|r| {
            Ok((
                parse_id(&r.try_get::<String, _>("id")?)?,
                r.try_get::<String, _>("code")?,
            ))
        })
        .collect()
}

/// (id, code) of the samples a viewer sees.
type SeenSamples = Vec<(SampleId, String)>;

/// The covered samples: (the ones the viewer sees with their codes, all of their ids).
fn decode_covered(rows: &[AnyRow]) -> Result<(SeenSamples, Vec<SampleId>)> {
    let mut seen = Vec::new();
    let mut all = Vec::with_capacity(rows.len());
    for r in rows {
        let id: SampleId = parse_id(&r.try_get::<String, _>("id")?)?;
        all.push(id);
        if r.try_get::<i64, _>("visible")? != 0 {
            seen.push((id, r.try_get::<String, _>("code")?));
        }
    }
    Ok((seen, all))
}

/// Loads a run the write's caller may see (else `NotFound`).
async fn detail_in_tx(tx: &mut OrgTx<'_>, id: WorkflowRunId) -> Result<RunDetail> {
    let org = tx.org().to_owned();
    let viewer = tx.viewer().clone();
    let sql = format!("{} AND r.id = $2", run_select(&viewer, 3));
    let row = tx
        .fetch_optional(viewer.bind(sqlx::query(&sql).bind(org.clone()).bind(id.to_string())))
        .await?
        .ok_or(StoreError::NotFound)?;
    let (run, steps) = decode_run(&row)?;
    let recorded = tx
        .fetch_all(
            sqlx::query(STEP_SELECT)
                .bind(org.clone())
                .bind(id.to_string()),
        )
        .await?
        .iter()
        .map(decode_step)
        .collect::<Result<Vec<_>>>()?;
    let sql = samples_select(&viewer);
    let (samples, covered) = decode_covered(
        &tx.fetch_all(viewer.bind(sqlx::query(&sql).bind(org).bind(id.to_string())))
            .await?,
    )?;
    Ok(RunDetail {
        run,
        steps,
        recorded,
        samples,
        covered,
    })
}

/// A refusal of the run's rules: self-verification is a 403, the rest 409.
fn refused(e: RunRefusal) -> StoreError {
    match e {
        RunRefusal::SelfVerification(_) => StoreError::NotAllowed(e.to_string()),
        other => StoreError::Refused(other.to_string()),
    }
}

fn own_signature(org: &Org<'_>, signer: &Signer) -> Result<()> {
    org.scope().require(Permission::WORKFLOWS_WRITE)?;
    org.scope().require_user()?;
    if signer.user_id != org.scope().user_id() {
        return Err(StoreError::NotAllowed(
            "a signature is the caller's own".into(),
        ));
    }
    Ok(())
}

impl Org<'_> {
    /// Starts a run of an effective protocol version on a sample, or on every sample of a
    /// closed batch at once (`workflow.start`). A draft or superseded version is refused (409).
    pub async fn start_workflow_run(
        &self,
        version: ProtocolVersionId,
        target: RunTarget,
    ) -> Result<RunDetail> {
        self.scope().require(Permission::WORKFLOWS_WRITE)?;
        let starter = self.scope().user_id();
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let org = tx.org().to_owned();
                let row = tx
                    .fetch_optional(
                        sqlx::query("SELECT state FROM protocol_versions WHERE org_id = $1 AND id = $2")
                            .bind(org.clone())
                            .bind(version.to_string()),
                    )
                    .await?
                    .ok_or_else(|| {
                        labledger_domain::FieldError::new(
                            "protocol_version_id",
                            "no protocol version with this id in this organization",
                        )
                    })?;
                let state: String = row.try_get("state")?;
                let state = VersionState::parse("state", &state).map_err(corrupt)?;
                check_start(state).map_err(refused)?;
                let (target_type, sample_col, batch_col, samples) = match target {
                    RunTarget::Sample(s) => {
                        let viewer = tx.viewer().clone();
                        let sql = format!(
                            "SELECT id, code FROM samples WHERE org_id = $1 AND id = $2{}",
                            viewer.filter(Kind::Sample, "samples", 3)
                        );
                        let q = viewer.bind(sqlx::query(&sql).bind(org.clone()).bind(s.to_string()));
                        let rows = tx.fetch_all(q).await?;
                        if rows.is_empty() {
                            return Err(labledger_domain::FieldError::new(
                                "sample_id",
                                "no sample with this id in this organization",
                            )
                            .into());
                        }
                        (TargetType::Sample, Some(s.to_string()), None, decode_samples(&rows)?)
                    }
                    RunTarget::Batch(b) => {
                        let batch = match crate::batches::batch_in_tx(tx, b).await {
                            Err(StoreError::NotFound) => {
                                return Err(labledger_domain::FieldError::new(
                                    "batch_id",
                                    "no batch with this id in this organization",
                                )
                                .into())
                            }
                            other => other?,
                        };
                        if batch.status != BatchStatus::Closed {
                            return Err(StoreError::Refused(
                                "the batch is still open: close it first, so the samples the run covers are fixed".into(),
                            ));
                        }
                        let rows = tx
                            .fetch_all(
                                sqlx::query(
                                    // unscoped: the batch was loaded through its rule; a run on it needs every sample visible (checked below)
                                    "SELECT s.id, s.code FROM batch_samples bs JOIN samples s \
                                     ON s.org_id = bs.org_id AND s.id = bs.sample_id \
                                     WHERE bs.org_id = $1 AND bs.batch_id = $2 ORDER BY s.seq",
                                )
                                .bind(org.clone())
                                .bind(b.to_string()),
                            )
                            .await?;
                        if rows.is_empty() {
                            return Err(StoreError::Refused("the batch holds no samples".into()));
                        }
                        // A run acts on every sample of the batch: all of them must be the caller's to see.
                        if i64::try_from(rows.len()).ok() != Some(batch.sample_count) {
                            return Err(StoreError::Refused(
                                "the batch holds samples outside your projects: a run on it would act on them".into(),
                            ));
                        }
                        (TargetType::Batch, None, Some(b.to_string()), decode_samples(&rows)?)
                    }
                };
                let row = tx
                    .fetch_optional(
                        // unscoped: numbering counts every run of the org
                        sqlx::query("SELECT COALESCE(MAX(seq), 0) AS last FROM workflow_runs WHERE org_id = $1")
                            .bind(org.clone()),
                    )
                    .await?
                    .ok_or_else(|| corrupt("run numbering returned nothing"))?;
                let seq = row.try_get::<i64, _>("last")? + 1;
                let id = WorkflowRunId::new();
                let now = Timestamp::now().micros();
                tx.execute(
                    sqlx::query(
                        "INSERT INTO workflow_runs (org_id, id, seq, protocol_version_id, target_type, sample_id, \
                         batch_id, status, started_by, started_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
                    )
                    .bind(org.clone())
                    .bind(id.to_string())
                    .bind(seq)
                    .bind(version.to_string())
                    .bind(target_type.as_str())
                    .bind(sample_col.clone())
                    .bind(batch_col.clone())
                    .bind(RunStatus::InProgress.as_str())
                    .bind(starter.to_string())
                    .bind(now),
                )
                .await?;
                for (s, _) in &samples {
                    tx.execute(
                        sqlx::query(
                            "INSERT INTO workflow_run_samples (org_id, run_id, sample_id) VALUES ($1, $2, $3)",
                        )
                        .bind(org.clone())
                        .bind(id.to_string())
                        .bind(s.to_string()),
                    )
                    .await?;
                }
                tx.record(
                    "workflow.start",
                    WORKFLOW_RUN,
                    Some(id.to_string()),
                    Changes::new()
                        .created("protocol_version_id", version.to_string())
                        .created("target_type", target_type.as_str())
                        .created("sample_id", sample_col)
                        .created("batch_id", batch_col)
                        .created(
                            "samples",
                            samples.iter().map(|(_, c)| c.clone()).collect::<Vec<_>>(),
                        )
                        .created("status", RunStatus::InProgress.as_str()),
                );
                detail_in_tx(tx, id).await
            })
        }))
        .await
    }

    pub async fn workflow_run(&self, id: WorkflowRunId) -> Result<RunDetail> {
        self.scope().require(Permission::WORKFLOWS_READ)?;
        let org = self.org_text();
        let viewer = self.viewer();
        let sql = format!("{} AND r.id = $2", run_select(&viewer, 3));
        let row = viewer
            .bind(sqlx::query(&sql).bind(org.clone()).bind(id.to_string()))
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound)?;
        let (run, steps) = decode_run(&row)?;
        let recorded = sqlx::query(STEP_SELECT)
            .bind(org.clone())
            .bind(id.to_string())
            .fetch_all(self.reader())
            .await?
            .iter()
            .map(decode_step)
            .collect::<Result<Vec<_>>>()?;
        let sql = samples_select(&viewer);
        let (samples, covered) = decode_covered(
            &viewer
                .bind(sqlx::query(&sql).bind(org).bind(id.to_string()))
                .fetch_all(self.reader())
                .await?,
        )?;
        Ok(RunDetail {
            run,
            steps,
            recorded,
            samples,
            covered,
        })
    }

    /// The run's signatures, each checked against the content it signed as it is now.
    pub async fn workflow_run_signatures(&self, d: &RunDetail) -> Result<RunSignatures> {
        self.scope().require(Permission::WORKFLOWS_READ)?;
        let org = self.org_text();
        let run = signatures::checked(
            self.reader(),
            &org,
            WORKFLOW_RUN,
            &d.run.id.to_string(),
            Some(&d.canonical_content()),
        )
        .await?;
        let mut steps = Vec::new();
        for s in &d.recorded {
            let sigs = signatures::checked(
                self.reader(),
                &org,
                WORKFLOW_STEP,
                &WorkflowStep::record_id(d.run.id, s.index),
                Some(&s.canonical_content(&d.run)),
            )
            .await?;
            steps.push((s.index, sigs));
        }
        Ok(RunSignatures { run, steps })
    }

    /// Newest first, keyset-paged by run number.
    pub async fn workflow_runs_page(
        &self,
        filter: RunFilter,
        limit: u32,
    ) -> Result<(Vec<WorkflowRun>, Option<i64>)> {
        self.scope().require(Permission::WORKFLOWS_READ)?;
        let limit = limit.clamp(1, 1000);
        // The viewer is `$2`, bound right after the org when the rules name it.
        let viewer = self.viewer();
        let mut sql = run_select(&viewer, 2);
        let mut n = if viewer.is_limited() { 2 } else { 1 };
        let mut next = |clause: &str| {
            n += 1;
            format!(" AND {clause} ${n}")
        };
        if filter.status.is_some() {
            sql.push_str(&next("r.status ="));
        }
        if filter.sample_id.is_some() {
            let c = next("rs.sample_id =");
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM workflow_run_samples rs WHERE rs.org_id = r.org_id \
                 AND rs.run_id = r.id{c})"
            ));
        }
        if filter.batch_id.is_some() {
            sql.push_str(&next("r.batch_id ="));
        }
        if filter.before_seq.is_some() {
            sql.push_str(&next("r.seq <"));
        }
        sql.push_str(&format!(" ORDER BY r.seq DESC LIMIT {}", limit + 1));
        let mut q = viewer.bind(sqlx::query(&sql).bind(self.org_text()));
        if let Some(s) = filter.status {
            q = q.bind(s.as_str());
        }
        if let Some(s) = filter.sample_id {
            q = q.bind(s.to_string());
        }
        if let Some(b) = filter.batch_id {
            q = q.bind(b.to_string());
        }
        if let Some(b) = filter.before_seq {
            q = q.bind(b);
        }
        let rows = q.fetch_all(self.reader()).await?;
        let mut items = rows
            .iter()
            .map(|r| decode_run(r).map(|(run, _)| run))
            .collect::<Result<Vec<_>>>()?;
        let next = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|r| r.seq)
        } else {
            None
        };
        Ok((items, next))
    }

    /// Records step `index` with its values and the performer's e-signature (`performed`), in
    /// one transaction (`workflow.step`). Out of order, twice, awaiting verification or on a
    /// final run: 409; bad values: 422 naming `values.<input>`; nothing is recorded.
    pub async fn record_workflow_step(
        &self,
        id: WorkflowRunId,
        index: i64,
        values: Map<String, Value>,
        signer: Signer,
    ) -> Result<(RunDetail, Signature)> {
        own_signature(self, &signer)?;
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let d = detail_in_tx(tx, id).await?;
                let index = check_step_index("step_index", &d.steps, index)?;
                check_record(d.run.status, &d.steps, &d.recorded_steps(), index).map_err(refused)?;
                let step = d
                    .steps
                    .get(index)
                    .ok_or_else(|| corrupt("checked step index missing"))?;
                let values = check_values(&step.inputs, &values).map_err(StoreError::Invalid)?;
                let now = Timestamp::now();
                let recorded = WorkflowStep {
                    index,
                    title: step.title.clone(),
                    values,
                    performed_by: signer.user_id,
                    performer_name: signer.name.clone(),
                    performed_at: now,
                    verified_by: None,
                    verifier_name: None,
                    verified_at: None,
                };
                let sig = signatures::sign(
                    tx,
                    WORKFLOW_STEP,
                    &WorkflowStep::record_id(id, index),
                    SignatureMeaning::Performed,
                    &signer,
                    &recorded.canonical_content(&d.run),
                )
                .await?;
                let org = tx.org().to_owned();
                let values_text = jcs::canonicalize(&Value::Object(recorded.values.clone()));
                tx.execute(
                    sqlx::query(
                        "INSERT INTO workflow_steps (org_id, run_id, step_index, step_title, step_values, \
                         performed_by, performer_name, performed_at, performed_signature_id) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(org.clone())
                    .bind(id.to_string())
                    .bind(index as i64)
                    .bind(recorded.title.clone())
                    .bind(values_text)
                    .bind(signer.user_id.to_string())
                    .bind(signer.name.clone())
                    .bind(now.micros())
                    .bind(sig.id.to_string()),
                )
                .await?;
                tx.execute(
                    sqlx::query("UPDATE workflow_runs SET updated_at = $3 WHERE org_id = $1 AND id = $2")
                        .bind(org)
                        .bind(id.to_string())
                        .bind(now.micros()),
                )
                .await?;
                tx.record(
                    "workflow.step",
                    WORKFLOW_RUN,
                    Some(id.to_string()),
                    Changes::new()
                        .created("step_index", index)
                        .created("step_title", &recorded.title)
                        .created("values", &recorded.values)
                        .created("critical", step.critical)
                        .created("performed_by", signer.user_id.to_string())
                        .created("signature_id", sig.id.to_string()),
                );
                Ok((detail_in_tx(tx, id).await?, sig))
            })
        }))
        .await
    }

    /// Verifies a recorded critical step with the verifier's e-signature (`verified`): a person
    /// other than its performer (else 403) (`workflow.verify`).
    pub async fn verify_workflow_step(
        &self,
        id: WorkflowRunId,
        index: usize,
        signer: Signer,
    ) -> Result<(RunDetail, Signature)> {
        own_signature(self, &signer)?;
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let d = detail_in_tx(tx, id).await?;
                if index >= d.steps.len() {
                    return Err(StoreError::NotFound);
                }
                check_verify(
                    d.run.status,
                    &d.steps,
                    &d.recorded_steps(),
                    index,
                    &signer.user_id.to_string(),
                )
                .map_err(refused)?;
                let step = d
                    .recorded
                    .iter()
                    .find(|s| s.index == index)
                    .ok_or_else(|| corrupt("checked step missing"))?;
                let sig = signatures::sign(
                    tx,
                    WORKFLOW_STEP,
                    &WorkflowStep::record_id(id, index),
                    SignatureMeaning::Verified,
                    &signer,
                    &step.canonical_content(&d.run),
                )
                .await?;
                let org = tx.org().to_owned();
                let now = Timestamp::now().micros();
                tx.execute(
                    sqlx::query(
                        "UPDATE workflow_steps SET verified_by = $4, verifier_name = $5, verified_at = $6, \
                         verified_signature_id = $7 WHERE org_id = $1 AND run_id = $2 AND step_index = $3 \
                         AND verified_by IS NULL",
                    )
                    .bind(org.clone())
                    .bind(id.to_string())
                    .bind(index as i64)
                    .bind(signer.user_id.to_string())
                    .bind(signer.name.clone())
                    .bind(now)
                    .bind(sig.id.to_string()),
                )
                .await?;
                tx.execute(
                    sqlx::query("UPDATE workflow_runs SET updated_at = $3 WHERE org_id = $1 AND id = $2")
                        .bind(org)
                        .bind(id.to_string())
                        .bind(now),
                )
                .await?;
                tx.record(
                    "workflow.verify",
                    WORKFLOW_RUN,
                    Some(id.to_string()),
                    Changes::new()
                        .created("step_index", index)
                        .created("verified_by", signer.user_id.to_string())
                        .created("signature_id", sig.id.to_string()),
                );
                Ok((detail_in_tx(tx, id).await?, sig))
            })
        }))
        .await
    }

    /// Completes a run whose steps are all recorded (critical ones verified), signed `closed`
    /// (`workflow.complete`). From then on the run never changes.
    pub async fn complete_workflow_run(
        &self,
        id: WorkflowRunId,
        signer: Signer,
    ) -> Result<(RunDetail, Signature)> {
        own_signature(self, &signer)?;
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let d = detail_in_tx(tx, id).await?;
                check_complete(d.run.status, &d.steps, &d.recorded_steps()).map_err(refused)?;
                let sig = signatures::sign(
                    tx,
                    WORKFLOW_RUN,
                    &id.to_string(),
                    SignatureMeaning::Closed,
                    &signer,
                    &d.canonical_content(),
                )
                .await?;
                let org = tx.org().to_owned();
                let now = Timestamp::now().micros();
                tx.execute(
                    sqlx::query(
                        "UPDATE workflow_runs SET status = $3, ended_by = $4, ended_at = $5, updated_at = $5 \
                         WHERE org_id = $1 AND id = $2 AND status = 'in_progress'",
                    )
                    .bind(org)
                    .bind(id.to_string())
                    .bind(RunStatus::Completed.as_str())
                    .bind(signer.user_id.to_string())
                    .bind(now),
                )
                .await?;
                tx.record(
                    "workflow.complete",
                    WORKFLOW_RUN,
                    Some(id.to_string()),
                    Changes::new()
                        .field("status", RunStatus::InProgress.as_str(), RunStatus::Completed.as_str())
                        .created("signature_id", sig.id.to_string()),
                );
                Ok((detail_in_tx(tx, id).await?, sig))
            })
        }))
        .await
    }

    /// Aborts an in-progress run with a reason (`workflow.abort`); final.
    pub async fn abort_workflow_run(&self, id: WorkflowRunId, reason: String) -> Result<RunDetail> {
        self.scope().require(Permission::WORKFLOWS_WRITE)?;
        let actor = self.scope().user_id();
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let d = detail_in_tx(tx, id).await?;
                check_abort(d.run.status).map_err(refused)?;
                let org = tx.org().to_owned();
                let now = Timestamp::now().micros();
                tx.execute(
                    sqlx::query(
                        "UPDATE workflow_runs SET status = $3, abort_reason = $4, ended_by = $5, ended_at = $6, \
                         updated_at = $6 WHERE org_id = $1 AND id = $2 AND status = 'in_progress'",
                    )
                    .bind(org)
                    .bind(id.to_string())
                    .bind(RunStatus::Aborted.as_str())
                    .bind(reason.clone())
                    .bind(actor.to_string())
                    .bind(now),
                )
                .await?;
                tx.record(
                    "workflow.abort",
                    WORKFLOW_RUN,
                    Some(id.to_string()),
                    Changes::new()
                        .field("status", RunStatus::InProgress.as_str(), RunStatus::Aborted.as_str())
                        .created("reason", &reason),
                );
                detail_in_tx(tx, id).await
            })
        }))
        .await
    }
}
