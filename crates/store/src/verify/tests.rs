//! The ranges checked apart and merged give exactly the verdict of one pass from event 1,
//! whatever was cut, added or altered and however the chain is split.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use super::*;
use labledger_domain::audit::{ActorKind, AuditEvent};
use labledger_domain::jcs::canonicalize;
use labledger_domain::Timestamp;

struct StoredRow {
    event: AuditEvent,
    changes: String,
    hash: Vec<u8>,
}

fn chain(org: OrgId, n: i64) -> Vec<StoredRow> {
    let mut prev = GENESIS_HASH;
    (1..=n)
        .map(|seq| {
            let event = AuditEvent {
                org_id: org,
                seq,
                at: Timestamp::from_micros(1_700_000_000_000_000 + seq),
                actor_kind: ActorKind::User,
                actor_id: Some("u".into()),
                action: "role.update".into(),
                target_type: "role".into(),
                target_id: Some(format!("r{seq}")),
                changes: serde_json::json!({"name": {"before": null, "after": seq}}),
                request_id: None,
                source_ip: Some("127.0.0.1".into()),
            };
            prev = event.chain_hash(&prev);
            StoredRow {
                changes: canonicalize(&event.changes),
                event,
                hash: prev.to_vec(),
            }
        })
        .collect()
}

fn columns<'a>(row: &'a StoredRow, org: &'a str) -> EventColumns<'a> {
    let e = &row.event;
    EventColumns {
        org_id: org,
        seq: e.seq,
        at: e.at.micros(),
        actor_type: e.actor_kind.as_str(),
        actor_id: e.actor_id.as_deref(),
        action: &e.action,
        target_type: &e.target_type,
        target_id: e.target_id.as_deref(),
        changes: &row.changes,
        request_id: e.request_id.as_deref(),
        source_ip: e.source_ip.as_deref(),
    }
}

/// The reference: every row in order through one verifier, then the head.
fn one_pass(rows: &[StoredRow], head: &Head, org: &str) -> Result<(), ChainBreak> {
    let mut v = ChainVerifier::new();
    for row in rows {
        v.feed_columns(&columns(row, org), &row.hash)?;
    }
    v.finish(head.seq, &head.hash).map(|_| ())
}

/// As the engines do it: each range's rows (by seq) checked from the stored hash before it.
fn in_ranges(rows: &[StoredRow], head: &Head, org: &str, parts: usize) -> Result<(), ChainBreak> {
    let outcomes: Vec<(Range, RangeOutcome)> = plan_sized(head.seq, parts, 1)
        .into_iter()
        .map(|range| {
            let anchor = rows
                .iter()
                .find(|r| r.event.seq == range.start - 1)
                .map(|r| r.hash.as_slice());
            let mut check = RangeCheck::new(range, anchor_of(anchor));
            for row in rows
                .iter()
                .filter(|r| (range.low..=range.high).contains(&r.event.seq))
            {
                if !check.feed(&columns(row, org), &row.hash) {
                    break;
                }
            }
            (range, check.finish())
        })
        .collect();
    merge(head, &outcomes)
}

fn head_of(rows: &[StoredRow]) -> Head {
    Head {
        seq: rows.last().map_or(0, |r| r.event.seq),
        hash: rows
            .last()
            .map_or(GENESIS_HASH.to_vec(), |r| r.hash.clone()),
        seal: None,
    }
}

fn same_verdicts(rows: &[StoredRow], head: &Head, org: &str, what: &str) {
    let reference = one_pass(rows, head, org);
    for parts in 1..=6 {
        assert_eq!(
            in_ranges(rows, head, org, parts),
            reference,
            "{what}, {parts} ranges"
        );
    }
}

#[test]
fn ranges_give_the_verdicts_of_one_pass() {
    let org = OrgId::new();
    let org_text = org.to_string();
    let n = 13;
    let intact = chain(org, n);
    let head = head_of(&intact);
    same_verdicts(&intact, &head, &org_text, "intact");
    assert_eq!(in_ranges(&intact, &head, &org_text, 4), Ok(()));
    same_verdicts(&[], &head_of(&[]), &org_text, "empty chain");
    for i in 0..n as usize {
        let mut rows = chain(org, n);
        rows.remove(i);
        same_verdicts(&rows, &head, &org_text, &format!("row {i} deleted"));
        let mut rows = chain(org, n);
        rows.truncate(i);
        same_verdicts(&rows, &head, &org_text, &format!("cut after {i}"));
        let mut rows = chain(org, n);
        rows.drain(i..(i + 3).min(n as usize));
        same_verdicts(&rows, &head, &org_text, &format!("3 deleted from {i}"));
        let mut rows = chain(org, n);
        rows[i].event.action = "edited".into();
        same_verdicts(&rows, &head, &org_text, &format!("row {i} edited"));
        let mut rows = chain(org, n);
        rows[i].hash[0] ^= 1;
        same_verdicts(&rows, &head, &org_text, &format!("hash {i} edited"));
        let mut rows = chain(org, n);
        rows[i].event.seq = -1 - i as i64;
        rows.sort_by_key(|r| r.event.seq);
        same_verdicts(
            &rows,
            &head,
            &org_text,
            &format!("row {i} renumbered below 1"),
        );
        let mut rows = chain(org, n);
        rows[i].event.seq += 100;
        rows.sort_by_key(|r| r.event.seq);
        same_verdicts(
            &rows,
            &head,
            &org_text,
            &format!("row {i} renumbered past the head"),
        );
        // The head moved back over intact rows, or forward over none.
        let rows = chain(org, n);
        let back = Head {
            seq: i as i64,
            hash: if i == 0 {
                GENESIS_HASH.to_vec()
            } else {
                rows[i - 1].hash.clone()
            },
            seal: None,
        };
        same_verdicts(&rows, &back, &org_text, &format!("head moved back to {i}"));
        let forward = Head {
            seq: n + 1 + i as i64,
            ..head.clone()
        };
        same_verdicts(
            &rows,
            &forward,
            &org_text,
            &format!("head moved to {}", forward.seq),
        );
    }
    // Events appended past the head with correct links (plain SQL without moving the head).
    let longer = chain(org, n + 4);
    same_verdicts(&longer, &head, &org_text, "appended past the head");
}

#[test]
fn small_chains_take_one_range_and_large_ones_split_evenly() {
    assert_eq!(plan(5, 8).len(), 1);
    assert_eq!(plan(0, 8).len(), 1);
    let ranges = plan(1_000_000, 4);
    assert_eq!(ranges.len(), 4);
    assert_eq!(ranges[0].low, i64::MIN);
    assert_eq!(ranges[3].high, i64::MAX);
    for pair in ranges.windows(2) {
        assert_eq!(pair[0].high + 1, pair[1].start);
        assert_eq!(pair[1].low, pair[1].start);
    }
}

/// The SQLite reader end to end on a chain long enough to be split: rows written with correct
/// links and a sealed head, then cut and edited in each range and at the border between them.
mod on_sqlite {
    use super::chain;
    use crate::chain::Verification;
    use crate::*;
    use labledger_domain::audit::ChainBreak;
    use labledger_domain::jcs::canonicalize;
    use labledger_domain::validate::{Email, OrgName, PersonName};
    use labledger_domain::OrgId;
    use sqlx::{Connection, Executor, Row, SqliteConnection};

    const EVENTS: i64 = 45_000;

    async fn long_chain() -> (tempfile::TempDir, Store, OrgId, SqliteConnection) {
        let dir = tempfile::tempdir().unwrap();
        let url = sqlite_url_for_data_dir(dir.path());
        let key = HeadSealKey::from_master(&[9; 32]);
        let store = Store::open(
            &url,
            StoreOptions {
                head_seal: Some(key.clone()),
                ..StoreOptions::default()
            },
        )
        .await
        .unwrap();
        let owner = NewOwner {
            email: Email::parse("e", "o@lab.example").unwrap(),
            name: PersonName::parse("n", "O").unwrap(),
            password_hash: "x".into(),
        };
        let (org, _, _) = store
            .create_org(OrgName::parse("n", "Lab").unwrap(), owner, Actor::system())
            .await
            .unwrap();
        // The events LabLedger wrote, then synthetic ones linked to them, as direct SQL would.
        let mut conn = SqliteConnection::connect(&url).await.unwrap();
        let head = sqlx::query("SELECT seq FROM audit_heads WHERE org_id = $1")
            .bind(org.to_string())
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let written: i64 = head.get(0);
        let mut tx = conn.begin().await.unwrap();
        let rows: Vec<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT seq, hash FROM audit_events WHERE org_id = $1 ORDER BY seq")
                .bind(org.to_string())
                .fetch_all(&mut *tx)
                .await
                .unwrap();
        let mut prev: [u8; 32] = rows.last().unwrap().1.clone().try_into().unwrap();
        for row in chain(org, EVENTS).into_iter().skip(written as usize) {
            let mut e = row.event;
            e.changes = serde_json::json!({"n": {"before": null, "after": e.seq}});
            prev = e.chain_hash(&prev);
            sqlx::query(
                "INSERT INTO audit_events (org_id, seq, at, actor_type, actor_id, action, \
                 target_type, target_id, changes, request_id, source_ip, hash) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(org.to_string())
            .bind(e.seq)
            .bind(e.at.micros())
            .bind(e.actor_kind.as_str())
            .bind(e.actor_id)
            .bind(e.action)
            .bind(e.target_type)
            .bind(e.target_id)
            .bind(canonicalize(&e.changes))
            .bind(e.request_id)
            .bind(e.source_ip)
            .bind(prev.to_vec())
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        sqlx::query("UPDATE audit_heads SET seq = $2, hash = $3, seal = $4 WHERE org_id = $1")
            .bind(org.to_string())
            .bind(EVENTS)
            .bind(prev.to_vec())
            .bind(key.seal(org, EVENTS, &prev))
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        conn.execute("DROP TRIGGER audit_events_no_delete; DROP TRIGGER audit_events_no_update")
            .await
            .unwrap();
        (dir, store, org, conn)
    }

    async fn delete(conn: &mut SqliteConnection, org: OrgId, seq: i64) {
        sqlx::query("DELETE FROM audit_events WHERE org_id = $1 AND seq = $2")
            .bind(org.to_string())
            .bind(seq)
            .execute(conn)
            .await
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_split_chain_verifies_and_breaks_where_one_pass_would() {
        let (_dir, store, org, mut conn) = long_chain().await;
        match store.verify_audit_as_operator(org).await.unwrap() {
            Verification::Intact { events, .. } => assert_eq!(events, EVENTS),
            other => panic!("{other:?}"),
        }
        // An edit in the second half (a range of its own on two cores).
        sqlx::query("UPDATE audit_events SET action = 'x' WHERE org_id = $1 AND seq = 40000")
            .bind(org.to_string())
            .execute(&mut conn)
            .await
            .unwrap();
        assert_eq!(
            store.verify_audit_as_operator(org).await.unwrap(),
            Verification::Broken(ChainBreak::HashMismatch { seq: 40_000 })
        );
        // The last event of the first half gone: the second half has no anchor, the pass a gap.
        delete(&mut conn, org, EVENTS / 2).await;
        assert_eq!(
            store.verify_audit_as_operator(org).await.unwrap(),
            Verification::Broken(ChainBreak::Gap {
                seq: EVENTS / 2,
                found: EVENTS / 2 + 1
            })
        );
        // An earlier break is named first, whichever range finished first.
        delete(&mut conn, org, 100).await;
        assert_eq!(
            store.verify_audit_as_operator(org).await.unwrap(),
            Verification::Broken(ChainBreak::Gap {
                seq: 100,
                found: 101
            })
        );
    }
}
