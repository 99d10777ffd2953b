//! Baselines with nothing of the store in between, on a fresh SQLite WAL database:
//!
//! - `--shape insert` (default): a bare INSERT per job; with `--per-tx 1` that is one
//!   INSERT + COMMIT per transaction, the rate group commit is measured against.
//! - `--shape audit`: the statements the store's SQLite writer runs for one audited
//!   `update_role` job (SAVEPOINT, read the role, UPDATE it, read the chain head, INSERT the event
//!   with SHA-256 link into a table indexed like `audit_events`, UPDATE the head, RELEASE), with
//!   `--per-tx` jobs per COMMIT: what one writer can do at most with a given driver.
//!
//! `--driver sqlx` is the driver the store uses (sqlx-sqlite: each statement is a round trip to
//! the connection's worker thread); `--driver rusqlite` steps SQLite on the calling thread.

use crate::append::parse_sync;
use crate::args::Flags;
use crate::stats::{ms, percentile};
use anyhow::bail;
use labledger_store::SqliteSync;
use sha2::{Digest, Sha256};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Executor, Row};
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Insert,
    Audit,
}

#[derive(Clone, Copy)]
struct Plan {
    shape: Shape,
    sync: SqliteSync,
    per_tx: usize,
    seconds: f64,
}

struct Outcome {
    /// Per-transaction latencies, sorted.
    latencies: Vec<Duration>,
    jobs: u64,
    wall: Duration,
}

const SCHEMA: &str = "
CREATE TABLE t (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, v TEXT NOT NULL);
CREATE TABLE roles (org_id TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL,
    permissions TEXT NOT NULL, PRIMARY KEY (org_id, id));
CREATE TABLE audit_heads (org_id TEXT PRIMARY KEY, seq BIGINT NOT NULL, hash BLOB NOT NULL);
CREATE TABLE audit_events (org_id TEXT NOT NULL, seq BIGINT NOT NULL, at BIGINT NOT NULL, actor_type TEXT NOT NULL,
    actor_id TEXT, action TEXT NOT NULL, target_type TEXT NOT NULL, target_id TEXT, changes TEXT NOT NULL,
    request_id TEXT, source_ip TEXT, hash BLOB NOT NULL, PRIMARY KEY (org_id, seq));
CREATE INDEX audit_events_action ON audit_events (org_id, action, seq);
CREATE INDEX audit_events_actor ON audit_events (org_id, actor_id, seq);
CREATE INDEX audit_events_target ON audit_events (org_id, target_type, target_id, seq);
CREATE INDEX audit_events_at ON audit_events (org_id, at);
INSERT INTO roles VALUES ('0193a5c2-0000-7000-8000-000000000001', '0193a5c2-0000-7000-8000-000000000002', 'bench', 'rev 0', '');
INSERT INTO audit_heads VALUES ('0193a5c2-0000-7000-8000-000000000001', 0, zeroblob(32));
";
const ORG: &str = "0193a5c2-0000-7000-8000-000000000001";
const ROLE: &str = "0193a5c2-0000-7000-8000-000000000002";
const ACTOR: &str = "0193a5c2-0000-7000-8000-000000000003";
const PAYLOAD: &str = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

/// The event's link, over a canonical-sized text, so the CPU of hashing is in the figure.
fn link(prev: &[u8], seq: i64, at: i64, changes: &str) -> Vec<u8> {
    let canonical = format!(
        "{{\"action\":\"role.update\",\"actor_id\":\"{ACTOR}\",\"actor_type\":\"user\",\"at\":{at},\"changes\":{changes},\
         \"org_id\":\"{ORG}\",\"request_id\":null,\"seq\":{seq},\"source_ip\":null,\"target_id\":\"{ROLE}\",\"target_type\":\"role\"}}"
    );
    let mut h = Sha256::new();
    h.update(prev);
    h.update(canonical.as_bytes());
    h.finalize().to_vec()
}

fn changes(before: &str, after: &str) -> String {
    format!("{{\"description\":{{\"after\":\"{after}\",\"before\":\"{before}\"}}}}")
}

pub(crate) async fn run(flags: &Flags) -> anyhow::Result<()> {
    flags.only(&["seconds", "sync", "per-tx", "driver", "shape"])?;
    let plan = Plan {
        seconds: flags.num_or("seconds", 10.0)?,
        per_tx: flags.num_or::<usize>("per-tx", 1)?.max(1),
        sync: parse_sync(flags.str_or("sync", "full"))?,
        shape: match flags.str_or("shape", "insert") {
            "insert" => Shape::Insert,
            "audit" => Shape::Audit,
            other => bail!("--shape must be insert or audit, not `{other}`"),
        },
    };
    let driver = flags.str_or("driver", "sqlx").to_owned();
    let dir = tempfile::Builder::new().prefix("labbench-raw.").tempdir()?;
    let db = dir.path().join("raw.db");
    let out = match driver.as_str() {
        "sqlx" => with_sqlx(&db, plan).await?,
        "rusqlite" => {
            let db = db.clone();
            tokio::task::spawn_blocking(move || with_rusqlite(&db, plan)).await??
        }
        other => bail!("--driver must be sqlx or rusqlite, not `{other}`"),
    };
    let what = match plan.shape {
        Shape::Insert => "INSERT(s)",
        Shape::Audit => "audited update job(s) (7 statements each)",
    };
    println!(
        "raw-sqlite: driver={driver}, WAL, synchronous={:?}, {} {what} per transaction, {} s",
        plan.sync, plan.per_tx, plan.seconds
    );
    let secs = out.wall.as_secs_f64();
    println!(
        "  {} transactions = {:.0} commits/s, {:.0} jobs/s; transaction latency p50 {} p99 {}",
        out.latencies.len(),
        out.latencies.len() as f64 / secs,
        out.jobs as f64 / secs,
        ms(percentile(&out.latencies, 50.0)),
        ms(percentile(&out.latencies, 99.0)),
    );
    Ok(())
}

async fn with_sqlx(db: &Path, plan: Plan) -> anyhow::Result<Outcome> {
    let mut conn = SqliteConnectOptions::new()
        .filename(db)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(match plan.sync {
            SqliteSync::Full => SqliteSynchronous::Full,
            SqliteSync::Normal => SqliteSynchronous::Normal,
        })
        .pragma("wal_autocheckpoint", "4000")
        .disable_statement_logging()
        .connect()
        .await?;
    conn.execute(SCHEMA).await?;
    let mut latencies = Vec::new();
    let mut jobs = 0u64;
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(plan.seconds);
    while Instant::now() < deadline {
        let t0 = Instant::now();
        conn.execute("BEGIN IMMEDIATE").await?;
        for _ in 0..plan.per_tx {
            jobs += 1;
            let n = jobs as i64;
            match plan.shape {
                Shape::Insert => {
                    sqlx::query("INSERT INTO t (at, v) VALUES (?, ?)")
                        .bind(n)
                        .bind(PAYLOAD)
                        .execute(&mut conn)
                        .await?;
                }
                Shape::Audit => {
                    conn.execute("SAVEPOINT job").await?;
                    let role = sqlx::query("SELECT name, description, permissions FROM roles WHERE org_id = ? AND id = ?")
                        .bind(ORG)
                        .bind(ROLE)
                        .fetch_one(&mut conn)
                        .await?;
                    let before: String = role.try_get("description")?;
                    let after = format!("rev {n}");
                    sqlx::query("UPDATE roles SET description = ? WHERE org_id = ? AND id = ?")
                        .bind(&after)
                        .bind(ORG)
                        .bind(ROLE)
                        .execute(&mut conn)
                        .await?;
                    let head = sqlx::query("SELECT seq, hash FROM audit_heads WHERE org_id = ?")
                        .bind(ORG)
                        .fetch_one(&mut conn)
                        .await?;
                    let seq: i64 = head.try_get::<i64, _>("seq")? + 1;
                    let prev: Vec<u8> = head.try_get("hash")?;
                    let changes = changes(&before, &after);
                    let hash = link(&prev, seq, n, &changes);
                    sqlx::query(
                        "INSERT INTO audit_events (org_id, seq, at, actor_type, actor_id, action, target_type, target_id, \
                         changes, request_id, source_ip, hash) VALUES (?, ?, ?, 'user', ?, 'role.update', 'role', ?, ?, NULL, NULL, ?)",
                    )
                    .bind(ORG)
                    .bind(seq)
                    .bind(n)
                    .bind(ACTOR)
                    .bind(ROLE)
                    .bind(&changes)
                    .bind(&hash)
                    .execute(&mut conn)
                    .await?;
                    sqlx::query("UPDATE audit_heads SET seq = ?, hash = ? WHERE org_id = ?")
                        .bind(seq)
                        .bind(&hash)
                        .bind(ORG)
                        .execute(&mut conn)
                        .await?;
                    conn.execute("RELEASE job").await?;
                }
            }
        }
        conn.execute("COMMIT").await?;
        latencies.push(t0.elapsed());
    }
    let wall = started.elapsed();
    conn.close().await?;
    latencies.sort();
    Ok(Outcome {
        latencies,
        jobs,
        wall,
    })
}

fn with_rusqlite(db: &Path, plan: Plan) -> anyhow::Result<Outcome> {
    let conn = rusqlite::Connection::open(db)?;
    let sync = match plan.sync {
        SqliteSync::Full => "FULL",
        SqliteSync::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; PRAGMA wal_autocheckpoint = 4000;"
    ))?;
    conn.execute_batch(SCHEMA)?;
    let mut latencies = Vec::new();
    let mut jobs = 0u64;
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(plan.seconds);
    while Instant::now() < deadline {
        let t0 = Instant::now();
        conn.execute_batch("BEGIN IMMEDIATE")?;
        for _ in 0..plan.per_tx {
            jobs += 1;
            let n = jobs as i64;
            match plan.shape {
                Shape::Insert => {
                    conn.prepare_cached("INSERT INTO t (at, v) VALUES (?, ?)")?
                        .execute(rusqlite::params![n, PAYLOAD])?;
                }
                Shape::Audit => {
                    conn.execute_batch("SAVEPOINT job")?;
                    let before: String = conn
                        .prepare_cached("SELECT name, description, permissions FROM roles WHERE org_id = ? AND id = ?")?
                        .query_row(rusqlite::params![ORG, ROLE], |r| r.get(1))?;
                    let after = format!("rev {n}");
                    conn.prepare_cached(
                        "UPDATE roles SET description = ? WHERE org_id = ? AND id = ?",
                    )?
                    .execute(rusqlite::params![after, ORG, ROLE])?;
                    let (seq, prev): (i64, Vec<u8>) = conn
                        .prepare_cached("SELECT seq, hash FROM audit_heads WHERE org_id = ?")?
                        .query_row([ORG], |r| Ok((r.get(0)?, r.get(1)?)))?;
                    let seq = seq + 1;
                    let changes = changes(&before, &after);
                    let hash = link(&prev, seq, n, &changes);
                    conn.prepare_cached(
                        "INSERT INTO audit_events (org_id, seq, at, actor_type, actor_id, action, target_type, target_id, \
                         changes, request_id, source_ip, hash) VALUES (?, ?, ?, 'user', ?, 'role.update', 'role', ?, ?, NULL, NULL, ?)",
                    )?
                    .execute(rusqlite::params![ORG, seq, n, ACTOR, ROLE, changes, hash])?;
                    conn.prepare_cached(
                        "UPDATE audit_heads SET seq = ?, hash = ? WHERE org_id = ?",
                    )?
                    .execute(rusqlite::params![seq, hash, ORG])?;
                    conn.execute_batch("RELEASE job")?;
                }
            }
        }
        conn.execute_batch("COMMIT")?;
        latencies.push(t0.elapsed());
    }
    let wall = started.elapsed();
    latencies.sort();
    Ok(Outcome {
        latencies,
        jobs,
        wall,
    })
}
