//! The audit chain: tamper evidence (edit, truncation) seen by `labledger audit verify` and the
//! API on both engines, append-only triggers, and reading the trail with filters and pages.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Session, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Executor;

async fn some_history(server: &TestServer, owner: &Session, n: usize) {
    for i in 0..n {
        owner
            .post(
                &format!("/api/v1/orgs/{}/members", server.org_id),
                json!({"email": format!("m{i}@lab.example"), "name": format!("Member {i}"), "roles": ["Viewer"]}),
            )
            .await;
    }
}

fn verify_cli(server: &TestServer) -> (bool, String) {
    let out = server
        .cli()
        .args(["audit", "verify", "--org", &server.org_id, "--data-dir"])
        .arg(server.data_dir_arg())
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Lifts the append-only guard the way an attacker with database access would.
async fn disable_guards(db: &mut sqlx::AnyConnection) {
    if common::is_postgres() {
        db.execute("ALTER TABLE audit_events DISABLE TRIGGER USER")
            .await
            .unwrap();
    } else {
        db.execute("DROP TRIGGER audit_events_no_update")
            .await
            .unwrap();
        db.execute("DROP TRIGGER audit_events_no_delete")
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn an_intact_chain_verifies_in_cli_and_api() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    some_history(&server, &owner, 5).await;
    let (ok, out) = verify_cli(&server);
    assert!(ok, "{out}");
    assert!(out.contains("intact, 7 events"), "{out}");
    let v = owner
        .get_json(&format!("/api/v1/orgs/{}/audit/verify", server.org_id))
        .await;
    assert_eq!(v["ok"], true);
    assert_eq!(v["verified_events"], 7);
    // Without --org every org is verified.
    let out = server
        .cli()
        .args(["audit", "verify", "--data-dir"])
        .arg(server.data_dir_arg())
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[tokio::test]
async fn the_database_refuses_to_update_or_delete_audit_rows() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    some_history(&server, &owner, 1).await;
    let mut db = server.raw_db().await;
    assert!(db
        .execute("UPDATE audit_events SET action = 'x' WHERE seq = 1")
        .await
        .is_err());
    assert!(db
        .execute("DELETE FROM audit_events WHERE seq = 3")
        .await
        .is_err());
    assert!(
        db.execute("UPDATE audit_heads SET seq = 1").await.is_err(),
        "the head cannot move back"
    );
    assert!(db.execute("DELETE FROM audit_heads").await.is_err());
    if common::is_postgres() {
        assert!(db.execute("TRUNCATE audit_events").await.is_err());
    }
    let (ok, out) = verify_cli(&server);
    assert!(ok, "{out}");
}

#[tokio::test]
async fn an_edited_event_is_named_by_its_sequence_number() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    some_history(&server, &owner, 5).await;
    let mut db = server.raw_db().await;
    disable_guards(&mut db).await;
    // Rewrite who was added in event 4: the detail an auditor would care about.
    let org = &server.org_id;
    let sql = format!(
        "UPDATE audit_events SET changes = REPLACE(changes, 'm1@lab.example', 'mallory@lab.example') WHERE org_id = '{org}' AND seq = 4"
    );
    let done = db.execute(sql.as_str()).await.unwrap();
    assert_eq!(done.rows_affected(), 1);
    let (ok, out) = verify_cli(&server);
    assert!(!ok, "verify must fail: {out}");
    assert!(out.contains("sequence number 4"), "{out}");
    let v = owner
        .get_json(&format!("/api/v1/orgs/{org}/audit/verify"))
        .await;
    assert_eq!(v["ok"], false);
    assert_eq!(v["broken_at_seq"], 4);
}

#[tokio::test]
async fn deleting_the_newest_events_is_caught_against_the_chain_head() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    some_history(&server, &owner, 5).await;
    let mut db = server.raw_db().await;
    disable_guards(&mut db).await;
    let sql = format!(
        "DELETE FROM audit_events WHERE org_id = '{}' AND seq >= 6",
        server.org_id
    );
    assert_eq!(db.execute(sql.as_str()).await.unwrap().rows_affected(), 2);
    let (ok, out) = verify_cli(&server);
    assert!(!ok, "{out}");
    assert!(out.contains("sequence number 6"), "{out}");
    assert!(out.contains("removed"), "{out}");
    let v = owner
        .get_json(&format!("/api/v1/orgs/{}/audit/verify", server.org_id))
        .await;
    assert_eq!(v["broken_at_seq"], 6);
}

#[tokio::test]
async fn the_trail_records_who_did_what_with_before_and_after() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = &server.org_id;
    let member = owner
        .add_member(&server, org, "ada@lab.example", &["Viewer"])
        .await;
    let res = owner
        .patch(
            &format!("/api/v1/orgs/{org}/members/{}", member.user_id),
            json!({"roles": ["Scientist", "QA"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let page = owner
        .get_json(&format!("/api/v1/orgs/{org}/audit?limit=1"))
        .await;
    let e = &page["items"][0];
    assert_eq!(e["action"], "member.roles_change");
    assert_eq!(e["actor_type"], "user");
    assert_eq!(e["actor_id"], owner.user_id.as_str());
    assert_eq!(e["target_type"], "member");
    assert_eq!(e["target_id"], member.user_id.as_str());
    assert_eq!(
        e["changes"],
        json!({"roles": {"before": ["Viewer"], "after": ["QA", "Scientist"]}})
    );
    assert_eq!(e["request_id"], request_id.as_str());
    assert_eq!(e["source_ip"], "127.0.0.1");
    assert_eq!(e["hash"].as_str().unwrap().len(), 64);
}

#[tokio::test]
async fn auditors_page_and_filter_the_trail() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = &server.org_id;
    some_history(&server, &owner, 12).await;
    let auditor = owner
        .add_member(&server, org, "auditor@lab.example", &["Auditor"])
        .await;
    let base = format!("/api/v1/orgs/{org}/audit");

    // Pages of 5, newest first, cover every event exactly once.
    let mut seqs = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{base}?limit=5&cursor={c}"),
            None => format!("{base}?limit=5"),
        };
        let page = auditor.get_json(&url).await;
        seqs.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["seq"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let total = common::audit_len(&owner, org).await;
    assert_eq!(seqs, (1..=total).rev().collect::<Vec<_>>());

    let by_action = auditor
        .get_json(&format!("{base}?action=member.add&limit=500"))
        .await;
    assert_eq!(
        by_action["items"].as_array().unwrap().len(),
        14,
        "owner + 12 + auditor"
    );
    let by_prefix = auditor.get_json(&format!("{base}?action=org.")).await;
    assert_eq!(by_prefix["items"].as_array().unwrap().len(), 1);
    let by_actor = auditor
        .get_json(&format!("{base}?actor={}", owner.user_id))
        .await;
    assert_eq!(by_actor["items"].as_array().unwrap().len(), 13);
    let target = by_action["items"][0]["target_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_target = auditor
        .get_json(&format!("{base}?target_type=member&target_id={target}"))
        .await;
    assert_eq!(by_target["items"].as_array().unwrap().len(), 1);
    let future = auditor.get_json(&format!("{base}?from=2999-01-01")).await;
    assert!(future["items"].as_array().unwrap().is_empty());
    let past = auditor
        .get_json(&format!("{base}?to=2000-01-01T00:00:00Z"))
        .await;
    assert!(past["items"].as_array().unwrap().is_empty());
    let all = auditor
        .get_json(&format!("{base}?from=2000-01-01&to=2999-01-01&limit=500"))
        .await;
    assert_eq!(all["items"].as_array().unwrap().len() as i64, total);

    for bad in [
        "limit=0",
        "limit=501",
        "cursor=abc",
        "from=yesterday",
        "to=2024-13-01",
        "bogus=1",
        "limit=x",
    ] {
        let res = auditor.get(&format!("{base}?{bad}")).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let p: Value = res.json().await.unwrap();
        let field = bad.split('=').next().unwrap();
        assert_eq!(p["errors"][0]["field"], field, "{bad}: {p}");
    }
    // Viewers have no audit permission.
    let viewer = owner
        .add_member(&server, org, "viewer@lab.example", &["Viewer"])
        .await;
    assert_eq!(viewer.get(&base).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        viewer.get(&format!("{base}/verify")).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn refused_requests_are_security_events_not_audit_events() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = &server.org_id;
    let viewer = owner
        .add_member(&server, org, "viewer@lab.example", &["Viewer"])
        .await;
    let before = common::audit_len(&owner, org).await;
    viewer
        .post(
            &format!("/api/v1/orgs/{org}/roles"),
            json!({"name": "x", "permissions": []}),
        )
        .await;
    viewer
        .get(&format!("/api/v1/orgs/{}/members", uuid::Uuid::now_v7()))
        .await;
    let res = reqwest::Client::new()
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"email": "viewer@lab.example", "password": "wrong wrong wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(common::audit_len(&owner, org).await, before);
    let metrics = server.metrics().await;
    for kind in ["permission_denied", "not_visible", "login_failed"] {
        assert!(
            metrics.contains(&format!(
                "labledger_security_events_total{{kind=\"{kind}\"}}"
            )),
            "{kind} not counted:\n{metrics}"
        );
    }
    assert!(
        metrics.contains("labledger_logins_total{outcome=\"failure\"} 1"),
        "{metrics}"
    );
    let log = std::fs::read_to_string(server.data_dir.path().join("server.log")).unwrap();
    assert!(
        log.contains("permission_denied") && log.contains("login_failed"),
        "{log}"
    );
}
