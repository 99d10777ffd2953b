//! The security-event stream as a SIEM reads it: `--security-log FILE` gets one JSON line per
//! event with its kind, request id, source IP (the real client behind a named proxy), actor
//! and org; `/metrics` counts them by kind; operator commands write to the same stream.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{fresh_database, spawn_on, ADMIN_EMAIL};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::Path;

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The lines that match, waiting briefly for them to be written.
async fn find(path: &Path, pick: impl Fn(&Value) -> bool) -> Vec<Value> {
    for _ in 0..50 {
        let found: Vec<Value> = lines(path).into_iter().filter(|l| pick(l)).collect();
        if !found.is_empty() {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "no such security line in {}",
        std::fs::read_to_string(path).unwrap_or_default()
    );
}

#[tokio::test]
async fn security_events_are_json_lines_with_request_client_actor_and_org() {
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("security.jsonl");
    let server = spawn_on(
        tempfile::tempdir().unwrap(),
        fresh_database().await,
        &[
            "--security-log",
            log.to_str().unwrap(),
            "--behind-proxy",
            "127.0.0.1/32",
        ],
    );
    let http = reqwest::Client::new();

    // A failed login through the proxy: attributed to the forwarded client.
    let res = http
        .post(server.url("/api/v1/auth/login"))
        .header("x-forwarded-for", "203.0.113.7")
        .json(&json!({"email": ADMIN_EMAIL, "password": "not the password at all"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let failed = find(&log, |l| l["kind"] == "login_failed").await;
    assert_eq!(failed[0]["request_id"], request_id.as_str());
    assert_eq!(failed[0]["client_ip"], "203.0.113.7");
    assert_eq!(failed[0]["severity"], "warn");
    assert!(failed[0]["time"].as_str().unwrap().ends_with('Z'));

    // A probe of another org: the org asked for and the prober are named.
    let owner = server.owner().await;
    let (other, _) = server.other_org().await;
    let res = owner.get(&format!("/api/v1/orgs/{other}/samples")).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let probe = find(&log, |l| {
        l["kind"] == "not_visible" && l["org"] == other.as_str()
    })
    .await;
    assert_eq!(
        probe[0]["actor"],
        format!("user:{}", owner.user_id).as_str()
    );
    assert_eq!(probe[0]["client_ip"], "127.0.0.1");

    // A privilege granted: an API token, once it is committed.
    let org = server.org_id.clone();
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/api-tokens"),
            json!({"name": "siem probe", "permissions": ["members:read"], "expires_in_days": 1}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let granted = find(&log, |l| {
        l["kind"] == "privileged_change" && l["action"] == "api_token.create"
    })
    .await;
    assert_eq!(granted[0]["org"], org.as_str());
    assert_eq!(granted[0]["request_id"], request_id.as_str());
    assert_eq!(
        granted[0]["actor"],
        format!("user:{}", owner.user_id).as_str()
    );
    // A lab record is no security event.
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/samples"),
            json!({"sample_type": "blood", "collected_at": "2026-01-01T00:00:00Z"}),
        )
        .await;
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    assert!(lines(&log).iter().all(|l| !l["action"]
        .as_str()
        .unwrap_or_default()
        .starts_with("sample.")));

    // Counted by kind.
    let metrics = server.metrics().await;
    for kind in ["login_failed", "not_visible", "privileged_change"] {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("labledger_security_events_total")
                    && l.contains(&format!("kind=\"{kind}\""))),
            "{kind} counted"
        );
    }

    // An operator's command writes to the same stream.
    let out = server
        .cli()
        .args([
            "admin",
            "user",
            "reset-password",
            "--email",
            ADMIN_EMAIL,
            "--data-dir",
        ])
        .arg(server.data_dir_arg())
        .env("LABLEDGER_SECURITY_LOG", &log)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let operator = find(&log, |l| l["kind"] == "operator_command").await;
    assert_eq!(operator[0]["command"], "admin user reset-password");
    assert_eq!(operator[0]["outcome"], "succeeded");

    // Private to the operator.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&log).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
}

/// `--security-log -` puts marked lines on stderr, apart from the ordinary log.
#[tokio::test]
async fn the_stream_can_go_to_stderr_with_a_marker() {
    let server = spawn_on(
        tempfile::tempdir().unwrap(),
        fresh_database().await,
        &["--security-log", "-"],
    );
    let res = reqwest::Client::new()
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": "not the password at all"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let stderr = server.data_dir.path().join("server.log");
    let mut marked = Vec::new();
    for _ in 0..50 {
        marked = std::fs::read_to_string(&stderr)
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("SECURITY "))
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .collect();
        if !marked.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(marked.iter().any(|l| l["kind"] == "login_failed"));
}
