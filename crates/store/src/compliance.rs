//! Compliance records (deviations and CAPA): open, investigate, link, assign, record the root
//! cause and actions, close with an e-signature. Audit actions begin with `compliance.`.

use crate::error::{Result, StoreError};
use crate::instance::parse_id;
use crate::org::Org;
use crate::signatures::{self, CheckedSignature, Signature, Signer};
use crate::tx::OrgTx;
use crate::visibility::{Kind, Viewer};
use labledger_domain::audit::Changes;
use labledger_domain::compliance::{check_closable, ComplianceState, LinkTarget, RecordKind};
use labledger_domain::signature::SignatureMeaning;
use labledger_domain::{ComplianceRecordId, Permission, Timestamp, UserId};
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::Row;

pub const COMPLIANCE_RECORD: &str = "compliance_record";

#[derive(Clone, Debug)]
pub struct RecordLink {
    pub to_type: String,
    pub to_id: String,
    /// A human label of the target when it is known (a sample code, `protocol v2`).
    pub label: Option<String>,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug)]
pub struct ComplianceRecord {
    pub id: ComplianceRecordId,
    pub kind: RecordKind,
    pub code: String,
    pub state: ComplianceState,
    pub title: String,
    pub description: String,
    pub owner_id: Option<UserId>,
    pub owner_name: Option<String>,
    pub due_at: Option<Timestamp>,
    pub root_cause: Option<String>,
    pub actions: Option<String>,
    pub opened_by: UserId,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub closed_at: Option<Timestamp>,
    pub links: Vec<RecordLink>,
}

impl ComplianceRecord {
    /// What a signature binds: the content, not the lifecycle (state, times).
    pub fn canonical_content(&self) -> Value {
        let mut links: Vec<(String, String)> = self
            .links
            .iter()
            .map(|l| (l.to_type.clone(), l.to_id.clone()))
            .collect();
        links.sort();
        json!({
            "record_type": COMPLIANCE_RECORD,
            "id": self.id.to_string(),
            "kind": self.kind.as_str(),
            "code": self.code,
            "title": self.title,
            "description": self.description,
            "owner_id": self.owner_id.map(|u| u.to_string()),
            "due_at": self.due_at.map(Timestamp::to_rfc3339),
            "root_cause": self.root_cause,
            "actions": self.actions,
            "opened_by": self.opened_by.to_string(),
            "links": links.into_iter().map(|(t, i)| json!({"type": t, "id": i})).collect::<Vec<_>>(),
        })
    }

    pub fn is_overdue(&self, now: Timestamp) -> bool {
        self.state != ComplianceState::Closed && self.due_at.is_some_and(|d| d < now)
    }
}

#[derive(Clone, Debug)]
pub struct NewComplianceRecord {
    pub kind: RecordKind,
    pub title: String,
    pub description: String,
    pub owner_id: Option<UserId>,
    pub due_at: Option<Timestamp>,
}

/// A change of an open record; `None` keeps a field, `Some(None)` clears an optional one.
#[derive(Clone, Debug, Default)]
pub struct CompliancePatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub owner_id: Option<Option<UserId>>,
    pub due_at: Option<Option<Timestamp>>,
    pub root_cause: Option<Option<String>>,
    pub actions: Option<Option<String>>,
}

#[derive(Clone, Debug, Default)]
pub struct ComplianceFilter {
    pub kind: Option<RecordKind>,
    pub state: Option<ComplianceState>,
    /// Only records not closed whose due date has passed.
    pub overdue: bool,
}

const COLUMNS: &str = "c.id, c.kind, c.code, c.state, c.title, c.description, c.owner_id, c.due_at, \
    c.root_cause, c.actions, c.opened_by, c.created_at, c.updated_at, c.closed_at, u.name AS owner_name";

fn select(rest: &str) -> String {
    format!(
        "SELECT {COLUMNS} FROM compliance_records c LEFT JOIN users u ON u.id = c.owner_id \
         WHERE c.org_id = $1 {rest}"
    )
}

fn decode(r: &AnyRow) -> Result<ComplianceRecord> {
    let corrupt = |e: labledger_domain::FieldError| StoreError::Corrupt(e.to_string());
    let ts = |col: &str| -> Result<Option<Timestamp>> {
        Ok(r.try_get::<Option<i64>, _>(col)?
            .map(Timestamp::from_micros))
    };
    let kind: String = r.try_get("kind")?;
    let state: String = r.try_get("state")?;
    Ok(ComplianceRecord {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        kind: RecordKind::parse("kind", &kind).map_err(corrupt)?,
        code: r.try_get("code")?,
        state: ComplianceState::parse("state", &state).map_err(corrupt)?,
        title: r.try_get("title")?,
        description: r.try_get("description")?,
        owner_id: r
            .try_get::<Option<String>, _>("owner_id")?
            .map(|s| parse_id(&s))
            .transpose()?,
        owner_name: r.try_get("owner_name")?,
        due_at: ts("due_at")?,
        root_cause: r.try_get("root_cause")?,
        actions: r.try_get("actions")?,
        opened_by: parse_id(&r.try_get::<String, _>("opened_by")?)?,
        created_at: Timestamp::from_micros(r.try_get("created_at")?),
        updated_at: Timestamp::from_micros(r.try_get("updated_at")?),
        closed_at: ts("closed_at")?,
        links: Vec::new(),
    })
}

/// A record's links (`$1` org, `$2` record, `$3` the viewer): links to samples, batches and runs
/// only when the viewer may see them.
fn links_sql(viewer: &Viewer) -> String {
    let hidden = if viewer.is_limited() {
        format!(
            " AND ((l.to_type = 'sample' AND {}) OR (l.to_type = 'batch' AND {}) \
             OR (l.to_type = 'workflow_run' AND {}) \
             OR l.to_type NOT IN ('sample', 'batch', 'workflow_run'))",
            viewer.sees("samples", Kind::Sample, "l", "l.to_id", 3),
            viewer.sees("batches", Kind::Batch, "l", "l.to_id", 3),
            viewer.sees("workflow_runs", Kind::Run, "l", "l.to_id", 3),
        )
    } else {
        String::new()
    };
    format!(
        "SELECT l.to_type, l.to_id, l.created_at, s.code AS sample_code, \
         pv.version AS pv_version, p.title AS pv_title, b.code AS batch_code, wr.seq AS run_seq \
         FROM record_links l \
         LEFT JOIN samples s ON l.to_type = 'sample' AND s.org_id = l.org_id AND s.id = l.to_id \
         LEFT JOIN protocol_versions pv ON l.to_type = 'protocol_version' AND pv.org_id = l.org_id AND pv.id = l.to_id \
         LEFT JOIN protocols p ON p.org_id = pv.org_id AND p.id = pv.protocol_id \
         LEFT JOIN batches b ON l.to_type = 'batch' AND b.org_id = l.org_id AND b.id = l.to_id \
         LEFT JOIN workflow_runs wr ON l.to_type = 'workflow_run' AND wr.org_id = l.org_id AND wr.id = l.to_id \
         WHERE l.org_id = $1 AND l.from_type = 'compliance_record' AND l.from_id = $2{hidden} \
         ORDER BY l.created_at, l.to_type, l.to_id"
    )
}

fn decode_link(r: &AnyRow) -> Result<RecordLink> {
    let sample: Option<String> = r.try_get("sample_code")?;
    let version: Option<i64> = r.try_get("pv_version")?;
    let title: Option<String> = r.try_get("pv_title")?;
    let batch: Option<String> = r.try_get("batch_code")?;
    let run: Option<i64> = r.try_get("run_seq")?;
    let label = sample
        .or_else(|| version.map(|v| format!("{} v{v}", title.unwrap_or_default())))
        .or(batch)
        .or_else(|| run.map(|n| format!("Run {n}")));
    Ok(RecordLink {
        to_type: r.try_get("to_type")?,
        to_id: r.try_get("to_id")?,
        label,
        created_at: Timestamp::from_micros(r.try_get("created_at")?),
    })
}

async fn record_in_tx(tx: &mut OrgTx<'_>, id: ComplianceRecordId) -> Result<ComplianceRecord> {
    let org = tx.org().to_owned();
    let sql = select("AND c.id = $2");
    let row = tx
        .fetch_optional(sqlx::query(&sql).bind(org.clone()).bind(id.to_string()))
        .await?
        .ok_or(StoreError::NotFound)?;
    let mut rec = decode(&row)?;
    let viewer = tx.viewer().clone();
    let sql = links_sql(&viewer);
    let links = tx
        .fetch_all(viewer.bind(sqlx::query(&sql).bind(org).bind(id.to_string())))
        .await?;
    rec.links = links.iter().map(decode_link).collect::<Result<_>>()?;
    Ok(rec)
}

/// An owner must be an active member of the org.
async fn check_owner(tx: &mut OrgTx<'_>, owner: Option<UserId>) -> Result<()> {
    let Some(owner) = owner else {
        return Ok(());
    };
    let org = tx.org().to_owned();
    let found = tx
        .fetch_optional(
            sqlx::query(
                "SELECT user_id FROM members WHERE org_id = $1 AND user_id = $2 AND status = 'active'",
            )
            .bind(org)
            .bind(owner.to_string()),
        )
        .await?;
    if found.is_none() {
        return Err(labledger_domain::FieldError::new(
            "owner_id",
            "is not an active member of this organization",
        )
        .into());
    }
    Ok(())
}

fn editable(rec: &ComplianceRecord) -> Result<()> {
    if rec.state.editable() {
        Ok(())
    } else {
        Err(StoreError::Refused(format!(
            "{} is closed: a closed record is final",
            rec.code
        )))
    }
}

impl Org<'_> {
    pub async fn open_compliance_record(
        &self,
        new: NewComplianceRecord,
    ) -> Result<ComplianceRecord> {
        self.scope().require(Permission::COMPLIANCE_WRITE)?;
        let opened_by = self.scope().user_id();
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                check_owner(tx, new.owner_id).await?;
                let org = tx.org().to_owned();
                let row = tx
                    .fetch_optional(
                        sqlx::query(
                            "INSERT INTO compliance_counters (org_id, kind, last) VALUES ($1, $2, 1) \
                             ON CONFLICT (org_id, kind) DO UPDATE SET last = compliance_counters.last + 1 RETURNING last",
                        )
                        .bind(org.clone())
                        .bind(new.kind.as_str()),
                    )
                    .await?
                    .ok_or_else(|| StoreError::Corrupt("compliance counter returned nothing".into()))?;
                let n: i64 = row.try_get("last")?;
                let code = new.kind.code(n);
                let id = ComplianceRecordId::new();
                let now = Timestamp::now().micros();
                tx.execute(
                    sqlx::query(
                        "INSERT INTO compliance_records (org_id, id, kind, code, state, title, description, owner_id, \
                         due_at, opened_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
                    )
                    .bind(org)
                    .bind(id.to_string())
                    .bind(new.kind.as_str())
                    .bind(code.clone())
                    .bind(ComplianceState::Open.as_str())
                    .bind(new.title.clone())
                    .bind(new.description.clone())
                    .bind(new.owner_id.map(|u| u.to_string()))
                    .bind(new.due_at.map(Timestamp::micros))
                    .bind(opened_by.to_string())
                    .bind(now),
                )
                .await?;
                tx.record(
                    "compliance.open",
                    COMPLIANCE_RECORD,
                    Some(id.to_string()),
                    Changes::new()
                        .created("kind", new.kind.as_str())
                        .created("code", &code)
                        .created("state", ComplianceState::Open.as_str())
                        .created("title", &new.title)
                        .created("description", &new.description)
                        .created("owner_id", new.owner_id.map(|u| u.to_string()))
                        .created("due_at", new.due_at.map(Timestamp::to_rfc3339)),
                );
                record_in_tx(tx, id).await
            })
        }))
        .await
    }

    pub async fn compliance_record(&self, id: ComplianceRecordId) -> Result<ComplianceRecord> {
        self.scope().require(Permission::COMPLIANCE_READ)?;
        let sql = select("AND c.id = $2");
        let row = sqlx::query(&sql)
            .bind(self.org_text())
            .bind(id.to_string())
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut rec = decode(&row)?;
        let viewer = self.viewer();
        let links = viewer
            .bind(
                sqlx::query(&links_sql(&viewer))
                    .bind(self.org_text())
                    .bind(id.to_string()),
            )
            .fetch_all(self.reader())
            .await?;
        rec.links = links.iter().map(decode_link).collect::<Result<_>>()?;
        Ok(rec)
    }

    /// Newest first (overdue ones: soonest due first), without their links.
    pub async fn compliance_records(
        &self,
        filter: ComplianceFilter,
        limit: u32,
    ) -> Result<Vec<ComplianceRecord>> {
        self.scope().require(Permission::COMPLIANCE_READ)?;
        let mut sql = select("");
        let mut n = 1;
        if filter.kind.is_some() {
            n += 1;
            sql.push_str(&format!(" AND c.kind = ${n}"));
        }
        if filter.state.is_some() {
            n += 1;
            sql.push_str(&format!(" AND c.state = ${n}"));
        }
        if filter.overdue {
            n += 1;
            sql.push_str(&format!(
                " AND c.state <> 'closed' AND c.due_at IS NOT NULL AND c.due_at < ${n} ORDER BY c.due_at, c.id"
            ));
        } else {
            sql.push_str(" ORDER BY c.created_at DESC, c.id DESC");
        }
        sql.push_str(&format!(" LIMIT {}", limit.clamp(1, 1000)));
        let mut q = sqlx::query(&sql).bind(self.org_text());
        if let Some(k) = filter.kind {
            q = q.bind(k.as_str());
        }
        if let Some(s) = filter.state {
            q = q.bind(s.as_str());
        }
        if filter.overdue {
            q = q.bind(Timestamp::now().micros());
        }
        let rows = q.fetch_all(self.reader()).await?;
        rows.iter().map(decode).collect()
    }

    pub async fn compliance_signatures(
        &self,
        rec: &ComplianceRecord,
    ) -> Result<Vec<CheckedSignature>> {
        self.scope().require(Permission::COMPLIANCE_READ)?;
        signatures::checked(
            self.reader(),
            &self.org_text(),
            COMPLIANCE_RECORD,
            &rec.id.to_string(),
            Some(&rec.canonical_content()),
        )
        .await
    }

    pub async fn update_compliance_record(
        &self,
        id: ComplianceRecordId,
        patch: CompliancePatch,
    ) -> Result<ComplianceRecord> {
        self.scope().require(Permission::COMPLIANCE_WRITE)?;
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let cur = record_in_tx(tx, id).await?;
                editable(&cur)?;
                if let Some(owner) = patch.owner_id {
                    check_owner(tx, owner).await?;
                }
                let title = patch.title.unwrap_or_else(|| cur.title.clone());
                let description = patch.description.unwrap_or_else(|| cur.description.clone());
                let owner = patch.owner_id.unwrap_or(cur.owner_id);
                let due = patch.due_at.unwrap_or(cur.due_at);
                let root = patch.root_cause.unwrap_or_else(|| cur.root_cause.clone());
                let actions = patch.actions.unwrap_or_else(|| cur.actions.clone());
                let org = tx.org().to_owned();
                tx.execute(
                    sqlx::query(
                        "UPDATE compliance_records SET title = $3, description = $4, owner_id = $5, due_at = $6, \
                         root_cause = $7, actions = $8, updated_at = $9 WHERE org_id = $1 AND id = $2",
                    )
                    .bind(org)
                    .bind(id.to_string())
                    .bind(title.clone())
                    .bind(description.clone())
                    .bind(owner.map(|u| u.to_string()))
                    .bind(due.map(Timestamp::micros))
                    .bind(root.clone())
                    .bind(actions.clone())
                    .bind(Timestamp::now().micros()),
                )
                .await?;
                let mut c = Changes::new();
                if title != cur.title {
                    c = c.field("title", &cur.title, &title);
                }
                if description != cur.description {
                    c = c.field("description", &cur.description, &description);
                }
                if owner != cur.owner_id {
                    c = c.field(
                        "owner_id",
                        cur.owner_id.map(|u| u.to_string()),
                        owner.map(|u| u.to_string()),
                    );
                }
                if due != cur.due_at {
                    c = c.field(
                        "due_at",
                        cur.due_at.map(Timestamp::to_rfc3339),
                        due.map(Timestamp::to_rfc3339),
                    );
                }
                if root != cur.root_cause {
                    c = c.field("root_cause", &cur.root_cause, &root);
                }
                if actions != cur.actions {
                    c = c.field("actions", &cur.actions, &actions);
                }
                tx.record("compliance.update", COMPLIANCE_RECORD, Some(id.to_string()), c);
                record_in_tx(tx, id).await
            })
        }))
        .await
    }

    /// Moves an open record to investigation (closing is [`Org::close_compliance_record`]).
    pub async fn transition_compliance_record(
        &self,
        id: ComplianceRecordId,
        to: ComplianceState,
    ) -> Result<ComplianceRecord> {
        self.scope().require(Permission::COMPLIANCE_WRITE)?;
        if to == ComplianceState::Closed {
            return Err(StoreError::Refused(
                "a record is closed with an e-signature: use its close action".into(),
            ));
        }
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let cur = record_in_tx(tx, id).await?;
                let to = cur
                    .state
                    .transition(to)
                    .map_err(|e| StoreError::Refused(e.to_string()))?;
                let org = tx.org().to_owned();
                tx.execute(
                    sqlx::query(
                        "UPDATE compliance_records SET state = $3, updated_at = $4 WHERE org_id = $1 AND id = $2",
                    )
                    .bind(org)
                    .bind(id.to_string())
                    .bind(to.as_str())
                    .bind(Timestamp::now().micros()),
                )
                .await?;
                tx.record(
                    "compliance.transition",
                    COMPLIANCE_RECORD,
                    Some(id.to_string()),
                    Changes::new().field("state", cur.state.as_str(), to.as_str()),
                );
                record_in_tx(tx, id).await
            })
        }))
        .await
    }

    /// Links a record to a sample, protocol version, batch or workflow run of the org.
    pub async fn link_compliance_record(
        &self,
        id: ComplianceRecordId,
        target: LinkTarget,
        target_id: String,
    ) -> Result<ComplianceRecord> {
        self.scope().require(Permission::COMPLIANCE_WRITE)?;
        let actor = self.scope().user_id();
        let (table, kind) = match target {
            LinkTarget::Sample => {
                self.scope().require(Permission::SAMPLES_READ)?;
                ("samples", Some(Kind::Sample))
            }
            LinkTarget::ProtocolVersion => {
                self.scope().require(Permission::PROTOCOLS_READ)?;
                ("protocol_versions", None)
            }
            LinkTarget::Batch => {
                self.scope().require(Permission::BATCHES_READ)?;
                ("batches", Some(Kind::Batch))
            }
            LinkTarget::WorkflowRun => {
                self.scope().require(Permission::WORKFLOWS_READ)?;
                ("workflow_runs", Some(Kind::Run))
            }
        };
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let cur = record_in_tx(tx, id).await?;
                editable(&cur)?;
                let org = tx.org().to_owned();
                // Only a record the caller may see can be linked; another project's is unknown.
                let viewer = tx.viewer().clone();
                let visible = kind.map(|k| viewer.filter(k, table, 3)).unwrap_or_default();
                let sql = format!("SELECT id FROM {table} WHERE org_id = $1 AND id = $2{visible}");
                let mut q = sqlx::query(&sql).bind(org.clone()).bind(target_id.clone());
                if kind.is_some() {
                    q = viewer.bind(q);
                }
                let exists = tx.fetch_optional(q).await?;
                if exists.is_none() {
                    return Err(labledger_domain::FieldError::new(
                        "record_id",
                        format!("no {} with this id in this organization", target.as_str()),
                    )
                    .into());
                }
                if cur
                    .links
                    .iter()
                    .any(|l| l.to_type == target.as_str() && l.to_id == target_id)
                {
                    return Err(StoreError::Conflict("this link exists already".into()));
                }
                tx.execute(
                    sqlx::query(
                        "INSERT INTO record_links (org_id, from_type, from_id, to_type, to_id, created_by, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(org)
                    .bind(COMPLIANCE_RECORD)
                    .bind(id.to_string())
                    .bind(target.as_str())
                    .bind(target_id.clone())
                    .bind(actor.to_string())
                    .bind(Timestamp::now().micros()),
                )
                .await?;
                tx.record(
                    "compliance.link",
                    COMPLIANCE_RECORD,
                    Some(id.to_string()),
                    Changes::new()
                        .created("link_type", target.as_str())
                        .created("link_id", &target_id),
                );
                record_in_tx(tx, id).await
            })
        }))
        .await
    }

    /// Signs a record (reviewed, verified, authored) without changing it.
    pub async fn sign_compliance_record(
        &self,
        id: ComplianceRecordId,
        meaning: SignatureMeaning,
        signer: Signer,
    ) -> Result<Signature> {
        self.scope().require(Permission::COMPLIANCE_WRITE)?;
        self.scope().require_user()?;
        if signer.user_id != self.scope().user_id() {
            return Err(StoreError::NotAllowed(
                "a signature is the caller's own".into(),
            ));
        }
        if matches!(
            meaning,
            SignatureMeaning::Closed | SignatureMeaning::Approved
        ) {
            return Err(labledger_domain::FieldError::new(
                "meaning",
                "closing is its own action (compliance_records:approve); use reviewed, verified or authored",
            )
            .into());
        }
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let cur = record_in_tx(tx, id).await?;
                signatures::sign(
                    tx,
                    COMPLIANCE_RECORD,
                    &id.to_string(),
                    meaning,
                    &signer,
                    &cur.canonical_content(),
                )
                .await
            })
        }))
        .await
    }

    /// Closes an investigated record with the signer's e-signature (meaning `closed`).
    pub async fn close_compliance_record(
        &self,
        id: ComplianceRecordId,
        signer: Signer,
    ) -> Result<(ComplianceRecord, Signature)> {
        self.scope().require(Permission::COMPLIANCE_APPROVE)?;
        self.scope().require_user()?;
        if signer.user_id != self.scope().user_id() {
            return Err(StoreError::NotAllowed(
                "a signature is the caller's own".into(),
            ));
        }
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let cur = record_in_tx(tx, id).await?;
                check_closable(cur.state, cur.root_cause.as_deref(), cur.actions.as_deref())
                    .map_err(StoreError::Refused)?;
                let sig = signatures::sign(
                    tx,
                    COMPLIANCE_RECORD,
                    &id.to_string(),
                    SignatureMeaning::Closed,
                    &signer,
                    &cur.canonical_content(),
                )
                .await?;
                let org = tx.org().to_owned();
                let now = Timestamp::now().micros();
                tx.execute(
                    sqlx::query(
                        "UPDATE compliance_records SET state = 'closed', closed_at = $3, updated_at = $3 \
                         WHERE org_id = $1 AND id = $2",
                    )
                    .bind(org)
                    .bind(id.to_string())
                    .bind(now),
                )
                .await?;
                tx.record(
                    "compliance.close",
                    COMPLIANCE_RECORD,
                    Some(id.to_string()),
                    Changes::new()
                        .field("state", cur.state.as_str(), "closed")
                        .created("signature_id", sig.id.to_string()),
                );
                Ok((record_in_tx(tx, id).await?, sig))
            })
        }))
        .await
    }
}
