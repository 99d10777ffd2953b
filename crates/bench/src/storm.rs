//! `login-storm`: does a storm of password logins (argon2id, 19 MiB each) starve everyone else?
//! Measures the p50/p99 of authenticated `GET /api/v1/me` from a few steady readers, first alone
//! and then while `--storm` clients log in as fast as they can, and the server's peak memory.

use crate::args::Flags;
use crate::stats::{ms, percentile};
use anyhow::bail;
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::server::{EMAIL, PASSWORD};

pub(crate) async fn run(flags: &Flags) -> anyhow::Result<()> {
    flags.only(&["cli", "seconds", "storm", "readers"])?;
    let cli = crate::cli_path(flags)?;
    let seconds: u64 = flags.num_or("seconds", 8)?;
    let storm: usize = flags.num_or("storm", 200)?;
    let readers: usize = flags.num_or("readers", 4)?;
    let server = crate::server::Server::start(&cli, None).await?;
    let base = server.base.clone();
    let login = |client: reqwest::Client, base: String| async move {
        client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": EMAIL, "password": PASSWORD}))
            .send()
            .await
    };
    let reader_client = reqwest::Client::builder().cookie_store(true).build()?;
    let res = login(reader_client.clone(), base.clone()).await?;
    if !res.status().is_success() {
        bail!("login failed: {}", res.status());
    }

    let measure = |label: &'static str, with_storm: bool| {
        let base = base.clone();
        let reader_client = reader_client.clone();
        async move {
            let stop = Arc::new(AtomicBool::new(false));
            let logins = Arc::new(AtomicU64::new(0));
            let mut storm_tasks = Vec::new();
            if with_storm {
                for _ in 0..storm {
                    let (stop, logins, base) = (stop.clone(), logins.clone(), base.clone());
                    let client = reqwest::Client::builder().cookie_store(true).build()?;
                    storm_tasks.push(tokio::spawn(async move {
                        while !stop.load(Ordering::Relaxed) {
                            if let Ok(r) = login(client.clone(), base.clone()).await {
                                if r.status().is_success() {
                                    logins.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                    }));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            let until = Instant::now() + Duration::from_secs(seconds);
            let mut tasks = Vec::new();
            for _ in 0..readers {
                let (client, base) = (reader_client.clone(), base.clone());
                tasks.push(tokio::spawn(async move {
                    let mut lat = Vec::new();
                    while Instant::now() < until {
                        let t = Instant::now();
                        let ok = client
                            .get(format!("{base}/api/v1/me"))
                            .send()
                            .await
                            .map(|r| r.status().is_success());
                        if matches!(ok, Ok(true)) {
                            lat.push(t.elapsed());
                        }
                    }
                    lat
                }));
            }
            let started = Instant::now();
            let mut lat = Vec::new();
            for t in tasks {
                lat.extend(t.await?);
            }
            let elapsed = started.elapsed();
            stop.store(true, Ordering::Relaxed);
            for t in storm_tasks {
                t.await?;
            }
            lat.sort();
            let (p50, p99) = (percentile(&lat, 50.0), percentile(&lat, 99.0));
            let done = logins.load(Ordering::Relaxed);
            println!(
                "{label:<14} GET /me: {} requests, p50 {}, p99 {}; logins {} ({:.1}/s)",
                lat.len(),
                ms(p50),
                ms(p99),
                done,
                done as f64 / elapsed.as_secs_f64()
            );
            anyhow::Ok(p99)
        }
    };
    let baseline = measure("baseline", false).await?;
    let stormy = measure("login storm", true).await?;
    let hwm = server.peak_rss();
    println!(
        "p99 ratio storm/baseline: {:.2} (target ≤ 2.0); server peak RSS (VmHWM): {hwm}",
        stormy.as_secs_f64() / baseline.as_secs_f64().max(1e-9)
    );
    server.stop().await
}
