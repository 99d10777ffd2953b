//! Storage locations and the chain of custody of one org's samples.
//!
//! A location tree (site → room → freezer → rack → box, nesting checked by the domain); a box has
//! a grid and holds at most one sample per position; a sample sits in at most one position. Every
//! placement, move, removal, hand-over and status change appends a custody event (who, from, to,
//! when, why) in the same transaction as the change and its audit event.

use crate::error::{Result, StoreError};
use crate::instance::parse_id;
use crate::org::Org;
use crate::samples::{sample_in_tx, Sample};
use crate::scope::Actor;
use crate::tx::OrgTx;
use crate::visibility::Kind;
use labledger_domain::audit::{ActorKind, Changes};
use labledger_domain::sample::SampleStatus;
use labledger_domain::storage::{CustodyKind, Grid, LocationKind, Position};
use labledger_domain::{FieldError, LocationId, Permission, SampleId, Timestamp, UserId};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

#[derive(Clone, Debug)]
pub struct NewLocation {
    pub parent_id: Option<LocationId>,
    pub kind: LocationKind,
    pub name: String,
    /// Boxes only.
    pub grid: Option<Grid>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Location {
    pub id: LocationId,
    pub parent_id: Option<LocationId>,
    pub kind: LocationKind,
    pub name: String,
    pub grid: Option<Grid>,
    /// Samples in this box (0 for other kinds).
    pub occupied: i64,
    pub created_at: Timestamp,
}

/// A sample in a box position.
#[derive(Clone, Debug, Serialize)]
pub struct Occupant {
    pub position: String,
    /// The sample there; none when it is one the caller may not see (the position shows only
    /// as occupied).
    pub sample: Option<OccupantSample>,
}

#[derive(Clone, Debug, Serialize)]
pub struct OccupantSample {
    pub id: SampleId,
    pub code: String,
    pub status: SampleStatus,
    pub sample_type: String,
}

/// One location with the path from the top of the tree, its children and, for a box, who sits
/// where.
#[derive(Clone, Debug, Serialize)]
pub struct LocationDetail {
    pub location: Location,
    /// Ancestors, top first (without the location itself).
    pub path: Vec<Location>,
    pub children: Vec<Location>,
    pub occupants: Vec<Occupant>,
}

/// Where a sample sits.
#[derive(Clone, Debug, Serialize)]
pub struct Placement {
    pub sample_id: SampleId,
    pub location_id: LocationId,
    pub position: String,
    /// `Site › Room › Freezer › Rack › Box`.
    pub path: String,
    pub placed_at: Timestamp,
}

#[derive(Clone, Debug, Serialize)]
pub struct CustodyEvent {
    pub sample_id: SampleId,
    pub seq: i64,
    pub kind: CustodyKind,
    pub at: Timestamp,
    pub actor_type: String,
    pub actor_id: Option<String>,
    /// Who acted, as they were named then.
    pub actor_name: String,
    /// Who holds the sample after this event.
    pub custodian_id: Option<UserId>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub reason: Option<String>,
}

/// A sample with its whole custody timeline, for reports.
#[derive(Clone, Debug, Serialize)]
pub struct CustodyRecord {
    pub sample: Sample,
    pub placement: Option<Placement>,
    pub events: Vec<CustodyEvent>,
}

// unscoped: a count of taken positions: hidden occupants show as occupied
const LOC_COLUMNS: &str = "l.id, l.parent_id, l.kind, l.name, l.grid_rows, l.grid_columns, l.created_at, \
     (SELECT COUNT(*) FROM sample_positions p WHERE p.org_id = l.org_id AND p.location_id = l.id) AS occupied";

fn decode_location(r: &AnyRow) -> Result<Location> {
    let kind: String = r.try_get("kind")?;
    let rows: Option<i64> = r.try_get("grid_rows")?;
    let cols: Option<i64> = r.try_get("grid_columns")?;
    let grid = match (rows, cols) {
        (Some(r), Some(c)) => {
            Some(Grid::new(r, c).map_err(|e| StoreError::Corrupt(e.to_string()))?)
        }
        _ => None,
    };
    Ok(Location {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        parent_id: r
            .try_get::<Option<String>, _>("parent_id")?
            .map(|p| parse_id(&p))
            .transpose()?,
        kind: LocationKind::parse("kind", &kind).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        name: r.try_get("name")?,
        grid,
        occupied: r.try_get("occupied")?,
        created_at: Timestamp::from_micros(r.try_get("created_at")?),
    })
}

const CUSTODY_COLUMNS: &str =
    "sample_id, seq, kind, at, actor_type, actor_id, actor_name, custodian_id, \
     from_value, to_value, reason";

fn decode_custody(r: &AnyRow) -> Result<CustodyEvent> {
    let kind: String = r.try_get("kind")?;
    Ok(CustodyEvent {
        sample_id: parse_id(&r.try_get::<String, _>("sample_id")?)?,
        seq: r.try_get("seq")?,
        kind: CustodyKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("custody kind `{kind}`")))?,
        at: Timestamp::from_micros(r.try_get("at")?),
        actor_type: r.try_get("actor_type")?,
        actor_id: r.try_get("actor_id")?,
        actor_name: r.try_get("actor_name")?,
        custodian_id: r
            .try_get::<Option<String>, _>("custodian_id")?
            .map(|p| parse_id(&p))
            .transpose()?,
        from: r.try_get("from_value")?,
        to: r.try_get("to_value")?,
        reason: r.try_get("reason")?,
    })
}

/// Who acts, as the custody trail names them: `Name <email>` for a person, the token's name for
/// an API token.
pub(crate) async fn actor_name(tx: &mut OrgTx<'_>, actor: &Actor) -> Result<String> {
    let Some(id) = actor.id.clone() else {
        return Ok("system".into());
    };
    let row = match actor.kind {
        ActorKind::User => {
            tx.fetch_optional(
                sqlx::query(
                    "SELECT name || ' <' || email || '>' AS label FROM users WHERE id = $1",
                )
                .bind(id.clone()),
            )
            .await?
        }
        ActorKind::Token => {
            let org = tx.org().to_owned();
            tx.fetch_optional(
                sqlx::query("SELECT 'API token ' || name AS label FROM api_tokens WHERE org_id = $1 AND id = $2")
                    .bind(org)
                    .bind(id.clone()),
            )
            .await?
        }
        _ => None,
    };
    Ok(match row {
        Some(r) => r.try_get("label")?,
        None => format!("{} {id}", actor.kind.as_str()),
    })
}

/// The custody facts of one event; the actor and time are filled in by [`append_custody`].
pub(crate) struct CustodyFacts {
    pub kind: CustodyKind,
    pub custodian: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub reason: Option<String>,
}

/// Appends a custody event to a sample's timeline, numbered after its last one.
pub(crate) async fn append_custody(
    tx: &mut OrgTx<'_>,
    sample: SampleId,
    actor: &Actor,
    actor_label: &str,
    at: Timestamp,
    facts: CustodyFacts,
) -> Result<()> {
    let org = tx.org().to_owned();
    // unscoped: numbering of a sample loaded through `sample_in_tx`
    tx.execute(
        sqlx::query(
            "INSERT INTO custody_events (org_id, sample_id, seq, kind, at, actor_type, actor_id, actor_name, \
             custodian_id, from_value, to_value, reason) \
             SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3, $4, $5, $6, $7, $8, $9, $10, $11 \
             FROM custody_events WHERE org_id = $1 AND sample_id = $2",
        )
        .bind(org)
        .bind(sample.to_string())
        .bind(facts.kind.as_str())
        .bind(at.micros())
        .bind(actor.kind.as_str())
        .bind(actor.id.clone())
        .bind(actor_label.to_owned())
        .bind(facts.custodian)
        .bind(facts.from)
        .bind(facts.to)
        .bind(facts.reason),
    )
    .await?;
    Ok(())
}

/// The current custodian of a sample: the holder after its last custody event.
pub(crate) async fn custodian_in_tx(
    tx: &mut OrgTx<'_>,
    sample: SampleId,
) -> Result<Option<String>> {
    let org = tx.org().to_owned();
    let row = tx
        .fetch_optional(
            sqlx::query(
                // unscoped: a sample loaded through `sample_in_tx`
                "SELECT custodian_id FROM custody_events WHERE org_id = $1 AND sample_id = $2 \
                 ORDER BY seq DESC LIMIT 1",
            )
            .bind(org)
            .bind(sample.to_string()),
        )
        .await?;
    Ok(match row {
        Some(r) => r.try_get("custodian_id")?,
        None => None,
    })
}

async fn location_in_tx(tx: &mut OrgTx<'_>, id: LocationId) -> Result<Option<Location>> {
    let org = tx.org().to_owned();
    let sql =
        format!("SELECT {LOC_COLUMNS} FROM storage_locations l WHERE l.org_id = $1 AND l.id = $2");
    tx.fetch_optional(sqlx::query(&sql).bind(org).bind(id.to_string()))
        .await?
        .map(|r| decode_location(&r))
        .transpose()
}

/// `Site › Room › … › Box` for a location, read inside the transaction.
async fn path_text_in_tx(tx: &mut OrgTx<'_>, mut id: LocationId) -> Result<String> {
    let mut names = Vec::new();
    // The tree is at most five deep; the bound also stops a corrupt cycle.
    for _ in 0..8 {
        let Some(loc) = location_in_tx(tx, id).await? else {
            break;
        };
        names.push(loc.name);
        match loc.parent_id {
            Some(p) => id = p,
            None => break,
        }
    }
    names.reverse();
    Ok(names.join(" › "))
}

async fn placement_in_tx(
    tx: &mut OrgTx<'_>,
    sample: SampleId,
) -> Result<Option<(LocationId, String)>> {
    let org = tx.org().to_owned();
    let row = tx
        .fetch_optional(
            // unscoped: a sample loaded through `sample_in_tx`
            sqlx::query("SELECT location_id, position FROM sample_positions WHERE org_id = $1 AND sample_id = $2")
                .bind(org)
                .bind(sample.to_string()),
        )
        .await?;
    match row {
        Some(r) => Ok(Some((
            parse_id(&r.try_get::<String, _>("location_id")?)?,
            r.try_get("position")?,
        ))),
        None => Ok(None),
    }
}

/// Takes a sample out of its position (if it has one) as part of another change, recording the
/// custody event and the audit event; used when a sample is consumed or disposed.
pub(crate) async fn vacate_in_tx(
    tx: &mut OrgTx<'_>,
    sample: SampleId,
    actor: &Actor,
    actor_label: &str,
    at: Timestamp,
    reason: Option<String>,
) -> Result<()> {
    let Some((loc, pos)) = placement_in_tx(tx, sample).await? else {
        return Ok(());
    };
    let from = format!("{} / {pos}", path_text_in_tx(tx, loc).await?);
    let org = tx.org().to_owned();
    tx.execute(
        // unscoped: a sample loaded through `sample_in_tx`
        sqlx::query("DELETE FROM sample_positions WHERE org_id = $1 AND sample_id = $2")
            .bind(org)
            .bind(sample.to_string()),
    )
    .await?;
    let custodian = custodian_in_tx(tx, sample).await?;
    append_custody(
        tx,
        sample,
        actor,
        actor_label,
        at,
        CustodyFacts {
            kind: CustodyKind::Removed,
            custodian,
            from: Some(from),
            to: None,
            reason: reason.clone(),
        },
    )
    .await?;
    tx.record(
        "sample.remove",
        "sample",
        Some(sample.to_string()),
        Changes::new()
            .field("location_id", Some(loc.to_string()), Option::<String>::None)
            .field("position", Some(pos), Option::<String>::None)
            .field("reason", Option::<String>::None, reason),
    );
    Ok(())
}

impl Org<'_> {
    /// Creates a location; the parent must exist in this org and accept this kind.
    pub async fn create_location(&self, new: NewLocation) -> Result<Location> {
        self.scope().require(Permission::SAMPLES_WRITE)?;
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let parent = match new.parent_id {
                    Some(p) => Some(location_in_tx(tx, p).await?.ok_or_else(|| {
                        StoreError::from(FieldError::new("parent_id", "no such location in this organization"))
                    })?),
                    None => None,
                };
                new.kind
                    .check_parent(parent.as_ref().map(|p| p.kind))
                    .map_err(StoreError::Refused)?;
                let grid = match (new.kind.has_grid(), new.grid) {
                    (true, Some(g)) => Some(g),
                    (true, None) => {
                        return Err(FieldError::new("rows", "a box needs a grid (rows and columns)").into())
                    }
                    (false, Some(_)) => {
                        return Err(FieldError::new("rows", "only a box has a grid").into())
                    }
                    (false, None) => None,
                };
                let org = tx.org().to_owned();
                // Sibling names are unique, so a path names one place.
                let clash = tx
                    .fetch_optional(
                        sqlx::query(
                            "SELECT id FROM storage_locations WHERE org_id = $1 AND name = $2 AND \
                             ((parent_id IS NULL AND $3 = '') OR parent_id = $3)",
                        )
                        .bind(org.clone())
                        .bind(new.name.clone())
                        .bind(new.parent_id.map(|p| p.to_string()).unwrap_or_default()),
                    )
                    .await?;
                if clash.is_some() {
                    return Err(StoreError::Conflict(format!(
                        "A location named `{}` already exists here.",
                        new.name
                    )));
                }
                let id = LocationId::new();
                let now = Timestamp::now();
                tx.execute(
                    sqlx::query(
                        "INSERT INTO storage_locations (org_id, id, parent_id, kind, name, grid_rows, grid_columns, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(org)
                    .bind(id.to_string())
                    .bind(new.parent_id.map(|p| p.to_string()))
                    .bind(new.kind.as_str())
                    .bind(new.name.clone())
                    .bind(grid.map(|g| i64::from(g.rows)))
                    .bind(grid.map(|g| i64::from(g.columns)))
                    .bind(now.micros()),
                )
                .await?;
                tx.record(
                    "location.create",
                    "location",
                    Some(id.to_string()),
                    Changes::new()
                        .created("kind", new.kind.as_str())
                        .created("name", &new.name)
                        .created("parent_id", new.parent_id.map(|p| p.to_string()))
                        .created("grid_rows", grid.map(|g| g.rows))
                        .created("grid_columns", grid.map(|g| g.columns)),
                );
                location_in_tx(tx, id)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt("created location missing".into()))
            })
        }))
        .await
    }

    /// Every location of the org, ordered by kind depth and name (the caller builds the tree).
    pub async fn locations(&self) -> Result<Vec<Location>> {
        self.scope().require(Permission::SAMPLES_READ)?;
        let sql = format!(
            "SELECT {LOC_COLUMNS} FROM storage_locations l WHERE l.org_id = $1 ORDER BY l.name, l.id LIMIT 10000"
        );
        let rows = sqlx::query(&sql)
            .bind(self.org_text())
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(decode_location).collect()
    }

    async fn location_row(&self, id: LocationId) -> Result<Location> {
        let sql = format!(
            "SELECT {LOC_COLUMNS} FROM storage_locations l WHERE l.org_id = $1 AND l.id = $2"
        );
        let row = sqlx::query(&sql)
            .bind(self.org_text())
            .bind(id.to_string())
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound)?;
        decode_location(&row)
    }

    /// One location with its path, children and (for a box) occupants.
    pub async fn location(&self, id: LocationId) -> Result<LocationDetail> {
        self.scope().require(Permission::SAMPLES_READ)?;
        let location = self.location_row(id).await?;
        let mut path = Vec::new();
        let mut up = location.parent_id;
        for _ in 0..8 {
            let Some(p) = up else { break };
            let parent = self.location_row(p).await?;
            up = parent.parent_id;
            path.push(parent);
        }
        path.reverse();
        let sql = format!(
            "SELECT {LOC_COLUMNS} FROM storage_locations l WHERE l.org_id = $1 AND l.parent_id = $2 ORDER BY l.name, l.id"
        );
        let children = sqlx::query(&sql)
            .bind(self.org_text())
            .bind(id.to_string())
            .fetch_all(self.reader())
            .await?
            .iter()
            .map(decode_location)
            .collect::<Result<Vec<_>>>()?;
        let viewer = self.viewer();
        let sql = format!(
            "SELECT p.position, p.sample_id, s.code, s.status, s.sample_type, \
             CAST(CASE WHEN {} THEN 1 ELSE 0 END AS BIGINT) AS visible FROM sample_positions p \
             JOIN samples s ON s.org_id = p.org_id AND s.id = p.sample_id \
             WHERE p.org_id = $1 AND p.location_id = $2 ORDER BY p.position",
            viewer.condition(Kind::Sample, "s", 3)
        );
        let rows = viewer
            .bind(sqlx::query(&sql).bind(self.org_text()).bind(id.to_string()))
            .fetch_all(self.reader())
            .await?;
        let mut occupants = Vec::with_capacity(rows.len());
        for r in &rows {
            let visible = r.try_get::<i64, _>("visible")? != 0;
            let sample = if visible {
                let status: String = r.try_get("status")?;
                Some(OccupantSample {
                    id: parse_id(&r.try_get::<String, _>("sample_id")?)?,
                    code: r.try_get("code")?,
                    status: SampleStatus::parse("status", &status)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    sample_type: r.try_get("sample_type")?,
                })
            } else {
                None
            };
            occupants.push(Occupant {
                position: r.try_get("position")?,
                sample,
            });
        }
        Ok(LocationDetail {
            location,
            path,
            children,
            occupants,
        })
    }

    /// Where a sample sits, if anywhere.
    pub async fn placement(&self, sample: SampleId) -> Result<Option<Placement>> {
        self.scope().require(Permission::SAMPLES_READ)?;
        self.sample(sample).await?;
        let row = sqlx::query(
            // unscoped: the sample was loaded through its rule above
            "SELECT location_id, position, placed_at FROM sample_positions WHERE org_id = $1 AND sample_id = $2",
        )
        .bind(self.org_text())
        .bind(sample.to_string())
        .fetch_optional(self.reader())
        .await?;
        let Some(r) = row else { return Ok(None) };
        let location_id: LocationId = parse_id(&r.try_get::<String, _>("location_id")?)?;
        let detail = self.location(location_id).await?;
        let path = detail
            .path
            .iter()
            .chain(std::iter::once(&detail.location))
            .map(|l| l.name.as_str())
            .collect::<Vec<_>>()
            .join(" › ");
        Ok(Some(Placement {
            sample_id: sample,
            location_id,
            position: r.try_get("position")?,
            path,
            placed_at: Timestamp::from_micros(r.try_get("placed_at")?),
        }))
    }

    /// Puts a sample into a box position, or moves it there from where it sits. One sample per
    /// position (a taken one is a 409 naming who holds it); a consumed or disposed sample is not
    /// stored anywhere.
    pub async fn place_sample(
        &self,
        sample: SampleId,
        location: LocationId,
        position: String,
        reason: Option<String>,
    ) -> Result<Placement> {
        self.scope().require(Permission::SAMPLES_WRITE)?;
        let actor = self.scope().actor().clone();
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let current = sample_in_tx(tx, sample).await?;
                let target = location_in_tx(tx, location).await?.ok_or_else(|| {
                    StoreError::from(FieldError::new("location_id", "no such location in this organization"))
                })?;
                let grid = match (target.kind, target.grid) {
                    (LocationKind::Box, Some(g)) => g,
                    _ => {
                        return Err(FieldError::new(
                            "location_id",
                            format!("samples go into boxes; `{}` is a {}", target.name, target.kind),
                        )
                        .into())
                    }
                };
                let pos: Position = grid.position("position", &position)?;
                let pos_text = pos.to_string();
                if current.status.is_final() {
                    return Err(StoreError::Refused(format!(
                        "{} is {} and cannot be stored in a box.",
                        current.code, current.status
                    )));
                }
                let previous = placement_in_tx(tx, sample).await?;
                if previous.as_ref().is_some_and(|(l, p)| *l == location && *p == pos_text) {
                    return Err(StoreError::Refused(format!(
                        "{} already sits in {} {pos_text}.",
                        current.code, target.name
                    )));
                }
                let org = tx.org().to_owned();
                let viewer = tx.viewer().clone();
                let sql = format!(
                    "SELECT CASE WHEN {} THEN s.code END AS code FROM sample_positions p \
                     JOIN samples s ON s.org_id = p.org_id AND s.id = p.sample_id \
                     WHERE p.org_id = $1 AND p.location_id = $2 AND p.position = $3",
                    viewer.condition(Kind::Sample, "s", 4)
                );
                let taken = tx
                    .fetch_optional(viewer.bind(
                        sqlx::query(&sql)
                            .bind(org.clone())
                            .bind(location.to_string())
                            .bind(pos_text.clone()),
                    ))
                    .await?;
                if let Some(r) = taken {
                    // A sample the caller may not see is named by nothing but its presence.
                    let by = match r.try_get::<Option<String>, _>("code")? {
                        Some(code) => format!("by {code}"),
                        None => "by a sample outside your projects".to_owned(),
                    };
                    return Err(StoreError::Conflict(format!(
                        "Position {pos_text} of {} is taken {by}; one sample per position.",
                        target.name
                    )));
                }
                let now = Timestamp::now();
                let label = actor_name(tx, &actor).await?;
                let to = format!("{} / {pos_text}", path_text_in_tx(tx, location).await?);
                let from = match &previous {
                    Some((l, p)) => Some(format!("{} / {p}", path_text_in_tx(tx, *l).await?)),
                    None => None,
                };
                if previous.is_some() {
                    tx.execute(
                        sqlx::query(
                            "UPDATE sample_positions SET location_id = $3, position = $4, placed_at = $5 \
                             WHERE org_id = $1 AND sample_id = $2",
                        )
                        .bind(org)
                        .bind(sample.to_string())
                        .bind(location.to_string())
                        .bind(pos_text.clone())
                        .bind(now.micros()),
                    )
                    .await?;
                } else {
                    tx.execute(
                        sqlx::query(
                            "INSERT INTO sample_positions (org_id, sample_id, location_id, position, placed_at) \
                             VALUES ($1, $2, $3, $4, $5)",
                        )
                        .bind(org)
                        .bind(sample.to_string())
                        .bind(location.to_string())
                        .bind(pos_text.clone())
                        .bind(now.micros()),
                    )
                    .await?;
                }
                let custodian = custodian_in_tx(tx, sample).await?;
                let kind = if previous.is_some() { CustodyKind::Moved } else { CustodyKind::Placed };
                append_custody(
                    tx,
                    sample,
                    &actor,
                    &label,
                    now,
                    CustodyFacts {
                        kind,
                        custodian,
                        from,
                        to: Some(to.clone()),
                        reason: reason.clone(),
                    },
                )
                .await?;
                let (prev_loc, prev_pos) = match previous {
                    Some((l, p)) => (Some(l.to_string()), Some(p)),
                    None => (None, None),
                };
                tx.record(
                    if kind == CustodyKind::Moved { "sample.move" } else { "sample.place" },
                    "sample",
                    Some(sample.to_string()),
                    Changes::new()
                        .field("location_id", prev_loc, Some(location.to_string()))
                        .field("position", prev_pos, Some(pos_text.clone()))
                        .field("reason", Option::<String>::None, reason),
                );
                let path = to
                    .rsplit_once(" / ")
                    .map(|(p, _)| p.to_owned())
                    .unwrap_or_default();
                Ok(Placement {
                    sample_id: sample,
                    location_id: location,
                    position: pos_text,
                    path,
                    placed_at: now,
                })
            })
        }))
        .await
    }

    /// Takes a sample out of its box; refused when it sits nowhere.
    pub async fn remove_sample(&self, sample: SampleId, reason: Option<String>) -> Result<()> {
        self.scope().require(Permission::SAMPLES_WRITE)?;
        let actor = self.scope().actor().clone();
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let current = sample_in_tx(tx, sample).await?;
                if placement_in_tx(tx, sample).await?.is_none() {
                    return Err(StoreError::Refused(format!(
                        "{} is not in a box.",
                        current.code
                    )));
                }
                let label = actor_name(tx, &actor).await?;
                vacate_in_tx(tx, sample, &actor, &label, Timestamp::now(), reason).await
            })
        }))
        .await
    }

    /// Hands a sample to another active member of the org, recording from whom, to whom and why.
    pub async fn hand_over(
        &self,
        sample: SampleId,
        to: UserId,
        reason: String,
    ) -> Result<CustodyEvent> {
        self.scope().require(Permission::SAMPLES_WRITE)?;
        let actor = self.scope().actor().clone();
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let current = sample_in_tx(tx, sample).await?;
                if current.status.is_final() {
                    return Err(StoreError::Refused(format!(
                        "{} is {} and can no longer be handed over.",
                        current.code, current.status
                    )));
                }
                let org = tx.org().to_owned();
                let member = tx
                    .fetch_optional(
                        sqlx::query(
                            "SELECT u.name || ' <' || u.email || '>' AS label FROM members m JOIN users u ON u.id = m.user_id \
                             WHERE m.org_id = $1 AND m.user_id = $2 AND m.status = 'active'",
                        )
                        .bind(org)
                        .bind(to.to_string()),
                    )
                    .await?
                    .ok_or_else(|| StoreError::from(FieldError::new("to_member", "no such active member in this organization")))?;
                let to_label: String = member.try_get("label")?;
                let holder = custodian_in_tx(tx, sample).await?;
                if holder.as_deref() == Some(to.to_string().as_str()) {
                    return Err(StoreError::Refused(format!("{to_label} already holds {}.", current.code)));
                }
                let from_label = match &holder {
                    Some(h) => tx
                        .fetch_optional(
                            sqlx::query("SELECT name || ' <' || email || '>' AS label FROM users WHERE id = $1")
                                .bind(h.clone()),
                        )
                        .await?
                        .map(|r| r.try_get::<String, _>("label"))
                        .transpose()?,
                    None => None,
                };
                let now = Timestamp::now();
                let label = actor_name(tx, &actor).await?;
                append_custody(
                    tx,
                    sample,
                    &actor,
                    &label,
                    now,
                    CustodyFacts {
                        kind: CustodyKind::Handover,
                        custodian: Some(to.to_string()),
                        from: from_label,
                        to: Some(to_label),
                        reason: Some(reason.clone()),
                    },
                )
                .await?;
                tx.record(
                    "sample.handover",
                    "sample",
                    Some(sample.to_string()),
                    Changes::new()
                        .field("custodian_id", holder, Some(to.to_string()))
                        .field("reason", Option::<String>::None, Some(reason)),
                );
                let org = tx.org().to_owned();
                let sql = format!(
                    // unscoped: the hand-over loaded its sample through `sample_in_tx`
                    "SELECT {CUSTODY_COLUMNS} FROM custody_events WHERE org_id = $1 AND sample_id = $2 ORDER BY seq DESC LIMIT 1"
                );
                let row = tx
                    .fetch_optional(sqlx::query(&sql).bind(org).bind(sample.to_string()))
                    .await?
                    .ok_or_else(|| StoreError::Corrupt("custody event missing".into()))?;
                decode_custody(&row)
            })
        }))
        .await
    }

    /// A sample's custody timeline, oldest first.
    pub async fn custody(&self, sample: SampleId) -> Result<Vec<CustodyEvent>> {
        self.scope().require(Permission::SAMPLES_READ)?;
        // The sample must exist in this org: a timeline of another org's sample is a 404.
        self.sample(sample).await?;
        let sql = format!(
            // unscoped: the sample was loaded through its rule above
            "SELECT {CUSTODY_COLUMNS} FROM custody_events WHERE org_id = $1 AND sample_id = $2 ORDER BY seq"
        );
        let rows = sqlx::query(&sql)
            .bind(self.org_text())
            .bind(sample.to_string())
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(decode_custody).collect()
    }

    /// The custody record of each sample, in the order asked; an unknown id is a 404.
    pub async fn custody_report(&self, samples: &[SampleId]) -> Result<Vec<CustodyRecord>> {
        self.scope().require(Permission::SAMPLES_READ)?;
        let mut out = Vec::with_capacity(samples.len());
        for id in samples {
            let sample = self.sample(*id).await?;
            let placement = self.placement(*id).await?;
            let events = self.custody(*id).await?;
            out.push(CustodyRecord {
                sample,
                placement,
                events,
            });
        }
        Ok(out)
    }

    /// Samples by exact code (`S-000123`, case-insensitive), for scanning a label.
    pub async fn sample_by_code(&self, code: &str) -> Result<Option<SampleId>> {
        self.scope().require(Permission::SAMPLES_READ)?;
        let viewer = self.viewer();
        let sql = format!(
            "SELECT id FROM samples WHERE org_id = $1 AND code = $2{}",
            viewer.filter(Kind::Sample, "samples", 3)
        );
        let row = viewer
            .bind(
                sqlx::query(&sql)
                    .bind(self.org_text())
                    .bind(code.trim().to_uppercase()),
            )
            .fetch_optional(self.reader())
            .await?;
        row.map(|r| parse_id(&r.try_get::<String, _>("id")?))
            .transpose()
    }
}

impl Org<'_> {
    /// The active members a sample may be handed to, as `(user id, "Name <email>")`; for those who
    /// record hand-overs (samples:write), who need not be able to read the member list.
    pub async fn handover_candidates(&self) -> Result<Vec<(UserId, String)>> {
        self.scope().require(Permission::SAMPLES_WRITE)?;
        let rows = sqlx::query(
            "SELECT u.id, u.name || ' <' || u.email || '>' AS label FROM members m JOIN users u ON u.id = m.user_id \
             WHERE m.org_id = $1 AND m.status = 'active' ORDER BY u.name, u.id LIMIT 1000",
        )
        .bind(self.org_text())
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    parse_id(&r.try_get::<String, _>("id")?)?,
                    r.try_get("label")?,
                ))
            })
            .collect()
    }
}
