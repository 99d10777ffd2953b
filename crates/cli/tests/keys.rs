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
