//! SQLite: each range is read by a read-only rusqlite connection of its own on a thread of its
//! own, stepping rows in place (no row handed between threads, no column copied).

use super::{anchor_of, plan, Head, Range, RangeCheck, RangeOutcome, COLUMNS};
use crate::error::{Result, StoreError};
use labledger_domain::audit::EventColumns;
use labledger_domain::OrgId;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row};
use sqlx::sqlite::SqliteConnectOptions;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// Reads the head and checks every range; see the parent module.
pub(super) async fn verify_ranges(
    url: &str,
    org: OrgId,
    parts: usize,
) -> Result<(Head, Vec<(Range, RangeOutcome)>)> {
    let path = SqliteConnectOptions::from_str(url)?
        .get_filename()
        .to_owned();
    let org = org.to_string();
    tokio::task::spawn_blocking(move || verify_blocking(&path, &org, parts))
        .await
        .map_err(|e| StoreError::Corrupt(format!("the audit verifier stopped: {e}")))?
}

fn verify_blocking(
    path: &Path,
    org: &str,
    parts: usize,
) -> Result<(Head, Vec<(Range, RangeOutcome)>)> {
    // The last range's connection reads the head in its own read transaction.
    let last_conn = open(path)?;
    last_conn.execute_batch("BEGIN").map_err(db)?;
    let head = read_head(&last_conn, org)?;
    let ranges = plan(head.seq, parts);
    let Some((last, earlier)) = ranges.split_last() else {
        return Ok((head, Vec::new()));
    };
    let outcomes = std::thread::scope(|scope| {
        let workers: Vec<_> = earlier
            .iter()
            .map(|range| {
                let range = *range;
                scope.spawn(move || open(path).and_then(|conn| check(&conn, org, range)))
            })
            .collect();
        let last_outcome = check(&last_conn, org, *last);
        let mut outcomes = Vec::with_capacity(ranges.len());
        for (range, worker) in earlier.iter().zip(workers) {
            let outcome = worker.join().map_err(|_| {
                StoreError::Corrupt("an audit verifier thread stopped".to_owned())
            })??;
            outcomes.push((*range, outcome));
        }
        last_outcome.map(|o| {
            outcomes.push((*last, o));
            outcomes
        })
    })?;
    last_conn.execute_batch("COMMIT").map_err(db)?;
    Ok((head, outcomes))
}

/// A read-only connection to the database file (WAL: it reads beside the writer).
fn open(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(db)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(db)?;
    // Pages mapped rather than copied by a read call each: the chain is read once, in order.
    conn.execute_batch("PRAGMA mmap_size = 1073741824")
        .map_err(db)?;
    Ok(conn)
}

fn read_head(conn: &Connection, org: &str) -> Result<Head> {
    conn.prepare_cached("SELECT seq, hash, seal FROM audit_heads WHERE org_id = ?1")
        .map_err(db)?
        .query_row([org], |r| {
            Ok(Head {
                seq: r.get(0)?,
                hash: r.get(1)?,
                seal: r.get(2)?,
            })
        })
        .optional()
        .map_err(db)?
        .ok_or(StoreError::NotFound)
}

fn check(conn: &Connection, org: &str, range: Range) -> Result<RangeOutcome> {
    let anchor: Option<Vec<u8>> = if range.low == i64::MIN {
        None
    } else {
        conn.prepare_cached("SELECT hash FROM audit_events WHERE org_id = ?1 AND seq = ?2")
            .map_err(db)?
            .query_row(rusqlite::params![org, range.start - 1], |r| {
                bytes(r.get_ref(0)?).map(<[u8]>::to_vec)
            })
            .optional()
            .map_err(db)?
    };
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM audit_events \
             WHERE org_id = ?1 AND seq >= ?2 AND seq <= ?3 ORDER BY seq"
        ))
        .map_err(db)?;
    let mut check = RangeCheck::new(range, anchor_of(anchor.as_deref()));
    let mut rows = stmt
        .query(rusqlite::params![org, range.low, range.high])
        .map_err(db)?;
    while let Some(row) = rows.next().map_err(db)? {
        let (columns, hash) = columns(org, row).map_err(db)?;
        if !check.feed(&columns, hash) {
            break;
        }
    }
    Ok(check.finish())
}

/// One row's columns, borrowed in place.
fn columns<'r>(org: &'r str, r: &'r Row<'_>) -> rusqlite::Result<(EventColumns<'r>, &'r [u8])> {
    let text = |i: usize| -> rusqlite::Result<&'r str> { Ok(r.get_ref(i)?.as_str()?) };
    let optional =
        |i: usize| -> rusqlite::Result<Option<&'r str>> { Ok(r.get_ref(i)?.as_str_or_null()?) };
    Ok((
        EventColumns {
            org_id: org,
            seq: r.get(0)?,
            at: r.get(1)?,
            actor_type: text(2)?,
            actor_id: optional(3)?,
            action: text(4)?,
            target_type: text(5)?,
            target_id: optional(6)?,
            changes: text(7)?,
            request_id: optional(8)?,
            source_ip: optional(9)?,
        },
        bytes(r.get_ref(10)?)?,
    ))
}

/// A stored hash's bytes; one rewritten as text is compared as it is (and does not match).
fn bytes(v: ValueRef<'_>) -> rusqlite::Result<&[u8]> {
    match v {
        ValueRef::Blob(b) | ValueRef::Text(b) => Ok(b),
        other => Err(rusqlite::Error::FromSqlConversionFailure(
            10,
            other.data_type(),
            "the audit event's hash is not bytes".into(),
        )),
    }
}

/// A rusqlite failure as the store reports database failures.
fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Database(sqlx::Error::Protocol(format!("sqlite: {e}")))
}
