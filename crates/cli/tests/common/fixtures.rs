//! Calls that succeed for an Owner, for every org-scoped route of the OpenAPI document. A route
//! without a fixture fails the tests that enumerate routes, so new routes cannot go untested.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::{Session, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// One operation of the OpenAPI document.
#[derive(Clone, Debug)]
pub struct Operation {
    pub method: String,
    pub template: String,
    /// The permissions its security requirement names (empty: any member).
    pub scopes: Vec<String>,
    /// Takes a JSON body.
    pub has_body: bool,
    /// Takes a CSV body (sent by the harness when the body is a JSON string).
    pub csv_body: bool,
}

pub async fn operations(server: &TestServer) -> Vec<Operation> {
    let doc: Value = reqwest::get(server.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut ops = Vec::new();
    for (template, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            let scopes = op["security"]
                .as_array()
                .and_then(|reqs| reqs.first())
                .and_then(|r| r["session"].as_array())
                .map(|a| a.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
                .unwrap_or_default();
            ops.push(Operation {
                method: method.to_uppercase(),
                template: template.clone(),
                scopes,
                has_body: op["requestBody"]["content"]
                    .get("application/json")
                    .is_some(),
                csv_body: op["requestBody"]["content"].get("text/csv").is_some(),
            });
        }
    }
    assert!(
        ops.len() >= 10,
        "the OpenAPI document lists too few operations: {ops:?}"
    );
    ops
}

pub fn org_scoped(ops: &[Operation]) -> Vec<Operation> {
    ops.iter()
        .filter(|o| o.template.starts_with("/api/v1/orgs/{org_id}"))
        .cloned()
        .collect()
}

/// A concrete call: path and JSON body.
#[derive(Clone, Debug)]
pub struct Call {
    pub path: String,
    pub body: Option<Value>,
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

/// A fresh member (Viewer) of `org`, made by its owner; returns the user id.
pub async fn victim_member(owner: &Session, org: &str) -> String {
    let email = format!("{}@lab.example", unique("victim"));
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/members"),
            json!({"email": email, "name": "Victim", "roles": ["Viewer"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    v["member"]["user_id"].as_str().unwrap().to_owned()
}

/// A fresh analysis of `org` with one fresh file as its input; returns its id.
pub async fn analysis(owner: &Session, org: &str) -> String {
    let input = file(owner, org).await;
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/analyses"),
            json!({"method": "fixture", "result": {"ok": true}, "inputs": [{"type": "file", "id": input}]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A fresh sample of `org`; returns its id.
pub async fn sample(owner: &Session, org: &str) -> String {
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/samples"),
            json!({"sample_type": "blood"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    v["id"].as_str().unwrap().to_owned()
}

/// A fresh open batch of `org` holding one fresh sample; returns (batch id, sample id).
pub async fn batch(owner: &Session, org: &str) -> (String, String) {
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/samples"),
            json!({"sample_type": "serum"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let sample: Value = res.json().await.unwrap();
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/batches"),
            json!({"name": unique("batch"), "codes": [sample["code"]]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    (
        v["id"].as_str().unwrap().to_owned(),
        sample["id"].as_str().unwrap().to_owned(),
    )
}

/// A fresh project of `org` (its owner is its first member); returns its id.
pub async fn project(owner: &Session, org: &str) -> String {
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/projects"),
            json!({"name": unique("project")}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    v["id"].as_str().unwrap().to_owned()
}

/// A fresh storage location of `org` (`parent` None: a site); returns its id.
pub async fn location(owner: &Session, org: &str, body: Value) -> String {
    let res = owner
        .post(&format!("/api/v1/orgs/{org}/locations"), body)
        .await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    let v: Value = res.json().await.unwrap();
    v["id"].as_str().unwrap().to_owned()
}

/// A fresh 8 × 12 box of `org` in a fresh site › room › freezer; returns its id.
pub async fn storage_box(owner: &Session, org: &str) -> String {
    let site = location(owner, org, json!({"kind": "site", "name": unique("site")})).await;
    let room = location(
        owner,
        org,
        json!({"kind": "room", "name": "Room 1", "parent_id": site}),
    )
    .await;
    let freezer = location(
        owner,
        org,
        json!({"kind": "freezer", "name": "Freezer 1", "parent_id": room}),
    )
    .await;
    location(
        owner,
        org,
        json!({"kind": "box", "name": "Box 1", "parent_id": freezer, "rows": 8, "columns": 12}),
    )
    .await
}

/// A fresh evidence file of `org`; returns its id.
pub async fn file(owner: &Session, org: &str) -> String {
    let res = owner
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/orgs/{org}/files?name={}", unique("fixture")),
            Some(Value::String(unique("fixture content"))),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    v["id"].as_str().unwrap().to_owned()
}

/// A fresh custom role of `org`; returns its id.
pub async fn custom_role(owner: &Session, org: &str) -> String {
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/roles"),
            json!({"name": unique("role"), "permissions": ["samples:read"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    v["id"].as_str().unwrap().to_owned()
}

/// A fresh API token of `org`, made by its owner; returns its id.
pub async fn api_token(owner: &Session, org: &str) -> String {
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/api-tokens"),
            json!({"name": unique("token"), "permissions": ["samples:read"], "expires_in_days": 30}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    v["id"].as_str().unwrap().to_owned()
}

/// A fresh pending invitation in `org` (the server mails it); returns its id.
pub async fn invitation(owner: &Session, org: &str) -> String {
    let email = format!("{}@lab.example", unique("invitee"));
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/invitations"),
            json!({"email": email, "roles": ["Viewer"]}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    let v: Value = res.json().await.unwrap();
    v["id"].as_str().unwrap().to_owned()
}

/// A pending access request of `org` by a fresh member (asking for Viewer), so that an Owner or
/// Admin other than the requester can decide it; approved first when `approved`. Returns its id.
pub async fn access_request(owner: &Session, org: &str, approved: bool) -> String {
    let email = format!("{}@lab.example", unique("asker"));
    let password = "askers own long password";
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/members"),
            json!({"email": email, "name": "Asker", "roles": ["Viewer"], "password": password}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let res = client
        .post(format!("{}/api/v1/auth/login", owner.base))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let asker = Session {
        client,
        base: owner.base.clone(),
        csrf: body["csrf_token"].as_str().unwrap().to_owned(),
        user_id: body["id"].as_str().unwrap().to_owned(),
        me: body,
    };
    let res = asker
        .post(
            &format!("/api/v1/orgs/{org}/access-requests"),
            json!({"role": "Viewer", "reason": "fixture", "duration_minutes": 30}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    let id = v["id"].as_str().unwrap().to_owned();
    if approved {
        let res = owner
            .post(
                &format!("/api/v1/orgs/{org}/access-requests/{id}/approve"),
                json!({}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    id
}

/// A mailed token: runs `trigger`, waits for the next mail to `to` and pulls the token of its
/// `path` link.
async fn mailed_token(
    base: &str,
    to: &str,
    path: &str,
    trigger: impl std::future::Future<Output = ()>,
) -> String {
    let dir = super::maildir_of(base);
    trigger.await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mails = super::maildir_messages(&dir);
        if let Some(mail) = mails
            .iter()
            .rev()
            .find(|m| super::mail_header(m, "To").is_some_and(|t| t.contains(to)))
        {
            return super::link_token(&super::mail_body(mail), path);
        }
        assert!(std::time::Instant::now() < deadline, "no mail to {to}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A live password-reset token for a fresh member of `org`.
pub async fn reset_token(owner: &Session, org: &str) -> String {
    let email = format!("{}@lab.example", unique("resetter"));
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/members"),
            json!({"email": email, "name": "Resetter", "roles": ["Viewer"], "password": super::MEMBER_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let url = format!("{}/api/v1/auth/password-reset", owner.base);
    mailed_token(&owner.base, &email, "/reset/confirm", async {
        let res = reqwest::Client::new()
            .post(url)
            .json(&json!({"email": email}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    })
    .await
}

/// A live invitation token of `org` for a fresh email.
pub async fn invitation_token(owner: &Session, org: &str) -> String {
    let email = format!("{}@lab.example", unique("joiner"));
    mailed_token(&owner.base, &email, "/invite", async {
        let res = owner
            .post(
                &format!("/api/v1/orgs/{org}/invitations"),
                json!({"email": email, "roles": ["Viewer"]}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    })
    .await
}

/// Logs in a fresh member of `org` holding `role` (password `MEMBER_PASSWORD`).
pub async fn fresh_member(owner: &Session, org: &str, role: &str) -> Session {
    let email = format!("{}@lab.example", unique(&role.to_lowercase()));
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/members"),
            json!({"email": email, "name": format!("{role} Person"), "roles": [role], "password": super::MEMBER_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let res = client
        .post(format!("{}/api/v1/auth/login", owner.base))
        .json(&json!({"email": email, "password": super::MEMBER_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    Session {
        client,
        base: owner.base.clone(),
        csrf: body["csrf_token"].as_str().unwrap().to_owned(),
        user_id: body["id"].as_str().unwrap().to_owned(),
        me: body,
    }
}

/// A fresh protocol of `org` authored by a fresh Scientist (so the owner may approve it).
/// Returns (protocol id, version 1 id); version 1 is approved by the owner when `approved`
/// (so a new version may be started), else left a draft.
pub async fn protocol(owner: &Session, org: &str, approved: bool) -> (String, String) {
    let author = fresh_member(owner, org, "Scientist").await;
    let res = author
        .post(
            &format!("/api/v1/orgs/{org}/protocols"),
            json!({"title": unique("SOP"), "body": "# Thawing\nKeep on ice.", "steps": [
                {"title": "Thaw", "instructions": "On ice", "critical": true,
                 "inputs": [{"name": "temp", "type": "number", "unit": "°C", "min": -5, "max": 4}]}
            ]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    let pid = v["protocol"]["id"].as_str().unwrap().to_owned();
    let vid = v["version"]["id"].as_str().unwrap().to_owned();
    if approved {
        // By a fresh QA member: the caller's own password may be any.
        let qa = fresh_member(owner, org, "QA").await;
        let res = qa
            .post(
                &format!("/api/v1/orgs/{org}/protocols/{pid}/versions/{vid}/approve"),
                json!({"password": super::MEMBER_PASSWORD}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    (pid, vid)
}

/// A fresh deviation of `org`; investigated with root cause and actions when `closable`.
pub async fn compliance_record(owner: &Session, org: &str, closable: bool) -> String {
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/compliance-records"),
            json!({"kind": "deviation", "title": "Freezer at -60", "description": "Alarm at night"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    let id = v["id"].as_str().unwrap().to_owned();
    if closable {
        let path = format!("/api/v1/orgs/{org}/compliance-records/{id}");
        let res = owner
            .post(
                &format!("{path}/transitions"),
                json!({"to": "investigating"}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = owner
            .patch(
                &path,
                json!({"root_cause": "Door left ajar", "actions": "Door alarm added"}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    id
}

/// How far a fixture workflow run has got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStage {
    /// Nothing recorded yet.
    Fresh,
    /// Its one (critical) step recorded by a fresh Technician, awaiting verification.
    AwaitingVerification,
    /// Its step recorded and verified by a second fresh Technician: ready to complete.
    Completable,
}

/// A fresh run of `org` on a fresh sample, of a fresh effective protocol version whose one step
/// (`Thaw`) is critical and takes `temp` (number, °C, -5 to 4). Returns (run id, version id).
pub async fn workflow_run(owner: &Session, org: &str, stage: RunStage) -> (String, String) {
    let (_, vid) = protocol(owner, org, true).await;
    let sample = sample(owner, org).await;
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/workflow-runs"),
            json!({"protocol_version_id": vid, "sample_id": sample}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    let run = v["id"].as_str().unwrap().to_owned();
    if stage != RunStage::Fresh {
        let performer = fresh_member(owner, org, "Technician").await;
        let res = performer
            .post(
                &format!("/api/v1/orgs/{org}/workflow-runs/{run}/steps"),
                json!({"step_index": 0, "values": {"temp": 2}, "password": super::MEMBER_PASSWORD}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    if stage == RunStage::Completable {
        let verifier = fresh_member(owner, org, "Technician").await;
        let res = verifier
            .post(
                &format!("/api/v1/orgs/{org}/workflow-runs/{run}/steps/0/verify"),
                json!({"password": super::MEMBER_PASSWORD}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    (run, vid)
}

/// A valid body for a write operation.
pub fn valid_body(method: &str, template: &str) -> Option<Value> {
    let body = match (method, template) {
        ("POST", "/api/v1/orgs/{org_id}/members") => {
            json!({"email": format!("{}@lab.example", unique("new")), "name": "New Member", "roles": ["Viewer"]})
        }
        ("PATCH", "/api/v1/orgs/{org_id}/members/{user_id}") => json!({"roles": ["Technician"]}),
        ("POST", "/api/v1/orgs/{org_id}/roles") => {
            json!({"name": unique("role"), "permissions": ["samples:read"]})
        }
        ("PATCH", "/api/v1/orgs/{org_id}/roles/{role_id}") => json!({"description": "changed"}),
        ("POST", "/api/v1/orgs/{org_id}/samples") => {
            json!({"sample_type": "blood", "quantity": 2.5, "unit": "mL"})
        }
        ("POST", "/api/v1/orgs/{org_id}/samples/{sample_id}/transitions") => {
            json!({"to": "received"})
        }
        ("POST", "/api/v1/orgs/{org_id}/batches") => {
            json!({"name": unique("batch"), "notes": "run 7", "codes": [], "search": {"status": "registered"}})
        }
        ("POST", "/api/v1/orgs/{org_id}/batches/{batch_id}/samples") => {
            json!({"codes": [], "search": {"sample_type": "blood"}})
        }
        ("POST", "/api/v1/orgs/{org_id}/projects") => {
            json!({"name": unique("project"), "description": "Stability study"})
        }
        ("PATCH", "/api/v1/orgs/{org_id}/projects/{project_id}") => {
            json!({"description": "changed", "status": "active"})
        }
        ("PUT", "/api/v1/orgs/{org_id}/members/{user_id}/project-access") => {
            json!({"limited": true})
        }
        ("PATCH", "/api/v1/orgs/{org_id}/settings") => json!({"require_mfa": false}),
        ("POST", "/api/v1/orgs/{org_id}/samples/{sample_id}/aliquots") => {
            json!({"kind": "aliquot", "count": 2})
        }
        ("POST", "/api/v1/orgs/{org_id}/sample-fields") => {
            json!({"key": format!("f_{}", uuid::Uuid::now_v7().simple()), "label": "Storage temp",
                   "type": "number", "unit": "°C", "min": -80, "max": 8})
        }
        ("POST", "/api/v1/orgs/{org_id}/locations") => {
            json!({"kind": "site", "name": unique("site")})
        }
        ("POST", "/api/v1/auth/step-up") => json!({"password": super::ADMIN_PASSWORD}),
        ("POST", "/api/v1/me/mfa/totp/confirm") => json!({"code": "000000"}),
        ("DELETE", "/api/v1/me/mfa/totp") => {
            json!({"password": super::ADMIN_PASSWORD, "code": "000000"})
        }
        ("POST", "/api/v1/orgs/{org_id}/api-tokens") => {
            json!({"name": unique("token"), "permissions": ["samples:read"], "expires_in_days": 30})
        }
        ("POST", "/api/v1/orgs/{org_id}/access-requests") => {
            json!({"role": "Viewer", "reason": "Checking a batch", "duration_minutes": 60})
        }
        ("POST", "/api/v1/orgs/{org_id}/invitations") => {
            json!({"email": format!("{}@lab.example", unique("invited")), "roles": ["Viewer"]})
        }
        ("POST", "/api/v1/me/password") => {
            json!({"current_password": super::ADMIN_PASSWORD, "new_password": super::ADMIN_PASSWORD})
        }
        ("POST", "/api/v1/auth/password-reset") => json!({"email": super::ADMIN_EMAIL}),
        ("POST", "/api/v1/orgs/{org_id}/protocols")
        | ("POST", "/api/v1/orgs/{org_id}/protocols/{protocol_id}/versions") => {
            json!({"title": unique("SOP"), "body": "# Steps\nDo it.", "change_note": "first",
                   "steps": [{"title": "Mix", "inputs": [{"name": "ok", "type": "bool"}]}]})
        }
        ("PATCH", "/api/v1/orgs/{org_id}/protocols/{protocol_id}/versions/{version_id}") => {
            json!({"body": "# Steps\nDo it twice.", "change_note": "clearer"})
        }
        ("POST", "/api/v1/orgs/{org_id}/protocols/{protocol_id}/versions/{version_id}/approve")
        | ("POST", "/api/v1/orgs/{org_id}/compliance-records/{record_id}/close") => {
            json!({"password": super::ADMIN_PASSWORD})
        }
        ("POST", "/api/v1/orgs/{org_id}/compliance-records") => {
            json!({"kind": "capa", "title": "Retrain staff", "description": "After DEV-1", "due_at": "2030-01-01"})
        }
        ("PATCH", "/api/v1/orgs/{org_id}/compliance-records/{record_id}") => {
            json!({"root_cause": "Training gap", "actions": "Retrained"})
        }
        ("POST", "/api/v1/orgs/{org_id}/compliance-records/{record_id}/transitions") => {
            json!({"to": "investigating"})
        }
        ("POST", "/api/v1/orgs/{org_id}/compliance-records/{record_id}/signatures") => {
            json!({"meaning": "reviewed", "password": super::ADMIN_PASSWORD})
        }
        ("POST", "/api/v1/orgs/{org_id}/workflow-runs/{run_id}/steps") => {
            json!({"step_index": 0, "values": {"temp": 2}, "password": super::ADMIN_PASSWORD})
        }
        ("POST", "/api/v1/orgs/{org_id}/workflow-runs/{run_id}/steps/{step_index}/verify")
        | ("POST", "/api/v1/orgs/{org_id}/workflow-runs/{run_id}/complete") => {
            json!({"password": super::ADMIN_PASSWORD})
        }
        ("POST", "/api/v1/orgs/{org_id}/workflow-runs/{run_id}/abort") => {
            json!({"reason": "Centrifuge failed mid-run"})
        }
        ("PUT", "/api/v1/orgs/{org_id}/retention") => json!({"category": "report", "days": 30}),
        ("POST", "/api/v1/orgs/{org_id}/files/{file_id}/legal-hold") => {
            json!({"reason": "Inspection 2030-01"})
        }
        ("POST", "/api/v1/auth/login") => {
            json!({"email": super::ADMIN_EMAIL, "password": super::ADMIN_PASSWORD})
        }
        ("POST", "/api/v1/orgs/{org_id}/projects/{project_id}/files") => {
            json!({"file_id": uuid::Uuid::now_v7().to_string()})
        }
        ("POST", "/api/v1/orgs/{org_id}/samples/{sample_id}/files")
        | ("POST", "/api/v1/orgs/{org_id}/batches/{batch_id}/files")
        | ("POST", "/api/v1/orgs/{org_id}/workflow-runs/{run_id}/files") => {
            json!({"file_id": uuid::Uuid::now_v7().to_string()})
        }
        _ => return None,
    };
    Some(body)
}

/// Write routes whose valid body cannot succeed without a live authenticator code (MFA
/// confirmation and disabling): input tests check that such a body passes validation only.
pub fn needs_authenticator(method: &str, template: &str) -> bool {
    matches!(
        (method, template),
        ("POST", "/api/v1/me/mfa/totp/confirm") | ("DELETE", "/api/v1/me/mfa/totp")
    )
}

/// Prepares a call of `op` in `org` that succeeds for an Owner (creating the records it names).
pub async fn prepare(owner: &Session, org: &str, op: &Operation) -> Call {
    let mut path = op.template.replace("{org_id}", org);
    let mut project_member = None;
    if path.contains("{project_id}") {
        let project = project(owner, org).await;
        if op.template.ends_with("/members") {
            project_member = Some(victim_member(owner, org).await);
        } else if path.contains("{user_id}") {
            let victim = victim_member(owner, org).await;
            let res = owner
                .post(
                    &format!("/api/v1/orgs/{org}/projects/{project}/members"),
                    json!({ "user_id": victim }),
                )
                .await;
            assert_eq!(res.status(), StatusCode::OK);
            path = path.replace("{user_id}", &victim);
        }
        path = path.replace("{project_id}", &project);
    }
    if path.contains("{user_id}") {
        let victim = victim_member(owner, org).await;
        if op.template.ends_with("/reactivate") {
            let res = owner
                .post(
                    &format!("/api/v1/orgs/{org}/members/{victim}/deactivate"),
                    json!({}),
                )
                .await;
            assert_eq!(res.status(), StatusCode::OK);
        }
        path = path.replace("{user_id}", &victim);
    }
    if path.contains("{batch_id}") {
        let (batch, member) = batch(owner, org).await;
        path = path
            .replace("{batch_id}", &batch)
            .replace("{sample_id}", &member);
    }
    if path.contains("{sample_id}") {
        path = path.replace("{sample_id}", &sample(owner, org).await);
    }
    if path.contains("{location_id}") {
        path = path.replace("{location_id}", &storage_box(owner, org).await);
    }
    // Storage: a placement body names a fresh box; a removal needs a placed sample; a hand-over
    // names a fresh member; reports and label sheets name a fresh sample.
    let mut storage_body = None;
    if op.template.ends_with("/placement") && op.method != "GET" {
        let bx = storage_box(owner, org).await;
        let body = json!({"location_id": bx, "position": "A1", "reason": "fixture"});
        if op.method == "DELETE" {
            let res = owner.send(reqwest::Method::PUT, &path, Some(body)).await;
            assert_eq!(
                res.status(),
                StatusCode::OK,
                "{}",
                res.text().await.unwrap()
            );
        } else {
            storage_body = Some(body);
        }
    }
    if op.template.ends_with("/handovers") {
        let to = victim_member(owner, org).await;
        storage_body = Some(json!({"to_member": to, "reason": "fixture"}));
    }
    if op.template.ends_with("/custody/report") || op.template.ends_with("/labels.pdf") {
        let id = sample(owner, org).await;
        path = format!("{path}?samples={id}");
    }
    if path.contains("{role_id}") {
        path = path.replace("{role_id}", &custom_role(owner, org).await);
    }
    if path.contains("{token_id}") {
        path = path.replace("{token_id}", &api_token(owner, org).await);
    }
    if path.contains("{export_request_id}") {
        let id = export_request(owner, org, op.template.ends_with("/download")).await;
        path = path.replace("{export_request_id}", &id);
    }
    if path.contains("{request_id}") {
        let approved = op.template.ends_with("/revoke");
        path = path.replace("{request_id}", &access_request(owner, org, approved).await);
    }
    if path.contains("{invitation_id}") {
        path = path.replace("{invitation_id}", &invitation(owner, org).await);
    }
    if path.contains("{protocol_id}") {
        // A new version needs the draft approved first; the rest work on the draft.
        let approved = op.method == "POST" && op.template.ends_with("/versions");
        let (pid, vid) = protocol(owner, org, approved).await;
        path = path
            .replace("{protocol_id}", &pid)
            .replace("{version_id}", &vid);
    }
    if path.contains("{record_id}") {
        let closable = op.template.ends_with("/close");
        path = path.replace(
            "{record_id}",
            &compliance_record(owner, org, closable).await,
        );
    }
    if path.contains("{file_id}") {
        let id = file(owner, org).await;
        // Releasing a hold needs one in force.
        if op.method == "DELETE" && op.template.ends_with("/legal-hold") {
            let res = owner
                .post(
                    &format!("/api/v1/orgs/{org}/files/{id}/legal-hold"),
                    json!({"reason": "fixture"}),
                )
                .await;
            assert_eq!(res.status(), StatusCode::OK);
        }
        path = path.replace("{file_id}", &id);
    }
    if path.contains("{analysis_id}") {
        path = path.replace("{analysis_id}", &analysis(owner, org).await);
    }
    // An upload: its name in the query, its bytes as a raw body (a JSON string).
    let upload = op.method == "POST" && op.template == "/api/v1/orgs/{org_id}/files";
    if upload {
        path = format!("{path}?name={}", unique("upload"));
    }
    if path.contains("{run_id}") {
        let stage = if op.template.ends_with("/verify") {
            RunStage::AwaitingVerification
        } else if op.template.ends_with("/complete") {
            RunStage::Completable
        } else {
            RunStage::Fresh
        };
        let (run, _) = workflow_run(owner, org, stage).await;
        path = path.replace("{run_id}", &run).replace("{step_index}", "0");
    }
    assert!(
        !path.contains('{'),
        "no fixture for the path parameters of {} {}: add one",
        op.method,
        op.template
    );
    let body = if upload {
        Some(Value::String(unique("uploaded bytes")))
    } else if op.template.ends_with("/imports/eln") {
        // The archive's bytes, hex-encoded (`Session::send` decodes them).
        Some(Value::String(hex::encode(super::eln::minimal_eln(
            &unique("import"),
        ))))
    } else if storage_body.is_some() {
        storage_body
    } else if op.csv_body {
        Some(Value::String(
            "sample_type,source_ref\nblood,P-1\nserum,P-2\n".to_owned(),
        ))
    } else if op.method == "POST" && op.template == "/api/v1/auth/password-reset/confirm" {
        Some(
            json!({"token": reset_token(owner, org).await, "new_password": "a brand new unguessable passphrase"}),
        )
    } else if op.method == "POST" && op.template == "/api/v1/invitations/accept" {
        Some(
            json!({"token": invitation_token(owner, org).await, "name": "Joiner", "password": "joiner picks quiet violet harbours"}),
        )
    } else if op.method == "POST"
        && op.template.ends_with("/files")
        && op.template != "/api/v1/orgs/{org_id}/files"
    {
        // Filing / attaching an existing file (project, sample, batch, workflow run).
        Some(json!({ "file_id": file(owner, org).await }))
    } else if op.method == "POST" && op.template.ends_with("/projects/{project_id}/members") {
        Some(json!({ "user_id": project_member.clone().unwrap() }))
    } else if op.method == "POST"
        && op.template == "/api/v1/orgs/{org_id}/compliance-records/{record_id}/links"
    {
        Some(json!({"record_type": "sample", "record_id": sample(owner, org).await}))
    } else if op.method == "POST" && op.template == "/api/v1/orgs/{org_id}/analyses" {
        Some(
            json!({"method": "HPLC purity", "software": "ChemStation", "software_version": "B.04",
                    "parameters": {"column": "C18"}, "result": {"purity": 99.1},
                    "inputs": [{"type": "file", "id": file(owner, org).await},
                               {"type": "sample", "id": sample(owner, org).await}]}),
        )
    } else if op.method == "POST" && op.template == "/api/v1/orgs/{org_id}/workflow-runs" {
        let (_, vid) = protocol(owner, org, true).await;
        Some(json!({"protocol_version_id": vid, "sample_id": sample(owner, org).await}))
    } else if op.has_body {
        Some(
            valid_body(&op.method, &op.template)
                .unwrap_or_else(|| panic!("no body fixture for {} {}", op.method, op.template)),
        )
    } else {
        None
    };
    Call { path, body }
}

/// The same route, naming records that do not exist (random ids) in `org`.
pub fn missing_records(org: &str, op: &Operation) -> String {
    let mut path = op.template.replace("{org_id}", org);
    for param in [
        "{user_id}",
        "{role_id}",
        "{sample_id}",
        "{token_id}",
        "{request_id}",
        "{invitation_id}",
        "{batch_id}",
        "{project_id}",
        "{protocol_id}",
        "{version_id}",
        "{record_id}",
        "{location_id}",
        "{file_id}",
        "{analysis_id}",
        "{run_id}",
        "{step_index}",
    ] {
        path = path.replace(param, &uuid::Uuid::now_v7().to_string());
    }
    path
}

/// A second Owner/Admin-level member of `org` (an Admin), logged in.
pub async fn second_admin(owner: &Session, org: &str) -> Session {
    let email = format!("{}@lab.example", unique("admin"));
    let password = "second admins long password";
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/members"),
            json!({"email": email, "name": "Second Admin", "roles": ["Admin"], "password": password}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let res = client
        .post(format!("{}/api/v1/auth/login", owner.base))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    Session {
        client,
        base: owner.base.clone(),
        csrf: body["csrf_token"].as_str().unwrap().to_owned(),
        user_id: body["id"].as_str().unwrap().to_owned(),
        me: body,
    }
}

/// An export request of the whole `org`. For a download: the owner's own, approved by a second
/// admin; otherwise a second admin's, pending (so the owner, or any other Owner/Admin, can
/// decide it). Returns its id.
pub async fn export_request(owner: &Session, org: &str, downloadable: bool) -> String {
    let admin = second_admin(owner, org).await;
    let (asker, decider) = if downloadable {
        (owner, Some(&admin))
    } else {
        (&admin, None)
    };
    let res = asker
        .post(&format!("/api/v1/orgs/{org}/export"), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let v: Value = res.json().await.unwrap();
    let id = v["id"].as_str().unwrap().to_owned();
    if let Some(d) = decider {
        let res = d
            .post(
                &format!("/api/v1/orgs/{org}/export-requests/{id}/approve"),
                json!({}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    id
}

/// Routes only the person who made the record may use (an approved export's download): in the
/// permission matrix every other caller, whatever their role, is refused.
pub fn requester_only(method: &str, template: &str) -> bool {
    method == "POST"
        && template == "/api/v1/orgs/{org_id}/export-requests/{export_request_id}/download"
}
