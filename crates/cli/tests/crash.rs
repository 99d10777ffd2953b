//! Crash safety: a server killed with SIGKILL while many clients register samples loses none
//! of the registrations it acknowledged, and every org's chain verifies after the restart.
//! (The writer acknowledges a write only after the commit that carries it.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WRITERS: usize = 16;
/// Kills, each at another moment of the load (issue: 20 trials per engine).
const TRIALS: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crash_under_write_load_loses_no_acknowledged_write() {
    let mut server = common::spawn().await;
    let org = server.org_id.clone();
    let mut acknowledged: Vec<String> = Vec::new();
    for trial in 0..TRIALS {
        let owner = server.owner().await;
        let acked = Arc::new(Mutex::new(Vec::<String>::new()));
        let mut writers = Vec::new();
        for w in 0..WRITERS {
            let (client, csrf, acked) = (owner.client.clone(), owner.csrf.clone(), acked.clone());
            let url = server.url(&format!("/api/v1/orgs/{org}/samples"));
            writers.push(tokio::spawn(async move {
                loop {
                    let sent = client
                        .post(&url)
                        .header("x-csrf-token", &csrf)
                        .json(&json!({"sample_type": format!("crash-{trial}-{w}")}))
                        .send()
                        .await;
                    // The server is gone: whatever was not answered was not acknowledged.
                    let Ok(res) = sent else { break };
                    if res.status() != StatusCode::CREATED {
                        break;
                    }
                    let Ok(body) = res.json::<Value>().await else {
                        break;
                    };
                    acked
                        .lock()
                        .unwrap()
                        .push(body["id"].as_str().unwrap().to_owned());
                }
            }));
        }
        // Let the load build up, then pull the plug: a different moment each trial.
        let load_ms = 400 + (trial as u64 * 137) % 500;
        tokio::time::sleep(Duration::from_millis(load_ms)).await;
        server.crash_and_restart();
        for w in writers {
            w.await.unwrap();
        }
        let acked = std::mem::take(&mut *acked.lock().unwrap());
        assert!(
            acked.len() > WRITERS,
            "trial {trial}: the load did not build up ({} writes)",
            acked.len()
        );
        let owner = server.owner().await;
        assert_all_present(&owner, &org, &acked, trial).await;
        acknowledged.extend(acked);
        let out = server
            .cli()
            .args(["audit", "verify", "--org", &org, "--data-dir"])
            .arg(server.data_dir_arg())
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && said.contains("intact"),
            "trial {trial}: {said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Nothing acknowledged in an earlier trial went missing in a later crash.
    let owner = server.owner().await;
    assert_all_present(&owner, &org, &acknowledged, TRIALS).await;
}

/// Every id answers 200 (asked 16 at a time).
async fn assert_all_present(owner: &common::Session, org: &str, ids: &[String], trial: usize) {
    use futures::StreamExt;
    let missing: Vec<String> = futures::stream::iter(ids.iter().cloned())
        .map(|id| async move {
            let res = owner.get(&format!("/api/v1/orgs/{org}/samples/{id}")).await;
            (res.status() != StatusCode::OK).then_some(id)
        })
        .buffer_unordered(16)
        .filter_map(|gone| async move { gone })
        .collect()
        .await;
    assert!(
        missing.is_empty(),
        "trial {trial}: acknowledged samples missing after the crash: {missing:?}"
    );
}
