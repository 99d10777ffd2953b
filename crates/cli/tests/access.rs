//! Just-in-time privileged access: a grant works only inside its window and ends by itself,
//! nobody approves their own request, deny and revoke end it, durations are bounded, and an
//! operator's support request gives a non-member access only once an Owner approves it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::Session;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn ask(member: &Session, org: &str, role: &str, minutes: i64) -> Value {
    let res = member
        .post(
            &format!("/api/v1/orgs/{org}/access-requests"),
            json!({"role": role, "reason": "Investigating deviation D-17", "duration_minutes": minutes}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json().await.unwrap()
}

fn req_path(org: &str, req: &Value, action: &str) -> String {
    format!(
        "/api/v1/orgs/{org}/access-requests/{}{action}",
        req["id"].as_str().unwrap()
    )
}

async fn age_grant(server: &common::TestServer, req: &Value) {
    let mut db = server.raw_db().await;
    sqlx::query("UPDATE access_requests SET expires_at = starts_at + 1 WHERE id = $1")
        .bind(req["id"].as_str().unwrap())
        .execute(&mut db)
        .await
        .unwrap();
    // An edit made behind the server's back (not time passing, which a remembered grant
    // honours to the microsecond) reaches it within its one-second memory.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
}

#[tokio::test]
async fn a_grant_works_only_inside_its_window_and_nobody_approves_their_own() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let tech = owner
        .add_member(&server, &org, "tech@lab.example", &["Technician"])
        .await;
    let audit = format!("/api/v1/orgs/{org}/audit");
    assert_eq!(tech.get(&audit).await.status(), StatusCode::FORBIDDEN);

    let req = ask(&tech, &org, "Auditor", 60).await;
    assert_eq!(req["status"], "pending");
    assert_eq!(req["kind"], "member");
    // Pending grants nothing; the requester cannot decide it.
    assert_eq!(tech.get(&audit).await.status(), StatusCode::FORBIDDEN);
    let res = tech
        .post(&req_path(&org, &req, "/approve"), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // The requester sees their own request; others without members:read do not see it.
    assert_eq!(
        tech.get(&req_path(&org, &req, "")).await.status(),
        StatusCode::OK
    );

    // An Admin cannot approve their own request either, and nothing is written.
    let admin = owner
        .add_member(&server, &org, "admin@lab.example", &["Admin"])
        .await;
    let own = ask(&admin, &org, "Auditor", 30).await;
    let before = common::audit_len(&owner, &org).await;
    let res = admin
        .post(&req_path(&org, &own, "/approve"), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("own"));
    let res = admin.post(&req_path(&org, &own, "/deny"), json!({})).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(common::audit_len(&owner, &org).await, before);

    // Approved by the Owner: the window starts now and the grant works inside it.
    let res = owner
        .post(&req_path(&org, &req, "/approve"), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let approved: Value = res.json().await.unwrap();
    assert_eq!(approved["status"], "active");
    assert!(approved["expires_at"].is_string());
    assert_eq!(tech.get(&audit).await.status(), StatusCode::OK);
    // Approving again: it is no longer pending.
    let res = owner
        .post(&req_path(&org, &req, "/approve"), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);

    // The window passes (aged in the database): access ends without any action.
    age_grant(&server, &req).await;
    assert_eq!(tech.get(&audit).await.status(), StatusCode::FORBIDDEN);
    let seen = owner.get_json(&req_path(&org, &req, "")).await;
    assert_eq!(seen["status"], "expired");
    let res = owner
        .post(&req_path(&org, &req, "/revoke"), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);

    // Every step is in the org's chain.
    let trail = owner
        .get_json(&format!("{audit}?action=access_request."))
        .await;
    let actions: Vec<&str> = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec![
            "access_request.approve",
            "access_request.create",
            "access_request.create"
        ]
    );
}

#[tokio::test]
async fn deny_revoke_and_bounds() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let viewer = owner
        .add_member(&server, &org, "viewer@lab.example", &["Viewer"])
        .await;
    let members = format!("/api/v1/orgs/{org}/members");
    let path = format!("/api/v1/orgs/{org}/access-requests");

    for (body, field) in [
        (
            json!({"role": "Admin", "reason": "r", "duration_minutes": 481}),
            "duration_minutes",
        ),
        (
            json!({"role": "Admin", "reason": "r", "duration_minutes": 0}),
            "duration_minutes",
        ),
        (
            json!({"role": "Owner", "reason": "r", "duration_minutes": 60}),
            "role",
        ),
        (
            json!({"role": "Wizard", "reason": "r", "duration_minutes": 60}),
            "role",
        ),
        (
            json!({"role": "Admin", "reason": " ", "duration_minutes": 60}),
            "reason",
        ),
    ] {
        let res = viewer.post(&path, body.clone()).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let p: Value = res.json().await.unwrap();
        assert_eq!(p["errors"][0]["field"], field, "{p}");
    }

    let denied = ask(&viewer, &org, "Admin", 480).await;
    let res = owner
        .post(&req_path(&org, &denied, "/deny"), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["status"], "denied");
    let res = owner
        .post(&req_path(&org, &denied, "/approve"), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(viewer.get(&members).await.status(), StatusCode::FORBIDDEN);

    let granted = ask(&viewer, &org, "Admin", 120).await;
    owner
        .post(&req_path(&org, &granted, "/approve"), json!({}))
        .await;
    assert_eq!(viewer.get(&members).await.status(), StatusCode::OK);
    // A Viewer sees only their own requests; the Owner sees all.
    let other = owner
        .add_member(&server, &org, "other@lab.example", &["Viewer"])
        .await;
    ask(&other, &org, "QA", 10).await;
    assert_eq!(
        other.get_json(&path).await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        owner.get_json(&path).await["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let res = owner
        .post(&req_path(&org, &granted, "/revoke"), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["status"], "revoked");
    assert_eq!(viewer.get(&members).await.status(), StatusCode::FORBIDDEN);
    let res = owner
        .post(&req_path(&org, &granted, "/revoke"), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let trail = owner
        .get_json(&format!(
            "/api/v1/orgs/{org}/audit?action=access_request.revoke"
        ))
        .await;
    assert_eq!(trail["items"][0]["target_id"], granted["id"]);
}

#[tokio::test]
async fn operator_support_access_end_to_end() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    // A support engineer's account (it exists because they own a lab of their own).
    server.create_org(
        "Vendor Support",
        "support@vendor.example",
        "support engineer password",
    );
    let support = server
        .login("support@vendor.example", "support engineer password")
        .await;
    let members = format!("/api/v1/orgs/{org}/members");
    assert_eq!(support.get(&members).await.status(), StatusCode::NOT_FOUND);

    let cli = |email: &str, hours: &str| {
        server
            .cli()
            .args([
                "admin", "access", "request", "--org", &org, "--email", email,
            ])
            .args([
                "--role",
                "Auditor",
                "--hours",
                hours,
                "--reason",
                "Ticket 4711",
            ])
            .arg("--data-dir")
            .arg(server.data_dir_arg())
            .output()
            .unwrap()
    };
    // Refused: more than 8 hours, a member's email, an unknown account.
    assert!(!cli("support@vendor.example", "9").status.success());
    assert!(!cli(common::ADMIN_EMAIL, "2").status.success());
    assert!(!cli("nobody@vendor.example", "2").status.success());
    let out = cli("support@vendor.example", "2");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Filed, but nothing is granted yet.
    assert_eq!(support.get(&members).await.status(), StatusCode::NOT_FOUND);
    let list = owner
        .get_json(&format!("/api/v1/orgs/{org}/access-requests"))
        .await;
    let req = list["items"][0].clone();
    assert_eq!(req["kind"], "support");
    assert_eq!(req["status"], "pending");
    assert_eq!(req["role"], "Auditor");
    assert_eq!(req["duration_minutes"], 120);
    let trail = owner
        .get_json(&format!(
            "/api/v1/orgs/{org}/audit?action=access_request.create"
        ))
        .await;
    assert_eq!(trail["items"][0]["actor_type"], "operator");

    let res = owner
        .post(&req_path(&org, &req, "/approve"), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // While active: read-only access as an Auditor, nothing more.
    assert_eq!(support.get(&members).await.status(), StatusCode::OK);
    assert_eq!(
        support
            .get(&format!("/api/v1/orgs/{org}/audit"))
            .await
            .status(),
        StatusCode::OK
    );
    let res = support
        .post(
            &members,
            json!({"email": "sneak@vendor.example", "name": "Sneak", "roles": ["Viewer"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Afterwards: nothing.
    age_grant(&server, &req).await;
    assert_eq!(support.get(&members).await.status(), StatusCode::NOT_FOUND);
}
