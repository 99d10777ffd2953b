//! Protocols over the API: drafts, approval by e-signature (not by the author, not without
//! protocols:approve, not with a wrong password), one effective version, superseding, diffs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::fixtures::fresh_member;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn draft_approve_supersede_and_diff() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let author = fresh_member(&owner, &org, "Scientist").await;
    let qa = fresh_member(&owner, &org, "QA").await;
    let tech = fresh_member(&owner, &org, "Technician").await;
    let base = format!("/api/v1/orgs/{org}/protocols");

    let res = author
        .post(
            &base,
            json!({"title": "SOP-7 Plasma prep", "body": "# Plasma\nSpin at 2000 g.\nStore at -80.",
                   "steps": [{"title": "Spin", "critical": true, "inputs": [
                       {"name": "g", "type": "number", "unit": "g", "min": 1000, "max": 3000}]}]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    let pid = created["protocol"]["id"].as_str().unwrap().to_owned();
    let v1 = created["version"]["id"].as_str().unwrap().to_owned();
    assert_eq!(created["version"]["state"], "draft");
    assert_eq!(created["version"]["version"], 1);
    let v1_path = format!("{base}/{pid}/versions/{v1}");

    // Drafts are editable.
    let res = author
        .patch(
            &v1_path,
            json!({"body": "# Plasma\nSpin at 2000 g.\nStore at -80 °C."}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // Bad steps are named by field.
    let res = author
        .patch(&v1_path, json!({"steps": [{"title": "x", "inputs": [{"name": "a", "type": "number", "min": 5, "max": 1}]}]}))
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "steps[0].inputs[0].max");

    let before = common::audit_len(&owner, &org).await;
    // The author holds no approve permission: 403, nothing signed.
    let res = author
        .post(
            &format!("{v1_path}/approve"),
            json!({"password": common::MEMBER_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // A Technician neither.
    let res = tech
        .post(
            &format!("{v1_path}/approve"),
            json!({"password": common::MEMBER_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // QA with a wrong password: refused, nothing signed.
    let res = qa
        .post(
            &format!("{v1_path}/approve"),
            json!({"password": "not my password at all"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["type"], "/problems/invalid-credentials");
    assert_eq!(common::audit_len(&owner, &org).await, before);
    let v: Value = owner.get_json(&v1_path).await;
    assert_eq!(v["state"], "draft");
    assert_eq!(v["signatures"], json!([]));

    // QA approves: effective, signed with meaning approved, audited.
    let res = qa
        .post(
            &format!("{v1_path}/approve"),
            json!({"password": common::MEMBER_PASSWORD}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["state"], "effective");
    let sig = &v["signatures"][0];
    assert_eq!(sig["meaning"], "approved");
    assert_eq!(sig["signer_id"], qa.user_id.as_str());
    assert_eq!(sig["signer_name"], "QA Person");
    assert_eq!(sig["valid"], true);
    assert_eq!(sig["content_sha256"], v["content_sha256"]);
    let trail = owner
        .get_json(&format!("/api/v1/orgs/{org}/audit?action=signature.create"))
        .await;
    assert_eq!(trail["items"][0]["target_id"], sig["id"]);
    let trail = owner
        .get_json(&format!("/api/v1/orgs/{org}/audit?action=protocol.approve"))
        .await;
    assert_eq!(trail["items"][0]["target_id"], v1.as_str());

    // An effective version is read-only; approving it again is refused.
    let res = author.patch(&v1_path, json!({"body": "changed"})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let res = owner
        .post(
            &format!("{v1_path}/approve"),
            json!({"password": common::ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);

    // Version 2 by the owner (who may approve, but not their own version).
    let res = owner
        .post(
            &format!("{base}/{pid}/versions"),
            json!({"title": "SOP-7 Plasma prep", "body": "# Plasma\nSpin at 2500 g.\nStore at -80 °C.",
                   "change_note": "faster spin",
                   "steps": [{"title": "Spin", "critical": true, "inputs": [
                       {"name": "g", "type": "number", "unit": "g", "min": 2000, "max": 3000}]},
                             {"title": "Label", "inputs": [{"name": "ok", "type": "bool"}]}]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v2: Value = res.json().await.unwrap();
    assert_eq!(v2["version"], 2);
    let v2_path = format!("{base}/{pid}/versions/{}", v2["id"].as_str().unwrap());
    // Only one draft at a time.
    let res = author
        .post(&format!("{base}/{pid}/versions"), json!({"title": "x"}))
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let before = common::audit_len(&owner, &org).await;
    let res = owner
        .post(
            &format!("{v2_path}/approve"),
            json!({"password": common::ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let p: Value = res.json().await.unwrap();
    assert!(p["detail"].as_str().unwrap().contains("author"), "{p}");
    assert_eq!(common::audit_len(&owner, &org).await, before);

    // QA approves v2: v1 superseded (kept, read-only), one effective version.
    let res = qa
        .post(
            &format!("{v2_path}/approve"),
            json!({"password": common::MEMBER_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let detail = owner.get_json(&format!("{base}/{pid}")).await;
    assert_eq!(detail["protocol"]["effective_version"], 2);
    let states: Vec<(i64, String)> = detail["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_i64().unwrap(),
                v["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        states,
        vec![(2, "effective".to_owned()), (1, "superseded".to_owned())]
    );
    let v1_now = owner.get_json(&v1_path).await;
    assert_eq!(
        v1_now["signatures"][0]["valid"], true,
        "superseding does not invalidate"
    );
    assert_eq!(
        author.patch(&v1_path, json!({"body": "x"})).await.status(),
        StatusCode::CONFLICT
    );

    // The diff names the changed lines of body and steps.
    let diff = owner
        .get_json(&format!("{base}/{pid}/diff?from=1&to=2"))
        .await;
    let lines = |part: &str, op: &str| -> Vec<String> {
        diff[part]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["op"] == op)
            .map(|l| l["text"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(lines("body", "removed"), vec!["Spin at 2000 g."]);
    assert_eq!(lines("body", "added"), vec!["Spin at 2500 g."]);
    assert!(lines("body", "same").contains(&"Store at -80 °C.".to_owned()));
    assert_eq!(
        lines("steps", "removed"),
        vec!["   - input g: number in g ≥ 1000 ≤ 3000"]
    );
    assert!(lines("steps", "added").contains(&"2. Label".to_owned()));
    // The default diff is latest against its predecessor.
    let default = owner.get_json(&format!("{base}/{pid}/diff")).await;
    assert_eq!(default["from"], 1);
    assert_eq!(default["to"], 2);
    let res = owner.get(&format!("{base}/{pid}/diff?to=9")).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // The UI shows versions, the diff and the signature.
    let page = owner
        .get(&format!("/orgs/{org}/protocols/{pid}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("SOP-7 Plasma prep"));
    assert!(page.contains("superseded"));
    let page = owner
        .get(&format!("/orgs/{org}/protocols/{pid}/diff?from=1&to=2"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("diff-added") && page.contains("Spin at 2500 g."));
}
