//! Aliquots and derivatives: child samples registered from a parent in one transaction, which
//! also lowers the parent's quantity by what was taken. Lineage reads both ways.

use crate::error::{Result, StoreError};
use crate::instance::parse_id;
use crate::org::Org;
use crate::samples::{insert_samples, sample_in_tx, NewSample, Sample};
use crate::visibility::Kind;
use labledger_domain::audit::Changes;
use labledger_domain::sample::{remaining_after, DerivationKind};
use labledger_domain::{Permission, SampleId, Timestamp};
use serde::Serialize;
use sqlx::Row;

/// Children to make from a parent.
#[derive(Clone, Debug)]
pub struct NewChildren {
    pub kind: DerivationKind,
    pub count: u32,
    /// Taken from the parent for each child (and the child's quantity), in the parent's unit.
    pub quantity_each: Option<f64>,
    /// The children's type; an aliquot keeps the parent's when none is given.
    pub sample_type: Option<String>,
}

/// A sample related to another one.
#[derive(Clone, Debug, Serialize)]
pub struct Relative {
    pub id: SampleId,
    pub code: String,
    pub sample_type: String,
    pub status: String,
    /// aliquot or derivative (how this one came from its parent).
    pub kind: String,
    pub quantity_taken: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Lineage {
    /// Parent, grandparent, … (nearest first).
    pub ancestors: Vec<Relative>,
    pub children: Vec<Relative>,
}

impl Org<'_> {
    /// Registers `count` children of `parent`, linked to it, and lowers its quantity by what they
    /// took. A consumed or disposed parent gives nothing; taking more than it holds is refused.
    pub async fn derive_samples(&self, parent: SampleId, new: NewChildren) -> Result<Vec<Sample>> {
        self.scope().require(Permission::SAMPLES_WRITE)?;
        let actor = self.scope().actor().clone();
        let holder = self.scope().user_id().to_string();
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let p = sample_in_tx(tx, parent).await?;
                if p.status.is_final() {
                    return Err(StoreError::Refused(format!(
                        "{} is {}; nothing can be taken from it.",
                        p.code, p.status
                    )));
                }
                let left = remaining_after(p.quantity, new.quantity_each, new.count)
                    .map_err(|e| StoreError::Refused(format!("{}: {e}.", p.code)))?;
                let sample_type = match (new.kind, new.sample_type) {
                    (_, Some(t)) => t,
                    (DerivationKind::Aliquot, None) => p.sample_type.clone(),
                    (DerivationKind::Derivative, None) => {
                        return Err(labledger_domain::FieldError::new(
                            "sample_type",
                            "a derivative names its type (e.g. dna)",
                        )
                        .into())
                    }
                };
                let child = NewSample {
                    sample_type,
                    source_ref: p.source_ref.clone(),
                    collected_at: p.collected_at,
                    received_at: None,
                    quantity: new.quantity_each,
                    unit: p.unit.clone(),
                    notes: Some(format!("{} of {}", new.kind.as_str(), p.code)),
                    // Children stay in their parent's project.
                    project_id: p.project_id,
                    // And carry its custom values (same subject and origin).
                    custom: p.custom.clone(),
                    id: None,
                };
                let children = vec![child; new.count as usize];
                let ids = insert_samples(tx, children, "sample.create", &actor, &holder).await?;
                let org = tx.org().to_owned();
                let now = Timestamp::now().micros();
                for id in &ids {
                    tx.execute(
                        sqlx::query(
                            "INSERT INTO sample_lineage (org_id, child_id, parent_id, kind, quantity_taken, created_at) \
                             VALUES ($1, $2, $3, $4, $5, $6)",
                        )
                        .bind(org.clone())
                        .bind(id.to_string())
                        .bind(parent.to_string())
                        .bind(new.kind.as_str())
                        .bind(new.quantity_each.map(|q| q.to_string()))
                        .bind(now),
                    )
                    .await?;
                }
                if left != p.quantity {
                    tx.execute(
                        sqlx::query(
                            "UPDATE samples SET quantity = CAST($3 AS DOUBLE PRECISION), updated_at = $4 \
                             WHERE org_id = $1 AND id = $2",
                        )
                        .bind(org.clone())
                        .bind(parent.to_string())
                        .bind(left.map(|q| q.to_string()))
                        .bind(now),
                    )
                    .await?;
                }
                tx.record(
                    "sample.derive",
                    "sample",
                    Some(parent.to_string()),
                    Changes::new()
                        .field("quantity", p.quantity, left)
                        .created("kind", new.kind.as_str())
                        .created(
                            "children",
                            ids.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
                        ),
                );
                let mut out = Vec::with_capacity(ids.len());
                for id in ids {
                    out.push(sample_in_tx(tx, id).await?);
                }
                Ok(out)
            })
        }))
        .await
    }

    /// Where a sample came from (its ancestors, nearest first) and what was made from it.
    pub async fn lineage(&self, sample: SampleId) -> Result<Lineage> {
        self.scope().require(Permission::SAMPLES_READ)?;
        self.sample(sample).await?;
        // Only relatives the caller may see: the walk up stops at the first one they may not.
        let viewer = self.viewer();
        let visible = viewer.filter(Kind::Sample, "s", 3);
        let sql = format!(
            "SELECT s.id, s.code, s.sample_type, s.status, l.kind, l.quantity_taken, l.parent_id \
             FROM sample_lineage l JOIN samples s ON s.org_id = l.org_id AND s.id = {{JOIN}} \
             WHERE l.org_id = $1 AND {{WHERE}} = $2{visible} ORDER BY s.seq"
        );
        let relative = |r: &sqlx::any::AnyRow| -> Result<Relative> {
            Ok(Relative {
                id: parse_id(&r.try_get::<String, _>("id")?)?,
                code: r.try_get("code")?,
                sample_type: r.try_get("sample_type")?,
                status: r.try_get("status")?,
                kind: r.try_get("kind")?,
                quantity_taken: r.try_get("quantity_taken")?,
            })
        };
        let children_sql = sql
            .replace("{JOIN}", "l.child_id")
            .replace("{WHERE}", "l.parent_id");
        let children = viewer
            .bind(
                sqlx::query(&children_sql)
                    .bind(self.org_text())
                    .bind(sample.to_string()),
            )
            .fetch_all(self.reader())
            .await?
            .iter()
            .map(relative)
            .collect::<Result<Vec<_>>>()?;
        // Up the tree: the parent row of each link (kind and amount are how the child came
        // from it).
        let up_sql = format!(
            "SELECT s.id, s.code, s.sample_type, s.status, l.kind, l.quantity_taken \
             FROM sample_lineage l JOIN samples s ON s.org_id = l.org_id AND s.id = l.parent_id \
             WHERE l.org_id = $1 AND l.child_id = $2{visible}"
        );
        let mut ancestors = Vec::new();
        let mut at = sample;
        for _ in 0..32 {
            let row = viewer
                .bind(
                    sqlx::query(&up_sql)
                        .bind(self.org_text())
                        .bind(at.to_string()),
                )
                .fetch_optional(self.reader())
                .await?;
            let Some(r) = row else { break };
            let rel = relative(&r)?;
            at = rel.id;
            ancestors.push(rel);
        }
        Ok(Lineage {
            ancestors,
            children,
        })
    }
}
