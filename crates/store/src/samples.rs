//! Samples of one org: registration (one or many, all or nothing), reading, paging and status
//! transitions. Every change is an audit event whose action begins with `sample.`.

use crate::error::{Result, StoreError};
use crate::instance::parse_id;
use crate::org::Org;
use crate::scope::Actor;
use crate::storage::{self, CustodyFacts};
use crate::tx::OrgTx;
use crate::visibility::{Kind, Viewer};
use labledger_domain::audit::Changes;
use labledger_domain::custom_field::{as_sealed, value_text};
use labledger_domain::sample::{sample_code, SampleStatus};
use labledger_domain::storage::CustodyKind;
use labledger_domain::{LocationId, Permission, ProjectId, SampleId, Timestamp};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::BTreeMap;

/// A sample to register; `sample_type` is already parsed by the domain.
#[derive(Clone, Debug, Default)]
pub struct NewSample {
    pub sample_type: String,
    pub source_ref: Option<String>,
    pub collected_at: Option<Timestamp>,
    pub received_at: Option<Timestamp>,
    pub quantity: Option<f64>,
    pub unit: Option<String>,
    pub notes: Option<String>,
    /// The project it is filed under.
    pub project_id: Option<ProjectId>,
    /// Custom field values, already checked against the org's definitions (canonical); the
    /// values of sensitive fields sealed (`custom_field::sealed_value`), bound to `id`.
    pub custom: BTreeMap<String, serde_json::Value>,
    /// The new sample's id, when the caller chose it (to seal sensitive values for it).
    pub id: Option<SampleId>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    pub id: SampleId,
    pub seq: i64,
    pub code: String,
    pub sample_type: String,
    pub status: SampleStatus,
    pub source_ref: Option<String>,
    pub collected_at: Option<Timestamp>,
    pub received_at: Option<Timestamp>,
    pub quantity: Option<f64>,
    pub unit: Option<String>,
    pub notes: Option<String>,
    pub project_id: Option<ProjectId>,
    pub custom: BTreeMap<String, serde_json::Value>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Filters of the sample list; all optional.
#[derive(Clone, Debug, Default)]
pub struct SampleFilter {
    pub status: Option<SampleStatus>,
    pub sample_type: Option<String>,
    pub project_id: Option<ProjectId>,
    /// Collected in `[from, to)` (either end optional).
    pub collected: (Option<Timestamp>, Option<Timestamp>),
    /// Received in `[from, to)`.
    pub received: (Option<Timestamp>, Option<Timestamp>),
    /// Registered in `[from, to)`.
    pub registered: (Option<Timestamp>, Option<Timestamp>),
    /// Placed in this location or anywhere under it.
    pub location_id: Option<LocationId>,
    /// Custom field equality: key and canonical value text.
    pub custom: Vec<(String, String)>,
    /// Codes in `[low, high)`, byte by byte: a code prefix (`domain::sample::code_prefix_range`).
    pub code_range: Option<(String, String)>,
    /// Only samples registered before this one (the cursor of the previous page).
    pub before_seq: Option<i64>,
}

const COLUMNS: &str =
    "id, seq, code, sample_type, status, source_ref, collected_at, received_at, quantity, unit, \
    notes, project_id, custom, created_at, updated_at";

fn decode(r: &AnyRow) -> Result<Sample> {
    let status: String = r.try_get("status")?;
    let ts = |col: &str| -> Result<Option<Timestamp>> {
        Ok(r.try_get::<Option<i64>, _>(col)?
            .map(Timestamp::from_micros))
    };
    Ok(Sample {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        seq: r.try_get("seq")?,
        code: r.try_get("code")?,
        sample_type: r.try_get("sample_type")?,
        status: SampleStatus::parse("status", &status)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        source_ref: r.try_get("source_ref")?,
        collected_at: ts("collected_at")?,
        received_at: ts("received_at")?,
        quantity: r.try_get("quantity")?,
        unit: r.try_get("unit")?,
        notes: r.try_get("notes")?,
        project_id: r
            .try_get::<Option<String>, _>("project_id")?
            .map(|p| parse_id(&p))
            .transpose()?,
        custom: match r.try_get::<Option<String>, _>("custom")? {
            None => BTreeMap::new(),
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("custom values: {e}")))?,
        },
        created_at: Timestamp::from_micros(r.try_get("created_at")?),
        updated_at: Timestamp::from_micros(r.try_get("updated_at")?),
    })
}

/// The field a registration error names: `project_id` for a single sample, `rows[N].project_id`
/// (N from 1) for an import.
fn row_field(total: usize, index: usize, field: &str) -> String {
    if total == 1 {
        field.to_owned()
    } else {
        format!("rows[{}].{field}", index + 1)
    }
}

/// Checks that every project named may take the samples (and that a project-limited caller
/// names one of theirs for each sample).
async fn check_projects(
    tx: &mut OrgTx<'_>,
    samples: &[NewSample],
    user: labledger_domain::UserId,
    limited: bool,
) -> Result<()> {
    let mut projects: Vec<(ProjectId, usize)> = Vec::new();
    for (i, s) in samples.iter().enumerate() {
        match (s.project_id, limited) {
            (Some(p), _) if !projects.iter().any(|(q, _)| *q == p) => projects.push((p, i)),
            (None, true) => {
                return Err(labledger_domain::FieldError::new(
                    row_field(samples.len(), i, "project_id"),
                    "you may file samples only under your projects: name one",
                )
                .into())
            }
            _ => {}
        }
    }
    for (p, i) in projects {
        let field = row_field(samples.len(), i, "project_id");
        crate::projects::check_filing(tx, p, user, limited, &field).await?;
    }
    Ok(())
}

/// Reserves `n` consecutive sample numbers of the org; returns the first.
async fn reserve_numbers(tx: &mut OrgTx<'_>, n: i64) -> Result<i64> {
    let org = tx.org().to_owned();
    let row = tx
        .fetch_optional(
            sqlx::query(
                "INSERT INTO sample_counters (org_id, last) VALUES ($1, $2) \
                 ON CONFLICT (org_id) DO UPDATE SET last = sample_counters.last + $2 RETURNING last",
            )
            .bind(org)
            .bind(n),
        )
        .await?
        .ok_or_else(|| StoreError::Corrupt("sample counter returned nothing".into()))?;
    let last: i64 = row.try_get("last")?;
    Ok(last - n + 1)
}

/// Loads a sample the write's caller may see (else `NotFound`): every write about a sample
/// starts here.
pub(crate) async fn sample_in_tx(tx: &mut OrgTx<'_>, id: SampleId) -> Result<Sample> {
    let org = tx.org().to_owned();
    let viewer = tx.viewer().clone();
    let sql = select_one(&viewer);
    let row = tx
        .fetch_optional(viewer.bind(sqlx::query(&sql).bind(org).bind(id.to_string())))
        .await?
        .ok_or(StoreError::NotFound)?;
    decode(&row)
}

/// One sample by id, as `viewer` may see it (`$1` org, `$2` id, `$3` the viewer).
fn select_one(viewer: &Viewer) -> String {
    format!(
        "SELECT {COLUMNS} FROM samples WHERE org_id = $1 AND id = $2{}",
        viewer.filter(Kind::Sample, "samples", 3)
    )
}

fn created(s: &NewSample, code: &str) -> Changes {
    let changes = if s.custom.is_empty() {
        Changes::new()
    } else {
        Changes::new().created("custom", &s.custom)
    };
    changes
        .created("code", code)
        .created("sample_type", &s.sample_type)
        .created("status", SampleStatus::Registered.as_str())
        .created("source_ref", &s.source_ref)
        .created("collected_at", s.collected_at.map(Timestamp::to_rfc3339))
        .created("received_at", s.received_at.map(Timestamp::to_rfc3339))
        .created("quantity", s.quantity)
        .created("unit", &s.unit)
        .created("notes", &s.notes)
        .created("project_id", s.project_id.map(|p| p.to_string()))
}

/// Inserts samples with the org's next codes, one audit event (`action`) and one custody event
/// (the registrant holds it) each; returns their ids in order.
pub(crate) async fn insert_samples(
    tx: &mut OrgTx<'_>,
    samples: Vec<NewSample>,
    action: &str,
    actor: &Actor,
    holder: &str,
) -> Result<Vec<SampleId>> {
    let first = reserve_numbers(tx, samples.len() as i64).await?;
    let label = storage::actor_name(tx, actor).await?;
    let org = tx.org().to_owned();
    let now = Timestamp::now().micros();
    let mut ids = Vec::with_capacity(samples.len());
    // A sensitive field's value is stored only sealed: a caller that did not seal it is refused.
    let sensitive: Vec<String> = crate::sample_fields::fields_in_tx(tx)
        .await?
        .into_iter()
        .filter(|d| d.sensitive)
        .map(|d| d.key)
        .collect();
    for (i, s) in samples.into_iter().enumerate() {
        let seq = first + i as i64;
        let id = s.id.unwrap_or_else(SampleId::new);
        for key in &sensitive {
            if s.custom.get(key).is_some_and(|v| as_sealed(v).is_none()) {
                return Err(StoreError::Corrupt(format!(
                    "the value of the sensitive field `{key}` arrived unsealed"
                )));
            }
        }
        let code = sample_code(seq);
        let custom_text = if s.custom.is_empty() {
            None
        } else {
            Some(
                serde_json::to_string(&s.custom)
                    .map_err(|e| StoreError::Corrupt(format!("custom values: {e}")))?,
            )
        };
        tx.execute(
            sqlx::query(
                "INSERT INTO samples (org_id, id, seq, code, sample_type, status, source_ref, collected_at, \
                 received_at, quantity, unit, notes, project_id, created_at, updated_at, custom) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, CAST($10 AS DOUBLE PRECISION), $11, $12, $14, $13, $13, $15)",
            )
            .bind(org.clone())
            .bind(id.to_string())
            .bind(seq)
            .bind(code.clone())
            .bind(s.sample_type.clone())
            .bind(SampleStatus::Registered.as_str())
            .bind(s.source_ref.clone())
            .bind(s.collected_at.map(Timestamp::micros))
            .bind(s.received_at.map(Timestamp::micros))
            // As text: through sqlx's Any driver a NULL f64 is typed int4 on
            // PostgreSQL, which poisons the cached statement for later numbers.
            .bind(s.quantity.map(|q| q.to_string()))
            .bind(s.unit.clone())
            .bind(s.notes.clone())
            .bind(now)
            .bind(s.project_id.map(|p| p.to_string()))
            .bind(custom_text),
        )
        .await?;
        // Sealed (sensitive) values are not indexed: they cannot be searched.
        for (key, value) in s.custom.iter().filter(|(_, v)| as_sealed(v).is_none()) {
            tx.execute(
                sqlx::query(
                    "INSERT INTO sample_custom_values (org_id, sample_id, field_key, value) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(org.clone())
                .bind(id.to_string())
                .bind(key.clone())
                .bind(value_text(value)),
            )
            .await?;
        }
        tx.record(action, "sample", Some(id.to_string()), created(&s, &code));
        // The chain of custody starts with the registrant holding the sample.
        storage::append_custody(
            tx,
            id,
            actor,
            &label,
            Timestamp::from_micros(now),
            CustodyFacts {
                kind: CustodyKind::Registered,
                custodian: Some(holder.to_owned()),
                from: None,
                to: Some(label.clone()),
                reason: None,
            },
        )
        .await?;
        ids.push(id);
    }
    Ok(ids)
}

impl Org<'_> {
    /// Registers samples in one transaction: all of them, with gapless codes and one audit event
    /// each (`sample.create`, or `sample.import` for a bulk import), or none.
    pub async fn register_samples(
        &self,
        samples: Vec<NewSample>,
        action: &'static str,
    ) -> Result<Vec<Sample>> {
        self.scope().require(Permission::SAMPLES_WRITE)?;
        if samples.is_empty() {
            return Ok(Vec::new());
        }
        let actor = self.scope().actor().clone();
        let holder = self.scope().user_id().to_string();
        let (user, limited) = (self.scope().user_id(), self.scope().is_project_limited());
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                check_projects(tx, &samples, user, limited).await?;
                let ids = insert_samples(tx, samples, action, &actor, &holder).await?;
                // Read back only a single registration; a bulk import answers with its count.
                match ids.as_slice() {
                    [one] => Ok(vec![sample_in_tx(tx, *one).await?]),
                    _ => Ok(Vec::new()),
                }
            })
        }))
        .await
    }

    pub async fn sample(&self, id: SampleId) -> Result<Sample> {
        self.scope().require(Permission::SAMPLES_READ)?;
        let viewer = self.viewer();
        let sql = select_one(&viewer);
        let q = viewer.bind(sqlx::query(&sql).bind(self.org_text()).bind(id.to_string()));
        let row = q
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound)?;
        decode(&row)
    }

    /// Whether SQLite should answer a code-prefix page from the code index: when the prefix
    /// holds few codes, sorting them beats walking the newest rows of another index past every
    /// code outside it (`S-0012` among a million). PostgreSQL's planner has statistics and
    /// chooses by itself.
    async fn few_codes_in(&self, (low, high): &(String, String)) -> Result<bool> {
        const FEW: i64 = 2000;
        if self.store().engine() != crate::Engine::Sqlite {
            return Ok(false);
        }
        // unscoped: it only picks the plan (the page itself applies the viewer's rule); the
        // count is never shown.
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT 1 FROM samples WHERE org_id = $1 AND code >= $2 \
             AND code < $3 LIMIT $4)",
        )
        .bind(self.org_text())
        .bind(low.as_str())
        .bind(high.as_str())
        .bind(FEW)
        .fetch_one(self.reader())
        .await?;
        Ok(count < FEW)
    }

    /// Newest first, keyset-paged by registration number.
    pub async fn samples_page(
        &self,
        filter: SampleFilter,
        limit: u32,
    ) -> Result<(Vec<Sample>, Option<i64>)> {
        self.scope().require(Permission::SAMPLES_READ)?;
        let limit = limit.clamp(1, 1000);
        // The viewer's rule is appended last (after the filters' parameters).
        let viewer = self.viewer();
        let from = match &filter.code_range {
            Some(range) if self.few_codes_in(range).await? => "samples INDEXED BY samples_org_code",
            _ => "samples",
        };
        let mut sql = format!("SELECT {COLUMNS} FROM {from} WHERE org_id = $1");
        let mut n = 1;
        let mut next = |clause: &str| {
            n += 1;
            format!(" AND {clause} ${n}")
        };
        if filter.status.is_some() {
            sql.push_str(&next("status ="));
        }
        if filter.sample_type.is_some() {
            sql.push_str(&next("sample_type ="));
        }
        if filter.project_id.is_some() {
            sql.push_str(&next("project_id ="));
        }
        if filter.code_range.is_some() {
            // Byte order on both engines (PostgreSQL's default collation is the locale's).
            let code = match self.store().engine() {
                crate::Engine::Sqlite => "code",
                crate::Engine::Postgres => "code COLLATE \"C\"",
            };
            sql.push_str(&next(&format!("{code} >=")));
            sql.push_str(&next(&format!("{code} <")));
        }
        for (col, (from, to)) in [
            ("collected_at", filter.collected),
            ("received_at", filter.received),
            ("created_at", filter.registered),
        ] {
            if from.is_some() {
                sql.push_str(&next(&format!("{col} >=")));
            }
            if to.is_some() {
                sql.push_str(&next(&format!("{col} <")));
            }
        }
        if filter.location_id.is_some() {
            // unscoped: narrows the samples the viewer's rule keeps (appended below)
            n += 1;
            sql.push_str(&format!(
                " AND id IN (SELECT sp.sample_id FROM sample_positions sp WHERE sp.org_id = samples.org_id \
                 AND sp.location_id IN (WITH RECURSIVE under(id) AS (SELECT id FROM storage_locations \
                 WHERE org_id = samples.org_id AND id = ${n} UNION ALL SELECT l.id FROM storage_locations l \
                 JOIN under u ON l.parent_id = u.id WHERE l.org_id = samples.org_id) SELECT id FROM under))"
            ));
        }
        for _ in &filter.custom {
            let (k, v) = (n + 1, n + 2);
            n += 2;
            sql.push_str(&format!(
                " AND id IN (SELECT cv.sample_id FROM sample_custom_values cv WHERE cv.org_id = samples.org_id \
                 AND cv.field_key = ${k} AND cv.value = ${v})"
            ));
        }
        let mut next = |clause: &str| {
            n += 1;
            format!(" AND {clause} ${n}")
        };
        if filter.before_seq.is_some() {
            sql.push_str(&next("seq <"));
        }
        sql.push_str(&viewer.filter(Kind::Sample, "samples", n + 1));
        sql.push_str(&format!(" ORDER BY seq DESC LIMIT {}", limit + 1));
        let mut q = sqlx::query(&sql).bind(self.org_text());
        if let Some(s) = filter.status {
            q = q.bind(s.as_str());
        }
        if let Some(t) = filter.sample_type {
            q = q.bind(t);
        }
        if let Some(p) = filter.project_id {
            q = q.bind(p.to_string());
        }
        if let Some((low, high)) = filter.code_range {
            q = q.bind(low).bind(high);
        }
        for (from, to) in [filter.collected, filter.received, filter.registered] {
            if let Some(t) = from {
                q = q.bind(t.micros());
            }
            if let Some(t) = to {
                q = q.bind(t.micros());
            }
        }
        if let Some(l) = filter.location_id {
            q = q.bind(l.to_string());
        }
        for (k, v) in filter.custom {
            q = q.bind(k).bind(v);
        }
        if let Some(b) = filter.before_seq {
            q = q.bind(b);
        }
        let q = viewer.bind(q);
        let rows = q.fetch_all(self.reader()).await?;
        let mut items = rows.iter().map(decode).collect::<Result<Vec<_>>>()?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|s| s.seq)
        } else {
            None
        };
        Ok((items, next_cursor))
    }

    /// Moves a sample along its lifecycle; an illegal move changes nothing.
    pub async fn transition_sample(
        &self,
        id: SampleId,
        to: SampleStatus,
        reason: Option<String>,
    ) -> Result<Sample> {
        self.scope().require(Permission::SAMPLES_WRITE)?;
        let actor = self.scope().actor().clone();
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let current = sample_in_tx(tx, id).await?;
                let to = current.status.transition(to).map_err(|e| StoreError::Refused(e.to_string()))?;
                let org = tx.org().to_owned();
                let now = Timestamp::now();
                let received_at = match (to, current.received_at) {
                    (SampleStatus::Received, None) => Some(now),
                    (_, at) => at,
                };
                tx.execute(
                    sqlx::query(
                        "UPDATE samples SET status = $3, received_at = $4, updated_at = $5 WHERE org_id = $1 AND id = $2",
                    )
                    .bind(org)
                    .bind(id.to_string())
                    .bind(to.as_str())
                    .bind(received_at.map(Timestamp::micros))
                    .bind(now.micros()),
                )
                .await?;
                tx.record(
                    "sample.transition",
                    "sample",
                    Some(id.to_string()),
                    Changes::new()
                        .field("status", current.status.as_str(), to.as_str())
                        .field("received_at", current.received_at.map(Timestamp::to_rfc3339), received_at.map(Timestamp::to_rfc3339))
                        .field("reason", Option::<String>::None, reason.clone()),
                );
                let label = storage::actor_name(tx, &actor).await?;
                let custodian = storage::custodian_in_tx(tx, id).await?;
                storage::append_custody(
                    tx,
                    id,
                    &actor,
                    &label,
                    now,
                    CustodyFacts {
                        kind: CustodyKind::Status,
                        custodian,
                        from: Some(current.status.as_str().to_owned()),
                        to: Some(to.as_str().to_owned()),
                        reason: reason.clone(),
                    },
                )
                .await?;
                // A consumed or disposed sample no longer takes up a box position.
                if to.is_final() {
                    storage::vacate_in_tx(tx, id, &actor, &label, now, reason).await?;
                }
                sample_in_tx(tx, id).await
            })
        }))
        .await
    }
}
