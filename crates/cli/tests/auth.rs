//! Password login, sessions, CSRF and the current user, as a client sees them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

async fn login_raw(server: &common::TestServer, email: &str, password: &str) -> reqwest::Response {
    Client::new()
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn login_sets_an_httponly_samesite_cookie_and_returns_the_csrf_token() {
    let server = common::spawn().await;
    let res = login_raw(&server, common::ADMIN_EMAIL, common::ADMIN_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("labledger_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(
        cookie.contains("SameSite=Lax") || cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let token = cookie.split(';').next().unwrap().split('=').nth(1).unwrap();
    assert!(
        token.len() >= 43,
        "a session token carries at least 256 bits"
    );
    let body: Value = res.json().await.unwrap();
    assert!(body["csrf_token"].as_str().unwrap().len() >= 43);
    assert_eq!(body["email"], common::ADMIN_EMAIL);
    // The token is stored hashed: the database never holds it in the clear.
    let mut db = server.raw_db().await;
    let count = |bytes: Vec<u8>| {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM sessions WHERE token_hash = $1")
            .bind(bytes)
    };
    use sha2::Digest;
    let hashed = sha2::Sha256::digest(token.as_bytes()).to_vec();
    assert_eq!(
        count(hashed).fetch_one(&mut db).await.unwrap(),
        1,
        "stored as its SHA-256"
    );
    assert_eq!(
        count(token.as_bytes().to_vec())
            .fetch_one(&mut db)
            .await
            .unwrap(),
        0,
        "never in the clear"
    );
}

#[tokio::test]
async fn unknown_email_and_wrong_password_answer_the_same() {
    let server = common::spawn().await;
    let wrong_password = login_raw(&server, common::ADMIN_EMAIL, "not the password at all").await;
    let unknown_email = login_raw(&server, "nobody@lab.example", "not the password at all").await;
    assert_eq!(wrong_password.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown_email.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong_password.headers().get("set-cookie").is_none());
    assert!(unknown_email.headers().get("set-cookie").is_none());
    let a = wrong_password.bytes().await.unwrap();
    let b = unknown_email.bytes().await.unwrap();
    assert_eq!(a, b);
    let p: Value = serde_json::from_slice(&a).unwrap();
    assert_eq!(p["type"], "/problems/invalid-credentials");
}

#[tokio::test]
async fn me_reports_the_user_and_memberships() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let other = server.create_org(
        "Second Lab",
        common::ADMIN_EMAIL,
        "ignored because the account exists",
    );
    let me = owner.get_json("/api/v1/me").await;
    assert_eq!(me["id"], owner.user_id.as_str());
    assert_eq!(me["email"], common::ADMIN_EMAIL);
    assert!(me["name"].is_string());
    let memberships = me["memberships"].as_array().unwrap();
    assert_eq!(memberships.len(), 2);
    for m in memberships {
        assert_eq!(m["roles"], json!(["Owner"]));
        assert!(m["org_id"] == server.org_id.as_str() || m["org_id"] == other.as_str());
        assert!(m["org_name"].is_string());
    }
    // The existing account kept its password.
    server.owner().await;
    let anon = Client::new()
        .get(server.url("/api/v1/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(anon.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn logout_ends_the_session_on_the_server() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let res = login_raw(&server, common::ADMIN_EMAIL, common::ADMIN_PASSWORD).await;
    let cookie = res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let csrf = res.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let with_cookie = |path: &str| {
        Client::new()
            .get(server.url(path))
            .header("cookie", cookie.clone())
    };
    assert_eq!(
        with_cookie("/api/v1/me").send().await.unwrap().status(),
        StatusCode::OK
    );
    let out = Client::new()
        .post(server.url("/api/v1/auth/logout"))
        .header("cookie", cookie.clone())
        .header("x-csrf-token", csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert!(out.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("labledger_session=;"));
    // Replaying the old cookie does not work: the server forgot the session.
    assert_eq!(
        with_cookie("/api/v1/me").send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    // Other sessions of the same user live on.
    assert_eq!(owner.get("/api/v1/me").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn unsafe_requests_with_the_cookie_need_the_csrf_token() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = &server.org_id;
    let path = server.url(&format!("/api/v1/orgs/{org}/roles"));
    let before = common::audit_len(&owner, org).await;
    for token in [None, Some("wrong-token"), Some("")] {
        let mut req = owner
            .client
            .post(&path)
            .json(&json!({"name": "Sneaky", "permissions": []}));
        if let Some(t) = token {
            req = req.header("x-csrf-token", t);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{token:?}");
        let p: Value = res.json().await.unwrap();
        assert_eq!(p["type"], "/problems/csrf");
    }
    let logout = owner
        .client
        .post(server.url("/api/v1/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        logout.status(),
        StatusCode::FORBIDDEN,
        "logout is CSRF-protected too"
    );
    assert_eq!(common::audit_len(&owner, org).await, before);
    // With it, the same request goes through.
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/roles"),
            json!({"name": "Sneaky", "permissions": []}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn sessions_end_after_the_idle_timeout() {
    let data_dir = tempfile::tempdir().unwrap();
    let db = common::fresh_database().await;
    let server = common::spawn_on(data_dir, db, &["--session-idle-minutes", "1"]);
    let owner = server.owner().await;
    assert_eq!(owner.get("/api/v1/me").await.status(), StatusCode::OK);
    // Age the session's last use past the idle limit, as 61 seconds of inactivity would.
    let mut raw = server.raw_db().await;
    sqlx::query("UPDATE sessions SET last_seen_at = last_seen_at - 61000000")
        .execute(&mut raw)
        .await
        .unwrap();
    // Edited behind the server's back (real idleness is checked at every use): it reaches the
    // server within its one-second memory of sessions.
    let res = common::within_the_recall_bound(
        || owner.get("/api/v1/me"),
        |r| r.status() == StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn passwords_are_stored_as_argon2id_with_owasp_parameters() {
    let server = common::spawn().await;
    let mut raw = server.raw_db().await;
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE email = $1")
        .bind(common::ADMIN_EMAIL)
        .fetch_one(&mut raw)
        .await
        .unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains(common::ADMIN_PASSWORD));
}

#[tokio::test]
async fn a_cross_origin_request_with_a_valid_cookie_and_token_is_refused() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = &server.org_id;
    let before = common::audit_len(&owner, org).await;
    let path = server.url(&format!("/api/v1/orgs/{org}/roles"));
    let body = json!({"name": "Planted", "permissions": []});
    for (header, value) in [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
    ] {
        let res = owner
            .client
            .post(&path)
            .header("x-csrf-token", &owner.csrf)
            .header(header, value)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{header}: {value}");
    }
    assert_eq!(common::audit_len(&owner, org).await, before);
    let own_origin = server.base.clone();
    let res = owner
        .client
        .post(&path)
        .header("x-csrf-token", &owner.csrf)
        .header("origin", own_origin)
        .header("sec-fetch-site", "same-origin")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn sessions_end_at_their_absolute_lifetime_and_cannot_be_fixed_in_advance() {
    let server = common::spawn().await;
    // Fixation: a cookie planted before login is not what the login hands out, and is worthless.
    let planted = "labledger_session=attacker-chose-this-value-0123456789abcdefghijklmno";
    let res = Client::new()
        .post(server.url("/api/v1/auth/login"))
        .header("cookie", planted)
        .json(&json!({"email": common::ADMIN_EMAIL, "password": common::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let issued = res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_ne!(issued, planted);
    let me = Client::new()
        .get(server.url("/api/v1/me"))
        .header("cookie", planted)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    let me = Client::new()
        .get(server.url("/api/v1/me"))
        .header("cookie", issued.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    // Absolute lifetime: however active, a session past its end is refused.
    let mut raw = server.raw_db().await;
    sqlx::query("UPDATE sessions SET expires_at = created_at")
        .execute(&mut raw)
        .await
        .unwrap();
    // Edited behind the server's back: it reaches the server within a second.
    let me = common::within_the_recall_bound(
        || {
            Client::new()
                .get(server.url("/api/v1/me"))
                .header("cookie", issued.clone())
                .send()
        },
        |r| {
            r.as_ref()
                .is_ok_and(|r| r.status() == StatusCode::UNAUTHORIZED)
        },
    )
    .await
    .unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
}
