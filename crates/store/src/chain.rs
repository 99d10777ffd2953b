//! Appending to and verifying an org's audit hash chain.

use crate::engine::Engine;
use crate::error::{Result, StoreError};
use crate::scope::{Actor, RequestMeta};
use crate::seal::HeadSealKey;
use crate::write_conn::WriteConn;
use labledger_domain::audit::{ActorKind, AuditEvent, ChainBreak, Hash, GENESIS_HASH};
use labledger_domain::{OrgId, Timestamp};
use sqlx::Row;

/// An event recorded by a write, before it gets its place in the chain.
#[derive(Clone, Debug)]
pub(crate) struct PendingEvent {
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub changes: serde_json::Value,
}

/// Starts an org's chain: the head row exists from the org's first moment, so PostgreSQL
/// writers always have a row to queue on. It is sealed from the start.
pub(crate) async fn init_head(conn: &mut WriteConn, key: &HeadSealKey, org: OrgId) -> Result<()> {
    sqlx::query("INSERT INTO audit_heads (org_id, seq, hash, seal) VALUES ($1, 0, $2, $3)")
        .bind(org.to_string())
        .bind(GENESIS_HASH.to_vec())
        .bind(key.seal(org, 0, &GENESIS_HASH))
        .execute(conn)
        .await?;
    Ok(())
}

/// PostgreSQL: takes the org's chain head first, so writers of one org queue for the whole
/// transaction (their checks see each other's writes, as on SQLite's single writer) while other
/// orgs never contend. Every writer to an org's data calls this before its first statement.
pub(crate) async fn lock_head(conn: &mut WriteConn, engine: Engine, org: OrgId) -> Result<()> {
    if engine == Engine::Postgres {
        sqlx::query("SELECT seq FROM audit_heads WHERE org_id = $1 FOR UPDATE")
            .bind(org.to_string())
            .fetch_optional(conn)
            .await?;
    }
    Ok(())
}

/// Appends events to the org's chain inside the caller's transaction and seals the new head;
/// returns how many. Refused when the head in the database does not carry its seal: extending
/// it would seal whatever was written outside LabLedger.
pub(crate) async fn append(
    conn: &mut WriteConn,
    engine: Engine,
    key: &HeadSealKey,
    org: OrgId,
    actor: &Actor,
    meta: &RequestMeta,
    events: Vec<PendingEvent>,
) -> Result<usize> {
    if events.is_empty() {
        return Ok(0);
    }
    let org_text = org.to_string();
    let head = sqlx::query(&format!(
        "SELECT seq, hash, seal FROM audit_heads WHERE org_id = $1{}",
        engine.for_update()
    ))
    .bind(&org_text)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    check_seal(key, org, &head)?;
    let mut seq: i64 = head.try_get("seq")?;
    let stored: Vec<u8> = head.try_get("hash")?;
    let mut prev: Hash = stored
        .try_into()
        .map_err(|_| StoreError::Corrupt("audit head hash is not 32 bytes".into()))?;
    let at = Timestamp::now();
    let n = events.len();
    for pending in events {
        seq += 1;
        let event = AuditEvent {
            org_id: org,
            seq,
            at,
            actor_kind: actor.kind,
            actor_id: actor.id.clone(),
            action: pending.action,
            target_type: pending.target_type,
            target_id: pending.target_id,
            changes: pending.changes,
            request_id: meta.request_id.clone(),
            source_ip: meta.source_ip.clone(),
        };
        let hash = event.chain_hash(&prev);
        sqlx::query(
            "INSERT INTO audit_events (org_id, seq, at, actor_type, actor_id, action, target_type, \
             target_id, changes, request_id, source_ip, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&org_text)
        .bind(seq)
        .bind(at.micros())
        .bind(event.actor_kind.as_str())
        .bind(event.actor_id)
        .bind(event.action)
        .bind(event.target_type)
        .bind(event.target_id)
        .bind(labledger_domain::jcs::canonicalize(&event.changes))
        .bind(event.request_id)
        .bind(event.source_ip)
        .bind(hash.to_vec())
        .execute(&mut *conn)
        .await?;
        prev = hash;
    }
    sqlx::query("UPDATE audit_heads SET seq = $2, hash = $3, seal = $4 WHERE org_id = $1")
        .bind(&org_text)
        .bind(seq)
        .bind(prev.to_vec())
        .bind(key.seal(org, seq, &prev))
        .execute(&mut *conn)
        .await?;
    Ok(n)
}

/// What a head row's seal says about it.
fn seal_break(
    key: &HeadSealKey,
    org: OrgId,
    head: &sqlx::any::AnyRow,
) -> Result<Option<ChainBreak>> {
    let seq: i64 = head.try_get("seq")?;
    let hash: Vec<u8> = head.try_get("hash")?;
    let seal: Option<Vec<u8>> = head.try_get("seal")?;
    Ok(match seal {
        None => Some(ChainBreak::HeadUnsealed { seq }),
        Some(s) if !key.matches(org, seq, &hash, &s) => Some(ChainBreak::HeadSealMismatch { seq }),
        Some(_) => None,
    })
}

/// Refuses to go on from a head whose seal does not match (see [`append`]).
pub(crate) fn check_seal(key: &HeadSealKey, org: OrgId, head: &sqlx::any::AnyRow) -> Result<()> {
    match seal_break(key, org, head)? {
        None => Ok(()),
        Some(b) => {
            tracing::error!(org = %org, "refusing to extend the audit chain: {b}");
            Err(StoreError::Corrupt(format!(
                "the audit chain of org {org} is broken ({b}); writes to it are refused until \
                 an operator investigates (labledger audit verify)"
            )))
        }
    }
}

/// A stored event row as read back.
#[derive(Clone, Debug)]
pub struct StoredEvent {
    pub event: AuditEvent,
    pub hash: Vec<u8>,
}

pub(crate) const EVENT_COLUMNS: &str =
    "org_id, seq, at, actor_type, actor_id, action, target_type, target_id, changes, request_id, source_ip, hash";

pub(crate) fn decode_event(row: &sqlx::any::AnyRow) -> Result<StoredEvent> {
    let (mut stored, changes) = decode_columns(row)?;
    // Unparseable changes cannot match the hash; keep the raw text so a reader sees it.
    stored.event.changes =
        serde_json::from_str(&changes).unwrap_or(serde_json::Value::String(changes));
    Ok(stored)
}

/// An event's columns, with `changes` left as the stored (canonical) text.
fn decode_columns(row: &sqlx::any::AnyRow) -> Result<(StoredEvent, String)> {
    let org: String = row.try_get("org_id")?;
    let actor: String = row.try_get("actor_type")?;
    let seq: i64 = row.try_get("seq")?;
    let corrupt = |what: &str| StoreError::Corrupt(format!("audit event {seq}: {what}"));
    let event = AuditEvent {
        org_id: org.parse().map_err(|_| corrupt("org id"))?,
        seq,
        at: Timestamp::from_micros(row.try_get("at")?),
        actor_kind: ActorKind::parse(&actor).ok_or_else(|| corrupt("actor type"))?,
        actor_id: row.try_get("actor_id")?,
        action: row.try_get("action")?,
        target_type: row.try_get("target_type")?,
        target_id: row.try_get("target_id")?,
        changes: serde_json::Value::Null,
        request_id: row.try_get("request_id")?,
        source_ip: row.try_get("source_ip")?,
    };
    Ok((
        StoredEvent {
            event,
            hash: row.try_get("hash")?,
        },
        row.try_get("changes")?,
    ))
}

/// The outcome of verifying one org's chain (by `crate::verify`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verification {
    Intact { events: i64, head_hash: Hash },
    Broken(ChainBreak),
}
