//! Session management: a user lists and revokes their sessions; an admin ends a member's
//! sessions or deactivates them, which takes effect at once.
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
async fn users_list_and_revoke_their_sessions() {
    let server = common::spawn().await;
    let laptop = server.owner().await;
    let phone = server.owner().await;
    let tablet = server.owner().await;
    let list = laptop.get_json("/api/v1/me/sessions").await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(items
        .iter()
        .all(|s| s["source_ip"] == "127.0.0.1" && s["id"].as_str().unwrap().len() == 36));
    assert!(
        !list.to_string().contains(&laptop.csrf),
        "no secrets in the listing"
    );

    // Revoke the phone's session by id.
    let phone_id = phone.get_json("/api/v1/me/sessions").await["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        laptop
            .delete(&format!("/api/v1/me/sessions/{phone_id}"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        phone.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        laptop
            .delete(&format!("/api/v1/me/sessions/{phone_id}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // Someone else's session id is not found, and stays alive.
    let other = laptop
        .add_member(&server, &server.org_id, "other@lab.example", &["Viewer"])
        .await;
    let other_id = other.get_json("/api/v1/me/sessions").await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        laptop
            .delete(&format!("/api/v1/me/sessions/{other_id}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(other.get("/api/v1/me").await.status(), StatusCode::OK);

    // Log out everywhere else.
    let res = laptop.delete("/api/v1/me/sessions").await;
    assert_eq!(res.json::<Value>().await.unwrap()["revoked"], 1);
    assert_eq!(
        tablet.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(laptop.get("/api/v1/me").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_admin_ends_a_members_sessions_and_deactivation_takes_effect_at_once() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = &server.org_id;
    let sam = owner
        .add_member(&server, org, "sam@lab.example", &["Scientist"])
        .await;
    let member = format!("/api/v1/orgs/{org}/members/{}", sam.user_id);

    let res = owner
        .post(&format!("{member}/revoke-sessions"), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["revoked"], 1);
    assert_eq!(
        sam.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );

    let sam = server
        .login("sam@lab.example", "members own long password")
        .await;
    assert_eq!(
        sam.get(&format!("/api/v1/orgs/{org}/members"))
            .await
            .status(),
        StatusCode::OK
    );
    let res = owner.post(&format!("{member}/deactivate"), json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["active"], false);
    assert_eq!(
        sam.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED,
        "sessions ended at once"
    );
    // Logging in again reaches nothing of the org.
    let sam = server
        .login("sam@lab.example", "members own long password")
        .await;
    assert!(sam.me["memberships"].as_array().unwrap().is_empty());
    assert_eq!(
        sam.get(&format!("/api/v1/orgs/{org}/members"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    // Their history stays: they are listed, inactive.
    let listed = owner.get_json(&format!("/api/v1/orgs/{org}/members")).await;
    let entry = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "sam@lab.example")
        .unwrap()
        .clone();
    assert_eq!(entry["active"], false);

    let res = owner.post(&format!("{member}/reactivate"), json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        sam.get(&format!("/api/v1/orgs/{org}/members"))
            .await
            .status(),
        StatusCode::OK
    );
    let trail = owner
        .get_json(&format!(
            "/api/v1/orgs/{org}/audit?target_id={}",
            sam.user_id
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
        vec![
            "member.reactivate",
            "member.deactivate",
            "member.sessions_revoke",
            "member.add"
        ]
    );
}

#[tokio::test]
async fn nobody_deactivates_the_last_owner_or_a_more_privileged_member() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = &server.org_id;
    let admin = owner
        .add_member(&server, org, "admin@lab.example", &["Admin"])
        .await;
    let res = admin
        .post(
            &format!("/api/v1/orgs/{org}/members/{}/deactivate", owner.user_id),
            json!({}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "an Admin cannot deactivate an Owner"
    );
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/members/{}/deactivate", owner.user_id),
            json!({}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::CONFLICT,
        "nobody deactivates themselves"
    );
    let second = owner
        .add_member(&server, org, "second@lab.example", &["Owner"])
        .await;
    let res = second
        .post(
            &format!("/api/v1/orgs/{org}/members/{}/deactivate", owner.user_id),
            json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Now `second` is the last active Owner: removing the Owner role from them is refused.
    let res = admin
        .patch(
            &format!("/api/v1/orgs/{org}/members/{}", second.user_id),
            json!({"roles": ["Admin"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = second
        .patch(
            &format!("/api/v1/orgs/{org}/members/{}", second.user_id),
            json!({"roles": ["Admin"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
}
