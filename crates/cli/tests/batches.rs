//! Batches over the API: made from sample codes or a search, changed only while open, closed for
//! good, every change in the audit trail; unknown and other orgs' codes refused by name.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use reqwest::StatusCode;
use serde_json::{json, Value};

async fn register(owner: &common::Session, org: &str, sample_type: &str) -> Value {
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/samples"),
            json!({ "sample_type": sample_type }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json().await.unwrap()
}

fn codes(detail: &Value) -> Vec<String> {
    detail["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["code"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_batch_takes_samples_while_open_and_freezes_when_closed() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let base = format!("/api/v1/orgs/{org}/batches");
    let s1 = register(&owner, &org, "blood").await;
    let s2 = register(&owner, &org, "blood").await;
    let s3 = register(&owner, &org, "serum").await;

    // From codes, lower-case and repeated codes normalised.
    let res = owner
        .post(
            &base,
            json!({"name": "Run 1", "codes": ["s-000001", "S-000001", s2["code"]]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["code"], "B-000001");
    assert_eq!(b["status"], "open");
    assert_eq!(b["sample_count"], 2);
    let id = b["id"].as_str().unwrap().to_owned();

    // Add by search (only the serum), then again: already present samples are skipped.
    for _ in 0..2 {
        let res = owner
            .post(
                &format!("{base}/{id}/samples"),
                json!({"search": {"sample_type": "serum"}}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["sample_count"], 3);
    }
    let detail = owner.get_json(&format!("{base}/{id}")).await;
    assert_eq!(codes(&detail), ["S-000001", "S-000002", "S-000003"]);

    // Remove one.
    let s1_id = s1["id"].as_str().unwrap();
    let res = owner.delete(&format!("{base}/{id}/samples/{s1_id}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let detail = owner.get_json(&format!("{base}/{id}")).await;
    assert_eq!(codes(&detail), ["S-000002", "S-000003"]);
    // Removing a sample that is not in it: 404.
    let res = owner.delete(&format!("{base}/{id}/samples/{s1_id}")).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // Close; then nothing changes any more.
    let res = owner
        .send(reqwest::Method::POST, &format!("{base}/{id}/close"), None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let closed: Value = res.json().await.unwrap();
    assert_eq!(closed["status"], "closed");
    assert!(closed["closed_at"].is_string());
    let before = common::audit_len(&owner, &org).await;
    let s3_id = s3["id"].as_str().unwrap();
    for res in [
        owner
            .post(
                &format!("{base}/{id}/samples"),
                json!({"codes": ["S-000001"]}),
            )
            .await,
        owner.delete(&format!("{base}/{id}/samples/{s3_id}")).await,
        owner
            .send(reqwest::Method::POST, &format!("{base}/{id}/close"), None)
            .await,
    ] {
        assert_eq!(res.status(), StatusCode::CONFLICT);
        assert_eq!(res.headers()["content-type"], "application/problem+json");
    }
    assert_eq!(common::audit_len(&owner, &org).await, before);
    let detail = owner.get_json(&format!("{base}/{id}")).await;
    assert_eq!(codes(&detail), ["S-000002", "S-000003"]);

    // Every change is in the trail, newest first.
    let trail = owner
        .get_json(&format!(
            "/api/v1/orgs/{org}/audit?action=batch.&target_id={id}"
        ))
        .await;
    let actions: Vec<&str> = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "batch.close",
            "batch.remove_sample",
            "batch.add_samples",
            "batch.add_samples",
            "batch.create"
        ]
    );

    // Listing: newest first, filter by status, paging.
    let second = owner
        .post(&base, json!({"name": "Run 2", "codes": [s1["code"]]}))
        .await;
    assert_eq!(second.status(), StatusCode::CREATED);
    let page = owner.get_json(&format!("{base}?limit=1")).await;
    assert_eq!(page["items"][0]["code"], "B-000002");
    let cursor = page["next_cursor"].as_str().unwrap();
    let page = owner
        .get_json(&format!("{base}?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(page["items"][0]["code"], "B-000001");
    assert!(page["next_cursor"].is_null());
    let open = owner.get_json(&format!("{base}?status=open")).await;
    assert_eq!(open["items"].as_array().unwrap().len(), 1);
    let res = owner.get(&format!("{base}?status=archived")).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn unknown_and_other_orgs_codes_are_named_and_nothing_is_created() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    register(&owner, &org, "blood").await;
    let org_b = server.create_org(
        "Other Lab",
        "boss@other.example",
        "other lab owner password",
    );
    let owner_b = server
        .login("boss@other.example", "other lab owner password")
        .await;
    for _ in 0..3 {
        register(&owner_b, &org_b, "blood").await;
    }
    let before = common::audit_len(&owner, &org).await;
    // S-000003 exists only in the other org: to this org it does not exist.
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/batches"),
            json!({"name": "Mixed", "codes": ["S-000001", "S-000003", "S-999999", "nonsense"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "codes[3]", "{p}");

    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/batches"),
            json!({"name": "Mixed", "codes": ["S-000001", "S-000003", "S-999999"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let p: Value = res.json().await.unwrap();
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["codes[1]", "codes[2]"], "{p}");
    assert_eq!(common::audit_len(&owner, &org).await, before);
    let list = owner.get_json(&format!("/api/v1/orgs/{org}/batches")).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);

    // Bad search terms are named by their place in the body.
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/batches"),
            json!({"name": "Bad", "search": {"status": "melted", "sample_type": "  "}}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "search.status", "{p}");
    assert_eq!(p["errors"].as_array().unwrap().len(), 1, "{p}");

    // A search only ever finds this org's samples.
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/batches"),
            json!({"name": "All blood", "search": {"sample_type": "blood"}}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["sample_count"], 1);
}

#[tokio::test]
async fn a_viewer_reads_batches_but_cannot_change_them() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let s = register(&owner, &org, "blood").await;
    let b: Value = owner
        .post(
            &format!("/api/v1/orgs/{org}/batches"),
            json!({"name": "Run", "codes": [s["code"]]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = b["id"].as_str().unwrap();
    let viewer = owner
        .add_member(&server, &org, "viewer@lab.example", &["Viewer"])
        .await;
    let detail = viewer
        .get_json(&format!("/api/v1/orgs/{org}/batches/{id}"))
        .await;
    assert_eq!(detail["sample_count"], 1);
    let res = viewer
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/orgs/{org}/batches/{id}/close"),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let still: Value = owner
        .get_json(&format!("/api/v1/orgs/{org}/batches/{id}"))
        .await;
    assert_eq!(still["status"], "open");
}
