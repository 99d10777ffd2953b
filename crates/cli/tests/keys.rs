//! Key rotation and crypto-shredding, black-box: after `labledger keys rotate --master` or
//! `--org` (also stopped halfway and run again) every file downloads byte-identically; after
//! `labledger admin org delete` the org's objects remain on disk but nothing can decrypt them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::Session;
use reqwest::StatusCode;
use serde_json::Value;

async fn upload(s: &Session, org: &str, name: &str, body: Vec<u8>) -> String {
    let res = s
        .client
        .post(format!("{}/api/v1/orgs/{org}/files?name={name}", s.base))
        .header("x-csrf-token", &s.csrf)
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    v["id"].as_str().unwrap().to_owned()
}

async fn content(s: &Session, org: &str, id: &str) -> (StatusCode, Vec<u8>) {
    let res = s
        .get(&format!("/api/v1/orgs/{org}/files/{id}/content"))
        .await;
    let status = res.status();
    (status, res.bytes().await.unwrap_or_default().to_vec())
}

fn run(server: &common::TestServer, args: &[&str]) -> String {
    let out = server
        .cli()
        .args(args)
        .arg("--data-dir")
        .arg(server.data_dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn audit_actions(owner: &Session, org: &str, prefix: &str) -> Vec<String> {
    let trail = owner
        .get_json(&format!("/api/v1/orgs/{org}/audit?action={prefix}"))
        .await;
    trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn org_key_rotation_rewraps_objects_and_resumes_after_a_stop() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let mut files = Vec::new();
    for i in 0..4u8 {
        let body: Vec<u8> = (0..70_000u32).map(|n| (n as u8) ^ i).collect();
        files.push((
            upload(&owner, &org, &format!("f{i}.bin"), body.clone()).await,
            body,
        ));
    }
    let mut raw = server.raw_db().await;
    let before: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT wrapped_key FROM file_objects ORDER BY path")
            .fetch_all(&mut raw)
            .await
            .unwrap();
    // The org's export signing key is wrapped by the org key too.
    let res = owner
        .get(&format!("/api/v1/orgs/{org}/exports/public-key"))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let public_before: Value = res.json().await.unwrap();
    let export_secret_before: Vec<u8> =
        sqlx::query_scalar("SELECT wrapped_secret FROM export_keys")
            .fetch_one(&mut raw)
            .await
            .unwrap();
    // Stopped after two object keys: everything still downloads (old and next key mixed).
    let out = run(
        &server,
        &["keys", "rotate", "--org", &org, "--stop-after", "2"],
    );
    assert!(out.contains("Stopped after 2"), "{out}");
    for (id, body) in &files {
        assert_eq!(
            content(&owner, &org, id).await,
            (StatusCode::OK, body.clone())
        );
    }
    // A new upload during the rotation is readable too.
    let extra = upload(
        &owner,
        &org,
        "during.bin",
        b"uploaded mid-rotation".to_vec(),
    )
    .await;
    // Run again: it finishes.
    let out = run(&server, &["keys", "rotate", "--org", &org]);
    assert!(out.contains("version 2"), "{out}");
    for (id, body) in &files {
        assert_eq!(
            content(&owner, &org, id).await,
            (StatusCode::OK, body.clone())
        );
    }
    assert_eq!(
        content(&owner, &org, &extra).await.1,
        b"uploaded mid-rotation"
    );
    let after: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT wrapped_key FROM file_objects WHERE path IN (SELECT path FROM file_objects) ORDER BY path",
    )
    .fetch_all(&mut raw)
    .await
    .unwrap();
    assert!(
        before.iter().all(|w| !after.contains(w)),
        "every object key re-wrapped"
    );
    // The export key moved to the new org key with the objects; the public key is unchanged.
    let export_secret_after: Vec<u8> = sqlx::query_scalar("SELECT wrapped_secret FROM export_keys")
        .fetch_one(&mut raw)
        .await
        .unwrap();
    assert_ne!(export_secret_after, export_secret_before);
    let public_after = owner
        .get_json(&format!("/api/v1/orgs/{org}/exports/public-key"))
        .await;
    assert_eq!(public_after, public_before);
    assert_eq!(
        audit_actions(&owner, &org, "vault.org_key_rotate")
            .await
            .len(),
        1
    );
    // Twice is safe.
    run(&server, &["keys", "rotate", "--org", &org]);
    for (id, body) in &files {
        assert_eq!(
            content(&owner, &org, id).await,
            (StatusCode::OK, body.clone())
        );
    }
}

#[tokio::test]
async fn master_rotation_rewraps_org_keys_and_replaces_the_key_file() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let org_b = server.create_org("Org B", "boss@b.example", "org b owner long password");
    let owner_b = server
        .login("boss@b.example", "org b owner long password")
        .await;
    let a = upload(&owner, &org, "a.bin", b"alpha evidence".to_vec()).await;
    let b = upload(&owner_b, &org_b, "b.bin", b"beta evidence".to_vec()).await;
    let key_path = server.data_dir.path().join("master.key");
    let old_key = std::fs::read(&key_path).unwrap();

    // Stop after one org, then finish: the key file changes only at the end.
    let out = run(
        &server,
        &["keys", "rotate", "--master", "--stop-after", "1"],
    );
    assert!(out.contains("Stopped after 1"), "{out}");
    assert_eq!(std::fs::read(&key_path).unwrap(), old_key);
    run(&server, &["keys", "rotate", "--master"]);
    let new_key = std::fs::read(&key_path).unwrap();
    assert_ne!(new_key, old_key);
    assert_eq!(new_key.len(), 32);
    run(&server, &["keys", "rotate", "--master"]); // again: safe (another new key)
    assert_eq!(
        audit_actions(&owner, &org, "vault.master_rotate")
            .await
            .len(),
        2
    );

    // The server restarted with the new key file serves every file byte-identically.
    let mut server = server;
    let dir = std::mem::replace(&mut server.data_dir, tempfile::tempdir().unwrap());
    let db = server.database_url.clone();
    drop(server);
    let restarted = common::spawn_on(dir, db, &[]);
    let owner = restarted.owner().await;
    let owner_b = restarted
        .login("boss@b.example", "org b owner long password")
        .await;
    assert_eq!(
        content(&owner, &org, &a).await,
        (StatusCode::OK, b"alpha evidence".to_vec())
    );
    assert_eq!(
        content(&owner_b, &org_b, &b).await,
        (StatusCode::OK, b"beta evidence".to_vec())
    );
    // Every chain head was resealed under the new master key, and says so.
    let out = restarted
        .cli()
        .args(["audit", "verify", "--data-dir"])
        .arg(restarted.data_dir_arg())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        audit_actions(&owner, &org, "audit.head_reseal").await.len(),
        2
    );
}

#[tokio::test]
async fn deleting_an_org_shreds_its_key() {
    let server = common::spawn().await;
    let org_b = server.create_org("Shred Me", "boss@b.example", "org b owner long password");
    let owner_b = server
        .login("boss@b.example", "org b owner long password")
        .await;
    let id = upload(&owner_b, &org_b, "secret.bin", b"to be shredded".to_vec()).await;
    let objects = server.data_dir.path().join("objects").join(&org_b);
    let on_disk: Vec<_> = std::fs::read_dir(&objects).unwrap().flatten().collect();
    assert!(!on_disk.is_empty());

    let out = server
        .cli()
        .args([
            "admin",
            "org",
            "delete",
            "--id",
            &org_b,
            "--confirm",
            "Wrong Name",
        ])
        .arg("--data-dir")
        .arg(server.data_dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success(), "a wrong confirmation is refused");
    run(
        &server,
        &[
            "admin",
            "org",
            "delete",
            "--id",
            &org_b,
            "--confirm",
            "Shred Me",
        ],
    );

    // The API no longer serves the org.
    let res = owner_b
        .get(&format!("/api/v1/orgs/{org_b}/files/{id}/content"))
        .await;
    assert!(res.status().is_client_error(), "{}", res.status());
    // The ciphertext is still on disk, but no key in the database opens it.
    let still: Vec<_> = std::fs::read_dir(&objects).unwrap().flatten().collect();
    assert_eq!(still.len(), on_disk.len());
    let mut raw = server.raw_db().await;
    let keys: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM org_keys WHERE org_id = $1")
        .bind(&org_b)
        .fetch_one(&mut raw)
        .await
        .unwrap();
    assert_eq!(keys, 0, "the org key is destroyed");
    // Even re-enabled by an operator, nothing decrypts.
    run(&server, &["admin", "org", "enable", "--org", &org_b]);
    let res = owner_b
        .get(&format!("/api/v1/orgs/{org_b}/files/{id}/content"))
        .await;
    assert!(!res.status().is_success(), "{}", res.status());
    let body = res.bytes().await.unwrap();
    assert!(!body.windows(8).any(|w| w == b"shredded"));
}

/// The code pyotp (an independent RFC 6238 implementation) computes for `secret` at `at`
/// (seconds since the epoch).
fn pyotp_at(secret: &str, at: u64) -> String {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            &format!("import pyotp,sys; print(pyotp.TOTP(sys.argv[1]).at({at}))"),
            secret,
        ])
        .output()
        .expect("python3 with pyotp (scripts/test.sh installs it)");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A user's TOTP secret is user-level (not org-level): it is sealed under the platform
/// secrets key, which the master key wraps. A master rotation re-wraps that key, so every
/// enrolled authenticator keeps working after the server restarts with the new master key.
#[tokio::test]
async fn master_rotation_keeps_enrolled_totp_working() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let res = owner
        .post("/api/v1/me/mfa/totp", serde_json::json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let e: Value = res.json().await.unwrap();
    let secret = e["secret"].as_str().unwrap().to_owned();
    // Confirmed with the code of the step before now (one step of drift is accepted), so the
    // current step's code is still unused for the login below; well inside a step.
    if unix_now() % 30 > 20 {
        tokio::time::sleep(std::time::Duration::from_secs(31 - unix_now() % 30)).await;
    }
    let res = owner
        .post(
            "/api/v1/me/mfa/totp/confirm",
            serde_json::json!({"code": pyotp_at(&secret, unix_now() - 30)}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let key_path = server.data_dir.path().join("master.key");
    let old_key = std::fs::read(&key_path).unwrap();

    run(&server, &["keys", "rotate", "--master"]);
    assert_ne!(std::fs::read(&key_path).unwrap(), old_key);

    let mut server = server;
    let dir = std::mem::replace(&mut server.data_dir, tempfile::tempdir().unwrap());
    let db = server.database_url.clone();
    drop(server);
    let restarted = common::spawn_on(dir, db, &[]);
    let login = |body: Value| {
        reqwest::Client::new()
            .post(restarted.url("/api/v1/auth/login"))
            .json(&body)
            .send()
    };
    // Without a code: a second factor is asked for (MFA is still on).
    let res = login(
        serde_json::json!({"email": common::ADMIN_EMAIL, "password": common::ADMIN_PASSWORD}),
    )
    .await
    .unwrap();
    assert!(!res.status().is_success(), "{}", res.status());
    // The authenticator's current code logs in.
    let code = pyotp_at(&secret, unix_now());
    let res = login(serde_json::json!({"email": common::ADMIN_EMAIL, "password": common::ADMIN_PASSWORD, "totp_code": code}))
        .await
        .unwrap();
    let status = res.status();
    let body = res.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
}

fn restart(server: common::TestServer) -> common::TestServer {
    let mut server = server;
    let dir = std::mem::replace(&mut server.data_dir, tempfile::tempdir().unwrap());
    let db = server.database_url.clone();
    drop(server);
    common::spawn_on(dir, db, &[])
}

/// Turns the owner's TOTP secret back into how it was stored before platform keys: sealed by
/// the master key itself (key_version 0), and forgets the last used step.
async fn make_legacy(server: &common::TestServer, secret_b32: &str) {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import base64,sys; print(base64.b32decode(sys.argv[1]).hex())",
            secret_b32,
        ])
        .output()
        .unwrap();
    let raw = String::from_utf8(out.stdout).unwrap();
    let raw: Vec<u8> = (0..raw.trim().len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&raw.trim()[i..i + 2], 16).unwrap())
        .collect();
    let master: [u8; 32] = std::fs::read(server.data_dir.path().join("master.key"))
        .unwrap()
        .try_into()
        .unwrap();
    let mut db = server.raw_db().await;
    let user: String = sqlx::query_scalar("SELECT user_id FROM user_totp")
        .fetch_one(&mut db)
        .await
        .unwrap();
    let sealed = labledger_auth::SecretBox::new(&master)
        .seal(user.as_bytes(), &raw)
        .unwrap();
    sqlx::query("UPDATE user_totp SET secret_enc = $1, key_version = 0, last_step = 0")
        .bind(sealed)
        .execute(&mut db)
        .await
        .unwrap();
}

async fn totp_versions(server: &common::TestServer) -> Vec<i64> {
    let mut db = server.raw_db().await;
    sqlx::query_scalar("SELECT key_version FROM user_totp")
        .fetch_all(&mut db)
        .await
        .unwrap()
}

async fn login_with_code(server: &common::TestServer, secret: &str) -> StatusCode {
    let code = pyotp_at(secret, unix_now());
    reqwest::Client::new()
        .post(server.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"email": common::ADMIN_EMAIL, "password": common::ADMIN_PASSWORD, "totp_code": code}))
        .send()
        .await
        .unwrap()
        .status()
}

/// An upgrade: TOTP secrets sealed by the master key itself (before platform keys) are moved
/// under the platform key at the next start, or by a master rotation, and keep working.
#[tokio::test]
async fn secrets_sealed_by_the_master_key_before_the_upgrade_are_moved() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let res = owner
        .post("/api/v1/me/mfa/totp", serde_json::json!({}))
        .await;
    let e: Value = res.json().await.unwrap();
    let secret = e["secret"].as_str().unwrap().to_owned();
    if unix_now() % 30 > 20 {
        tokio::time::sleep(std::time::Duration::from_secs(31 - unix_now() % 30)).await;
    }
    let res = owner
        .post(
            "/api/v1/me/mfa/totp/confirm",
            serde_json::json!({"code": pyotp_at(&secret, unix_now())}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // Moved at start.
    make_legacy(&server, &secret).await;
    assert_eq!(totp_versions(&server).await, vec![0]);
    let server = restart(server);
    assert_eq!(totp_versions(&server).await, vec![1]);
    assert_eq!(login_with_code(&server, &secret).await, StatusCode::OK);

    // Moved by a master rotation (the server never restarted in between).
    make_legacy(&server, &secret).await;
    run(&server, &["keys", "rotate", "--master"]);
    assert_eq!(totp_versions(&server).await, vec![1]);
    let server = restart(server);
    assert_eq!(login_with_code(&server, &secret).await, StatusCode::OK);
}
