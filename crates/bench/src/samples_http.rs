//! Sample benchmarks over HTTP against a real `labledger serve` on loopback.
//!
//! - `http-register`: authenticated (session cookie + CSRF), audited `POST …/samples` from C
//!   concurrent clients for N seconds: requests/s and per-request p50/p99.
//! - `sample-search`: fills an org with `--samples` samples through the CSV import route (10,000
//!   rows a request), then pages `GET …/samples?limit=50` from random cursors and with filters:
//!   p50/p99 per request.

// JSON answers are read with serde_json's `value["key"]`, which yields Null rather than panicking.
#![allow(clippy::indexing_slicing)]

use crate::args::Flags;
use crate::server::{Server, Session};
use crate::stats::{ms, percentile};
use anyhow::{bail, Context};
use serde_json::json;
use std::time::{Duration, Instant};

/// `--engine postgres` without `--url` starts a durable throwaway cluster.
async fn start(flags: &Flags) -> anyhow::Result<(Server, Option<crate::pg::Cluster>)> {
    let cli = crate::cli_path(flags)?;
    match flags.str_or("engine", "sqlite") {
        "sqlite" => Ok((Server::start(&cli, None).await?, None)),
        "postgres" => {
            if let Some(url) = flags.get("url") {
                return Ok((Server::start(&cli, Some(url)).await?, None));
            }
            let cluster = crate::pg::Cluster::start(flags.num_or("pg-port", 54401)?)?;
            let server = Server::start(&cli, Some(&cluster.url)).await?;
            Ok((server, Some(cluster)))
        }
        other => bail!("--engine must be sqlite or postgres, not {other}"),
    }
}

/// Runs `concurrency` loops of `call` for `seconds`; returns the sorted latencies of the calls that
/// answered `expect`, and the wall time. Any other answer stops the benchmark.
async fn load<F, Fut>(
    concurrency: usize,
    seconds: u64,
    call: F,
) -> anyhow::Result<(Vec<Duration>, Duration)>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < until {
                let t = Instant::now();
                call().await?;
                lat.push(t.elapsed());
            }
            anyhow::Ok(lat)
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    let wall = started.elapsed();
    lat.sort();
    Ok((lat, wall))
}

fn report(label: &str, lat: &[Duration], wall: Duration) {
    println!(
        "{label}: {} requests in {:.1} s = {:.0}/s; p50 {}, p99 {}, max {}",
        lat.len(),
        wall.as_secs_f64(),
        lat.len() as f64 / wall.as_secs_f64(),
        ms(percentile(lat, 50.0)),
        ms(percentile(lat, 99.0)),
        ms(percentile(lat, 100.0)),
    );
}

pub(crate) async fn register(flags: &Flags) -> anyhow::Result<()> {
    flags.only(&[
        "cli",
        "engine",
        "url",
        "pg-port",
        "seconds",
        "concurrency",
        "warmup",
    ])?;
    let seconds: u64 = flags.num_or("seconds", 10)?;
    let warmup: u64 = flags.num_or("warmup", 2)?;
    let concurrency: usize = flags.num_or("concurrency", 64)?;
    let (server, _cluster) = start(flags).await?;
    let session = server.login().await?;
    let url = format!("{}/api/v1/orgs/{}/samples", server.base, session.org);
    let call = {
        let Session { client, csrf, .. } = session.clone();
        move || {
            let (client, csrf, url) = (client.clone(), csrf.clone(), url.clone());
            async move {
                let res = client
                    .post(&url)
                    .header("x-csrf-token", &csrf)
                    .json(&json!({"sample_type": "blood", "quantity": 2.5, "unit": "mL"}))
                    .send()
                    .await?;
                if res.status() != reqwest::StatusCode::CREATED {
                    bail!(
                        "registration answered {}: {}",
                        res.status(),
                        res.text().await?
                    );
                }
                res.bytes().await?;
                Ok(())
            }
        }
    };
    load(concurrency, warmup, call.clone()).await?;
    let (lat, wall) = load(concurrency, seconds, call).await?;
    report(
        &format!(
            "POST samples ({}, {concurrency} clients)",
            flags.str_or("engine", "sqlite")
        ),
        &lat,
        wall,
    );
    let verify: serde_json::Value = session
        .client
        .get(format!(
            "{}/api/v1/orgs/{}/audit/verify",
            server.base, session.org
        ))
        .send()
        .await?
        .json()
        .await?;
    println!(
        "audit chain after the run: ok={} events={}; server peak RSS {}",
        verify["ok"],
        verify["verified_events"],
        server.peak_rss()
    );
    server.stop().await
}

pub(crate) async fn search(flags: &Flags) -> anyhow::Result<()> {
    flags.only(&[
        "cli",
        "engine",
        "url",
        "pg-port",
        "samples",
        "seconds",
        "concurrency",
        "writes-beside",
    ])?;
    let total: usize = flags.num_or("samples", 1_000_000)?;
    let writes_beside: u64 = flags.num_or("writes-beside", 0)?;
    let seconds: u64 = flags.num_or("seconds", 10)?;
    let concurrency: usize = flags.num_or("concurrency", 4)?;
    let (server, _cluster) = start(flags).await?;
    let session = server.login().await?;
    let base = format!("{}/api/v1/orgs/{}/samples", server.base, session.org);

    // Fill: 10,000 rows a request, four sample types, every other row filed under one project.
    let project = session
        .client
        .post(format!(
            "{}/api/v1/orgs/{}/projects",
            server.base, session.org
        ))
        .header("x-csrf-token", &session.csrf)
        .json(&json!({"name": "Cohort A"}))
        .send()
        .await?
        .json::<serde_json::Value>()
        .await?["id"]
        .as_str()
        .context("no project id")?
        .to_owned();
    let types = ["blood", "serum", "urine", "tissue"];
    let started = Instant::now();
    let mut done = 0;
    while done < total {
        let n = (total - done).min(10_000);
        let mut csv = String::from("sample_type,source_ref,quantity,unit,project_id\n");
        for i in 0..n {
            let k = done + i;
            let filed = if k % 2 == 0 { project.as_str() } else { "" };
            csv.push_str(&format!(
                "{},SUBJ-{},1.5,mL,{filed}\n",
                types[k % types.len()],
                k % 5000
            ));
        }
        let res = session
            .client
            .post(format!("{base}/import"))
            .header("x-csrf-token", &session.csrf)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await?;
        if res.status() != reqwest::StatusCode::CREATED {
            bail!("import answered {}: {}", res.status(), res.text().await?);
        }
        done += n;
    }
    let fill = started.elapsed();
    println!(
        "filled {total} samples through the import route in {:.1} s ({:.0} samples/s, audited)",
        fill.as_secs_f64(),
        total as f64 / fill.as_secs_f64()
    );

    // Registrations at a steady rate beside the reads (reads must not queue behind the writer).
    let stop_writes = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writes = (writes_beside > 0).then(|| {
        let (client, csrf, url) = (session.client.clone(), session.csrf.clone(), base.clone());
        let stop = stop_writes.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / writes_beside));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let started = Instant::now();
            let (mut sent, in_flight) =
                (0u64, std::sync::Arc::new(tokio::sync::Semaphore::new(256)));
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                tick.tick().await;
                let Ok(permit) = in_flight.clone().acquire_owned().await else {
                    break;
                };
                let (client, csrf, url) = (client.clone(), csrf.clone(), url.clone());
                tokio::spawn(async move {
                    let _ = client
                        .post(&url)
                        .header("x-csrf-token", &csrf)
                        .json(&json!({"sample_type": "blood"}))
                        .send()
                        .await;
                    drop(permit);
                });
                sent += 1;
            }
            sent as f64 / started.elapsed().as_secs_f64()
        })
    });

    let client = session.client.clone();
    let get = move |url: String| {
        let client = client.clone();
        async move {
            let res = client.get(&url).send().await?;
            if !res.status().is_success() {
                bail!("search answered {}", res.status());
            }
            let body: serde_json::Value = res.json().await?;
            body["items"].as_array().context("no items")?;
            Ok(())
        }
    };
    let max = total as u64;
    // (label, extra query, from a random cursor). The code prefix S-0012 holds S-001200 …
    // S-001299, half of them in the project.
    let scenarios = [
        ("first page", String::new(), false),
        ("random cursor", String::new(), true),
        (
            "type filter + random cursor",
            "&sample_type=serum".into(),
            true,
        ),
        (
            "status + type filter, first page",
            "&status=registered&sample_type=serum".into(),
            false,
        ),
        (
            "status + project + code prefix, first page",
            format!("&status=registered&project_id={project}&code_prefix=S-0012"),
            false,
        ),
    ];
    for (label, extra, random) in scenarios {
        let counter = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0x9E37_79B9));
        let (get, base) = (get.clone(), base.clone());
        let call = move || {
            // A cheap deterministic spread of cursors over the whole range.
            let r = counter
                .fetch_add(0x9E37_79B9_7F4A_7C15, std::sync::atomic::Ordering::Relaxed)
                .rotate_left(17);
            let cursor = if random {
                format!("&cursor={}", 1 + r % max)
            } else {
                String::new()
            };
            get(format!("{base}?limit=50{extra}{cursor}"))
        };
        let (lat, wall) = load(concurrency, seconds, call).await?;
        report(
            &format!("GET samples, {label} ({total} samples, {concurrency} clients)"),
            &lat,
            wall,
        );
    }
    stop_writes.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(writes) = writes {
        println!("registrations beside the reads: {:.0}/s", writes.await?);
    }
    println!("server peak RSS {}", server.peak_rss());
    server.stop().await
}
