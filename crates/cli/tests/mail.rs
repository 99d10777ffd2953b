//! Invitations, password reset and password change, end to end through a real SMTP server
//! (aiosmtpd, started per test) and the mailbox it writes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

const STRONG: &str = "quiet violet harbours at dawn";
const WEAK: &str = "password1234";

fn anon() -> Client {
    Client::builder().cookie_store(true).build().unwrap()
}

async fn post(server: &common::TestServer, path: &str, body: Value) -> reqwest::Response {
    anon()
        .post(server.url(path))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The problem names `field` and carries zxcvbn's feedback.
async fn refused_as_weak(res: reqwest::Response, field: &str) {
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let p: Value = res.json().await.unwrap();
    let e = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["field"] == field)
        .unwrap_or_else(|| panic!("no error for {field}: {p}"));
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains("too easy to guess"), "{msg}");
    assert!(
        msg.len() > "is too easy to guess.".len() + 10,
        "feedback missing: {msg}"
    );
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

#[tokio::test]
async fn invitation_end_to_end() {
    let server = common::spawn().await;
    let smtp = server.smtp.as_ref().unwrap();
    let owner = server.owner().await;
    let org = &server.org_id;
    let invitations = server.org_path(org, "/invitations");

    let res = owner
        .post(
            &invitations,
            json!({"email": "newbie@lab.example", "roles": ["Scientist"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let inv: Value = res.json().await.unwrap();
    assert_eq!(inv["status"], "pending");
    let mail = &smtp.wait_for(1).await[0];
    assert!(common::mail_header(mail, "To")
        .unwrap()
        .contains("newbie@lab.example"));
    let body = common::mail_body(mail);
    let token = common::link_token(&body, "/invite");
    assert!(
        body.contains(&format!("{}/invite?token=", server.base)),
        "{body}"
    );
    // Only the hash is stored.
    let mut db = server.raw_db().await;
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM invitations WHERE token_hash = $1")
        .bind(<sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()).to_vec())
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(stored, 1);

    // The page the mail links to.
    let page = anon()
        .get(server.url(&format!("/invite?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("newbie@lab.example"));

    let accept = |password: &str| json!({"token": token, "name": "Newbie", "password": password});
    refused_as_weak(
        post(&server, "/api/v1/invitations/accept", accept(WEAK)).await,
        "password",
    )
    .await;
    // The person's own email and name count against the password.
    refused_as_weak(
        post(
            &server,
            "/api/v1/invitations/accept",
            accept("newbie@lab.example"),
        )
        .await,
        "password",
    )
    .await;
    let res = post(&server, "/api/v1/invitations/accept", accept(STRONG)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["account_created"], true);
    assert_eq!(v["org_id"], org.as_str());

    let newbie = server.login("newbie@lab.example", STRONG).await;
    let m = &newbie.me["memberships"][0];
    assert_eq!(m["org_id"], org.as_str());
    assert_eq!(m["roles"], json!(["Scientist"]));

    // Single use.
    let res = post(&server, "/api/v1/invitations/accept", accept(STRONG)).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "token");

    // Audited, with the invitee as actor and `via: invitation`.
    let (actor, changes): (Option<String>, String) = {
        use sqlx::Row;
        let r = sqlx::query(
            "SELECT actor_id, changes FROM audit_events WHERE org_id = $1 AND action = 'member.add' ORDER BY seq DESC LIMIT 1",
        )
        .bind(org.as_str())
        .fetch_one(&mut db)
        .await
        .unwrap();
        (
            r.try_get("actor_id").unwrap(),
            r.try_get("changes").unwrap(),
        )
    };
    assert_eq!(actor.as_deref(), Some(newbie.user_id.as_str()));
    assert!(changes.contains("invitation"), "{changes}");
    let created: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE org_id = $1 AND action = 'invitation.create'",
    )
    .bind(org.as_str())
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!(created, 1);

    // An expired invitation is refused.
    let res = owner
        .post(
            &invitations,
            json!({"email": "late@lab.example", "roles": ["Viewer"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let late = common::link_token(&common::mail_body(&smtp.wait_for(2).await[1]), "/invite");
    sqlx::query("UPDATE invitations SET expires_at = $1 WHERE email = 'late@lab.example'")
        .bind(now_micros() - 1)
        .execute(&mut db)
        .await
        .unwrap();
    let res = post(
        &server,
        "/api/v1/invitations/accept",
        json!({"token": late, "name": "Late", "password": STRONG}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // A revoked one too.
    let res = owner
        .post(
            &invitations,
            json!({"email": "revoked@lab.example", "roles": ["Viewer"]}),
        )
        .await;
    let revoked: Value = res.json().await.unwrap();
    let revoked_token =
        common::link_token(&common::mail_body(&smtp.wait_for(3).await[2]), "/invite");
    let res = owner
        .delete(&format!(
            "{invitations}/{}",
            revoked["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = post(
        &server,
        "/api/v1/invitations/accept",
        json!({"token": revoked_token, "name": "Rev", "password": STRONG}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let list = owner.get_json(&invitations).await;
    let statuses: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["revoked", "expired", "accepted"]);

    // Granting beyond one's own permissions is refused, as for adding a member.
    let admin = owner
        .add_member(&server, org, "admin2@lab.example", &["Admin"])
        .await;
    let res = admin
        .post(
            &invitations,
            json!({"email": "boss@lab.example", "roles": ["Owner"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_existing_account_accepts_with_its_own_password() {
    let server = common::spawn().await;
    let smtp = server.smtp.as_ref().unwrap();
    let other_org = server.create_org(
        "Other Lab",
        "other@lab.example",
        "other lab owner picks granite kites",
    );
    let other = server
        .login("other@lab.example", "other lab owner picks granite kites")
        .await;
    let res = other
        .post(
            &server.org_path(&other_org, "/invitations"),
            json!({"email": common::ADMIN_EMAIL, "roles": ["Viewer"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let token = common::link_token(&common::mail_body(&smtp.wait_for(1).await[0]), "/invite");
    let res = post(
        &server,
        "/api/v1/invitations/accept",
        json!({"token": token, "password": "not the owner's password"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = post(
        &server,
        "/api/v1/invitations/accept",
        json!({"token": token, "password": common::ADMIN_PASSWORD}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["account_created"], false);
    let owner = server.owner().await;
    assert_eq!(owner.me["memberships"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn password_reset_end_to_end_never_reveals_accounts() {
    let server = common::spawn().await;
    let smtp = server.smtp.as_ref().unwrap();
    let owner = server.owner().await;
    let member = owner
        .add_member(
            &server,
            &server.org_id,
            "forgetful@lab.example",
            &["Viewer"],
        )
        .await;

    let known = post(
        &server,
        "/api/v1/auth/password-reset",
        json!({"email": "forgetful@lab.example"}),
    )
    .await;
    let unknown = post(
        &server,
        "/api/v1/auth/password-reset",
        json!({"email": "nobody@lab.example"}),
    )
    .await;
    assert_eq!(known.status(), StatusCode::ACCEPTED);
    assert_eq!(unknown.status(), StatusCode::ACCEPTED);
    assert_eq!(known.bytes().await.unwrap(), unknown.bytes().await.unwrap());
    let mails = smtp.wait_for(1).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        smtp.messages().len(),
        1,
        "a mail only for the existing account"
    );
    assert!(common::mail_header(&mails[0], "To")
        .unwrap()
        .contains("forgetful@lab.example"));
    let token = common::link_token(&common::mail_body(&mails[0]), "/reset/confirm");

    let confirm = |pw: &str| json!({"token": token, "new_password": pw});
    refused_as_weak(
        post(
            &server,
            "/api/v1/auth/password-reset/confirm",
            confirm(WEAK),
        )
        .await,
        "new_password",
    )
    .await;
    let res = post(
        &server,
        "/api/v1/auth/password-reset/confirm",
        confirm(STRONG),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // Every session of the user ended.
    assert_eq!(
        member.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let res = anon()
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"email": "forgetful@lab.example", "password": common::MEMBER_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    server.login("forgetful@lab.example", STRONG).await;
    // Single use.
    let res = post(
        &server,
        "/api/v1/auth/password-reset/confirm",
        confirm("another fine unguessable phrase"),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // An expired link is refused.
    post(
        &server,
        "/api/v1/auth/password-reset",
        json!({"email": "forgetful@lab.example"}),
    )
    .await;
    let token2 = common::link_token(
        &common::mail_body(&smtp.wait_for(2).await[1]),
        "/reset/confirm",
    );
    let mut db = server.raw_db().await;
    sqlx::query("UPDATE password_resets SET expires_at = $1 WHERE used_at IS NULL")
        .bind(now_micros() - 1)
        .execute(&mut db)
        .await
        .unwrap();
    let res = post(
        &server,
        "/api/v1/auth/password-reset/confirm",
        json!({"token": token2, "new_password": STRONG}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // The pages.
    let page = anon().get(server.url("/reset")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let page = anon().get(server.url("/login")).send().await.unwrap();
    assert!(page.text().await.unwrap().contains("href=\"/reset\""));
}

#[tokio::test]
async fn password_change_ends_the_other_sessions() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let a = owner
        .add_member(&server, &server.org_id, "changer@lab.example", &["Viewer"])
        .await;
    let b = server
        .login("changer@lab.example", common::MEMBER_PASSWORD)
        .await;

    let res = a
        .post(
            "/api/v1/me/password",
            json!({"current_password": "not my password at all", "new_password": STRONG}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "current_password");
    refused_as_weak(
        a.post(
            "/api/v1/me/password",
            json!({"current_password": common::MEMBER_PASSWORD, "new_password": WEAK}),
        )
        .await,
        "new_password",
    )
    .await;
    let res = a
        .post(
            "/api/v1/me/password",
            json!({"current_password": common::MEMBER_PASSWORD, "new_password": STRONG}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        a.get("/api/v1/me").await.status(),
        StatusCode::OK,
        "this session stays"
    );
    assert_eq!(
        b.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED,
        "the other ended"
    );
    server.login("changer@lab.example", STRONG).await;
}

#[tokio::test]
async fn weak_passwords_are_refused_wherever_a_password_is_set() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let res = owner
        .post(
            &server.org_path(&server.org_id, "/members"),
            json!({"email": "weak@lab.example", "name": "Weak", "roles": [], "password": WEAK}),
        )
        .await;
    refused_as_weak(res, "password").await;
    // A generated password passes.
    let res = owner
        .post(
            &server.org_path(&server.org_id, "/members"),
            json!({"email": "gen@lab.example", "name": "Gen", "roles": []}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    // The operator CLI.
    let out = server
        .cli()
        .args([
            "admin",
            "org",
            "create",
            "--name",
            "Weak Lab",
            "--owner-email",
            "w@lab.example",
            "--data-dir",
        ])
        .arg(server.data_dir_arg())
        .env("LABLEDGER_OWNER_PASSWORD", WEAK)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("LABLEDGER_OWNER_PASSWORD") && err.contains("guess"),
        "{err}"
    );

    // First start.
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(common::bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("LABLEDGER_ADMIN_PASSWORD", WEAK)
        .env_remove("LABLEDGER_DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a weak admin password must stop the first start"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("LABLEDGER_ADMIN_PASSWORD") && err.contains("guess"),
        "{err}"
    );
}

#[tokio::test]
async fn without_smtp_invitations_and_resets_say_so() {
    let data_dir = tempfile::tempdir().unwrap();
    let server = common::spawn_on(data_dir, common::fresh_database().await, &[]);
    let owner = server.owner().await;
    for res in [
        owner
            .post(
                &server.org_path(&server.org_id, "/invitations"),
                json!({"email": "x@lab.example", "roles": []}),
            )
            .await,
        post(
            &server,
            "/api/v1/auth/password-reset",
            json!({"email": common::ADMIN_EMAIL}),
        )
        .await,
    ] {
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        let p: Value = res.json().await.unwrap();
        assert_eq!(p["type"], "/problems/smtp-not-configured");
    }
}
