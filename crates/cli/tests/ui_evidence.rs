//! The evidence vault's web pages over plain HTTP: a file's page, legal hold and deletion with
//! readable refusals and a tombstone, the analysis page and registration form (the API's own
//! rules), the sample page's provenance, retention settings; every page refuses another org's
//! ids exactly like missing ones and asks the permission of its API twin.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::Session;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn upload(s: &Session, org: &str, name: &str, body: &[u8]) -> String {
    let res = s
        .client
        .post(format!("{}/api/v1/orgs/{org}/files?name={name}", s.base))
        .header("x-csrf-token", &s.csrf)
        .header("content-type", "application/octet-stream")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED, "{name}");
    let v: Value = res.json().await.unwrap();
    v["id"].as_str().unwrap().to_owned()
}

async fn page(s: &Session, path: &str) -> (StatusCode, String) {
    let res = s.get(path).await;
    (res.status(), res.text().await.unwrap())
}

/// Posts a UI form (with the session's CSRF field); redirects are followed, so a success
/// answers with the page it redirected to (its path is returned too).
async fn form(s: &Session, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String, String) {
    let mut all = vec![("csrf", s.csrf.as_str())];
    all.extend_from_slice(fields);
    let res = s
        .client
        .post(format!("{}{path}", s.base))
        .form(&all)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let at = res.url().path().to_owned();
    (status, at, res.text().await.unwrap())
}

async fn analysis(s: &Session, org: &str, body: Value) -> String {
    let res = s.post(&format!("/api/v1/orgs/{org}/analyses"), body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    v["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn pages_refuse_other_orgs_like_missing_records_and_ask_the_api_permissions() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let other_org = server.create_org("Other lab", "other@lab.example", "other owners password");
    let other = server
        .login("other@lab.example", "other owners password")
        .await;

    let raw = upload(&owner, &org, "chromatogram.cdf", b"raw evidence").await;
    let sample: Value = owner
        .post(
            &format!("/api/v1/orgs/{org}/samples"),
            json!({"sample_type": "serum"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let sample_id = sample["id"].as_str().unwrap().to_owned();
    let ours = analysis(
        &owner,
        &org,
        json!({"result": {"purity": 0.98}, "method": "HPLC purity",
               "inputs": [{"type": "file", "id": raw}, {"type": "sample", "id": sample_id}]}),
    )
    .await;
    let theirs_file = upload(&other, &other_org, "secret.bin", b"their evidence").await;
    let theirs = analysis(
        &other,
        &other_org,
        json!({"result": {"x": 1}, "method": "theirs",
               "inputs": [{"type": "file", "id": theirs_file}]}),
    )
    .await;

    // Our pages work.
    let (status, html) = page(&owner, &format!("/orgs/{org}/files/{raw}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("chromatogram.cdf"));
    assert!(html.contains(&hex::encode(sha256(b"raw evidence"))));
    assert!(
        html.contains(&format!("/orgs/{org}/analyses/{ours}")),
        "{html}"
    );
    let (status, html) = page(&owner, &format!("/orgs/{org}/analyses/{ours}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("HPLC purity") && html.contains("purity"));
    assert!(html.contains(&format!("/orgs/{org}/files/{raw}")));
    assert!(html.contains(&format!("/orgs/{org}/samples/{sample_id}")));
    let (_, html) = page(&owner, &format!("/orgs/{org}/samples/{sample_id}")).await;
    assert!(
        html.contains("Provenance: derived from this sample"),
        "{html}"
    );
    assert!(html.contains(&format!("/orgs/{org}/analyses/{ours}")));

    // Another org's ids under our org answer exactly like random ones.
    let random = uuid::Uuid::now_v7().to_string();
    for (theirs_path, random_path) in [
        (
            format!("/orgs/{org}/files/{theirs_file}"),
            format!("/orgs/{org}/files/{random}"),
        ),
        (
            format!("/orgs/{org}/analyses/{theirs}"),
            format!("/orgs/{org}/analyses/{random}"),
        ),
    ] {
        let a = page(&owner, &theirs_path).await;
        let b = page(&owner, &random_path).await;
        assert_eq!(a.0, StatusCode::NOT_FOUND, "{theirs_path}");
        assert_eq!(a, b, "{theirs_path} differs from a missing record");
        assert!(!a.1.contains("secret.bin") && !a.1.contains("theirs"));
    }
    assert_eq!(
        page(&owner, &format!("/orgs/{org}/files/not-an-id"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    // Their org's pages, to a non-member: 404, as the API answers.
    for path in [
        format!("/orgs/{other_org}/files/{theirs_file}"),
        format!("/orgs/{other_org}/analyses/{theirs}"),
        format!("/orgs/{other_org}/retention"),
        format!("/orgs/{other_org}/analyses/new"),
    ] {
        assert_eq!(page(&owner, &path).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    // Forms against another org's file: the same 404, and nothing changed there.
    let (status, _, _) = form(
        &owner,
        &format!("/orgs/{org}/files/{theirs_file}/legal-hold"),
        &[("reason", "probe")],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = form(
        &owner,
        &format!("/orgs/{org}/files/{theirs_file}/delete"),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, html) = form(
        &owner,
        &format!("/orgs/{org}/analyses"),
        &[
            ("method", "probe"),
            ("input_file", &theirs_file),
            ("result", "{}"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("no such file"), "{html}");
    let f = other
        .get_json(&format!("/api/v1/orgs/{other_org}/files/{theirs_file}"))
        .await;
    assert_eq!(f["legal_hold"], Value::Null);
    assert_eq!(f["deleted_at"], Value::Null);

    // A Viewer reads (files:read) but writes nothing; a Technician writes files but holds none
    // (org_settings:write), as in the API.
    let viewer = owner
        .add_member(&server, &org, "viewer@lab.example", &["Viewer"])
        .await;
    let (status, html) = page(&viewer, &format!("/orgs/{org}/files/{raw}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("file-delete-button") && !html.contains("hold-place"));
    assert_eq!(
        page(&viewer, &format!("/orgs/{org}/retention")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        page(&viewer, &format!("/orgs/{org}/analyses/{ours}"))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        page(&viewer, &format!("/orgs/{org}/analyses/new")).await.0,
        StatusCode::FORBIDDEN
    );
    for (path, fields) in [
        (
            format!("/orgs/{org}/files/{raw}/legal-hold"),
            vec![("reason", "x")],
        ),
        (
            format!("/orgs/{org}/files/{raw}/legal-hold/release"),
            vec![],
        ),
        (format!("/orgs/{org}/files/{raw}/delete"), vec![]),
        (format!("/orgs/{org}/analyses"), vec![("method", "m")]),
        (
            format!("/orgs/{org}/retention"),
            vec![("category", "raw"), ("days", "1")],
        ),
    ] {
        let (status, _, _) = form(&viewer, &path, &fields).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "viewer {path}");
    }
    let tech = owner
        .add_member(&server, &org, "tech@lab.example", &["Technician"])
        .await;
    let (status, _, _) = form(
        &tech,
        &format!("/orgs/{org}/files/{raw}/legal-hold"),
        &[("reason", "x")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = form(
        &tech,
        &format!("/orgs/{org}/retention"),
        &[("category", "raw"), ("days", "1")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        page(&tech, &format!("/orgs/{org}/analyses/new")).await.0,
        StatusCode::OK
    );

    // A role without files:read sees none of these pages, and no provenance on the sample.
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/roles"),
            json!({"name": "Sample reader", "permissions": ["samples:read"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let reader = owner
        .add_member(&server, &org, "reader@lab.example", &["Sample reader"])
        .await;
    for path in [
        format!("/orgs/{org}/files/{raw}"),
        format!("/orgs/{org}/analyses/{ours}"),
        format!("/orgs/{org}/retention"),
    ] {
        assert_eq!(
            page(&reader, &path).await.0,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    let (status, html) = page(&reader, &format!("/orgs/{org}/samples/{sample_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("Provenance"));

    // A form without the CSRF field is refused.
    let res = owner
        .client
        .post(server.url(&format!("/orgs/{org}/files/{raw}/delete")))
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

fn sha256(b: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(b).to_vec()
}

#[tokio::test]
async fn holds_retention_and_deletion_answer_in_sentences_and_leave_a_tombstone() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let id = upload(&owner, &org, "plate.csv", b"a,b\n1,2\n").await;
    let file_page = format!("/orgs/{org}/files/{id}");

    // A bad reason names the field; a good one places the hold.
    let (status, _, html) = form(
        &owner,
        &format!("{file_page}/legal-hold"),
        &[("reason", " ")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("reason: must be 1 to 500 characters"),
        "{html}"
    );
    let (status, at, html) = form(
        &owner,
        &format!("{file_page}/legal-hold"),
        &[("reason", "Inspection 2026-11")],
    )
    .await;
    assert_eq!((status, at.as_str()), (StatusCode::OK, file_page.as_str()));
    assert!(html.contains("Legal hold placed"));
    assert!(html.contains("On legal hold: Inspection 2026-11"), "{html}");

    // Deleting while on hold: 409 with the reason in words; nothing deleted.
    let (status, _, html) = form(&owner, &format!("{file_page}/delete"), &[]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        html.contains(
            "is on legal hold (Inspection 2026-11); release the hold before deleting it."
        ),
        "{html}"
    );
    let (status, _, _) = form(&owner, &format!("{file_page}/legal-hold/release"), &[]).await;
    assert_eq!(status, StatusCode::OK);

    // Retention: bad input answers by field, a period is saved and refuses early deletion.
    let retention = format!("/orgs/{org}/retention");
    for (days, message) in [
        ("abc", "days: must be a whole number of days"),
        ("-3", "days: must be between 0 and 36525 days"),
    ] {
        let (status, _, html) =
            form(&owner, &retention, &[("category", "raw"), ("days", days)]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{days}");
        assert!(html.contains(message), "{days}: {html}");
    }
    let (status, _, html) = form(&owner, &retention, &[("category", "nope"), ("days", "3")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("category: must be one of raw, analysis, report, other"));
    let (status, at, html) = form(&owner, &retention, &[("category", "raw"), ("days", "30")]).await;
    assert_eq!((status, at.as_str()), (StatusCode::OK, retention.as_str()));
    assert!(html.contains("Retention period saved.") && html.contains("30 days"));
    let api = owner
        .get_json(&format!("/api/v1/orgs/{org}/retention"))
        .await;
    assert_eq!(api["retention_days"]["raw"], 30);
    let (_, html) = page(&owner, &file_page).await;
    assert!(html.contains("Retained until "), "{html}");
    let (status, _, html) = form(&owner, &format!("{file_page}/delete"), &[]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(html.contains("(raw) is retained until "), "{html}");
    assert!(html.contains("it cannot be deleted before."));

    // Empty days removes the period; then the file may go, leaving a tombstone.
    let (status, _, html) = form(&owner, &retention, &[("category", "raw"), ("days", "")]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("none (may be deleted at any time)"));
    let (status, at, html) = form(&owner, &format!("{file_page}/delete"), &[]).await;
    assert_eq!((status, at.as_str()), (StatusCode::OK, file_page.as_str()));
    assert!(html.contains("File deleted: its record remains as a tombstone."));
    assert!(html.contains("file-tombstone") && html.contains("This file was deleted on"));
    assert!(!html.contains("file-download") && !html.contains("file-delete-button"));
    assert!(html.contains(&hex::encode(sha256(b"a,b\n1,2\n"))));
    let res = owner
        .get(&format!("/api/v1/orgs/{org}/files/{id}/content"))
        .await;
    assert_eq!(res.status(), StatusCode::GONE);
    // The list marks it and offers no download.
    let (_, html) = page(&owner, &format!("/orgs/{org}/files")).await;
    assert!(
        html.contains("<span class=\"badge\">deleted</span>"),
        "{html}"
    );
    assert!(!html.contains(&format!("{id}/content")));
    // Deleting again: 410 in words.
    let (status, _, html) = form(&owner, &format!("{file_page}/delete"), &[]).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(html.contains("was already deleted"), "{html}");
}

#[tokio::test]
async fn the_analysis_form_uses_the_api_rules_and_links_both_ways() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let raw = upload(&owner, &org, "run7.raw", b"raw").await;
    let out = upload(&owner, &org, "run7-peaks.csv", b"peaks").await;
    let sample: Value = owner
        .post(
            &format!("/api/v1/orgs/{org}/samples"),
            json!({"sample_type": "plasma"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let code = sample["code"].as_str().unwrap().to_owned();

    // Filed under a project: the file's page names it; a Viewer of another project would not.
    let project: Value = owner
        .post(
            &format!("/api/v1/orgs/{org}/projects"),
            json!({"name": "Stability study 12"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let res = owner
        .post(
            &format!(
                "/api/v1/orgs/{org}/projects/{}/files",
                project["id"].as_str().unwrap()
            ),
            json!({"file_id": raw}),
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    let (_, html) = page(&owner, &format!("/orgs/{org}/files/{raw}")).await;
    assert!(html.contains("Stability study 12"), "{html}");
    let (_, html) = page(&owner, &format!("/orgs/{org}/files/{out}")).await;
    assert!(html.contains("No project"));

    // The form from the file's page comes with the file ticked.
    let (status, html) = page(
        &owner,
        &format!("/orgs/{org}/analyses/new?input_file={raw}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&format!("value=\"{raw}\" checked")), "{html}");

    let path = format!("/orgs/{org}/analyses");
    // Nothing filled in: the API's field names and sentences.
    let (status, _, html) = form(&owner, &path, &[("method", " ")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("method: must not be empty"), "{html}");
    assert!(html.contains("inputs: name at least one input"));
    assert!(html.contains("give exactly one output"));
    // Bad JSON, an unknown sample code, and both outputs at once.
    let (status, _, html) = form(
        &owner,
        &path,
        &[
            ("method", "peaks"),
            ("input_file", &raw),
            ("sample_codes", "S-999999"),
            ("parameters", "{oops"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("parameters: is not valid JSON"), "{html}");
    assert!(html.contains("no sample S-999999"));
    // What was typed is kept.
    assert!(html.contains("value=\"peaks\""));
    let (status, _, html) = form(
        &owner,
        &path,
        &[
            ("method", "peaks"),
            ("input_file", &raw),
            ("output_file_id", &out),
            ("result", "{\"a\": 1}"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("give exactly one output"), "{html}");
    // An output cannot be its own input (the API's rule).
    let (status, _, html) = form(
        &owner,
        &path,
        &[
            ("method", "peaks"),
            ("input_file", &out),
            ("output_file_id", &out),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("an output cannot be its own input"), "{html}");

    // A good one: file and sample in, a file out.
    let (status, at, html) = form(
        &owner,
        &path,
        &[
            ("method", "Peak picking"),
            ("software", "OpenChrom"),
            ("software_version", "1.5"),
            ("parameters", "{\"threshold\": 0.2}"),
            ("input_file", &raw),
            ("sample_codes", &code.to_lowercase()),
            ("output_file_id", &out),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(at.starts_with(&format!("/orgs/{org}/analyses/")), "{at}");
    let analysis_id = at.rsplit('/').next().unwrap().to_owned();
    assert!(html.contains("Analysis registered."));
    assert!(html.contains("OpenChrom") && html.contains("&quot;threshold&quot;: 0.2"));
    assert!(html.contains(&format!("sample {code}")));
    // The API sees the same record.
    let api = owner
        .get_json(&format!("/api/v1/orgs/{org}/analyses/{analysis_id}"))
        .await;
    assert_eq!(api["output_file_id"], out.as_str());
    assert_eq!(api["inputs"].as_array().unwrap().len(), 2);
    // Both ways: the output's page names the analysis and its input; the input's page names
    // the analysis and its output.
    let (_, html) = page(&owner, &format!("/orgs/{org}/files/{out}")).await;
    assert!(html.contains(&format!("/orgs/{org}/analyses/{analysis_id}")));
    assert!(html.contains(&format!("/orgs/{org}/files/{raw}")));
    let (_, html) = page(&owner, &format!("/orgs/{org}/files/{raw}")).await;
    assert!(html.contains(&format!("/orgs/{org}/analyses/{analysis_id}")));
    assert!(html.contains(&format!("/orgs/{org}/files/{out}")));
}
