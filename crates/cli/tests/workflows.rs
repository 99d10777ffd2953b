//! Workflow runs over the API: a run of an effective protocol version on a sample or a closed
//! batch, steps recorded in order with values checked per input and signed with the password,
//! critical steps verified by a second person, completion signed; a completed or aborted run
//! refuses every write; drafts and superseded versions never run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::fixtures::{fresh_member, sample};
use common::Session;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// An effective protocol version (authored by a fresh Scientist, approved by a fresh QA member)
/// with three steps: a critical `Thaw` (temp, number in °C, -5..4), `Inspect` (colour choice,
/// clear bool) and `Note` (text). Returns (protocol id, version id).
async fn three_step_protocol(owner: &Session, org: &str) -> (String, String) {
    let author = fresh_member(owner, org, "Scientist").await;
    let res = author
        .post(
            &format!("/api/v1/orgs/{org}/protocols"),
            json!({"title": "SOP-9 Thaw and inspect", "body": "# Thaw", "steps": [
                {"title": "Thaw", "critical": true,
                 "inputs": [{"name": "temp", "type": "number", "unit": "°C", "min": -5, "max": 4}]},
                {"title": "Inspect", "inputs": [
                    {"name": "colour", "type": "choice", "options": ["clear", "cloudy"]},
                    {"name": "clear", "type": "bool"}]},
                {"title": "Note", "inputs": [{"name": "note", "type": "text"}]}
            ]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    let pid = v["protocol"]["id"].as_str().unwrap().to_owned();
    let vid = v["version"]["id"].as_str().unwrap().to_owned();
    let qa = fresh_member(owner, org, "QA").await;
    let res = qa
        .post(
            &format!("/api/v1/orgs/{org}/protocols/{pid}/versions/{vid}/approve"),
            json!({"password": common::MEMBER_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    (pid, vid)
}

async fn step(s: &Session, run: &str, index: i64, values: Value) -> reqwest::Response {
    s.post(
        &format!("{run}/steps"),
        json!({"step_index": index, "values": values, "password": common::MEMBER_PASSWORD}),
    )
    .await
}

async fn actions(owner: &Session, org: &str, action: &str, target: &str) -> usize {
    let v = owner
        .get_json(&format!("/api/v1/orgs/{org}/audit?action={action}"))
        .await;
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target_id"] == target)
        .count()
}

#[tokio::test]
async fn a_run_on_a_sample_from_start_to_completion() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let (_, vid) = three_step_protocol(&owner, &org).await;
    let alice = fresh_member(&owner, &org, "Technician").await;
    let bob = fresh_member(&owner, &org, "Scientist").await;
    let sample_id = sample(&owner, &org).await;
    let runs = format!("/api/v1/orgs/{org}/workflow-runs");

    let res = alice
        .post(
            &runs,
            json!({"protocol_version_id": vid, "sample_id": sample_id}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let run: Value = res.json().await.unwrap();
    let id = run["id"].as_str().unwrap().to_owned();
    assert_eq!(run["status"], "in_progress");
    assert_eq!(run["target_type"], "sample");
    assert_eq!(run["samples"][0]["id"], sample_id.as_str());
    assert_eq!(run["steps"].as_array().unwrap().len(), 3);
    assert_eq!(run["steps"][0]["critical"], true);
    assert_eq!(run["steps"][0]["inputs"][0]["unit"], "°C");
    let path = format!("{runs}/{id}");
    assert_eq!(actions(&owner, &org, "workflow.start", &id).await, 1);

    let before = common::audit_len(&owner, &org).await;
    // Out of order: refused.
    let res = step(&alice, &path, 1, json!({"colour": "clear", "clear": true})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("out of order"));
    // Bad values: each named by its input; nothing recorded.
    let res = step(&alice, &path, 0, json!({"temp": 9, "extra": 1})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let p: Value = res.json().await.unwrap();
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["values.temp", "values.extra"], "{p}");
    assert!(p["errors"][0]["message"].as_str().unwrap().contains("4 °C"));
    let res = step(&alice, &path, 0, json!({"temp": "cold"})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = step(&alice, &path, 0, json!({})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "values.temp");
    // A wrong password signs (and records) nothing.
    let res = alice
        .post(
            &format!("{path}/steps"),
            json!({"step_index": 0, "values": {"temp": 2}, "password": "not my password"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(common::audit_len(&owner, &org).await, before);
    let v = owner.get_json(&path).await;
    assert_eq!(v["recorded_count"], 0);
    assert_eq!(v["steps"][0]["recorded"], false);

    // Step 0, recorded and signed by Alice.
    let res = step(
        &alice,
        &path,
        0,
        json!({"temp": {"value": 2.5, "unit": "°C"}}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    let s0 = &v["steps"][0];
    assert_eq!(s0["values"]["temp"], 2.5);
    assert_eq!(s0["performed_by"], alice.user_id.as_str());
    assert_eq!(s0["performer_name"], "Technician Person");
    assert_eq!(s0["signatures"][0]["meaning"], "performed");
    assert_eq!(s0["signatures"][0]["signer_id"], alice.user_id.as_str());
    assert_eq!(s0["signatures"][0]["valid"], true);
    // Recorded once only.
    let res = step(&alice, &path, 0, json!({"temp": 1})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);

    // The critical step blocks the next step and completion until a second person verifies.
    let before = common::audit_len(&owner, &org).await;
    let res = step(&bob, &path, 1, json!({"colour": "clear", "clear": true})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("verification"));
    let res = alice
        .post(
            &format!("{path}/complete"),
            json!({"password": common::MEMBER_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    // The performer verifying their own step: refused.
    let res = alice
        .post(
            &format!("{path}/steps/0/verify"),
            json!({"password": common::MEMBER_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // A step that does not exist.
    let res = bob
        .post(
            &format!("{path}/steps/7/verify"),
            json!({"password": common::MEMBER_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(common::audit_len(&owner, &org).await, before);

    let res = bob
        .post(
            &format!("{path}/steps/0/verify"),
            json!({"password": common::MEMBER_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    let s0 = &v["steps"][0];
    assert_eq!(s0["verified_by"], bob.user_id.as_str());
    let meanings: Vec<&str> = s0["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["meaning"].as_str().unwrap())
        .collect();
    assert_eq!(meanings, ["performed", "verified"]);
    assert!(s0["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["valid"] == true));
    // Verifying twice, or a step that is not critical: refused.
    let res = owner
        .post(
            &format!("{path}/steps/0/verify"),
            json!({"password": common::ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);

    let res = step(&bob, &path, 1, json!({"colour": "clear", "clear": false})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = bob
        .post(
            &format!("{path}/steps/1/verify"),
            json!({"password": common::MEMBER_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    // Not yet complete: step 2 is missing.
    let res = alice
        .post(
            &format!("{path}/complete"),
            json!({"password": common::MEMBER_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let res = step(&alice, &path, 2, json!({"note": "  all fine  "})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = alice
        .post(
            &format!("{path}/complete"),
            json!({"password": common::MEMBER_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["status"], "completed");
    assert_eq!(v["ended_by"], alice.user_id.as_str());
    assert_eq!(v["steps"][2]["values"]["note"], "all fine");
    assert_eq!(v["signatures"][0]["meaning"], "closed");
    assert_eq!(v["signatures"][0]["valid"], true);
    for (action, n) in [
        ("workflow.step", 3),
        ("workflow.verify", 1),
        ("workflow.complete", 1),
    ] {
        assert_eq!(actions(&owner, &org, action, &id).await, n, "{action}");
    }

    // A completed run refuses every write, and nothing changes.
    let before = common::audit_len(&owner, &org).await;
    let res = step(&alice, &path, 2, json!({"note": "again"})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let res = step(&alice, &path, 3, json!({})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    for (rest, body) in [
        (
            "steps/0/verify",
            json!({"password": common::ADMIN_PASSWORD}),
        ),
        ("complete", json!({"password": common::ADMIN_PASSWORD})),
        ("abort", json!({"reason": "too late"})),
    ] {
        let res = owner.post(&format!("{path}/{rest}"), body).await;
        assert_eq!(res.status(), StatusCode::CONFLICT, "{rest}");
        let p: Value = res.json().await.unwrap();
        assert!(
            p["detail"].as_str().unwrap().contains("never changes"),
            "{rest}: {p}"
        );
    }
    assert_eq!(common::audit_len(&owner, &org).await, before);
    assert_eq!(owner.get_json(&path).await, v);

    // Listed by status and by sample.
    let page = owner
        .get_json(&format!("{runs}?status=completed&sample_id={sample_id}"))
        .await;
    assert_eq!(page["items"][0]["id"], id.as_str());
    let page = owner.get_json(&format!("{runs}?status=aborted")).await;
    assert!(page["items"].as_array().unwrap().is_empty());
    let res = owner.get(&format!("{runs}?status=finished")).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // A compliance record links to the run.
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/compliance-records"),
            json!({"kind": "deviation", "title": "Thaw ran warm", "description": "2.5 °C"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let rec: Value = res.json().await.unwrap();
    let res = owner
        .post(
            &format!(
                "/api/v1/orgs/{org}/compliance-records/{}/links",
                rec["id"].as_str().unwrap()
            ),
            json!({"record_type": "workflow_run", "record_id": id}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    let rec: Value = res.json().await.unwrap();
    assert_eq!(rec["links"][0]["record_type"], "workflow_run");
    assert_eq!(rec["links"][0]["label"], format!("Run {}", v["seq"]));
}

#[tokio::test]
async fn a_run_on_a_closed_batch_covers_all_its_samples_and_abort_is_final() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let (_, vid) = three_step_protocol(&owner, &org).await;
    let tech = fresh_member(&owner, &org, "Technician").await;
    let mut codes = Vec::new();
    for _ in 0..3 {
        let res = owner
            .post(
                &format!("/api/v1/orgs/{org}/samples"),
                json!({"sample_type": "plasma"}),
            )
            .await;
        let v: Value = res.json().await.unwrap();
        codes.push(v["code"].as_str().unwrap().to_owned());
    }
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/batches"),
            json!({"name": "Thaw batch", "codes": codes}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let batch: Value = res.json().await.unwrap();
    let batch_id = batch["id"].as_str().unwrap().to_owned();
    let runs = format!("/api/v1/orgs/{org}/workflow-runs");

    // An open batch may still change: refused until closed.
    let before = common::audit_len(&owner, &org).await;
    let res = tech
        .post(
            &runs,
            json!({"protocol_version_id": vid, "batch_id": batch_id}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    // A sample and a batch at once, or neither: named.
    let res = tech
        .post(
            &runs,
            json!({"protocol_version_id": vid, "batch_id": batch_id, "sample_id": batch_id}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = tech.post(&runs, json!({"protocol_version_id": vid})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "sample_id");
    // An unknown batch is named.
    let res = tech
        .post(
            &runs,
            json!({"protocol_version_id": vid, "batch_id": uuid::Uuid::now_v7().to_string()}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "batch_id");
    assert_eq!(common::audit_len(&owner, &org).await, before);

    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/batches/{batch_id}/close"),
            json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = tech
        .post(
            &runs,
            json!({"protocol_version_id": vid, "batch_id": batch_id}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let run: Value = res.json().await.unwrap();
    let id = run["id"].as_str().unwrap().to_owned();
    assert_eq!(run["target_type"], "batch");
    assert_eq!(run["target_code"], batch["code"]);
    let got: Vec<&str> = run["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["code"].as_str().unwrap())
        .collect();
    assert_eq!(got, codes.iter().map(String::as_str).collect::<Vec<_>>());
    let path = format!("{runs}/{id}");

    // Found by batch and by any of its samples.
    let page = owner.get_json(&format!("{runs}?batch_id={batch_id}")).await;
    assert_eq!(page["items"][0]["id"], id.as_str());
    let member = run["samples"][1]["id"].as_str().unwrap();
    let page = owner.get_json(&format!("{runs}?sample_id={member}")).await;
    assert_eq!(page["items"][0]["id"], id.as_str());

    let res = step(&tech, &path, 0, json!({"temp": -1})).await;
    assert_eq!(res.status(), StatusCode::OK);

    // Abort needs a reason; then the run is final.
    let res = tech
        .post(&format!("{path}/abort"), json!({"reason": "  "}))
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "reason");
    let res = tech
        .post(&format!("{path}/abort"), json!({"reason": "Freezer alarm"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["status"], "aborted");
    assert_eq!(v["abort_reason"], "Freezer alarm");
    assert_eq!(actions(&owner, &org, "workflow.abort", &id).await, 1);

    let before = common::audit_len(&owner, &org).await;
    let other = fresh_member(&owner, &org, "Technician").await;
    let before_other = common::audit_len(&owner, &org).await;
    assert!(before_other > before);
    let res = other
        .post(
            &format!("{path}/steps/0/verify"),
            json!({"password": common::MEMBER_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let res = step(&tech, &path, 1, json!({"colour": "clear", "clear": true})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let res = tech
        .post(&format!("{path}/abort"), json!({"reason": "again"}))
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let res = tech
        .post(
            &format!("{path}/complete"),
            json!({"password": common::MEMBER_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(common::audit_len(&owner, &org).await, before_other);
    assert_eq!(owner.get_json(&path).await, v);
}

#[tokio::test]
async fn only_an_effective_version_runs() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let (pid, v1) = three_step_protocol(&owner, &org).await;
    let author = fresh_member(&owner, &org, "Scientist").await;
    let qa = fresh_member(&owner, &org, "QA").await;
    let sample_id = sample(&owner, &org).await;
    let runs = format!("/api/v1/orgs/{org}/workflow-runs");

    let res = author
        .post(
            &format!("/api/v1/orgs/{org}/protocols/{pid}/versions"),
            json!({"title": "SOP-9 v2", "steps": [{"title": "Thaw"}]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v2 = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = common::audit_len(&owner, &org).await;
    // A draft: refused.
    let res = owner
        .post(
            &runs,
            json!({"protocol_version_id": v2, "sample_id": sample_id}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("draft"));
    assert_eq!(common::audit_len(&owner, &org).await, before);

    let res = qa
        .post(
            &format!("/api/v1/orgs/{org}/protocols/{pid}/versions/{v2}/approve"),
            json!({"password": common::MEMBER_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // v1 is superseded now: refused; v2 runs.
    let before = common::audit_len(&owner, &org).await;
    let res = owner
        .post(
            &runs,
            json!({"protocol_version_id": v1, "sample_id": sample_id}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("superseded"));
    assert_eq!(common::audit_len(&owner, &org).await, before);
    let res = owner
        .post(
            &runs,
            json!({"protocol_version_id": v2, "sample_id": sample_id}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let run: Value = res.json().await.unwrap();
    assert_eq!(run["version"], 2);
    // A step without inputs takes no values (and refuses unknown ones by name).
    let path = format!("{runs}/{}", run["id"].as_str().unwrap());
    let res = owner
        .post(
            &format!("{path}/steps"),
            json!({"step_index": 0, "values": {"temp": 1}, "password": common::ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "values.temp");
    let res = owner
        .post(
            &format!("{path}/steps"),
            json!({"step_index": 0, "values": {}, "password": common::ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // An unknown version is named; an API token never signs a step.
    let res = owner
        .post(
            &runs,
            json!({"protocol_version_id": uuid::Uuid::now_v7().to_string(), "sample_id": sample_id}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "protocol_version_id");
}

async fn form(s: &Session, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
    let mut all = vec![("csrf", s.csrf.as_str())];
    all.extend_from_slice(fields);
    let res = s
        .client
        .post(format!("{}{path}", s.base))
        .form(&all)
        .send()
        .await
        .unwrap();
    (res.status(), res.text().await.unwrap())
}

#[tokio::test]
async fn the_web_ui_starts_records_verifies_and_aborts_a_run() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let (_, vid) = three_step_protocol(&owner, &org).await;
    let tech = fresh_member(&owner, &org, "Technician").await;
    let sample_id = sample(&owner, &org).await;

    // From the sample's page to the runs list with the sample filled in.
    let page = owner
        .client
        .get(server.url(&format!("/orgs/{org}/samples/{sample_id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let link = format!("/orgs/{org}/workflow-runs?sample_id={sample_id}");
    assert!(page.contains(&link), "{page}");
    let page = owner
        .client
        .get(server.url(&link))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Start a run") && page.contains(&vid),
        "{page}"
    );

    let (status, page) = form(
        &owner,
        &format!("/orgs/{org}/workflow-runs"),
        &[("protocol_version_id", &vid), ("sample_id", &sample_id)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    // The step's form is generated from its expected inputs.
    assert!(page.contains(r#"name="values.temp""#), "{page}");
    assert!(page.contains(r#"type="number""#) && page.contains(r#"max="4""#));
    assert!(page.contains("record-step") && page.contains(r#"name="password""#));
    let runs: Value = owner
        .get_json(&format!(
            "/api/v1/orgs/{org}/workflow-runs?sample_id={sample_id}"
        ))
        .await;
    let id = runs["items"][0]["id"].as_str().unwrap().to_owned();
    let run_page = format!("/orgs/{org}/workflow-runs/{id}");

    // A bad value is named and nothing is recorded.
    let (status, page) = form(
        &owner,
        &format!("{run_page}/steps"),
        &[
            ("step_index", "0"),
            ("values.temp", "9"),
            ("password", common::ADMIN_PASSWORD),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("values.temp"), "{page}");
    let (status, page) = form(
        &owner,
        &format!("{run_page}/steps"),
        &[
            ("step_index", "0"),
            ("values.temp", "2"),
            ("password", "wrong password"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("nothing was signed"));
    let run = owner
        .get_json(&format!("/api/v1/orgs/{org}/workflow-runs/{id}"))
        .await;
    assert_eq!(run["recorded_count"], 0);

    let (status, page) = form(
        &owner,
        &format!("{run_page}/steps"),
        &[
            ("step_index", "0"),
            ("values.temp", "2"),
            ("password", common::ADMIN_PASSWORD),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Performed by") && page.contains("valid"));
    // The performer is told a second person must verify; no verify form for them.
    assert!(page.contains("A second person must verify") && !page.contains("verify-step"));

    let page = tech
        .client
        .get(server.url(&run_page))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("verify-step"), "{page}");
    let (status, page) = form(
        &tech,
        &format!("{run_page}/steps/0/verify"),
        &[("password", common::MEMBER_PASSWORD)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("verified by Technician Person"), "{page}");
    // The next step's form: a choice and a checkbox.
    assert!(page.contains(r#"name="values.colour""#) && page.contains(r#"type="checkbox""#));

    let (status, page) = form(
        &tech,
        &format!("{run_page}/abort"),
        &[("reason", "Spilled")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("never changes") && page.contains("Aborted: Spilled"));
    assert!(!page.contains("record-step") && !page.contains("abort-run"));
    // Posting anyway is refused.
    let (status, _) = form(&tech, &format!("{run_page}/abort"), &[("reason", "again")]).await;
    assert_eq!(status, StatusCode::CONFLICT);
}
