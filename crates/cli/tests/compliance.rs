//! Compliance records over the API: open, investigate, link, assign, record root cause and
//! actions, close with a QA e-signature; overdue listing; illegal moves refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::fixtures::{fresh_member, protocol, sample};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn deviation_lifecycle_to_a_signed_close() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let scientist = fresh_member(&owner, &org, "Scientist").await;
    let qa = fresh_member(&owner, &org, "QA").await;
    let base = format!("/api/v1/orgs/{org}/compliance-records");

    let res = scientist
        .post(
            &base,
            json!({"kind": "deviation", "title": "Sample thawed in transit",
                   "description": "Box arrived at 4 °C", "owner_id": scientist.user_id, "due_at": "2020-01-01"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let rec: Value = res.json().await.unwrap();
    assert_eq!(rec["code"], "DEV-000001");
    assert_eq!(rec["state"], "open");
    assert_eq!(rec["overdue"], true);
    let id = rec["id"].as_str().unwrap().to_owned();
    let path = format!("{base}/{id}");

    // A CAPA gets its own numbering; a future due date is not overdue.
    let capa: Value = scientist
        .post(
            &base,
            json!({"kind": "capa", "title": "Courier audit", "due_at": "2099-01-01"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(capa["code"], "CAPA-000001");
    let overdue = owner.get_json(&format!("{base}/overdue")).await;
    let codes: Vec<&str> = overdue["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec!["DEV-000001"]);

    // An owner must be a member; bad kinds are named.
    let res = scientist
        .post(&base, json!({"kind": "incident", "title": "x", "owner_id": "0190a0a0-0000-7000-8000-000000000000"}))
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = scientist
        .patch(
            &path,
            json!({"owner_id": "0190a0a0-0000-7000-8000-000000000000"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Links to a sample and a protocol version of the org; a foreign id is refused.
    let s = sample(&owner, &org).await;
    let (_, v) = protocol(&owner, &org, true).await;
    for (t, i) in [("sample", s.as_str()), ("protocol_version", v.as_str())] {
        let res = scientist
            .post(
                &format!("{path}/links"),
                json!({"record_type": t, "record_id": i}),
            )
            .await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "{}",
            res.text().await.unwrap()
        );
    }
    let res = scientist
        .post(
            &format!("{path}/links"),
            json!({"record_type": "sample", "record_id": v}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let rec = owner.get_json(&path).await;
    assert_eq!(rec["links"].as_array().unwrap().len(), 2);
    assert_eq!(rec["links"][0]["label"], "S-000001");

    // Closing before investigating is refused, as is closing without a root cause.
    let res = qa
        .post(
            &format!("{path}/close"),
            json!({"password": common::MEMBER_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let res = scientist
        .post(&format!("{path}/transitions"), json!({"to": "closed"}))
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let res = scientist
        .post(
            &format!("{path}/transitions"),
            json!({"to": "investigating"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = scientist
        .post(&format!("{path}/transitions"), json!({"to": "open"}))
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let res = qa
        .post(
            &format!("{path}/close"),
            json!({"password": common::MEMBER_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("root cause"));
    let res = scientist
        .patch(&path, json!({"root_cause": "Courier left box in sun", "actions": "Courier retrained; data loggers added"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // A Scientist cannot close (no compliance_records:approve); QA with a wrong password neither.
    let before = common::audit_len(&owner, &org).await;
    let res = scientist
        .post(
            &format!("{path}/close"),
            json!({"password": common::MEMBER_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = qa
        .post(
            &format!("{path}/close"),
            json!({"password": "wrong wrong wrong"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(common::audit_len(&owner, &org).await, before);
    assert_eq!(owner.get_json(&path).await["signatures"], json!([]));

    let res = qa
        .post(
            &format!("{path}/close"),
            json!({"password": common::MEMBER_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let rec: Value = res.json().await.unwrap();
    assert_eq!(rec["state"], "closed");
    assert_eq!(rec["overdue"], false);
    assert_eq!(rec["signatures"][0]["meaning"], "closed");
    assert_eq!(rec["signatures"][0]["valid"], true);
    // Closed is final.
    let res = scientist.patch(&path, json!({"title": "changed"})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let overdue = owner.get_json(&format!("{base}/overdue")).await;
    assert_eq!(overdue["items"], json!([]));
    let trail = owner
        .get_json(&format!("/api/v1/orgs/{org}/audit?target_id={id}"))
        .await;
    let actions: Vec<&str> = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "compliance.open",
        "compliance.link",
        "compliance.transition",
        "compliance.update",
        "compliance.close",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }

    // The UI lists it and shows the signed close.
    let page = owner
        .get(&format!("/orgs/{org}/compliance"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("DEV-000001") && page.contains("CAPA-000001"));
    let page = owner
        .get(&format!("/orgs/{org}/compliance/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Closed by QA Person"), "{page}");
    assert!(page.contains("signature-valid"));
}
