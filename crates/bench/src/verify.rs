//! Audit verification throughput: one org's chain of N events on SQLite, verified by the store
//! (`verify_audit_as_operator`) and by the real `labledger audit verify`, beside same-run
//! baselines: a bare row scan (every column read, nothing hashed) and `openssl dgst -sha256` over
//! the very bytes verification hashes. With `--pg`, the same chain is copied into a throwaway
//! PostgreSQL cluster (default, durable settings) and measured the same way there.

use crate::append::{self, Stop};
use crate::args::Flags;
use crate::stats::{self, median};
use anyhow::{bail, Context};
use futures::TryStreamExt;
use labledger_domain::audit::EventColumns;
use labledger_domain::OrgId;
use labledger_store::{HeadSealKey, SqliteSync, Store, StoreOptions, Verification};
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Row};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const EVENT_COLUMNS: &str =
    "seq, at, actor_type, actor_id, action, target_type, target_id, changes, request_id, source_ip, hash";

pub(crate) async fn run(flags: &Flags) -> anyhow::Result<()> {
    flags.only(&[
        "events",
        "data-dir",
        "fill-concurrency",
        "fill-roles",
        "cli",
        "runs",
        "pg",
        "pg-port",
    ])?;
    let events: i64 = flags.num_or("events", 1_000_000)?;
    let runs: usize = flags.num_or("runs", 3)?;
    let mut _tmp = None;
    let dir: PathBuf = match flags.get("data-dir") {
        Some(d) => PathBuf::from(d),
        None => {
            let t = tempfile::Builder::new()
                .prefix("labbench-verify.")
                .tempdir()?;
            let p = t.path().to_owned();
            _tmp = Some(t);
            p
        }
    };
    std::fs::create_dir_all(&dir)?;
    let url = labledger_store::sqlite_url_for_data_dir(&dir);

    let seal = data_dir_seal(&dir)?;
    let org = fill(&url, events, flags, &seal).await?;
    let db_bytes = std::fs::metadata(dir.join("labledger.db"))
        .map(|m| m.len())
        .unwrap_or(0)
        + std::fs::metadata(dir.join("labledger.db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    println!(
        "verify: one org, {events} events, SQLite database {:.0} MiB in {} (files in the OS page cache)",
        db_bytes as f64 / (1024.0 * 1024.0),
        dir.display()
    );

    println!("SQLite:");
    let sqlite_path = dir.join("labledger.db");
    measure_store(&url, &seal, org, events, runs).await?;
    measure_cli(flags, &dir, None, events, runs)?;
    sqlite_baselines(&sqlite_path, org, events, runs, &dir)?;
    any_baseline(&url, org, events, runs).await?;

    if flags.str_or("pg", "off") == "on" {
        let cluster = crate::pg::Cluster::start(flags.num_or("pg-port", 54402)?)?;
        let pg_url = cluster.url.clone();
        copy_to_postgres(&sqlite_path, &pg_url, &seal, org).await?;
        println!(
            "PostgreSQL (throwaway cluster, {}):",
            crate::pg::durability(&pg_url).await?
        );
        measure_store(&pg_url, &seal, org, events, runs).await?;
        measure_cli(flags, &dir, Some(&pg_url), events, runs)?;
        postgres_baseline(&pg_url, org, events, runs).await?;
        any_baseline(&pg_url, org, events, runs).await?;
    }
    Ok(())
}

/// The store, opened afresh as `labledger audit verify` does, verifying `runs` times.
async fn measure_store(
    url: &str,
    seal: &HeadSealKey,
    org: OrgId,
    events: i64,
    runs: usize,
) -> anyhow::Result<()> {
    let store = Store::open(
        url,
        StoreOptions {
            head_seal: Some(seal.clone()),
            ..StoreOptions::default()
        },
    )
    .await?;
    let mut times = Vec::new();
    for _ in 0..runs {
        let t0 = Instant::now();
        match store.verify_audit_as_operator(org).await? {
            Verification::Intact { events: n, .. } if n == events => {}
            Verification::Intact { events: n, .. } => {
                bail!("verified {n} events, expected {events}")
            }
            Verification::Broken(b) => bail!("chain broken: {b}"),
        }
        times.push(t0.elapsed());
    }
    drop(store);
    report("store.verify_audit_as_operator", events, &times);
    Ok(())
}

/// The whole `labledger audit verify --data-dir DIR` process (PostgreSQL: with its URL).
fn measure_cli(
    flags: &Flags,
    dir: &Path,
    pg_url: Option<&str>,
    events: i64,
    runs: usize,
) -> anyhow::Result<()> {
    let cli = match crate::cli_path(flags) {
        Ok(cli) => cli,
        Err(e) => {
            println!("  labledger audit verify: skipped ({e:#})");
            return Ok(());
        }
    };
    let mut times = Vec::new();
    let mut said = String::new();
    for _ in 0..runs {
        let mut cmd = std::process::Command::new(&cli);
        cmd.args(["audit", "verify", "--data-dir"]).arg(dir);
        match pg_url {
            Some(u) => cmd.env("LABLEDGER_DATABASE_URL", u),
            None => cmd.env_remove("LABLEDGER_DATABASE_URL"),
        };
        let t0 = Instant::now();
        let out = cmd.output().context("running labledger audit verify")?;
        times.push(t0.elapsed());
        if !out.status.success() {
            bail!(
                "labledger audit verify failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        said = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    }
    report(
        "labledger audit verify (wall, whole process)",
        events,
        &times,
    );
    println!("    it said: {said}");
    Ok(())
}

fn report(what: &str, events: i64, times: &[Duration]) {
    let m = median(times.to_vec());
    let all: Vec<String> = times
        .iter()
        .map(|t| format!("{:.3}", t.as_secs_f64()))
        .collect();
    println!(
        "  {what}: median {:.3} s of [{}] s = {:.0} events/s",
        m.as_secs_f64(),
        all.join(", "),
        events as f64 / m.as_secs_f64()
    );
}

/// Makes sure the data dir holds one org whose chain has exactly `events` events, appending
/// through the store (concurrent `update_role` calls, group-committed) until it does.
/// The data dir's master key (made on first use, as `labledger serve` does), so that
/// `labledger audit verify --data-dir` checks the heads this benchmark sealed.
fn data_dir_seal(dir: &std::path::Path) -> anyhow::Result<HeadSealKey> {
    let path = dir.join("master.key");
    let key: [u8; 32] = match std::fs::read(&path) {
        Ok(bytes) => bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("{} must hold 32 bytes", path.display()))?,
        Err(_) => {
            // A benchmark database: a fixed key is as good as any.
            let key = [0x42; 32];
            std::fs::write(&path, key)?;
            key
        }
    };
    Ok(HeadSealKey::from_master(&key))
}

async fn fill(url: &str, events: i64, flags: &Flags, seal: &HeadSealKey) -> anyhow::Result<OrgId> {
    let concurrency: usize = flags.num_or("fill-concurrency", 256)?;
    let roles: usize = flags.num_or("fill-roles", 4)?;
    // Filling is set-up, not the measured figure: synchronous=NORMAL makes it faster and
    // writes exactly the same chain.
    let store = Store::open(
        url,
        StoreOptions {
            sqlite_sync: SqliteSync::Normal,
            max_connections: 0,
            head_seal: Some(seal.clone()),
            ..StoreOptions::default()
        },
    )
    .await?;
    let orgs = store.list_orgs().await?;
    let org = match orgs.as_slice() {
        [] => None,
        [one] => Some(one.id),
        _ => bail!(
            "the data dir holds {} orgs; give an empty or benchmark-made one",
            orgs.len()
        ),
    };
    let have = match org {
        Some(org) => match store.verify_audit_as_operator(org).await? {
            Verification::Intact { events, .. } => events,
            Verification::Broken(b) => bail!("existing chain is broken: {b}"),
        },
        None => 0,
    };
    if let Some(org) = org {
        if have == events {
            println!("verify: reusing the chain of {have} events already in the data dir");
            return Ok(org);
        }
    }
    if org.is_some() {
        bail!("the data dir already holds a chain of {have} events (not {events}); give another --data-dir");
    }
    // Org creation appends 2 events and each role 1: the rest are role updates.
    let targets = append::setup(&store, 1, roles).await?;
    let org = targets.first().context("no org")?.scope.org_id();
    let rest = events - 2 - roles as i64;
    if rest < 0 {
        bail!("--events must be at least {}", 2 + roles);
    }
    let batches = stats::batches();
    batches.take();
    eprintln!("filling: {rest} role updates through the store (synchronous=NORMAL), {concurrency} concurrent writers on {roles} roles");
    let run = append::drive(
        &store,
        &targets,
        append::Op::Role,
        concurrency,
        Stop::Events(rest as u64),
        true,
    )
    .await?;
    let (commits, jobs, _) = batches.take();
    println!(
        "verify: filled {} events in {:.1} s ({:.0} events/s through the store with synchronous=NORMAL, {:.0} jobs per group commit)",
        run.events + 2 + roles as u64,
        run.wall.as_secs_f64(),
        run.rate(),
        jobs as f64 / commits.max(1) as f64
    );
    Ok(org)
}

fn check_count(n: i64, events: i64) -> anyhow::Result<()> {
    if n != events {
        bail!("read {n} rows, expected {events}");
    }
    Ok(())
}

fn select(org_param: &str) -> String {
    format!("SELECT {EVENT_COLUMNS} FROM audit_events WHERE org_id = {org_param} ORDER BY seq")
}

/// Same run, same data: reading every column of every row on one thread without hashing, and
/// `openssl dgst -sha256` over the bytes verification hashes (each event's 32-byte link to the
/// one before and its canonical text), written to a file in the page cache.
fn sqlite_baselines(
    db: &Path,
    org: OrgId,
    events: i64,
    runs: usize,
    dir: &Path,
) -> anyhow::Result<()> {
    let org_text = org.to_string();
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut stmt = conn.prepare(&select("?1"))?;
    let mut scans = Vec::new();
    for _ in 0..runs {
        let t0 = Instant::now();
        let mut n = 0i64;
        let mut rows = stmt.query([&org_text])?;
        while let Some(r) = rows.next()? {
            for i in 0..11 {
                std::hint::black_box(r.get_ref(i)?);
            }
            n += 1;
        }
        scans.push(t0.elapsed());
        check_count(n, events)?;
    }
    report(
        "baseline: bare row scan, rusqlite, 1 thread",
        events,
        &scans,
    );

    let hashed = dir.join("verify-hashed-bytes.bin");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&hashed)?);
    let mut canonical = String::new();
    let mut rows = stmt.query([&org_text])?;
    while let Some(r) = rows.next()? {
        let text = |i: usize| -> anyhow::Result<&str> { Ok(r.get_ref(i)?.as_str()?) };
        let opt =
            |i: usize| -> anyhow::Result<Option<&str>> { Ok(r.get_ref(i)?.as_str_or_null()?) };
        EventColumns {
            org_id: &org_text,
            seq: r.get(0)?,
            at: r.get(1)?,
            actor_type: text(2)?,
            actor_id: opt(3)?,
            action: text(4)?,
            target_type: text(5)?,
            target_id: opt(6)?,
            changes: text(7)?,
            request_id: opt(8)?,
            source_ip: opt(9)?,
        }
        .write_canonical(&mut canonical);
        file.write_all(&[0u8; 32])?;
        file.write_all(canonical.as_bytes())?;
    }
    file.flush()?;
    drop(file);
    let bytes = std::fs::metadata(&hashed)?.len();
    let mut digests = Vec::new();
    for _ in 0..runs {
        let t0 = Instant::now();
        let out = std::process::Command::new("openssl")
            .args(["dgst", "-sha256"])
            .arg(&hashed)
            .output()
            .context("running openssl")?;
        digests.push(t0.elapsed());
        if !out.status.success() {
            bail!("openssl dgst failed");
        }
    }
    std::fs::remove_file(&hashed)?;
    report(
        &format!(
            "baseline: openssl dgst -sha256 of the hashed bytes ({:.0} MiB, {:.0} B/event)",
            bytes as f64 / (1024.0 * 1024.0),
            bytes as f64 / events.max(1) as f64
        ),
        events,
        &digests,
    );
    Ok(())
}

/// The benchmark chain copied row for row (same org id, hashes and sealed head: the seal is
/// over org, seq and hash under the same key) into a fresh PostgreSQL database.
async fn copy_to_postgres(
    db: &Path,
    pg_url: &str,
    seal: &HeadSealKey,
    org: OrgId,
) -> anyhow::Result<()> {
    let t0 = Instant::now();
    // Migrates the database, as the server would.
    drop(
        Store::open(
            pg_url,
            StoreOptions {
                head_seal: Some(seal.clone()),
                ..StoreOptions::default()
            },
        )
        .await?,
    );
    let org_text = org.to_string();
    let lite =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut pg = PgConnection::connect(pg_url).await?;
    let mut tx = pg.begin().await?;
    let (name, created_at): (String, i64) = lite.query_row(
        "SELECT name, created_at FROM orgs WHERE id = ?1",
        [&org_text],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    sqlx::query("INSERT INTO orgs (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(&org_text)
        .bind(name)
        .bind(created_at)
        .execute(&mut *tx)
        .await?;
    let mut stmt = lite.prepare(&select("?1"))?;
    let mut rows = stmt.query([&org_text])?;
    let mut batch: Vec<Vec<rusqlite::types::Value>> = Vec::with_capacity(1000);
    let mut copied = 0u64;
    loop {
        let row = rows.next()?;
        if let Some(r) = row {
            batch.push((0..11).map(|i| r.get(i)).collect::<rusqlite::Result<_>>()?);
        }
        if batch.len() == 1000 || (row.is_none() && !batch.is_empty()) {
            copied += batch.len() as u64;
            insert_events(&mut tx, &org_text, &batch).await?;
            batch.clear();
        }
        if row.is_none() {
            break;
        }
    }
    let (seq, hash, head_seal): (i64, Vec<u8>, Option<Vec<u8>>) = lite.query_row(
        "SELECT seq, hash, seal FROM audit_heads WHERE org_id = ?1",
        [&org_text],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    sqlx::query("INSERT INTO audit_heads (org_id, seq, hash, seal) VALUES ($1, $2, $3, $4)")
        .bind(&org_text)
        .bind(seq)
        .bind(hash)
        .bind(head_seal)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    sqlx::query("ANALYZE audit_events").execute(&mut pg).await?;
    pg.close().await?;
    println!(
        "verify: copied {copied} events to PostgreSQL in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn insert_events(
    tx: &mut PgConnection,
    org: &str,
    batch: &[Vec<rusqlite::types::Value>],
) -> anyhow::Result<()> {
    use rusqlite::types::Value;
    let mut q = sqlx::QueryBuilder::<sqlx::Postgres>::new(format!(
        "INSERT INTO audit_events (org_id, {EVENT_COLUMNS}) "
    ));
    q.push_values(batch, |mut b, row| {
        b.push_bind(org.to_owned());
        for v in row {
            match v {
                Value::Null => b.push_bind(None::<String>),
                Value::Integer(i) => b.push_bind(*i),
                Value::Real(f) => b.push_bind(*f),
                Value::Text(t) => b.push_bind(t.clone()),
                Value::Blob(bytes) => b.push_bind(bytes.clone()),
            };
        }
    });
    q.build().execute(&mut *tx).await?;
    Ok(())
}

/// Same run, same data: every column of every row fetched over one connection with sqlx's
/// native PostgreSQL driver (borrowed), nothing hashed.
async fn postgres_baseline(
    pg_url: &str,
    org: OrgId,
    events: i64,
    runs: usize,
) -> anyhow::Result<()> {
    let org_text = org.to_string();
    let mut conn = PgConnection::connect(pg_url).await?;
    let sql = select("$1");
    let mut times = Vec::new();
    for _ in 0..runs {
        let t0 = Instant::now();
        let mut n = 0i64;
        let mut rows = sqlx::query(&sql).bind(&org_text).fetch(&mut conn);
        while let Some(r) = rows.try_next().await? {
            std::hint::black_box((
                r.try_get::<i64, _>(0)?,
                r.try_get::<&str, _>(4)?,
                r.try_get::<&str, _>(7)?,
                r.try_get::<&[u8], _>(10)?,
            ));
            n += 1;
        }
        drop(rows);
        times.push(t0.elapsed());
        check_count(n, events)?;
    }
    conn.close().await?;
    report(
        "baseline: bare row fetch, sqlx PostgreSQL, 1 connection",
        events,
        &times,
    );
    Ok(())
}

/// Same run, same data: every row fetched through sqlx's `Any` driver, the store's general read
/// path (each row converted into owned `Any` values), nothing hashed: what verification cost per
/// row before it read each engine natively.
async fn any_baseline(url: &str, org: OrgId, events: i64, runs: usize) -> anyhow::Result<()> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await?;
    let org_text = org.to_string();
    let sql = select("$1");
    let mut times = Vec::new();
    for _ in 0..runs {
        let t0 = Instant::now();
        let mut n = 0i64;
        let mut rows = sqlx::query(&sql).bind(&org_text).fetch(&pool);
        while let Some(r) = rows.try_next().await? {
            std::hint::black_box((r.try_get::<i64, _>(0)?, r.try_get::<String, _>(7)?));
            n += 1;
        }
        drop(rows);
        times.push(t0.elapsed());
        check_count(n, events)?;
    }
    pool.close().await;
    report(
        "baseline: bare row fetch, sqlx Any driver, 1 connection",
        events,
        &times,
    );
    Ok(())
}
