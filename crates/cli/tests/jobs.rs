//! Scheduled jobs across nodes: two `serve` processes on one database take scheduled backups,
//! and each period's backup is taken once, by one of them. Readiness reports a failing
//! schedule.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{fresh_database, spawn_on_env};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Row;

const BACKUP_KEY: &str = "4c61624c6564676572206261636b7570206b657920666f72207465737473212e";

/// The archives of `dir` by their time (seconds), oldest first.
fn archive_times(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("labledger-") && n.ends_with(".llbk"))
        .collect();
    names.sort();
    names
}

/// The successful backup runs a node counted.
async fn backup_runs(base: &str) -> i64 {
    let text = common::metrics_at(base).await;
    text.lines()
        .find(|l| {
            l.starts_with("labledger_job_runs_total{")
                && l.contains(r#"job="backup""#)
                && l.contains(r#"outcome="ok""#)
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as i64)
        .unwrap_or(0)
}

#[tokio::test]
async fn two_nodes_take_each_scheduled_backup_once() {
    let backups = tempfile::tempdir().unwrap();
    let dir = backups.path().to_str().unwrap().to_owned();
    let flags = [
        "--backup-every",
        "2s",
        "--backup-dir",
        dir.as_str(),
        "--backup-keep",
        "30d",
    ];
    let envs = [("LABLEDGER_BACKUP_KEY", BACKUP_KEY)];
    // What a node killed mid-backup leaves behind; the next scheduled run clears it.
    let stale = backups
        .path()
        .join("labledger-20200101T000000Z.llbk.partial");
    std::fs::write(&stale, "half an archive").unwrap();
    let first = spawn_on_env(
        tempfile::tempdir().unwrap(),
        fresh_database().await,
        &flags,
        &envs,
    );
    let second = first.second_node(&flags, &envs);
    let started = std::time::Instant::now();
    // Some periods go by with both nodes asking every second whether a backup is due.
    tokio::time::sleep(std::time::Duration::from_secs(9)).await;
    let (one, two) = (
        backup_runs(&first.base).await,
        backup_runs(&second.base).await,
    );
    let elapsed = started.elapsed().as_secs_f64();
    drop(second);
    let mut db = first.raw_db().await;
    let runs: i64 = sqlx::query("SELECT runs FROM job_leases WHERE job = 'backup'")
        .fetch_one(&mut db)
        .await
        .unwrap()
        .get("runs");
    // What the nodes did is what the lease recorded (give or take a run finishing now) ...
    assert!(
        (one + two - runs).abs() <= 1,
        "nodes ran {one} + {two}, the lease counted {runs}"
    );
    assert!(one + two >= 3, "backups ran: {one} + {two}");
    // ... and at most one per period, over both nodes (each would double it).
    assert!(
        (one + two) as f64 <= elapsed / 2.0 + 2.0,
        "{one} + {two} runs in {elapsed:.1} s of 2 s periods"
    );
    // The retention (newest of each day) leaves the newest archive of today.
    let names = archive_times(backups.path());
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(!stale.exists(), "the unfinished archive was removed");

    let ready: Value = reqwest::get(first.url("/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["backups"], "ok", "{ready}");
    let metrics = first.metrics().await;
    assert!(
        metrics.contains("labledger_backup_age_seconds "),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_failing_backup_schedule_makes_the_node_unready() {
    let backups = tempfile::tempdir().unwrap();
    let dir = backups.path().join("archives");
    let dir_text = dir.to_str().unwrap().to_owned();
    let server = spawn_on_env(
        tempfile::tempdir().unwrap(),
        fresh_database().await,
        &["--backup-every", "2s", "--backup-dir", dir_text.as_str()],
        &[("LABLEDGER_BACKUP_KEY", BACKUP_KEY)],
    );
    // The place for archives goes away (a full or unmounted disk would do the same).
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::write(&dir, "not a directory").unwrap();
    let mut ready = reqwest::get(server.url("/readyz")).await.unwrap();
    for _ in 0..60 {
        if ready.status() == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        ready = reqwest::get(server.url("/readyz")).await.unwrap();
    }
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["backups"], "failed");
    assert!(body["reasons"][0].as_str().unwrap().contains("backup"));
}

#[tokio::test]
async fn a_schedule_without_a_backup_key_is_refused_at_start() {
    let data = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(common::bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--backup-every",
            "24h",
            "--backup-dir",
        ])
        .arg(data.path().join("b"))
        .arg("--data-dir")
        .arg(data.path())
        .env_remove("LABLEDGER_DATABASE_URL")
        .env_remove("LABLEDGER_BACKUP_KEY")
        .env_remove("LABLEDGER_BACKUP_KEY_FILE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(message.contains("LABLEDGER_BACKUP_KEY_FILE"), "{message}");
}
