//! Evidence files attached to samples, batches and workflow runs, black-box: attached on upload
//! (in the upload's transaction) and later, listed per record and on the file's view; another
//! org's or an unknown record refused alike before a byte is stored; a finished run takes no new
//! evidence (store rule and database trigger), a closed batch does; and who may attach.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::fixtures::{self, RunStage};
use common::{Session, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

async fn upload_to(
    s: &Session,
    org: &str,
    name: &str,
    targets: &[(&str, &str)],
    body: &str,
) -> reqwest::Response {
    let mut query = vec![("name", name)];
    query.extend_from_slice(targets);
    s.client
        .post(format!("{}/api/v1/orgs/{org}/files", s.base))
        .query(&query)
        .header("x-csrf-token", &s.csrf)
        .header("content-type", "application/octet-stream")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

async fn created(res: reqwest::Response) -> Value {
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{text}");
    serde_json::from_str(&text).unwrap()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn objects(server: &TestServer) -> usize {
    files_under(&server.data_dir.path().join("objects")).len()
}

async fn file_count(s: &Session, org: &str) -> usize {
    s.get_json(&format!("/api/v1/orgs/{org}/files?limit=500"))
        .await["items"]
        .as_array()
        .unwrap()
        .len()
}

fn listed_ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["file"]["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A problem without its per-request parts, to compare two refusals.
async fn problem(res: reqwest::Response) -> (StatusCode, Value) {
    let status = res.status();
    let mut v: Value = res.json().await.unwrap();
    if let Some(o) = v.as_object_mut() {
        o.remove("instance");
        o.remove("request_id");
    }
    (status, v)
}

#[tokio::test]
async fn files_attach_on_upload_and_later_and_are_listed_both_ways() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let base = format!("/api/v1/orgs/{org}");
    let sample = fixtures::sample(&owner, &org).await;
    let (batch, _) = fixtures::batch(&owner, &org).await;
    let (run, _) = fixtures::workflow_run(&owner, &org, RunStage::Fresh).await;
    let project = fixtures::project(&owner, &org).await;
    let sample_code = owner.get_json(&format!("{base}/samples/{sample}")).await["code"]
        .as_str()
        .unwrap()
        .to_owned();

    // On upload: the file and its attachment are one transaction (two audit events; the org's
    // key was made by an earlier upload).
    fixtures::file(&owner, &org).await;
    let before = common::audit_len(&owner, &org).await;
    let plate = created(
        upload_to(
            &owner,
            &org,
            "plate.csv",
            &[("sample_id", &sample)],
            "A1,0.42\n",
        )
        .await,
    )
    .await;
    assert_eq!(common::audit_len(&owner, &org).await, before + 2);
    assert_eq!(plate["size"], 8);
    assert_eq!(plate["name"], "plate.csv");
    let plate_id = plate["id"].as_str().unwrap().to_owned();
    let list = owner
        .get_json(&format!("{base}/samples/{sample}/files"))
        .await;
    assert_eq!(listed_ids(&list), [plate_id.as_str()]);
    assert_eq!(list["items"][0]["file"]["sha256"], plate["sha256"]);
    assert_eq!(list["items"][0]["added_by"], owner.user_id.as_str());

    // A run in progress, a project and a batch at once.
    let trace = created(
        upload_to(
            &owner,
            &org,
            "trace.bin",
            &[
                ("run_id", &run),
                ("project_id", &project),
                ("batch_id", &batch),
            ],
            "chromatogram",
        )
        .await,
    )
    .await;
    let trace_id = trace["id"].as_str().unwrap().to_owned();
    let list = owner
        .get_json(&format!("{base}/workflow-runs/{run}/files"))
        .await;
    assert_eq!(listed_ids(&list), [trace_id.as_str()]);
    let list = owner
        .get_json(&format!("{base}/batches/{batch}/files"))
        .await;
    assert_eq!(listed_ids(&list), [trace_id.as_str()]);
    let view = owner.get_json(&format!("{base}/files/{trace_id}")).await;
    assert_eq!(view["projects"][0]["id"], project.as_str());
    let kinds: Vec<&str> = view["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["target_type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 2, "{view}");
    assert!(
        kinds.contains(&"batch") && kinds.contains(&"workflow_run"),
        "{view}"
    );

    // Later: attach the existing trace to the sample; again is a no-op (no new event).
    let before = common::audit_len(&owner, &org).await;
    let res = owner
        .post(
            &format!("{base}/samples/{sample}/files"),
            json!({"file_id": trace_id}),
        )
        .await;
    let attached = created(res).await;
    assert_eq!(attached["target_type"], "sample");
    assert_eq!(attached["file"]["id"], trace_id.as_str());
    assert_eq!(common::audit_len(&owner, &org).await, before + 1);
    let again = owner
        .post(
            &format!("{base}/samples/{sample}/files"),
            json!({"file_id": trace_id}),
        )
        .await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(common::audit_len(&owner, &org).await, before + 1);
    let list = owner
        .get_json(&format!("{base}/samples/{sample}/files"))
        .await;
    assert_eq!(listed_ids(&list), [plate_id.clone(), trace_id.clone()]);
    let view = owner.get_json(&format!("{base}/files/{plate_id}")).await;
    assert_eq!(view["attachments"][0]["target_type"], "sample");
    assert_eq!(view["attachments"][0]["target_id"], sample.as_str());
    assert_eq!(view["attachments"][0]["label"], sample_code.as_str());
    // The audit trail names the sample as the target of the attachment.
    let audit = owner
        .get_json(&format!("{base}/audit?action=file.attach"))
        .await;
    let items = audit["items"].as_array().unwrap();
    assert!(
        items
            .iter()
            .any(|e| e["target_id"] == sample.as_str() && e["target_type"] == "sample"),
        "{audit}"
    );

    // Bad ids are named; a deleted (tombstoned) or unknown file cannot be attached.
    let res = upload_to(&owner, &org, "x", &[("sample_id", "not-an-id")], "x").await;
    let (status, body) = problem(res).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["field"], "sample_id", "{body}");
    let res = owner
        .post(
            &format!("{base}/batches/{batch}/files"),
            json!({"file_id": "nope"}),
        )
        .await;
    let (status, body) = problem(res).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["field"], "file_id", "{body}");
    let res = owner
        .post(
            &format!("{base}/batches/{batch}/files"),
            json!({"file_id": uuid::Uuid::now_v7().to_string()}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn another_orgs_or_unknown_records_are_refused_alike_and_nothing_is_stored() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let base = format!("/api/v1/orgs/{org}");
    let org_b = server.create_org("Org B", "boss@b.example", "org b owner long password");
    let boss = server
        .login("boss@b.example", "org b owner long password")
        .await;
    let b_sample = fixtures::sample(&boss, &org_b).await;
    let (b_batch, _) = fixtures::batch(&boss, &org_b).await;
    let (b_run, _) = fixtures::workflow_run(&boss, &org_b, RunStage::Fresh).await;
    let b_project = fixtures::project(&boss, &org_b).await;
    let b_file = fixtures::file(&boss, &org_b).await;
    let a_sample = fixtures::sample(&owner, &org).await;
    let a_file = fixtures::file(&owner, &org).await;

    let files_before = file_count(&owner, &org).await;
    let objects_before = objects(&server);
    let audit_before = common::audit_len(&owner, &org).await;
    for (param, theirs, kind) in [
        ("sample_id", &b_sample, "samples"),
        ("batch_id", &b_batch, "batches"),
        ("run_id", &b_run, "workflow-runs"),
        ("project_id", &b_project, "projects"),
    ] {
        let missing = uuid::Uuid::now_v7().to_string();
        // Upload naming their record vs. a record that does not exist: the same 404.
        let theirs_res = problem(
            upload_to(
                &owner,
                &org,
                "probe.csv",
                &[(param, theirs)],
                "secret probe",
            )
            .await,
        )
        .await;
        let missing_res = problem(
            upload_to(
                &owner,
                &org,
                "probe.csv",
                &[(param, &missing)],
                "secret probe",
            )
            .await,
        )
        .await;
        assert_eq!(
            theirs_res.0,
            StatusCode::NOT_FOUND,
            "{param}: {:?}",
            theirs_res.1
        );
        assert_eq!(theirs_res, missing_res, "{param}");
        if kind == "projects" {
            continue;
        }
        // Attaching our file to their record, listing their record: as if missing.
        let a = problem(
            owner
                .post(
                    &format!("{base}/{kind}/{theirs}/files"),
                    json!({"file_id": a_file}),
                )
                .await,
        )
        .await;
        let m = problem(
            owner
                .post(
                    &format!("{base}/{kind}/{missing}/files"),
                    json!({"file_id": a_file}),
                )
                .await,
        )
        .await;
        assert_eq!(a.0, StatusCode::NOT_FOUND, "{kind}");
        assert_eq!(a, m, "{kind}");
        let l = problem(owner.get(&format!("{base}/{kind}/{theirs}/files")).await).await;
        let lm = problem(owner.get(&format!("{base}/{kind}/{missing}/files")).await).await;
        assert_eq!(l.0, StatusCode::NOT_FOUND, "{kind}");
        assert_eq!(l, lm, "{kind}");
    }
    // Their file onto our sample: as a missing file.
    let theirs = problem(
        owner
            .post(
                &format!("{base}/samples/{a_sample}/files"),
                json!({"file_id": b_file}),
            )
            .await,
    )
    .await;
    let missing = problem(
        owner
            .post(
                &format!("{base}/samples/{a_sample}/files"),
                json!({"file_id": uuid::Uuid::now_v7().to_string()}),
            )
            .await,
    )
    .await;
    assert_eq!(theirs.0, StatusCode::NOT_FOUND);
    assert_eq!(theirs, missing);
    // Nothing was recorded, stored or audited in either org by the refused calls.
    assert_eq!(file_count(&owner, &org).await, files_before);
    assert_eq!(objects(&server), objects_before);
    assert_eq!(common::audit_len(&owner, &org).await, audit_before);
    let b_list = boss
        .get_json(&format!("/api/v1/orgs/{org_b}/samples/{b_sample}/files"))
        .await;
    assert!(b_list["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_finished_run_takes_no_new_evidence_and_a_closed_batch_does() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let base = format!("/api/v1/orgs/{org}");
    let file = fixtures::file(&owner, &org).await;

    // Completed (signed) and aborted runs: 409 on upload and on attach, nothing stored.
    let (completed, _) = fixtures::workflow_run(&owner, &org, RunStage::Completable).await;
    let res = owner
        .post(
            &format!("{base}/workflow-runs/{completed}/complete"),
            json!({"password": common::ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    let (aborted, _) = fixtures::workflow_run(&owner, &org, RunStage::Fresh).await;
    let res = owner
        .post(
            &format!("{base}/workflow-runs/{aborted}/abort"),
            json!({"reason": "Centrifuge failed mid-run"}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    let files_before = file_count(&owner, &org).await;
    let objects_before = objects(&server);
    for run in [&completed, &aborted] {
        let (status, body) =
            problem(upload_to(&owner, &org, "late.csv", &[("run_id", run)], "late").await).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("takes no new evidence"),
            "{body}"
        );
        let res = owner
            .post(
                &format!("{base}/workflow-runs/{run}/files"),
                json!({"file_id": file}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CONFLICT);
        // Its list still reads.
        let list = owner
            .get_json(&format!("{base}/workflow-runs/{run}/files"))
            .await;
        assert!(list["items"].as_array().unwrap().is_empty());
    }
    assert_eq!(file_count(&owner, &org).await, files_before);
    assert_eq!(objects(&server), objects_before);

    // The database refuses it too (a write that bypassed the store), and attachments are kept.
    let mut db = server.raw_db().await;
    let insert = format!(
        "INSERT INTO file_attachments (org_id, file_id, target_type, target_id, run_id, added_at) \
         VALUES ('{org}', '{file}', 'workflow_run', '{completed}', '{completed}', 1)"
    );
    let err = sqlx::query(&insert).execute(&mut db).await.unwrap_err();
    assert!(err.to_string().contains("takes no new evidence"), "{err}");

    // A closed batch takes evidence: it is processed after closing.
    let (batch, _) = fixtures::batch(&owner, &org).await;
    let res = owner
        .send(Method::POST, &format!("{base}/batches/{batch}/close"), None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = owner
        .post(
            &format!("{base}/batches/{batch}/files"),
            json!({"file_id": file}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    created(
        upload_to(
            &owner,
            &org,
            "batch-output.csv",
            &[("batch_id", &batch)],
            "ok",
        )
        .await,
    )
    .await;
    let list = owner
        .get_json(&format!("{base}/batches/{batch}/files"))
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    let update = format!("UPDATE file_attachments SET added_at = 2 WHERE org_id = '{org}'");
    assert!(sqlx::query(&update).execute(&mut db).await.is_err());
    let delete = format!("DELETE FROM file_attachments WHERE org_id = '{org}'");
    assert!(sqlx::query(&delete).execute(&mut db).await.is_err());
}

#[tokio::test]
async fn who_may_attach_and_list() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let base = format!("/api/v1/orgs/{org}");
    let sample = fixtures::sample(&owner, &org).await;
    let (batch, _) = fixtures::batch(&owner, &org).await;
    let (run, _) = fixtures::workflow_run(&owner, &org, RunStage::Fresh).await;
    let project = fixtures::project(&owner, &org).await;

    // A Technician attaches to samples, batches and runs (on upload and later), but files
    // nothing under a project (projects:write).
    let tech = owner
        .add_member(&server, &org, "tech@lab.example", &["Technician"])
        .await;
    let f = created(
        upload_to(
            &tech,
            &org,
            "tech.csv",
            &[
                ("sample_id", &sample),
                ("batch_id", &batch),
                ("run_id", &run),
            ],
            "by the bench",
        )
        .await,
    )
    .await;
    let f_id = f["id"].as_str().unwrap().to_owned();
    let objects_before = objects(&server);
    let res = upload_to(&tech, &org, "p.csv", &[("project_id", &project)], "no").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(objects(&server), objects_before);
    let other = fixtures::sample(&owner, &org).await;
    let res = tech
        .post(
            &format!("{base}/samples/{other}/files"),
            json!({"file_id": f_id}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    // A Viewer lists but does not attach or upload.
    let viewer = owner
        .add_member(&server, &org, "viewer@lab.example", &["Viewer"])
        .await;
    let list = viewer
        .get_json(&format!("{base}/samples/{sample}/files"))
        .await;
    assert_eq!(listed_ids(&list), [f_id.as_str()]);
    let res = viewer
        .post(
            &format!("{base}/samples/{sample}/files"),
            json!({"file_id": f_id}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = upload_to(&viewer, &org, "v.csv", &[("sample_id", &sample)], "no").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // files:write without reading the target: refused, and the file is not stored.
    let res = owner
        .post(
            &format!("{base}/roles"),
            json!({"name": "Uploader", "permissions": ["files:write", "files:read"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let uploader = owner
        .add_member(&server, &org, "uploader@lab.example", &["Uploader"])
        .await;
    let files_before = file_count(&owner, &org).await;
    for (param, id) in [
        ("sample_id", &sample),
        ("batch_id", &batch),
        ("run_id", &run),
    ] {
        let res = upload_to(&uploader, &org, "u.csv", &[(param, id)], "no").await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{param}");
    }
    let res = uploader
        .post(
            &format!("{base}/samples/{sample}/files"),
            json!({"file_id": f_id}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(file_count(&owner, &org).await, files_before);
    // Its own upload without a target works.
    created(upload_to(&uploader, &org, "u.csv", &[], "fine").await).await;

    // A project-limited member outside the sample's project sees it as missing.
    let limited_sample: Value = owner
        .post(
            &format!("{base}/samples"),
            json!({"sample_type": "blood", "project_id": project}),
        )
        .await
        .json()
        .await
        .unwrap();
    let limited_sample = limited_sample["id"].as_str().unwrap().to_owned();
    let res = owner
        .send(
            Method::PUT,
            &format!("{base}/members/{}/project-access", tech.user_id),
            Some(json!({"limited": true})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = upload_to(
        &tech,
        &org,
        "l.csv",
        &[("sample_id", &limited_sample)],
        "no",
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = tech
        .get(&format!("{base}/samples/{limited_sample}/files"))
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // The file's view omits the samples the caller cannot see.
    let res = owner
        .post(
            &format!("{base}/samples/{limited_sample}/files"),
            json!({"file_id": f_id}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let mine = tech.get_json(&format!("{base}/files/{f_id}")).await;
    let theirs = owner.get_json(&format!("{base}/files/{f_id}")).await;
    let count = |v: &Value| v["attachments"].as_array().unwrap().len();
    assert_eq!(count(&theirs), 5, "{theirs}");
    assert!(
        mine["attachments"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["target_id"] != limited_sample.as_str()),
        "{mine}"
    );
}

#[tokio::test]
async fn record_pages_show_their_evidence_and_offer_an_upload_only_where_it_is_taken() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let sample = fixtures::sample(&owner, &org).await;
    let (batch, _) = fixtures::batch(&owner, &org).await;
    let (run, _) = fixtures::workflow_run(&owner, &org, RunStage::Fresh).await;
    let f = created(
        upload_to(
            &owner,
            &org,
            "<b>shown.csv",
            &[
                ("sample_id", &sample),
                ("batch_id", &batch),
                ("run_id", &run),
            ],
            "x",
        )
        .await,
    )
    .await;
    let f_id = f["id"].as_str().unwrap();
    let page = |path: String| {
        let owner = &owner;
        async move {
            let res = owner.get(&path).await;
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            res.text().await.unwrap()
        }
    };
    for (path, attach) in [
        (
            format!("/orgs/{org}/samples/{sample}"),
            format!("sample_id={sample}"),
        ),
        (
            format!("/orgs/{org}/batches/{batch}"),
            format!("batch_id={batch}"),
        ),
        (
            format!("/orgs/{org}/workflow-runs/{run}"),
            format!("run_id={run}"),
        ),
    ] {
        let html = page(path.clone()).await;
        assert!(html.contains("Evidence files"), "{path}");
        assert!(
            html.contains(&format!("/orgs/{org}/files/{f_id}")),
            "{path}"
        );
        assert!(
            html.contains("&lt;b&gt;shown.csv"),
            "{path}: the name is escaped"
        );
        assert!(
            html.contains(&format!("data-attach=\"{attach}\"")),
            "{path}"
        );
    }
    // A finished run lists its evidence but offers no upload.
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/workflow-runs/{run}/abort"),
            json!({"reason": "Power cut"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = page(format!("/orgs/{org}/workflow-runs/{run}")).await;
    assert!(html.contains(&format!("/orgs/{org}/files/{f_id}")));
    assert!(!html.contains("evidence-upload"));
    assert!(html.contains("takes no new evidence"));
    // The file's page links the three records.
    let html = page(format!("/orgs/{org}/files/{f_id}")).await;
    for path in [
        format!("/orgs/{org}/samples/{sample}"),
        format!("/orgs/{org}/batches/{batch}"),
        format!("/orgs/{org}/workflow-runs/{run}"),
    ] {
        assert!(html.contains(&format!("href=\"{path}\"")), "{path}");
    }
    // A Viewer sees the list without the upload.
    let viewer = owner
        .add_member(&server, &org, "viewer@lab.example", &["Viewer"])
        .await;
    let res = viewer.get(&format!("/orgs/{org}/samples/{sample}")).await;
    let html = res.text().await.unwrap();
    assert!(html.contains(&format!("/orgs/{org}/files/{f_id}")));
    assert!(!html.contains("evidence-upload"));
}
