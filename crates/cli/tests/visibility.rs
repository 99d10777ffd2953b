//! Project limits on every record, probed as an outside tester would: a Technician limited to
//! project "Alpha" tries a sample of project "Beta" and everything hanging off it — through the
//! API, an API token and the UI — and finds nothing, exactly as if it did not exist.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Session, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Two projects, a limited Technician in Alpha, a sample in each project, evidence attached to
/// the Beta sample and the Beta sample placed in a box.
struct Lab {
    server: TestServer,
    owner: Session,
    org: String,
    alpha: String,
    tech: Session,
    alpha_sample: String,
    beta_sample: String,
    beta_code: String,
    beta_file: String,
    storage_box: String,
}

async fn project(owner: &Session, org: &str, name: &str) -> String {
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/projects"),
            json!({ "name": name }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn sample_in(owner: &Session, org: &str, project: &str) -> Value {
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/samples"),
            json!({"sample_type": "blood", "project_id": project, "quantity": 10, "unit": "mL"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json().await.unwrap()
}

/// Limits `member` to their projects and adds them to `project`.
async fn limit_to(owner: &Session, org: &str, member: &str, project: &str) {
    let res = owner
        .send(
            Method::PUT,
            &format!("/api/v1/orgs/{org}/members/{member}/project-access"),
            Some(json!({"limited": true})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/projects/{project}/members"),
            json!({ "user_id": member }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

async fn upload(session: &Session, org: &str, query: &str, bytes: &str) -> String {
    let res = session
        .send(
            Method::POST,
            &format!("/api/v1/orgs/{org}/files?name=evidence.txt&{query}"),
            Some(Value::String(bytes.to_owned())),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn lab() -> Lab {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let alpha = project(&owner, &org, "Alpha").await;
    let beta = project(&owner, &org, "Beta").await;
    let alpha_sample = sample_in(&owner, &org, &alpha).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let beta = sample_in(&owner, &org, &beta).await;
    let beta_sample = beta["id"].as_str().unwrap().to_owned();
    let beta_code = beta["code"].as_str().unwrap().to_owned();
    let beta_file = upload(
        &owner,
        &org,
        &format!("sample_id={beta_sample}"),
        "beta evidence bytes",
    )
    .await;
    let storage_box = common::fixtures::storage_box(&owner, &org).await;
    let res = owner
        .send(
            Method::PUT,
            &format!("/api/v1/orgs/{org}/samples/{beta_sample}/placement"),
            Some(json!({"location_id": storage_box, "position": "B2"})),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    let tech = owner
        .add_member(&server, &org, "tech@lab.example", &["Technician"])
        .await;
    limit_to(&owner, &org, &tech.user_id, &alpha).await;
    Lab {
        server,
        owner,
        org,
        alpha,
        tech,
        alpha_sample,
        beta_sample,
        beta_code,
        beta_file,
        storage_box,
    }
}

/// Status and body of a call.
async fn answer(
    session: &Session,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Vec<u8>) {
    let res = session.send(method, path, body).await;
    (res.status(), res.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn another_projects_sample_and_everything_off_it_answer_like_nothing() {
    let l = lab().await;
    let (org, tech) = (&l.org, &l.tech);
    let api = |rest: &str| format!("/api/v1/orgs/{org}{rest}");
    let random = uuid::Uuid::now_v7().to_string();
    let events_before = common::audit_len(&l.owner, org).await;

    // Every route about the Beta sample or its evidence answers the bytes of a missing record.
    let probes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/samples/{id}".into(), None),
        (Method::GET, "/samples/{id}/custody".into(), None),
        (Method::GET, "/samples/{id}/lineage".into(), None),
        (Method::GET, "/samples/{id}/placement".into(), None),
        (Method::GET, "/samples/{id}/provenance".into(), None),
        (Method::GET, "/samples/{id}/files".into(), None),
        (Method::GET, "/samples/{id}/label.svg".into(), None),
        (
            Method::POST,
            "/samples/{id}/transitions".into(),
            Some(json!({"to": "received"})),
        ),
        (
            Method::POST,
            "/samples/{id}/handovers".into(),
            Some(json!({"to_member": tech.user_id, "reason": "take it"})),
        ),
        (
            Method::POST,
            "/samples/{id}/aliquots".into(),
            Some(json!({"count": 2, "quantity": 1})),
        ),
        (Method::DELETE, "/samples/{id}/placement".into(), None),
        (Method::GET, "/files/{file}".into(), None),
        (Method::GET, "/files/{file}/content".into(), None),
        (Method::GET, "/files/{file}/provenance".into(), None),
    ];
    let mut real_reads: Vec<String> = Vec::new();
    for (method, template, body) in probes {
        let hidden = api(&template
            .replace("{id}", &l.beta_sample)
            .replace("{file}", &l.beta_file));
        let missing = api(&template.replace("{id}", &random).replace("{file}", &random));
        let seen = answer(tech, method.clone(), &hidden, body.clone()).await;
        let none = answer(tech, method.clone(), &missing, body.clone()).await;
        assert_eq!(
            seen.0,
            StatusCode::NOT_FOUND,
            "{method} {template}: {}",
            String::from_utf8_lossy(&seen.1)
        );
        assert_eq!(
            seen, none,
            "{method} {template}: differs from a missing record"
        );
        assert_eq!(
            common::audit_len(&l.owner, org).await,
            events_before,
            "{method} {template} changed something"
        );
        if method == Method::GET {
            real_reads.push(template);
        }
    }
    // The owner reaches every one of them (the probes named real records).
    for template in real_reads {
        let path = api(&template
            .replace("{id}", &l.beta_sample)
            .replace("{file}", &l.beta_file));
        let res = l.owner.get(&path).await;
        assert_eq!(res.status(), StatusCode::OK, "owner GET {template}");
    }
    assert_eq!(
        common::audit_len(&l.owner, org).await,
        events_before + 1,
        "only the owner's download is recorded"
    );

    // Lists: the file list, the sample list and a lookup by code show nothing of Beta.
    let files = tech.get_json(&api("/files")).await;
    assert!(
        files["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["id"] != l.beta_file.as_str()),
        "{files}"
    );
    let samples = tech.get_json(&api("/samples")).await;
    let ids: Vec<&str> = samples["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [l.alpha_sample.as_str()]);

    // A batch made from an empty search takes only the Technician's samples.
    let res = tech
        .post(
            &api("/batches"),
            json!({"name": "everything", "codes": [], "search": {}}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    let batch: Value = res.json().await.unwrap();
    assert_eq!(batch["sample_count"], 1, "{batch}");
    let view = tech
        .get_json(&api(&format!("/batches/{}", batch["id"].as_str().unwrap())))
        .await;
    let text = view.to_string();
    assert!(
        !text.contains(&l.beta_sample) && !text.contains(&l.beta_code),
        "{view}"
    );
    // Naming the Beta code is naming an unknown sample.
    let res = tech
        .post(
            &api("/batches"),
            json!({"name": "by code", "codes": [l.beta_code]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "codes[0]", "{p}");

    // The box shows the Beta position as occupied, without the sample.
    let bx = tech
        .get_json(&api(&format!("/locations/{}", l.storage_box)))
        .await;
    let occupant = &bx["occupants"][0];
    assert_eq!(occupant["position"], "B2", "{bx}");
    assert!(
        occupant["code"].is_null() && occupant["sample_id"].is_null(),
        "{bx}"
    );
    assert!(!bx.to_string().contains(&l.beta_code));
    // And placing into it says only that it is taken.
    let res = tech
        .send(
            Method::PUT,
            &api(&format!("/samples/{}/placement", l.alpha_sample)),
            Some(json!({"location_id": l.storage_box, "position": "B2"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(!res.text().await.unwrap().contains(&l.beta_code));

    // The owner sees the Beta sample unchanged.
    let beta = l
        .owner
        .get_json(&api(&format!("/samples/{}", l.beta_sample)))
        .await;
    assert_eq!(beta["status"], "registered");
    assert_eq!(beta["quantity"], 10.0);
}

#[tokio::test]
async fn the_ui_hides_another_projects_sample_like_a_missing_one() {
    let l = lab().await;
    let org = &l.org;
    let page = |id: &str| format!("/orgs/{org}/samples/{id}");
    let random = uuid::Uuid::now_v7().to_string();
    let hidden = answer(&l.tech, Method::GET, &page(&l.beta_sample), None).await;
    let missing = answer(&l.tech, Method::GET, &page(&random), None).await;
    assert_eq!(hidden.0, StatusCode::NOT_FOUND);
    assert_eq!(hidden, missing);
    let file_page = answer(
        &l.tech,
        Method::GET,
        &format!("/orgs/{org}/files/{}", l.beta_file),
        None,
    )
    .await;
    let no_file = answer(
        &l.tech,
        Method::GET,
        &format!("/orgs/{org}/files/{random}"),
        None,
    )
    .await;
    assert_eq!(file_page.0, StatusCode::NOT_FOUND);
    assert_eq!(file_page, no_file);
    // The code search answers the Beta code like a code nobody has (no redirect to the sample).
    let unknown = l
        .tech
        .get(&format!("/orgs/{org}/samples?code=S-999999"))
        .await
        .status();
    let res = l
        .tech
        .get(&format!("/orgs/{org}/samples?code={}", l.beta_code))
        .await;
    assert_eq!(res.status(), unknown);
    let body = res.text().await.unwrap();
    assert!(
        !body.contains(&l.beta_sample),
        "the search opened or linked the Beta sample"
    );
    // The box page shows the position occupied, not the code.
    let res = l
        .tech
        .get(&format!("/orgs/{org}/storage/{}", l.storage_box))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.text().await.unwrap();
    assert!(!body.contains(&l.beta_code) && body.contains("occupied"));
    // The owner's UI does show it.
    let res = l.owner.get(&page(&l.beta_sample)).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_api_token_of_a_limited_member_is_limited_too() {
    let l = lab().await;
    let org = &l.org;
    let res = l
        .tech
        .post(
            &format!("/api/v1/orgs/{org}/api-tokens"),
            json!({"name": "bench scanner", "permissions": ["samples:read", "samples:write", "files:read"], "expires_in_days": 30}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    let token = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = reqwest::Client::new();
    let get = |path: String| client.get(l.server.url(&path)).bearer_auth(&token).send();
    let res = get(format!("/api/v1/orgs/{org}/samples/{}", l.beta_sample))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = get(format!("/api/v1/orgs/{org}/files/{}/content", l.beta_file))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = get(format!("/api/v1/orgs/{org}/samples/{}", l.alpha_sample))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = client
        .post(l.server.url(&format!(
            "/api/v1/orgs/{org}/samples/{}/transitions",
            l.beta_sample
        )))
        .bearer_auth(&token)
        .json(&json!({"to": "received"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_limited_auditor_reads_only_events_about_records_they_see() {
    let l = lab().await;
    let org = &l.org;
    let auditor = l
        .owner
        .add_member(&l.server, org, "auditor@lab.example", &["Auditor"])
        .await;
    limit_to(&l.owner, org, &auditor.user_id, &l.alpha).await;
    let page = auditor
        .get_json(&format!("/api/v1/orgs/{org}/audit?limit=500"))
        .await;
    let items = page["items"].as_array().unwrap();
    let about: Vec<(&str, &str)> = items
        .iter()
        .map(|e| {
            (
                e["target_type"].as_str().unwrap_or(""),
                e["target_id"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        about.contains(&("sample", l.alpha_sample.as_str())),
        "{about:?}"
    );
    assert!(about.contains(&("project", l.alpha.as_str())), "{about:?}");
    for (kind, id) in &about {
        assert!(
            ![l.beta_sample.as_str(), l.beta_file.as_str()].contains(id),
            "the limited auditor read an event about {kind} {id}"
        );
        assert!(
            !["member", "role", "org", "api_token"].contains(kind),
            "the limited auditor read an administration event ({kind})"
        );
    }
    // Asking for the Beta sample's events by target finds nothing.
    let page = auditor
        .get_json(&format!(
            "/api/v1/orgs/{org}/audit?target_type=sample&target_id={}",
            l.beta_sample
        ))
        .await;
    assert!(page["items"].as_array().unwrap().is_empty(), "{page}");
    // The unlimited owner reads them all.
    let page = l
        .owner
        .get_json(&format!(
            "/api/v1/orgs/{org}/audit?target_type=sample&target_id={}",
            l.beta_sample
        ))
        .await;
    assert!(!page["items"].as_array().unwrap().is_empty());
}

/// Path parameters naming records under a project visibility rule.
const GUARDED: &[&str] = &[
    "{sample_id}",
    "{batch_id}",
    "{file_id}",
    "{run_id}",
    "{analysis_id}",
    "{project_id}",
    "{export_request_id}",
];

/// A member holding every permission (Admin), limited to one empty project of their own, with the
/// owner's password (so the fixtures' signing bodies are theirs too).
async fn limited_admin(server: &TestServer, owner: &Session, org: &str) -> Session {
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/members"),
            json!({"email": "limited.admin@lab.example", "name": "Limited Admin", "roles": ["Admin"],
                   "password": common::ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    let admin = server
        .login("limited.admin@lab.example", common::ADMIN_PASSWORD)
        .await;
    let own = project(owner, org, "Limited admin's own").await;
    limit_to(owner, org, &admin.user_id, &own).await;
    admin
}

/// For every API route naming a record of a guarded kind, a member limited to projects calls
/// their own org's path with (a) the id of another org's record, (b) the id of a record of their
/// org outside their projects, (c) a random id: three byte-identical 404s, and nothing changes.
#[tokio::test]
async fn every_record_route_answers_the_same_404_for_records_out_of_sight() {
    use common::fixtures::{missing_records, operations, org_scoped, prepare};
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let (org_b, owner_b) = server.other_org().await;
    let admin = limited_admin(&server, &owner, &org).await;

    let ops: Vec<_> = org_scoped(&operations(&server).await)
        .into_iter()
        .filter(|op| GUARDED.iter().any(|p| op.template.contains(p)))
        .collect();
    assert!(ops.len() >= 40, "too few guarded routes: {}", ops.len());
    for op in &ops {
        let method = Method::from_bytes(op.method.as_bytes()).unwrap();
        let outside = prepare(&owner, &org, op).await;
        let foreign = prepare(&owner_b, &org_b, op).await;
        let foreign_path = foreign.path.replace(&org_b, &org);
        let random = missing_records(&org, op);
        let (a_before, b_before) = (
            common::audit_len(&owner, &org).await,
            common::audit_len(&owner_b, &org_b).await,
        );
        let none = answer(&admin, method.clone(), &random, outside.body.clone()).await;
        assert_eq!(
            none.0,
            StatusCode::NOT_FOUND,
            "{} {} random id: {}",
            op.method,
            op.template,
            String::from_utf8_lossy(&none.1)
        );
        for (what, path, body) in [
            (
                "another project's record",
                &outside.path,
                outside.body.clone(),
            ),
            ("another org's record", &foreign_path, foreign.body.clone()),
        ] {
            let got = answer(&admin, method.clone(), path, body).await;
            assert_eq!(
                got,
                none,
                "{} {} with {what} differs from a missing record: {}",
                op.method,
                op.template,
                String::from_utf8_lossy(&got.1)
            );
        }
        assert_eq!(
            common::audit_len(&owner, &org).await,
            a_before,
            "{} {} changed the org",
            op.method,
            op.template
        );
        assert_eq!(common::audit_len(&owner_b, &org_b).await, b_before);
    }
}

/// One record of each kind with a page of its own, made by `session` in `org`.
async fn records(session: &Session, org: &str) -> Vec<(&'static str, String)> {
    use common::fixtures::{analysis, batch, file, sample, workflow_run, RunStage};
    vec![
        ("samples", sample(session, org).await),
        ("batches", batch(session, org).await.0),
        ("files", file(session, org).await),
        (
            "workflow-runs",
            workflow_run(session, org, RunStage::Fresh).await.0,
        ),
        ("analyses", analysis(session, org).await),
    ]
}

/// The UI's record pages: a record outside the member's projects, another org's record and a
/// random id give the same 404 page.
#[tokio::test]
async fn every_record_page_answers_the_same_404_for_records_out_of_sight() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let (org_b, owner_b) = server.other_org().await;
    let admin = limited_admin(&server, &owner, &org).await;
    let mine = records(&owner, &org).await;
    let theirs = records(&owner_b, &org_b).await;
    for ((kind, outside), (_, foreign)) in mine.iter().zip(theirs.iter()) {
        let page = |id: &str| format!("/orgs/{org}/{kind}/{id}");
        let none = answer(
            &admin,
            Method::GET,
            &page(&uuid::Uuid::now_v7().to_string()),
            None,
        )
        .await;
        assert_eq!(none.0, StatusCode::NOT_FOUND, "{kind}");
        for id in [outside, foreign] {
            assert_eq!(
                answer(&admin, Method::GET, &page(id), None).await,
                none,
                "{kind} {id}"
            );
        }
        // The owner reaches the page (the probe names a real record).
        assert_eq!(
            owner.get(&page(outside)).await.status(),
            StatusCode::OK,
            "{kind}"
        );
    }
}
