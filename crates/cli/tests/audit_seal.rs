//! The keyed audit head: someone with plain SQL write access (no DDL) appends a correctly hashed
//! event and moves the chain head; `labledger audit verify` and the API name it, LabLedger refuses
//! to extend (and so vouch for) that head, TRUNCATE is refused on PostgreSQL, and a database
//! whose heads carry no seal yet (an upgrade) is sealed once, on start, and audited.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::TestServer;
use labledger_domain::audit::{ActorKind, AuditEvent, Changes, Hash};
use labledger_domain::{OrgId, Timestamp};
use serde_json::{json, Value};
use sqlx::{Executor, Row};

fn verify_cli(server: &TestServer, org: &str) -> (bool, String) {
    let out = server
        .cli()
        .args(["audit", "verify", "--org", org, "--data-dir"])
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

async fn verify_api(owner: &common::Session, org: &str) -> Value {
    owner
        .get_json(&format!("/api/v1/orgs/{org}/audit/verify"))
        .await
}

/// Appends one forged event, hashed exactly as LabLedger hashes, and moves the head onto it:
/// only INSERT and UPDATE, which the triggers allow.
async fn forge_event(db: &mut sqlx::AnyConnection, org: &str, actor: &str) {
    let head = sqlx::query("SELECT seq, hash FROM audit_heads WHERE org_id = $1")
        .bind(org)
        .fetch_one(&mut *db)
        .await
        .unwrap();
    let seq: i64 = head.get("seq");
    let prev: Hash = head.get::<Vec<u8>, _>("hash").try_into().unwrap();
    let event = AuditEvent {
        org_id: org.parse::<OrgId>().unwrap(),
        seq: seq + 1,
        at: Timestamp::now(),
        actor_kind: ActorKind::User,
        actor_id: Some(actor.to_owned()),
        action: "member.add".into(),
        target_type: "member".into(),
        target_id: Some("0193a5c2-0000-7000-8000-00000000beef".into()),
        changes: Changes::new()
            .created("email", "mallory@lab.example")
            .created("roles", ["Owner"])
            .into_value(),
        request_id: None,
        source_ip: None,
    };
    let hash = event.chain_hash(&prev);
    sqlx::query(
        "INSERT INTO audit_events (org_id, seq, at, actor_type, actor_id, action, target_type, \
         target_id, changes, request_id, source_ip, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, NULL, $10)",
    )
    .bind(org)
    .bind(event.seq)
    .bind(event.at.micros())
    .bind(event.actor_kind.as_str())
    .bind(event.actor_id.clone())
    .bind(event.action.clone())
    .bind(event.target_type.clone())
    .bind(event.target_id.clone())
    .bind(labledger_domain::jcs::canonicalize(&event.changes))
    .bind(hash.to_vec())
    .execute(&mut *db)
    .await
    .unwrap();
    let moved = sqlx::query("UPDATE audit_heads SET seq = $2, hash = $3 WHERE org_id = $1")
        .bind(org)
        .bind(event.seq)
        .bind(hash.to_vec())
        .execute(&mut *db)
        .await
        .unwrap();
    assert_eq!(moved.rows_affected(), 1);
}

#[tokio::test]
async fn a_forged_event_with_a_moved_head_is_named_by_cli_and_api() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    owner
        .add_member(&server, &org, "m1@lab.example", &["Viewer"])
        .await;
    let (ok, out) = verify_cli(&server, &org);
    assert!(ok, "{out}");
    let events = verify_api(&owner, &org).await["verified_events"]
        .as_i64()
        .unwrap();

    let mut db = server.raw_db().await;
    forge_event(&mut db, &org, &owner.user_id).await;

    // The links hold (the forgery is correctly hashed); only the seal gives it away.
    let (ok, out) = verify_cli(&server, &org);
    assert!(!ok, "verify must fail: {out}");
    assert!(out.contains("head seal does not match"), "{out}");
    assert!(out.contains("moved outside LabLedger"), "{out}");
    assert!(!out.contains("recomputed hash"), "{out}");
    let v = verify_api(&owner, &org).await;
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["broken_at_seq"], events + 1, "{v}");
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .contains("head seal does not match"),
        "{v}"
    );

    // LabLedger does not extend the forged head (which would seal the forgery in)...
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/members"),
            json!({"email": "m2@lab.example", "name": "Member 2", "roles": ["Viewer"]}),
        )
        .await;
    assert!(res.status().is_server_error(), "{}", res.status());
    // ... so the verdict stays.
    let (ok, out) = verify_cli(&server, &org);
    assert!(!ok && out.contains("head seal does not match"), "{out}");
}

#[tokio::test]
async fn a_head_stripped_of_its_seal_is_named_and_not_sealed_again_on_restart() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let mut db = server.raw_db().await;
    forge_event(&mut db, &org, &owner.user_id).await;
    sqlx::query("UPDATE audit_heads SET seal = NULL WHERE org_id = $1")
        .bind(&org)
        .execute(&mut db)
        .await
        .unwrap();
    drop(db);
    let (ok, out) = verify_cli(&server, &org);
    assert!(!ok, "{out}");
    assert!(out.contains("carries no seal"), "{out}");

    // A restart seals only the heads of a database never sealed before: not this one.
    let mut server = server;
    let dir = std::mem::replace(&mut server.data_dir, tempfile::tempdir().unwrap());
    let url = server.database_url.clone();
    drop(server);
    let mut restarted = common::spawn_on(dir, url, &[]);
    restarted.org_id = org.clone();
    let (ok, out) = verify_cli(&restarted, &org);
    assert!(!ok, "{out}");
    assert!(out.contains("carries no seal"), "{out}");
}

#[tokio::test]
async fn the_database_refuses_to_truncate_the_chain_and_signatures() {
    let server = common::spawn().await;
    let mut db = server.raw_db().await;
    // The sealing record is permanent on both engines.
    assert!(db.execute("DELETE FROM audit_head_sealing").await.is_err());
    assert!(db
        .execute("UPDATE audit_head_sealing SET sealed_at = 0")
        .await
        .is_err());
    if common::is_postgres() {
        for table in [
            "audit_events",
            "audit_heads",
            "signatures",
            "audit_head_sealing",
        ] {
            let refused = db.execute(format!("TRUNCATE {table}").as_str()).await;
            assert!(refused.is_err(), "TRUNCATE {table} must be refused");
        }
        // Not through the cascade from the orgs either.
        assert!(db.execute("TRUNCATE orgs CASCADE").await.is_err());
    }
    let (ok, out) = verify_cli(&server, &server.org_id);
    assert!(ok, "{out}");
}

/// Takes the database back to before heads were sealed, the way an upgrade finds it. This needs
/// DDL (the sealing record is permanent), which only the test does.
async fn unseal_like_before_the_upgrade(db: &mut sqlx::AnyConnection) {
    if common::is_postgres() {
        db.execute("ALTER TABLE audit_head_sealing DISABLE TRIGGER USER")
            .await
            .unwrap();
        db.execute("DELETE FROM audit_head_sealing").await.unwrap();
        db.execute("ALTER TABLE audit_head_sealing ENABLE TRIGGER USER")
            .await
            .unwrap();
    } else {
        db.execute("DROP TRIGGER audit_head_sealing_no_delete")
            .await
            .unwrap();
        db.execute("DELETE FROM audit_head_sealing").await.unwrap();
    }
    db.execute("UPDATE audit_heads SET seal = NULL")
        .await
        .unwrap();
}

#[tokio::test]
async fn heads_of_an_upgraded_database_are_sealed_once_on_start_and_audited() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let events = verify_api(&owner, &org).await["verified_events"]
        .as_i64()
        .unwrap();
    let mut db = server.raw_db().await;
    unseal_like_before_the_upgrade(&mut db).await;
    drop(db);

    let mut server = server;
    let dir = std::mem::replace(&mut server.data_dir, tempfile::tempdir().unwrap());
    let url = server.database_url.clone();
    drop(server);
    let mut restarted = common::spawn_on(dir, url, &[]);
    restarted.org_id = org.clone();
    let (ok, out) = verify_cli(&restarted, &org);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("intact, {} events", events + 1)),
        "{out}"
    );
    let owner = restarted.owner().await;
    let trail = owner
        .get_json(&format!("/api/v1/orgs/{org}/audit?action=audit.head_seal"))
        .await;
    let items = trail["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{trail}");
    assert_eq!(items[0]["actor_type"], "system", "{trail}");
    let log = std::fs::read_to_string(restarted.data_dir.path().join("server.log")).unwrap();
    assert!(log.contains("sealed the audit chain heads"), "{log}");
}
