//! Audit verification throughput: one org's chain of N events on SQLite, verified by the store
//! (`verify_audit_as_operator`) and by the real `labledger audit verify`, then taken apart:
//! row fetch alone (through sqlx's Any driver, as the store reads, and through the native SQLite
//! driver), and the CPU work per event (decode, canonical JSON, SHA-256) on an in-memory sample.

use crate::append::{self, Stop};
use crate::args::Flags;
use crate::stats::{self, median};
use anyhow::{bail, Context};
use futures::TryStreamExt;
use labledger_domain::audit::{ActorKind, AuditEvent, ChainVerifier, Hash, GENESIS_HASH};
use labledger_domain::{OrgId, Timestamp};
use labledger_store::{HeadSealKey, SqliteSync, Store, StoreOptions, Verification};
use sha2::{Digest, Sha256};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Row};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const EVENT_COLUMNS: &str =
    "org_id, seq, at, actor_type, actor_id, action, target_type, target_id, changes, request_id, source_ip, hash";

pub(crate) async fn run(flags: &Flags) -> anyhow::Result<()> {
    flags.only(&[
        "events",
        "data-dir",
        "fill-concurrency",
        "fill-roles",
        "cli",
        "sample",
        "runs",
    ])?;
    let events: i64 = flags.num_or("events", 1_000_000)?;
    let runs: usize = flags.num_or("runs", 3)?;
    let sample: usize = flags.num_or("sample", 100_000)?;
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

    // The store, opened afresh as `labledger audit verify` does.
    let store = Store::open(
        &url,
        StoreOptions {
            head_seal: Some(seal),
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

    match crate::cli_path(flags) {
        Ok(cli) => {
            let mut times = Vec::new();
            let mut said = String::new();
            for _ in 0..runs {
                let t0 = Instant::now();
                let out = std::process::Command::new(&cli)
                    .args(["audit", "verify", "--data-dir"])
                    .arg(&dir)
                    .env_remove("LABLEDGER_DATABASE_URL")
                    .output()
                    .context("running labledger audit verify")?;
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
        }
        Err(e) => println!("  labledger audit verify: skipped ({e:#})"),
    }

    breakdown(&url, org, events, sample, runs).await
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

/// One row as stored, columns owned.
struct RawRow {
    org_id: String,
    seq: i64,
    at: i64,
    actor_type: String,
    actor_id: Option<String>,
    action: String,
    target_type: String,
    target_id: Option<String>,
    changes: String,
    request_id: Option<String>,
    source_ip: Option<String>,
    hash: Vec<u8>,
}

fn raw_row<R: Row>(r: &R) -> anyhow::Result<RawRow>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Vec<u8>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(RawRow {
        org_id: r.try_get("org_id")?,
        seq: r.try_get("seq")?,
        at: r.try_get("at")?,
        actor_type: r.try_get("actor_type")?,
        actor_id: r.try_get("actor_id")?,
        action: r.try_get("action")?,
        target_type: r.try_get("target_type")?,
        target_id: r.try_get("target_id")?,
        changes: r.try_get("changes")?,
        request_id: r.try_get("request_id")?,
        source_ip: r.try_get("source_ip")?,
        hash: r.try_get("hash")?,
    })
}

fn decode(raw: &RawRow) -> anyhow::Result<AuditEvent> {
    Ok(AuditEvent {
        org_id: raw.org_id.parse()?,
        seq: raw.seq,
        at: Timestamp::from_micros(raw.at),
        actor_kind: ActorKind::parse(&raw.actor_type).context("actor type")?,
        actor_id: raw.actor_id.clone(),
        action: raw.action.clone(),
        target_type: raw.target_type.clone(),
        target_id: raw.target_id.clone(),
        changes: serde_json::from_str(&raw.changes)?,
        request_id: raw.request_id.clone(),
        source_ip: raw.source_ip.clone(),
    })
}

fn timed<T>(f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<(T, Duration)> {
    let t0 = Instant::now();
    let v = f()?;
    Ok((v, t0.elapsed()))
}

fn per_event(what: &str, n: usize, d: Duration) {
    let ns = d.as_nanos() as f64 / n.max(1) as f64;
    println!(
        "    {what:<46} {ns:>7.0} ns/event = {:>9.0} events/s",
        1e9 / ns
    );
}

async fn breakdown(
    url: &str,
    org: OrgId,
    events: i64,
    sample: usize,
    runs: usize,
) -> anyhow::Result<()> {
    let org_text = org.to_string();
    let sql = format!("SELECT {EVENT_COLUMNS} FROM audit_events WHERE org_id = $1 ORDER BY seq");
    println!("  where the time goes (whole chain, median of {runs}):");

    // The store's read path: sqlx's Any driver over SQLite.
    sqlx::any::install_default_drivers();
    let any = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await?;
    let mut fetch_any = Vec::new();
    let mut fetch_any_get = Vec::new();
    for _ in 0..runs {
        let t0 = Instant::now();
        let mut n = 0i64;
        let mut rows = sqlx::query(&sql).bind(&org_text).fetch(&any);
        while rows.try_next().await?.is_some() {
            n += 1;
        }
        fetch_any.push(t0.elapsed());
        check_count(n, events)?;
        let t0 = Instant::now();
        let mut rows = sqlx::query(&sql).bind(&org_text).fetch(&any);
        while let Some(row) = rows.try_next().await? {
            std::hint::black_box(raw_row(&row)?);
        }
        fetch_any_get.push(t0.elapsed());
    }
    any.close().await;
    rate(
        "row fetch only, Any driver (the store's path)",
        events,
        &fetch_any,
    );
    rate(
        "row fetch + column copy, Any driver",
        events,
        &fetch_any_get,
    );

    // The native SQLite driver, same query, no Any conversion.
    let mut native = SqliteConnectOptions::new()
        .filename(sqlite_path(url)?)
        .read_only(true)
        .disable_statement_logging()
        .connect()
        .await?;
    let mut fetch_native = Vec::new();
    let mut fast_verify = Vec::new();
    for _ in 0..runs {
        let t0 = Instant::now();
        let mut rows = sqlx::query(&sql).bind(&org_text).fetch(&mut native);
        while let Some(row) = rows.try_next().await? {
            std::hint::black_box(raw_row(&row)?);
        }
        drop(rows);
        fetch_native.push(t0.elapsed());
        // A verifier that writes each event's canonical form straight from the stored columns
        // (the stored `changes` text is already canonical) into one reused buffer.
        let t0 = Instant::now();
        let mut chain = DirectChain::new();
        let mut rows = sqlx::query(&sql).bind(&org_text).fetch(&mut native);
        while let Some(row) = rows.try_next().await? {
            chain.feed(&raw_row(&row)?.as_ref())?;
        }
        drop(rows);
        fast_verify.push(t0.elapsed());
        check_count(chain.next_seq - 1, events)?;
    }
    rate(
        "row fetch + column copy, native SQLite driver",
        events,
        &fetch_native,
    );
    rate(
        "prototype: native fetch + direct canonical hash",
        events,
        &fast_verify,
    );

    // rusqlite: SQLite stepped on the calling thread, rows borrowed in place.
    let db = sqlite_path(url)?.to_owned();
    let mut scan = Vec::new();
    let mut scan_hash = Vec::new();
    let mut parallel = Vec::new();
    for _ in 0..runs {
        let (path, org) = (db.clone(), org_text.clone());
        let (n, t) = tokio::task::spawn_blocking(move || {
            timed(|| {
                rusqlite_scan(&path, &org, |e| {
                    std::hint::black_box(e);
                    Ok(())
                })
            })
        })
        .await??;
        check_count(n, events)?;
        scan.push(t);
        let (path, org) = (db.clone(), org_text.clone());
        let (n, t) = tokio::task::spawn_blocking(move || {
            timed(|| {
                let mut chain = DirectChain::new();
                rusqlite_scan(&path, &org, |e| chain.feed(e))
            })
        })
        .await??;
        check_count(n, events)?;
        scan_hash.push(t);
        let (path, org) = (db.clone(), org_text.clone());
        let (n, t) = tokio::task::spawn_blocking(move || {
            timed(|| rusqlite_parallel(&path, &org, events, 2))
        })
        .await??;
        check_count(n, events)?;
        parallel.push(t);
    }
    rate("row fetch, rusqlite (borrowed, one thread)", events, &scan);
    rate(
        "prototype: rusqlite fetch + direct hash, 1 thread",
        events,
        &scan_hash,
    );
    rate(
        "prototype: rusqlite + direct hash, 2 ranges in parallel",
        events,
        &parallel,
    );

    // CPU per event, on an in-memory sample (no I/O, no driver).
    let mut rows_mem = Vec::with_capacity(sample);
    {
        let limited = format!("{sql} LIMIT {sample}");
        let mut rows = sqlx::query(&limited).bind(&org_text).fetch(&mut native);
        while let Some(row) = rows.try_next().await? {
            rows_mem.push(raw_row(&row)?);
        }
    }
    native.close().await?;
    let n = rows_mem.len();
    println!("  CPU per event on an in-memory sample of {n} events (one core):");
    let (decoded, t_decode) = timed(|| {
        rows_mem
            .iter()
            .map(decode)
            .collect::<anyhow::Result<Vec<_>>>()
    })?;
    per_event("decode row -> AuditEvent (incl. JSON parse)", n, t_decode);
    let (canon, t_canon) = timed(|| {
        Ok(decoded
            .iter()
            .map(AuditEvent::canonical)
            .collect::<Vec<_>>())
    })?;
    per_event("AuditEvent::canonical (json! + JCS)", n, t_canon);
    let (_, t_sha) = timed(|| {
        let mut prev: Hash = GENESIS_HASH;
        for c in &canon {
            let mut h = Sha256::new();
            h.update(prev);
            h.update(c.as_bytes());
            prev = h.finalize().into();
        }
        Ok(prev)
    })?;
    per_event("SHA-256 of prev hash + canonical bytes", n, t_sha);
    let (_, t_feed) = timed(|| {
        let mut v = ChainVerifier::new();
        for (e, raw) in decoded.iter().zip(&rows_mem) {
            v.feed(e, &raw.hash).map_err(|b| anyhow::anyhow!("{b}"))?;
        }
        Ok(())
    })?;
    per_event("ChainVerifier::feed (canonical + SHA-256)", n, t_feed);
    let (_, t_direct) = timed(|| {
        let mut chain = DirectChain::new();
        for raw in &rows_mem {
            chain.feed(&raw.as_ref())?;
        }
        Ok(())
    })?;
    per_event("prototype direct canonical hash (no decode)", n, t_direct);
    let avg_canon = canon.iter().map(String::len).sum::<usize>() as f64 / n.max(1) as f64;
    println!("    (canonical event: {avg_canon:.0} bytes on average)");
    Ok(())
}

fn check_count(n: i64, events: i64) -> anyhow::Result<()> {
    if n != events {
        bail!("read {n} rows, expected {events}");
    }
    Ok(())
}

fn rate(what: &str, events: i64, times: &[Duration]) {
    let m = median(times.to_vec());
    println!(
        "    {what:<58} {:>7.3} s = {:>9.0} events/s",
        m.as_secs_f64(),
        events as f64 / m.as_secs_f64()
    );
}

fn sqlite_path(url: &str) -> anyhow::Result<&Path> {
    let rest = url
        .strip_prefix("sqlite://")
        .context("not a sqlite:// URL")?;
    Ok(Path::new(rest.split('?').next().unwrap_or(rest)))
}

/// One stored event, borrowed from wherever the row lives.
struct EventRef<'a> {
    org_id: &'a str,
    seq: i64,
    at: i64,
    actor_type: &'a str,
    actor_id: Option<&'a str>,
    action: &'a str,
    target_type: &'a str,
    target_id: Option<&'a str>,
    changes: &'a str,
    request_id: Option<&'a str>,
    source_ip: Option<&'a str>,
    hash: &'a [u8],
}

impl RawRow {
    fn as_ref(&self) -> EventRef<'_> {
        EventRef {
            org_id: &self.org_id,
            seq: self.seq,
            at: self.at,
            actor_type: &self.actor_type,
            actor_id: self.actor_id.as_deref(),
            action: &self.action,
            target_type: &self.target_type,
            target_id: self.target_id.as_deref(),
            changes: &self.changes,
            request_id: self.request_id.as_deref(),
            source_ip: self.source_ip.as_deref(),
            hash: &self.hash,
        }
    }
}

/// The chain recomputed from stored columns without building a JSON value: the canonical
/// (RFC 8785) object is written field by field in sorted key order into one reused buffer,
/// splicing in the stored `changes` text, which the store wrote canonicalized. A non-canonical
/// `changes` text can only mean the row was altered, and then the hash does not match either.
struct DirectChain {
    next_seq: i64,
    prev: Hash,
    buf: String,
}

impl DirectChain {
    fn new() -> Self {
        Self {
            next_seq: 1,
            prev: GENESIS_HASH,
            buf: String::with_capacity(1024),
        }
    }

    fn feed(&mut self, r: &EventRef<'_>) -> anyhow::Result<()> {
        if r.seq != self.next_seq {
            bail!("gap at {}", self.next_seq);
        }
        let b = &mut self.buf;
        b.clear();
        b.push_str("{\"action\":");
        json_str(b, r.action);
        b.push_str(",\"actor_id\":");
        json_opt(b, r.actor_id);
        b.push_str(",\"actor_type\":");
        json_str(b, r.actor_type);
        b.push_str(",\"at\":");
        push_int(b, r.at);
        b.push_str(",\"changes\":");
        b.push_str(r.changes);
        b.push_str(",\"org_id\":");
        json_str(b, r.org_id);
        b.push_str(",\"request_id\":");
        json_opt(b, r.request_id);
        b.push_str(",\"seq\":");
        push_int(b, r.seq);
        b.push_str(",\"source_ip\":");
        json_opt(b, r.source_ip);
        b.push_str(",\"target_id\":");
        json_opt(b, r.target_id);
        b.push_str(",\"target_type\":");
        json_str(b, r.target_type);
        b.push('}');
        let mut h = Sha256::new();
        h.update(self.prev);
        h.update(b.as_bytes());
        let hash: Hash = h.finalize().into();
        if hash.as_slice() != r.hash {
            bail!(
                "hash mismatch at {} (the direct canonical form differs from the store's)",
                r.seq
            );
        }
        self.prev = hash;
        self.next_seq += 1;
        Ok(())
    }
}

/// Decimal digits of an integer without going through `fmt` (JCS prints safe integers plainly).
fn push_int(out: &mut String, n: i64) {
    if n < 0 {
        out.push('-');
    }
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        if let Some(d) = digits.get_mut(i) {
            *d = b'0' + (v % 10) as u8;
        }
        v /= 10;
        if v == 0 || i == 0 {
            break;
        }
    }
    for d in digits.iter().skip(i) {
        out.push(char::from(*d));
    }
}

fn json_opt(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => json_str(out, s),
        None => out.push_str("null"),
    }
}

/// RFC 8785 string form (the same escapes as `labledger_domain::jcs`), copying plain text whole.
fn json_str(out: &mut String, s: &str) {
    out.push('"');
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push_str(s);
    } else {
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{8}' => out.push_str("\\b"),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\u{c}' => out.push_str("\\f"),
                '\r' => out.push_str("\\r"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
    }
    out.push('"');
}

/// Reads the org's events with rusqlite on the calling thread, handing each borrowed row to `f`.
fn rusqlite_scan(
    db: &Path,
    org: &str,
    f: impl FnMut(&EventRef<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<i64> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    scan_range(&conn, org, 1, i64::MAX, f)
}

fn scan_range(
    conn: &rusqlite::Connection,
    org: &str,
    first: i64,
    last: i64,
    mut f: impl FnMut(&EventRef<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<i64> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {EVENT_COLUMNS} FROM audit_events WHERE org_id = ?1 AND seq >= ?2 AND seq <= ?3 ORDER BY seq"
    ))?;
    let mut rows = stmt.query(rusqlite::params![org, first, last])?;
    let mut n = 0;
    while let Some(r) = rows.next()? {
        let e = EventRef {
            org_id: r.get_ref(0)?.as_str()?,
            seq: r.get(1)?,
            at: r.get(2)?,
            actor_type: r.get_ref(3)?.as_str()?,
            actor_id: r.get_ref(4)?.as_str_or_null()?,
            action: r.get_ref(5)?.as_str()?,
            target_type: r.get_ref(6)?.as_str()?,
            target_id: r.get_ref(7)?.as_str_or_null()?,
            changes: r.get_ref(8)?.as_str()?,
            request_id: r.get_ref(9)?.as_str_or_null()?,
            source_ip: r.get_ref(10)?.as_str_or_null()?,
            hash: r.get_ref(11)?.as_blob()?,
        };
        f(&e)?;
        n += 1;
    }
    Ok(n)
}

/// The links checked in parallel: link n only needs event n and the stored hash of event n-1,
/// so each thread verifies one contiguous range of sequence numbers, starting from the stored
/// hash just before it. All links intact, contiguous from 1, is the same as the chain intact.
fn rusqlite_parallel(db: &Path, org: &str, events: i64, threads: i64) -> anyhow::Result<i64> {
    let per = (events + threads - 1) / threads;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (first, last) = (t * per + 1, ((t + 1) * per).min(events));
                scope.spawn(move || -> anyhow::Result<i64> {
                    let conn = rusqlite::Connection::open_with_flags(
                        db,
                        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                    )?;
                    let prev: Hash = if first == 1 {
                        GENESIS_HASH
                    } else {
                        let stored: Vec<u8> = conn.query_row(
                            "SELECT hash FROM audit_events WHERE org_id = ?1 AND seq = ?2",
                            rusqlite::params![org, first - 1],
                            |r| r.get(0),
                        )?;
                        stored
                            .try_into()
                            .map_err(|_| anyhow::anyhow!("stored hash is not 32 bytes"))?
                    };
                    let mut chain = DirectChain {
                        next_seq: first,
                        prev,
                        buf: String::with_capacity(1024),
                    };
                    let n = scan_range(&conn, org, first, last, |e| chain.feed(e))?;
                    if n != last - first + 1 {
                        bail!("range {first}..={last}: {n} rows");
                    }
                    Ok(n)
                })
            })
            .collect();
        let mut total = 0;
        for h in handles {
            total += h
                .join()
                .map_err(|_| anyhow::anyhow!("verifier thread failed"))??;
        }
        Ok(total)
    })
}
