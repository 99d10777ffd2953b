//! Projects over the API: samples filed under a project, archived projects refusing new records,
//! and members limited to their projects seeing and filing only there.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn create_project(owner: &common::Session, org: &str, name: &str) -> String {
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/projects"),
            json!({ "name": name }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    v["id"].as_str().unwrap().to_owned()
}

fn codes(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["code"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_project_limited_member_sees_and_files_only_in_their_projects() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let stability = create_project(&owner, &org, "Stability study").await;
    let tox = create_project(&owner, &org, "Toxicology").await;
    let samples = format!("/api/v1/orgs/{org}/samples");
    for project in [Some(&stability), Some(&tox), None] {
        let res = owner
            .post(
                &samples,
                json!({"sample_type": "blood", "project_id": project}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    // Filtering by project.
    let page = owner
        .get_json(&format!("{samples}?project_id={stability}"))
        .await;
    assert_eq!(codes(&page), ["S-000001"]);
    assert_eq!(page["items"][0]["project_id"], stability.as_str());

    let tech = owner
        .add_member(&server, &org, "tech@lab.example", &["Technician"])
        .await;
    // Not limited yet: the technician sees everything.
    assert_eq!(codes(&tech.get_json(&samples).await).len(), 3);
    let res = owner
        .send(
            Method::PUT,
            &format!("/api/v1/orgs/{org}/members/{}/project-access", tech.user_id),
            Some(json!({"limited": true})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Limited, in no project: nothing.
    assert!(codes(&tech.get_json(&samples).await).is_empty());
    let projects = tech.get_json(&format!("/api/v1/orgs/{org}/projects")).await;
    assert!(projects["items"].as_array().unwrap().is_empty());

    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/projects/{stability}/members"),
            json!({"user_id": tech.user_id}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let again = owner
        .post(
            &format!("/api/v1/orgs/{org}/projects/{stability}/members"),
            json!({"user_id": tech.user_id}),
        )
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(codes(&tech.get_json(&samples).await), ["S-000001"]);
    let projects = tech.get_json(&format!("/api/v1/orgs/{org}/projects")).await;
    assert_eq!(projects["items"][0]["name"], "Stability study");
    assert_eq!(projects["items"].as_array().unwrap().len(), 1);
    // Another project's sample and the project itself are out of sight: 404 as if missing.
    let all = owner.get_json(&samples).await;
    let outside = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["code"] == "S-000002")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        tech.get(&format!("{samples}/{outside}")).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        tech.get(&format!("/api/v1/orgs/{org}/projects/{tox}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // Filing: no project, or another project, is refused by field; their project works.
    let before = common::audit_len(&owner, &org).await;
    for body in [
        json!({"sample_type": "serum"}),
        json!({"sample_type": "serum", "project_id": tox}),
        json!({"sample_type": "serum", "project_id": "not-a-project"}),
    ] {
        let res = tech.post(&samples, body.clone()).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let p: Value = res.json().await.unwrap();
        assert_eq!(p["errors"][0]["field"], "project_id", "{p}");
    }
    assert_eq!(common::audit_len(&owner, &org).await, before);
    let res = tech
        .post(
            &samples,
            json!({"sample_type": "serum", "project_id": stability}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // An import names the row.
    let res = tech
        .post(
            &format!("{samples}/import"),
            Value::String(format!(
                "sample_type,project_id\nserum,{stability}\nserum,{tox}\n"
            )),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "rows[2].project_id", "{p}");

    // Taking them off the project hides its samples again.
    let res = owner
        .delete(&format!(
            "/api/v1/orgs/{org}/projects/{stability}/members/{}",
            tech.user_id
        ))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(codes(&tech.get_json(&samples).await).is_empty());
}

#[tokio::test]
async fn an_archived_project_takes_no_new_samples_and_every_change_is_audited() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let id = create_project(&owner, &org, "Pilot").await;
    let dup = owner
        .post(
            &format!("/api/v1/orgs/{org}/projects"),
            json!({"name": "Pilot"}),
        )
        .await;
    assert_eq!(dup.status(), StatusCode::CONFLICT);
    let res = owner
        .patch(
            &format!("/api/v1/orgs/{org}/projects/{id}"),
            json!({"status": "archived", "description": "Closed after phase 1"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["status"], "archived");
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/samples"),
            json!({"sample_type": "blood", "project_id": id}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let detail = owner
        .get_json(&format!("/api/v1/orgs/{org}/projects/{id}"))
        .await;
    assert_eq!(detail["sample_count"], 0);
    assert_eq!(detail["members"][0]["user_id"], owner.user_id.as_str());
    let trail = owner
        .get_json(&format!(
            "/api/v1/orgs/{org}/audit?action=project.&target_id={id}"
        ))
        .await;
    let actions: Vec<&str> = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["project.update", "project.create"]);
}
