//! Signed project exports and reports, black-box: a project with samples, a signed workflow
//! step and a file is exported as `.eln`; the archive is unzipped here and its RO-Crate and
//! manifest checked; `labledger export verify` passes on it and fails after one changed byte;
//! another org can neither export nor read the key; the PDF report shows codes and signers.
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
use sha2::{Digest, Sha256};
use std::io::Read;

const MARKER: &[u8] = b"EXPORT-MARKER raw instrument output 0123456789";

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{} not found", String::from_utf8_lossy(needle)))
}

fn verify(server: &common::TestServer, bytes: &[u8], key: Option<&str>) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.eln");
    std::fs::write(&path, bytes).unwrap();
    let mut cmd = server.cli();
    cmd.args(["export", "verify"]).arg(&path);
    if let Some(k) = key {
        cmd.args(["--public-key", k]);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn export(s: &Session, org: &str, project: &str) -> reqwest::Response {
    s.client
        .post(format!(
            "{}/api/v1/orgs/{org}/projects/{project}/export",
            s.base
        ))
        .header("x-csrf-token", &s.csrf)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_project_exports_as_a_signed_eln_that_verifies_offline_and_reports_as_pdf() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/projects"),
            json!({"name": "Stability study"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let project = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut codes = Vec::new();
    let mut sample_ids = Vec::new();
    for t in ["blood", "serum"] {
        let res = owner
            .post(
                &format!("/api/v1/orgs/{org}/samples"),
                json!({"sample_type": t, "project_id": project}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let v: Value = res.json().await.unwrap();
        codes.push(v["code"].as_str().unwrap().to_owned());
        sample_ids.push(v["id"].as_str().unwrap().to_owned());
    }
    // A signed workflow step on a project sample, by a named Technician.
    let (_, vid) = common::fixtures::protocol(&owner, &org, true).await;
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/workflow-runs"),
            json!({"protocol_version_id": vid, "sample_id": sample_ids[0]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let run = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tech = owner
        .add_member(
            &server,
            &org,
            "rosalind.signer@lab.example",
            &["Technician"],
        )
        .await;
    let res = tech
        .post(
            &format!("/api/v1/orgs/{org}/workflow-runs/{run}/steps"),
            json!({"step_index": 0, "values": {"temp": 2}, "password": common::MEMBER_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // A file filed under the project.
    let res = owner
        .client
        .post(format!("{}/api/v1/orgs/{org}/files", owner.base))
        .query(&[("name", "plate-reader.csv")])
        .header("x-csrf-token", &owner.csrf)
        .header("content-type", "text/csv")
        .body(MARKER.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let file: Value = res.json().await.unwrap();
    let file_id = file["id"].as_str().unwrap().to_owned();
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/projects/{project}/files"),
            json!({"file_id": file_id}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // The public key.
    let key: Value = owner
        .get_json(&format!("/api/v1/orgs/{org}/exports/public-key"))
        .await;
    let key_hex = key["public_key_hex"].as_str().unwrap().to_owned();
    assert_eq!(key_hex.len(), 64);
    assert!(key["public_key_pem"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN PUBLIC KEY-----"));

    // Export.
    let before = common::audit_len(&owner, &org).await;
    let res = export(&owner, &org, &project).await;
    assert_eq!(res.status(), StatusCode::OK);
    let manifest_sha = res
        .headers()
        .get("x-manifest-sha256")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let zip_bytes = res.bytes().await.unwrap().to_vec();
    assert_eq!(common::audit_len(&owner, &org).await, before + 1);
    let events = owner
        .get_json(&format!("/api/v1/orgs/{org}/audit?action=export.create"))
        .await;
    assert!(
        events.to_string().contains(&manifest_sha),
        "export.create names the manifest hash: {events}"
    );

    // Unzip: one top folder with ro-crate-metadata.json listing every file with its sha256.
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes.clone())).unwrap();
    let names: Vec<String> = zip.file_names().map(str::to_owned).collect();
    let root = names[0].split('/').next().unwrap().to_owned();
    assert!(names.iter().all(|n| n.starts_with(&format!("{root}/"))));
    let mut contents = std::collections::BTreeMap::new();
    for n in &names {
        let mut buf = Vec::new();
        zip.by_name(n).unwrap().read_to_end(&mut buf).unwrap();
        contents.insert(n.strip_prefix(&format!("{root}/")).unwrap().to_owned(), buf);
    }
    let crate_json: Value = serde_json::from_slice(&contents["ro-crate-metadata.json"]).unwrap();
    assert_eq!(
        crate_json["@context"],
        "https://w3id.org/ro/crate/1.1/context"
    );
    let graph = crate_json["@graph"].as_array().unwrap();
    let root_ds = graph.iter().find(|n| n["@id"] == "./").unwrap();
    assert_eq!(root_ds["@type"], "Dataset");
    let parts: Vec<&str> = root_ds["hasPart"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["@id"].as_str().unwrap())
        .collect();
    let file_path = format!("files/{file_id}/plate-reader.csv");
    assert_eq!(contents[&file_path], MARKER, "the file, decrypted");
    for (path, data) in &contents {
        if path.starts_with("manifest.") || path == "ro-crate-metadata.json" {
            continue;
        }
        let id = format!("./{path}");
        assert!(parts.contains(&id.as_str()), "{id} in hasPart");
        let entity = graph.iter().find(|n| n["@id"] == id).unwrap();
        assert_eq!(entity["@type"], "File");
        assert_eq!(entity["sha256"], hex::encode(Sha256::digest(data)), "{id}");
        assert_eq!(entity["contentSize"], data.len().to_string());
        assert!(entity["encodingFormat"].is_string() && entity["name"].is_string());
    }
    let file_entity = graph
        .iter()
        .find(|n| n["@id"] == format!("./{file_path}"))
        .unwrap();
    assert_eq!(file_entity["sha256"], file["sha256"]);
    assert_eq!(file_entity["name"], "plate-reader.csv");
    let samples_json = String::from_utf8(contents["records/samples.json"].clone()).unwrap();
    let samples_csv = String::from_utf8(contents["records/samples.csv"].clone()).unwrap();
    for c in &codes {
        assert!(samples_json.contains(c) && samples_csv.contains(c));
    }
    let audit = String::from_utf8(contents["audit/events.json"].clone()).unwrap();
    assert!(audit.contains("project.create") && audit.contains("file.upload"));
    assert!(audit.contains("project.file_add"));
    // The manifest is signed over its exact bytes with the org's key.
    assert_eq!(
        hex::encode(Sha256::digest(&contents["manifest.json"])),
        manifest_sha
    );
    assert_eq!(String::from_utf8_lossy(&contents["manifest.pub"]), key_hex);

    // Offline verification passes, with the embedded key and with the published one.
    let (ok, out) = verify(&server, &zip_bytes, None);
    assert!(ok, "{out}");
    assert!(out.contains("OK"), "{out}");
    let (ok, out) = verify(&server, &zip_bytes, Some(&key_hex));
    assert!(ok, "{out}");
    let (ok, out) = verify(&server, &zip_bytes, Some(&"ab".repeat(32)));
    assert!(!ok && out.contains("public key"), "{out}");
    // One byte changed inside the stored file entry: fails naming it.
    let mut bad = zip_bytes.clone();
    let at = find(&bad, MARKER) + 7;
    bad[at] ^= 0x01;
    let (ok, out) = verify(&server, &bad, None);
    assert!(!ok, "a changed file byte must fail: {out}");
    assert!(out.contains("plate-reader.csv"), "{out}");
    // One byte changed in the manifest: fails.
    let mut bad = zip_bytes.clone();
    let at = find(&bad, b"labledger-export-manifest/1") + 3;
    bad[at] = b'X';
    let (ok, out) = verify(&server, &bad, None);
    assert!(!ok, "a changed manifest byte must fail: {out}");
    assert!(out.contains("manifest"), "{out}");
    // A changed record entry also fails.
    let mut bad = zip_bytes.clone();
    let at = find(&bad, codes[1].as_bytes());
    bad[at + codes[1].len() - 1] ^= 0x02;
    let (ok, out) = verify(&server, &bad, None);
    assert!(!ok, "a changed record byte must fail: {out}");

    // Reports: PDF with the sample codes and signer names; CSV variants.
    let res = owner
        .get(&format!("/api/v1/orgs/{org}/projects/{project}/report.pdf"))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let pdf = res.bytes().await.unwrap().to_vec();
    assert!(pdf.starts_with(b"%PDF-"));
    let text = pdftotext(&pdf);
    for c in &codes {
        assert!(text.contains(c.as_str()), "{c} in {text}");
    }
    assert!(text.contains("rosalind.signer"), "signer in {text}");
    assert!(text.contains("valid"), "{text}");
    assert!(text.contains("plate-reader.csv"), "{text}");
    let csv = owner
        .get(&format!(
            "/api/v1/orgs/{org}/projects/{project}/report.csv?part=signatures"
        ))
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.contains("rosalind.signer"), "{csv}");
    let custody = owner
        .get(&format!(
            "/api/v1/orgs/{org}/custody/report?samples={}&format=pdf",
            sample_ids.join(",")
        ))
        .await;
    assert_eq!(custody.status(), StatusCode::OK);
    let text = pdftotext(&custody.bytes().await.unwrap());
    assert!(text.contains(codes[0].as_str()) && text.contains(codes[1].as_str()));

    // Without the permission: 403. Another org: neither export nor the key.
    let scientist = owner
        .add_member(&server, &org, "no.export@lab.example", &["Scientist"])
        .await;
    assert_eq!(
        export(&scientist, &org, &project).await.status(),
        StatusCode::FORBIDDEN
    );
    server.create_org(
        "Other Lab",
        "other.owner@lab.example",
        common::MEMBER_PASSWORD,
    );
    let other = server
        .login("other.owner@lab.example", common::MEMBER_PASSWORD)
        .await;
    let res = export(&other, &org, &project).await;
    assert!(
        matches!(res.status(), StatusCode::NOT_FOUND | StatusCode::FORBIDDEN),
        "{}",
        res.status()
    );
    let res = other
        .get(&format!("/api/v1/orgs/{org}/exports/public-key"))
        .await;
    assert!(
        matches!(res.status(), StatusCode::NOT_FOUND | StatusCode::FORBIDDEN),
        "{}",
        res.status()
    );
    assert!(!res.text().await.unwrap().contains(&key_hex));
}

fn pdftotext(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("r.pdf");
    std::fs::write(&p, pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg(&p)
        .arg("-")
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A project with one file of `content`, filed under it. Returns (project id, file id).
async fn project_with_file(owner: &Session, org: &str, content: &[u8]) -> (String, String) {
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/projects"),
            json!({"name": format!("Project {}", uuid::Uuid::now_v7().simple())}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let project = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/samples"),
            json!({"sample_type": "serum", "project_id": project}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = owner
        .client
        .post(format!("{}/api/v1/orgs/{org}/files", owner.base))
        .query(&[("name", "raw.bin")])
        .header("x-csrf-token", &owner.csrf)
        .header("content-type", "application/octet-stream")
        .body(content.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let file = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/projects/{project}/files"),
            json!({"file_id": file}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    (project, file)
}

async fn action(s: &Session, org: &str, id: &str, what: &str) -> reqwest::Response {
    s.post(
        &format!("/api/v1/orgs/{org}/export-requests/{id}/{what}"),
        json!({}),
    )
    .await
}

async fn problem_type(res: reqwest::Response) -> String {
    let v: Value = res.json().await.unwrap();
    v["type"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn large_project_and_whole_org_exports_wait_for_a_second_admin() {
    let server = common::spawn_with_mail(&["--export-approval-bytes", "100"]).await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    // Under the threshold: the zip at once.
    let (small, _) = project_with_file(&owner, &org, b"tiny").await;
    let res = export(&owner, &org, &small).await;
    assert_eq!(res.status(), StatusCode::OK);
    // Over it: a pending request, audited.
    let (big, big_file) = project_with_file(&owner, &org, &[7u8; 4096]).await;
    let before = common::audit_len(&owner, &org).await;
    let res = export(&owner, &org, &big).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let req: Value = res.json().await.unwrap();
    assert_eq!(req["state"], "pending");
    assert_eq!(req["kind"], "project");
    assert_eq!(req["project_id"], big.as_str());
    assert!(req["estimated_bytes"].as_u64().unwrap() >= 4096);
    let id = req["id"].as_str().unwrap().to_owned();
    assert_eq!(common::audit_len(&owner, &org).await, before + 1);
    // Not yet downloadable; nobody approves their own.
    let res = action(&owner, &org, &id, "download").await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let res = action(&owner, &org, &id, "approve").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(problem_type(res).await, "/problems/forbidden");
    // A Scientist may neither decide nor ask for a whole-org export.
    let scientist = owner
        .add_member(&server, &org, "sci.export@lab.example", &["Scientist"])
        .await;
    assert_eq!(
        action(&scientist, &org, &id, "approve").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        scientist
            .post(&format!("/api/v1/orgs/{org}/export"), json!({}))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    // A second admin approves; they cannot download it; the requester can, and it verifies.
    let admin = owner
        .add_member(&server, &org, "second.admin@lab.example", &["Admin"])
        .await;
    let listed = admin
        .get_json(&format!("/api/v1/orgs/{org}/export-requests"))
        .await;
    assert!(listed.to_string().contains(&id), "{listed}");
    let res = action(&admin, &org, &id, "approve").await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["state"], "approved");
    assert_eq!(v["decided_by"], admin.user_id.as_str());
    assert_eq!(
        action(&admin, &org, &id, "approve").await.status(),
        StatusCode::CONFLICT,
        "decided once"
    );
    assert_eq!(
        action(&admin, &org, &id, "download").await.status(),
        StatusCode::FORBIDDEN
    );
    let res = action(&owner, &org, &id, "download").await;
    assert_eq!(res.status(), StatusCode::OK);
    let sha = res.headers()["x-manifest-sha256"]
        .to_str()
        .unwrap()
        .to_owned();
    let zip_bytes = res.bytes().await.unwrap().to_vec();
    let (ok, out) = verify(&server, &zip_bytes, None);
    assert!(ok, "{out}");
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).unwrap();
    assert!(zip
        .file_names()
        .any(|n| n.ends_with(&format!("files/{big_file}/raw.bin"))));
    let mut manifest = String::new();
    let name = zip
        .file_names()
        .find(|n| n.ends_with("/manifest.json"))
        .unwrap()
        .to_owned();
    zip.by_name(&name)
        .unwrap()
        .read_to_string(&mut manifest)
        .unwrap();
    assert!(manifest.contains(&id), "the manifest names its request");
    let events = owner
        .get_json(&format!("/api/v1/orgs/{org}/audit?action=export.download"))
        .await;
    assert!(events.to_string().contains(&sha), "{events}");
    let events = owner
        .get_json(&format!("/api/v1/orgs/{org}/audit?action=export.approve"))
        .await;
    assert!(events.to_string().contains(&id), "{events}");

    // A whole-org export always waits; a rejected one is never downloadable.
    let res = owner
        .post(&format!("/api/v1/orgs/{org}/export"), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let rejected = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = action(&admin, &org, &rejected, "reject").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["state"], "rejected");
    assert_eq!(
        action(&owner, &org, &rejected, "download").await.status(),
        StatusCode::CONFLICT
    );
    assert_eq!(
        action(&admin, &org, &rejected, "approve").await.status(),
        StatusCode::CONFLICT
    );
    let events = owner
        .get_json(&format!("/api/v1/orgs/{org}/audit?action=export.reject"))
        .await;
    assert!(events.to_string().contains(&rejected), "{events}");
    // A file deleted after it was filed under a project leaves only a tombstone: exports skip it.
    let (_, gone) = project_with_file(&owner, &org, b"deleted later").await;
    let res = owner
        .delete(&format!("/api/v1/orgs/{org}/files/{gone}"))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Evidence attached to a sample travels with the whole org.
    let sample = owner
        .post(
            &format!("/api/v1/orgs/{org}/samples"),
            json!({"sample_type": "serum"}),
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    let sample_id = sample["id"].as_str().unwrap().to_owned();
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/samples/{sample_id}/files"),
            json!({"file_id": big_file}),
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    // The admin asks for the whole org; the owner approves; the admin downloads everything.
    let res = admin
        .post(&format!("/api/v1/orgs/{org}/export"), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let whole = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        action(&owner, &org, &whole, "approve").await.status(),
        StatusCode::OK
    );
    let res = action(&admin, &org, &whole, "download").await;
    assert_eq!(res.status(), StatusCode::OK);
    let zip_bytes = res.bytes().await.unwrap().to_vec();
    let (ok, out) = verify(&server, &zip_bytes, None);
    assert!(ok, "{out}");
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).unwrap();
    let names: Vec<String> = zip.file_names().map(str::to_owned).collect();
    let root = names[0].split('/').next().unwrap().to_owned();
    assert!(root.starts_with(&format!("labledger-org-{org}")), "{root}");
    for p in [
        "records/projects.json",
        "records/samples.csv",
        "records/files.csv",
        "records/project_files.csv",
        "audit/events.json",
        "ro-crate-metadata.json",
    ] {
        assert!(names.contains(&format!("{root}/{p}")), "{p} in {names:?}");
    }
    assert_eq!(
        names.iter().filter(|n| n.ends_with("/raw.bin")).count(),
        2,
        "both projects' live files: {names:?}"
    );
    assert!(!names.iter().any(|n| n.contains(&gone)), "{names:?}");
    let mut projects = String::new();
    zip.by_name(&format!("{root}/records/projects.json"))
        .unwrap()
        .read_to_string(&mut projects)
        .unwrap();
    assert!(projects.contains(&small) && projects.contains(&big));
    let mut attached = String::new();
    zip.by_name(&format!("{root}/records/file_attachments.csv"))
        .unwrap()
        .read_to_string(&mut attached)
        .unwrap();
    assert!(
        attached.contains(&format!(
            "{big_file},sample,{sample_id},{}",
            sample["code"].as_str().unwrap()
        )),
        "{attached}"
    );
    let mut audit = String::new();
    zip.by_name(&format!("{root}/audit/events.json"))
        .unwrap()
        .read_to_string(&mut audit)
        .unwrap();
    assert!(
        audit.contains("export.request") && audit.contains("export.reject"),
        "the org's whole trail"
    );
    // Another org sees none of it.
    server.create_org(
        "Other Export Lab",
        "other.exporter@lab.example",
        common::MEMBER_PASSWORD,
    );
    let other = server
        .login("other.exporter@lab.example", common::MEMBER_PASSWORD)
        .await;
    for what in ["approve", "download"] {
        assert_eq!(
            action(&other, &org, &whole, what).await.status(),
            StatusCode::NOT_FOUND
        );
    }
}

/// Every region of a small export (local headers, entry data, central directory, end record):
/// a changed byte anywhere fails verification; so do a truncation and appended bytes.
#[tokio::test]
async fn export_verify_fails_after_any_changed_byte() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let (project, _) = project_with_file(&owner, &org, MARKER).await;
    let res = export(&owner, &org, &project).await;
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = res.bytes().await.unwrap().to_vec();
    let (ok, out) = verify(&server, &bytes, None);
    assert!(ok, "{out}");
    // The regions, as a lenient reader sees them.
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.clone())).unwrap();
    let mut positions = std::collections::BTreeSet::new();
    let mut data_end_max = 0;
    for i in 0..zip.len() {
        let f = zip.by_index(i).unwrap();
        let header = f.header_start() as usize;
        let data = f.data_start() as usize;
        let end = data + f.size() as usize;
        positions.extend(header..data); // every byte of every local header
        positions.extend((data..end).step_by(41)); // a dense sample of the content
        if end > data {
            positions.insert(end - 1);
        }
        data_end_max = data_end_max.max(end);
    }
    positions.extend(data_end_max..bytes.len()); // the central directory and end record
    assert!(
        positions.len() > 500,
        "a dense sample: {} positions",
        positions.len()
    );
    // Checked in parallel batches (each check is one run of the CLI).
    let positions: Vec<usize> = positions.into_iter().collect();
    let dir = tempfile::tempdir().unwrap();
    let bin = server.cli().get_program().to_owned();
    let accepted: Vec<usize> = std::thread::scope(|s| {
        let chunks: Vec<&[usize]> = positions.chunks(positions.len().div_ceil(4)).collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .enumerate()
            .map(|(t, chunk)| {
                let (bytes, dir, bin) = (&bytes, dir.path(), &bin);
                s.spawn(move || {
                    let path = dir.join(format!("flip-{t}.eln"));
                    let mut bad = Vec::new();
                    for &at in chunk {
                        let mut changed = bytes.clone();
                        changed[at] ^= if at % 2 == 0 { 0x01 } else { 0x80 };
                        std::fs::write(&path, &changed).unwrap();
                        let ok = std::process::Command::new(bin)
                            .args(["export", "verify"])
                            .arg(&path)
                            .output()
                            .unwrap()
                            .status
                            .success();
                        if ok {
                            bad.push(at);
                        }
                    }
                    bad
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(
        accepted.is_empty(),
        "changed bytes that still verify: {accepted:?}"
    );
    let (ok, _) = verify(&server, &bytes[..bytes.len() - 1], None);
    assert!(!ok, "a truncated export must fail");
    let mut longer = bytes.clone();
    longer.extend_from_slice(b"PK");
    let (ok, _) = verify(&server, &longer, None);
    assert!(!ok, "appended bytes must fail");
}
