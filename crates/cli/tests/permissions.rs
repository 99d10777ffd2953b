//! The permission matrix: every built-in role × every permission-gated org route, generated from
//! the roles' permission table (as the server reports it) and the routes' security scopes (as the
//! OpenAPI document states them). Allowed calls succeed; the rest answer 403 and change nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::fixtures::{operations, org_scoped, prepare};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashSet;

const BUILTIN: [&str; 7] = [
    "Owner",
    "Admin",
    "QA",
    "Scientist",
    "Technician",
    "Auditor",
    "Viewer",
];

#[tokio::test]
async fn every_builtin_role_against_every_org_route() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let roles: Value = owner.get_json(&format!("/api/v1/orgs/{org}/roles")).await;
    let ops = org_scoped(&operations(&server).await);

    let mut checked = 0;
    for role in BUILTIN {
        let perms: HashSet<String> = roles["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == role)
            .unwrap_or_else(|| panic!("built-in role {role} missing"))["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect();
        let email = format!("role-{}@lab.example", role.to_lowercase());
        let member = owner.add_member(&server, &org, &email, &[role]).await;
        for op in &ops {
            let allowed = op.scopes.iter().all(|s| perms.contains(s))
                && !common::fixtures::requester_only(&op.method, &op.template);
            let call = prepare(&owner, &org, op).await;
            let before = common::audit_len(&owner, &org).await;
            let method = Method::from_bytes(op.method.as_bytes()).unwrap();
            // E-signature routes take the signer's own password.
            let mut body = call.body.clone();
            if let Some(pw) = body.as_mut().and_then(|b| b.get_mut("password")) {
                if pw == common::ADMIN_PASSWORD {
                    *pw = json!(common::MEMBER_PASSWORD);
                }
            }
            let res = member.send(method, &call.path, body).await;
            let status = res.status();
            let text = res.text().await.unwrap();
            let after = common::audit_len(&owner, &org).await;
            if allowed {
                assert!(
                    status.is_success(),
                    "{role} {} {}: expected success, got {status}: {text}",
                    op.method,
                    op.template
                );
                if op.method != "GET" {
                    assert!(
                        after > before,
                        "{role} {} {}: a change without an audit event",
                        op.method,
                        op.template
                    );
                }
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{role} {} {} must be refused: {text}",
                    op.method,
                    op.template
                );
                let problem: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(problem["type"], "/problems/forbidden");
                assert_eq!(
                    after, before,
                    "{role} {} {}: a refused call changed the trail",
                    op.method, op.template
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, BUILTIN.len() * ops.len());
}

#[tokio::test]
async fn nobody_grants_a_permission_they_do_not_hold() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    // A member manager who cannot read the audit trail.
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/roles"),
            json!({"name": "Member manager", "permissions": ["members:read", "members:write"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let manager = owner
        .add_member(&server, &org, "manager@lab.example", &["Member manager"])
        .await;
    let before = common::audit_len(&owner, &org).await;

    // Cannot create a role holding more than they hold ...
    let res = manager
        .post(
            &format!("/api/v1/orgs/{org}/roles"),
            json!({"name": "Snoop", "permissions": ["audit:read"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("audit:read"));
    // ... nor hand out a built-in role that does ...
    let res = manager
        .post(
            &format!("/api/v1/orgs/{org}/members"),
            json!({"email": "x@lab.example", "name": "X", "roles": ["Auditor"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // ... nor manage a member who holds more than they do.
    let admin = owner
        .add_member(&server, &org, "admin@lab.example", &["Admin"])
        .await;
    let before_admin = common::audit_len(&owner, &org).await;
    let res = manager
        .patch(
            &format!("/api/v1/orgs/{org}/members/{}", admin.user_id),
            json!({"roles": ["Viewer"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(common::audit_len(&owner, &org).await, before_admin);
    // But what they hold they may grant.
    let res = manager
        .post(
            &format!("/api/v1/orgs/{org}/roles"),
            json!({"name": "Reader of members", "permissions": ["members:read"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(common::audit_len(&owner, &org).await > before);

    // An Admin holds every permission but the Owner role stays with Owners.
    let res = admin
        .patch(
            &format!("/api/v1/orgs/{org}/members/{}", manager.user_id),
            json!({"roles": ["Owner"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = admin
        .delete(&format!("/api/v1/orgs/{org}/members/{}", owner.user_id))
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_last_owner_stays() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let me = format!("/api/v1/orgs/{org}/members/{}", owner.user_id);
    let before = common::audit_len(&owner, &org).await;
    let res = owner.delete(&me).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("last Owner"));
    let res = owner.patch(&me, json!({"roles": ["Admin"]})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(common::audit_len(&owner, &org).await, before);
    // With a second Owner, the first may step down.
    let second = owner
        .add_member(&server, &org, "second@lab.example", &["Owner"])
        .await;
    let res = owner.patch(&me, json!({"roles": ["Admin"]})).await;
    assert_eq!(res.status(), StatusCode::OK);
    // And now the second is the last one.
    let res = second
        .delete(&format!("/api/v1/orgs/{org}/members/{}", second.user_id))
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn built_in_roles_are_fixed_and_custom_roles_have_a_lifecycle() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let roles = owner.get_json(&format!("/api/v1/orgs/{org}/roles")).await;
    let viewer = roles["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "Viewer")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = owner
        .patch(
            &format!("/api/v1/orgs/{org}/roles/{viewer}"),
            json!({"permissions": ["audit:read"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(
        owner
            .delete(&format!("/api/v1/orgs/{org}/roles/{viewer}"))
            .await
            .status(),
        StatusCode::CONFLICT
    );
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/roles"),
            json!({"name": "viewer", "permissions": []}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a custom role cannot take a built-in name"
    );

    let res = owner
        .post(&format!("/api/v1/orgs/{org}/roles"), json!({"name": "Sample clerk", "description": "Registers samples", "permissions": ["samples:read", "samples:write"]}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let role: Value = res.json().await.unwrap();
    let path = format!("/api/v1/orgs/{org}/roles/{}", role["id"].as_str().unwrap());
    let dup = owner
        .post(
            &format!("/api/v1/orgs/{org}/roles"),
            json!({"name": "Sample clerk", "permissions": []}),
        )
        .await;
    assert_eq!(dup.status(), StatusCode::CONFLICT);
    let clerk = owner
        .add_member(&server, &org, "clerk@lab.example", &["Sample clerk"])
        .await;
    let me = clerk.get_json("/api/v1/me").await;
    assert_eq!(me["memberships"][0]["roles"], json!(["Sample clerk"]));
    // Held roles cannot be deleted; changes reach the holder at once.
    assert_eq!(owner.delete(&path).await.status(), StatusCode::CONFLICT);
    let res = owner
        .patch(
            &path,
            json!({"permissions": ["samples:read", "members:read"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        clerk
            .get(&format!("/api/v1/orgs/{org}/members"))
            .await
            .status(),
        StatusCode::OK
    );
    let trail = owner
        .get_json(&format!("/api/v1/orgs/{org}/audit?action=role.update"))
        .await;
    assert_eq!(
        trail["items"][0]["changes"]["permissions"],
        json!({"before": ["samples:read", "samples:write"], "after": ["samples:read", "members:read"]})
    );
    owner
        .patch(
            &format!("/api/v1/orgs/{org}/members/{}", clerk.user_id),
            json!({"roles": []}),
        )
        .await;
    assert_eq!(owner.delete(&path).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(owner.get(&path).await.status(), StatusCode::NOT_FOUND);
}
