//! PostgreSQL: each range is read on a connection of its own by a task of its own, through
//! sqlx's native PostgreSQL rows, whose text columns are borrowed from the received message
//! (the `Any` driver copies every column of every row into an owned value first).

use super::{anchor_of, plan, Head, Range, RangeCheck, RangeOutcome, COLUMNS};
use crate::error::{Result, StoreError};
use futures::TryStreamExt;
use labledger_domain::audit::EventColumns;
use labledger_domain::OrgId;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};
use sqlx::{ConnectOptions, Connection, Row};
use std::str::FromStr;

/// Reads the head and checks every range; see the parent module.
pub(super) async fn verify_ranges(
    url: &str,
    org: OrgId,
    parts: usize,
) -> Result<(Head, Vec<(Range, RangeOutcome)>)> {
    let options = PgConnectOptions::from_str(url)?.disable_statement_logging();
    let org = org.to_string();
    // The last range's connection reads the head in its own snapshot.
    let mut last_conn = options.connect().await?;
    let mut snapshot = last_conn
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await?;
    let head = read_head(&mut snapshot, &org).await?;
    let ranges = plan(head.seq, parts);
    let Some((last, earlier)) = ranges.split_last() else {
        return Ok((head, Vec::new()));
    };
    let workers: Vec<_> = earlier
        .iter()
        .map(|range| {
            let (range, options, org) = (*range, options.clone(), org.clone());
            tokio::spawn(async move {
                let mut conn = options.connect().await?;
                let outcome = check(&mut conn, &org, range).await;
                conn.close().await?;
                outcome
            })
        })
        .collect();
    let last_outcome = check(&mut snapshot, &org, *last).await;
    let mut outcomes = Vec::with_capacity(ranges.len());
    for (range, worker) in earlier.iter().zip(workers) {
        let outcome = worker
            .await
            .map_err(|e| StoreError::Corrupt(format!("an audit verifier task stopped: {e}")))??;
        outcomes.push((*range, outcome));
    }
    outcomes.push((*last, last_outcome?));
    snapshot.commit().await?;
    last_conn.close().await?;
    Ok((head, outcomes))
}

async fn read_head(conn: &mut PgConnection, org: &str) -> Result<Head> {
    let row = sqlx::query("SELECT seq, hash, seal FROM audit_heads WHERE org_id = $1")
        .bind(org)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(Head {
        seq: row.try_get(0)?,
        hash: row.try_get(1)?,
        seal: row.try_get(2)?,
    })
}

async fn check(conn: &mut PgConnection, org: &str, range: Range) -> Result<RangeOutcome> {
    let anchor: Option<Vec<u8>> = if range.low == i64::MIN {
        None
    } else {
        sqlx::query_scalar("SELECT hash FROM audit_events WHERE org_id = $1 AND seq = $2")
            .bind(org)
            .bind(range.start - 1)
            .fetch_optional(&mut *conn)
            .await?
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_events \
         WHERE org_id = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq"
    );
    let mut rows = sqlx::query(&sql)
        .bind(org)
        .bind(range.low)
        .bind(range.high)
        .fetch(&mut *conn);
    let mut check = RangeCheck::new(range, anchor_of(anchor.as_deref()));
    while let Some(row) = rows.try_next().await? {
        let (columns, hash) = columns(org, &row)?;
        if !check.feed(&columns, hash) {
            break;
        }
    }
    Ok(check.finish())
}

/// One row's columns, borrowed from the received row.
fn columns<'r>(org: &'r str, r: &'r PgRow) -> Result<(EventColumns<'r>, &'r [u8])> {
    Ok((
        EventColumns {
            org_id: org,
            seq: r.try_get(0)?,
            at: r.try_get(1)?,
            actor_type: r.try_get(2)?,
            actor_id: r.try_get(3)?,
            action: r.try_get(4)?,
            target_type: r.try_get(5)?,
            target_id: r.try_get(6)?,
            changes: r.try_get(7)?,
            request_id: r.try_get(8)?,
            source_ip: r.try_get(9)?,
        },
        r.try_get(10)?,
    ))
}
