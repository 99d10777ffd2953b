//! The access review: idle members, members without MFA, privileged role holders, API tokens
//! near expiry or never used, and live grants; deactivation from the review page.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn the_review_names_what_an_admin_must_look_at() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = &server.org_id;
    // Never logged in: idle.
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/members"),
            json!({"email": "ghost@lab.example", "name": "Ghost", "roles": ["Admin"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // Logged in: not idle.
    owner
        .add_member(&server, org, "active@lab.example", &["Viewer"])
        .await;
    // A token that expires soon and was never used.
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/api-tokens"),
            json!({"name": "balance", "permissions": ["samples:read"], "expires_in_days": 3}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    let review = owner
        .get_json(&format!("/api/v1/orgs/{org}/access-review"))
        .await;
    assert_eq!(review["idle_days"], 90);
    let member = |email: &str| {
        review["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["email"] == email)
            .unwrap()
            .clone()
    };
    assert_eq!(member("ghost@lab.example")["idle"], true);
    assert_eq!(member("ghost@lab.example")["privileged"], true);
    assert_eq!(member("active@lab.example")["idle"], false);
    assert_eq!(member("active@lab.example")["privileged"], false);
    assert_eq!(member(common::ADMIN_EMAIL)["mfa"], false);
    let token = &review["tokens"][0];
    assert_eq!(token["name"], "balance");
    assert_eq!(token["expiring_soon"], true);
    assert_eq!(token["never_used"], true);
    assert!(review["grants"].as_array().unwrap().is_empty());
    // A one-day window makes nobody idle who logged in today.
    let short = owner
        .get_json(&format!("/api/v1/orgs/{org}/access-review?idle_days=1"))
        .await;
    assert_eq!(short["idle_days"], 1);
    for bad in ["idle_days=0", "idle_days=x", "other=1"] {
        assert_eq!(
            owner
                .get(&format!("/api/v1/orgs/{org}/access-review?{bad}"))
                .await
                .status(),
            StatusCode::BAD_REQUEST
        );
    }
    // Viewers may not see it.
    let viewer = owner
        .add_member(&server, org, "viewer@lab.example", &["Viewer"])
        .await;
    assert_eq!(
        viewer
            .get(&format!("/api/v1/orgs/{org}/access-review"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn one_click_on_the_review_page_deactivates_a_member() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = &server.org_id;
    let sam = owner
        .add_member(&server, org, "sam@lab.example", &["Scientist"])
        .await;
    let page = owner
        .client
        .get(server.url(&format!("/orgs/{org}/access-review")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Members without MFA") && html.contains("sam@lab.example"),
        "{html}"
    );
    let action = format!("/orgs/{org}/members/{}/deactivate", sam.user_id);
    assert!(html.contains(&action), "a deactivate button per member");
    // Without the form's CSRF token: refused, nothing happens.
    let res = owner
        .client
        .post(server.url(&action))
        .form(&[("csrf", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(sam.get("/api/v1/me").await.status(), StatusCode::OK);
    let res = owner
        .client
        .post(server.url(&action))
        .form(&[("csrf", owner.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    assert!(res.text().await.unwrap().contains("Member deactivated"));
    assert_eq!(
        sam.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let members: Value = owner.get_json(&format!("/api/v1/orgs/{org}/members")).await;
    let entry = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "sam@lab.example")
        .unwrap()
        .clone();
    assert_eq!(entry["active"], false);
}
