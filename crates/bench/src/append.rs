//! Audited appends through the store: each call is `update_role`, one transaction that changes
//! one row and appends exactly one event to the org's SHA-256 hash chain.

use crate::args::Flags;
use crate::pg;
use crate::stats::{self, ms, percentile};
use anyhow::{bail, Context};
use labledger_domain::validate::{Description, Email, OrgName, PersonName, RoleName};
use labledger_domain::{FieldError, OrgId, PermissionSet, RoleId};
use labledger_store::{
    Actor, NewOwner, NewSample, OrgScope, RequestMeta, RoleChange, SqliteSync, Store, StoreOptions,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

pub(crate) fn field<T>(r: Result<T, FieldError>) -> anyhow::Result<T> {
    r.map_err(|e| anyhow::anyhow!("{e}"))
}

pub(crate) fn parse_sync(raw: &str) -> anyhow::Result<SqliteSync> {
    match raw {
        "full" => Ok(SqliteSync::Full),
        "normal" => Ok(SqliteSync::Normal),
        other => bail!("--sync must be full or normal, not `{other}`"),
    }
}

/// One role to update, in the scope of its org's owner.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) scope: OrgScope,
    pub(crate) role: RoleId,
}

/// Creates `orgs` orgs (one owner user for all) and `roles` custom roles spread over them.
pub(crate) async fn setup(store: &Store, orgs: usize, roles: usize) -> anyhow::Result<Vec<Target>> {
    let mut scopes = Vec::new();
    for k in 0..orgs.max(1) {
        let owner = NewOwner {
            email: field(Email::parse("email", "bench@labledger.local"))?,
            name: field(PersonName::parse("name", "Bench Owner"))?,
            // Never logged in with: the benchmark only writes through the store.
            password_hash: "!bench".to_owned(),
        };
        let (org, user, _) = store
            .create_org(
                field(OrgName::parse("name", &format!("Bench org {k}")))?,
                owner,
                Actor::system(),
            )
            .await?;
        let scope = store
            .resolve_scope(user, org, RequestMeta::default())
            .await?
            .context("the owner has no scope in the org just created")?;
        scopes.push(scope);
    }
    let mut targets = Vec::new();
    for r in 0..roles.max(1) {
        let scope = scopes.get(r % scopes.len()).context("no org")?.clone();
        let name = field(RoleName::parse("name", &format!("bench-{r}")))?;
        let role = store
            .org(&scope)
            .create_role(name, None, PermissionSet::EMPTY)
            .await?;
        targets.push(Target { scope, role });
    }
    Ok(targets)
}

/// Which audited write each call makes (one transaction, one audit event).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// `update_role`: a new description on the task's custom role.
    Role,
    /// `register_samples` with one sample (`sample.create`), DESIGN's "sample registration".
    Sample,
}

impl Op {
    pub(crate) fn parse(raw: &str) -> anyhow::Result<Op> {
        match raw {
            "role" => Ok(Op::Role),
            "sample" => Ok(Op::Sample),
            other => bail!("--op must be role or sample, not `{other}`"),
        }
    }
}

/// When the writers stop.
#[derive(Clone, Copy)]
pub(crate) enum Stop {
    After(Duration),
    Events(u64),
}

pub(crate) struct Run {
    pub(crate) events: u64,
    pub(crate) wall: Duration,
    /// Per-call latencies, sorted.
    pub(crate) latencies: Vec<Duration>,
    /// Process CPU time (user + system) spent during the run.
    pub(crate) cpu: Duration,
}

impl Run {
    pub(crate) fn rate(&self) -> f64 {
        self.events as f64 / self.wall.as_secs_f64()
    }
}

/// `concurrency` tasks, task `t` updating target `t % targets.len()`, until `stop`. Every call
/// sets a description no call has set before, so every call changes the role and appends one event.
pub(crate) async fn drive(
    store: &Store,
    targets: &[Target],
    op: Op,
    concurrency: usize,
    stop: Stop,
    progress: bool,
) -> anyhow::Result<Run> {
    static REVISION: AtomicU64 = AtomicU64::new(0);
    let issued = Arc::new(AtomicU64::new(0));
    let cpu_before = stats::process_cpu();
    let started = Instant::now();
    let deadline = match stop {
        Stop::After(d) => Some(started + d),
        Stop::Events(_) => None,
    };
    let limit = match stop {
        Stop::Events(n) => n,
        Stop::After(_) => u64::MAX,
    };
    let mut tasks = JoinSet::new();
    for t in 0..concurrency.max(1) {
        let target = targets
            .get(t % targets.len().max(1))
            .context("no targets")?
            .clone();
        let store = store.clone();
        let issued = issued.clone();
        tasks.spawn(async move {
            let org = store.org(&target.scope);
            let mut latencies = Vec::new();
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d)
                    || issued.fetch_add(1, Ordering::Relaxed) >= limit
                {
                    break;
                }
                let rev = REVISION.fetch_add(1, Ordering::Relaxed);
                let t0 = match op {
                    Op::Role => {
                        let description =
                            field(Description::parse("description", &format!("rev {rev}")))?;
                        let change = RoleChange {
                            description: Some(description),
                            ..Default::default()
                        };
                        let t0 = Instant::now();
                        org.update_role(target.role, change).await?;
                        t0
                    }
                    Op::Sample => {
                        let sample = NewSample {
                            sample_type: "blood".to_owned(),
                            source_ref: Some(format!("bench-{rev}")),
                            ..Default::default()
                        };
                        let t0 = Instant::now();
                        org.register_samples(vec![sample], "sample.create").await?;
                        t0
                    }
                };
                latencies.push(t0.elapsed());
            }
            anyhow::Ok(latencies)
        });
    }
    let reporter = progress.then(|| {
        let issued = issued.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(15));
            tick.tick().await;
            loop {
                tick.tick().await;
                let n = issued.load(Ordering::Relaxed).min(limit);
                let s = started.elapsed().as_secs_f64();
                eprintln!("  … {n} events in {s:.0} s ({:.0}/s)", n as f64 / s);
            }
        })
    });
    let mut latencies = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        latencies.extend(joined??);
    }
    let wall = started.elapsed();
    if let Some(r) = reporter {
        r.abort();
    }
    latencies.sort();
    Ok(Run {
        events: latencies.len() as u64,
        wall,
        latencies,
        cpu: stats::process_cpu().saturating_sub(cpu_before),
    })
}

pub(crate) async fn run(flags: &Flags) -> anyhow::Result<()> {
    flags.only(&[
        "engine",
        "url",
        "sync",
        "seconds",
        "concurrency",
        "roles",
        "orgs",
        "pg-port",
        "warmup",
        "op",
    ])?;
    let engine = flags.str_or("engine", "sqlite");
    let seconds: f64 = flags.num_or("seconds", 10.0)?;
    let warmup: f64 = flags.num_or("warmup", 1.0)?;
    let concurrency: usize = flags.num_or("concurrency", 1)?;
    let roles: usize = flags.num_or("roles", concurrency)?;
    let orgs: usize = flags.num_or("orgs", 1)?;
    let sync = parse_sync(flags.str_or("sync", "full"))?;
    let op = Op::parse(flags.str_or("op", "role"))?;
    // Kept alive until the end of the run.
    let mut _dir = None;
    let mut _cluster = None;
    let (url, setting) = match (engine, flags.get("url")) {
        ("sqlite", Some(url)) => (url.to_owned(), format!("SQLite WAL, synchronous={sync:?}")),
        ("sqlite", None) => {
            let dir = tempfile::Builder::new()
                .prefix("labbench-sqlite.")
                .tempdir()?;
            let url = labledger_store::sqlite_url_for_data_dir(dir.path());
            _dir = Some(dir);
            (
                url,
                format!("SQLite WAL, synchronous={sync:?}, fresh data dir"),
            )
        }
        ("postgres", url) => {
            let url = match url {
                Some(u) => u.to_owned(),
                None => {
                    let cluster = pg::Cluster::start(flags.num_or("pg-port", 54400)?)?;
                    let url = cluster.url.clone();
                    _cluster = Some(cluster);
                    url
                }
            };
            let setting = pg::durability(&url).await?;
            (url, setting)
        }
        (other, _) => bail!("--engine must be sqlite or postgres, not `{other}`"),
    };
    let store = Store::open(
        &url,
        StoreOptions {
            sqlite_sync: sync,
            max_connections: 0,
            // A throwaway benchmark database: any key seals its chain heads.
            head_seal: Some(labledger_store::HeadSealKey::from_master(&[0x42; 32])),
            ..StoreOptions::default()
        },
    )
    .await?;
    let targets = setup(&store, orgs, roles).await?;
    println!(
        "append: op={op:?}, engine={engine} ({setting}); concurrency={concurrency}, {} role(s) in {orgs} org(s), {seconds} s (+{warmup} s warm-up)",
        targets.len()
    );
    if warmup > 0.0 {
        drive(
            &store,
            &targets,
            op,
            concurrency,
            Stop::After(Duration::from_secs_f64(warmup)),
            false,
        )
        .await?;
    }
    let batches = stats::batches();
    batches.take();
    let run = drive(
        &store,
        &targets,
        op,
        concurrency,
        Stop::After(Duration::from_secs_f64(seconds)),
        false,
    )
    .await?;
    let (commits, jobs, largest) = batches.take();
    println!(
        "  {} events in {:.2} s = {:.0} events/s; latency p50 {} p99 {} max {}; bench process CPU {:.2} cores",
        run.events,
        run.wall.as_secs_f64(),
        run.rate(),
        ms(percentile(&run.latencies, 50.0)),
        ms(percentile(&run.latencies, 99.0)),
        ms(percentile(&run.latencies, 100.0)),
        run.cpu.as_secs_f64() / run.wall.as_secs_f64(),
    );
    if commits > 0 {
        println!(
            "  group commit: {commits} commits ({:.0}/s), {:.1} jobs per commit on average, largest {largest}",
            commits as f64 / run.wall.as_secs_f64(),
            jobs as f64 / commits as f64
        );
    }
    let intact = verify_all(&store, &targets).await?;
    println!("  chains verified intact after the run: {intact} events");
    Ok(())
}

/// Every org's chain must still verify: a benchmark that broke the chain measured nothing.
async fn verify_all(store: &Store, targets: &[Target]) -> anyhow::Result<i64> {
    let mut orgs: Vec<OrgId> = targets.iter().map(|t| t.scope.org_id()).collect();
    orgs.sort();
    orgs.dedup();
    let mut total = 0;
    for org in orgs {
        match store.verify_audit_as_operator(org).await? {
            labledger_store::Verification::Intact { events, .. } => total += events,
            labledger_store::Verification::Broken(b) => bail!("org {org}: chain broken: {b}"),
        }
    }
    Ok(total)
}
