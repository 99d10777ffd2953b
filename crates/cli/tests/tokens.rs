//! API tokens: created by a user with a subset of their permissions, shown once, stored hashed,
//! sent as `Authorization: Bearer llat_…` without CSRF, bound to one org, narrowed to what the
//! creator can do now, refused when expired or revoked, and audited as the token.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Session, TestServer};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

async fn create_token(owner: &Session, org: &str, perms: &[&str]) -> Value {
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/api-tokens"),
            json!({"name": "plate reader", "permissions": perms, "expires_in_days": 30}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json().await.unwrap()
}

/// A request with only the bearer token: no cookie, no CSRF header.
async fn bearer(
    server: &TestServer,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Response {
    let mut req = reqwest::Client::new()
        .request(method, server.url(path))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn a_read_only_token_reads_but_cannot_write_and_needs_no_csrf() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let created = create_token(&owner, &org, &["members:read"]).await;
    let token = created["token"].as_str().unwrap();
    assert!(token.starts_with("llat_"), "{token}");
    assert_eq!(token.len(), 5 + 43, "llat_ + 32 bytes base64url");
    assert_eq!(created["prefix"], &token[..13]);
    assert_eq!(created["permissions"], json!(["members:read"]));

    // Stored only as its SHA-256.
    use sha2::Digest;
    let mut db = server.raw_db().await;
    let hash = sha2::Sha256::digest(token.as_bytes()).to_vec();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens WHERE token_hash = $1")
        .bind(hash)
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(n, 1);

    let members = format!("/api/v1/orgs/{org}/members");
    let res = bearer(&server, token, Method::GET, &members, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let before = common::audit_len(&owner, &org).await;
    let res = bearer(
        &server,
        token,
        Method::POST,
        &members,
        Some(json!({"email": "intruder@lab.example", "name": "Intruder", "roles": ["Viewer"]})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(common::audit_len(&owner, &org).await, before);
    let list = owner.get_json(&members).await;
    assert!(!list.to_string().contains("intruder@"));
    // Its own permissions only, though its creator holds audit:read.
    let res = bearer(
        &server,
        token,
        Method::GET,
        &format!("/api/v1/orgs/{org}/audit"),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // A writing token writes without any CSRF token, and the trail names the token.
    let writer = create_token(&owner, &org, &["members:read", "members:write"]).await;
    let res = bearer(
        &server,
        writer["token"].as_str().unwrap(),
        Method::POST,
        &members,
        // No roles: the token could not hand out permissions it lacks (Viewer's samples:read).
        Some(json!({"email": "robot-made@lab.example", "name": "Made", "roles": []})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let trail = owner
        .get_json(&format!("/api/v1/orgs/{org}/audit?action=member.add"))
        .await;
    assert_eq!(trail["items"][0]["actor_type"], "token");
    assert_eq!(trail["items"][0]["actor_id"], writer["id"]);
    let trail = owner
        .get_json(&format!("/api/v1/orgs/{org}/audit?action=api_token.create"))
        .await;
    assert_eq!(trail["items"].as_array().unwrap().len(), 2);
    assert_eq!(trail["items"][0]["actor_type"], "user");

    // The list shows prefix and last use, never the secret.
    let list = owner
        .get_json(&format!("/api/v1/orgs/{org}/api-tokens"))
        .await;
    assert!(!list.to_string().contains(token));
    let item = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == created["id"])
        .unwrap();
    assert!(item["last_used_at"].is_string(), "{item}");
    assert_eq!(item["status"], "active");
}

#[tokio::test]
async fn a_token_never_does_more_than_its_creator_now_can() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let admin = owner
        .add_member(&server, &org, "admin@lab.example", &["Admin"])
        .await;
    let viewer = owner
        .add_member(&server, &org, "viewer@lab.example", &["Viewer"])
        .await;
    // Nobody hands a token what they lack: 403; unknown permissions and bad expiry: 422.
    let path = format!("/api/v1/orgs/{org}/api-tokens");
    let res = viewer
        .post(
            &path,
            json!({"name": "t", "permissions": ["members:read"], "expires_in_days": 5}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    for (body, field) in [
        (
            json!({"name": "t", "permissions": ["nope:read"], "expires_in_days": 5}),
            "permissions[0]",
        ),
        (
            json!({"name": "t", "permissions": ["samples:read"], "expires_in_days": 0}),
            "expires_in_days",
        ),
        (
            json!({"name": "t", "permissions": ["samples:read"], "expires_in_days": 366}),
            "expires_in_days",
        ),
        (
            json!({"name": "t", "permissions": [], "expires_in_days": 5}),
            "permissions",
        ),
    ] {
        let res = admin.post(&path, body.clone()).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let p: Value = res.json().await.unwrap();
        assert_eq!(p["errors"][0]["field"], field, "{p}");
    }

    let created = create_token(&admin, &org, &["members:read", "members:write"]).await;
    let token = created["token"].as_str().unwrap();
    let members = format!("/api/v1/orgs/{org}/members");
    let add = |email: &str| json!({"email": email, "name": "X", "roles": []});
    let res = bearer(
        &server,
        token,
        Method::POST,
        &members,
        Some(add("a1@lab.example")),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // The creator is reduced to Viewer: the token loses what they lost, at once.
    let res = owner
        .patch(
            &format!("{members}/{}", admin.user_id),
            json!({"roles": ["Viewer"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let before = common::audit_len(&owner, &org).await;
    let res = bearer(
        &server,
        token,
        Method::POST,
        &members,
        Some(add("a2@lab.example")),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = bearer(&server, token, Method::GET, &members, None).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(common::audit_len(&owner, &org).await, before);
    // Restored, it works again; once the creator leaves the org, the token is dead.
    owner
        .patch(
            &format!("{members}/{}", admin.user_id),
            json!({"roles": ["Admin"]}),
        )
        .await;
    let res = bearer(&server, token, Method::GET, &members, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = owner.delete(&format!("{members}/{}", admin.user_id)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = bearer(&server, token, Method::GET, &members, None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // A member sees only their own tokens; members:write sees all and revokes any.
    let own = create_token(&viewer, &org, &["samples:read"]).await;
    let mine = viewer.get_json(&path).await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    assert_eq!(mine["items"][0]["id"], own["id"]);
    let all = owner.get_json(&path).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    let res = viewer
        .delete(&format!("{path}/{}", created["id"].as_str().unwrap()))
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = viewer
        .delete(&format!("{path}/{}", own["id"].as_str().unwrap()))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn expired_and_revoked_tokens_are_refused() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let members = format!("/api/v1/orgs/{org}/members");
    let aging = create_token(&owner, &org, &["members:read"]).await;
    let revoked = create_token(&owner, &org, &["members:read"]).await;
    for t in [&aging, &revoked] {
        let res = bearer(
            &server,
            t["token"].as_str().unwrap(),
            Method::GET,
            &members,
            None,
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let mut db = server.raw_db().await;
    sqlx::query("UPDATE api_tokens SET expires_at = created_at - 1 WHERE id = $1")
        .bind(aging["id"].as_str().unwrap())
        .execute(&mut db)
        .await
        .unwrap();
    let res = bearer(
        &server,
        aging["token"].as_str().unwrap(),
        Method::GET,
        &members,
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["type"], "/problems/unauthorized");

    let res = owner
        .delete(&format!(
            "/api/v1/orgs/{org}/api-tokens/{}",
            revoked["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = bearer(
        &server,
        revoked["token"].as_str().unwrap(),
        Method::GET,
        &members,
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let trail = owner
        .get_json(&format!("/api/v1/orgs/{org}/audit?action=api_token.revoke"))
        .await;
    assert_eq!(trail["items"][0]["target_id"], revoked["id"]);
    // Unknown and malformed tokens too.
    for t in [
        "llat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "garbage",
    ] {
        let res = bearer(&server, t, Method::GET, &members, None).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{t}");
    }
    let list = owner
        .get_json(&format!("/api/v1/orgs/{org}/api-tokens"))
        .await;
    let statuses: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert!(
        statuses.contains(&"expired") && statuses.contains(&"revoked"),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn a_token_is_bound_to_its_org_and_cannot_act_as_a_user() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let org_b = server.create_org(
        "Other Lab",
        "boss@other.example",
        "other lab owner password",
    );
    let created = create_token(&owner, &org, &["members:read", "members:write"]).await;
    let token = created["token"].as_str().unwrap();

    // Another org's routes: the same 404 bytes as for a session that is not a member there.
    let path_b = format!("/api/v1/orgs/{org_b}/members");
    let res = bearer(&server, token, Method::GET, &path_b, None).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let token_bytes = res.bytes().await.unwrap();
    let res = owner.get(&path_b).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(res.bytes().await.unwrap(), token_bytes);
    let res = bearer(
        &server,
        token,
        Method::DELETE,
        &format!("{path_b}/{}", owner.user_id),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // User-only routes refuse tokens.
    let before = common::audit_len(&owner, &org).await;
    let res = bearer(
        &server,
        token,
        Method::POST,
        &format!("/api/v1/orgs/{org}/api-tokens"),
        Some(json!({"name": "child", "permissions": ["members:read"], "expires_in_days": 5})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = bearer(&server, token, Method::GET, "/api/v1/me", None).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = bearer(
        &server,
        token,
        Method::POST,
        &format!("/api/v1/orgs/{org}/access-requests"),
        Some(json!({"role": "Auditor", "reason": "r", "duration_minutes": 5})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(common::audit_len(&owner, &org).await, before);

    // The OpenAPI document offers the bearer scheme on org routes, after the session.
    let doc: Value = reqwest::get(server.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let sec = &doc["paths"]["/api/v1/orgs/{org_id}/members"]["post"]["security"];
    assert_eq!(sec[0]["session"], json!(["members:write"]));
    assert_eq!(sec[1]["bearer"], json!(["members:write"]));
}

#[tokio::test]
async fn the_ui_creates_a_token_shown_once_and_handles_access_requests() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let page = owner
        .get(&format!("/orgs/{org}/api-tokens"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Create a token"), "{page}");
    assert!(
        page.contains("Access requests"),
        "navigation links the JIT page"
    );
    let form = [
        ("csrf", owner.csrf.as_str()),
        ("name", "bench scale"),
        ("expires_in_days", "7"),
        ("permissions", "members:read"),
    ];
    let res = owner
        .client
        .post(server.url(&format!("/orgs/{org}/api-tokens")))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let page = res.text().await.unwrap();
    let start = page.find("llat_").expect("the token is shown once");
    let token: String = page[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    let res = bearer(
        &server,
        &token,
        Method::GET,
        &format!("/api/v1/orgs/{org}/members"),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Listed later without the secret.
    let page = owner
        .get(&format!("/orgs/{org}/api-tokens"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("bench scale") && !page.contains(&token));

    // Access requests: a member asks in the UI, the Owner approves in the UI.
    let tech = owner
        .add_member(&server, &org, "tech@lab.example", &["Technician"])
        .await;
    let res = tech
        .client
        .post(server.url(&format!("/orgs/{org}/access-requests")))
        .form(&[
            ("csrf", tech.csrf.as_str()),
            ("role", "Auditor"),
            ("duration_minutes", "30"),
            ("reason", "Checking the trail"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let list = owner
        .get_json(&format!("/api/v1/orgs/{org}/access-requests"))
        .await;
    let id = list["items"][0]["id"].as_str().unwrap().to_owned();
    let page = owner
        .get(&format!("/orgs/{org}/access-requests"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(&format!("/access-requests/{id}/approve")));
    let res = owner
        .client
        .post(server.url(&format!("/orgs/{org}/access-requests/{id}/approve")))
        .form(&[("csrf", owner.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        tech.get(&format!("/api/v1/orgs/{org}/audit"))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_invalid_credential_is_401_everywhere_and_a_valid_token_403_on_user_routes() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let created = create_token(&owner, &org, &["members:read"]).await;
    let token = created["token"].as_str().unwrap();
    let routes = [
        "/api/v1/me".to_owned(),
        format!("/api/v1/orgs/{org}/members"),
    ];
    let bad_headers = [
        "Bearer llat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "Bearer garbage",
        "Bearer",
        "Bearer llat_a llat_b",
        "Basic b3duZXI6cGFzc3dvcmQ=",
    ];
    for header in bad_headers {
        for path in &routes {
            let anonymous = reqwest::Client::new()
                .get(server.url(path))
                .header("authorization", header)
                .send()
                .await
                .unwrap();
            // A live session does not excuse a bad Authorization header either.
            let with_session = owner
                .client
                .get(server.url(path))
                .header("authorization", header)
                .send()
                .await
                .unwrap();
            for res in [anonymous, with_session] {
                assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{header} {path}");
                let challenge = res.headers()["www-authenticate"].to_str().unwrap();
                assert!(
                    challenge.starts_with("Bearer ")
                        && challenge.contains("error=\"invalid_token\""),
                    "{challenge}"
                );
                let p: Value = res.json().await.unwrap();
                assert_eq!(p["type"], "/problems/unauthorized", "{header} {path}");
            }
        }
    }
    // No credential at all: 401 naming the scheme.
    let res = reqwest::get(server.url("/api/v1/me")).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer realm="));
    // A valid token is a valid credential that may not use a user-only route: 403.
    let res = bearer(&server, token, Method::GET, "/api/v1/me", None).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = bearer(&server, token, Method::GET, &routes[1], None).await;
    assert_eq!(res.status(), StatusCode::OK);

    // An expired session: 401 on the API, the login form in the UI.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let res = browser
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"email": common::ADMIN_EMAIL, "password": common::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let page = format!("/orgs/{org}/samples");
    let res = browser.get(server.url(&page)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let mut db = server.raw_db().await;
    sqlx::query("UPDATE sessions SET expires_at = 1 WHERE user_id = $1")
        .bind(&owner.user_id)
        .execute(&mut db)
        .await
        .unwrap();
    // Edited behind the server's back: it reaches the server within a second.
    let res = common::within_the_recall_bound(
        || owner.get(&routes[1]),
        |r| r.status() == StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().contains_key("www-authenticate"));
    let res = common::within_the_recall_bound(
        || browser.get(server.url(&page)).send(),
        |r| r.as_ref().is_ok_and(|r| r.status().is_redirection()),
    )
    .await
    .unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(res.headers()["location"], "/login");
}

#[tokio::test]
async fn tokens_of_a_deactivated_member_or_a_disabled_org_stop_working() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let tech = owner
        .add_member(&server, &org, "tech@lab.example", &["Technician"])
        .await;
    let samples = format!("/api/v1/orgs/{org}/samples");
    let theirs = create_token(&tech, &org, &["samples:read"]).await;
    let theirs = theirs["token"].as_str().unwrap();
    let ours = create_token(&owner, &org, &["samples:read"]).await;
    let ours = ours["token"].as_str().unwrap();
    for t in [theirs, ours] {
        let res = bearer(&server, t, Method::GET, &samples, None).await;
        assert_eq!(res.status(), StatusCode::OK);
    }

    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/members/{}/deactivate", tech.user_id),
            json!({}),
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    for path in [samples.as_str(), "/api/v1/me"] {
        let res = bearer(&server, theirs, Method::GET, path, None).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let res = bearer(&server, ours, Method::GET, &samples, None).await;
    assert_eq!(res.status(), StatusCode::OK);

    let operator = |action: &str| {
        let out = server
            .cli()
            .args(["admin", "org", action, "--org", &org, "--data-dir"])
            .arg(server.data_dir_arg())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    operator("disable");
    let res = bearer(&server, ours, Method::GET, &samples, None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    operator("enable");
    let res = bearer(&server, ours, Method::GET, &samples, None).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_project_limited_members_token_sees_only_their_projects() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let mut projects = Vec::new();
    for name in ["Alpha", "Beta"] {
        let res = owner
            .post(
                &format!("/api/v1/orgs/{org}/projects"),
                json!({ "name": name }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        projects.push(
            res.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let samples = format!("/api/v1/orgs/{org}/samples");
    let mut ids = Vec::new();
    for project in &projects {
        let res = owner
            .post(
                &samples,
                json!({"sample_type": "blood", "project_id": project}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        ids.push(
            res.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let tech = owner
        .add_member(&server, &org, "tech@lab.example", &["Technician"])
        .await;
    let res = owner
        .send(
            Method::PUT,
            &format!("/api/v1/orgs/{org}/members/{}/project-access", tech.user_id),
            Some(json!({"limited": true})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/projects/{}/members", projects[0]),
            json!({"user_id": tech.user_id}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // The token acts under its creator's project limit.
    let created = create_token(&tech, &org, &["samples:read"]).await;
    let token = created["token"].as_str().unwrap();
    let page: Value = bearer(&server, token, Method::GET, &samples, None)
        .await
        .json()
        .await
        .unwrap();
    let seen: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(seen, [ids[0].as_str()]);
    let res = bearer(
        &server,
        token,
        Method::GET,
        &format!("{samples}/{}", ids[1]),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = bearer(
        &server,
        token,
        Method::GET,
        &format!("{samples}/{}", ids[0]),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
}
