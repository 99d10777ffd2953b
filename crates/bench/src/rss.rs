//! Idle memory of the real server: `labledger serve` on a throwaway data dir, resident set size
//! read from /proc/<pid>/status two seconds after it says it is listening.

use crate::args::Flags;
use crate::stats::median;
use anyhow::{bail, Context};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

const ADMIN_PASSWORD: &str = "correct horse battery staple";

struct Sample {
    rss_kib: u64,
    hwm_kib: u64,
    anon_kib: u64,
    file_kib: u64,
    threads: u64,
    startup: Duration,
}

pub(crate) async fn run(flags: &Flags) -> anyhow::Result<()> {
    flags.only(&["cli", "starts", "settle"])?;
    let cli = crate::cli_path(flags)?;
    let starts: usize = flags.num_or("starts", 3)?;
    let settle = Duration::from_secs_f64(flags.num_or("settle", 2.0)?);
    println!(
        "idle-rss: {} serve --listen 127.0.0.1:0, VmRSS {} s after \"LabLedger listening on\"",
        cli.display(),
        settle.as_secs_f64()
    );

    // First start: an empty data dir each time (migrations, first org, Argon2 hash of the password).
    let mut fresh = Vec::new();
    for _ in 0..starts {
        let dir = tempfile::Builder::new().prefix("labbench-rss.").tempdir()?;
        fresh.push(measure(&cli, &dir.path().join("data"), settle).await?);
    }
    summarize("first start (empty data dir)", &fresh);

    // Restart on an existing data dir: the everyday case.
    let dir = tempfile::Builder::new().prefix("labbench-rss.").tempdir()?;
    let data = dir.path().join("data");
    measure(&cli, &data, Duration::ZERO).await?;
    let mut again = Vec::new();
    for _ in 0..starts {
        again.push(measure(&cli, &data, settle).await?);
    }
    summarize("restart (existing data dir)", &again);
    let worst = fresh
        .iter()
        .chain(&again)
        .map(|s| s.rss_kib)
        .max()
        .unwrap_or(0);
    println!(
        "  target VmRSS <= 30 MiB: {} (largest of all starts {:.1} MiB)",
        if worst <= 30 * 1024 { "met" } else { "NOT met" },
        mib(worst)
    );
    Ok(())
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn summarize(what: &str, samples: &[Sample]) {
    let mut rss: Vec<u64> = samples.iter().map(|s| s.rss_kib).collect();
    rss.sort_unstable();
    let mid = |mut v: Vec<u64>| {
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or(0)
    };
    let all: Vec<String> = rss.iter().map(|k| format!("{:.1}", mib(*k))).collect();
    println!(
        "  {what}: VmRSS median {:.1} MiB of [{}] (RssAnon {:.1}, RssFile {:.1}); peak VmHWM {:.1} MiB; {} threads; ready in {:.0} ms",
        mib(mid(rss.clone())),
        all.join(", "),
        mib(mid(samples.iter().map(|s| s.anon_kib).collect())),
        mib(mid(samples.iter().map(|s| s.file_kib).collect())),
        mib(mid(samples.iter().map(|s| s.hwm_kib).collect())),
        mid(samples.iter().map(|s| s.threads).collect()),
        median(samples.iter().map(|s| s.startup).collect()).as_secs_f64() * 1e3,
    );
}

async fn measure(cli: &Path, data: &Path, settle: Duration) -> anyhow::Result<Sample> {
    let t0 = Instant::now();
    let mut child = tokio::process::Command::new(cli)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .env("LABLEDGER_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env_remove("LABLEDGER_DATABASE_URL")
        .env_remove("LABLEDGER_DATABASE_URL_FILE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting labledger serve")?;
    let pid = child.id().context("the server exited at once")?;
    let stdout = child.stdout.take().context("no stdout")?;
    // Kept open while the server runs: a closed pipe would fail its next println.
    let mut lines = BufReader::new(stdout).lines();
    let listening = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await? {
            if line.starts_with("LabLedger listening on") {
                return anyhow::Ok(());
            }
        }
        bail!("labledger serve exited before listening")
    })
    .await;
    let startup = t0.elapsed();
    match listening {
        Ok(r) => r?,
        Err(_) => bail!("labledger serve did not listen within 60 s"),
    }
    tokio::time::sleep(settle).await;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .context("reading /proc/<pid>/status")?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    let sample = Sample {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
        anon_kib: field("RssAnon:"),
        file_kib: field("RssFile:"),
        threads: field("Threads:"),
        startup,
    };
    child.start_kill()?;
    child.wait().await?;
    drop(lines);
    if sample.rss_kib == 0 {
        bail!("no VmRSS in /proc/{pid}/status");
    }
    Ok(sample)
}
