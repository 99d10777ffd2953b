//! Organization isolation: every org-scoped route, enumerated from the OpenAPI document, called
//! by the Owner of another org, answers 404 with the very bytes of a record that does not exist,
//! and changes nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::fixtures::{missing_records, operations, org_scoped, prepare};
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn every_org_route_hides_other_orgs_records_behind_an_identical_404() {
    let server = common::spawn().await;
    let owner_a = server.owner().await;
    let org_a = server.org_id.clone();
    let org_b = server.create_org(
        "Other Lab",
        "boss@other.example",
        "other lab owner password",
    );
    let owner_b = server
        .login("boss@other.example", "other lab owner password")
        .await;

    let ops = org_scoped(&operations(&server).await);
    assert!(ops.len() >= 9, "{ops:?}");
    for op in &ops {
        let method = Method::from_bytes(op.method.as_bytes()).unwrap();
        // Real records of org B, called by A's owner.
        let call = prepare(&owner_b, &org_b, op).await;
        let events_before = common::audit_len(&owner_b, &org_b).await;
        let cross = owner_a
            .send(method.clone(), &call.path, call.body.clone())
            .await;
        assert_eq!(
            cross.status(),
            StatusCode::NOT_FOUND,
            "{} {} across orgs",
            op.method,
            call.path
        );
        let cross_body = cross.bytes().await.unwrap();
        assert_eq!(
            common::audit_len(&owner_b, &org_b).await,
            events_before,
            "{} {} changed org B",
            op.method,
            op.template
        );

        // A's own org, naming records that do not exist (routes with record ids) ...
        if op.template.matches('{').count() > 1 {
            let missing = owner_a
                .send(
                    method.clone(),
                    &missing_records(&org_a, op),
                    call.body.clone(),
                )
                .await;
            assert_eq!(
                missing.status(),
                StatusCode::NOT_FOUND,
                "{} {} missing record",
                op.method,
                op.template
            );
            assert_eq!(
                missing.bytes().await.unwrap(),
                cross_body,
                "{} {}: bodies differ",
                op.method,
                op.template
            );
        }
        // ... and an org that does not exist, and an org id that is not even an id.
        let no_org = missing_records(&uuid::Uuid::now_v7().to_string(), op);
        let res = owner_a
            .send(method.clone(), &no_org, call.body.clone())
            .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            res.bytes().await.unwrap(),
            cross_body,
            "{} {}: unknown org differs",
            op.method,
            op.template
        );
        // Every path parameter malformed: the org id and any record id.
        let garbage = op
            .template
            .split('/')
            .map(|seg| {
                if seg.starts_with('{') {
                    "not-an-id"
                } else {
                    seg
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let res = owner_a.send(method, &garbage, call.body.clone()).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            res.bytes().await.unwrap(),
            cross_body,
            "{} {}: malformed id differs",
            op.method,
            op.template
        );
    }
}

#[tokio::test]
async fn record_ids_of_another_org_are_not_found_inside_ones_own_org() {
    // B's member id used under A's org path: the store binds A's org id, so B's record is absent.
    let server = common::spawn().await;
    let owner_a = server.owner().await;
    let org_a = server.org_id.clone();
    let org_b = server.create_org(
        "Other Lab",
        "boss@other.example",
        "other lab owner password",
    );
    let owner_b = server
        .login("boss@other.example", "other lab owner password")
        .await;
    let b_member = common::fixtures::victim_member(&owner_b, &org_b).await;
    let b_role = common::fixtures::custom_role(&owner_b, &org_b).await;
    for path in [
        format!("/api/v1/orgs/{org_a}/members/{b_member}"),
        format!("/api/v1/orgs/{org_a}/roles/{b_role}"),
    ] {
        assert_eq!(
            owner_a.get(&path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
        assert_eq!(
            owner_a.delete(&path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    // And B's member is still there.
    assert_eq!(
        owner_b
            .get(&format!("/api/v1/orgs/{org_b}/members/{b_member}"))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn another_orgs_audit_trail_is_invisible() {
    let server = common::spawn().await;
    let owner_a = server.owner().await;
    let org_b = server.create_org(
        "Other Lab",
        "boss@other.example",
        "other lab owner password",
    );
    let res = owner_a.get(&format!("/api/v1/orgs/{org_b}/audit")).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let me = owner_a.get_json("/api/v1/me").await;
    let orgs: Vec<&str> = me["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["org_id"].as_str().unwrap())
        .collect();
    assert_eq!(orgs, vec![server.org_id.as_str()]);
}
