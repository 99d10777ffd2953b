//! The dashboard over the API and in the page: counts, samples awaiting action, overdue
//! deviations and CAPA, and only the parts the caller may read.
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
async fn the_dashboard_counts_what_waits_and_shows_only_what_the_caller_may_read() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let mut first = String::new();
    for i in 0..3 {
        let res = owner
            .post(
                &format!("/api/v1/orgs/{org}/samples"),
                json!({"sample_type": "blood"}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        if i == 0 {
            let v: Value = res.json().await.unwrap();
            first = v["id"].as_str().unwrap().to_owned();
        }
    }
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/samples/{first}/transitions"),
            json!({"to": "received"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // One CAPA due in the future, one made overdue in the database.
    let mut ids = Vec::new();
    for title in ["Retrain staff", "Fix the freezer alarm"] {
        let res = owner
            .post(
                &format!("/api/v1/orgs/{org}/compliance-records"),
                json!({"kind": "capa", "title": title, "description": "After DEV-1", "due_at": "2030-01-01"}),
            )
            .await;
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "{}",
            res.text().await.unwrap()
        );
        let v: Value = res.json().await.unwrap();
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    let mut db = server.raw_db().await;
    sqlx::query("UPDATE compliance_records SET due_at = 1000000 WHERE id = $1")
        .bind(&ids[1])
        .execute(&mut db)
        .await
        .unwrap();

    let d = owner
        .get_json(&format!("/api/v1/orgs/{org}/dashboard"))
        .await;
    assert_eq!(d["samples_by_status"]["registered"], 2, "{d}");
    assert_eq!(d["samples_by_status"]["received"], 1, "{d}");
    assert_eq!(d["open_compliance_records"], 2);
    let overdue = d["overdue_compliance_records"].as_array().unwrap();
    assert_eq!(overdue.len(), 1, "{d}");
    assert_eq!(overdue[0]["title"], "Fix the freezer alarm");
    assert_eq!(d["access_requests_pending"], 0);

    // A Viewer reads lab data but decides nothing: no approval parts.
    let viewer = owner
        .add_member(&server, &org, "viewer@lab.example", &["Viewer"])
        .await;
    let d = viewer
        .get_json(&format!("/api/v1/orgs/{org}/dashboard"))
        .await;
    assert_eq!(d["samples_by_status"]["registered"], 2);
    assert!(d["access_requests_pending"].is_null(), "{d}");
    assert!(d["protocol_drafts_to_approve"].is_null(), "{d}");
    assert!(d["compliance_records_to_close"].is_null(), "{d}");

    // The page shows the same.
    let html = owner
        .get(&format!("/orgs/{org}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("3 awaiting receipt or processing"), "{html}");
    assert!(html.contains("Fix the freezer alarm"));
    assert!(
        !html.contains("Retrain staff"),
        "only overdue records are listed"
    );
}
