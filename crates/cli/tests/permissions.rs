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

use common::fixtures::{operations, org_scoped, prepare, Call, Operation};
use common::Session;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

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

// ---------------------------------------------------------------------------------------------
// The matrix written down: what each route needs, from what it does, independent of the
// OpenAPI document. A route the document lists and this table does not (or the other way
// round), or whose documented scopes differ, fails; so does a route whose check is missing.

/// An org route of the API: method, path template, the permissions it needs, and what the
/// matrix's call of it hands out or manages (built-in role names or permissions), which the
/// caller must hold as well (nobody grants more than they hold).
type ApiRoute = (
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);

const NO: &[&str] = &[];

const API_ROUTES: &[ApiRoute] = &[
    ("GET", "/api/v1/orgs/{org_id}", NO, NO),
    ("GET", "/api/v1/orgs/{org_id}/dashboard", NO, NO),
    (
        "GET",
        "/api/v1/orgs/{org_id}/settings",
        &["org_settings:read"],
        NO,
    ),
    (
        "PATCH",
        "/api/v1/orgs/{org_id}/settings",
        &["org_settings:write"],
        NO,
    ),
    // Members, roles, invitations, tokens, access requests.
    (
        "GET",
        "/api/v1/orgs/{org_id}/members",
        &["members:read"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/members",
        &["members:write"],
        &["Viewer"],
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/members/{user_id}",
        &["members:read"],
        NO,
    ),
    (
        "PATCH",
        "/api/v1/orgs/{org_id}/members/{user_id}",
        &["members:write"],
        &["Viewer", "Technician"],
    ),
    (
        "DELETE",
        "/api/v1/orgs/{org_id}/members/{user_id}",
        &["members:write"],
        &["Viewer"],
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/members/{user_id}/deactivate",
        &["members:write"],
        &["Viewer"],
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/members/{user_id}/reactivate",
        &["members:write"],
        &["Viewer"],
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/members/{user_id}/revoke-sessions",
        &["members:write"],
        &["Viewer"],
    ),
    (
        "PUT",
        "/api/v1/orgs/{org_id}/members/{user_id}/project-access",
        &["members:write"],
        &["Viewer"],
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/access-review",
        &["members:read"],
        NO,
    ),
    ("GET", "/api/v1/orgs/{org_id}/roles", &["members:read"], NO),
    (
        "POST",
        "/api/v1/orgs/{org_id}/roles",
        &["members:read", "members:write"],
        &["samples:read"],
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/roles/{role_id}",
        &["members:read"],
        NO,
    ),
    (
        "PATCH",
        "/api/v1/orgs/{org_id}/roles/{role_id}",
        &["members:read", "members:write"],
        &["samples:read"],
    ),
    (
        "DELETE",
        "/api/v1/orgs/{org_id}/roles/{role_id}",
        &["members:write"],
        &["samples:read"],
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/invitations",
        &["members:read"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/invitations",
        &["members:write"],
        &["Viewer"],
    ),
    (
        "DELETE",
        "/api/v1/orgs/{org_id}/invitations/{invitation_id}",
        &["members:write"],
        &["Viewer"],
    ),
    // Any member lists and makes their own tokens and requests.
    ("GET", "/api/v1/orgs/{org_id}/api-tokens", NO, NO),
    (
        "POST",
        "/api/v1/orgs/{org_id}/api-tokens",
        NO,
        &["samples:read"],
    ),
    (
        "DELETE",
        "/api/v1/orgs/{org_id}/api-tokens/{token_id}",
        &["members:write"],
        NO,
    ),
    ("GET", "/api/v1/orgs/{org_id}/access-requests", NO, NO),
    ("POST", "/api/v1/orgs/{org_id}/access-requests", NO, NO),
    (
        "GET",
        "/api/v1/orgs/{org_id}/access-requests/{request_id}",
        &["members:read"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/access-requests/{request_id}/approve",
        &["members:write"],
        &["Viewer"],
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/access-requests/{request_id}/deny",
        &["members:write"],
        &["Viewer"],
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/access-requests/{request_id}/revoke",
        &["members:write"],
        &["Viewer"],
    ),
    // Samples, fields, storage, custody, labels, lineage.
    (
        "GET",
        "/api/v1/orgs/{org_id}/samples",
        &["samples:read"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/samples",
        &["samples:write"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/samples/import",
        &["samples:write"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/samples/export.csv",
        &["samples:read", "exports:create"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/samples/{sample_id}",
        &["samples:read"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/samples/{sample_id}/transitions",
        &["samples:write"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/samples/{sample_id}/aliquots",
        &["samples:write"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/samples/{sample_id}/lineage",
        &["samples:read"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/sample-fields",
        &["samples:read"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/sample-fields",
        &["org_settings:write"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/locations",
        &["samples:read"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/locations",
        &["samples:write"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/locations/{location_id}",
        &["samples:read"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/samples/{sample_id}/placement",
        &["samples:read"],
        NO,
    ),
    (
        "PUT",
        "/api/v1/orgs/{org_id}/samples/{sample_id}/placement",
        &["samples:write"],
        NO,
    ),
    (
        "DELETE",
        "/api/v1/orgs/{org_id}/samples/{sample_id}/placement",
        &["samples:write"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/samples/{sample_id}/custody",
        &["samples:read"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/samples/{sample_id}/handovers",
        &["samples:write"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/custody/report",
        &["samples:read"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/samples/{sample_id}/label.svg",
        &["samples:read"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/samples/{sample_id}/label.png",
        &["samples:read"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/samples/{sample_id}/label.zpl",
        &["samples:read"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/labels.pdf",
        &["samples:read"],
        NO,
    ),
    // Batches.
    (
        "GET",
        "/api/v1/orgs/{org_id}/batches",
        &["batches:read"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/batches",
        &["batches:write"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/batches/{batch_id}",
        &["batches:read"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/batches/{batch_id}/samples",
        &["batches:write"],
        NO,
    ),
    (
        "DELETE",
        "/api/v1/orgs/{org_id}/batches/{batch_id}/samples/{sample_id}",
        &["batches:write"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/batches/{batch_id}/close",
        &["batches:write"],
        NO,
    ),
    // Projects.
    (
        "GET",
        "/api/v1/orgs/{org_id}/projects",
        &["projects:read"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/projects",
        &["projects:write"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/projects/{project_id}",
        &["projects:read"],
        NO,
    ),
    (
        "PATCH",
        "/api/v1/orgs/{org_id}/projects/{project_id}",
        &["projects:read", "projects:write"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/projects/{project_id}/members",
        &["projects:read", "projects:write"],
        NO,
    ),
    (
        "DELETE",
        "/api/v1/orgs/{org_id}/projects/{project_id}/members/{user_id}",
        &["projects:read", "projects:write"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/projects/{project_id}/files",
        &["files:read", "projects:read", "projects:write"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/projects/{project_id}/report.pdf",
        &["projects:read", "reports:read", "samples:read"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/projects/{project_id}/report.csv",
        &["projects:read", "reports:read", "samples:read"],
        NO,
    ),
    // Exports.
    (
        "GET",
        "/api/v1/orgs/{org_id}/exports/public-key",
        &["exports:read"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/projects/{project_id}/export",
        &["exports:create", "files:read", "projects:read"],
        &["Auditor"],
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/export",
        &[
            "exports:create",
            "audit:read",
            "files:read",
            "projects:read",
        ],
        &["Auditor"],
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/imports/eln",
        &["samples:write", "files:write"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/export-requests",
        &["exports:read"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/export-requests/{export_request_id}",
        &["exports:read"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/export-requests/{export_request_id}/approve",
        &["members:write", "exports:create"],
        &["Admin"],
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/export-requests/{export_request_id}/reject",
        &["members:write", "exports:create"],
        &["Admin"],
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/export-requests/{export_request_id}/download",
        &["exports:create", "files:read"],
        NO,
    ),
    // Audit.
    ("GET", "/api/v1/orgs/{org_id}/audit", &["audit:read"], NO),
    (
        "GET",
        "/api/v1/orgs/{org_id}/audit/verify",
        &["audit:read"],
        NO,
    ),
    // Files, attachments, analyses, retention.
    ("GET", "/api/v1/orgs/{org_id}/files", &["files:read"], NO),
    ("POST", "/api/v1/orgs/{org_id}/files", &["files:write"], NO),
    (
        "GET",
        "/api/v1/orgs/{org_id}/files/{file_id}",
        &["files:read"],
        NO,
    ),
    (
        "DELETE",
        "/api/v1/orgs/{org_id}/files/{file_id}",
        &["files:read", "files:write"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/files/{file_id}/content",
        &["files:read"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/files/{file_id}/provenance",
        &["files:read"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/files/{file_id}/legal-hold",
        &["files:read", "org_settings:write"],
        NO,
    ),
    (
        "DELETE",
        "/api/v1/orgs/{org_id}/files/{file_id}/legal-hold",
        &["files:read", "org_settings:write"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/samples/{sample_id}/files",
        &["files:read", "samples:read"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/samples/{sample_id}/files",
        &["files:read", "files:write", "samples:read"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/batches/{batch_id}/files",
        &["files:read", "batches:read"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/batches/{batch_id}/files",
        &["files:read", "files:write", "batches:read"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/workflow-runs/{run_id}/files",
        &["files:read", "workflows:read"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/workflow-runs/{run_id}/files",
        &["files:read", "files:write", "workflows:read"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/analyses",
        &["files:write"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/analyses/{analysis_id}",
        &["files:read"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/samples/{sample_id}/provenance",
        &["files:read"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/retention",
        &["files:read"],
        NO,
    ),
    (
        "PUT",
        "/api/v1/orgs/{org_id}/retention",
        &["files:read", "org_settings:write"],
        NO,
    ),
    // Protocols, workflow runs.
    (
        "GET",
        "/api/v1/orgs/{org_id}/protocols",
        &["protocols:read"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/protocols",
        &["protocols:write"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/protocols/{protocol_id}",
        &["protocols:read"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/protocols/{protocol_id}/versions",
        &["protocols:write"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/protocols/{protocol_id}/versions/{version_id}",
        &["protocols:read"],
        NO,
    ),
    (
        "PATCH",
        "/api/v1/orgs/{org_id}/protocols/{protocol_id}/versions/{version_id}",
        &["protocols:write"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/protocols/{protocol_id}/versions/{version_id}/approve",
        &["protocols:read", "protocols:approve"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/protocols/{protocol_id}/diff",
        &["protocols:read"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/workflow-runs",
        &["workflows:read"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/workflow-runs",
        &["workflows:read", "workflows:write"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/workflow-runs/{run_id}",
        &["workflows:read"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/workflow-runs/{run_id}/steps",
        &["workflows:read", "workflows:write"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/workflow-runs/{run_id}/steps/{step_index}/verify",
        &["workflows:read", "workflows:write"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/workflow-runs/{run_id}/complete",
        &["workflows:read", "workflows:write"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/workflow-runs/{run_id}/abort",
        &["workflows:read", "workflows:write"],
        NO,
    ),
    // Compliance records.
    (
        "GET",
        "/api/v1/orgs/{org_id}/compliance-records",
        &["compliance_records:read"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/compliance-records",
        &["compliance_records:write"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/compliance-records/overdue",
        &["compliance_records:read"],
        NO,
    ),
    (
        "GET",
        "/api/v1/orgs/{org_id}/compliance-records/{record_id}",
        &["compliance_records:read"],
        NO,
    ),
    (
        "PATCH",
        "/api/v1/orgs/{org_id}/compliance-records/{record_id}",
        &["compliance_records:read", "compliance_records:write"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/compliance-records/{record_id}/transitions",
        &["compliance_records:read", "compliance_records:write"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/compliance-records/{record_id}/links",
        &["compliance_records:read", "compliance_records:write"],
        &["samples:read"],
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/compliance-records/{record_id}/signatures",
        &["compliance_records:read", "compliance_records:write"],
        NO,
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/compliance-records/{record_id}/close",
        &["compliance_records:read", "compliance_records:approve"],
        NO,
    ),
];

/// Routes for persons only: an API token is refused whatever it holds (e-signatures, step-up
/// actions, changes of power, and the tokens and access requests themselves).
const PERSON_ONLY: &[(&str, &str)] = &[
    ("POST", "/api/v1/orgs/{org_id}/protocols"),
    (
        "POST",
        "/api/v1/orgs/{org_id}/protocols/{protocol_id}/versions",
    ),
    (
        "PATCH",
        "/api/v1/orgs/{org_id}/protocols/{protocol_id}/versions/{version_id}",
    ),
    ("PATCH", "/api/v1/orgs/{org_id}/settings"),
    ("PATCH", "/api/v1/orgs/{org_id}/members/{user_id}"),
    ("POST", "/api/v1/orgs/{org_id}/roles"),
    ("PATCH", "/api/v1/orgs/{org_id}/roles/{role_id}"),
    ("DELETE", "/api/v1/orgs/{org_id}/roles/{role_id}"),
    ("POST", "/api/v1/orgs/{org_id}/api-tokens"),
    ("POST", "/api/v1/orgs/{org_id}/access-requests"),
    (
        "POST",
        "/api/v1/orgs/{org_id}/access-requests/{request_id}/approve",
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/access-requests/{request_id}/deny",
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/access-requests/{request_id}/revoke",
    ),
    ("POST", "/api/v1/orgs/{org_id}/projects/{project_id}/export"),
    ("POST", "/api/v1/orgs/{org_id}/export"),
    (
        "POST",
        "/api/v1/orgs/{org_id}/export-requests/{export_request_id}/approve",
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/export-requests/{export_request_id}/reject",
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/export-requests/{export_request_id}/download",
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/protocols/{protocol_id}/versions/{version_id}/approve",
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/compliance-records/{record_id}/signatures",
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/compliance-records/{record_id}/close",
    ),
    ("POST", "/api/v1/orgs/{org_id}/workflow-runs/{run_id}/steps"),
    (
        "POST",
        "/api/v1/orgs/{org_id}/workflow-runs/{run_id}/steps/{step_index}/verify",
    ),
    (
        "POST",
        "/api/v1/orgs/{org_id}/workflow-runs/{run_id}/complete",
    ),
];

/// The UI's pages under `/orgs/{org_id}` and what each needs to be shown.
const UI_PAGES: &[(&str, &[&str])] = &[
    ("/orgs/{org_id}", NO),
    ("/orgs/{org_id}/members", &["members:read"]),
    ("/orgs/{org_id}/roles", &["members:read"]),
    ("/orgs/{org_id}/roles/{role_id}", &["members:read"]),
    ("/orgs/{org_id}/access-review", &["members:read"]),
    ("/orgs/{org_id}/api-tokens", NO),
    ("/orgs/{org_id}/access-requests", NO),
    ("/orgs/{org_id}/samples", &["samples:read"]),
    ("/orgs/{org_id}/samples/{sample_id}", &["samples:read"]),
    (
        "/orgs/{org_id}/samples/{sample_id}/label",
        &["samples:read"],
    ),
    ("/orgs/{org_id}/storage", &["samples:read"]),
    ("/orgs/{org_id}/storage/{location_id}", &["samples:read"]),
    ("/orgs/{org_id}/batches", &["batches:read"]),
    ("/orgs/{org_id}/batches/{batch_id}", &["batches:read"]),
    ("/orgs/{org_id}/files", &["files:read"]),
    ("/orgs/{org_id}/files/{file_id}", &["files:read"]),
    // The form lists the files to pick from.
    (
        "/orgs/{org_id}/analyses/new",
        &["files:read", "files:write"],
    ),
    ("/orgs/{org_id}/analyses/{analysis_id}", &["files:read"]),
    ("/orgs/{org_id}/retention", &["files:read"]),
    ("/orgs/{org_id}/exports", &["exports:read"]),
    ("/orgs/{org_id}/audit", &["audit:read"]),
    ("/orgs/{org_id}/protocols", &["protocols:read"]),
    (
        "/orgs/{org_id}/protocols/{protocol_id}",
        &["protocols:read"],
    ),
    (
        "/orgs/{org_id}/protocols/{protocol_id}/versions/{version_id}",
        &["protocols:read"],
    ),
    (
        "/orgs/{org_id}/protocols/{protocol_id}/diff",
        &["protocols:read"],
    ),
    ("/orgs/{org_id}/compliance", &["compliance_records:read"]),
    (
        "/orgs/{org_id}/compliance/{record_id}",
        &["compliance_records:read"],
    ),
    ("/orgs/{org_id}/workflow-runs", &["workflows:read"]),
    ("/orgs/{org_id}/workflow-runs/{run_id}", &["workflows:read"]),
];

/// Routes a second permission also opens, to the caller's own records only (a member who asked
/// for exports lists their own requests): refusals are checked with a caller holding neither.
const OWN_RECORDS_TOO: &[(&str, &str, &str)] = &[(
    "GET",
    "/api/v1/orgs/{org_id}/export-requests",
    "exports:create",
)];

fn own_records_too(method: &str, template: &str) -> bool {
    OWN_RECORDS_TOO
        .iter()
        .any(|r| r.0 == method && r.1 == template)
}

fn route_of(method: &str, template: &str) -> &'static ApiRoute {
    API_ROUTES
        .iter()
        .find(|r| r.0 == method && r.1 == template)
        .unwrap_or_else(|| {
            panic!("{method} {template} is not in API_ROUTES: write down what it needs")
        })
}

fn person_only(method: &str, template: &str) -> bool {
    PERSON_ONLY.iter().any(|r| r.0 == method && r.1 == template)
}

/// The permissions named by `names`: permissions as they are, built-in roles as what they hold.
fn resolve(names: &[&str], roles: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        if name.contains(':') {
            out.push((*name).to_owned());
            continue;
        }
        let role = roles["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == *name)
            .unwrap_or_else(|| panic!("no role {name}"));
        out.extend(
            role["permissions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_owned()),
        );
    }
    out.sort();
    out.dedup();
    out
}

#[tokio::test]
async fn the_written_matrix_and_the_document_agree() {
    let server = common::spawn().await;
    let doc: Value = reqwest::get(server.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut documented = HashSet::new();
    for op in org_scoped(&operations(&server).await) {
        let (_, _, needs, _) = route_of(&op.method, &op.template);
        let mut scopes = op.scopes.clone();
        scopes.sort();
        let mut needs: Vec<String> = needs.iter().map(|s| (*s).to_owned()).collect();
        needs.sort();
        assert_eq!(
            scopes, needs,
            "{} {}: the document's scopes are not what the route needs",
            op.method, op.template
        );
        // The bearer scheme is offered exactly where a token may call.
        let security = &doc["paths"][&op.template][op.method.to_lowercase()]["security"];
        let bearer = security
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.get("bearer").is_some());
        assert_eq!(
            bearer,
            !person_only(&op.method, &op.template),
            "{} {}: the bearer scheme is offered where a token may not call, or the other way round",
            op.method,
            op.template
        );
        documented.insert((op.method.clone(), op.template.clone()));
    }
    for (method, template, _, _) in API_ROUTES {
        assert!(
            documented.contains(&((*method).to_owned(), (*template).to_owned())),
            "{method} {template} is in the matrix but not in the document"
        );
    }
}

/// Members and roles for the written matrix: for each permission a member holding every
/// permission but that one, a member holding none, and on demand a member holding exactly a
/// set; all through custom roles.
struct Cast {
    org: String,
    roles: Value,
    all: Vec<String>,
    all_but: HashMap<String, Session>,
    nothing: Session,
    exactly: HashMap<Vec<String>, Session>,
}

impl Cast {
    async fn new(server: &common::TestServer, owner: &Session) -> Cast {
        let org = server.org_id.clone();
        let all: Vec<String> = owner.get_json("/api/v1/permissions").await["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect();
        let mut all_but = HashMap::new();
        for p in &all {
            let rest: Vec<&String> = all.iter().filter(|q| *q != p).collect();
            let member = member_with(server, owner, &org, &format!("All but {p}"), &rest).await;
            all_but.insert(p.clone(), member);
        }
        let nothing = member_with(server, owner, &org, "Nothing", &[]).await;
        let roles = owner.get_json(&format!("/api/v1/orgs/{org}/roles")).await;
        Cast {
            org,
            roles,
            all,
            all_but,
            nothing,
            exactly: HashMap::new(),
        }
    }

    /// The needs of a route plus what its call hands out, as permissions.
    fn allowed_set(&self, route: &ApiRoute) -> Vec<String> {
        let mut set = resolve(route.2, &self.roles);
        set.extend(resolve(route.3, &self.roles));
        set.sort();
        set.dedup();
        set
    }

    async fn exactly(
        &mut self,
        server: &common::TestServer,
        owner: &Session,
        set: &[String],
    ) -> &Session {
        if !self.exactly.contains_key(set) {
            let name = format!("Exactly {}", uuid::Uuid::now_v7().simple());
            let perms: Vec<&String> = set.iter().collect();
            let member = member_with(server, owner, &self.org, &name, &perms).await;
            self.exactly.insert(set.to_vec(), member);
        }
        &self.exactly[set]
    }
}

/// A member holding only the custom role `name` with `perms`, logged in.
async fn member_with(
    server: &common::TestServer,
    owner: &Session,
    org: &str,
    name: &str,
    perms: &[&String],
) -> Session {
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/roles"),
            json!({"name": name, "permissions": perms}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    let email = format!("m-{}@lab.example", uuid::Uuid::now_v7().simple());
    owner.add_member(server, org, &email, &[name]).await
}

/// Sends a matrix call as `caller` (a signer's password is the member's own).
async fn call_as(caller: &Session, op: &Operation, call: &Call) -> (StatusCode, String) {
    let mut body = call.body.clone();
    if let Some(pw) = body.as_mut().and_then(|b| b.get_mut("password")) {
        if pw == common::ADMIN_PASSWORD {
            *pw = json!(common::MEMBER_PASSWORD);
        }
    }
    let method = Method::from_bytes(op.method.as_bytes()).unwrap();
    let res = caller.send(method, &call.path, body).await;
    let status = res.status();
    (status, res.text().await.unwrap())
}

/// Where the server and the written matrix disagree, collected so that one run names them all.
#[derive(Default)]
struct Findings(Vec<String>);

impl Findings {
    /// `caller` is refused with 403 `/problems/forbidden` and the trail does not move.
    async fn refused(
        &mut self,
        owner: &Session,
        org: &str,
        caller: &Session,
        who: &str,
        op: &Operation,
        call: &Call,
    ) {
        let before = common::audit_len(owner, org).await;
        let (status, text) = call_as(caller, op, call).await;
        let route = format!("{} {}", op.method, op.template);
        let kind = serde_json::from_str::<Value>(&text).map(|p| p["type"].clone());
        if status != StatusCode::FORBIDDEN || kind.ok() != Some(json!("/problems/forbidden")) {
            self.0.push(format!(
                "{who}: {route} must be refused (403), got {status}: {text}"
            ));
        }
        if common::audit_len(owner, org).await != before {
            self.0
                .push(format!("{who}: {route}: a refused call changed the trail"));
        }
    }

    /// `caller` succeeds; a change leaves an audit event.
    async fn allowed(
        &mut self,
        owner: &Session,
        org: &str,
        caller: &Session,
        who: &str,
        op: &Operation,
        call: &Call,
    ) {
        let before = common::audit_len(owner, org).await;
        let (status, text) = call_as(caller, op, call).await;
        let route = format!("{} {}", op.method, op.template);
        if !status.is_success() {
            self.0.push(format!(
                "{who}: {route}: expected success, got {status}: {text}"
            ));
        } else if op.method != "GET" && common::audit_len(owner, org).await <= before {
            self.0
                .push(format!("{who}: {route}: a change without an audit event"));
        }
    }

    fn assert_none(self) {
        assert!(
            self.0.is_empty(),
            "{} disagreements with the written matrix:\n{}",
            self.0.len(),
            self.0.join("\n")
        );
    }
}

#[tokio::test]
async fn custom_roles_against_the_written_matrix() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let mut cast = Cast::new(&server, &owner).await;
    // The org's keys exist (made by a first upload), as in any org in use: reading the export
    // key then needs only `exports:read`.
    common::fixtures::file(&owner, &org).await;
    owner
        .get_json(&format!("/api/v1/orgs/{org}/exports/public-key"))
        .await;
    let ops = org_scoped(&operations(&server).await);
    let mut findings = Findings::default();
    for op in &ops {
        let route = route_of(&op.method, &op.template);
        let call = prepare(&owner, &org, op).await;
        for p in route
            .2
            .iter()
            .filter(|_| !own_records_too(&op.method, &op.template))
        {
            let who = format!("a custom role without {p}");
            findings
                .refused(&owner, &org, &cast.all_but[*p], &who, op, &call)
                .await;
        }
        if !route.2.is_empty() {
            findings
                .refused(
                    &owner,
                    &org,
                    &cast.nothing,
                    "a role holding nothing",
                    op,
                    &call,
                )
                .await;
        }
        if common::fixtures::requester_only(&op.method, &op.template) {
            // Nobody but the person who asked, whatever they hold.
            let everything = cast.all.clone();
            let member = cast.exactly(&server, &owner, &everything).await;
            findings
                .refused(
                    &owner,
                    &org,
                    member,
                    "a custom role holding everything",
                    op,
                    &call,
                )
                .await;
            continue;
        }
        let set = cast.allowed_set(route);
        let member = cast.exactly(&server, &owner, &set).await;
        let who = format!("a custom role holding exactly {set:?}");
        findings
            .allowed(&owner, &org, member, &who, op, &call)
            .await;
    }
    findings.assert_none();
}

/// A client sending an API token (no cookie, no CSRF token).
fn bearer(server: &common::TestServer, token: &str) -> Session {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    Session {
        client: reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .unwrap(),
        base: server.base.clone(),
        csrf: String::new(),
        user_id: String::new(),
        me: Value::Null,
    }
}

/// A token made by `creator` holding `perms`; returns a client sending it.
async fn token_of(
    server: &common::TestServer,
    creator: &Session,
    org: &str,
    perms: &[&String],
) -> Session {
    let res = creator
        .post(
            &format!("/api/v1/orgs/{org}/api-tokens"),
            json!({"name": format!("t-{}", uuid::Uuid::now_v7().simple()), "permissions": perms, "expires_in_days": 1}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    let v: Value = res.json().await.unwrap();
    bearer(server, v["token"].as_str().unwrap())
}

#[tokio::test]
async fn api_tokens_hold_their_own_permissions_within_their_creators() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let all: Vec<String> = owner.get_json("/api/v1/permissions").await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    let roles = owner.get_json(&format!("/api/v1/orgs/{org}/roles")).await;
    common::fixtures::file(&owner, &org).await;
    owner
        .get_json(&format!("/api/v1/orgs/{org}/exports/public-key"))
        .await;
    let everything: Vec<&String> = all.iter().collect();
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/roles"),
            json!({"name": "Everything", "permissions": everything}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    // For each permission: a token holding every other one (fewer than its creator, the
    // owner), and a token holding everything whose creator then loses that one permission.
    let mut fewer = HashMap::new();
    let mut narrowed = HashMap::new();
    for p in &all {
        let rest: Vec<&String> = all.iter().filter(|q| *q != p).collect();
        fewer.insert(p.clone(), token_of(&server, &owner, &org, &rest).await);
        let role = format!("All but {p}");
        let res = owner
            .post(
                &format!("/api/v1/orgs/{org}/roles"),
                json!({"name": role, "permissions": rest}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let email = format!("creator-{}@lab.example", uuid::Uuid::now_v7().simple());
        let creator = owner
            .add_member(&server, &org, &email, &["Everything"])
            .await;
        let token = token_of(&server, &creator, &org, &everything).await;
        let res = owner
            .patch(
                &format!("/api/v1/orgs/{org}/members/{}", creator.user_id),
                json!({"roles": [role]}),
            )
            .await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "{}",
            res.text().await.unwrap()
        );
        narrowed.insert(p.clone(), token);
    }

    let mut exact: HashMap<Vec<String>, Session> = HashMap::new();
    let mut findings = Findings::default();
    for op in &org_scoped(&operations(&server).await) {
        let route = route_of(&op.method, &op.template);
        let call = prepare(&owner, &org, op).await;
        // A token's creator may revoke it whatever they hold (tokens.rs): not a matrix case.
        if op.template == "/api/v1/orgs/{org_id}/api-tokens/{token_id}" {
            continue;
        }
        for p in route
            .2
            .iter()
            .filter(|_| !own_records_too(&op.method, &op.template))
        {
            let who = format!("a token without {p}");
            findings
                .refused(&owner, &org, &fewer[*p], &who, op, &call)
                .await;
            let who = format!("a token holding everything, made by a member who lost {p}");
            findings
                .refused(&owner, &org, &narrowed[*p], &who, op, &call)
                .await;
        }
        let mut set = resolve(route.2, &roles);
        set.extend(resolve(route.3, &roles));
        set.sort();
        set.dedup();
        if !exact.contains_key(&set) {
            // A token holds at least one permission: one no route of the matrix needs.
            let unrelated = ["reports:write".to_owned()];
            let perms: Vec<&String> = if set.is_empty() {
                unrelated.iter().collect()
            } else {
                set.iter().collect()
            };
            exact.insert(set.clone(), token_of(&server, &owner, &org, &perms).await);
        }
        let token = &exact[&set];
        let who = format!("a token holding exactly {set:?}");
        if person_only(&op.method, &op.template)
            || common::fixtures::requester_only(&op.method, &op.template)
        {
            findings.refused(&owner, &org, token, &who, op, &call).await;
        } else {
            findings.allowed(&owner, &org, token, &who, op, &call).await;
        }
    }
    findings.assert_none();
}

/// A page's path with fresh records of `org` for its parameters.
async fn ui_path(owner: &Session, org: &str, template: &str) -> String {
    use common::fixtures as f;
    let mut path = template.replace("{org_id}", org);
    if path.contains("{role_id}") {
        path = path.replace("{role_id}", &f::custom_role(owner, org).await);
    }
    if path.contains("{sample_id}") {
        path = path.replace("{sample_id}", &f::sample(owner, org).await);
    }
    if path.contains("{location_id}") {
        path = path.replace("{location_id}", &f::storage_box(owner, org).await);
    }
    if path.contains("{batch_id}") {
        path = path.replace("{batch_id}", &f::batch(owner, org).await.0);
    }
    if path.contains("{file_id}") {
        path = path.replace("{file_id}", &f::file(owner, org).await);
    }
    if path.contains("{analysis_id}") {
        let input = f::file(owner, org).await;
        let res = owner
            .post(
                &format!("/api/v1/orgs/{org}/analyses"),
                json!({"method": "fixture", "result": {"ok": true}, "inputs": [{"type": "file", "id": input}]}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let v: Value = res.json().await.unwrap();
        path = path.replace("{analysis_id}", v["id"].as_str().unwrap());
    }
    if path.contains("{protocol_id}") {
        let (pid, vid) = f::protocol(owner, org, false).await;
        path = path
            .replace("{protocol_id}", &pid)
            .replace("{version_id}", &vid);
    }
    if path.contains("{record_id}") {
        path = path.replace(
            "{record_id}",
            &f::compliance_record(owner, org, false).await,
        );
    }
    if path.contains("{run_id}") {
        let (run, _) = f::workflow_run(owner, org, f::RunStage::Fresh).await;
        path = path.replace("{run_id}", &run);
    }
    assert!(!path.contains('{'), "no fixture for {template}");
    path
}

#[tokio::test]
async fn ui_pages_against_the_written_matrix() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let mut cast = Cast::new(&server, &owner).await;
    for (template, needs) in UI_PAGES {
        let path = ui_path(&owner, &org, template).await;
        let refusers = needs
            .iter()
            .map(|p| (format!("a custom role without {p}"), &cast.all_but[*p]))
            .chain(
                (!needs.is_empty()).then(|| ("a role holding nothing".to_owned(), &cast.nothing)),
            );
        for (who, member) in refusers {
            let res = member.get(&path).await;
            let status = res.status();
            assert!(
                status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
                "{who}: GET {template} must be refused, got {status}"
            );
            let page = res.text().await.unwrap();
            assert!(
                page.contains("<html") || page.contains("<!DOCTYPE"),
                "{who}: GET {template}: the refusal is not a page: {page}"
            );
        }
        let mut set = resolve(needs, &cast.roles);
        set.sort();
        let member = cast.exactly(&server, &owner, &set).await;
        let res = member.get(&path).await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "a custom role holding exactly {set:?}: GET {template}: {}",
            res.text().await.unwrap()
        );
    }
}
