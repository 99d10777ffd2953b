//! Batches of one org: created from sample codes or a sample search, changed while open, closed
//! for good. Every change is an audit event whose action begins with `batch.`.

use crate::error::{Result, StoreError};
use crate::instance::parse_id;
use crate::org::Org;
use crate::samples::SampleFilter;
use crate::tx::OrgTx;
use crate::visibility::{Kind, Viewer};
use labledger_domain::audit::Changes;
use labledger_domain::batch::{batch_code, BatchStatus, MAX_BATCH_SAMPLES};
use labledger_domain::{BatchId, FieldError, FieldErrors, Permission, SampleId, Timestamp};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

/// Which samples to put in a batch: codes, a search, or both.
#[derive(Clone, Debug, Default)]
pub struct SampleSelection {
    /// Normalised sample codes (`S-000123`); each must exist in the org.
    pub codes: Vec<String>,
    /// Every sample the search finds (at most [`MAX_BATCH_SAMPLES`]).
    pub search: Option<SampleFilter>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Batch {
    pub id: BatchId,
    pub seq: i64,
    pub code: String,
    pub name: String,
    pub status: BatchStatus,
    pub notes: Option<String>,
    pub created_by: String,
    pub sample_count: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub closed_at: Option<Timestamp>,
}

/// A member sample of a batch, as listed with it.
#[derive(Clone, Debug, Serialize)]
pub struct BatchSample {
    pub id: SampleId,
    pub code: String,
    pub sample_type: String,
    pub status: String,
    pub added_at: Timestamp,
}

/// A batch's columns as `viewer` sees them (`sample_count` counts only the samples they see),
/// the viewer bound as `$n`.
fn columns(viewer: &Viewer, n: usize) -> String {
    format!(
        "b.id, b.seq, b.code, b.name, b.status, b.notes, b.created_by, b.created_at, \
         b.updated_at, b.closed_at, (SELECT COUNT(*) FROM batch_samples bs JOIN samples s \
         ON s.org_id = bs.org_id AND s.id = bs.sample_id \
         WHERE bs.org_id = b.org_id AND bs.batch_id = b.id{}) AS sample_count",
        viewer.filter(Kind::Sample, "s", n)
    )
}

/// One batch by id as `viewer` may see it (`$1` org, `$2` id, `$3` the viewer).
fn select_one(viewer: &Viewer) -> String {
    format!(
        "SELECT {} FROM batches b WHERE b.org_id = $1 AND b.id = $2{}",
        columns(viewer, 3),
        viewer.filter(Kind::Batch, "b", 3)
    )
}

/// How many samples a batch holds, seen or not (for its audit events).
async fn member_count(tx: &mut OrgTx<'_>, id: BatchId) -> Result<i64> {
    let org = tx.org().to_owned();
    let row = tx
        .fetch_optional(
            sqlx::query(
                "SELECT COUNT(*) AS n FROM batch_samples WHERE org_id = $1 AND batch_id = $2",
            )
            .bind(org)
            .bind(id.to_string()),
        )
        .await?
        .ok_or_else(|| StoreError::Corrupt("count returned nothing".into()))?;
    Ok(row.try_get("n")?)
}

fn decode(r: &AnyRow) -> Result<Batch> {
    let status: String = r.try_get("status")?;
    Ok(Batch {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        seq: r.try_get("seq")?,
        code: r.try_get("code")?,
        name: r.try_get("name")?,
        status: BatchStatus::parse("status", &status)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        notes: r.try_get("notes")?,
        created_by: r.try_get("created_by")?,
        sample_count: r.try_get("sample_count")?,
        created_at: Timestamp::from_micros(r.try_get("created_at")?),
        updated_at: Timestamp::from_micros(r.try_get("updated_at")?),
        closed_at: r
            .try_get::<Option<i64>, _>("closed_at")?
            .map(Timestamp::from_micros),
    })
}

/// Loads a batch the write's caller may see (else `NotFound`).
pub(crate) async fn batch_in_tx(tx: &mut OrgTx<'_>, id: BatchId) -> Result<Batch> {
    let org = tx.org().to_owned();
    let viewer = tx.viewer().clone();
    let sql = select_one(&viewer);
    let row = tx
        .fetch_optional(viewer.bind(sqlx::query(&sql).bind(org).bind(id.to_string())))
        .await?
        .ok_or(StoreError::NotFound)?;
    decode(&row)
}

/// Codes looked up per statement: well under both engines' bind-parameter limits.
const CODE_CHUNK: usize = 500;

/// Resolves a selection to (id, code) pairs, in the order given; unknown codes are named
/// `codes[i]` and refuse the whole change. Only samples the caller may see are found, by code or
/// by search: another project's sample is as unknown as one that does not exist.
async fn resolve(tx: &mut OrgTx<'_>, sel: SampleSelection) -> Result<Vec<(String, String)>> {
    let org = tx.org().to_owned();
    let viewer = tx.viewer().clone();
    let mut found = std::collections::HashMap::new();
    for chunk in sel.codes.chunks(CODE_CHUNK) {
        let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT id, code FROM samples WHERE org_id = $1 AND code IN ({}){}",
            marks.join(", "),
            viewer.filter(Kind::Sample, "samples", chunk.len() + 2)
        );
        let mut q = sqlx::query(&sql).bind(org.clone());
        for c in chunk {
            q = q.bind(c.clone());
        }
        for r in tx.fetch_all(viewer.bind(q)).await? {
            found.insert(
                r.try_get::<String, _>("code")?,
                r.try_get::<String, _>("id")?,
            );
        }
    }
    let mut errors = FieldErrors::default();
    let mut picked = Vec::with_capacity(sel.codes.len());
    for (i, code) in sel.codes.iter().enumerate() {
        match found.get(code) {
            Some(id) => picked.push((id.clone(), code.clone())),
            None => errors.push(FieldError::new(
                format!("codes[{i}]"),
                format!("no sample {code} in this organization"),
            )),
        }
    }
    errors.into_result().map_err(StoreError::Invalid)?;
    if let Some(filter) = sel.search {
        let mut sql = "SELECT id, code FROM samples WHERE org_id = $1".to_owned();
        let mut n = 1;
        if filter.status.is_some() {
            n += 1;
            sql.push_str(&format!(" AND status = ${n}"));
        }
        if filter.sample_type.is_some() {
            n += 1;
            sql.push_str(&format!(" AND sample_type = ${n}"));
        }
        sql.push_str(&viewer.filter(Kind::Sample, "samples", n + 1));
        sql.push_str(&format!(" ORDER BY seq LIMIT {}", MAX_BATCH_SAMPLES + 1));
        let mut q = sqlx::query(&sql).bind(org);
        if let Some(s) = filter.status {
            q = q.bind(s.as_str());
        }
        if let Some(t) = filter.sample_type {
            q = q.bind(t);
        }
        let rows = tx.fetch_all(viewer.bind(q)).await?;
        if rows.len() > MAX_BATCH_SAMPLES {
            return Err(FieldError::new(
                "search",
                format!("finds more than {MAX_BATCH_SAMPLES} samples: narrow it"),
            )
            .into());
        }
        for r in rows {
            let pair = (
                r.try_get::<String, _>("id")?,
                r.try_get::<String, _>("code")?,
            );
            if !picked.contains(&pair) {
                picked.push(pair);
            }
        }
    }
    Ok(picked)
}

/// Adds the samples not yet in the batch; returns the codes added and how many it then holds.
async fn add_members(
    tx: &mut OrgTx<'_>,
    batch: BatchId,
    samples: Vec<(String, String)>,
    now: i64,
) -> Result<(Vec<String>, i64)> {
    let org = tx.org().to_owned();
    let mut present = std::collections::HashSet::new();
    for r in tx
        .fetch_all(
            // unscoped: the whole membership, to skip samples already in (nothing is shown)
            sqlx::query("SELECT sample_id FROM batch_samples WHERE org_id = $1 AND batch_id = $2")
                .bind(org.clone())
                .bind(batch.to_string()),
        )
        .await?
    {
        present.insert(r.try_get::<String, _>("sample_id")?);
    }
    let new = samples
        .iter()
        .filter(|(id, _)| !present.contains(id))
        .count();
    if present.len() + new > MAX_BATCH_SAMPLES {
        return Err(StoreError::Refused(format!(
            "a batch holds at most {MAX_BATCH_SAMPLES} samples"
        )));
    }
    let mut added = Vec::new();
    for (id, code) in samples {
        if present.contains(&id) {
            continue;
        }
        tx.execute(
            sqlx::query(
                "INSERT INTO batch_samples (org_id, batch_id, sample_id, added_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(org.clone())
            .bind(batch.to_string())
            .bind(id.clone())
            .bind(now),
        )
        .await?;
        present.insert(id);
        added.push(code);
    }
    Ok((added, present.len() as i64))
}

async fn touch(tx: &mut OrgTx<'_>, id: BatchId, now: i64) -> Result<()> {
    let org = tx.org().to_owned();
    tx.execute(
        sqlx::query("UPDATE batches SET updated_at = $3 WHERE org_id = $1 AND id = $2")
            .bind(org)
            .bind(id.to_string())
            .bind(now),
    )
    .await?;
    Ok(())
}

impl Org<'_> {
    /// Creates an open batch holding the selected samples (`batch.create`).
    pub async fn create_batch(
        &self,
        name: String,
        notes: Option<String>,
        selection: SampleSelection,
    ) -> Result<Batch> {
        self.scope().require(Permission::BATCHES_WRITE)?;
        let creator = self.scope().user_id().to_string();
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let org = tx.org().to_owned();
                let samples = resolve(tx, selection).await?;
                let row = tx
                    .fetch_optional(
                        // unscoped: numbering counts every batch of the org
                        sqlx::query("SELECT COALESCE(MAX(seq), 0) AS last FROM batches WHERE org_id = $1")
                            .bind(org.clone()),
                    )
                    .await?
                    .ok_or_else(|| StoreError::Corrupt("batch numbering returned nothing".into()))?;
                let seq = row.try_get::<i64, _>("last")? + 1;
                let id = BatchId::new();
                let code = batch_code(seq);
                let now = Timestamp::now().micros();
                tx.execute(
                    sqlx::query(
                        "INSERT INTO batches (org_id, id, seq, code, name, status, notes, created_by, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
                    )
                    .bind(org)
                    .bind(id.to_string())
                    .bind(seq)
                    .bind(code.clone())
                    .bind(name.clone())
                    .bind(BatchStatus::Open.as_str())
                    .bind(notes.clone())
                    .bind(creator)
                    .bind(now),
                )
                .await?;
                let (added, _) = add_members(tx, id, samples, now).await?;
                tx.record(
                    "batch.create",
                    "batch",
                    Some(id.to_string()),
                    Changes::new()
                        .created("code", &code)
                        .created("name", &name)
                        .created("status", BatchStatus::Open.as_str())
                        .created("notes", &notes)
                        .created("samples", &added),
                );
                batch_in_tx(tx, id).await
            })
        }))
        .await
    }

    pub async fn batch(&self, id: BatchId) -> Result<Batch> {
        self.scope().require(Permission::BATCHES_READ)?;
        let viewer = self.viewer();
        let sql = select_one(&viewer);
        let row = viewer
            .bind(sqlx::query(&sql).bind(self.org_text()).bind(id.to_string()))
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound)?;
        decode(&row)
    }

    /// The batch's samples the caller may see, by code.
    pub async fn batch_samples(&self, id: BatchId) -> Result<Vec<BatchSample>> {
        self.scope().require(Permission::BATCHES_READ)?;
        self.batch(id).await?;
        let viewer = self.viewer();
        let sql = format!(
            "SELECT s.id, s.code, s.sample_type, s.status, bs.added_at FROM batch_samples bs \
             JOIN samples s ON s.org_id = bs.org_id AND s.id = bs.sample_id \
             WHERE bs.org_id = $1 AND bs.batch_id = $2{} ORDER BY s.seq",
            viewer.filter(Kind::Sample, "s", 3)
        );
        let rows = viewer
            .bind(sqlx::query(&sql).bind(self.org_text()).bind(id.to_string()))
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(BatchSample {
                    id: parse_id(&r.try_get::<String, _>("id")?)?,
                    code: r.try_get("code")?,
                    sample_type: r.try_get("sample_type")?,
                    status: r.try_get("status")?,
                    added_at: Timestamp::from_micros(r.try_get("added_at")?),
                })
            })
            .collect()
    }

    /// Newest first, keyset-paged by batch number; optionally only one status.
    pub async fn batches_page(
        &self,
        status: Option<BatchStatus>,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<(Vec<Batch>, Option<i64>)> {
        self.scope().require(Permission::BATCHES_READ)?;
        let limit = limit.clamp(1, 1000);
        // The viewer is `$2`, bound first after the org whether or not it is used.
        let viewer = self.viewer();
        let mut sql = format!(
            "SELECT {} FROM batches b WHERE b.org_id = $1{}",
            columns(&viewer, 2),
            viewer.filter(Kind::Batch, "b", 2)
        );
        let mut n = if viewer.is_limited() { 2 } else { 1 };
        if status.is_some() {
            n += 1;
            sql.push_str(&format!(" AND b.status = ${n}"));
        }
        if before_seq.is_some() {
            n += 1;
            sql.push_str(&format!(" AND b.seq < ${n}"));
        }
        sql.push_str(&format!(" ORDER BY b.seq DESC LIMIT {}", limit + 1));
        let mut q = viewer.bind(sqlx::query(&sql).bind(self.org_text()));
        if let Some(s) = status {
            q = q.bind(s.as_str());
        }
        if let Some(b) = before_seq {
            q = q.bind(b);
        }
        let rows = q.fetch_all(self.reader()).await?;
        let mut items = rows.iter().map(decode).collect::<Result<Vec<_>>>()?;
        let next = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|b| b.seq)
        } else {
            None
        };
        Ok((items, next))
    }

    /// Adds samples to an open batch (`batch.add_samples`); samples already in it are skipped.
    pub async fn add_batch_samples(
        &self,
        id: BatchId,
        selection: SampleSelection,
    ) -> Result<Batch> {
        self.scope().require(Permission::BATCHES_WRITE)?;
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let batch = batch_in_tx(tx, id).await?;
                batch
                    .status
                    .accepts_changes()
                    .map_err(|e| StoreError::Refused(e.to_string()))?;
                let samples = resolve(tx, selection).await?;
                let now = Timestamp::now().micros();
                let (added, total) = add_members(tx, id, samples, now).await?;
                touch(tx, id, now).await?;
                tx.record(
                    "batch.add_samples",
                    "batch",
                    Some(id.to_string()),
                    Changes::new().created("samples", &added).field(
                        "sample_count",
                        total - added.len() as i64,
                        total,
                    ),
                );
                batch_in_tx(tx, id).await
            })
        }))
        .await
    }

    /// Takes one sample out of an open batch (`batch.remove_sample`).
    pub async fn remove_batch_sample(&self, id: BatchId, sample: SampleId) -> Result<Batch> {
        self.scope().require(Permission::BATCHES_WRITE)?;
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let batch = batch_in_tx(tx, id).await?;
                batch
                    .status
                    .accepts_changes()
                    .map_err(|e| StoreError::Refused(e.to_string()))?;
                let org = tx.org().to_owned();
                let viewer = tx.viewer().clone();
                let sql = format!(
                    "SELECT s.code FROM batch_samples bs JOIN samples s ON s.org_id = bs.org_id AND s.id = bs.sample_id \
                     WHERE bs.org_id = $1 AND bs.batch_id = $2 AND bs.sample_id = $3{}",
                    viewer.filter(Kind::Sample, "s", 4)
                );
                let total = member_count(tx, id).await?;
                let code = tx
                    .fetch_optional(viewer.bind(
                        sqlx::query(&sql)
                            .bind(org.clone())
                            .bind(id.to_string())
                            .bind(sample.to_string()),
                    ))
                    .await?
                    .ok_or(StoreError::NotFound)?
                    .try_get::<String, _>("code")?;
                tx.execute(
                    sqlx::query("DELETE FROM batch_samples WHERE org_id = $1 AND batch_id = $2 AND sample_id = $3")
                        .bind(org)
                        .bind(id.to_string())
                        .bind(sample.to_string()),
                )
                .await?;
                let now = Timestamp::now().micros();
                touch(tx, id, now).await?;
                tx.record(
                    "batch.remove_sample",
                    "batch",
                    Some(id.to_string()),
                    Changes::new()
                        .removed("sample", code)
                        .field("sample_count", total, total - 1),
                );
                batch_in_tx(tx, id).await
            })
        }))
        .await
    }

    /// Closes an open batch for good (`batch.close`).
    pub async fn close_batch(&self, id: BatchId) -> Result<Batch> {
        self.scope().require(Permission::BATCHES_WRITE)?;
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let batch = batch_in_tx(tx, id).await?;
                let to = batch
                    .status
                    .close()
                    .map_err(|e| StoreError::Refused(e.to_string()))?;
                let org = tx.org().to_owned();
                let now = Timestamp::now();
                tx.execute(
                    sqlx::query(
                        "UPDATE batches SET status = $3, closed_at = $4, updated_at = $4 WHERE org_id = $1 AND id = $2",
                    )
                    .bind(org)
                    .bind(id.to_string())
                    .bind(to.as_str())
                    .bind(now.micros()),
                )
                .await?;
                tx.record(
                    "batch.close",
                    "batch",
                    Some(id.to_string()),
                    Changes::new()
                        .field("status", batch.status.as_str(), to.as_str())
                        .field("closed_at", Option::<String>::None, Some(now.to_rfc3339())),
                );
                batch_in_tx(tx, id).await
            })
        }))
        .await
    }
}
