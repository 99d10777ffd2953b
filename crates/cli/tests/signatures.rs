//! E-signatures: bound to the SHA-256 of the record's canonical content at signing. Editing a
//! signed record (through the API, or behind the server's back in the database) makes
//! verification fail, in the API and visibly on the record's page. Signers with MFA need a code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::fixtures::{compliance_record, fresh_member, protocol};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

#[tokio::test]
async fn editing_a_signed_record_invalidates_its_signature_visibly() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let id = compliance_record(&owner, &org, false).await;
    let path = format!("/api/v1/orgs/{org}/compliance-records/{id}");

    let res = owner
        .post(
            &format!("{path}/signatures"),
            json!({"meaning": "reviewed", "password": common::ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    let sig: Value = res.json().await.unwrap();
    assert_eq!(sig["meaning"], "reviewed");
    assert_eq!(sig["valid"], true);
    let rec = owner.get_json(&path).await;
    assert_eq!(rec["signatures"][0]["valid"], true);
    assert_eq!(
        rec["signatures"][0]["content_sha256"],
        rec["content_sha256"]
    );
    let page = owner
        .get(&format!("/orgs/{org}/compliance/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("signature-valid") && !page.contains("signature-invalid"));

    // Moving the lifecycle does not change the signed content ...
    let res = owner
        .post(
            &format!("{path}/transitions"),
            json!({"to": "investigating"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(owner.get_json(&path).await["signatures"][0]["valid"], true);
    // ... but editing the record does.
    let res = owner
        .patch(&path, json!({"description": "Alarm at night, twice"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let rec = owner.get_json(&path).await;
    let s = &rec["signatures"][0];
    assert_eq!(s["valid"], false);
    assert!(
        s["reason"]
            .as_str()
            .unwrap()
            .contains("changed after signing"),
        "{s}"
    );
    assert_ne!(s["content_sha256"], rec["content_sha256"]);
    let page = owner
        .get(&format!("/orgs/{org}/compliance/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("signature-invalid"), "{page}");
    assert!(page.contains("INVALID"));
}

#[tokio::test]
async fn tampering_in_the_database_invalidates_an_approval() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let (pid, vid) = protocol(&owner, &org, true).await;
    let path = format!("/api/v1/orgs/{org}/protocols/{pid}/versions/{vid}");
    let v = owner.get_json(&path).await;
    assert_eq!(v["signatures"][0]["meaning"], "approved");
    assert_eq!(v["signatures"][0]["valid"], true);

    let mut db = server.raw_db().await;
    sqlx::query("UPDATE protocol_versions SET body = $1 WHERE id = $2")
        .bind("# Thawing\nKeep at room temperature.")
        .bind(vid.clone())
        .execute(&mut db)
        .await
        .unwrap();
    // Signatures themselves cannot be rewritten to match.
    let res = sqlx::query("UPDATE signatures SET content_hash = $1")
        .bind(vec![0u8; 32])
        .execute(&mut db)
        .await;
    assert!(res.is_err(), "signatures are append-only");

    let v = owner.get_json(&path).await;
    assert_eq!(v["signatures"][0]["valid"], false);
    let page = owner
        .get(&format!("/orgs/{org}/protocols/{pid}/versions/{vid}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("signature-invalid"), "{page}");
}

fn pyotp(secret: &str, at: u64) -> String {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            &format!("import pyotp,sys; print(pyotp.TOTP(sys.argv[1]).at({at}))"),
            secret,
        ])
        .output()
        .expect("python3 with pyotp");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn settled_now() -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if now % 30 > 24 {
        std::thread::sleep(std::time::Duration::from_secs(31 - now % 30));
    }
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn signers_with_mfa_need_a_code_and_tokens_never_sign() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let qa = fresh_member(&owner, &org, "QA").await;
    let t = settled_now();
    let res = qa.post("/api/v1/me/mfa/totp", json!({})).await;
    let secret = res.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = qa
        .post(
            "/api/v1/me/mfa/totp/confirm",
            json!({"code": pyotp(&secret, t - 30)}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let id = compliance_record(&owner, &org, true).await;
    let close = format!("/api/v1/orgs/{org}/compliance-records/{id}/close");
    let before = common::audit_len(&owner, &org).await;
    let res = qa
        .post(&close, json!({"password": common::MEMBER_PASSWORD}))
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.json::<Value>().await.unwrap()["type"],
        "/problems/mfa-required"
    );
    assert_eq!(common::audit_len(&owner, &org).await, before);
    let res = qa
        .post(
            &close,
            json!({"password": common::MEMBER_PASSWORD, "totp_code": pyotp(&secret, t)}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    let rec: Value = res.json().await.unwrap();
    assert_eq!(rec["signatures"][0]["meaning"], "closed");

    // An API token of the owner cannot sign, whatever its permissions.
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/api-tokens"),
            json!({"name": "robot", "permissions": ["compliance_records:read", "compliance_records:write", "compliance_records:approve"], "expires_in_days": 1}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let token = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = compliance_record(&owner, &org, true).await;
    let res = reqwest::Client::new()
        .post(server.url(&format!(
            "/api/v1/orgs/{org}/compliance-records/{other}/close"
        )))
        .bearer_auth(token)
        .json(&json!({"password": common::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}
